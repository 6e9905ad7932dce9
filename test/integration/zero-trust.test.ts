// Every agent is an enforcement point (issue 5): on the local platform, each agent refuses a call
// its policy denies, and a caller whose identity is missing, unknown or claimed in the payload is
// refused; every refusal is in the audit trail with the policy that decided. The caller comes from
// the platform only: the client certificate at the gateway, the lifecycle's context, the schedule.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentName } from '../../functions/config.js';
import type { AuditRecord } from '../../functions/core/model.js';
import { closeHttpsAgents, type HttpsJsonResponse, httpsJson } from '../../local/https-gateway.js';
import { type LocalPlatform, localIdentity, startLocalPlatform } from '../../local/platform.js';
import { certEvent } from '../support/access.js';

type Who = 'trader' | 'approver' | 'auditor' | 'risk-officer';
let dataDir: string;
let platform: LocalPlatform;
let ca = '';
const tls: Partial<Record<Who, { cert: string; key: string }>> = {};

async function call(who: Who, method: string, path: string, body?: unknown): Promise<HttpsJsonResponse> {
  return httpsJson(`${platform.url}${path}`, { method, ...(body !== undefined ? { body } : {}), ca, ...tls[who] });
}

const order = (id: string, over: Record<string, unknown> = {}) => ({
  order_id: id,
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 10,
  order_type: 'MARKET',
  account_id: 'ACC-001',
  trader_id: 'TRADER-123',
  ...over,
});

/** A task as the state machine sends it from `step` (its own ARN and an execution of it). */
function fromStep(step: string, payload: Record<string, unknown>, stateMachine?: string): Record<string, unknown> {
  const sm = stateMachine ?? platform.workflow.stateMachineArn;
  return {
    ...payload,
    lifecycle: { state_machine: sm, execution: `${sm.replace(':stateMachine:', ':execution:')}:ZT-1`, step },
  };
}

async function deniedRecords(): Promise<AuditRecord[]> {
  const res = await call('auditor', 'GET', '/audit?event_type=access_denied&limit=1000');
  expect(res.status).toBe(200);
  return (res.body as { records: AuditRecord[] }).records;
}

/** The task is refused (a named error for the state machine) and one more refusal is on record. */
async function expectTaskRefused(
  agent: AgentName,
  payload: Record<string, unknown>,
  error: string,
  decidedBy: string,
): Promise<AuditRecord> {
  const before = (await deniedRecords()).length;
  await expect(platform.handlers[agent](payload)).rejects.toMatchObject({ name: error });
  const after = await deniedRecords();
  expect(after.length).toBe(before + 1);
  const rec = after.at(-1) as AuditRecord;
  expect(rec).toMatchObject({ event_type: 'access_denied', decision: 'denied', actor: localIdentity(agent) });
  expect((rec.input as { decided_by: string[] }).decided_by).toEqual([decidedBy]);
  return rec;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'zero-trust-'));
  // Every decision these tests cause is also asked of cedar-wasm: a disagreement would refuse it.
  platform = await startLocalPlatform({
    dataDir,
    port: 0,
    approvalTimeoutSeconds: 4,
    logLevel: 'ERROR',
    policyCrossCheckEvery: 1,
  });
  ca = await readFile(platform.pki.caCert, 'utf8');
  for (const who of ['trader', 'approver', 'auditor', 'risk-officer'] as const) {
    const paths = platform.pki.clients[who];
    if (!paths) throw new Error(`no ${who} certificate`);
    tls[who] = { cert: await readFile(paths.cert, 'utf8'), key: await readFile(paths.key, 'utf8') };
  }
}, 60_000);

afterAll(async () => {
  await platform?.stop();
  closeHttpsAgents();
  await rm(dataDir, { recursive: true, force: true });
});

