// Pre-trade risk controls (SEC Rule 15c3-5). Pure and synchronous: given a snapshot of the order,
// the account's limits, prices, positions, open and recent orders, lists, locates, halts and
// trading states, every control is evaluated (no short-circuit), so the audit record shows each
// one that failed with the values it compared. Anything missing fails its control closed.
//
// Reference data arrives compiled (risk-views.ts): decimals parsed and timestamps in nanoseconds
// once per cache fill, not once per order, which keeps a decision in the microseconds.
import { Decimal } from './decimal.js';
import type { ControlResult, Order, Position, RecentOrder, RiskCheck, RiskDecision, TradingMode } from './model.js';
import type { FirmView, HaltView, LimitsView, LocateView, OpenView, PriceView, RestrictionView } from './risk-views.js';

/** Stable reason codes: one per way a control can fail. */
export const REASON = {
  RISK_DATA_UNAVAILABLE: 'RISK_DATA_UNAVAILABLE',
  MISSING_RISK_PROFILE: 'MISSING_RISK_PROFILE',
  MISSING_FIRM_SETTINGS: 'MISSING_FIRM_SETTINGS',
  MISSING_LIMIT: 'MISSING_LIMIT',
  MISSING_REFERENCE_PRICE: 'MISSING_REFERENCE_PRICE',
  STALE_REFERENCE_PRICE: 'STALE_REFERENCE_PRICE',
  MISSING_POSITION_PRICE: 'MISSING_POSITION_PRICE',
  STALE_POSITION_PRICE: 'STALE_POSITION_PRICE',
  INSUFFICIENT_CAPITAL: 'INSUFFICIENT_CAPITAL',
  MAX_ORDER_VALUE_EXCEEDED: 'MAX_ORDER_VALUE_EXCEEDED',
  MAX_ORDER_QUANTITY_EXCEEDED: 'MAX_ORDER_QUANTITY_EXCEEDED',
  PRICE_OUTSIDE_COLLAR: 'PRICE_OUTSIDE_COLLAR',
  MAX_POSITION_VALUE_EXCEEDED: 'MAX_POSITION_VALUE_EXCEEDED',
  MAX_TOTAL_POSITION_VALUE_EXCEEDED: 'MAX_TOTAL_POSITION_VALUE_EXCEEDED',
  CONCENTRATION_LIMIT_EXCEEDED: 'CONCENTRATION_LIMIT_EXCEEDED',
  RESTRICTED_SECURITY: 'RESTRICTED_SECURITY',
  PROHIBITED_SECURITY: 'PROHIBITED_SECURITY',
  SHORT_SALE_NO_LOCATE: 'SHORT_SALE_NO_LOCATE',
  SYMBOL_HALTED: 'SYMBOL_HALTED',
  LULD_PAUSE: 'LULD_PAUSE',
  DUPLICATE_ORDER: 'DUPLICATE_ORDER',
  THROTTLE_EXCEEDED: 'THROTTLE_EXCEEDED',
  TRADING_HALTED: 'TRADING_HALTED',
  REDUCING_ONLY: 'REDUCING_ONLY',
} as const;
export type ReasonCode = (typeof REASON)[keyof typeof REASON];

/** The controls, in the order the decision lists them. */
export const CONTROLS = [
  'risk_data',
  'risk_profile',
  'firm_settings',
  'reference_price',
  'price_freshness',
  'position_prices',
  'capital',
  'max_order_value',
  'max_order_quantity',
  'price_collar',
  'max_position_value',
  'max_total_position_value',
  'concentration',
  'restricted_list',
  'short_sale',
  'halt',
  'duplicate',
  'throttle',
  'trading_state',
  'approval_threshold',
] as const;
export type ControlName = (typeof CONTROLS)[number];

/** The default throttle when an account's limit does not say (the 100 orders a second). */
export const DEFAULT_MAX_ORDERS_PER_SECOND = 100;
export const THROTTLE_WINDOW_MS = 1000;

