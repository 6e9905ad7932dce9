// Pre-trade risk controls (SEC Rule 15c3-5). Pure: given the order, the account's limits, reference
// prices and current positions, every control is evaluated (no short-circuit) so the audit record
// shows each one that failed, with the values it compared. Anything missing fails closed.
import { Decimal } from './decimal.js';
import type {
  ControlResult,
  Order,
  Position,
  RiskCheck,
  RiskDecision,
  RiskProfile,
  SecurityReference,
} from './model.js';

export const REASON = {
  MISSING_REFERENCE_PRICE: 'MISSING_REFERENCE_PRICE',
  MISSING_RISK_PROFILE: 'MISSING_RISK_PROFILE',
  INSUFFICIENT_CAPITAL: 'INSUFFICIENT_CAPITAL',
  MAX_ORDER_VALUE_EXCEEDED: 'MAX_ORDER_VALUE_EXCEEDED',
  MAX_POSITION_VALUE_EXCEEDED: 'MAX_POSITION_VALUE_EXCEEDED',
  CONCENTRATION_LIMIT_EXCEEDED: 'CONCENTRATION_LIMIT_EXCEEDED',
  PROHIBITED_SECURITY: 'PROHIBITED_SECURITY',
  MISSING_POSITION_PRICE: 'MISSING_POSITION_PRICE',
} as const;

export interface RiskInputs {
  order: Order;
  profile: RiskProfile | undefined;
  security: SecurityReference | undefined;
  positions: readonly Position[];
  /** Reference prices of the symbols the account holds (for exposure), by symbol. */
  prices: ReadonlyMap<string, SecurityReference>;
}

/** The decision and its evidence: the part of a RiskCheck that the controls compute. */
export type RiskEvaluation = Pick<
  RiskCheck,
  'decision' | 'reasons' | 'controls' | 'order_value' | 'reference_price' | 'limits_version'
>;

/**
 * The price an order is valued at: its worst case. A MARKET order at the reference price; a LIMIT
 * order at the higher of its limit and the reference price, because a marketable limit fills at
 * the market (a SELL limited at 0.01 is worth what it sells for, not 0.01 a share). Undefined when
 * there is no price at all.
 */
export function valuationPrice(order: Order, security: SecurityReference | undefined): Decimal | undefined {
  const ref = security ? Decimal.parse(security.reference_price) : undefined;
  if (order.order_type === 'LIMIT' && order.price !== undefined) {
    const limit = Decimal.parse(order.price);
    return ref?.gt(limit) ? ref : limit;
  }
  return ref;
}

export function orderValue(order: Order, security: SecurityReference | undefined): Decimal | undefined {
  return valuationPrice(order, security)?.mulInt(order.quantity);
}

