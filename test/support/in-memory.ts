// In-memory implementations of the ports (functions/ports.ts) for unit tests of the core: no
// network, no DynamoDB. Each one behaves like its adapter (conditional writes, idempotent retries,
// pagination) and can be told to fail, so the core's failure paths can be driven deterministically.

import { clampLimit, decodePageToken, encodePageToken } from '../../functions/adapters/dynamodb-common.js';
import {
  locateKey as adapterLocateKey,
  restrictionKey as adapterRestrictionKey,
  normaliseTraderEntitlement,
} from '../../functions/adapters/dynamodb-reference-store.js';
import { AuditLog, type AuditLogOptions } from '../../functions/core/audit-chain.js';
import { TransientError, ValidationError } from '../../functions/core/errors.js';
import type {
  AccountRiskState,
  ApprovalRecord,
  AuditEvent,
  AuditRecord,
  FirmRiskSettings,
  LimitChange,
  Locate,
  OrderRecord,
  Position,
  Restriction,
  RiskCheck,
  RiskProfile,
  SecurityReference,
  TraderEntitlement,
  TradingHalt,
  TradingState,
} from '../../functions/core/model.js';
import { SimulatedVenue } from '../../functions/core/simulated-venue.js';
import { formatNs, normaliseTimestamp, parseNs } from '../../functions/core/time.js';
import type {
  AccountRiskStore,
  AppliedFill,
  ApprovalStore,
  ArchivePutOptions,
  AuditArchive,
  AuditIndex,
  AuditSink,
  ChainHead,
  Clock,
  CreateResult,
  ExecutionOutcome,
  OrderStore,
  Page,
  PositionStore,
  ReferenceStore,
  Venue,
  Workflow,
} from '../../functions/ports.js';

const clone = <T>(v: T): T => structuredClone(v);

/** An Error whose `name` is chosen by the test (AWS SDK errors are matched by name: TaskTimedOut...). */
export function namedError(name: string, message = name): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/** Pages `items` by offset; the token is the offset of the next page. */
function paginate<T>(items: readonly T[], limit: number, nextToken?: string): Page<T> {
  const start = nextToken === undefined ? 0 : Number(nextToken);
  const page = items.slice(start, start + limit);
  const next = start + limit;
  return next < items.length ? { items: page.map(clone), nextToken: String(next) } : { items: page.map(clone) };
}

// ---------------------------------------------------------------------------------------------
// Clock

export const T0 = '2026-01-02T14:30:00.000000000Z';

/**
 * A controllable clock. Every reading advances it by `stepNs` (1 us by default), so successive
 * readings are strictly ordered, as the system clock's are; set `stepNs` to 0n to freeze it.
 */
export class ManualClock implements Clock {
  private ns: bigint;
  readings = 0;

  constructor(
    start: string = T0,
    public stepNs = 1_000n,
  ) {
    this.ns = toNs(start);
  }

  nowNs(): bigint {
    this.readings += 1;
    const t = this.ns;
    this.ns += this.stepNs;
    return t;
  }

  /** The next reading, without taking it. */
  peek(): string {
    return formatNs(this.ns);
  }

  set(ts: string): void {
    this.ns = toNs(ts);
  }

  advanceSeconds(seconds: number): void {
    this.ns += BigInt(Math.round(seconds * 1e9));
  }

  advanceNs(ns: bigint): void {
    this.ns += ns;
  }
}

function toNs(ts: string): bigint {
  const ns = parseNs(ts);
  if (ns === undefined) throw new RangeError(`bad timestamp ${ts}`);
  return ns;
}

// ---------------------------------------------------------------------------------------------
// Orders

export class InMemoryOrderStore implements OrderStore {
  readonly records = new Map<string, OrderRecord>();
  readonly calls = { create: 0, get: 0, recordRisk: 0, recordExecution: 0 };

  async create(order: OrderRecord): Promise<CreateResult<OrderRecord>> {
    this.calls.create += 1;
    const existing = this.records.get(order.order_id);
    if (existing) return { created: false, existing: clone(existing) };
    this.records.set(order.order_id, clone(order));
    return { created: true, item: clone(order) };
  }

  async get(orderId: string): Promise<OrderRecord | undefined> {
    this.calls.get += 1;
    const r = this.records.get(orderId);
    return r ? clone(r) : undefined;
  }

