// Random requests and random well-typed Cedar policies for the differential test of the compiled
// policy evaluator against cedar-wasm (test/unit/policy-evaluator.test.ts). Everything is drawn
// from a seeded PRNG (bench/prng.ts), so a seed reproduces a run exactly.
//
// The generators know the schema only through a small model read from cedar-wasm's JSON form of
// it (schemaModel); they aim at requests and policies that are mostly valid, plus deliberate
// near-misses, and never decide anything themselves: cedar-wasm is the oracle.
import { prng } from '../../bench/prng.js';

// ---------------------------------------------------------------------------------------------
// Randomness

export class Rng {
  private readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[this.int(xs.length)] as T;
  }
  /**
   * One of the values, the first ones much more often than the last (a value drawn twice, in a
   * request and in a policy, then often coincides: comparisons are true as well as false).
   */
  common<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    const u = this.next();
    return xs[Math.floor(xs.length * u * u * u)] as T;
  }
  /** One of the options, with probability proportional to its weight. */
  weighted<T>(options: ReadonlyArray<readonly [number, T]>): T {
    const total = options.reduce((s, [w]) => s + w, 0);
    let r = this.next() * total;
    for (const [w, v] of options) {
      if (r < w) return v;
      r -= w;
    }
    return (options[options.length - 1] as readonly [number, T])[1];
  }
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// The schema, as the generators see it

export type Ty =
  | { kind: 'String' }
  | { kind: 'Long' }
  | { kind: 'Bool' }
  | { kind: 'Set'; element: Ty }
  | RecordTy
  | { kind: 'Entity'; name: string }
  | { kind: 'Extension'; name: string };
export interface RecordTy {
  kind: 'Record';
  attrs: ReadonlyMap<string, Attr>;
}
export interface Attr {
  ty: Ty;
  required: boolean;
}

export interface EntityTypeModel {
  name: string;
  memberOf: readonly string[];
  attrs: ReadonlyMap<string, Attr>;
}

export interface ActionModel {
  id: string;
  /** Direct groups (action ids in the namespace). */
  memberOf: readonly string[];
  /** Whether a request can name it at all (principal and resource types are not empty). */
  applies: boolean;
  principals: readonly string[];
  resources: readonly string[];
  context: RecordTy;
}

export interface SchemaModel {
  namespace: string;
  entityTypes: ReadonlyMap<string, EntityTypeModel>;
  actions: ReadonlyMap<string, ActionModel>;
}

type JsonObject = { [key: string]: unknown };
const obj = (v: unknown): JsonObject => (typeof v === 'object' && v !== null ? (v as JsonObject) : {});
const qualifiedIn = (ns: string, name: string): string => (ns === '' ? name : `${ns}::${name}`);

/** The model of a schema from cedar-wasm's schemaToJson (for the schemas these tests write). */
export function schemaModel(json: unknown, namespace: string): SchemaModel {
  const root = obj(json);
  const common = new Map<string, { ns: string; type: unknown }>();
  const entityNames = new Set<string>();
  for (const [ns, body] of Object.entries(root)) {
    for (const [name, type] of Object.entries(obj(obj(body).commonTypes)))
      common.set(qualifiedIn(ns, name), { ns, type });
    for (const name of Object.keys(obj(obj(body).entityTypes))) entityNames.add(qualifiedIn(ns, name));
  }
  const resolve = (ns: string, name: string): Ty => {
    const candidates = name.includes('::') ? [name] : [qualifiedIn(ns, name), name];
    for (const c of candidates) {
      const found = common.get(c);
      if (found) return toTy(found.ns, found.type);
      if (entityNames.has(c)) return { kind: 'Entity', name: c };
    }
    const builtin = name.replace(/^__cedar::/, '');
    if (builtin === 'String') return { kind: 'String' };
    if (builtin === 'Long') return { kind: 'Long' };
    if (builtin === 'Bool' || builtin === 'Boolean') return { kind: 'Bool' };
    return { kind: 'Extension', name: builtin };
  };
  const toTy = (ns: string, t: unknown): Ty => {
    const o = obj(t);
    const kind = String(o.type);
    switch (kind) {
      case 'String':
        return { kind: 'String' };
      case 'Long':
        return { kind: 'Long' };
      case 'Boolean':
        return { kind: 'Bool' };
      case 'Set':
        return { kind: 'Set', element: toTy(ns, o.element) };
      case 'Record': {
        const attrs = new Map<string, Attr>();
        for (const [name, a] of Object.entries(obj(o.attributes))) {
          attrs.set(name, { ty: toTy(ns, a), required: obj(a).required !== false });
        }
        return { kind: 'Record', attrs };
      }
      case 'Entity':
      case 'EntityOrCommon':
        return resolve(ns, String(o.name));
      case 'Extension':
        return { kind: 'Extension', name: String(o.name) };
      default:
        return resolve(ns, kind);
    }
  };
  const entityTypes = new Map<string, EntityTypeModel>();
  for (const [ns, body] of Object.entries(root)) {
    for (const [name, decl] of Object.entries(obj(obj(body).entityTypes))) {
      const shape = obj(decl).shape === undefined ? undefined : toTy(ns, obj(decl).shape);
      entityTypes.set(qualifiedIn(ns, name), {
        name: qualifiedIn(ns, name),
        memberOf: ((obj(decl).memberOfTypes as string[] | undefined) ?? []).map((t) => {
          const r = resolve(ns, t);
          return r.kind === 'Entity' ? r.name : t;
        }),
        attrs: shape?.kind === 'Record' ? shape.attrs : new Map(),
      });
    }
  }
  const actions = new Map<string, ActionModel>();
  for (const [id, decl] of Object.entries(obj(obj(root[namespace]).actions))) {
    const appliesTo = obj(obj(decl).appliesTo);
    const types = (list: unknown): string[] =>
      ((list as string[] | undefined) ?? []).map((t) => {
        const r = resolve(namespace, t);
        return r.kind === 'Entity' ? r.name : t;
      });
    const principals = types(appliesTo.principalTypes);
    const resources = types(appliesTo.resourceTypes);
    const context = appliesTo.context === undefined ? undefined : toTy(namespace, appliesTo.context);
    actions.set(id, {
      id,
      memberOf: ((obj(decl).memberOf as Array<{ id: string }> | undefined) ?? []).map((m) => m.id),
      applies: principals.length > 0 && resources.length > 0,
      principals,
      resources,
      context: context?.kind === 'Record' ? context : { kind: 'Record', attrs: new Map() },
    });
  }
  return { namespace, entityTypes, actions };
}

