// Policy decision point: the Cedar policies in policies/ (translated from the seed's Rego) behind one
// synchronous authorize(). Pure apart from reading the policy files once at load; no AWS.
//
// cedar-wasm parses the schema and the policies, validates the policies against the schema (strict;
// warnings fatal) and gives each policy's JSON form. Decisions are then made by the policies
// compiled to JS from that form (policy-compiler.ts: about 2-6 us, against 25-100 us for a
// cedar-wasm call with no policy at all, the cost being its marshalling). An action whose policies
// or context type step outside the compiled subset is decided by cedar-wasm, from its per-thread
// cache (preparsePolicySet / preparseSchema, statefulIsAuthorized); so is every decision with
// request validation off, and one compiled decision in DEFAULT_CROSS_CHECK_EVERY (at random), which
// must agree.
//
// Packaging: the nodejs build reads `${__dirname}/cedar_wasm_bg.wasm` at import, so a bundle must
// ship that file next to itself; ship policies/*.cedar and schema.cedarschema next to it too and the
// default policiesDir finds them.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import type { AuthorizationAnswer, CedarValueJson, DetailedError, PolicySet } from '@cedar-policy/cedar-wasm/nodejs';
// The nodejs build is CommonJS: a default import works under tsx, vitest and esbuild alike.
import cedar from '@cedar-policy/cedar-wasm/nodejs';
import {
  actionSlices,
  type CompiledAction,
  compilePolicies,
  EVALUATORS,
  type Evaluator,
  isEvaluator,
  NotCompilable,
} from './policy-compiler.js';

// V8 (Node 20.20, found here) aborts the process ("Fatal error: unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when a JS function that TurboFan compiled with its
// calls into cedar-wasm inlined is deoptimized after a full GC: about one in a million
// decisions under load, taking the whole platform down. Not inlining JS-to-Wasm calls avoids it
// (repro: 3M decisions with a forced GC every 500k: abort without, none with). The flag only takes
// effect for code optimized after it is set, which is all of ours: this module loads first.
try {
  setFlagsFromString('--no-turbo-inline-js-wasm-calls');
} catch {
  // A runtime without the flag has nothing to avoid.
}

/** The schema's namespace; request types and actions are given unqualified and prefixed with it. */
export const NAMESPACE = 'Trading';
export const SCHEMA_FILE = 'schema.cedarschema';
const POLICY_SUFFIX = '.cedar';

export interface EntityRef {
  /** Entity type within the namespace, e.g. 'Agent', 'Trader' (a '::'-qualified type is kept). */
  type: string;
  id: string;
}

export interface AuthorizationRequest {
  principal: EntityRef;
  /** Action id, e.g. 'send_to_venue'. */
  action: string;
  resource: EntityRef;
  context: Record<string, unknown>;
}

export interface AuthorizationResult {
  decision: 'allow' | 'deny';
  /**
   * Ids of the policies that decided: the file name; `<file>#<id>` for a policy annotated
   * `@id("<id>")`; `<file>#<n>` for the n-th unannotated policy of a file that holds several.
   */
  determiningPolicies: string[];
  /** Why a request was refused before evaluation, or which policy failed to evaluate. */
  errors: string[];
}

export interface PolicyEngine {
  authorize(request: AuthorizationRequest): AuthorizationResult;
  /** Every policy id loaded, sorted. */
  readonly policyIds: readonly string[];
  /** For every action the schema declares, which evaluator decides it. */
  readonly evaluators: Readonly<Record<string, Evaluator>>;
}

/**
 * `compiled`: the policies compiled to JavaScript at load (policy-compiler.ts), for the actions
 * they can be; `cedar-wasm`: every decision asked of cedar-wasm.
 */
export { EVALUATORS, type Evaluator } from './policy-compiler.js';

/** What the agents log (as an error) on a disagreement: the stack's alarm matches this message. */
export const DISAGREEMENT_LOG_MESSAGE = 'policy evaluators disagree';

/** By default one compiled decision in this many is also asked of cedar-wasm, and must agree. */
export const DEFAULT_CROSS_CHECK_EVERY = 1000;

