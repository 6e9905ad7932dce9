// The store ports (functions/ports.ts) on the local journaled database (journal-db.ts), with the
// DynamoDB adapters' semantics: each method is one conditional check-and-write (atomic: it runs
// within one turn of the event loop), idempotent retries answer the first outcome, pages carry
// opaque tokens bound to their query. test/integration/store-contract.test.ts runs the same
// contract against these and the DynamoDB adapters. Each method counts the DynamoDB operation its
// adapter makes, so the benchmark's round trips per order read the same whichever store runs.
import { checkNextRevision, emptyAccountRiskState } from '../functions/adapters/dynamodb-account-risk-store.js';
import { clampLimit, decodePageToken, encodePageToken } from '../functions/adapters/dynamodb-common.js';
import { explainRefusal } from '../functions/adapters/dynamodb-order-store.js';
import {
  accountKey,
  firmSettingsKey,
  haltKey,
  LIMIT_CHANGE_STATUS_ATTRIBUTE,
  limitChangeKey,
  locateKey,
  locatePrefix,
  normaliseTraderEntitlement,
  RESTRICTION_PREFIX,
  restrictionKey,
  securityKey,
  traderEntitlementKey,
  tradingStateKey,
} from '../functions/adapters/dynamodb-reference-store.js';
import { GENESIS_HASH } from '../functions/core/audit-chain.js';
import { IntegrityError, NotFoundError, ValidationError } from '../functions/core/errors.js';
import type {
  AccountRiskState,
  ApprovalRecord,
  AuditRecord,
  FirmRiskSettings,
  LimitChange,
  LimitChangeStatus,
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
} from '../functions/core/model.js';
import { normaliseTimestamp } from '../functions/core/time.js';
import type {
  AccountRiskStore,
  AppliedFill,
  ApprovalStore,
  ChainHead,
  CommittingAuditIndex,
  CreateResult,
  ExecutionOutcome,
  OrderStore,
  Page,
  PositionStore,
  ReferenceStore,
} from '../functions/ports.js';
import type { JournalDb } from './journal-db.js';

export interface JournalStoreOptions {
  /**
   * When a write resolves. 'write' (the default): once it is durable, as a DynamoDB write does.
   * 'caller': once it is applied; the caller makes it durable before it answers. The local
   * platform uses it for the four step writes (order, risk decision, fill, position): each use case
   * appends an audit record after its write and waits for that, and the journal is one ordered
   * file, so the record's durability implies the write's, and the two share one fdatasync. A step
   * that fails before its record is durable answers with an error, and its retry finds the write.
   * Reads still wait for the durability of what they read: no other call sees a write that is not
   * durable. test/integration/lifecycle.test.ts checks that no invocation returns with a write
   * still unsynced.
   */
  durability?: 'write' | 'caller';
}

/** What a write's caller awaits, by durability mode (see JournalStoreOptions). */
function settleWrite(durable: Promise<void>, options: JournalStoreOptions): Promise<void> | undefined {
  if (options.durability !== 'caller') return durable;
  // The journal fails stop: the sync of the audit record appended next reports the error.
  durable.catch(() => undefined);
  return undefined;
}

/** A private copy for the caller: stored values are shared and must stay untouched. */
const copy = <T>(v: T): T => structuredClone(v);

/** The same for a value with no nested objects (a Position, a fill ledger): a spread is enough. */
const flatCopy = <T extends object>(v: T): T => ({ ...v });

// --- Orders ---------------------------------------------------------------------------------------

interface StoredOrder extends OrderRecord {
  risk_consumed_at?: string;
}

export class JournalOrderStore implements OrderStore {
  private static readonly T = 'orders';
  constructor(
    private readonly db: JournalDb,
    private readonly options: JournalStoreOptions = {},
  ) {}

  async create(order: OrderRecord): Promise<CreateResult<OrderRecord>> {
    this.db.count('PutItem');
    const existing = this.db.get<StoredOrder>(JournalOrderStore.T, order.order_id);
    if (existing) {
      const out = toOrder(existing);
      await this.db.settled(this.db.seqOf(JournalOrderStore.T, order.order_id));
      return { created: false, existing: out };
    }
    const { durable } = this.db.put(JournalOrderStore.T, order.order_id, '', order);
    await settleWrite(durable, this.options);
    return { created: true, item: order };
  }

  async get(orderId: string): Promise<OrderRecord | undefined> {
    this.db.count('GetItem');
    const r = this.db.get<StoredOrder>(JournalOrderStore.T, orderId);
    const out = r ? toOrder(r) : undefined;
    await this.db.settled(this.db.seqOf(JournalOrderStore.T, orderId));
    return out;
  }

  async recordRisk(orderId: string, risk: RiskCheck): Promise<RiskCheck> {
    this.db.count('UpdateItem');
    const r = this.db.get<StoredOrder>(JournalOrderStore.T, orderId);
    if (!r) throw new NotFoundError(`order ${orderId} not found`);
    if (r.risk) {
      const stored = copy(r.risk);
      await this.db.settled(this.db.seqOf(JournalOrderStore.T, orderId));
      return stored;
    }
    const { durable } = this.db.put(JournalOrderStore.T, orderId, '', { ...r, risk });
    await settleWrite(durable, this.options);
    return risk;
  }

