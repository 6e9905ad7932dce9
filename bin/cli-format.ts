// Human-readable output: compact tables of the platform's JSON answers (--json prints them raw).
import {
  ACCOUNT_LIMIT_FIELDS,
  type ApprovalRecord,
  type AuditRecord,
  FIRM_LIMIT_FIELDS,
  FIRM_SCOPE,
} from '../functions/core/model.js';
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

// ---- the risk officers' commands ----

type Row = Record<string, unknown>;
const text = (v: unknown): string => (v === undefined || v === null ? '-' : String(v));

/** GET /risk/limits/{account_id}: each limit stored and in force, symbol limits, temporary and pending changes. */
export function formatLimits(body: Row): string {
  const profile = (body.profile ?? {}) as Row;
  const effective = (body.effective ?? {}) as Row;
  const lines = [
    `account ${text(body.account_id)}: limits version ${text(profile.version)}, in force ${text(effective.version)} (as of ${text(body.as_of)})`,
    table(
      ['LIMIT', 'STORED', 'IN FORCE'],
      (body.account_id === FIRM_SCOPE ? FIRM_LIMIT_FIELDS : ACCOUNT_LIMIT_FIELDS).map((f) => [
        f,
        text(profile[f]),
        text(effective[f]),
      ]),
    ),
  ];
  const symbols = (effective.symbol_limits ?? {}) as Record<string, Row>;
  if (Object.keys(symbols).length > 0) {
    lines.push(
      '',
      'per symbol (in force):',
      table(
        ['SYMBOL', 'MAX_ORDER_VALUE', 'MAX_ORDER_QTY', 'MAX_POSITION_VALUE'],
        Object.entries(symbols).map(([s, l]) => [
          s,
          text(l.max_order_value),
          text(l.max_order_quantity),
          text(l.max_position_value),
        ]),
      ),
    );
  }
  const temporary = (profile.temporary ?? []) as Row[];
  if (temporary.length > 0) {
    lines.push(
      '',
      'temporary changes:',
      table(
        ['CHANGE', 'UNTIL', 'VALUES'],
        temporary.map((t) => [text(t.change_id), text(t.until), valuesText(t.values)]),
      ),
    );
  }
  const pending = (body.pending ?? []) as Row[];
  lines.push('', `pending changes: ${pending.length === 0 ? 'none' : ''}`.trimEnd());
  if (pending.length > 0) lines.push(formatLimitChangeTable(pending));
  return lines.join('\n');
}

function valuesText(values: unknown): string {
  return Object.entries((values ?? {}) as Row)
    .map(([k, v]) => `${k}=${text(v)}`)
    .join(' ');
}

function changesText(c: Row): string {
  const before = (c.before ?? {}) as Row;
  return Object.entries((c.values ?? {}) as Row)
    .map(([k, v]) => `${k} ${text(before[k])} -> ${text(v)}`)
    .join(', ');
}

function formatLimitChangeTable(changes: readonly Row[]): string {
  return table(
    ['CHANGE', 'ACCOUNT', 'STATUS', 'REQUESTED_BY', 'REQUESTED', 'UNTIL', 'CHANGES'],
    changes.map((c) => [
      text(c.change_id),
      text(c.account_id),
      text(c.status),
      text(c.requested_by),
      text(c.requested_at),
      text(c.until),
      changesText(c),
    ]),
  );
}

export function formatLimitChanges(changes: readonly Row[]): string {
  return [`${changes.length} limit change${changes.length === 1 ? '' : 's'}`, formatLimitChangeTable(changes)].join(
    '\n',
  );
}

/** A change as requested or decided. */
export function formatLimitChange(c: Row): string {
  const head = `${text(c.change_id)}: ${text(c.status)} ${text(c.account_id)} ${changesText(c)}${c.until ? ` until ${text(c.until)}` : ''}`;
  if (c.status === 'PENDING') {
    return `${head}\n  requested by ${text(c.requested_by)} (${text(c.reason)}); another risk officer must \`trading risk approve ${text(c.change_id)}\``;
  }
  const why = c.decision_reason ? ` (${text(c.decision_reason)})` : '';
  const applied = c.applied_version ? `; limits version ${text(c.applied_version)}` : '';
  return `${head}\n  ${text(c.status).toLowerCase()} by ${text(c.decided_by)} at ${text(c.decided_at)}${why}${applied}`;
}

export function formatTradingState(s: Row): string {
  const by = s.set_by ? ` set by ${text(s.set_by)} at ${text(s.set_at)}: ${text(s.reason)}` : ' (never set)';
  return `${text(s.scope)}: ${text(s.state)}${by}`;
}

export function formatRestrictions(symbol: string, items: readonly Row[]): string {
  return [
    `${symbol}: ${items.length} list entr${items.length === 1 ? 'y' : 'ies'}`,
    table(
      ['RESTRICTION', 'SCOPE', 'LIST', 'FROM', 'UNTIL', 'ADDED_BY', 'REASON'],
      items.map((r) => [
        text(r.restriction_id),
        text(r.scope),
        text(r.list),
        text(r.effective_from),
        text(r.effective_until),
        text(r.added_by),
        text(r.reason),
      ]),
    ),
  ].join('\n');
}

export function formatRestriction(r: Row): string {
  const until = r.effective_until ? ` until ${text(r.effective_until)}` : '';
  return `${text(r.restriction_id)}: ${text(r.symbol)} ${text(r.list)} for ${text(r.scope)} from ${text(r.effective_from)}${until} (${text(r.reason)})`;
}

export function formatLocates(items: readonly Row[]): string {
  return table(
    ['LOCATE', 'ACCOUNT', 'SYMBOL', 'QTY', 'SOURCE', 'OBTAINED', 'EXPIRES'],
    items.map((l) => [
      text(l.locate_id),
      text(l.account_id),
      text(l.symbol),
      text(l.quantity),
      text(l.source),
      text(l.obtained_at),
      text(l.expires_at),
    ]),
  );
}

export function formatHalt(h: Row, lifted = false): string {
  if (lifted) return `${text(h.symbol)}: ${text(h.kind)} lifted (it was set by ${text(h.set_by)} at ${text(h.since)})`;
  const until = h.until ? ` until ${text(h.until)}` : ' until resumed';
  return `${text(h.symbol)}: ${text(h.kind)} since ${text(h.since)}${until} (${text(h.reason)})`;
}

export function formatPrice(s: Row): string {
  return `${text(s.symbol)}: reference price ${text(s.reference_price)} as of ${text(s.price_as_of)}`;
}
