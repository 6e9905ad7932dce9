// `trading audit sql "<query>"` and `trading audit sql --named <name> --param v ...`: SQL over the
// local platform's write-once audit archive (<dataDir>/archive), on DuckDB, in the dialect the
// Athena named queries use. Read-only (see local/duckdb-audit.ts); the query cache lives in
// <dataDir>/audit-sql/ and holds nothing the archive does not.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AUDIT_NAMED_QUERIES, namedQueryUsage } from '../functions/core/audit-named-queries.js';
import { type AuditQueryResult, AuditSqlError, DuckDbAudit, type SqlValue } from '../local/duckdb-audit.js';
import { table } from './cli-format.js';

export { AuditSqlError } from '../local/duckdb-audit.js';

export type AuditSqlFormat = 'table' | 'json' | 'csv';
export const AUDIT_SQL_FORMATS: readonly AuditSqlFormat[] = ['table', 'json', 'csv'];

export interface AuditSqlOptions {
  /** The local platform's data directory (the archive is `<dataDir>/archive`). */
  dataDir: string;
  /** An ad-hoc query (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE), `?` for each param. */
  sql?: string;
  /** Or a named query (functions/core/audit-named-queries.ts). */
  named?: string;
  /** The named query's parameters in order, or the ad-hoc query's `?` values. */
  params: string[];
  format: AuditSqlFormat;
}

/** Where the query cache of a data directory lives. */
export const auditSqlCacheFile = (dataDir: string): string => join(dataDir, 'audit-sql', 'audit.duckdb');

/** Runs the query and returns the text to print (no trailing newline). Throws AuditSqlError. */
export async function runAuditSql(options: AuditSqlOptions): Promise<string> {
  const { sql, named, params, format } = options;
  if ((sql === undefined) === (named === undefined)) {
    throw new AuditSqlError('give either a query or --named <name>, not both and not neither', 'params');
  }
  if (sql !== undefined && sql.trim() === '') throw new AuditSqlError('the query is empty', 'invalid');
  if (!AUDIT_SQL_FORMATS.includes(format)) {
    throw new AuditSqlError(`format must be one of ${AUDIT_SQL_FORMATS.join(', ')}, got ${format}`, 'params');
  }
  if (named !== undefined && !AUDIT_NAMED_QUERIES.some((q) => q.name === named)) {
    throw new AuditSqlError(
      `no named query '${named}'; known:\n${AUDIT_NAMED_QUERIES.map((q) => `  ${namedQueryUsage(q)}`).join('\n')}`,
      'params',
    );
  }
  const isDir = await stat(options.dataDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir)
    throw new AuditSqlError(`no data directory at ${options.dataDir} (start the platform: npm start)`, 'archive');

  const audit = await DuckDbAudit.open(join(options.dataDir, 'archive'), {
    cacheFile: auditSqlCacheFile(options.dataDir),
  });
  try {
    const result = named !== undefined ? await audit.runNamed(named, params) : await audit.query(sql as string, params);
    return render(result, format);
  } finally {
    await audit.close();
  }
}

export function render(result: AuditQueryResult, format: AuditSqlFormat): string {
  const { columns, rows } = result;
  switch (format) {
    case 'json':
      return JSON.stringify({ columns, rows, count: rows.length }, null, 2);
    case 'csv':
      return [
        columns.map(csvCell).join(','),
        ...rows.map((r) => columns.map((c) => csvCell(r[c] ?? null)).join(',')),
      ].join('\n');
    case 'table': {
      const body =
        rows.length === 0
          ? columns.join('  ')
          : table(
              columns,
              rows.map((r) => columns.map((c) => cell(r[c]))),
            );
      return `${body}\n(${rows.length} row${rows.length === 1 ? '' : 's'})`;
    }
  }
}

/** Booleans read as words in a table. */
const cell = (v: SqlValue | undefined): string | number | null => (typeof v === 'boolean' ? String(v) : (v ?? null));

function csvCell(v: SqlValue | string): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