  async recordExecution(
    orderId: string,
    expected: { checkId: string; orderHash: string },
    execution: ExecutionOutcome,
  ): ReturnType<OrderStore['recordExecution']> {
    this.db.count('UpdateItem');
    const r = this.db.get<StoredOrder>(JournalOrderStore.T, orderId);
    const risk = r?.risk;
    // The adapter's condition, verbatim: verifying the approval and consuming it is one write.
    const verified =
      r !== undefined &&
      risk !== undefined &&
      risk.check_id === expected.checkId &&
      risk.order_hash === expected.orderHash &&
      r.order_hash === expected.orderHash &&
      (risk.decision === 'approved' || risk.decision === 'needs_approval') &&
      r.execution === undefined;
    if (!verified) {
      const answer = explainRefusal(orderId, r ? (copy(r) as unknown as Record<string, unknown>) : undefined, expected);
      await this.db.settled(this.db.seqOf(JournalOrderStore.T, orderId));
      return answer;
    }
    const { durable } = this.db.put(JournalOrderStore.T, orderId, '', {
      ...r,
      execution,
      risk_consumed_at: execution.executed_at,
    });
    await settleWrite(durable, this.options);
    return { result: 'recorded', execution };
  }
}

function toOrder(stored: StoredOrder): OrderRecord {
  const { risk_consumed_at: _internal, ...order } = copy(stored);
  return order;
}

// --- Reference data -------------------------------------------------------------------------------

/** A limit change as stored: with the copy of its status the adapter's sparse index is keyed on. */
type StoredLimitChange = LimitChange & { [LIMIT_CHANGE_STATUS_ATTRIBUTE]: LimitChangeStatus };

/**
 * The reference table, with the adapter's keys (dynamodb-reference-store.ts, docs/contracts.md).
 * The limit-change index is a scan of the items that carry its key (few: changes are rare).
 */
export class JournalReferenceStore implements ReferenceStore {
  private static readonly T = 'reference';
  constructor(private readonly db: JournalDb) {}

  async getRiskProfile(accountId: string): Promise<RiskProfile | undefined> {
    return this.getItem<RiskProfile>(accountKey(accountId));
  }

  async getSecurity(symbol: string): Promise<SecurityReference | undefined> {
    const s = await this.getItem<SecurityReference & { prohibited?: unknown; prohibited_reason?: unknown }>(
      securityKey(symbol),
    );
    return s ? toSecurity(s) : undefined;
  }

  async getSecurities(symbols: readonly string[]): Promise<Map<string, SecurityReference>> {
    this.db.count('BatchGetItem');
    const out = new Map<string, SecurityReference>();
    let seq = 0;
    for (const symbol of new Set(symbols)) {
      const { pk, sk } = securityKey(symbol);
      const s = this.db.get<SecurityReference>(JournalReferenceStore.T, pk, sk);
      if (s) out.set(symbol, toSecurity(copy(s)));
      seq = Math.max(seq, this.db.seqOf(JournalReferenceStore.T, pk, sk));
    }
    await this.db.settled(seq);
    return out;
  }

  async putRiskProfile(profile: RiskProfile): Promise<void> {
    await this.putItem(accountKey(profile.account_id), profile);
  }

  async putRiskProfileIf(profile: RiskProfile, expectedVersion: string | undefined): Promise<boolean> {
    const key = accountKey(profile.account_id);
    // A stored profile always has a version: undefined expects none.
    return this.putItemIf(key, profile, this.peek<RiskProfile>(key)?.version === expectedVersion);
  }

  async putSecurity(security: SecurityReference): Promise<void> {
    await this.putItem(securityKey(security.symbol), security);
  }

  async restampPrice(symbol: string, price: string, asOf: string): Promise<boolean> {
    const key = securityKey(symbol);
    const stored = this.peek<SecurityReference>(key);
    return this.putItemIf(
      key,
      { ...(stored as SecurityReference), price_as_of: asOf },
      stored?.reference_price === price,
    );
  }

  async getFirmSettings(): Promise<FirmRiskSettings | undefined> {
    return this.getItem<FirmRiskSettings>(firmSettingsKey());
  }

  async putFirmSettings(settings: FirmRiskSettings): Promise<void> {
    await this.putItem(firmSettingsKey(), settings);
  }

  async putFirmSettingsIf(settings: FirmRiskSettings, expectedVersion: string | undefined): Promise<boolean> {
    const key = firmSettingsKey();
    return this.putItemIf(key, settings, this.peek<FirmRiskSettings>(key)?.version === expectedVersion);
  }

  async getTradingState(scope: string): Promise<TradingState | undefined> {
    return this.getItem<TradingState>(tradingStateKey(scope));
  }

  async putTradingState(state: TradingState, expectedRevision: number): Promise<boolean> {
    const key = tradingStateKey(state.scope);
    const current = this.peek<TradingState>(key);
    // The adapter's conditions: attribute_not_exists for 0, else the stored revision.
    const holds = expectedRevision === 0 ? current === undefined : current?.revision === expectedRevision;
    return this.putItemIf(key, state, holds);
  }

