// The named audit queries on the local stand-in for Athena (local/duckdb-audit.ts): real orders go
// through the local platform over HTTPS, the archiver writes their records to the write-once
// archive, and every named query, run on DuckDB over that archive, must answer what the platform
// did, and what functions/core/reports.ts computes from the same records. Also: ad-hoc SQL, the
// read-only guard, malformed queries, an empty archive, and the CLI entry (bin/cli-audit-sql.ts).
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAuditSql } from '../../bin/cli-audit-sql.js';
import { archiveKeyFor, parseBatch, serializeBatch } from '../../functions/core/audit-chain.js';
import { AUDIT_NAMED_QUERIES, countParameterMarkers } from '../../functions/core/audit-named-queries.js';
import type { AuditEventType, AuditRecord } from '../../functions/core/model.js';
import { buildReport, type ReportType } from '../../functions/core/reports.js';
import { AuditSqlError, DuckDbAudit } from '../../local/duckdb-audit.js';
import { closeHttpsAgents, type HttpsJsonResponse, httpsJson } from '../../local/https-gateway.js';
import { LocalArchive } from '../../local/local-archive.js';
import { type LocalPlatform, startLocalPlatform } from '../../local/platform.js';

type Who = 'trader' | 'approver';
interface OrderView {
  status: string;
  risk?: { decision: string; reasons: string[]; order_value: string };
  execution?: { fill: { symbol: string; side: string; quantity: number; price: string; executed_at: string } | null };
}

let dataDir: string;
let archiveDir: string;
let platform: LocalPlatform;
let ca = '';
const tls: Record<Who, { cert: string; key: string }> = {
  trader: { cert: '', key: '' },
  approver: { cert: '', key: '' },
};
let audit: DuckDbAudit;
/** Every record the archive holds once the orders are done. */
let archived: AuditRecord[] = [];
let from = '';
let to = '';

const call = (who: Who, method: string, path: string, body?: unknown): Promise<HttpsJsonResponse> =>
  httpsJson(`${platform.url}${path}`, { method, ...(body !== undefined ? { body } : {}), ca, ...tls[who] });

const order = (id: string, over: Record<string, unknown> = {}) => ({
  order_id: id,
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 100,
  order_type: 'MARKET',
  account_id: 'ACC-001',
  trader_id: 'TRADER-123',
  ...over,
});

async function submit(id: string, over: Record<string, unknown> = {}): Promise<void> {
  const res = await call('trader', 'POST', '/orders', order(id, over));
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

async function waitFor(id: string, wanted: readonly string[], timeoutMs = 15_000): Promise<OrderView> {
  const deadline = Date.now() + timeoutMs;
  let last: OrderView | undefined;
  while (Date.now() < deadline) {
    const res = await call('trader', 'GET', `/orders/${id}`);
    if (res.status === 200) {
      last = res.body as OrderView & { execution_id: string };
      if (wanted.includes(last.status)) {
        const exec = await platform.workflow.describe((last as OrderView & { execution_id: string }).execution_id);
        if (exec?.status !== 'RUNNING' || last.status === 'PENDING_APPROVAL') return last;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`order ${id} did not reach ${wanted.join('/')}; last status ${last?.status}`);
}

async function readArchive(): Promise<AuditRecord[]> {
  await platform.auditArchiver?.drain();
  const archive = new LocalArchive({ dir: archiveDir, retentionDays: 1 });
  const out: AuditRecord[] = [];
  for (const key of await archive.list('records/')) out.push(...parseBatch((await archive.get(key)) ?? ''));
  return out.sort((a, b) => a.sequence - b.sequence);
}

/** buildReport over the archived records, fetched as compliance.ts fetches them (by type and time). */
function report(type: ReportType) {
  const start = `${from}T00:00:00.000000000Z`;
  const end = `${to}T23:59:59.999999999Z`;
  const byType = new Map<AuditEventType, AuditRecord[]>();
  for (const r of archived) {
    if (r.timestamp < start || r.timestamp > end) continue;
    byType.set(r.event_type, [...(byType.get(r.event_type) ?? []), r]);
  }
  return buildReport(type, { from, to }, byType, { generated_at: end, generated_by: 'test', checkpoint: null });
}

/** SQL NULL is the report's ''. */
const asReport = (rows: Array<Record<string, unknown>>) =>
  rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? '' : v])));

