// Cedar policies compiled to JavaScript closures, with the schema's request validation done in JS.
//
// Why: a cedar-wasm call costs 25-80 us on this machine with no policy at all (marshalling the
// request and the answer across wasm-bindgen), which every enforcement point pays on every call.
// The policies here are small, so evaluating them in JS costs about a microsecond.
//
// How it stays Cedar: cedar-wasm still parses every policy and the schema, validates the policies
// against the schema in strict mode, and produces the JSON form (EST) compiled here. The compiler
// accepts only a subset of Cedar whose semantics are simple and written out below, and refuses
// anything else: an action any of whose policies (or whose context type) steps outside the subset
// is decided by cedar-wasm instead (policy-engine.ts). Requests are validated against the schema
// here as Cedar does; the compiled path is only used with request validation on. The test
// test/unit/policy-evaluator.test.ts holds the two to the same answers (decision tables, random
// requests and random policies), and the engine re-asks cedar-wasm for a sample of live decisions.
//
// No entity store: principals and resources carry no attributes and no parents (what a decision
// needs from the store is in the context), so an entity's only ancestor is itself; an action's
// ancestors are its groups in the schema (memberOf).

/**
 * Who decides an authorisation: `compiled`, these closures (for the actions they cover), or
 * `cedar-wasm` for every decision. No import of cedar-wasm here, so the CDK app can name them.
 */
export const EVALUATORS = ['compiled', 'cedar-wasm'] as const;
export type Evaluator = (typeof EVALUATORS)[number];
export const isEvaluator = (v: unknown): v is Evaluator => (EVALUATORS as readonly unknown[]).includes(v);

/** An entity reference at evaluation time. */
export class EntityUid {
  constructor(
    readonly type: string,
    readonly id: string,
  ) {}
}

/** Cedar values as the compiled code sees them: sets are arrays, records plain objects. */
export type Value = string | number | boolean | EntityUid | Value[] | { [key: string]: Value };

/** A construct outside the compiled subset: the action it affects is decided by cedar-wasm. */
export class NotCompilable extends Error {
  override readonly name = 'NotCompilable';
}

/** A Cedar evaluation error (type error, missing attribute): the policy errs and the request is denied. */
class EvaluationError extends Error {
  override readonly name = 'EvaluationError';
}

/** The request does not conform to the schema: denied before any policy is evaluated. */
class RequestInvalid extends Error {
  override readonly name = 'RequestInvalid';
}

interface Env {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: { [key: string]: Value };
}

type Expr = (env: Env) => Value;

export interface CompiledDecision {
  decision: 'allow' | 'deny';
  determiningPolicies: string[];
  errors: string[];
}

/** One action's decision function: principal and resource types already qualified. */
export type CompiledAction = (
  principal: { type: string; id: string },
  resource: { type: string; id: string },
  context: Readonly<Record<string, unknown>>,
) => CompiledDecision;

export interface CompileResult {
  /** Action id (within the namespace) -> its decision function, or why it is not compiled. */
  actions: Map<string, CompiledAction | NotCompilable>;
}

// ---------------------------------------------------------------------------------------------
// JSON shapes (cedar-wasm's policyToJson / schemaToJson), read defensively: any other shape is
// NotCompilable, never guessed at.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (v: unknown): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

function onlyKeys(v: { [key: string]: Json }, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw new NotCompilable(`${what}: '${k}' is not compiled`);
  }
}

function str(v: Json | undefined, what: string): string {
  if (typeof v !== 'string') throw new NotCompilable(`${what}: expected a string`);
  return v;
}

function entityJson(v: Json | undefined, what: string): EntityUid {
  if (!isObject(v)) throw new NotCompilable(`${what}: expected an entity`);
  onlyKeys(v, ['type', 'id'], what);
  return new EntityUid(str(v.type, `${what}.type`), str(v.id, `${what}.id`));
}

// ---------------------------------------------------------------------------------------------
// Values

function isEntity(v: Value): v is EntityUid {
  return v instanceof EntityUid;
}

function isRecord(v: Value): v is { [key: string]: Value } {
  return typeof v === 'object' && !Array.isArray(v) && !(v instanceof EntityUid);
}

function sameEntity(a: EntityUid, b: EntityUid): boolean {
  return a.type === b.type && a.id === b.id;
}

