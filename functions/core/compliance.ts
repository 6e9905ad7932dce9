// compliance agent use cases: log_event, record_failure, query_audit_log, generate_report.
import type { AccountRiskStore, AuditArchive, AuditIndex, AuditSink, Clock, OrderStore, Page } from '../ports.js';
import { releaseOrder } from './account-risk.js';
import { eventIdFor, hashRecord } from './audit-chain.js';
import {
  type ConsistencyProofBundle,
  consistencyBundleFromArchive,
  type InclusionProofBundle,
  inclusionBundleFromArchive,
} from './audit-proofs.js';
import { checkpointKey, parseCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import { type FieldError, IntegrityError, NotFoundError, ValidationError } from './errors.js';
import { AUDIT_EVENT_TYPES, type AuditEvent, type AuditEventType, type AuditRecord, type Order } from './model.js';
import { buildReport, REPORT_SOURCES, REPORT_TYPES, type Report, type ReportType } from './reports.js';
import { formatNs, parseNs } from './time.js';

/** The audit trail as auditors see it: its signed checkpoints and the write-once archive. */
export interface AuditTrail {
  /**
   * Signs a checkpoint of everything archived that the latest one does not cover yet, and returns
   * the latest checkpoint (undefined only for an empty log).
   */
  checkpoint(): Promise<SignedCheckpoint | undefined>;
  /** Records in the committed log. */
  size(): Promise<number>;
  archive: Pick<AuditArchive, 'list' | 'get'>;
}

export interface ComplianceDeps {
  audit: AuditSink;
  index: Pick<AuditIndex, 'queryByOrder' | 'queryByType' | 'queryByTrader'>;
  trail: AuditTrail;
  /** A failed order is finished: its reserved value is released (unless it filled). */
  accountRisk: Pick<AccountRiskStore, 'get' | 'putIfRevision'>;
  /** Whether a failed order had filled (its position may then lack the fill). */
  orders: Pick<OrderStore, 'get'>;
  clock: Clock;
  identity: string;
}

const EVENT_TYPES: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);

export function logEvent(deps: ComplianceDeps, event: AuditEvent): Promise<AuditRecord> {
  return deps.audit.append(event);
}

/** The state machine's catch-all: no order is left without a final record. */
export async function recordFailure(
  deps: ComplianceDeps,
  order: Order,
  error: unknown,
  executionId: string,
): Promise<AuditRecord> {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { Error?: unknown; Cause?: unknown };
  const name = typeof e.Error === 'string' ? e.Error : 'Unknown';
  const cause = typeof e.Cause === 'string' ? e.Cause.slice(0, 2000) : '';
  // The failure record must land whatever else fails; a reservation that could not be released
  // stays (it only holds capital back) and the record says so, for the risk desk to clear. An order
  // that filled keeps its reservation: its shares were bought or sold, and if the position update
  // is what failed, the reservation is the only place the risk gate still sees them.
  let releaseError: string | undefined;
  let filled = false;
  try {
    filled = (await deps.orders.get(order.order_id))?.execution?.status === 'FILLED';
    if (!filled) await releaseOrder(deps.accountRisk, order.account_id, order.order_id);
  } catch (err) {
    releaseError = `${(err as Error).name}: ${(err as Error).message}`;
  }
  return deps.audit.append({
    event_type: 'order_failed',
    order_id: order.order_id,
    trader_id: order.trader_id,
    actor: deps.identity,
    input: {
      execution_id: executionId,
      error: name,
      cause,
      ...(filled ? { reservation_kept: 'the order filled; its position may lack the fill until reconciled' } : {}),
      ...(releaseError ? { release_error: releaseError } : {}),
    },
    decision: 'failed',
    reason: `${name}${cause ? `: ${cause.slice(0, 300)}` : ''}`,
  });
}

export interface AuditQuery {
  order_id?: string;
  event_type?: AuditEventType;
  trader_id?: string;
  from?: string;
  to?: string;
  limit: number;
  next_token?: string;
}