const views: Record<string, OrderView> = {};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'duckdb-audit-'));
  archiveDir = join(dataDir, 'archive');
  platform = await startLocalPlatform({ dataDir, port: 0, approvalTimeoutSeconds: 30, logLevel: 'ERROR' });
  ca = await readFile(platform.pki.caCert, 'utf8');
  for (const who of ['trader', 'approver'] as const) {
    const paths = platform.pki.clients[who];
    if (!paths) throw new Error(`no ${who} certificate`);
    tls[who] = { cert: await readFile(paths.cert, 'utf8'), key: await readFile(paths.key, 'utf8') };
  }

  // A price with a half cent: 1 share fills at 115.125, whose notional rounds half-even to 115.12.
  const priced = await call('approver', 'PUT', '/risk/prices/XOM', { price: '115.125' });
  expect(priced.status, JSON.stringify(priced.body)).toBe(200);
  await platform.services.reference.invalidate();

  await submit('ORD-DQ-FILL-1'); // 100 AAPL
  await submit('ORD-DQ-FILL-2', { symbol: 'XOM', quantity: 1 });
  await submit('ORD-DQ-FILL-3', { symbol: 'GOOGL', quantity: 7 });
  for (const id of ['ORD-DQ-FILL-1', 'ORD-DQ-FILL-2', 'ORD-DQ-FILL-3'])
    views[id] = await waitFor(id, ['FILLED', 'REJECTED', 'FAILED']);

  // 1500 MSFT at 420.00 = 630,000: above the 500,000 threshold: held for a second person.
  await submit('ORD-DQ-HV-1', { symbol: 'MSFT', quantity: 1500 });
  await waitFor('ORD-DQ-HV-1', ['PENDING_APPROVAL']);
  const ok = await call('approver', 'POST', '/approvals/APR-ORD-DQ-HV-1/approve', { reason: 'client mandate on file' });
  expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  views['ORD-DQ-HV-1'] = await waitFor('ORD-DQ-HV-1', ['FILLED', 'REJECTED', 'FAILED', 'EXPIRED']);

  // Held, then rejected by the checker.
  await submit('ORD-DQ-HV-2', { symbol: 'MSFT', quantity: 1501 });
  await waitFor('ORD-DQ-HV-2', ['PENDING_APPROVAL']);
  const no = await call('approver', 'POST', '/approvals/APR-ORD-DQ-HV-2/reject', { reason: 'exceeds desk appetite' });
  expect(no.status, JSON.stringify(no.body)).toBe(200);
  views['ORD-DQ-HV-2'] = await waitFor('ORD-DQ-HV-2', ['REJECTED', 'FILLED', 'FAILED']);

  // Risk rejections: over the max order value, and a prohibited symbol.
  await submit('ORD-DQ-BIG-1', { quantity: 8000 });
  await submit('ORD-DQ-PROHIB-1', { symbol: 'SANC', quantity: 10 });
  // A venue rejection: a LIMIT buy below the market is not marketable.
  await submit('ORD-DQ-LMT-1', { order_type: 'LIMIT', price: '180.00', quantity: 11 });
  for (const id of ['ORD-DQ-BIG-1', 'ORD-DQ-PROHIB-1', 'ORD-DQ-LMT-1'])
    views[id] = await waitFor(id, ['REJECTED', 'FILLED', 'FAILED']);

  // Invalid input: refused at the door, audited as order_invalid.
  const bad = await call('trader', 'POST', '/orders', order('ORD-DQ-BAD-1', { quantity: -5 }));
  expect(bad.status).toBe(400);

  archived = await readArchive();
  from = archived[0]?.timestamp.slice(0, 10) ?? '';
  to = archived[archived.length - 1]?.timestamp.slice(0, 10) ?? '';
  // Its own cache file: the CLI tests below use the data directory's.
  audit = await DuckDbAudit.open(archiveDir, { cacheFile: join(dataDir, 'test-cache', 'audit.duckdb') });
}, 120_000);

afterAll(async () => {
  await audit?.close();
  await platform?.stop();
  closeHttpsAgents();
  await rm(dataDir, { recursive: true, force: true });
});

