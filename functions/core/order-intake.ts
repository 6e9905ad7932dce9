// order-router use cases: submit_order (validate, record, audit, start the lifecycle) and status.
import type { AuditIndex, AuditSink, Clock, OrderStore, Workflow } from '../ports.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from './errors.js';
import { type AuditRecord, FINAL_STATUSES, type Order, type OrderRecord, type OrderStatus } from './model.js';
import { orderHash, parseJsonBody, validateOrder } from './order.js';
import { deriveStatus } from './order-status.js';
import type { ReferenceCache } from './reference-cache.js';
import { formatNs } from './time.js';

export interface OrderIntakeDeps {
  orders: OrderStore;
  reference: Pick<ReferenceCache, 'getRiskProfile'>;
  audit: AuditSink;
  auditIndex: Pick<AuditIndex, 'queryByOrder'>;
  workflow: Workflow;
  clock: Clock;
  /** This agent's identity, written into every record it makes. */
  identity: string;
}

export interface Answer {
  statusCode: number;
  body: Record<string, unknown>;
}

/** Raw input kept in an order_invalid record, bounded so a hostile body cannot bloat the log. */
const MAX_RAW_AUDIT = 4096;

/** The enforcement point's decisions on a submission (each throws, audited, when it refuses). */
export interface SubmissionAccess {
  /** On a well-formed order: this caller, this order. */
  authorize(order: Order): Promise<void>;
  /** Before an invalid order is recorded: may this caller submit orders at all? */
  beforeRecordingInvalid(): Promise<void>;
}

/**
 * A well-formed order is authorised (the caller's entitlements to its account, in its own name)
 * before anything about the account is looked up; a malformed one is answered with its field errors.
 */
export async function submitOrder(
  deps: OrderIntakeDeps,
  rawBody: string | null,
  caller: string,
  access: SubmissionAccess,
): Promise<Answer> {
  let order: Order;
  try {
    order = validateOrder(parseJsonBody(rawBody));
    await access.authorize(order);
    if (!(await deps.reference.getRiskProfile(order.account_id))) {
      throw new ValidationError([
        { field: 'account_id', rule: 'known_account', message: `unknown account ${order.account_id}` },
      ]);
    }
    // The maker of an order is the authenticated caller, never a name in the body.
    if (order.trader_id !== caller) {
      await auditRefusal(
        deps,
        order,
        caller,
        'refused',
        `TRADER_MISMATCH: caller ${caller} may not submit for trader ${order.trader_id}`,
      );
      throw new ForbiddenError(`${caller} may not submit orders for trader ${order.trader_id}`, 'TRADER_MISMATCH');
    }
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    await access.beforeRecordingInvalid();
    await deps.audit.append({
      event_type: 'order_invalid',
      ...orderIdOf(rawBody),
      actor: deps.identity,
      input: { caller, body: (rawBody ?? '').slice(0, MAX_RAW_AUDIT) },
      decision: 'rejected',
      reason: err.errors.map((e) => `${e.field}:${e.rule}`).join(', '),
    });
    return { statusCode: 400, body: { error: 'ValidationError', message: 'the order is invalid', errors: err.errors } };
  }

  const hash = orderHash(order);
  const executionId = deps.workflow.executionIdFor(order.order_id);
  const record: OrderRecord = {
    order_id: order.order_id,
    order,
    order_hash: hash,
    submitted_at: formatNs(deps.clock.nowNs()),
    submitted_by: caller,
    execution_id: executionId,
    answer: {
      statusCode: 202,
      body: {
        order_id: order.order_id,
        status: 'ACCEPTED',
        execution_id: executionId,
        status_url: `/orders/${order.order_id}`,
      },
    },
  };
  const created = await deps.orders.create(record);
  if (!created.created) {
    if (created.existing.order_hash !== hash) {
      await auditRefusal(
        deps,
        order,
        caller,
        'rejected',
        'IDEMPOTENCY_CONFLICT: order_id already used for a different order',
      );
      throw new ConflictError(
        `order_id ${order.order_id} was already submitted with a different body`,
        'IDEMPOTENCY_CONFLICT',
      );
    }
    // Same order again: the first answer. Starting again is a no-op, and heals a first attempt
    // that stopped between recording the order and starting its lifecycle.
    if (!(await hasRecord(deps, order.order_id, 'order_submitted'))) {
      await auditSubmitted(deps, created.existing.order, caller);
    }
    await deps.workflow.start(order.order_id, { order: created.existing.order });
    return created.existing.answer;
  }

  await auditSubmitted(deps, order, caller);
  await deps.workflow.start(order.order_id, { order });
  return record.answer;
}

