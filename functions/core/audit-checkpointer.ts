// Signs a checkpoint of the audit log every `everyRecords` records or `everyMs` milliseconds,
// whichever comes first, and archives it (write-once) beside the records. Only a tree whose records
// are all in the archive is signed, so a checkpoint never names records an auditor cannot read.
//
// The audit log reports each committed head (its size and Merkle root) and, when the archive is
// written behind the store, the archiver reports how far the archive has got; the latest committed
// head the archive covers is the candidate. Several writers (Lambda instances) may each sign: their
// checkpoints differ in size or are the same size with the same root (the second write finds the
// key taken and checks the root matches: a different root would be a fork, and is refused loudly).
import type { AuditArchive, CheckpointSigner, Clock, OperationalMetrics } from '../ports.js';
import {
  CHECKPOINT_PREFIX,
  type Checkpoint,
  checkpointKey,
  keyIdOf,
  parseCheckpoint,
  type SignedCheckpoint,
  serializeCheckpoint,
  signCheckpoint,
} from './checkpoint.js';
import { IntegrityError } from './errors.js';
import { formatNs, parseNs } from './time.js';

export interface CheckpointerOptions {
  /**
   * Sign each time the log crosses a multiple of this many records: the writer whose batch
   * crossed it signs, so concurrent writers sign once per multiple between them, not once each.
   */
  everyRecords?: number;
  /**
   * Sign once this long has passed since this writer's last checkpoint, if any record was added.
   * null: no time rule here (on AWS one scheduled signer keeps it, not every Lambda instance).
   */
  everyMs?: number | null;
  /** Committed heads remembered while the archive catches up. */
  maxCandidates?: number;
  onError?: (err: unknown) => void;
}

export interface CheckpointerDeps {
  archive: AuditArchive;
  signer: CheckpointSigner;
  clock: Clock;
  /** The log's name, in every checkpoint. */
  origin: string;
  metrics?: OperationalMetrics;
}

/**
 * The latest archived checkpoint, or undefined when none has been signed yet. Given the log's size
 * (no checkpoint is larger), it lists only the keys near it: sizes sharing all but the last 3
 * digits first, then 4, 5… (a year of checkpoints is hundreds of thousands of keys; a full listing
 * on every report or proof would be hundreds of round trips).
 */
export async function latestCheckpoint(
  archive: Pick<AuditArchive, 'list' | 'get'>,
  atMost?: number,
): Promise<SignedCheckpoint | undefined> {
  let key: string | undefined;
  if (atMost === undefined) {
    const keys = await archive.list(CHECKPOINT_PREFIX);
    key = keys.filter((k) => CHECKPOINT_KEY.test(k)).at(-1);
  } else {
    const bound = checkpointKey(atMost);
    const digits = bound.slice(CHECKPOINT_PREFIX.length, CHECKPOINT_PREFIX.length + 20);
    for (let keep = 17; key === undefined; keep -= 1) {
      const keys = await archive.list(`${CHECKPOINT_PREFIX}${digits.slice(0, Math.max(0, keep))}`);
      key = keys.filter((k) => CHECKPOINT_KEY.test(k) && k <= bound).at(-1);
      if (keep <= 0) break;
    }
  }
  if (key === undefined) return undefined;
  const text = await archive.get(key);
  if (text === undefined) throw new IntegrityError(`checkpoint ${key} is listed but cannot be read`);
  return parseCheckpoint(text);
}

/** Only keys of this form are checkpoints (anything else under the prefix is not read as one). */
const CHECKPOINT_KEY = /^checkpoints\/\d{20}\.json$/;

interface Signed {
  size: number;
  atNs: bigint;
}

export class Checkpointer {
  private readonly everyRecords: number;
  private readonly everyNs: bigint | undefined;
  private readonly maxCandidates: number;
  /** Committed (size, root) pairs above the last signed size, ascending; `crossed`: a multiple of everyRecords. */
  private readonly candidates: Array<{ size: number; root: string; crossed: boolean }> = [];
  private archivedSize = 0;
  private last: Signed | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private keyId: string | undefined;

  constructor(
    private readonly deps: CheckpointerDeps,
    private readonly options: CheckpointerOptions = {},
  ) {
    this.everyRecords = options.everyRecords ?? 1000;
    this.everyNs = options.everyMs === null ? undefined : BigInt(options.everyMs ?? 10_000) * 1_000_000n;
    this.maxCandidates = options.maxCandidates ?? 4096;
    if (!Number.isSafeInteger(this.everyRecords) || this.everyRecords < 1) {
      throw new RangeError('everyRecords must be a whole number ≥ 1');
    }
    if (this.everyNs !== undefined && this.everyNs < 1_000_000n) throw new RangeError('everyMs must be ≥ 1');
  }

  /**
   * A head is committed: `size` records, Merkle root `root` (hex), by a batch that began at
   * `fromSize` (whoever committed the batch that crossed a multiple of everyRecords signs it).
   */
  noteCommitted(size: number, root: string, fromSize = size): void {
    const crossed = Math.floor(size / this.everyRecords) > Math.floor(fromSize / this.everyRecords);
    const top = this.candidates[this.candidates.length - 1];
    if (top && top.size >= size) {
      // A head noted late (a batch finished after a later one): its crossing still counts.
      if (crossed) top.crossed = true;
      this.poke();
      return;
    }
    this.candidates.push({ size, root, crossed });
    if (this.candidates.length > this.maxCandidates)
      this.candidates.splice(0, this.candidates.length - this.maxCandidates);
    this.poke();
  }

