// The Cedar policies against the seed's Rego, row by row. The expected column of
// test/policy-decisions.json comes from the small Rego evaluator below (written from the seed's
// rules, never from Cedar), so the table cannot just be Cedar's own output copied back.
// Regenerate the table after changing a rule: UPDATE_POLICY_DECISIONS=1 npx vitest run test/unit/policies.test.ts
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  loadPolicyEngine,
  type PolicyEngine,
  PolicyParseError,
  PolicyValidationError,
  type SeedInput,
  SPIFFE_IDS,
  seedRequest,
  spiffeToEntity,
} from '../../functions/core/policy-engine.js';

const TABLE_PATH = new URL('../policy-decisions.json', import.meta.url);
const POLICIES_DIR = new URL('../../policies/', import.meta.url);

// ---------------------------------------------------------------------------------------------
// An independent evaluator of the seed's Rego (package trading.authz), one function per rule.

type Decision = 'allow' | 'deny';
const AGENT = 'spiffe://agentweave.io/agent/';

/** Where the Cedar translation is deliberately stricter than the Rego, and why. */
const DEVIATIONS = {
  'real-risk-approval':
    'has_risk_approval only tests that input.context.risk_check_id is defined and not false (even "" passes); ' +
    'here the caller must have verified the check in the store (risk_approval_verified) and the id must be non-empty',
  'venue-action-only': 'the execution -> exchange rule names no action, so any action passed; here only send_to_venue',
  'single-segment-agent':
    'startswith(caller, "spiffe://agentweave.io/agent/") also accepts nested paths; here an agent is one path segment',
} as const;
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

// Each rule with the Cedar file meant to translate it (the file an allow must be attributed to).
const RULES: { file: string; allow: (i: SeedInput, on: ReadonlySet<Deviation>) => boolean }[] = [
  {
    file: 'router-to-risk.cedar',
    allow: (i) =>
      i.caller_spiffe_id === `${AGENT}order-router` &&
      i.callee_spiffe_id === `${AGENT}risk` &&
      i.action === 'check_risk',
  },
  {
    file: 'risk-to-approval.cedar',
    allow: (i) =>
      i.caller_spiffe_id === `${AGENT}risk` &&
      i.callee_spiffe_id === `${AGENT}approval` &&
      i.action === 'request_approval',
  },
  {
    file: 'compliance-logging.cedar',
    allow: (i, on) =>
      i.caller_spiffe_id.startsWith(AGENT) &&
      (!on.has('single-segment-agent') || !i.caller_spiffe_id.slice(AGENT.length).includes('/')) &&
      i.callee_spiffe_id === `${AGENT}compliance` &&
      ['log_event', 'query_audit_log'].includes(i.action),
  },
  {
    file: 'auditor-reports.cedar',
    allow: (i) =>
      i.caller_spiffe_id === `${AGENT}auditor` &&
      i.callee_spiffe_id === `${AGENT}compliance` &&
      i.action === 'generate_report',
  },
  {
    file: 'execution-to-venue.cedar',
    allow: (i, on) =>
      i.caller_spiffe_id === `${AGENT}execution` &&
      i.callee_spiffe_id === `${AGENT}exchange` &&
      (!on.has('venue-action-only') || i.action === 'send_to_venue') &&
      hasRiskApproval(i.context, on),
  },
];

function evaluateRego(input: SeedInput, on: ReadonlySet<Deviation>): { decision: Decision; rules: string[] } {
  const rules = RULES.filter((r) => r.allow(input, on)).map((r) => r.file);
  return { decision: rules.length > 0 ? 'allow' : 'deny', rules }; // default allow := false
}

// ---------------------------------------------------------------------------------------------
// The table

interface Row {
  caller: string;
  callee: string;
  action: string;
  context: string;
  expect: Decision;
  /** The file that must decide an allow. */
  by?: string;
  /** Present where the literal Rego decides otherwise: its decision and the deviations that explain it. */
  rego?: Decision;
  deviations?: Deviation[];
}

interface Table {
  description: string;
  identities: Record<string, string>;
  actions: string[];
  contexts: Record<string, Record<string, unknown>>;
  deviations: Record<string, string>;
  rows: Row[];
}

