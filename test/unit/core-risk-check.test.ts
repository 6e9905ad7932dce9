// The risk agent's use case: snapshot (fail closed on a store error), evaluate, reserve an accepted
// order in the account's risk state by a conditional write (re-deciding on a conflict), record the
// decision once, reconcile on a replay, audit every control.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { releaseOrder } from '../../functions/core/account-risk.js';
import { TransientError } from '../../functions/core/errors.js';
import type {
  AccountRiskState,
  ControlResult,
  FirmRiskSettings,
  Order,
  OrderRecord,
  RiskProfile,
  TradingState,
} from '../../functions/core/model.js';
import { orderHash } from '../../functions/core/order.js';
import { ReferenceCache } from '../../functions/core/reference-cache.js';
import { CONTROLS } from '../../functions/core/risk.js';
import { checkRisk, type RiskCheckDeps } from '../../functions/core/risk-check.js';
import { parseNs } from '../../functions/core/time.js';
import type { AccountRiskStore } from '../../functions/ports.js';
import {
  InMemoryAccountRiskStore,
  InMemoryAuditTrail,
  InMemoryOrderStore,
  InMemoryPositionStore,
  InMemoryReferenceStore,
  ManualClock,
  namedError,
  position,
  security,
  T0,
} from '../support/in-memory.js';

const T0_MS = Number((parseNs(T0) as bigint) / 1_000_000n);

const PROFILE: RiskProfile = {
  account_id: 'ACC-001',
  available_capital: '1000000',
  max_order_value: '500000',
  max_order_quantity: 100_000,
  max_position_value: '1000000',
  max_total_position_value: '1000000',
  max_concentration: '1',
  approval_threshold: '200000',
  max_orders_per_second: 100,
  duplicate_window_ms: 5000,
  version: 'ACC-001/v1',
};
const FIRM: FirmRiskSettings = { price_collar: '0.1', max_price_age_ms: 60_000, version: 'firm/v1' };