  async listRestrictions(symbol: string): Promise<Restriction[]> {
    return this.query<Restriction>(`SECURITY#${symbol}`, RESTRICTION_PREFIX, (r) => r.symbol === symbol);
  }

  async putRestriction(restriction: Restriction): Promise<void> {
    await this.putItem(restrictionKey(restriction), restriction);
  }

  async listLocates(accountId: string, symbol: string): Promise<Locate[]> {
    if (symbol === '' || symbol.includes('#')) {
      this.db.count('Query');
      return [];
    }
    return this.query<Locate>(
      `ACCOUNT#${accountId}`,
      locatePrefix(symbol),
      (l) => l.account_id === accountId && l.symbol === symbol,
    );
  }

  async putLocate(locate: Locate): Promise<void> {
    await this.putItem(locateKey(locate), locate);
  }

  async getHalt(symbol: string): Promise<TradingHalt | undefined> {
    return this.getItem<TradingHalt>(haltKey(symbol));
  }

  async putHalt(halt: TradingHalt): Promise<void> {
    await this.putItem(haltKey(halt.symbol), halt);
  }

  async deleteHalt(symbol: string, since: string): Promise<boolean> {
    this.db.count('DeleteItem');
    const { pk, sk } = haltKey(symbol);
    const stored = this.peek<TradingHalt>({ pk, sk });
    if (stored?.since !== since) {
      await this.db.settled(this.db.seqOf(JournalReferenceStore.T, pk, sk));
      return false;
    }
    await this.db.put(JournalReferenceStore.T, pk, sk, undefined).durable;
    return true;
  }

  async createLimitChange(change: LimitChange): Promise<CreateResult<LimitChange>> {
    this.db.count('PutItem');
    const { pk, sk } = limitChangeKey(change.change_id);
    const existing = this.db.get<StoredLimitChange>(JournalReferenceStore.T, pk, sk);
    if (existing) {
      const out = toLimitChange(existing);
      await this.db.settled(this.db.seqOf(JournalReferenceStore.T, pk, sk));
      return { created: false, existing: out };
    }
    const stored: StoredLimitChange = { ...change, [LIMIT_CHANGE_STATUS_ATTRIBUTE]: change.status };
    await this.db.put(JournalReferenceStore.T, pk, sk, stored).durable;
    return { created: true, item: change };
  }

  async getLimitChange(changeId: string): Promise<LimitChange | undefined> {
    const c = await this.getItem<StoredLimitChange>(limitChangeKey(changeId));
    return c ? toLimitChange(c) : undefined;
  }

