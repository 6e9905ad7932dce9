// execution agent use case: execute_trade. Nothing reaches the venue unless the stored risk
// decision (re-read, consistently) is an approval for this exact order content, unused, and, when
// a checker was needed, the checker's approval is on record. An order that waited (for a checker,
// or for more than a second) has the controls that can change meanwhile checked again first: the
// kill switch, halts, the restricted lists, locates (a short sale), the price's age and the collar.
import type {
  AccountRiskStore,
  ApprovalStore,
  AuditSink,
  Clock,
  ExecutionOutcome,
  OrderStore,
  Venue,
} from '../ports.js';
import { type AccessDeps, type Caller, DEFAULT_DENY, enforce, refuseIfNeverAllowed, selfCaller } from './access.js';
import { releaseOrder } from './account-risk.js';
import { approvalIdFor } from './approvals.js';
import { TransientError } from './errors.js';
import type { ControlResult, Fill, Order } from './model.js';
import { orderHash } from './order.js';
import type { ReferenceCache } from './reference-cache.js';
import { type ControlName, evaluateRisk } from './risk.js';
import { loadRiskSnapshot, type RiskSnapshotDeps } from './risk-check.js';
import { formatNs, parseNs } from './time.js';

export class RiskApprovalNotVerified extends Error {
  override readonly name = 'RiskApprovalNotVerified';
}

export interface ExecutionDeps {
  /** The enforcement point: execute_trade for the caller, send_to_venue for this agent. */
  access: AccessDeps;
  orders: Pick<OrderStore, 'get' | 'recordExecution'>;
  approvals: Pick<ApprovalStore, 'get'>;
  reference: Pick<ReferenceCache, 'getSecurity'> & RiskSnapshotDeps['reference'];
  /** For the re-check of an order that waited. */
  positions: RiskSnapshotDeps['positions'];
  /** A venue rejection ends the order: its reserved value is released. */
  accountRisk: Pick<AccountRiskStore, 'get' | 'putIfRevision'>;
  venue: Venue;
  audit: AuditSink;
  clock: Clock;
  identity: string;
}

export interface ExecutionResult {
  status: 'FILLED' | 'REJECTED';
  fill: Fill | null;
  venue_reason?: string;
}

/** The venue, as the policies name it (the seed's exchange workload). */
export const VENUE = { type: 'Agent', id: 'exchange' } as const;

/**
 * has_risk_approval, made real: the risk check is verified in the store (see verify), and the
 * result is the policy context of both decisions: the caller's execute_trade, then this agent's
 * send_to_venue. The policies refuse either without a verified approval; a refusal is recorded.
 */
export async function executeTrade(
  deps: ExecutionDeps,
  order: Order,
  riskCheckId: string,
  caller: Caller,
): Promise<ExecutionResult> {
  const hash = orderHash(order);
  const rec = await deps.orders.get(order.order_id);
  const subject = { order_id: order.order_id, trader_id: order.trader_id };
  if (rec?.execution && rec.risk?.check_id === riskCheckId && rec.order_hash === hash) {
    // A retried step: the trade already happened under this verified check; answer with what was
    // recorded (the caller is still held to the policy).
    const context = { risk_check_id: riskCheckId, risk_approval_verified: true };
    await enforce(deps.access, caller, { action: 'execute_trade', context, ...subject });
    return settle(deps, order, riskCheckId, rec.execution, 'replayed');
  }

  const problem = await verify(deps, order, hash, riskCheckId, rec);
  const context = { risk_check_id: riskCheckId, risk_approval_verified: problem === undefined };
  if (problem !== undefined) {
    // A caller that may not release orders at all is refused as such (access_denied), and leaves
    // no trade_failed record on an order that is not its business.
    await refuseIfNeverAllowed(deps.access, caller, {
      action: 'execute_trade',
      context: { ...context, risk_approval_verified: true },
      ...subject,
    });
    // The releasing gate with an unverified approval: refused whatever the policies say (fail
    // closed); the record names the policy that decided.
    const decision = deps.access.policy.authorize({
      principal: caller.principal,
      action: 'execute_trade',
      resource: { type: 'Agent', id: deps.access.self },
      context,
    });
    return blocked(deps, order, riskCheckId, problem, decidedBy(decision.determiningPolicies));
  }
  await enforce(deps.access, caller, { action: 'execute_trade', context, ...subject });
  const stale = await recheck(deps, order, rec);
  if (stale) return refuseAtExecution(deps, order, riskCheckId, hash, stale);

  const security = await deps.reference.getSecurity(order.symbol);
  if (!security) return blocked(deps, order, riskCheckId, `no reference price for ${order.symbol}`);
  // The seed's execution -> exchange rule, this agent being the caller.
  await enforce(deps.access, selfCaller(deps.access.self, deps.identity), {
    action: 'send_to_venue',
    resource: VENUE,
    context,
    ...subject,
  });
  const venueResult = await deps.venue.submit({
    clientOrderId: order.order_id,
    symbol: order.symbol,
    side: order.side,
    quantity: order.quantity,
    orderType: order.order_type,
    ...(order.price !== undefined ? { limitPrice: order.price } : {}),
    referencePrice: security.reference_price,
  });
  const executedAt = formatNs(deps.clock.nowNs());
  const outcome: ExecutionOutcome =
    venueResult.status === 'FILLED'
      ? {
          status: 'FILLED',
          fill: {
            fill_id: `FILL-${order.order_id}-${venueResult.venueExecId}`,
            order_id: order.order_id,
            account_id: order.account_id,
            symbol: order.symbol,
            side: order.side,
            quantity: venueResult.quantity,
            price: venueResult.price,
            venue_exec_id: venueResult.venueExecId,
            executed_at: executedAt,
          },
          executed_at: executedAt,
        }
      : { status: 'REJECTED', fill: null, venue_reason: venueResult.reason, executed_at: executedAt };

  const recorded = await deps.orders.recordExecution(
    order.order_id,
    { checkId: riskCheckId, orderHash: hash },
    outcome,
  );
  if (recorded.result === 'not_verified') return blocked(deps, order, riskCheckId, recorded.reason);
  return settle(deps, order, riskCheckId, recorded.execution, recorded.result === 'duplicate' ? 'replayed' : 'new');
}

