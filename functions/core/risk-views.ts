// Reference data as the risk controls read it: decimals parsed and timestamps in nanoseconds, once
// per cache fill rather than once per order. A stored value that does not parse becomes absent,
// so its control fails closed (MISSING_LIMIT) instead of the order failing with an exception.
import { Decimal } from './decimal.js';
import type {
  FirmRiskSettings,
  HaltKind,
  Locate,
  OpenOrder,
  Restriction,
  RestrictionList,
  RiskProfile,
  SecurityReference,
  Side,
  TradingHalt,
} from './model.js';
import { parseNs } from './time.js';

export interface SymbolLimitsView {
  maxOrderValue?: Decimal;
  maxOrderQuantity?: number;
  maxPositionValue?: Decimal;
  /** Fields the profile sets for this symbol that do not parse: their controls fail closed. */
  invalid?: ReadonlySet<'max_order_value' | 'max_order_quantity' | 'max_position_value'>;
}

/** An account's limits in force (temporary changes applied), parsed. */
export interface LimitsView {
  version: string;
  capital?: Decimal;
  maxOrderValue?: Decimal;
  maxOrderQuantity?: number;
  maxPositionValue?: Decimal;
  maxTotalPositionValue?: Decimal;
  maxConcentration?: Decimal;
  approvalThreshold?: Decimal;
  maxOrdersPerSecond?: number;
  /** The profile sets max_orders_per_second to something that is not a positive integer: fail closed. */
  maxOrdersPerSecondInvalid?: true;
  duplicateWindowMs?: number;
  symbols: ReadonlyMap<string, SymbolLimitsView>;
}

export interface FirmView {
  version: string;
  priceCollar?: Decimal;
  maxPriceAgeMs?: number;
}

export interface PriceView {
  symbol: string;
  price: Decimal;
  /**
   * The price in units of 10^-4 when that is exact and a small integer (at most 4 decimals and
   * below 214,748.3647): V8 keeps such a number inside the object, where a larger one is a separate
   * heap object, so the hot loop of portfolio sums reads one object a position instead of two.
   */
  e4: number | undefined;
  /** The price as stored (for the record). */
  text: string;
  asOf: string;
  asOfNs: bigint;
  /**
   * `asOfNs` in whole seconds (rounded down): a small integer V8 keeps inside the object (until
   * 2038), which lets the age check of every held position skip reading the bigint when the price
   * is clearly fresh. Only a shortcut: a price near the limit is compared exactly.
   */
  asOfS: number;
}

export interface RestrictionView {
  id: string;
  scope: string;
  list: RestrictionList;
  reason: string;
  fromNs: bigint;
  untilNs?: bigint;
}

export interface LocateView {
  id: string;
  quantity: number;
  expiresNs: bigint;
}

export interface HaltView {
  kind: HaltKind;
  reason: string;
  until?: string;
  untilNs?: bigint;
}

export interface OpenView {
  order_id: string;
  symbol: string;
  side: Side;
  quantity: number;
  value: Decimal;
}

const EMPTY_SYMBOLS: ReadonlyMap<string, SymbolLimitsView> = new Map();

function dec(v: unknown): Decimal | undefined {
  return typeof v === 'string' && Decimal.isValid(v) ? Decimal.parse(v) : undefined;
}

function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** A positive amount: a zero or negative limit is as good as none (fail closed). */
function positive(v: unknown): Decimal | undefined {
  const d = dec(v);
  return d && !d.isNegative() && !d.isZero() ? d : undefined;
}

