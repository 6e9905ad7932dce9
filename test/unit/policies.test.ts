// The Cedar policies in policies/ against two decision tables kept as data in test/:
// - test/policy-decisions.json: the seed's Rego (agent to agent, SPIFFE ids) row by row. Its
//   expected column comes from the small Rego evaluator below (written from the seed's rules, never
//   from Cedar), with every place where Cedar decides otherwise named as a deviation.
// - test/policy-decisions-people.json: people (client certificates) and schedules at the API, from
//   a second small evaluator written from the rules as the policies' comments and issue 5 state them.
// Neither table is Cedar's output copied back. Regenerate both after changing a rule:
//   UPDATE_POLICY_DECISIONS=1 npx vitest run test/unit/policies.test.ts && npx biome format --write test/policy-decisions*.json
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
// The nodejs build is CommonJS: a default import, as in functions/core/policy-engine.ts.
import cedar from '@cedar-policy/cedar-wasm/nodejs';
import { describe, expect, it } from 'vitest';
import {
  type AuthorizationRequest,
  loadPolicyEngine,
  type PolicyEngine,
  PolicyParseError,
  PolicyValidationError,
  type SeedInput,
  SPIFFE_IDS,
  seedRequest,
  spiffeToEntity,
} from '../../functions/core/policy-engine.js';
import { isScheduleRule, peopleRowRequest, seedRowRequest } from '../support/decision-tables.js';

const TABLE_PATH = new URL('../policy-decisions.json', import.meta.url);
const PEOPLE_TABLE_PATH = new URL('../policy-decisions-people.json', import.meta.url);
const POLICIES_DIR = new URL('../../policies/', import.meta.url);
const SCHEMA_TEXT = readFileSync(new URL('schema.cedarschema', POLICIES_DIR), 'utf8');

type Decision = 'allow' | 'deny';
const AGENT = 'spiffe://agentweave.io/agent/';
/** An EventBridge rule of this stack: what a schedule's invocation names as its caller. */
const SCHEDULE_ARN = 'arn:aws:events:us-east-1:123456789012:rule/acme-trading-risk-sweep';

/** Every action of the schema, in the order an order meets them. A test holds this to the schema. */
const ACTIONS = [
  'submit_order',
  'read_order',
  'check_risk',
  'request_approval',
  'list_approvals',
  'approve',
  'reject',
  'confirm_approval',
  'record_rejection',
  'expire_approval',
  'execute_trade',
  'send_to_venue',
  'update_positions',
  'read_positions',
  'read_risk_controls',
  'change_risk_controls',
  'expire_temporary_limits',
  'log_event',
  'query_audit_log',
  'generate_report',
  'sign_checkpoint',
];
const APPROVAL_ACTIONS = ['execute_trade', 'send_to_venue'];

const fileOf = (policyId: string): string => policyId.split('#')[0] ?? policyId;
const uniqueSorted = (xs: readonly string[]): string[] => [...new Set(xs)].sort();

// =============================================================================================
// Table 1: an independent evaluator of the seed's Rego (package trading.authz), one function per rule.

type DeviationKind = 'tightening' | 'addition';

/**
 * Where Cedar decides otherwise than the literal Rego, and why: a tightening refuses what the Rego
 * allowed; an addition allows what the seed has no rule for (never silently: each row says which).
 */
const DEVIATIONS = {
  'real-risk-approval': {
    kind: 'tightening',
    reason:
      'has_risk_approval only tests that input.context.risk_check_id is defined and not false (even "" passes); ' +
      'here the enforcing agent must have verified the check in the store (risk_approval_verified) and the id must be non-empty, ' +
      'for the venue rule and the Key-Takeaways rule alike (a refusal names risk-to-execution.cedar#verified-approval-required)',
  },
  'venue-action-only': {
    kind: 'tightening',
    reason: 'the execution -> exchange rule names no action, so any action passed; here only send_to_venue',
  },
  'release-by-risk-gate-only': {
    kind: 'tightening',
    reason:
      'the Key-Takeaways rule (input.action == "execute_trade"; has_risk_approval) names no caller and no callee, so any caller ' +
      'with a risk_check_id could have anyone execute a trade; here only the risk gate (Agent risk: the lifecycle step after ' +
      "its decision or after a checker's approval) releases an order, and only to the execution agent",
  },
  'single-segment-agent': {
    kind: 'tightening',
    reason:
      'startswith(caller, "spiffe://agentweave.io/agent/") also accepts nested paths; here an agent is one path segment',
  },
  'approval-lifecycle': {
    kind: 'addition',
    reason:
      "not in the seed: after a checker's verdict or the end of the wait, the approval agent confirms, records the rejection " +
      'of, or expires the approval it requested (approval-lifecycle.cedar: approval -> approval only)',
  },
  'fill-to-positions': {
    kind: 'addition',
    reason:
      'not in the seed: the execution agent hands its fill to the position tracker (update_positions, ' +
      'execution-to-positions.cedar: execution -> position-tracker only)',
  },
  schedules: {
    kind: 'addition',
    reason:
      "not in the seed: the stack's EventBridge schedules (a caller the seed does not have) end expired temporary limits " +
      'at the risk agent and sign audit checkpoints at the compliance agent (schedules.cedar), nothing else',
  },
} as const satisfies Record<string, { kind: DeviationKind; reason: string }>;
type Deviation = keyof typeof DEVIATIONS;
const ALL_DEVIATIONS = Object.keys(DEVIATIONS) as Deviation[];

// Rego: a bare reference in a rule body succeeds unless it is undefined or false.
const holds = (value: unknown): boolean => value !== undefined && value !== false;

function hasRiskApproval(context: Record<string, unknown> | undefined, on: ReadonlySet<Deviation>): boolean {
  if (!on.has('real-risk-approval')) return holds(context?.risk_check_id);
  return (
    context?.risk_approval_verified === true &&
    typeof context.risk_check_id === 'string' &&
    context.risk_check_id !== ''
  );
}