describe('named queries on DuckDB over the local archive', () => {
  it('the platform did what the orders asked', () => {
    expect(views['ORD-DQ-FILL-1']?.status).toBe('FILLED');
    expect(views['ORD-DQ-FILL-2']?.execution?.fill?.price).toBe('115.125');
    expect(views['ORD-DQ-HV-1']?.status).toBe('FILLED');
    expect(views['ORD-DQ-HV-2']?.status).toBe('REJECTED');
    expect(views['ORD-DQ-BIG-1']?.risk?.reasons).toContain('MAX_ORDER_VALUE_EXCEEDED');
    expect(views['ORD-DQ-PROHIB-1']?.risk?.reasons).toContain('PROHIBITED_SECURITY');
    expect(views['ORD-DQ-LMT-1']?.status).toBe('REJECTED');
    expect(audit.lastRefresh?.records_total).toBe(archived.length);
  });

  it('every named query runs, with one ? per parameter marker, each in a WHERE clause (as Athena requires)', async () => {
    for (const q of AUDIT_NAMED_QUERIES) {
      expect(countParameterMarkers(q.sql), q.name).toBe(q.parameterMarkers.length);
      // The clause each ? sits in: the last clause keyword before it.
      const tokens = q.sql.match(/\?|\b(?:SELECT|FROM|WHERE|GROUP|ORDER|ON|HAVING|JOIN)\b/g) ?? [];
      let clause = '';
      for (const t of tokens) {
        if (t === '?') expect(clause, q.name).toBe('WHERE');
        else clause = t;
      }
      const params = q.params.map((p) => (p.type === 'date' ? (p.name === 'from_date' ? from : to) : 'ORD-DQ-HV-1'));
      const result = await audit.runNamed(q.name, params);
      expect(result.rows.length, q.name).toBeGreaterThan(0);
    }
  });

  it('daily_trading_activity: the fills per day and symbol, notional exact and rounded half-even', async () => {
    const { columns, rows } = await audit.runNamed('daily_trading_activity', [from, to]);
    expect(columns).toEqual(['date', 'symbol', 'trades', 'shares_bought', 'shares_sold', 'notional']);
    const filled = Object.entries(views).filter(([, v]) => v.status === 'FILLED');
    const bySymbol = new Map<string, { trades: number; shares: number }>();
    for (const [, v] of filled) {
      const f = v.execution?.fill;
      if (!f) continue;
      const g = bySymbol.get(f.symbol) ?? { trades: 0, shares: 0 };
      g.trades += 1;
      g.shares += f.quantity;
      bySymbol.set(f.symbol, g);
    }
    const sum = (k: 'trades' | 'shares_bought') => rows.reduce((n, r) => n + Number(r[k]), 0);
    expect(sum('trades')).toBe(filled.length);
    expect(sum('shares_bought')).toBe(100 + 1 + 7 + 1500);
    const xom = rows.find((r) => r.symbol === 'XOM');
    expect(xom).toMatchObject({ trades: 1, shares_bought: 1, shares_sold: 0, notional: '115.12' });
    expect(rows.find((r) => r.symbol === 'MSFT')).toMatchObject({
      trades: 1,
      shares_bought: 1500,
      notional: '630000.00',
    });
    // The same rows as the TypeScript report over the same records.
    expect(asReport(rows)).toEqual(report('daily_trading_activity').rows);
  });

  it('risk_violations: each rejected order once, with its reason codes', async () => {
    const { rows } = await audit.runNamed('risk_violations', [from, to]);
    expect(rows.map((r) => r.order_id)).toEqual(['ORD-DQ-BIG-1', 'ORD-DQ-PROHIB-1']);
    expect(String(rows[0]?.reasons)).toContain('MAX_ORDER_VALUE_EXCEEDED');
    expect(String(rows[1]?.reasons)).toContain('PROHIBITED_SECURITY');
    expect(asReport(rows)).toEqual(report('risk_violations').rows);
  });

  it('rejected_orders: every rejection with its stage', async () => {
    const { rows } = await audit.runNamed('rejected_orders', [from, to]);
    const stages = rows.map((r) => [r.order_id, r.stage]);
    expect(stages).toEqual(
      expect.arrayContaining([
        ['ORD-DQ-HV-2', 'approval_rejected'],
        ['ORD-DQ-BIG-1', 'order_rejected_risk'],
        ['ORD-DQ-PROHIB-1', 'order_rejected_risk'],
        ['ORD-DQ-LMT-1', 'trade_failed'],
        ['ORD-DQ-BAD-1', 'order_invalid'],
      ]),
    );
    expect(rows).toHaveLength(5);
    expect(rows.find((r) => r.stage === 'trade_failed')?.reason).toMatch(/LIMIT_NOT_MARKETABLE/);
    expect(asReport(rows)).toEqual(report('rejected_orders').rows);
  });

  it('high_value_trades: the trade, who approved it, when and how', async () => {
    const { rows } = await audit.runNamed('high_value_trades', [from, to]);
    const approvedRecord = archived.find((r) => r.event_type === 'approved' && r.order_id === 'ORD-DQ-HV-1');
    const trade = archived.find((r) => r.event_type === 'trade_executed' && r.order_id === 'ORD-DQ-HV-1');
    expect(rows).toEqual([
      {
        executed_at: trade?.timestamp,
        order_id: 'ORD-DQ-HV-1',
        trader_id: 'TRADER-123',
        symbol: 'MSFT',
        quantity: 1500,
        price: views['ORD-DQ-HV-1']?.execution?.fill?.price,
        order_value: views['ORD-DQ-HV-1']?.risk?.order_value,
        approved_by: 'RISK-OFFICER-1',
        approved_at: approvedRecord?.timestamp,
        approved_via: 'api',
      },
    ]);
    expect(asReport(rows)).toEqual(report('high_value_trades').rows);
  });

  it('order_history: the whole order, in sequence, exactly as archived', async () => {
    const { rows } = await audit.runNamed('order_history', ['ORD-DQ-HV-1']);
    const expected = archived.filter((r) => r.order_id === 'ORD-DQ-HV-1');
    expect(rows.map((r) => r.event_type)).toEqual([
      'order_submitted',
      'risk_check',
      'approval_requested',
      'approved',
      'trade_executed',
      'position_updated',
    ]);
    expect(rows.map((r) => r.sequence)).toEqual(expected.map((r) => r.sequence));
    rows.forEach((row, i) => {
      const r = expected[i] as AuditRecord;
      expect(row).toMatchObject({
        timestamp: r.timestamp,
        actor: r.actor,
        decision: r.decision,
        reason: r.reason,
        event_id: r.event_id,
        prev_hash: r.prev_hash,
        hash: r.hash,
        dt: r.timestamp.slice(0, 10),
      });
      expect(JSON.parse(String(row.input))).toEqual(r.input);
    });
    expect((await audit.runNamed('order_history', ['ORD-NOPE'])).rows).toEqual([]);
  });

  it('refuses a bad call: unknown name, wrong count, bad date, reversed range', async () => {
    await expect(audit.runNamed('nope', [])).rejects.toThrow(
      /no named query 'nope'.*daily_trading_activity <from_date> <to_date>/,
    );
    await expect(audit.runNamed('risk_violations', [from])).rejects.toThrow(
      /takes 2 parameters \(from_date, to_date\), got 1/,
    );
    await expect(audit.runNamed('risk_violations', ['2026-02-30', to])).rejects.toThrow(
      /from_date must be a date YYYY-MM-DD, got "2026-02-30"/,
    );
    await expect(audit.runNamed('risk_violations', ['2026-11-25', '2026-11-24'])).rejects.toThrow(/before from_date/);
  });
});

