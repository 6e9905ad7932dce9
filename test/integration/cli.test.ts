// The CLI against the local platform over mTLS: the seed's `call` examples as written, the
// maker-checker flow, and each exit code. main() runs in-process; one spawned run proves the entry.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, main } from '../../bin/cli-main.js';
import type { AuditRecord } from '../../functions/core/model.js';
import type { OrderView } from '../../functions/core/order-intake.js';
import { type LocalPlatform, startLocalPlatform } from '../../local/platform.js';

const REPO = resolve(import.meta.dirname, '../..');
let dataDir: string;
let platform: LocalPlatform;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process against the test platform, capturing its output. */
async function trading(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: {},
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => Date.now(),
  };
  // The test platform's URL and data dir, unless the case gives its own.
  const defaults = [
    ...(argv.includes('--url') ? [] : ['--url', platform.url]),
    ...(argv.includes('--data-dir') ? [] : ['--data-dir', dataDir]),
  ];
  const code = await main([...defaults, ...argv], io);
  return { code, stdout, stderr };
}

/** The order's lifecycle has ended (FILLED is derived before the position update is recorded). */
async function settled(executionId: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await platform.workflow.describe(executionId))?.status === 'RUNNING') {
    if (Date.now() > deadline) throw new Error(`execution ${executionId} still running`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A port nothing listens on. An ephemeral port freed by this test could be taken at once by
 * another test file running in parallel; port 1 (tcpmux) is privileged and unused here.
 */
async function closedPort(): Promise<number> {
  return 1;
}

const SEED_SUBMIT = [
  'call',
  '--target',
  'spiffe://agentweave.io/agent/order-router',
  '--capability',
  'submit_order',
  '--data',
  `{
        "order_data": {
            "order_id": "ORD-001",
            "symbol": "AAPL",
            "side": "BUY",
            "quantity": 1000,
            "order_type": "MARKET",
            "account_id": "ACC-001",
            "trader_id": "TRADER-123"
        }
    }`,
];
const SEED_AUDIT = [
  'call',
  '--target',
  'spiffe://agentweave.io/agent/compliance',
  '--capability',
  'query_audit_log',
  '--data',
  '{"order_id": "ORD-001"}',
];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cli-'));
  platform = await startLocalPlatform({ dataDir, port: 0, logLevel: 'ERROR' });
});