/** The action itself and its groups, transitively. */
export function actionAncestors(model: SchemaModel, id: string): Set<string> {
  const seen = new Set<string>();
  const stack = [id];
  while (stack.length > 0) {
    const a = stack.pop() as string;
    if (seen.has(a)) continue;
    seen.add(a);
    stack.push(...(model.actions.get(a)?.memberOf ?? []));
  }
  return seen;
}

function tyEquals(a: Ty, b: Ty): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'Set':
      return tyEquals(a.element, (b as { element: Ty }).element);
    case 'Entity':
    case 'Extension':
      return a.name === (b as { name: string }).name;
    case 'Record': {
      const other = (b as RecordTy).attrs;
      if (a.attrs.size !== other.size) return false;
      for (const [k, x] of a.attrs) {
        const y = other.get(k);
        if (!y || y.required !== x.required || !tyEquals(x.ty, y.ty)) return false;
      }
      return true;
    }
    default:
      return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Request values

export interface Pools {
  /** Entity ids (policies name entities with these too). */
  ids: readonly string[];
  strings: readonly string[];
  longs: readonly number[];
}

/** A property of that name on a plain object, even `__proto__`. */
function put(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** An entity reference in one of the JSON forms Cedar accepts where the schema expects an entity. */
export function entityRef(rng: Rng, type: string, id: string): unknown {
  return rng.weighted<() => unknown>([
    [8, () => ({ __entity: { type, id } })],
    [1, () => ({ type, id })],
    [0.5, () => ({ __entity: { type, id, extra: 'x' } })],
    [0.5, () => ({ __entity: { type, id }, extra: 1 })],
  ])();
}

/** A value of type `ty` (entities in any of the forms Cedar accepts). */
export function validValue(rng: Rng, ty: Ty, pools: Pools): unknown {
  switch (ty.kind) {
    case 'String':
      return rng.common(pools.strings);
    case 'Long':
      return rng.common(pools.longs);
    case 'Bool':
      return rng.chance(0.5);
    case 'Set': {
      const n = rng.weighted([
        [2, 0],
        [3, 1],
        [3, 2],
        [1, 3],
      ]);
      return Array.from({ length: n }, () => validValue(rng, ty.element, pools));
    }
    case 'Record': {
      const out: Record<string, unknown> = {};
      for (const [name, attr] of rng.shuffle([...ty.attrs])) {
        if (!attr.required && rng.chance(0.4)) continue;
        put(out, name, validValue(rng, attr.ty, pools));
      }
      return out;
    }
    case 'Entity':
      return entityRef(rng, ty.name, rng.common(pools.ids));
    case 'Extension':
      return { __extn: { fn: ty.name, arg: ty.name === 'decimal' ? rng.pick(['1.0', '2.5', '-0.0001']) : '10.0.0.1' } };
  }
}

const LONE_SURROGATES = ['\uD800', 'a\uDC00', '\uDBFF\uDBFF'];

/** A replacement for a value of type `ty`: mostly of another type, sometimes not a Cedar value at all. */
export function wrongValue(rng: Rng, ty: Ty, model: SchemaModel, pools: Pools): unknown {
  const entityTypes = [...model.entityTypes.keys()];
  const someEntity = ty.kind === 'Entity' ? ty.name : rng.pick(entityTypes);
  const unqualified = someEntity.split('::').pop() as string;
  return rng.weighted<() => unknown>([
    [1, () => rng.pick(['true', 'false', '1', '', 'x'])],
    [1, () => rng.pick([0, 1, -1, 42])],
    [1, () => rng.chance(0.5)],
    [1, () => []],
    [0.5, () => [rng.pick(pools.strings), 1]],
    [1, () => ({ a: 1 })],
    [0.5, () => ({ nested: { a: [1, 'x'] } })],
    [1, () => ({ __entity: { type: rng.pick(entityTypes), id: rng.pick(pools.ids) } })],
    [0.5, () => ({ __entity: { type: someEntity, id: rng.pick(pools.ids) } })],
    [0.5, () => ({ __entity: { type: unqualified, id: 'alice' } })],
    [0.3, () => ({ __entity: { type: `${someEntity} `, id: 'alice' } })],
    [0.3, () => ({ __entity: { type: someEntity, id: 5 } })],
    [0.3, () => ({ __entity: { type: someEntity } })],
    [0.3, () => ({ __entity: 'alice' })],
    [0.5, () => ({ type: someEntity, id: rng.pick(pools.ids) })],
    [0.3, () => ({ type: someEntity, id: 'alice', __entity: 5 })],
    [0.3, () => ({ type: unqualified, id: 'alice' })],
    [0.5, () => ({ __extn: { fn: 'decimal', arg: '1.0' } })],
    [0.3, () => ({ __extn: { fn: 'ip', arg: '10.0.0.1' } })],
    [0.2, () => ({ __expr: 'true' })],
    // Not Cedar values: the engine refuses them before either evaluator.
    [0.3, () => 1.5],
    [0.2, () => null],
    [0.1, () => undefined],
    [0.1, () => new Date(0)],
    [0.1, () => Number.NaN],
    [0.1, () => 2 ** 53],
    [0.1, () => -0],
  ])();
}

function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) put(out, k, clone(x));
    return out;
  }
  return v;
}

const EXTRA_KEYS = ['extra', 'toString', '__proto__', 'constructor', 'hasOwnProperty', '', 'A', 'a b'];