/** Cedar `==`: values of different types are unequal (not an error); sets compare as sets. */
export function valueEquals(a: Value, b: Value): boolean {
  if (typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (isEntity(a) || isEntity(b)) return isEntity(a) && isEntity(b) && sameEntity(a, b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return false;
    return containsAll(a, b) && containsAll(b, a);
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && valueEquals(a[k] as Value, b[k] as Value));
}

// Sets are arrays; past a few elements of strings, longs, booleans or entities, membership goes
// through a hash set, so comparing two large sets stays linear (Cedar's sets are hash sets too).
const SMALL_SET = 8;

function flatKey(v: Value): string | undefined {
  switch (typeof v) {
    case 'string':
      return `s${v}`;
    case 'number':
      return `n${v}`;
    case 'boolean':
      return v ? 'T' : 'F';
    default:
      return isEntity(v) ? `e${JSON.stringify([v.type, v.id])}` : undefined;
  }
}

function flatKeys(set: readonly Value[]): Set<string> | undefined {
  const keys = new Set<string>();
  for (const v of set) {
    const k = flatKey(v);
    if (k === undefined) return undefined;
    keys.add(k);
  }
  return keys;
}

/** Every element of `subset` is in `set`. */
function containsAll(set: readonly Value[], subset: readonly Value[]): boolean {
  if (set.length > SMALL_SET && subset.length > SMALL_SET) {
    const keys = flatKeys(set);
    if (keys !== undefined) return subset.every((x) => keys.has(flatKey(x) ?? ''));
  }
  return subset.every((x) => set.some((e) => valueEquals(e, x)));
}

/** Some element of `other` is in `set`. */
function containsAny(set: readonly Value[], other: readonly Value[]): boolean {
  if (set.length > SMALL_SET && other.length > SMALL_SET) {
    const keys = flatKeys(set);
    if (keys !== undefined) return other.some((x) => keys.has(flatKey(x) ?? ''));
  }
  return other.some((x) => set.some((e) => valueEquals(e, x)));
}

/** A literal of the policy's JSON form (`Value`): entity escapes become EntityUid. */
function literal(v: Json, what: string): Value {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      // JSON numbers past 2^53 lost precision when parsed: such a long is not compiled.
      if (!Number.isSafeInteger(v)) throw new NotCompilable(`${what}: ${v} is not a safe integer`);
      return v;
    case 'object': {
      if (v === null) throw new NotCompilable(`${what}: null`);
      if (Array.isArray(v)) return v.map((x, i) => literal(x, `${what}[${i}]`));
      if (Object.hasOwn(v, '__entity')) {
        onlyKeys(v, ['__entity'], what);
        return entityJson(v.__entity, what);
      }
      if (Object.hasOwn(v, '__extn')) throw new NotCompilable(`${what}: extension values are not compiled`);
      return record(Object.entries(v).map(([k, x]) => [k, literal(x, `${what}.${k}`)]));
    }
    default:
      throw new NotCompilable(`${what}: not a Cedar literal`);
  }
}

/** A record with exactly these attributes (a null prototype: an attribute may be named __proto__). */
function record(entries: Array<[string, Value]>): { [key: string]: Value } {
  const r: { [key: string]: Value } = Object.create(null);
  for (const [k, v] of entries) r[k] = v;
  return r;
}

const typeName = (v: Value): string =>
  typeof v === 'string'
    ? 'string'
    : typeof v === 'number'
      ? 'long'
      : typeof v === 'boolean'
        ? 'bool'
        : isEntity(v)
          ? 'entity'
          : Array.isArray(v)
            ? 'set'
            : 'record';

function expectBool(v: Value, op: string): boolean {
  if (typeof v !== 'boolean') throw new EvaluationError(`${op}: expected a bool, got a ${typeName(v)}`);
  return v;
}

function expectLong(v: Value, op: string): number {
  if (typeof v !== 'number') throw new EvaluationError(`${op}: expected a long, got a ${typeName(v)}`);
  return v;
}

function expectEntity(v: Value, op: string): EntityUid {
  if (!isEntity(v)) throw new EvaluationError(`${op}: expected an entity, got a ${typeName(v)}`);
  return v;
}

function expectSet(v: Value, op: string): Value[] {
  if (!Array.isArray(v)) throw new EvaluationError(`${op}: expected a set, got a ${typeName(v)}`);
  return v;
}