describe('each agent refuses a call its policy denies, audited with the deciding policy', () => {
  it('risk: check_risk only from the router (CheckRisk), not from another step', async () => {
    const rec = await expectTaskRefused(
      'risk',
      fromStep('RequestApproval', { action: 'check_risk', order: order('ZT-RISK-1') }),
      'AccessDenied',
      'default-deny',
    );
    expect(rec.order_id).toBe('ZT-RISK-1');
    expect(rec.input).toMatchObject({
      caller: { via: 'state_machine', type: 'Agent', id: 'risk', step: 'RequestApproval' },
      action: 'check_risk',
      resource: 'Agent::risk',
    });
  });

  it('approval: request_approval only from the risk gate', async () => {
    await expectTaskRefused(
      'approval',
      fromStep('CheckRisk', { action: 'request_approval', order: order('ZT-APR-1'), task_token: 't' }),
      'AccessDenied',
      'default-deny',
    );
  });

  it('position-tracker: update_positions only from execution', async () => {
    await expectTaskRefused(
      'position-tracker',
      fromStep('ExecuteTrade', { action: 'apply_fill', fill: {} }),
      'AccessDenied',
      'default-deny',
    );
  });

  it('compliance: sign_checkpoint only from a schedule, not from a lifecycle step', async () => {
    await expectTaskRefused(
      'compliance',
      fromStep('RecordFailure', { action: 'checkpoint' }),
      'AccessDenied',
      'default-deny',
    );
  });

  it('execution: execute_trade only from the risk gate, even for an order whose approval is verified', async () => {
    const submitted = await call('trader', 'POST', '/orders', order('ZT-EXE-1'));
    expect(submitted.status).toBe(202);
    let view: { status: string; risk?: { check_id?: string } } = { status: '' };
    for (let i = 0; i < 200 && view.status !== 'FILLED'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      view = (await call('trader', 'GET', '/orders/ZT-EXE-1')).body as typeof view;
    }
    expect(view.status).toBe('FILLED');
    const checkId = (await platform.services.orders.get('ZT-EXE-1'))?.risk?.check_id;
    expect(checkId).toBeDefined();
    // The same order and check, replayed from the router's step: verified, but not the gate.
    await expectTaskRefused(
      'execution',
      fromStep('CheckRisk', { action: 'execute_trade', order: order('ZT-EXE-1'), risk_check_id: checkId }),
      'AccessDenied',
      'default-deny',
    );
    // From the gate it answers with the execution on record (a retried step), nothing traded twice.
    const replay = (await platform.handlers.execution(
      fromStep('ExecuteTrade', { action: 'execute_trade', order: order('ZT-EXE-1'), risk_check_id: checkId }),
    )) as { status: string };
    expect(replay.status).toBe('FILLED');
  });

  it('execution: a step that may not release orders is refused as such, leaving no trade_failed record', async () => {
    const rec = await expectTaskRefused(
      'execution',
      fromStep('UpdatePosition', { action: 'execute_trade', order: order('ZT-EXE-3'), risk_check_id: 'RC-ANY' }),
      'AccessDenied',
      'default-deny',
    );
    expect(rec.order_id).toBe('ZT-EXE-3');
    // Refused even with a verified approval: the record says the context was the most permissive.
    expect(rec.input).toMatchObject({ context_is: 'the most permissive context: refused even so' });
    const res = await call('auditor', 'GET', '/audit?order_id=ZT-EXE-3');
    expect((res.body as { records: AuditRecord[] }).records.map((r) => r.event_type)).toEqual(['access_denied']);
  });

  it('the router: a caller who may never submit is refused, and nothing of its malformed order is recorded', async () => {
    const before = (await deniedRecords()).length;
    const res = await call('auditor', 'POST', '/orders', { order_id: 'ZT-AUD-2', quantity: -1 });
    expect(res.status).toBe(403);
    expect((await deniedRecords()).length).toBe(before + 1);
    const invalid = await call('auditor', 'GET', '/audit?event_type=order_invalid&limit=1000');
    const ids = (invalid.body as { records: AuditRecord[] }).records.map((r) => JSON.stringify(r.input));
    expect(ids.some((i) => i.includes('ZT-AUD-2'))).toBe(false);
    // A trader's malformed order still gets its field errors.
    const bad = await call('trader', 'POST', '/orders', { ...order('ZT-BAD-1'), quantity: -1 });
    expect(bad.status).toBe(400);
  });

  it('execution: an unverified risk check is refused by the verified-approval guard, venue untouched', async () => {
    await expect(
      platform.handlers.execution(
        fromStep('ExecuteTrade', { action: 'execute_trade', order: order('ZT-EXE-2'), risk_check_id: 'RC-FORGED' }),
      ),
    ).rejects.toMatchObject({ name: 'RiskApprovalNotVerified' });
    const res = await call('auditor', 'GET', '/audit?order_id=ZT-EXE-2');
    const [rec] = (res.body as { records: AuditRecord[] }).records;
    expect(rec).toMatchObject({ event_type: 'trade_failed', decision: 'blocked' });
    expect(rec?.input).toMatchObject({ decided_by: ['risk-to-execution.cedar#verified-approval-required'] });
  });

  it('the API: only auditors report and read the audit trail; only checkers decide; risk controls are for officers', async () => {
    const cases: Array<[Who, string, string, number]> = [
      ['trader', 'GET', '/reports/rejected_orders?from=2026-01-01&to=2026-12-31', 403],
      ['approver', 'GET', '/reports/rejected_orders?from=2026-01-01&to=2026-12-31', 403],
      ['auditor', 'GET', '/reports/rejected_orders?from=2026-01-01&to=2026-12-31', 200],
      ['trader', 'GET', '/audit?event_type=order_submitted', 403],
      ['trader', 'GET', '/audit/checkpoint', 403],
      ['trader', 'GET', '/approvals', 403],
      ['auditor', 'POST', '/approvals/APR-ZT-NONE/approve', 403],
      ['approver', 'GET', '/approvals', 200],
      ['trader', 'GET', '/positions/ACC-001', 200],
      ['trader', 'GET', '/positions/ACC-004', 403],
      ['risk-officer', 'GET', '/positions/ACC-004', 200],
      ['trader', 'PUT', '/risk/halts/AAPL', 403],
      ['auditor', 'GET', '/risk/limits/ACC-001', 200],
      ['auditor', 'PUT', '/risk/halts/AAPL', 403],
      ['auditor', 'POST', '/orders', 403],
    ];
    for (const [who, method, path, status] of cases) {
      const before = (await deniedRecords()).length;
      const res = await call(
        who,
        method,
        path,
        method === 'GET' ? undefined : who === 'auditor' && path === '/orders' ? order('ZT-AUD-1') : { reason: 'x' },
      );
      expect(res.status, `${who} ${method} ${path}`).toBe(status);
      const after = (await deniedRecords()).length;
      expect(after, `${who} ${method} ${path} audited`).toBe(status === 403 ? before + 1 : before);
      if (status === 403) expect(res.body).toMatchObject({ error: 'Forbidden', code: 'POLICY_DENIED' });
    }
  });
});

