import { beforeEach, describe, expect, it } from 'vitest';
import { approvalIdFor } from '../../functions/core/approvals.js';
import { type ExecutionDeps, executeTrade, RiskApprovalNotVerified } from '../../functions/core/execution.js';
import type { ApprovalRecord, Order, OrderRecord, RiskDecision } from '../../functions/core/model.js';
import { orderHash } from '../../functions/core/order.js';
import { ReferenceCache } from '../../functions/core/reference-cache.js';
import { SimulatedVenue } from '../../functions/core/simulated-venue.js';
import { stepCaller, testAccessDeps } from '../support/access.js';
import {
  InMemoryAccountRiskStore,
  InMemoryApprovalStore,
  InMemoryAuditTrail,
  InMemoryOrderStore,
  InMemoryPositionStore,
  InMemoryReferenceStore,
  ManualClock,
  SpyVenue,
  security,
  T0,
} from '../support/in-memory.js';

/** The ExecuteTrade step: the risk gate releasing the order. */
const RISK_GATE = stepCaller('ExecuteTrade');

const ORDER: Order = {
  order_id: 'ORD-1',
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 100,
  order_type: 'MARKET',
  account_id: 'ACC-001',
  trader_id: 'trader-1',
};
const CHECK = 'CHK-1';

let clock: ManualClock;
let orders: InMemoryOrderStore;
let approvals: InMemoryApprovalStore;
let refStore: InMemoryReferenceStore;
let venue: SpyVenue;
let audit: InMemoryAuditTrail;
let deps: ExecutionDeps;
let accountRisk: InMemoryAccountRiskStore;

beforeEach(() => {
  clock = new ManualClock();
  orders = new InMemoryOrderStore();
  approvals = new InMemoryApprovalStore();
  refStore = new InMemoryReferenceStore({
    securities: [security('AAPL', '190.00')],
    firmSettings: { price_collar: '0.1', max_price_age_ms: 10_000, version: 'firm/v1' },
  });
  venue = new SpyVenue();
  audit = new InMemoryAuditTrail(clock);
  accountRisk = new InMemoryAccountRiskStore([
    {
      account_id: 'ACC-001',
      revision: 1,
      open: { 'ORD-1': { order_id: 'ORD-1', symbol: 'AAPL', side: 'BUY', quantity: 100, value: '19000' } },
      recent: [],
    },
  ]);
  deps = {
    access: testAccessDeps('execution', audit),
    orders,
    approvals,
    reference: new ReferenceCache(refStore, clock),
    positions: new InMemoryPositionStore(),
    accountRisk,
    venue,
    audit,
    clock,
    identity: 'execution-agent',
  };
});

/** Puts the order on record with a risk decision, as order intake and the risk agent would. */
function place(order: Order, decision: RiskDecision, opts: { riskHash?: string; checkId?: string } = {}): OrderRecord {
  const hash = orderHash(order);
  const rec: OrderRecord = {
    order_id: order.order_id,
    order,
    order_hash: hash,
    submitted_at: T0,
    submitted_by: 'trader-1',
    execution_id: `exec-${order.order_id}`,
    answer: { statusCode: 202, body: {} },
    risk: {
      check_id: opts.checkId ?? CHECK,
      order_id: order.order_id,
      order_hash: opts.riskHash ?? hash,
      decision,
      reasons: decision === 'rejected' ? ['MAX_ORDER_VALUE_EXCEEDED'] : [],
      controls: [],
      order_value: '19000',
      reference_price: '190',
      limits_version: 'v1',
      checked_at: T0,
    },
  };
  orders.records.set(order.order_id, structuredClone(rec));
  return rec;
}

function approval(patch: Partial<ApprovalRecord>): void {
  const a: ApprovalRecord = {
    approval_id: approvalIdFor(ORDER.order_id),
    order_id: ORDER.order_id,
    status: 'APPROVED',
    maker: 'trader-1',
    account_id: 'ACC-001',
    symbol: 'AAPL',
    side: 'BUY',
    quantity: 100,
    order_value: '19000',
    risk_check_id: CHECK,
    task_token: 'tok',
    requested_at: T0,
    expires_at: '2026-01-02T14:35:00.000000000Z',
    decided_by: 'checker-1',
    decided_at: T0,
    ...patch,
  };
  approvals.records.set(a.approval_id, a);
}

