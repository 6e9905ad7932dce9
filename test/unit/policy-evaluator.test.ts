// The compiled policy evaluator (functions/core/policy-compiler.ts) against cedar-wasm as the
// oracle: the same decision, the same deciding policies (compared as sets: cedar-wasm returns
// them in hash order) and errors on both sides or neither (the texts differ), for
// 1. both decision tables (test/policy-decisions*.json), row by row, and that the real policies
//    compile for every action;
// 2. random requests against the real policies and schema (valid ones, and ones wrong in every
//    way a caller could get them wrong);
// 3. random well-typed policy sets (every compiled expression and scope form, permits and forbids,
//    several policies to a file, @id) against a test schema, with random requests; here Cedar
//    itself (statefulIsAuthorized on the whole set, no per-action slices) is asked too, so that a
//    disagreement says which of the two is wrong;
//    and random conditions, two dozen permits of one scope to a set, so that every answer shows
//    each condition's own verdict;
// 4. policies and schemas outside the compiled subset, which send their action (and only it) to
//    cedar-wasm; 5. validateRequest: false, which sends every action there;
// 6. the disagreements this test found, minimised.
// All randomness is seeded (FUZZ_SEED, default below, with the generators in test/support/cedar-fuzz.ts);
// a failure prints the seed, the policies and the requests.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
// The nodejs build is CommonJS: a default import, as in functions/core/policy-engine.ts.
import cedar from '@cedar-policy/cedar-wasm/nodejs';
import { describe, expect, it } from 'vitest';
import {
  type AuthorizationRequest,
  type AuthorizationResult,
  type EntityRef,
  loadPolicyEngine,
  type PolicyEngine,
  type PolicyEngineOptions,
  PolicyParseError,
  PolicyValidationError,
  SEED_AGENTS,
} from '../../functions/core/policy-engine.js';
import {
  type Pools,
  type RequestOptions,
  Rng,
  randomCondition,
  randomPolicySet,
  randomRequest,
  type SchemaModel,
  schemaModel,
} from '../support/cedar-fuzz.js';
import { peopleRowRequest, seedRowRequest } from '../support/decision-tables.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20260521);
const REAL_SCHEMA = readFileSync(new URL('../../policies/schema.cedarschema', import.meta.url), 'utf8');

// ---------------------------------------------------------------------------------------------
// Comparing the two evaluators

/** The same policies twice: compiled (no sampled cross-check: its answer, unaided) and cedar-wasm. */
function pair(options: PolicyEngineOptions = {}): { compiled: PolicyEngine; cedar: PolicyEngine } {
  return {
    compiled: loadPolicyEngine({ ...options, evaluator: 'compiled', crossCheckEvery: 0 }),
    cedar: loadPolicyEngine({ ...options, evaluator: 'cedar-wasm' }),
  };
}

const sameAnswer = (a: AuthorizationResult, b: AuthorizationResult): boolean =>
  a.decision === b.decision &&
  a.errors.length > 0 === b.errors.length > 0 &&
  isDeepStrictEqual([...a.determiningPolicies].sort(), [...b.determiningPolicies].sort());

/** JSON for a message, keeping what JSON drops (undefined, NaN, -0, dates) visible. */
function show(v: unknown): string {
  return JSON.stringify(v, function (key, value: unknown) {
    const raw = (this as Record<string, unknown>)[key];
    if (raw === undefined) return '<undefined>';
    if (typeof raw === 'number' && !Number.isFinite(raw)) return `<${raw}>`;
    if (Object.is(raw, -0)) return '<-0>';
    if (raw instanceof Date) return `<Date ${raw.toISOString()}>`;
    return value;
  });
}

interface Disagreement {
  request: AuthorizationRequest;
  /** Answers by name: compiled, cedar-wasm (the engine's), Cedar (the whole set, unsliced). */
  answers: Record<string, AuthorizationResult>;
  policies?: Readonly<Record<string, string>>;
}

type Decide = (request: AuthorizationRequest) => AuthorizationResult;

class Tally {
  /** The compiled evaluator against the engine's cedar-wasm path: what this test is about. */
  readonly disagreements: Disagreement[] = [];
  /** Where Cedar itself (whole policy set, no per-action slices) was asked too: the engine's cedar-wasm path against it. */
  readonly cedarPathWrong: Disagreement[] = [];
  /** ... and the compiled evaluator against it. */
  readonly compiledWrong: Disagreement[] = [];
  requests = 0;
  /** Requests Cedar itself was asked about too. */
  referenced = 0;
  allow = 0;
  forbid = 0;
  defaultDeny = 0;
  erred = 0;