/**
 * Answer with the execution on record: a rejection ends the order, so its reservation is released
 * (a fill keeps it until the position holds the fill); then audited, new or replayed.
 */
async function settle(
  deps: ExecutionDeps,
  order: Order,
  riskCheckId: string,
  execution: ExecutionOutcome,
  kind: 'new' | 'replayed',
): Promise<ExecutionResult> {
  if (execution.status === 'REJECTED') await releaseOrder(deps.accountRisk, order.account_id, order.order_id);
  await auditOutcome(deps, order, riskCheckId, execution, kind);
  return toResult(execution);
}

/** The controls whose inputs can change while an order waits, checked again before the venue. */
export const RECHECKED_CONTROLS: ReadonlySet<ControlName> = new Set([
  'price_freshness',
  'price_collar',
  'restricted_list',
  'short_sale',
  'halt',
  'trading_state',
]);
/** A risk decision older than this is re-checked before the venue (every order a checker approved is). */
export const RECHECK_AFTER_MS = 1000;

/** The re-checked controls that now fail, or undefined when none does (or no re-check is due). */
async function recheck(
  deps: ExecutionDeps,
  order: Order,
  rec: Awaited<ReturnType<OrderStore['get']>>,
): Promise<ControlResult[] | undefined> {
  const risk = rec?.risk;
  if (!risk) return undefined;
  const nowNs = deps.clock.nowNs();
  const checkedNs = parseNs(risk.checked_at) ?? 0n;
  const waited = risk.decision === 'needs_approval' || nowNs - checkedNs > BigInt(RECHECK_AFTER_MS) * 1_000_000n;
  if (!waited) return undefined;
  // The same snapshot and the same controls as the risk step (the order's own reservation left
  // out); only the market-state controls are taken: the limits were decided by the risk step and,
  // for a large order, approved by a checker. A store error fails them too (fail closed).
  const { snapshot } = await loadRiskSnapshot(deps, order, nowNs);
  // A store that cannot be read says nothing about the market: the step fails and is retried (and
  // if it keeps failing, the order fails, released), rather than ending REJECTED for a halt that
  // nobody set.
  if (snapshot.dataError !== undefined) throw new TransientError(`pre-execution re-check: ${snapshot.dataError}`);
  const failed = evaluateRisk(snapshot).controls.filter(
    (c) => !c.passed && RECHECKED_CONTROLS.has(c.control as ControlName),
  );
  return failed.length > 0 ? failed : undefined;
}

/**
 * The order ends REJECTED without reaching the venue: recorded as the execution (the approval is
 * consumed), released, audited with the controls that failed.
 */
