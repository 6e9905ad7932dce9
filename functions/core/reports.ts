// Regulatory reports computed from audit records (never from mutable state).

import type { SignedCheckpoint } from './checkpoint.js';
import { Decimal } from './decimal.js';
import type { AuditEventType, AuditRecord, Fill } from './model.js';

export const REPORT_TYPES = [
  'daily_trading_activity',
  'risk_violations',
  'rejected_orders',
  'high_value_trades',
] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

/** The event types each report is computed from (only these are read for it). */
export const REPORT_SOURCES: Readonly<Record<ReportType, readonly AuditEventType[]>> = {
  daily_trading_activity: ['trade_executed'],
  risk_violations: ['order_rejected_risk'],
  rejected_orders: ['order_invalid', 'order_rejected_risk', 'approval_rejected', 'approval_expired', 'trade_failed'],
  high_value_trades: ['trade_executed', 'approved'],
};

export interface Report {
  report_type: ReportType;
  from: string;
  to: string;
  generated_at: string;
  generated_by: string;
  /** The signed checkpoint the report was computed against: only records it covers are counted. */
  checkpoint: SignedCheckpoint | null;
  rows: Array<Record<string, string | number>>;
  totals: Record<string, string | number>;
}

const fillOf = (r: AuditRecord): Fill | undefined => (r.input as { fill?: Fill | null } | null)?.fill ?? undefined;

export function buildReport(
  type: ReportType,
  range: { from: string; to: string },
  byType: ReadonlyMap<AuditEventType, AuditRecord[]>,
  meta: { generated_at: string; generated_by: string; checkpoint: SignedCheckpoint | null },
): Report {
  const get = (t: AuditEventType) => byType.get(t) ?? [];
  // Retried steps re-record an execution (marked replayed): count each order's trade once.
  const trades = firstPerOrder(get('trade_executed').filter((r) => r.decision === 'filled'));
  let rows: Report['rows'] = [];
  let totals: Report['totals'] = {};

  switch (type) {
    case 'daily_trading_activity': {
      const groups = new Map<string, { trades: number; bought: number; sold: number; notional: Decimal }>();
      for (const r of trades) {
        const f = fillOf(r);
        // A trade belongs to the day it executed (a replay recorded later still carries that day).
        const day = f?.executed_at.slice(0, 10);
        if (!f || !day || day < range.from || day > range.to) continue;
        const key = `${day}|${f.symbol}`;
        const g = groups.get(key) ?? { trades: 0, bought: 0, sold: 0, notional: Decimal.ZERO };
        g.trades += 1;
        if (f.side === 'BUY') g.bought += f.quantity;
        else g.sold += f.quantity;
        g.notional = g.notional.add(Decimal.parse(f.price).mulInt(f.quantity));
        groups.set(key, g);
      }
      rows = [...groups.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, g]) => {
          const [date, symbol] = key.split('|');
          return {
            date: date ?? '',
            symbol: symbol ?? '',
            trades: g.trades,
            shares_bought: g.bought,
            shares_sold: g.sold,
            notional: g.notional.toFixed(2),
          };
        });
      const notional = [...groups.values()].reduce((s, g) => s.add(g.notional), Decimal.ZERO);
      totals = { trades: [...groups.values()].reduce((n, g) => n + g.trades, 0), notional: notional.toFixed(2) };
      break;
    }
    case 'risk_violations': {
      rows = firstPerOrder(get('order_rejected_risk')).map((r) => ({
        timestamp: r.timestamp,
        order_id: r.order_id ?? '',
        trader_id: r.trader_id ?? '',
        reasons: r.reason,
        event_id: r.event_id,
      }));
      totals = { violations: rows.length };
      break;
    }
    case 'rejected_orders': {
      const rejected: AuditRecord[] = [
        ...get('order_invalid'),
        ...firstPerOrder(get('order_rejected_risk')),
        ...get('approval_rejected'),
        ...get('approval_expired'),
        ...firstPerOrder(get('trade_failed').filter((r) => r.decision === 'rejected' || r.decision === 'blocked')),
      ].sort((a, b) => a.sequence - b.sequence);
      rows = rejected.map((r) => ({
        timestamp: r.timestamp,
        order_id: r.order_id ?? '',
        trader_id: r.trader_id ?? '',
        stage: r.event_type,
        reason: r.reason,
        event_id: r.event_id,
      }));
      totals = { rejected: rows.length };
      break;
    }
    case 'high_value_trades': {
      // The approval on record: the first, not a replay of it.
      const approvals = new Map(firstPerOrder(get('approved')).map((r) => [r.order_id, r]));
      rows = trades
        .filter((r) => r.order_id !== undefined && approvals.has(r.order_id))
        .map((r) => {
          const a = approvals.get(r.order_id) as AuditRecord;
          const f = fillOf(r);
          const input = a.input as { order_value?: string; via?: string };
          return {
            executed_at: r.timestamp,
            order_id: r.order_id ?? '',
            trader_id: r.trader_id ?? '',
            symbol: f?.symbol ?? '',
            quantity: f?.quantity ?? 0,
            price: f?.price ?? '',
            order_value: input.order_value ?? '',
            approved_by: a.actor,
            approved_at: a.timestamp,
            approved_via: input.via ?? '',
          };
        });
      totals = { trades: rows.length };
      break;
    }
  }
  return { report_type: type, ...range, ...meta, rows, totals };
}