describe('ad-hoc SQL', () => {
  it('answers over exactly what the archive holds, with parameters', async () => {
    const counts = await audit.query(
      'SELECT event_type, count(*) AS n FROM audit_records GROUP BY event_type ORDER BY event_type',
    );
    const expected = new Map<string, number>();
    for (const r of archived) expected.set(r.event_type, (expected.get(r.event_type) ?? 0) + 1);
    expect(counts.rows).toEqual(
      [...expected.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([event_type, n]) => ({ event_type, n })),
    );

    const one = await audit.query(
      'SELECT count(*) AS n, min(sequence) AS first FROM audit_records WHERE order_id = ?',
      ['ORD-DQ-BIG-1'],
    );
    expect(one.rows).toEqual([{ n: 3, first: archived.find((r) => r.order_id === 'ORD-DQ-BIG-1')?.sequence }]);
    const described = await audit.query('DESCRIBE audit_records');
    expect(described.rows.map((r) => r.column_name)).toEqual([
      'sequence',
      'event_id',
      'timestamp',
      'event_type',
      'order_id',
      'trader_id',
      'actor',
      'input',
      'decision',
      'reason',
      'prev_hash',
      'hash',
      'dt',
    ]);
    expect((await audit.query('EXPLAIN SELECT count(*) FROM audit_records')).rows.length).toBeGreaterThan(0);
    expect((await audit.query('SUMMARIZE SELECT sequence FROM audit_records')).rows.length).toBe(1);
  });

  it('returns values JSON-safe: exact decimals, big integers as text, Trino JSON semantics', async () => {
    const { rows } = await audit.query(
      `SELECT CAST('0.1' AS DECIMAL(38, 8)) + CAST('0.2' AS DECIMAL(38, 8)) AS d,
              CAST(9007199254740993 AS BIGINT) AS big, CAST(42 AS BIGINT) AS small,
              json_extract_scalar('{"a":{"b":1},"s":"x\\"y","n":1.50,"t":true,"z":null}', '$.a') AS obj,
              json_extract_scalar('{"s":"x"}', '$.s') AS str,
              json_extract_scalar('{"n":1.5}', '$.n') AS num,
              json_extract_scalar('{"q":12345678901234567890123}', '$.q') AS bignum,
              json_extract_scalar('{"t":true}', '$.t') AS bool,
              json_extract_scalar('{"z":null}', '$.z') AS nul,
              json_extract_scalar('{"z":1}', '$.missing') AS missing,
              json_format(json_extract('{"r":true}', '$.r')) AS fmt_true,
              json_format(json_extract('{"r":"true"}', '$.r')) AS fmt_text`,
    );
    expect(rows[0]).toEqual({
      d: '0.30000000',
      big: '9007199254740993',
      small: 42,
      obj: null,
      str: 'x',
      num: '1.5',
      bignum: '12345678901234567890123',
      bool: 'true',
      nul: null,
      missing: null,
      fmt_true: 'true',
      fmt_text: '"true"',
    });
  });

  it('gives a clear error for a malformed query', async () => {
    await expect(audit.query('SELECT FROM WHERE')).rejects.toThrow(
      /^invalid query: Parser Error: syntax error at or near "WHERE"/,
    );
    await expect(audit.query('SELECT * FROM no_such_table')).rejects.toThrow(/no_such_table/);
    await expect(audit.query('SELEC 1')).rejects.toThrow(/'SELEC' is refused/);
    await expect(audit.query('   ')).rejects.toThrow(/empty/);
    await expect(audit.query('SELECT ? AS x')).rejects.toThrow(/1 parameter placeholder \(\?\), got 0 values/);
  });

  it('refuses anything that could write, and the archive and the data stay as they were', async () => {
    const before = await snapshot(archiveDir);
    const attempts = [
      `COPY (SELECT 1) TO '${join(archiveDir, 'records', 'x.csv')}'`,
      `ATTACH '${join(archiveDir, 'records', 'y.db')}' AS y`,
      'INSTALL httpfs',
      'LOAD json',
      'INSERT INTO audit_rows (sequence) VALUES (1)',
      'DELETE FROM audit_rows',
      'UPDATE audit_rows SET reason = NULL',
      'DROP VIEW audit_records',
      'CREATE TABLE t AS SELECT 1',
      'SELECT 1; DELETE FROM audit_rows',
      'EXPLAIN ANALYZE DELETE FROM audit_rows',
      'SET enable_external_access = true',
      'PRAGMA enable_profiling',
      'CHECKPOINT',
      'CALL pragma_version()',
    ];
    for (const sql of attempts) {
      const err = await audit.query(sql).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, sql).toBeInstanceOf(AuditSqlError);
      expect((err as AuditSqlError).kind, sql).toBe('refused');
    }
    // SQL reaches no file at all, not even the archive's.
    const [first] = await readdir(join(archiveDir, 'records'));
    await expect(
      audit.query(`SELECT * FROM read_json('${join(archiveDir, 'records', String(first), '*.jsonl')}')`),
    ).rejects.toThrow(/disabled by configuration/);
    await expect(audit.query("SELECT * FROM read_text('/etc/passwd')")).rejects.toThrow(/disabled by configuration/);
    expect(await snapshot(archiveDir)).toEqual(before);
    expect((await audit.query('SELECT count(*) AS n FROM audit_records')).rows).toEqual([{ n: archived.length }]);
  });

  it('sees new records on the next query: refreshed from the archive first', async () => {
    const n = async () => Number((await audit.query('SELECT count(*) AS n FROM audit_records')).rows[0]?.n);
    const before = await n();
    await submit('ORD-DQ-LATE-1', { quantity: 13 });
    await waitFor('ORD-DQ-LATE-1', ['FILLED', 'REJECTED', 'FAILED']);
    await platform.auditArchiver?.drain();
    const after = await n();
    expect(after).toBe((await readArchive()).length);
    expect(after).toBeGreaterThan(before);
    expect(audit.lastRefresh?.objects_loaded).toBeGreaterThan(0);
    // A cache file kept between runs loads only what is new.
    const file = join(dataDir, 'test-cache', 'reopened.duckdb');
    const first = await DuckDbAudit.open(archiveDir, { cacheFile: file });
    expect(first.lastRefresh).toMatchObject({ records_loaded: after, records_total: after });
    await first.close();
    const again = await DuckDbAudit.open(archiveDir, { cacheFile: file });
    try {
      expect(again.storage).toBe(file);
      expect(again.lastRefresh).toMatchObject({ objects_loaded: 0, records_loaded: 0, records_total: after });
    } finally {
      await again.close();
    }
  });
});

