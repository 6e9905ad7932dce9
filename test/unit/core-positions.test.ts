import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../functions/core/decimal.js';
import { FillTooOldError, TransientError, ValidationError } from '../../functions/core/errors.js';
import type { Fill, Position, Side } from '../../functions/core/model.js';
import {
  applyFillOnce,
  LEDGER_PRUNE_GRACE_MS,
  MAX_PRUNE_PER_WRITE,
  type PositionDeps,
  readPositions,
} from '../../functions/core/position-keeping.js';
import { applyFill, emptyPosition, viewPosition } from '../../functions/core/positions.js';
import { formatNs, parseNs } from '../../functions/core/time.js';
import {
  InMemoryAccountRiskStore,
  InMemoryAuditTrail,
  InMemoryPositionStore,
  InMemoryReferenceStore,
  ManualClock,
  position,
  security,
  T0,
} from '../support/in-memory.js';

const AT = '2026-01-02T15:00:00.000000000Z';
let fillSeq = 0;

function fill(side: Side, quantity: number, price: string, fillId = `FILL-${++fillSeq}`): Fill {
  return {
    fill_id: fillId,
    order_id: `ORD-${fillSeq}`,
    account_id: 'ACC-001',
    symbol: 'AAPL',
    side,
    quantity,
    price,
    venue_exec_id: `X-${fillSeq}`,
    executed_at: AT,
  };
}

const start = () => emptyPosition('ACC-001', 'AAPL');
const pos = (quantity: number, average_cost: string, realized_pnl = '0'): Position => ({
  ...position('AAPL', quantity, average_cost),
  realized_pnl,
});
const summary = (p: Position) => ({ quantity: p.quantity, average_cost: p.average_cost, realized_pnl: p.realized_pnl });