function orderIdOf(rawBody: string | null): { order_id?: string } {
  try {
    const v = JSON.parse(rawBody ?? '') as { order_id?: unknown };
    if (typeof v.order_id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v.order_id)) return { order_id: v.order_id };
  } catch {
    // the body was not JSON: nothing to index the record under
  }
  return {};
}

export interface OrderView {
  order_id: string;
  status: OrderStatus;
  order: Order;
  submitted_at: string;
  execution_id: string;
  risk?: { check_id: string; decision: string; reasons: string[]; order_value: string };
  execution?: OrderRecord['execution'];
  /** Why the lifecycle stopped, when it ended without a final audit record. */
  failure?: { error: string; cause: string };
  history: Array<
    Pick<AuditRecord, 'sequence' | 'event_id' | 'timestamp' | 'event_type' | 'actor' | 'decision' | 'reason'>
  >;
}

/**
 * `authorize` sees the order's account ("" when there is no such order) before anything is
 * answered, so a caller learns nothing of orders outside its entitlements, not even that they exist.
 */
export async function getOrder(
  deps: OrderIntakeDeps,
  orderId: string,
  authorize: (accountId: string) => Promise<void>,
): Promise<OrderView> {
  const rec = await deps.orders.get(orderId);
  await authorize(rec?.order.account_id ?? '');
  if (!rec) throw new NotFoundError(`order ${orderId} not found`);
  const records: AuditRecord[] = [];
  let token: string | undefined;
  do {
    const page = await deps.auditIndex.queryByOrder(orderId, 100, token);
    records.push(...page.items);
    token = page.nextToken;
  } while (token);
  let status = deriveStatus(records);
  let failure: OrderView['failure'];
  // A lifecycle resumed after a restart runs under a new execution; the latest one counts.
  const resumed = records.filter((r) => r.event_type === 'order_resumed').at(-1);
  const current = (resumed?.input as { resumed_execution?: string } | undefined)?.resumed_execution ?? rec.execution_id;
  if (!FINAL_STATUSES.has(status)) {
    // No final record: if the lifecycle itself ended abnormally, the order failed.
    const exec = await deps.workflow.describe(current);
    if (exec && exec.status !== 'RUNNING' && exec.status !== 'SUCCEEDED') {
      status = 'FAILED';
      // E.g. AuditTrailUnavailable: the order stopped because nothing more could be recorded.
      failure = { error: exec.error ?? exec.status, cause: (exec.cause ?? '').slice(0, 1000) };
    }
  }
  return {
    order_id: rec.order_id,
    status,
    order: rec.order,
    submitted_at: rec.submitted_at,
    execution_id: current,
    ...(rec.risk
      ? {
          risk: {
            check_id: rec.risk.check_id,
            decision: rec.risk.decision,
            reasons: rec.risk.reasons,
            order_value: rec.risk.order_value,
          },
        }
      : {}),
    ...(rec.execution ? { execution: rec.execution } : {}),
    ...(failure ? { failure } : {}),
    history: records.map((r) => ({
      sequence: r.sequence,
      event_id: r.event_id,
      timestamp: r.timestamp,
      event_type: r.event_type,
      actor: r.actor,
      decision: r.decision,
      reason: r.reason,
    })),
  };
}

/** A well-formed order that is not accepted: on the record under its order_id, with who sent it. */
function auditRefusal(
  deps: OrderIntakeDeps,
  order: Order,
  caller: string,
  decision: 'refused' | 'rejected',
  reason: string,
): Promise<AuditRecord> {
  return deps.audit.append({
    event_type: 'order_invalid',
    order_id: order.order_id,
    trader_id: order.trader_id,
    actor: deps.identity,
    input: { caller, order },
    decision,
    reason,
  });
}

function auditSubmitted(deps: OrderIntakeDeps, order: Order, caller: string): Promise<AuditRecord> {
  return deps.audit.append({
    event_type: 'order_submitted',
    order_id: order.order_id,
    trader_id: order.trader_id,
    actor: deps.identity,
    input: { caller, order },
    decision: 'accepted',
    reason: 'order is well-formed; sent to the pre-trade risk check',
  });
}

/** Whether the order's audit records include one of this type (refused attempts may come first). */
async function hasRecord(deps: OrderIntakeDeps, orderId: string, type: AuditRecord['event_type']): Promise<boolean> {
  let token: string | undefined;
  do {
    const page = await deps.auditIndex.queryByOrder(orderId, 100, token);
    if (page.items.some((r) => r.event_type === type)) return true;
    token = page.nextToken;
  } while (token);
  return false;
}