describe('the report semantics, on a crafted archive', () => {
  // Replays (marked `"replayed": true`, never a string "true"), a replay standing in for a missing
  // original, a fill executed before midnight but recorded after, half-cent notionals, and an
  // approval given the evening before its trade.
  const D0 = '2026-11-23';
  const D = '2026-11-24';
  let dir: string;
  let db: DuckDbAudit;
  let records: AuditRecord[];

  const fill = (order: string, symbol: string, side: string, quantity: number, price: string, at: string) => ({
    order: { order_id: order, symbol },
    fill: {
      fill_id: `F-${order}`,
      order_id: order,
      account_id: 'ACC-9',
      symbol,
      side,
      quantity,
      price,
      venue_exec_id: 'V',
      executed_at: at,
    },
    executed_at: at,
  });
  const spec: Array<[string, AuditEventType, string | undefined, Record<string, unknown>, string, string?]> = [
    [
      `${D0}T23:58:00.000000000Z`,
      'approved',
      'ORD-A',
      { approval_id: 'APR-A', order_value: '600000.00', via: 'console' },
      'approved',
      'RISK-OFFICER-2',
    ],
    [
      `${D0}T23:59:59.900000000Z`,
      'trade_executed',
      'ORD-R',
      fill('ORD-R', 'QRS', 'BUY', 3, '1.00', `${D0}T23:59:59.900000000Z`),
      'filled',
    ],
    [
      `${D}T00:00:01.000000000Z`,
      'trade_executed',
      'ORD-A',
      fill('ORD-A', 'MSFT', 'BUY', 1500, '400.00', `${D}T00:00:00.900000000Z`),
      'filled',
    ],
    [
      `${D}T00:00:02.000000000Z`,
      'trade_executed',
      'ORD-R',
      { ...fill('ORD-R', 'QRS', 'BUY', 3, '1.00', `${D0}T23:59:59.900000000Z`), replayed: true },
      'filled',
    ],
    [
      `${D}T10:00:00.000000000Z`,
      'trade_executed',
      'ORD-B',
      { ...fill('ORD-B', 'XYZ', 'SELL', 1, '10.005', `${D}T09:59:59.000000000Z`), replayed: true },
      'filled',
    ],
    [
      `${D}T10:00:01.000000000Z`,
      'trade_executed',
      'ORD-C',
      fill('ORD-C', 'ABC', 'BUY', 1, '20.015', `${D}T10:00:00.000000000Z`),
      'filled',
    ],
    [
      `${D}T10:00:02.000000000Z`,
      'trade_executed',
      'ORD-C',
      { ...fill('ORD-C', 'ABC', 'BUY', 1, '20.015', `${D}T10:00:00.000000000Z`), replayed: true },
      'filled',
    ],
    [
      `${D}T10:00:03.000000000Z`,
      'order_rejected_risk',
      'ORD-D',
      { check_id: 'RC-D', controls: [], replayed: true },
      'rejected',
    ],
    [`${D}T10:00:04.000000000Z`, 'order_rejected_risk', 'ORD-D', { check_id: 'RC-D', controls: [] }, 'rejected'],
    [`${D}T10:00:05.000000000Z`, 'trade_failed', 'ORD-E', { fill: null }, 'blocked'],
    [`${D}T10:00:06.000000000Z`, 'trade_failed', 'ORD-E', { fill: null, replayed: true }, 'blocked'],
    [`${D}T10:00:07.000000000Z`, 'order_invalid', undefined, { caller: 'TRADER-1', body: '{' }, 'rejected'],
    [`${D}T10:00:08.000000000Z`, 'approval_expired', 'ORD-F', { approval_id: 'APR-F' }, 'expired'],
    [`${D}T10:00:09.000000000Z`, 'trade_failed', 'ORD-G', { fill: null }, 'rejected'],
    [
      `${D}T10:00:10.000000000Z`,
      'trade_executed',
      'ORD-H',
      { ...fill('ORD-H', 'HHH', 'BUY', 2, '5.00', `${D}T10:00:10.000000000Z`), replayed: 'true' },
      'filled',
    ],
    [
      `${D}T10:00:11.000000000Z`,
      'trade_executed',
      'ORD-H',
      fill('ORD-H', 'HHH', 'BUY', 2, '7.00', `${D}T10:00:11.000000000Z`),
      'filled',
    ],
  ];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'duckdb-audit-crafted-'));
    records = spec.map(([timestamp, event_type, order_id, input, decision, actor], sequence) => ({
      sequence,
      event_id: `evt-${sequence}`,
      timestamp,
      event_type,
      ...(order_id ? { order_id, trader_id: 'TRADER-1' } : {}),
      actor: actor ?? 'arn:aws:iam::123456789012:role/agent',
      input,
      decision,
      reason: `${event_type} ${order_id ?? ''}`,
      prev_hash: '0'.repeat(64),
      hash: '1'.repeat(64),
    }));
    // One object a day, as the archiver writes them.
    for (const day of [D0, D]) {
      const dayRecords = records.filter((r) => r.timestamp.startsWith(day));
      const key = archiveKeyFor(dayRecords[0] as AuditRecord);
      await mkdir(join(dir, 'archive', ...key.split('/').slice(0, -1)), { recursive: true });
      await writeFile(join(dir, 'archive', key), serializeBatch(dayRecords));
    }
    db = await DuckDbAudit.open(join(dir, 'archive'));
  });

  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const tsReport = (type: ReportType, range: { from: string; to: string }) => {
    const byType = new Map<AuditEventType, AuditRecord[]>();
    for (const r of records) {
      const day = r.timestamp.slice(0, 10);
      if (day >= range.from && day <= range.to) byType.set(r.event_type, [...(byType.get(r.event_type) ?? []), r]);
    }
    return buildReport(type, range, byType, { generated_at: '', generated_by: 'test', checkpoint: null }).rows;
  };

  it('daily_trading_activity: one trade per order, the original preferred, by the day it executed', async () => {
    const { rows } = await db.runNamed('daily_trading_activity', [D, D]);
    expect(rows).toEqual([
      { date: D, symbol: 'ABC', trades: 1, shares_bought: 1, shares_sold: 0, notional: '20.02' },
      { date: D, symbol: 'HHH', trades: 1, shares_bought: 2, shares_sold: 0, notional: '10.00' },
      { date: D, symbol: 'MSFT', trades: 1, shares_bought: 1500, shares_sold: 0, notional: '600000.00' },
      { date: D, symbol: 'XYZ', trades: 1, shares_bought: 0, shares_sold: 1, notional: '10.00' },
    ]);
    expect(rows).toEqual(tsReport('daily_trading_activity', { from: D, to: D }));
    const both = await db.runNamed('daily_trading_activity', [D0, D]);
    expect(both.rows).toEqual(tsReport('daily_trading_activity', { from: D0, to: D }));
    expect(both.rows.find((r) => r.symbol === 'QRS')).toMatchObject({ date: D0, trades: 1, notional: '3.00' });
  });

  it('risk_violations and rejected_orders: replays never counted twice, the original preferred', async () => {
    const violations = await db.runNamed('risk_violations', [D, D]);
    expect(violations.rows.map((r) => r.event_id)).toEqual(['evt-8']);
    expect(asReport(violations.rows)).toEqual(tsReport('risk_violations', { from: D, to: D }));
    const rejected = await db.runNamed('rejected_orders', [D, D]);
    expect(rejected.rows.map((r) => [r.event_id, r.stage])).toEqual([
      ['evt-8', 'order_rejected_risk'],
      ['evt-9', 'trade_failed'],
      ['evt-11', 'order_invalid'],
      ['evt-12', 'approval_expired'],
      ['evt-13', 'trade_failed'],
    ]);
    expect(asReport(rejected.rows)).toEqual(tsReport('rejected_orders', { from: D, to: D }));
  });

  it('high_value_trades: keeps the approval given before midnight (reports.ts looks only inside the range)', async () => {
    const { rows } = await db.runNamed('high_value_trades', [D, D]);
    expect(rows).toEqual([
      {
        executed_at: `${D}T00:00:01.000000000Z`,
        order_id: 'ORD-A',
        trader_id: 'TRADER-1',
        symbol: 'MSFT',
        quantity: 1500,
        price: '400.00',
        order_value: '600000.00',
        approved_by: 'RISK-OFFICER-2',
        approved_at: `${D0}T23:58:00.000000000Z`,
        approved_via: 'console',
      },
    ]);
    expect(tsReport('high_value_trades', { from: D, to: D })).toEqual([]);
    const both = await db.runNamed('high_value_trades', [D0, D]);
    expect(asReport(both.rows)).toEqual(tsReport('high_value_trades', { from: D0, to: D }));
  });

  it('drops the rows of an object that left the archive (its retention expired)', async () => {
    const count = async () => (await db.query('SELECT count(*) AS n FROM audit_records')).rows[0]?.n;
    expect(await count()).toBe(records.length);
    const key = archiveKeyFor(records[0] as AuditRecord);
    await rm(join(dir, 'archive', key));
    expect(await count()).toBe(records.filter((r) => !r.timestamp.startsWith(D0)).length);
    expect(db.lastRefresh).toMatchObject({ objects_dropped: 1, objects_loaded: 0, objects_total: 1 });
  });
});