const ORDER: Order = {
  order_id: 'ORD-1',
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 1000,
  order_type: 'MARKET',
  account_id: 'ACC-001',
  trader_id: 'trader-1',
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let clock: ManualClock;
let orders: InMemoryOrderStore;
let refStore: InMemoryReferenceStore;
let positions: InMemoryPositionStore;
let accountRisk: InMemoryAccountRiskStore;
let audit: InMemoryAuditTrail;
let deps: RiskCheckDeps;

/** Stores the order as the order router does: recordRisk needs the record. */
function put(order: Order): Order {
  const rec: OrderRecord = {
    order_id: order.order_id,
    order,
    order_hash: orderHash(order),
    submitted_at: T0,
    submitted_by: order.trader_id,
    execution_id: `exec-${order.order_id}`,
    answer: { statusCode: 202, body: {} },
  };
  orders.records.set(order.order_id, rec);
  return order;
}

function order(id: string, patch: Partial<Order> = {}): Order {
  return put({ ...ORDER, order_id: id, ...patch });
}

function state(): AccountRiskState | undefined {
  return accountRisk.states.get('ACC-001');
}

function controlsOf(input: unknown): ControlResult[] {
  return (input as { controls: ControlResult[] }).controls;
}

function firmState(mode: TradingState['state'], revision: number): TradingState {
  return { scope: 'FIRM', state: mode, reason: 'test', set_by: 'RISK-OFFICER-1', set_at: T0, revision };
}

beforeEach(() => {
  clock = new ManualClock();
  orders = new InMemoryOrderStore();
  refStore = new InMemoryReferenceStore({
    profiles: [PROFILE],
    securities: [security('AAPL', '190.00'), security('MSFT', '420')],
    firmSettings: FIRM,
  });
  positions = new InMemoryPositionStore();
  accountRisk = new InMemoryAccountRiskStore();
  audit = new InMemoryAuditTrail(clock);
  deps = {
    orders,
    positions,
    reference: new ReferenceCache(refStore, clock, 1000),
    accountRisk,
    audit,
    clock,
    identity: 'risk-agent',
  };
  put(ORDER);
});

describe('checkRisk: an order that fills while another is checked', () => {
  it('is counted (twice, for a moment) rather than not at all: the state is read before the positions', async () => {
    // A: 2600 AAPL at 190 = 494,000 reserved. B is checked while A fills: A's fill lands in the
    // position and A is released between B's two reads.
    const a = order('ORD-A', { quantity: 2600 });
    expect((await checkRisk(deps, a)).decision).toBe('needs_approval');
    const list = positions.list.bind(positions);
    let filled = false;
    positions.list = async (accountId: string) => {
      const read = await list(accountId);
      if (!filled) {
        // Just after B's positions read: A's fill reaches the position, then A is released.
        filled = true;
        positions.seed(position('AAPL', 2600));
        const s = state() as AccountRiskState;
        const { 'ORD-A': _done, ...open } = s.open;
        accountRisk.states.set('ACC-001', { ...s, revision: s.revision + 1, open });
      }
      return read;
    };
    // 2600 x 190 = 494,000 held (or reserved) + 2600 x 190 more = 988,000 <= 1,000,000: fits once...
    const b = order('ORD-B', { quantity: 2700 });
    // ...but 494,000 + 513,000 = 1,007,000 does not: B must see A, in positions or in the state.
    const result = await checkRisk(deps, b);
    expect(result.decision).toBe('rejected');
    expect(result.reasons).toContain('INSUFFICIENT_CAPITAL');
  });
});

describe('checkRisk: an accepted order', () => {
  it('is approved, reserved in the account’s state, counted among the recent orders, and audited with every control', async () => {
    const result = await checkRisk(deps, ORDER);
    expect(result).toEqual({
      check_id: expect.stringMatching(UUID),
      decision: 'approved',
      order_value: '190000',
      reasons: [],
    });
    expect(orders.records.get('ORD-1')?.risk).toMatchObject({
      check_id: result.check_id,
      order_hash: orderHash(ORDER),
      decision: 'approved',
      limits_version: 'ACC-001/v1',
      reference_price: '190.00',
    });
    expect(state()).toEqual({
      account_id: 'ACC-001',
      revision: 1,
      open: { 'ORD-1': { order_id: 'ORD-1', symbol: 'AAPL', side: 'BUY', quantity: 1000, value: '190000' } },
      recent: [{ order_id: 'ORD-1', fingerprint: 'ACC-001|AAPL|BUY|1000|MKT', at_ms: T0_MS }],
    });

    const [rec, ...more] = audit.ofType('risk_check');
    expect(more).toEqual([]);
    expect(rec).toMatchObject({
      order_id: 'ORD-1',
      trader_id: 'trader-1',
      actor: 'risk-agent',
      decision: 'approved',
      reason: 'all pre-trade controls passed',
    });
    expect(rec?.input).toMatchObject({
      order: ORDER,
      check_id: result.check_id,
      limits_version: 'ACC-001/v1',
      order_value: '190000',
      reference_price: '190.00',
    });
    const controls = controlsOf(rec?.input);
    expect(controls.map((c) => c.control)).toEqual([...CONTROLS]);
    expect(controls.every((c) => c.passed && typeof c.values === 'object')).toBe(true);
    expect(controls.find((c) => c.control === 'capital')?.values).toMatchObject({
      required_capital: '190000',
      account_capital: '1000000',
    });
    expect(audit.ofType('order_rejected_risk')).toEqual([]);
  });

  it('needs approval above the threshold, and is reserved too (a pending approval holds its capital)', async () => {
    const big = order('ORD-2', { quantity: 1100 }); // 209,000 > 200,000
    const result = await checkRisk(deps, big);
    expect(result).toMatchObject({ decision: 'needs_approval', order_value: '209000', reasons: [] });
    expect(state()?.open['ORD-2']?.value).toBe('209000');
  });

  it('the reservation counts against the next order: its capital sees the open notional', async () => {
    await refStore.putRiskProfile({ ...PROFILE, available_capital: '300000' });
    await checkRisk(deps, ORDER); // 190,000 reserved
    const second = await checkRisk(deps, order('ORD-2', { quantity: 600 })); // 114,000 > 110,000 left
    expect(second).toMatchObject({ decision: 'rejected', reasons: ['INSUFFICIENT_CAPITAL'] });
    const rec = audit.forOrder('ORD-2').find((r) => r.event_type === 'risk_check');
    expect(controlsOf(rec?.input).find((c) => c.control === 'capital')?.values).toMatchObject({
      open_notional: '190000',
      available_capital: '110000',
    });
    expect(Object.keys(state()?.open ?? {})).toEqual(['ORD-1']);
  });

  it('the recent order makes the same order again a duplicate inside the window, unless intended', async () => {
    await checkRisk(deps, ORDER);
    expect(await checkRisk(deps, order('ORD-2'))).toMatchObject({ decision: 'rejected', reasons: ['DUPLICATE_ORDER'] });
    expect(await checkRisk(deps, order('ORD-3', { duplicate_intended: true }))).toMatchObject({ decision: 'approved' });
  });

  it('recent orders older than the window are forgotten on the next acceptance', async () => {
    await checkRisk(deps, ORDER);
    clock.advanceSeconds(5);
    const again = await checkRisk(deps, order('ORD-2'));
    expect(again.decision).toBe('approved');
    expect(state()?.recent.map((r) => r.order_id)).toEqual(['ORD-2']);
  });
});

describe('checkRisk: a rejected order', () => {
  it('is not reserved; it is audited twice: the whole check, and the failed controls alone', async () => {
    const big = order('ORD-2', { quantity: 3000 }); // 570,000 > 500,000
    const result = await checkRisk(deps, big);
    expect(result).toMatchObject({ decision: 'rejected', reasons: ['MAX_ORDER_VALUE_EXCEEDED'] });
    expect(state()).toBeUndefined();
    const [check] = audit.ofType('risk_check');
    expect(check).toMatchObject({ decision: 'rejected', reason: 'MAX_ORDER_VALUE_EXCEEDED' });
    expect(controlsOf(check?.input).map((c) => c.control)).toEqual([...CONTROLS]);
    const [rej] = audit.ofType('order_rejected_risk');
    expect(rej).toMatchObject({ order_id: 'ORD-2', decision: 'rejected', reason: 'MAX_ORDER_VALUE_EXCEEDED' });
    expect(controlsOf(rej?.input)).toEqual([
      {
        control: 'max_order_value',
        passed: false,
        reason_code: 'MAX_ORDER_VALUE_EXCEEDED',
        values: { order_value: '570000', max_order_value: '500000' },
      },
    ]);
  });

  it('values the account’s other holdings at their reference prices', async () => {
    await refStore.putRiskProfile({ ...PROFILE, max_total_position_value: '10000000' });
    positions.seed(position('MSFT', 2000)); // 840,000 of 1,000,000
    const result = await checkRisk(deps, ORDER); // 190,000 more
    expect(result.reasons).toEqual(['INSUFFICIENT_CAPITAL']);
  });

  it('fails closed when a held symbol has no price', async () => {
    positions.seed(position('GONE', 10));
    expect((await checkRisk(deps, ORDER)).reasons).toEqual(['MISSING_POSITION_PRICE']);
  });
});

describe('checkRisk: two orders of one account racing for the same capital', () => {
  // Capital 300,000: 190,000 and 152,000 each fit, together they do not.
  beforeEach(async () => {
    await refStore.putRiskProfile({ ...PROFILE, available_capital: '300000' });
  });

  it('both decide on the same state, both commit: exactly one is accepted, the other re-decides and is rejected', async () => {
    // Hold every commit until both orders have decided on revision 0.
    let arrived = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const racing: Pick<AccountRiskStore, 'get' | 'putIfRevision'> = {
      get: (id) => accountRisk.get(id),
      putIfRevision: async (next, expected) => {
        arrived += 1;
        if (arrived === 2) release();
        if (arrived <= 2) await gate;
        return accountRisk.putIfRevision(next, expected);
      },
    };
    const a = ORDER;
    const b = order('ORD-2', { quantity: 800 });
    const results = await Promise.all([
      checkRisk({ ...deps, accountRisk: racing }, a),
      checkRisk({ ...deps, accountRisk: racing }, b),
    ]);
    expect(arrived).toBeGreaterThanOrEqual(2);
    expect(accountRisk.calls.conflicts).toBe(1);
    const accepted = results.filter((r) => r.decision !== 'rejected');
    const rejected = results.filter((r) => r.decision === 'rejected');
    expect(accepted).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reasons).toEqual(['INSUFFICIENT_CAPITAL']);
    const winner = results[0]?.decision === 'rejected' ? b : a;
    expect(Object.keys(state()?.open ?? {})).toEqual([winner.order_id]);
    expect(state()?.revision).toBe(1);
  });

  it('an order committing between another’s read and write makes that one re-decide on the new state', async () => {
    const b = order('ORD-2', { quantity: 800 });
    let bResult: Awaited<ReturnType<typeof checkRisk>> | undefined;
    accountRisk.beforePut.push(async () => {
      bResult = await checkRisk(deps, b);
    });
    const aResult = await checkRisk(deps, ORDER);
    expect(bResult).toMatchObject({ decision: 'approved', order_value: '152000' });
    expect(aResult).toMatchObject({ decision: 'rejected', reasons: ['INSUFFICIENT_CAPITAL'] });
    expect(Object.keys(state()?.open ?? {})).toEqual(['ORD-2']);
    const rec = audit.forOrder('ORD-1').find((r) => r.event_type === 'risk_check');
    expect(controlsOf(rec?.input).find((c) => c.control === 'capital')?.values.open_notional).toBe('152000');
  });

  it('an account whose state keeps changing gets no decision (a transient error), and nothing is recorded', async () => {
    vi.spyOn(accountRisk, 'putIfRevision').mockResolvedValue('conflict');
    await expect(checkRisk(deps, ORDER)).rejects.toThrow(TransientError);
    expect(orders.records.get('ORD-1')?.risk).toBeUndefined();
    expect(audit.records()).toEqual([]);
  });
});

