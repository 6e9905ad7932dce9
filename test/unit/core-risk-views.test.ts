// Reference data as the controls read it (risk-views.ts): a stored value that does not parse
// compiles to absent, so its control fails closed; temporary limits laid over the base ones
// (risk-limits.ts effectiveProfile); the cache recompiling the limits when a temporary change ends.
import { beforeEach, describe, expect, it } from 'vitest';
import { DecimalFormatError } from '../../functions/core/decimal.js';
import type { FirmRiskSettings, Order, RiskProfile } from '../../functions/core/model.js';
import { ReferenceCache } from '../../functions/core/reference-cache.js';
import { evaluateRisk, type RiskEvaluation, type RiskSnapshot } from '../../functions/core/risk.js';
import { effectiveProfile } from '../../functions/core/risk-limits.js';
import {
  firmView,
  haltView,
  type LimitsView,
  limitsView,
  locateView,
  openView,
  priceView,
  restrictionView,
} from '../../functions/core/risk-views.js';
import { formatNs, parseNs } from '../../functions/core/time.js';
import { InMemoryReferenceStore, ManualClock, security, T0 } from '../support/in-memory.js';

const T0_NS = parseNs(T0) as bigint;
const MS = 1_000_000n;
const at = (ms: number, ns = 0n) => formatNs(T0_NS + BigInt(ms) * MS + ns);

const PROFILE: RiskProfile = {
  account_id: 'ACC-001',
  available_capital: '1000000000',
  max_order_value: '1000000000',
  max_order_quantity: 1_000_000,
  max_position_value: '1000000000',
  max_total_position_value: '1000000000',
  max_concentration: '1',
  approval_threshold: '1000000000',
  max_orders_per_second: 100,
  duplicate_window_ms: 5000,
  version: 'ACC-001/v1',
};
const FIRM: FirmRiskSettings = { price_collar: '0.1', max_price_age_ms: 60_000, version: 'firm/v1' };
const ORDER: Order = {
  order_id: 'ORD-1',
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 10,
  order_type: 'LIMIT',
  price: '100',
  account_id: 'ACC-001',
  trader_id: 'trader-1',
};

/** A snapshot where everything passes, with the compiled views given. */
function evaluate(patch: Partial<RiskSnapshot> = {}): RiskEvaluation {
  return evaluateRisk({
    order: ORDER,
    nowNs: T0_NS,
    limits: limitsView(PROFILE),
    firm: firmView(FIRM),
    price: priceView(security('AAPL', '100')),
    positions: [],
    prices: new Map(),
    open: [],
    recent: [],
    firmMode: 'ACTIVE',
    accountMode: 'ACTIVE',
    restrictions: [],
    locates: [],
    halt: undefined,
    ...patch,
  });
}

function failures(ev: RiskEvaluation): Record<string, string | undefined> {
  return Object.fromEntries(ev.controls.filter((c) => !c.passed).map((c) => [c.control, c.reason_code]));
}

/** The profile with `field` set to a value of any type, as a damaged item would hold it. */
function withRaw(field: string, value: unknown): RiskProfile {
  return { ...PROFILE, [field]: value } as unknown as RiskProfile;
}