  async recordRisk(orderId: string, risk: RiskCheck): Promise<RiskCheck> {
    this.calls.recordRisk += 1;
    const r = this.records.get(orderId);
    if (!r) throw new Error(`order ${orderId} not found`);
    if (r.risk) return clone(r.risk);
    r.risk = clone(risk);
    return clone(risk);
  }

  /** Same semantics as the DynamoDB adapter: one conditional write, explained on refusal. */
  async recordExecution(
    orderId: string,
    expected: { checkId: string; orderHash: string },
    execution: ExecutionOutcome,
  ): ReturnType<OrderStore['recordExecution']> {
    this.calls.recordExecution += 1;
    const r = this.records.get(orderId);
    if (!r) return { result: 'not_verified', reason: `order ${orderId} not found` };
    const risk = r.risk;
    if (r.execution) {
      if (risk?.check_id === expected.checkId && risk.order_hash === expected.orderHash) {
        return { result: 'duplicate', execution: clone(r.execution) };
      }
      return {
        result: 'not_verified',
        reason: `order already executed under risk check ${risk?.check_id ?? '(none)'}`,
      };
    }
    if (!risk) return { result: 'not_verified', reason: 'no risk decision recorded for the order' };
    if (risk.decision === 'rejected') return { result: 'not_verified', reason: 'risk decision is rejected' };
    if (risk.check_id !== expected.checkId) return { result: 'not_verified', reason: 'risk check id mismatch' };
    if (risk.order_hash !== expected.orderHash || r.order_hash !== expected.orderHash) {
      return { result: 'not_verified', reason: 'order content hash mismatch' };
    }
    r.execution = clone(execution);
    return { result: 'recorded', execution: clone(execution) };
  }
}

// ---------------------------------------------------------------------------------------------
// Reference data

export interface ReferenceInit {
  profiles?: readonly RiskProfile[];
  securities?: readonly SecurityReference[];
  firmSettings?: FirmRiskSettings;
  tradingStates?: readonly TradingState[];
  restrictions?: readonly Restriction[];
  locates?: readonly Locate[];
  halts?: readonly TradingHalt[];
  limitChanges?: readonly LimitChange[];
  traderEntitlements?: readonly TraderEntitlement[];
}