export interface RiskSnapshot {
  order: Order;
  nowNs: bigint;
  /** Loading the snapshot failed (a store error): every order is rejected, with this message. */
  dataError?: string;
  limits: LimitsView | undefined;
  firm: FirmView | undefined;
  /** The order symbol's reference price. */
  price: PriceView | undefined;
  /** The account's positions (any symbol). */
  positions: readonly Position[];
  /** Reference prices of the other symbols the account holds (a map, not a callback: this is the hot loop). */
  prices: ReadonlyMap<string, PriceView>;
  /** The account's other open orders (accepted, not finished). */
  open: readonly OpenView[];
  /** The account's recently accepted orders (throttle and duplicates), this order excluded. */
  recent: readonly RecentOrder[];
  firmMode: TradingMode;
  accountMode: TradingMode;
  /** Restrictions on the order's symbol, any scope, lifted ones included. */
  restrictions: readonly RestrictionView[];
  /** The account's locates for the order's symbol. */
  locates: readonly LocateView[];
  halt: HaltView | undefined;
}

/** The decision and its evidence: the part of a RiskCheck that the controls compute. */
export type RiskEvaluation = Pick<
  RiskCheck,
  'decision' | 'reasons' | 'controls' | 'order_value' | 'reference_price' | 'limits_version'
>;

/** The duplicate check's key: what makes two orders "the same order". */
export function orderFingerprint(order: Order): string {
  return `${order.account_id}|${order.symbol}|${order.side}|${order.quantity}|${order.order_type === 'LIMIT' ? order.price : 'MKT'}`;
}

/**
 * The price an order is valued at: its worst case. A MARKET order at the reference price; a LIMIT
 * order at the higher of its limit and the reference price, because a marketable limit fills at
 * the market (a SELL limited at 0.01 is worth what it sells for, not 0.01 a share). Undefined when
 * there is no price at all.
 */
function valuationPrice(ref: Decimal | undefined, limit: Decimal | undefined): Decimal | undefined {
  if (limit) return ref?.gt(limit) ? ref : limit;
  return ref;
}

const MS = 1_000_000n;

/** Collects each control's result; a class, not closures, so a decision allocates no functions. */
class Results {
  readonly controls: ControlResult[] = [];
  readonly reasons: string[] = [];

  add(control: ControlName, reason: ReasonCode | undefined, values: Record<string, string>): void {
    if (reason === undefined) this.controls.push({ control, passed: true, values });
    else {
      this.controls.push({ control, passed: false, reason_code: reason, values });
      this.reasons.push(reason);
    }
  }

  missing(control: ControlName, limit: string): void {
    this.add(control, REASON.MISSING_LIMIT, { missing_limit: limit });
  }
}