/** A copy of a valid value with one thing wrong (or, rarely, still right) somewhere inside. */
export function mutate(rng: Rng, value: unknown, ty: Ty, model: SchemaModel, pools: Pools): unknown {
  const v = clone(value);
  if (ty.kind === 'Record' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const rec = v as Record<string, unknown>;
    const present = Object.keys(rec);
    const choice = rng.weighted<string>([
      [present.length > 0 ? 3 : 0, 'descend'],
      [present.length > 0 ? 1 : 0, 'drop'],
      [1, 'extra'],
      [0.3, 'replace'],
    ]);
    if (choice === 'descend') {
      const key = rng.pick(present);
      const attr = ty.attrs.get(key);
      put(rec, key, attr ? mutate(rng, rec[key], attr.ty, model, pools) : wrongValue(rng, ty, model, pools));
    } else if (choice === 'drop') {
      delete rec[rng.pick(present)];
    } else if (choice === 'extra') {
      put(rec, rng.pick(EXTRA_KEYS), rng.chance(0.7) ? rng.pick(pools.strings) : wrongValue(rng, ty, model, pools));
    } else {
      return wrongValue(rng, ty, model, pools);
    }
    return rec;
  }
  if (ty.kind === 'Set' && Array.isArray(v)) {
    if (v.length > 0 && rng.chance(0.6)) {
      const i = rng.int(v.length);
      v[i] = mutate(rng, v[i], ty.element, model, pools);
      return v;
    }
    if (rng.chance(0.5)) return [...v, wrongValue(rng, ty.element, model, pools)];
    return wrongValue(rng, ty, model, pools);
  }
  if (ty.kind === 'String' && rng.chance(0.1)) return rng.pick(LONE_SURROGATES);
  return wrongValue(rng, ty, model, pools);
}

export interface FuzzRequest {
  principal: { type: string; id: string };
  action: string;
  resource: { type: string; id: string };
  context: Record<string, unknown>;
}

export interface RequestOptions {
  /** Actions the schema does not declare (or spells otherwise). */
  unknownActions: readonly string[];
  /** Entity type names the schema does not declare, as a request might write them. */
  junkTypes: readonly string[];
  /** Probability that the context has something wrong with it. */
  mutateContext: number;
  /** Probability that a principal or resource id is a lone surrogate (not a Unicode string). */
  loneSurrogateIds: number;
  /** The actions requests name (else any the schema declares, and unknown ones). */
  actions?: readonly string[];
  /** Weight of an undeclared principal or resource type (default 0.5 against 20 for a right one). */
  junkTypeWeight?: number;
}

/** How a request may write an entity type: `Trading::X` types also unqualified (the engine qualifies them). */
function spellType(rng: Rng, type: string, namespace: string): string {
  const prefix = `${namespace}::`;
  if (type.startsWith(prefix) && !type.slice(prefix.length).includes('::') && rng.chance(0.5)) {
    return type.slice(prefix.length);
  }
  return type;
}

/**
 * A request: mostly a declared action, principal and resource of types it applies to, and a valid
 * context; sometimes a group or an unknown action, another or an undeclared type, another action's
 * context, or a context with one thing wrong (see mutate).
 */
export function randomRequest(rng: Rng, model: SchemaModel, pools: Pools, options: RequestOptions): FuzzRequest {
  const only = options.actions;
  const declared = [...model.actions.values()].filter((a) => only === undefined || only.includes(a.id));
  const applicable = declared.filter((a) => a.applies);
  const action = rng.weighted<() => ActionModel | string>([
    [18, () => rng.pick(applicable)],
    [1, () => rng.pick(declared)],
    [only === undefined ? 0.6 : 0, () => rng.pick(options.unknownActions)],
  ])();
  const chosen = typeof action === 'string' ? undefined : action;
  const allTypes = [...model.entityTypes.keys()];
  const entity = (types: readonly string[]): { type: string; id: string } => {
    const type = rng.weighted<() => string>([
      [types.length > 0 ? 20 : 0, () => spellType(rng, rng.pick(types), model.namespace)],
      [1, () => spellType(rng, rng.pick(allTypes), model.namespace)],
      [options.junkTypeWeight ?? 0.5, () => rng.pick(options.junkTypes)],
    ])();
    const id = rng.chance(options.loneSurrogateIds) ? rng.pick(LONE_SURROGATES) : rng.common(pools.ids);
    return { type, id };
  };
  const principal = entity(chosen?.principals ?? []);
  const resource = entity(chosen?.resources ?? []);
  // Mostly the action's own context; sometimes another action's (valid there, maybe not here).
  const shape = rng.chance(0.95) || applicable.length === 0 ? chosen?.context : rng.pick(applicable).context;
  const ctxType: RecordTy = shape ?? { kind: 'Record', attrs: new Map() };
  let context = validValue(rng, ctxType, pools) as Record<string, unknown>;
  if (rng.chance(options.mutateContext)) {
    const mutated = mutate(rng, context, ctxType, model, pools);
    // The context stays an object (an array or a string would only test the type signature); a
    // Date replacing it is kept: a JavaScript caller could pass one.
    context =
      typeof mutated === 'object' && mutated !== null && !Array.isArray(mutated)
        ? (mutated as Record<string, unknown>)
        : context;
  }
  return { principal, action: typeof action === 'string' ? action : action.id, resource, context };
}

// ---------------------------------------------------------------------------------------------
// Policies

const RESERVED = new Set([
  'true',
  'false',
  'if',
  'then',
  'else',
  'in',
  'is',
  'like',
  'has',
  'principal',
  'action',
  'resource',
  'context',
]);
const isIdent = (s: string): boolean =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !RESERVED.has(s) && !s.startsWith('__cedar');

/** A Cedar string literal (escapes and `\u{..}` chosen at random: the text differs, the value not). */
export function cedarString(rng: Rng, s: string, star = false): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '*' && star) out += '\\*';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\0') out += '\\0';
    else if (cp < 0x20 || (cp > 0x7e && rng.chance(0.5))) out += `\\u{${cp.toString(16)}}`;
    else out += ch;
  }
  return `"${out}"`;
}

/**
 * The ids a policy may name: the validator warns about (and the engine refuses) an entity id with
 * a character outside the General Security Profile (an emoji, a control character).
 */
const literalIds = (pools: Pools): string[] => pools.ids.filter((id) => /^[\x20-\x7e\u00c0-\u024f]*$/u.test(id));

interface Path {
  text: string;
  ty: Ty;
  /** `has` tests that must hold before the path can be read. */
  guards: string[];
}