/** `profile` must already be the effective one (risk-limits.ts effectiveProfile). */
export function limitsView(profile: RiskProfile): LimitsView {
  let symbols = EMPTY_SYMBOLS;
  if (profile.symbol_limits) {
    const m = new Map<string, SymbolLimitsView>();
    for (const [symbol, l] of Object.entries(profile.symbol_limits)) {
      const v: SymbolLimitsView = {};
      const invalid = new Set<'max_order_value' | 'max_order_quantity' | 'max_position_value'>();
      const mov = positive(l.max_order_value);
      const moq = int(l.max_order_quantity);
      const mpv = positive(l.max_position_value);
      // A symbol limit is meant to be the tighter one: a damaged one must not fall back to the
      // account's (looser) limit, so it is remembered as invalid and its control fails closed.
      if (mov) v.maxOrderValue = mov;
      else if (l.max_order_value !== undefined) invalid.add('max_order_value');
      if (moq !== undefined) v.maxOrderQuantity = moq;
      else if (l.max_order_quantity !== undefined) invalid.add('max_order_quantity');
      if (mpv) v.maxPositionValue = mpv;
      else if (l.max_position_value !== undefined) invalid.add('max_position_value');
      if (invalid.size > 0) v.invalid = invalid;
      m.set(symbol, v);
    }
    symbols = m;
  }
  const out: LimitsView = { version: profile.version, symbols };
  const capital = positive(profile.available_capital);
  const mov = positive(profile.max_order_value);
  const moq = int(profile.max_order_quantity);
  const mpv = positive(profile.max_position_value);
  const mtpv = positive(profile.max_total_position_value);
  const conc = positive(profile.max_concentration);
  const thr = dec(profile.approval_threshold);
  const rate = int(profile.max_orders_per_second);
  const dup = int(profile.duplicate_window_ms);
  if (capital) out.capital = capital;
  if (mov) out.maxOrderValue = mov;
  if (moq !== undefined && moq > 0) out.maxOrderQuantity = moq;
  if (mpv) out.maxPositionValue = mpv;
  if (mtpv) out.maxTotalPositionValue = mtpv;
  if (conc) out.maxConcentration = conc;
  if (thr && !thr.isNegative()) out.approvalThreshold = thr;
  if (rate !== undefined && rate > 0) out.maxOrdersPerSecond = rate;
  // Absent, the throttle has a default; present and unusable, it must not quietly become that default.
  else if (profile.max_orders_per_second !== undefined) out.maxOrdersPerSecondInvalid = true;
  if (dup !== undefined) out.duplicateWindowMs = dup;
  return out;
}

export function firmView(f: FirmRiskSettings): FirmView {
  const out: FirmView = { version: f.version };
  const collar = dec(f.price_collar);
  const age = int(f.max_price_age_ms);
  if (collar && !collar.isNegative()) out.priceCollar = collar;
  if (age !== undefined) out.maxPriceAgeMs = age;
  return out;
}

/** Undefined when the stored price or its time does not parse: a missing price, fail closed. */
export function priceView(s: SecurityReference): PriceView | undefined {
  const price = positive(s.reference_price);
  const asOfNs = parseNs(s.price_as_of);
  if (!price || asOfNs === undefined) return undefined;
  const e4 =
    price.units % 10_000n === 0n && price.units / 10_000n < 2n ** 31n ? Number(price.units / 10_000n) : undefined;
  return {
    symbol: s.symbol,
    price,
    e4,
    text: s.reference_price,
    asOf: s.price_as_of,
    asOfNs,
    asOfS: Number(asOfNs / 1_000_000_000n),
  };
}

/**
 * An entry whose start does not parse is in force from the beginning of time, and one whose end
 * does not parse never ends: a damaged list entry restricts, it does not lift.
 */
export function restrictionView(r: Restriction): RestrictionView {
  const untilNs = r.effective_until === undefined ? undefined : parseNs(r.effective_until);
  return {
    id: r.restriction_id,
    scope: r.scope,
    list: r.list,
    reason: r.reason,
    fromNs: parseNs(r.effective_from) ?? 0n,
    ...(untilNs !== undefined ? { untilNs } : {}),
  };
}

/** A locate whose expiry does not parse has expired: it covers nothing. */
export function locateView(l: Locate): LocateView {
  return { id: l.locate_id, quantity: int(l.quantity) ?? 0, expiresNs: parseNs(l.expires_at) ?? 0n };
}

/** A halt whose end does not parse lasts until lifted. */
export function haltView(h: TradingHalt): HaltView {
  const untilNs = h.until === undefined ? undefined : parseNs(h.until);
  return {
    kind: h.kind,
    reason: h.reason,
    ...(h.until !== undefined && untilNs !== undefined ? { until: h.until, untilNs } : {}),
  };
}

/** Open orders are written by the risk gate itself: a value that does not parse throws (IntegrityError territory). */
export function openView(o: OpenOrder): OpenView {
  return { order_id: o.order_id, symbol: o.symbol, side: o.side, quantity: o.quantity, value: Decimal.parse(o.value) };
}
