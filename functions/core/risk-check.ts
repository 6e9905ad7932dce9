// risk agent use case: check_risk. Every control is evaluated on a snapshot (reference data from
// the cache, positions and the account's live risk state read consistently); an accepted order is
// committed to the account's state (its value reserved, counted by the throttle and the duplicate
// check) by a conditional write, re-evaluated if another order of the account got there first.
// The decision is stored once, then audited: a retried step gets the decision already on record,
// never a second opinion. A store that cannot be read rejects the order (fail closed).
import { randomUUID } from 'node:crypto';
import type { AccountRiskStore, AuditSink, Clock, OrderStore, PositionStore } from '../ports.js';
import { changeOpenOrders, openOrderOf, othersOf, releaseOrder, withAccepted } from './account-risk.js';
import { TransientError } from './errors.js';
import { type AccountRiskState, FIRM_SCOPE, type Order, type Position, type RiskCheck } from './model.js';
import { orderHash } from './order.js';
import type { ReferenceCache } from './reference-cache.js';
import {
  DEFAULT_MAX_ORDERS_PER_SECOND,
  evaluateRisk,
  orderFingerprint,
  type RiskEvaluation,
  type RiskSnapshot,
} from './risk.js';
import { openView, type PriceView } from './risk-views.js';
import { formatNs } from './time.js';

export interface RiskCheckDeps {
  orders: Pick<OrderStore, 'recordRisk'>;
  positions: Pick<PositionStore, 'list'>;
  reference: Pick<
    ReferenceCache,
    | 'getLimits'
    | 'getPrice'
    | 'getPrices'
    | 'getFirmSettings'
    | 'getTradingMode'
    | 'getRestrictions'
    | 'getLocates'
    | 'getHalt'
  >;
  accountRisk: Pick<AccountRiskStore, 'get' | 'putIfRevision'>;
  audit: AuditSink;
  clock: Clock;
  identity: string;
}

export interface RiskCheckResult {
  check_id: string;
  decision: RiskCheck['decision'];
  order_value: string;
  reasons: string[];
}

/** Another order of the account committing at the same moment: re-read and decide again. */
const MAX_COMMIT_ATTEMPTS = 32;

/** What a risk snapshot is read from (the risk step, and the execution step's re-check). */
export type RiskSnapshotDeps = Pick<RiskCheckDeps, 'positions' | 'reference' | 'accountRisk'>;

/**
 * Everything the controls read, at `nowNs`. The account's live state is read FIRST and positions
 * after: the steps that end an order release its reservation only after the position holds its
 * fill, so an order missing from this state is already in the positions read next (counted twice
 * in between, never zero times); a release or an acceptance after this read changes the state's
 * revision, which the commit's conditional write catches. A store error becomes `dataError`, and
 * `state` is then undefined.
 */
export async function loadRiskSnapshot(
  deps: RiskSnapshotDeps,
  order: Order,
  nowNs: bigint,
): Promise<{ snapshot: RiskSnapshot; state: AccountRiskState | undefined }> {
  try {
    const state = await deps.accountRisk.get(order.account_id);
    const [limits, firm, price, positions, firmMode, accountMode, restrictions, locates, halt] = await Promise.all([
      deps.reference.getLimits(order.account_id),
      deps.reference.getFirmSettings(),
      deps.reference.getPrice(order.symbol),
      deps.positions.list(order.account_id),
      deps.reference.getTradingMode(FIRM_SCOPE),
      deps.reference.getTradingMode(order.account_id),
      deps.reference.getRestrictions(order.symbol),
      deps.reference.getLocates(order.account_id, order.symbol),
      deps.reference.getHalt(order.symbol),
    ]);
    const held = positions.filter((p) => p.quantity !== 0 && p.symbol !== order.symbol).map((p) => p.symbol);
    const prices = held.length > 0 ? await deps.reference.getPrices(held) : new Map<string, PriceView>();
    const others = othersOf(state, order.order_id);
    return {
      snapshot: {
        order,
        nowNs,
        limits,
        firm,
        price,
        positions,
        prices,
        open: others.open.map(openView),
        recent: others.recent,
        firmMode,
        accountMode,
        restrictions,
        locates,
        halt,
      },
      state,
    };
  } catch (err) {
    // Fail closed: without its data no control can pass, and the record says which store failed.
    const e = err as Error;
    return {
      snapshot: {
        order,
        nowNs,
        dataError: `${e.name}: ${e.message}`,
        limits: undefined,
        firm: undefined,
        price: undefined,
        positions: [] as Position[],
        prices: new Map(),
        open: [],
        recent: [],
        firmMode: 'HALTED',
        accountMode: 'HALTED',
        restrictions: [],
        locates: [],
        halt: undefined,
      },
      state: undefined,
    };
  }
}

/**
 * Decide, and commit an acceptance to the account's state. A commit that loses a race reads
 * everything again (the state, then positions) and decides again: the second order of two sees
 * the first one's reservation or its fill. Nothing is released here: a rejection releases only once
 * the decision on record is known to be a rejection (a retried step's decision on record may be an
 * approval, whose reservation must hold meanwhile). `mayHoldOwn`: this order may have a reservation
 * from an earlier attempt (its own entry was in the state read, or the state could not be read).
 */