export function parseAuditQuery(q: Record<string, string | undefined>): AuditQuery {
  const errors: FieldError[] = [];
  const allowed = new Set(['order_id', 'event_type', 'trader_id', 'from', 'to', 'limit', 'next_token']);
  for (const k of Object.keys(q))
    if (!allowed.has(k)) errors.push({ field: k, rule: 'unknown_field', message: `unknown parameter ${k}` });
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    errors.push({ field: 'limit', rule: 'range', message: 'limit must be a whole number from 1 to 1000' });
  }
  if (q.event_type !== undefined && !EVENT_TYPES.has(q.event_type)) {
    errors.push({
      field: 'event_type',
      rule: 'enum',
      message: `event_type must be one of ${AUDIT_EVENT_TYPES.join(', ')}`,
    });
  }
  const selectors = (['order_id', 'event_type', 'trader_id'] as const).filter((k) => q[k] !== undefined);
  if (selectors.length === 0) {
    errors.push({
      field: 'order_id',
      rule: 'required',
      message: 'give order_id, or event_type or trader_id with an optional from/to range',
    });
  } else if (selectors.length > 1) {
    errors.push({
      field: selectors[1] as string,
      rule: 'one_of',
      message: `give only one of order_id, event_type, trader_id (got ${selectors.join(', ')})`,
    });
  }
  for (const k of ['order_id', 'trader_id'] as const) {
    const v = q[k];
    if (v !== undefined && !/^[A-Za-z0-9._:@-]{1,128}$/.test(v)) {
      errors.push({ field: k, rule: 'format', message: `${k} must be 1-128 letters, digits or . _ : @ -` });
    }
  }
  if (q.order_id !== undefined && (q.from !== undefined || q.to !== undefined)) {
    errors.push({ field: 'from', rule: 'not_with_order_id', message: 'an order’s history is not filtered by time' });
  }
  const from = q.from !== undefined ? toTimestamp(q.from, 'start') : undefined;
  const to = q.to !== undefined ? toTimestamp(q.to, 'end') : undefined;
  if (q.from !== undefined && from === undefined)
    errors.push({ field: 'from', rule: 'format', message: 'from must be YYYY-MM-DD or an RFC 3339 UTC time' });
  if (q.to !== undefined && to === undefined)
    errors.push({ field: 'to', rule: 'format', message: 'to must be YYYY-MM-DD or an RFC 3339 UTC time' });
  if (from && to && from > to) errors.push({ field: 'to', rule: 'range', message: 'to must not be before from' });
  if (errors.length > 0) throw new ValidationError(errors);
  return {
    ...(q.order_id ? { order_id: q.order_id } : {}),
    ...(q.event_type ? { event_type: q.event_type as AuditEventType } : {}),
    ...(q.trader_id ? { trader_id: q.trader_id } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    limit,
    ...(q.next_token ? { next_token: q.next_token } : {}),
  };
}

const EARLIEST = '0000-01-01T00:00:00.000000000Z';
/** How far before a report's range its trades' approvals are looked for: the redrive window and a day. */
const APPROVAL_LOOKBACK_NS = 15n * 86_400_000_000_000n;
const LATEST = '9999-12-31T23:59:59.999999999Z';

export function queryAuditLog(deps: ComplianceDeps, q: AuditQuery): Promise<Page<AuditRecord>> {
  if (q.order_id) return deps.index.queryByOrder(q.order_id, q.limit, q.next_token);
  if (q.trader_id) {
    return deps.index.queryByTrader(q.trader_id, q.from ?? EARLIEST, q.to ?? LATEST, q.limit, q.next_token);
  }
  return deps.index.queryByType(q.event_type as string, q.from ?? EARLIEST, q.to ?? LATEST, q.limit, q.next_token);
}

export async function generateReport(
  deps: ComplianceDeps,
  params: Record<string, string | undefined>,
  requestedBy: string,
): Promise<Report> {
  const errors: FieldError[] = [];
  const type = params.report_type;
  if (!type || !(REPORT_TYPES as readonly string[]).includes(type)) {
    errors.push({
      field: 'report_type',
      rule: 'enum',
      message: `report_type must be one of ${REPORT_TYPES.join(', ')}`,
    });
  }
  const day = /^\d{4}-\d{2}-\d{2}$/;
  const from = params.from;
  const to = params.to;
  if (!from || !day.test(from) || !toTimestamp(from, 'start'))
    errors.push({ field: 'from', rule: 'format', message: 'from must be a date YYYY-MM-DD' });
  if (!to || !day.test(to) || !toTimestamp(to, 'end'))
    errors.push({ field: 'to', rule: 'format', message: 'to must be a date YYYY-MM-DD' });
  if (from && to && from > to) errors.push({ field: 'to', rule: 'range', message: 'to must not be before from' });
  if (errors.length > 0) throw new ValidationError(errors);
  const start = toTimestamp(from as string, 'start') as string;
  const end = toTimestamp(to as string, 'end') as string;
  // The report covers exactly the records the checkpoint covers: anyone holding the checkpoint can
  // prove each row's records are in the log, and the same request later gives the same rows.
  const checkpoint = await deps.trail.checkpoint();
  const covered = checkpoint?.tree_size ?? 0;

  const records = new Map<AuditEventType, AuditRecord[]>();
  await Promise.all(
    REPORT_SOURCES[type as ReportType].map(async (t) => {
      const all: AuditRecord[] = [];
      let token: string | undefined;
      do {
        // A trade early in the range may have been approved before it: an approval waits minutes,
        // but a Step Functions redrive may resume an approved order up to 14 days later.
        const since = t === 'approved' ? formatNs((parseNs(start) as bigint) - APPROVAL_LOOKBACK_NS) : start;
        const page = await deps.index.queryByType(t, since, end, 1000, token);
        for (const r of page.items) {
          if (r.sequence >= covered) continue;
          // The index is a copy: a record changed there without its hash is refused. (One changed
          // and re-hashed, or one deleted, is caught only against the archive: audit verify.)
          const { hash, ...rest } = r;
          if (hashRecord(rest) !== hash || r.event_id !== eventIdFor(r.sequence)) {
            throw new IntegrityError(`audit index record ${r.event_id} does not match its hash; run audit verify`);
          }
          all.push(r);
        }
        token = page.nextToken;
      } while (token);
      records.set(t, all);
    }),
  );
  const report = buildReport(type as ReportType, { from: from as string, to: to as string }, records, {
    generated_at: formatNs(deps.clock.nowNs()),
    generated_by: requestedBy,
    checkpoint: checkpoint ?? null,
  });
  // Who asked for what, against which checkpoint: recorded before the report is handed out.
  await deps.audit.append({
    event_type: 'report_generated',
    actor: requestedBy,
    input: {
      report_type: report.report_type,
      from: report.from,
      to: report.to,
      rows: report.rows.length,
      checkpoint_tree_size: covered,
      checkpoint_root_hash: checkpoint?.root_hash ?? null,
    },
    decision: 'generated',
    reason: `${report.report_type} ${report.from}..${report.to} for ${requestedBy}`,
  });
  return report;
}