describe('checkRisk: a retried step', () => {
  it('gets the decision on record (same check_id) and does not reserve twice', async () => {
    const first = await checkRisk(deps, ORDER);
    const again = await checkRisk(deps, ORDER);
    expect(again).toEqual(first);
    expect(orders.records.get('ORD-1')?.risk?.check_id).toBe(first.check_id);
    expect(state()?.open).toEqual({
      'ORD-1': { order_id: 'ORD-1', symbol: 'AAPL', side: 'BUY', quantity: 1000, value: '190000' },
    });
    expect(state()?.recent.map((r) => r.order_id)).toEqual(['ORD-1']);
    // The replay is audited as one, with the decision on record.
    const checks = audit.ofType('risk_check');
    expect(checks).toHaveLength(2);
    expect(checks[1]?.input).toMatchObject({ check_id: first.check_id, replayed: true });
    expect(checks[1]?.reason).toBe('replayed (step retried), the decision on record: all pre-trade controls passed');
    // The next order sees one reservation, not two.
    await refStore.putRiskProfile({ ...PROFILE, available_capital: '380000' });
    deps.reference = new ReferenceCache(refStore, clock, 1000);
    const next = await checkRisk(deps, order('ORD-2', { quantity: 1000, duplicate_intended: true }));
    expect(next.decision).toBe('approved'); // 190,000 + 190,000 = 380,000 exactly
  });

  it('a replay whose re-evaluation rejects keeps the approval on record and its reservation (reconciled)', async () => {
    const first = await checkRisk(deps, ORDER);
    await refStore.putTradingState(firmState('HALTED', 1), 0); // now every order would be rejected
    clock.advanceSeconds(2); // past the cache's TTL
    const again = await checkRisk(deps, ORDER);
    expect(again).toEqual(first);
    expect(state()?.open['ORD-1']).toEqual({
      order_id: 'ORD-1',
      symbol: 'AAPL',
      side: 'BUY',
      quantity: 1000,
      value: '190000',
    });
    for (const r of audit.ofType('risk_check')) expect(r.decision).toBe('approved');
    expect(audit.ofType('order_rejected_risk')).toEqual([]);
  });

  it('a replay whose re-evaluation approves keeps the rejection on record and releases what it reserved', async () => {
    await refStore.putTradingState(firmState('HALTED', 1), 0);
    const first = await checkRisk(deps, ORDER);
    expect(first).toMatchObject({ decision: 'rejected', reasons: ['TRADING_HALTED'] });
    await refStore.putTradingState(firmState('ACTIVE', 2), 1);
    clock.advanceSeconds(2);
    const again = await checkRisk(deps, ORDER);
    expect(again).toEqual(first);
    expect(state()?.open).toEqual({});
    for (const r of audit.ofType('risk_check')) expect(r.decision).toBe('rejected');
  });

  it('a step that reserved and stopped before recording decides again without a second reservation', async () => {
    vi.spyOn(orders, 'recordRisk').mockRejectedValueOnce(namedError('InternalServerError', 'order store down'));
    await expect(checkRisk(deps, ORDER)).rejects.toThrow('order store down');
    expect(Object.keys(state()?.open ?? {})).toEqual(['ORD-1']);
    const again = await checkRisk(deps, ORDER);
    expect(again.decision).toBe('approved');
    expect(Object.keys(state()?.open ?? {})).toEqual(['ORD-1']);
    expect(state()?.recent.map((r) => r.order_id)).toEqual(['ORD-1']);
  });

  it('a step that reserved and stopped, then is rejected on the retry, releases its reservation', async () => {
    vi.spyOn(orders, 'recordRisk').mockRejectedValueOnce(namedError('InternalServerError', 'order store down'));
    await expect(checkRisk(deps, ORDER)).rejects.toThrow('order store down');
    await refStore.putTradingState(firmState('HALTED', 1), 0);
    clock.advanceSeconds(2);
    expect(await checkRisk(deps, ORDER)).toMatchObject({ decision: 'rejected', reasons: ['TRADING_HALTED'] });
    expect(state()?.open).toEqual({});
  });
});