// An agent is one path segment under the trust domain's agent path.
const isAgent = (id: string): boolean =>
  id.startsWith(AGENT) && /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(id.slice(AGENT.length));
const calls = (i: SeedInput, caller: string, callee: string): boolean =>
  i.caller_spiffe_id === `${AGENT}${caller}` && i.callee_spiffe_id === `${AGENT}${callee}`;

interface RegoRule {
  /** The Cedar file meant to translate the rule: the file an allow must be attributed to. */
  file: string;
  /** Absent: a rule of the seed's Rego. Present: an addition, in force only with that deviation. */
  addedBy?: Deviation;
  allow(i: SeedInput, on: ReadonlySet<Deviation>): boolean;
}

const RULES: RegoRule[] = [
  { file: 'router-to-risk.cedar', allow: (i) => calls(i, 'order-router', 'risk') && i.action === 'check_risk' },
  { file: 'risk-to-approval.cedar', allow: (i) => calls(i, 'risk', 'approval') && i.action === 'request_approval' },
  {
    file: 'compliance-logging.cedar',
    allow: (i, on) =>
      i.caller_spiffe_id.startsWith(AGENT) &&
      (!on.has('single-segment-agent') || isAgent(i.caller_spiffe_id)) &&
      i.callee_spiffe_id === `${AGENT}compliance` &&
      ['log_event', 'query_audit_log'].includes(i.action),
  },
  { file: 'auditor-reports.cedar', allow: (i) => calls(i, 'auditor', 'compliance') && i.action === 'generate_report' },
  {
    file: 'execution-to-venue.cedar',
    allow: (i, on) =>
      calls(i, 'execution', 'exchange') &&
      (!on.has('venue-action-only') || i.action === 'send_to_venue') &&
      hasRiskApproval(i.context, on),
  },
  {
    // Key Takeaways: allow if { input.action == "execute_trade"; has_risk_approval }
    file: 'risk-to-execution.cedar',
    allow: (i, on) =>
      i.action === 'execute_trade' &&
      (!on.has('release-by-risk-gate-only') || calls(i, 'risk', 'execution')) &&
      hasRiskApproval(i.context, on),
  },
  {
    file: 'approval-lifecycle.cedar',
    addedBy: 'approval-lifecycle',
    allow: (i) =>
      calls(i, 'approval', 'approval') &&
      ['confirm_approval', 'record_rejection', 'expire_approval'].includes(i.action),
  },
  {
    file: 'execution-to-positions.cedar',
    addedBy: 'fill-to-positions',
    allow: (i) => calls(i, 'execution', 'position-tracker') && i.action === 'update_positions',
  },
  {
    file: 'schedules.cedar',
    addedBy: 'schedules',
    allow: (i) =>
      isScheduleRule(i.caller_spiffe_id) &&
      ((i.callee_spiffe_id === `${AGENT}risk` && i.action === 'expire_temporary_limits') ||
        (i.callee_spiffe_id === `${AGENT}compliance` && i.action === 'sign_checkpoint')),
  },
];

// The tightened has_risk_approval also stands as a guard of its own, so that a refusal names it. It
// judges only requests the schema admits (an agent calling an agent, with exactly the two approval
// fields); anything else is refused before any policy is looked at, and no policy is named.
const approvalShaped = (c: Record<string, unknown> | undefined): boolean =>
  c !== undefined &&
  Object.keys(c).length === 2 &&
  typeof c.risk_check_id === 'string' &&
  typeof c.risk_approval_verified === 'boolean';
const GUARD_FILE = 'risk-to-execution.cedar';
const guardRefuses = (i: SeedInput, on: ReadonlySet<Deviation>): boolean =>
  on.has('real-risk-approval') &&
  APPROVAL_ACTIONS.includes(i.action) &&
  isAgent(i.caller_spiffe_id) &&
  isAgent(i.callee_spiffe_id) &&
  approvalShaped(i.context) &&
  !hasRiskApproval(i.context, on);

interface RegoResult {
  decision: Decision;
  allowedBy: string[];
  refusedBy: string[];
}

function evaluateRego(input: SeedInput, on: ReadonlySet<Deviation>): RegoResult {
  const allowedBy = uniqueSorted(
    RULES.filter((r) => (r.addedBy === undefined || on.has(r.addedBy)) && r.allow(input, on)).map((r) => r.file),
  );
  const refusedBy = guardRefuses(input, on) ? [GUARD_FILE] : [];
  // default allow := false
  return { decision: allowedBy.length > 0 && refusedBy.length === 0 ? 'allow' : 'deny', allowedBy, refusedBy };
}

function* subsetsOfSize<T>(items: readonly T[], size: number, from = 0): Generator<T[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let k = from; k <= items.length - size; k++) {
    for (const rest of subsetsOfSize(items, size - 1, k + 1)) yield [items[k] as T, ...rest];
  }
}

/** The deviations that explain a difference: every smallest set of them that alone flips the literal decision. */
function explain(input: SeedInput, literal: Decision): Deviation[] {
  for (let size = 1; size <= ALL_DEVIATIONS.length; size++) {
    const found = new Set<Deviation>();
    for (const subset of subsetsOfSize(ALL_DEVIATIONS, size)) {
      if (evaluateRego(input, new Set(subset)).decision !== literal) for (const d of subset) found.add(d);
    }
    if (found.size > 0) return ALL_DEVIATIONS.filter((d) => found.has(d));
  }
  return [];
}

interface Row {
  caller: string;
  callee: string;
  action: string;
  context: string;
  expect: Decision;
  /** An allow: the files that must decide it. */
  by?: string[];
  /** A deny by a forbid (not the default deny, not a refused request): its file. */
  denied_by?: string[];
  /** Present where the literal Rego decides otherwise: its decision and the deviations that explain it. */
  rego?: Decision;
  deviations?: Deviation[];
}
type RowKey = Pick<Row, 'caller' | 'callee' | 'action' | 'context'>;