function toTimestamp(v: string, edge: 'start' | 'end'): string | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const ts = `${v}T${edge === 'start' ? '00:00:00.000000000' : '23:59:59.999999999'}Z`;
    const ns = parseNs(ts);
    return ns !== undefined && formatNs(ns) === ts ? ts : undefined;
  }
  const ns = parseNs(v);
  return ns === undefined ? undefined : formatNs(ns);
}

/**
 * The inclusion proof of one record against the latest signed checkpoint (signed first if the
 * latest does not cover the record yet). An id that is malformed or names no record is refused
 * before anything is signed or written.
 */
export async function proveInclusion(deps: ComplianceDeps, eventId: string): Promise<InclusionProofBundle> {
  const m = /^EVT-(\d{20})$/.exec(eventId);
  const sequence = m ? Number(m[1]) : Number.NaN;
  if (!Number.isSafeInteger(sequence)) {
    throw new ValidationError([
      { field: 'event_id', rule: 'format', message: 'event_id must be EVT- and 20 digits (a record’s event_id)' },
    ]);
  }
  if (sequence >= (await deps.trail.size())) throw new NotFoundError(`no audit record ${eventId}`);
  // Signs over everything archived first, so a record that exists is covered.
  const checkpoint = await deps.trail.checkpoint();
  if (!checkpoint || checkpoint.tree_size <= sequence) {
    throw new NotFoundError(`audit record ${eventId} is not covered by a signed checkpoint yet; try again`);
  }
  return inclusionBundleFromArchive(deps.trail.archive, sequence, checkpoint);
}

/** The consistency proof between two archived checkpoints, named by their tree sizes. */
export async function proveConsistency(
  deps: ComplianceDeps,
  params: Record<string, string | undefined>,
): Promise<ConsistencyProofBundle> {
  const errors: FieldError[] = [];
  for (const k of Object.keys(params)) {
    if (k !== 'from' && k !== 'to') errors.push({ field: k, rule: 'unknown_field', message: `unknown parameter ${k}` });
  }
  const size = (field: 'from' | 'to'): number | undefined => {
    const v = params[field];
    const n = v !== undefined && /^\d{1,15}$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 1) {
      errors.push({
        field,
        rule: 'integer',
        message: `${field} must be a checkpoint's tree size (a whole number ≥ 1)`,
      });
      return undefined;
    }
    return n;
  };
  const from = size('from');
  const to = size('to');
  if (from !== undefined && to !== undefined && from > to) {
    errors.push({ field: 'to', rule: 'range', message: 'to must not be smaller than from' });
  }
  if (errors.length > 0) throw new ValidationError(errors);
  const read = async (field: 'from' | 'to', n: number): Promise<SignedCheckpoint> => {
    const text = await deps.trail.archive.get(checkpointKey(n));
    if (text === undefined) throw new NotFoundError(`${field}: no signed checkpoint of tree size ${n}`);
    return parseCheckpoint(text);
  };
  const [first, second] = await Promise.all([read('from', from as number), read('to', to as number)]);
  return consistencyBundleFromArchive(deps.trail.archive, first, second);
}

/** The latest signed checkpoint, after signing one over anything not covered yet. */
export async function currentCheckpoint(deps: ComplianceDeps): Promise<SignedCheckpoint> {
  const cp = await deps.trail.checkpoint();
  if (!cp) throw new NotFoundError('the audit log is empty: nothing to sign yet');
  return cp;
}