describe('checkRisk: store errors', () => {
  it.each([
    {
      store: 'reference (risk profile)',
      fail: () =>
        vi.spyOn(refStore, 'getRiskProfile').mockRejectedValue(namedError('ThrottlingException', 'slow down')),
      error: 'ThrottlingException: slow down',
    },
    {
      store: 'reference (prices of held symbols)',
      fail: () => {
        positions.seed(position('MSFT', 10));
        return vi.spyOn(refStore, 'getSecurities').mockRejectedValue(namedError('ServiceUnavailable', 'down'));
      },
      error: 'ServiceUnavailable: down',
    },
    {
      store: 'positions',
      fail: () => vi.spyOn(positions, 'list').mockRejectedValue(namedError('InternalServerError', 'boom')),
      error: 'InternalServerError: boom',
    },
  ])('a read error in the $store store rejects with RISK_DATA_UNAVAILABLE, audited', async ({ fail, error }) => {
    fail();
    const result = await checkRisk(deps, ORDER);
    expect(result.decision).toBe('rejected');
    expect(result.reasons[0]).toBe('RISK_DATA_UNAVAILABLE');
    const stored = orders.records.get('ORD-1')?.risk;
    expect(stored?.controls.find((c) => c.control === 'risk_data')).toEqual({
      control: 'risk_data',
      passed: false,
      reason_code: 'RISK_DATA_UNAVAILABLE',
      values: { error },
    });
    const [check] = audit.ofType('risk_check');
    expect(check).toMatchObject({ decision: 'rejected' });
    expect(check?.reason).toContain('RISK_DATA_UNAVAILABLE');
    expect(controlsOf(check?.input).map((c) => c.control)).toEqual([...CONTROLS]);
    expect(audit.ofType('order_rejected_risk')).toHaveLength(1);
    expect(state()).toBeUndefined();
  });

  it('a read error in the account risk store itself: the rejection is recorded, then the step fails until it can release', async () => {
    // Whether an earlier attempt of this step reserved is unknowable without the store, and a
    // rejected order has no later step that releases: the rejection goes on record, and the step
    // fails (its retry replays the rejection and releases; if the store stays down, the failure
    // record releases) rather than leaving a reservation behind.
    const get = vi.spyOn(accountRisk, 'get').mockRejectedValue(namedError('InternalServerError', 'gone'));
    await expect(checkRisk(deps, ORDER)).rejects.toMatchObject({ name: 'TransientError' });
    expect(orders.records.get('ORD-1')?.risk?.reasons[0]).toBe('RISK_DATA_UNAVAILABLE');
    get.mockRestore();
    const retry = await checkRisk(deps, ORDER);
    expect(retry.decision).toBe('rejected');
    expect(retry.reasons[0]).toBe('RISK_DATA_UNAVAILABLE');
  });

  it('a retried step that prices the order differently keeps the reservation at the value on record', async () => {
    const first = await checkRisk(deps, ORDER);
    expect(first.order_value).toBe('190000');
    await refStore.putSecurity(security('AAPL', '195.00', T0));
    clock.advanceNs(1_000_000_000n); // past the cache's 1 s
    const retry = await checkRisk(deps, ORDER);
    expect(retry.check_id).toBe(first.check_id);
    expect(state()?.open['ORD-1']?.value).toBe('190000');
  });

  it('a retried step whose decision on record is an approval keeps the reservation throughout, even if it would now reject', async () => {
    // The reviewer's scenario: approved and recorded, the audit write failed, the step is retried
    // after the symbol was halted. The re-evaluation rejects, but nothing is released before the
    // decision on record (the approval) is known, so a concurrent order never sees the capital free.
    const first = await checkRisk(deps, ORDER);
    expect(first.decision).toBe('approved');
    refStore.halts.set(ORDER.symbol, {
      symbol: ORDER.symbol,
      kind: 'TRADING_HALT',
      reason: 'news',
      since: '2026-01-01T00:00:00.000000000Z',
      set_by: 'x',
    });
    clock.advanceNs(1_000_000_000n); // past the cache's 1 s: the halt is seen
    const puts: Array<Record<string, unknown>> = [];
    const put = accountRisk.putIfRevision.bind(accountRisk);
    accountRisk.putIfRevision = async (next, expected) => {
      puts.push(structuredClone(next.open));
      return put(next, expected);
    };
    const retry = await checkRisk(deps, ORDER);
    expect(retry.check_id).toBe(first.check_id);
    expect(retry.decision).toBe('approved');
    // No write ever took the order out of the open orders.
    for (const open of puts) expect(open).toHaveProperty('ORD-1');
    expect(state()?.open['ORD-1']).toBeDefined();
  });

  it('after an earlier attempt reserved, a data error releases the reservation before rejecting', async () => {
    const first = await checkRisk(deps, ORDER);
    expect(first.decision).toBe('approved');
    expect(state()?.open['ORD-1']).toBeDefined();
    // The attempt's decision was lost (as if recordRisk had failed): the retry cannot read positions.
    orders.records.set('ORD-1', { ...(orders.records.get('ORD-1') as OrderRecord), risk: undefined });
    vi.spyOn(positions, 'list').mockRejectedValue(namedError('InternalServerError', 'boom'));
    const retry = await checkRisk(deps, ORDER);
    expect(retry.decision).toBe('rejected');
    expect(state()?.open['ORD-1']).toBeUndefined();
  });

  it('a commit that fails outright throws (whether it landed is unknown): no decision, no audit', async () => {
    vi.spyOn(accountRisk, 'putIfRevision').mockRejectedValue(namedError('InternalServerError', 'write failed'));
    await expect(checkRisk(deps, ORDER)).rejects.toThrow('write failed');
    expect(orders.records.get('ORD-1')?.risk).toBeUndefined();
    expect(audit.records()).toEqual([]);
  });
});

