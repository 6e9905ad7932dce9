// The local stand-in for Athena over the audit archive: DuckDB (@duckdb/node-api) answering the
// same SQL (functions/core/audit-named-queries.ts) over the same layout, `records/dt=*/*` NDJSON.
//
// What is queried is a materialisation of the archive, kept in step with it: before every query,
// refresh() lists the archive's objects and loads each one not loaded yet (objects are immutable
// and keyed by name: a name loaded once is that object for good), and drops the rows of any object
// no longer there (retention expired). So a query sees exactly what the archive holds,
// at the cost of one directory listing when nothing changed. Reading the JSON files anew for every
// query cannot answer in time (DuckDB's read_json parsed about 33,000 records a second here:
// half a minute for a million); the materialisation, stored clustered by day and event type,
// answers each named query in well under a second (bench/audit-query.ts has the figures). It
// lives in a DuckDB file when `cacheFile` is given (kept between runs, so only new objects load),
// else in memory.
//
// Read-only by construction: DuckDB runs with `enable_external_access = false` from the start and
// its configuration locked, so SQL can reach no file at all (no read_json, COPY, ATTACH, INSTALL
// or LOAD of anything); the archive is read by this module, in Node, and handed to DuckDB as text.
// On top of that, query() accepts one statement, and only a SELECT (WITH, FROM, VALUES, DESCRIBE,
// SHOW, SUMMARIZE) or an EXPLAIN of one, so nothing can change the materialisation either.
//
// Trino functions the named queries use that DuckDB lacks are macros of the same name and meaning:
//   json_extract_scalar(json, path): the scalar at path as text; NULL for an object, an array, a
//     JSON null or a missing path (DuckDB's json_extract_string returns objects as text). Numbers
//     come back as DuckDB prints them, which is Trino's text for every number JavaScript writes
//     (integers; decimals without trailing zeros); money is a JSON string anyway.
//   json_format(json): the JSON text of a JSON value ('true', '"x"', '{"a":1}').
import type { Dirent } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBPreparedStatement,
  type DuckDBResultReader,
  DuckDBTypeId,
  type DuckDBValue,
  StatementType,
} from '@duckdb/node-api';
import {
  AUDIT_NAMED_QUERIES,
  bindNamedQuery,
  findNamedQuery,
  namedQueryUsage,
} from '../functions/core/audit-named-queries.js';

export type SqlValue = string | number | boolean | null;

export interface AuditQueryResult {
  columns: string[];
  rows: Array<Record<string, SqlValue>>;
}

export interface DuckDbAuditOptions {
  /**
   * A DuckDB file to keep the materialisation in (e.g. `<dataDir>/audit-sql/audit.duckdb`): only
   * objects new since the last run are loaded. Without it, everything is loaded into memory at
   * open. A file another process holds open is not shared: this instance then works in memory.
   */
  cacheFile?: string;
  /** DuckDB worker threads (default: DuckDB's, one per core). */
  threads?: number;
  /** DuckDB memory limit, e.g. '2GB' (default: DuckDB's, 80% of RAM). */
  memoryLimit?: string;
  /** Archive objects loaded per transaction while refreshing (default 256). */
  loadBatchObjects?: number;
}

/** What a refresh did: the objects it loaded or dropped, and how long it took. */
export interface RefreshStats {
  objects_loaded: number;
  records_loaded: number;
  objects_dropped: number;
  objects_total: number;
  records_total: number;
  seconds: number;
}

/** A query the module refuses or DuckDB rejects; `kind` says which. */
export class AuditSqlError extends Error {
  override readonly name = 'AuditSqlError';
  constructor(
    message: string,
    readonly kind: 'refused' | 'invalid' | 'params' | 'archive',
  ) {
    super(message);
  }
}

/** Bumped whenever the materialisation's tables change shape: an older cache is rebuilt. */
const SCHEMA_VERSION = '1';
const OBJECT_KEY = /^records\/dt=(\d{4}-\d{2}-\d{2})\/([^/]+)$/;

/** The record fields as the materialisation reads them from each line (json_transform). */
const LINE_SHAPE = JSON.stringify({
  sequence: 'BIGINT',
  event_id: 'VARCHAR',
  timestamp: 'VARCHAR',
  event_type: 'VARCHAR',
  order_id: 'VARCHAR',
  trader_id: 'VARCHAR',
  actor: 'VARCHAR',
  input: 'JSON',
  decision: 'VARCHAR',
  reason: 'VARCHAR',
  prev_hash: 'VARCHAR',
  hash: 'VARCHAR',
});

