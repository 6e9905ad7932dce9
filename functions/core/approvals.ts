// approval agent use cases: maker-checker. The maker is the order's trader; a checker must be
// someone else, must decide before the deadline, and every decision is audited before the
// workflow is told.
import type { AccountRiskStore, ApprovalStore, AuditSink, Clock, Page, Workflow } from '../ports.js';
import { releaseOrder } from './account-risk.js';
import {
  ApprovalExpired,
  ApprovalRejected,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
} from './errors.js';
import type { ApprovalRecord, Order } from './model.js';
import { addSeconds, formatNs, parseNs } from './time.js';

export interface ApprovalDeps {
  approvals: ApprovalStore;
  workflow: Pick<Workflow, 'sendTaskSuccess' | 'sendTaskFailure'>;
  /** A rejected or expired approval ends the order: its reserved value is released. */
  accountRisk: Pick<AccountRiskStore, 'get' | 'putIfRevision'>;
  audit: AuditSink;
  clock: Clock;
  identity: string;
  timeoutSeconds: number;
}

export interface RiskSummary {
  check_id: string;
  decision: string;
  order_value: string;
}

/** What Step Functions answers for a task token it no longer waits on. */
const TOKEN_CLOSED: ReadonlySet<string> = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

export const approvalIdFor = (orderId: string): string => `APR-${orderId}`;
/** The order an approval id is for (undefined when it is not one of ours). */
export const orderIdOfApproval = (approvalId: string): string | undefined =>
  approvalId.startsWith('APR-') && approvalId.length > 4 ? approvalId.slice(4) : undefined;

export async function requestApproval(
  deps: ApprovalDeps,
  order: Order,
  risk: RiskSummary,
  taskToken: string,
): Promise<ApprovalRecord> {
  const now = formatNs(deps.clock.nowNs());
  const approval: ApprovalRecord = {
    approval_id: approvalIdFor(order.order_id),
    order_id: order.order_id,
    status: 'PENDING',
    maker: order.trader_id,
    account_id: order.account_id,
    symbol: order.symbol,
    side: order.side,
    quantity: order.quantity,
    order_value: risk.order_value,
    risk_check_id: risk.check_id,
    task_token: taskToken,
    requested_at: now,
    expires_at: addSeconds(now, deps.timeoutSeconds),
  };
  // Stored before it is audited, so an approval that the record announces is already listable.
  const created = await deps.approvals.create(approval);
  let stored = created.created ? created.item : created.existing;
  let reason = `order value ${risk.order_value} is above the approval threshold; a checker other than ${order.trader_id} must approve by ${approval.expires_at}`;
  if (!created.created) {
    // A retried request step: it carries a new task token, the deadline stays the first one. The
    // retry is recorded too, which also covers a first attempt that stopped before its record.
    if (stored.status !== 'PENDING') {
      // Decided already (a lifecycle run again after a restart): hand the decision on record to
      // the new wait at once, instead of leaving it to time out.
      await replayDecision(deps, stored, taskToken);
      return stored;
    }
    if (isPast(stored.expires_at, now)) {
      // Retried after the deadline: the approval expires now rather than when the new wait ends.
      await expireApproval(deps, order, `the deadline ${stored.expires_at} passed before the request step was retried`);
      await replayDecision(deps, { ...stored, status: 'EXPIRED' }, taskToken);
      return (await deps.approvals.get(stored.approval_id)) ?? stored;
    }
    stored = (await deps.approvals.updateTaskToken(stored.approval_id, taskToken)) ?? stored;
    reason = `request step retried: new task token; the deadline stays ${stored.expires_at}`;
  }
  await deps.audit.append({
    event_type: 'approval_requested',
    order_id: order.order_id,
    trader_id: order.trader_id,
    actor: deps.identity,
    input: { approval_id: stored.approval_id, risk_check_id: risk.check_id, order_value: risk.order_value, order },
    decision: 'pending',
    reason,
  });
  return stored;
}

export type Verdict = 'approve' | 'reject';

/** A checker's decision through the API or the CLI. */
/** Roles (client certificate OU) that may act as a checker. */
export const CHECKER_ROLES: ReadonlySet<string> = new Set(['approver', 'risk-officer']);