describe('releaseOrder', () => {
  it('releases a reservation once: idempotent', async () => {
    await checkRisk(deps, ORDER);
    const revision = state()?.revision ?? -1;
    expect(await releaseOrder(accountRisk, 'ACC-001', 'ORD-1')).toBe(true);
    expect(state()?.open).toEqual({});
    expect(state()?.revision).toBe(revision + 1);
    expect(await releaseOrder(accountRisk, 'ACC-001', 'ORD-1')).toBe(false);
    expect(state()?.revision).toBe(revision + 1);
    // Recent orders stay: the throttle and the duplicate check still count the order.
    expect(state()?.recent.map((r) => r.order_id)).toEqual(['ORD-1']);
  });

  it('an order never reserved (or another account’s) releases nothing', async () => {
    expect(await releaseOrder(accountRisk, 'ACC-001', 'ORD-404')).toBe(false);
    expect(state()).toBeUndefined();
  });

  it('retries on a conflict and keeps what the other writer committed', async () => {
    await checkRisk(deps, ORDER);
    accountRisk.beforePut.push(async () => {
      await checkRisk(deps, order('ORD-2', { quantity: 10 }));
    });
    expect(await releaseOrder(accountRisk, 'ACC-001', 'ORD-1')).toBe(true);
    expect(Object.keys(state()?.open ?? {})).toEqual(['ORD-2']);
  });

  it('gives up with a transient error when the state keeps changing', async () => {
    await checkRisk(deps, ORDER);
    vi.spyOn(accountRisk, 'putIfRevision').mockResolvedValue('conflict');
    await expect(releaseOrder(accountRisk, 'ACC-001', 'ORD-1')).rejects.toThrow(TransientError);
  });
});