const SETUP = [
  `CREATE TABLE IF NOT EXISTS audit_meta (name VARCHAR PRIMARY KEY, value VARCHAR)`,
  `CREATE TABLE IF NOT EXISTS audit_objects (
     object_key VARCHAR PRIMARY KEY, dt VARCHAR NOT NULL, size BIGINT NOT NULL, records BIGINT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS audit_rows (
     sequence BIGINT, event_id VARCHAR, "timestamp" VARCHAR, event_type VARCHAR, order_id VARCHAR,
     trader_id VARCHAR, actor VARCHAR, input VARCHAR, decision VARCHAR, reason VARCHAR,
     prev_hash VARCHAR, hash VARCHAR, dt VARCHAR, object_key VARCHAR)`,
  // The table of the named queries: the archive's columns, in the Glue table's order.
  `CREATE OR REPLACE VIEW audit_records AS
     SELECT sequence, event_id, "timestamp", event_type, order_id, trader_id, actor, input, decision,
            reason, prev_hash, hash, dt
     FROM audit_rows`,
];

/** Per connection: a load's rows wait here, to be stored sorted. */
const SESSION = [`CREATE OR REPLACE TEMP TABLE audit_stage AS SELECT * FROM audit_rows LIMIT 0`];

const MACROS = [
  // json_value: the value at path if it is a scalar (else NULL), as JSON; then unquoted.
  `CREATE OR REPLACE TEMP MACRO json_extract_scalar(j, p) AS (json_extract_string(json_value(j, p), '$'))`,
  `CREATE OR REPLACE TEMP MACRO json_format(j) AS (CAST(j AS VARCHAR))`,
];

/** Statements a query may start with: reading ones only. */
const ALLOWED_FIRST = new Set(['SELECT', 'WITH', 'FROM', 'VALUES', 'EXPLAIN', 'DESCRIBE', 'SHOW', 'SUMMARIZE']);
/** Words that have no place in a read-only query, wherever they appear (outside quotes). */
const FORBIDDEN = new Set([
  'ATTACH',
  'DETACH',
  'COPY',
  'INSTALL',
  'LOAD',
  'EXPORT',
  'IMPORT',
  'CALL',
  'PRAGMA',
  'SET',
  'RESET',
  'USE',
  'CHECKPOINT',
  'VACUUM',
  'INSERT',
  'UPDATE',
  'DELETE',
  'MERGE',
  'CREATE',
  'DROP',
  'ALTER',
  'TRUNCATE',
  'GRANT',
  'REVOKE',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'PREPARE',
  'EXECUTE',
  'DEALLOCATE',
]);

/**
 * Cache files open in this process. DuckDB's file lock keeps other processes out, but not this
 * one (POSIX locks are per process): a second instance here works in memory instead.
 */
const openCacheFiles = new Set<string>();

export class DuckDbAudit {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** The last refresh (the one before the last query). */
  lastRefresh: RefreshStats | undefined;

  private constructor(
    private readonly archiveDir: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    /** Where the materialisation lives: the cache file, or memory. */
    readonly storage: string,
    private readonly options: DuckDbAuditOptions,
  ) {}

  /**
   * Opens DuckDB over the archive at `archiveDir` (the directory holding `records/`) and brings
   * the materialisation up to date with it.
   */
  static async open(archiveDirGiven: string, options: DuckDbAuditOptions = {}): Promise<DuckDbAudit> {
    const archiveDir = resolve(archiveDirGiven);
    const config: Record<string, string> = {
      enable_external_access: 'false',
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      allow_community_extensions: 'false',
      ...(options.threads ? { threads: String(options.threads) } : {}),
      ...(options.memoryLimit ? { memory_limit: options.memoryLimit } : {}),
    };
    let instance: DuckDBInstance;
    let storage = 'memory';
    const cacheFile = options.cacheFile ? resolve(options.cacheFile) : undefined;
    if (cacheFile && openCacheFiles.has(cacheFile)) {
      instance = await DuckDBInstance.create(':memory:', config);
      storage = 'memory (cache file in use in this process)';
    } else if (cacheFile) {
      await mkdir(dirname(cacheFile), { recursive: true });
      try {
        instance = await DuckDBInstance.create(cacheFile, config);
        storage = cacheFile;
        openCacheFiles.add(cacheFile);
      } catch (err) {
        if (!/lock/i.test(String(err))) {
          throw new AuditSqlError(
            `cannot open the query cache ${cacheFile} (${(err as Error).message}); it holds only ` +
              'a copy of the archive: remove it and it is rebuilt',
            'archive',
          );
        }
        // Another process (a second `audit sql`) holds the file: work in memory this time.
        instance = await DuckDBInstance.create(':memory:', config);
        storage = 'memory (cache file in use by another process)';
      }
    } else {
      instance = await DuckDBInstance.create(':memory:', config);
    }
    const conn = await instance.connect();
    try {
      await conn.run('SET lock_configuration = true');
      await prepareSchema(conn, archiveDir);
      for (const m of [...SESSION, ...MACROS]) await conn.run(m);
    } catch (err) {
      conn.closeSync();
      instance.closeSync();
      if (storage === cacheFile) openCacheFiles.delete(storage);
      throw err;
    }
    const audit = new DuckDbAudit(archiveDir, instance, conn, storage, options);
    try {
      await audit.refresh();
    } catch (err) {
      await audit.close();
      throw err;
    }
    return audit;
  }

