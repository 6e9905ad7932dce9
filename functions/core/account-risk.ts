// An account's live risk state: the orders the gate accepted that have not finished (their value
// stays committed against the account's capital, their quantity against its positions) and the
// orders it accepted recently (the throttle and the duplicate check). One item per account,
// changed only by conditional writes on its revision, so concurrent orders of one account cannot
// both spend the same capital or the same second of the throttle.
import type { AccountRiskStore } from '../ports.js';
import { TransientError } from './errors.js';
import type { AccountRiskState, OpenOrder, Order, RecentOrder } from './model.js';
import { THROTTLE_WINDOW_MS } from './risk.js';

/** An account busy with many orders at once: every lost race is followed by a fresh read. */
const MAX_ATTEMPTS = 32;

/** The state as the controls see it for `orderId`: that order's own entries left out (a retried step). */
export function othersOf(state: AccountRiskState, orderId: string): { open: OpenOrder[]; recent: RecentOrder[] } {
  const open: OpenOrder[] = [];
  for (const id in state.open) {
    const o = state.open[id];
    if (o && id !== orderId) open.push(o);
  }
  return { open, recent: state.recent.filter((r) => r.order_id !== orderId) };
}

/** What the account's recent orders must keep: the throttle's limit and the duplicate window. */
export interface RecentPolicy {
  maxOrdersPerSecond: number;
  duplicateWindowMs: number;
}

/**
 * The state with `order` accepted: open, and counted among the recent orders. Recent orders are
 * kept only while a control can still use them, which bounds the item: the last
 * `maxOrdersPerSecond` within the throttle's second, and those with a fingerprint within the
 * duplicate window.
 */
export function withAccepted(
  state: AccountRiskState,
  order: OpenOrder,
  recent: RecentOrder,
  policy: RecentPolicy,
): AccountRiskState {
  const throttleFrom = recent.at_ms - THROTTLE_WINDOW_MS;
  const duplicateFrom = recent.at_ms - policy.duplicateWindowMs;
  const kept: RecentOrder[] = [];
  // Newest first, so the throttle keeps the most recent entries when it has to drop some.
  let throttleSlots = Math.max(0, policy.maxOrdersPerSecond - 1);
  for (let i = state.recent.length - 1; i >= 0; i--) {
    const r = state.recent[i];
    if (!r || r.order_id === order.order_id) continue;
    const forThrottle = r.at_ms > throttleFrom && throttleSlots > 0;
    const forDuplicates = r.fingerprint !== undefined && r.at_ms > duplicateFrom;
    if (forThrottle) throttleSlots--;
    if (forThrottle || forDuplicates) kept.push(r);
  }
  kept.reverse();
  kept.push(recent);
  return {
    account_id: state.account_id,
    revision: state.revision + 1,
    open: { ...state.open, [order.order_id]: order },
    recent: kept,
  };
}

/** The order as its reservation holds it: its side and size against positions, its value against capital. */
export function openOrderOf(order: Order, value: string): OpenOrder {
  return { order_id: order.order_id, symbol: order.symbol, side: order.side, quantity: order.quantity, value };
}

/**
 * Change an account's open orders by a conditional write, re-reading and retrying when another
 * writer got there first. `change` gets the current open orders and returns the new ones, or
 * undefined when nothing needs writing. True when this call wrote.
 */
export async function changeOpenOrders(
  store: Pick<AccountRiskStore, 'get' | 'putIfRevision'>,
  accountId: string,
  what: string,
  change: (open: Readonly<Record<string, OpenOrder>>) => Record<string, OpenOrder> | undefined,
): Promise<boolean> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const state = await store.get(accountId);
    const open = change(state.open);
    if (!open) return false;
    const next: AccountRiskState = { ...state, revision: state.revision + 1, open };
    if ((await store.putIfRevision(next, state.revision)) === 'written') return true;
  }
  throw new TransientError(`account ${accountId}: could not ${what} after ${MAX_ATTEMPTS} attempts`);
}

/**
 * The order is finished (filled, rejected, expired or failed): its value is no longer committed.
 * Idempotent; retried on conflict. Called by every step that ends an order after acceptance.
 */
export function releaseOrder(
  store: Pick<AccountRiskStore, 'get' | 'putIfRevision'>,
  accountId: string,
  orderId: string,
): Promise<boolean> {
  return changeOpenOrders(store, accountId, `release order ${orderId}`, (open) => {
    if (!open[orderId]) return undefined;
    const { [orderId]: _done, ...rest } = open;
    return rest;
  });
}
