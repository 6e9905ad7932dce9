// The CLI against the local platform over mTLS: the seed's `call` examples as written, the
// maker-checker flow, and each exit code. main() runs in-process; one spawned run proves the entry.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../functions/core/model.js';
import type { OrderView } from '../../functions/core/order-intake.js';
import { type LocalPlatform, startLocalPlatform } from '../../local/platform.js';
import { runCli } from '../support/cli-run.js';

const REPO = resolve(import.meta.dirname, '../..');
let dataDir: string;
let platform: LocalPlatform;

/** Runs the CLI in-process against the test platform, capturing its output. */
const trading = (...argv: string[]) => runCli(argv, { url: platform.url, dataDir });

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

    // The maker (a trader) cannot be the checker: the policy's 403 is exit 1.
    const self = await trading('approve', 'APR-ORD-BIG', '--as', 'trader');
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('403 Forbidden POLICY_DENIED: Trader::"TRADER-123" may not approve');

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
    // The comment lines name the report and the signed checkpoint it was computed against.
    expect(report.stdout).toMatch(/^# report_type=high_value_trades /);
    expect(report.stdout).toMatch(
      /^# checkpoint origin=local\.acme-trading\/audit tree_size=\d+ root_hash=[0-9a-f]{64} /m,
    );
    expect(report.stdout).toMatch(/^executed_at,order_id,trader_id,symbol,quantity,price,order_value,approved_by,/m);
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

    // A trader learns nothing of an order outside its accounts, not even that it does not exist.
    const hidden = await trading('status', 'ORD-NOPE');
    expect(hidden.code).toBe(1);
    expect(hidden.stderr).toContain('GET /orders/ORD-NOPE answered 403 Forbidden POLICY_DENIED');
    const notFound = await trading('status', 'ORD-NOPE', '--as', 'auditor');
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

  it('shows the firm settings as the FIRM limits', async () => {
    const firm = await trading('risk', 'limits', 'FIRM');
    expect(firm.stderr).toBe('');
    expect(firm.code).toBe(0);
    expect(firm.stdout).toMatch(/^price_collar +0\.10 +0\.10$/m);
    expect(firm.stdout).toMatch(/^max_price_age_ms +10000 +10000$/m);
  });

  it('changes a limit under maker-checker: requested by one risk officer, refused to its maker, approved by another', async () => {
    const before = await trading('risk', 'limits', 'ACC-002');
    expect(before.stderr).toBe('');
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/^max_order_value +100000 +100000$/m);

    // Bad values: every one named by the server, nothing requested.
    const bad = await trading(
      'risk',
      'change',
      'ACC-002',
      '--set',
      'max_order_value=-5',
      '--set',
      'max_leverage=2',
      '--set',
      'symbol_limits.ZZZZ.max_order_value=10',
      '--reason',
      'typo',
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('POST /risk/limit-changes answered 400 ValidationError');
    expect(bad.stderr).toContain('  values.max_order_value: positive — must be greater than zero');
    expect(bad.stderr).toContain('  values.max_leverage: unknown_field — ');
    expect(bad.stderr).toContain('  values.symbol_limits.ZZZZ.max_order_value: unknown_symbol — ');
    const noSet = await trading('risk', 'change', 'ACC-002', '--reason', 'x');
    expect(noSet.code).toBe(2);
    expect(noSet.stderr).toContain('missing required flag --set');

    const requested = await trading(
      'risk',
      'change',
      'ACC-002',
      '--set',
      'max_order_value=150000',
      '--set',
      'symbol_limits.AAPL.max_order_quantity=2000',
      '--reason',
      'desk growth',
      '--json',
    );
    expect(requested.stderr).toBe('');
    expect(requested.code).toBe(0);
    const change = JSON.parse(requested.stdout) as { change_id: string; status: string; before: unknown };
    expect(change.status).toBe('PENDING');
    expect(change.before).toEqual({ max_order_value: '100000', 'symbol_limits.AAPL.max_order_quantity': null });
    const id = change.change_id;

    const pending = await trading('risk', 'changes');
    expect(pending.code).toBe(0);
    expect(pending.stdout).toMatch(new RegExp(`^${id} +ACC-002 +PENDING +RISK-OFFICER-1 `, 'm'));
    expect(pending.stdout).toContain('max_order_value 100000 -> 150000');

    const self = await trading('risk', 'approve', id);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('403 Forbidden SELF_APPROVAL');
    const trader = await trading('risk', 'approve', id, '--as', 'trader');
    expect(trader.code).toBe(1);
    expect(trader.stderr).toContain('403 Forbidden POLICY_DENIED: Trader::"TRADER-123" may not change_risk_controls');
    // Still pending, still the old limits.
    expect((await trading('risk', 'limits', 'ACC-002')).stdout).toMatch(/^max_order_value +100000 +100000$/m);

    const approved = await trading('risk', 'approve', id, '--as', 'risk-officer', '--reason', 'mandate on file');
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(
      /approved by RISK-OFFICER-2 at \S+ \(mandate on file\); limits version ACC-002\/v2$/m,
    );
    const after = await trading('risk', 'limits', 'ACC-002', '--json');
    const limits = JSON.parse(after.stdout) as { effective: Record<string, unknown>; pending: unknown[] };
    expect(limits.effective).toMatchObject({
      max_order_value: '150000',
      symbol_limits: { AAPL: { max_order_quantity: 2000 } },
      version: 'ACC-002/v2',
    });
    expect(limits.pending).toEqual([]);
    const again = await trading('risk', 'reject', id, '--as', 'risk-officer', '--reason', 'late');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('409 Conflict LIMIT_CHANGE_APPROVED');

    // Who, when, why, before and after: on the record, and so are the refusals.
    const audited = await trading('audit', '--event-type', 'limit_change_approved', '--json');
    const records = (JSON.parse(audited.stdout) as { records: AuditRecord[] }).records;
    const record = records.find((r) => (r.input as { change_id?: string }).change_id === id);
    expect(record).toMatchObject({
      actor: 'RISK-OFFICER-2',
      reason: 'mandate on file',
      input: {
        requested_by: 'RISK-OFFICER-1',
        request_reason: 'desk growth',
        before: { max_order_value: '100000' },
        after: { max_order_value: '150000' },
      },
    });
    const refusals = await trading('audit', '--event-type', 'limit_change_refused', '--json');
    const reasons = (JSON.parse(refusals.stdout) as { records: AuditRecord[] }).records.map((r) => r.reason);
    expect(reasons.some((r) => r.startsWith('INVALID_INPUT: '))).toBe(true);
    expect(reasons.some((r) => r.startsWith('SELF_APPROVAL: '))).toBe(true);
    // The trader's attempt never reached the risk agent's own checks: the policy refused it first.
    expect(reasons.some((r) => r.startsWith('NOT_A_RISK_OFFICER: '))).toBe(false);
    const denied = await trading('audit', '--event-type', 'access_denied', '--json');
    const deniedRecords = (JSON.parse(denied.stdout) as { records: AuditRecord[] }).records;
    expect(
      deniedRecords.some(
        (r) =>
          (r.input as { action?: string; caller?: { id?: string } }).action === 'change_risk_controls' &&
          (r.input as { caller?: { id?: string } }).caller?.id === 'TRADER-123',
      ),
    ).toBe(true);
  });

  it('sets the kill switch through the CLI: an account HALTED rejects its orders at once; firm-wide too, audited', async () => {
    expect((await trading('risk', 'state', 'ACC-003')).stdout).toBe('ACC-003: ACTIVE (never set)\n');
    const usage = await trading('risk', 'state', 'ACC-003', 'STOP', '--reason', 'x');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('the state must be one of ACTIVE, REDUCING, HALTED');
    const trader = await trading('risk', 'state', 'ACC-003', 'HALTED', '--reason', 'me', '--as', 'trader');
    expect(trader.code).toBe(1);
    expect(trader.stderr).toContain('403 Forbidden POLICY_DENIED: Trader::"TRADER-123" may not change_risk_controls');

    const halted = await trading('risk', 'state', 'ACC-003', 'halted', '--reason', 'runaway algo');
    expect(halted.stderr).toBe('');
    expect(halted.code).toBe(0);
    expect(halted.stdout).toMatch(/^ACC-003: HALTED set by RISK-OFFICER-1 at \S+: runaway algo$/m);

    const order = {
      order_id: 'ORD-KILL',
      symbol: 'AAPL',
      side: 'BUY',
      quantity: 10,
      order_type: 'MARKET',
      account_id: 'ACC-003',
      trader_id: 'TRADER-123',
    };
    const submitted = await trading('submit', '--data', JSON.stringify(order), '--wait', '--json');
    expect(submitted.code).toBe(0);
    const view = JSON.parse(submitted.stdout) as OrderView;
    expect(view.status).toBe('REJECTED');
    expect(view.risk?.reasons).toContain('TRADING_HALTED');
    await settled(view.execution_id);

    expect((await trading('risk', 'state', 'FIRM', 'HALTED', '--reason', 'drill')).code).toBe(0);
    expect(
      (await trading('risk', 'state', 'FIRM', 'ACTIVE', '--reason', 'drill over', '--as', 'risk-officer')).code,
    ).toBe(0);
    expect((await trading('risk', 'state', 'ACC-003', 'ACTIVE', '--reason', 'algo fixed')).code).toBe(0);
    expect((await trading('risk', 'state', 'FIRM')).stdout).toMatch(/^FIRM: ACTIVE set by RISK-OFFICER-2 /);

    const audited = await trading('audit', '--event-type', 'trading_state_changed', '--json');
    const records = (JSON.parse(audited.stdout) as { records: AuditRecord[] }).records;
    expect(records.map((r) => [r.actor, (r.input as { scope: string }).scope, r.decision, r.reason])).toEqual([
      ['RISK-OFFICER-1', 'ACC-003', 'HALTED', 'runaway algo'],
      ['RISK-OFFICER-1', 'FIRM', 'HALTED', 'drill'],
      ['RISK-OFFICER-2', 'FIRM', 'ACTIVE', 'drill over'],
      ['RISK-OFFICER-1', 'ACC-003', 'ACTIVE', 'algo fixed'],
    ]);
    expect(records[2]?.input).toMatchObject({
      before: { state: 'HALTED', set_by: 'RISK-OFFICER-1' },
      after: { state: 'ACTIVE' },
    });
  });

  it('manages lists, locates, halts and manual prices through the CLI', async () => {
    const restricted = await trading(
      'risk',
      'restrict',
      'XOM',
      '--list',
      'restricted',
      '--account',
      'ACC-002',
      '--reason',
      'MNPI',
      '--json',
    );
    expect(restricted.code).toBe(0);
    const rid = (JSON.parse(restricted.stdout) as { restriction_id: string }).restriction_id;
    const listed = await trading('risk', 'restrictions', 'XOM');
    expect(listed.stdout).toMatch(new RegExp(`^${rid} +ACC-002 +RESTRICTED `, 'm'));
    const lifted = await trading('risk', 'lift', 'XOM', rid, '--reason', 'wall crossed back');
    expect(lifted.code).toBe(0);
    expect(lifted.stdout).toMatch(
      new RegExp(`^${rid}: XOM RESTRICTED for ACC-002 from \\S+ until \\S+ \\(MNPI\\)$`, 'm'),
    );

    const located = await trading('risk', 'locate', 'ACC-002', 'TSLA', '300', '--source', 'stock loan desk');
    expect(located.code).toBe(0);
    const locates = await trading('risk', 'locates', 'ACC-002', 'TSLA');
    expect(locates.stdout).toMatch(/^LO-\S+ +ACC-002 +TSLA +300 +stock loan desk /m);
    const badLocate = await trading('risk', 'locate', 'ACC-002', 'TSLA', 'many', '--source', 'desk');
    expect(badLocate.code).toBe(1);
    expect(badLocate.stderr).toContain('  quantity: integer — ');

    const paused = await trading('risk', 'halt', 'TSLA', '--luld', '--reason', 'limit down');
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/^TSLA: LULD_PAUSE since \S+ until \S+ \(limit down\)$/m);
    const resumed = await trading('risk', 'resume', 'TSLA', '--reason', 'reopened');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/^TSLA: LULD_PAUSE lifted/);
    const notHalted = await trading('risk', 'resume', 'TSLA', '--reason', 'again');
    expect(notHalted.code).toBe(1);
    expect(notHalted.stderr).toContain('409 Conflict NOT_HALTED');

    const priced = await trading('risk', 'price', 'XOM', '116.40');
    expect(priced.code).toBe(0);
    expect(priced.stdout).toMatch(/^XOM: reference price 116.40 as of \S+$/m);
    const badPrice = await trading('risk', 'price', 'XOM', '-1');
    expect(badPrice.code).toBe(1);
    expect(badPrice.stderr).toContain('  price: positive — ');
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