describe('an empty archive', () => {
  it('answers every named query with no rows, and ad-hoc SQL with zero counts', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'duckdb-audit-empty-'));
    try {
      const db = await DuckDbAudit.open(join(empty, 'archive'));
      try {
        for (const q of AUDIT_NAMED_QUERIES) {
          const params = q.params.map((p) => (p.type === 'date' ? '2026-11-24' : 'ORD-1'));
          const result = await db.runNamed(q.name, params);
          expect(result.rows, q.name).toEqual([]);
          expect(result.columns.length, q.name).toBeGreaterThan(0);
        }
        expect((await db.query('SELECT count(*) AS n FROM audit_records')).rows).toEqual([{ n: 0 }]);
      } finally {
        await db.close();
      }
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('the CLI entry (runAuditSql)', () => {
  it('prints a named query as a table, JSON or CSV', async () => {
    const tableOut = await runAuditSql({ dataDir, named: 'risk_violations', params: [from, to], format: 'table' });
    expect(tableOut).toMatch(/^timestamp\s+order_id\s+trader_id\s+reasons\s+event_id/);
    expect(tableOut).toContain('ORD-DQ-BIG-1');
    expect(tableOut).toMatch(/\(2 rows\)$/);
    const json = JSON.parse(
      await runAuditSql({ dataDir, named: 'high_value_trades', params: [from, to], format: 'json' }),
    );
    expect(json.count).toBe(1);
    expect(json.rows[0]).toMatchObject({ order_id: 'ORD-DQ-HV-1', approved_by: 'RISK-OFFICER-1' });
    const csv = await runAuditSql({
      dataDir,
      sql: 'SELECT order_id, reason FROM audit_records WHERE order_id = ? AND event_type = ? ORDER BY sequence',
      params: ['ORD-DQ-BIG-1', 'order_rejected_risk'],
      format: 'csv',
    });
    const lines = csv.split('\n');
    expect(lines[0]).toBe('order_id,reason');
    expect(lines[1]).toMatch(/^ORD-DQ-BIG-1,/);
  });

  it('names what is wrong', async () => {
    await expect(runAuditSql({ dataDir, named: 'nope', params: [], format: 'table' })).rejects.toThrow(
      /no named query 'nope'; known:\n {2}daily_trading_activity <from_date> <to_date>/,
    );
    await expect(runAuditSql({ dataDir, named: 'order_history', params: [], format: 'table' })).rejects.toThrow(
      /order_history takes 1 parameter \(order_id\), got 0/,
    );
    await expect(
      runAuditSql({ dataDir, named: 'daily_trading_activity', params: ['yesterday', to], format: 'table' }),
    ).rejects.toThrow(/from_date must be a date YYYY-MM-DD, got "yesterday"/);
    await expect(runAuditSql({ dataDir, sql: 'DELETE FROM audit_rows', params: [], format: 'table' })).rejects.toThrow(
      /'DELETE' is refused/,
    );
    await expect(
      runAuditSql({ dataDir, sql: 'SELECT nope FROM audit_records', params: [], format: 'json' }),
    ).rejects.toThrow(/nope/);
    await expect(runAuditSql({ dataDir, params: [], format: 'table' })).rejects.toThrow(/either a query or --named/);
    await expect(
      runAuditSql({ dataDir: join(dataDir, 'missing'), sql: 'SELECT 1', params: [], format: 'table' }),
    ).rejects.toThrow(/no data directory/);
  });
});

/** Every file under the archive with its size and mtime. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const s = await stat(p);
        out.push(`${p} ${s.size} ${s.mtimeMs}`);
      }
    }
  };
  await walk(dir);
  return out.sort();
}