interface CommonOptions {
  /**
   * Check each request against the schema (types of principal/resource for the action, context
   * attributes and their types). Default true: a malformed request is denied with a reason.
   */
  validateRequest?: boolean;
  /**
   * Default `compiled`. The compiled evaluator needs request validation: with validateRequest
   * false every action is decided by cedar-wasm.
   */
  evaluator?: Evaluator;
  /**
   * Ask cedar-wasm too for one compiled decision in this many (0: never); a disagreement denies,
   * naming both answers in the errors, which the enforcement point audits. Default
   * DEFAULT_CROSS_CHECK_EVERY.
   */
  crossCheckEvery?: number;
  /** Told of every disagreement the cross-check finds (the agents log it as an error). */
  onDisagreement?: (disagreement: Disagreement) => void;
}

/** What the cross-check found: the request and both evaluators' answers. */
export interface Disagreement {
  action: string;
  principal: EntityRef;
  resource: EntityRef;
  compiled: AuthorizationResult;
  cedarWasm: AuthorizationResult;
}

export type PolicyEngineOptions =
  | (CommonOptions & { policiesDir?: string })
  | (CommonOptions & {
      /** Policy text, or file name -> policy text (the names become the policy ids). */
      policies: string | Readonly<Record<string, string>>;
      schema: string;
    });

/** The schema or a policy file does not parse. */
export class PolicyParseError extends Error {
  override readonly name = 'PolicyParseError';
  constructor(
    message: string,
    readonly errors: readonly string[],
  ) {
    super(`${message}: ${errors.join('; ')}`);
  }
}

