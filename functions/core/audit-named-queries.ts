// The audit trail's named queries, written once in the SQL dialect that both Amazon Athena (Trino,
// engine version 3) and the local DuckDB stand-in (local/duckdb-audit.ts) run. Pure data and small
// helpers: no AWS imports. The CDK construct (lib/constructs/audit-analytics.ts) saves each one as
// an Athena named query, with this exact text.
//
// The table, `audit_records`, is the write-once archive read as it is stored: one row per line of
// the NDJSON objects under `records/dt=YYYY-MM-DD/`. Columns are the AuditRecord fields (see
// AUDIT_COLUMNS); `input` is the JSON text of the record's input object, read with Trino's JSON
// functions (json_extract_scalar, json_extract, json_format; DuckDB gets macros of the same names
// and semantics); `dt` is the partition, the UTC day of every record the object holds (the
// archiver starts a new object at each UTC midnight).
//
// Conventions, so that one text runs on both engines:
// - Parameters are positional `?` (Athena ExecutionParameters, DuckDB prepared statements), and
//   only in WHERE clauses (Athena accepts them nowhere else): a date range binds its dates more
//   than once, first in the `dt` predicate (constants once bound, so Athena's partition projection
//   prunes to those days), then in the filters on the records' own times. `parameterMarkers` names
//   what each `?` binds, in order; bindNamedQuery() expands the caller's values to that list.
// - Money is decimal, never DOUBLE: a price is read as DECIMAL(18, 8) (8 fractional digits, as
//   decimal.ts allows, and up to 10 integer digits: a price of ten billion or more fails the cast
//   loudly on both engines rather than round; DuckDB also parses DECIMALs wider than 18 digits
//   about a hundred times slower), price x quantity is DECIMAL(37, 8) and the sums DECIMAL(38, 8),
//   all exact. Rounding to cents is half-even, as Decimal.toFixed does.
// - "First record per order, preferring non-replayed" (reports.ts firstPerOrder): ROW_NUMBER over
//   the order, ordered by the replay flag, then sequence. A replay carries `"replayed": true`.

export const AUDIT_TABLE = 'audit_records';

export type AuditColumnType = 'bigint' | 'string';

/** The table's columns, in order, as the Glue table declares them (`dt` is the partition key). */
export const AUDIT_COLUMNS: ReadonlyArray<{ name: string; type: AuditColumnType; comment: string }> = [
  { name: 'sequence', type: 'bigint', comment: 'position in the hash chain, from 0' },
  { name: 'event_id', type: 'string', comment: 'unique id of the record' },
  { name: 'timestamp', type: 'string', comment: 'RFC 3339 UTC with nanoseconds: 2026-11-24T10:00:00.123456789Z' },
  { name: 'event_type', type: 'string', comment: 'what happened (order_submitted, risk_check, approved, ...)' },
  { name: 'order_id', type: 'string', comment: 'the order, when the event concerns one' },
  { name: 'trader_id', type: 'string', comment: "the order's trader, when known" },
  { name: 'actor', type: 'string', comment: 'the acting identity: an agent role or a person' },
  { name: 'input', type: 'string', comment: 'JSON text of the evidence the decision used' },
  { name: 'decision', type: 'string', comment: 'the outcome' },
  { name: 'reason', type: 'string', comment: 'why, in words and reason codes' },
  { name: 'prev_hash', type: 'string', comment: 'hash of the previous record (hex)' },
  { name: 'hash', type: 'string', comment: 'hash of this record (hex)' },
];

export const AUDIT_PARTITION = { name: 'dt', type: 'string', comment: 'UTC day of the records: YYYY-MM-DD' } as const;

export type NamedQueryParamType = 'date' | 'string';

export interface NamedQueryParam {
  name: string;
  type: NamedQueryParamType;
  description: string;
}

export interface AuditNamedQuery {
  name: string;
  description: string;
  sql: string;
  /** What the caller gives, in this order. */
  params: NamedQueryParam[];
  /** For each `?` of `sql`, in order, the name of the param it binds. */
  parameterMarkers: string[];
}

export class NamedQueryError extends Error {
  override readonly name = 'NamedQueryError';
}

