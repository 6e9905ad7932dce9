// Position keeping: signed quantity, average cost, realised P&L; unrealised P&L at reference price.
import { Decimal } from './decimal.js';
import type { Fill, Position } from './model.js';

export function emptyPosition(accountId: string, symbol: string): Position {
  return {
    account_id: accountId,
    symbol,
    quantity: 0,
    average_cost: '0',
    realized_pnl: '0',
    version: 0,
    updated_at: '',
  };
}

/** Applies one fill. Crossing through flat realises the closed part and opens the rest at the fill price. */
export function applyFill(pos: Position, fill: Fill, at: string): Position {
  const price = Decimal.parse(fill.price);
  const signed = fill.side === 'BUY' ? fill.quantity : -fill.quantity;
  const qty = pos.quantity;
  let avg = Decimal.parse(pos.average_cost);
  let realized = Decimal.parse(pos.realized_pnl);
  let newQty = qty + signed;

  if (qty === 0 || Math.sign(qty) === Math.sign(signed)) {
    // Adding to the position (or opening it): weighted average cost.
    const total = avg.mulInt(Math.abs(qty)).add(price.mulInt(Math.abs(signed)));
    avg = total.divInt(Math.abs(newQty));
  } else {
    const closing = Math.min(Math.abs(qty), Math.abs(signed));
    // Long closed by a sell gains (price - avg); short closed by a buy gains (avg - price).
    const perShare = qty > 0 ? price.sub(avg) : avg.sub(price);
    realized = realized.add(perShare.mulInt(closing));
    if (Math.abs(signed) > Math.abs(qty)) avg = price;
    else if (newQty === 0) avg = Decimal.ZERO;
  }
  if (newQty === 0) newQty = 0; // no negative zero
  return {
    account_id: pos.account_id,
    symbol: pos.symbol,
    quantity: newQty,
    average_cost: avg.toString(),
    realized_pnl: realized.toString(),
    version: pos.version + 1,
    updated_at: at,
  };
}

export interface PositionView extends Omit<Position, 'version'> {
  reference_price: string | null;
  market_value: string | null;
  unrealized_pnl: string | null;
}

export function viewPosition(pos: Position, referencePrice: string | undefined): PositionView {
  const { version: _v, ...rest } = pos;
  if (referencePrice === undefined) return { ...rest, reference_price: null, market_value: null, unrealized_pnl: null };
  const ref = Decimal.parse(referencePrice);
  const unrealized = ref.sub(Decimal.parse(pos.average_cost)).mulInt(pos.quantity);
  return {
    ...rest,
    reference_price: ref.toString(),
    market_value: ref.mulInt(pos.quantity).toString(),
    unrealized_pnl: unrealized.toString(),
  };
}
