// compliance: record_failure (the lifecycle's log_event) and checkpoint (tasks), GET /audit (query_audit_log),
// GET /reports/{report_type} (generate_report), and the proofs an auditor verifies offline:
// GET /audit/proofs/{event_id}, GET /audit/consistency, GET /audit/checkpoint.
import { type AgentAccess, type AgentHandler, type AgentLogger, agentHandler, routeKey } from '../agent-runtime.js';
import {
  type ComplianceDeps,
  currentCheckpoint,
  generateReport,
  parseAuditQuery,
  proveConsistency,
  proveInclusion,
  queryAuditLog,
  recordFailure,
} from '../core/compliance.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { validateOrder } from '../core/order.js';
import { reportToCsv } from '../core/reports.js';
import { json, pathParam, queryOf } from '../http.js';

export function createComplianceHandler(deps: ComplianceDeps, logger: AgentLogger, access: AgentAccess): AgentHandler {
  return agentHandler(
    logger,
    access,
    {
      routes: {
        'GET /audit': { action: 'query_audit_log' },
        'GET /audit/proofs/{event_id}': { action: 'query_audit_log' },
        'GET /audit/consistency': { action: 'query_audit_log' },
        'GET /audit/checkpoint': { action: 'query_audit_log' },
        'GET /reports/{report_type}': { action: 'generate_report' },
      },
      async handle({ event, caller: who }) {
        const caller = who.principal.id;
        switch (routeKey(event)) {
          case 'GET /audit': {
            const page = await queryAuditLog(deps, parseAuditQuery(queryOf(event)));
            return json(200, {
              records: page.items,
              count: page.items.length,
              ...(page.nextToken ? { next_token: page.nextToken } : {}),
            });
          }
          case 'GET /reports/{report_type}': {
            const { format, ...q } = queryOf(event);
            if (format !== undefined && format !== 'json' && format !== 'csv') {
              throw new ValidationError([{ field: 'format', rule: 'enum', message: 'format must be json or csv' }]);
            }
            const report = await generateReport(deps, { ...q, report_type: pathParam(event, 'report_type') }, caller);
            if (format === 'csv') {
              return { statusCode: 200, headers: { 'content-type': 'text/csv' }, body: reportToCsv(report) };
            }
            return json(200, report);
          }
          case 'GET /audit/proofs/{event_id}':
            return json(200, await proveInclusion(deps, pathParam(event, 'event_id')));
          case 'GET /audit/consistency':
            return json(200, await proveConsistency(deps, queryOf(event)));
          case 'GET /audit/checkpoint':
            return json(200, await currentCheckpoint(deps));
          default:
            throw new NotFoundError(`no route ${routeKey(event)}`);
        }
      },
    },
    {
      // The schedule's time rule: sign what the latest checkpoint does not cover yet.
      checkpoint: {
        action: 'sign_checkpoint',
        run: async () => {
          const cp = await deps.trail.checkpoint();
          return cp ? { tree_size: cp.tree_size, root_hash: cp.root_hash, timestamp: cp.timestamp } : { tree_size: 0 };
        },
      },
      // No task appends an event its caller writes: every agent appends its own decisions, with its
      // own role as the actor. The lifecycle's failure record is the one log_event it asks for.
      record_failure: {
        action: 'log_event',
        run: async ({ payload: p }) => {
          const r = await recordFailure(deps, validateOrder(p.order), p.error, String(p.execution_id ?? ''));
          return { event_id: r.event_id, sequence: r.sequence };
        },
      },
    },
  );
}
