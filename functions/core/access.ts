// The enforcement point every agent runs before it acts: the caller the platform established (a
// client certificate, the lifecycle step, a schedule; never the request body) is authorised
// against the pre-parsed Cedar policy set for (action, this agent, context). A refusal is audited
// with the policy that decided, then thrown; an allowed call costs one decision (a few microseconds,
// compiled: policy-compiler.ts) and, for a trader, one cached entitlement read. Every request
// is decided: no decision is remembered.
import type { AuditSink } from '../ports.js';
import { ForbiddenError, UnauthenticatedError } from './errors.js';
import type { EntityRef, PolicyEngine } from './policy-engine.js';

/** How the platform established who is calling. */
export type CallerSource = 'client_certificate' | 'state_machine' | 'schedule' | 'self';

/** A caller the platform vouches for. */
export interface Caller {
  principal: EntityRef;
  via: CallerSource;
  /** What the identity was established from, for the audit trail (subject DN, step, rule ARN). */
  evidence: Readonly<Record<string, string>>;
}

/**
 * The platform could not establish a caller: none was presented, the one presented is not a
 * known kind, or the request claims an identity in its own payload.
 */
export interface CallerProblem {
  problem: 'missing' | 'unknown' | 'forged';
  detail: string;
  evidence: Readonly<Record<string, string>>;
}

export type ResolvedCaller = Caller | CallerProblem;

export const isCallerProblem = (c: ResolvedCaller): c is CallerProblem => 'problem' in c;

/** Who decided a refusal that no policy named: Cedar's default deny, or the identity check. */
export const DEFAULT_DENY = 'default-deny';
export const IDENTITY_CHECK = 'platform-identity';

/** A call the policies refuse (403): names the action, the caller and the deciding policies. */
export class AccessDenied extends ForbiddenError {
  override readonly name = 'AccessDenied';
  constructor(
    message: string,
    readonly decidedBy: readonly string[],
    code = 'POLICY_DENIED',
  ) {
    super(message, code);
  }
}

/** The caller has no identity the platform can vouch for (401 at the API). */
export class CallerUnidentified extends UnauthenticatedError {
  override readonly name = 'CallerUnidentified';
}

export interface AccessDeps {
  policy: PolicyEngine;
  audit: AuditSink;
  /** This agent's name: the Cedar resource Agent::"<self>" of its own actions. */
  self: string;
  /** The role this agent acts as: the actor of the refusals it records. */
  identity: string;
  /** Traders' entitlements in the store: they answer `account_entitled` (undefined: none on record). */
  entitlements: { getTraderAccounts(traderId: string): Promise<readonly string[] | undefined> };
}

export interface AccessRequest {
  action: string;
  context?: Readonly<Record<string, unknown>>;
  /** Default: this agent. */
  resource?: EntityRef;
  /** Indexed fields of a refusal's audit record. */
  order_id?: string;
  trader_id?: string;
  /**
   * The context is not the request's but the most permissive one it could have (the caller is
   * refused even so): the record says so.
   */
  probe?: true;
}

/** The execution agent itself, when it calls the venue (the seed's execution -> exchange). */
export const selfCaller = (agent: string, identity: string): Caller => ({
  principal: { type: 'Agent', id: agent },
  via: 'self',
  evidence: { role: identity },
});

/**
 * Authorise `request` for `caller`; resolves with the caller when allowed. A refusal is recorded
 * (`access_denied`, with the deciding policies) before it is thrown, so nothing refused is lost.
 */