async function refuseAtExecution(
  deps: ExecutionDeps,
  order: Order,
  riskCheckId: string,
  hash: string,
  failed: ControlResult[],
): Promise<ExecutionResult> {
  const codes = failed.map((c) => c.reason_code ?? c.control);
  const outcome: ExecutionOutcome = {
    status: 'REJECTED',
    fill: null,
    venue_reason: `PRE_EXECUTION_CHECK: ${codes.join(', ')}`,
    executed_at: formatNs(deps.clock.nowNs()),
  };
  const recorded = await deps.orders.recordExecution(
    order.order_id,
    { checkId: riskCheckId, orderHash: hash },
    outcome,
  );
  if (recorded.result === 'not_verified') return blocked(deps, order, riskCheckId, recorded.reason);
  // Another attempt recorded its outcome first (it may have filled): that one stands.
  if (recorded.result === 'duplicate') return settle(deps, order, riskCheckId, recorded.execution, 'replayed');
  await releaseOrder(deps.accountRisk, order.account_id, order.order_id);
  await deps.audit.append({
    event_type: 'trade_failed',
    order_id: order.order_id,
    trader_id: order.trader_id,
    actor: deps.identity,
    input: { order, risk_check_id: riskCheckId, controls: failed },
    decision: 'rejected',
    reason: `pre-execution re-check failed: ${codes.join(', ')}`,
  });
  return toResult(recorded.execution);
}

async function verify(
  deps: ExecutionDeps,
  order: Order,
  hash: string,
  riskCheckId: string,
  rec: Awaited<ReturnType<OrderStore['get']>>,
): Promise<string | undefined> {
  if (!rec) return `order ${order.order_id} is not on record`;
  if (rec.order_hash !== hash) return 'the order to execute differs from the order on record';
  const risk = rec.risk;
  if (!risk) return 'no risk decision on record';
  if (risk.check_id !== riskCheckId)
    return `risk check ${riskCheckId} is not the decision on record (${risk.check_id})`;
  if (risk.order_hash !== hash) return 'the risk decision was made for different order content';
  if (risk.decision === 'rejected') return 'the risk decision on record is a rejection';
  if (rec.execution) return 'the risk approval was already used';
  if (risk.decision === 'needs_approval') {
    const approval = await deps.approvals.get(approvalIdFor(order.order_id));
    if (approval?.status !== 'APPROVED')
      return `the order needs a checker's approval and has ${approval?.status ?? 'none'}`;
    if (approval.risk_check_id !== riskCheckId) return 'the approval was given for a different risk check';
    if (!approval.decided_by || approval.decided_by === approval.maker)
      return 'the approval was not given by an independent checker';
  }
  return undefined;
}

const decidedBy = (policies: readonly string[]): string[] => (policies.length > 0 ? [...policies] : [DEFAULT_DENY]);

async function blocked(
  deps: ExecutionDeps,
  order: Order,
  riskCheckId: string,
  reason: string,
  decided?: readonly string[],
): Promise<never> {
  await deps.audit.append({
    event_type: 'trade_failed',
    order_id: order.order_id,
    trader_id: order.trader_id,
    actor: deps.identity,
    input: { order, risk_check_id: riskCheckId, ...(decided ? { decided_by: [...decided] } : {}) },
    decision: 'blocked',
    reason: `RISK_APPROVAL_NOT_VERIFIED: ${reason}`,
  });
  throw new RiskApprovalNotVerified(reason);
}

async function auditOutcome(
  deps: ExecutionDeps,
  order: Order,
  riskCheckId: string,
  outcome: ExecutionOutcome,
  kind: 'new' | 'replayed',
): Promise<void> {
  const filled = outcome.status === 'FILLED';
  await deps.audit.append({
    event_type: filled ? 'trade_executed' : 'trade_failed',
    order_id: order.order_id,
    trader_id: order.trader_id,
    actor: deps.identity,
    // A retried step re-records the execution on record: same decision, marked as a replay.
    input: {
      order,
      risk_check_id: riskCheckId,
      fill: outcome.fill,
      executed_at: outcome.executed_at,
      ...(kind === 'replayed' ? { replayed: true } : {}),
    },
    decision: filled ? 'filled' : 'rejected',
    reason:
      (kind === 'replayed' ? 'replayed (step retried), the execution on record: ' : '') +
      (filled
        ? `filled ${outcome.fill?.quantity} ${order.symbol} at ${outcome.fill?.price}`
        : outcome.venue_reason?.startsWith('PRE_EXECUTION_CHECK: ')
          ? `pre-execution re-check failed: ${outcome.venue_reason.slice('PRE_EXECUTION_CHECK: '.length)}`
          : `venue rejected: ${outcome.venue_reason ?? 'unknown'}`),
  });
}

function toResult(e: ExecutionOutcome): ExecutionResult {
  return { status: e.status, fill: e.fill, ...(e.venue_reason ? { venue_reason: e.venue_reason } : {}) };
}