interface Table {
  description: string;
  identities: Record<string, string>;
  actions: string[];
  contexts: Record<string, Record<string, unknown>>;
  deviations: Record<string, { kind: DeviationKind; reason: string }>;
  rows: Row[];
}

const IDENTITIES: Record<string, string> = {
  ...Object.fromEntries(Object.keys(SPIFFE_IDS).map((id) => [id.slice(AGENT.length), id])),
  intruder: `${AGENT}intruder`,
  'evil-risk': 'spiffe://evil.example/agent/risk',
  'evil-compliance': 'spiffe://evil.example/agent/compliance',
  'nested-risk': `${AGENT}risk/worker`,
  schedule: SCHEDULE_ARN,
};
/** A Cedar entity reference in a context. */
const traderRef = (id: string) => ({ __entity: { type: 'Trading::Trader', id } });
const TRADER_123 = traderRef('TRADER-123');
const CONTEXTS: Record<string, Record<string, unknown>> = {
  // Without a risk approval, as the seed has it: no risk_check_id at all.
  none: {},
  approved: { risk_check_id: 'RC-1', risk_approval_verified: true },
  unverified: { risk_check_id: 'RC-1', risk_approval_verified: false },
  'verified-empty-id': { risk_check_id: '', risk_approval_verified: true },
  'seed-id-only': { risk_check_id: 'RC-1' },
  // The schema's context of an order's submission and of an order or position read.
  // (as the enforcement point passes it for a workload: entitlements are a trader's only).
  order: { account_id: 'ACC-001', account_entitled: false, order_trader: TRADER_123 },
  account: { account_id: 'ACC-001', account_entitled: false },
};
const BASE_CONTEXT: Readonly<Record<string, string>> = {
  submit_order: 'order',
  read_order: 'account',
  read_positions: 'account',
};
/** The pairs the seed's risk-approval rules are about (tightened): every action and every approval shape. */
const APPROVAL_PAIRS: [string, string][] = [
  ['execution', 'exchange'],
  ['risk', 'execution'],
];

/** The cross product the table must cover, as (caller, callee, action, context) name tuples. */
function coverage(): [string, string, string, string][] {
  const out: [string, string, string, string][] = [];
  const seen = new Set<string>();
  const add = (t: [string, string, string, string]): void => {
    const k = t.join(' ');
    if (seen.has(k)) return;
    seen.add(k);
    out.push(t);
  };
  const names = Object.keys(IDENTITIES);
  for (const caller of names) {
    for (const callee of names) {
      for (const action of ACTIONS) {
        // Every triple in the action's own context; the two approval actions also with a verified
        // approval and with an unverified one, which must not help anyone but the rule's own pair.
        add([caller, callee, action, BASE_CONTEXT[action] ?? 'none']);
        if (APPROVAL_ACTIONS.includes(action)) {
          add([caller, callee, action, 'approved']);
          add([caller, callee, action, 'unverified']);
        }
      }
    }
  }
  const approvalContexts = ['none', 'approved', 'unverified', 'verified-empty-id', 'seed-id-only'];
  for (const [caller, callee] of APPROVAL_PAIRS) {
    for (const action of ACTIONS) for (const context of approvalContexts) add([caller, callee, action, context]);
  }
  return out;
}

function seedInput(row: RowKey, table: Pick<Table, 'identities' | 'contexts'>): SeedInput {
  const caller = table.identities[row.caller];
  const callee = table.identities[row.callee];
  const context = table.contexts[row.context];
  if (caller === undefined || callee === undefined || context === undefined) {
    throw new Error(`unknown name in row ${JSON.stringify(row)}`);
  }
  return { caller_spiffe_id: caller, callee_spiffe_id: callee, action: row.action, context };
}

/** The row as the evaluator sees it: expected decision, attributing file, literal-Rego difference. */
function expectedRow(key: RowKey, table: Pick<Table, 'identities' | 'contexts'>): Row {
  const input = seedInput(key, table);
  const tightened = evaluateRego(input, new Set(ALL_DEVIATIONS));
  const literal = evaluateRego(input, new Set());
  const row: Row = { ...key, expect: tightened.decision };
  if (tightened.decision === 'allow') row.by = tightened.allowedBy;
  else if (tightened.refusedBy.length > 0) row.denied_by = tightened.refusedBy;
  if (literal.decision !== tightened.decision) {
    row.rego = literal.decision;
    row.deviations = explain(input, literal.decision);
  }
  return row;
}

function generateTable(): Table {
  const head = {
    description:
      'Seed Rego (trading.authz, with the Key-Takeaways execute_trade rule) vs Cedar policies/: every caller x callee x ' +
      "action in the action's own context, the approval actions also with and without a verified risk approval, and the " +
      'approval rules\' pairs with every approval shape. "expect" is the seed decision with the listed deviations applied ' +
      '(tightenings refuse what the Rego allowed; additions, "not in the seed", allow what it has no rule for); "rego" ' +
      'shows the literal Rego where it differs. "by" names the file that must allow, "denied_by" the file whose forbid ' +
      'refuses. Generated by test/unit/policies.test.ts from its own Rego evaluator, not from Cedar.',
    identities: IDENTITIES,
    actions: ACTIONS,
    contexts: CONTEXTS,
    deviations: { ...DEVIATIONS },
  };
  const rows = coverage().map(([caller, callee, action, context]) =>
    expectedRow({ caller, callee, action, context }, head),
  );
  return { ...head, rows };
}

