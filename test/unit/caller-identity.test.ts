// Who is calling comes from what the platform attests (certificate, lifecycle context, schedule),
// and the enforcement point records every refusal with the policy that decided.
import { beforeEach, describe, expect, it } from 'vitest';
import {
  callerFromApi,
  callerFromTask,
  LIFECYCLE_CALLERS,
  roleOf,
  subjectOf,
} from '../../functions/caller-identity.js';
import { AccessDenied, CallerUnidentified, enforce, isCallerProblem } from '../../functions/core/access.js';
import {
  certEvent,
  lifecycleTask,
  TEST_RULE_ARN,
  TEST_STATE_MACHINE_ARN,
  testAccessDeps,
  testExecutionArn,
} from '../support/access.js';
import { InMemoryAuditTrail, ManualClock } from '../support/in-memory.js';

const config = { stateMachineArn: TEST_STATE_MACHINE_ARN, scheduleRuleArn: TEST_RULE_ARN };
const trader = (id: string) => ({ __entity: { type: 'Trading::Trader', id } });

describe('callerFromApi: the client certificate', () => {
  it('maps CN to the id and OU to the principal type', () => {
    for (const [ou, type] of [
      ['trader', 'Trader'],
      ['approver', 'Approver'],
      ['auditor', 'Auditor'],
      ['risk-officer', 'RiskOfficer'],
    ] as const) {
      const caller = callerFromApi(certEvent('GET', '/x', { cn: 'P-1', ou }));
      expect(caller).toMatchObject({ principal: { type, id: 'P-1' }, via: 'client_certificate' });
      if (!isCallerProblem(caller)) expect(roleOf(caller)).toBe(ou);
    }
  });

  it('reads a full RFC 4514 subject as API Gateway gives it', () => {
    const caller = callerFromApi(certEvent('GET', '/x', { subjectDN: 'CN=TRADER-123,OU=trader,O=ACME,C=US' }));
    expect(caller).toMatchObject({ principal: { type: 'Trader', id: 'TRADER-123' } });
  });

  it('no certificate: missing; no CN, no OU or an unknown OU: unknown', () => {
    expect(callerFromApi(certEvent('GET', '/x'))).toMatchObject({ problem: 'missing' });
    expect(callerFromApi(certEvent('GET', '/x', { subjectDN: 'OU=trader' }))).toMatchObject({ problem: 'unknown' });
    expect(callerFromApi(certEvent('GET', '/x', { cn: 'X' }))).toMatchObject({ problem: 'unknown' });
    expect(callerFromApi(certEvent('GET', '/x', { cn: 'X', ou: 'janitor' }))).toMatchObject({ problem: 'unknown' });
    // Not fooled by an inherited property name.
    expect(callerFromApi(certEvent('GET', '/x', { cn: 'X', ou: 'constructor' }))).toMatchObject({ problem: 'unknown' });
  });

  it('refuses a subject that could smuggle a role: escapes, several OUs or CNs, multi-valued or hex parts', () => {
    for (const dn of [
      'CN=TRADER-999\\,OU=approver,OU=trader,O=ACME', // an escaped comma hiding an OU in the CN
      'OU=approver,OU=trader,CN=X', // two roles
      'CN=A,CN=B,OU=approver', // two ids
      'CN=A+OU=approver,OU=trader', // a multi-valued RDN
      'CN=#0403414243,OU=approver', // a hex-encoded value
      'CN="A,OU=approver",OU=trader', // a quoted value
      'CN=A B,OU=approver', // not an id
      'CN=,OU=approver',
      'CN=A;OU=approver',
      'CN=A,OU=approver,junk',
      'CN=TRADER-123\u00a0,OU=trader', // Unicode spaces a trim would drop: someone else's id
      'CN=TRADER-123\u2028,OU=trader',
      'CN=EVE,OU=\u3000approver', // ... or a role
      'CN=EVE,OU=approver\ufeff',
      'CN=EVE,OU=approver\t',
    ]) {
      const caller = callerFromApi(certEvent('POST', '/approvals/{approval_id}/approve', { subjectDN: dn }));
      expect(caller, dn).toMatchObject({ problem: 'unknown' });
    }
    expect(subjectOf('CN=RISK-OFFICER-1,OU=approver,O=ACME Corp,C=US')).toEqual({
      cn: 'RISK-OFFICER-1',
      ou: 'approver',
    });
    expect(subjectOf('cn=a.b_c-1, ou=auditor')).toEqual({ cn: 'a.b_c-1', ou: 'auditor' });
  });

  it('ignores anything the request says about itself (headers, body)', () => {
    const event = certEvent('POST', '/orders', {
      cn: 'TRADER-123',
      ou: 'trader',
      body: JSON.stringify({ caller: 'AUDITOR-1', role: 'auditor' }),
    });
    event.headers = { 'x-caller': 'AUDITOR-1', 'x-role': 'auditor' };
    expect(callerFromApi(event)).toMatchObject({ principal: { type: 'Trader', id: 'TRADER-123' } });
  });
});