describe('executeTrade: verified approvals execute', () => {
  it('an approved order fills at the reference price, is recorded once and audited', async () => {
    place(ORDER, 'approved');
    const result = await executeTrade(deps, ORDER, CHECK, RISK_GATE);
    expect(result.status).toBe('FILLED');
    expect(result.fill).toMatchObject({
      order_id: 'ORD-1',
      account_id: 'ACC-001',
      symbol: 'AAPL',
      side: 'BUY',
      quantity: 100,
      price: '190',
    });
    expect(result.fill?.fill_id).toBe(`FILL-ORD-1-${result.fill?.venue_exec_id}`);
    expect(result).not.toHaveProperty('venue_reason');
    expect(venue.submissions).toEqual([
      {
        clientOrderId: 'ORD-1',
        symbol: 'AAPL',
        side: 'BUY',
        quantity: 100,
        orderType: 'MARKET',
        referencePrice: '190.00',
      },
    ]);
    expect(orders.calls.recordExecution).toBe(1);
    expect(orders.records.get('ORD-1')?.execution).toEqual({
      status: 'FILLED',
      fill: result.fill,
      executed_at: result.fill?.executed_at,
    });
    const [rec] = audit.ofType('trade_executed');
    expect(rec).toMatchObject({
      order_id: 'ORD-1',
      actor: 'execution-agent',
      decision: 'filled',
      reason: 'filled 100 AAPL at 190',
    });
    expect(rec?.input).toMatchObject({ risk_check_id: CHECK, fill: result.fill });
  });

  it('a needs_approval order with an independent checker’s APPROVED approval fills', async () => {
    place(ORDER, 'needs_approval');
    approval({});
    await expect(executeTrade(deps, ORDER, CHECK, RISK_GATE)).resolves.toMatchObject({ status: 'FILLED' });
  });

  it('a marketable LIMIT fills at the reference price and tells the venue its limit', async () => {
    const order: Order = { ...ORDER, order_type: 'LIMIT', price: '195' };
    place(order, 'approved');
    await expect(executeTrade(deps, order, CHECK, RISK_GATE)).resolves.toMatchObject({
      status: 'FILLED',
      fill: { price: '190' },
    });
    expect(venue.submissions[0]).toMatchObject({ orderType: 'LIMIT', limitPrice: '195' });
  });

  it.each([
    ['BUY', '189.99'],
    ['SELL', '190.01'],
  ] as const)(
    'a non-marketable %s LIMIT at %s -> REJECTED with LIMIT_NOT_MARKETABLE, recorded and audited',
    async (side, price) => {
      const order: Order = { ...ORDER, side, order_type: 'LIMIT', price };
      place(order, 'approved');
      const result = await executeTrade(deps, order, CHECK, RISK_GATE);
      expect(result.status).toBe('REJECTED');
      expect(result.fill).toBeNull();
      expect(result.venue_reason).toMatch(/^LIMIT_NOT_MARKETABLE/);
      expect(orders.records.get('ORD-1')?.execution?.status).toBe('REJECTED');
      // The venue ended the order: its reserved value is released.
      expect((await accountRisk.get('ACC-001')).open).toEqual({});
      const [rec] = audit.ofType('trade_failed');
      expect(rec).toMatchObject({ decision: 'rejected' });
      expect(rec?.reason).toMatch(/^venue rejected: LIMIT_NOT_MARKETABLE/);
      expect(audit.ofType('trade_executed')).toEqual([]);
    },
  );
});

