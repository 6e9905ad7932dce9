// What each agent needs, projected from one set of platform services. AWS wiring (wiring.ts) and
// the local platform (local/platform.ts) build the services; this file decides who gets what.
import type { AgentAccess } from './agent-runtime.js';
import type { AgentName } from './config.js';
import type { AccessDeps } from './core/access.js';
import type { ApprovalDeps } from './core/approvals.js';
import type { AuditTrail, ComplianceDeps } from './core/compliance.js';
import type { ExecutionDeps } from './core/execution.js';
import type { OrderIntakeDeps } from './core/order-intake.js';
import type { PolicyEngine } from './core/policy-engine.js';
import type { PositionDeps } from './core/position-keeping.js';
import type { ReferenceCache } from './core/reference-cache.js';
import type { RiskAdminDeps } from './core/risk-admin.js';
import type { RiskCheckDeps } from './core/risk-check.js';
import type {
  AccountRiskStore,
  ApprovalStore,
  AuditIndex,
  AuditSink,
  Clock,
  OrderStore,
  PositionStore,
  ReferenceStore,
  Venue,
  Workflow,
} from './ports.js';

export interface PlatformServices {
  readonly orders: OrderStore;
  readonly reference: ReferenceCache;
  /** The store behind the cache: the risk officers' writes (risk-admin.ts). */
  readonly referenceStore: ReferenceStore;
  /** Accounts' open orders and recent orders (risk-check.ts reserves, the final steps release). */
  readonly accountRisk: AccountRiskStore;
  readonly positions: PositionStore;
  readonly approvals: ApprovalStore;
  readonly audit: AuditSink;
  readonly auditIndex: AuditIndex;
  /** Signed checkpoints and the archive, for proofs and reports (compliance). */
  readonly auditTrail: AuditTrail;
  readonly workflow: Workflow;
  readonly venue: Venue;
  readonly clock: Clock;
  readonly approvalTimeoutSeconds: number;
  /** The Cedar policy set, parsed once per process (policies/). */
  readonly policy: PolicyEngine;
  /** The order lifecycle whose tasks the agents serve (tasks from anything else are refused). */
  readonly stateMachineArn: string | undefined;
}

/** The enforcement point's needs: the policies, the audit trail for refusals, traders' entitlements. */
export const accessDeps = (s: PlatformServices, agent: AgentName, identity: string): AccessDeps => ({
  policy: s.policy,
  audit: s.audit,
  self: agent,
  identity,
  // Read only when a request names an account (a trader's), so an agent without one needs no table.
  entitlements: { getTraderAccounts: (traderId) => s.reference.getTraderAccounts(traderId) },
});

export const agentAccess = (
  s: PlatformServices,
  agent: AgentName,
  identity: string,
  scheduleRuleArn?: string,
): AgentAccess => ({
  deps: accessDeps(s, agent, identity),
  task: { stateMachineArn: s.stateMachineArn, ...(scheduleRuleArn ? { scheduleRuleArn } : {}) },
});

export const routerDeps = (s: PlatformServices, identity: string): OrderIntakeDeps => ({
  orders: s.orders,
  reference: s.reference,
  audit: s.audit,
  auditIndex: s.auditIndex,
  workflow: s.workflow,
  clock: s.clock,
  identity,
});

export const riskDeps = (s: PlatformServices, identity: string): RiskCheckDeps => ({
  orders: s.orders,
  positions: s.positions,
  reference: s.reference,
  accountRisk: s.accountRisk,
  audit: s.audit,
  clock: s.clock,
  identity,
});

/**
 * The risk officers' controls write to the store behind the cache; a change is then dropped from
 * this process's cache at once (other processes see it within the cache's staleness bound).
 */
export const riskAdminDeps = (s: PlatformServices, identity: string): RiskAdminDeps => ({
  store: s.referenceStore,
  audit: s.audit,
  clock: s.clock,
  identity,
  onChange: () => s.reference.invalidate(),
});

export const approvalDeps = (s: PlatformServices, identity: string): ApprovalDeps => ({
  approvals: s.approvals,
  workflow: s.workflow,
  accountRisk: s.accountRisk,
  audit: s.audit,
  clock: s.clock,
  identity,
  timeoutSeconds: s.approvalTimeoutSeconds,
});

export const executionDeps = (s: PlatformServices, identity: string): ExecutionDeps => ({
  access: accessDeps(s, 'execution', identity),
  orders: s.orders,
  approvals: s.approvals,
  reference: s.reference,
  positions: s.positions,
  accountRisk: s.accountRisk,
  venue: s.venue,
  audit: s.audit,
  clock: s.clock,
  identity,
});

export const positionDeps = (s: PlatformServices, identity: string): PositionDeps => ({
  positions: s.positions,
  reference: s.reference,
  accountRisk: s.accountRisk,
  audit: s.audit,
  clock: s.clock,
  identity,
});

export const complianceDeps = (s: PlatformServices, identity: string): ComplianceDeps => ({
  audit: s.audit,
  index: s.auditIndex,
  trail: s.auditTrail,
  accountRisk: s.accountRisk,
  orders: s.orders,
  clock: s.clock,
  identity,
});