export function evaluateRisk(s: RiskSnapshot): RiskEvaluation {
  const { order, limits, firm, price } = s;
  const r = new Results();
  const { controls, reasons } = r;

  r.add(
    'risk_data',
    s.dataError === undefined ? undefined : REASON.RISK_DATA_UNAVAILABLE,
    s.dataError === undefined ? {} : { error: s.dataError },
  );
  r.add('risk_profile', limits ? undefined : REASON.MISSING_RISK_PROFILE, {
    account_id: order.account_id,
    limits_version: limits?.version ?? 'none',
  });
  r.add('firm_settings', firm ? undefined : REASON.MISSING_FIRM_SETTINGS, { firm_version: firm?.version ?? 'none' });

  // --- Prices: the reference price, its age, and the prices of everything held. ----------------
  const ref = price?.price;
  r.add('reference_price', ref ? undefined : REASON.MISSING_REFERENCE_PRICE, {
    symbol: order.symbol,
    reference_price: price?.text ?? 'missing',
  });
  if (!price) r.add('price_freshness', REASON.MISSING_REFERENCE_PRICE, { symbol: order.symbol });
  else if (!firm) r.add('price_freshness', REASON.MISSING_FIRM_SETTINGS, {});
  else if (firm.maxPriceAgeMs === undefined) r.missing('price_freshness', 'max_price_age_ms');
  else {
    // Compared in nanoseconds: one nanosecond past the limit is stale. A price from the future
    // (clock skew) is as untrustworthy as an old one.
    const ageNs = s.nowNs - price.asOfNs;
    const maxNs = BigInt(firm.maxPriceAgeMs) * MS;
    const fresh = ageNs <= maxNs && ageNs >= -maxNs;
    r.add('price_freshness', fresh ? undefined : REASON.STALE_REFERENCE_PRICE, {
      price_as_of: price.asOf,
      // Exact milliseconds (a Decimal unit is 10^-8, a nanosecond 10^-6 ms).
      age_ms: Decimal.fromUnits(ageNs * 100n).toString(),
      max_price_age_ms: String(firm.maxPriceAgeMs),
    });
  }

  // Positions now, open orders, and the order's effect. Long exposure counts open BUYs, short
  // exposure open SELLs: an open order may fill, and nothing unfilled is counted as an offset.
  // Summed in units, one Decimal at the end: this loop runs over every position held. A price whose
  // view has `e4` (units of 10^-4, a small integer) is multiplied in a number, and the products and
  // their sum stay there while they are safe integers (below 2^53 integer arithmetic in a double is
  // exact, and a result past it is caught by the bound); anything else goes to a bigint. Exact
  // either way.
  let grossUnits = 0n;
  let grossSafe = 0;
  let missingPrice: string | undefined;
  let current = 0;
  // A held symbol's price is as good as the order's own only while it is as fresh: the same age limit.
  const maxAgeNs = firm?.maxPriceAgeMs === undefined ? undefined : BigInt(firm.maxPriceAgeMs) * MS;
  const oldestNs = maxAgeNs === undefined ? undefined : s.nowNs - maxAgeNs;
  const newestNs = maxAgeNs === undefined ? undefined : s.nowNs + maxAgeNs;
  // In whole seconds: a price strictly between them is fresh without an exact comparison.
  const oldestS = oldestNs === undefined ? 0 : Number(oldestNs / 1_000_000_000n);
  const newestS = newestNs === undefined ? 0 : Number(newestNs / 1_000_000_000n);
  let stalePrice: string | undefined;
  for (const p of s.positions) {
    const q = p.quantity;
    if (q === 0) continue;
    const shares = q < 0 ? -q : q;
    let pv: PriceView | undefined;
    if (p.symbol === order.symbol) {
      current = q;
      pv = price;
    } else {
      pv = s.prices.get(p.symbol);
      if (!pv) {
        missingPrice ??= p.symbol;
        continue;
      }
      if (
        oldestNs !== undefined &&
        newestNs !== undefined &&
        !(pv.asOfS > oldestS && pv.asOfS < newestS) &&
        (pv.asOfNs < oldestNs || pv.asOfNs > newestNs)
      ) {
        stalePrice ??= p.symbol;
      }
    }
    if (!pv) continue;
    const e4 = pv.e4;
    const product = e4 === undefined ? Number.POSITIVE_INFINITY : e4 * shares;
    if (product <= Number.MAX_SAFE_INTEGER && grossSafe + product <= Number.MAX_SAFE_INTEGER) grossSafe += product;
    else grossUnits += pv.price.units * BigInt(shares);
  }
  // grossSafe counts units of 10^-4; Decimal units are 10^-8.
  grossUnits += BigInt(grossSafe) * 10_000n;
  const gross = Decimal.fromUnits(grossUnits);
  let openUnits = 0n;
  let openElsewhereUnits = 0n;
  let openBuys = 0;
  let openSells = 0;
  for (const o of s.open) {
    openUnits += o.value.units;
    if (o.symbol === order.symbol) {
      if (o.side === 'BUY') openBuys += o.quantity;
      else openSells += o.quantity;
    } else openElsewhereUnits += o.value.units;
  }
  const openNotional = Decimal.fromUnits(openUnits);
  const openElsewhere = Decimal.fromUnits(openElsewhereUnits);
  const buy = order.side === 'BUY';
  // The worst position the order can leave, and the worst one before it (open orders filled).
  const before = buy ? current + openBuys : current - openSells;
  const projected = buy ? before + order.quantity : before - order.quantity;
  const increases = Math.abs(projected) > Math.abs(before);

  // A held symbol's old price makes exposure uncertain, which matters to an order that adds to it;
  // one that only reduces (selling down, REDUCING mode) must still get through.
  if (missingPrice !== undefined) r.add('position_prices', REASON.MISSING_POSITION_PRICE, { symbol: missingPrice });
  else if (stalePrice !== undefined) {
    r.add('position_prices', increases ? REASON.STALE_POSITION_PRICE : undefined, {
      symbol: stalePrice,
      price_as_of: s.prices.get(stalePrice)?.asOf ?? 'unknown',
      max_price_age_ms: String(firm?.maxPriceAgeMs),
      ...(increases ? {} : { reduces_position: 'yes' }),
    });
  } else r.add('position_prices', undefined, { held_symbols: String(s.positions.length) });

  const limitPrice = order.order_type === 'LIMIT' && order.price !== undefined ? Decimal.parse(order.price) : undefined;
  const perShare = valuationPrice(ref, limitPrice);
  const value = perShare?.mulInt(order.quantity);
  const symbolLimits = limits?.symbols.get(order.symbol);

  // --- 1. Credit / capital: positions + open orders + what this order adds <= capital. ----------
  if (limits && limits.capital === undefined) r.missing('capital', 'available_capital');
  else if (limits?.capital && perShare && ref) {
    const addedShares = Math.max(0, Math.abs(projected) - Math.abs(before));
    const required = perShare.mulInt(addedShares);
    const committed = gross.add(openNotional);
    const available = limits.capital.sub(committed);
    // An order that adds no exposure needs no capital, even when the account is over its limit.
    r.add('capital', addedShares === 0 || required.lte(available) ? undefined : REASON.INSUFFICIENT_CAPITAL, {
      required_capital: required.toString(),
      open_notional: openNotional.toString(),
      gross_exposure: gross.toString(),
      available_capital: available.toString(),
      account_capital: limits.capital.toString(),
    });
  } else {
    r.add('capital', limits ? REASON.MISSING_REFERENCE_PRICE : REASON.MISSING_RISK_PROFILE, { symbol: order.symbol });
  }

  // --- 2. Erroneous orders: value, quantity, collar. ---------------------------------------------
  const damaged = symbolLimits?.invalid;
  if (limits && limits.maxOrderValue === undefined) r.missing('max_order_value', 'max_order_value');
  else if (damaged?.has('max_order_value'))
    r.missing('max_order_value', `symbol_limits.${order.symbol}.max_order_value`);
  else if (limits?.maxOrderValue && value) {
    const bound = tighter(limits.maxOrderValue, symbolLimits?.maxOrderValue);
    const values: Record<string, string> = { order_value: value.toString(), max_order_value: bound.toString() };
    if (symbolLimits?.maxOrderValue) values.symbol_limit = symbolLimits.maxOrderValue.toString();
    r.add('max_order_value', value.lte(bound) ? undefined : REASON.MAX_ORDER_VALUE_EXCEEDED, values);
  } else r.add('max_order_value', limits ? REASON.MISSING_REFERENCE_PRICE : REASON.MISSING_RISK_PROFILE, {});

  if (limits && limits.maxOrderQuantity === undefined) r.missing('max_order_quantity', 'max_order_quantity');
  else if (damaged?.has('max_order_quantity')) {
    r.missing('max_order_quantity', `symbol_limits.${order.symbol}.max_order_quantity`);
  } else if (limits?.maxOrderQuantity !== undefined) {
    const bound = Math.min(limits.maxOrderQuantity, symbolLimits?.maxOrderQuantity ?? Number.MAX_SAFE_INTEGER);
    r.add('max_order_quantity', order.quantity <= bound ? undefined : REASON.MAX_ORDER_QUANTITY_EXCEEDED, {
      quantity: String(order.quantity),
      max_order_quantity: String(bound),
    });
  } else r.add('max_order_quantity', REASON.MISSING_RISK_PROFILE, {});

  if (!limitPrice) {
    r.add('price_collar', undefined, { applies: 'no', order_type: order.order_type });
  } else if (firm && firm.priceCollar === undefined) r.missing('price_collar', 'price_collar');
  else if (firm?.priceCollar && ref) {
    // |limit - reference| <= reference * collar, exactly (cross-multiplied); the band edges in the
    // record are rounded for reading only.
    const within = limitPrice.sub(ref).abs().lteProduct(ref, firm.priceCollar);
    const band = ref.mul(firm.priceCollar);
    r.add('price_collar', within ? undefined : REASON.PRICE_OUTSIDE_COLLAR, {
      limit_price: limitPrice.toString(),
      reference_price: ref.toString(),
      collar: firm.priceCollar.toString(),
      collar_low: ref.sub(band).toString(),
      collar_high: ref.add(band).toString(),
    });
  } else r.add('price_collar', firm ? REASON.MISSING_REFERENCE_PRICE : REASON.MISSING_FIRM_SETTINGS, {});

  // --- 3. Position: per symbol and in total, after the order. -----------------------------------
  const projectedValue = ref?.mulInt(Math.abs(projected));
  if (limits && limits.maxPositionValue === undefined) r.missing('max_position_value', 'max_position_value');
  else if (damaged?.has('max_position_value')) {
    r.missing('max_position_value', `symbol_limits.${order.symbol}.max_position_value`);
  } else if (limits?.maxPositionValue && projectedValue) {
    const bound = tighter(limits.maxPositionValue, symbolLimits?.maxPositionValue);
    r.add(
      'max_position_value',
      !increases || projectedValue.lte(bound) ? undefined : REASON.MAX_POSITION_VALUE_EXCEEDED,
      {
        projected_quantity: String(projected),
        projected_position_value: projectedValue.toString(),
        max_position_value: bound.toString(),
      },
    );
  } else r.add('max_position_value', limits ? REASON.MISSING_REFERENCE_PRICE : REASON.MISSING_RISK_PROFILE, {});

  // Gross after the order: the symbol's exposure replaced by its projected one (its open orders are
  // in the projection). For the total limit, open orders in other symbols count too, at their value,
  // as if they filled; the concentration base leaves them out (counting them would loosen it).
  const grossAfter = ref && projectedValue ? gross.sub(ref.mulInt(Math.abs(current))).add(projectedValue) : undefined;
  const grossAfterWorst = grossAfter?.add(openElsewhere);
  if (limits && limits.maxTotalPositionValue === undefined) {
    r.missing('max_total_position_value', 'max_total_position_value');
  } else if (limits?.maxTotalPositionValue && grossAfterWorst) {
    r.add(
      'max_total_position_value',
      !increases || grossAfterWorst.lte(limits.maxTotalPositionValue)
        ? undefined
        : REASON.MAX_TOTAL_POSITION_VALUE_EXCEEDED,
      {
        projected_gross_value: grossAfterWorst.toString(),
        open_in_other_symbols: openElsewhere.toString(),
        max_total_position_value: limits.maxTotalPositionValue.toString(),
      },
    );
  } else {
    r.add('max_total_position_value', limits ? REASON.MISSING_REFERENCE_PRICE : REASON.MISSING_RISK_PROFILE, {});
  }

  // --- 4. Concentration: the symbol's share of the projected portfolio, which is worth the larger
  // of the account's capital and its projected gross exposure (so a first position in a new account
  // is measured against what the account can hold, not against itself). Exact: cross-multiplied.
  if (limits && limits.maxConcentration === undefined) r.missing('concentration', 'max_concentration');
  else if (limits && limits.capital === undefined) r.missing('concentration', 'available_capital');
  else if (limits?.maxConcentration && limits.capital && projectedValue && grossAfter) {
    const base = grossAfter.gt(limits.capital) ? grossAfter : limits.capital;
    const within = base.isZero() ? projectedValue.isZero() : projectedValue.lteProduct(limits.maxConcentration, base);
    r.add('concentration', !increases || within ? undefined : REASON.CONCENTRATION_LIMIT_EXCEEDED, {
      symbol_exposure: projectedValue.toString(),
      portfolio_base: base.toString(),
      concentration: base.isZero() ? '0' : projectedValue.div(base).toString(),
      max_concentration: limits.maxConcentration.toString(),
    });
  } else r.add('concentration', limits ? REASON.MISSING_REFERENCE_PRICE : REASON.MISSING_RISK_PROFILE, {});

  // --- 5. Restricted and prohibited lists, firm-wide and the account's, in effect now. ----------
  let listed: RestrictionView | undefined;
  for (const r of s.restrictions) {
    if (r.scope !== 'FIRM' && r.scope !== order.account_id) continue;
    if (r.fromNs > s.nowNs || (r.untilNs !== undefined && r.untilNs <= s.nowNs)) continue;
    // A prohibition outranks a restriction in the record.
    if (!listed || (r.list === 'PROHIBITED' && listed.list !== 'PROHIBITED')) listed = r;
  }
  r.add(
    'restricted_list',
    listed ? (listed.list === 'PROHIBITED' ? REASON.PROHIBITED_SECURITY : REASON.RESTRICTED_SECURITY) : undefined,
    listed
      ? {
          symbol: order.symbol,
          list: listed.list,
          scope: listed.scope,
          restriction_id: listed.id,
          reason: listed.reason,
        }
      : { symbol: order.symbol, listed: 'no' },
  );

  // --- 6. Reg SHO: a sale that leaves the worst position short needs locates for all of it. -----
  if (buy || projected >= 0) {
    r.add('short_sale', undefined, { short: 'no', projected_quantity: String(projected) });
  } else {
    let located = 0;
    for (const l of s.locates) if (l.expiresNs > s.nowNs) located += l.quantity;
    r.add('short_sale', -projected <= located ? undefined : REASON.SHORT_SALE_NO_LOCATE, {
      short: 'yes',
      short_quantity: String(-projected),
      located_quantity: String(located),
    });
  }

  // --- 7. Halts. -----------------------------------------------------------------------------------
  const halt = s.halt && (s.halt.untilNs === undefined || s.halt.untilNs > s.nowNs) ? s.halt : undefined;
  r.add(
    'halt',
    halt ? (halt.kind === 'LULD_PAUSE' ? REASON.LULD_PAUSE : REASON.SYMBOL_HALTED) : undefined,
    halt
      ? { symbol: order.symbol, kind: halt.kind, reason: halt.reason, until: halt.until ?? 'until lifted' }
      : { symbol: order.symbol, halted: 'no' },
  );

  // --- 8, 9. Duplicates and the throttle, over the recently accepted orders. ---------------------
  const nowMs = Number(s.nowNs / MS);
  const window = limits?.duplicateWindowMs;
  const fingerprint = orderFingerprint(order);
  let lastSeconds = 0;
  let duplicateOf: RecentOrder | undefined;
  for (const r of s.recent) {
    if (r.at_ms > nowMs - THROTTLE_WINDOW_MS) lastSeconds += 1;
    if (window !== undefined && window > 0 && r.at_ms > nowMs - window && r.fingerprint === fingerprint)
      duplicateOf = r;
  }
  if (limits && window === undefined) r.missing('duplicate', 'duplicate_window_ms');
  else if (order.duplicate_intended) r.add('duplicate', undefined, { intended: 'yes' });
  else {
    r.add(
      'duplicate',
      duplicateOf ? REASON.DUPLICATE_ORDER : undefined,
      duplicateOf
        ? { window_ms: String(window ?? 0), duplicate_of: duplicateOf.order_id }
        : { window_ms: String(window ?? 0) },
    );
  }
  if (limits?.maxOrdersPerSecondInvalid) r.missing('throttle', 'max_orders_per_second');
  else {
    // Absent means the default (the 100 a second); a stored value that does not parse fails above.
    const maxRate = limits?.maxOrdersPerSecond ?? DEFAULT_MAX_ORDERS_PER_SECOND;
    r.add('throttle', lastSeconds + 1 <= maxRate ? undefined : REASON.THROTTLE_EXCEEDED, {
      orders_last_second: String(lastSeconds + 1),
      max_orders_per_second: String(maxRate),
    });
  }

  // --- 10. Kill switch: the stricter of the firm's and the account's trading state. REDUCING lets
  // through only an order that brings the position (open orders counted) towards zero, not past it.
  const mode = stricter(s.firmMode, s.accountMode);
  const reduces = buy ? before < 0 && projected <= 0 : before > 0 && projected >= 0;
  r.add(
    'trading_state',
    mode === 'HALTED' ? REASON.TRADING_HALTED : mode === 'REDUCING' && !reduces ? REASON.REDUCING_ONLY : undefined,
    { firm: s.firmMode, account: s.accountMode, reduces_position: reduces ? 'yes' : 'no' },
  );

  // --- The approval threshold: not a control that rejects, but a missing one fails closed. ------
  if (limits && limits.approvalThreshold === undefined) r.missing('approval_threshold', 'approval_threshold');
  else {
    r.add('approval_threshold', undefined, {
      order_value: value?.toString() ?? 'unknown',
      approval_threshold: limits?.approvalThreshold?.toString() ?? 'none',
    });
  }

  let decision: RiskDecision = reasons.length > 0 ? 'rejected' : 'approved';
  if (decision === 'approved' && limits?.approvalThreshold && value?.gt(limits.approvalThreshold)) {
    decision = 'needs_approval';
  }
  return {
    decision,
    reasons,
    controls,
    order_value: value?.toString() ?? 'unknown',
    reference_price: price?.text ?? 'missing',
    limits_version: limits?.version ?? 'none',
  };
}

function tighter(a: Decimal, b: Decimal | undefined): Decimal {
  return b?.lt(a) ? b : a;
}

const SEVERITY: Record<TradingMode, number> = { ACTIVE: 0, REDUCING: 1, HALTED: 2 };
function stricter(a: TradingMode, b: TradingMode): TradingMode {
  return SEVERITY[a] >= SEVERITY[b] ? a : b;
}