describe('executeTrade: anything unverified is blocked before the venue', () => {
  const cases: Array<[string, () => { order: Order; checkId: string }, RegExp]> = [
    ['the order is not on record', () => ({ order: ORDER, checkId: CHECK }), /not on record/],
    [
      'the check id is not the decision on record',
      () => {
        place(ORDER, 'approved');
        return { order: ORDER, checkId: 'CHK-FORGED' };
      },
      /CHK-FORGED is not the decision on record/,
    ],
    [
      'the decision on record is a rejection',
      () => {
        place(ORDER, 'rejected');
        return { order: ORDER, checkId: CHECK };
      },
      /rejection/,
    ],
    [
      'there is no risk decision on record',
      () => {
        const rec = place(ORDER, 'approved');
        const { risk: _r, ...noRisk } = rec;
        orders.records.set('ORD-1', noRisk);
        return { order: ORDER, checkId: CHECK };
      },
      /no risk decision/,
    ],
    [
      'the order content changed (quantity)',
      () => {
        place(ORDER, 'approved');
        return { order: { ...ORDER, quantity: 10_000 }, checkId: CHECK };
      },
      /differs from the order on record/,
    ],
    [
      'the order content changed (side)',
      () => {
        place(ORDER, 'approved');
        return { order: { ...ORDER, side: 'SELL' }, checkId: CHECK };
      },
      /differs from the order on record/,
    ],
    [
      'the risk decision was made for other content',
      () => {
        place(ORDER, 'approved', { riskHash: 'f'.repeat(64) });
        return { order: ORDER, checkId: CHECK };
      },
      /different order content/,
    ],
    [
      'needs_approval without any approval',
      () => {
        place(ORDER, 'needs_approval');
        return { order: ORDER, checkId: CHECK };
      },
      /has none/,
    ],
    ...(['PENDING', 'REJECTED', 'EXPIRED'] as const).map(
      (status): [string, () => { order: Order; checkId: string }, RegExp] => [
        `needs_approval with a ${status} approval`,
        () => {
          place(ORDER, 'needs_approval');
          approval({ status });
          return { order: ORDER, checkId: CHECK };
        },
        new RegExp(`has ${status}`),
      ],
    ),
    [
      'needs_approval approved for another risk check',
      () => {
        place(ORDER, 'needs_approval');
        approval({ risk_check_id: 'CHK-OLD' });
        return { order: ORDER, checkId: CHECK };
      },
      /different risk check/,
    ],
    [
      'needs_approval approved by its maker',
      () => {
        place(ORDER, 'needs_approval');
        approval({ decided_by: 'trader-1' });
        return { order: ORDER, checkId: CHECK };
      },
      /independent checker/,
    ],
    [
      'needs_approval approved by nobody',
      () => {
        place(ORDER, 'needs_approval');
        approval({ decided_by: undefined });
        return { order: ORDER, checkId: CHECK };
      },
      /independent checker/,
    ],
    [
      'already executed under another risk check',
      () => {
        place(ORDER, 'approved');
        const rec = orders.records.get('ORD-1');
        if (rec) rec.execution = { status: 'FILLED', fill: null, executed_at: T0 };
        return { order: ORDER, checkId: 'CHK-2' };
      },
      /not the decision on record/,
    ],
    [
      'there is no reference price',
      () => {
        place(ORDER, 'approved');
        refStore.securities.clear();
        return { order: ORDER, checkId: CHECK };
      },
      /no reference price for AAPL/,
    ],
  ];

  it.each(cases)(
    '%s -> RiskApprovalNotVerified, trade_failed "blocked" audited, venue not called',
    async (_what, arrange, why) => {
      const { order, checkId } = arrange();
      const before = structuredClone(orders.records.get(order.order_id));
      const err = await executeTrade(deps, order, checkId, RISK_GATE).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RiskApprovalNotVerified);
      expect((err as Error).message).toMatch(why);
      expect(venue.submissions).toEqual([]);
      expect(orders.calls.recordExecution).toBe(0);
      expect(orders.records.get(order.order_id)).toEqual(before);
      const [rec] = audit.ofType('trade_failed');
      expect(rec).toMatchObject({ order_id: 'ORD-1', actor: 'execution-agent', decision: 'blocked' });
      expect(rec?.reason).toMatch(/^RISK_APPROVAL_NOT_VERIFIED: /);
      // The verification failed, so the policy refused: the record names the guard that decided
      // (a missing reference price is found after the policy allowed the release).
      const missingPrice = /reference price/.test(String(why));
      expect(rec?.input).toEqual({
        order,
        risk_check_id: checkId,
        ...(missingPrice ? {} : { decided_by: ['risk-to-execution.cedar#verified-approval-required'] }),
      });
      expect(audit.ofType('trade_executed')).toEqual([]);
    },
  );

  it('a refusal at the conditional write (the record changed after verification) is blocked too', async () => {
    place(ORDER, 'approved');
    const refusing: ExecutionDeps = {
      ...deps,
      orders: {
        get: (id) => orders.get(id),
        recordExecution: async () => ({ result: 'not_verified', reason: 'risk check id mismatch' }),
      },
    };
    await expect(executeTrade(refusing, ORDER, CHECK, RISK_GATE)).rejects.toBeInstanceOf(RiskApprovalNotVerified);
    expect(audit.ofType('trade_failed')[0]?.decision).toBe('blocked');
    expect(audit.ofType('trade_executed')).toEqual([]);
  });
});