/** DynamoDB's order for S sort keys (UTF-16 code units), not localeCompare. */
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class InMemoryReferenceStore implements ReferenceStore {
  readonly profiles = new Map<string, RiskProfile>();
  readonly securities = new Map<string, SecurityReference>();
  firmSettings: FirmRiskSettings | undefined;
  /** By scope (FIRM or an account id). */
  readonly tradingStates = new Map<string, TradingState>();
  /** By `symbol|scope|restriction_id`. */
  readonly restrictions = new Map<string, Restriction>();
  /** By `account_id|symbol|locate_id`. */
  readonly locates = new Map<string, Locate>();
  /** By symbol. */
  readonly halts = new Map<string, TradingHalt>();
  /** By change_id. */
  readonly limitChanges = new Map<string, LimitChange>();
  /** By trader_id, in the adapter's normal form. */
  readonly traderEntitlements = new Map<string, TraderEntitlement>();
  readonly calls = {
    getRiskProfile: 0,
    getSecurity: 0,
    getSecurities: 0,
    putRiskProfileIf: 0,
    getFirmSettings: 0,
    getTradingState: 0,
    putTradingState: 0,
    listRestrictions: 0,
    listLocates: 0,
    getHalt: 0,
    decideLimitChange: 0,
    getTraderEntitlement: 0,
  };
  /**
   * Run before the next conditional writes (putRiskProfileIf, putTradingState, decideLimitChange),
   * one hook per call, in order: lets a test slip a concurrent writer in between read and write.
   */
  readonly beforeConditionalWrite: Array<() => Promise<void>> = [];

  constructor(init: ReferenceInit = {}) {
    for (const p of init.profiles ?? []) this.profiles.set(p.account_id, clone(p));
    for (const s of init.securities ?? []) this.securities.set(s.symbol, clone(s));
    if (init.firmSettings) this.firmSettings = clone(init.firmSettings);
    for (const t of init.tradingStates ?? []) this.tradingStates.set(t.scope, clone(t));
    for (const r of init.restrictions ?? []) this.restrictions.set(restrictionKey(r), clone(r));
    for (const l of init.locates ?? []) this.locates.set(locateKey(l), clone(l));
    for (const h of init.halts ?? []) this.halts.set(h.symbol, clone(h));
    for (const c of init.limitChanges ?? []) this.limitChanges.set(c.change_id, clone(c));
    for (const e of init.traderEntitlements ?? []) {
      const stored = normaliseTraderEntitlement(e);
      this.traderEntitlements.set(stored.trader_id, stored);
    }
  }

  async getRiskProfile(accountId: string): Promise<RiskProfile | undefined> {
    this.calls.getRiskProfile += 1;
    const p = this.profiles.get(accountId);
    return p ? clone(p) : undefined;
  }

  async getSecurity(symbol: string): Promise<SecurityReference | undefined> {
    this.calls.getSecurity += 1;
    const s = this.securities.get(symbol);
    return s ? clone(s) : undefined;
  }

  async getSecurities(symbols: readonly string[]): Promise<Map<string, SecurityReference>> {
    this.calls.getSecurities += 1;
    const out = new Map<string, SecurityReference>();
    for (const sym of symbols) {
      const s = this.securities.get(sym);
      if (s) out.set(sym, clone(s));
    }
    return out;
  }

  async putRiskProfile(profile: RiskProfile): Promise<void> {
    this.profiles.set(profile.account_id, clone(profile));
  }

  async putRiskProfileIf(profile: RiskProfile, expectedVersion: string | undefined): Promise<boolean> {
    this.calls.putRiskProfileIf += 1;
    await this.beforeConditionalWrite.shift()?.();
    const current = this.profiles.get(profile.account_id);
    // undefined expects no profile: a stored profile always has a version.
    if (current?.version !== expectedVersion) return false;
    this.profiles.set(profile.account_id, clone(profile));
    return true;
  }

  async putSecurity(security: SecurityReference): Promise<void> {
    this.securities.set(security.symbol, clone(security));
  }

  async restampPrice(symbol: string, price: string, asOf: string): Promise<boolean> {
    const stored = this.securities.get(symbol);
    if (stored?.reference_price !== price) return false;
    this.securities.set(symbol, { ...stored, price_as_of: asOf });
    return true;
  }

  async getFirmSettings(): Promise<FirmRiskSettings | undefined> {
    this.calls.getFirmSettings += 1;
    return this.firmSettings ? clone(this.firmSettings) : undefined;
  }

  async putFirmSettings(settings: FirmRiskSettings): Promise<void> {
    this.firmSettings = clone(settings);
  }

  async putFirmSettingsIf(settings: FirmRiskSettings, expectedVersion: string | undefined): Promise<boolean> {
    await this.beforeConditionalWrite.shift()?.();
    if (this.firmSettings?.version !== expectedVersion) return false;
    this.firmSettings = clone(settings);
    return true;
  }

  async getTradingState(scope: string): Promise<TradingState | undefined> {
    this.calls.getTradingState += 1;
    const t = this.tradingStates.get(scope);
    return t ? clone(t) : undefined;
  }

  async putTradingState(state: TradingState, expectedRevision: number): Promise<boolean> {
    this.calls.putTradingState += 1;
    await this.beforeConditionalWrite.shift()?.();
    const current = this.tradingStates.get(state.scope);
    if ((current?.revision ?? 0) !== expectedRevision || (expectedRevision === 0) !== (current === undefined)) {
      return false;
    }
    this.tradingStates.set(state.scope, clone(state));
    return true;
  }

  /** In the adapter's order: by scope, then restriction id (the sort key RESTRICTION#scope#id). */
  async listRestrictions(symbol: string): Promise<Restriction[]> {
    this.calls.listRestrictions += 1;
    return [...this.restrictions.values()]
      .filter((r) => r.symbol === symbol)
      .sort((a, b) => byCodeUnit(`${a.scope}#${a.restriction_id}`, `${b.scope}#${b.restriction_id}`))
      .map(clone);
  }

  async putRestriction(restriction: Restriction): Promise<void> {
    adapterRestrictionKey(restriction); // refuses what the adapter refuses (a '#' in a key part)
    this.restrictions.set(restrictionKey(restriction), clone(restriction));
  }

  /** By locate id, as the adapter's sort key orders them. */
  async listLocates(accountId: string, symbol: string): Promise<Locate[]> {
    this.calls.listLocates += 1;
    return [...this.locates.values()]
      .filter((l) => l.account_id === accountId && l.symbol === symbol)
      .sort((a, b) => byCodeUnit(a.locate_id, b.locate_id))
      .map(clone);
  }

  async putLocate(locate: Locate): Promise<void> {
    adapterLocateKey(locate); // refuses what the adapter refuses (a '#' in a key part)
    this.locates.set(locateKey(locate), clone(locate));
  }

  async getHalt(symbol: string): Promise<TradingHalt | undefined> {
    this.calls.getHalt += 1;
    const h = this.halts.get(symbol);
    return h ? clone(h) : undefined;
  }

  async putHalt(halt: TradingHalt): Promise<void> {
    this.halts.set(halt.symbol, clone(halt));
  }

  async deleteHalt(symbol: string, since: string): Promise<boolean> {
    if (this.halts.get(symbol)?.since !== since) return false;
    this.halts.delete(symbol);
    return true;
  }

  async createLimitChange(change: LimitChange): Promise<CreateResult<LimitChange>> {
    const existing = this.limitChanges.get(change.change_id);
    if (existing) return { created: false, existing: clone(existing) };
    this.limitChanges.set(change.change_id, clone(change));
    return { created: true, item: clone(change) };
  }

  async getLimitChange(changeId: string): Promise<LimitChange | undefined> {
    const c = this.limitChanges.get(changeId);
    return c ? clone(c) : undefined;
  }

  async decideLimitChange(
    changeId: string,
    patch: Pick<LimitChange, 'status' | 'decided_by' | 'decided_at'> &
      Partial<Pick<LimitChange, 'decision_reason' | 'applied_version'>>,
    from: LimitChange['status'] = 'PENDING',
  ): Promise<LimitChange | undefined> {
    this.calls.decideLimitChange += 1;
    await this.beforeConditionalWrite.shift()?.();
    const c = this.limitChanges.get(changeId);
    if (c?.status !== from) return undefined;
    // As the adapter's SET clause: an undefined field changes nothing.
    const next: LimitChange = { ...c };
    for (const [k, v] of Object.entries(patch))
      if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
    this.limitChanges.set(changeId, clone(next));
    return clone(next);
  }

  /** Oldest request first (requested_at, then change_id), as the adapter's index orders them. */
  async listLimitChanges(status: LimitChange['status'], limit: number, nextToken?: string): Promise<Page<LimitChange>> {
    const items = [...this.limitChanges.values()]
      .filter((c) => c.status === status)
      .sort((a, b) => byCodeUnit(a.requested_at, b.requested_at) || byCodeUnit(a.change_id, b.change_id));
    return paginate(items, limit, nextToken);
  }

  async getTraderEntitlement(traderId: string): Promise<TraderEntitlement | undefined> {
    this.calls.getTraderEntitlement += 1;
    const e = this.traderEntitlements.get(traderId);
    return e ? clone(e) : undefined;
  }

  async putTraderEntitlement(entitlement: TraderEntitlement): Promise<void> {
    // The adapter's checks and normal form (a fresh object: the caller's stays the caller's).
    const stored = normaliseTraderEntitlement(entitlement);
    this.traderEntitlements.set(stored.trader_id, stored);
  }
}