  /** Brings the materialisation up to date with the archive (query() does this first). */
  refresh(): Promise<RefreshStats> {
    return this.serial(() => this.refreshNow());
  }

  /**
   * Runs one read-only statement (see the module comment) with `?` parameters, over what the
   * archive holds now. Values come back JSON-safe: integers as numbers while exact, else strings;
   * decimals as exact strings; nested values as JSON text.
   */
  query(sql: string, params: readonly SqlValue[] = []): Promise<AuditQueryResult> {
    return this.serial(async () => {
      const prepared = await this.prepareReadOnly(sql);
      if (prepared.parameterCount !== params.length) {
        throw new AuditSqlError(
          `the query has ${prepared.parameterCount} parameter placeholder${prepared.parameterCount === 1 ? '' : 's'} (?), ` +
            `got ${params.length} value${params.length === 1 ? '' : 's'}`,
          'params',
        );
      }
      await this.refreshNow();
      if (params.length > 0) prepared.bind(params.map(toDuckValue));
      let reader: DuckDBResultReader;
      try {
        reader = await prepared.runAndReadAll();
      } catch (err) {
        throw new AuditSqlError(`query failed: ${duckMessage(err)}`, 'invalid');
      }
      return toResult(reader);
    });
  }

  /** Runs a named query (audit-named-queries.ts) with the caller's values, in its params' order. */
  async runNamed(name: string, params: readonly string[]): Promise<AuditQueryResult> {
    const q = findNamedQuery(name);
    if (!q) {
      throw new AuditSqlError(
        `no named query '${name}'; known: ${AUDIT_NAMED_QUERIES.map((n) => namedQueryUsage(n)).join('; ')}`,
        'params',
      );
    }
    let values: string[];
    try {
      values = bindNamedQuery(q, params);
    } catch (err) {
      throw new AuditSqlError((err as Error).message, 'params');
    }
    return this.query(q.sql, values);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    this.conn.closeSync();
    this.instance.closeSync();
    openCacheFiles.delete(this.storage);
  }