describe('malformed input is still decided, and a refusal recorded, before the route rejects it', () => {
  it('a percent-encoding that does not decode: 403 audited for a trader, 400 naming the field for a reader', async () => {
    const bad = { account_id: '%E0%A4%A' };
    const before = (await deniedRecords()).length;
    const trader = (await platform.handlers['position-tracker'](
      certEvent('GET', '/positions/{account_id}', { cn: 'TRADER-123', ou: 'trader', pathParameters: bad }),
    )) as APIGatewayProxyResult;
    expect(trader.statusCode).toBe(403);
    expect((await deniedRecords()).length).toBe(before + 1);
    const officer = (await platform.handlers['position-tracker'](
      certEvent('GET', '/positions/{account_id}', { cn: 'RISK-OFFICER-2', ou: 'risk-officer', pathParameters: bad }),
    )) as APIGatewayProxyResult;
    expect(officer.statusCode).toBe(400);
    expect(JSON.parse(officer.body)).toMatchObject({ errors: [{ field: 'account_id', rule: 'encoding' }] });
    const approval = (await platform.handlers.approval(
      certEvent('POST', '/approvals/{approval_id}/approve', {
        cn: 'AUDITOR-1',
        ou: 'auditor',
        pathParameters: { approval_id: '%E0%A4%A' },
      }),
    )) as APIGatewayProxyResult;
    expect(approval.statusCode).toBe(403);
  });
});