export function evaluateRisk(input: RiskInputs): RiskEvaluation {
  const { order, profile, security } = input;
  const controls: ControlResult[] = [];
  const add = (control: string, passed: boolean, reason: string, values: Record<string, string>) =>
    controls.push(passed ? { control, passed, values } : { control, passed, reason_code: reason, values });

  const value = orderValue(order, security);
  const refPrice = security ? Decimal.parse(security.reference_price) : undefined;

  add('reference_price', refPrice !== undefined, REASON.MISSING_REFERENCE_PRICE, {
    symbol: order.symbol,
    reference_price: refPrice?.toString() ?? 'missing',
  });
  add('risk_profile', profile !== undefined, REASON.MISSING_RISK_PROFILE, { account_id: order.account_id });

  add('prohibited', security !== undefined && !security.prohibited, REASON.PROHIBITED_SECURITY, {
    symbol: order.symbol,
    listed: security ? String(security.prohibited) : 'unknown',
    ...(security?.prohibited_reason ? { list_reason: security.prohibited_reason } : {}),
  });

  // Exposure now and after the order, at reference prices. A held symbol without a price makes
  // exposure unknowable: fail closed.
  const signed = order.side === 'BUY' ? order.quantity : -order.quantity;
  let grossNow = Decimal.ZERO;
  let missingPrice: string | undefined;
  let currentQty = 0;
  for (const p of input.positions) {
    if (p.symbol === order.symbol) currentQty = p.quantity;
    const price = p.symbol === order.symbol ? refPrice : priceOf(input.prices.get(p.symbol));
    if (price === undefined) {
      if (p.quantity !== 0) missingPrice = p.symbol;
      continue;
    }
    grossNow = grossNow.add(price.mulInt(Math.abs(p.quantity)));
  }
  add('position_prices', missingPrice === undefined, REASON.MISSING_POSITION_PRICE, {
    ...(missingPrice ? { symbol: missingPrice } : { held_symbols: String(input.positions.length) }),
  });

  const projectedQty = currentQty + signed;
  const increases = Math.abs(projectedQty) > Math.abs(currentQty);

  if (profile && value !== undefined && refPrice !== undefined) {
    const capital = Decimal.parse(profile.available_capital);
    const available = capital.sub(grossNow);
    // Only the part of the order that adds exposure consumes capital; a pure reduction frees it.
    const addedShares = Math.max(0, Math.abs(projectedQty) - Math.abs(currentQty));
    const perShare = valuationPrice(order, security) ?? refPrice;
    const required = perShare.mulInt(addedShares);
    // An order that adds no exposure needs no capital, even when exposure already exceeds it.
    add('capital', addedShares === 0 || required.lte(available), REASON.INSUFFICIENT_CAPITAL, {
      required_capital: required.toString(),
      available_capital: available.toString(),
      account_capital: capital.toString(),
      gross_exposure: grossNow.toString(),
    });

    const maxOrder = Decimal.parse(profile.max_order_value);
    add('max_order_value', value.lte(maxOrder), REASON.MAX_ORDER_VALUE_EXCEEDED, {
      order_value: value.toString(),
      max_order_value: maxOrder.toString(),
    });

    const projectedPositionValue = refPrice.mulInt(Math.abs(projectedQty));
    const maxPosition = Decimal.parse(profile.max_position_value);
    add(
      'max_position_value',
      !increases || projectedPositionValue.lte(maxPosition),
      REASON.MAX_POSITION_VALUE_EXCEEDED,
      {
        projected_quantity: String(projectedQty),
        projected_position_value: projectedPositionValue.toString(),
        max_position_value: maxPosition.toString(),
      },
    );

    // Concentration: the symbol's share of the account, where the account is worth the larger of
    // its capital and its gross exposure after the order. Compared by cross-multiplication: exact.
    const grossAfter = grossNow.sub(refPrice.mulInt(Math.abs(currentQty))).add(projectedPositionValue);
    const base = grossAfter.gt(capital) ? grossAfter : capital;
    const limit = Decimal.parse(profile.max_concentration);
    const within = base.isZero() ? projectedPositionValue.isZero() : projectedPositionValue.lteProduct(limit, base);
    add('concentration', !increases || within, REASON.CONCENTRATION_LIMIT_EXCEEDED, {
      symbol_exposure: projectedPositionValue.toString(),
      portfolio_base: base.toString(),
      concentration: base.isZero() ? '0' : projectedPositionValue.div(base).toString(),
      max_concentration: limit.toString(),
    });
  }

  const failed = controls.filter((c) => !c.passed);
  const reasons = failed.map((c) => c.reason_code ?? c.control);
  let decision: RiskDecision = failed.length > 0 ? 'rejected' : 'approved';
  if (decision === 'approved' && profile && value?.gt(Decimal.parse(profile.approval_threshold))) {
    decision = 'needs_approval';
  }
  return {
    decision,
    reasons,
    controls,
    order_value: value?.toString() ?? 'unknown',
    reference_price: refPrice?.toString() ?? 'missing',
    limits_version: profile?.version ?? 'none',
  };
}

function priceOf(s: SecurityReference | undefined): Decimal | undefined {
  return s ? Decimal.parse(s.reference_price) : undefined;
}