  async decideLimitChange(
    changeId: string,
    patch: Pick<LimitChange, 'status' | 'decided_by' | 'decided_at'> &
      Partial<Pick<LimitChange, 'decision_reason' | 'applied_version'>>,
    from: LimitChangeStatus = 'PENDING',
  ): Promise<LimitChange | undefined> {
    this.db.count('UpdateItem');
    const { pk, sk } = limitChangeKey(changeId);
    const c = this.db.get<StoredLimitChange>(JournalReferenceStore.T, pk, sk);
    if (c?.status !== from) {
      await this.db.settled(this.db.seqOf(JournalReferenceStore.T, pk, sk));
      return undefined;
    }
    // As the adapter's SET clause: the decision's fields only; an undefined one changes nothing.
    const next: Record<string, unknown> = { ...c };
    const fields = {
      status: patch.status,
      decided_by: patch.decided_by,
      decided_at: patch.decided_at,
      decision_reason: patch.decision_reason,
      applied_version: patch.applied_version,
      [LIMIT_CHANGE_STATUS_ATTRIBUTE]: patch.status,
    };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) next[k] = v;
    const { stored, durable } = this.db.put(JournalReferenceStore.T, pk, sk, next as unknown as StoredLimitChange);
    await durable;
    return stored ? toLimitChange(stored) : undefined;
  }

  async listLimitChanges(status: LimitChangeStatus, limit: number, nextToken?: string): Promise<Page<LimitChange>> {
    this.db.count('Query');
    await this.db.barrier(); // a scan: answer only from durable writes
    // The sparse index: only limit changes carry its key. Ordered as a GSI query reads it: by
    // requested_at, then (for ties, which DynamoDB leaves unspecified) by the table key.
    const all = [...this.db.scan<Partial<StoredLimitChange>>(JournalReferenceStore.T)]
      .filter((c): c is StoredLimitChange => c[LIMIT_CHANGE_STATUS_ATTRIBUTE] === status)
      .sort((a, b) => cmp(a.requested_at, b.requested_at) || cmp(a.change_id, b.change_id));
    const after = decodeToken(
      nextToken,
      { [LIMIT_CHANGE_STATUS_ATTRIBUTE]: status },
      { requested_at: 'string', pk: 'string', sk: 'string' },
    );
    const afterPk = after === undefined ? '' : String(after.pk);
    const start =
      after === undefined
        ? 0
        : all.findIndex(
            (c) =>
              cmp(c.requested_at, String(after.requested_at)) > 0 ||
              (c.requested_at === after.requested_at && cmp(limitChangeKey(c.change_id).pk, afterPk) > 0),
          );
    return page(
      start,
      all,
      limit,
      (c) => ({
        [LIMIT_CHANGE_STATUS_ATTRIBUTE]: status,
        requested_at: c.requested_at,
        ...limitChangeKey(c.change_id),
      }),
      (c) => toLimitChange(c),
    );
  }

  async getTraderEntitlement(traderId: string): Promise<TraderEntitlement | undefined> {
    return this.getItem<TraderEntitlement>(traderEntitlementKey(traderId));
  }

  async putTraderEntitlement(entitlement: TraderEntitlement): Promise<void> {
    // The adapter's checks and normal form, before anything is written.
    const stored = normaliseTraderEntitlement(entitlement);
    await this.putItem(traderEntitlementKey(stored.trader_id), stored);
  }

  // --- plumbing -----------------------------------------------------------------------------------

  /** GetItem: a copy of the item, once the write that stored it is durable. */
  private async getItem<T>(key: { pk: string; sk: string }): Promise<T | undefined> {
    this.db.count('GetItem');
    const item = this.db.get<T>(JournalReferenceStore.T, key.pk, key.sk);
    const out = item === undefined ? undefined : copy(item);
    await this.db.settled(this.db.seqOf(JournalReferenceStore.T, key.pk, key.sk));
    return out;
  }

  /** The stored item for a condition check (shared: not to be handed out). */
  private peek<T>(key: { pk: string; sk: string }): T | undefined {
    return this.db.get<T>(JournalReferenceStore.T, key.pk, key.sk);
  }

  private async putItem<T>(key: { pk: string; sk: string }, value: T): Promise<void> {
    this.db.count('PutItem');
    await this.db.put(JournalReferenceStore.T, key.pk, key.sk, value).durable;
  }

  /** A conditional PutItem whose condition the caller checked in this turn: false when it failed. */
  private async putItemIf<T>(key: { pk: string; sk: string }, value: T, holds: boolean): Promise<boolean> {
    this.db.count('PutItem');
    if (!holds) {
      // The refusal depends on what is stored: answered once that is durable.
      await this.db.settled(this.db.seqOf(JournalReferenceStore.T, key.pk, key.sk));
      return false;
    }
    await this.db.put(JournalReferenceStore.T, key.pk, key.sk, value).durable;
    return true;
  }

  /** Query: the partition's items whose sort key starts with `prefix`, in sort-key order. */
  private async query<T>(pk: string, prefix: string, belongs: (item: T) => boolean): Promise<T[]> {
    this.db.count('Query');
    const items = this.db
      .partition<T>(JournalReferenceStore.T, pk)
      .filter(([sk]) => sk.startsWith(prefix))
      .map(([, item]) => copy(item))
      .filter(belongs);
    await this.db.settled(this.db.partitionSeq(JournalReferenceStore.T, pk));
    return items;
  }
}

function toSecurity(s: SecurityReference & { prohibited?: unknown; prohibited_reason?: unknown }): SecurityReference {
  // Items of the earlier layout carry a prohibited flag: lists are restrictions of their own now.
  const { prohibited: _p, prohibited_reason: _r, ...security } = s;
  return security;
}

function toLimitChange(stored: StoredLimitChange): LimitChange {
  const { [LIMIT_CHANGE_STATUS_ATTRIBUTE]: _index, ...change } = copy(stored);
  return change;
}

// --- Accounts' live risk state --------------------------------------------------------------------

/**
 * One item per account, replaced whole by a write conditional on its revision (the adapter's
 * PutItem on the risk-state table). Honours JournalStoreOptions.durability: with 'caller', the risk
 * step's reservation shares the sync of the audit record the step appends after it.
 */
export class JournalAccountRiskStore implements AccountRiskStore {
  private static readonly T = 'risk_state';
  constructor(
    private readonly db: JournalDb,
    private readonly options: JournalStoreOptions = {},
  ) {}

  async get(accountId: string): Promise<AccountRiskState> {
    this.db.count('GetItem');
    const s = this.db.get<AccountRiskState>(JournalAccountRiskStore.T, accountId);
    const out = s ? copy(s) : emptyAccountRiskState(accountId);
    await this.readSettled(accountId);
    return out;
  }

  /**
   * With durability 'caller' a read does not wait for what it read to be durable. Every caller of
   * this store (the risk step, the steps that release) writes what it derives from the read to this
   * same ordered journal and answers only after an audit record appended later is durable: that
   * sync covers the state it read too (the journal survives a crash as a prefix). Waiting here would
   * put an fdatasync between the read and the conditional write of every order of an account, and
   * every other order of that account would lose the race meanwhile.
   */
  private async readSettled(accountId: string): Promise<void> {
    if (this.options.durability === 'caller') return;
    await this.db.settled(this.db.seqOf(JournalAccountRiskStore.T, accountId));
  }

  async putIfRevision(next: AccountRiskState, expectedRevision: number): Promise<'written' | 'conflict'> {
    this.db.count('PutItem');
    checkNextRevision(next, expectedRevision);
    const current = this.db.get<AccountRiskState>(JournalAccountRiskStore.T, next.account_id);
    const holds = expectedRevision === 0 ? current === undefined : current?.revision === expectedRevision;
    if (!holds) {
      await this.readSettled(next.account_id);
      return 'conflict';
    }
    const { durable } = this.db.put(JournalAccountRiskStore.T, next.account_id, '', next);
    await settleWrite(durable, this.options);
    return 'written';
  }
}