// =============================================================================================
// Table 2: people at the API (client certificate OU -> principal type) and the stack's schedules,
// from the rules as stated in the policies' comments and issue 5 (not from the Cedar text):
// - a trader submits only in its own name and only for accounts it is entitled to, and reads orders
//   and positions only of those accounts (whichever agent is asked, these two limits refuse);
// - only approvers and risk officers list, approve and reject approvals, and they read any order;
// - only auditors (people) query the audit log and generate reports; they read orders and positions;
// - risk officers and approvers read and change the risk controls, auditors read them too; risk
//   officers read positions;
// - a schedule runs only its two tasks (expire temporary limits at risk, sign a checkpoint at compliance);
// - nothing else: no person (nor schedule) may check_risk, request or finish approvals,
//   execute_trade, send_to_venue, update_positions or log_event.

type PrincipalType = 'Trader' | 'Approver' | 'Auditor' | 'RiskOfficer' | 'Schedule';
interface Principal {
  type: PrincipalType;
  id: string;
  /**
   * A trader's entitlements as the store holds them: functions/core/access.ts answers the
   * context's `account_entitled` from them (false for everyone else).
   */
  accounts?: string[];
}

const PRINCIPALS: Record<string, Principal> = {
  trader: { type: 'Trader', id: 'TRADER-123', accounts: ['ACC-001', 'ACC-002'] },
  'other-trader': { type: 'Trader', id: 'TRADER-456', accounts: ['ACC-003'] },
  // No entitlement on record: no account is entitled.
  'unentitled-trader': { type: 'Trader', id: 'TRADER-789', accounts: [] },
  approver: { type: 'Approver', id: 'RISK-OFFICER-1' },
  auditor: { type: 'Auditor', id: 'AUDITOR-1' },
  'risk-officer': { type: 'RiskOfficer', id: 'RISK-OFFICER-2' },
  schedule: { type: 'Schedule', id: SCHEDULE_ARN },
};
/** The six agents and the venue. */
const RESOURCES = ['order-router', 'risk', 'approval', 'execution', 'position-tracker', 'compliance', 'exchange'];
const PEOPLE_CONTEXTS: Record<string, Record<string, unknown>> = {
  none: {},
  // An order's account and the trader it names (submit_order).
  'ACC-001/TRADER-123': { account_id: 'ACC-001', trader_id: 'TRADER-123' },
  'ACC-003/TRADER-123': { account_id: 'ACC-003', trader_id: 'TRADER-123' },
  'ACC-001/TRADER-456': { account_id: 'ACC-001', trader_id: 'TRADER-456' },
  'ACC-003/TRADER-456': { account_id: 'ACC-003', trader_id: 'TRADER-456' },
  // An order's or a position's account (read_order, read_positions); "" is an order that does not exist.
  'ACC-001': { account_id: 'ACC-001' },
  'ACC-003': { account_id: 'ACC-003' },
  'no-order': { account_id: '' },
  approved: { risk_check_id: 'RC-1', risk_approval_verified: true },
  unverified: { risk_check_id: 'RC-1', risk_approval_verified: false },
};
const PEOPLE_CONTEXTS_BY_ACTION: Readonly<Record<string, readonly string[]>> = {
  submit_order: ['ACC-001/TRADER-123', 'ACC-003/TRADER-123', 'ACC-001/TRADER-456', 'ACC-003/TRADER-456'],
  read_order: ['ACC-001', 'ACC-003', 'no-order'],
  read_positions: ['ACC-001', 'ACC-003'],
  execute_trade: ['approved', 'unverified'],
  send_to_venue: ['approved', 'unverified'],
};

/** Who may do what, and where; each grant with the policy meant to say it. */
const GRANTS: { policy: string; who: PrincipalType[]; actions: string[]; at: string }[] = [
  { policy: 'traders.cedar#submit', who: ['Trader'], actions: ['submit_order'], at: 'order-router' },
  { policy: 'traders.cedar#read-orders', who: ['Trader'], actions: ['read_order'], at: 'order-router' },
  { policy: 'traders.cedar#read-positions', who: ['Trader'], actions: ['read_positions'], at: 'position-tracker' },
  {
    policy: 'approvers.cedar#decide-approvals',
    who: ['Approver', 'RiskOfficer'],
    actions: ['list_approvals', 'approve', 'reject'],
    at: 'approval',
  },
  {
    policy: 'approvers.cedar#read-orders',
    who: ['Approver', 'RiskOfficer'],
    actions: ['read_order'],
    at: 'order-router',
  },
  {
    policy: 'auditors.cedar#audit-trail',
    who: ['Auditor'],
    actions: ['query_audit_log', 'generate_report'],
    at: 'compliance',
  },
  { policy: 'auditors.cedar#read-orders', who: ['Auditor'], actions: ['read_order'], at: 'order-router' },
  { policy: 'auditors.cedar#read-positions', who: ['Auditor'], actions: ['read_positions'], at: 'position-tracker' },
  {
    policy: 'risk-officers.cedar#change-controls',
    who: ['RiskOfficer', 'Approver'],
    actions: ['change_risk_controls'],
    at: 'risk',
  },
  {
    policy: 'risk-officers.cedar#read-controls',
    who: ['RiskOfficer', 'Approver', 'Auditor'],
    actions: ['read_risk_controls'],
    at: 'risk',
  },
  {
    policy: 'risk-officers.cedar#read-positions',
    who: ['RiskOfficer'],
    actions: ['read_positions'],
    at: 'position-tracker',
  },
  { policy: 'schedules.cedar#risk-sweep', who: ['Schedule'], actions: ['expire_temporary_limits'], at: 'risk' },
  { policy: 'schedules.cedar#audit-checkpoint', who: ['Schedule'], actions: ['sign_checkpoint'], at: 'compliance' },
];