describe('applyFill', () => {
  it('opens a long at the fill price', () => {
    const p = applyFill(start(), fill('BUY', 100, '150.00'), AT);
    expect(p).toEqual({
      account_id: 'ACC-001',
      symbol: 'AAPL',
      quantity: 100,
      average_cost: '150',
      realized_pnl: '0',
      version: 1,
      updated_at: AT,
    });
  });

  it('adds at the weighted average cost', () => {
    expect(summary(applyFill(pos(100, '150'), fill('BUY', 50, '153'), AT))).toEqual({
      quantity: 150,
      average_cost: '151',
      realized_pnl: '0',
    });
  });

  it('rounds the weighted average half-even to 8 places', () => {
    // (1 x 1 + 2 x 1.00000001) / 3 = 1.0000000066.. -> 1.00000001
    expect(applyFill(pos(1, '1'), fill('BUY', 2, '1.00000001'), AT).average_cost).toBe('1.00000001');
  });

  it('partially closes a long: realises (price - avg) x closed, keeps the average', () => {
    expect(summary(applyFill(pos(150, '151'), fill('SELL', 50, '160'), AT))).toEqual({
      quantity: 100,
      average_cost: '151',
      realized_pnl: '450',
    });
  });

  it('realises a loss', () => {
    expect(applyFill(pos(150, '151', '100'), fill('SELL', 50, '140'), AT).realized_pnl).toBe('-450');
  });

  it('fully closes a long: quantity 0, average 0', () => {
    const p = applyFill(pos(100, '151'), fill('SELL', 100, '160'), AT);
    expect(summary(p)).toEqual({ quantity: 0, average_cost: '0', realized_pnl: '900' });
    expect(Object.is(p.quantity, 0)).toBe(true);
  });

  it('flips long -> short: realises the long, opens the rest at the fill price', () => {
    expect(summary(applyFill(pos(100, '150'), fill('SELL', 150, '160'), AT))).toEqual({
      quantity: -50,
      average_cost: '160',
      realized_pnl: '1000',
    });
  });

  it('opens and adds to a short at the weighted average', () => {
    const a = applyFill(start(), fill('SELL', 100, '50'), AT);
    expect(summary(a)).toEqual({ quantity: -100, average_cost: '50', realized_pnl: '0' });
    expect(summary(applyFill(a, fill('SELL', 100, '60'), AT))).toEqual({
      quantity: -200,
      average_cost: '55',
      realized_pnl: '0',
    });
  });

  it('partially covers a short: realises (avg - price) x covered', () => {
    expect(summary(applyFill(pos(-200, '55'), fill('BUY', 50, '45'), AT))).toEqual({
      quantity: -150,
      average_cost: '55',
      realized_pnl: '500',
    });
    expect(applyFill(pos(-200, '55'), fill('BUY', 50, '65'), AT).realized_pnl).toBe('-500');
  });

  it('fully covers a short', () => {
    const p = applyFill(pos(-100, '55'), fill('BUY', 100, '50'), AT);
    expect(summary(p)).toEqual({ quantity: 0, average_cost: '0', realized_pnl: '500' });
    expect(Object.is(p.quantity, 0)).toBe(true);
  });

  it('flips short -> long', () => {
    expect(summary(applyFill(pos(-100, '50'), fill('BUY', 250, '40'), AT))).toEqual({
      quantity: 150,
      average_cost: '40',
      realized_pnl: '1000',
    });
  });

  it('re-opens from flat at the new price after a close', () => {
    const closed = applyFill(pos(100, '150'), fill('SELL', 100, '160'), AT);
    expect(summary(applyFill(closed, fill('BUY', 10, '170'), AT))).toEqual({
      quantity: 10,
      average_cost: '170',
      realized_pnl: '1000',
    });
  });

  it('bumps the version, stamps the time, and leaves its input alone', () => {
    const before = { ...pos(100, '150'), version: 7 };
    const copy = structuredClone(before);
    const after = applyFill(before, fill('BUY', 1, '150'), AT);
    expect(after.version).toBe(8);
    expect(after.updated_at).toBe(AT);
    expect(before).toEqual(copy);
  });

  it('conserves P&L: realised + unrealised = cash flows + marked position (property)', () => {
    const step = fc.record({
      side: fc.constantFrom<Side>('BUY', 'SELL'),
      quantity: fc.integer({ min: 1, max: 1000 }),
      cents: fc.integer({ min: 1, max: 100_000 }),
    });
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 100_000 }),
        (steps, markCents) => {
          let p = start();
          let cash = Decimal.ZERO;
          let shares = 0;
          for (const s of steps) {
            const price = (s.cents / 100).toFixed(2);
            p = applyFill(p, fill(s.side, s.quantity, price), AT);
            const signed = s.side === 'BUY' ? s.quantity : -s.quantity;
            shares += signed;
            cash = cash.sub(Decimal.parse(price).mulInt(signed));
          }
          expect(p.quantity).toBe(shares);
          if (p.quantity === 0) expect(p.average_cost).toBe('0');
          const mark = (markCents / 100).toFixed(2);
          const view = viewPosition(p, mark);
          const total = Decimal.parse(p.realized_pnl).add(Decimal.parse(view.unrealized_pnl ?? 'x'));
          const expected = cash.add(Decimal.parse(mark).mulInt(shares));
          // the average is rounded to 8 places at each add: bound the drift generously
          const traded = steps.reduce((n, s) => n + s.quantity, 0);
          const tolerance = Decimal.parse('0.00000001').mulInt(traded * steps.length);
          expect(total.sub(expected).abs().lte(tolerance)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('viewPosition', () => {
  it('marks a long to the reference price', () => {
    expect(viewPosition(pos(100, '150', '25'), '160.00')).toEqual({
      account_id: 'ACC-001',
      symbol: 'AAPL',
      quantity: 100,
      average_cost: '150',
      realized_pnl: '25',
      updated_at: T0,
      reference_price: '160',
      market_value: '16000',
      unrealized_pnl: '1000',
    });
  });

  it('marks a short: a rising price is a loss', () => {
    const v = viewPosition(pos(-100, '150'), '160');
    expect(v.market_value).toBe('-16000');
    expect(v.unrealized_pnl).toBe('-1000');
  });

  it('gives nulls without a reference price, and never exposes the version', () => {
    const v = viewPosition(pos(100, '150'), undefined);
    expect(v).toMatchObject({ reference_price: null, market_value: null, unrealized_pnl: null });
    expect(v).not.toHaveProperty('version');
  });

  it('a flat position has no unrealised P&L', () => {
    expect(viewPosition(emptyPosition('ACC-001', 'AAPL'), '100').unrealized_pnl).toBe('0');
  });
});

describe('applyFillOnce (position keeping)', () => {
  let store: InMemoryPositionStore;
  let audit: InMemoryAuditTrail;
  let deps: PositionDeps;

  beforeEach(() => {
    const clock = new ManualClock();
    store = new InMemoryPositionStore();
    audit = new InMemoryAuditTrail(clock);
    deps = {
      positions: store,
      reference: new InMemoryReferenceStore({ securities: [security('AAPL', '160')] }),
      accountRisk: new InMemoryAccountRiskStore(),
      audit,
      clock,
      identity: 'position-tracker',
    };
  });

  it('applies a fill once and audits it', async () => {
    const f = fill('BUY', 100, '150');
    const p = await applyFillOnce(deps, f);
    expect(summary(p)).toEqual({ quantity: 100, average_cost: '150', realized_pnl: '0' });
    expect(await store.get('ACC-001', 'AAPL')).toEqual(p);
    expect(store.appliedFills('ACC-001', 'AAPL')).toEqual([f.fill_id]);
    const [rec] = audit.ofType('position_updated');
    expect(rec).toMatchObject({
      order_id: f.order_id,
      actor: 'position-tracker',
      decision: 'applied',
      reason: 'ACC-001 AAPL 0 -> 100',
    });
    expect(rec?.input).toMatchObject({ fill: f, before: { quantity: 0 }, after: { quantity: 100 } });
  });

  it("releases the filled order's reserved value once the position holds the fill", async () => {
    const f = fill('BUY', 100, '150');
    const open = { order_id: f.order_id, symbol: 'AAPL', side: 'BUY' as const, quantity: 100, value: '15000' };
    const accountRisk = new InMemoryAccountRiskStore([
      {
        account_id: 'ACC-001',
        revision: 3,
        open: { [f.order_id]: open, 'ORD-OTHER': { ...open, order_id: 'ORD-OTHER' } },
        recent: [],
      },
    ]);
    await applyFillOnce({ ...deps, accountRisk }, f);
    expect(Object.keys((await accountRisk.get('ACC-001')).open)).toEqual(['ORD-OTHER']);
    // A replay releases nothing more.
    await applyFillOnce({ ...deps, accountRisk }, f);
    expect((await accountRisk.get('ACC-001')).revision).toBe(4);
  });

  it('a replayed fill (same fill id) is not counted twice', async () => {
    const f = fill('BUY', 100, '150');
    await applyFillOnce(deps, f);
    const again = await applyFillOnce(deps, f);
    expect(again.quantity).toBe(100);
    expect((await store.get('ACC-001', 'AAPL'))?.quantity).toBe(100);
    expect((await store.get('ACC-001', 'AAPL'))?.version).toBe(1);
    expect(audit.ofType('position_updated').map((r) => r.decision)).toEqual(['applied', 'replayed']);
    expect(audit.ofType('position_updated')[1]?.reason).toBe(`fill ${f.fill_id} was already applied`);
  });

  it('different fills accumulate', async () => {
    await applyFillOnce(deps, fill('BUY', 100, '150'));
    await applyFillOnce(deps, fill('BUY', 100, '160'));
    const p = await applyFillOnce(deps, fill('SELL', 50, '170'));
    expect(summary(p)).toEqual({ quantity: 150, average_cost: '155', realized_pnl: '750' });
  });

  it('retries on a version conflict, on top of the concurrent write', async () => {
    store.beforePut.push(async () => {
      store.seed({ ...pos(50, '100'), version: 1 }, ['FILL-CONCURRENT']);
    });
    const p = await applyFillOnce(deps, fill('BUY', 50, '200'));
    expect(store.calls.conflicts).toBe(1);
    expect(summary(p)).toEqual({ quantity: 100, average_cost: '150', realized_pnl: '0' });
    expect(p.version).toBe(2);
  });

  it('two concurrent fills on one position both land (one retries)', async () => {
    const [a, b] = [fill('BUY', 100, '150'), fill('BUY', 300, '170')];
    await Promise.all([applyFillOnce(deps, a), applyFillOnce(deps, b)]);
    const p = await store.get('ACC-001', 'AAPL');
    expect(p && summary(p)).toEqual({ quantity: 400, average_cost: '165', realized_pnl: '0' });
    expect(store.appliedFills('ACC-001', 'AAPL').sort()).toEqual([a.fill_id, b.fill_id].sort());
    expect(store.calls.conflicts).toBe(1);
  });

  it('gives up with a TransientError when the position keeps changing, without applying the fill', async () => {
    for (let v = 1; v <= 10; v++) store.beforePut.push(async () => store.seed({ ...pos(v, '1'), version: v }));
    const f = fill('BUY', 100, '150');
    await expect(applyFillOnce(deps, f)).rejects.toBeInstanceOf(TransientError);
    expect(store.appliedFills('ACC-001', 'AAPL')).not.toContain(f.fill_id);
    expect(audit.ofType('position_updated')).toEqual([]);
  });

  describe('the bounded exactly-once ledger', () => {
    const DAY_MS = 24 * 60 * 60 * 1000;
    const NOW = '2026-01-10T12:00:00.000000000Z';
    const daysAgo = (days: number, extraMs = 0) => {
      const ns = parseNs(NOW) as bigint;
      return formatNs(ns - (BigInt(Math.round(days * DAY_MS)) + BigInt(extraMs)) * 1_000_000n);
    };
    const filled = (executedAt: string, fillId?: string): Fill => ({
      ...fill('BUY', 10, '100', fillId),
      executed_at: executedAt,
    });
    let clock: ManualClock;

    beforeEach(() => {
      clock = new ManualClock(NOW, 0n);
      deps = { ...deps, clock };
    });

    it('refuses a fill older than the horizon with FillTooOldError, writing and auditing nothing', async () => {
      const f = filled(daysAgo(7, 1));
      const err = await applyFillOnce(deps, f).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FillTooOldError);
      expect((err as Error).name).toBe('FillTooOldError');
      expect(store.calls.putIfVersion).toBe(0);
      expect(await store.get('ACC-001', 'AAPL')).toBeUndefined();
      expect(audit.ofType('position_updated')).toEqual([]);
      // Exactly at the horizon it is still accepted.
      await expect(applyFillOnce(deps, filled(daysAgo(7)))).resolves.toMatchObject({ quantity: 10 });
    });

    it('the horizon is an option of the use case', async () => {
      deps = { ...deps, fillHorizonMs: DAY_MS };
      await expect(applyFillOnce(deps, filled(daysAgo(2)))).rejects.toBeInstanceOf(FillTooOldError);
      await expect(applyFillOnce(deps, filled(daysAgo(0.5)))).resolves.toMatchObject({ quantity: 10 });
    });

    it('refuses a fill whose executed_at is not a timestamp', async () => {
      await expect(applyFillOnce(deps, filled('yesterday'))).rejects.toBeInstanceOf(ValidationError);
      expect(store.calls.putIfVersion).toBe(0);
    });

    it('remembers the fill with its executed_at and prunes only entries older than the horizon (+ grace)', async () => {
      const ledger = {
        OLD1: daysAgo(30),
        OLD2: daysAgo(7, LEDGER_PRUNE_GRACE_MS + 1),
        GRACE: daysAgo(7, LEDGER_PRUNE_GRACE_MS - 1),
        EDGE: daysAgo(7),
        RECENT: daysAgo(1),
        FUTURE: daysAgo(-1),
        BAD: 'not a timestamp',
      };
      store.seed({ ...pos(0, '0'), version: 3 }, ledger);
      const f = filled(daysAgo(2));
      await applyFillOnce(deps, f);
      expect(store.prunes).toEqual([['OLD1', 'OLD2']]);
      expect(store.appliedFills('ACC-001', 'AAPL').sort()).toEqual(
        ['BAD', 'EDGE', 'FUTURE', 'GRACE', 'RECENT', f.fill_id].sort(),
      );
      expect((await store.getWithLedger('ACC-001', 'AAPL'))?.appliedFills[f.fill_id]).toBe(f.executed_at);
    });

    it('prunes at most MAX_PRUNE_PER_WRITE entries per write, oldest first', async () => {
      const ledger: Record<string, string> = {};
      for (let i = 0; i < MAX_PRUNE_PER_WRITE + 5; i++) ledger[`OLD${i}`] = daysAgo(8 + i);
      store.seed({ ...pos(0, '0'), version: 1 }, ledger);
      await applyFillOnce(deps, filled(daysAgo(0)));
      expect(store.prunes[0]).toHaveLength(MAX_PRUNE_PER_WRITE);
      expect(
        store
          .appliedFills('ACC-001', 'AAPL')
          .filter((id) => id.startsWith('OLD'))
          .sort(),
      ).toEqual(['OLD0', 'OLD1', 'OLD2', 'OLD3', 'OLD4'].sort());
      await applyFillOnce(deps, filled(daysAgo(0)));
      expect(store.appliedFills('ACC-001', 'AAPL').filter((id) => id.startsWith('OLD'))).toEqual([]);
    });

    it('a replay within the horizon is a duplicate, after other fills and pruning', async () => {
      const f = filled(daysAgo(6));
      await applyFillOnce(deps, f);
      clock.set(daysAgo(-0.9)); // the next day
      await applyFillOnce(deps, filled(daysAgo(-0.9)));
      const again = await applyFillOnce(deps, f);
      expect(again.quantity).toBe(20);
      expect(audit.ofType('position_updated').map((r) => r.decision)).toEqual(['applied', 'applied', 'replayed']);
      clock.set(daysAgo(-1.1)); // now f is beyond the horizon: refused, even though it was applied
      await expect(applyFillOnce(deps, f)).rejects.toBeInstanceOf(FillTooOldError);
    });

    it('a legacy item (ids in applied_fills, no map) still refuses a replay of those fills', async () => {
      store.seed({ ...pos(100, '150'), version: 4 }, [], ['FILL-LEGACY']);
      const again = await applyFillOnce(deps, filled(daysAgo(1), 'FILL-LEGACY'));
      expect(again).toMatchObject({ quantity: 100, version: 4 });
      expect(audit.ofType('position_updated').map((r) => r.decision)).toEqual(['replayed']);
      const p = await applyFillOnce(deps, filled(daysAgo(1), 'FILL-NEW'));
      expect(p).toMatchObject({ quantity: 110, version: 5 });
      await expect(applyFillOnce(deps, filled(daysAgo(1), 'FILL-LEGACY'))).resolves.toMatchObject({ quantity: 110 });
    });

    it('stays bounded: 50 fills over 10 days with a 7-day horizon leave only the last 7 days', async () => {
      clock = new ManualClock('2026-01-01T00:00:00.000000000Z', 0n);
      deps = { ...deps, clock, fillHorizonMs: 7 * DAY_MS };
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) {
        const f = filled(formatNs(clock.nowNs())); // fill i executes on day i / 5: 0, 0.2, ... 9.8
        ids.push(f.fill_id);
        await applyFillOnce(deps, f);
        clock.advanceNs(BigInt(DAY_MS / 5) * 1_000_000n);
      }
      // The last write (day 9.8) kept the fills of the 7 days before it: days 2.8 .. 9.8, fills 14 .. 49.
      expect(store.appliedFills('ACC-001', 'AAPL').sort()).toEqual(ids.slice(14).sort());
      expect((await store.get('ACC-001', 'AAPL'))?.quantity).toBe(500);
    });
  });

  it('readPositions marks each position to its reference price', async () => {
    store.seed(pos(100, '150'));
    store.seed({ ...position('ZZZZ', 10, '5') });
    const views = await readPositions(deps, 'ACC-001');
    expect(views.map((v) => [v.symbol, v.unrealized_pnl])).toEqual([
      ['AAPL', '1000'],
      ['ZZZZ', null],
    ]);
  });
});