// --- Positions ------------------------------------------------------------------------------------

interface StoredPosition {
  position: Position;
  /** The exactly-once ledger: fill id -> executed_at. */
  fills: Record<string, string>;
}

export class JournalPositionStore implements PositionStore {
  private static readonly T = 'positions';
  constructor(
    private readonly db: JournalDb,
    private readonly options: JournalStoreOptions = {},
  ) {}

  async list(accountId: string): Promise<Position[]> {
    this.db.count('Query');
    const rows = this.db
      .partition<StoredPosition>(JournalPositionStore.T, accountId)
      .map(([, r]) => flatCopy(r.position));
    await this.db.settled(this.db.partitionSeq(JournalPositionStore.T, accountId));
    return rows;
  }

  async get(accountId: string, symbol: string): Promise<Position | undefined> {
    this.db.count('GetItem');
    const r = this.db.get<StoredPosition>(JournalPositionStore.T, accountId, symbol);
    await this.db.settled(this.db.seqOf(JournalPositionStore.T, accountId, symbol));
    return r ? flatCopy(r.position) : undefined;
  }

  async getWithLedger(
    accountId: string,
    symbol: string,
  ): Promise<{ position: Position; appliedFills: Readonly<Record<string, string>> } | undefined> {
    this.db.count('GetItem');
    const r = this.db.get<StoredPosition>(JournalPositionStore.T, accountId, symbol);
    const out = r ? { position: flatCopy(r.position), appliedFills: flatCopy(r.fills) } : undefined;
    await this.db.settled(this.db.seqOf(JournalPositionStore.T, accountId, symbol));
    return out;
  }

  async putIfVersion(
    position: Position,
    expectedVersion: number,
    fill: AppliedFill,
    prune: readonly string[],
  ): Promise<'written' | 'conflict' | 'duplicate'> {
    this.db.count('UpdateItem');
    const row = this.db.get<StoredPosition>(JournalPositionStore.T, position.account_id, position.symbol);
    const refusal =
      row && Object.hasOwn(row.fills, fill.id)
        ? 'duplicate'
        : (row?.position.version ?? 0) !== expectedVersion || (expectedVersion === 0) !== (row === undefined)
          ? 'conflict'
          : undefined;
    if (refusal) {
      await this.db.settled(this.db.seqOf(JournalPositionStore.T, position.account_id, position.symbol));
      return refusal;
    }
    const fills: Record<string, string> = { ...(row?.fills ?? {}) };
    for (const id of prune) if (id !== fill.id) delete fills[id];
    fills[fill.id] = fill.executedAt;
    // A fresh row the store alone holds (Position is flat), kept parsed: risk lists positions per order.
    const { durable } = this.db.put(
      JournalPositionStore.T,
      position.account_id,
      position.symbol,
      { position: { ...position }, fills } satisfies StoredPosition,
      { owned: true },
    );
    await settleWrite(durable, this.options);
    return 'written';
  }
}

// --- Approvals ------------------------------------------------------------------------------------

export class JournalApprovalStore implements ApprovalStore {
  private static readonly T = 'approvals';
  constructor(private readonly db: JournalDb) {}

  async create(approval: ApprovalRecord): Promise<CreateResult<ApprovalRecord>> {
    this.db.count('PutItem');
    const existing = this.db.get<ApprovalRecord>(JournalApprovalStore.T, approval.approval_id);
    if (existing) {
      const out = copy(existing);
      await this.db.settled(this.db.seqOf(JournalApprovalStore.T, approval.approval_id));
      return { created: false, existing: out };
    }
    await this.db.put(JournalApprovalStore.T, approval.approval_id, '', approval).durable;
    return { created: true, item: approval };
  }

  async get(approvalId: string): Promise<ApprovalRecord | undefined> {
    this.db.count('GetItem');
    const r = this.db.get<ApprovalRecord>(JournalApprovalStore.T, approvalId);
    const out = r ? copy(r) : undefined;
    await this.db.settled(this.db.seqOf(JournalApprovalStore.T, approvalId));
    return out;
  }