interface Scope {
  actions: ActionModel[];
  principals: string[];
  resources: string[];
}

const STRING_T: Ty = { kind: 'String' };
const LONG_T: Ty = { kind: 'Long' };
const BOOL_T: Ty = { kind: 'Bool' };

/** Context attributes every request of the scope has (or may have: then optional), with one type. */
function mergedContext(actions: readonly ActionModel[]): RecordTy {
  const attrs = new Map<string, Attr>();
  const names = new Set(actions.flatMap((a) => [...a.context.attrs.keys()]));
  for (const name of names) {
    const decls = actions.map((a) => a.context.attrs.get(name));
    const present = decls.filter((d): d is Attr => d !== undefined);
    const first = present[0] as Attr;
    if (!present.every((d) => tyEquals(d.ty, first.ty))) continue;
    attrs.set(name, { ty: first.ty, required: decls.every((d) => d?.required === true) });
  }
  return { kind: 'Record', attrs };
}

class PolicyWriter {
  private readonly paths: Path[];
  private readonly entityTypes: string[];
  private readonly actionType: string;
  constructor(
    private readonly rng: Rng,
    private readonly model: SchemaModel,
    private readonly pools: Pools,
    private readonly scope: Scope,
    private readonly patterns: readonly string[],
  ) {
    this.paths = [];
    this.walk('context', mergedContext(scope.actions), []);
    this.entityTypes = [...model.entityTypes.keys()];
    this.actionType = `${model.namespace}::Action`;
  }

  private access(prefix: string, name: string): string {
    return isIdent(name) && this.rng.chance(0.85) ? `${prefix}.${name}` : `${prefix}[${cedarString(this.rng, name)}]`;
  }

  private hasName(name: string): string {
    return isIdent(name) && this.rng.chance(0.85) ? name : cedarString(this.rng, name);
  }

  private walk(prefix: string, rec: RecordTy, guards: string[]): void {
    for (const [name, attr] of rec.attrs) {
      const text = this.access(prefix, name);
      const g = attr.required ? guards : [...guards, `${prefix} has ${this.hasName(name)}`];
      this.paths.push({ text, ty: attr.ty, guards: g });
      if (attr.ty.kind === 'Record') this.walk(text, attr.ty, g);
    }
  }

  private pathsOf(ty: Ty): Path[] {
    return this.paths.filter((p) => tyEquals(p.ty, ty));
  }

  /** A read of the path, guarded by an `if` when it may be absent. */
  private read(p: Path, depth: number): string {
    if (p.guards.length === 0) return p.text;
    return `(if ${p.guards.join(' && ')} then ${p.text} else ${this.expr(p.ty, depth - 1)})`;
  }

  entityLiteral(type: string, id?: string): string {
    if (type === this.actionType && id === undefined) return this.actionLiteral();
    return `${type}::${cedarString(this.rng, id ?? this.rng.common(literalIds(this.pools)))}`;
  }

  /** An action: mostly one the scope names (or a group of one), sometimes any. */
  private actionLiteral(id?: string): string {
    const named = [...new Set(this.scope.actions.flatMap((a) => [...actionAncestors(this.model, a.id)]))];
    const all = [...this.model.actions.keys()];
    const pick = named.length > 0 && this.rng.chance(0.85) ? this.rng.pick(named) : this.rng.pick(all);
    return `${this.actionType}::${cedarString(this.rng, id ?? pick)}`;
  }

  literal(ty: Ty): string {
    switch (ty.kind) {
      case 'String':
        return cedarString(this.rng, this.rng.common(this.pools.strings));
      case 'Long':
        return String(this.rng.common(this.pools.longs));
      case 'Bool':
        return this.rng.chance(0.5) ? 'true' : 'false';
      case 'Set':
        // Empty set literals are not allowed by the validator.
        return `[${Array.from({ length: 1 + this.rng.int(3) }, () => this.literal(ty.element)).join(', ')}]`;
      case 'Record':
        return `{${this.rng
          .shuffle([...ty.attrs].filter(([, a]) => a.required))
          .map(([k, a]) => `${isIdent(k) ? k : cedarString(this.rng, k)}: ${this.literal(a.ty)}`)
          .join(', ')}}`;
      case 'Entity':
        return this.entityLiteral(ty.name);
      case 'Extension':
        throw new Error('no extension literals here');
    }
  }

  /**
   * An operand of a comparison: mostly read from the context (two literals compare to a constant,
   * which the validator types as True or False and then may find the policy impossible).
   */
  private operand(ty: Ty, depth: number): string {
    const paths = this.pathsOf(ty);
    return paths.length > 0 && this.rng.chance(0.6) ? this.read(this.rng.pick(paths), depth) : this.expr(ty, depth);
  }

  /** An expression of type `ty`. */
  expr(ty: Ty, depth: number): string {
    if (ty.kind === 'Bool') return this.bool(depth);
    const paths = this.pathsOf(ty);
    const deep = depth > 0;
    const choice = this.rng.weighted<string>([
      [3, 'literal'],
      [paths.length > 0 ? 4 : 0, 'path'],
      [deep ? 0.6 : 0, 'if'],
      [deep && ty.kind !== 'Record' ? 0.4 : 0, 'record-attr'],
      [deep && ty.kind === 'Set' ? 1 : 0, 'set-of-exprs'],
      [deep && ty.kind === 'Entity' ? 3 : 0, 'variable'],
    ]);
    switch (choice) {
      case 'path':
        return this.read(this.rng.pick(paths), depth);
      case 'if':
        return `(if ${this.bool(depth - 1)} then ${this.expr(ty, depth - 1)} else ${this.expr(ty, depth - 1)})`;
      case 'record-attr': {
        const other = this.rng.pick([STRING_T, LONG_T, BOOL_T]);
        return this.rng.chance(0.5)
          ? `{k: ${this.expr(ty, depth - 1)}, "o t": ${this.expr(other, 0)}}.k`
          : `{"o t": ${this.expr(other, 0)}, "k k": ${this.expr(ty, depth - 1)}}["k k"]`;
      }
      case 'set-of-exprs':
        if (ty.kind !== 'Set') break;
        return `[${Array.from({ length: 1 + this.rng.int(3) }, () => this.expr(ty.element, depth - 1)).join(', ')}]`;
      case 'variable': {
        if (ty.kind !== 'Entity') break;
        // Only where the variable has that type in every request (a set of one entity type cannot hold another).
        const only = (types: readonly string[]) => types.length > 0 && types.every((t) => t === ty.name);
        const vars = [
          ...(only(this.scope.principals) ? ['principal'] : []),
          ...(only(this.scope.resources) ? ['resource'] : []),
          ...(ty.name === this.actionType ? ['action'] : []),
        ];
        if (vars.length > 0) return this.rng.pick(vars);
        break;
      }
    }
    return this.literal(ty);
  }

