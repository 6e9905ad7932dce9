// Pipeline benchmark: orders that need no approval, driven over HTTPS with mTLS through the whole
// local platform (router, state machine, risk, execution, positions, audit), at 8 and 64 in flight,
// by a load client on its own thread. Latency is submit -> final state of the order's execution. In the same run, against the same
// database, the rate of plain durable writes at 8 in flight: the yardstick for round trips per
// order. `--store dynalite` runs the platform on dynalite through the AWS SDK and the DynamoDB
// adapters instead of the journaled store (docs/benchmarks.md compares the two).
import { closeSync, fdatasyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { closeHttpsAgents } from '../local/https-gateway.js';
import { type LocalDatabase, type LocalPlatform, type LocalStoreKind, startLocalPlatform } from '../local/platform.js';
import { ACC_001 } from '../local/seed-data.js';
import type { HistoryEvent } from '../local/step-functions.js';

const SYMBOLS = ['AAPL', 'MSFT', 'GOOGL', 'AMZN', 'NVDA', 'TSLA', 'JPM', 'XOM', 'SPY', 'BRK.B'];
/**
 * Ten accounts with the seeded ACC-001 limits, the default throttle (100 orders a second each)
 * included: 8 in flight run at 40-60 orders a second an account.
 */
const ACCOUNTS = Array.from({ length: 10 }, (_, i) => `BENCH-${String(i + 1).padStart(2, '0')}`);

interface RunResult {
  /** The slowest order: where its time went (state by state), and any retries. */
  slowest?: { execution_id: string; ms: number; states: Array<[string, number]>; retries: string[] };
  in_flight: number;
  orders: number;
  orders_per_s: number;
  p50_ms: number;
  p99_ms: number;
  failed: number;
  /** After the last order: until the archive held every audit record (counted in orders_per_s). */
  archive_drain_ms: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] ?? 0;
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

export function benchOrder(tag: string, i: number): Record<string, unknown> {
  return {
    order_id: `B-${tag}-${i}`,
    symbol: SYMBOLS[i % SYMBOLS.length],
    // Alternate sides per account and symbol so positions oscillate instead of growing into limits.
    side: Math.floor(i / (SYMBOLS.length * ACCOUNTS.length)) % 2 === 0 ? 'BUY' : 'SELL',
    quantity: 10,
    order_type: 'MARKET',
    account_id: ACCOUNTS[Math.floor(i / SYMBOLS.length) % ACCOUNTS.length],
    trader_id: 'TRADER-123',
    // The same small order again and again, on purpose (an algorithm's child orders).
    duplicate_intended: true,
  };
}

/**
 * The benchmark's accounts: ACC-001's limits, and locates, because a SELL that overtakes the BUY
 * before it (64 in flight) is a short sale until that BUY fills. Every control runs on every order.
 */
async function prepareAccounts(platform: LocalPlatform): Promise<void> {
  const store = platform.services.referenceStore;
  const now = Date.now();
  for (const account of ACCOUNTS) {
    await store.putRiskProfile({ ...ACC_001, account_id: account, version: `${account}/v1` });
    for (const symbol of SYMBOLS) {
      await store.putLocate({
        locate_id: `BENCH-${account}-${symbol}`,
        account_id: account,
        symbol,
        quantity: 1_000_000,
        source: 'benchmark',
        obtained_at: new Date(now).toISOString(),
        expires_at: new Date(now + 86_400_000).toISOString(),
        recorded_by: 'benchmark',
      });
    }
  }
  // The benchmark's trader is entitled to them (the order router's policy refuses any other account).
  const entitled = await store.getTraderEntitlement('TRADER-123');
  await store.putTraderEntitlement({
    trader_id: 'TRADER-123',
    accounts: [...new Set([...(entitled?.accounts ?? []), ...ACCOUNTS])],
    updated_by: 'benchmark',
    updated_at: new Date(now).toISOString(),
    version: 'TRADER-123/bench',
  });
  platform.services.reference.invalidate();
}

/**
 * One run: the load client (bench/load-client.mjs) on its own thread submits `count` orders at
 * `inFlight`; this thread, which runs the platform, tells it when each order's lifecycle ended.
 */
export async function runOrders(
  platform: LocalPlatform,
  tls: TlsMaterial,
  count: number,
  inFlight: number,
  tag: string,
): Promise<RunResult> {
  let slowest: { ms: number; executionId: string; history: HistoryEvent[] } = { ms: -1, executionId: '', history: [] };
  const orders = Array.from({ length: count }, (_, i) => benchOrder(tag, i));
  const client = new Worker(new URL('./load-client.mjs', import.meta.url), {
    workerData: { url: platform.url, tls, orders, inFlight },
  });
  const done = new Promise<{ latencies: number[]; failed: number; seconds: number }>((resolve, reject) => {
    client.on('error', reject);
    client.on('exit', (code) => reject(new Error(`load client exited (${code}) before it finished`)));
    client.on('message', (msg: ClientMessage) => {
      if (msg.type === 'done') {
        resolve(msg);
        return;
      }
      const t0 = performance.now();
      platform.workflow.waitForEnd(msg.executionId, 60_000).then(
        (end) => {
          client.postMessage({ id: msg.id, status: end.status });
          // The slowest lifecycle (from its 202): snapshot now, only recent histories stay in memory.
          const ms = performance.now() - t0;
          if (ms > slowest.ms)
            slowest = { ms, executionId: msg.executionId, history: platform.workflow.history(msg.executionId) ?? [] };
        },
        () => client.postMessage({ id: msg.id, status: 'TIMED_OUT' }),
      );
    });
  });
  const { latencies, failed, seconds } = await done;
  await client.terminate();
  // The run is over when the archive holds every audit record, not when the last order answered:
  // the journal store commits records first and the archiver copies them behind (a backlog left
  // for later would flatter the figure).
  const drainStart = performance.now();
  await platform.auditArchiver?.drain();
  const drainSeconds = (performance.now() - drainStart) / 1000;
  latencies.sort((a, b) => a - b);
  const history = slowest.history;
  const entered = history.filter((e) => e.type === 'StateEntered' && e.state);
  const states = entered.map((e, i): [string, number] => [
    e.state ?? '',
    round(((entered[i + 1] ?? history.at(-1))?.timestamp ?? e.timestamp) - e.timestamp, 0),
  ]);
  const retries = history.filter((e) => e.type === 'StateRetried').map((e) => `${e.state}: ${e.error ?? ''}`);
  return {
    slowest: { execution_id: slowest.executionId, ms: round(slowest.ms, 0), states, retries },
    in_flight: inFlight,
    orders: count,
    orders_per_s: round(count / (seconds + drainSeconds)),
    p50_ms: round(percentile(latencies, 50), 2),
    p99_ms: round(percentile(latencies, 99), 2),
    failed,
    archive_drain_ms: round(drainSeconds * 1000, 1),
  };
}

type ClientMessage =
  | { type: 'wait'; id: number; executionId: string }
  | { type: 'done'; latencies: number[]; failed: number; seconds: number };

/**
 * The disk under the data directory: p50 and p99 of an append + fdatasync, as the journal does.
 * Every order waits on about a dozen of these in sequence, so the pipeline's figures move with it.
 */
function probeDisk(dir: string, count = 300): { fdatasync_p50_ms: number; fdatasync_p99_ms: number } {
  const path = join(dir, 'disk-probe.bin');
  const fd = openSync(path, 'w');
  const line = Buffer.alloc(2048, 0x61);
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      writeSync(fd, line);
      fdatasyncSync(fd);
      times.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
  times.sort((a, b) => a - b);
  return { fdatasync_p50_ms: round(percentile(times, 50), 3), fdatasync_p99_ms: round(percentile(times, 99), 3) };
}

/** Plain durable writes of an order-sized item to the platform's own database, at `inFlight`. */
async function measurePuts(database: LocalDatabase, count: number, inFlight: number): Promise<number> {
  const payload = 'x'.repeat(600);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      await database.plainPut(`k${i}`, { v: payload });
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return round(count / ((performance.now() - t0) / 1000));
}

/** DynamoDB calls an order cost, by operation, between two readings of the platform's counter. */
function perOrder(
  before: Record<string, number>,
  after: Record<string, number>,
  orders: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const [op, n] of Object.entries(after)) {
    const d = n - (before[op] ?? 0);
    if (d === 0) continue;
    out[op] = round(d / orders, 2);
    total += d;
  }
  out.total = round(total / orders, 2);
  return out;
}

interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

/** `[orders] [--store journal|dynalite]` */
export function parsePipelineArgs(args: readonly string[]): { orders: number; store: LocalStoreKind } {
  let orders = Number(process.env.BENCH_ORDERS ?? 2000);
  let store: LocalStoreKind = 'journal';
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--store') {
      const v = args[++i];
      if (v !== 'journal' && v !== 'dynalite') throw new Error(`--store must be journal or dynalite, got ${v}`);
      store = v;
    } else if (a !== undefined && /^[1-9][0-9]*$/.test(a)) orders = Number(a);
    else throw new Error(`unexpected argument ${a}: usage: pipeline [orders] [--store journal|dynalite]`);
  }
  return { orders, store };
}

export async function pipelineBench(args: string[]): Promise<void> {
  const { orders, store } = parsePipelineArgs(args);
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-pipeline-'));
  // How long each archived record waited in the store after its commit (the archive trails the log).
  const archived = { objects: 0, records: 0, lags: [] as number[] };
  const platform = await startLocalPlatform({
    dataDir,
    port: 0,
    logLevel: 'SILENT',
    store,
    auditArchiver: {
      onArchived: (records, lagMs) => {
        archived.objects++;
        archived.records += records;
        archived.lags.push(lagMs);
      },
    },
  });
  console.log(
    JSON.stringify({
      run: 'setup',
      store,
      orders,
      cpus: availableParallelism(),
      node: process.version,
      ...probeDisk(dataDir),
    }),
  );
  try {
    const trader = platform.pki.clients.trader;
    if (!trader) throw new Error('no trader certificate');
    const tls: TlsMaterial = {
      ca: await readFile(platform.pki.caCert, 'utf8'),
      cert: await readFile(trader.cert, 'utf8'),
      key: await readFile(trader.key, 'utf8'),
    };
    await prepareAccounts(platform);
    // Warm-up: JIT, connection pool, caches.
    await runOrders(platform, tls, 200, 8, 'warm');
    const before = platform.database.calls();
    Object.assign(archived, { objects: 0, records: 0, lags: [] });
    const at8 = await runOrders(platform, tls, orders, 8, 'p8');
    console.log(JSON.stringify({ run: 'pipeline', ...at8 }));
    if (platform.auditArchiver) {
      const lags = [...archived.lags].sort((a, b) => a - b);
      console.log(
        JSON.stringify({
          run: 'audit_archive',
          in_flight: 8,
          objects: archived.objects,
          records_per_object: round(archived.records / Math.max(1, archived.objects)),
          lag_p50_ms: round(percentile(lags, 50), 1),
          lag_p99_ms: round(percentile(lags, 99), 1),
          lag_max_ms: round(lags.at(-1) ?? 0, 1),
        }),
      );
    }
    console.log(
      JSON.stringify({
        run: 'round_trips_per_order',
        in_flight: 8,
        ...perOrder(before, platform.database.calls(), orders),
      }),
    );
    const at64 = await runOrders(platform, tls, orders, 64, 'p64');
    console.log(JSON.stringify({ run: 'pipeline', ...at64 }));
    const puts = await measurePuts(platform.database, 4000, 8);
    console.log(JSON.stringify({ run: 'db_puts', store, in_flight: 8, puts_per_s: puts }));
    console.log(
      JSON.stringify({
        bench: 'pipeline',
        orders_per_s: at8.orders_per_s,
        p50_ms: at8.p50_ms,
        p99_ms: at8.p99_ms,
        in_flight: 8,
        db_puts_per_s: puts,
      }),
    );
    if (at8.failed > 0 || at64.failed > 0) {
      console.error(`warning: ${at8.failed + at64.failed} orders did not end SUCCEEDED`);
      process.exitCode = 1;
    }
  } finally {
    await platform.stop();
    closeHttpsAgents();
    await rm(dataDir, { recursive: true, force: true });
  }
}