  check(
    engines: { compiled: PolicyEngine; cedar: PolicyEngine },
    request: AuthorizationRequest,
    reference?: { decide: Decide; policies: Readonly<Record<string, string>> },
  ): AuthorizationResult {
    this.requests++;
    const cedarAnswer = engines.cedar.authorize(request);
    const compiledAnswer = engines.compiled.authorize(request);
    if (cedarAnswer.errors.length > 0) this.erred++;
    else if (cedarAnswer.decision === 'allow') this.allow++;
    else if (cedarAnswer.determiningPolicies.length > 0) this.forbid++;
    else this.defaultDeny++;
    const answers: Record<string, AuthorizationResult> = { compiled: compiledAnswer, 'cedar-wasm': cedarAnswer };
    const policies = reference?.policies;
    const differ = !sameAnswer(compiledAnswer, cedarAnswer);
    if (differ) this.disagreements.push({ request, answers, policies });
    // Cedar itself on every request the two disagree on and every other one (for time). Values the
    // engine refuses before evaluating anything never reach Cedar: no reference for them.
    if (reference && (differ || this.requests % 2 === 0) && plainCedar(request)) {
      this.referenced++;
      const cedarItself = reference.decide(request);
      answers.Cedar = cedarItself;
      if (!sameAnswer(cedarAnswer, cedarItself)) this.cedarPathWrong.push({ request, answers, policies });
      if (!sameAnswer(compiledAnswer, cedarItself)) this.compiledWrong.push({ request, answers, policies });
    }
    return cedarAnswer;
  }

  /** The first few disagreements, for the assertion message. */
  report(what: string, list: readonly Disagreement[] = this.disagreements): string {
    const lines = list.slice(0, 6).map((d) => {
      const policies = d.policies ? `\n    policies: ${show(d.policies)}` : '';
      const answers = Object.entries(d.answers).map(([k, a]) => `\n    ${k}: ${show(a)}`);
      return `  request: ${show(d.request)}${policies}${answers.join('')}`;
    });
    return `${what}, seed ${SEED} (FUZZ_SEED): ${list.length} of ${this.requests} requests disagree\n${lines.join('\n')}`;
  }
}

/**
 * Whether the request is made of plain Cedar JSON only (strings of Unicode characters, booleans,
 * safe integers, arrays, plain objects): anything else the engine refuses before evaluating, and
 * Cedar itself would see it only after a lossy conversion.
 */
function plainCedar(request: AuthorizationRequest): boolean {
  const text = (s: unknown): boolean => typeof s === 'string' && !/\p{Cs}/u.test(s);
  const value = (v: unknown): boolean => {
    if (typeof v === 'string') return text(v);
    if (typeof v === 'boolean') return true;
    if (typeof v === 'number') return Number.isSafeInteger(v);
    if (Array.isArray(v)) return v.every(value);
    if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return false;
    return Object.entries(v).every(([k, x]) => text(k) && value(x));
  };
  const entity = (e: EntityRef): boolean => text(e.type) && text(e.id);
  return entity(request.principal) && entity(request.resource) && text(request.action) && value(request.context);
}

/**
 * Cedar itself on a whole policy set (policy id -> text), with the engine's two documented rules
 * around it: type names are qualified with `Trading::` unless they have a `::`, and any evaluation
 * error denies, naming the policies that erred.
 */
function cedarItself(schemaName: string, setName: string, policies: Readonly<Record<string, string>>): Decide {
  const parsed = cedar.preparsePolicySet(setName, { staticPolicies: { ...policies } });
  if (parsed.type !== 'success') throw new Error(`reference set does not parse: ${show(parsed)}`);
  const qualify = (type: string): string => (type.includes('::') ? type : `Trading::${type}`);
  return (request) => {
    let answer: ReturnType<typeof cedar.statefulIsAuthorized>;
    try {
      answer = cedar.statefulIsAuthorized({
        principal: { type: qualify(request.principal.type), id: request.principal.id },
        action: { type: 'Trading::Action', id: request.action },
        resource: { type: qualify(request.resource.type), id: request.resource.id },
        context: request.context as Record<string, never>,
        entities: [],
        preparsedPolicySetId: setName,
        preparsedSchemaName: schemaName,
        validateRequest: true,
      });
    } catch (e) {
      return { decision: 'deny', determiningPolicies: [], errors: [String(e)] };
    }
    if (answer.type === 'failure')
      return { decision: 'deny', determiningPolicies: [], errors: answer.errors.map((e) => e.message) };
    const { decision, diagnostics } = answer.response;
    if (diagnostics.errors.length > 0) {
      return {
        decision: 'deny',
        determiningPolicies: diagnostics.errors.map((e) => e.policyId),
        errors: diagnostics.errors.map((e) => e.error.message),
      };
    }
    return { decision, determiningPolicies: diagnostics.reason, errors: [] };
  };
}

// ---------------------------------------------------------------------------------------------
// 1. The decision tables, row by row (the requests as test/unit/policies.test.ts builds them)

interface SeedTable {
  identities: Record<string, string>;
  contexts: Record<string, Record<string, unknown>>;
  rows: Array<{ caller: string; callee: string; action: string; context: string }>;
}
interface PeopleTable {
  principals: Record<string, { type: string; id: string; accounts?: string[] }>;
  contexts: Record<string, Record<string, unknown>>;
  rows: Array<{ principal: string; resource: string; action: string; context: string }>;
}
const seedTable = JSON.parse(readFileSync(new URL('../policy-decisions.json', import.meta.url), 'utf8')) as SeedTable;
const peopleTable = JSON.parse(
  readFileSync(new URL('../policy-decisions-people.json', import.meta.url), 'utf8'),
) as PeopleTable;

