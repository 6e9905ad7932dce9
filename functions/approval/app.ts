// approval: maker-checker. Tasks: request_approval (callback wait), confirm_approval,
// record_rejection, expire_approval. API: list pending, approve, reject.
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { type AgentAccess, type AgentHandler, type AgentLogger, agentHandler, routeKey } from '../agent-runtime.js';
import { roleOf } from '../caller-identity.js';
import {
  type ApprovalDeps,
  confirmApproval,
  decide,
  expireApproval,
  listPending,
  orderIdOfApproval,
  type RiskSummary,
  recordRejection,
  requestApproval,
} from '../core/approvals.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { validateOrder } from '../core/order.js';
import { json, objectBody, pathParam, pathValue, queryOf } from '../http.js';

export function createApprovalHandler(deps: ApprovalDeps, logger: AgentLogger, access: AgentAccess): AgentHandler {
  return agentHandler(
    logger,
    access,
    {
      routes: {
        'GET /approvals': { action: 'list_approvals' },
        'POST /approvals/{approval_id}/approve': { action: 'approve', subject: approvalSubject },
        'POST /approvals/{approval_id}/reject': { action: 'reject', subject: approvalSubject },
      },
      async handle({ event, caller: who }) {
        const caller = who.principal.id;
        const key = routeKey(event);
        switch (key) {
          case 'GET /approvals': {
            const q = queryOf(event);
            const limit = q.limit === undefined ? 50 : Number(q.limit);
            if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
              throw new ValidationError([
                { field: 'limit', rule: 'range', message: 'limit must be a whole number from 1 to 500' },
              ]);
            }
            const page = await listPending(deps, limit, q.next_token);
            // Task tokens stay inside the platform: a decision goes through this API (or the console).
            const approvals = page.items.map(({ task_token: _hidden, ...view }) => view);
            return json(200, { approvals, ...(page.nextToken ? { next_token: page.nextToken } : {}) });
          }
          case 'POST /approvals/{approval_id}/approve':
          case 'POST /approvals/{approval_id}/reject': {
            const body = objectBody(event);
            const extra = Object.keys(body).filter((k) => k !== 'reason');
            const errors = extra.map((k) => ({
              field: k,
              rule: 'unknown_field',
              message: `unknown field ${JSON.stringify(k)}`,
            }));
            if (body.reason !== undefined && typeof body.reason !== 'string') {
              errors.push({ field: 'reason', rule: 'type', message: 'reason must be a string' });
            }
            if (errors.length > 0) throw new ValidationError(errors);
            const verdict = key.endsWith('/approve') ? 'approve' : 'reject';
            const decided = await decide(
              deps,
              pathParam(event, 'approval_id'),
              { id: caller, role: roleOf(who) },
              verdict,
              body.reason as string | undefined,
            );
            const { task_token: _hidden, ...view } = decided;
            return json(200, view);
          }
          default:
            throw new NotFoundError(`no route ${key}`);
        }
      },
    },
    {
      request_approval: {
        action: 'request_approval',
        run: async ({ payload: p }) => {
          await requestApproval(deps, validateOrder(p.order), riskOf(p.risk), taskTokenOf(p.task_token));
          return { status: 'PENDING' };
        },
      },
      confirm_approval: {
        action: 'confirm_approval',
        run: ({ payload: p }) => confirmApproval(deps, validateOrder(p.order), p.approval),
      },
      record_rejection: {
        action: 'record_rejection',
        run: async ({ payload: p }) => {
          const cause = (p.error as { Cause?: unknown } | undefined)?.Cause;
          await recordRejection(deps, validateOrder(p.order), typeof cause === 'string' ? cause : '');
          return { status: 'REJECTED' };
        },
      },
      expire_approval: {
        action: 'expire_approval',
        run: async ({ payload: p }) => {
          await expireApproval(deps, validateOrder(p.order), 'no checker decided within the approval window');
          return { status: 'EXPIRED' };
        },
      },
    },
  );
}

/** A refused decision is indexed under the order the approval is for. */
function approvalSubject(event: APIGatewayProxyEvent): { order_id?: string } {
  const orderId = orderIdOfApproval(pathValue(event, 'approval_id'));
  return orderId === undefined ? {} : { order_id: orderId };
}

function riskOf(v: unknown): RiskSummary {
  const r = v as Partial<RiskSummary> | undefined;
  if (!r || typeof r.check_id !== 'string' || typeof r.order_value !== 'string' || typeof r.decision !== 'string') {
    throw new ValidationError([
      { field: 'risk', rule: 'required', message: 'the risk decision (check_id, decision, order_value) is required' },
    ]);
  }
  return { check_id: r.check_id, decision: r.decision, order_value: r.order_value };
}

function taskTokenOf(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) {
    throw new ValidationError([{ field: 'task_token', rule: 'required', message: 'task_token is required' }]);
  }
  return v;
}