export async function enforce(deps: AccessDeps, caller: ResolvedCaller, request: AccessRequest): Promise<Caller> {
  if (isCallerProblem(caller)) {
    const code =
      caller.problem === 'missing'
        ? 'UNAUTHENTICATED'
        : caller.problem === 'forged'
          ? 'FORGED_IDENTITY'
          : 'UNKNOWN_CALLER';
    await recordRefusal(
      deps,
      request,
      { via: 'unidentified', ...caller.evidence },
      [IDENTITY_CHECK],
      [caller.detail],
      code,
    );
    const message = `${request.action} refused: ${caller.detail}`;
    if (caller.problem === 'missing') throw new CallerUnidentified(message);
    throw new AccessDenied(message, [IDENTITY_CHECK], code);
  }
  const resource = request.resource ?? { type: 'Agent', id: deps.self };
  const context = await withEntitlement(deps, caller.principal, request.context ?? {});
  const result = deps.policy.authorize({ principal: caller.principal, action: request.action, resource, context });
  if (result.decision === 'allow') return caller;

  const decidedBy = result.determiningPolicies.length > 0 ? result.determiningPolicies : [DEFAULT_DENY];
  const who = `${caller.principal.type}::${JSON.stringify(caller.principal.id)}`;
  await recordRefusal(
    deps,
    {
      ...request,
      context,
      ...(caller.principal.type === 'Trader' && request.trader_id === undefined
        ? { trader_id: caller.principal.id }
        : {}),
    },
    { via: caller.via, type: caller.principal.type, id: caller.principal.id, ...caller.evidence },
    decidedBy,
    result.errors,
    'POLICY_DENIED',
  );
  throw new AccessDenied(
    `${who} may not ${request.action} on ${resource.type}::${JSON.stringify(resource.id)}: denied by ${decidedBy.join(', ')}`,
    decidedBy,
  );
}

/**
 * A caller the policies refuse even `request.context`, the most permissive context the action
 * could have, is refused as such (recorded, marked `probe`) before the request's own facts are
 * recorded anywhere; otherwise this resolves and the real decision comes later.
 */
export async function refuseIfNeverAllowed(
  deps: AccessDeps,
  caller: Caller,
  request: AccessRequest & { context: Readonly<Record<string, unknown>> },
): Promise<void> {
  const resource = request.resource ?? { type: 'Agent', id: deps.self };
  const decision = deps.policy.authorize({
    principal: caller.principal,
    action: request.action,
    resource,
    context: { ...request.context },
  });
  if (decision.decision === 'allow') return;
  await enforce(deps, caller, { ...request, probe: true });
}

/**
 * A request that names an account gets `account_entitled`: whether the caller is a trader whose
 * entitlements in the store include it (never taken from the caller: it is set here, over anything
 * passed). Entitlements apply to traders only; for anyone else the answer is false, and the
 * policies decide what that caller may do with the account regardless.
 */
async function withEntitlement(
  deps: AccessDeps,
  principal: EntityRef,
  context: Readonly<Record<string, unknown>>,
): Promise<Record<string, unknown>> {
  const { account_entitled: _fromCaller, ...rest } = context;
  if (typeof rest.account_id !== 'string') return rest;
  const accountId = rest.account_id;
  const accounts = principal.type === 'Trader' ? await deps.entitlements.getTraderAccounts(principal.id) : undefined;
  return { ...rest, account_entitled: accounts?.includes(accountId) ?? false };
}

async function recordRefusal(
  deps: AccessDeps,
  request: AccessRequest,
  caller: Record<string, string>,
  decidedBy: readonly string[],
  errors: readonly string[],
  code: string,
): Promise<void> {
  const resource = request.resource ?? { type: 'Agent', id: deps.self };
  await deps.audit.append({
    event_type: 'access_denied',
    ...(request.order_id !== undefined ? { order_id: request.order_id } : {}),
    ...(request.trader_id !== undefined ? { trader_id: request.trader_id } : {}),
    actor: deps.identity,
    input: {
      caller,
      action: request.action,
      resource: `${resource.type}::${resource.id}`,
      context: request.context ?? {},
      ...(request.probe ? { context_is: 'the most permissive context: refused even so' } : {}),
      decided_by: [...decidedBy],
      ...(errors.length > 0 ? { errors: [...errors] } : {}),
    },
    decision: 'denied',
    reason: `${code}: ${request.action} decided by ${decidedBy.join(', ')}`,
  });
}