  async transition(
    approvalId: string,
    from: ApprovalRecord['status'],
    patch: Partial<ApprovalRecord> & { status: ApprovalRecord['status'] },
  ): Promise<ApprovalRecord | undefined> {
    this.db.count('UpdateItem');
    const r = this.db.get<ApprovalRecord>(JournalApprovalStore.T, approvalId);
    if (r?.status !== from) {
      await this.db.settled(this.db.seqOf(JournalApprovalStore.T, approvalId));
      return undefined;
    }
    // As the adapter's SET clause: the key is not patchable, and an undefined field changes nothing.
    const { approval_id: _key, ...fields } = patch;
    const next: Record<string, unknown> = { ...r };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) next[k] = v;
    const { stored, durable } = this.db.put(JournalApprovalStore.T, approvalId, '', next as unknown as ApprovalRecord);
    await durable;
    return copy(stored);
  }

  async updateTaskToken(approvalId: string, taskToken: string): Promise<ApprovalRecord | undefined> {
    this.db.count('UpdateItem');
    const r = this.db.get<ApprovalRecord>(JournalApprovalStore.T, approvalId);
    if (r?.status !== 'PENDING') {
      await this.db.settled(this.db.seqOf(JournalApprovalStore.T, approvalId));
      return undefined;
    }
    const { stored, durable } = this.db.put(JournalApprovalStore.T, approvalId, '', { ...r, task_token: taskToken });
    await durable;
    return copy(stored);
  }

  async listByStatus(
    status: ApprovalRecord['status'],
    limit: number,
    nextToken?: string,
  ): Promise<Page<ApprovalRecord>> {
    this.db.count('Query');
    await this.db.barrier(); // a scan: answer only from durable writes
    // Approvals are few next to orders: a scan sorted as the by-status index is (oldest first).
    const all = [...this.db.scan<ApprovalRecord>(JournalApprovalStore.T)]
      .filter((a) => a.status === status)
      .sort((a, b) => cmp(a.requested_at, b.requested_at) || cmp(a.approval_id, b.approval_id));
    const after = decodeToken(nextToken, { status }, { requested_at: 'string', approval_id: 'string' });
    const start =
      after === undefined
        ? 0
        : all.findIndex(
            (a) =>
              cmp(a.requested_at, String(after.requested_at)) > 0 ||
              (a.requested_at === after.requested_at && cmp(a.approval_id, String(after.approval_id)) > 0),
          );
    return page(start, all, limit, (a) => ({ status, requested_at: a.requested_at, approval_id: a.approval_id }));
  }
}

// --- Audit index ----------------------------------------------------------------------------------

/**
 * The audit records by sequence, the chain head (with its Merkle frontier: the head is stored
 * whole, as given), and three in-memory indexes rebuilt at start-up (by order: sequences; by event
 * type and by trader: [timestamp, sequence] in order), as the GSIs are.
 */
export class JournalAuditIndex implements CommittingAuditIndex {
  private static readonly T = 'audit';
  private static readonly HEAD = 'HEAD';
  private static readonly ARCHIVED = 'ARCHIVED';
  /** The range of the last commit, written before its records: what a torn commit left behind. */
  private static readonly PENDING = 'PENDING';
  private readonly byOrder = new Map<string, number[]>();
  private readonly byType = new Map<string, TsEntry[]>();
  private readonly byTrader = new Map<string, TsEntry[]>();

  /** Records of a commit cut off by a crash, removed at start-up (see the constructor). */
  readonly discardedAtStart: number;

  constructor(private readonly db: JournalDb) {
    const records = [
      ...db.scan<AuditRecord | ChainHead | { sequence: number } | { from: number }>(JournalAuditIndex.T),
    ].filter(isRecord);
    records.sort((a, b) => a.sequence - b.sequence);
    const headSeq = db.get<ChainHead>(JournalAuditIndex.T, JournalAuditIndex.HEAD)?.sequence ?? -1;
    const pending = db.get<{ from: number; to: number }>(JournalAuditIndex.T, JournalAuditIndex.PENDING);
    let discarded = 0;
    for (const r of records) {
      if (pending && pending.to > headSeq && r.sequence > headSeq && r.sequence <= pending.to) {
        // commitBatch writes the batch's range, its records, then its head, in one group commit;
        // the journal keeps a prefix, so a crash can keep the records and lose the head. Nobody
        // was answered for that batch (appends wait for the head's sync) and nothing archived it:
        // it did not happen. Left in place it would block every later commit and show outside
        // the chain.
        this.db.put(JournalAuditIndex.T, recordKey(r.sequence), '', undefined).durable.catch(() => undefined);
        discarded++;
      } else this.indexRecord(r);
    }
    this.discardedAtStart = discarded;
  }

  async getHead(): Promise<ChainHead> {
    this.db.count('GetItem');
    const head = this.db.get<ChainHead>(JournalAuditIndex.T, JournalAuditIndex.HEAD);
    const out = head ? copy(head) : { sequence: -1, hash: GENESIS_HASH };
    // A reader of the head may finish its batches (recovery): never from a claim that is not durable.
    await this.db.settled(this.db.seqOf(JournalAuditIndex.T, JournalAuditIndex.HEAD));
    return out;
  }

  async advanceHead(expected: ChainHead, next: ChainHead): Promise<boolean> {
    const { won, durable } = this.claimHead(expected, next);
    await durable;
    return won;
  }

  /** Decided now (one turn of the event loop); durable with the journal's next sync. */
  claimHead(expected: ChainHead, next: ChainHead): { won: boolean; durable: Promise<void> } {
    this.db.count('PutItem');
    if (!this.headIs(expected)) return { won: false, durable: Promise.resolve() };
    return { won: true, durable: this.db.put(JournalAuditIndex.T, JournalAuditIndex.HEAD, '', next).durable };
  }