  /** The archive holds records 0..size-1. */
  noteArchived(size: number): void {
    if (size <= this.archivedSize) return;
    this.archivedSize = size;
    this.poke();
  }

  /** The time rule: called by a timer (locally) or a schedule (AWS). Resolves once any due signing is done. */
  async tick(): Promise<void> {
    this.poke();
    while (this.running) await this.running;
  }

  /** Resolves once any signing under way is done (starts none). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Signs now whatever archived head is newer than the last checkpoint, due or not (shutdown, tests). */
  async flush(): Promise<SignedCheckpoint | undefined> {
    await this.tick();
    const c = await this.candidate();
    if (!c) return undefined;
    return this.sign(c);
  }

  private poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    const run = (async () => {
      try {
        do {
          this.again = false;
          const c = await this.candidate();
          if (c && this.due(c)) await this.sign(c);
        } while (this.again);
      } catch (err) {
        // The records stay protected by the chain; the next trigger tries again.
        this.deps.metrics?.auditWriteFailed('checkpoint');
        this.options.onError?.(err);
      }
    })();
    this.running = run;
    void run.finally(() => {
      if (this.running === run) this.running = undefined;
    });
  }

  /**
   * The newest committed head the archive covers, above the last signed size; `crossed` if it or
   * any head before it that the archive covers crossed a multiple of everyRecords.
   */
  private async candidate(): Promise<{ size: number; root: string; crossed: boolean } | undefined> {
    const last = await this.lastSigned();
    while (this.candidates.length > 0 && (this.candidates[0] as { size: number }).size <= last.size) {
      this.candidates.shift();
    }
    let best: { size: number; root: string; crossed: boolean } | undefined;
    let crossed = false;
    for (const c of this.candidates) {
      if (c.size > this.archivedSize) break;
      crossed ||= c.crossed;
      best = c;
    }
    return best ? { ...best, crossed } : undefined;
  }

  private due(c: { size: number; crossed: boolean }): boolean {
    const last = this.last;
    if (!last || c.size <= last.size) return false;
    if (c.crossed) return true;
    return this.everyNs !== undefined && this.deps.clock.nowNs() - last.atNs >= this.everyNs;
  }

  private async lastSigned(): Promise<Signed> {
    if (this.last) return this.last;
    const cp = await latestCheckpoint(this.deps.archive, this.candidates.at(-1)?.size);
    // No checkpoint yet: count time from now, so the first is signed within everyMs.
    this.last = cp
      ? { size: cp.tree_size, atNs: parseNs(cp.timestamp) ?? 0n }
      : { size: 0, atNs: this.deps.clock.nowNs() };
    return this.last;
  }

  private async sign(c: { size: number; root: string }): Promise<SignedCheckpoint> {
    this.keyId ??= keyIdOf(await this.deps.signer.publicKey());
    const atNs = this.deps.clock.nowNs();
    const cp: Checkpoint = {
      origin: this.deps.origin,
      tree_size: c.size,
      root_hash: c.root,
      timestamp: formatNs(atNs),
    };
    const signed = await signCheckpoint(this.deps.signer, cp, this.keyId);
    const key = checkpointKey(c.size);
    const result = await this.deps.archive.putIfAbsent(key, serializeCheckpoint(signed));
    let stored = signed;
    if (result === 'exists') {
      // Another writer signed this size first: the same tree must have the same root.
      const text = await this.deps.archive.get(key);
      const theirs = text === undefined ? undefined : parseCheckpoint(text);
      if (!theirs || theirs.root_hash !== c.root || theirs.origin !== cp.origin) {
        throw new IntegrityError(`checkpoint ${key} already holds a different tree: the log has forked`);
      }
      stored = theirs;
    }
    const storedNs = parseNs(stored.timestamp) ?? atNs;
    if (!this.last || c.size > this.last.size) this.last = { size: c.size, atNs: storedNs };
    return stored;
  }
}

/**
 * The trail auditors see: `checkpoint()` brings the archive up to the committed head (`settle`
 * finishes a batch left unwritten, or waits for the archiver), signs what the latest checkpoint
 * does not cover yet, and returns the latest.
 */
export class CheckpointedTrail {
  constructor(
    readonly archive: AuditArchive,
    private readonly checkpointer: Checkpointer,
    private readonly settle: () => Promise<{ size: number; root: string }>,
  ) {}

  /** Records in the committed log (archived, once this resolves). */
  async size(): Promise<number> {
    return (await this.settle()).size;
  }

  async checkpoint(): Promise<SignedCheckpoint | undefined> {
    const tree = await this.settle();
    this.checkpointer.noteCommitted(tree.size, tree.root);
    this.checkpointer.noteArchived(tree.size);
    await this.checkpointer.flush();
    return latestCheckpoint(this.archive, tree.size);
  }
}