describe('callerFromTask: the lifecycle or a schedule', () => {
  it('maps each lifecycle step to the agent it acts for', () => {
    for (const [step, agent] of Object.entries(LIFECYCLE_CALLERS)) {
      expect(callerFromTask(lifecycleTask(step, { action: 'x' }), config)).toMatchObject({
        principal: { type: 'Agent', id: agent },
        via: 'state_machine',
      });
    }
  });

  it('refuses another state machine, a foreign execution, an unknown step, no block at all', () => {
    const good = lifecycleTask('CheckRisk', {}).lifecycle as Record<string, string>;
    const other = { ...good, state_machine: 'arn:aws:states:local:000000000000:stateMachine:other' };
    expect(callerFromTask({ lifecycle: other }, config)).toMatchObject({ problem: 'unknown' });
    const foreign = { ...good, execution: 'arn:aws:states:local:000000000000:execution:other:1' };
    expect(callerFromTask({ lifecycle: foreign }, config)).toMatchObject({ problem: 'unknown' });
    expect(callerFromTask({ lifecycle: { ...good, step: 'toString' } }, config)).toMatchObject({ problem: 'unknown' });
    expect(callerFromTask({ action: 'x' }, config)).toMatchObject({ problem: 'missing' });
    expect(callerFromTask({ lifecycle: good }, { stateMachineArn: undefined })).toMatchObject({ problem: 'unknown' });
  });

  it('refuses a payload that names its own caller, whatever else it carries', () => {
    for (const field of ['caller', 'caller_spiffe_id', 'principal', 'identity', 'submitter']) {
      expect(callerFromTask({ ...lifecycleTask('CheckRisk', {}), [field]: 'order-router' }, config)).toMatchObject({
        problem: 'forged',
      });
    }
    const both = { ...lifecycleTask('CheckRisk', {}), schedule: { rule_arn: TEST_RULE_ARN } };
    expect(callerFromTask(both, config)).toMatchObject({ problem: 'forged' });
  });

  it('a schedule is its EventBridge rule ARN', () => {
    expect(callerFromTask({ schedule: { rule_arn: TEST_RULE_ARN } }, config)).toMatchObject({
      principal: { type: 'Schedule', id: TEST_RULE_ARN },
      via: 'schedule',
    });
    expect(callerFromTask({ schedule: { rule_arn: 'arn:aws:events:x' } }, config)).toMatchObject({
      problem: 'unknown',
    });
    expect(callerFromTask({ schedule: null }, config)).toMatchObject({ problem: 'unknown' });
  });

  it('accepts an execution of this machine only, not one whose name merely starts like it', () => {
    const good = lifecycleTask('CheckRisk', {}).lifecycle as Record<string, string>;
    expect(callerFromTask({ lifecycle: { ...good, execution: testExecutionArn('X') } }, config)).toMatchObject({
      via: 'state_machine',
    });
    const longer = `${TEST_STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}-evil:X`;
    expect(callerFromTask({ lifecycle: { ...good, execution: longer } }, config)).toMatchObject({ problem: 'unknown' });
  });
});