/** A trader's two limits refuse whichever agent is asked, and say which limit was broken. */
const LIMITS: { policy: string; broken(p: Principal, action: string, context: Record<string, unknown>): boolean }[] = [
  {
    policy: 'traders.cedar#own-name',
    broken: (p, action, c) => p.type === 'Trader' && action === 'submit_order' && c.trader_id !== p.id,
  },
  {
    policy: 'traders.cedar#entitled-accounts',
    broken: (p, action, c) =>
      p.type === 'Trader' &&
      ['submit_order', 'read_order', 'read_positions'].includes(action) &&
      !(p.accounts ?? []).includes(String(c.account_id)),
  },
];

interface PeopleRow {
  principal: string;
  resource: string;
  action: string;
  context: string;
  expect: Decision;
  /** An allow: the policies that must decide it. */
  by?: string[];
  /** A deny by a forbid: the policies that must refuse it. */
  denied_by?: string[];
}
type PeopleRowKey = Pick<PeopleRow, 'principal' | 'resource' | 'action' | 'context'>;

interface PeopleTable {
  description: string;
  principals: Record<string, Principal>;
  resources: string[];
  actions: string[];
  contexts: Record<string, Record<string, unknown>>;
  rows: PeopleRow[];
}

function peopleCoverage(): [string, string, string, string][] {
  const out: [string, string, string, string][] = [];
  for (const principal of Object.keys(PRINCIPALS)) {
    for (const resource of RESOURCES) {
      for (const action of ACTIONS) {
        for (const context of PEOPLE_CONTEXTS_BY_ACTION[action] ?? ['none'])
          out.push([principal, resource, action, context]);
      }
    }
  }
  return out;
}

function lookUp(key: PeopleRowKey): { principal: Principal; context: Record<string, unknown> } {
  const principal = PRINCIPALS[key.principal];
  const context = PEOPLE_CONTEXTS[key.context];
  if (principal === undefined || context === undefined || !RESOURCES.includes(key.resource)) {
    throw new Error(`unknown name in row ${JSON.stringify(key)}`);
  }
  return { principal, context };
}

function expectedPeopleRow(key: PeopleRowKey): PeopleRow {
  const { principal, context } = lookUp(key);
  const refused = LIMITS.filter((l) => l.broken(principal, key.action, context)).map((l) => l.policy);
  const granted = GRANTS.filter(
    (g) => g.who.includes(principal.type) && g.actions.includes(key.action) && g.at === key.resource,
  ).map((g) => g.policy);
  if (refused.length > 0) return { ...key, expect: 'deny', denied_by: uniqueSorted(refused) };
  if (granted.length > 0) return { ...key, expect: 'allow', by: uniqueSorted(granted) };
  return { ...key, expect: 'deny' };
}

function generatePeopleTable(): PeopleTable {
  return {
    description:
      'People at the API (client certificate OU -> Trader, Approver, Auditor, RiskOfficer; a trader with its ' +
      "entitlements) and the stack's schedules, against the six agents and the venue, for every action of the schema. " +
      '"by" names the policies that must allow, "denied_by" the forbids that must refuse (a row with neither is the ' +
      'default deny, or a request the schema refuses). Generated by test/unit/policies.test.ts from its own evaluator ' +
      "of the rules as the policies' comments and issue 5 state them, not from Cedar.",
    principals: PRINCIPALS,
    resources: RESOURCES,
    actions: ACTIONS,
    contexts: PEOPLE_CONTEXTS,
    rows: peopleCoverage().map(([principal, resource, action, context]) =>
      expectedPeopleRow({ principal, resource, action, context }),
    ),
  };
}

/** The request as the enforcement point builds it (test/support/decision-tables.ts), names checked. */
function peopleRequest(key: PeopleRowKey): AuthorizationRequest {
  lookUp(key);
  return peopleRowRequest(key, { principals: PRINCIPALS, contexts: PEOPLE_CONTEXTS });
}

// =============================================================================================

function writeTable(path: URL, table: { rows: readonly object[] }): void {
  // One row per line keeps the file reviewable; `biome format` then expands the long ones.
  const rows = table.rows.map((r) => `    ${JSON.stringify(r)}`).join(',\n');
  const { rows: _, ...head } = table;
  writeFileSync(path, `${JSON.stringify(head, null, 2).slice(0, -2)},\n  "rows": [\n${rows}\n  ]\n}\n`);
}

if (process.env.UPDATE_POLICY_DECISIONS === '1') {
  writeTable(TABLE_PATH, generateTable());
  writeTable(PEOPLE_TABLE_PATH, generatePeopleTable());
}

const table = JSON.parse(readFileSync(TABLE_PATH, 'utf8')) as Table;
const peopleTable = JSON.parse(readFileSync(PEOPLE_TABLE_PATH, 'utf8')) as PeopleTable;
const key = (r: RowKey): string => `${r.caller} ${r.callee} ${r.action} ${r.context}`;
const peopleKey = (r: PeopleRowKey): string => `${r.principal} ${r.resource} ${r.action} ${r.context}`;

/** The schema's actions, read by Cedar itself. */
function schemaActions(): string[] {
  const json = cedar.schemaToJson(SCHEMA_TEXT);
  if (json.type !== 'success') throw new Error('schema does not parse');
  const namespace = (json.json as Record<string, { actions?: Record<string, unknown> }>).Trading;
  return Object.keys(namespace?.actions ?? {}).sort();
}

// =============================================================================================