  /** An entity-valued expression and the types it may have. */
  private entity(depth: number): { text: string; types: string[] } {
    const owners = this.paths.filter((p) => p.ty.kind === 'Entity');
    return this.rng.weighted<() => { text: string; types: string[] }>([
      [4, () => ({ text: 'principal', types: this.scope.principals })],
      [3, () => ({ text: 'resource', types: this.scope.resources })],
      [1, () => ({ text: 'action', types: [this.actionType] })],
      [
        owners.length > 0 ? 3 : 0,
        () => {
          const p = this.rng.pick(owners);
          return { text: this.read(p, depth), types: [(p.ty as { name: string }).name] };
        },
      ],
      [
        1,
        () => {
          const type = this.rng.pick(this.entityTypes);
          return { text: this.entityLiteral(type), types: [type] };
        },
      ],
    ])();
  }

  /** A type the entity `types` may be compared with: mostly one of its own, sometimes any. */
  private relatedType(types: readonly string[], ancestors: boolean): string {
    const related = new Set(types);
    if (ancestors) for (const t of types) for (const m of this.model.entityTypes.get(t)?.memberOf ?? []) related.add(m);
    const list = [...related];
    return list.length > 0 && this.rng.chance(0.94) ? this.rng.pick(list) : this.rng.pick(this.entityTypes);
  }

  private pattern(): string {
    const parts = Array.from({ length: 1 + this.rng.int(4) }, () =>
      this.rng.chance(0.35) ? '*' : `L${this.rng.pick(this.patterns)}`,
    );
    let out = '';
    for (const part of parts) {
      if (part === '*') out += '*';
      else {
        const lit = cedarString(this.rng, part.slice(1), true);
        out += lit.slice(1, -1);
      }
    }
    // A literal star may also be written \u{2a}: Cedar decides which it is, the EST says.
    if (this.rng.chance(0.05)) out += '\\u{2a}';
    return `"${out}"`;
  }

  private scalarType(): Ty {
    return this.rng.pick([STRING_T, LONG_T, BOOL_T]);
  }

  private setElementType(): Ty {
    const sets = this.paths.filter((p) => p.ty.kind === 'Set').map((p) => (p.ty as { element: Ty }).element);
    // Element types of literal-only sets: entities of a type (actions too), records.
    const entity: Ty = { kind: 'Entity', name: this.rng.pick([...this.entityTypes, this.actionType]) };
    const record: Ty = {
      kind: 'Record',
      attrs: new Map([
        ['a', { ty: LONG_T, required: true }],
        ['b b', { ty: STRING_T, required: true }],
      ]),
    };
    return this.rng.weighted<Ty>([
      [sets.length > 0 ? 7 : 0, sets.length > 0 ? this.rng.pick(sets) : STRING_T],
      [2, this.rng.pick([STRING_T, LONG_T])],
      [0.7, entity],
      [0.3, record],
    ]);
  }

  /** A Bool expression. */
  bool(depth: number): string {
    const boolPaths = this.pathsOf(BOOL_T);
    const optional = this.paths.filter((p) => p.guards.length > 0);
    const deep = depth > 0;
    const kind = this.rng.weighted<string>([
      [0.4, 'literal'],
      [boolPaths.length > 0 ? 2 : 0, 'path'],
      [1.5, 'has'],
      [1.5, 'is'],
      [deep ? 3 : 0, 'and'],
      [deep ? 3 : 0, 'or'],
      [deep ? 1 : 0, 'not'],
      [deep ? 0.7 : 0, 'if'],
      [deep ? 3 : 0, 'eq-scalar'],
      [deep ? 2.5 : 0, 'eq-entity'],
      [deep ? 1 : 0, 'eq-set'],
      [deep ? 1.5 : 0, 'eq-record'],
      [deep ? 2.5 : 0, 'compare'],
      [deep ? 2 : 0, 'like'],
      [deep ? 3 : 0, 'in'],
      [deep ? 1 : 0, 'action'],
      [deep ? 3 : 0, 'set-op'],
      [deep && optional.length > 0 ? 3 : 0, 'guarded'],
      [deep ? 0.1 : 0, 'entity-attr'],
      [deep ? 0.5 : 0, 'short-circuit'],
      [deep ? 0.06 : 0, 'mixed-eq'],
    ]);
    const d = depth - 1;
    const eqOp = () => (this.rng.chance(0.75) ? '==' : '!=');
    switch (kind) {
      case 'path':
        return this.read(this.rng.pick(boolPaths), depth);
      case 'has':
        return this.has();
      case 'is': {
        const e = this.entity(d);
        const type = this.relatedType(e.types, false);
        if (this.rng.chance(0.3)) {
          const within = this.rng.weighted<() => string>([
            [5, () => this.entityLiteral(this.relatedType([type], true))],
            [2, () => this.entity(d).text],
            [
              1,
              () => {
                const t = this.relatedType([type], true);
                return `[${this.entityLiteral(t)}, ${this.entityLiteral(t)}]`;
              },
            ],
          ])();
          return `(${e.text} is ${type} in ${within})`;
        }
        return `(${e.text} is ${type})`;
      }
      case 'and':
        return `(${this.bool(d)} && ${this.bool(d)})`;
      case 'or':
        return `(${this.bool(d)} || ${this.bool(d)})`;
      case 'not':
        return `!${this.bool(d)}`;
      case 'if':
        return `(if ${this.bool(d)} then ${this.bool(d)} else ${this.bool(d)})`;
      case 'eq-scalar': {
        const ty = this.scalarType();
        return `(${this.operand(ty, d)} ${eqOp()} ${this.expr(ty, d)})`;
      }
      case 'eq-entity': {
        const e = this.entity(d);
        const other =
          this.rng.chance(0.6) || e.types.length === 0
            ? this.entityLiteral(this.relatedType(e.types, false))
            : this.entity(d).text;
        return `(${e.text} ${eqOp()} ${other})`;
      }
      case 'eq-set': {
        const el = this.setElementType();
        const ty: Ty = { kind: 'Set', element: el };
        return `(${this.operand(ty, d)} ${eqOp()} ${this.expr(ty, d)})`;
      }
      case 'eq-record':
        return this.recordEquality(d);
      case 'compare':
        return `(${this.operand(LONG_T, d)} ${this.rng.pick(['<', '<=', '>', '>='])} ${this.expr(LONG_T, d)})`;
      case 'like':
        return `(${this.operand(STRING_T, d)} like ${this.pattern()})`;
      case 'in':
        return this.inExpr(d);
      case 'action':
        return this.actionTest();
      case 'set-op': {
        const el = this.setElementType();
        const set = this.operand({ kind: 'Set', element: el }, d);
        return this.rng.weighted<() => string>([
          [3, () => `${this.paren(set)}.contains(${this.expr(el, d)})`],
          [2, () => `${this.paren(set)}.containsAll(${this.expr({ kind: 'Set', element: el }, d)})`],
          [2, () => `${this.paren(set)}.containsAny(${this.expr({ kind: 'Set', element: el }, d)})`],
          [1, () => `${this.paren(set)}.isEmpty()`],
        ])();
      }
      case 'guarded': {
        const p = this.rng.pick(optional);
        return `(${p.guards.join(' && ')} && ${this.about(p, d)})`;
      }
      case 'entity-attr':
        return this.entityAttr(d);
      case 'short-circuit': {
        // What is not evaluated cannot err: the right of && and ||, the branch not taken.
        const b = this.bool(d);
        const e = this.entityAttr(d);
        return this.rng.pick([`(${b} || ${e})`, `(${b} && ${e})`, `(if ${b} then ${e} else ${this.bool(d)})`]);
      }
      case 'mixed-eq': {
        const [a, b] = this.rng.shuffle([STRING_T, LONG_T, BOOL_T]).slice(0, 2) as [Ty, Ty];
        return `(${this.expr(a, d)} == ${this.expr(b, d)})`;
      }
    }
    return this.rng.chance(0.5) ? 'true' : 'false';
  }

