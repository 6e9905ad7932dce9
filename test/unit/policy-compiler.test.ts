// The compiled policy evaluator's own behaviour: which actions it decides and which fall back to
// cedar-wasm, how it fails closed, and the live cross-check against cedar-wasm. Agreement with
// cedar-wasm over many requests and policies is test/unit/policy-evaluator.test.ts.
// The nodejs build is CommonJS: a default import, as in functions/core/policy-engine.ts.
import cedar from '@cedar-policy/cedar-wasm/nodejs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { compilePolicies, NotCompilable } from '../../functions/core/policy-compiler.js';
import { type AuthorizationRequest, loadPolicyEngine } from '../../functions/core/policy-engine.js';

const SCHEMA = `namespace Trading {
  entity User, Doc;
  type Limits = { max: Long, note?: String };
  action "read-group";
  action read in ["read-group"] appliesTo { principal: [User], resource: [Doc], context: { label: String, n: Long, tags: Set<String>, limits: Limits } };
  action write appliesTo { principal: [User], resource: [Doc], context: { amount: decimal } };
  action share appliesTo { principal: [User], resource: [Doc], context: { n: Long } };
}`;

const USER = { type: 'User', id: 'alice' };
const LIKE_POLICIES = {
  'like.cedar':
    '@id("like") permit(principal, action == Trading::Action::"read", resource) when { context.label like "a.b*" };',
  'star.cedar':
    '@id("star") permit(principal, action == Trading::Action::"read", resource) when { context.label like "x\\*y" };',
  'note.cedar':
    '@id("note") forbid(principal, action == Trading::Action::"read", resource) when { context.limits has note && context.limits.note == "frozen" };',
};
const DOC = { type: 'Doc', id: 'd1' };
const readContext = (over: Record<string, unknown> = {}) => ({
  label: 'a.bc',
  n: 3,
  tags: ['x', 'y'],
  limits: { max: 10 },
  ...over,
});
const read = (context: Record<string, unknown>): AuthorizationRequest => ({
  principal: USER,
  action: 'read',
  resource: DOC,
  context,
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('which evaluator decides', () => {
  it('compiles the actions it can; an extension type in a context leaves that action to cedar-wasm', () => {
    const engine = loadPolicyEngine({
      schema: SCHEMA,
      policies: {
        'read.cedar': 'permit(principal, action in Trading::Action::"read-group", resource) when { context.n < 5 };',
        'share.cedar': 'permit(principal, action == Trading::Action::"share", resource);',
      },
    });
    expect(engine.evaluators).toEqual({
      'read-group': 'compiled',
      read: 'compiled',
      share: 'compiled',
      write: 'cedar-wasm',
    });
    expect(engine.authorize(read(readContext())).decision).toBe('allow');
    expect(engine.authorize(read(readContext({ n: 7 }))).decision).toBe('deny');
    // The fallback still decides, with Cedar's request validation.
    const write = (amount: unknown) =>
      engine.authorize({ principal: USER, action: 'write', resource: DOC, context: { amount } });
    expect(write({ __extn: { fn: 'decimal', arg: '1.50' } })).toMatchObject({ decision: 'deny', errors: [] });
    expect(write(150).errors.length).toBeGreaterThan(0);
  });

  it('leaves to cedar-wasm exactly the actions a policy outside the subset can name', () => {
    const engine = loadPolicyEngine({
      schema: SCHEMA,
      policies: {
        'arith.cedar': 'permit(principal, action == Trading::Action::"share", resource) when { context.n + 1 > 2 };',
        'read.cedar': 'permit(principal, action == Trading::Action::"read", resource);',
      },
    });
    expect(engine.evaluators.share).toBe('cedar-wasm');
    expect(engine.evaluators.read).toBe('compiled');
    const share = (n: number) => engine.authorize({ principal: USER, action: 'share', resource: DOC, context: { n } });
    expect(share(2)).toEqual({ decision: 'allow', determiningPolicies: ['arith.cedar'], errors: [] });
    expect(share(1).decision).toBe('deny');
  });

  it('a policy with no action scope reaches every action, so one outside the subset leaves them all to cedar-wasm', () => {
    const engine = loadPolicyEngine({
      schema: SCHEMA,
      policies: { 'any.cedar': 'forbid(principal, action, resource) when { context has n && context.n + 1 > 0 };' },
    });
    expect(Object.values(engine.evaluators).every((e) => e === 'cedar-wasm')).toBe(true);
  });

  it('asks cedar-wasm for everything when told to, or when request validation is off', () => {
    for (const options of [{ evaluator: 'cedar-wasm' as const }, { validateRequest: false }]) {
      const engine = loadPolicyEngine(options);
      expect(
        Object.values(engine.evaluators).every((e) => e === 'cedar-wasm'),
        JSON.stringify(options),
      ).toBe(true);
    }
    expect(Object.values(loadPolicyEngine().evaluators).every((e) => e === 'compiled')).toBe(true);
  });
});

describe('compiled semantics', () => {
  const engine = loadPolicyEngine({ schema: SCHEMA, policies: LIKE_POLICIES, crossCheckEvery: 0 });
  const reference = loadPolicyEngine({ schema: SCHEMA, policies: LIKE_POLICIES, evaluator: 'cedar-wasm' });

  it('like: a literal dot is a dot, * is any run, \\* a literal star; as cedar-wasm says', () => {
    const both = (label: string) => {
      const compiled = engine.authorize(read(readContext({ label })));
      expect(reference.authorize(read(readContext({ label }))), label).toEqual(compiled);
      return compiled;
    };
    expect(both('a.b').determiningPolicies).toEqual(['like.cedar#like']);
    expect(both('a.b\n€x').decision).toBe('allow');
    expect(both('axbc').decision).toBe('deny');
    expect(both('x*y').determiningPolicies).toEqual(['star.cedar#star']);
    expect(both('xzy').decision).toBe('deny');
    expect(both('x*y😀').decision).toBe('deny');
  });

  it('like takes time in proportion to the text and the pattern, never exponential', () => {
    const slow = loadPolicyEngine({
      schema: SCHEMA,
      policies: {
        'glob.cedar':
          'permit(principal, action == Trading::Action::"read", resource) when { context.label like "*a*a*a*a*a*a*b" };',
      },
      crossCheckEvery: 0,
    });
    // A backtracking RegExp took minutes on this; the matcher, milliseconds.
    const started = performance.now();
    expect(slow.authorize(read(readContext({ label: 'a'.repeat(2000) }))).decision).toBe('deny');
    expect(slow.authorize(read(readContext({ label: `${'a'.repeat(2000)}b` }))).decision).toBe('allow');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('an optional attribute: absent is not an error, present is read', () => {
    expect(engine.authorize(read(readContext({ limits: { max: 1 } }))).decision).toBe('allow');
    expect(engine.authorize(read(readContext({ limits: { max: 1, note: 'frozen' } })))).toEqual({
      decision: 'deny',
      determiningPolicies: ['note.cedar#note'],
      errors: [],
    });
  });

  it('validates the request as Cedar does: the same requests refused, with a reason', () => {
    const requests: AuthorizationRequest[] = [
      read(readContext({ n: '3' })),
      read(readContext({ extra: 1 })),
      read({ label: 'a', n: 1, tags: [] }),
      read(readContext({ tags: ['x', 1] })),
      read(readContext({ limits: { max: 1, other: 2 } })),
      { ...read(readContext()), principal: DOC },
      { ...read(readContext()), resource: USER },
      { ...read(readContext()), principal: { type: 'Nobody', id: 'x' } },
      // A lone surrogate is no Unicode character (cedar-wasm would make it U+FFFD): the engine refuses
      // it anywhere, before either evaluator.
      read(readContext({ label: 'a.b\ud800' })),
      read(readContext({ tags: ['\udfff'] })),
      read(readContext({ limits: { max: 1, '\ud800': 2 } })),
      { ...read(readContext()), principal: { type: 'User', id: 'alice\ud800' } },
    ];
    for (const request of requests) {
      const compiled = engine.authorize(request);
      expect(compiled.decision, JSON.stringify(request)).toBe('deny');
      expect(compiled.errors.length, JSON.stringify(request)).toBeGreaterThan(0);
      expect(reference.authorize(request).errors.length, JSON.stringify(request)).toBeGreaterThan(0);
    }
  });
});

describe('failing closed', () => {
  const schemaJson = (() => {
    const json = cedar.schemaToJson(SCHEMA);
    if (json.type === 'failure') throw new Error('schema');
    return json.json;
  })();
  const policyJson = (text: string) => {
    const json = cedar.policyToJson(text);
    if (json.type === 'failure') throw new Error(text);
    return json.json;
  };
  const decide = (policies: Record<string, string>, context = readContext()) => {
    const compiled = compilePolicies(
      schemaJson,
      new Map(Object.entries(policies).map(([id, t]) => [id, policyJson(t)])),
      'Trading',
    );
    const read = compiled.actions.get('read');
    if (read === undefined || read instanceof NotCompilable) throw new Error(`read not compiled: ${String(read)}`);
    return read({ type: 'Trading::User', id: 'alice' }, { type: 'Trading::Doc', id: 'd1' }, context);
  };

  // The validator keeps these out of a loaded policy set; the compiler must still fail closed on
  // them, as the engine does with cedar-wasm (a forbid that errs must not let a permit through).
  it('a policy that errs denies, naming it, even when another permits', () => {
    const result = decide({
      permit: 'permit(principal, action, resource);',
      guard: 'forbid(principal, action, resource) when { principal.clearance < 3 };',
    });
    expect(result.decision).toBe('deny');
    expect(result.determiningPolicies).toEqual(['guard']);
    expect(result.errors.join()).toMatch(/^guard: /);
  });

  it('type errors: a non-boolean condition, a long compared with a string, a missing record attribute', () => {
    for (const condition of ['context.n', 'context.n < "4"', 'context.limits.note == "x"', '!context.label']) {
      const result = decide({ p: `permit(principal, action, resource) when { ${condition} };` });
      expect(result, condition).toMatchObject({ decision: 'deny', determiningPolicies: ['p'] });
      expect(result.errors.length, condition).toBe(1);
    }
    // && short-circuits as Cedar's does: the right side is never evaluated.
    expect(decide({ p: 'permit(principal, action, resource) when { false && context.n };' })).toMatchObject({
      decision: 'deny',
      errors: [],
    });
    expect(decide({ p: 'permit(principal, action, resource) when { true || context.n };' }).decision).toBe('allow');
  });
});

describe('the live cross-check against cedar-wasm', () => {
  const request: AuthorizationRequest = {
    principal: { type: 'Agent', id: 'order-router' },
    action: 'check_risk',
    resource: { type: 'Agent', id: 'risk' },
    context: {},
  };

  it('asks cedar-wasm for one compiled decision in N, at random; every one with 1, none with 0', () => {
    const spy = vi.spyOn(cedar, 'statefulIsAuthorized');
    const sampled = loadPolicyEngine({ crossCheckEvery: 4 });
    for (let i = 0; i < 4000; i++) expect(sampled.authorize(request).decision).toBe('allow');
    // Binomial(4000, 1/4): mean 1000, sd 27; outside 800..1200 is a defect, not chance.
    expect(spy.mock.calls.length).toBeGreaterThan(800);
    expect(spy.mock.calls.length).toBeLessThan(1200);
    spy.mockClear();
    const every = loadPolicyEngine({ crossCheckEvery: 1 });
    for (let i = 0; i < 9; i++) every.authorize(request);
    expect(spy).toHaveBeenCalledTimes(9);
    spy.mockClear();
    const never = loadPolicyEngine({ crossCheckEvery: 0 });
    for (let i = 0; i < 9; i++) never.authorize(request);
    expect(spy).not.toHaveBeenCalled();
  });

  it('refuses an evaluator it does not know', () => {
    expect(() => loadPolicyEngine({ evaluator: 'opa' as 'compiled' })).toThrow(/evaluator must be one of/);
  });

  it('refuses a sampling rate that is not a whole number of decisions', () => {
    for (const crossCheckEvery of [Number.NaN, Number.POSITIVE_INFINITY, -1, 2.5]) {
      expect(() => loadPolicyEngine({ crossCheckEvery }), String(crossCheckEvery)).toThrow(RangeError);
    }
  });

  it('a disagreement denies, says both answers, and is reported', () => {
    const reported: unknown[] = [];
    const engine = loadPolicyEngine({ crossCheckEvery: 1, onDisagreement: (d) => reported.push(d) });
    vi.spyOn(cedar, 'statefulIsAuthorized').mockReturnValue({
      type: 'success',
      response: { decision: 'deny', diagnostics: { reason: [], errors: [] } },
      warnings: [],
    });
    const result = engine.authorize(request);
    expect(result.decision).toBe('deny');
    expect(result.errors).toEqual([
      'policy evaluators disagree on check_risk: compiled allow (router-to-risk.cedar), cedar-wasm deny (no policy)',
    ]);
    expect(reported).toEqual([
      {
        action: 'check_risk',
        principal: { type: 'Trading::Agent', id: 'order-router' },
        resource: { type: 'Trading::Agent', id: 'risk' },
        compiled: { decision: 'allow', determiningPolicies: ['router-to-risk.cedar'], errors: [] },
        cedarWasm: { decision: 'deny', determiningPolicies: [], errors: [] },
      },
    ]);
  });

  it('agrees with cedar-wasm on every request when every decision is cross-checked', () => {
    const engine = loadPolicyEngine({ crossCheckEvery: 1 });
    const refused = { ...request, resource: { type: 'Agent', id: 'execution' } };
    expect(engine.authorize(request)).toEqual({
      decision: 'allow',
      determiningPolicies: ['router-to-risk.cedar'],
      errors: [],
    });
    expect(engine.authorize(refused)).toEqual({ decision: 'deny', determiningPolicies: [], errors: [] });
  });
});

describe('found in review: what the compiler and the slices must get right', () => {
  // Cedar itself on the whole set, no slices: the reference for the two engines.
  const cedarOnWholeSet = (schema: string, policies: Record<string, string>, request: AuthorizationRequest) => {
    const q = (t: string) => (t.includes('::') ? t : `Trading::${t}`);
    const answer = cedar.isAuthorized({
      principal: { type: q(request.principal.type), id: request.principal.id },
      action: { type: 'Trading::Action', id: request.action },
      resource: { type: q(request.resource.type), id: request.resource.id },
      context: request.context as Record<string, never>,
      policies: { staticPolicies: policies },
      entities: [],
      schema,
      validateRequest: true,
    });
    if (answer.type === 'failure') return { decision: 'deny', errored: true, reasons: [] as string[] };
    return {
      decision: answer.response.decision,
      errored: false,
      reasons: [...answer.response.diagnostics.reason].sort(),
    };
  };
  const agree = (schema: string, policies: Record<string, string>, request: AuthorizationRequest) => {
    const expected = cedarOnWholeSet(schema, policies, request);
    for (const evaluator of ['compiled', 'cedar-wasm'] as const) {
      const result = loadPolicyEngine({ schema, policies, evaluator, crossCheckEvery: 0 }).authorize(request);
      expect(
        {
          decision: result.decision,
          errored: result.errors.length > 0,
          reasons: [...result.determiningPolicies].sort(),
        },
        evaluator,
      ).toEqual(expected);
    }
    return expected;
  };

  const GROUPS = `namespace Trading {
    entity User, Doc;
    action "guarded";
    action "other";
    action act in [Trading::Action::"guarded"] appliesTo { principal: [User], resource: [Doc] };
    action nested in ["act"] appliesTo { principal: [User], resource: [Doc] };
  }`;
  const request = (action: string): AuthorizationRequest => ({ principal: USER, action, resource: DOC, context: {} });

  it('an action group named with its namespace is the action group (qualified memberOf)', () => {
    const policies = {
      'allow.cedar': 'permit(principal, action, resource);',
      'guard.cedar': 'forbid(principal, action in Trading::Action::"guarded", resource);',
    };
    expect(agree(GROUPS, policies, request('act'))).toMatchObject({ decision: 'deny', reasons: ['guard.cedar'] });
    expect(agree(GROUPS, policies, request('nested')).decision).toBe('deny');
  });

  it('a group in an `in` list reaches its members, in either evaluator, also when the policy is not compiled', () => {
    const listed = {
      'allow.cedar': 'permit(principal, action, resource);',
      'guard.cedar': 'forbid(principal, action in [Trading::Action::"other", Trading::Action::"guarded"], resource);',
    };
    expect(agree(GROUPS, listed, request('act')).decision).toBe('deny');
    const notCompiled = {
      'allow.cedar': 'permit(principal, action, resource);',
      'guard.cedar':
        'forbid(principal, action in [Trading::Action::"other", Trading::Action::"guarded"], resource) when { 1 + 1 == 2 };',
    };
    expect(loadPolicyEngine({ schema: GROUPS, policies: notCompiled }).evaluators.act).toBe('cedar-wasm');
    expect(agree(GROUPS, notCompiled, request('act')).decision).toBe('deny');
    // In a condition too.
    const inCondition = {
      'allow.cedar': 'permit(principal, action, resource) when { action in Trading::Action::"guarded" };',
    };
    expect(agree(GROUPS, inCondition, request('nested')).decision).toBe('allow');
  });

  it("a group named without a namespace is the empty namespace's when this one does not declare it", () => {
    const schema = `action grp;
      namespace Trading {
        entity User, Doc;
        action act in [grp] appliesTo { principal: [User], resource: [Doc] };
        action typed in [Action::"grp"] appliesTo { principal: [User], resource: [Doc] };
      }`;
    const policies = {
      'allow.cedar': 'permit(principal, action, resource);',
      'guard.cedar': 'forbid(principal, action in Action::"grp", resource);',
    };
    expect(loadPolicyEngine({ schema, policies }).evaluators.act).toBe('compiled');
    for (const action of ['act', 'typed']) {
      expect(agree(schema, policies, request(action)), action).toMatchObject({
        decision: 'deny',
        reasons: ['guard.cedar'],
      });
    }
  });

  it("a common type's names are those of the namespace that declares it", () => {
    const schema = `namespace Other { entity User; type Ctx = { who: User }; }
      namespace Trading { entity User, Doc; action act appliesTo { principal: [User], resource: [Doc], context: Other::Ctx }; }`;
    const policies = { 'allow.cedar': 'permit(principal, action, resource);' };
    const who = (type: string): AuthorizationRequest => ({
      ...request('act'),
      context: { who: { __entity: { type, id: 'u' } } },
    });
    expect(loadPolicyEngine({ schema, policies }).evaluators.act).toBe('compiled');
    expect(agree(schema, policies, who('Other::User')).decision).toBe('allow');
    expect(agree(schema, policies, who('Trading::User'))).toMatchObject({ decision: 'deny', errored: true });
  });

  it('a request that is not what the types say is refused with a reason, never thrown', () => {
    const engine = loadPolicyEngine();
    const valid = {
      principal: { type: 'Agent', id: 'execution' },
      action: 'send_to_venue',
      resource: { type: 'Agent', id: 'exchange' },
      context: { risk_check_id: 'RC-1', risk_approval_verified: true },
    };
    expect(engine.authorize(valid).decision).toBe('allow');
    let deep: unknown = 'x';
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const throwing = {};
    Object.defineProperty(throwing, 'risk_check_id', {
      enumerable: true,
      get: () => {
        throw new Error('boom');
      },
    });
    const hidden = { risk_check_id: 'RC-1' };
    Object.defineProperty(hidden, 'risk_approval_verified', { enumerable: false, value: true });
    // A principal that reads well the first time and not the second: what is checked is what is used.
    let reads = 0;
    const shifty = {
      type: 'Agent',
      get id() {
        reads++;
        return reads === 1 ? 'execution' : '\ud800';
      },
    };
    const once = engine.authorize({ ...valid, principal: shifty });
    expect(once.decision).toBe('allow');
    expect(reads).toBe(1);
    const sparse: unknown[] = [];
    sparse[1] = 'x';
    const odd: unknown[] = [
      { ...valid, context: null },
      { ...valid, context: { ...valid.context, extra: deep } },
      { ...valid, context: throwing },
      { ...valid, context: hidden },
      { ...valid, context: { ...valid.context, set: sparse } },
      { ...valid, principal: { type: 42, id: 'execution' } },
      { ...valid, principal: undefined },
      { ...valid, action: undefined },
    ];
    for (const request of odd) {
      const result = engine.authorize(request as AuthorizationRequest);
      expect(result.decision, String(result.errors)).toBe('deny');
      expect(result.errors.length).toBeGreaterThan(0);
    }
  });
});