  /** The head's condition: it is still `expected` (the empty log when there is none). */
  private headIs(expected: ChainHead): boolean {
    const head = this.db.get<ChainHead>(JournalAuditIndex.T, JournalAuditIndex.HEAD) ?? {
      sequence: -1,
      hash: GENESIS_HASH,
    };
    return head.sequence === expected.sequence && head.hash === expected.hash;
  }

  /** One TransactWriteItems on DynamoDB: the head (conditional) and the records. */
  commitBatch(
    expected: ChainHead,
    next: ChainHead,
    records: readonly AuditRecord[],
    lines?: readonly string[],
  ): { won: boolean; durable: Promise<void> } {
    this.db.count('TransactWriteItems');
    if (!this.headIs(expected)) return { won: false, durable: Promise.resolve() };
    // Checked before anything is written: the commit is all or nothing.
    for (const r of records) {
      if (r.sequence <= expected.sequence || this.db.get(JournalAuditIndex.T, recordKey(r.sequence)) !== undefined) {
        throw new IntegrityError(`audit record ${r.sequence} is already stored`);
      }
    }
    // Range, records, head: the journal keeps a prefix, so a durable head implies its records, and
    // records without their head lie in the range (discarded at the next start-up).
    const first = records[0];
    const last = records[records.length - 1];
    if (first && last) {
      this.db
        .put(JournalAuditIndex.T, JournalAuditIndex.PENDING, '', { from: first.sequence, to: last.sequence })
        .durable.catch(() => undefined);
    }
    records.forEach((r, i) => {
      const text = lines?.[i];
      this.db
        .put(JournalAuditIndex.T, recordKey(r.sequence), '', r, text ? { text } : {})
        .durable.catch(() => undefined);
      this.indexRecord(r);
    });
    return { won: true, durable: this.db.put(JournalAuditIndex.T, JournalAuditIndex.HEAD, '', next).durable };
  }

  async recordsFrom(from: number, limit: number): Promise<AuditRecord[]> {
    this.db.count('Query');
    const out: AuditRecord[] = [];
    let newest = 0;
    for (let seq = Math.max(0, from); out.length < limit; seq++) {
      const r = this.db.get<AuditRecord>(JournalAuditIndex.T, recordKey(seq));
      if (!r) break;
      out.push(copy(r));
      newest = Math.max(newest, this.db.seqOf(JournalAuditIndex.T, recordKey(seq)));
    }
    await this.db.settled(newest); // only durable records
    return out;
  }

  async archivedThrough(): Promise<number> {
    this.db.count('GetItem');
    const item = this.db.get<{ sequence: number }>(JournalAuditIndex.T, JournalAuditIndex.ARCHIVED);
    await this.db.settled(this.db.seqOf(JournalAuditIndex.T, JournalAuditIndex.ARCHIVED));
    return item?.sequence ?? -1;
  }

  async setArchivedThrough(sequence: number): Promise<void> {
    this.db.count('UpdateItem');
    const item = this.db.get<{ sequence: number }>(JournalAuditIndex.T, JournalAuditIndex.ARCHIVED);
    if (item && item.sequence >= sequence) return;
    await this.db.put(JournalAuditIndex.T, JournalAuditIndex.ARCHIVED, '', { sequence }).durable;
  }

  async putRecords(records: readonly AuditRecord[]): Promise<void> {
    // BatchWriteItem takes 25 items a call.
    this.db.count('BatchWriteItem', Math.ceil(records.length / 25));
    // A record is indexed once; a retried batch finds its records there with the same hash.
    const fresh = records.filter((r) => {
      const existing = this.db.get<AuditRecord>(JournalAuditIndex.T, recordKey(r.sequence));
      if (existing && existing.hash !== r.hash) {
        throw new IntegrityError(`audit record ${r.sequence} is already indexed with another hash`);
      }
      return !existing;
    });
    const writes = fresh.map((r) => {
      const { durable } = this.db.put(JournalAuditIndex.T, recordKey(r.sequence), '', r);
      this.indexRecord(r);
      return durable;
    });
    await Promise.all(writes);
  }

  async queryByOrder(orderId: string, limit: number, nextToken?: string): Promise<Page<AuditRecord>> {
    this.db.count('Query');
    await this.db.barrier(); // answer only from durable records
    if (orderId === '') return { items: [] };
    const seqs = this.byOrder.get(orderId) ?? [];
    const after = decodeToken(nextToken, { order_id: orderId }, { sequence: 'number' });
    const start = after === undefined ? 0 : upperBound(seqs, Number(after.sequence));
    return page(
      start,
      seqs,
      limit,
      (seq) => ({ order_id: orderId, sequence: seq }),
      (seq) => this.record(seq),
    );
  }

  async queryByType(
    eventType: string,
    fromTs: string,
    toTs: string,
    limit: number,
    nextToken?: string,
  ): Promise<Page<AuditRecord>> {
    this.db.count('Query');
    await this.db.barrier(); // answer only from durable records
    if (eventType === '') return { items: [] };
    return this.timeRange(this.byType.get(eventType) ?? [], { event_type: eventType }, fromTs, toTs, limit, nextToken);
  }

