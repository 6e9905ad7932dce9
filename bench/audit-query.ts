// Named audit queries over a large archive, on the local DuckDB stand-in for Athena.
//
// Writes an archive of N records with the platform's layout (records/dt=YYYY-MM-DD/<20-digit first
// sequence>.jsonl, one canonical-JSON AuditRecord a line, at most 1,000 records an object, one UTC
// day an object, as the archiver writes them) holding realistic order lifecycles over several
// days: fills (submitted, risk_check, trade_executed, position_updated), high-value orders held for
// a second person's approval, checker rejections and expiries, risk rejections, venue rejections,
// invalid orders, and a few executions re-recorded by a retried step (replayed). Inputs carry what
// the agents record (the order, every risk control with its values, the fill, the positions).
// Hashes do not chain: the queries never read them.
//
// Then opens DuckDbAudit over it (the initial load into its query cache: load_s), and times each
// named query: one warm-up run, then the measured run. Each query() refreshes first (lists the
// archive, loads what is new): that cost is inside each figure, and also measured alone
// (refresh_noop_s), as is loading one new object (refresh_one_object_s).
//
//   tsx bench/audit-query.ts [records]     (or benchNamedQueries() from bench/audit.ts)

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_NAMED_QUERIES } from '../functions/core/audit-named-queries.js';
import { canonicalJson } from '../functions/core/canonical-json.js';
import type { AuditRecord } from '../functions/core/model.js';
import { CONTROLS } from '../functions/core/risk.js';
import { DuckDbAudit } from '../local/duckdb-audit.js';
import { prng } from './prng.js';

export interface QueryBenchResult {
  records: number;
  objects: number;
  days: number;
  /** The slowest named query, seconds (its refresh included). */
  query_max_s: number;
  per_query: Record<string, number>;
  /** Rows each named query answered. */
  rows: Record<string, number>;
  /** Writing the archive. */
  setup_s: number;
  /** DuckDbAudit.open: loading every object into the query cache. */
  load_s: number;
  /** A refresh that finds nothing new (the price every query pays). */
  refresh_noop_s: number;
  /** A refresh that loads one new object of 1,000 records. */
  refresh_one_object_s: number;
  archive_mb: number;
}

const FIRST_DAY = Date.UTC(2026, 10, 16); // Monday 2026-11-16
const RECORDS_PER_DAY = 100_000;
const RECORDS_PER_OBJECT = 1000;
const SYMBOLS: Array<[string, string]> = [
  ['AAPL', '190.00'],
  ['MSFT', '420.00'],
  ['GOOGL', '175.50'],
  ['AMZN', '185.25'],
  ['NVDA', '950.10'],
  ['META', '505.75'],
  ['TSLA', '245.30'],
  ['JPM', '198.40'],
  ['V', '275.60'],
  ['XOM', '118.20'],
  ['JNJ', '152.35'],
  ['PG', '166.80'],
  ['UNH', '512.90'],
  ['HD', '355.15'],
  ['BAC', '37.85'],
  ['KO', '61.45'],
  ['PEP', '171.20'],
  ['CSCO', '48.90'],
  ['ORCL', '125.70'],
  ['INTC', '31.25'],
];
const ROLE = (agent: string) => `arn:aws:iam::123456789012:role/acme-trading-${agent}`;

type Step = Omit<AuditRecord, 'sequence' | 'event_id' | 'timestamp' | 'prev_hash' | 'hash'>;