describe('seed decision table (test/policy-decisions.json)', () => {
  const engine = loadPolicyEngine();

  it('covers the whole cross product exactly once, with the identities, contexts and deviations of the evaluator', () => {
    const generated = generateTable();
    expect(table.description).toBe(generated.description);
    expect(table.identities).toEqual(IDENTITIES);
    expect(table.contexts).toEqual(CONTEXTS);
    expect(table.actions).toEqual(ACTIONS);
    expect(table.deviations).toEqual(DEVIATIONS);
    const keys = table.rows.map(key);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(
      coverage()
        .map(([caller, callee, action, context]) => key({ caller, callee, action, context }))
        .sort(),
    );
  });

  it('says what the Rego evaluator says, row by row', () => {
    const wrong = table.rows.filter((row) => {
      const { caller, callee, action, context } = row;
      return !isDeepStrictEqual(expectedRow({ caller, callee, action, context }, table), row);
    });
    expect(wrong).toEqual([]);
  });

  it('marks every difference from the literal Rego: tightenings refuse, additions ("not in the seed") allow', () => {
    const seedFiles = new Set(RULES.filter((r) => r.addedBy === undefined).map((r) => r.file));
    for (const row of table.rows) {
      const kinds = new Set((row.deviations ?? []).map((d) => DEVIATIONS[d].kind));
      if (row.rego === undefined) {
        expect(row.deviations, key(row)).toBeUndefined();
        // An allow by a file with no seed rule would be an addition the table does not admit to.
        for (const file of row.by ?? []) expect(seedFiles.has(file), key(row)).toBe(true);
        continue;
      }
      expect(row.deviations?.length, key(row)).toBeGreaterThan(0);
      if (row.rego === 'allow') {
        expect([row.expect, [...kinds]], key(row)).toEqual(['deny', ['tightening']]);
      } else {
        expect([row.expect, [...kinds]], key(row)).toEqual(['allow', ['addition']]);
        for (const file of row.by ?? []) expect(seedFiles.has(file), key(row)).toBe(false);
      }
    }
    for (const [name, d] of Object.entries(DEVIATIONS)) {
      if (d.kind === 'addition') expect(d.reason, name).toMatch(/^not in the seed: /);
      // Each deviation explains at least one row.
      expect(
        table.rows.some((r) => r.deviations?.includes(name as Deviation)),
        name,
      ).toBe(true);
    }
  });

  it('keeps the seed rules that matter: only risk releases to execution, only with a verified approval', () => {
    const allowed = (action: string) =>
      table.rows
        .filter((r) => r.action === action && r.expect === 'allow')
        .map((r) => `${r.caller} ${r.callee} ${r.context}`);
    expect(allowed('execute_trade')).toEqual(['risk execution approved']);
    expect(allowed('send_to_venue')).toEqual(['execution exchange approved']);
    // The Key-Takeaways rule as the seed wrote it let any agent have a trade executed with a bare id.
    const literal = table.rows.filter((r) => r.action === 'execute_trade' && r.rego === 'allow');
    expect(literal.some((r) => r.caller === 'intruder' && r.context === 'approved')).toBe(true);
    expect(literal.some((r) => r.caller === 'risk' && r.callee === 'execution' && r.context === 'seed-id-only')).toBe(
      true,
    );
  });

  it('Cedar gives the expected decision on every row; an allow names its file, a forbid its file', () => {
    const mismatches = table.rows.flatMap((row) => {
      const result = engine.authorize(seedRowRequest(row, table));
      const files = uniqueSorted(result.determiningPolicies.map(fileOf));
      const expected = (row.expect === 'allow' ? row.by : row.denied_by) ?? [];
      const ok = result.decision === row.expect && isDeepStrictEqual(files, expected);
      return ok ? [] : [{ row: key(row), expect: row.expect, expected, got: result }];
    });
    expect(mismatches).toEqual([]);
    expect(table.rows.length).toBeGreaterThan(4000);
  });
});

describe('people decision table (test/policy-decisions-people.json)', () => {
  const engine = loadPolicyEngine();

  it("covers every principal x resource x action in the action's contexts exactly once", () => {
    const generated = generatePeopleTable();
    const { rows: _, ...head } = generated;
    const { rows: __, ...stored } = peopleTable;
    expect(stored).toEqual(head);
    const keys = peopleTable.rows.map(peopleKey);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(
      peopleCoverage()
        .map(([principal, resource, action, context]) => peopleKey({ principal, resource, action, context }))
        .sort(),
    );
  });

  it('says what the rules evaluator says, row by row', () => {
    const wrong = peopleTable.rows.filter((row) => {
      const { principal, resource, action, context } = row;
      return !isDeepStrictEqual(expectedPeopleRow({ principal, resource, action, context }), row);
    });
    expect(wrong).toEqual([]);
  });

  it('lets no person near the lifecycle, and schedules only at their two tasks', () => {
    const lifecycle = [
      'check_risk',
      'request_approval',
      'confirm_approval',
      'record_rejection',
      'expire_approval',
      'execute_trade',
      'send_to_venue',
      'update_positions',
      'log_event',
    ];
    expect(peopleTable.rows.filter((r) => lifecycle.includes(r.action) && r.expect === 'allow')).toEqual([]);
    expect(
      peopleTable.rows
        .filter((r) => r.principal === 'schedule' && r.expect === 'allow')
        .map((r) => `${r.action} ${r.resource}`),
    ).toEqual(['expire_temporary_limits risk', 'sign_checkpoint compliance']);
    // A trader submits exactly its own orders for its own accounts, at the router.
    expect(
      peopleTable.rows
        .filter((r) => r.action === 'submit_order' && r.expect === 'allow')
        .map((r) => `${r.principal} ${r.resource} ${r.context}`),
    ).toEqual(['trader order-router ACC-001/TRADER-123', 'other-trader order-router ACC-003/TRADER-456']);
    // Only people with a checker's role decide approvals.
    expect(
      uniqueSorted(
        peopleTable.rows.filter((r) => r.action === 'approve' && r.expect === 'allow').map((r) => r.principal),
      ),
    ).toEqual(['approver', 'risk-officer']);
  });

  it('Cedar gives the expected decision on every row and names the deciding policies', () => {
    const mismatches = peopleTable.rows.flatMap((row) => {
      const result = engine.authorize(peopleRequest(row));
      const expected = (row.expect === 'allow' ? row.by : row.denied_by) ?? [];
      const ok = result.decision === row.expect && isDeepStrictEqual([...result.determiningPolicies].sort(), expected);
      return ok ? [] : [{ row: peopleKey(row), expect: row.expect, expected, got: result }];
    });
    expect(mismatches).toEqual([]);
    expect(peopleTable.rows.length).toBeGreaterThan(1000);
  });
});