const restrictionKey = (r: Restriction): string => `${r.symbol}|${r.scope}|${r.restriction_id}`;
const locateKey = (l: Locate): string => `${l.account_id}|${l.symbol}|${l.locate_id}`;

// ---------------------------------------------------------------------------------------------
// Accounts' live risk state

export class InMemoryAccountRiskStore implements AccountRiskStore {
  readonly states = new Map<string, AccountRiskState>();
  readonly calls = { get: 0, putIfRevision: 0, conflicts: 0 };
  /**
   * Run before the next putIfRevision calls (one hook per call, in order): lets a test slip a
   * concurrent writer in between a read and the conditional write.
   */
  readonly beforePut: Array<() => Promise<void>> = [];

  constructor(init: readonly AccountRiskState[] = []) {
    for (const s of init) this.states.set(s.account_id, clone(s));
  }

  async get(accountId: string): Promise<AccountRiskState> {
    this.calls.get += 1;
    const s = this.states.get(accountId);
    return s ? clone(s) : emptyAccountRisk(accountId);
  }

  async putIfRevision(next: AccountRiskState, expectedRevision: number): Promise<'written' | 'conflict'> {
    this.calls.putIfRevision += 1;
    checkNextRevision(next, expectedRevision);
    const hook = this.beforePut.shift();
    if (hook) await hook();
    const current = this.states.get(next.account_id);
    if ((current?.revision ?? 0) !== expectedRevision) {
      this.calls.conflicts += 1;
      return 'conflict';
    }
    this.states.set(next.account_id, clone(next));
    return 'written';
  }
}