  /** One refresh or query at a time: a query runs on the refresh just before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new AuditSqlError('the audit query engine is closed', 'invalid'));
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async refreshNow(): Promise<RefreshStats> {
    const started = process.hrtime.bigint();
    const known = new Map<string, number>();
    const loaded = await this.conn.runAndReadAll('SELECT object_key, size FROM audit_objects');
    for (const [key, size] of loaded.getRowsJS() as Array<[string, bigint | number]>) known.set(key, Number(size));
    const present = await listObjects(this.archiveDir, known);

    const gone = [...known.keys()].filter((k) => !present.has(k));
    const fresh = [...present.values()].filter((o) => !known.has(o.key));
    if (gone.length > 0) {
      // Retention expired: the object's rows go.
      await this.inTransaction(async () => {
        for (const part of chunks(gone, 500)) {
          const marks = part.map(() => '?').join(', ');
          await this.conn.run(`DELETE FROM audit_rows WHERE object_key IN (${marks})`, part);
          await this.conn.run(`DELETE FROM audit_objects WHERE object_key IN (${marks})`, part);
        }
      });
    }
    let recordsLoaded = 0;
    const batch = Math.max(1, this.options.loadBatchObjects ?? 256);
    for (const part of chunks(fresh, batch)) recordsLoaded += await this.load(part);

    const totals = await this.conn.runAndReadAll('SELECT count(*), coalesce(sum(records), 0) FROM audit_objects');
    const [objects, records] = (totals.getRowsJS()[0] ?? [0, 0]) as [bigint, bigint];
    const stats: RefreshStats = {
      objects_loaded: fresh.length,
      records_loaded: recordsLoaded,
      objects_dropped: gone.length,
      objects_total: Number(objects),
      records_total: Number(records),
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    };
    this.lastRefresh = stats;
    return stats;
  }

  /**
   * Loads archive objects (read here, in Node, the next one while DuckDB parses the last) in one
   * transaction: all of them or none.
   */
  private async load(objects: readonly ArchiveObject[]): Promise<number> {
    const read = (o: ArchiveObject | undefined): Promise<string> | undefined => {
      if (!o) return undefined;
      const body = readFile(o.path, 'utf8').catch((err: unknown) => {
        throw new AuditSqlError(`cannot read archive object ${o.key}: ${(err as Error).message}`, 'archive');
      });
      body.catch(() => undefined); // awaited in turn below
      return body;
    };
    let total = 0;
    await this.inTransaction(async () => {
      let next = read(objects[0]);
      for (const [i, o] of objects.entries()) {
        const body = (await next) as string;
        next = read(objects[i + 1]);
        let lines: number;
        try {
          // The object's lines, each parsed once into the record's fields (input kept as JSON text).
          const inserted = await this.conn.run(
            `INSERT INTO audit_stage
             SELECT r.sequence, r.event_id, r."timestamp", r.event_type, r.order_id, r.trader_id, r.actor,
                    CAST(r.input AS VARCHAR), r.decision, r.reason, r.prev_hash, r.hash, $dt, $key
             FROM (
               SELECT json_transform(line, '${LINE_SHAPE}') AS r
               FROM (SELECT unnest(string_split($body, chr(10))) AS line)
               WHERE line <> ''
             )`,
            { body, dt: o.dt, key: o.key },
          );
          lines = inserted.rowsChanged;
        } catch (err) {
          throw new AuditSqlError(
            `archive object ${o.key} is not NDJSON audit records: ${duckMessage(err)}`,
            'archive',
          );
        }
        await this.conn.run('INSERT INTO audit_objects VALUES ($key, $dt, $size, $records)', {
          key: o.key,
          dt: o.dt,
          size: o.size,
          records: lines,
        });
        total += lines;
      }
      await next?.catch(() => undefined);
      // Stored clustered by day and event type: a query for some event types over some days then
      // reads only the row groups that hold them (their zone maps exclude the rest).
      await this.conn.run('INSERT INTO audit_rows SELECT * FROM audit_stage ORDER BY dt, event_type, sequence');
      await this.conn.run('DELETE FROM audit_stage');
    });
    return total;
  }