describe('both tables', () => {
  it('list every action of the schema, and exercise each in their rows', () => {
    const actions = schemaActions();
    expect(actions.length).toBeGreaterThan(20);
    expect([...table.actions].sort()).toEqual(actions);
    expect([...peopleTable.actions].sort()).toEqual(actions);
    expect(uniqueSorted(table.rows.map((r) => r.action))).toEqual(actions);
    expect(uniqueSorted(peopleTable.rows.map((r) => r.action))).toEqual(actions);
  });

  it('between them make every policy decide some row', () => {
    const engine = loadPolicyEngine();
    const decisive = new Set([
      ...table.rows.flatMap((row) => engine.authorize(seedRowRequest(row, table)).determiningPolicies),
      ...peopleTable.rows.flatMap((row) => engine.authorize(peopleRequest(row)).determiningPolicies),
    ]);
    expect([...decisive].sort()).toEqual([...engine.policyIds]);
  });
});

describe('loadPolicyEngine', () => {
  const schema = SCHEMA_TEXT;

  it('loads every policy file, which validates against the schema (errors and warnings are fatal)', () => {
    const engine = loadPolicyEngine({ policiesDir: fileURLToPath(POLICIES_DIR) });
    const files = readdirSync(POLICIES_DIR)
      .filter((f) => f.endsWith('.cedar'))
      .sort();
    expect(uniqueSorted(engine.policyIds.map(fileOf))).toEqual(files);
    // Annotated policies are named after their @id.
    expect(engine.policyIds).toContain('traders.cedar#own-name');
    expect(engine.policyIds).toContain('risk-to-execution.cedar#verified-approval-required');
    // Each file on its own validates too (strict mode): no file leans on another.
    for (const file of files) {
      const text = readFileSync(new URL(file, POLICIES_DIR), 'utf8');
      expect(() => loadPolicyEngine({ schema, policies: { [file]: text } }), file).not.toThrow();
    }
  });

  it('refuses a policy that lets an agent approve: the schema keeps approvals human', () => {
    const load = () =>
      loadPolicyEngine({
        schema,
        policies: {
          'agent-approves.cedar':
            'permit(principal == Trading::Agent::"risk", action == Trading::Action::"approve", resource);',
        },
      });
    expect(load).toThrow(PolicyValidationError);
    expect(load).toThrow(/agent-approves\.cedar/);
  });

  it('refuses a policy that reads an undeclared context or principal attribute', () => {
    const policies = { 'typo.cedar': 'permit(principal, action, resource) when { context.risk_approved == true };' };
    expect(() => loadPolicyEngine({ schema, policies })).toThrow(PolicyValidationError);
    const attr = {
      'attr.cedar':
        'permit(principal is Trading::Trader, action == Trading::Action::"submit_order", resource) when { principal.desk == "x" };',
    };
    expect(() => loadPolicyEngine({ schema, policies: attr })).toThrow(PolicyValidationError);
  });

  it('refuses text that does not parse, naming the file', () => {
    const load = () => loadPolicyEngine({ schema, policies: { 'broken.cedar': 'permit(principal, action' } });
    expect(load).toThrow(PolicyParseError);
    expect(load).toThrow(/broken\.cedar/);
    expect(() => loadPolicyEngine({ schema: 'namespace {', policies: '' })).toThrow(PolicyParseError);
  });

  it('names an inline policy text "inline.cedar", a multi-policy file <file>#<n>, an annotated one <file>#<id>', () => {
    const inline = loadPolicyEngine({
      schema,
      policies: 'permit(principal == Trading::Agent::"risk", action == Trading::Action::"log_event", resource);',
    });
    expect(inline.policyIds).toEqual(['inline.cedar']);
    // Twelve policies: `#n` must follow the text even where the engine's own ids sort as strings.
    const names = Array.from({ length: 12 }, (_, i) => `agent-${i + 1}`);
    const many = loadPolicyEngine({
      schema,
      policies: {
        'many.cedar': names
          .map(
            (name) =>
              `permit(principal == Trading::Agent::"${name}", action == Trading::Action::"log_event", resource);`,
          )
          .join('\n'),
      },
    });
    names.forEach((name, i) => {
      const result = many.authorize({
        principal: { type: 'Agent', id: name },
        action: 'log_event',
        resource: { type: 'Agent', id: 'compliance' },
        context: {},
      });
      expect(result.determiningPolicies).toEqual([`many.cedar#${i + 1}`]);
    });
    const annotated = loadPolicyEngine({
      schema,
      policies: {
        'a.cedar':
          '@id("log") permit(principal == Trading::Agent::"risk", action == Trading::Action::"log_event", resource);\n' +
          'permit(principal == Trading::Agent::"risk", action == Trading::Action::"query_audit_log", resource);',
      },
    });
    expect(annotated.policyIds).toEqual(['a.cedar#2', 'a.cedar#log']);
  });

  it('refuses two policies of a file with the same @id', () => {
    const twice =
      '@id("x") permit(principal == Trading::Agent::"risk", action == Trading::Action::"log_event", resource);\n' +
      '@id("x") permit(principal == Trading::Agent::"risk", action == Trading::Action::"query_audit_log", resource);';
    expect(() => loadPolicyEngine({ schema, policies: { 'dup.cedar': twice } })).toThrow(/two policies are named/);
  });

  it('keeps engines with different policy sets apart (separate pre-parsed slots)', () => {
    const a = loadPolicyEngine();
    const empty = loadPolicyEngine({ schema, policies: {} });
    const req = seedRequest({
      caller_spiffe_id: `${AGENT}order-router`,
      callee_spiffe_id: `${AGENT}risk`,
      action: 'check_risk',
    });
    expect(empty.authorize(req).decision).toBe('deny');
    expect(a.authorize(req).decision).toBe('allow');
    expect(loadPolicyEngine().authorize(req).decision).toBe('allow');
  });
});