/** The policy set does not type-check against the schema, or the validator warns about it. */
export class PolicyValidationError extends Error {
  override readonly name = 'PolicyValidationError';
  constructor(readonly errors: readonly string[]) {
    super(`policies do not validate against the schema: ${errors.join('; ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Seed identities (SPIFFE) -> Cedar entities

export const AGENT_SPIFFE_PREFIX = 'spiffe://agentweave.io/agent/';

/** The workloads the seed names: the six agents, the venue and the auditor. */
export const SEED_AGENTS = [
  'order-router',
  'risk',
  'approval',
  'execution',
  'position-tracker',
  'compliance',
  'exchange',
  'auditor',
] as const;
export type SeedAgent = (typeof SEED_AGENTS)[number];

export const SPIFFE_IDS: Readonly<Record<string, EntityRef>> = Object.freeze(
  Object.fromEntries(SEED_AGENTS.map((name) => [`${AGENT_SPIFFE_PREFIX}${name}`, { type: 'Agent', id: name }])),
);

// One SPIFFE path segment, not starting with '.'. More segments, an empty name or '.'/'..' is not an agent: the
// Rego's startswith() would have accepted those, which a trust-domain path check should not.
const AGENT_ID = /^spiffe:\/\/agentweave\.io\/agent\/([A-Za-z0-9_-][A-Za-z0-9._-]*)$/;

/**
 * Any id under the agent prefix is an Agent (the seed's "all agents" rule accepts names it does not
 * list); anything else is a ForeignWorkload, for which no action is defined, so it is always denied.
 */
export function spiffeToEntity(spiffeId: string): EntityRef {
  const known = SPIFFE_IDS[spiffeId];
  if (known) return { ...known };
  const match = AGENT_ID.exec(spiffeId);
  const name = match?.[1];
  if (name !== undefined) return { type: 'Agent', id: name };
  return { type: 'ForeignWorkload', id: spiffeId };
}

/** The seed's policy input (see the Rego in the seed). */
export interface SeedInput {
  caller_spiffe_id: string;
  callee_spiffe_id: string;
  action: string;
  context?: Record<string, unknown>;
}

/** Seed-shaped input -> Cedar request: caller -> principal, callee -> resource. */
export function seedRequest(input: SeedInput): AuthorizationRequest {
  return {
    principal: spiffeToEntity(input.caller_spiffe_id),
    action: input.action,
    resource: spiffeToEntity(input.callee_spiffe_id),
    context: input.context ?? {},
  };
}

// ---------------------------------------------------------------------------------------------
// Loading

type Context = Record<string, CedarValueJson>;

function message(e: DetailedError): string {
  return e.help ? `${e.message} (${e.help})` : e.message;
}

// In the repository the policies live in policies/ two levels up; in a Lambda bundle this module is
// the bundle itself and the .cedar files are copied next to it (like the wasm), so look there first.
function defaultPoliciesDir(): string {
  const here = fileURLToPath(new URL('./', import.meta.url));
  if (existsSync(join(here, SCHEMA_FILE))) return here;
  return fileURLToPath(new URL('../../policies/', import.meta.url));
}

function readPoliciesDir(dir: string): { policies: Record<string, string>; schema: string } {
  const names = readdirSync(dir)
    .filter((f) => f.endsWith(POLICY_SUFFIX))
    .sort();
  const policies: Record<string, string> = {};
  for (const name of names) policies[name] = readFileSync(join(dir, name), 'utf8');
  return { policies, schema: readFileSync(join(dir, SCHEMA_FILE), 'utf8') };
}

// The policy's own name, when it gives one: `@id("own-name")` before the effect.
const ANNOTATED_ID = /^\s*@id\("([A-Za-z0-9_.-]+)"\)/;

/** Split each file into its policies and name them after the file (and their @id, if any). */
function splitPolicies(files: Readonly<Record<string, string>>): Record<string, string> {
  const byId: Record<string, string> = {};
  const errors: string[] = [];
  for (const [file, text] of Object.entries(files)) {
    const parts = cedar.policySetTextToParts(text);
    if (parts.type === 'failure') {
      errors.push(...parts.errors.map((e) => `${file}: ${message(e)}`));
      continue;
    }
    // Templates would need links we never create: an unlinked template silently permits nothing.
    if (parts.policy_templates.length > 0) errors.push(`${file}: templates are not supported`);
    // The parts come back sorted by their generated ids as strings (policy0, policy1, policy10,
    // policy2, ...); undo that so `#n` is the n-th policy in the file as written.
    const n = parts.policies.length;
    const textual = Array.from({ length: n }, (_, i) => `policy${i}`).sort();
    parts.policies.forEach((policy, k) => {
      const index = Number(textual[k]?.slice('policy'.length));
      const annotated = ANNOTATED_ID.exec(policy)?.[1];
      const id = annotated !== undefined ? `${file}#${annotated}` : n === 1 ? file : `${file}#${index + 1}`;
      if (byId[id] !== undefined) errors.push(`${file}: two policies are named ${id}`);
      byId[id] = policy;
    });
  }
  if (errors.length > 0) throw new PolicyParseError('policies do not parse', errors);
  return byId;
}

function contentId(kind: string, ...texts: string[]): string {
  const hash = createHash('sha256');
  for (const t of texts) hash.update(t).update('\0');
  // Content-addressed: reloading the same files reuses the cache slot instead of growing it, and
  // two engines with different policies never overwrite each other's slot.
  return `${kind}-${hash.digest('hex').slice(0, 32)}`;
}

export function loadPolicyEngine(options: PolicyEngineOptions = {}): PolicyEngine {
  const source =
    'policies' in options
      ? {
          policies: typeof options.policies === 'string' ? { 'inline.cedar': options.policies } : options.policies,
          schema: options.schema,
        }
      : readPoliciesDir(options.policiesDir ?? defaultPoliciesDir());
  const validateRequest = options.validateRequest ?? true;

  // Parsing the schema into the cache is also the parse check (the first schema parse in a process
  // costs ~150 ms here, so it is done once, not twice).
  const schemaName = contentId('schema', source.schema);
  const schemaParsed = cedar.preparseSchema(schemaName, source.schema);
  if (schemaParsed.type === 'failure') {
    throw new PolicyParseError('schema does not parse', schemaParsed.errors.map(message));
  }
  const policies = splitPolicies(source.policies);
  const policySet: PolicySet = { staticPolicies: policies };

  const validation = cedar.validate({
    schema: source.schema,
    policies: policySet,
    validationSettings: { mode: 'strict' },
  });
  if (validation.type === 'failure') {
    throw new PolicyValidationError(validation.errors.map(message));
  }
  // Warnings are fatal too: the one that matters most is "impossible policy" (e.g. an Agent granted
  // `approve`, which the schema reserves for people). It is dead under request validation but would
  // match if validation were off, so a policy set with one is never loaded.
  const problems = [
    ...validation.validationErrors.map((e) => `${e.policyId}: ${message(e.error)}`),
    ...validation.validationWarnings.map((w) => `${w.policyId}: ${message(w.error)}`),
    ...validation.otherWarnings.map(message),
  ];
  if (problems.length > 0) throw new PolicyValidationError(problems);

  const ids = Object.keys(policies).sort();
  const policySetId = contentId('policies', ...ids.flatMap((id) => [id, policies[id] ?? '']));
  const preparse = (id: string, set: PolicySet): void => {
    const parsed = cedar.preparsePolicySet(id, set);
    if (parsed.type === 'failure') throw new PolicyParseError('policies do not parse', parsed.errors.map(message));
  };
  preparse(policySetId, policySet);

  // Each policy's JSON form: what the slices below read their action scope from, and what the
  // compiled evaluator is built from.
  const policyJson = new Map(ids.map((id) => [id, toJson(policies[id] as string)]));
  const schemaJson = schemaToJson(source.schema);

  // Cedar evaluates every policy of the set on every call (about 1.5-2 us each here, matched or
  // not), so each action gets its slice (the policies whose action scope can name it:
  // actionSlices, which the compiled evaluator uses too), pre-parsed once. Same decisions, same ids.
  const actionType = `${NAMESPACE}::Action`;
  const slices = actionSlices(schemaJson, policyJson, NAMESPACE);
  const actions = [...slices.keys()];
  const byAction = new Map<string, string>();
  for (const [action, sliceIds] of slices) {
    const sliceId = `${policySetId}-${action}`;
    preparse(sliceId, { staticPolicies: Object.fromEntries(sliceIds.map((id) => [id, policies[id] as string])) });
    byAction.set(action, sliceId);
  }

  // The compiled evaluator, for every action it can decide (the others stay with cedar-wasm).
  const compiled = new Map<string, CompiledAction>();
  const evaluators: Record<string, Evaluator> = {};
  const evaluator: unknown = options.evaluator ?? 'compiled';
  if (!isEvaluator(evaluator)) {
    throw new RangeError(`evaluator must be one of ${EVALUATORS.join(', ')}: ${String(evaluator)}`);
  }
  if (evaluator === 'compiled' && validateRequest) {
    for (const [action, decide] of compilePolicies(schemaJson, policyJson, NAMESPACE).actions) {
      if (!(decide instanceof NotCompilable)) compiled.set(action, decide);
    }
  }
  for (const action of actions) evaluators[action] = compiled.has(action) ? 'compiled' : 'cedar-wasm';
  const crossCheckEvery = options.crossCheckEvery ?? DEFAULT_CROSS_CHECK_EVERY;
  if (!Number.isSafeInteger(crossCheckEvery) || crossCheckEvery < 0) {
    throw new RangeError(`crossCheckEvery must be a whole number of decisions, 0 or more: ${crossCheckEvery}`);
  }
  const onDisagreement = options.onDisagreement;

  const qualify = (type: string): string => (type.includes('::') ? type : `${NAMESPACE}::${type}`);

  function askCedar(principal: EntityRef, action: string, resource: EntityRef, context: Context): AuthorizationResult {
    let answer: AuthorizationAnswer;
    try {
      answer = cedar.statefulIsAuthorized({
        principal,
        action: { type: actionType, id: action },
        resource,
        context,
        // No entity store: principals carry no attributes and no parents; what a decision needs
        // from the store (an entitlement, a verified approval) is in the context.
        entities: [],
        // An action the schema does not declare is refused by request validation; the whole set
        // decides it then (and when validation is off, which only the tests do).
        preparsedPolicySetId: byAction.get(action) ?? policySetId,
        preparsedSchemaName: schemaName,
        validateRequest,
      });
    } catch (e) {
      // Fail closed on anything the engine throws rather than reports.
      return deny([`policy engine failed: ${e instanceof Error ? e.message : String(e)}`]);
    }
    if (answer.type === 'failure') return deny(answer.errors.map(message));
    const { decision, diagnostics } = answer.response;
    const errors = diagnostics.errors.map((e) => `${e.policyId}: ${message(e.error)}`);
    // Cedar skips a policy that errs: a forbid that could not be evaluated would let a permit
    // through. Fail closed instead: any evaluation error denies, naming the policy that erred.
    if (errors.length > 0) {
      return { decision: 'deny', determiningPolicies: diagnostics.errors.map((e) => e.policyId), errors };
    }
    return { decision, determiningPolicies: diagnostics.reason, errors };
  }

  function decideRequest(request: AuthorizationRequest): AuthorizationResult {
    const refs = requestRefs(request);
    if (typeof refs === 'string') return deny([refs]);
    const context = toCedarContext(request.context);
    if (typeof context === 'string') return deny([context]);
    const principal = { type: qualify(refs.principal.type), id: refs.principal.id };
    const resource = { type: qualify(refs.resource.type), id: refs.resource.id };
    const decide = compiled.get(refs.action);
    if (decide === undefined) return askCedar(principal, refs.action, resource, context);
    const result = decide(principal, resource, context);
    // Sampled at random, so that which decision is checked cannot be predicted.
    if (crossCheckEvery > 0 && Math.random() * crossCheckEvery < 1) {
      const reference = askCedar(principal, refs.action, resource, context);
      if (!sameAnswer(result, reference)) {
        try {
          onDisagreement?.({ action: refs.action, principal, resource, compiled: result, cedarWasm: reference });
        } catch {
          // Reporting must not replace the refusal below, which carries the same facts.
        }
        // The compiled evaluator and Cedar itself disagree: a defect, never a decision. Deny, and
        // say both, so the refusal's audit record carries what to fix.
        return deny([
          `policy evaluators disagree on ${refs.action}: compiled ${describe(result)}, cedar-wasm ${describe(reference)}`,
        ]);
      }
    }
    return result;
  }

  function authorize(request: AuthorizationRequest): AuthorizationResult {
    try {
      return decideRequest(request);
    } catch (e) {
      // Fail closed, with a reason the enforcement point records, on anything thrown: a request
      // that is not shaped as typed (from untyped code), a getter that throws, a defect.
      return deny([`policy engine failed: ${e instanceof Error ? e.message : String(e)}`]);
    }
  }

  return { authorize, policyIds: ids, evaluators };
}

/** Same decision, same deciding policies (in any order), and errors on both sides or neither. */
function sameAnswer(a: AuthorizationResult, b: AuthorizationResult): boolean {
  const aErred = a.errors.length > 0;
  const bErred = b.errors.length > 0;
  if (a.decision !== b.decision || aErred !== bErred) return false;
  const x = [...a.determiningPolicies].sort();
  const y = [...b.determiningPolicies].sort();
  return x.length === y.length && x.every((id, i) => id === y[i]);
}

function describe(r: AuthorizationResult): string {
  const by = [...r.determiningPolicies].sort().join(', ') || 'no policy';
  return `${r.decision} (${by}${r.errors.length > 0 ? `; errors: ${r.errors.join('; ')}` : ''})`;
}

function toJson(policy: string): unknown {
  const json = cedar.policyToJson(policy);
  if (json.type === 'failure')
    throw new PolicyParseError('a policy does not convert to JSON', json.errors.map(message));
  return json.json;
}

function schemaToJson(schema: string): unknown {
  const json = cedar.schemaToJson(schema);
  if (json.type === 'failure') throw new PolicyParseError('schema does not parse', json.errors.map(message));
  return json.json;
}

function deny(errors: string[]): AuthorizationResult {
  return { decision: 'deny', determiningPolicies: [], errors };
}

// Cedar values are strings, booleans, 64-bit integers, sets and records. Anything else (undefined,
// null, a float, a Date, a sparse array, a class instance) is refused here with a readable reason
// instead of an opaque engine error. The context is copied as it is checked (own enumerable keys
// only, each read once), so both evaluators see the same plain data.
const MAX_DEPTH = 32;

// A lone UTF-16 surrogate is no Unicode character: cedar-wasm would turn it into U+FFFD on the way
// in, so two different strings could be equal there and not in the compiled evaluator. Refused.
const LONE_SURROGATE = /\p{Cs}/u;
const wellFormed = (s: string): boolean => !LONE_SURROGATE.test(s);

/** Thrown while copying a context: the path and the rule it broke. */
class NotACedarValue extends Error {
  override readonly name = 'NotACedarValue';
}

function cedarValue(v: unknown, path: string, depth: number): CedarValueJson {
  const rule = 'a string of Unicode characters, boolean, integer, set or record';
  switch (typeof v) {
    case 'string':
      if (!wellFormed(v)) throw new NotACedarValue(`${path}: not well-formed Unicode (a lone surrogate)`);
      return v;
    case 'boolean':
      return v;
    case 'number':
      if (!Number.isSafeInteger(v)) throw new NotACedarValue(`${path}: not a Cedar value (${rule}): ${v}`);
      return v;
    case 'object': {
      if (v === null) throw new NotACedarValue(`${path}: not a Cedar value (${rule}): null`);
      if (depth >= MAX_DEPTH) throw new NotACedarValue(`${path}: nested more than ${MAX_DEPTH} deep`);
      if (Array.isArray(v)) {
        const out: CedarValueJson[] = [];
        for (let i = 0; i < v.length; i++) {
          if (!Object.hasOwn(v, i)) throw new NotACedarValue(`${path}[${i}]: a hole in the set`);
          out.push(cedarValue(v[i], `${path}[${i}]`, depth + 1));
        }
        return out;
      }
      return cedarRecord(v, path, depth + 1);
    }
    default:
      throw new NotACedarValue(`${path}: not a Cedar value (${rule}): ${typeof v}`);
  }
}

function cedarRecord(v: object, path: string, depth: number): Record<string, CedarValueJson> {
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    throw new NotACedarValue(`${path}: not a Cedar value (a plain record): ${v.constructor?.name ?? 'object'}`);
  }
  const out: Record<string, CedarValueJson> = {};
  for (const key of Object.keys(v)) {
    if (!wellFormed(key)) throw new NotACedarValue(`${path}: an attribute name is not well-formed Unicode`);
    const value = cedarValue((v as Record<string, unknown>)[key], `${path}.${key}`, depth);
    // An attribute named __proto__ stays an attribute (assignment would set the prototype).
    if (key === '__proto__')
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    else out[key] = value;
  }
  return out;
}

function toCedarContext(context: unknown): Context | string {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) return 'context: not a record';
  try {
    return cedarRecord(context, 'context', 0);
  } catch (e) {
    if (e instanceof NotACedarValue) return e.message;
    throw e;
  }
}

/** The request's principal, action and resource, each checked to be what the types say. */
function requestRefs(
  request: AuthorizationRequest,
): { principal: EntityRef; action: string; resource: EntityRef } | string {
  // Each field is read once: what is checked is what is used.
  const entity = (name: string, ref: unknown): EntityRef | string => {
    if (typeof ref !== 'object' || ref === null) return `${name}: not an entity reference`;
    const { type, id } = ref as Record<string, unknown>;
    if (typeof type !== 'string' || typeof id !== 'string') return `${name}: type and id must be strings`;
    if (!wellFormed(type) || !wellFormed(id)) return `${name}: not well-formed Unicode (a lone surrogate)`;
    return { type, id };
  };
  const principal = entity('principal', request.principal);
  if (typeof principal === 'string') return principal;
  const resource = entity('resource', request.resource);
  if (typeof resource === 'string') return resource;
  const action: unknown = request.action;
  if (typeof action !== 'string' || !wellFormed(action)) return 'action: not a well-formed string';
  return { principal, action, resource };
}
