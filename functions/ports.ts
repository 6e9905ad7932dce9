// The interfaces the core needs from the world. Adapters (functions/adapters, AWS SDK) and local
// stand-ins (local/) implement them; the core imports nothing else.
import type {
  AccountRiskState,
  ApprovalRecord,
  AuditEvent,
  AuditRecord,
  Fill,
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
} from './core/model.js';

/** Wall clock with nanosecond resolution; injected so tests control time. */
export interface Clock {
  /** Nanoseconds since the Unix epoch, UTC. */
  nowNs(): bigint;
}

export type CreateResult<T> = { created: true; item: T } | { created: false; existing: T };

export interface OrderStore {
  /** Conditional create: returns the existing record when the order_id is taken. */
  create(order: OrderRecord): Promise<CreateResult<OrderRecord>>;
  get(orderId: string): Promise<OrderRecord | undefined>;
  /**
   * Attach the risk decision once. When a decision is already recorded (a retried step) the stored
   * one is returned instead, so the decision for an order never changes.
   */
  recordRisk(orderId: string, risk: RiskCheck): Promise<RiskCheck>;
  /**
   * Atomically verify the stored risk approval (check id, decision, order hash, unused) and record
   * the fill, consuming the approval. Returns 'recorded', 'duplicate' (this fill was already
   * recorded for this check: a retry), or 'not_verified' with the reason.
   */
  recordExecution(
    orderId: string,
    expected: { checkId: string; orderHash: string },
    execution: ExecutionOutcome,
  ): Promise<
    { result: 'recorded' | 'duplicate'; execution: ExecutionOutcome } | { result: 'not_verified'; reason: string }
  >;
}

export interface ExecutionOutcome {
  status: 'FILLED' | 'REJECTED';
  fill: Fill | null;
  venue_reason?: string;
  executed_at: string;
}

/**
 * Reference and risk data (the reference table): limits, prices, lists, locates, halts, trading
 * states, limit changes and traders' entitlements. Read through a cache (ReferenceCache); written by
 * the risk officers' use cases (risk-admin.ts), every write audited, and by the seed and loaders.
 */
export interface ReferenceStore {
  getRiskProfile(accountId: string): Promise<RiskProfile | undefined>;
  getSecurity(symbol: string): Promise<SecurityReference | undefined>;
  /** Prices for several symbols in one round trip (for portfolio valuation). */
  getSecurities(symbols: readonly string[]): Promise<Map<string, SecurityReference>>;
  /** Unconditional: loaders and the initial seed. Changes go through putRiskProfileIf. */
  putRiskProfile(profile: RiskProfile): Promise<void>;
  /**
   * Replace the profile only if its version is still `expectedVersion` (undefined: absent).
   * False when another change got there first.
   */
  putRiskProfileIf(profile: RiskProfile, expectedVersion: string | undefined): Promise<boolean>;
  putSecurity(security: SecurityReference): Promise<void>;
  /**
   * A market-data feed's republish: set the symbol's `price_as_of` only if its price is still
   * `price`. False when the price changed meanwhile (someone set a new one) or the symbol is gone,
   * so a feed never writes back a price it read before the change.
   */
  restampPrice(symbol: string, price: string, asOf: string): Promise<boolean>;

  getFirmSettings(): Promise<FirmRiskSettings | undefined>;
  /** Unconditional: loaders and the initial seed. Changes go through putFirmSettingsIf. */
  putFirmSettings(settings: FirmRiskSettings): Promise<void>;
  /** Replace the firm settings only if their version is still `expectedVersion` (undefined: absent). */
  putFirmSettingsIf(settings: FirmRiskSettings, expectedVersion: string | undefined): Promise<boolean>;

  /** The kill switch for a scope (FIRM or an account id); undefined: never set (ACTIVE). */
  getTradingState(scope: string): Promise<TradingState | undefined>;
  /** Replace if the stored revision is still `expectedRevision` (0: absent). */
  putTradingState(state: TradingState, expectedRevision: number): Promise<boolean>;

  /** Every restriction on a symbol, firm-wide and per account, lifted ones included. */
  listRestrictions(symbol: string): Promise<Restriction[]>;
  /** Create or replace (a lift rewrites the entry with its effective_until). */
  putRestriction(restriction: Restriction): Promise<void>;

  /** Locates on file for an account and symbol, expired ones included. */
  listLocates(accountId: string, symbol: string): Promise<Locate[]>;
  putLocate(locate: Locate): Promise<void>;

  getHalt(symbol: string): Promise<TradingHalt | undefined>;
  putHalt(halt: TradingHalt): Promise<void>;
  /**
   * Lift the halt that was set at `since` (the one the caller read); false when there is none or
   * another was set meanwhile, which then stays.
   */
  deleteHalt(symbol: string, since: string): Promise<boolean>;

