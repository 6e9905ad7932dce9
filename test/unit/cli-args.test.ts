import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Action,
  type HttpRequest,
  type Invocation,
  parseCommandLine,
  requestFor,
  resolveCall,
  SPIFFE_PREFIX,
  UsageError,
} from '../../bin/cli-args.js';
import type { Client } from '../../bin/cli-client.js';
import { formatServerError, table } from '../../bin/cli-format.js';
import { type Output, waitForOrder } from '../../bin/cli-main.js';

const run = (argv: string[], env: Record<string, string> = {}) => {
  const inv = parseCommandLine(argv, env);
  if (inv.kind !== 'run') throw new Error(`expected a run, got ${inv.kind}`);
  return inv;
};

const usage = (argv: string[]): string => {
  try {
    parseCommandLine(argv, {});
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
};

const noExtras = { wait: false, timeoutS: 60, all: false };

const SEED_ORDER = {
  order_id: 'ORD-001',
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 1000,
  order_type: 'MARKET',
  account_id: 'ACC-001',
  trader_id: 'TRADER-123',
};

describe('cli arguments', () => {
  it('builds the order from flags, passing values through for the server to judge', () => {
    const inv = run([
      'submit',
      '--order-id',
      'ORD-9',
      '--symbol',
      'MSFT',
      '--side',
      'sell',
      '--quantity',
      '-5',
      '--type',
      'limit',
      '--price',
      '420.10',
      '--account',
      'ACC-002',
      '--trader',
      'TRADER-123',
    ]);
    expect(inv.action).toEqual({
      kind: 'submit',
      order: {
        order_id: 'ORD-9',
        symbol: 'MSFT',
        side: 'SELL',
        quantity: -5,
        order_type: 'LIMIT',
        price: '420.10',
        account_id: 'ACC-002',
        trader_id: 'TRADER-123',
      },
      wait: false,
      timeoutS: 60,
    });
    expect(requestFor(inv.action)).toEqual({
      method: 'POST',
      path: '/orders',
      body: (inv.action as { order: unknown }).order,
    });
  });

  it('takes the order as JSON with --data or --json <object>, and --json alone as the output switch', () => {
    const body = JSON.stringify(SEED_ORDER);
    for (const argv of [
      ['submit', '--data', body],
      ['submit', '--json', body],
      ['submit', `--json=${body}`],
    ]) {
      const inv = run(argv);
      expect(inv.action).toMatchObject({ kind: 'submit', order: SEED_ORDER });
      expect(inv.json).toBe(false);
    }
    const both = run(['submit', '--json', body, '--json', '--wait', '--timeout-s', '5']);
    expect(both.json).toBe(true);
    expect(both.action).toMatchObject({ wait: true, timeoutS: 5 });
    expect(usage(['submit', '--data', body, '--symbol', 'AAPL'])).toMatch(/either as --data or as flags.*--symbol/);
  });

  it('names each missing or malformed flag', () => {
    expect(usage(['submit', '--order-id', 'X'])).toBe(
      'missing required flags --symbol, --side, --quantity, --type, --account, --trader',
    );
    expect(usage(['reject', 'APR-1'])).toBe('missing required flag --reason');
    expect(usage(['report', 'risk_violations', '--from', '2026-01-01'])).toBe('missing required flag --to');
    expect(usage(['submit', '--symbol', '--side', 'BUY'])).toMatch(/^--symbol needs a value/);
    expect(usage(['status', 'ORD-1', '--bogus'])).toMatch(/^unknown flag --bogus for 'status'/);
    expect(usage(['status', 'ORD-1', '--json=yes'])).toBe('--json takes no value');
    expect(usage(['status'])).toBe('missing <order_id>');
    expect(usage(['status', 'A', 'B'])).toBe("unexpected argument 'B'");
    expect(usage(['status', 'A', '--as', 'root'])).toMatch(/--as must be one of trader, approver, auditor/);
    expect(usage(['frobnicate'])).toMatch(/^unknown command 'frobnicate'/);
    expect(usage([])).toMatch(/^missing command/);
    expect(usage(['audit'])).toMatch(/--order-id, or --event-type/);
    expect(usage(['report', 'x', '--from', 'a', '--to', 'b', '--format', 'xml'])).toMatch(
      /--format must be json or csv/,
    );
    expect(usage(['submit', '--data', '{', '--wait'])).toMatch(/--data is not valid JSON/);
    expect(usage(['submit', '--data', '{}', '--timeout-s', '3'])).toBe('--timeout-s needs --wait');
    expect(usage(['status', 'A', '--url', 'http://127.0.0.1:8443'])).toMatch(/https/);
    expect(usage(['status', 'A', '--cert', 'c.pem'])).toMatch(/--key/);
    expect(usage(['status', 'A', '--quantity', '1', '--quantity', '2'])).toMatch(/unknown flag --quantity/);
    expect(usage(['submit', '--quantity', '1', '--quantity', '2'])).toBe('--quantity given more than once');
  });

  it('answers --help for every command, and help <command>', () => {
    for (const cmd of ['submit', 'status', 'approvals', 'approve', 'reject', 'audit', 'report', 'positions', 'call']) {
      const inv = parseCommandLine([cmd, '--help'], {}) as Extract<Invocation, { kind: 'help' }>;
      expect(inv.kind).toBe('help');
      expect(inv.text).toContain(`usage: trading ${cmd}`);
      expect(parseCommandLine(['help', cmd], {})).toEqual(inv);
    }
    expect(parseCommandLine(['--help'], {})).toMatchObject({
      kind: 'help',
      text: expect.stringContaining('exit codes'),
    });
  });

  it('picks the identity per command, from --as, or from --cert/--key; URL and data dir from flags or env', () => {
    const pki = (who: string) => ({
      certPath: join('data', 'pki', `${who}.crt`),
      keyPath: join('data', 'pki', `${who}.key`),
    });
    expect(run(['status', 'O']).connection).toMatchObject({
      identity: 'trader',
      ...pki('trader'),
      url: 'https://127.0.0.1:8443',
    });
    expect(run(['approvals']).connection).toMatchObject({ identity: 'approver', ...pki('approver') });
    expect(run(['audit', '--order-id', 'O']).connection).toMatchObject({ identity: 'auditor', ...pki('auditor') });
    expect(run(['report', 'r', '--from', 'a', '--to', 'b']).connection.identity).toBe('auditor');
    expect(run(['positions', 'ACC-001', '--as', 'auditor']).connection.identity).toBe('auditor');

    const env = { TRADING_URL: 'https://platform.example:9443/', TRADING_DATA_DIR: '/srv/d' };
    expect(run(['status', 'O'], env).connection).toEqual({
      url: 'https://platform.example:9443',
      dataDir: '/srv/d',
      identity: 'trader',
      certPath: join('/srv/d', 'pki', 'trader.crt'),
      keyPath: join('/srv/d', 'pki', 'trader.key'),
      caPath: join('/srv/d', 'pki', 'ca.crt'),
    });
    // Flags win over the environment, and global flags may come before the command.
    const own = run(
      ['--url', 'https://h:1', 'status', 'O', '--cert', 'c.pem', '--key', 'k.pem', '--ca', 'ca.pem'],
      env,
    );
    expect(own.connection).toEqual({
      url: 'https://h:1',
      dataDir: '/srv/d',
      identity: undefined,
      certPath: 'c.pem',
      keyPath: 'k.pem',
      caPath: 'ca.pem',
    });
  });

  it('maps each action to its route, percent-encoding path segments', () => {
    const cases: Array<[Action, string, string, unknown?]> = [
      [{ kind: 'status', orderId: 'ORD/1' }, 'GET', '/orders/ORD%2F1'],
      [{ kind: 'approvals' }, 'GET', '/approvals?limit=100'],
      [{ kind: 'decide', verdict: 'approve', approvalId: 'APR-ORD-2' }, 'POST', '/approvals/APR-ORD-2/approve', {}],
      [
        { kind: 'decide', verdict: 'reject', approvalId: 'APR-ORD-2', reason: 'too big' },
        'POST',
        '/approvals/APR-ORD-2/reject',
        { reason: 'too big' },
      ],
      [{ kind: 'audit', query: { order_id: 'ORD-1' }, all: true }, 'GET', '/audit?order_id=ORD-1'],
      [
        { kind: 'report', reportType: 'rejected_orders', from: '2026-01-01', to: '2026-01-31', format: 'csv' },
        'GET',
        '/reports/rejected_orders?from=2026-01-01&to=2026-01-31&format=csv',
      ],
      [{ kind: 'positions', accountId: 'ACC-001' }, 'GET', '/positions/ACC-001'],
    ];
    for (const [action, method, path, body] of cases) {
      expect(requestFor(action)).toEqual({ method, path, ...(body === undefined ? {} : { body }) });
    }
    expect(requestFor({ kind: 'approvals' }, 'tok en').path).toBe('/approvals?limit=100&next_token=tok+en');
    expect(requestFor({ kind: 'audit', query: { event_type: 'risk_check' }, all: true }, 'T').path).toBe(
      '/audit?event_type=risk_check&next_token=T',
    );
  });
});

describe("the seed's call --target --capability", () => {
  it("runs the seed's two examples as written", () => {
    const submit = run([
      'call',
      '--target',
      'spiffe://agentweave.io/agent/order-router',
      '--capability',
      'submit_order',
      '--data',
      `{
        "order_data": ${JSON.stringify(SEED_ORDER)}
    }`,
    ]);
    expect(submit.action).toEqual({ kind: 'submit', order: SEED_ORDER, wait: false, timeoutS: 60 });
    expect(submit.connection.identity).toBe('trader');

    const audit = run([
      'call',
      '--target',
      'spiffe://agentweave.io/agent/compliance',
      '--capability',
      'query_audit_log',
      '--data',
      '{"order_id": "ORD-001"}',
    ]);
    expect(audit.action).toEqual({ kind: 'audit', query: { order_id: 'ORD-001' }, all: false });
    expect(audit.connection.identity).toBe('auditor');
  });

  it('maps every callable capability, with the seed spellings of its keys', () => {
    const call = (agent: string, capability: string, data: unknown) =>
      resolveCall(`${SPIFFE_PREFIX}${agent}`, capability, JSON.stringify(data), noExtras);
    expect(call('order-router', 'submit_order', SEED_ORDER)).toMatchObject({ kind: 'submit', order: SEED_ORDER });
    expect(call('order-router', 'status', { order_id: 'ORD-1' })).toEqual({ kind: 'status', orderId: 'ORD-1' });
    expect(call('approval', 'list_pending', {})).toEqual({ kind: 'approvals' });
    expect(call('approval', 'approve', { approval_id: 'APR-1' })).toEqual({
      kind: 'decide',
      verdict: 'approve',
      approvalId: 'APR-1',
    });
    expect(call('approval', 'reject', { approval_id: 'APR-1', reason: 'no' })).toEqual({
      kind: 'decide',
      verdict: 'reject',
      approvalId: 'APR-1',
      reason: 'no',
    });
    expect(
      call('compliance', 'query_audit_log', {
        event_type: 'risk_check',
        start_time: '2026-01-01',
        end_time: '2026-01-02',
        limit: 5,
      }),
    ).toEqual({
      kind: 'audit',
      query: { event_type: 'risk_check', from: '2026-01-01', to: '2026-01-02', limit: '5' },
      all: false,
    });
    expect(
      call('compliance', 'generate_report', {
        report_type: 'high_value_trades',
        start_date: '2026-01-01',
        end_date: '2026-01-31',
      }),
    ).toEqual({
      kind: 'report',
      reportType: 'high_value_trades',
      from: '2026-01-01',
      to: '2026-01-31',
      format: 'json',
    });
    expect(call('position-tracker', 'get_positions', { account_id: 'ACC-001' })).toEqual({
      kind: 'positions',
      accountId: 'ACC-001',
    });
    // A bare agent name is accepted as shorthand for its SPIFFE id.
    expect(resolveCall('approval', 'list_pending', '{}', noExtras)).toEqual({ kind: 'approvals' });
  });

  it('rejects an unknown target or capability naming both, and says which capabilities are internal', () => {
    const err = (target: string, capability: string, data = '{}') => {
      try {
        resolveCall(target, capability, data, noExtras);
      } catch (e) {
        if (e instanceof UsageError) return e.message;
        throw e;
      }
      throw new Error('no error');
    };
    const unknownTarget = err('spiffe://agentweave.io/agent/exchange', 'submit_order');
    expect(unknownTarget).toContain("unknown target 'spiffe://agentweave.io/agent/exchange'");
    expect(unknownTarget).toContain("'submit_order'");
    for (const a of ['order-router', 'risk', 'approval', 'execution', 'position-tracker', 'compliance']) {
      expect(unknownTarget).toContain(`${SPIFFE_PREFIX}${a}`);
    }
    expect(err(`${SPIFFE_PREFIX}compliance`, 'delete_records')).toBe(
      `target ${SPIFFE_PREFIX}compliance has no capability 'delete_records'; its callable capabilities: query_audit_log, generate_report`,
    );
    expect(err(`${SPIFFE_PREFIX}risk`, 'check_risk')).toMatch(
      /check_risk on .*risk is internal to the order lifecycle/,
    );
    expect(err(`${SPIFFE_PREFIX}execution`, 'execute_trade')).toMatch(/internal/);
    expect(err(`${SPIFFE_PREFIX}approval`, 'request_approval')).toMatch(/internal.*list_pending, approve, reject/);
    expect(err(`${SPIFFE_PREFIX}compliance`, 'log_event')).toMatch(/internal/);
    expect(err(`${SPIFFE_PREFIX}compliance`, 'query_audit_log', '{"order":"X"}')).toMatch(
      /unknown data key\(s\) order; allowed: order_id/,
    );
    expect(err(`${SPIFFE_PREFIX}compliance`, 'query_audit_log')).toMatch(/needs order_id, or event_type/);
    expect(err(`${SPIFFE_PREFIX}approval`, 'reject', '{"approval_id":"APR-1"}')).toBe('reject: data needs reason');
    expect(err(`${SPIFFE_PREFIX}order-router`, 'submit_order', '{"order_data": 5}')).toMatch(
      /order_data must be a JSON object/,
    );
    expect(err(`${SPIFFE_PREFIX}order-router`, 'status', '[1]')).toBe('--data must be a JSON object');
    expect(usage(['call', '--capability', 'status'])).toBe('missing required flag --target');
  });
});

describe('cli --wait and output', () => {
  const view = (status: string) => ({
    order_id: 'ORD-1',
    status,
    order: { ...SEED_ORDER, order_id: 'ORD-1' },
    submitted_at: '2026-01-01T00:00:00.000000000Z',
    execution_id: 'exec-1',
    history: [],
  });
  const harness = (statuses: string[]) => {
    let clock = 0;
    const sleeps: number[] = [];
    const lines: string[] = [];
    const errors: string[] = [];
    const requests: HttpRequest[] = [];
    const client: Client = {
      send: async (request) => {
        requests.push(request);
        return { status: 200, headers: {}, body: view(statuses.shift() ?? 'RECEIVED') };
      },
    };
    const output: Output = {
      out: (t) => lines.push(t),
      err: (t) => errors.push(t),
      json: false,
      io: {
        stdout: () => {},
        stderr: () => {},
        env: {},
        now: () => clock,
        sleep: async (ms) => {
          sleeps.push(ms);
          clock += ms;
        },
      },
    };
    return { client, output, sleeps, lines, errors, requests };
  };

  it('polls with a growing interval until the order is final', async () => {
    const h = harness(['RECEIVED', 'RISK_APPROVED', 'RISK_APPROVED', 'FILLED']);
    expect(await waitForOrder(h.client, 'ORD-1', 60, h.output)).toBe(0);
    expect(h.sleeps).toEqual([100, 150, 225]);
    expect(h.requests.every((r) => r.method === 'GET' && r.path === '/orders/ORD-1')).toBe(true);
    expect(h.lines.join('\n')).toMatch(/^order ORD-1: FILLED/);
  });

  it('stops at PENDING_APPROVAL and says who must act', async () => {
    const h = harness(['RECEIVED', 'PENDING_APPROVAL']);
    expect(await waitForOrder(h.client, 'ORD-1', 60, h.output)).toBe(0);
    expect(h.lines.join('\n')).toContain('someone other than TRADER-123 must `trading approve APR-ORD-1`');
  });

  it('gives up after --timeout-s with exit 4, showing the last status', async () => {
    const h = harness([]);
    expect(await waitForOrder(h.client, 'ORD-1', 2, h.output)).toBe(4);
    expect(h.sleeps.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(h.lines.join('\n')).toMatch(/^order ORD-1: RECEIVED/);
    expect(h.errors.join('\n')).toBe(
      'ORD-1 is still RECEIVED after 2 s; stopped waiting (`trading status ORD-1` to look again)',
    );
  });

  it('prints server errors with each field error, and compact tables', () => {
    const body = {
      error: 'ValidationError',
      message: 'the order is invalid',
      errors: [{ field: 'quantity', rule: 'positive', message: 'quantity must be greater than zero' }],
    };
    expect(formatServerError(400, 'POST /orders', body)).toBe(
      'POST /orders answered 400 ValidationError: the order is invalid\n  quantity: positive — quantity must be greater than zero',
    );
    expect(
      formatServerError(409, 'POST /approvals/A/approve', {
        error: 'Conflict',
        code: 'APPROVAL_APPROVED',
        message: 'done',
      }),
    ).toBe('POST /approvals/A/approve answered 409 Conflict APPROVAL_APPROVED: done');
    expect(formatServerError(502, 'GET /x', 'Bad Gateway')).toBe('GET /x answered 502: Bad Gateway');
    expect(
      table(
        ['A', 'LONGER', 'LAST'],
        [
          ['xyz', null, 'multi\nline'],
          [1, 'b', ''],
        ],
      ),
    ).toBe('A    LONGER  LAST\nxyz  -       multi line\n1    b       -');
    expect(table(['A'], [])).toBe('(none)');
  });
});