function expectString(v: Value, op: string): string {
  if (typeof v !== 'string') throw new EvaluationError(`${op}: expected a string, got a ${typeName(v)}`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// The schema: entity types, action groups and each action's request shape

type TypeCheck = (v: unknown, path: string) => Value;

interface ActionShape {
  principalTypes: ReadonlySet<string>;
  resourceTypes: ReadonlySet<string>;
  context: TypeCheck;
}

/** Qualified action uid `Ns::Action::"id"` -> its groups, transitively. */
type Ancestry = ReadonlyMap<string, readonly EntityUid[]>;

interface Schema {
  /** Qualified action uid `Ns::Action::"id"` -> shape (NotCompilable: why it cannot be compiled). */
  actions: Map<string, ActionShape | NotCompilable>;
  /** Qualified action uid -> its groups, transitively. */
  actionAncestors: Map<string, readonly EntityUid[]>;
}

const actionKey = (type: string, id: string): string => `${type}::${JSON.stringify(id)}`;

const qualifiedIn = (namespace: string, name: string): string => (namespace === '' ? name : `${namespace}::${name}`);

/**
 * Every action's groups in the schema (memberOf, transitively), by qualified action uid
 * (`Ns::Action::"id"`). A `memberOf` type is namespace-relative unless it is qualified.
 */
export function actionAncestorsOf(json: unknown): Map<string, readonly EntityUid[]> {
  if (!isObject(json)) throw new NotCompilable('schema: not an object');
  const declared = new Set<string>();
  for (const [namespace, body] of Object.entries(json)) {
    for (const id of Object.keys(isObject(body) && isObject(body.actions) ? body.actions : {})) {
      declared.add(actionKey(qualifiedIn(namespace, 'Action'), id));
    }
  }
  // A group named without a namespace is this namespace's action if it declares one, else the
  // empty namespace's (Cedar refuses a schema where both do); a qualified one is as written.
  const group = (namespace: string, type: string | undefined, id: string): EntityUid => {
    const candidates =
      type?.includes('::') === true ? [type] : [qualifiedIn(namespace, type ?? 'Action'), type ?? 'Action'];
    const found = candidates.find((t) => declared.has(actionKey(t, id)));
    if (found === undefined) throw new NotCompilable(`action group ${id}: not declared`);
    return new EntityUid(found, id);
  };
  const parents = new Map<string, EntityUid[]>();
  for (const [namespace, body] of Object.entries(json)) {
    const actionType = qualifiedIn(namespace, 'Action');
    for (const [id, decl] of Object.entries(isObject(body) && isObject(body.actions) ? body.actions : {})) {
      if (!isObject(decl)) throw new NotCompilable(`action ${id}: not an object`);
      if (decl.memberOf !== undefined && !Array.isArray(decl.memberOf))
        throw new NotCompilable(`action ${id}: memberOf`);
      parents.set(
        actionKey(actionType, id),
        (decl.memberOf ?? []).map((m, i) => {
          if (!isObject(m)) throw new NotCompilable(`action ${id}: memberOf[${i}]`);
          onlyKeys(m, ['id', 'type'], `action ${id} memberOf`);
          const named = m.type === undefined ? undefined : str(m.type, 'memberOf type');
          return group(namespace, named, str(m.id, 'memberOf id'));
        }),
      );
    }
  }
  const ancestors = new Map<string, readonly EntityUid[]>();
  for (const key of parents.keys()) {
    const seen = new Map<string, EntityUid>();
    const stack = [...(parents.get(key) ?? [])];
    while (stack.length > 0) {
      const p = stack.pop() as EntityUid;
      const k = actionKey(p.type, p.id);
      if (seen.has(k)) continue;
      seen.set(k, p);
      stack.push(...(parents.get(k) ?? []));
    }
    ancestors.set(key, [...seen.values()]);
  }
  return ancestors;
}

function readSchema(json: unknown): Schema {
  if (!isObject(json)) throw new NotCompilable('schema: not an object');
  const entityTypes = new Set<string>();
  const enumerated = new Set<string>();
  // A common type's body names types relative to the namespace that declares it.
  const commonTypes = new Map<string, { namespace: string; decl: Json }>();
  for (const [namespace, body] of Object.entries(json)) {
    if (!isObject(body)) throw new NotCompilable(`schema ${namespace}: not an object`);
    onlyKeys(body, ['entityTypes', 'actions', 'commonTypes', 'annotations'], `schema ${namespace}`);
    for (const [name, decl] of Object.entries(isObject(body.entityTypes) ? body.entityTypes : {})) {
      // Enumerated entity types restrict ids, which request validation would have to check.
      // Enumerated entity types restrict ids, which request validation would have to check: an
      // action whose request can name one is left to cedar-wasm (see resolve).
      if (isObject(decl) && decl.enum !== undefined) enumerated.add(qualifiedIn(namespace, name));
      entityTypes.add(qualifiedIn(namespace, name));
    }
    for (const [name, decl] of Object.entries(isObject(body.commonTypes) ? body.commonTypes : {})) {
      commonTypes.set(qualifiedIn(namespace, name), { namespace, decl });
    }
  }

  // Resolve a type name written in `namespace` as Cedar does: a common type, then an entity type,
  // of the namespace, then of the empty namespace, then a primitive.
  const resolve = (
    namespace: string,
    name: string,
  ): { common: { namespace: string; decl: Json } } | { entity: string } | { primitive: string } => {
    const candidates = name.includes('::') ? [name] : [qualifiedIn(namespace, name), name];
    for (const c of candidates) {
      const common = commonTypes.get(c);
      if (common !== undefined) return { common };
      if (enumerated.has(c)) throw new NotCompilable(`entity type ${c} is enumerated`);
      if (entityTypes.has(c)) return { entity: c };
    }
    const builtin = name.startsWith('__cedar::') ? name.slice('__cedar::'.length) : name;
    if (builtin === 'String' || builtin === 'Long' || builtin === 'Bool') return { primitive: builtin };
    throw new NotCompilable(`type ${name} is not compiled`);
  };

  const compileType = (namespace: string, type: Json | undefined, depth: number): TypeCheck => {
    if (depth > 32) throw new NotCompilable('schema: common types nest too deep');
    if (!isObject(type)) throw new NotCompilable('schema: a type is not an object');
    const kind = str(type.type, 'schema type');
    switch (kind) {
      case 'String':
      case 'Long':
      case 'Boolean':
        onlyKeys(type, ['type', 'required', 'annotations'], `schema ${kind}`);
        return primitiveCheck(kind);
      case 'Set': {
        onlyKeys(type, ['type', 'element', 'required', 'annotations'], 'schema Set');
        const element = compileType(namespace, type.element, depth + 1);
        return (v, path) => {
          if (!Array.isArray(v)) throw new RequestInvalid(`${path}: expected a set`);
          const out = v.map((x, i) => element(x, `${path}[${i}]`));
          return out.every((x, i) => x === v[i]) ? (v as Value[]) : out;
        };
      }
      case 'Record':
        onlyKeys(type, ['type', 'attributes', 'additionalAttributes', 'required', 'annotations'], 'schema Record');
        if (type.additionalAttributes === true) throw new NotCompilable('schema: open records are not compiled');
        return recordCheck(
          Object.entries(isObject(type.attributes) ? type.attributes : {}).map(([name, attr]) => {
            if (!isObject(attr)) throw new NotCompilable(`schema attribute ${name}: not an object`);
            return { name, required: attr.required !== false, check: compileType(namespace, attr, depth + 1) };
          }),
        );
      case 'Entity':
        onlyKeys(type, ['type', 'name', 'required', 'annotations'], 'schema Entity');
        return entityCheck(entityName(resolve(namespace, str(type.name, 'schema Entity name')), type.name));
      case 'EntityOrCommon': {
        onlyKeys(type, ['type', 'name', 'required', 'annotations'], 'schema EntityOrCommon');
        const resolved = resolve(namespace, str(type.name, 'schema type name'));
        if ('common' in resolved) return compileType(resolved.common.namespace, resolved.common.decl, depth + 1);
        if ('entity' in resolved) return entityCheck(resolved.entity);
        return primitiveCheck(resolved.primitive === 'Bool' ? 'Boolean' : resolved.primitive);
      }
      case 'Extension':
        throw new NotCompilable('schema: extension types are not compiled');
      default: {
        // A bare common type reference: { "type": "MyType" }.
        onlyKeys(type, ['type', 'required', 'annotations'], `schema ${kind}`);
        const resolved = resolve(namespace, kind);
        if ('common' in resolved) return compileType(resolved.common.namespace, resolved.common.decl, depth + 1);
        throw new NotCompilable(`schema: type ${kind} is not compiled`);
      }
    }
  };

  const actionAncestors = actionAncestorsOf(json);
  const declared: Array<{ namespace: string; key: string; decl: { [key: string]: Json } }> = [];
  for (const [namespace, body] of Object.entries(json)) {
    const actionType = qualifiedIn(namespace, 'Action');
    for (const [id, decl] of Object.entries(isObject(body) && isObject(body.actions) ? body.actions : {})) {
      if (!isObject(decl)) throw new NotCompilable(`action ${id}: not an object`);
      declared.push({ namespace, key: actionKey(actionType, id), decl });
    }
  }

  const actions = new Map<string, ActionShape | NotCompilable>();
  for (const { namespace, key, decl } of declared) {
    try {
      onlyKeys(decl, ['appliesTo', 'memberOf', 'attributes', 'annotations'], `action ${key}`);
      if (decl.attributes !== undefined) throw new NotCompilable(`action ${key}: attributes are not compiled`);
      const appliesTo = decl.appliesTo;
      // An action without appliesTo is a group: no request can name it.
      if (!isObject(appliesTo)) throw new NotCompilable(`action ${key}: applies to nothing`);
      onlyKeys(appliesTo, ['principalTypes', 'resourceTypes', 'context'], `action ${key} appliesTo`);
      const types = (list: Json | undefined, what: string): Set<string> => {
        if (!Array.isArray(list)) throw new NotCompilable(`action ${key}: ${what}`);
        return new Set(list.map((t) => entityName(resolve(namespace, str(t, what)), t)));
      };
      actions.set(key, {
        principalTypes: types(appliesTo.principalTypes, 'principalTypes'),
        resourceTypes: types(appliesTo.resourceTypes, 'resourceTypes'),
        context: appliesTo.context === undefined ? recordCheck([]) : compileType(namespace, appliesTo.context, 0),
      });
    } catch (e) {
      if (!(e instanceof NotCompilable)) throw e;
      actions.set(key, e);
    }
  }
  return { actions, actionAncestors };
}

function entityName(
  resolved: { common: Json } | { entity: string } | { primitive: string },
  name: Json | undefined,
): string {
  if ('entity' in resolved) return resolved.entity;
  throw new NotCompilable(`schema: ${String(name)} is not an entity type`);
}

function primitiveCheck(kind: string): TypeCheck {
  switch (kind) {
    case 'String':
      return (v, path) => {
        if (typeof v !== 'string') throw new RequestInvalid(`${path}: expected a String`);
        return v;
      };
    case 'Long':
      return (v, path) => {
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RequestInvalid(`${path}: expected a Long`);
        return v;
      };
    default:
      return (v, path) => {
        if (typeof v !== 'boolean') throw new RequestInvalid(`${path}: expected a Bool`);
        return v;
      };
  }
}

// An entity in a request's JSON, as Cedar's schema-directed parsing reads one: `{"__entity":
// {"type", "id"}}`, or else (no such escape, or one that is not a reference) the object's own
// `type` and `id`. Other keys are ignored, as Cedar ignores them.
const isRef = (v: unknown): v is { type: string; id: string } =>
  isObject(v) && typeof v.type === 'string' && typeof v.id === 'string';

function entityCheck(type: string): TypeCheck {
  return (v, path) => {
    if (!isObject(v)) throw new RequestInvalid(`${path}: expected an entity of type ${type}`);
    const escaped = Object.hasOwn(v, '__entity') ? v.__entity : undefined;
    const ref = isRef(escaped) ? escaped : v;
    if (!isRef(ref)) throw new RequestInvalid(`${path}: expected an entity of type ${type}`);
    if (ref.type !== type) throw new RequestInvalid(`${path}: expected an entity of type ${type}, got ${ref.type}`);
    return new EntityUid(ref.type, ref.id);
  };
}

function recordCheck(attributes: ReadonlyArray<{ name: string; required: boolean; check: TypeCheck }>): TypeCheck {
  const known = new Set(attributes.map((a) => a.name));
  return (v, path) => {
    // Where the schema expects a record, Cedar reads an object as one: `__entity` or `__extn` is
    // then just an attribute name (declared or not).
    if (!isObject(v)) throw new RequestInvalid(`${path}: expected a record`);
    for (const k of Object.keys(v)) {
      if (!known.has(k))
        throw new RequestInvalid(`${path}: attribute \`${k}\` should not exist according to the schema`);
    }
    const out: Array<[string, Value]> = [];
    let converted = false;
    for (const { name, required, check } of attributes) {
      if (!Object.hasOwn(v, name)) {
        if (required) throw new RequestInvalid(`${path}: expected the record to have an attribute \`${name}\``);
        continue;
      }
      const value = check(v[name], `${path}.${name}`);
      converted ||= value !== v[name];
      out.push([name, value]);
    }
    // Nothing to convert (no entity reference inside): the checked record is the value. The engine
    // hands over its own plain copy of the request, so this is not a second copy of it.
    return converted ? record(out) : (v as { [key: string]: Value });
  };
}

// ---------------------------------------------------------------------------------------------
// Expressions

const BINARY = ['==', '!=', 'in', '<', '<=', '>', '>=', '&&', '||', 'contains', 'containsAll', 'containsAny'];

function compileExpr(json: Json | undefined, ancestry: Ancestry): Expr {
  if (!isObject(json)) throw new NotCompilable('expression: not an object');
  const keys = Object.keys(json);
  if (keys.length !== 1) throw new NotCompilable(`expression: ${keys.join(',') || 'empty'}`);
  const op = keys[0] as string;
  const body = json[op];

  if (op === 'Value') {
    const v = literal(body ?? null, 'literal');
    return () => v;
  }
  if (op === 'Var') {
    switch (body) {
      case 'principal':
        return (env) => env.principal;
      case 'action':
        return (env) => env.action;
      case 'resource':
        return (env) => env.resource;
      case 'context':
        return (env) => env.context;
      default:
        throw new NotCompilable(`variable ${String(body)}`);
    }
  }
  if (op === 'Set') {
    if (!Array.isArray(body)) throw new NotCompilable('Set: not a list');
    const items = body.map((e) => compileExpr(e, ancestry));
    return (env) => items.map((f) => f(env));
  }
  if (op === 'Record') {
    if (!isObject(body)) throw new NotCompilable('Record: not an object');
    const fields = Object.entries(body).map(([k, e]) => [k, compileExpr(e, ancestry)] as const);
    return (env) => record(fields.map(([k, f]) => [k, f(env)]));
  }
  if (!isObject(body)) throw new NotCompilable(`${op}: not an object`);

  if (BINARY.includes(op)) {
    onlyKeys(body, ['left', 'right'], op);
    return binary(op, compileExpr(body.left, ancestry), compileExpr(body.right, ancestry), ancestry);
  }
  switch (op) {
    case '!': {
      onlyKeys(body, ['arg'], op);
      const arg = compileExpr(body.arg, ancestry);
      return (env) => !expectBool(arg(env), '!');
    }
    case 'isEmpty': {
      onlyKeys(body, ['arg'], op);
      const arg = compileExpr(body.arg, ancestry);
      return (env) => expectSet(arg(env), 'isEmpty').length === 0;
    }
    case '.': {
      onlyKeys(body, ['left', 'attr'], op);
      const left = compileExpr(body.left, ancestry);
      const attr = str(body.attr, '.attr');
      return (env) => {
        const v = left(env);
        if (isEntity(v)) throw new EvaluationError(`\`${attr}\`: the entity has no attributes (no entity store)`);
        if (!isRecord(v))
          throw new EvaluationError(`\`${attr}\`: expected a record or an entity, got a ${typeName(v)}`);
        if (!Object.hasOwn(v, attr)) throw new EvaluationError(`the record does not have the attribute \`${attr}\``);
        return v[attr] as Value;
      };
    }
    case 'has': {
      onlyKeys(body, ['left', 'attr'], op);
      const left = compileExpr(body.left, ancestry);
      const attr = str(body.attr, 'has.attr');
      return (env) => {
        const v = left(env);
        if (isEntity(v)) return false;
        if (!isRecord(v))
          throw new EvaluationError(`has ${attr}: expected a record or an entity, got a ${typeName(v)}`);
        return Object.hasOwn(v, attr);
      };
    }
    case 'is': {
      onlyKeys(body, ['left', 'entity_type', 'in'], op);
      const left = compileExpr(body.left, ancestry);
      const type = str(body.entity_type, 'is.entity_type');
      const within = body.in === undefined ? undefined : compileExpr(body.in, ancestry);
      return (env) => {
        const v = expectEntity(left(env), 'is');
        if (v.type !== type) return false;
        return within === undefined ? true : entityIn(v, within(env), ancestry);
      };
    }
    case 'like': {
      onlyKeys(body, ['left', 'pattern'], op);
      const left = compileExpr(body.left, ancestry);
      const pattern = likePattern(body.pattern);
      return (env) => likeMatches(expectString(left(env), 'like'), pattern);
    }
    case 'if-then-else': {
      onlyKeys(body, ['if', 'then', 'else'], op);
      const cond = compileExpr(body.if, ancestry);
      const then = compileExpr(body.then, ancestry);
      const otherwise = compileExpr(body.else, ancestry);
      return (env) => (expectBool(cond(env), 'if') ? then(env) : otherwise(env));
    }
    default:
      // Arithmetic, extension functions, tags, slots, unknowns: cedar-wasm decides.
      throw new NotCompilable(`'${op}' is not compiled`);
  }
}

function binary(op: string, left: Expr, right: Expr, ancestry: Ancestry): Expr {
  switch (op) {
    case '==':
      return (env) => valueEquals(left(env), right(env));
    case '!=':
      return (env) => !valueEquals(left(env), right(env));
    case '&&':
      return (env) => expectBool(left(env), '&&') && expectBool(right(env), '&&');
    case '||':
      return (env) => expectBool(left(env), '||') || expectBool(right(env), '||');
    case '<':
      return (env) => expectLong(left(env), '<') < expectLong(right(env), '<');
    case '<=':
      return (env) => expectLong(left(env), '<=') <= expectLong(right(env), '<=');
    case '>':
      return (env) => expectLong(left(env), '>') > expectLong(right(env), '>');
    case '>=':
      return (env) => expectLong(left(env), '>=') >= expectLong(right(env), '>=');
    case 'in':
      return (env) => entityIn(expectEntity(left(env), 'in'), right(env), ancestry);
    case 'contains':
      return (env) => {
        const set = expectSet(left(env), 'contains');
        const x = right(env);
        return set.some((e) => valueEquals(e, x));
      };
    case 'containsAll':
      return (env) => {
        const set = expectSet(left(env), 'containsAll');
        return containsAll(set, expectSet(right(env), 'containsAll'));
      };
    case 'containsAny':
      return (env) => {
        const set = expectSet(left(env), 'containsAny');
        return containsAny(set, expectSet(right(env), 'containsAny'));
      };
    default:
      throw new NotCompilable(`'${op}' is not compiled`);
  }
}

/** Cedar `in`: the entity itself or one of its ancestors (only actions have any: their groups). */
function entityIn(entity: EntityUid, target: Value, ancestry: Ancestry): boolean {
  const ancestors = ancestry.get(actionKey(entity.type, entity.id)) ?? [];
  const within = (t: EntityUid) => sameEntity(entity, t) || ancestors.some((a) => sameEntity(a, t));
  if (Array.isArray(target)) {
    const targets = target.map((t) => expectEntity(t, 'in'));
    return targets.some(within);
  }
  return within(expectEntity(target, 'in'));
}

const WILDCARD = Symbol('wildcard');
type Glob = ReadonlyArray<string | typeof WILDCARD>;

/** A `like` pattern: characters (code points) and `*` wildcards. */
function likePattern(json: Json | undefined): Glob {
  if (!Array.isArray(json)) throw new NotCompilable('like: pattern is not a list');
  return json.flatMap((p): Array<string | typeof WILDCARD> => {
    if (p === 'Wildcard') return [WILDCARD];
    if (isObject(p) && Object.keys(p).length === 1 && typeof p.Literal === 'string') return Array.from(p.Literal);
    throw new NotCompilable('like: a pattern element is not compiled');
  });
}

/**
 * Glob match over whole Unicode characters, as Cedar's `like`. Backtracks only to the last `*`
 * (time at most characters x pattern length): a RegExp here could take seconds on a hostile string.
 */
function likeMatches(text: string, pattern: Glob): boolean {
  const chars = Array.from(text);
  let c = 0;
  let p = 0;
  let star = -1;
  let resume = 0;
  while (c < chars.length) {
    const want = pattern[p];
    if (want === WILDCARD) {
      star = p++;
      resume = c;
    } else if (want !== undefined && want === chars[c]) {
      c++;
      p++;
    } else if (star >= 0) {
      p = star + 1;
      c = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === WILDCARD) p++;
  return p === pattern.length;
}

// ---------------------------------------------------------------------------------------------
// Policies

interface CompiledPolicy {
  id: string;
  effect: 'permit' | 'forbid';
  /** Scope on principal and resource, then the conditions in order; throws EvaluationError. */
  applies: (env: Env) => boolean;
}

type ScopeTest = (entity: EntityUid) => boolean;

function scopeTest(json: Json | undefined, what: string, ancestry: Ancestry): ScopeTest {
  if (!isObject(json)) throw new NotCompilable(`${what} scope: not an object`);
  const op = str(json.op, `${what} scope op`);
  switch (op) {
    case 'All':
      onlyKeys(json, ['op'], what);
      return () => true;
    case '==': {
      onlyKeys(json, ['op', 'entity'], what);
      const target = entityJson(json.entity, what);
      return (e) => sameEntity(e, target);
    }
    case 'in': {
      onlyKeys(json, ['op', 'entity', 'entities'], what);
      const list = json.entities;
      if (list !== undefined && !Array.isArray(list)) throw new NotCompilable(`${what}: entities`);
      const targets = list !== undefined ? list.map((t) => entityJson(t, what)) : [entityJson(json.entity, what)];
      return (e) => entityIn(e, targets, ancestry);
    }
    case 'is': {
      onlyKeys(json, ['op', 'entity_type', 'in'], what);
      const type = str(json.entity_type, `${what} is`);
      if (json.in === undefined) return (e) => e.type === type;
      if (!isObject(json.in)) throw new NotCompilable(`${what} is-in`);
      onlyKeys(json.in, ['entity'], `${what} is-in`);
      const target = entityJson(json.in.entity, what);
      return (e) => e.type === type && entityIn(e, target, ancestry);
    }
    default:
      throw new NotCompilable(`${what} scope '${op}' is not compiled`);
  }
}

interface PolicyJson {
  effect: 'permit' | 'forbid';
  principal: ScopeTest;
  resource: ScopeTest;
  conditions: Array<{ kind: 'when' | 'unless'; body: Expr }>;
}

function readPolicy(json: unknown, ancestry: Ancestry): PolicyJson {
  if (!isObject(json)) throw new NotCompilable('policy: not an object');
  onlyKeys(json, ['effect', 'principal', 'action', 'resource', 'conditions', 'annotations'], 'policy');
  const effect = json.effect;
  if (effect !== 'permit' && effect !== 'forbid') throw new NotCompilable(`policy effect ${String(effect)}`);
  // The action scope is decided once per action (actionSlices); read here so that one outside the
  // subset makes the policy NotCompilable.
  scopeTest(json.action, 'action', ancestry);
  const conditions = Array.isArray(json.conditions) ? json.conditions : [];
  if (json.conditions !== undefined && !Array.isArray(json.conditions)) throw new NotCompilable('policy conditions');
  return {
    effect,
    principal: scopeTest(json.principal, 'principal', ancestry),
    resource: scopeTest(json.resource, 'resource', ancestry),
    conditions: conditions.map((c) => {
      if (!isObject(c)) throw new NotCompilable('condition: not an object');
      onlyKeys(c, ['kind', 'body'], 'condition');
      if (c.kind !== 'when' && c.kind !== 'unless') throw new NotCompilable(`condition kind ${String(c.kind)}`);
      return { kind: c.kind, body: compileExpr(c.body, ancestry) };
    }),
  };
}

function conditionTest(policy: PolicyJson): (env: Env) => boolean {
  const { principal, resource, conditions } = policy;
  return (env) => {
    if (!principal(env.principal) || !resource(env.resource)) return false;
    for (const { kind, body } of conditions) {
      const v = expectBool(body(env), kind);
      if (kind === 'when' ? !v : v) return false;
    }
    return true;
  };
}

/**
 * For every action of `namespace` the schema declares, the ids of the policies whose action scope
 * can name it: the action itself or one of its groups. A policy whose action scope excludes the
 * request's action can neither apply nor err (the scope is the first conjunct), so both evaluators
 * use only these: the compiled one compiles them, cedar-wasm is given them as a pre-parsed slice.
 * A scope this cannot read, or a schema whose groups it cannot read, is taken to name every action.
 */
export function actionSlices(
  schemaJson: unknown,
  policies: ReadonlyMap<string, unknown>,
  namespace: string,
): Map<string, string[]> {
  let ancestry: Ancestry | undefined;
  try {
    ancestry = actionAncestorsOf(schemaJson);
  } catch (e) {
    if (!(e instanceof NotCompilable)) throw e;
  }
  const scopes = [...policies].map(([id, json]) => ({ id, names: ancestry && actionScope(json, ancestry) }));
  const actionType = qualifiedIn(namespace, 'Action');
  return new Map(
    schemaActionIds(schemaJson, namespace).map((action) => {
      const uid = new EntityUid(actionType, action);
      return [action, scopes.filter(({ names }) => names === undefined || names(uid)).map(({ id }) => id)];
    }),
  );
}

/** A policy's action scope as a test, or undefined when it cannot be read. */
function actionScope(json: unknown, ancestry: Ancestry): ScopeTest | undefined {
  try {
    return isObject(json) ? scopeTest(json.action, 'action', ancestry) : undefined;
  } catch (e) {
    if (e instanceof NotCompilable) return undefined;
    throw e;
  }
}

/**
 * Compile the policies (id -> JSON form) for every action of `namespace` the schema declares.
 * Each action gets its slice (actionSlices); an action whose shape or any of whose policies is
 * outside the compiled subset maps to NotCompilable.
 */
export function compilePolicies(
  schemaJson: unknown,
  policies: ReadonlyMap<string, unknown>,
  namespace: string,
): CompileResult {
  const actions = new Map<string, CompiledAction | NotCompilable>();
  let schema: Schema;
  try {
    schema = readSchema(schemaJson);
  } catch (e) {
    if (!(e instanceof NotCompilable)) throw e;
    const failed = e;
    for (const id of schemaActionIds(schemaJson, namespace)) actions.set(id, failed);
    return { actions };
  }

  const read = new Map<string, PolicyJson | NotCompilable>();
  for (const [id, json] of policies) {
    try {
      read.set(id, readPolicy(json, schema.actionAncestors));
    } catch (e) {
      if (!(e instanceof NotCompilable)) throw e;
      read.set(id, new NotCompilable(`${id}: ${e.message}`));
    }
  }

  const actionType = qualifiedIn(namespace, 'Action');
  for (const [id, policyIds] of actionSlices(schemaJson, policies, namespace)) {
    const shape = schema.actions.get(actionKey(actionType, id));
    if (shape === undefined || shape instanceof NotCompilable) {
      actions.set(id, shape ?? new NotCompilable(`action ${id}: not declared`));
      continue;
    }
    const slice: CompiledPolicy[] = [];
    let failure: NotCompilable | undefined;
    for (const policyId of policyIds) {
      const policy = read.get(policyId);
      // A policy that cannot be compiled: every action its scope might name goes to cedar-wasm.
      if (policy === undefined || policy instanceof NotCompilable) {
        failure = policy ?? new NotCompilable(`${policyId}: not read`);
        continue;
      }
      slice.push({ id: policyId, effect: policy.effect, applies: conditionTest(policy) });
    }
    actions.set(id, failure ?? decider(new EntityUid(actionType, id), shape, slice));
  }
  return { actions };
}

function schemaActionIds(json: unknown, namespace: string): string[] {
  if (!isObject(json)) return [];
  const body = json[namespace];
  return isObject(body) && isObject(body.actions) ? Object.keys(body.actions) : [];
}

function decider(action: EntityUid, shape: ActionShape, slice: readonly CompiledPolicy[]): CompiledAction {
  const actionName = `${action.type}::${JSON.stringify(action.id)}`;
  return (principal, resource, context) => {
    if (!shape.principalTypes.has(principal.type)) {
      return invalid(`principal type \`${principal.type}\` is not valid for \`${actionName}\``);
    }
    if (!shape.resourceTypes.has(resource.type)) {
      return invalid(`resource type \`${resource.type}\` is not valid for \`${actionName}\``);
    }
    let ctx: { [key: string]: Value };
    try {
      ctx = shape.context(context, 'context') as { [key: string]: Value };
    } catch (e) {
      if (e instanceof RequestInvalid) return invalid(`${e.message} (for \`${actionName}\`)`);
      throw e;
    }
    const env: Env = {
      principal: new EntityUid(principal.type, principal.id),
      action,
      resource: new EntityUid(resource.type, resource.id),
      context: ctx,
    };
    const errors: string[] = [];
    const erred: string[] = [];
    const forbidden: string[] = [];
    const permitted: string[] = [];
    // Every policy is evaluated, as Cedar does, so that each one that errs is reported.
    for (const p of slice) {
      try {
        if (p.applies(env)) (p.effect === 'forbid' ? forbidden : permitted).push(p.id);
      } catch (e) {
        if (!(e instanceof EvaluationError)) throw e;
        erred.push(p.id);
        errors.push(`${p.id}: ${e.message}`);
      }
    }
    // Cedar would skip a policy that errs; the engine fails closed instead (any error denies).
    if (errors.length > 0) return { decision: 'deny', determiningPolicies: erred, errors };
    if (forbidden.length > 0) return { decision: 'deny', determiningPolicies: forbidden, errors };
    if (permitted.length > 0) return { decision: 'allow', determiningPolicies: permitted, errors };
    return { decision: 'deny', determiningPolicies: [], errors };
  };
}

function invalid(message: string): CompiledDecision {
  return { decision: 'deny', determiningPolicies: [], errors: [message] };
}