export async function decide(
  deps: ApprovalDeps,
  approvalId: string,
  checker: { id: string; role: string | undefined },
  verdict: Verdict,
  reason: string | undefined,
): Promise<ApprovalRecord> {
  const approval = await deps.approvals.get(approvalId);
  if (!approval) throw new NotFoundError(`approval ${approvalId} not found`);
  // Who may decide comes first, whatever the state: every refused attempt is on the record.
  const refusal =
    checker.id === approval.maker
      ? { code: 'SELF_APPROVAL', why: 'the maker of an order cannot be its checker' }
      : !checker.role || !CHECKER_ROLES.has(checker.role)
        ? { code: 'NOT_AN_APPROVER', why: `role ${checker.role ?? '(none)'} may not decide approvals` }
        : undefined;
  if (refusal) {
    await deps.audit.append({
      event_type: 'approval_refused',
      order_id: approval.order_id,
      trader_id: approval.maker,
      actor: checker.id,
      input: { approval_id: approvalId, verdict, role: checker.role ?? null },
      decision: 'refused',
      reason: `${refusal.code}: ${refusal.why}`,
    });
    throw new ForbiddenError(
      `${checker.id} cannot ${verdict} order ${approval.order_id}: ${refusal.why}`,
      refusal.code,
    );
  }
  if (verdict === 'reject' && (!reason || reason.trim() === '')) {
    throw new ValidationError([{ field: 'reason', rule: 'required', message: 'a rejection needs a reason' }]);
  }
  const target = verdict === 'approve' ? 'APPROVED' : 'REJECTED';
  if (approval.status === target && approval.decided_by === checker.id) {
    // A decision repeated after the deadline is not delivered late.
    if (isPast(approval.expires_at, formatNs(deps.clock.nowNs()))) {
      throw new ConflictError(`approval ${approvalId} expired at ${approval.expires_at}`, 'APPROVAL_EXPIRED');
    }
    // The same checker repeating the same decision (e.g. after a failed delivery to the workflow):
    // deliver it again; the workflow takes one outcome per task token, so this is safe. A closed
    // token means it was delivered before (or the wait ended, which ExpireApproval records).
    try {
      await deliver(deps, approval, checker.id, verdict, approval.decided_at ?? '', approval.reason, false);
    } catch (err) {
      if (!TOKEN_CLOSED.has((err as Error).name)) throw err;
    }
    return (await deps.approvals.get(approvalId)) ?? approval;
  }
  if (approval.status !== 'PENDING') {
    throw new ConflictError(
      `approval ${approvalId} is already ${approval.status}${approval.decided_by ? ` by ${approval.decided_by}` : ''}${approval.decided_at ? ` at ${approval.decided_at}` : ''}`,
      `APPROVAL_${approval.status}`,
    );
  }
  const now = formatNs(deps.clock.nowNs());
  if (isPast(approval.expires_at, now)) {
    throw new ConflictError(`approval ${approvalId} expired at ${approval.expires_at}`, 'APPROVAL_EXPIRED');
  }
  const status = verdict === 'approve' ? 'APPROVED' : 'REJECTED';
  const decided = await deps.approvals.transition(approvalId, 'PENDING', {
    status,
    decided_by: checker.id,
    decided_at: now,
    ...(reason ? { reason } : {}),
  });
  if (!decided) throw new ConflictError(`approval ${approvalId} was decided concurrently`, 'APPROVAL_DECIDED');
  await auditDecision(deps, decided, checker.id, 'api');

  await deliver(deps, decided, checker.id, verdict, now, reason);
  return decided;
}

/** Tells the workflow; a token the workflow gave up on turns the approval into an expiry. */
async function deliver(
  deps: ApprovalDeps,
  approval: ApprovalRecord,
  checker: string,
  verdict: Verdict,
  decidedAt: string,
  reason: string | undefined,
  expireOnClosedToken = true,
): Promise<void> {
  try {
    if (verdict === 'approve') {
      await deps.workflow.sendTaskSuccess(approval.task_token, {
        approval_id: approval.approval_id,
        decision: 'approve',
        approved_by: checker,
        approved_at: decidedAt,
      });
    } else {
      await deps.workflow.sendTaskFailure(approval.task_token, 'ApprovalRejected', `rejected by ${checker}: ${reason}`);
    }
  } catch (err) {
    if (expireOnClosedToken && TOKEN_CLOSED.has((err as Error).name)) {
      if (isPast(approval.expires_at, formatNs(deps.clock.nowNs()))) {
        // The workflow gave up waiting first: the order expires, and the record must say so.
        const expired = await deps.approvals.transition(approval.approval_id, approval.status, {
          status: 'EXPIRED',
          reason: `decision by ${checker} arrived after the workflow timed out`,
        });
        if (expired) await auditExpiry(deps, expired, 'decision arrived after the approval wait timed out');
        throw new ConflictError(
          `approval ${approval.approval_id} expired before the decision reached the order`,
          'APPROVAL_EXPIRED',
        );
      }
      // Before the deadline a closed token means the workflow already took another answer (the
      // console was first); ConfirmApproval reconciles the record with what it received.
      throw new ConflictError(
        `approval ${approval.approval_id}: the order had already received another decision`,
        'APPROVAL_SUPERSEDED',
      );
    }
    throw err;
  }
}