const realEngines = pair();

describe('the real policies', () => {
  it('compile for every action of the schema (with the default evaluator too)', () => {
    const actions = Object.keys(cedarSchemaActions(REAL_SCHEMA)).sort();
    expect(actions.length).toBeGreaterThan(20);
    for (const engine of [realEngines.compiled, loadPolicyEngine()]) {
      expect(Object.keys(engine.evaluators).sort()).toEqual(actions);
      expect(Object.entries(engine.evaluators).filter(([, e]) => e !== 'compiled')).toEqual([]);
    }
    // Asked for cedar-wasm, every action is cedar-wasm's.
    expect(Object.values(realEngines.cedar.evaluators).every((e) => e === 'cedar-wasm')).toBe(true);
  });

  it('decide every row of both decision tables as cedar-wasm does', () => {
    const tally = new Tally();
    for (const row of seedTable.rows) tally.check(realEngines, seedRowRequest(row, seedTable));
    for (const row of peopleTable.rows) tally.check(realEngines, peopleRowRequest(row, peopleTable));
    expect(tally.disagreements.length, tally.report('decision tables')).toBe(0);
    expect(tally.requests).toBe(seedTable.rows.length + peopleTable.rows.length);
    expect(tally.requests).toBeGreaterThan(5000);
    // Both tables exercise allows, forbids, the default deny and refused requests.
    expect(Math.min(tally.allow, tally.forbid, tally.defaultDeny, tally.erred)).toBeGreaterThan(20);
  });
});

/** The schema's actions per namespace `Trading`, read by Cedar itself. */
function cedarSchemaActions(schema: string): Record<string, unknown> {
  const json = cedar.schemaToJson(schema);
  if (json.type !== 'success') throw new Error('schema does not parse');
  return (json.json as Record<string, { actions?: Record<string, unknown> }>).Trading?.actions ?? {};
}

function modelOf(schema: string): SchemaModel {
  const json = cedar.schemaToJson(schema);
  if (json.type !== 'success') throw new Error('schema does not parse');
  return schemaModel(json.json, 'Trading');
}

// ---------------------------------------------------------------------------------------------
// 2. Random requests against the real policies

const REAL_POOLS: Pools = {
  ids: [
    ...SEED_AGENTS,
    'TRADER-123',
    'TRADER-456',
    'RISK-OFFICER-1',
    'AUDITOR-1',
    'arn:aws:events:us-east-1:123456789012:rule/acme-trading-risk-sweep',
    'intruder',
    '',
    'é',
    '😀',
    'risk ',
    'Risk',
  ],
  strings: ['ACC-001', 'ACC-002', 'RC-1', '', 'TRADER-123', 'x', '😀', 'true'],
  longs: [0, 1, -1, 9007199254740991],
};
const REAL_REQUESTS: RequestOptions = {
  unknownActions: [
    'drop_audit_log',
    '',
    'Submit_order',
    'submit_order ',
    'Trading::Action::"submit_order"',
    'toString',
  ],
  junkTypes: [
    'Nope',
    'Trading::Nope',
    'Action',
    'Trading::Action',
    'Trading::Trading::Agent',
    '',
    'agent',
    'Trading::Agent ',
    'Other::Agent',
    '__proto__',
  ],
  mutateContext: 0.3,
  loneSurrogateIds: 0.003,
};

