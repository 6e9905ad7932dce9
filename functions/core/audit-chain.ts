// The audit trail: every event becomes a record with a sequence number, a nanosecond UTC timestamp
// and the hash of the previous record, committed in batches (group commit) so that concurrent
// orders share round trips. Commit order per batch: claim the head (conditional write: the only
// arbiter, so the sequence cannot fork), write the batch to the write-once archive, index it.
// One batch at a time: a batch claimed but not written (its write failed) is written before the
// next claim, and the head carries it meanwhile, so whoever reads the head next can finish it.
//
// With an index that stores whole records (a CommittingAuditIndex, the local journal store) and an
// AuditArchiver, the store is the commit point instead: head and records in one conditional write,
// acknowledged once durable, each batch claimed as soon as the one before is decided (the store
// keeps a prefix of its writes, so a durable batch implies every batch before it), and the archive
// written behind, from the store (audit-archiver.ts).
import type { AuditArchive, AuditIndex, ChainHead, Clock, CommittingAuditIndex, OperationalMetrics } from '../ports.js';
import type { AuditArchiver } from './audit-archiver.js';
import type { Checkpointer } from './audit-checkpointer.js';
import { CanonicalText, canonicalJson, quote } from './canonical-json.js';
import { type FieldError, IntegrityError, TransientError, ValidationError } from './errors.js';
import { leafHash, MerkleFrontier } from './merkle.js';
import { AUDIT_EVENT_TYPES, type AuditEvent, type AuditRecord } from './model.js';
import { formatNs } from './time.js';

export const GENESIS_HASH = '0'.repeat(64);
const EVENT_TYPES: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);

/**
 * The record's hash: its RFC 9162 leaf hash, SHA-256(0x00 || canonical JSON of every field but
 * `hash`). The chain links these, and the Merkle tree's leaves are these (merkle.ts).
 */
export function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  return leafHash(canonicalJson(record)).toString('hex');
}

/** An event's fields as a record needs them (the payload of log_event is not typed at run time). */
function eventShapeErrors(event: AuditEvent): FieldError[] {
  const errors: FieldError[] = [];
  for (const field of ['actor', 'decision', 'reason'] as const) {
    if (typeof event[field] !== 'string') errors.push({ field, rule: 'string', message: `${field} must be a string` });
  }
  for (const field of ['order_id', 'trader_id'] as const) {
    const v = event[field];
    if (v !== undefined && typeof v !== 'string') {
      errors.push({ field, rule: 'string', message: `${field} must be a string when given` });
    }
  }
  if (event.input === undefined) errors.push({ field: 'input', rule: 'required', message: 'input is required' });
  return errors;
}

export function eventIdFor(sequence: number): string {
  return `EVT-${String(sequence).padStart(20, '0')}`;
}

export function archiveKeyFor(first: Pick<AuditRecord, 'timestamp' | 'sequence'>): string {
  return `records/dt=${first.timestamp.slice(0, 10)}/${String(first.sequence).padStart(20, '0')}.jsonl`;
}

export function serializeBatch(records: readonly AuditRecord[]): string {
  return joinLines(records.map((r) => canonicalJson(r)));
}

/** An archive object's body: one line a record, each ended by a newline. */
export function joinLines(lines: readonly string[]): string {
  return lines.map((l) => `${l}\n`).join('');
}

/** A committed record as the archiver needs it: its links, its date and its line in an object. */
export interface ArchivableRecord {
  sequence: number;
  prev_hash: string;
  hash: string;
  timestamp: string;
  /** canonicalJson(record), without the newline: objects are these lines, each ended by one. */
  line: string;
}

/** `line`: the record's canonical JSON when the caller has it already. */
export function archivable(r: AuditRecord, line = canonicalJson(r)): ArchivableRecord {
  return { sequence: r.sequence, prev_hash: r.prev_hash, hash: r.hash, timestamp: r.timestamp, line };
}

export function parseBatch(body: string): AuditRecord[] {
  return body
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as AuditRecord);
}

export interface ChainBreak {
  sequence: number;
  problem: string;
}

/** Checks sequence continuity, prev-hash links and each record's own hash; names the first break. */
export function verifyChain(
  records: readonly AuditRecord[],
  from?: { sequence: number; hash: string },
): ChainBreak | undefined {
  return verifyLinks(records, from, ({ hash: _, ...rest }) => hashRecord(rest));
}

/**
 * Sequence continuity and prev-hash links, and, with `rehash`, each record's own hash (verifyChain);
 * names the first break.
 */
