// Who is calling, from what the platform attests and nothing the caller wrote:
// - an API request: the client certificate API Gateway verified against the truststore (mTLS on
//   the custom domain, the only way in): CN = the person's id, OU = their role;
// - a lifecycle task: the state machine's own context (`$$.StateMachine.Id`, `$$.Execution.Id`)
//   and the step, a constant of the ASL file; only the state machine's role may invoke an agent
//   directly (IAM), so a task event comes from it;
// - a schedule: EventBridge's `<aws.events.rule-arn>`, filled in by the rule's input transformer.
// Any identity claimed in a payload is refused as forged.
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { Caller, CallerProblem, ResolvedCaller } from './core/access.js';

/** The certificate's OU -> the Cedar principal type (policies/schema.cedarschema). */
export const ROLE_PRINCIPALS: Readonly<Record<string, string>> = Object.freeze({
  trader: 'Trader',
  approver: 'Approver',
  auditor: 'Auditor',
  'risk-officer': 'RiskOfficer',
});

/** The certificate role (OU) a person's principal came from; undefined for workloads and schedules. */
export function roleOf(caller: Caller): string | undefined {
  if (caller.via !== 'client_certificate') return undefined;
  return Object.keys(ROLE_PRINCIPALS).find((role) => ROLE_PRINCIPALS[role] === caller.principal.type);
}

/**
 * Each lifecycle step (statemachines/order-lifecycle.asl.json) and the agent it acts for, as the
 * seed's caller: the router hands an order to risk, risk asks for approval and releases the order
 * to execution, approval finishes its own requests, execution hands its fill to positions, and a
 * failure is logged for the router whose order it was.
 */
export const LIFECYCLE_CALLERS: Readonly<Record<string, string>> = Object.freeze({
  CheckRisk: 'order-router',
  RequestApproval: 'risk',
  ConfirmApproval: 'approval',
  RecordApprovalRejection: 'approval',
  ExpireApproval: 'approval',
  ExecuteTrade: 'risk',
  UpdatePosition: 'execution',
  RecordFailure: 'order-router',
});

/** Payload fields through which a caller might try to name itself; identity never comes from them. */
export const CLAIMED_IDENTITY_FIELDS = [
  'caller',
  'caller_spiffe_id',
  'caller_id',
  'principal',
  'identity',
  'spiffe_id',
  'submitter',
] as const;

function problem(kind: CallerProblem['problem'], detail: string, evidence: Record<string, string> = {}): CallerProblem {
  return { problem: kind, detail, evidence };
}