  /**
   * A test whose value depends on the request (never a constant to the validator): `atom || x` is
   * never False, `atom && x` never True, so a `when` or `unless` built so is not "impossible".
   */
  atom(): string {
    const plain = (ty: Ty) => this.paths.filter((p) => p.guards.length === 0 && tyEquals(p.ty, ty));
    const bools = plain(BOOL_T);
    const longs = plain(LONG_T);
    const strings = plain(STRING_T);
    const vars = [
      ...(this.scope.principals.length > 0 ? ['principal'] : []),
      ...(this.scope.resources.length > 0 ? ['resource'] : []),
    ];
    return this.rng.weighted<() => string>([
      [bools.length > 0 ? 2 : 0, () => this.rng.pick(bools).text],
      [
        longs.length > 0 ? 1 : 0,
        () => `(${this.rng.pick(longs).text} ${this.rng.pick(['<', '<=', '>', '>='])} ${this.literal(LONG_T)})`,
      ],
      [strings.length > 0 ? 1 : 0, () => `(${this.rng.pick(strings).text} like ${this.pattern()})`],
      [
        vars.length > 0 ? 1 : 0,
        () => {
          const v = this.rng.pick(vars);
          const types = v === 'principal' ? this.scope.principals : this.scope.resources;
          return `(${v} == ${this.entityLiteral(this.rng.pick(types))})`;
        },
      ],
      [0.01, () => 'true'],
    ])();
  }