describe('enforce', () => {
  let audit: InMemoryAuditTrail;
  beforeEach(() => {
    audit = new InMemoryAuditTrail(new ManualClock());
  });

  it('allows without writing anything', async () => {
    const deps = testAccessDeps('risk', audit);
    const caller = callerFromTask(lifecycleTask('CheckRisk', {}), config);
    await expect(enforce(deps, caller, { action: 'check_risk' })).resolves.toMatchObject({
      principal: { id: 'order-router' },
    });
    expect(audit.records()).toEqual([]);
  });

  it('refuses with the deciding policy, recorded before it is thrown', async () => {
    const deps = testAccessDeps('order-router', audit, { 'TRADER-123': ['ACC-001'] });
    const caller = callerFromApi(certEvent('POST', '/orders', { cn: 'TRADER-123', ou: 'trader' }));
    const err = await enforce(deps, caller, {
      action: 'submit_order',
      context: { account_id: 'ACC-002', order_trader: trader('TRADER-123') },
      order_id: 'ORD-9',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessDenied);
    expect((err as AccessDenied).decidedBy).toEqual(['traders.cedar#entitled-accounts']);
    const [rec] = audit.records();
    expect(rec).toMatchObject({
      event_type: 'access_denied',
      order_id: 'ORD-9',
      trader_id: 'TRADER-123',
      actor: deps.identity,
      decision: 'denied',
      reason: 'POLICY_DENIED: submit_order decided by traders.cedar#entitled-accounts',
    });
  });

  it('account_entitled comes from the store, never from the caller', async () => {
    const deps = testAccessDeps('order-router', audit, { 'TRADER-123': ['ACC-001'] });
    const caller = callerFromApi(certEvent('POST', '/orders', { cn: 'TRADER-123', ou: 'trader' }));
    const context = { account_id: 'ACC-002', account_entitled: true, order_trader: trader('TRADER-123') };
    await expect(enforce(deps, caller, { action: 'submit_order', context })).rejects.toBeInstanceOf(AccessDenied);
    expect(audit.records()[0]?.input).toMatchObject({ context: { account_entitled: false } });
    await expect(
      enforce(deps, caller, { action: 'submit_order', context: { ...context, account_id: 'ACC-001' } }),
    ).resolves.toBeDefined();
  });

  it('a trader with no entitlement on record may submit for nothing', async () => {
    const deps = testAccessDeps('order-router', audit, {});
    const caller = callerFromApi(certEvent('POST', '/orders', { cn: 'TRADER-9', ou: 'trader' }));
    await expect(
      enforce(deps, caller, {
        action: 'submit_order',
        context: { account_id: 'ACC-001', order_trader: trader('TRADER-9') },
      }),
    ).rejects.toBeInstanceOf(AccessDenied);
  });

  it('a missing identity is 401-shaped, unknown and forged ones 403-shaped; each recorded', async () => {
    const deps = testAccessDeps('risk', audit);
    await expect(enforce(deps, callerFromTask({}, config), { action: 'check_risk' })).rejects.toBeInstanceOf(
      CallerUnidentified,
    );
    await expect(
      enforce(deps, callerFromTask({ caller: 'x', ...lifecycleTask('CheckRisk', {}) }, config), {
        action: 'check_risk',
      }),
    ).rejects.toMatchObject({ name: 'AccessDenied', code: 'FORGED_IDENTITY' });
    expect(audit.records().map((r) => r.reason.split(':')[0])).toEqual(['UNAUTHENTICATED', 'FORGED_IDENTITY']);
    expect(
      audit.records().every((r) => (r.input as { decided_by: string[] }).decided_by[0] === 'platform-identity'),
    ).toBe(true);
  });

  it('decides every request, allowed or refused: no decision is remembered', async () => {
    const base = testAccessDeps('execution', audit);
    let calls = 0;
    const counted = {
      ...base.policy,
      authorize: (r: Parameters<typeof base.policy.authorize>[0]) => {
        calls++;
        return base.policy.authorize(r);
      },
    };
    const deps = { ...base, policy: counted };
    const gate = callerFromTask(lifecycleTask('ExecuteTrade', {}), config);
    const release = (id: string, verified = true) =>
      enforce(deps, gate, {
        action: 'execute_trade',
        context: { risk_check_id: id, risk_approval_verified: verified },
      });
    await release('RC-1');
    await release('RC-1');
    expect(calls).toBe(2);
    await expect(release('RC-3', false)).rejects.toBeInstanceOf(AccessDenied);
    await expect(release('RC-3', false)).rejects.toBeInstanceOf(AccessDenied);
    expect(calls).toBe(4);
    expect(audit.ofType('access_denied')).toHaveLength(2);
    // A context value that is not a Cedar value (a Date, here) is refused, not folded into its JSON.
    const readRisk = (context: Record<string, unknown>) =>
      enforce(
        { ...deps, self: 'position-tracker' },
        callerFromApi(certEvent('GET', '/x', { cn: 'R-1', ou: 'risk-officer' })),
        {
          action: 'read_positions',
          context,
        },
      );
    const at = new Date(0);
    await readRisk({ account_id: at.toJSON() });
    await expect(readRisk({ account_id: at })).rejects.toBeInstanceOf(AccessDenied);
  });

  it('a refusal that cannot be recorded is not lost: the error surfaces', async () => {
    audit.failWhen = () => true;
    const deps = testAccessDeps('risk', audit);
    await expect(enforce(deps, callerFromTask({}, config), { action: 'check_risk' })).rejects.toMatchObject({
      name: 'TransientError',
    });
  });
});