/**
 * After the wait state: re-read the approval. A decision sent straight to the task token (the Step
 * Functions console) did not pass the API, so it is checked and recorded here.
 */
export async function confirmApproval(
  deps: ApprovalDeps,
  order: Order,
  output: unknown,
): Promise<{ approval_id: string; approved_by: string; approved_at: string }> {
  const approvalId = approvalIdFor(order.order_id);
  const approval = await deps.approvals.get(approvalId);
  if (!approval) throw new ApprovalRejected(`approval ${approvalId} not found`);
  const o = (typeof output === 'object' && output !== null ? output : {}) as Record<string, unknown>;
  const verdict = o.decision;
  const now = formatNs(deps.clock.nowNs());

  if (approval.status === 'APPROVED') {
    if (approval.decided_by === approval.maker) throw new ApprovalRejected('approved by its own maker');
    if (verdict === 'reject') {
      // The workflow received a rejection (the console was first) while an approval was being
      // recorded: what the order does follows what the workflow received.
      const rejected = await deps.approvals.transition(approvalId, 'APPROVED', {
        status: 'REJECTED',
        decided_by: consoleActor(o),
        decided_at: now,
        reason: `a rejection reached the workflow before the approval by ${approval.decided_by}`,
      });
      if (rejected) await auditDecision(deps, rejected, consoleActor(o), 'console');
      throw new ApprovalRejected('rejected in the console before the API approval reached the workflow');
    }
    return { approval_id: approvalId, approved_by: approval.decided_by ?? '', approved_at: approval.decided_at ?? '' };
  }
  if (approval.status === 'EXPIRED') throw new ApprovalExpired(`approval ${approvalId} expired`);
  if (approval.status !== 'PENDING') throw new ApprovalRejected(`approval ${approvalId} is ${approval.status}`);

  // A decision sent straight to the task token (the Step Functions console). Its approved_by is
  // asserted by whoever sent it (IAM decides who may; CloudTrail shows who did), so it is recorded
  // as such, and it still has to meet the deadline and the four-eyes rule.
  if (isPast(approval.expires_at, now)) {
    await expireApproval(deps, order, `a console decision arrived after the deadline ${approval.expires_at}`);
    throw new ApprovalExpired(`approval ${approvalId} expired at ${approval.expires_at}`);
  }
  const by = typeof o.approved_by === 'string' ? o.approved_by.trim() : '';
  const actor = consoleActor(o);
  let problem: string | undefined;
  if (verdict !== 'approve' && verdict !== 'reject') problem = 'decision must be "approve" or "reject"';
  else if (!by) problem = 'approved_by is required';
  else if (by === approval.maker) problem = 'SELF_APPROVAL: the maker of an order cannot be its checker';
  if (problem || verdict === 'reject') {
    const rejected = await deps.approvals.transition(approvalId, 'PENDING', {
      status: 'REJECTED',
      decided_by: actor,
      decided_at: now,
      reason: problem ?? (typeof o.reason === 'string' ? o.reason : 'rejected in the Step Functions console'),
    });
    if (rejected) await auditDecision(deps, rejected, actor, 'console');
    throw new ApprovalRejected(problem ?? `rejected by ${by}`);
  }
  const approved = await deps.approvals.transition(approvalId, 'PENDING', {
    status: 'APPROVED',
    decided_by: actor,
    decided_at: now,
    ...(typeof o.reason === 'string' ? { reason: o.reason } : {}),
  });
  if (!approved) throw new ApprovalRejected(`approval ${approvalId} changed while it was being confirmed`);
  await auditDecision(deps, approved, actor, 'console');
  return { approval_id: approvalId, approved_by: actor, approved_at: now };
}