  createLimitChange(change: LimitChange): Promise<CreateResult<LimitChange>>;
  getLimitChange(changeId: string): Promise<LimitChange | undefined>;
  /**
   * Conditional transition out of `from` (PENDING by default; APPROVED when an approval claimed
   * first could not be applied); undefined when the change was no longer in `from`.
   */
  decideLimitChange(
    changeId: string,
    patch: Pick<LimitChange, 'status' | 'decided_by' | 'decided_at'> &
      Partial<Pick<LimitChange, 'decision_reason' | 'applied_version'>>,
    from?: LimitChangeStatus,
  ): Promise<LimitChange | undefined>;
  /** Limit changes by status, oldest first. */
  listLimitChanges(status: LimitChange['status'], limit: number, nextToken?: string): Promise<Page<LimitChange>>;

  /** The trader's entitlements; undefined: no entitlement on record (the trader may submit for nothing). */
  getTraderEntitlement(traderId: string): Promise<TraderEntitlement | undefined>;
  /** Unconditional: loaders and the initial seed. */
  putTraderEntitlement(entitlement: TraderEntitlement): Promise<void>;
}

/**
 * Accounts' live risk state (open orders' committed value, recent orders for the throttle and the
 * duplicate check): one item per account, read consistently and replaced by a conditional write
 * on its revision, so two orders of one account cannot both spend the same capital.
 */
export interface AccountRiskStore {
  /** The state, or an empty one at revision 0. */
  get(accountId: string): Promise<AccountRiskState>;
  /** Write `next` (revision = expected + 1) if the stored revision is still `expectedRevision`. */
  putIfRevision(next: AccountRiskState, expectedRevision: number): Promise<'written' | 'conflict'>;
}

/** A fill as the exactly-once ledger remembers it: its id and when it executed (RFC 3339 UTC). */
export interface AppliedFill {
  id: string;
  executedAt: string;
}

export interface PositionStore {
  list(accountId: string): Promise<Position[]>;
  get(accountId: string, symbol: string): Promise<Position | undefined>;
  /**
   * The position with its ledger of recently applied fills (fill id -> executed_at), for the writer:
   * it decides which entries have aged out. Ids kept only in a legacy ledger are not listed (they
   * are still honoured by `putIfVersion`).
   */
  getWithLedger(
    accountId: string,
    symbol: string,
  ): Promise<{ position: Position; appliedFills: Readonly<Record<string, string>> } | undefined>;
  /**
   * Replace a position if its version is still `expectedVersion` (0 = absent) and the fill has not
   * been applied; in the same write, remember the fill and forget the fills listed in `prune`.
   * 'conflict' means re-read and retry; 'duplicate' means the fill is already in.
   */
  putIfVersion(
    position: Position,
    expectedVersion: number,
    fill: AppliedFill,
    prune: readonly string[],
  ): Promise<'written' | 'conflict' | 'duplicate'>;
}

export interface ApprovalStore {
  create(approval: ApprovalRecord): Promise<CreateResult<ApprovalRecord>>;
  get(approvalId: string): Promise<ApprovalRecord | undefined>;
  /** Conditional transition out of `from`; returns undefined when the record was not in `from`. */
  transition(
    approvalId: string,
    from: ApprovalRecord['status'],
    patch: Partial<ApprovalRecord> & { status: ApprovalRecord['status'] },
  ): Promise<ApprovalRecord | undefined>;
  /** Replace the task token of a still-pending approval (a retried request step gets a new token). */
  updateTaskToken(approvalId: string, taskToken: string): Promise<ApprovalRecord | undefined>;
  listByStatus(status: ApprovalRecord['status'], limit: number, nextToken?: string): Promise<Page<ApprovalRecord>>;
}

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

export interface ArchivePutOptions {
  /**
   * Nothing may become visible or durable under the key before this resolves (and nothing at all
   * if it rejects). Lets the writer prepare an object while the claim it depends on is still
   * being made durable.
   */
  publishAfter?: Promise<void>;
}

/** Write-once archive of audit batches (S3 Object Lock on AWS, a local write-once directory). */
export interface AuditArchive {
  /** Write a new object; 'exists' when the key is already taken (never overwrites). */
  putIfAbsent(key: string, body: string, options?: ArchivePutOptions): Promise<'written' | 'exists'>;
  get(key: string): Promise<string | undefined>;
  /** Keys under a prefix, in lexical order. */
  list(prefix: string): Promise<string[]>;
}

export interface ChainHead {
  sequence: number; // last committed sequence, -1 for an empty log
  hash: string; // hash of that record, GENESIS_HASH for an empty log
  /**
   * The batch that moved the head here, as written to the archive (key and NDJSON body). The head
   * is claimed first (the conditional write is the arbiter), so a writer that dies before the
   * archive and index writes leaves its batch here for the next writer to finish: no fork, no gap.
   */
  batch?: { archiveKey: string; body: string };
  /**
   * The Merkle tree over records 0..sequence as its frontier: the roots of its perfect subtrees,
   * largest first, hex (functions/core/merkle.ts). Claimed with the head, so the tree cannot fork
   * either. Absent for the empty log.
   */
  frontier?: string[];
}

