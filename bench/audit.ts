// Audit trail benchmark (issue 4):
//  - append: in-process appends through the real AuditLog (canonical JSON, hash chain, Merkle
//    frontier claimed with the head, batches of 25), against in-memory index and archive, so the
//    figure is the log's own cost; checkpoints are signed every 1,000 records on the way.
//  - verify: the full verification an auditor runs (every record's hash over its bytes, the chain,
//    the Merkle root at every checkpoint, every signature) over the archive the append produced,
//    as `audit verify` runs it (its hashing in a worker thread when there are two cores); and, in
//    the same run, plain SHA-256 of the same lines in a loop on one thread. verify_vs_sha256 is the
//    issue's ratio (the verifier as run / the plain loop); verify_one_thread_vs_sha256 holds the
//    verifier to one thread too, so that like is also compared with like.
//  - query: the slowest named query over 1,000,000 records on DuckDB (bench/audit-query.ts).
//   npm run bench -- audit [--records N] [--query-records N] [--skip-query]
import { hash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { AuditLog, GENESIS_HASH } from '../functions/core/audit-chain.js';
import { Checkpointer } from '../functions/core/audit-checkpointer.js';
import { verifyArchive } from '../functions/core/audit-verify.js';
import type { AuditEvent, AuditRecord } from '../functions/core/model.js';
import { SystemClock } from '../functions/core/time.js';
import type { AuditArchive, AuditIndex, ChainHead, Page } from '../functions/ports.js';
import { ephemeralCheckpointSigner } from '../local/local-checkpoint-signer.js';
import { benchNamedQueries } from './audit-query.js';

/** The archive as a map: what the log wrote, for the verifier to read back. */
class MemoryArchive implements AuditArchive {
  readonly objects = new Map<string, string>();
  async putIfAbsent(key: string, body: string): Promise<'written' | 'exists'> {
    if (this.objects.has(key)) return 'exists';
    this.objects.set(key, body);
    return 'written';
  }
  async get(key: string): Promise<string | undefined> {
    return this.objects.get(key);
  }
  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** The head's conditional write and a count of indexed records: the index's cost is the store's. */
class MemoryIndex implements AuditIndex {
  private head: ChainHead = { sequence: -1, hash: GENESIS_HASH };
  indexed = 0;
  async getHead(): Promise<ChainHead> {
    return this.head;
  }
  async advanceHead(expected: ChainHead, next: ChainHead): Promise<boolean> {
    if (expected.sequence !== this.head.sequence || expected.hash !== this.head.hash) return false;
    this.head = next;
    return true;
  }
  async putRecords(records: readonly AuditRecord[]): Promise<void> {
    this.indexed += records.length;
  }
  private none(): Promise<Page<AuditRecord>> {
    return Promise.resolve({ items: [] });
  }
  queryByOrder(): Promise<Page<AuditRecord>> {
    return this.none();
  }
  queryByType(): Promise<Page<AuditRecord>> {
    return this.none();
  }
  queryByTrader(): Promise<Page<AuditRecord>> {
    return this.none();
  }
}

/** A risk decision as the risk agent records it: the order, the values compared, the reasons. */
function event(i: number): AuditEvent {
  const order = `ORD-${String(i).padStart(9, '0')}`;
  return {
    event_type: i % 5 === 0 ? 'trade_executed' : 'risk_check',
    order_id: order,
    trader_id: `TRADER-${(i % 50).toString().padStart(3, '0')}`,
    actor: 'arn:aws:iam::123456789012:role/trading-risk-agent',
    input: {
      order: {
        account_id: `ACC-${(i % 1000).toString().padStart(3, '0')}`,
        symbol: `SYM${i % 500}`,
        side: i % 2 ? 'BUY' : 'SELL',
        quantity: 100 + (i % 900),
        order_type: 'LIMIT',
        limit_price: `${100 + (i % 50)}.25`,
      },
      check_id: `RC-${i}`,
      order_value: `${(100 + (i % 900)) * 100}.00`,
      controls: { capital: 'pass', order_value: 'pass', position: 'pass', concentration: 'pass', throttle: 'pass' },
    },
    decision: 'approved',
    reason: 'all controls passed',
  };
}

export async function auditBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      records: { type: 'string', default: '200000' },
      'query-records': { type: 'string', default: '1000000' },
      'skip-query': { type: 'boolean', default: false },
    },
  });
  const n = Number(values.records);
  const clock = new SystemClock();
  const archive = new MemoryArchive();
  const index = new MemoryIndex();
  const { signer, publicKey } = ephemeralCheckpointSigner();
  const checkpointer = new Checkpointer(
    { archive, signer, clock, origin: 'bench.acme-trading/audit' },
    { everyRecords: 1000, everyMs: 60_000 },
  );
  const log = new AuditLog({ archive, index, clock, checkpointer });

  // Appends arrive from many concurrent orders: keep 1,000 outstanding, as group commit sees them.
  const events = Array.from({ length: n }, (_, i) => event(i));
  const t0 = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < n) await log.append(events[next++] as AuditEvent);
  };
  await Promise.all(Array.from({ length: 1000 }, worker));
  await checkpointer.tick();
  const appendS = Number(process.hrtime.bigint() - t0) / 1e9;
  const appendPerS = n / appendS;
  console.error(`append: ${n} records in ${appendS.toFixed(2)} s = ${Math.round(appendPerS)}/s`);

  // Verification over the archive, and plain SHA-256 of the same lines, alternated, best of three.
  const lines: Buffer[] = [];
  for (const [key, body] of archive.objects) {
    if (!key.startsWith('records/')) continue;
    for (const l of body.split('\n')) if (l) lines.push(Buffer.from(l, 'utf8'));
  }
  // Verification as the CLI runs it, and held to one thread. Plain SHA-256 is the faster of hex and
  // Buffer output (Buffer is the slower on Node 20): the stricter yardstick.
  const verify = async (parallel: boolean) => {
    const v0 = process.hrtime.bigint();
    const report = await verifyArchive(archive, { publicKey, origin: 'bench.acme-trading/audit', parallel });
    const s = Number(process.hrtime.bigint() - v0) / 1e9;
    if (!report.ok || report.records !== n) throw new Error(`verification failed: ${JSON.stringify(report)}`);
    return s;
  };
  let verifyS = Number.POSITIVE_INFINITY;
  let verifyOneS = Number.POSITIVE_INFINITY;
  let shaS = Number.POSITIVE_INFINITY;
  let sink = 0;
  for (let round = 0; round < 3; round++) {
    verifyS = Math.min(verifyS, await verify(true));
    verifyOneS = Math.min(verifyOneS, await verify(false));
    for (const encoding of ['hex', 'buffer'] as const) {
      const s0 = process.hrtime.bigint();
      for (const l of lines) sink ^= hash('sha256', l, encoding).length;
      shaS = Math.min(shaS, Number(process.hrtime.bigint() - s0) / 1e9);
    }
  }
  if (sink === -1) console.error(sink); // keep the loops' results alive
  const verifyPerS = n / verifyS;
  const verifyOnePerS = n / verifyOneS;
  const shaPerS = n / shaS;
  console.error(
    `verify: ${Math.round(verifyPerS)}/s (one thread: ${Math.round(verifyOnePerS)}/s); ` +
      `plain SHA-256 of the same lines, one thread: ${Math.round(shaPerS)}/s; ` +
      `${lines.length} lines, ${(await archive.list('checkpoints/')).length} checkpoints`,
  );

  let queryMax: number | null = null;
  if (!values['skip-query']) {
    const q = await benchNamedQueries({ records: Number(values['query-records']) });
    console.error(`query: ${JSON.stringify(q)}`);
    queryMax = q.query_max_s;
  }
  console.log(
    JSON.stringify({
      bench: 'audit',
      append_per_s: Math.round(appendPerS),
      verify_per_s: Math.round(verifyPerS),
      verify_vs_sha256: Number((verifyPerS / shaPerS).toFixed(3)),
      // Disclosed beside it: verification held to one thread, against the same one-thread loop.
      verify_one_thread_vs_sha256: Number((verifyOnePerS / shaPerS).toFixed(3)),
      query_1m_max_s: queryMax === null ? null : Number(queryMax.toFixed(3)),
    }),
  );
}