describe('executeTrade: exactly once', () => {
  it('a retried step answers with the recorded execution and does not call the venue again', async () => {
    place(ORDER, 'approved');
    const first = await executeTrade(deps, ORDER, CHECK, RISK_GATE);
    const again = await executeTrade(deps, ORDER, CHECK, RISK_GATE);
    expect(again).toEqual(first);
    expect(venue.submissions).toHaveLength(1);
    expect(
      audit.ofType('trade_executed').map((r) => [r.decision, (r.input as { replayed?: boolean }).replayed ?? false]),
    ).toEqual([
      ['filled', false],
      ['filled', true],
    ]);
  });

  it('two concurrent executions record one fill: the other is a duplicate of it', async () => {
    place(ORDER, 'approved');
    const [a, b] = await Promise.all([
      executeTrade(deps, ORDER, CHECK, RISK_GATE),
      executeTrade(deps, ORDER, CHECK, RISK_GATE),
    ]);
    expect(a).toEqual(b);
    // both reached the venue with the same client order id, which the venue uses to drop the second
    expect(venue.submissions.map((s) => s.clientOrderId)).toEqual(['ORD-1', 'ORD-1']);
    expect(
      audit
        .ofType('trade_executed')
        .map((r) => `${r.decision}${(r.input as { replayed?: boolean }).replayed ? ' (replayed)' : ''}`)
        .sort(),
    ).toEqual(['filled', 'filled (replayed)']);
  });

  // BUG (execution.ts:34): the replay shortcut matches on the check id only, not the order hash:
  // after execution, a call with the same check id and altered content is not blocked, and is
  // audited as a 'replayed' trade_executed carrying the altered order.
  it('after execution, a call with the same check id but changed content is still blocked', async () => {
    place(ORDER, 'approved');
    await executeTrade(deps, ORDER, CHECK, RISK_GATE);
    await expect(executeTrade(deps, { ...ORDER, quantity: 9999 }, CHECK, RISK_GATE)).rejects.toBeInstanceOf(
      RiskApprovalNotVerified,
    );
  });
});

describe('SimulatedVenue', () => {
  const v = new SimulatedVenue();
  const base = { clientOrderId: 'ORD-1', symbol: 'AAPL', side: 'BUY' as const, quantity: 10, referencePrice: '190.00' };

  it('fills a MARKET order in full at the reference price', async () => {
    await expect(v.submit({ ...base, orderType: 'MARKET' })).resolves.toMatchObject({
      status: 'FILLED',
      price: '190',
      quantity: 10,
    });
  });

  it('is deterministic per client order id', async () => {
    const a = await v.submit({ ...base, orderType: 'MARKET' });
    const b = await v.submit({ ...base, orderType: 'MARKET' });
    const c = await v.submit({ ...base, clientOrderId: 'ORD-2', orderType: 'MARKET' });
    const id = (r: typeof a) => (r.status === 'FILLED' ? r.venueExecId : '');
    expect(id(a)).toMatch(/^SIMX-[0-9a-f]{16}$/);
    expect(id(a)).toBe(id(b));
    expect(id(a)).not.toBe(id(c));
  });

  it.each([
    ['BUY', '190', 'FILLED'],
    ['BUY', '189.99', 'REJECTED'],
    ['SELL', '190', 'FILLED'],
    ['SELL', '190.01', 'REJECTED'],
  ] as const)('LIMIT %s at %s against 190.00 -> %s (immediate-or-cancel)', async (side, limitPrice, status) => {
    const r = await v.submit({ ...base, side, orderType: 'LIMIT', limitPrice });
    expect(r.status).toBe(status);
    if (r.status === 'REJECTED') expect(r.reason).toMatch(/^LIMIT_NOT_MARKETABLE/);
  });

  it('rejects a LIMIT without a price', async () => {
    await expect(v.submit({ ...base, orderType: 'LIMIT' })).resolves.toEqual({
      status: 'REJECTED',
      reason: 'LIMIT_PRICE_MISSING',
    });
  });
});