async function decideAndCommit(
  deps: RiskCheckDeps,
  order: Order,
): Promise<{ evaluation: RiskEvaluation; mayHoldOwn: boolean }> {
  for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
    const nowNs = deps.clock.nowNs();
    const { snapshot, state } = await loadRiskSnapshot(deps, order, nowNs);
    const evaluation = evaluateRisk(snapshot);
    if (!state) return { evaluation, mayHoldOwn: true };
    if (evaluation.decision === 'rejected') return { evaluation, mayHoldOwn: state.open[order.order_id] !== undefined };
    const next = withAccepted(
      state,
      openOrderOf(order, evaluation.order_value),
      {
        order_id: order.order_id,
        // An intended repeat is not itself a reference for the duplicate check.
        ...(order.duplicate_intended ? {} : { fingerprint: orderFingerprint(order) }),
        at_ms: Number(nowNs / 1_000_000n),
      },
      {
        maxOrdersPerSecond: snapshot.limits?.maxOrdersPerSecond ?? DEFAULT_MAX_ORDERS_PER_SECOND,
        duplicateWindowMs: snapshot.limits?.duplicateWindowMs ?? 0,
      },
    );
    // A write that fails outright is not a rejection: whether it landed is unknown, and a rejected
    // order ends without a step that would release it. The step is retried (and fails the order
    // through RecordFailure, which releases, if it keeps failing).
    if ((await deps.accountRisk.putIfRevision(next, state.revision)) === 'written') {
      return { evaluation, mayHoldOwn: true };
    }
  }
  throw new TransientError(
    `account ${order.account_id}: the risk state kept changing; no decision after ${MAX_COMMIT_ATTEMPTS} attempts`,
  );
}

/**
 * The decision on record is an acceptance that this attempt did not make as it stands (a retried
 * step decided otherwise, or valued the order otherwise): its value on record stays reserved,
 * whatever this attempt found.
 */
async function restoreReservation(deps: RiskCheckDeps, order: Order, stored: RiskCheck): Promise<void> {
  await changeOpenOrders(deps.accountRisk, order.account_id, `restore the reservation of ${order.order_id}`, (open) =>
    // Reserved at the value on record (this attempt may have priced the order differently).
    open[order.order_id]?.value === stored.order_value
      ? undefined
      : { ...open, [order.order_id]: openOrderOf(order, stored.order_value) },
  );
}

export async function checkRisk(deps: RiskCheckDeps, order: Order): Promise<RiskCheckResult> {
  const { evaluation, mayHoldOwn } = await decideAndCommit(deps, order);
  const check: RiskCheck = {
    check_id: randomUUID(),
    order_id: order.order_id,
    order_hash: orderHash(order),
    checked_at: formatNs(deps.clock.nowNs()),
    ...evaluation,
  };

  // Stored once, then audited: a retried step finds the decision already in force and records
  // that one again (marked as a replay), never a second opinion that was not in force.
  const stored = await deps.orders.recordRisk(order.order_id, check);
  const replay = stored.check_id !== check.check_id;
  if (stored.decision === 'rejected') {
    // Released only now that the rejection is the decision on record. If the release fails, the
    // step fails and its retry (a replay of this rejection) releases.
    if (replay || mayHoldOwn) {
      try {
        await releaseOrder(deps.accountRisk, order.account_id, order.order_id);
      } catch (err) {
        throw new TransientError(
          `order ${order.order_id} rejected; its reservation could not be released yet: ${(err as Error).message}`,
        );
      }
    }
  } else if (replay && (check.decision === 'rejected' || check.order_value !== stored.order_value)) {
    await restoreReservation(deps, order, stored);
  }
  const base = { order_id: order.order_id, trader_id: order.trader_id, actor: deps.identity };
  const note = replay ? 'replayed (step retried), the decision on record: ' : '';
  const writes = [
    deps.audit.append({
      ...base,
      event_type: 'risk_check',
      // Every control with the values it compared: the examiner's evidence.
      input: {
        order,
        check_id: stored.check_id,
        limits_version: stored.limits_version,
        order_value: stored.order_value,
        reference_price: stored.reference_price,
        controls: stored.controls,
        ...(replay ? { replayed: true } : {}),
      },
      decision: stored.decision,
      reason: note + (stored.reasons.length > 0 ? stored.reasons.join(', ') : 'all pre-trade controls passed'),
    }),
  ];
  if (stored.decision === 'rejected') {
    writes.push(
      deps.audit.append({
        ...base,
        event_type: 'order_rejected_risk',
        input: {
          check_id: stored.check_id,
          controls: stored.controls.filter((c) => !c.passed),
          ...(replay ? { replayed: true } : {}),
        },
        decision: 'rejected',
        reason: note + stored.reasons.join(', '),
      }),
    );
  }
  await Promise.all(writes);
  return {
    check_id: stored.check_id,
    decision: stored.decision,
    order_value: stored.order_value,
    reasons: stored.reasons,
  };
}