export function emptyAccountRisk(accountId: string): AccountRiskState {
  return { account_id: accountId, revision: 0, open: {}, recent: [] };
}

/** The adapters refuse the same way: a write that does not move the revision on is a caller's bug. */
function checkNextRevision(next: AccountRiskState, expectedRevision: number): void {
  if (next.revision !== expectedRevision + 1) {
    throw new RangeError(`account risk ${next.account_id}: revision ${next.revision} after ${expectedRevision}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Positions

interface StoredPosition {
  position: Position;
  /** The ledger: fill id -> executed_at. */
  fills: Map<string, string>;
  /** A legacy ledger (ids only), as items written before the map carry; read-only. */
  legacy: Set<string>;
}

export class InMemoryPositionStore implements PositionStore {
  private readonly rows = new Map<string, StoredPosition>();
  readonly calls = { putIfVersion: 0, conflicts: 0 };
  /** The `prune` argument of every putIfVersion call, in order. */
  readonly prunes: string[][] = [];
  /**
   * Run before the next putIfVersion calls (one hook per call, in order): lets a test slip a
   * concurrent writer in between a read and the conditional write.
   */
  readonly beforePut: Array<() => Promise<void>> = [];

  private static key(accountId: string, symbol: string): string {
    return `${accountId}|${symbol}`;
  }

  /**
   * Seeds a position directly (as if earlier fills had been applied): `fills` is the ledger (fill id
   * -> executed_at, or bare ids executed at T0), `legacy` the ids of a legacy ledger.
   */
  seed(
    position: Position,
    fills: readonly string[] | Record<string, string> = [],
    legacy: readonly string[] = [],
  ): void {
    const ledger = Array.isArray(fills)
      ? new Map(fills.map((id): [string, string] => [id, T0]))
      : new Map(Object.entries(fills));
    this.rows.set(InMemoryPositionStore.key(position.account_id, position.symbol), {
      position: clone(position),
      fills: ledger,
      legacy: new Set(legacy),
    });
  }

  /** Ids in the ledger (not the legacy one). */
  appliedFills(accountId: string, symbol: string): string[] {
    return [...(this.rows.get(InMemoryPositionStore.key(accountId, symbol))?.fills.keys() ?? [])];
  }

  async list(accountId: string): Promise<Position[]> {
    return [...this.rows.values()]
      .filter((r) => r.position.account_id === accountId)
      .map((r) => clone(r.position))
      .sort((a, b) => a.symbol.localeCompare(b.symbol));
  }

  async get(accountId: string, symbol: string): Promise<Position | undefined> {
    const r = this.rows.get(InMemoryPositionStore.key(accountId, symbol));
    return r ? clone(r.position) : undefined;
  }

  async getWithLedger(
    accountId: string,
    symbol: string,
  ): Promise<{ position: Position; appliedFills: Record<string, string> } | undefined> {
    const r = this.rows.get(InMemoryPositionStore.key(accountId, symbol));
    return r ? { position: clone(r.position), appliedFills: Object.fromEntries(r.fills) } : undefined;
  }

  async putIfVersion(
    position: Position,
    expectedVersion: number,
    fill: AppliedFill,
    prune: readonly string[],
  ): Promise<'written' | 'conflict' | 'duplicate'> {
    this.calls.putIfVersion += 1;
    this.prunes.push([...prune]);
    const hook = this.beforePut.shift();
    if (hook) await hook();
    const key = InMemoryPositionStore.key(position.account_id, position.symbol);
    const row = this.rows.get(key);
    if (row?.fills.has(fill.id) || row?.legacy.has(fill.id)) return 'duplicate';
    const current = row?.position.version ?? 0;
    if (current !== expectedVersion) {
      this.calls.conflicts += 1;
      return 'conflict';
    }
    if (prune.includes(fill.id)) throw new Error('a fill id cannot be both set and pruned');
    const fills = new Map(row?.fills ?? []);
    for (const id of prune) fills.delete(id);
    fills.set(fill.id, fill.executedAt);
    this.rows.set(key, { position: clone(position), fills, legacy: new Set(row?.legacy ?? []) });
    return 'written';
  }
}

// ---------------------------------------------------------------------------------------------
// Approvals

export class InMemoryApprovalStore implements ApprovalStore {
  readonly records = new Map<string, ApprovalRecord>();
  readonly transitions: Array<{ approvalId: string; from: ApprovalRecord['status']; to: ApprovalRecord['status'] }> =
    [];

  async create(approval: ApprovalRecord): Promise<CreateResult<ApprovalRecord>> {
    const existing = this.records.get(approval.approval_id);
    if (existing) return { created: false, existing: clone(existing) };
    this.records.set(approval.approval_id, clone(approval));
    return { created: true, item: clone(approval) };
  }

  async get(approvalId: string): Promise<ApprovalRecord | undefined> {
    const r = this.records.get(approvalId);
    return r ? clone(r) : undefined;
  }

  async transition(
    approvalId: string,
    from: ApprovalRecord['status'],
    patch: Partial<ApprovalRecord> & { status: ApprovalRecord['status'] },
  ): Promise<ApprovalRecord | undefined> {
    const r = this.records.get(approvalId);
    if (!r || r.status !== from) return undefined;
    const next: ApprovalRecord = { ...r, ...clone(patch) };
    this.records.set(approvalId, next);
    this.transitions.push({ approvalId, from, to: patch.status });
    return clone(next);
  }

  async updateTaskToken(approvalId: string, taskToken: string): Promise<ApprovalRecord | undefined> {
    const r = this.records.get(approvalId);
    if (r?.status !== 'PENDING') return undefined;
    r.task_token = taskToken;
    return clone(r);
  }

  async listByStatus(
    status: ApprovalRecord['status'],
    limit: number,
    nextToken?: string,
  ): Promise<Page<ApprovalRecord>> {
    const items = [...this.records.values()]
      .filter((r) => r.status === status)
      .sort((a, b) => a.requested_at.localeCompare(b.requested_at));
    return paginate(items, limit, nextToken);
  }
}

// ---------------------------------------------------------------------------------------------
// Audit: write-once archive and index

export class InMemoryAuditArchive implements AuditArchive {
  readonly objects = new Map<string, string>();
  putAttempts = 0;
  /** The next `failNextPuts` putIfAbsent calls throw a transient error. */
  failNextPuts = 0;
  /** Every putIfAbsent throws (a writer whose archive is unreachable, or that died). */
  failAllPuts = false;

  async putIfAbsent(key: string, body: string, options: ArchivePutOptions = {}): Promise<'written' | 'exists'> {
    await options.publishAfter;
    this.putAttempts += 1;
    if (this.failAllPuts) throw namedError('ServiceUnavailable', `archive unreachable writing ${key}`);
    if (this.failNextPuts > 0) {
      this.failNextPuts -= 1;
      throw namedError('SlowDown', `archive throttled writing ${key}`);
    }
    if (this.objects.has(key)) return 'exists';
    this.objects.set(key, body);
    return 'written';
  }

  async get(key: string): Promise<string | undefined> {
    return this.objects.get(key);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/**
 * An archive that shares another archive's objects but fails every new write: the view of a
 * writer that claimed the head and then died before archiving its own batch. (Re-writing an
 * object that is already there answers 'exists', so the writer can still get as far as claiming.)
 */
export class DeadWriterArchive implements AuditArchive {
  putAttempts = 0;
  constructor(private readonly shared: AuditArchive) {}

  async putIfAbsent(key: string): Promise<'written' | 'exists'> {
    this.putAttempts += 1;
    if ((await this.shared.get(key)) !== undefined) return 'exists';
    throw namedError('ProcessCrashed', `writer died before archiving ${key}`);
  }

  get(key: string): Promise<string | undefined> {
    return this.shared.get(key);
  }

  list(prefix: string): Promise<string[]> {
    return this.shared.list(prefix);
  }
}

export const EMPTY_HEAD_HASH = '0'.repeat(64);

export class InMemoryAuditIndex implements AuditIndex {
  private head: ChainHead = { sequence: -1, hash: EMPTY_HEAD_HASH };
  readonly records = new Map<number, AuditRecord>();
  readonly calls = { getHead: 0, advanceHead: 0, advanceHeadLost: 0, putRecords: 0 };
  /** The next `failNextPutRecords` putRecords calls throw a transient error. */
  failNextPutRecords = 0;

  async getHead(): Promise<ChainHead> {
    this.calls.getHead += 1;
    return clone(this.head);
  }

  /**
   * Conditional on both sequence and hash, as the DynamoDB adapter is; the head is stored with its
   * batch and frontier, as given (a field left undefined is not stored).
   */
  async advanceHead(expected: ChainHead, next: ChainHead): Promise<boolean> {
    this.calls.advanceHead += 1;
    if (this.head.sequence !== expected.sequence || this.head.hash !== expected.hash) {
      this.calls.advanceHeadLost += 1;
      return false;
    }
    const head: ChainHead = { sequence: next.sequence, hash: next.hash };
    if (next.batch !== undefined) head.batch = clone(next.batch);
    if (next.frontier !== undefined) head.frontier = [...next.frontier];
    this.head = head;
    return true;
  }

  async putRecords(records: readonly AuditRecord[]): Promise<void> {
    this.calls.putRecords += 1;
    if (this.failNextPutRecords > 0) {
      this.failNextPutRecords -= 1;
      throw namedError('ProvisionedThroughputExceededException', 'index throttled');
    }
    for (const r of records) this.records.set(r.sequence, clone(r));
  }

  async queryByOrder(orderId: string, limit: number, nextToken?: string): Promise<Page<AuditRecord>> {
    return paginate(
      this.all().filter((r) => r.order_id === orderId),
      limit,
      nextToken,
    );
  }

  async queryByType(
    eventType: string,
    fromTs: string,
    toTs: string,
    limit: number,
    nextToken?: string,
  ): Promise<Page<AuditRecord>> {
    // Bounds are read as the instants they name ('...T00:00:00Z' is '...T00:00:00.000000000Z').
    const from = normaliseTimestamp(fromTs);
    const to = normaliseTimestamp(toTs);
    const items = this.all()
      .filter((r) => r.event_type === eventType && r.timestamp >= from && r.timestamp <= to)
      .sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.sequence - b.sequence);
    return paginate(items, limit, nextToken);
  }

  /**
   * As the by-trader GSI answers: records with this (non-empty) trader_id within the inclusive
   * bounds (read as instants), by timestamp then sequence; tokens bound to the trader, as the
   * adapter's are, so one from another query is refused.
   */
  async queryByTrader(
    traderId: string,
    fromTs: string,
    toTs: string,
    limit: number,
    nextToken?: string,
  ): Promise<Page<AuditRecord>> {
    if (traderId === '') return { items: [] };
    const after = decodePageToken(nextToken, { trader_id: traderId });
    if (after !== undefined && (typeof after.timestamp !== 'string' || typeof after.sequence !== 'number')) {
      throw new ValidationError([{ field: 'nextToken', rule: 'format', message: 'is not valid for this query' }]);
    }
    const from = normaliseTimestamp(fromTs);
    const to = normaliseTimestamp(toTs);
    const entries = this.all()
      .filter((r) => r.trader_id === traderId)
      .map((r) => ({ ts: normaliseTimestamp(r.timestamp), r }))
      .filter(({ ts }) => ts >= from && ts <= to)
      .sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.r.sequence - b.r.sequence))
      .filter(
        ({ ts, r }) =>
          after === undefined ||
          ts > (after.timestamp as string) ||
          (ts === after.timestamp && r.sequence > (after.sequence as number)),
      );
    const n = clampLimit(limit);
    const items = entries.slice(0, n);
    const last = items[items.length - 1];
    if (entries.length > n && last !== undefined) {
      const token = encodePageToken({ trader_id: traderId, timestamp: last.ts, sequence: last.r.sequence });
      if (token !== undefined) return { items: items.map((e) => e.r), nextToken: token };
    }
    return { items: items.map((e) => e.r) };
  }

  /** Every indexed record in sequence order. */
  all(): AuditRecord[] {
    return [...this.records.values()].sort((a, b) => a.sequence - b.sequence).map(clone);
  }

  /** The stored head (for assertions). */
  peekHead(): ChainHead {
    return clone(this.head);
  }
}

/** A real AuditLog over the in-memory archive and index: the audit sink the use-case tests use. */
export class InMemoryAuditTrail implements AuditSink {
  readonly archive = new InMemoryAuditArchive();
  readonly index = new InMemoryAuditIndex();
  readonly log: AuditLog;
  /** Events that should fail (a transient archive outage for that append only). */
  failWhen: ((event: AuditEvent) => boolean) | undefined;

  constructor(clock: Clock, options: AuditLogOptions = {}) {
    this.log = new AuditLog({ archive: this.archive, index: this.index, clock }, { maxWriteAttempts: 1, ...options });
  }

  append(event: AuditEvent): Promise<AuditRecord> {
    if (this.failWhen?.(event)) return Promise.reject(new TransientError(`audit append of ${event.event_type} failed`));
    return this.log.append(event);
  }

  records(): AuditRecord[] {
    return this.index.all();
  }

  forOrder(orderId: string): AuditRecord[] {
    return this.records().filter((r) => r.order_id === orderId);
  }

  ofType(eventType: AuditEvent['event_type']): AuditRecord[] {
    return this.records().filter((r) => r.event_type === eventType);
  }
}

// ---------------------------------------------------------------------------------------------
// Workflow

export type WorkflowStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export type WorkflowCall =
  | { method: 'start'; name: string; input: unknown }
  | { method: 'sendTaskSuccess'; taskToken: string; output: unknown }
  | { method: 'sendTaskFailure'; taskToken: string; error: string; cause: string };

/** Records every call; idempotent start by name; can be told to throw named errors. */
export class RecordingWorkflow implements Workflow {
  readonly calls: WorkflowCall[] = [];
  readonly executions = new Map<string, { input: unknown; status: WorkflowStatus; error?: string; cause?: string }>();
  /** Errors the next calls of a method throw, in order (e.g. namedError('TaskTimedOut')). */
  readonly failures: { [M in WorkflowCall['method']]: Error[] } = {
    start: [],
    sendTaskSuccess: [],
    sendTaskFailure: [],
  };

  executionIdFor(name: string): string {
    return `arn:aws:states:us-east-1:000000000000:execution:order-lifecycle:${name}`;
  }

  async start(name: string, input: unknown): Promise<{ executionId: string }> {
    this.calls.push({ method: 'start', name, input: clone(input) });
    this.throwIfTold('start');
    const existing = this.executions.get(name);
    if (existing && JSON.stringify(existing.input) !== JSON.stringify(input)) {
      throw namedError('ExecutionAlreadyExists', `execution ${name} exists with a different input`);
    }
    if (!existing) this.executions.set(name, { input: clone(input), status: 'RUNNING' });
    return { executionId: this.executionIdFor(name) };
  }

  async sendTaskSuccess(taskToken: string, output: unknown): Promise<void> {
    this.calls.push({ method: 'sendTaskSuccess', taskToken, output: clone(output) });
    this.throwIfTold('sendTaskSuccess');
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    this.calls.push({ method: 'sendTaskFailure', taskToken, error, cause });
    this.throwIfTold('sendTaskFailure');
  }

  async describe(executionId: string): Promise<{ status: WorkflowStatus; error?: string; cause?: string } | undefined> {
    for (const [name, e] of this.executions) {
      if (this.executionIdFor(name) === executionId) {
        return {
          status: e.status,
          ...(e.error !== undefined ? { error: e.error } : {}),
          ...(e.cause !== undefined ? { cause: e.cause } : {}),
        };
      }
    }
    return undefined;
  }

  /** How the execution ended (with a Fail state's error and cause, if given). */
  setStatus(name: string, status: WorkflowStatus, failure?: { error: string; cause: string }): void {
    const e = this.executions.get(name);
    if (!e) throw new Error(`no execution ${name}`);
    e.status = status;
    if (failure) {
      e.error = failure.error;
      e.cause = failure.cause;
    }
  }

  callsOf<M extends WorkflowCall['method']>(method: M): Array<Extract<WorkflowCall, { method: M }>> {
    return this.calls.filter((c): c is Extract<WorkflowCall, { method: M }> => c.method === method);
  }

  private throwIfTold(method: WorkflowCall['method']): void {
    const err = this.failures[method].shift();
    if (err) throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Venue

type VenueOrder = Parameters<Venue['submit']>[0];

/** The simulated venue, with every submission recorded (a spy). */
export class SpyVenue implements Venue {
  readonly submissions: VenueOrder[] = [];
  private readonly inner = new SimulatedVenue();

  submit(order: VenueOrder): ReturnType<Venue['submit']> {
    this.submissions.push(clone(order));
    return this.inner.submit(order);
  }
}

// ---------------------------------------------------------------------------------------------
// Fixtures shared by the core tests

/** The seed's ACC-001, as the local platform loads it: $1M max order, $10M max position, 20%, $500K threshold. */
export { ACC_001 } from '../../local/seed-data.js';

export function security(symbol: string, referencePrice: string, priceAsOf: string = T0): SecurityReference {
  return { symbol, reference_price: referencePrice, price_as_of: priceAsOf };
}

export function position(symbol: string, quantity: number, averageCost = '0', accountId = 'ACC-001'): Position {
  return {
    account_id: accountId,
    symbol,
    quantity,
    average_cost: averageCost,
    realized_pnl: '0',
    version: 1,
    updated_at: T0,
  };
}