export function verifyLinks<R extends Pick<AuditRecord, 'sequence' | 'prev_hash' | 'hash'>>(
  records: readonly R[],
  from?: { sequence: number; hash: string },
  rehash?: (r: R) => string,
): ChainBreak | undefined {
  let prevSeq = from?.sequence ?? -1;
  let prevHash = from?.hash ?? GENESIS_HASH;
  for (const r of records) {
    if (r.sequence !== prevSeq + 1) return { sequence: r.sequence, problem: `expected sequence ${prevSeq + 1}` };
    if (r.prev_hash !== prevHash)
      return { sequence: r.sequence, problem: 'prev_hash does not match the previous record' };
    if (rehash && rehash(r) !== r.hash)
      return { sequence: r.sequence, problem: 'record hash does not match its content' };
    prevSeq = r.sequence;
    prevHash = r.hash;
  }
  return undefined;
}

export interface AuditLogOptions {
  maxBatch?: number;
  /** Attempts at claiming the head before the append fails (each conflict means another writer won). */
  maxClaimAttempts?: number;
  /** Attempts for the archive and index writes of a claimed batch. */
  maxWriteAttempts?: number;
  onBatch?: (size: number) => void;
}

interface Pending {
  event: AuditEvent;
  /** The event's input in canonical JSON, serialised once (append checks it is canonical). */
  input: CanonicalText;
  resolve: (r: AuditRecord) => void;
  reject: (e: unknown) => void;
}

type ArchivedBatch = NonNullable<ChainHead['batch']>;

export interface Tree {
  size: number;
  root: string;
}

interface Built {
  records: AuditRecord[];
  lines: string[];
  /** The head after the batch: last sequence and hash, and the tree's frontier. */
  next: ChainHead;
  tree: Tree;
}

interface Claimed {
  batch: ArchivedBatch;
  records: AuditRecord[];
  /** The tree the batch completes: its size and root (hex). */
  tree?: Tree;
  /** When the claim itself becomes durable (a store that decides before it syncs); else already is. */
  durable?: Promise<void>;
}

export class AuditLog {
  private readonly queue: Pending[] = [];
  private flushing = false;
  private head: ChainHead | undefined;
  /** This writer's batch that is claimed but whose write failed: written before anything new. */
  private unwritten: Claimed | undefined;
  private readonly maxBatch: number;
  private readonly maxClaimAttempts: number;
  private readonly maxWriteAttempts: number;

  /** Store-committed mode (see the top of this file). */
  private readonly committing: { index: CommittingAuditIndex; archiver: AuditArchiver } | undefined;

  constructor(
    private readonly deps: {
      archive: AuditArchive;
      index: AuditIndex;
      clock: Clock;
      archiver?: AuditArchiver;
      /** Told of each committed head (and, without an archiver, that its records are archived). */
      checkpointer?: Checkpointer;
      /** Counts writes that still failed after their retries (the alarm's metric). */
      metrics?: OperationalMetrics;
    },
    private readonly options: AuditLogOptions = {},
  ) {
    if (deps.archiver) {
      if (!isCommittingIndex(deps.index)) throw new TypeError('an audit archiver needs an index that commits batches');
      this.committing = { index: deps.index, archiver: deps.archiver };
    }
    // 25 = one DynamoDB BatchWriteItem for the index.
    this.maxBatch = options.maxBatch ?? 25;
    this.maxClaimAttempts = options.maxClaimAttempts ?? 20;
    this.maxWriteAttempts = options.maxWriteAttempts ?? 5;
  }

