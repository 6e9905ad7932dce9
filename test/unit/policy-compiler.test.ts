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
  const engine = loadPolicyEngine({
    schema: SCHEMA,
    policies: {
      'like.cedar':
        '@id("like") permit(principal, action == Trading::Action::"read", resource) when { context.label like "a.b*" };',
      'star.cedar':
        '@id("star") permit(principal, action == Trading::Action::"read", resource) when { context.label like "x\\*y" };',
      'note.cedar':
        '@id("note") forbid(principal, action == Trading::Action::"read", resource) when { context.limits has note && context.limits.note == "frozen" };',
    },
    crossCheckEvery: 0,
  });
  const reference = loadPolicyEngine({ schema: SCHEMA, policies: {}, evaluator: 'cedar-wasm' });

  it('like: a literal dot is a dot, * is any run, \\* a literal star', () => {
    expect(engine.authorize(read(readContext({ label: 'a.b' }))).determiningPolicies).toEqual(['like.cedar#like']);
    expect(engine.authorize(read(readContext({ label: 'a.b\n€x' }))).decision).toBe('allow');
    expect(engine.authorize(read(readContext({ label: 'axbc' }))).decision).toBe('deny');
    expect(engine.authorize(read(readContext({ label: 'x*y' }))).determiningPolicies).toEqual(['star.cedar#star']);
    expect(engine.authorize(read(readContext({ label: 'xzy' }))).decision).toBe('deny');
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
      // A lone surrogate is no Unicode character (cedar-wasm would make it U+FFFD): refused anywhere.
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

  it('asks cedar-wasm for one compiled decision in N', () => {
    const engine = loadPolicyEngine({ crossCheckEvery: 3 });
    const spy = vi.spyOn(cedar, 'statefulIsAuthorized');
    for (let i = 0; i < 9; i++) expect(engine.authorize(request).decision).toBe('allow');
    expect(spy).toHaveBeenCalledTimes(3);
    spy.mockClear();
    const never = loadPolicyEngine({ crossCheckEvery: 0 });
    for (let i = 0; i < 9; i++) never.authorize(request);
    expect(spy).not.toHaveBeenCalled();
  });

  it('a disagreement denies, and says both answers', () => {
    const engine = loadPolicyEngine({ crossCheckEvery: 1 });
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
