// Human-readable output: compact tables of the platform's JSON answers (--json prints them raw).
import type { ApprovalRecord, AuditRecord } from '../functions/core/model.js';
import type { OrderView } from '../functions/core/order-intake.js';
import type { PositionView } from '../functions/core/positions.js';
import type { Report } from '../functions/core/reports.js';

type Cell = string | number | null | undefined;

/** Columns padded to their widest cell; the last column is left ragged (reasons are long). */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  if (rows.length === 0) return '(none)';
  const text = [headers, ...rows].map((r) => headers.map((_, i) => cellText(r[i])));
  const widths = headers.map((_, i) => Math.max(...text.map((r) => (r[i] ?? '').length)));
  return text
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function cellText(c: Cell): string {
  if (c === null || c === undefined || c === '') return '-';
  // A table row is one line: a newline inside a reason would break it.
  return String(c).replace(/\s*\n\s*/g, ' ');
}

export function formatOrder(v: OrderView): string {
  const o = v.order;
  const lines = [
    `order ${v.order_id}: ${v.status}`,
    `  ${o.side} ${o.quantity} ${o.symbol} ${o.order_type}${o.price ? ` @ ${o.price}` : ''}  account ${o.account_id}  trader ${o.trader_id}`,
    `  submitted ${v.submitted_at}  execution ${v.execution_id}`,
  ];
  if (v.risk) {
    const reasons = v.risk.reasons.length > 0 ? `: ${v.risk.reasons.join(', ')}` : '';
    lines.push(`  risk: ${v.risk.decision}${reasons} (order value ${v.risk.order_value}, check ${v.risk.check_id})`);
  }
  if (v.execution) {
    const f = v.execution.fill;
    const how = f
      ? `${f.side} ${f.quantity} ${f.symbol} @ ${f.price} (venue ${f.venue_exec_id})`
      : (v.execution.venue_reason ?? 'no fill');
    lines.push(`  execution: ${v.execution.status} ${how} at ${v.execution.executed_at}`);
  }
  lines.push(
    '',
    table(
      ['SEQ', 'TIME', 'EVENT', 'DECISION', 'ACTOR', 'REASON'],
      v.history.map((h) => [h.sequence, h.timestamp, h.event_type, h.decision, h.actor, h.reason]),
    ),
  );
  return lines.join('\n');
}

export function formatApprovals(items: readonly ApprovalRecord[]): string {
  return [
    `${items.length} pending approval${items.length === 1 ? '' : 's'}`,
    table(
      ['APPROVAL', 'ORDER', 'MAKER', 'ACCOUNT', 'SIDE', 'QTY', 'SYMBOL', 'VALUE', 'REQUESTED', 'EXPIRES'],
      items.map((a) => [
        a.approval_id,
        a.order_id,
        a.maker,
        a.account_id,
        a.side,
        a.quantity,
        a.symbol,
        a.order_value,
        a.requested_at,
        a.expires_at,
      ]),
    ),
  ].join('\n');
}

export function formatDecision(a: Omit<ApprovalRecord, 'task_token'>): string {
  const by = a.decided_by ? ` by ${a.decided_by}` : '';
  const at = a.decided_at ? ` at ${a.decided_at}` : '';
  const why = a.reason ? ` (${a.reason})` : '';
  const next =
    a.status === 'APPROVED'
      ? `; order ${a.order_id} goes on to execution`
      : a.status === 'REJECTED'
        ? `; order ${a.order_id} is rejected`
        : '';
  return `${a.approval_id}: ${a.status}${by}${at}${why}${next}`;
}

export function formatAudit(records: readonly AuditRecord[], nextToken: string | undefined): string {
  const lines = [
    table(
      ['SEQ', 'TIME', 'EVENT', 'ORDER', 'DECISION', 'ACTOR', 'REASON'],
      records.map((r) => [r.sequence, r.timestamp, r.event_type, r.order_id, r.decision, r.actor, r.reason]),
    ),
    `${records.length} record${records.length === 1 ? '' : 's'}`,
  ];
  if (nextToken) lines.push(`more records: add --all, or --next-token ${nextToken}`);
  return lines.join('\n');
}

export function formatReport(r: Report): string {
  const columns = [...new Set(r.rows.flatMap((row) => Object.keys(row)))];
  const totals = Object.entries(r.totals)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    `${r.report_type} ${r.from} .. ${r.to} (generated ${r.generated_at} by ${r.generated_by})`,
    table(
      columns.map((c) => c.toUpperCase()),
      r.rows.map((row) => columns.map((c) => row[c])),
    ),
    `totals: ${totals || '-'}`,
  ].join('\n');
}

export function formatPositions(accountId: string, positions: readonly PositionView[]): string {
  return [
    `account ${accountId}`,
    table(
      ['SYMBOL', 'QTY', 'AVG_COST', 'REF_PRICE', 'MKT_VALUE', 'UNREALIZED', 'REALIZED', 'UPDATED'],
      positions.map((p) => [
        p.symbol,
        p.quantity,
        p.average_cost,
        p.reference_price,
        p.market_value,
        p.unrealized_pnl,
        p.realized_pnl,
        p.updated_at,
      ]),
    ),
  ].join('\n');
}

interface ErrorBody {
  error?: unknown;
  message?: unknown;
  code?: unknown;
  errors?: unknown;
  request_id?: unknown;
  requestId?: unknown;
}

/** The server's error, each field error as `field: rule — message`. */
export function formatServerError(status: number, route: string, body: unknown): string {
  if (typeof body !== 'object' || body === null) {
    return `${route} answered ${status}${body ? `: ${String(body)}` : ''}`;
  }
  const b = body as ErrorBody;
  const kind = [b.error, b.code].filter((x) => typeof x === 'string' && x !== '').join(' ');
  const lines = [
    `${route} answered ${status}${kind ? ` ${kind}` : ''}${typeof b.message === 'string' ? `: ${b.message}` : ''}`,
  ];
  if (Array.isArray(b.errors)) {
    for (const e of b.errors as Array<{ field?: unknown; rule?: unknown; message?: unknown }>) {
      lines.push(`  ${String(e.field ?? '?')}: ${String(e.rule ?? '?')} — ${String(e.message ?? '')}`);
    }
  }
  const requestId = b.request_id ?? b.requestId;
  if (typeof requestId === 'string') lines.push(`  request id: ${requestId}`);
  return lines.join('\n');
}