/**
 * A retried step re-records the decision or execution on record, marked `replayed`: count each
 * order once, preferring the original record (a replay stands in only when the original is missing).
 */
function firstPerOrder(records: readonly AuditRecord[]): AuditRecord[] {
  const isReplay = (r: AuditRecord) => (r.input as { replayed?: unknown } | null)?.replayed === true;
  const chosen = new Map<string, AuditRecord>();
  for (const r of [...records].sort((x, y) => x.sequence - y.sequence)) {
    const key = r.order_id ?? r.event_id;
    const have = chosen.get(key);
    if (!have || (isReplay(have) && !isReplay(r))) chosen.set(key, r);
  }
  return [...chosen.values()].sort((x, y) => x.sequence - y.sequence);
}

/**
 * CSV: `#` comment lines first (report, range, who, and the checkpoint it was computed against;
 * spreadsheet and CSV readers take `#` as a comment), then a header row and the rows.
 */
export function reportToCsv(report: Report): string {
  const cols = [...new Set(report.rows.flatMap((r) => Object.keys(r)))];
  const esc = (v: string | number | undefined) => {
    let s = v === undefined ? '' : String(v);
    // A text cell a spreadsheet would run as a formula (=, +, @, a tab, or a - unless the whole cell
    // is a number) is opened with an apostrophe, which spreadsheets show as text (OWASP CSV injection).
    if (typeof v === 'string' && /^[=+@\t\r-]/.test(s) && !/^-\d+(?:\.\d+)?$/.test(s)) s = `'${s}`;
    return /[",\n\r#]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const cp = report.checkpoint;
  const meta = [
    `# report_type=${report.report_type} from=${report.from} to=${report.to}`,
    `# generated_at=${report.generated_at} generated_by=${oneLine(report.generated_by)}`,
    cp
      ? `# checkpoint origin=${oneLine(cp.origin)} tree_size=${cp.tree_size} root_hash=${cp.root_hash} timestamp=${cp.timestamp} key_id=${cp.key_id} signature=${cp.signature}`
      : '# checkpoint none (the log was empty)',
  ];
  return `${[...meta, cols.join(','), ...report.rows.map((r) => cols.map((c) => esc(r[c])).join(','))].join('\n')}\n`;
}

const oneLine = (s: string) => s.replace(/[\r\n]/g, ' ');