  private paren(text: string): string {
    return /^[A-Za-z_[({"]/.test(text) && !text.includes(' ') ? text : `(${text})`;
  }

  /** A test of an optional path's value (the caller guards it). */
  private about(p: Path, depth: number): string {
    switch (p.ty.kind) {
      case 'Long':
        return `${p.text} ${this.rng.pick(['<', '<=', '>', '>=', '==', '!='])} ${this.expr(LONG_T, depth)}`;
      case 'String':
        return this.rng.chance(0.5) ? `${p.text} like ${this.pattern()}` : `${p.text} == ${this.expr(STRING_T, depth)}`;
      case 'Bool':
        return p.text;
      case 'Set':
        return `${p.text}.contains(${this.expr(p.ty.element, depth)})`;
      case 'Entity':
        return `${p.text} == ${this.entityLiteral(p.ty.name)}`;
      case 'Record': {
        const names = [...p.ty.attrs.keys()];
        return names.length > 0 ? `${p.text} has ${this.hasName(this.rng.pick(names))}` : 'true';
      }
      case 'Extension':
        return 'true';
    }
  }

  private has(): string {
    const records = this.paths.filter((p) => p.ty.kind === 'Record' && p.guards.length === 0);
    const owners = this.paths.filter((p) => p.ty.kind === 'Entity' && p.guards.length === 0);
    // `has` of a required attribute is True to the validator, of an undeclared one False: mostly optional ones.
    const optionalNames = this.paths
      .filter((p) => p.guards.length === 1 && p.text.startsWith('context') && !p.text.slice(7).match(/[.[]/))
      .map((p) => p.guards[0] as string);
    const ctxNames = [...new Set(this.scope.actions.flatMap((a) => [...a.context.attrs.keys()]))];
    const otherNames = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'zzz', 'a b'];
    return this.rng.weighted<() => string>([
      [optionalNames.length > 0 ? 4 : 0, () => `(${this.rng.pick(optionalNames)})`],
      [
        1,
        () =>
          `(context has ${this.hasName(this.rng.chance(0.7) && ctxNames.length > 0 ? this.rng.pick(ctxNames) : this.rng.pick(otherNames))})`,
      ],
      [
        records.length > 0 ? 2 : 0,
        () => {
          const r = this.rng.pick(records);
          const names = [...(r.ty as RecordTy).attrs.keys()];
          return `(${r.text} has ${this.hasName(names.length > 0 && this.rng.chance(0.8) ? this.rng.pick(names) : 'zzz')})`;
        },
      ],
      [1, () => `(${this.rng.pick(['principal', 'resource'])} has ${this.entityAttrName()})`],
      [owners.length > 0 ? 1 : 0, () => `(${this.rng.pick(owners).text} has ${this.entityAttrName()})`],
      [0.3, () => `({a: 1, "b c": "x"} has ${this.hasName(this.rng.pick(['a', 'b c', 'b', 'toString']))})`],
    ])();
  }

  private entityAttrName(): string {
    const names = [...new Set([...this.model.entityTypes.values()].flatMap((t) => [...t.attrs.keys()]))];
    return this.hasName(names.length > 0 ? this.rng.pick(names) : 'zzz');
  }

  /** Entity attributes: there is no entity store, so reading one errs (`has` is false). */
  private entityAttr(depth: number): string {
    const withAttrs = [...this.model.entityTypes.values()].filter((t) => t.attrs.size > 0);
    if (withAttrs.length === 0) return 'true';
    const t = this.rng.pick(withAttrs);
    const [name, attr] = this.rng.pick([...t.attrs]);
    const owner = this.paths.find(
      (p) => p.ty.kind === 'Entity' && (p.ty as { name: string }).name === t.name && p.guards.length === 0,
    );
    const subject = owner && this.rng.chance(0.5) ? owner.text : 'principal';
    const read = this.access(subject, name);
    const test =
      attr.ty.kind === 'Long' ? `${read} > ${this.expr(LONG_T, depth)}` : `${read} == ${this.expr(attr.ty, depth)}`;
    if (subject === 'principal') {
      const guard =
        attr.required && this.rng.chance(0.5) ? `principal is ${t.name}` : `principal has ${this.hasName(name)}`;
      return `(${guard} && ${test})`;
    }
    return attr.required && this.rng.chance(0.6) ? `(${test})` : `(${subject} has ${this.hasName(name)} && ${test})`;
  }

  private recordEquality(depth: number): string {
    const closed = this.paths.filter(
      (p) => p.ty.kind === 'Record' && [...(p.ty as RecordTy).attrs.values()].every((a) => a.required),
    );
    const any = this.paths.filter((p) => p.ty.kind === 'Record');
    const op = this.rng.chance(0.75) ? '==' : '!=';
    return this.rng.weighted<() => string>([
      [
        closed.length > 0 ? 3 : 0,
        () => {
          const p = this.rng.pick(closed);
          return `(${this.read(p, depth)} ${op} ${this.literal(p.ty)})`;
        },
      ],
      [
        any.length > 0 ? 2 : 0,
        () => {
          // Two records of one type (with optional attributes: the same keys or not), mostly two different ones.
          const paired = any.filter((p) => any.some((q) => q !== p && tyEquals(q.ty, p.ty)));
          const p = this.rng.pick(paired.length > 0 && this.rng.chance(0.8) ? paired : any);
          const same = any.filter((q) => tyEquals(q.ty, p.ty));
          const others = same.filter((q) => q !== p);
          const q = this.rng.pick(others.length > 0 && this.rng.chance(0.8) ? others : same);
          const r = this.rng.pick(same);
          return `(${this.read(p, depth)} ${op} (if ${this.bool(depth - 1)} then ${this.read(q, depth)} else ${this.read(r, depth)}))`;
        },
      ],
      [
        2,
        () => {
          const a = this.expr(LONG_T, depth - 1);
          const b = this.expr(STRING_T, depth - 1);
          const c = this.expr(LONG_T, depth - 1);
          const e = this.expr(STRING_T, depth - 1);
          return this.rng.chance(0.5)
            ? `({n: ${a}, "s s": ${b}} ${op} {"s s": ${e}, n: ${c}})`
            : `({n: ${a}, m: {x: ${b}}} ${op} {m: {x: ${e}}, n: ${c}})`;
        },
      ],
      [0.3, () => `({} ${op} {})`],
    ])();
  }

  private inExpr(depth: number): string {
    const e = this.entity(depth);
    if (e.text === 'action') return this.actionTest();
    const rhs = this.rng.weighted<() => string>([
      [4, () => this.entityLiteral(this.relatedType(e.types, true))],
      [
        2,
        () => {
          const type = this.relatedType(e.types, true);
          return `[${Array.from({ length: 1 + this.rng.int(3) }, () => this.entityLiteral(type)).join(', ')}]`;
        },
      ],
      [1, () => this.entity(depth).text],
      [
        0.5,
        () => {
          const members = this.paths.filter(
            (p) => p.ty.kind === 'Set' && (p.ty as { element: Ty }).element.kind === 'Entity',
          );
          return members.length > 0
            ? this.read(this.rng.pick(members), depth)
            : this.entityLiteral(this.rng.pick(this.entityTypes));
        },
      ],
    ])();
    return `(${e.text} in ${rhs})`;
  }

  private actionTest(): string {
    return this.rng.weighted<() => string>([
      [2, () => `(action == ${this.actionLiteral()})`],
      [2, () => `(action in ${this.actionLiteral()})`],
      [2, () => `(action in [${Array.from({ length: 1 + this.rng.int(3) }, () => this.actionLiteral()).join(', ')}])`],
    ])();
  }
}

/**
 * A random condition (a Bool expression) for requests to `actions` (their principal, resource
 * and context types).
 */
export function randomCondition(
  rng: Rng,
  model: SchemaModel,
  pools: Pools,
  patterns: readonly string[],
  actions: readonly string[],
  depth: number,
): string {
  const named = [...model.actions.values()].filter((a) => actions.includes(a.id));
  const scope: Scope = {
    actions: named,
    principals: [...new Set(named.flatMap((a) => a.principals))],
    resources: [...new Set(named.flatMap((a) => a.resources))],
  };
  return new PolicyWriter(rng, model, pools, scope, patterns).bool(depth);
}

export interface PolicyOptions {
  /** Literal runs of `like` patterns (a `*` in one is a literal star, written `\*`). */
  patterns: readonly string[];
  /** Most policies per generated set. */
  maxPolicies: number;
}

/** A random policy (scope, conditions) for the schema, as Cedar text. */
export function randomPolicy(
  rng: Rng,
  model: SchemaModel,
  pools: Pools,
  options: PolicyOptions,
  annotation = '',
  effect: 'permit' | 'forbid' = rng.chance(0.7) ? 'permit' : 'forbid',
): string {
  const actionType = `${model.namespace}::Action`;
  const all = [...model.actions.values()];
  const applicable = all.filter((a) => a.applies);
  const groups = all.filter((a) => !a.applies);
  const lit = (id: string) => `${actionType}::${cedarString(rng, id)}`;
  // The action scope, and the actions it can name.
  let named: ActionModel[];
  let actionScope: string;
  const scopeKind = rng.weighted<string>([
    [2, 'all'],
    [3, 'eq'],
    [2, 'list'],
    [groups.length > 0 ? 2 : 0, 'group'],
  ]);
  if (scopeKind === 'eq') {
    const a = rng.pick(applicable);
    named = [a];
    actionScope = `action == ${lit(a.id)}`;
  } else if (scopeKind === 'list') {
    const ids = rng.shuffle(all).slice(0, 1 + rng.int(3));
    named = applicable.filter((a) => ids.some((g) => actionAncestors(model, a.id).has(g.id)));
    actionScope = `action in [${ids.map((a) => lit(a.id)).join(', ')}]`;
  } else if (scopeKind === 'group') {
    const g = rng.pick(groups);
    named = applicable.filter((a) => actionAncestors(model, a.id).has(g.id));
    actionScope = `action in ${lit(g.id)}`;
  } else {
    named = applicable;
    actionScope = 'action';
  }
  // Principal and resource scopes mostly fit one of the named actions (else the validator finds no
  // applicable action), and what they admit narrows the types the conditions see.
  const entityTypes = [...model.entityTypes.keys()];
  const anchor = named.length > 0 ? rng.pick(named) : undefined;
  const writer0 = new PolicyWriter(
    rng,
    model,
    pools,
    { actions: named, principals: [], resources: [] },
    options.patterns,
  );
  const descendants = (types: readonly string[], ancestor: string): string[] =>
    types.filter((t) => t === ancestor || (model.entityTypes.get(t)?.memberOf ?? []).includes(ancestor));
  const scopeOf = (
    v: 'principal' | 'resource',
    fits: readonly string[],
    all: string[],
  ): { text: string; types: string[] } => {
    const type = fits.length > 0 && rng.chance(0.99) ? rng.pick(fits) : rng.pick(entityTypes);
    const parent = rng.pick([type, ...(model.entityTypes.get(type)?.memberOf ?? [])]);
    const parentText = writer0.entityLiteral(parent);
    return rng.weighted<() => { text: string; types: string[] }>([
      [6, () => ({ text: v, types: all })],
      [1.5, () => ({ text: `${v} == ${writer0.entityLiteral(type)}`, types: [type] })],
      [1.5, () => ({ text: `${v} in ${parentText}`, types: descendants(all, parent) })],
      [2, () => ({ text: `${v} is ${type}`, types: [type] })],
      [1, () => ({ text: `${v} is ${type} in ${parentText}`, types: [type] })],
    ])();
  };
  const principal = scopeOf('principal', anchor?.principals ?? [], [...new Set(named.flatMap((a) => a.principals))]);
  const resource = scopeOf('resource', anchor?.resources ?? [], [...new Set(named.flatMap((a) => a.resources))]);
  const writer = new PolicyWriter(
    rng,
    model,
    pools,
    { actions: named, principals: principal.types, resources: resource.types },
    options.patterns,
  );
  const conditions = Array.from(
    {
      length: rng.weighted([
        [1, 0],
        [4, 1],
        [1, 2],
      ]),
    },
    () => {
      const when = rng.chance(0.7);
      const body = writer.bool(1 + rng.int(2));
      if (rng.chance(0.5)) return `${when ? 'when' : 'unless'} { ${body} }`;
      return when ? `when { ${writer.atom()} || ${body} }` : `unless { ${writer.atom()} && ${body} }`;
    },
  );
  return `${annotation}${effect} (\n  ${principal.text},\n  ${actionScope},\n  ${resource.text}\n)${conditions.map((c) => `\n${c}`).join('')};`;
}

export interface PolicySet {
  /** File name -> text, as loadPolicyEngine takes them. */
  files: Record<string, string>;
  /** Policy id (as the engine names them: the file; `<file>#<n>`; `<file>#<id>` for an @id) -> text. */
  byId: Record<string, string>;
}

/** Files of policies: some alone in a file, some several to a file, some with an @id. */
export function randomPolicySet(rng: Rng, model: SchemaModel, pools: Pools, options: PolicyOptions): PolicySet {
  const files: Record<string, string> = {};
  const byId: Record<string, string> = {};
  let left = 1 + rng.int(options.maxPolicies);
  // All permits (an allow names every permit that holds), all forbids (a deny names every forbid
  // that holds): each policy's own verdict shows in every answer. Or a mix.
  const mode = rng.weighted<'permit' | 'forbid' | 'mixed'>([
    [4, 'permit'],
    [2, 'forbid'],
    [4, 'mixed'],
  ]);
  const effect = (): 'permit' | 'forbid' => (mode === 'mixed' ? (rng.chance(0.7) ? 'permit' : 'forbid') : mode);
  for (let f = 0; left > 0; f++) {
    const n = Math.min(left, 1 + rng.int(3));
    left -= n;
    const file = `f${f}.cedar`;
    const policies = Array.from({ length: n }, (_, i) => {
      const annotated = n > 1 && rng.chance(0.3);
      const text = randomPolicy(rng, model, pools, options, annotated ? `@id("p-${i}")\n` : '', effect());
      byId[annotated ? `${file}#p-${i}` : n === 1 ? file : `${file}#${i + 1}`] = text;
      return text;
    });
    files[file] = `// generated\n${policies.join('\n\n')}\n`;
  }
  return { files, byId };
}