describe('random requests against the real policies', () => {
  it('are decided as cedar-wasm decides them', () => {
    const rng = new Rng(SEED);
    const model = modelOf(REAL_SCHEMA);
    const tally = new Tally();
    for (let i = 0; i < 5000; i++) tally.check(realEngines, randomRequest(rng, model, REAL_POOLS, REAL_REQUESTS));
    expect(tally.disagreements.length, tally.report('random requests, real policies')).toBe(0);
    // Not vacuous: the requests reach every kind of answer.
    expect(tally.allow).toBeGreaterThan(40);
    expect(tally.forbid).toBeGreaterThan(50);
    expect(tally.defaultDeny).toBeGreaterThan(1000);
    expect(tally.erred).toBeGreaterThan(500);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Random policies against a test schema

/**
 * Every compiled type: String, Long, Bool, sets (of records, of sets, of entities), records (nested,
 * optional attributes, odd names), entities (of another namespace too), common types; action groups
 * (nested, named with and without their type).
 */
const FUZZ_SCHEMA = `
namespace Ext {
  entity Thing;
}
namespace Trading {
  type Addr = { city: String, zip?: Long };
  type Ctx = {
    s: String,
    n: Long,
    b: Bool,
    tags: Set<String>,
    nums: Set<Long>,
    addr: Addr,
    home: Addr,
    x?: Long,
    owner: User,
    members: Set<User>,
    "a b"?: String,
    toString?: Long,
    nested: { inner: { deep: Bool } },
    pairs: Set<{ k: Long, v: String }>,
    grid: Set<Set<Long>>,
  };
  entity Group;
  entity User in [Group] { dept: String, level?: Long };
  entity Admin in [Group];
  entity Folder;
  entity Doc in [Folder];
  action "top";
  action "grp" in ["top"];
  action "other";
  action read in ["grp"] appliesTo { principal: [User, Admin], resource: [Doc, Folder], context: Ctx };
  // A group named with its type: the same group as "other" alone.
  action write in ["grp", Trading::Action::"other"] appliesTo { principal: [User], resource: [Doc], context: Ctx };
  action share appliesTo { principal: [Admin], resource: [Doc], context: { s: String, who?: Admin, tags: Set<String> } };
  action ping appliesTo { principal: [User, Ext::Thing], resource: [Folder] };
}
`;
const FUZZ_POOLS: Pools = {
  ids: ['alice', 'bob', 'g', 'd', '', 'é', '😀', 'a"b', 'x\\y'],
  strings: [
    // The first ones are drawn most often (see Rng.common).
    ...['a', '', 'b', 'ab', 'aab', 'a*b', '*', '\\', 'A', 'é', 'e\u0301', '😀', 'a😀b', '\n', '"', 'x y', 'alice'],
    // What a like pattern compiled to a regular expression must not mistake for syntax.
    ...['a.b', 'a+', '(a)', '[a]', '$^', 'a|b', '{1}', '/', 'a-b', '?', '\r\n', '\u2028'],
  ],
  longs: [0, 1, 2, -1, 3, -3, 9007199254740991, -9007199254740991],
};
const FUZZ_PATTERNS = [
  ...['a', 'b', '*', '\\', '😀', 'é', '"', 'x y', 'A', '\n', ''],
  ...['.', '+', '(', ')', '[', ']', '$', '^', '|', '{1}', '/', '-', '?', '\r', '\u2028'],
  ...['a.b', '(a)', '[a]', 'a|b', 'a+'],
];
const FUZZ_REQUESTS: RequestOptions = {
  unknownActions: ['nope', '', 'Read', 'toString'],
  junkTypes: ['Nope', 'Thing', 'Trading::Thing', 'Action', 'Trading::Action', '', 'Trading::User ', 'Ext::Nope'],
  mutateContext: 0.15,
  loneSurrogateIds: 0.003,
};
const POLICY_SETS = 75;
const REQUESTS_PER_SET = 64;

/** Every expression form and scope the compiled subset has, as named in the JSON form (EST). */
const COMPILED_FORMS = [
  'Value',
  'Var',
  '.',
  'has',
  '==',
  '!=',
  '&&',
  '||',
  '!',
  'is',
  'is-in',
  'in',
  '<',
  '<=',
  '>',
  '>=',
  'contains',
  'containsAll',
  'containsAny',
  'isEmpty',
  'if-then-else',
  'Set',
  'Record',
  'like',
  'like-literal-star',
  'like-wildcard',
  'scope-All',
  'scope-==',
  'scope-in-entity',
  'scope-in-entities',
  'scope-is',
  'scope-is-in',
];

/** The forms a policy's JSON uses (see COMPILED_FORMS). */
function formsOf(json: unknown, out: Set<string>): void {
  if (Array.isArray(json)) {
    for (const x of json) formsOf(x, out);
    return;
  }
  if (typeof json !== 'object' || json === null) return;
  const o = json as Record<string, unknown>;
  if (typeof o.effect === 'string') {
    for (const v of ['principal', 'action', 'resource']) {
      const scope = o[v] as { op: string; entities?: unknown; in?: unknown };
      out.add(
        `scope-${scope.op}${scope.op === 'in' ? (scope.entities ? '-entities' : '-entity') : ''}${scope.op === 'is' && scope.in ? '-in' : ''}`,
      );
    }
    formsOf(o.conditions, out);
    return;
  }
  const keys = Object.keys(o);
  if (keys.length === 1 && typeof keys[0] === 'string') {
    const op = keys[0];
    const body = o[op] as Record<string, unknown>;
    if (op === 'Value') {
      out.add('Value');
      return;
    }
    out.add(op === 'is' && body.in !== undefined ? 'is-in' : op);
    if (op === 'Record') {
      // Attribute name -> expression: the names are no forms.
      for (const v of Object.values(body)) formsOf(v, out);
      return;
    }
    if (op === 'like') {
      for (const p of body.pattern as unknown[]) {
        if (p === 'Wildcard') out.add('like-wildcard');
        else if ((p as { Literal?: string }).Literal?.includes('*')) out.add('like-literal-star');
      }
    }
  }
  for (const v of Object.values(o)) formsOf(v, out);
}

describe('random policies against a test schema', () => {
  it('compile for every action and decide as cedar-wasm does', () => {
    const rng = new Rng(SEED + 1);
    const model = modelOf(FUZZ_SCHEMA);
    const actions = Object.keys(cedarSchemaActions(FUZZ_SCHEMA)).sort();
    const schemaName = `policy-evaluator-test-${SEED}`;
    const schemaParsed = cedar.preparseSchema(schemaName, FUZZ_SCHEMA);
    expect(schemaParsed.type).toBe('success');
    const tally = new Tally();
    const forms = new Set<string>();
    const notCompiled: string[] = [];
    const unexpected: string[] = [];
    let accepted = 0;
    let rejected = 0;
    let policies = 0;
    for (let s = 0; s < POLICY_SETS; s++) {
      const set = randomPolicySet(rng, model, FUZZ_POOLS, { patterns: FUZZ_PATTERNS, maxPolicies: 5 });
      let cedarEngine: PolicyEngine;
      try {
        cedarEngine = loadPolicyEngine({
          schema: FUZZ_SCHEMA,
          policies: set.files,
          evaluator: 'cedar-wasm',
        });
      } catch (e) {
        if (e instanceof PolicyValidationError) rejected++;
        // The generator writes only text that parses: a parse error is a bug in it.
        else
          unexpected.push(
            `${e instanceof PolicyParseError ? 'parse' : 'load'} error ${String(e)} for ${show(set.files)}`,
          );
        continue;
      }
      accepted++;
      const engines = {
        cedar: cedarEngine,
        compiled: loadPolicyEngine({
          schema: FUZZ_SCHEMA,
          policies: set.files,
          evaluator: 'compiled',
          crossCheckEvery: 0,
        }),
      };
      expect([...engines.compiled.policyIds]).toEqual(Object.keys(set.byId).sort());
      policies += engines.cedar.policyIds.length;
      const evaluators = engines.compiled.evaluators;
      if (
        !isDeepStrictEqual(Object.keys(evaluators).sort(), actions) ||
        !Object.values(evaluators).every((e) => e === 'compiled')
      ) {
        notCompiled.push(`${show(evaluators)} for ${show(set.files)}`);
      }
      for (const text of Object.values(set.byId)) {
        const json = cedar.policyToJson(text);
        if (json.type === 'success') formsOf(json.json, forms);
      }
      const reference = { decide: cedarItself(schemaName, `${schemaName}-${s}`, set.byId), policies: set.files };
      for (let r = 0; r < REQUESTS_PER_SET; r++) {
        tally.check(engines, randomRequest(rng, model, FUZZ_POOLS, FUZZ_REQUESTS), reference);
      }
    }
    console.log(
      `random policies (seed ${SEED}): ${accepted} of ${accepted + rejected} sets accepted, ${policies} policies, ` +
        `${tally.requests} requests: ${tally.allow} allow, ${tally.forbid} forbid, ${tally.defaultDeny} default deny, ` +
        `${tally.erred} erred; disagreements: compiled/cedar-wasm ${tally.disagreements.length}, ` +
        `of ${tally.referenced} also asked of Cedar itself: cedar-wasm/Cedar ${tally.cedarPathWrong.length}, ` +
        `compiled/Cedar ${tally.compiledWrong.length}`,
    );
    expect(unexpected).toEqual([]);
    expect(notCompiled.slice(0, 3), `${notCompiled.length} policy sets not compiled, seed ${SEED}`).toEqual([]);
    // Against Cedar itself first: which of the two is wrong when they disagree.
    expect(tally.compiledWrong.length, tally.report('random policies, compiled vs Cedar', tally.compiledWrong)).toBe(0);
    expect(
      tally.cedarPathWrong.length,
      tally.report("random policies, the engine's cedar-wasm path vs Cedar", tally.cedarPathWrong),
    ).toBe(0);
    expect(tally.disagreements.length, tally.report('random policies, compiled vs cedar-wasm')).toBe(0);
    // Not vacuous: most sets validate, they use every compiled form, and requests get every kind of answer.
    expect(accepted / (accepted + rejected), `accepted ${accepted} of ${accepted + rejected}`).toBeGreaterThan(0.7);
    expect(COMPILED_FORMS.filter((f) => !forms.has(f))).toEqual([]);
    expect(policies).toBeGreaterThan(accepted * 2);
    expect(tally.allow).toBeGreaterThan(tally.requests * 0.05);
    expect(tally.forbid).toBeGreaterThan(tally.requests * 0.03);
    expect(tally.defaultDeny).toBeGreaterThan(tally.requests * 0.05);
    expect(tally.erred).toBeGreaterThan(tally.requests * 0.1);
    expect(tally.referenced).toBeGreaterThan(tally.requests * 0.4);
  });
});

// ---------------------------------------------------------------------------------------------
// 3b. Random conditions: many permits of one scope in a set, so that every answer shows each
// one's verdict (an allow names every permit that holds; an error, every policy that erred)

const CONDITION_SETS = 22;
const CONDITIONS_PER_SET = 24;
const REQUESTS_PER_CONDITION_SET = 72;

describe('random conditions against a test schema', () => {
  it('hold, fail or err on the same requests in both evaluators', () => {
    const rng = new Rng(SEED + 4);
    const model = modelOf(FUZZ_SCHEMA);
    const actions = ['read', 'write'];
    const requests: RequestOptions = { ...FUZZ_REQUESTS, actions, mutateContext: 0.05, junkTypeWeight: 0.1 };
    const scope = 'principal, action in [Trading::Action::"read", Trading::Action::"write"], resource';
    const tally = new Tally();
    let generated = 0;
    let kept = 0;
    let verdicts = 0;
    let held = 0;
    for (let s = 0; s < CONDITION_SETS; s++) {
      const conditions = Array.from({ length: CONDITIONS_PER_SET }, () =>
        randomCondition(rng, model, FUZZ_POOLS, FUZZ_PATTERNS, actions, 1 + rng.int(3)),
      );
      generated += conditions.length;
      const file = (ids: number[]) => ({
        'c.cedar': ids.map((i) => `@id("c${i}")\npermit (${scope})\nwhen { ${conditions[i]} };`).join('\n\n'),
      });
      // What the validator rejects is left out (by the ids its errors name), and the rest loaded.
      let ids = conditions.map((_, i) => i);
      let cedarEngine: PolicyEngine | undefined;
      for (let attempt = 0; attempt < 2 && cedarEngine === undefined; attempt++) {
        try {
          cedarEngine = loadPolicyEngine({ schema: FUZZ_SCHEMA, policies: file(ids), evaluator: 'cedar-wasm' });
        } catch (e) {
          if (!(e instanceof PolicyValidationError)) throw e;
          const rejected = new Set(e.errors.map((m) => Number(/^c\.cedar#c(\d+):/.exec(m)?.[1] ?? -1)));
          ids = ids.filter((i) => !rejected.has(i));
        }
      }
      if (cedarEngine === undefined) continue;
      kept += ids.length;
      const engines = {
        cedar: cedarEngine,
        compiled: loadPolicyEngine({
          schema: FUZZ_SCHEMA,
          policies: file(ids),
          evaluator: 'compiled',
          crossCheckEvery: 0,
        }),
      };
      expect(Object.values(engines.compiled.evaluators).every((e) => e === 'compiled')).toBe(true);
      for (let r = 0; r < REQUESTS_PER_CONDITION_SET; r++) {
        const answer = tally.check(engines, randomRequest(rng, model, FUZZ_POOLS, requests));
        if (answer.errors.length === 0) {
          verdicts += ids.length;
          held += answer.determiningPolicies.length;
        }
      }
    }
    console.log(
      `random conditions (seed ${SEED}): ${kept} of ${generated} conditions valid, ${tally.requests} requests, ` +
        `${verdicts} verdicts (${held} held); ${tally.erred} requests erred; disagreements ${tally.disagreements.length}`,
    );
    expect(tally.disagreements.length, tally.report('random conditions', tally.disagreements)).toBe(0);
    expect(kept / generated, `${kept} of ${generated} conditions valid`).toBeGreaterThan(0.7);
    // Not vacuous: conditions hold and fail, and some err.
    expect(verdicts).toBeGreaterThan(20000);
    expect(held / verdicts).toBeGreaterThan(0.1);
    expect(held / verdicts).toBeLessThan(0.9);
    expect(tally.erred).toBeGreaterThan(10);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. Outside the compiled subset: that action, and only it, is decided by cedar-wasm

/** The test schema plus what is never compiled: an extension-typed context, tags, an extension attribute no context uses. */
const FALLBACK_SCHEMA = FUZZ_SCHEMA.replace(
  'entity User in [Group] { dept: String, level?: Long };',
  'entity User in [Group] { dept: String, level?: Long, score?: decimal };\n  entity Tagged tags String;',
).replace(
  /}\s*$/,
  `  action fx appliesTo { principal: [User], resource: [Doc], context: { d: decimal, s: String } };
  action tagged appliesTo { principal: [Tagged], resource: [Doc] };
}
`,
);
const FALLBACK_ACTIONS = Object.keys(cedarSchemaActions(FALLBACK_SCHEMA)).sort();
const FALLBACK_CASES: Array<{ what: string; policy: string; fallBack: readonly string[] }> = [
  { what: 'nothing outside the subset', policy: 'permit (principal, action, resource);', fallBack: [] },
  {
    what: 'addition',
    policy: 'permit (principal, action == Trading::Action::"read", resource) when { context.n + 1 > 2 };',
    fallBack: ['read'],
  },
  {
    what: 'subtraction, in a policy of a group',
    policy: 'forbid (principal, action in Trading::Action::"grp", resource) when { context.n - 1 >= 0 };',
    // The group itself too: `in` is reflexive.
    fallBack: ['grp', 'read', 'write'],
  },
  {
    what: 'multiplication',
    policy: 'permit (principal, action == Trading::Action::"read", resource) when { context.n * 2 > 2 };',
    fallBack: ['read'],
  },
  {
    what: 'negation of an expression',
    policy: 'permit (principal, action == Trading::Action::"write", resource) when { context.n > -(3) };',
    fallBack: ['write'],
  },
  {
    what: 'a long literal beyond 2^53',
    policy: 'permit (principal, action == Trading::Action::"read", resource) when { context.n < 9007199254740993 };',
    fallBack: ['read'],
  },
  {
    what: 'decimal()',
    policy:
      'permit (principal, action == Trading::Action::"read", resource) when { decimal("1.5").lessThan(decimal("2.0")) };',
    fallBack: ['read'],
  },
  {
    what: 'ip()',
    policy: 'permit (principal, action == Trading::Action::"ping", resource) when { ip("10.0.0.1").isIpv4() };',
    fallBack: ['ping'],
  },
  {
    what: 'hasTag and getTag',
    policy:
      'permit (principal is Trading::Tagged, action == Trading::Action::"tagged", resource) unless { principal.hasTag("x") && principal.getTag("x") == "y" };',
    fallBack: ['tagged'],
  },
  {
    what: 'an extension value from an extension-typed context',
    policy:
      'permit (principal, action == Trading::Action::"fx", resource) when { context.d.lessThan(decimal("1.0")) || context.s == "a" };',
    fallBack: [],
  },
  {
    what: 'arithmetic in a policy of every action',
    policy: 'forbid (principal, action, resource) when { context has n && context.n + 1 > 2 };',
    fallBack: FALLBACK_ACTIONS,
  },
];

describe('policies outside the compiled subset', () => {
  const model = modelOf(FALLBACK_SCHEMA);
  const requests: RequestOptions = { ...FUZZ_REQUESTS, mutateContext: 0.1 };

  for (const { what, policy, fallBack } of FALLBACK_CASES) {
    it(`${what}: ${fallBack.length === 0 ? 'no action' : fallBack.join(', ')} (and fx, whose context is decimal) decided by cedar-wasm, the same answers`, () => {
      // With a permit of everything beside it, so that requests are allowed as well as refused.
      const engines = pair({
        schema: FALLBACK_SCHEMA,
        policies: { 'p.cedar': policy, 'all.cedar': 'permit (principal, action, resource);' },
      });
      const expected = Object.fromEntries(
        FALLBACK_ACTIONS.map((a) => [a, fallBack.includes(a) || a === 'fx' ? 'cedar-wasm' : 'compiled']),
      );
      expect({ ...engines.compiled.evaluators }).toEqual(expected);
      const rng = new Rng(SEED + 2);
      const tally = new Tally();
      for (let i = 0; i < 200; i++) tally.check(engines, randomRequest(rng, model, FUZZ_POOLS, requests));
      expect(tally.disagreements.length, tally.report(`fallback (${what})`)).toBe(0);
      expect(tally.allow).toBeGreaterThan(20);
    });
  }

  it('an enumerated entity type: the action that uses it (and only it) is decided by cedar-wasm', () => {
    const schema = FUZZ_SCHEMA.replace(
      /}\s*$/,
      '  entity Color enum ["red", "blue"];\n  action paint appliesTo { principal: [User], resource: [Color] };\n}\n',
    );
    const engines = pair({
      schema,
      policies: { 'p.cedar': 'permit (principal, action, resource) unless { resource == Trading::Color::"blue" };' },
    });
    const rng = new Rng(SEED + 3);
    const tally = new Tally();
    const pools = { ...FUZZ_POOLS, ids: [...FUZZ_POOLS.ids, 'red', 'blue', 'green'] };
    const model = modelOf(schema);
    for (let i = 0; i < 250; i++) tally.check(engines, randomRequest(rng, model, pools, FUZZ_REQUESTS));
    expect(tally.disagreements.length, tally.report('enumerated entity type')).toBe(0);
    const actions = Object.keys(cedarSchemaActions(schema)).sort();
    expect({ ...engines.compiled.evaluators }).toEqual(
      Object.fromEntries(actions.map((a) => [a, a === 'paint' ? 'cedar-wasm' : 'compiled'])),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Without request validation nothing is compiled

describe('validateRequest: false', () => {
  it('leaves every action to cedar-wasm, whatever evaluator is asked for', () => {
    const fuzzActions = Object.keys(cedarSchemaActions(FUZZ_SCHEMA)).sort();
    const realActions = Object.keys(cedarSchemaActions(REAL_SCHEMA)).sort();
    const cases: Array<[PolicyEngineOptions, string[]]> = [
      [{ validateRequest: false }, realActions],
      [{ validateRequest: false, evaluator: 'compiled' }, realActions],
      [{ schema: FUZZ_SCHEMA, policies: 'permit (principal, action, resource);', validateRequest: false }, fuzzActions],
    ];
    for (const [options, actions] of cases) {
      const evaluators = loadPolicyEngine(options).evaluators;
      expect(Object.keys(evaluators).sort()).toEqual(actions);
      expect(Object.entries(evaluators).filter(([, e]) => e !== 'cedar-wasm')).toEqual([]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 6. Disagreements this test found, minimised (each fails until the evaluator that is wrong is fixed)

const U_REQUEST: AuthorizationRequest = {
  principal: { type: 'U', id: 'x' },
  action: 'a',
  resource: { type: 'U', id: 'y' },
  context: {},
};

/** The answers of the three: compiled, the engine's cedar-wasm path and Cedar itself on the whole set (one policy per file). */
function threeWays(
  schema: string,
  policies: Record<string, string>,
  request: AuthorizationRequest,
): Record<'compiled' | 'cedar-wasm' | 'Cedar', AuthorizationResult> {
  const engines = pair({ schema, policies });
  const name = `policy-evaluator-case-${Object.keys(policies).join('-')}-${schema.length}`;
  expect(cedar.preparseSchema(name, schema).type).toBe('success');
  return {
    compiled: engines.compiled.authorize(request),
    'cedar-wasm': engines.cedar.authorize(request),
    Cedar: cedarItself(name, name, policies)(request),
  };
}

function expectSame(answers: Record<string, AuthorizationResult>, a: string, b: string): void {
  const x = answers[a] as AuthorizationResult;
  const y = answers[b] as AuthorizationResult;
  expect(sameAnswer(x, y), `${a} ${show(x)} vs ${b} ${show(y)}`).toBe(true);
}

describe('cases found by this test', () => {
  const forbidGroup = (group: string) => ({
    'forbid.cedar': `forbid (principal, action in ${group}, resource);`,
    'permit.cedar': 'permit (principal, action, resource);',
  });

  it('an action group named with its type in the schema (`action a in [Trading::Action::"g"]`) holds', () => {
    const schema =
      'namespace Trading { entity U; action "g"; action a in [Trading::Action::"g"] appliesTo { principal: [U], resource: [U] }; }';
    const answers = threeWays(schema, forbidGroup('Trading::Action::"g"'), U_REQUEST);
    expect(answers.Cedar).toEqual({ decision: 'deny', determiningPolicies: ['forbid.cedar'], errors: [] });
    expectSame(answers, 'cedar-wasm', 'Cedar');
    expectSame(answers, 'compiled', 'cedar-wasm');
  });

  it('an action group of another namespace holds', () => {
    const schema =
      'namespace Other { action "g"; } namespace Trading { entity U; action a in [Other::Action::"g"] appliesTo { principal: [U], resource: [U] }; }';
    const answers = threeWays(schema, forbidGroup('Other::Action::"g"'), U_REQUEST);
    expect(answers.Cedar).toEqual({ decision: 'deny', determiningPolicies: ['forbid.cedar'], errors: [] });
    expectSame(answers, 'cedar-wasm', 'Cedar');
    expectSame(answers, 'compiled', 'cedar-wasm');
  });

  it("the engine's cedar-wasm path keeps a policy whose action list names a group of the action (and another action)", () => {
    const schema =
      'namespace Trading { entity U; action "g"; action a in ["g"] appliesTo { principal: [U], resource: [U] }; action b appliesTo { principal: [U], resource: [U] }; }';
    const answers = threeWays(schema, forbidGroup('[Trading::Action::"g", Trading::Action::"b"]'), U_REQUEST);
    expect(answers.Cedar).toEqual({ decision: 'deny', determiningPolicies: ['forbid.cedar'], errors: [] });
    expectSame(answers, 'compiled', 'Cedar');
    expectSame(answers, 'cedar-wasm', 'Cedar');
  });

  it('an entity written {type, id} with an `__entity` that is no entity reference is read as Cedar reads it', () => {
    // Cedar falls back to type and id when `__entity` is not an entity reference.
    const request: AuthorizationRequest = {
      principal: { type: 'Trader', id: 'TRADER-123' },
      action: 'submit_order',
      resource: { type: 'Agent', id: 'order-router' },
      context: {
        account_id: 'ACC-001',
        account_entitled: true,
        order_trader: { type: 'Trading::Trader', id: 'TRADER-123', __entity: 5 },
      },
    };
    const answers = {
      compiled: realEngines.compiled.authorize(request),
      'cedar-wasm': realEngines.cedar.authorize(request),
    };
    expect(answers['cedar-wasm']).toEqual({
      decision: 'allow',
      determiningPolicies: ['traders.cedar#submit'],
      errors: [],
    });
    expectSame(answers, 'compiled', 'cedar-wasm');
  });

  it('a record attribute named `__entity` (or `__extn`) in the schema is an attribute', () => {
    const schema =
      'namespace Trading { entity U; action a appliesTo { principal: [U], resource: [U], context: { r: { "__entity": String } } }; }';
    const policies = { 'p.cedar': 'permit (principal, action, resource) when { context.r["__entity"] == "v" };' };
    const answers = threeWays(schema, policies, { ...U_REQUEST, context: { r: { __entity: 'v' } } });
    expect(answers.Cedar).toEqual({ decision: 'allow', determiningPolicies: ['p.cedar'], errors: [] });
    expectSame(answers, 'compiled', 'cedar-wasm');
  });

  // Below: requests outside the TypeScript types, as a JavaScript caller (or a cast) could pass them.
  it('a Date as the context is refused by both', () => {
    const request = {
      principal: { type: 'Auditor', id: 'AUDITOR-1' },
      action: 'generate_report',
      resource: { type: 'Agent', id: 'compliance' },
      context: new Date(0) as unknown as Record<string, unknown>,
    };
    const answers = {
      compiled: realEngines.compiled.authorize(request),
      'cedar-wasm': realEngines.cedar.authorize(request),
    };
    expect(answers['cedar-wasm'].errors.length).toBeGreaterThan(0);
    expectSame(answers, 'compiled', 'cedar-wasm');
  });

  it('an entity id that is not a string is refused by both', () => {
    for (const id of [5, {}, ['risk']]) {
      const request = {
        principal: { type: 'Agent', id: id as unknown as string },
        action: 'log_event',
        resource: { type: 'Agent', id: 'compliance' },
        context: {},
      };
      const answers = {
        compiled: realEngines.compiled.authorize(request),
        'cedar-wasm': realEngines.cedar.authorize(request),
      };
      expect(answers['cedar-wasm'].errors.length, show(id)).toBeGreaterThan(0);
      expectSame(answers, 'compiled', 'cedar-wasm');
    }
  });
});
