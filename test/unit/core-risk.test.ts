// The pre-trade risk controls (SEC Rule 15c3-5), one table per control at just below, at and just
// above its boundary, on a base snapshot where everything passes (loose limits), so only the control
// under test can fail. Then a property test against an oracle written here in plain bigint
// arithmetic: nothing that breaks a limit is approved, and the reasons are exactly the broken ones.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  ControlResult,
  FirmRiskSettings,
  HaltKind,
  Locate,
  OpenOrder,
  Order,
  RecentOrder,
  Restriction,
  RestrictionList,
  RiskDecision,
  RiskProfile,
  Side,
  TradingHalt,
  TradingMode,
} from '../../functions/core/model.js';
import {
  CONTROLS,
  type ControlName,
  evaluateRisk,
  REASON,
  type RiskEvaluation,
  type RiskSnapshot,
} from '../../functions/core/risk.js';
import {
  firmView,
  haltView,
  type LimitsView,
  limitsView,
  locateView,
  openView,
  type PriceView,
  priceView,
  restrictionView,
} from '../../functions/core/risk-views.js';
import { formatNs, parseNs } from '../../functions/core/time.js';
import { position, security, T0 } from '../support/in-memory.js';

/** The entries that have a value: a symbol whose price does not compile has none in the map. */
function defined<V>(m: ReadonlyMap<string, V | undefined>): Map<string, V> {
  const out = new Map<string, V>();
  for (const [k, v] of m) if (v !== undefined) out.set(k, v);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The base snapshot: AAPL at 100, BUY 100 MARKET, limits so loose that nothing fails.

const ACC = 'ACC-001';
const T0_NS = parseNs(T0) as bigint;
const MS = 1_000_000n;
const T0_MS = Number(T0_NS / MS);

/** T0 plus `ms` milliseconds and `ns` nanoseconds, as a timestamp. */
function at(ms: number, ns = 0n): string {
  return formatNs(T0_NS + BigInt(ms) * MS + ns);
}

const LOOSE: RiskProfile = {
  account_id: ACC,
  available_capital: '1000000000000',
  max_order_value: '1000000000000',
  max_order_quantity: 1_000_000_000,
  max_position_value: '1000000000000',
  max_total_position_value: '1000000000000',
  max_concentration: '1',
  approval_threshold: '1000000000000',
  max_orders_per_second: 1000,
  duplicate_window_ms: 60_000,
  version: 'test/v1',
};

const FIRM: FirmRiskSettings = { price_collar: '0.5', max_price_age_ms: 60_000, version: 'firm/v1' };

const BASE_ORDER: Order = {
  order_id: 'ORD-1',
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 100,
  order_type: 'MARKET',
  account_id: ACC,
  trader_id: 'trader-1',
};

/** A locate big enough for any short sale in these tables. */
const PLENTY = [locate(1_000_000, at(60_000))];

interface Case {
  order?: Partial<Order>;
  profile?: Partial<RiskProfile>;
  /** Profile fields deleted after the overrides. */
  drop?: readonly string[];
  noProfile?: boolean;
  firm?: Partial<FirmRiskSettings>;
  dropFirm?: readonly string[];
  noFirm?: boolean;
  /** The order symbol's reference price (default '100'); null: none. */
  price?: string | null;
  priceAsOf?: string;
  /** Signed quantities by symbol. */
  positions?: Record<string, number>;
  /** Reference prices of the other held symbols. */
  prices?: Record<string, string>;
  open?: Array<Omit<OpenOrder, 'order_id'> & { order_id?: string }>;
  recent?: RecentOrder[];
  firmMode?: TradingMode;
  accountMode?: TradingMode;
  restrictions?: Restriction[];
  locates?: Locate[];
  halt?: TradingHalt;
  nowNs?: bigint;
  dataError?: string;
}

function limitsOf(c: Case): LimitsView | undefined {
  if (c.noProfile) return undefined;
  const p: Record<string, unknown> = { ...LOOSE, ...c.profile };
  for (const f of c.drop ?? []) delete p[f];
  return limitsView(p as unknown as RiskProfile);
}

function snapshot(c: Case = {}): RiskSnapshot {
  const order: Order = { ...BASE_ORDER, ...c.order };
  const firm: Record<string, unknown> = { ...FIRM, ...c.firm };
  for (const f of c.dropFirm ?? []) delete firm[f];
  const priceText = c.price === undefined ? '100' : c.price;
  const others = new Map<string, PriceView | undefined>(
    Object.entries(c.prices ?? {}).map(([s, p]) => [s, priceView(security(s, p))]),
  );
  return {
    order,
    nowNs: c.nowNs ?? T0_NS,
    ...(c.dataError !== undefined ? { dataError: c.dataError } : {}),
    limits: limitsOf(c),
    firm: c.noFirm ? undefined : firmView(firm as unknown as FirmRiskSettings),
    price: priceText === null ? undefined : priceView(security(order.symbol, priceText, c.priceAsOf ?? T0)),
    positions: Object.entries(c.positions ?? {}).map(([s, q]) => position(s, q)),
    prices: defined(others),
    open: (c.open ?? []).map((o, i) => openView({ order_id: `OPEN-${i}`, ...o })),
    recent: c.recent ?? [],
    firmMode: c.firmMode ?? 'ACTIVE',
    accountMode: c.accountMode ?? 'ACTIVE',
    restrictions: (c.restrictions ?? []).map(restrictionView),
    locates: (c.locates ?? []).map(locateView),
    halt: c.halt ? haltView(c.halt) : undefined,
  };
}

/** Evaluates, and checks what must hold for every decision. */
function run(c: Case = {}): RiskEvaluation {
  const ev = evaluateRisk(snapshot(c));
  // Every control, always, in order; the reasons are the failed controls' codes, in the same order.
  expect(ev.controls.map((x) => x.control)).toEqual([...CONTROLS]);
  const failed = ev.controls.filter((x) => !x.passed);
  expect(ev.reasons).toEqual(failed.map((x) => x.reason_code));
  for (const x of ev.controls) expect(x.reason_code === undefined).toBe(x.passed);
  expect(ev.decision === 'rejected').toBe(failed.length > 0);
  return ev;
}

function ctl(ev: RiskEvaluation, name: ControlName): ControlResult {
  const c = ev.controls.find((x) => x.control === name);
  if (!c) throw new Error(`no control ${name}`);
  return c;
}

/** The failed controls with their reason codes. */
function failures(ev: RiskEvaluation): Record<string, string | undefined> {
  return Object.fromEntries(ev.controls.filter((c) => !c.passed).map((c) => [c.control, c.reason_code]));
}

/** Expects exactly `control` to fail with `reason` (or nothing when `reason` is undefined). */
function expectOnly(ev: RiskEvaluation, control: ControlName, reason: string | undefined): void {
  expect(failures(ev)).toEqual(reason === undefined ? {} : { [control]: reason });
  expect(ev.decision).toBe(reason === undefined ? 'approved' : 'rejected');
}

function restriction(p: Partial<Restriction> = {}): Restriction {
  return {
    restriction_id: 'R-1',
    symbol: 'AAPL',
    scope: 'FIRM',
    list: 'RESTRICTED',
    reason: 'information barrier',
    effective_from: at(-60_000),
    added_by: 'RISK-OFFICER-1',
    added_at: at(-60_000),
    ...p,
  };
}

function locate(quantity: number, expiresAt: string, id = 'L-1'): Locate {
  return {
    locate_id: id,
    account_id: ACC,
    symbol: 'AAPL',
    quantity,
    source: 'stock-loan',
    obtained_at: at(-60_000),
    expires_at: expiresAt,
    recorded_by: 'RISK-OFFICER-1',
  };
}

function halt(kind: HaltKind, until?: string): TradingHalt {
  return {
    symbol: 'AAPL',
    kind,
    reason: kind === 'LULD_PAUSE' ? 'limit down' : 'news pending',
    since: at(-60_000),
    ...(until !== undefined ? { until } : {}),
    set_by: 'market-data',
  };
}

function recent(fingerprint: string, agoMs: number, id = 'ORD-0'): RecentOrder {
  return { order_id: id, fingerprint, at_ms: T0_MS - agoMs };
}

const AAPL_BUY_100 = `${ACC}|AAPL|BUY|100|MKT`;

// ---------------------------------------------------------------------------------------------

describe('the base snapshot', () => {
  it('passes every control: approved, with every control and its values', () => {
    const ev = run();
    expect(ev).toMatchObject({
      decision: 'approved',
      reasons: [],
      order_value: '10000',
      reference_price: '100',
      limits_version: 'test/v1',
    });
    expect(ev.controls.every((c) => c.passed)).toBe(true);
  });

  it('records the reference price as stored and the limits version in force', () => {
    const ev = run({ price: '100.50', profile: { version: 'ACC-001/v7+CHG-9' } });
    expect(ev.reference_price).toBe('100.50');
    expect(ev.limits_version).toBe('ACC-001/v7+CHG-9');
    expect(ev.order_value).toBe('10050');
  });
});

describe('1. credit / capital (cumulative: positions + open orders + this order)', () => {
  it.each([
    { name: 'capital one minor unit under the order value', capital: '9999.99999999', quantity: 100, ok: false },
    { name: 'capital exactly equal to the order value', capital: '10000', quantity: 100, ok: true },
    { name: 'capital one minor unit over the order value', capital: '10000.00000001', quantity: 100, ok: true },
    { name: 'one share under', capital: '10000', quantity: 99, ok: true },
    { name: 'one share over', capital: '10000', quantity: 101, ok: false },
  ])('$name -> passed=$ok', ({ capital, quantity, ok }) => {
    const ev = run({ order: { quantity }, profile: { available_capital: capital } });
    expectOnly(ev, 'capital', ok ? undefined : REASON.INSUFFICIENT_CAPITAL);
    expect(ctl(ev, 'capital').values).toEqual({
      required_capital: String(quantity * 100),
      open_notional: '0',
      gross_exposure: '0',
      available_capital: capital,
      account_capital: capital,
    });
  });

  // MSFT 10 held at 100 (1,000) + open orders 4,000 + 500 (any symbol, either side): 5,500 committed.
  it.each([
    { capital: '15499.99999999', ok: false, available: '9999.99999999' },
    { capital: '15500', ok: true, available: '10000' },
    { capital: '15500.00000001', ok: true, available: '10000.00000001' },
  ])('open orders and other positions count against capital: $capital -> passed=$ok', ({ capital, ok, available }) => {
    const ev = run({
      profile: { available_capital: capital },
      positions: { MSFT: 10 },
      prices: { MSFT: '100' },
      open: [
        { symbol: 'GOOG', side: 'BUY', quantity: 10, value: '4000' },
        { symbol: 'MSFT', side: 'SELL', quantity: 5, value: '500' },
      ],
    });
    expectOnly(ev, 'capital', ok ? undefined : REASON.INSUFFICIENT_CAPITAL);
    expect(ctl(ev, 'capital').values).toEqual({
      required_capital: '10000',
      open_notional: '4500',
      gross_exposure: '1000',
      available_capital: available,
      account_capital: capital,
    });
  });

  it('values a portfolio exactly whichever path each price takes (small 10^-4 integers or bigint)', () => {
    // MSFT at the largest small-integer price, GOOG past it, TSLA with 5 decimals, AAPL (the order's).
    const ev = run({
      positions: { AAPL: 4, MSFT: 7, GOOG: 2, TSLA: -3 },
      prices: { MSFT: '214748.3647', GOOG: '300000', TSLA: '12.12345' },
    });
    // 4 x 100 + 7 x 214748.3647 + 2 x 300000 + 3 x 12.12345
    expect(ctl(ev, 'capital').values.gross_exposure).toBe('2103674.92325');
  });

  // AAPL 50 held + open BUY 30: a BUY of 20 adds 20 shares (2,000); committed 5,000 + 3,000.
  it.each([
    { quantity: 20, capital: '10000', ok: true },
    { quantity: 20, capital: '9999.99999999', ok: false },
    { quantity: 21, capital: '10000', ok: false },
  ])(
    'open BUYs in the symbol count for a long: BUY $quantity, capital $capital -> $ok',
    ({ quantity, capital, ok }) => {
      const ev = run({
        order: { quantity },
        profile: { available_capital: capital },
        positions: { AAPL: 50 },
        open: [{ symbol: 'AAPL', side: 'BUY', quantity: 30, value: '3000' }],
      });
      expectOnly(ev, 'capital', ok ? undefined : REASON.INSUFFICIENT_CAPITAL);
      expect(ctl(ev, 'capital').values).toMatchObject({
        required_capital: String(quantity * 100),
        open_notional: '3000',
        gross_exposure: '5000',
      });
    },
  );

  it.each([
    { quantity: 20, ok: true },
    { quantity: 21, ok: false },
  ])('open SELLs in the symbol count for a short: SELL $quantity -> $ok', ({ quantity, ok }) => {
    const ev = run({
      order: { side: 'SELL', quantity },
      profile: { available_capital: '10000' },
      positions: { AAPL: -50 },
      open: [{ symbol: 'AAPL', side: 'SELL', quantity: 30, value: '3000' }],
      locates: PLENTY,
    });
    expectOnly(ev, 'capital', ok ? undefined : REASON.INSUFFICIENT_CAPITAL);
    expect(ctl(ev, 'capital').values.required_capital).toBe(String(quantity * 100));
  });

  it('an order that adds no exposure needs no capital, even over the limit; a flip only for the exposure it adds', () => {
    const reduce = run({
      order: { side: 'SELL', quantity: 100 },
      profile: { available_capital: '1' },
      positions: { AAPL: 100 },
    });
    expectOnly(reduce, 'capital', undefined);
    expect(ctl(reduce, 'capital').values).toMatchObject({ required_capital: '0', available_capital: '-9999' });
    // 100 long: SELL 101 leaves 1 short (less gross exposure); SELL 201 leaves 101 short (one share more).
    const flip = (quantity: number, capital: string) =>
      run({
        order: { side: 'SELL', quantity },
        profile: { available_capital: capital },
        positions: { AAPL: 100 },
        locates: PLENTY,
      });
    expectOnly(flip(101, '1'), 'capital', undefined);
    expect(ctl(flip(101, '1'), 'capital').values.required_capital).toBe('0');
    expectOnly(flip(201, '10100'), 'capital', undefined);
    expect(ctl(flip(201, '10100'), 'capital').values).toMatchObject({
      required_capital: '100',
      available_capital: '100',
    });
    expectOnly(flip(201, '10099.99999999'), 'capital', REASON.INSUFFICIENT_CAPITAL);
  });

  it.each([
    { capital: '10099.99999999', ok: false },
    { capital: '10100', ok: true },
  ])('a LIMIT BUY above the market is valued at its limit: capital $capital -> $ok', ({ capital, ok }) => {
    const ev = run({ order: { order_type: 'LIMIT', price: '101' }, profile: { available_capital: capital } });
    expectOnly(ev, 'capital', ok ? undefined : REASON.INSUFFICIENT_CAPITAL);
    expect(ctl(ev, 'capital').values.required_capital).toBe('10100');
  });

  it('a LIMIT SELL far below the market is valued at the market', () => {
    const ev = run({
      order: { side: 'SELL', order_type: 'LIMIT', price: '0.01' },
      firm: { price_collar: '1' },
      profile: { available_capital: '9999.99999999' },
      locates: PLENTY,
    });
    expectOnly(ev, 'capital', REASON.INSUFFICIENT_CAPITAL);
    expect(ev.order_value).toBe('10000');
  });
});

describe('2. erroneous orders: max order value (account and symbol)', () => {
  it.each([
    { name: 'account limit one minor unit under', profile: { max_order_value: '9999.99999999' }, ok: false },
    { name: 'account limit equal', profile: { max_order_value: '10000' }, ok: true },
    { name: 'account limit one minor unit over', profile: { max_order_value: '10000.00000001' }, ok: true },
  ])('$name -> passed=$ok', ({ profile, ok }) => {
    const ev = run({ profile });
    expectOnly(ev, 'max_order_value', ok ? undefined : REASON.MAX_ORDER_VALUE_EXCEEDED);
    expect(ctl(ev, 'max_order_value').values).toEqual({
      order_value: '10000',
      max_order_value: profile.max_order_value,
    });
  });

  it.each([
    { quantity: 100, symbol: '10000', ok: true },
    { quantity: 101, symbol: '10000', ok: false },
    { quantity: 100, symbol: '9999.99999999', ok: false },
  ])(
    'a per-symbol limit tighter than the account: $quantity shares against $symbol -> $ok',
    ({ quantity, symbol, ok }) => {
      const ev = run({ order: { quantity }, profile: { symbol_limits: { AAPL: { max_order_value: symbol } } } });
      expectOnly(ev, 'max_order_value', ok ? undefined : REASON.MAX_ORDER_VALUE_EXCEEDED);
      expect(ctl(ev, 'max_order_value').values).toEqual({
        order_value: String(quantity * 100),
        max_order_value: symbol,
        symbol_limit: symbol,
      });
    },
  );

  it('a per-symbol limit looser than the account does not loosen it; another symbol’s limit does not apply', () => {
    const looser = run({
      order: { quantity: 101 },
      profile: { max_order_value: '10000', symbol_limits: { AAPL: { max_order_value: '20000' } } },
    });
    expectOnly(looser, 'max_order_value', REASON.MAX_ORDER_VALUE_EXCEEDED);
    expect(ctl(looser, 'max_order_value').values).toEqual({
      order_value: '10100',
      max_order_value: '10000',
      symbol_limit: '20000',
    });
    const other = run({
      profile: { symbol_limits: { MSFT: { max_order_value: '1', max_order_quantity: 1, max_position_value: '1' } } },
    });
    expectOnly(other, 'max_order_value', undefined);
  });
});

describe('2. erroneous orders: max order quantity (account and symbol)', () => {
  it.each([
    { quantity: 99, profile: { max_order_quantity: 100 }, bound: '100', ok: true },
    { quantity: 100, profile: { max_order_quantity: 100 }, bound: '100', ok: true },
    { quantity: 101, profile: { max_order_quantity: 100 }, bound: '100', ok: false },
    { quantity: 50, profile: { symbol_limits: { AAPL: { max_order_quantity: 50 } } }, bound: '50', ok: true },
    { quantity: 51, profile: { symbol_limits: { AAPL: { max_order_quantity: 50 } } }, bound: '50', ok: false },
    {
      quantity: 101,
      profile: { max_order_quantity: 100, symbol_limits: { AAPL: { max_order_quantity: 500 } } },
      bound: '100',
      ok: false,
    },
  ])('$quantity shares, bound $bound -> $ok', ({ quantity, profile, bound, ok }) => {
    const ev = run({ order: { quantity }, profile });
    expectOnly(ev, 'max_order_quantity', ok ? undefined : REASON.MAX_ORDER_QUANTITY_EXCEEDED);
    expect(ctl(ev, 'max_order_quantity').values).toEqual({ quantity: String(quantity), max_order_quantity: bound });
  });
});

describe('2. erroneous orders: the LIMIT price collar (reference 100, collar 10%: 90 to 110)', () => {
  it.each([
    { price: '89.99999999', ok: false },
    { price: '90', ok: true },
    { price: '90.00000001', ok: true },
    { price: '100', ok: true },
    { price: '109.99999999', ok: true },
    { price: '110', ok: true },
    { price: '110.00000001', ok: false },
  ])('LIMIT at $price -> passed=$ok', ({ price, ok }) => {
    const ev = run({ order: { order_type: 'LIMIT', price, quantity: 1 }, firm: { price_collar: '0.1' } });
    expectOnly(ev, 'price_collar', ok ? undefined : REASON.PRICE_OUTSIDE_COLLAR);
    expect(ctl(ev, 'price_collar').values).toEqual({
      limit_price: price,
      reference_price: '100',
      collar: '0.1',
      collar_low: '90',
      collar_high: '110',
    });
  });

  it('a zero collar admits the reference price only; a MARKET order is not collared', () => {
    expectOnly(
      run({ order: { order_type: 'LIMIT', price: '100' }, firm: { price_collar: '0' } }),
      'price_collar',
      undefined,
    );
    expectOnly(
      run({ order: { order_type: 'LIMIT', price: '100.00000001' }, firm: { price_collar: '0' } }),
      'price_collar',
      REASON.PRICE_OUTSIDE_COLLAR,
    );
    const market = run({ firm: { price_collar: '0' } });
    expect(ctl(market, 'price_collar')).toEqual({
      control: 'price_collar',
      passed: true,
      values: { applies: 'no', order_type: 'MARKET' },
    });
  });
});

describe('2. erroneous orders: the reference price’s age (max 1,000 ms)', () => {
  it.each([
    { name: '999 ms old', asOf: at(0), now: 999, ok: true, age: '999' },
    { name: 'exactly the max age', asOf: at(0), now: 1000, ok: true, age: '1000' },
    { name: 'one ms over the max age', asOf: at(0), now: 1001, ok: false, age: '1001' },
    { name: 'an hour old', asOf: at(0), now: 3_600_000, ok: false, age: '3600000' },
    { name: 'future-dated within the skew (the max age)', asOf: at(1000), now: 0, ok: true, age: '-1000' },
    { name: 'future-dated beyond it', asOf: at(1001), now: 0, ok: false, age: '-1001' },
  ])('$name -> passed=$ok', ({ asOf, now, ok, age }) => {
    const ev = run({ priceAsOf: asOf, nowNs: T0_NS + BigInt(now) * MS, firm: { max_price_age_ms: 1000 } });
    expectOnly(ev, 'price_freshness', ok ? undefined : REASON.STALE_REFERENCE_PRICE);
    expect(ctl(ev, 'price_freshness').values).toEqual({ price_as_of: asOf, age_ms: age, max_price_age_ms: '1000' });
  });

  it('a max age of 0 takes a price of this millisecond only', () => {
    expectOnly(run({ firm: { max_price_age_ms: 0 } }), 'price_freshness', undefined);
    expectOnly(
      run({ firm: { max_price_age_ms: 0 }, nowNs: T0_NS + MS }),
      'price_freshness',
      REASON.STALE_REFERENCE_PRICE,
    );
  });

  it('a stale LIMIT order is rejected too, whatever its limit', () => {
    const ev = run({
      order: { order_type: 'LIMIT', price: '100' },
      firm: { max_price_age_ms: 1000 },
      nowNs: T0_NS + 1001n * MS,
    });
    expectOnly(ev, 'price_freshness', REASON.STALE_REFERENCE_PRICE);
  });
});

describe('3. position: max position value per symbol (open BUYs for a long, open SELLs for a short)', () => {
  it.each([
    { name: 'projected 99 shares', quantity: 99, max: '10000', ok: true },
    { name: 'projected exactly at the max', quantity: 100, max: '10000', ok: true },
    { name: 'one share over', quantity: 101, max: '10000', ok: false },
    { name: 'max one minor unit under', quantity: 100, max: '9999.99999999', ok: false },
  ])('$name -> $ok', ({ quantity, max, ok }) => {
    const ev = run({ order: { quantity }, profile: { max_position_value: max } });
    expectOnly(ev, 'max_position_value', ok ? undefined : REASON.MAX_POSITION_VALUE_EXCEEDED);
    expect(ctl(ev, 'max_position_value').values).toEqual({
      projected_quantity: String(quantity),
      projected_position_value: String(quantity * 100),
      max_position_value: max,
    });
  });

  it.each([
    { quantity: 20, ok: true },
    { quantity: 21, ok: false },
  ])('50 held + open BUY 30: BUY $quantity -> $ok', ({ quantity, ok }) => {
    const ev = run({
      order: { quantity },
      profile: { max_position_value: '10000' },
      positions: { AAPL: 50 },
      open: [{ symbol: 'AAPL', side: 'BUY', quantity: 30, value: '3000' }],
    });
    expectOnly(ev, 'max_position_value', ok ? undefined : REASON.MAX_POSITION_VALUE_EXCEEDED);
    expect(ctl(ev, 'max_position_value').values.projected_quantity).toBe(String(80 + quantity));
  });

  it.each([
    { quantity: 20, ok: true },
    { quantity: 21, ok: false },
  ])('50 short + open SELL 30: SELL $quantity -> $ok', ({ quantity, ok }) => {
    const ev = run({
      order: { side: 'SELL', quantity },
      profile: { max_position_value: '10000' },
      positions: { AAPL: -50 },
      open: [{ symbol: 'AAPL', side: 'SELL', quantity: 30, value: '3000' }],
      locates: PLENTY,
    });
    expectOnly(ev, 'max_position_value', ok ? undefined : REASON.MAX_POSITION_VALUE_EXCEEDED);
    expect(ctl(ev, 'max_position_value').values.projected_quantity).toBe(String(-80 - quantity));
  });

  it('an open SELL does not offset a BUY (nothing unfilled is counted as an offset)', () => {
    const ev = run({
      order: { quantity: 101 },
      profile: { max_position_value: '10000' },
      open: [{ symbol: 'AAPL', side: 'SELL', quantity: 100, value: '10000' }],
      locates: PLENTY,
    });
    expectOnly(ev, 'max_position_value', REASON.MAX_POSITION_VALUE_EXCEEDED);
  });

  it('an order that reduces a position over the limit passes', () => {
    const ev = run({
      order: { side: 'SELL', quantity: 50 },
      profile: { max_position_value: '10000' },
      positions: { AAPL: 200 },
    });
    expectOnly(ev, 'max_position_value', undefined);
    expect(ctl(ev, 'max_position_value').values.projected_position_value).toBe('15000');
  });

  it.each([
    { quantity: 100, ok: true },
    { quantity: 101, ok: false },
  ])('a per-symbol max tighter than the account: BUY $quantity -> $ok', ({ quantity, ok }) => {
    const ev = run({ order: { quantity }, profile: { symbol_limits: { AAPL: { max_position_value: '10000' } } } });
    expectOnly(ev, 'max_position_value', ok ? undefined : REASON.MAX_POSITION_VALUE_EXCEEDED);
    expect(ctl(ev, 'max_position_value').values.max_position_value).toBe('10000');
  });
});

describe('3. position: max total (gross) position value', () => {
  // MSFT 10 at 200 (2,000, long or short) + AAPL 20 held (2,000): AAPL's part replaced by its projection.
  it.each([
    { quantity: 60, max: '10000', msft: 10, ok: true, gross: '10000' },
    { quantity: 61, max: '10000', msft: 10, ok: false, gross: '10100' },
    { quantity: 60, max: '9999.99999999', msft: 10, ok: false, gross: '10000' },
    { quantity: 60, max: '10000.00000001', msft: 10, ok: true, gross: '10000' },
    { quantity: 61, max: '10000', msft: -10, ok: false, gross: '10100' },
  ])('BUY $quantity with MSFT $msft, max $max -> $ok', ({ quantity, max, msft, ok, gross }) => {
    const ev = run({
      order: { quantity },
      profile: { max_total_position_value: max },
      positions: { AAPL: 20, MSFT: msft },
      prices: { MSFT: '200' },
    });
    expectOnly(ev, 'max_total_position_value', ok ? undefined : REASON.MAX_TOTAL_POSITION_VALUE_EXCEEDED);
    expect(ctl(ev, 'max_total_position_value').values).toEqual({
      projected_gross_value: gross,
      open_in_other_symbols: '0',
      max_total_position_value: max,
    });
  });

  it('a reducing order passes while the account is over its total', () => {
    const ev = run({
      order: { side: 'SELL', quantity: 10 },
      profile: { max_total_position_value: '1000' },
      positions: { AAPL: 20, MSFT: 10 },
      prices: { MSFT: '200' },
    });
    expectOnly(ev, 'max_total_position_value', undefined);
  });
});

describe('4. concentration: the symbol’s share of the projected portfolio', () => {
  // MSFT 60 at 100 held; BUY 40 AAPL: 4,000 of a 10,000 portfolio (capital 10,000 too).
  it.each([
    { max: '0.39999999', ok: false },
    { max: '0.4', ok: true },
    { max: '0.40000001', ok: true },
  ])('40% against $max (base: the projected gross) -> $ok', ({ max, ok }) => {
    const ev = run({
      order: { quantity: 40 },
      profile: { max_concentration: max, available_capital: '10000' },
      positions: { MSFT: 60 },
      prices: { MSFT: '100' },
    });
    expectOnly(ev, 'concentration', ok ? undefined : REASON.CONCENTRATION_LIMIT_EXCEEDED);
    expect(ctl(ev, 'concentration').values).toEqual({
      symbol_exposure: '4000',
      portfolio_base: '10000',
      concentration: '0.4',
      max_concentration: max,
    });
  });

  // No positions, capital 20,000: a first position is measured against what the account can hold.
  it.each([
    { quantity: 39, ok: true, share: '0.195' },
    { quantity: 40, ok: true, share: '0.2' },
    { quantity: 41, ok: false, share: '0.205' },
  ])('BUY $quantity against 20% of capital 20,000 -> $ok', ({ quantity, ok, share }) => {
    const ev = run({ order: { quantity }, profile: { max_concentration: '0.2', available_capital: '20000' } });
    expectOnly(ev, 'concentration', ok ? undefined : REASON.CONCENTRATION_LIMIT_EXCEEDED);
    expect(ctl(ev, 'concentration').values).toEqual({
      symbol_exposure: String(quantity * 100),
      portfolio_base: '20000',
      concentration: share,
      max_concentration: '0.2',
    });
  });

  it.each([
    { quantity: 20, ok: true },
    { quantity: 21, ok: false },
  ])('open BUYs count: open BUY 20, BUY $quantity -> $ok', ({ quantity, ok }) => {
    const ev = run({
      order: { quantity },
      profile: { max_concentration: '0.2', available_capital: '20000' },
      open: [{ symbol: 'AAPL', side: 'BUY', quantity: 20, value: '2000' }],
    });
    expectOnly(ev, 'concentration', ok ? undefined : REASON.CONCENTRATION_LIMIT_EXCEEDED);
  });

  it('a reducing order passes while over the limit', () => {
    const ev = run({
      order: { side: 'SELL', quantity: 10 },
      profile: { max_concentration: '0.2', available_capital: '20000' },
      positions: { AAPL: 100 },
    });
    expectOnly(ev, 'concentration', undefined);
  });
});

describe('5. restricted and prohibited lists (now = T0)', () => {
  const prohibited = (p: Partial<Restriction> = {}) =>
    restriction({ restriction_id: 'P-1', list: 'PROHIBITED', reason: 'sanctioned issuer', ...p });
  it.each([
    { name: 'before effective_from', list: [restriction({ effective_from: at(0, 1n) })], reason: undefined },
    { name: 'at effective_from', list: [restriction({ effective_from: at(0) })], reason: 'RESTRICTED_SECURITY' },
    {
      name: 'one ns before effective_until',
      list: [restriction({ effective_until: at(0, 1n) })],
      reason: 'RESTRICTED_SECURITY',
    },
    { name: 'at effective_until (lifted)', list: [restriction({ effective_until: at(0) })], reason: undefined },
    { name: 'after effective_until', list: [restriction({ effective_until: at(-1) })], reason: undefined },
    { name: 'this account’s entry', list: [restriction({ scope: ACC })], reason: 'RESTRICTED_SECURITY' },
    { name: 'another account’s entry', list: [prohibited({ scope: 'ACC-002' })], reason: undefined },
    { name: 'a firm prohibition', list: [prohibited()], reason: 'PROHIBITED_SECURITY' },
    { name: 'prohibited outranks restricted', list: [restriction(), prohibited()], reason: 'PROHIBITED_SECURITY' },
    { name: 'prohibited first, restricted after', list: [prohibited(), restriction()], reason: 'PROHIBITED_SECURITY' },
    {
      name: 'a lifted prohibition leaves the restriction',
      list: [prohibited({ effective_until: at(0) }), restriction()],
      reason: 'RESTRICTED_SECURITY',
    },
    {
      name: 'another account’s prohibition does not outrank the firm restriction',
      list: [prohibited({ scope: 'ACC-002' }), restriction()],
      reason: 'RESTRICTED_SECURITY',
    },
  ])('$name -> $reason', ({ list, reason }) => {
    const ev = run({ restrictions: list });
    expectOnly(ev, 'restricted_list', reason);
    const values = ctl(ev, 'restricted_list').values;
    if (reason === undefined) expect(values).toEqual({ symbol: 'AAPL', listed: 'no' });
    else {
      const hit = reason === 'PROHIBITED_SECURITY' ? prohibited() : restriction();
      expect(values).toEqual({
        symbol: 'AAPL',
        list: hit.list,
        scope: list.find((r) => r.list === hit.list && (r.scope === 'FIRM' || r.scope === ACC))?.scope,
        restriction_id: hit.restriction_id,
        reason: hit.reason,
      });
    }
  });
});

describe('6. Reg SHO: a sale that leaves the position short needs locates for all of it', () => {
  it.each([
    { name: 'a sell that stays long', held: 100, qty: 50, locates: [], reason: undefined, short: undefined },
    { name: 'a sell to exactly flat', held: 100, qty: 100, locates: [], reason: undefined, short: undefined },
    {
      name: '50 short, no locate',
      held: 100,
      qty: 150,
      locates: [],
      reason: 'SHORT_SALE_NO_LOCATE',
      short: ['50', '0'],
    },
    {
      name: 'locates summing exactly to the short',
      held: 100,
      qty: 150,
      locates: [locate(30, at(1000), 'L-1'), locate(20, at(1000), 'L-2')],
      reason: undefined,
      short: ['50', '50'],
    },
    {
      name: 'locates one share short',
      held: 100,
      qty: 150,
      locates: [locate(30, at(1000), 'L-1'), locate(19, at(1000), 'L-2')],
      reason: 'SHORT_SALE_NO_LOCATE',
      short: ['50', '49'],
    },
    {
      name: 'a locate expiring now is ignored',
      held: 100,
      qty: 150,
      locates: [locate(30, at(1000), 'L-1'), locate(20, at(0), 'L-2')],
      reason: 'SHORT_SALE_NO_LOCATE',
      short: ['50', '30'],
    },
    {
      name: 'a locate expiring one ns from now counts',
      held: 100,
      qty: 150,
      locates: [locate(30, at(1000), 'L-1'), locate(20, at(0, 1n), 'L-2')],
      reason: undefined,
      short: ['50', '50'],
    },
    {
      name: 'flat, SELL 100 with 100 located',
      held: 0,
      qty: 100,
      locates: [locate(100, at(1))],
      reason: undefined,
      short: ['100', '100'],
    },
    {
      name: 'already short, SELL 1 more',
      held: -100,
      qty: 1,
      locates: [locate(100, at(1))],
      reason: 'SHORT_SALE_NO_LOCATE',
      short: ['101', '100'],
    },
  ])('$name -> $reason', ({ held, qty, locates, reason, short }) => {
    const ev = run({ order: { side: 'SELL', quantity: qty }, positions: { AAPL: held }, locates });
    expectOnly(ev, 'short_sale', reason);
    expect(ctl(ev, 'short_sale').values).toEqual(
      short
        ? { short: 'yes', short_quantity: short[0], located_quantity: short[1] }
        : { short: 'no', projected_quantity: String(held - qty) },
    );
  });

  it.each([
    { qty: 40, locates: [], reason: undefined },
    { qty: 41, locates: [], reason: 'SHORT_SALE_NO_LOCATE' },
    { qty: 41, locates: [locate(1, at(1))], reason: undefined },
  ])('open SELLs count: 100 held, open SELL 60, SELL $qty -> $reason', ({ qty, locates, reason }) => {
    const ev = run({
      order: { side: 'SELL', quantity: qty },
      positions: { AAPL: 100 },
      open: [{ symbol: 'AAPL', side: 'SELL', quantity: 60, value: '6000' }],
      locates,
    });
    expectOnly(ev, 'short_sale', reason);
  });

  it('a BUY is never a short sale', () => {
    const ev = run({ positions: { AAPL: -100 } });
    expect(ctl(ev, 'short_sale')).toEqual({
      control: 'short_sale',
      passed: true,
      values: { short: 'no', projected_quantity: '0' },
    });
  });
});

describe('7. halts', () => {
  it.each([
    { name: 'a trading halt until lifted', halt: halt('TRADING_HALT'), reason: 'SYMBOL_HALTED', until: 'until lifted' },
    {
      name: 'a trading halt with an end to come',
      halt: halt('TRADING_HALT', at(5000)),
      reason: 'SYMBOL_HALTED',
      until: at(5000),
    },
    {
      name: 'an LULD pause ending 1 ns from now',
      halt: halt('LULD_PAUSE', at(0, 1n)),
      reason: 'LULD_PAUSE',
      until: at(0, 1n),
    },
    { name: 'an LULD pause ending now', halt: halt('LULD_PAUSE', at(0)), reason: undefined, until: undefined },
    { name: 'an LULD pause that has passed', halt: halt('LULD_PAUSE', at(-1)), reason: undefined, until: undefined },
  ])('$name -> $reason', ({ halt: h, reason, until }) => {
    const ev = run({ halt: h });
    expectOnly(ev, 'halt', reason);
    expect(ctl(ev, 'halt').values).toEqual(
      reason === undefined
        ? { symbol: 'AAPL', halted: 'no' }
        : { symbol: 'AAPL', kind: h.kind, reason: h.reason, until },
    );
  });

  it('no halt on record passes', () => {
    expect(ctl(run(), 'halt').values).toEqual({ symbol: 'AAPL', halted: 'no' });
  });
});

describe('8. duplicates within the window (5,000 ms)', () => {
  it.each([
    { name: 'the same order 1 ms ago', recent: [recent(AAPL_BUY_100, 1)], window: 5000, dup: true },
    { name: 'the same order 4,999 ms ago', recent: [recent(AAPL_BUY_100, 4999)], window: 5000, dup: true },
    { name: 'the same order exactly 5,000 ms ago', recent: [recent(AAPL_BUY_100, 5000)], window: 5000, dup: false },
    { name: 'another quantity', recent: [recent(`${ACC}|AAPL|BUY|101|MKT`, 1)], window: 5000, dup: false },
    { name: 'another side', recent: [recent(`${ACC}|AAPL|SELL|100|MKT`, 1)], window: 5000, dup: false },
    { name: 'window 0: the check is off', recent: [recent(AAPL_BUY_100, 0)], window: 0, dup: false },
  ])('$name -> duplicate=$dup', ({ recent: r, window, dup }) => {
    const ev = run({ recent: r, profile: { duplicate_window_ms: window } });
    expectOnly(ev, 'duplicate', dup ? REASON.DUPLICATE_ORDER : undefined);
    expect(ctl(ev, 'duplicate').values).toEqual(
      dup ? { window_ms: String(window), duplicate_of: 'ORD-0' } : { window_ms: String(window) },
    );
  });

  it('an order marked intended passes inside the window', () => {
    const ev = run({
      order: { duplicate_intended: true },
      recent: [recent(AAPL_BUY_100, 1)],
      profile: { duplicate_window_ms: 5000 },
    });
    expectOnly(ev, 'duplicate', undefined);
    expect(ctl(ev, 'duplicate').values).toEqual({ intended: 'yes' });
  });

  it('a LIMIT order is the same order only at the same price', () => {
    const limit = { order_type: 'LIMIT' as const, price: '100.5' };
    const same = run({ order: limit, recent: [recent(`${ACC}|AAPL|BUY|100|100.5`, 1)] });
    expectOnly(same, 'duplicate', REASON.DUPLICATE_ORDER);
    expectOnly(run({ order: limit, recent: [recent(`${ACC}|AAPL|BUY|100|100.51`, 1)] }), 'duplicate', undefined);
    expectOnly(run({ order: limit, recent: [recent(AAPL_BUY_100, 1)] }), 'duplicate', undefined);
  });
});

describe('9. throttle (orders per rolling second)', () => {
  const others = (agos: number[]) => agos.map((ago, i) => recent(`other|${i}`, ago, `ORD-${i}`));
  it.each([
    { name: 'N-1 in the last second', agos: [0, 100, 500, 999], ok: true, count: '5' },
    { name: 'N in the last second', agos: [0, 100, 500, 700, 999], ok: false, count: '6' },
    { name: 'one exactly 1 s ago is outside', agos: [0, 100, 500, 999, 1000], ok: true, count: '5' },
    { name: 'older entries are ignored', agos: [0, 1000, 1500, 3000, 5000, 9000], ok: true, count: '2' },
  ])('max 5: $name -> $ok', ({ agos, ok, count }) => {
    const ev = run({ profile: { max_orders_per_second: 5 }, recent: others(agos) });
    expectOnly(ev, 'throttle', ok ? undefined : REASON.THROTTLE_EXCEEDED);
    expect(ctl(ev, 'throttle').values).toEqual({ orders_last_second: count, max_orders_per_second: '5' });
  });

  it.each([
    { n: 99, ok: true },
    { n: 100, ok: false },
  ])('without a limit on file the default is 100 a second: $n recent -> $ok', ({ n, ok }) => {
    const ev = run({ drop: ['max_orders_per_second'], recent: others(Array.from({ length: n }, () => 10)) });
    expectOnly(ev, 'throttle', ok ? undefined : REASON.THROTTLE_EXCEEDED);
    expect(ctl(ev, 'throttle').values.max_orders_per_second).toBe('100');
  });
});

describe('10. kill switch: the stricter of the firm’s and the account’s trading state', () => {
  it.each([
    { firm: 'ACTIVE', account: 'ACTIVE', held: 0, side: 'BUY', qty: 100, open: 0, reason: undefined, reduces: 'no' },
    {
      firm: 'HALTED',
      account: 'ACTIVE',
      held: 0,
      side: 'BUY',
      qty: 100,
      open: 0,
      reason: 'TRADING_HALTED',
      reduces: 'no',
    },
    {
      firm: 'ACTIVE',
      account: 'HALTED',
      held: 0,
      side: 'BUY',
      qty: 100,
      open: 0,
      reason: 'TRADING_HALTED',
      reduces: 'no',
    },
    {
      firm: 'HALTED',
      account: 'ACTIVE',
      held: 100,
      side: 'SELL',
      qty: 50,
      open: 0,
      reason: 'TRADING_HALTED',
      reduces: 'yes',
    },
    {
      firm: 'ACTIVE',
      account: 'REDUCING',
      held: 100,
      side: 'SELL',
      qty: 50,
      open: 0,
      reason: undefined,
      reduces: 'yes',
    },
    {
      firm: 'ACTIVE',
      account: 'REDUCING',
      held: 100,
      side: 'SELL',
      qty: 100,
      open: 0,
      reason: undefined,
      reduces: 'yes',
    },
    {
      firm: 'ACTIVE',
      account: 'REDUCING',
      held: 100,
      side: 'SELL',
      qty: 101,
      open: 0,
      reason: 'REDUCING_ONLY',
      reduces: 'no',
    },
    {
      firm: 'ACTIVE',
      account: 'REDUCING',
      held: 100,
      side: 'BUY',
      qty: 1,
      open: 0,
      reason: 'REDUCING_ONLY',
      reduces: 'no',
    },
    {
      firm: 'ACTIVE',
      account: 'REDUCING',
      held: 0,
      side: 'SELL',
      qty: 1,
      open: 0,
      reason: 'REDUCING_ONLY',
      reduces: 'no',
    },
    {
      firm: 'ACTIVE',
      account: 'REDUCING',
      held: -100,
      side: 'BUY',
      qty: 100,
      open: 0,
      reason: undefined,
      reduces: 'yes',
    },
    {
      firm: 'ACTIVE',
      account: 'REDUCING',
      held: -100,
      side: 'BUY',
      qty: 101,
      open: 0,
      reason: 'REDUCING_ONLY',
      reduces: 'no',
    },
    {
      firm: 'ACTIVE',
      account: 'REDUCING',
      held: 100,
      side: 'SELL',
      qty: 40,
      open: 60,
      reason: undefined,
      reduces: 'yes',
    },
    {
      firm: 'ACTIVE',
      account: 'REDUCING',
      held: 100,
      side: 'SELL',
      qty: 41,
      open: 60,
      reason: 'REDUCING_ONLY',
      reduces: 'no',
    },
    {
      firm: 'REDUCING',
      account: 'ACTIVE',
      held: 0,
      side: 'BUY',
      qty: 100,
      open: 0,
      reason: 'REDUCING_ONLY',
      reduces: 'no',
    },
    {
      firm: 'REDUCING',
      account: 'ACTIVE',
      held: 100,
      side: 'SELL',
      qty: 100,
      open: 0,
      reason: undefined,
      reduces: 'yes',
    },
    {
      firm: 'REDUCING',
      account: 'HALTED',
      held: 100,
      side: 'SELL',
      qty: 50,
      open: 0,
      reason: 'TRADING_HALTED',
      reduces: 'yes',
    },
    {
      firm: 'HALTED',
      account: 'REDUCING',
      held: 100,
      side: 'SELL',
      qty: 50,
      open: 0,
      reason: 'TRADING_HALTED',
      reduces: 'yes',
    },
  ] as const)('firm $firm, account $account, $held held (open SELL $open), $side $qty -> $reason', (row) => {
    const ev = run({
      order: { side: row.side, quantity: row.qty },
      positions: { AAPL: row.held },
      open: row.open > 0 ? [{ symbol: 'AAPL', side: 'SELL', quantity: row.open, value: String(row.open * 100) }] : [],
      firmMode: row.firm,
      accountMode: row.account,
      locates: PLENTY,
    });
    expectOnly(ev, 'trading_state', row.reason);
    expect(ctl(ev, 'trading_state').values).toEqual({
      firm: row.firm,
      account: row.account,
      reduces_position: row.reduces,
    });
  });
});

describe('11. fail closed', () => {
  it.each([
    { field: 'max_order_value', control: 'max_order_value' },
    { field: 'max_order_quantity', control: 'max_order_quantity' },
    { field: 'max_position_value', control: 'max_position_value' },
    { field: 'max_total_position_value', control: 'max_total_position_value' },
    { field: 'max_concentration', control: 'concentration' },
    { field: 'approval_threshold', control: 'approval_threshold' },
    { field: 'duplicate_window_ms', control: 'duplicate' },
  ] as const)('a profile without $field fails $control with MISSING_LIMIT naming it', ({ field, control }) => {
    const ev = run({ drop: [field] });
    expectOnly(ev, control, REASON.MISSING_LIMIT);
    expect(ctl(ev, control).values).toEqual({ missing_limit: field });
  });

  it('a profile without available_capital fails capital with MISSING_LIMIT (and concentration, measured on it)', () => {
    const ev = run({ drop: ['available_capital'] });
    expect(ev.decision).toBe('rejected');
    expect(ctl(ev, 'capital')).toEqual({
      control: 'capital',
      passed: false,
      reason_code: 'MISSING_LIMIT',
      values: { missing_limit: 'available_capital' },
    });
    expect(failures(ev)).toEqual({ capital: 'MISSING_LIMIT', concentration: 'MISSING_LIMIT' });
  });

  it.each([
    { field: 'price_collar', control: 'price_collar', order: { order_type: 'LIMIT', price: '100' } },
    { field: 'max_price_age_ms', control: 'price_freshness', order: {} },
  ] as const)(
    'firm settings without $field fail $control with MISSING_LIMIT naming it',
    ({ field, control, order }) => {
      const ev = run({ dropFirm: [field], order });
      expectOnly(ev, control, REASON.MISSING_LIMIT);
      expect(ctl(ev, control).values).toEqual({ missing_limit: field });
    },
  );

  it('a MARKET order is not collared, so a missing collar does not reject it', () => {
    expectOnly(run({ dropFirm: ['price_collar'] }), 'price_collar', undefined);
  });

  it('a symbol limit left out falls back to the account’s (not missing)', () => {
    const ev = run({ order: { quantity: 101 }, profile: { max_order_quantity: 100, symbol_limits: { AAPL: {} } } });
    expectOnly(ev, 'max_order_quantity', REASON.MAX_ORDER_QUANTITY_EXCEEDED);
  });

  it('no risk profile: rejected, every limit control fails, the version is none', () => {
    const ev = run({ noProfile: true });
    expect(ev.decision).toBe('rejected');
    expect(ev.limits_version).toBe('none');
    const f = failures(ev);
    expect(Object.keys(f)).toEqual([
      'risk_profile',
      'capital',
      'max_order_value',
      'max_order_quantity',
      'max_position_value',
      'max_total_position_value',
      'concentration',
    ]);
    expect(f.capital).toBe('MISSING_RISK_PROFILE');
    expect({ ...f, capital: undefined }).toEqual({
      risk_profile: 'MISSING_RISK_PROFILE',
      capital: undefined,
      max_order_value: 'MISSING_RISK_PROFILE',
      max_order_quantity: 'MISSING_RISK_PROFILE',
      max_position_value: 'MISSING_RISK_PROFILE',
      max_total_position_value: 'MISSING_RISK_PROFILE',
      concentration: 'MISSING_RISK_PROFILE',
    });
    expect(ctl(ev, 'risk_profile').values).toEqual({ account_id: ACC, limits_version: 'none' });
  });

  it.each([
    { order: {}, expected: { firm_settings: 'MISSING_FIRM_SETTINGS', price_freshness: 'MISSING_FIRM_SETTINGS' } },
    {
      order: { order_type: 'LIMIT', price: '100' },
      expected: {
        firm_settings: 'MISSING_FIRM_SETTINGS',
        price_freshness: 'MISSING_FIRM_SETTINGS',
        price_collar: 'MISSING_FIRM_SETTINGS',
      },
    },
  ] as const)('no firm settings ($order.order_type) -> rejected', ({ order, expected }) => {
    const ev = run({ noFirm: true, order });
    expect(failures(ev)).toEqual(expected);
    expect(ctl(ev, 'firm_settings').values).toEqual({ firm_version: 'none' });
    expect(ctl(ev, 'price_freshness').values).toEqual({});
  });

  it('no reference price (MARKET): every control that values the order fails with MISSING_REFERENCE_PRICE', () => {
    const ev = run({ price: null });
    const m = REASON.MISSING_REFERENCE_PRICE;
    expect(failures(ev)).toEqual({
      reference_price: m,
      price_freshness: m,
      capital: m,
      max_order_value: m,
      max_position_value: m,
      max_total_position_value: m,
      concentration: m,
    });
    expect(ev.order_value).toBe('unknown');
    expect(ev.reference_price).toBe('missing');
    expect(ctl(ev, 'reference_price').values).toEqual({ symbol: 'AAPL', reference_price: 'missing' });
  });

  it('no reference price (LIMIT): valued at its limit, but still rejected', () => {
    const ev = run({ price: null, order: { order_type: 'LIMIT', price: '100' } });
    const m = REASON.MISSING_REFERENCE_PRICE;
    expect(failures(ev)).toEqual({
      reference_price: m,
      price_freshness: m,
      capital: m,
      price_collar: m,
      max_position_value: m,
      max_total_position_value: m,
      concentration: m,
    });
    expect(ev.order_value).toBe('10000');
  });

  it('an unparseable or zero stored price is no price', () => {
    for (const price of ['0', '-1', 'abc', '1e3']) {
      expect(failures(run({ price })).reference_price).toBe(REASON.MISSING_REFERENCE_PRICE);
    }
    expect(failures(run({ priceAsOf: 'yesterday' })).reference_price).toBe(REASON.MISSING_REFERENCE_PRICE);
  });

  it.each<{
    positions: Record<string, number>;
    prices: Record<string, string>;
    reason: string | undefined;
    values: Record<string, string>;
  }>([
    { positions: { MSFT: 10 }, prices: {}, reason: 'MISSING_POSITION_PRICE', values: { symbol: 'MSFT' } },
    {
      positions: { MSFT: -10 },
      prices: { MSFT: 'garbage' },
      reason: 'MISSING_POSITION_PRICE',
      values: { symbol: 'MSFT' },
    },
    { positions: { MSFT: 10 }, prices: { MSFT: '50' }, reason: undefined, values: { held_symbols: '1' } },
    { positions: { MSFT: 0 }, prices: {}, reason: undefined, values: { held_symbols: '1' } },
  ])('a held symbol $positions with prices $prices -> $reason', ({ positions, prices, reason, values }) => {
    const ev = run({ positions, prices });
    expectOnly(ev, 'position_prices', reason);
    expect(ctl(ev, 'position_prices').values).toEqual(values);
  });

  it('a store error rejects with RISK_DATA_UNAVAILABLE and the error', () => {
    const ev = run({ dataError: 'TransientError: reference store unreachable' });
    expectOnly(ev, 'risk_data', REASON.RISK_DATA_UNAVAILABLE);
    expect(ctl(ev, 'risk_data').values).toEqual({ error: 'TransientError: reference store unreachable' });
    expect(ctl(run(), 'risk_data').values).toEqual({});
  });
});

describe('the approval threshold (strictly above needs a checker)', () => {
  it.each([
    { quantity: 100, threshold: '10000', decision: 'approved' },
    { quantity: 100, threshold: '10000.00000001', decision: 'approved' },
    { quantity: 100, threshold: '9999.99999999', decision: 'needs_approval' },
    { quantity: 99, threshold: '9999.99999999', decision: 'approved' },
    { quantity: 101, threshold: '10000', decision: 'needs_approval' },
    { quantity: 1, threshold: '0', decision: 'needs_approval' },
  ])('$quantity x 100 against $threshold -> $decision', ({ quantity, threshold, decision }) => {
    const ev = run({ order: { quantity }, profile: { approval_threshold: threshold } });
    expect(ev.decision).toBe(decision);
    expect(ev.reasons).toEqual([]);
    expect(ctl(ev, 'approval_threshold')).toEqual({
      control: 'approval_threshold',
      passed: true,
      values: { order_value: String(quantity * 100), approval_threshold: threshold },
    });
  });

  it('a LIMIT order is valued at the worse of its limit and the reference', () => {
    const ev = run({ order: { order_type: 'LIMIT', price: '100.0001' }, profile: { approval_threshold: '10000' } });
    expect(ev.order_value).toBe('10000.01');
    expect(ev.decision).toBe('needs_approval');
  });

  it('a failed control beats the threshold: rejected, not needs_approval', () => {
    const ev = run({ order: { quantity: 101 }, profile: { approval_threshold: '10000', max_order_quantity: 100 } });
    expect(ev.decision).toBe('rejected');
    expect(ev.reasons).toEqual([REASON.MAX_ORDER_QUANTITY_EXCEEDED]);
  });
});

describe('every control is evaluated for every order', () => {
  it('an order that breaks everything lists every control, in order, with each failure', () => {
    const ev = run({
      order: { side: 'SELL', quantity: 1000, order_type: 'LIMIT', price: '200' },
      profile: {
        available_capital: '1',
        max_order_value: '1',
        max_order_quantity: 1,
        max_position_value: '1',
        max_total_position_value: '1',
        max_concentration: '0.01',
        max_orders_per_second: 1,
        duplicate_window_ms: 5000,
      },
      firm: { price_collar: '0.1', max_price_age_ms: 0 },
      nowNs: T0_NS + MS,
      positions: { MSFT: 1 },
      restrictions: [restriction({ list: 'PROHIBITED' })],
      halt: halt('TRADING_HALT'),
      recent: [recent(`${ACC}|AAPL|SELL|1000|200`, 1)],
      firmMode: 'HALTED',
      dataError: 'Error: boom',
    });
    expect(ev.decision).toBe('rejected');
    expect(ev.controls.map((c) => c.control)).toEqual([...CONTROLS]);
    expect(ev.controls.filter((c) => c.passed).map((c) => c.control)).toEqual([
      'risk_profile',
      'firm_settings',
      'reference_price',
      'approval_threshold',
    ]);
    expect(ev.reasons).toEqual([
      'RISK_DATA_UNAVAILABLE',
      'STALE_REFERENCE_PRICE',
      'MISSING_POSITION_PRICE',
      'INSUFFICIENT_CAPITAL',
      'MAX_ORDER_VALUE_EXCEEDED',
      'MAX_ORDER_QUANTITY_EXCEEDED',
      'PRICE_OUTSIDE_COLLAR',
      'MAX_POSITION_VALUE_EXCEEDED',
      'MAX_TOTAL_POSITION_VALUE_EXCEEDED',
      'CONCENTRATION_LIMIT_EXCEEDED',
      'PROHIBITED_SECURITY',
      'SHORT_SALE_NO_LOCATE',
      'SYMBOL_HALTED',
      'DUPLICATE_ORDER',
      'THROTTLE_EXCEEDED',
      'TRADING_HALTED',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: an oracle in plain bigint arithmetic (cents, basis points, milliseconds), written from
// the controls' rules, not from the engine's helpers.

const SYMS = ['AAPL', 'MSFT', 'GOOG'] as const;
type Sym = (typeof SYMS)[number];

interface Gen {
  symbol: Sym;
  side: Side;
  quantity: number;
  /** LIMIT price in cents; undefined: MARKET. */
  limitCents: number | undefined;
  intended: boolean;
  /** Money in cents, the concentration in basis points; undefined fields are not on file. */
  profile:
    | {
        capital: number | undefined;
        mov: number | undefined;
        moq: number | undefined;
        mpv: number | undefined;
        mtpv: number | undefined;
        concBp: number | undefined;
        thr: number | undefined;
        rate: number | undefined;
        window: number | undefined;
        sym: { mov: number | undefined; moq: number | undefined; mpv: number | undefined } | undefined;
      }
    | undefined;
  firm: { collarBp: number | undefined; ageMs: number | undefined } | undefined;
  /** Reference price in cents and its time relative to now (ms; positive is the future). */
  prices: Partial<Record<Sym, { cents: number; offsetMs: number }>>;
  positions: Partial<Record<Sym, number>>;
  open: Array<{ symbol: Sym; side: Side; quantity: number; valueCents: number }>;
  recent: Array<{ same: boolean; agoMs: number }>;
  restrictions: Array<{ scope: string; list: RestrictionList; fromMs: number; untilMs: number | undefined }>;
  locates: Array<{ quantity: number; expiresMs: number }>;
  halt: { kind: HaltKind; untilMs: number | undefined } | undefined;
  firmMode: TradingMode;
  accountMode: TradingMode;
  dataError: boolean;
}

/** Canonical decimal text of `v` x 10^-scale (trailing zeros dropped), as limits are written. */
function scaled(v: number | bigint, scale: number): string {
  const n = BigInt(v);
  const neg = n < 0n;
  const a = neg ? -n : n;
  const f = 10n ** BigInt(scale);
  const frac = (a % f).toString().padStart(scale, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${a / f}${frac ? `.${frac}` : ''}`;
}
const cents = (v: number | bigint) => scaled(v, 2);

/** Not on file once in `n`. */
const present = <T>(arb: fc.Arbitrary<T>, n = 30) => fc.option(arb, { nil: undefined, freq: n });
/** On file once in `n`. */
const seldom = <T>(arb: fc.Arbitrary<T>, n = 8) =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: n - 1 }, { arbitrary: arb, weight: 1 });
const weighted = <T>(common: T, ...rare: T[]) =>
  fc.oneof(
    { arbitrary: fc.constant(common), weight: 20 },
    ...rare.map((r) => ({ arbitrary: fc.constant(r), weight: 1 })),
  );
/** Milliseconds from now, anywhere in the span or right at the boundary. */
const offset = (span: number) => fc.oneof(fc.integer({ min: -span, max: span }), fc.constantFrom(-1, 0, 1));
const fewOf = <T>(arb: fc.Arbitrary<T>, max: number, emptyWeight = 6) =>
  fc.oneof(
    { arbitrary: fc.constant([] as T[]), weight: emptyWeight },
    { arbitrary: fc.array(arb, { minLength: 1, maxLength: max }), weight: 1 },
  );
/** A limit: mostly too loose to matter (so that orders do get approved), else anywhere near the orders' values. */
const limitArb = (max: number, loose = 100_000_000_000) =>
  fc.oneof({ arbitrary: fc.constant(loose), weight: 5 }, { arbitrary: fc.integer({ min: 1, max }), weight: 1 });
const money = limitArb(30_000_000); // up to 300,000.00
const priceArb = present(
  fc.record({
    cents: fc.integer({ min: 100, max: 20_000 }),
    offsetMs: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: offset(4000), weight: 1 }),
  }),
);

const genArb: fc.Arbitrary<Gen> = fc
  .record({
    symbol: fc.constantFrom(...SYMS),
    side: fc.constantFrom<Side>('BUY', 'SELL'),
    quantity: fc.integer({ min: 1, max: 1000 }),
    /** A LIMIT price as a share of the reference price, in basis points (mostly within a 50% collar). */
    limitBp: fc.option(
      fc.oneof(
        { arbitrary: fc.integer({ min: 5000, max: 15_000 }), weight: 4 },
        { arbitrary: fc.integer({ min: 1, max: 30_000 }), weight: 1 },
      ),
      {
        nil: undefined,
      },
    ),
    intended: fc.boolean(),
    profile: present(
      fc.record({
        capital: present(limitArb(60_000_000)),
        mov: present(money),
        moq: present(limitArb(1200, 1_000_000)),
        mpv: present(money),
        mtpv: present(limitArb(60_000_000)),
        concBp: present(limitArb(10_000, 10_000)),
        thr: present(limitArb(30_000_000)),
        rate: seldom(fc.integer({ min: 1, max: 6 }), 3),
        window: present(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5000 }))),
        sym: seldom(
          fc.record({
            mov: seldom(money, 2),
            moq: seldom(fc.integer({ min: 0, max: 1200 }), 2),
            mpv: seldom(money, 2),
          }),
          4,
        ),
      }),
    ),
    firm: present(fc.record({ collarBp: present(limitArb(5000, 5000)), ageMs: present(limitArb(3000, 60_000)) })),
    prices: fc.record({ AAPL: priceArb, MSFT: priceArb, GOOG: priceArb }),
    positions: fc.record(
      {
        AAPL: fc.integer({ min: -500, max: 500 }),
        MSFT: fc.integer({ min: -500, max: 500 }),
        GOOG: fc.integer({ min: -500, max: 500 }),
      },
      { requiredKeys: [] },
    ),
    open: fc.array(
      fc.record({
        symbol: fc.constantFrom(...SYMS),
        side: fc.constantFrom<Side>('BUY', 'SELL'),
        quantity: fc.integer({ min: 1, max: 300 }),
        valueCents: fc.integer({ min: 1, max: 6_000_000 }),
      }),
      { maxLength: 3 },
    ),
    recent: fc.array(
      fc.record({
        same: weighted(false, true),
        agoMs: fc.oneof(fc.integer({ min: 0, max: 6000 }), fc.constantFrom(999, 1000)),
      }),
      { maxLength: 6 },
    ),
    restrictions: fewOf(
      fc.record({
        scope: fc.constantFrom('FIRM', ACC, 'ACC-002'),
        list: fc.constantFrom<RestrictionList>('RESTRICTED', 'PROHIBITED'),
        fromMs: offset(2000),
        untilMs: fc.option(offset(2000), { nil: undefined }),
      }),
      3,
    ),
    locates: fc.oneof(
      // Enough for any short here, or a few, anywhere near the short quantity and now.
      { arbitrary: fc.constant<Gen['locates']>([{ quantity: 5000, expiresMs: 60_000 }]), weight: 2 },
      {
        arbitrary: fewOf(fc.record({ quantity: fc.integer({ min: 0, max: 800 }), expiresMs: offset(2000) }), 3, 1),
        weight: 1,
      },
    ),
    halt: seldom(
      fc.record({
        kind: fc.constantFrom<HaltKind>('TRADING_HALT', 'LULD_PAUSE'),
        untilMs: fc.option(offset(2000), { nil: undefined }),
      }),
      10,
    ),
    firmMode: weighted<TradingMode>('ACTIVE', 'REDUCING', 'HALTED'),
    accountMode: weighted<TradingMode>('ACTIVE', 'REDUCING', 'HALTED'),
    dataError: fc.integer({ min: 0, max: 39 }).map((n) => n === 0),
  })
  .map(({ limitBp, ...g }) => {
    // In whole cents, as an order's price is; 100.00 when the symbol has no price.
    const ref = g.prices[g.symbol]?.cents ?? 10_000;
    const limitCents = limitBp === undefined ? undefined : Math.max(1, Math.round((ref * limitBp) / 10_000));
    return { ...g, limitCents };
  });

function genOrder(g: Gen): Order {
  return {
    ...BASE_ORDER,
    symbol: g.symbol,
    side: g.side,
    quantity: g.quantity,
    ...(g.limitCents === undefined ? { order_type: 'MARKET' } : { order_type: 'LIMIT', price: cents(g.limitCents) }),
    ...(g.intended ? { duplicate_intended: true } : {}),
  };
}

function genFingerprint(g: Gen): string {
  return `${ACC}|${g.symbol}|${g.side}|${g.quantity}|${g.limitCents === undefined ? 'MKT' : cents(g.limitCents)}`;
}

/** The engine's input, built from the generated records through the production compile path. */
function genSnapshot(g: Gen): RiskSnapshot {
  const p = g.profile;
  const profile: RiskProfile | undefined =
    p &&
    ({
      account_id: ACC,
      version: 'gen/v1',
      ...(p.capital !== undefined ? { available_capital: cents(p.capital) } : {}),
      ...(p.mov !== undefined ? { max_order_value: cents(p.mov) } : {}),
      ...(p.moq !== undefined ? { max_order_quantity: p.moq } : {}),
      ...(p.mpv !== undefined ? { max_position_value: cents(p.mpv) } : {}),
      ...(p.mtpv !== undefined ? { max_total_position_value: cents(p.mtpv) } : {}),
      ...(p.concBp !== undefined ? { max_concentration: scaled(p.concBp, 4) } : {}),
      ...(p.thr !== undefined ? { approval_threshold: cents(p.thr) } : {}),
      ...(p.rate !== undefined ? { max_orders_per_second: p.rate } : {}),
      ...(p.window !== undefined ? { duplicate_window_ms: p.window } : {}),
      ...(p.sym
        ? {
            symbol_limits: {
              [g.symbol]: {
                ...(p.sym.mov !== undefined ? { max_order_value: cents(p.sym.mov) } : {}),
                ...(p.sym.moq !== undefined ? { max_order_quantity: p.sym.moq } : {}),
                ...(p.sym.mpv !== undefined ? { max_position_value: cents(p.sym.mpv) } : {}),
              },
            },
          }
        : {}),
    } as RiskProfile);
  const firm = g.firm && {
    version: 'firm/v1',
    ...(g.firm.collarBp !== undefined ? { price_collar: scaled(g.firm.collarBp, 4) } : {}),
    ...(g.firm.ageMs !== undefined ? { max_price_age_ms: g.firm.ageMs } : {}),
  };
  const views = new Map<string, PriceView | undefined>();
  for (const s of SYMS) {
    const pr = g.prices[s];
    if (pr) views.set(s, priceView(security(s, cents(pr.cents), at(pr.offsetMs))));
  }
  const fp = genFingerprint(g);
  return {
    order: genOrder(g),
    nowNs: T0_NS,
    ...(g.dataError ? { dataError: 'TransientError: store unreachable' } : {}),
    limits: profile ? limitsView(profile) : undefined,
    firm: firm ? firmView(firm as FirmRiskSettings) : undefined,
    price: views.get(g.symbol),
    positions: SYMS.filter((s) => g.positions[s] !== undefined).map((s) => position(s, g.positions[s] as number)),
    prices: defined(views),
    open: g.open.map((o, i) =>
      openView({
        order_id: `OPEN-${i}`,
        symbol: o.symbol,
        side: o.side,
        quantity: o.quantity,
        value: cents(o.valueCents),
      }),
    ),
    recent: g.recent.map((r, i) => recent(r.same ? fp : `${fp}|other`, r.agoMs, `REC-${i}`)),
    firmMode: g.firmMode,
    accountMode: g.accountMode,
    restrictions: g.restrictions.map((r, i) =>
      restrictionView(
        restriction({
          restriction_id: `R-${i}`,
          symbol: g.symbol,
          scope: r.scope,
          list: r.list,
          effective_from: at(r.fromMs),
          ...(r.untilMs !== undefined ? { effective_until: at(r.untilMs) } : {}),
        }),
      ),
    ),
    locates: g.locates.map((l, i) =>
      locateView({ ...locate(l.quantity, at(l.expiresMs), `L-${i}`), symbol: g.symbol }),
    ),
    halt: g.halt
      ? haltView({
          ...halt(g.halt.kind, g.halt.untilMs === undefined ? undefined : at(g.halt.untilMs)),
          symbol: g.symbol,
        })
      : undefined,
  };
}

interface Expected {
  /** control -> reason code; `lenient`: must fail, whatever its code (no control uses it now). */
  fails: Map<ControlName, { reason: string; lenient?: boolean }>;
  decision: RiskDecision;
  /** Order value in cents, when the order can be valued. */
  value: bigint | undefined;
}

const big = (n: number) => BigInt(n);
const absB = (n: bigint) => (n < 0n ? -n : n);
const minB = (a: bigint, b: bigint | undefined) => (b !== undefined && b < a ? b : a);
const maxB = (a: bigint, b: bigint) => (a > b ? a : b);

function oracle(g: Gen): Expected {
  const fails: Expected['fails'] = new Map();
  const fail = (c: ControlName, reason: string, lenient = false) =>
    fails.set(c, { reason, ...(lenient ? { lenient } : {}) });
  const p = g.profile;
  const firm = g.firm;
  const buy = g.side === 'BUY';
  const refP = g.prices[g.symbol];
  const ref = refP ? big(refP.cents) : undefined;
  const limit = g.limitCents === undefined ? undefined : big(g.limitCents);
  const perShare = limit !== undefined ? (ref !== undefined && ref > limit ? ref : limit) : ref;
  const qty = big(g.quantity);
  const value = perShare === undefined ? undefined : perShare * qty;
  const NO_PRICE = 'MISSING_REFERENCE_PRICE';
  const NO_PROFILE = 'MISSING_RISK_PROFILE';

  if (g.dataError) fail('risk_data', 'RISK_DATA_UNAVAILABLE');
  if (!p) fail('risk_profile', NO_PROFILE);
  if (!firm) fail('firm_settings', 'MISSING_FIRM_SETTINGS');
  if (ref === undefined) fail('reference_price', NO_PRICE);
  if (!refP) fail('price_freshness', NO_PRICE);
  else if (!firm) fail('price_freshness', 'MISSING_FIRM_SETTINGS');
  else if (firm.ageMs === undefined) fail('price_freshness', 'MISSING_LIMIT');
  else if (Math.abs(refP.offsetMs) > firm.ageMs) fail('price_freshness', 'STALE_REFERENCE_PRICE');

  // Exposure: positions at their prices, open orders, the order's effect.
  let gross = 0n;
  let missingHeld = false;
  let staleHeld = false;
  for (const s of SYMS) {
    const q = g.positions[s] ?? 0;
    if (q === 0) continue;
    const pr = g.prices[s];
    if (!pr) {
      if (s !== g.symbol) missingHeld = true;
      continue;
    }
    if (s !== g.symbol && firm?.ageMs !== undefined && Math.abs(pr.offsetMs) > firm.ageMs) staleHeld = true;
    gross += big(Math.abs(q)) * big(pr.cents);
  }
  if (missingHeld) fail('position_prices', 'MISSING_POSITION_PRICE');
  let openNotional = 0n;
  let openElsewhere = 0n;
  let openBuys = 0n;
  let openSells = 0n;
  for (const o of g.open) {
    openNotional += big(o.valueCents);
    if (o.symbol === g.symbol) {
      if (o.side === 'BUY') openBuys += big(o.quantity);
      else openSells += big(o.quantity);
    } else openElsewhere += big(o.valueCents);
  }
  const current = big(g.positions[g.symbol] ?? 0);
  const before = buy ? current + openBuys : current - openSells;
  const projected = buy ? before + qty : before - qty;
  const increases = absB(projected) > absB(before);
  // A stale held price stops only an order that adds exposure.
  if (!missingHeld && staleHeld && increases) fail('position_prices', 'STALE_POSITION_PRICE');
  const projectedValue = ref === undefined ? undefined : ref * absB(projected);
  const grossAfter =
    ref === undefined || projectedValue === undefined ? undefined : gross - ref * absB(current) + projectedValue;

  // 1. Capital.
  if (p && p.capital === undefined) fail('capital', 'MISSING_LIMIT');
  else if (p?.capital !== undefined && ref !== undefined && perShare !== undefined) {
    const added = maxB(0n, absB(projected) - absB(before));
    if (added > 0n && perShare * added > big(p.capital) - gross - openNotional) fail('capital', 'INSUFFICIENT_CAPITAL');
  } else if (!p) fail('capital', NO_PROFILE);
  else fail('capital', NO_PRICE);

  // 2. Erroneous orders.
  if (p && p.mov === undefined) fail('max_order_value', 'MISSING_LIMIT');
  else if (p?.mov !== undefined && value !== undefined) {
    if (value > minB(big(p.mov), p.sym?.mov === undefined ? undefined : big(p.sym.mov)))
      fail('max_order_value', 'MAX_ORDER_VALUE_EXCEEDED');
  } else fail('max_order_value', p ? NO_PRICE : NO_PROFILE);

  if (p && p.moq === undefined) fail('max_order_quantity', 'MISSING_LIMIT');
  else if (p?.moq !== undefined) {
    if (qty > minB(big(p.moq), p.sym?.moq === undefined ? undefined : big(p.sym.moq)))
      fail('max_order_quantity', 'MAX_ORDER_QUANTITY_EXCEEDED');
  } else fail('max_order_quantity', NO_PROFILE);

  if (limit !== undefined) {
    if (firm && firm.collarBp === undefined) fail('price_collar', 'MISSING_LIMIT');
    else if (firm?.collarBp !== undefined && ref !== undefined) {
      // ref x (1 -+ collar) <= limit, in units of cents x 10^-4
      const c = big(firm.collarBp);
      if (limit * 10_000n < ref * (10_000n - c) || limit * 10_000n > ref * (10_000n + c))
        fail('price_collar', 'PRICE_OUTSIDE_COLLAR');
    } else fail('price_collar', firm ? NO_PRICE : 'MISSING_FIRM_SETTINGS');
  }

  // 3. Position.
  if (p && p.mpv === undefined) fail('max_position_value', 'MISSING_LIMIT');
  else if (p?.mpv !== undefined && projectedValue !== undefined) {
    if (increases && projectedValue > minB(big(p.mpv), p.sym?.mpv === undefined ? undefined : big(p.sym.mpv)))
      fail('max_position_value', 'MAX_POSITION_VALUE_EXCEEDED');
  } else fail('max_position_value', p ? NO_PRICE : NO_PROFILE);

  if (p && p.mtpv === undefined) fail('max_total_position_value', 'MISSING_LIMIT');
  else if (p?.mtpv !== undefined && grossAfter !== undefined) {
    // Open orders in other symbols count as if they filled.
    if (increases && grossAfter + openElsewhere > big(p.mtpv))
      fail('max_total_position_value', 'MAX_TOTAL_POSITION_VALUE_EXCEEDED');
  } else fail('max_total_position_value', p ? NO_PRICE : NO_PROFILE);

  // 4. Concentration: against the larger of the capital and the projected gross.
  if (p && p.concBp === undefined) fail('concentration', 'MISSING_LIMIT');
  else if (
    p?.concBp !== undefined &&
    p.capital !== undefined &&
    projectedValue !== undefined &&
    grossAfter !== undefined
  ) {
    const base = maxB(grossAfter, big(p.capital));
    if (increases && projectedValue * 10_000n > big(p.concBp) * base)
      fail('concentration', 'CONCENTRATION_LIMIT_EXCEEDED');
  } else if (p && p.capital === undefined) fail('concentration', 'MISSING_LIMIT');
  else fail('concentration', p ? NO_PRICE : NO_PROFILE);

  // 5. Lists in force now (from <= now < until), this account's or the firm's.
  const inForce = g.restrictions.filter(
    (r) => (r.scope === 'FIRM' || r.scope === ACC) && r.fromMs <= 0 && (r.untilMs === undefined || r.untilMs > 0),
  );
  if (inForce.some((r) => r.list === 'PROHIBITED')) fail('restricted_list', 'PROHIBITED_SECURITY');
  else if (inForce.length > 0) fail('restricted_list', 'RESTRICTED_SECURITY');

  // 6. Reg SHO.
  if (!buy && projected < 0n) {
    const located = g.locates.filter((l) => l.expiresMs > 0).reduce((s, l) => s + big(l.quantity), 0n);
    if (-projected > located) fail('short_sale', 'SHORT_SALE_NO_LOCATE');
  }

  // 7. Halts.
  if (g.halt && (g.halt.untilMs === undefined || g.halt.untilMs > 0))
    fail('halt', g.halt.kind === 'LULD_PAUSE' ? 'LULD_PAUSE' : 'SYMBOL_HALTED');

  // 8, 9. Duplicates and the throttle.
  const window = p?.window;
  if (p && window === undefined) fail('duplicate', 'MISSING_LIMIT');
  else if (!g.intended && window !== undefined && window > 0 && g.recent.some((r) => r.same && r.agoMs < window))
    fail('duplicate', 'DUPLICATE_ORDER');
  const lastSecond = g.recent.filter((r) => r.agoMs < 1000).length;
  if (lastSecond + 1 > (p?.rate ?? 100)) fail('throttle', 'THROTTLE_EXCEEDED');

  // 10. Kill switch.
  const severity = { ACTIVE: 0, REDUCING: 1, HALTED: 2 } as const;
  const mode = severity[g.firmMode] >= severity[g.accountMode] ? g.firmMode : g.accountMode;
  const reduces = buy ? before < 0n && projected <= 0n : before > 0n && projected >= 0n;
  if (mode === 'HALTED') fail('trading_state', 'TRADING_HALTED');
  else if (mode === 'REDUCING' && !reduces) fail('trading_state', 'REDUCING_ONLY');

  if (p && p.thr === undefined) fail('approval_threshold', 'MISSING_LIMIT');

  let decision: RiskDecision = fails.size > 0 ? 'rejected' : 'approved';
  if (decision === 'approved' && p?.thr !== undefined && value !== undefined && value > big(p.thr))
    decision = 'needs_approval';
  return { fails, decision, value };
}

describe('property: the decision agrees with an independent oracle', () => {
  it('nothing that breaks a limit is approved; the reasons are exactly the broken controls’', () => {
    const seen: Record<RiskDecision, number> = { approved: 0, rejected: 0, needs_approval: 0 };
    fc.assert(
      fc.property(genArb, (g) => {
        const ev = evaluateRisk(genSnapshot(g));
        const want = oracle(g);
        seen[ev.decision] += 1;

        expect(ev.controls.map((c) => c.control)).toEqual([...CONTROLS]);
        // The decision: anything broken is rejected, never approved nor sent for approval.
        expect(ev.decision).toBe(want.decision);
        if (want.fails.size > 0) expect(ev.decision).toBe('rejected');
        // Control by control: failed exactly when broken, with the broken control's reason.
        for (const c of ev.controls) {
          const w = want.fails.get(c.control as ControlName);
          expect({ control: c.control, passed: c.passed }).toEqual({ control: c.control, passed: w === undefined });
          if (w && !w.lenient)
            expect({ control: c.control, reason: c.reason_code }).toEqual({ control: c.control, reason: w.reason });
        }
        // The reasons: one per broken control, every broken control's code in them, nothing else.
        expect(ev.reasons).toEqual(ev.controls.filter((c) => !c.passed).map((c) => c.reason_code));
        expect(ev.reasons).toHaveLength(want.fails.size);
        const strict = [...want.fails.values()].filter((w) => !w.lenient).map((w) => w.reason);
        for (const r of strict) expect(ev.reasons).toContain(r);
        expect(new Set(ev.reasons)).toEqual(
          new Set([...want.fails.entries()].map(([c, w]) => (w.lenient ? ctl(ev, c).reason_code : w.reason))),
        );
        expect(ev.order_value).toBe(want.value === undefined ? 'unknown' : cents(want.value));
      }),
      { numRuns: 300 },
    );
    // The generator reaches every decision (it is not only exercising rejections).
    expect(seen.rejected).toBeGreaterThan(0);
    expect(seen.approved + seen.needs_approval).toBeGreaterThan(0);
  });
});