describe('executeTrade: an order that waited is checked again before the venue', () => {
  const halted = (kind: 'TRADING_HALT' | 'LULD_PAUSE') =>
    refStore.halts.set('AAPL', { symbol: 'AAPL', kind, reason: 'news', since: T0, set_by: 'RISK-OFFICER-1' });

  it('a checker-approved order is refused when the firm was halted meanwhile: REJECTED, released, audited, no venue', async () => {
    place(ORDER, 'needs_approval');
    approval({});
    refStore.tradingStates.set('FIRM', {
      scope: 'FIRM',
      state: 'HALTED',
      reason: 'kill switch',
      set_by: 'RISK-OFFICER-1',
      set_at: T0,
      revision: 1,
    });
    const result = await executeTrade(deps, ORDER, CHECK, RISK_GATE);
    expect(result).toEqual({ status: 'REJECTED', fill: null, venue_reason: 'PRE_EXECUTION_CHECK: TRADING_HALTED' });
    expect(venue.submissions).toHaveLength(0);
    expect(orders.records.get('ORD-1')?.execution?.status).toBe('REJECTED');
    expect((await accountRisk.get('ACC-001')).open).toEqual({});
    const [rec] = audit.ofType('trade_failed');
    expect(rec).toMatchObject({ decision: 'rejected', reason: 'pre-execution re-check failed: TRADING_HALTED' });
  });

  it('an approved order whose check is more than a second old is refused during an LULD pause', async () => {
    place(ORDER, 'approved');
    halted('LULD_PAUSE');
    clock.advanceNs(1_000_000_001n);
    const result = await executeTrade(deps, ORDER, CHECK, RISK_GATE);
    expect(result.venue_reason).toBe('PRE_EXECUTION_CHECK: LULD_PAUSE');
    expect(venue.submissions).toHaveLength(0);
  });

  it('a checker-approved order whose price went stale meanwhile is refused', async () => {
    place(ORDER, 'needs_approval');
    approval({});
    clock.advanceNs(10_000_000_001n);
    const result = await executeTrade(deps, ORDER, CHECK, RISK_GATE);
    expect(result.venue_reason).toBe('PRE_EXECUTION_CHECK: STALE_REFERENCE_PRICE');
  });

  it('a store that cannot be read during the re-check fails the step (retried), consuming nothing', async () => {
    place(ORDER, 'needs_approval');
    approval({});
    deps.positions.list = async () => {
      throw Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
    };
    await expect(executeTrade(deps, ORDER, CHECK, RISK_GATE)).rejects.toMatchObject({ name: 'TransientError' });
    expect(orders.records.get('ORD-1')?.execution).toBeUndefined();
    expect(venue.submissions).toHaveLength(0);
    expect(Object.keys((await accountRisk.get('ACC-001')).open)).toEqual(['ORD-1']);
  });

  it('a re-check refusal that finds a fill recorded by another attempt leaves that fill standing', async () => {
    place(ORDER, 'needs_approval');
    approval({});
    halted('TRADING_HALT');
    // Another attempt of this step filled between this one's reads and its write.
    const record = orders.recordExecution.bind(orders);
    orders.recordExecution = async (id, expected, outcome) => {
      await record(id, expected, {
        status: 'FILLED',
        fill: null,
        executed_at: T0,
      });
      return record(id, expected, outcome);
    };
    const result = await executeTrade(deps, ORDER, CHECK, RISK_GATE);
    expect(result.status).toBe('FILLED');
    // The filled order keeps its reservation until its position holds the fill.
    expect(Object.keys((await accountRisk.get('ACC-001')).open)).toEqual(['ORD-1']);
    expect(audit.ofType('trade_executed')).toHaveLength(1);
  });

  it('a checker-approved short sale whose locate expired meanwhile is refused', async () => {
    const sale: Order = { ...ORDER, side: 'SELL' };
    place(sale, 'needs_approval');
    approval({ side: 'SELL' });
    refStore.locates.set('ACC-001|AAPL|L-1', {
      locate_id: 'L-1',
      account_id: 'ACC-001',
      symbol: 'AAPL',
      quantity: 100,
      source: 'desk',
      obtained_at: T0,
      expires_at: '2026-01-02T14:31:00.000000000Z',
      recorded_by: 'RISK-OFFICER-1',
    });
    clock.advanceNs(61_000_000_000n);
    // Keep the price fresh: only the locate has aged.
    refStore.securities.set('AAPL', security('AAPL', '190.00', '2026-01-02T14:31:01.000000000Z'));
    const result = await executeTrade(deps, sale, CHECK, RISK_GATE);
    expect(result.venue_reason).toBe('PRE_EXECUTION_CHECK: SHORT_SALE_NO_LOCATE');
  });

  it('a fresh approved order goes straight to the venue (its check is current)', async () => {
    place(ORDER, 'approved');
    halted('TRADING_HALT'); // set after the check, within the second: the order was already decided
    const result = await executeTrade(deps, ORDER, CHECK, RISK_GATE);
    expect(result.status).toBe('FILLED');
    expect(venue.submissions).toHaveLength(1);
  });

  it('a checker-approved order with nothing changed is filled', async () => {
    place(ORDER, 'needs_approval');
    approval({});
    const result = await executeTrade(deps, ORDER, CHECK, RISK_GATE);
    expect(result.status).toBe('FILLED');
  });
});