const IDENTITIES: Record<string, string> = {
  ...Object.fromEntries(Object.keys(SPIFFE_IDS).map((id) => [id.slice(AGENT.length), id])),
  intruder: `${AGENT}intruder`,
  'evil-risk': 'spiffe://evil.example/agent/risk',
  'evil-compliance': 'spiffe://evil.example/agent/compliance',
  'nested-risk': `${AGENT}risk/worker`,
};
const ACTIONS = [
  'submit_order',
  'check_risk',
  'request_approval',
  'approve',
  'reject',
  'execute_trade',
  'send_to_venue',
  'update_positions',
  'read_positions',
  'log_event',
  'query_audit_log',
  'generate_report',
];
const CONTEXTS: Record<string, Record<string, unknown>> = {
  none: {},
  approved: { risk_check_id: 'RC-1', risk_approval_verified: true },
  unverified: { risk_check_id: 'RC-1', risk_approval_verified: false },
  'verified-empty-id': { risk_check_id: '', risk_approval_verified: true },
  'seed-id-only': { risk_check_id: 'RC-1' },
};

/** The cross product the table must cover, as (caller, callee, action, context) name tuples. */
function coverage(): [string, string, string, string][] {
  const out: [string, string, string, string][] = [];
  const names = Object.keys(IDENTITIES);
  for (const caller of names) {
    for (const callee of names) {
      for (const action of ACTIONS) {
        // Every pair with no context; send_to_venue also with a verified approval, which must not
        // help anyone but execution -> exchange.
        out.push([caller, callee, action, 'none']);
        if (action === 'send_to_venue') out.push([caller, callee, action, 'approved']);
      }
    }
  }
  // The risk-approval rule itself: every action and every approval shape.
  for (const action of ACTIONS) {
    for (const context of Object.keys(CONTEXTS)) {
      if (context === 'none' || (action === 'send_to_venue' && context === 'approved')) continue;
      out.push(['execution', 'exchange', action, context]);
    }
  }
  return out;
}

function seedInput(row: Pick<Row, 'caller' | 'callee' | 'action' | 'context'>, table: Table): SeedInput {
  const caller = table.identities[row.caller];
  const callee = table.identities[row.callee];
  const context = table.contexts[row.context];
  if (caller === undefined || callee === undefined || context === undefined) {
    throw new Error(`unknown name in row ${JSON.stringify(row)}`);
  }
  return { caller_spiffe_id: caller, callee_spiffe_id: callee, action: row.action, context };
}

/** The row as the evaluator sees it: expected decision, attributing file, literal-Rego difference. */
function expectedRow(key: Pick<Row, 'caller' | 'callee' | 'action' | 'context'>, table: Table): Row {
  const input = seedInput(key, table);
  const tightened = evaluateRego(input, new Set(ALL_DEVIATIONS));
  const literal = evaluateRego(input, new Set());
  const row: Row = { ...key, expect: tightened.decision };
  if (tightened.decision === 'allow') row.by = tightened.rules.join(',');
  if (literal.decision !== tightened.decision) {
    row.rego = literal.decision;
    row.deviations = ALL_DEVIATIONS.filter((d) => evaluateRego(input, new Set([d])).decision !== literal.decision);
  }
  return row;
}

function generateTable(): Table {
  const table: Table = {
    description:
      'Seed Rego (trading.authz) vs Cedar policies/: every caller x callee x action, with risk-approval contexts. ' +
      '"expect" is the seed decision with the listed deviations applied; "rego" shows the literal Rego where it differs. ' +
      'Generated by test/unit/policies.test.ts from its own Rego evaluator, not from Cedar.',
    identities: IDENTITIES,
    actions: ACTIONS,
    contexts: CONTEXTS,
    deviations: { ...DEVIATIONS },
    rows: [],
  };
  table.rows = coverage().map(([caller, callee, action, context]) =>
    expectedRow({ caller, callee, action, context }, table),
  );
  return table;
}

if (process.env.UPDATE_POLICY_DECISIONS === '1') {
  const t = generateTable();
  // One row per line keeps the file reviewable; Biome reformats the long ones.
  const rows = t.rows.map((r) => `    ${JSON.stringify(r)}`).join(',\n');
  const { rows: _, ...head } = t;
  writeFileSync(TABLE_PATH, `${JSON.stringify(head, null, 2).slice(0, -2)},\n  "rows": [\n${rows}\n  ]\n}\n`);
}