/** DynamoDB index of audit records, and the chain head that serialises appends. */
export interface AuditIndex {
  getHead(): Promise<ChainHead>;
  /** Move the head from `expected.sequence` to `next`; false when another writer moved it first. */
  advanceHead(expected: ChainHead, next: ChainHead): Promise<boolean>;
  /**
   * Optional, for a store that decides a conditional write before it is durable (the local
   * journal): the same compare-and-set, answered at once, with the durability of a won claim to
   * follow. A write made to this index after the call is durable only after the claim is.
   */
  claimHead?(expected: ChainHead, next: ChainHead): { won: boolean; durable: Promise<void> };
  putRecords(records: readonly AuditRecord[]): Promise<void>;
  queryByOrder(orderId: string, limit: number, nextToken?: string): Promise<Page<AuditRecord>>;
  queryByType(
    eventType: string,
    fromTs: string,
    toTs: string,
    limit: number,
    nextToken?: string,
  ): Promise<Page<AuditRecord>>;
  /** A trader's records between two timestamps (inclusive), oldest first. */
  queryByTrader(
    traderId: string,
    fromTs: string,
    toTs: string,
    limit: number,
    nextToken?: string,
  ): Promise<Page<AuditRecord>>;
}

/**
 * Signs audit checkpoints: ECDSA P-256 over SHA-256, the signature DER-encoded (KMS `Sign` with
 * ECDSA_SHA_256 and MessageType RAW on AWS; node:crypto locally). Same format either way, so one
 * verifier checks both with the public key alone.
 */
export interface CheckpointSigner {
  /** The public key as DER SubjectPublicKeyInfo (what KMS GetPublicKey returns). */
  publicKey(): Promise<Uint8Array>;
  /** A DER ECDSA signature over SHA-256(message). */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** Operational signals an alarm watches (CloudWatch metrics on AWS, counters locally). */
export interface OperationalMetrics {
  /** An audit write (archive, index or checkpoint) still failed after its retries: `stage` names which. */
  auditWriteFailed(stage: 'archive' | 'index' | 'checkpoint' | 'append'): void;
}

/**
 * An audit index that stores whole records (the local journal store) can also be the audit log's
 * commit point: the head and the batch's records in one conditional write, and the archive
 * written behind it, from the store, by an AuditArchiver (functions/core/audit-archiver.ts).
 */
export interface CommittingAuditIndex extends AuditIndex {
  /**
   * Claim the head and store the records in one conditional write: decided at once, durable with
   * the store's next sync. A write made after the call is durable only after this one is.
   */
  commitBatch(
    expected: ChainHead,
    next: ChainHead,
    records: readonly AuditRecord[],
    /** The records' canonical JSON, if the caller has it: stored as it is, not serialised again. */
    lines?: readonly string[],
  ): { won: boolean; durable: Promise<void> };
  /** Durable committed records from sequence `from` on, in order, at most `limit`. */
  recordsFrom(from: number, limit: number): Promise<AuditRecord[]>;
  /** The archiver's progress: every record up to this sequence is in the archive (-1: none). */
  archivedThrough(): Promise<number>;
  /** Resolves once the new progress is durable. Never moves it back. */
  setArchivedThrough(sequence: number): Promise<void>;
}

/** The order-lifecycle state machine. */
export interface Workflow {
  /** The id an execution started under this name gets (deterministic, so it can be answered first). */
  executionIdFor(name: string): string;
  /** Idempotent by name: starting the same name with the same input again is a no-op. */
  start(name: string, input: unknown): Promise<{ executionId: string }>;
  sendTaskSuccess(taskToken: string, output: unknown): Promise<void>;
  sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void>;
  describe(executionId: string): Promise<
    | {
        status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
        /** Why a failed execution stopped (its Fail state's error and cause). */
        error?: string;
        cause?: string;
      }
    | undefined
  >;
}

/** A trading venue. Orders carry the client order id, which the venue uses to drop duplicates. */
export interface Venue {
  submit(order: {
    clientOrderId: string;
    symbol: string;
    side: 'BUY' | 'SELL';
    quantity: number;
    orderType: 'MARKET' | 'LIMIT';
    limitPrice?: string;
    referencePrice: string;
  }): Promise<
    { status: 'FILLED'; price: string; quantity: number; venueExecId: string } | { status: 'REJECTED'; reason: string }
  >;
}

/** Where agents record what they decided (the audit trail). Resolves once durable. */
export interface AuditSink {
  append(event: AuditEvent): Promise<AuditRecord>;
}