describe('limitsView', () => {
  it('parses every limit once', () => {
    const v = limitsView({
      ...PROFILE,
      max_concentration: '0.25',
      symbol_limits: { AAPL: { max_order_value: '5000', max_order_quantity: 10, max_position_value: '20000' } },
    });
    expect({
      version: v.version,
      capital: v.capital?.toString(),
      maxOrderValue: v.maxOrderValue?.toString(),
      maxOrderQuantity: v.maxOrderQuantity,
      maxPositionValue: v.maxPositionValue?.toString(),
      maxTotalPositionValue: v.maxTotalPositionValue?.toString(),
      maxConcentration: v.maxConcentration?.toString(),
      approvalThreshold: v.approvalThreshold?.toString(),
      maxOrdersPerSecond: v.maxOrdersPerSecond,
      duplicateWindowMs: v.duplicateWindowMs,
    }).toEqual({
      version: 'ACC-001/v1',
      capital: '1000000000',
      maxOrderValue: '1000000000',
      maxOrderQuantity: 1_000_000,
      maxPositionValue: '1000000000',
      maxTotalPositionValue: '1000000000',
      maxConcentration: '0.25',
      approvalThreshold: '1000000000',
      maxOrdersPerSecond: 100,
      duplicateWindowMs: 5000,
    });
    const aapl = v.symbols.get('AAPL');
    expect([aapl?.maxOrderValue?.toString(), aapl?.maxOrderQuantity, aapl?.maxPositionValue?.toString()]).toEqual([
      '5000',
      10,
      '20000',
    ]);
  });

  const BAD_MONEY = ['0', '-1', 'abc', '1e6', '', ' 100', '100.123456789', 100, null];
  it.each([
    { field: 'available_capital', key: 'capital', control: 'capital' },
    { field: 'max_order_value', key: 'maxOrderValue', control: 'max_order_value' },
    { field: 'max_position_value', key: 'maxPositionValue', control: 'max_position_value' },
    { field: 'max_total_position_value', key: 'maxTotalPositionValue', control: 'max_total_position_value' },
    { field: 'max_concentration', key: 'maxConcentration', control: 'concentration' },
  ] as const)(
    'a bad $field compiles to absent: $control fails closed with MISSING_LIMIT',
    ({ field, key, control }) => {
      for (const bad of BAD_MONEY) {
        const v = limitsView(withRaw(field, bad));
        expect(v[key as keyof LimitsView], `${field}=${JSON.stringify(bad)}`).toBeUndefined();
        const ev = evaluate({ limits: v });
        expect(ev.decision).toBe('rejected');
        expect(ev.controls.find((c) => c.control === control)).toEqual({
          control,
          passed: false,
          reason_code: 'MISSING_LIMIT',
          values: { missing_limit: field },
        });
      }
    },
  );

  it('a bad approval threshold compiles to absent (a zero one is kept: everything needs approval)', () => {
    for (const bad of ['-1', 'x', '', 5]) {
      const v = limitsView(withRaw('approval_threshold', bad));
      expect(v.approvalThreshold).toBeUndefined();
      expect(failures(evaluate({ limits: v }))).toEqual({ approval_threshold: 'MISSING_LIMIT' });
    }
    const zero = limitsView(withRaw('approval_threshold', '0'));
    expect(zero.approvalThreshold?.toString()).toBe('0');
    expect(evaluate({ limits: zero }).decision).toBe('needs_approval');
  });

  const BAD_INT = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '10', null];
  it('a bad max order quantity (or 0) compiles to absent: MISSING_LIMIT', () => {
    for (const bad of [0, ...BAD_INT]) {
      const v = limitsView(withRaw('max_order_quantity', bad));
      expect(v.maxOrderQuantity, String(bad)).toBeUndefined();
      expect(failures(evaluate({ limits: v }))).toEqual({ max_order_quantity: 'MISSING_LIMIT' });
    }
  });

  it('a bad duplicate window compiles to absent: MISSING_LIMIT; 0 is kept (the check is off)', () => {
    for (const bad of BAD_INT) {
      const v = limitsView(withRaw('duplicate_window_ms', bad));
      expect(v.duplicateWindowMs, String(bad)).toBeUndefined();
      expect(failures(evaluate({ limits: v }))).toEqual({ duplicate: 'MISSING_LIMIT' });
    }
    expect(limitsView(withRaw('duplicate_window_ms', 0)).duplicateWindowMs).toBe(0);
  });

  it('a bad throttle compiles to invalid, not to the default (the throttle fails closed)', () => {
    for (const bad of [0, ...BAD_INT]) {
      const v = limitsView(withRaw('max_orders_per_second', bad));
      expect(v.maxOrdersPerSecond).toBeUndefined();
      expect(v.maxOrdersPerSecondInvalid).toBe(true);
    }
  });

  it('a bad symbol limit is remembered as invalid (its control fails closed, never the looser account limit); a symbol quantity of 0 is kept', () => {
    const v = limitsView({
      ...PROFILE,
      symbol_limits: {
        AAPL: { max_order_value: '0', max_order_quantity: -5, max_position_value: 'x' },
        MSFT: { max_order_quantity: 0 },
      },
    });
    expect(v.symbols.get('AAPL')).toEqual({
      invalid: new Set(['max_order_value', 'max_order_quantity', 'max_position_value']),
    });
    expect(v.symbols.get('MSFT')).toEqual({ maxOrderQuantity: 0 });
    expect(failures(evaluate({ limits: v }))).toEqual({
      max_order_value: 'MISSING_LIMIT',
      max_order_quantity: 'MISSING_LIMIT',
      max_position_value: 'MISSING_LIMIT',
    });
    expect(
      failures(evaluate({ limits: v, order: { ...ORDER, symbol: 'MSFT' }, price: priceView(security('MSFT', '100')) })),
    ).toEqual({
      max_order_quantity: 'MAX_ORDER_QUANTITY_EXCEEDED',
    });
  });
});