/** The identity a console decision carries: asserted in its JSON, so marked as such. */
function consoleActor(o: Record<string, unknown>): string {
  const by = typeof o.approved_by === 'string' ? o.approved_by.trim() : '';
  return `console:${by || 'unknown'}`;
}

/** Hands a decision already on record to a new task token (the wait of a re-run lifecycle). */
async function replayDecision(deps: ApprovalDeps, a: ApprovalRecord, taskToken: string): Promise<void> {
  if (a.status === 'APPROVED') {
    await deps.workflow.sendTaskSuccess(taskToken, {
      approval_id: a.approval_id,
      decision: 'approve',
      approved_by: a.decided_by ?? '',
      approved_at: a.decided_at ?? '',
    });
  } else if (a.status === 'REJECTED') {
    await deps.workflow.sendTaskFailure(
      taskToken,
      'ApprovalRejected',
      `rejected by ${a.decided_by ?? 'unknown'}: ${a.reason ?? ''}`,
    );
  } else if (a.status === 'EXPIRED') {
    await deps.workflow.sendTaskFailure(taskToken, 'ApprovalExpired', a.reason ?? 'the approval expired');
  }
}

/** A rejection sent straight to the task token (SendTaskFailure): make the record say so. */
export async function recordRejection(deps: ApprovalDeps, order: Order, cause: string): Promise<void> {
  const approvalId = approvalIdFor(order.order_id);
  // Released first: a release that fails fails the step before the transition, so its retry still
  // finds the approval to transition and records it; and the record's sync covers the release too
  // (the local store).
  await releaseOrder(deps.accountRisk, order.account_id, order.order_id);
  const rejected = await deps.approvals.transition(approvalId, 'PENDING', {
    status: 'REJECTED',
    decided_by: 'console',
    decided_at: formatNs(deps.clock.nowNs()),
    reason: cause || 'rejected with SendTaskFailure',
  });
  if (rejected) await auditDecision(deps, rejected, 'console', 'console');
}

export async function expireApproval(deps: ApprovalDeps, order: Order, why: string): Promise<void> {
  const approvalId = approvalIdFor(order.order_id);
  // Released first, for the reasons recordRejection gives.
  await releaseOrder(deps.accountRisk, order.account_id, order.order_id);
  const current = await deps.approvals.get(approvalId);
  if (!current || current.status === 'EXPIRED' || current.status === 'REJECTED') return;
  const expired = await deps.approvals.transition(approvalId, current.status, { status: 'EXPIRED', reason: why });
  if (expired) await auditExpiry(deps, expired, why);
}

export function listPending(
  deps: Pick<ApprovalDeps, 'approvals'>,
  limit: number,
  nextToken?: string,
): Promise<Page<ApprovalRecord>> {
  return deps.approvals.listByStatus('PENDING', limit, nextToken);
}

async function auditDecision(
  deps: ApprovalDeps,
  a: ApprovalRecord,
  checker: string,
  via: 'api' | 'console',
): Promise<void> {
  await deps.audit.append({
    event_type: a.status === 'APPROVED' ? 'approved' : 'approval_rejected',
    order_id: a.order_id,
    trader_id: a.maker,
    actor: checker,
    input: {
      approval_id: a.approval_id,
      risk_check_id: a.risk_check_id,
      order_value: a.order_value,
      via,
      recorded_by: deps.identity,
    },
    decision: a.status === 'APPROVED' ? 'approved' : 'rejected',
    reason: a.reason ?? (a.status === 'APPROVED' ? `approved by ${checker}` : `rejected by ${checker}`),
  });
}

async function auditExpiry(deps: ApprovalDeps, a: ApprovalRecord, why: string): Promise<void> {
  await deps.audit.append({
    event_type: 'approval_expired',
    order_id: a.order_id,
    trader_id: a.maker,
    actor: deps.identity,
    input: { approval_id: a.approval_id, requested_at: a.requested_at, expires_at: a.expires_at },
    decision: 'expired',
    reason: why,
  });
}

function isPast(deadline: string, now: string): boolean {
  const d = parseNs(deadline);
  const n = parseNs(now);
  return d === undefined || n === undefined || n >= d;
}