// A person's id as the firm's CA issues it: no spaces, no DN syntax. Anything else is not an id.
const PERSON_ID = /^[A-Za-z0-9._-]{1,64}$/;
// RFC 4514 escapes (\, "), multi-valued RDNs (+), hex values (#) and legacy separators (;):
// none belongs in a subject the firm's CA issues, and each is a way to smuggle "OU=approver"
// into another attribute's value. A subject holding any of them is refused, not interpreted.
const DN_SPECIALS = /[\\"+#;<>]/;
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/;
// Only ASCII spaces around a type or value are formatting (", " between RDNs).
const ASCII_SPACES = /^ +| +$/g;

/**
 * The CN and OU of a certificate subject as API Gateway gives it ("CN=TRADER-123,OU=trader,O=ACME"):
 * exactly one of each, the CN an id, or a reason why not.
 */
export function subjectOf(dn: string): { cn: string; ou: string } | string {
  // Printable ASCII only: Unicode spaces (NBSP, U+3000, BOM...) are not escaped by RFC 2253
  // formatters and would vanish under a trim, turning "TRADER-123<NBSP>" into TRADER-123.
  if (NOT_PRINTABLE_ASCII.test(dn)) return 'the subject holds characters outside printable ASCII';
  if (DN_SPECIALS.test(dn)) return 'the subject holds escaped, multi-valued or hex-encoded parts';
  const cns: string[] = [];
  const ous: string[] = [];
  for (const rdn of dn.split(',')) {
    const eq = rdn.indexOf('=');
    if (eq <= 0) return `the subject part ${JSON.stringify(rdn.trim())} is not type=value`;
    const type = rdn.slice(0, eq).replace(ASCII_SPACES, '').toUpperCase();
    const value = rdn.slice(eq + 1).replace(ASCII_SPACES, '');
    if (type === 'CN') cns.push(value);
    else if (type === 'OU') ous.push(value);
  }
  if (cns.length !== 1) return `the subject must hold exactly one CN (it holds ${cns.length})`;
  if (ous.length !== 1) return `the subject must hold exactly one OU, the role (it holds ${ous.length})`;
  const [cn, ou] = [cns[0] as string, ous[0] as string];
  if (!PERSON_ID.test(cn)) return `the CN ${JSON.stringify(cn)} is not an id (letters, digits, . _ -)`;
  return { cn, ou };
}

/** The caller of an API request: the verified client certificate's subject. */
export function callerFromApi(event: APIGatewayProxyEvent): ResolvedCaller {
  const identity = event.requestContext.identity as {
    clientCert?: { subjectDN?: string; serialNumber?: string } | null;
  };
  const cert = identity.clientCert;
  const dn = cert?.subjectDN;
  if (!dn) return problem('missing', 'no client certificate: the API is reached only with mutual TLS');
  const evidence: Record<string, string> = { subject_dn: dn };
  if (cert?.serialNumber) evidence.serial_number = cert.serialNumber;
  const subject = subjectOf(dn);
  if (typeof subject === 'string') {
    return problem('unknown', `certificate subject ${JSON.stringify(dn)}: ${subject}`, evidence);
  }
  const { cn, ou } = subject;
  const type = Object.hasOwn(ROLE_PRINCIPALS, ou) ? ROLE_PRINCIPALS[ou] : undefined;
  if (type === undefined) {
    return problem(
      'unknown',
      `certificate subject ${JSON.stringify(dn)} has no known role (OU must be one of ${Object.keys(ROLE_PRINCIPALS).join(', ')})`,
      evidence,
    );
  }
  return { principal: { type, id: cn }, via: 'client_certificate', evidence };
}

export interface TaskIdentityConfig {
  /** The lifecycle state machine whose tasks this agent serves. */
  stateMachineArn: string | undefined;
  /** The one EventBridge rule whose scheduled task this agent accepts (none: no schedule). */
  scheduleRuleArn?: string | undefined;
}

/** The caller of a task or scheduled invocation. */
export function callerFromTask(payload: Readonly<Record<string, unknown>>, config: TaskIdentityConfig): ResolvedCaller {
  const claimed = CLAIMED_IDENTITY_FIELDS.filter((f) => Object.hasOwn(payload, f));
  if (claimed.length > 0) {
    const evidence: Record<string, string> = {};
    for (const f of claimed) evidence[`claimed_${f}`] = String(JSON.stringify(payload[f])).slice(0, 200);
    return problem(
      'forged',
      `the payload names a caller (${claimed.join(', ')}); identity comes from the platform`,
      evidence,
    );
  }
  const lifecycle = payload.lifecycle;
  const schedule = payload.schedule;
  if (lifecycle !== undefined && schedule !== undefined) {
    return problem('forged', 'the payload carries both a lifecycle and a schedule identity');
  }
  if (schedule !== undefined) {
    const ruleArn = (schedule as { rule_arn?: unknown } | null)?.rule_arn;
    if (typeof ruleArn !== 'string' || config.scheduleRuleArn === undefined || ruleArn !== config.scheduleRuleArn) {
      return problem('unknown', "schedule.rule_arn is not this agent's schedule rule", {
        rule_arn: String(ruleArn).slice(0, 200),
      });
    }
    return { principal: { type: 'Schedule', id: ruleArn }, via: 'schedule', evidence: { rule_arn: ruleArn } };
  }
  if (lifecycle === undefined || lifecycle === null || typeof lifecycle !== 'object') {
    return problem('missing', 'no caller: a task must come from the order lifecycle or a schedule');
  }
  const { state_machine: stateMachine, execution, step } = lifecycle as Record<string, unknown>;
  const evidence = {
    state_machine: String(stateMachine).slice(0, 300),
    execution: String(execution).slice(0, 300),
    step: String(step).slice(0, 100),
  };
  if (config.stateMachineArn === undefined || stateMachine !== config.stateMachineArn) {
    return problem('unknown', `lifecycle.state_machine is not this platform's order lifecycle`, evidence);
  }
  // An execution ARN is the state machine's ARN with :stateMachine: replaced by :execution:, plus the name.
  const executionPrefix = `${config.stateMachineArn.replace(':stateMachine:', ':execution:')}:`;
  if (typeof execution !== 'string' || !execution.startsWith(executionPrefix)) {
    return problem('unknown', 'lifecycle.execution is not an execution of this state machine', evidence);
  }
  const agent =
    typeof step === 'string' && Object.hasOwn(LIFECYCLE_CALLERS, step) ? LIFECYCLE_CALLERS[step] : undefined;
  if (agent === undefined)
    return problem('unknown', `lifecycle.step ${JSON.stringify(step)} is not a step of the lifecycle`, evidence);
  return { principal: { type: 'Agent', id: agent }, via: 'state_machine', evidence };
}