const FROM: NamedQueryParam = { name: 'from_date', type: 'date', description: 'first UTC day, YYYY-MM-DD' };
const TO: NamedQueryParam = { name: 'to_date', type: 'date', description: 'last UTC day, YYYY-MM-DD (inclusive)' };
const RANGE_MARKERS = ['from_date', 'to_date', 'from_date', 'to_date'];

/**
 * The records of the range: partitions pruned on the dates (constants once bound, so Athena's
 * partition projection reads only those days), rows kept by their own time.
 */
const RANGE = `r AS (
  SELECT *
  FROM audit_records
  WHERE dt BETWEEN ? AND ?
    AND substr("timestamp", 1, 10) BETWEEN ? AND ?
)`;

/**
 * 1 for a replayed record (input.replayed is JSON true), else 0: sorts originals first. The text
 * test first spares parsing the many inputs that have no such key (JSON writers never escape the
 * letters of a key, so a key `replayed` always shows as `"replayed"`).
 */
const REPLAY_RANK = `CASE
      WHEN strpos(input, '"replayed"') = 0 THEN 0
      WHEN json_format(json_extract(input, '$.replayed')) = 'true' THEN 1
      ELSE 0
    END`;

const FIRST_PER_ORDER = `ROW_NUMBER() OVER (PARTITION BY coalesce(order_id, event_id) ORDER BY replay, sequence)`;

/**
 * The filled trades of `r` with their fill read out of the input, and `replay`. Read before the
 * window that picks one per order, so that only these narrow columns go through its sort.
 */
const FILLED = `filled AS (
  SELECT sequence, event_id, "timestamp", order_id, trader_id, replay,
    json_extract_scalar(fill, '$.symbol') AS symbol,
    json_extract_scalar(fill, '$.side') AS side,
    json_extract_scalar(fill, '$.quantity') AS quantity,
    json_extract_scalar(fill, '$.price') AS price,
    json_extract_scalar(fill, '$.executed_at') AS fill_executed_at
  FROM (
    SELECT sequence, event_id, "timestamp", order_id, trader_id,
      ${REPLAY_RANK} AS replay,
      json_extract(input, '$.fill') AS fill
    FROM r
    WHERE event_type = 'trade_executed' AND decision = 'filled'
  ) x
)`;

/** Each order's trade, counted once (a retried step re-records it, marked replayed). */
const TRADES = `trades AS (
  SELECT filled.*, ${FIRST_PER_ORDER} AS pick
  FROM filled
)`;

const dailyTradingActivity: AuditNamedQuery = {
  name: 'daily_trading_activity',
  description:
    'Trades per UTC day and symbol: count, shares bought and sold, notional (sum of price x quantity, exact, ' +
    'rounded half-even to cents). Each order counted once; a trade belongs to the day it executed.',
  params: [FROM, TO],
  parameterMarkers: [...RANGE_MARKERS, 'from_date', 'to_date'],
  sql: `WITH ${RANGE},
${FILLED},
${TRADES},
fills AS (
  SELECT
    substr(fill_executed_at, 1, 10) AS trade_date,
    symbol,
    side,
    CAST(quantity AS BIGINT) AS quantity,
    CAST(price AS DECIMAL(18, 8)) AS price
  FROM trades
  WHERE pick = 1
),
days AS (
  SELECT
    f.trade_date,
    f.symbol,
    count(*) AS trades,
    sum(CASE WHEN f.side = 'BUY' THEN f.quantity ELSE 0 END) AS shares_bought,
    sum(CASE WHEN f.side = 'BUY' THEN 0 ELSE f.quantity END) AS shares_sold,
    sum(f.price * f.quantity) * 100 AS cents
  FROM fills f
  WHERE f.trade_date BETWEEN ? AND ?
  GROUP BY f.trade_date, f.symbol
)
SELECT
  trade_date AS "date",
  symbol,
  trades,
  shares_bought,
  shares_sold,
  CAST(
    CASE
      WHEN cents - floor(cents) > 0.5 THEN floor(cents) + 1
      WHEN cents - floor(cents) < 0.5 THEN floor(cents)
      WHEN floor(floor(cents) * 0.5) = floor(cents) * 0.5 THEN floor(cents)
      ELSE floor(cents) + 1
    END * 0.01 AS DECIMAL(38, 2)
  ) AS notional
FROM days
ORDER BY trade_date, symbol`,
};