describe('firmView', () => {
  it('parses the collar and the max price age', () => {
    const f = firmView(FIRM);
    expect([f.version, f.priceCollar?.toString(), f.maxPriceAgeMs]).toEqual(['firm/v1', '0.1', 60_000]);
  });

  it.each(['-0.1', 'x', '', 0.1, null])('a bad collar (%j) compiles to absent: a LIMIT order fails closed', (bad) => {
    const f = firmView({ ...FIRM, price_collar: bad } as unknown as FirmRiskSettings);
    expect(f.priceCollar).toBeUndefined();
    expect(failures(evaluate({ firm: f }))).toEqual({ price_collar: 'MISSING_LIMIT' });
  });

  it.each([-1, 1.5, '1000', Number.NaN, null])('a bad max price age (%j) compiles to absent: fails closed', (bad) => {
    const f = firmView({ ...FIRM, max_price_age_ms: bad } as unknown as FirmRiskSettings);
    expect(f.maxPriceAgeMs).toBeUndefined();
    expect(failures(evaluate({ firm: f }))).toEqual({ price_freshness: 'MISSING_LIMIT' });
  });

  it('a zero collar and a zero max age are kept', () => {
    const f = firmView({ ...FIRM, price_collar: '0', max_price_age_ms: 0 });
    expect([f.priceCollar?.toString(), f.maxPriceAgeMs]).toEqual(['0', 0]);
  });
});

describe('priceView', () => {
  it('keeps the stored text, the parsed price, its time in ns, and its 10^-4 units while small and exact', () => {
    const p = priceView(security('AAPL', '190.50', at(5)));
    expect(p).toMatchObject({
      symbol: 'AAPL',
      text: '190.50',
      asOf: at(5),
      asOfNs: T0_NS + 5n * MS,
      e4: 1_905_000,
    });
    expect(p?.price.toString()).toBe('190.5');
    const huge = priceView(security('BIG', '99999999999999999999'));
    expect(huge?.e4).toBeUndefined();
    expect(huge?.price.toString()).toBe('99999999999999999999');
    // More than 4 decimals, or 2^31 units of 10^-4 and above: the bigint path.
    expect(priceView(security('FINE', '12.12345'))?.e4).toBeUndefined();
    expect(priceView(security('EDGE', '214748.3647'))?.e4).toBe(2_147_483_647);
    expect(priceView(security('OVER', '214748.3648'))?.e4).toBeUndefined();
  });

  it.each(['0', '-1', 'abc', '', '1e3', '1.123456789'])('a price of %j is no price (fail closed)', (bad) => {
    expect(priceView(security('AAPL', bad))).toBeUndefined();
  });

  it.each(['yesterday', '2026-02-30T00:00:00Z', '2026-01-02 14:30:00Z', ''])(
    'a price time of %j is no price',
    (bad) => {
      expect(priceView(security('AAPL', '100', bad))).toBeUndefined();
    },
  );
});