  async queryByTrader(
    traderId: string,
    fromTs: string,
    toTs: string,
    limit: number,
    nextToken?: string,
  ): Promise<Page<AuditRecord>> {
    this.db.count('Query');
    await this.db.barrier(); // answer only from durable records
    // Records with an empty trader_id are not in the index (DynamoDB refuses an empty key).
    if (traderId === '') return { items: [] };
    return this.timeRange(this.byTrader.get(traderId) ?? [], { trader_id: traderId }, fromTs, toTs, limit, nextToken);
  }

  /**
   * One page of a by-timestamp index partition (`bound`: its key, which the token must carry)
   * between two timestamps, both included; tokens name the last entry returned.
   */
  private timeRange(
    entries: readonly TsEntry[],
    bound: TokenKey,
    fromTs: string,
    toTs: string,
    limit: number,
    nextToken: string | undefined,
  ): Page<AuditRecord> {
    const from = normaliseTimestamp(fromTs);
    const to = normaliseTimestamp(toTs);
    const after = decodeToken(nextToken, bound, { timestamp: 'string', sequence: 'number' });
    let start = lowerBoundTs(entries, from);
    if (after !== undefined) {
      const ts = String(after.timestamp);
      const seq = Number(after.sequence);
      const next = entries.findIndex((e) => cmp(e.ts, ts) > 0 || (e.ts === ts && e.seq > seq));
      // No entry after the token's key: the listing is over (not restarted).
      start = next === -1 ? entries.length : Math.max(start, next);
    }
    let end = start;
    while (end < entries.length && cmp((entries[end] as TsEntry).ts, to) <= 0) end++;
    return page(
      start,
      entries.slice(0, end),
      limit,
      (e) => ({ ...bound, timestamp: e.ts, sequence: e.seq }),
      (e) => this.record(e.seq),
    );
  }

  private record(seq: number): AuditRecord {
    const r = this.db.get<AuditRecord>(JournalAuditIndex.T, recordKey(seq));
    if (!r) throw new IntegrityError(`audit record ${seq} is indexed but not stored`);
    return copy(r);
  }

  private indexRecord(r: AuditRecord): void {
    if (r.order_id !== undefined && r.order_id !== '') {
      const list = this.byOrder.get(r.order_id) ?? [];
      insertSorted(list, r.sequence, (a, b) => a - b);
      this.byOrder.set(r.order_id, list);
    }
    const entry: TsEntry = { ts: normaliseTimestamp(r.timestamp), seq: r.sequence };
    const byTs = (a: TsEntry, b: TsEntry) => cmp(a.ts, b.ts) || a.seq - b.seq;
    const list = this.byType.get(r.event_type) ?? [];
    insertSorted(list, entry, byTs);
    this.byType.set(r.event_type, list);
    if (typeof r.trader_id === 'string' && r.trader_id !== '') {
      const traderList = this.byTrader.get(r.trader_id) ?? [];
      insertSorted(traderList, { ...entry }, byTs);
      this.byTrader.set(r.trader_id, traderList);
    }
  }
}

/** An entry of a by-timestamp index: the record's timestamp (nine fractional digits) and sequence. */
interface TsEntry {
  ts: string;
  seq: number;
}

const recordKey = (sequence: number): string => `SEQ#${String(sequence).padStart(20, '0')}`;

function isRecord(v: AuditRecord | ChainHead | { sequence: number } | { from: number }): v is AuditRecord {
  return 'event_id' in v;
}

// --- Paging helpers -------------------------------------------------------------------------------

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Appends in order, or inserts where it belongs (records usually arrive in order). */
function insertSorted<T>(list: T[], item: T, compare: (a: T, b: T) => number): void {
  let i = list.length;
  while (i > 0 && compare(list[i - 1] as T, item) > 0) i--;
  list.splice(i, 0, item);
}

function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBoundTs(sorted: ReadonlyArray<{ ts: string }>, ts: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp((sorted[mid] as { ts: string }).ts, ts) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

type TokenKey = Record<string, string | number>;

/**
 * The adapters' page tokens (base64url JSON of the last key returned, bound to the query's fixed
 * key values), which must also carry the query's position keys with their types: else, as
 * DynamoDB answers, not valid for this query.
 */
function decodeToken(
  token: string | undefined,
  bound: TokenKey,
  position: Record<string, 'string' | 'number'>,
): TokenKey | undefined {
  const key = decodePageToken(token, bound);
  if (key === undefined) return undefined;
  for (const [k, type] of Object.entries(position)) {
    if (typeof key[k] !== type) {
      throw new ValidationError([{ field: 'nextToken', rule: 'format', message: 'is not valid for this query' }]);
    }
  }
  return key as TokenKey;
}

function page<E, T = E>(
  start: number,
  all: readonly E[],
  limit: number,
  keyOf: (e: E) => TokenKey,
  load: (e: E) => T = (e) => copy(e) as unknown as T,
): Page<T> {
  const n = clampLimit(limit);
  const from = start < 0 ? all.length : start;
  const slice = all.slice(from, from + n);
  const items = slice.map(load);
  const last = slice[slice.length - 1];
  if (from + n < all.length && last !== undefined) {
    const nextToken = encodePageToken(keyOf(last));
    if (nextToken !== undefined) return { items, nextToken };
  }
  return { items };
}