afterAll(async () => {
  await platform?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('trading CLI against the local platform', () => {
  it("runs the seed's submit_order example, and submit --wait sees ORD-001 FILLED", async () => {
    const called = await trading(...SEED_SUBMIT);
    expect(called.stderr).toBe('');
    expect(called.code).toBe(0);
    expect(called.stdout).toMatch(/^ORD-001 ACCEPTED \(execution .+\)\nfollow it: trading status ORD-001\n$/);

    // The same order again is idempotent: the first answer, and --wait follows it to the end.
    const waited = await trading(
      'submit',
      '--order-id',
      'ORD-001',
      '--symbol',
      'AAPL',
      '--side',
      'BUY',
      '--quantity',
      '1000',
      '--type',
      'MARKET',
      '--account',
      'ACC-001',
      '--trader',
      'TRADER-123',
      '--wait',
      '--timeout-s',
      '20',
      '--json',
    );
    expect(waited.stderr).toBe('');
    expect(waited.code).toBe(0);
    const view = JSON.parse(waited.stdout) as OrderView;
    expect(view.status).toBe('FILLED');
    expect(view.execution?.fill).toMatchObject({ symbol: 'AAPL', quantity: 1000, price: expect.any(String) });
    await settled(view.execution_id);

    const status = await trading('status', 'ORD-001');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      /^order ORD-001: FILLED\n {2}BUY 1000 AAPL MARKET {2}account ACC-001 {2}trader TRADER-123\n/,
    );
    expect(status.stdout).toMatch(/\nSEQ +TIME +EVENT +DECISION +ACTOR +REASON\n/);
    expect(status.stdout).toMatch(/ trade_executed +filled /);
  });

  it("runs the seed's query_audit_log example: the order's records in sequence order", async () => {
    const json = await trading(...SEED_AUDIT, '--json');
    expect(json.code).toBe(0);
    const { records, count } = JSON.parse(json.stdout) as { records: AuditRecord[]; count: number };
    expect(count).toBe(records.length);
    const sequences = records.map((r) => r.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    const types = records.map((r) => r.event_type);
    expect(
      types.filter((t) => ['order_submitted', 'risk_check', 'trade_executed', 'position_updated'].includes(t)),
    ).toEqual(['order_submitted', 'risk_check', 'trade_executed', 'position_updated']);
    expect(records.every((r) => r.order_id === 'ORD-001')).toBe(true);

    const human = await trading(...SEED_AUDIT);
    expect(human.code).toBe(0);
    const events = human.stdout
      .split('\n')
      .slice(1)
      .map((l) => l.split(/ {2,}/)[2])
      .filter((e): e is string => e !== undefined);
    expect(events).toEqual(types);
    expect(human.stdout).toContain(`${records.length} records`);
  });

  it('takes a high-value order through maker-checker: pending, listed, approved by another person, filled', async () => {
    const submitted = await trading(
      'submit',
      '--json',
      JSON.stringify({
        order_id: 'ORD-BIG',
        symbol: 'MSFT',
        side: 'BUY',
        quantity: 1250,
        order_type: 'MARKET',
        account_id: 'ACC-001',
        trader_id: 'TRADER-123',
      }),
      '--wait',
    );
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).toMatch(/^order ORD-BIG: PENDING_APPROVAL$/m);
    expect(submitted.stdout).toContain('ORD-BIG waits for a checker');
    expect(submitted.stdout).toContain('trading approve APR-ORD-BIG');

    // The approval_requested record is written just before the approval itself: poll briefly.
    const listPending = ['call', '--target', 'spiffe://agentweave.io/agent/approval', '--capability', 'list_pending'];
    let listed = await trading(...listPending);
    for (let i = 0; i < 50 && !listed.stdout.includes('APR-ORD-BIG'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      listed = await trading(...listPending);
    }
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^APR-ORD-BIG +ORD-BIG +TRADER-123 +ACC-001 +BUY +1250 +MSFT /m);

    // The maker cannot be the checker: the server's 403 is exit 1.
    const self = await trading('approve', 'APR-ORD-BIG', '--as', 'trader');
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('403 Forbidden SELF_APPROVAL');

    const approved = await trading('approve', 'APR-ORD-BIG', '--reason', 'within the desk mandate');
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(
      /^APR-ORD-BIG: APPROVED by RISK-OFFICER-1 at \S+ \(within the desk mandate\); order ORD-BIG goes on/,
    );

    const filled = await trading(
      'submit',
      '--data',
      JSON.stringify({
        order_id: 'ORD-BIG',
        symbol: 'MSFT',
        side: 'BUY',
        quantity: 1250,
        order_type: 'MARKET',
        account_id: 'ACC-001',
        trader_id: 'TRADER-123',
      }),
      '--wait',
      '--json',
    );
    expect(filled.code).toBe(0);
    const view = JSON.parse(filled.stdout) as OrderView;
    expect(view.status).toBe('FILLED');
    await settled(view.execution_id);

    const positions = await trading('positions', 'ACC-001');
    expect(positions.code).toBe(0);
    expect(positions.stdout).toMatch(/^AAPL +1000 /m);
    expect(positions.stdout).toMatch(/^MSFT +1250 /m);

    const today = new Date().toISOString().slice(0, 10);
    const report = await trading('report', 'high_value_trades', '--from', today, '--to', today, '--format', 'csv');
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/^executed_at,order_id,trader_id,symbol,quantity,price,order_value,approved_by,/);
    expect(report.stdout).toMatch(/,ORD-BIG,TRADER-123,MSFT,1250,/);
  });

  it('exits 2 on usage errors, naming the flag', async () => {
    const missing = await trading('submit', '--order-id', 'ORD-X', '--symbol', 'AAPL');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing required flags --side, --quantity, --type, --account, --trader');
    expect(missing.stderr).toContain('trading submit --help');
    expect(missing.stdout).toBe('');

    const unknown = await trading('status', 'ORD-001', '--verbose');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown flag --verbose for 'status'");

    const noValue = await trading('reject', 'APR-1', '--reason');
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toContain('--reason needs a value');

    const badCall = await trading(
      'call',
      '--target',
      'spiffe://agentweave.io/agent/execution',
      '--capability',
      'execute_trade',
      '--data',
      '{}',
    );
    expect(badCall.code).toBe(2);
    expect(badCall.stderr).toContain('execute_trade on spiffe://agentweave.io/agent/execution is internal');
  });

  it("exits 1 on the server's 400, printing each field error", async () => {
    const args = ['submit', '--order-id', 'ORD-BAD', '--symbol', 'aapl', '--side', 'BUY', '--quantity', '-5'];
    const rest = ['--type', 'MARKET', '--price', '10', '--account', 'ACC-001', '--trader', 'TRADER-123'];
    const bad = await trading(...args, ...rest);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('trading: POST /orders answered 400 ValidationError: the order is invalid');
    expect(bad.stderr).toContain('  symbol: format — symbol must be an upper-case ticker');
    expect(bad.stderr).toContain('  quantity: positive — quantity must be greater than zero');
    expect(bad.stderr).toContain('  price: not_allowed — a MARKET order must not carry a price');

    const json = await trading(...args, ...rest, '--json');
    expect(json.code).toBe(1);
    const body = JSON.parse(json.stdout) as { error: string; errors: Array<{ field: string; rule: string }> };
    expect(body.error).toBe('ValidationError');
    expect(body.errors.map((e) => `${e.field}:${e.rule}`)).toEqual([
      'symbol:format',
      'quantity:positive',
      'price:not_allowed',
    ]);

    const notFound = await trading('status', 'ORD-NOPE');
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toContain('GET /orders/ORD-NOPE answered 404 NotFound: order ORD-NOPE not found');
  });

  it('exits 3 when the platform is unreachable or its certificates are missing', async () => {
    const url = `https://127.0.0.1:${await closedPort()}`;
    const down = await trading('status', 'ORD-001', '--url', url);
    expect(down.code).toBe(3);
    expect(down.stderr).toContain(`cannot reach the platform at ${url}`);
    expect(down.stderr).toContain('is `npm start` running?');

    const empty = await mkdtemp(join(tmpdir(), 'cli-nopki-'));
    try {
      const noCerts = await trading('approvals', '--data-dir', empty);
      expect(noCerts.code).toBe(3);
      expect(noCerts.stderr).toContain(`the approver certificate ${join(empty, 'pki', 'approver.crt')} not found`);
      expect(noCerts.stderr).toContain('`npm start` creates the dev PKI');
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('runs as a program: node --import tsx bin/trading.ts --help', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'bin/trading.ts', '--help'],
      {
        cwd: REPO,
        timeout: 30_000,
      },
    );
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^usage: trading <command> \[flags\]/);
    expect(stdout).toContain('call                    the seed');
  });
});