describe('restrictionView, locateView, haltView, openView: damaged entries fail closed', () => {
  const entry = {
    restriction_id: 'R-1',
    symbol: 'AAPL',
    scope: 'FIRM',
    list: 'RESTRICTED' as const,
    reason: 'information barrier',
    effective_from: at(-1000),
    added_by: 'RISK-OFFICER-1',
    added_at: at(-1000),
  };
  const year2100 = parseNs('2100-01-01T00:00:00Z') as bigint;

  it('a restriction whose end does not parse never ends', () => {
    const v = restrictionView({ ...entry, effective_until: 'next tuesday' });
    expect(v.untilNs).toBeUndefined();
    expect(failures(evaluate({ restrictions: [v], nowNs: year2100 }))).toMatchObject({
      restricted_list: 'RESTRICTED_SECURITY',
    });
  });

  it('a restriction whose start does not parse is in force from the beginning of time', () => {
    const v = restrictionView({ ...entry, effective_from: 'soon' });
    expect(v.fromNs).toBe(0n);
    expect(failures(evaluate({ restrictions: [v] }))).toEqual({ restricted_list: 'RESTRICTED_SECURITY' });
  });

  it('a restriction with good dates keeps them', () => {
    expect(restrictionView({ ...entry, effective_until: at(1000) })).toEqual({
      id: 'R-1',
      scope: 'FIRM',
      list: 'RESTRICTED',
      reason: 'information barrier',
      fromNs: T0_NS - 1000n * MS,
      untilNs: T0_NS + 1000n * MS,
    });
  });

  const loc = {
    locate_id: 'L-1',
    account_id: 'ACC-001',
    symbol: 'AAPL',
    quantity: 100,
    source: 'stock-loan',
    obtained_at: at(-1000),
    expires_at: at(60_000),
    recorded_by: 'RISK-OFFICER-1',
  };
  const shortSale = (locates: ReturnType<typeof locateView>[]) =>
    evaluate({ order: { ...ORDER, side: 'SELL', quantity: 100 }, locates });

  it('a locate whose expiry does not parse covers nothing', () => {
    expect(failures(shortSale([locateView(loc)]))).toEqual({});
    const v = locateView({ ...loc, expires_at: 'end of day' });
    expect(v).toEqual({ id: 'L-1', quantity: 100, expiresNs: 0n });
    expect(failures(shortSale([v]))).toEqual({ short_sale: 'SHORT_SALE_NO_LOCATE' });
  });

  it('a locate whose quantity is not a whole number of shares covers nothing', () => {
    for (const bad of [-100, 1.5, '100', Number.NaN]) {
      const v = locateView({ ...loc, quantity: bad } as unknown as typeof loc);
      expect(v.quantity).toBe(0);
      expect(failures(shortSale([v]))).toEqual({ short_sale: 'SHORT_SALE_NO_LOCATE' });
    }
  });

  it('a halt whose end does not parse lasts until lifted', () => {
    const h = haltView({
      symbol: 'AAPL',
      kind: 'LULD_PAUSE',
      reason: 'limit down',
      since: T0,
      until: '5 min',
      set_by: 'md',
    });
    expect(h).toEqual({ kind: 'LULD_PAUSE', reason: 'limit down' });
    const ev = evaluate({ halt: h, nowNs: year2100 });
    expect(ev.controls.find((c) => c.control === 'halt')).toMatchObject({
      passed: false,
      reason_code: 'LULD_PAUSE',
      values: { until: 'until lifted' },
    });
  });

  it('an open order whose value does not parse throws (the gate wrote it: an integrity fault, not a default)', () => {
    expect(() => openView({ order_id: 'O-1', symbol: 'AAPL', side: 'BUY', quantity: 1, value: 'lots' })).toThrow(
      DecimalFormatError,
    );
    expect(
      openView({ order_id: 'O-1', symbol: 'AAPL', side: 'BUY', quantity: 1, value: '100.5' }).value.toString(),
    ).toBe('100.5');
  });
});

describe('effectiveProfile: temporary limits', () => {
  const temp = (change_id: string, values: Record<string, string | number>, until: string) => ({
    change_id,
    values,
    until,
  });

  it('with no temporary change: the base profile, unchanged version', () => {
    const p = effectiveProfile({ ...PROFILE, temporary: [] }, T0);
    expect(p).toEqual(PROFILE);
    expect('temporary' in p).toBe(false);
  });

  it('a change in force is laid over the base, and the version names it', () => {
    const p = effectiveProfile({ ...PROFILE, temporary: [temp('CHG-1', { max_order_value: '5000' }, at(1))] }, T0);
    expect(p.max_order_value).toBe('5000');
    expect(p.version).toBe('ACC-001/v1+CHG-1');
    expect('temporary' in p).toBe(false);
    expect(limitsView(p).maxOrderValue?.toString()).toBe('5000');
  });

  it('a change reverts by itself at its until (exactly then, compared as instants)', () => {
    const profile = { ...PROFILE, temporary: [temp('CHG-1', { max_order_value: '5000' }, at(1000))] };
    expect(effectiveProfile(profile, at(999, 999_999n)).max_order_value).toBe('5000');
    const after = effectiveProfile(profile, at(1000));
    expect(after.max_order_value).toBe(PROFILE.max_order_value);
    expect(after.version).toBe('ACC-001/v1');
    // '…T14:30:00Z' sorts after '…T14:30:00.5…Z' as a string, but is earlier.
    const short = { ...PROFILE, temporary: [temp('CHG-1', { max_order_value: '5000' }, '2026-01-02T14:30:00Z')] };
    expect(effectiveProfile(short, at(500)).max_order_value).toBe(PROFILE.max_order_value);
  });

  it('an until that does not parse is not in force', () => {
    const p = effectiveProfile({ ...PROFILE, temporary: [temp('CHG-1', { max_order_value: '5000' }, 'never')] }, T0);
    expect(p.max_order_value).toBe(PROFILE.max_order_value);
  });

  it('several in force: the latest wins, and the version names every one in force', () => {
    const p = effectiveProfile(
      {
        ...PROFILE,
        temporary: [
          temp('CHG-1', { max_order_value: '5000', max_order_quantity: 7 }, at(10_000)),
          temp('CHG-0', { max_order_value: '1' }, at(-1)), // expired
          temp('CHG-2', { max_order_value: '6000' }, at(5000)),
        ],
      },
      T0,
    );
    expect([p.max_order_value, p.max_order_quantity, p.version]).toEqual(['6000', 7, 'ACC-001/v1+CHG-1+CHG-2']);
  });

  it('a symbol limit path sets that symbol only, without touching the stored profile', () => {
    const base: RiskProfile = { ...PROFILE, symbol_limits: { MSFT: { max_order_quantity: 5 } } };
    const stored = structuredClone(base);
    const p = effectiveProfile(
      { ...base, temporary: [temp('CHG-1', { 'symbol_limits.AAPL.max_order_value': '2500' }, at(1))] },
      T0,
    );
    expect(p.symbol_limits).toEqual({ MSFT: { max_order_quantity: 5 }, AAPL: { max_order_value: '2500' } });
    expect(base).toEqual(stored);
  });

  it('a bad time to evaluate at throws', () => {
    expect(() => effectiveProfile(PROFILE, 'now')).toThrow(RangeError);
  });
});