const riskViolations: AuditNamedQuery = {
  name: 'risk_violations',
  description:
    'Orders the pre-trade risk gate rejected, with the failed controls (reason codes). Each order once, ' +
    'preferring the original record over a replay.',
  params: [FROM, TO],
  parameterMarkers: RANGE_MARKERS,
  sql: `WITH ${RANGE},
rejections AS (
  SELECT sequence, event_id, "timestamp", order_id, trader_id, reason, ${REPLAY_RANK} AS replay
  FROM r
  WHERE event_type = 'order_rejected_risk'
),
v AS (
  SELECT rejections.*, ${FIRST_PER_ORDER} AS pick
  FROM rejections
)
SELECT "timestamp", order_id, trader_id, reason AS reasons, event_id
FROM v
WHERE pick = 1
ORDER BY sequence`,
};

const rejectedOrders: AuditNamedQuery = {
  name: 'rejected_orders',
  description:
    'Every rejection, by stage: invalid input (order_invalid), the risk gate (order_rejected_risk), the ' +
    'checker (approval_rejected), approval timeout (approval_expired), the venue or the pre-execution ' +
    're-check (trade_failed). Risk and venue rejections once per order, preferring the original record.',
  params: [FROM, TO],
  parameterMarkers: RANGE_MARKERS,
  sql: `WITH ${RANGE},
stops AS (
  SELECT sequence, event_id, "timestamp", order_id, trader_id, event_type, reason, ${REPLAY_RANK} AS replay
  FROM r
  WHERE event_type IN ('order_invalid', 'order_rejected_risk', 'approval_rejected', 'approval_expired')
    OR (event_type = 'trade_failed' AND decision IN ('rejected', 'blocked'))
),
rej AS (
  SELECT stops.*,
    ROW_NUMBER() OVER (PARTITION BY event_type, coalesce(order_id, event_id) ORDER BY replay, sequence) AS pick
  FROM stops
)
SELECT "timestamp", order_id, trader_id, event_type AS stage, reason, event_id
FROM rej
WHERE pick = 1 OR event_type IN ('order_invalid', 'approval_rejected', 'approval_expired')
ORDER BY sequence`,
};

// Trades and approvals each get a scan of their own rather than one shared CTE: DuckDB materialises
// a CTE that is used twice, and a shared one would copy every input of the range first.
const highValueTrades: AuditNamedQuery = {
  name: 'high_value_trades',
  description:
    'Trades that needed a second person (maker-checker): the fill, the order value, who approved it, ' +
    'when and how. Approvals are looked up from the day before the range on, so that a trade just ' +
    'after midnight keeps the approval given before it.',
  params: [FROM, TO],
  parameterMarkers: [...RANGE_MARKERS, ...RANGE_MARKERS],
  sql: `WITH filled AS (
  SELECT sequence, event_id, "timestamp", order_id, trader_id, replay,
    json_extract_scalar(fill, '$.symbol') AS symbol,
    json_extract_scalar(fill, '$.quantity') AS quantity,
    json_extract_scalar(fill, '$.price') AS price
  FROM (
    SELECT sequence, event_id, "timestamp", order_id, trader_id,
      ${REPLAY_RANK} AS replay,
      json_extract(input, '$.fill') AS fill
    FROM audit_records
    WHERE dt BETWEEN ? AND ?
      AND substr("timestamp", 1, 10) BETWEEN ? AND ?
      AND event_type = 'trade_executed' AND decision = 'filled'
  ) x
),
${TRADES},
given AS (
  SELECT sequence, event_id, order_id, actor, "timestamp",
    ${REPLAY_RANK} AS replay,
    json_extract_scalar(input, '$.order_value') AS order_value,
    json_extract_scalar(input, '$.via') AS via
  FROM audit_records
  WHERE dt BETWEEN CAST(CAST(CAST(? AS DATE) - INTERVAL '1' DAY AS DATE) AS VARCHAR) AND ?
    AND substr("timestamp", 1, 10)
      BETWEEN CAST(CAST(CAST(? AS DATE) - INTERVAL '1' DAY AS DATE) AS VARCHAR) AND ?
    AND event_type = 'approved' AND order_id IS NOT NULL
),
approvals AS (
  SELECT given.*, ${FIRST_PER_ORDER} AS pick
  FROM given
)
SELECT
  t."timestamp" AS executed_at,
  t.order_id,
  t.trader_id,
  t.symbol,
  CAST(t.quantity AS BIGINT) AS quantity,
  t.price,
  a.order_value,
  a.actor AS approved_by,
  a."timestamp" AS approved_at,
  a.via AS approved_via
FROM trades t
JOIN approvals a ON a.order_id = t.order_id AND a.pick = 1
WHERE t.pick = 1
ORDER BY t.sequence`,
};