const table = JSON.parse(readFileSync(TABLE_PATH, 'utf8')) as Table;
const key = (r: Pick<Row, 'caller' | 'callee' | 'action' | 'context'>): string =>
  `${r.caller} ${r.callee} ${r.action} ${r.context}`;

// ---------------------------------------------------------------------------------------------

describe('policy decision table (test/policy-decisions.json)', () => {
  const engine = loadPolicyEngine();

  it('covers the whole cross product exactly once, with the identities and contexts of the seed', () => {
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

  it('only ever tightens the literal Rego, and exercises every rule', () => {
    for (const row of table.rows.filter((r) => r.rego !== undefined)) {
      expect([row.rego, row.expect]).toEqual(['allow', 'deny']);
      expect(row.deviations?.length).toBeGreaterThan(0);
    }
    const allowedBy = new Set(table.rows.flatMap((r) => (r.by ? [r.by] : [])));
    expect([...allowedBy].sort()).toEqual([...engine.policyIds]);
  });

  it('Cedar gives the seed decision on every row, and an allow names the deciding file', () => {
    const mismatches = table.rows.flatMap((row) => {
      const result = engine.authorize(seedRequest(seedInput(row, table)));
      const determining = row.expect === 'allow' ? [row.by] : [];
      const ok =
        result.decision === row.expect && JSON.stringify(result.determiningPolicies) === JSON.stringify(determining);
      return ok ? [] : [{ row: key(row), expect: row.expect, got: result }];
    });
    expect(mismatches).toEqual([]);
    expect(table.rows.length).toBeGreaterThan(1700);
  });
});

describe('loadPolicyEngine', () => {
  const schema = readFileSync(new URL('schema.cedarschema', POLICIES_DIR), 'utf8');

  it('loads every policy file, which validates against the schema (errors and warnings are fatal)', () => {
    const engine = loadPolicyEngine({ policiesDir: fileURLToPath(POLICIES_DIR) });
    const files = readdirSync(POLICIES_DIR)
      .filter((f) => f.endsWith('.cedar'))
      .sort();
    expect(engine.policyIds).toEqual(files);
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

  it('refuses a policy that reads an undeclared context attribute', () => {
    const policies = { 'typo.cedar': 'permit(principal, action, resource) when { context.risk_approved == true };' };
    expect(() => loadPolicyEngine({ schema, policies })).toThrow(PolicyValidationError);
  });

  it('refuses text that does not parse, naming the file', () => {
    const load = () => loadPolicyEngine({ schema, policies: { 'broken.cedar': 'permit(principal, action' } });
    expect(load).toThrow(PolicyParseError);
    expect(load).toThrow(/broken\.cedar/);
    expect(() => loadPolicyEngine({ schema: 'namespace {', policies: '' })).toThrow(PolicyParseError);
  });

  it('names an inline policy text "inline.cedar", and a multi-policy file <file>#<n>', () => {
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

  it('denies by default a well-formed request no policy matches, without errors', () => {
    const result = engine.authorize({
      principal: { type: 'Agent', id: 'risk' },
      action: 'execute_trade',
      resource: { type: 'Agent', id: 'execution' },
      context: {},
    });
    expect(result).toEqual({ decision: 'deny', determiningPolicies: [], errors: [] });
    // People are principals too, but no policy grants them anything yet.
    expect(
      engine.authorize({
        principal: { type: 'Approver', id: 'alice' },
        action: 'approve',
        resource: { type: 'Agent', id: 'approval' },
        context: {},
      }),
    ).toEqual({ decision: 'deny', determiningPolicies: [], errors: [] });
  });

  it('allows the venue call only with a verified approval and names the deciding file', () => {
    expect(venue({ risk_check_id: 'RC-9', risk_approval_verified: true })).toEqual({
      decision: 'allow',
      determiningPolicies: ['execution-to-venue.cedar'],
      errors: [],
    });
    expect(venue({ risk_check_id: 'RC-9', risk_approval_verified: false }).decision).toBe('deny');
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
