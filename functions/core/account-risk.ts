// An account's live risk state: the orders the gate accepted that have not finished (their value
// stays committed against the account's capital, their quantity against its positions) and the
// orders it accepted recently (the throttle and the duplicate check). One item per account,
// changed only by conditional writes on its revision, so concurrent orders of one account cannot
// both spend the same capital or the same second of the throttle.
import type { AccountRiskStore } from '../ports.js';
import { TransientError } from './errors.js';
import type { AccountRiskState, OpenOrder, RecentOrder } from './model.js';
import { THROTTLE_WINDOW_MS } from './risk.js';

const MAX_ATTEMPTS = 10;

/** Recent orders older than this are forgotten on the next write (the throttle or the duplicate window). */
export function recentHorizonMs(duplicateWindowMs: number | undefined): number {
  return Math.max(THROTTLE_WINDOW_MS, duplicateWindowMs ?? 0);
}

/** The state as the controls see it for `orderId`: that order's own entries left out (a retried step). */
export function othersOf(state: AccountRiskState, orderId: string): { open: OpenOrder[]; recent: RecentOrder[] } {
  const open: OpenOrder[] = [];
  for (const id in state.open) {
    const o = state.open[id];
    if (o && id !== orderId) open.push(o);
  }
  return { open, recent: state.recent.filter((r) => r.order_id !== orderId) };
}

/** The state with `order` accepted at `atMs`: open, and counted among the recent orders. */
export function withAccepted(
  state: AccountRiskState,
  order: OpenOrder,
  recent: RecentOrder,
  horizonMs: number,
): AccountRiskState {
  const cutoff = recent.at_ms - horizonMs;
  return {
    account_id: state.account_id,
    revision: state.revision + 1,
    open: { ...state.open, [order.order_id]: order },
    recent: [...state.recent.filter((r) => r.at_ms > cutoff && r.order_id !== order.order_id), recent],
  };
}

/**
 * The order is finished (filled, rejected, expired or failed): its value is no longer committed.
 * Idempotent; retried on conflict. Called by every step that ends an order after acceptance.
 */
export async function releaseOrder(
  store: Pick<AccountRiskStore, 'get' | 'putIfRevision'>,
  accountId: string,
  orderId: string,
): Promise<boolean> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const state = await store.get(accountId);
    if (!state.open[orderId]) return false;
    const { [orderId]: _done, ...open } = state.open;
    const next: AccountRiskState = { ...state, revision: state.revision + 1, open };
    if ((await store.putIfRevision(next, state.revision)) === 'written') return true;
  }
  throw new TransientError(`account ${accountId}: could not release order ${orderId} after ${MAX_ATTEMPTS} attempts`);
}