const orderHistory: AuditNamedQuery = {
  name: 'order_history',
  description: 'The whole history of one order, in sequence: every record of it, whatever its day.',
  params: [{ name: 'order_id', type: 'string', description: 'the order id, e.g. ORD-123' }],
  parameterMarkers: ['order_id'],
  sql: `SELECT sequence, "timestamp", event_type, actor, decision, reason, order_id, trader_id, input, event_id,
  prev_hash, hash, dt
FROM audit_records
WHERE order_id = ?
ORDER BY sequence`,
};

export const AUDIT_NAMED_QUERIES: readonly AuditNamedQuery[] = [
  dailyTradingActivity,
  riskViolations,
  rejectedOrders,
  highValueTrades,
  orderHistory,
];

export function findNamedQuery(name: string): AuditNamedQuery | undefined {
  return AUDIT_NAMED_QUERIES.find((q) => q.name === name);
}

/** A one-line usage of a named query: `daily_trading_activity <from_date> <to_date>`. */
export function namedQueryUsage(q: AuditNamedQuery): string {
  return [q.name, ...q.params.map((p) => `<${p.name}>`)].join(' ');
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A real calendar day written YYYY-MM-DD (2026-02-30 is not one). */
export function isIsoDate(v: string): boolean {
  const m = DAY.exec(v);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === v;
}

/**
 * Checks the caller's values against the query's params (count, date format, range order) and
 * returns the positional values, one per `?` of the SQL. Throws NamedQueryError naming the problem.
 */
export function bindNamedQuery(q: AuditNamedQuery, values: readonly string[]): string[] {
  if (values.length !== q.params.length) {
    throw new NamedQueryError(
      `${q.name} takes ${q.params.length} parameter${q.params.length === 1 ? '' : 's'} ` +
        `(${q.params.map((p) => p.name).join(', ')}), got ${values.length}: usage ${namedQueryUsage(q)}`,
    );
  }
  const byName = new Map<string, string>();
  q.params.forEach((p, i) => {
    const v = values[i] as string;
    if (p.type === 'date' && !isIsoDate(v)) {
      throw new NamedQueryError(`${q.name}: ${p.name} must be a date YYYY-MM-DD, got ${JSON.stringify(v)}`);
    }
    if (p.type === 'string' && v.length === 0) throw new NamedQueryError(`${q.name}: ${p.name} must not be empty`);
    byName.set(p.name, v);
  });
  const from = byName.get('from_date');
  const to = byName.get('to_date');
  if (from !== undefined && to !== undefined && from > to) {
    throw new NamedQueryError(`${q.name}: to_date ${to} is before from_date ${from}`);
  }
  return q.parameterMarkers.map((name) => {
    const v = byName.get(name);
    if (v === undefined) throw new NamedQueryError(`${q.name}: parameter marker ${name} names no parameter`);
    return v;
  });
}

/**
 * The positional values as Athena's ExecutionParameters want them: each one an SQL literal
 * (strings quoted, quotes doubled).
 */
export function athenaExecutionParameters(q: AuditNamedQuery, values: readonly string[]): string[] {
  return bindNamedQuery(q, values).map((v) => `'${v.replace(/'/g, "''")}'`);
}

/** How many `?` parameterMarkers an SQL text has, outside string literals, quoted names and comments. */
export function countParameterMarkers(sql: string): number {
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      i = end === -1 ? sql.length : end;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 1;
    } else if (c === '?') n++;
  }
  return n;
}