/** Exact price x quantity for the generator's prices (2 decimals): cents as bigint. */
function value(price: string, qty: number): string {
  const cents = BigInt(price.replace('.', '')) * BigInt(qty);
  return `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
}

/** One order's lifecycle: the events the agents record for it, in order. */
function lifecycle(rand: () => number, n: number, day: string, at: () => string): Step[] {
  const orderId = `ORD-${day.replaceAll('-', '')}-${String(n).padStart(7, '0')}`;
  const t = 1 + Math.floor(rand() * 50);
  const traderId = `TRADER-${String(t).padStart(3, '0')}`;
  const accountId = `ACC-${String(t).padStart(3, '0')}`;
  const [symbol, ref] = SYMBOLS[Math.floor(rand() * SYMBOLS.length)] as [string, string];
  const side = rand() < 0.55 ? 'BUY' : 'SELL';
  const roll = rand();
  const highValue = roll < 0.055;
  const quantity = highValue ? 3000 + Math.floor(rand() * 2000) : 10 * (1 + Math.floor(rand() * 200));
  const limit = roll > 0.96 && roll < 0.99;
  const order = {
    order_id: orderId,
    symbol,
    side,
    quantity,
    order_type: limit ? 'LIMIT' : 'MARKET',
    ...(limit ? { price: value(ref, 1) } : {}),
    account_id: accountId,
    trader_id: traderId,
  };
  const base = { order_id: orderId, trader_id: traderId };
  if (roll > 0.99) {
    // Invalid input: refused at the door, one record.
    return [
      {
        ...base,
        event_type: 'order_invalid',
        actor: ROLE('order-router'),
        input: { caller: traderId, body: JSON.stringify({ ...order, quantity: -quantity }) },
        decision: 'rejected',
        reason: 'quantity:positive',
      },
    ];
  }
  const orderValue = value(ref, quantity);
  const checkId = `RC-${orderId}`;
  const riskRejected = roll > 0.9 && roll <= 0.96;
  const failed = riskRejected ? (['max_order_value', 'concentration'] as const)[n % 2] : undefined;
  const controls = CONTROLS.map((control) => ({
    control,
    passed: control !== failed,
    ...(control === failed ? { reason_code: `${control.toUpperCase()}_EXCEEDED` } : {}),
    values: { order_value: orderValue, limit: '1000000', reference_price: ref, as_of: at() },
  }));
  const decision = riskRejected ? 'rejected' : highValue ? 'needs_approval' : 'approved';
  const steps: Step[] = [
    {
      ...base,
      event_type: 'order_submitted',
      actor: ROLE('order-router'),
      input: { caller: traderId, order },
      decision: 'accepted',
      reason: 'order is well-formed; sent to the pre-trade risk check',
    },
    {
      ...base,
      event_type: 'risk_check',
      actor: ROLE('risk'),
      input: {
        order,
        check_id: checkId,
        limits_version: `${accountId}/v3`,
        order_value: orderValue,
        reference_price: ref,
        controls,
      },
      decision,
      reason: riskRejected ? `${failed?.toUpperCase()}_EXCEEDED` : 'all pre-trade controls passed',
    },
  ];
  if (riskRejected) {
    steps.push({
      ...base,
      event_type: 'order_rejected_risk',
      actor: ROLE('risk'),
      input: { check_id: checkId, controls: controls.filter((c) => !c.passed) },
      decision: 'rejected',
      reason: `${failed?.toUpperCase()}_EXCEEDED`,
    });
    return steps;
  }
  if (highValue) {
    const approvalId = `APR-${orderId}`;
    steps.push({
      ...base,
      event_type: 'approval_requested',
      actor: ROLE('approval'),
      input: { approval_id: approvalId, risk_check_id: checkId, order_value: orderValue, order },
      decision: 'pending',
      reason: `order value ${orderValue} is above the approval threshold`,
    });
    const verdict = rand();
    if (verdict < 0.12) {
      steps.push({
        ...base,
        event_type: 'approval_rejected',
        actor: 'RISK-OFFICER-1',
        input: { approval_id: approvalId, risk_check_id: checkId, order_value: orderValue, via: 'api' },
        decision: 'rejected',
        reason: 'exceeds desk appetite',
      });
      return steps;
    }
    if (verdict < 0.18) {
      steps.push({
        ...base,
        event_type: 'approval_expired',
        actor: ROLE('approval'),
        input: { approval_id: approvalId, requested_at: at(), expires_at: at() },
        decision: 'expired',
        reason: 'no decision within 300 s',
      });
      return steps;
    }
    steps.push({
      ...base,
      event_type: 'approved',
      actor: verdict < 0.6 ? 'RISK-OFFICER-1' : 'RISK-OFFICER-2',
      input: {
        approval_id: approvalId,
        risk_check_id: checkId,
        order_value: orderValue,
        via: verdict < 0.9 ? 'api' : 'console',
        recorded_by: ROLE('approval'),
      },
      decision: 'approved',
      reason: 'client mandate on file',
    });
  }
  if (limit) {
    steps.push({
      ...base,
      event_type: 'trade_failed',
      actor: ROLE('execution'),
      input: { order, risk_check_id: checkId, fill: null, executed_at: at() },
      decision: 'rejected',
      reason: 'venue rejected: LIMIT_NOT_MARKETABLE',
    });
    return steps;
  }
  const executedAt = at();
  const fill = {
    fill_id: `FILL-${orderId}`,
    order_id: orderId,
    account_id: accountId,
    symbol,
    side,
    quantity,
    price: ref,
    venue_exec_id: `SIM-${n}`,
    executed_at: executedAt,
  };
  const trade: Step = {
    ...base,
    event_type: 'trade_executed',
    actor: ROLE('execution'),
    input: { order, risk_check_id: checkId, fill, executed_at: executedAt },
    decision: 'filled',
    reason: `filled ${quantity} ${symbol} at ${ref}`,
  };
  steps.push(trade);
  if (rand() < 0.01) {
    // A retried step re-records the execution on record, marked replayed.
    steps.push({
      ...trade,
      input: { ...(trade.input as object), replayed: true },
      reason: `replayed (step retried), the execution on record: ${trade.reason}`,
    });
  }
  const before = { account_id: accountId, symbol, quantity: 0, average_cost: '0', realized_pnl: '0', version: n };
  const signed = side === 'BUY' ? quantity : -quantity;
  steps.push({
    order_id: orderId,
    event_type: 'position_updated',
    actor: ROLE('position-tracker'),
    input: {
      fill,
      before,
      after: { ...before, quantity: signed, average_cost: ref, version: n + 1, updated_at: at() },
    },
    decision: 'applied',
    reason: `${accountId} ${symbol} 0 -> ${signed}`,
  });
  return steps;
}

export interface BenchArchive {
  records: number;
  objects: number;
  days: string[];
  bytes: number;
  /** An order with a long history (approved, filled), for order_history. */
  sampleOrderId: string;
}

/** Writes an archive of `records` records under `<dir>/records/`. */
export async function writeBenchArchive(dir: string, records: number): Promise<BenchArchive> {
  const rand = prng(42);
  const days = Math.max(1, Math.ceil(records / RECORDS_PER_DAY));
  const perDay = Math.ceil(records / days);
  let sequence = 0;
  let objects = 0;
  let bytes = 0;
  let sampleOrderId = '';
  let prevHash = '0'.repeat(64);
  const dayNames: string[] = [];
  for (let d = 0; d < days && sequence < records; d++) {
    const day = new Date(FIRST_DAY + d * 86_400_000).toISOString().slice(0, 10);
    dayNames.push(day);
    const dayDir = join(dir, 'records', `dt=${day}`);
    await mkdir(dayDir, { recursive: true });
    const dayEnd = Math.min(records, sequence + perDay);
    // Market hours, 14:30 to 21:00 UTC, records spread evenly with nanosecond timestamps.
    const openNs = BigInt(Date.parse(`${day}T14:30:00.000Z`)) * 1_000_000n;
    const stepNs = (6n * 3_600_000_000_000n + 30n * 60_000_000_000n) / BigInt(perDay);
    let clock = openNs;
    const at = () => {
      clock += 1n + BigInt(Math.floor(rand() * Number(stepNs)));
      return nsText(clock);
    };
    // A few orders in flight at once: their records interleave, as they do in the log.
    const inFlight: Step[][] = [];
    let orderNo = 0;
    let lines: string[] = [];
    let first = sequence;
    const flush = async () => {
      if (lines.length === 0) return;
      const body = `${lines.join('\n')}\n`;
      await writeFile(join(dayDir, `${String(first).padStart(20, '0')}.jsonl`), body);
      objects++;
      bytes += Buffer.byteLength(body);
      lines = [];
      first = sequence;
    };
    while (sequence < dayEnd) {
      while (inFlight.length < 8) {
        const steps = lifecycle(rand, orderNo++, day, () => nsText(clock));
        if (!sampleOrderId && steps.some((s) => s.event_type === 'approved') && steps.length >= 6) {
          sampleOrderId = steps[0]?.order_id ?? '';
        }
        inFlight.push(steps);
      }
      const pick = Math.floor(rand() * inFlight.length);
      const steps = inFlight[pick] as Step[];
      const step = steps.shift() as Step;
      if (steps.length === 0) inFlight.splice(pick, 1);
      const timestamp = at();
      const hash = createHash('sha256').update(`${prevHash}${sequence}`).digest('hex');
      const record: AuditRecord = {
        ...step,
        sequence,
        event_id: `evt-${String(sequence).padStart(12, '0')}`,
        timestamp,
        prev_hash: prevHash,
        hash,
      };
      prevHash = hash;
      lines.push(canonicalJson(record));
      sequence++;
      if (lines.length === RECORDS_PER_OBJECT) await flush();
    }
    await flush();
  }
  return { records: sequence, objects, days: dayNames, bytes, sampleOrderId };
}

function nsText(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  return `${iso.slice(0, 19)}.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`;
}

const seconds = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;

export async function benchNamedQueries(opts: { records: number; dir?: string }): Promise<QueryBenchResult> {
  const records = Number.isFinite(opts.records) && opts.records > 0 ? Math.floor(opts.records) : 1_000_000;
  const own = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'audit-query-bench-')));
  const archiveDir = join(dir, 'archive');
  try {
    console.error(`audit-query: writing ${records.toLocaleString('en-US')} records under ${archiveDir}`);
    let t = process.hrtime.bigint();
    const archive = await writeBenchArchive(archiveDir, records);
    const setupS = seconds(t);
    console.error(
      `audit-query: ${archive.objects} objects over ${archive.days.length} days, ` +
        `${(archive.bytes / 1e6).toFixed(0)} MB, in ${setupS.toFixed(1)} s`,
    );

    t = process.hrtime.bigint();
    const audit = await DuckDbAudit.open(archiveDir, { cacheFile: join(dir, 'audit-sql', 'audit.duckdb') });
    const loadS = seconds(t);
    console.error(`audit-query: loaded into ${audit.storage} in ${loadS.toFixed(1)} s`);
    try {
      // A trading week out of the archive's days (all of them when there are fewer).
      const from = archive.days[Math.min(2, archive.days.length - 1)] as string;
      const to = archive.days[Math.min(6, archive.days.length - 1)] as string;
      const params: Record<string, string[]> = {
        daily_trading_activity: [from, to],
        risk_violations: [from, to],
        rejected_orders: [from, to],
        high_value_trades: [from, to],
        order_history: [archive.sampleOrderId],
      };
      const perQuery: Record<string, number> = {};
      const rows: Record<string, number> = {};
      for (const q of AUDIT_NAMED_QUERIES) {
        const values = params[q.name];
        if (!values) throw new Error(`no bench parameters for ${q.name}`);
        await audit.runNamed(q.name, values); // warm-up
        t = process.hrtime.bigint();
        const result = await audit.runNamed(q.name, values);
        const took = seconds(t);
        perQuery[q.name] = took;
        rows[q.name] = result.rows.length;
        console.error(
          `audit-query: ${q.name}(${values.join(', ')}): ${result.rows.length} rows in ${(took * 1000).toFixed(0)} ms`,
        );
      }
      t = process.hrtime.bigint();
      await audit.refresh();
      const refreshNoop = seconds(t);

      // One more object arrives (1,000 more records; a copy of generated ones, since only the cost
      // of loading it matters here): what a refresh then costs.
      const lastDay = archive.days[archive.days.length - 1] as string;
      const extra = await writeBenchArchive(join(dir, 'extra'), RECORDS_PER_OBJECT);
      const { readdir, readFile } = await import('node:fs/promises');
      const extraDir = join(dir, 'extra', 'records', `dt=${extra.days[0]}`);
      const [name] = await readdir(extraDir);
      const body = await readFile(join(extraDir, name as string), 'utf8');
      await writeFile(
        join(archiveDir, 'records', `dt=${lastDay}`, `${String(archive.records).padStart(20, '0')}.jsonl`),
        body,
      );
      t = process.hrtime.bigint();
      const one = await audit.refresh();
      const refreshOne = seconds(t);
      if (one.records_loaded !== RECORDS_PER_OBJECT) throw new Error(`refresh loaded ${one.records_loaded} records`);
      console.error(
        `audit-query: refresh, nothing new ${(refreshNoop * 1000).toFixed(1)} ms; one new object ${(refreshOne * 1000).toFixed(1)} ms`,
      );
      return {
        records: archive.records,
        objects: archive.objects,
        days: archive.days.length,
        query_max_s: Math.max(...Object.values(perQuery)),
        per_query: perQuery,
        rows,
        setup_s: setupS,
        load_s: loadS,
        refresh_noop_s: refreshNoop,
        refresh_one_object_s: refreshOne,
        archive_mb: Math.round(archive.bytes / 1e6),
      };
    } finally {
      await audit.close();
    }
  } finally {
    if (own) await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const result = await benchNamedQueries({ records: Number(process.argv[2] ?? 1_000_000) });
  console.log(JSON.stringify(result));
}