  /**
   * Resolves once the record is durable before the caller proceeds: in the archive and the index,
   * or, in store-committed mode, in the store, which the archiver copies to the archive behind.
   */
  append(event: AuditEvent): Promise<AuditRecord> {
    if (!EVENT_TYPES.has(event.event_type)) {
      return Promise.reject(
        new ValidationError([
          {
            field: 'event_type',
            rule: 'enum',
            message: `unknown audit event type ${JSON.stringify(event.event_type)}`,
          },
        ]),
      );
    }
    const malformed = eventShapeErrors(event);
    if (malformed.length > 0) return Promise.reject(new ValidationError(malformed));
    let input: CanonicalText;
    try {
      // Refuse a non-canonical input here, so it cannot fail the other events of its batch.
      input = new CanonicalText(canonicalJson(event.input));
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ event, input, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (!this.flushing) void this.flush();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        if (this.committing) {
          await this.commit(batch, this.committing);
          continue;
        }
        let claimed: Claimed;
        try {
          // Nothing new is claimed past a batch that cannot be written (persist counts its failure):
          // its callers hear why.
          await this.writeUnwritten();
        } catch (err) {
          this.head = undefined;
          for (const p of batch) p.reject(err);
          continue;
        }
        try {
          claimed = await this.claim(batch);
          // A batch is cut at a UTC day's end: the rest goes first into the next one.
          this.queue.unshift(...batch.splice(claimed.records.length));
        } catch (err) {
          // The head store failed, or stayed contended: nothing was recorded, and the alarm hears it.
          this.head = undefined; // re-read from the store next time
          this.deps.metrics?.auditWriteFailed('append');
          for (const p of batch) p.reject(err);
          continue;
        }
        try {
          await this.persist(claimed.batch, claimed.records, claimed.durable);
        } catch (err) {
          // Still claimed (the head carries it): written first, before the next claim.
          this.unwritten = claimed;
          for (const p of batch) p.reject(err);
          continue;
        }
        this.options.onBatch?.(claimed.records.length);
        if (claimed.tree) this.archivedTree(claimed.tree, claimed.records.length);
        batch.forEach((p, i) => {
          const r = claimed.records[i];
          if (r) p.resolve(r);
          else p.reject(new IntegrityError('audit batch lost a record'));
        });
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Store-committed mode: the batch is decided at once and its callers answered when it is durable;
   * the next batch does not wait for that. Refused while the archive has stopped or is too far behind.
   */
  private async commit(
    batch: Pending[],
    committing: { index: CommittingAuditIndex; archiver: AuditArchiver },
  ): Promise<void> {
    let records: AuditRecord[];
    let lines: string[];
    let durable: Promise<void>;
    let tree: Tree;
    try {
      const refusal = committing.archiver.refusal();
      if (refusal) throw refusal;
      ({ records, lines, durable, tree } = await this.claimCommitted(batch, committing.index));
      // A batch is cut at a UTC day's end: the rest goes first into the next one.
      this.queue.unshift(...batch.splice(records.length));
    } catch (err) {
      this.head = undefined;
      this.deps.metrics?.auditWriteFailed('append');
      for (const p of batch) p.reject(err);
      return;
    }
    durable.then(
      () => {
        // The archiver takes the lines as committed, before any caller holds a record.
        const last = records[records.length - 1];
        if (last) {
          committing.archiver.committed(
            last.sequence,
            records.map((r, i) => archivable(r, lines[i])),
          );
        }
        this.options.onBatch?.(records.length);
        // Signed once the archiver reports these records archived (noteArchived).
        this.deps.checkpointer?.noteCommitted(tree.size, tree.root, tree.size - records.length);
        batch.forEach((p, i) => {
          const r = records[i];
          if (r) p.resolve(r);
          else p.reject(new IntegrityError('audit batch lost a record'));
        });
      },
      (err: unknown) => {
        this.head = undefined; // the store failed (it stops): nothing after this is acknowledged
        this.deps.metrics?.auditWriteFailed('append');
        for (const p of batch) p.reject(err);
      },
    );
  }

  private claimCommitted(
    items: readonly Pending[],
    index: CommittingAuditIndex,
  ): Promise<{ records: AuditRecord[]; lines: string[]; durable: Promise<void>; tree: Tree }> {
    return this.claimRange(items, async (head, { records, lines, next, tree }) => {
      const { won, durable } = index.commitBatch(head, next, records, lines);
      return won ? { next, claimed: { records, lines, durable, tree } } : undefined;
    });
  }

  /**
   * Builds the batch on the current head and tries `attempt` (a conditional write); when another
   * writer moved the head first, builds again on top of theirs, with a short random backoff.
   */
  private async claimRange<T>(
    items: readonly Pending[],
    attempt: (head: ChainHead, built: Built) => Promise<{ next: ChainHead; claimed: T } | undefined>,
  ): Promise<T> {
    for (let i = 0; i < this.maxClaimAttempts; i++) {
      const head = await this.currentHead();
      const built = this.build(items, head);
      if (built.records.length === 0) throw new IntegrityError('empty audit batch');
      const won = await attempt(head, built);
      if (won) {
        this.head = won.next;
        return won.claimed;
      }
      this.head = undefined; // another writer moved the head: rebuild on top of theirs
      await sleep(Math.min(50, 2 ** i) * Math.random());
    }
    throw new TransientError('audit head contended: could not claim a sequence range');
  }

  private async writeUnwritten(): Promise<void> {
    const c = this.unwritten;
    if (!c) return;
    await this.persist(c.batch, c.records, c.durable);
    this.unwritten = undefined;
    if (c.tree) this.archivedTree(c.tree, c.records.length);
  }

  /**
   * Tells the checkpointer a batch is archived (direct mode), wherever it was finished: by its
   * writer, later by the same writer, or by another reading the head. A batch that crossed a
   * multiple of the count rule is then still signed, whoever finished it.
   */
  private archivedTree(tree: Tree, records: number): void {
    if (!this.deps.checkpointer || this.committing) return;
    this.deps.checkpointer.noteCommitted(tree.size, tree.root, tree.size - records);
    this.deps.checkpointer.noteArchived(tree.size);
  }

  private claim(items: readonly Pending[]): Promise<Claimed> {
    return this.claimRange(items, async (head, built) => {
      const { records, lines, tree } = built;
      const first = records[0] as AuditRecord;
      const batch: ArchivedBatch = { archiveKey: archiveKeyFor(first), body: joinLines(lines) };
      const next: ChainHead = { ...built.next, batch };
      const { won, durable } = await this.claimHead(head, next);
      return won ? { next, claimed: { batch, records, tree, ...(durable ? { durable } : {}) } } : undefined;
    });
  }

  /**
   * The conditional write that claims a sequence range. A store that decides before it syncs
   * (claimHead) lets the batch's archive object be prepared while the claim becomes durable; the
   * object is published only after it (publishAfter), so a crash never leaves an archived batch
   * the head does not know of.
   */
  private async claimHead(head: ChainHead, next: ChainHead): Promise<{ won: boolean; durable?: Promise<void> }> {
    const index = this.deps.index;
    if (!index.claimHead) return { won: await index.advanceHead(head, next) };
    const { won, durable } = index.claimHead(head, next);
    durable.catch(() => undefined); // awaited with the batch's writes; never left unhandled
    return won ? { won, durable } : { won };
  }

  /**
   * Reads the head and finishes a batch its writer left unwritten (the head carries it), so that
   * what the store holds is complete before anything reads it (the archiver, at start-up).
   */
  async recover(): Promise<{ sequence: number; hash: string }> {
    this.head = undefined;
    const { sequence, hash } = await this.currentHead();
    return { sequence, hash };
  }

  /** The tree the committed log forms now (after finishing any batch left unwritten). */
  async tree(): Promise<Tree> {
    this.head = undefined;
    const head = await this.currentHead();
    const frontier = frontierOf(head);
    return { size: frontier.size, root: frontier.root().toString('hex') };
  }

  private async currentHead(): Promise<ChainHead> {
    if (this.head) return this.head;
    const head = await this.deps.index.getHead();
    // A head read from the store may carry a batch whose writer died before writing it.
    if (head.batch) {
      const records = parseBatch(head.batch.body);
      await this.persist(head.batch, records);
      const frontier = frontierOf(head);
      this.archivedTree({ size: frontier.size, root: frontier.root().toString('hex') }, records.length);
    }
    this.head = head;
    return head;
  }

  /**
   * The batch's records on top of `head`, each one's canonical JSON (its archive line), and the head
   * and Merkle tree after it.
   */
  private build(items: readonly Pending[], head: ChainHead): Built {
    let prevHash = head.hash;
    let seq = head.sequence;
    const frontier = frontierOf(head);
    const lines: string[] = [];
    const records: AuditRecord[] = [];
    let day: string | undefined;
    for (const { event: e, input } of items) {
      const timestamp = formatNs(this.deps.clock.nowNs());
      // One UTC day a batch: its object lands in that day's dt= partition, which the named queries
      // prune on. The rest waits for the next batch.
      day ??= timestamp.slice(0, 10);
      if (timestamp.slice(0, 10) !== day) break;
      seq += 1;
      const partial: Omit<AuditRecord, 'hash'> = {
        sequence: seq,
        event_id: eventIdFor(seq),
        timestamp,
        event_type: e.event_type,
        ...(e.order_id !== undefined ? { order_id: e.order_id } : {}),
        ...(e.trader_id !== undefined ? { trader_id: e.trader_id } : {}),
        actor: e.actor,
        input: e.input,
        decision: e.decision,
        reason: e.reason,
        prev_hash: prevHash,
      };
      // Hash and line reuse the input's canonical text: the same bytes as serialising it again.
      const leaf = leafHash(recordText(partial, input.text));
      frontier.push(leaf);
      const hash = leaf.toString('hex');
      lines.push(recordText(partial, input.text, hash));
      records.push({ ...partial, hash });
      prevHash = hash;
    }
    return {
      records,
      lines,
      next: { sequence: seq, hash: prevHash, frontier: frontier.toHex() },
      tree: { size: frontier.size, root: frontier.root().toString('hex') },
    };
  }

  /**
   * Archive and index at once (one round trip of latency, not two): both are idempotent, retried,
   * and surfaced (never dropped) if they keep failing. The claimed head holds the batch, so if
   * either write is cut short, the batch stays unwritten and the next reader of the head
   * completes both. The index may therefore list a record a moment before the archive holds it.
   */
  private async persist(
    batch: { archiveKey: string; body: string },
    records: readonly AuditRecord[],
    claimDurable?: Promise<void>,
  ): Promise<void> {
    const publishAfter = claimDurable ? { publishAfter: claimDurable } : {};
    const archived = retry(this.maxWriteAttempts, async () => {
      const result = await this.deps.archive.putIfAbsent(batch.archiveKey, batch.body, publishAfter);
      if (result === 'exists') {
        const stored = await this.deps.archive.get(batch.archiveKey);
        if (stored !== batch.body)
          throw new IntegrityError(`archive object ${batch.archiveKey} differs from the claimed batch`);
      }
    });
    const indexed = retry(this.maxWriteAttempts, () => this.deps.index.putRecords(records));
    // All settle before the outcome is known: no write of this batch is left running behind it.
    const [c, a, i] = await Promise.allSettled([claimDurable, archived, indexed]);
    if (a.status === 'rejected') this.deps.metrics?.auditWriteFailed('archive');
    if (i.status === 'rejected') this.deps.metrics?.auditWriteFailed('index');
    if (c.status === 'rejected') throw c.reason;
    if (a.status === 'rejected') throw a.reason;
    if (i.status === 'rejected') throw i.reason;
  }
}

/**
 * canonicalJson of a record (with its hash if given, without it for the leaf), `input` given as
 * its canonical text: the record's fields in their sorted order (actor, decision, event_id,
 * event_type, hash, input, order_id, prev_hash, reason, sequence, timestamp, trader_id), written
 * directly, as every append does this twice. The unit test holds it equal to canonicalJson.
 */
export function recordText(r: Omit<AuditRecord, 'hash' | 'input'>, input: string, hash?: string): string {
  return (
    `{"actor":${quote(r.actor)},"decision":${quote(r.decision)},"event_id":${quote(r.event_id)}` +
    `,"event_type":${quote(r.event_type)}${hash === undefined ? '' : `,"hash":${quote(hash)}`},"input":${input}` +
    `${r.order_id === undefined ? '' : `,"order_id":${quote(r.order_id)}`},"prev_hash":${quote(r.prev_hash)}` +
    `,"reason":${quote(r.reason)},"sequence":${r.sequence},"timestamp":${quote(r.timestamp)}` +
    `${r.trader_id === undefined ? '' : `,"trader_id":${quote(r.trader_id)}`}}`
  );
}

/** The head's Merkle frontier; a head written before the log kept one cannot be extended. */
export function frontierOf(head: ChainHead): MerkleFrontier {
  if (head.sequence < 0) return MerkleFrontier.empty();
  if (!head.frontier) {
    throw new IntegrityError(
      'the audit head has no Merkle frontier: the log was written before it kept one (start from a new data directory)',
    );
  }
  return MerkleFrontier.fromHex(head.sequence + 1, head.frontier);
}

export function isCommittingIndex(index: AuditIndex): index is CommittingAuditIndex {
  const i = index as Partial<CommittingAuditIndex>;
  return (
    typeof i.commitBatch === 'function' &&
    typeof i.recordsFrom === 'function' &&
    typeof i.archivedThrough === 'function' &&
    typeof i.setArchivedThrough === 'function'
  );
}

async function retry(attempts: number, fn: () => Promise<void>): Promise<void> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      await fn();
      return;
    } catch (err) {
      if (err instanceof IntegrityError) throw err;
      last = err;
      await sleep(Math.min(1000, 20 * 2 ** i));
    }
  }
  throw new TransientError(`audit write failed after ${attempts} attempts: ${String(last)}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
