// compliance: log_event and record_failure (tasks), GET /audit (query_audit_log) and
// GET /reports/{report_type} (generate_report).
import { type AgentHandler, type AgentLogger, agentHandler, routeKey } from '../agent-runtime.js';
import {
  type ComplianceDeps,
  generateReport,
  logEvent,
  parseAuditQuery,
  queryAuditLog,
  recordFailure,
} from '../core/compliance.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import type { AuditEvent } from '../core/model.js';
import { validateOrder } from '../core/order.js';
import { reportToCsv } from '../core/reports.js';
import { callerOf, json, pathParam, queryOf } from '../http.js';

export function createComplianceHandler(deps: ComplianceDeps, logger: AgentLogger): AgentHandler {
  return agentHandler(
    logger,
    async (event) => {
      const caller = callerOf(event);
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
        default:
          throw new NotFoundError(`no route ${routeKey(event)}`);
      }
    },
    {
      log_event: async (p) => {
        const r = await logEvent(deps, p.event as AuditEvent);
        return { event_id: r.event_id, sequence: r.sequence };
      },
      record_failure: async (p) => {
        const r = await recordFailure(deps, validateOrder(p.order), p.error, String(p.execution_id ?? ''));
        return { event_id: r.event_id, sequence: r.sequence };
      },
    },
  );
}
