// A simulated exchange. MARKET orders fill in full at the reference price. LIMIT orders are
// immediate-or-cancel: a marketable limit (buy at or above, sell at or below the reference price)
// fills at the reference price; one that is not marketable is rejected, never left resting.
// Results are a pure function of the order, so a resent client order id gets the same execution.
import type { Venue } from '../ports.js';
import { sha256Hex } from './canonical-json.js';
import { Decimal } from './decimal.js';

export class SimulatedVenue implements Venue {
  async submit(order: Parameters<Venue['submit']>[0]): ReturnType<Venue['submit']> {
    const ref = Decimal.parse(order.referencePrice);
    if (order.orderType === 'LIMIT') {
      if (order.limitPrice === undefined) return { status: 'REJECTED', reason: 'LIMIT_PRICE_MISSING' };
      const limit = Decimal.parse(order.limitPrice);
      const marketable = order.side === 'BUY' ? limit.gte(ref) : limit.lte(ref);
      if (!marketable) {
        return {
          status: 'REJECTED',
          reason: `LIMIT_NOT_MARKETABLE: ${order.side} limit ${limit} vs reference ${ref} (limit orders are immediate-or-cancel)`,
        };
      }
    }
    return {
      status: 'FILLED',
      price: ref.toString(),
      quantity: order.quantity,
      venueExecId: `SIMX-${sha256Hex(order.clientOrderId).slice(0, 16)}`,
    };
  }
}