  private async inTransaction(fn: () => Promise<void>): Promise<void> {
    await this.conn.run('BEGIN TRANSACTION');
    try {
      await fn();
      await this.conn.run('COMMIT');
    } catch (err) {
      await this.conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private async prepareReadOnly(sql: string): Promise<DuckDBPreparedStatement> {
    const words = sqlWords(sql);
    const first = words[0];
    if (first === undefined) throw new AuditSqlError('the query is empty', 'invalid');
    if (!ALLOWED_FIRST.has(first)) {
      throw new AuditSqlError(
        `only reading queries are allowed (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE); '${first}' is refused`,
        'refused',
      );
    }
    const bad = words.find((w) => FORBIDDEN.has(w));
    if (bad) {
      throw new AuditSqlError(`'${bad}' is refused: audit queries are read-only (quote it if it is a name)`, 'refused');
    }
    let count: number;
    let prepared: DuckDBPreparedStatement;
    try {
      const extracted = await this.conn.extractStatements(sql);
      count = extracted.count;
      if (count !== 1) {
        throw new AuditSqlError(`give one statement at a time (got ${count})`, count === 0 ? 'invalid' : 'refused');
      }
      prepared = await extracted.prepare(0);
    } catch (err) {
      if (err instanceof AuditSqlError) throw err;
      throw new AuditSqlError(`invalid query: ${duckMessage(err)}`, 'invalid');
    }
    const type = prepared.statementType;
    if (type === StatementType.EXPLAIN) {
      // EXPLAIN ANALYZE runs its statement: that one must be a reading one too.
      const inner = sql.replace(/^\s*(?:--[^\n]*\n\s*|\/\*[\s\S]*?\*\/\s*)*explain\s+(?:analy[sz]e\s+)?/i, '');
      if (inner === sql) throw new AuditSqlError('cannot tell what this EXPLAIN explains', 'refused');
      await this.prepareReadOnly(inner);
    } else if (type !== StatementType.SELECT) {
      throw new AuditSqlError(
        `only reading queries are allowed; this is a ${StatementType[type]} statement`,
        'refused',
      );
    }
    return prepared;
  }
}

interface ArchiveObject {
  key: string;
  path: string;
  dt: string;
  size: number;
}

/**
 * The archive's record objects, as Athena's partition projection sees them: every file under
 * `records/dt=YYYY-MM-DD/`, except names starting with `.` or `_` (Athena skips those too). Only
 * names not in `known` are stat'ed (for their size): a name, once published, never changes (the
 * write-once archive links complete objects into place and has no overwrite path), so a refresh
 * that finds nothing new costs one directory listing a day.
 */
async function listObjects(
  archiveDir: string,
  known: ReadonlyMap<string, number>,
): Promise<Map<string, ArchiveObject>> {
  const out = new Map<string, ArchiveObject>();
  const recordsDir = join(archiveDir, 'records');
  let days: Dirent[];
  try {
    days = await readdir(recordsDir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out; // an empty archive
    throw new AuditSqlError(`cannot list ${recordsDir}: ${(err as Error).message}`, 'archive');
  }
  await Promise.all(
    days
      .filter((d) => d.isDirectory() && /^dt=\d{4}-\d{2}-\d{2}$/.test(d.name))
      .map(async (day) => {
        const dayDir = join(recordsDir, day.name);
        const entries = await readdir(dayDir, { withFileTypes: true });
        await Promise.all(
          entries
            .filter((e) => e.isFile() && !e.name.startsWith('.') && !e.name.startsWith('_'))
            .map(async (e) => {
              const key = `records/${day.name}/${e.name}`;
              const m = OBJECT_KEY.exec(key);
              if (!m) return;
              const path = join(dayDir, e.name);
              const size = known.get(key) ?? (await stat(path)).size;
              out.set(key, { key, path, dt: m[1] as string, size });
            }),
        );
      }),
  );
  return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function prepareSchema(conn: DuckDBConnection, archiveDir: string): Promise<void> {
  await conn.run(SETUP[0] as string);
  const meta = await conn.runAndReadAll('SELECT name, value FROM audit_meta');
  const values = new Map(meta.getRowsJS() as Array<[string, string]>);
  if (values.size > 0 && (values.get('schema') !== SCHEMA_VERSION || values.get('archive') !== archiveDir)) {
    // Another layout, or another archive: start over (it is only a copy).
    await conn.run('DROP VIEW IF EXISTS audit_records');
    await conn.run('DROP TABLE IF EXISTS audit_rows');
    await conn.run('DROP TABLE IF EXISTS audit_objects');
    await conn.run('DELETE FROM audit_meta');
  }
  for (const s of SETUP) await conn.run(s);
  await conn.run('INSERT OR REPLACE INTO audit_meta VALUES ($n, $v)', { n: 'schema', v: SCHEMA_VERSION });
  await conn.run('INSERT OR REPLACE INTO audit_meta VALUES ($n, $v)', { n: 'archive', v: archiveDir });
}

/** The query's words, upper-cased, outside string literals, quoted names and comments. */
export function sqlWords(sql: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === "'" || c === '"') {
      // A quote inside is doubled: skipping to the next quote and going on handles that too.
      const end = sql.indexOf(c, i + 1);
      i = end === -1 ? sql.length : end + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$]/.test(sql[j] as string)) j++;
      words.push(sql.slice(i, j).toUpperCase());
      i = j;
    } else if (c === '$' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      // $name parameter: not a word
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_]/.test(sql[j] as string)) j++;
      i = j;
    } else {
      i++;
    }
  }
  return words;
}

function toDuckValue(v: SqlValue): DuckDBValue {
  return v;
}

const INTEGER_TYPES = new Set<DuckDBTypeId>([
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UHUGEINT,
  DuckDBTypeId.BIGNUM,
]);

/** JSON-safe rows: exact integers as numbers (else strings), decimals as exact strings. */
function toResult(reader: DuckDBResultReader): AuditQueryResult {
  const columns = reader.deduplicatedColumnNames();
  const types = reader.columnTypes().map((t) => t.typeId);
  const rows = reader.getRowsJson().map((row) => {
    const out: Record<string, SqlValue> = {};
    row.forEach((v, i) => {
      const name = columns[i] as string;
      if (v === null || typeof v === 'boolean' || typeof v === 'number') out[name] = v;
      else if (typeof v === 'string') {
        if (INTEGER_TYPES.has(types[i] as DuckDBTypeId)) {
          const n = Number(v);
          out[name] = Number.isSafeInteger(n) && String(n) === v ? n : v;
        } else out[name] = v;
      } else out[name] = JSON.stringify(v);
    });
    return out;
  });
  return { columns, rows };
}

function duckMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/^Failed to extract statements: /, '').trim();
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