describe('ReferenceCache.getLimits: the limits in force, recompiled when a temporary change ends', () => {
  let clock: ManualClock;
  let store: InMemoryReferenceStore;
  let cache: ReferenceCache;

  beforeEach(() => {
    clock = new ManualClock(T0, 0n);
    store = new InMemoryReferenceStore({
      profiles: [
        {
          ...PROFILE,
          temporary: [
            { change_id: 'CHG-1', values: { max_order_value: '5000' }, until: at(500) },
            { change_id: 'CHG-2', values: { max_order_quantity: 7 }, until: at(800) },
          ],
        },
      ],
    });
    cache = new ReferenceCache(store, clock, 1000);
  });

  it('serves the temporary limits while in force, then the base ones, without reading the store again', async () => {
    const first = await cache.getLimits('ACC-001');
    expect([first?.version, first?.maxOrderValue?.toString(), first?.maxOrderQuantity]).toEqual([
      'ACC-001/v1+CHG-1+CHG-2',
      '5000',
      7,
    ]);
    clock.set(at(499, 999_999n));
    expect((await cache.getLimits('ACC-001'))?.version).toBe('ACC-001/v1+CHG-1+CHG-2');
    clock.set(at(500));
    const mid = await cache.getLimits('ACC-001');
    expect([mid?.version, mid?.maxOrderValue?.toString(), mid?.maxOrderQuantity]).toEqual([
      'ACC-001/v1+CHG-2',
      '1000000000',
      7,
    ]);
    clock.set(at(800));
    const base = await cache.getLimits('ACC-001');
    expect([base?.version, base?.maxOrderQuantity]).toEqual(['ACC-001/v1', 1_000_000]);
    expect(store.calls.getRiskProfile).toBe(1);
    // The stored (base) profile is served as stored, temporary changes included.
    expect((await cache.getRiskProfile('ACC-001'))?.temporary).toHaveLength(2);
  });

  it('an unknown account has no limits (cached for the TTL)', async () => {
    expect(await cache.getLimits('ACC-404')).toBeUndefined();
    expect(await cache.getLimits('ACC-404')).toBeUndefined();
    expect(store.calls.getRiskProfile).toBe(1);
  });

  it('a change to the stored limits is seen after the TTL', async () => {
    await cache.getLimits('ACC-001');
    await store.putRiskProfile({ ...PROFILE, max_order_value: '42', version: 'ACC-001/v2' });
    clock.set(at(999));
    expect((await cache.getLimits('ACC-001'))?.version).toBe('ACC-001/v1');
    clock.set(at(1000));
    const v = await cache.getLimits('ACC-001');
    expect([v?.version, v?.maxOrderValue?.toString()]).toEqual(['ACC-001/v2', '42']);
  });
});