describe('authorize', () => {
  const engine = loadPolicyEngine();
  const venue = (context: Record<string, unknown>) =>
    engine.authorize({
      principal: { type: 'Agent', id: 'execution' },
      action: 'send_to_venue',
      resource: { type: 'Agent', id: 'exchange' },
      context,
    });
  const submit = (context: Record<string, unknown>) =>
    engine.authorize({
      principal: { type: 'Trader', id: 'TRADER-123' },
      action: 'submit_order',
      resource: { type: 'Agent', id: 'order-router' },
      context,
    });

  it('denies by default a well-formed request no policy matches, without errors', () => {
    expect(
      engine.authorize({
        principal: { type: 'Agent', id: 'risk' },
        action: 'check_risk',
        resource: { type: 'Agent', id: 'execution' },
        context: {},
      }),
    ).toEqual({ decision: 'deny', determiningPolicies: [], errors: [] });
    // A checker, but at the wrong agent.
    expect(
      engine.authorize({
        principal: { type: 'Approver', id: 'alice' },
        action: 'approve',
        resource: { type: 'Agent', id: 'risk' },
        context: {},
      }),
    ).toEqual({ decision: 'deny', determiningPolicies: [], errors: [] });
  });

  it('allows the venue call only with a verified approval, naming the file that decided either way', () => {
    expect(venue({ risk_check_id: 'RC-9', risk_approval_verified: true })).toEqual({
      decision: 'allow',
      determiningPolicies: ['execution-to-venue.cedar'],
      errors: [],
    });
    expect(venue({ risk_check_id: 'RC-9', risk_approval_verified: false })).toEqual({
      decision: 'deny',
      determiningPolicies: ['risk-to-execution.cedar#verified-approval-required'],
      errors: [],
    });
  });

  it('denies, with a reason, a context of the wrong shape or with non-Cedar values', () => {
    for (const context of [
      { risk_check_id: 'RC-9', risk_approval_verified: 'true' },
      { risk_check_id: 'RC-9' },
      { risk_check_id: 'RC-9', risk_approval_verified: true, extra: 'x' },
      { risk_check_id: 'RC-9', risk_approval_verified: true, amount: 1.5 },
      { risk_check_id: 'RC-9', risk_approval_verified: true, at: new Date() },
      { risk_check_id: null, risk_approval_verified: true },
    ]) {
      const result = venue(context);
      expect(result.decision, JSON.stringify(context)).toBe('deny');
      expect(result.errors.length, JSON.stringify(context)).toBeGreaterThan(0);
    }
  });

  it("holds a trader's submission to the schema: the entitlement answer and the order's trader must be there, typed", () => {
    const order = { account_id: 'ACC-001', account_entitled: true, order_trader: TRADER_123 };
    expect(submit(order).decision).toBe('allow');
    for (const context of [
      { account_id: 'ACC-001', order_trader: TRADER_123 },
      { ...order, account_entitled: 'true' },
      { ...order, order_trader: 'TRADER-123' },
      { ...order, order_trader: { __entity: { type: 'Trading::Agent', id: 'TRADER-123' } } },
      { ...order, desk: 'x' },
    ]) {
      const result = submit(context);
      expect(result.decision, JSON.stringify(context)).toBe('deny');
      expect(result.errors.length, JSON.stringify(context)).toBeGreaterThan(0);
    }
  });

  it('still denies a mistyped approval flag when request validation is off', () => {
    const lax: PolicyEngine = loadPolicyEngine({ validateRequest: false });
    const result = lax.authorize({
      principal: { type: 'Agent', id: 'execution' },
      action: 'send_to_venue',
      resource: { type: 'Agent', id: 'exchange' },
      context: { risk_check_id: 'RC-9', risk_approval_verified: 'true' },
    });
    expect(result.decision).toBe('deny');
  });

  it('denies an action the schema does not know', () => {
    const result = engine.authorize({
      principal: { type: 'Agent', id: 'compliance' },
      action: 'drop_audit_log',
      resource: { type: 'Agent', id: 'compliance' },
      context: {},
    });
    expect(result.decision).toBe('deny');
    expect(result.errors.join()).toMatch(/does not exist/);
  });
});

describe('SPIFFE ids', () => {
  it('maps the seed workloads, unknown agents and foreign ids', () => {
    expect(Object.keys(SPIFFE_IDS)).toHaveLength(8);
    expect(SPIFFE_IDS[`${AGENT}execution`]).toEqual({ type: 'Agent', id: 'execution' });
    expect(spiffeToEntity(`${AGENT}intruder`)).toEqual({ type: 'Agent', id: 'intruder' });
    for (const id of [
      'spiffe://evil.example/agent/risk',
      `${AGENT}`,
      `${AGENT}..`,
      `${AGENT}risk/worker`,
      'spiffe://agentweave.io/agents/risk',
      'spiffe://AGENTWEAVE.io/agent/risk',
    ]) {
      expect(spiffeToEntity(id), id).toEqual({ type: 'ForeignWorkload', id });
    }
  });

  it('turns a seed input into a request: caller -> principal, callee -> resource', () => {
    expect(
      seedRequest({
        caller_spiffe_id: `${AGENT}execution`,
        callee_spiffe_id: `${AGENT}exchange`,
        action: 'send_to_venue',
        context: { risk_check_id: 'RC-1', risk_approval_verified: true },
      }),
    ).toEqual({
      principal: { type: 'Agent', id: 'execution' },
      action: 'send_to_venue',
      resource: { type: 'Agent', id: 'exchange' },
      context: { risk_check_id: 'RC-1', risk_approval_verified: true },
    });
  });
});
