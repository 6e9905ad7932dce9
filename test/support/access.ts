// Enforcement points for tests: the real policies (policies/), parsed once per test file, and the
// callers the platform would establish (a lifecycle step, a client certificate, a schedule).
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { AgentAccess } from '../../functions/agent-runtime.js';
import { LIFECYCLE_CALLERS } from '../../functions/caller-identity.js';
import type { AccessDeps, Caller } from '../../functions/core/access.js';
import { loadPolicyEngine, type PolicyEngine } from '../../functions/core/policy-engine.js';
import type { AuditSink } from '../../functions/ports.js';

let engine: PolicyEngine | undefined;
export function testPolicy(): PolicyEngine {
  engine ??= loadPolicyEngine();
  return engine;
}

export const TEST_STATE_MACHINE_ARN = 'arn:aws:states:local:000000000000:stateMachine:acme-order-lifecycle';
export const testExecutionArn = (name = 'ORD-1'): string =>
  `${TEST_STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;
export const TEST_RULE_ARN = 'arn:aws:events:local:000000000000:rule/acme-local-test';

/** Entitlements as the store would hold them: trader -> accounts. */
export type Entitlements = Readonly<Record<string, readonly string[]>>;
export const TEST_ENTITLEMENTS: Entitlements = { 'TRADER-123': ['ACC-001', 'ACC-002', 'ACC-003'] };

export function testAccessDeps(
  agent: string,
  audit: AuditSink,
  entitlements: Entitlements = TEST_ENTITLEMENTS,
  identity = `arn:aws:iam::000000000000:role/acme-test-${agent}`,
): AccessDeps {
  return {
    policy: testPolicy(),
    audit,
    self: agent,
    identity,
    entitlements: { getTraderAccounts: async (id) => (Object.hasOwn(entitlements, id) ? entitlements[id] : undefined) },
  };
}

export function testAccess(agent: string, audit: AuditSink, entitlements?: Entitlements): AgentAccess {
  return {
    deps: testAccessDeps(agent, audit, entitlements),
    task: { stateMachineArn: TEST_STATE_MACHINE_ARN, scheduleRuleArn: TEST_RULE_ARN },
  };
}

/** The caller a lifecycle step establishes (functions/caller-identity.ts). */
export function stepCaller(step: keyof typeof LIFECYCLE_CALLERS & string): Caller {
  const agent = LIFECYCLE_CALLERS[step];
  if (agent === undefined) throw new Error(`no lifecycle step ${step}`);
  return {
    principal: { type: 'Agent', id: agent },
    via: 'state_machine',
    evidence: { state_machine: TEST_STATE_MACHINE_ARN, execution: testExecutionArn(), step },
  };
}

/** A task payload as the state machine sends it from `step`. */
export function lifecycleTask(step: string, payload: Record<string, unknown>): Record<string, unknown> {
  return {
    ...payload,
    lifecycle: { state_machine: TEST_STATE_MACHINE_ARN, execution: testExecutionArn(), step },
  };
}

/** An API Gateway proxy event with a verified client certificate of `cn` and role `ou` (or none). */
export function certEvent(
  method: string,
  resource: string,
  options: {
    cn?: string;
    ou?: string;
    pathParameters?: Record<string, string>;
    query?: Record<string, string>;
    body?: string;
    subjectDN?: string;
  } = {},
): APIGatewayProxyEvent {
  const dn = options.subjectDN ?? (options.cn ? `CN=${options.cn}${options.ou ? `,OU=${options.ou}` : ''}` : undefined);
  return {
    httpMethod: method,
    resource,
    path: resource,
    body: options.body ?? null,
    headers: {},
    pathParameters: options.pathParameters ?? null,
    queryStringParameters: options.query ?? null,
    requestContext: {
      requestId: 'req-test',
      identity: dn ? { clientCert: { subjectDN: dn, serialNumber: '1' } } : {},
    },
  } as unknown as APIGatewayProxyEvent;
}