describe('a caller the platform cannot vouch for is refused, audited', () => {
  it('a task with no caller (not from the lifecycle or a schedule)', async () => {
    await expectTaskRefused(
      'risk',
      { action: 'check_risk', order: order('ZT-ID-1') },
      'CallerUnidentified',
      'platform-identity',
    );
  });

  it('a task that names its caller in the payload (forged), even with a good lifecycle block', async () => {
    const rec = await expectTaskRefused(
      'risk',
      fromStep('CheckRisk', {
        action: 'check_risk',
        order: order('ZT-ID-2'),
        caller_spiffe_id: 'spiffe://agentweave.io/agent/order-router',
      }),
      'AccessDenied',
      'platform-identity',
    );
    expect(rec.reason).toMatch(/^FORGED_IDENTITY: /);
  });

  it('a task from another state machine, or from a step the lifecycle does not have', async () => {
    const other = 'arn:aws:states:local:000000000000:stateMachine:someone-elses';
    await expectTaskRefused(
      'risk',
      fromStep('CheckRisk', { action: 'check_risk', order: order('ZT-ID-3') }, other),
      'AccessDenied',
      'platform-identity',
    );
    await expectTaskRefused(
      'risk',
      fromStep('Backdoor', { action: 'check_risk', order: order('ZT-ID-4') }),
      'AccessDenied',
      'platform-identity',
    );
  });

  it('a schedule without a rule ARN', async () => {
    await expectTaskRefused(
      'compliance',
      { action: 'checkpoint', schedule: { rule_arn: 'not-an-arn' } },
      'AccessDenied',
      'platform-identity',
    );
  });

  it('an API request without a client certificate: 401; with an unknown role: 403', async () => {
    const before = (await deniedRecords()).length;
    const none = (await platform.handlers['order-router'](
      certEvent('POST', '/orders', { body: JSON.stringify(order('ZT-ID-5')) }),
    )) as APIGatewayProxyResult;
    expect(none.statusCode).toBe(401);
    const stranger = (await platform.handlers['order-router'](
      certEvent('POST', '/orders', { cn: 'TRADER-123', ou: 'janitor', body: JSON.stringify(order('ZT-ID-6')) }),
    )) as APIGatewayProxyResult;
    expect(stranger.statusCode).toBe(403);
    const after = await deniedRecords();
    expect(after.length).toBe(before + 2);
    expect(after.slice(-2).map((r) => r.reason.split(':')[0])).toEqual(['UNAUTHENTICATED', 'UNKNOWN_CALLER']);
    // Nothing was accepted for either.
    expect(await platform.services.orders.get('ZT-ID-5')).toBeUndefined();
    expect(await platform.services.orders.get('ZT-ID-6')).toBeUndefined();
  });
});

describe('the switch back: POLICY_EVALUATOR=cedar-wasm', () => {
  it('has cedar-wasm decide every action, and still refuses and records what the policies deny', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zero-trust-wasm-'));
    const local = await startLocalPlatform({ dataDir: dir, port: 0, logLevel: 'ERROR', policyEvaluator: 'cedar-wasm' });
    try {
      expect(new Set(Object.values(local.services.policy.evaluators))).toEqual(new Set(['cedar-wasm']));
      expect(new Set(Object.values(platform.services.policy.evaluators))).toEqual(new Set(['compiled']));
      await expect(
        local.handlers.risk(fromStep('RequestApproval', { action: 'check_risk', order: order('ZT-WASM-1') })),
      ).rejects.toMatchObject({ name: 'AccessDenied' });
      const records = await local.services.auditIndex.queryByOrder('ZT-WASM-1', 10);
      expect(records.items.map((r) => r.event_type)).toEqual(['access_denied']);
    } finally {
      await local.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
