// Copies committed audit records from the store to the write-once archive, behind the appends.
// Used when the audit index is the commit point (a CommittingAuditIndex: the local journal store):
// an append is acknowledged once its record is durable in the store, and the archiver then writes
// the records, in sequence, into objects of up to `maxRecordsPerObject` (S3 and Athena both prefer
// fewer, larger objects to one per batch). Nothing is ever dropped: the store keeps every record
// and a watermark (archivedThrough) of what the archive holds, so a crash, a failed write or a
// restart resumes from the watermark, and an object written just before a crash is recognised and
// checked, never written twice. A transient failure is retried with backoff for as long as it lasts;
// meanwhile the backlog grows, and past `maxBacklog` records the audit log refuses new appends
// (fail closed: nothing is decided that could not be archived). An archive object that differs from
// the committed records (IntegrityError) stops the archiver, and with it the audit log.
import type { AuditArchive, Clock, CommittingAuditIndex } from '../ports.js';
import {
  type ArchivableRecord,
  archivable,
  archiveKeyFor,
  GENESIS_HASH,
  joinLines,
  parseBatch,
  sleep,
  verifyLinks,
} from './audit-chain.js';
import { IntegrityError, TransientError } from './errors.js';

const CLOSING_ATTEMPTS = 5;

export interface AuditArchiverOptions {
  /** Records an archive object holds at most. */
  maxRecordsPerObject?: number;
  /** How long newly committed records wait to be grouped into one object. */
  lingerMs?: number;
  /** Appends are refused while more committed records than this wait for the archive. */
  maxBacklog?: number;
  /** How long start() waits for the archive to catch up before it lets start-up go on. */
  startDrainMs?: number;
  /** First and longest wait between retries of a failed archive write. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** A failed archive write: retried (`willRetry`) or fatal (the archiver stops). */
  onError?: (err: unknown, willRetry: boolean) => void;
  /** An object was archived: how many records, and how long its oldest record waited since commit. */
  onArchived?: (records: number, lagMs: number) => void;
  /** The archive now holds every record up to `archivedThrough` (signed checkpoints wait for this). */
  onProgress?: (archivedThrough: number) => void;
}

/** The archiver was closed: appends and drains after that are refused. */
export class AuditArchiverClosedError extends Error {
  override readonly name = 'AuditArchiverClosedError';
}

export class AuditArchiver {
  /** Every record up to here is in the archive. */
  private archived = -1;
  /** Hash of the record at `archived`: each object must link to it. */
  private archivedHash = GENESIS_HASH;
  /** Every record up to here is committed and durable in the store. */
  private committedThrough = -1;
  /** When each commit notification arrived, oldest first: [last sequence, ns]. */
  private readonly commits: Array<[number, bigint]> = [];
  /**
   * Committed records handed over by the audit log, consecutive, not yet archived: the next objects
   * are written from these without reading the store back. Whatever is missing comes from the store.
   */
  private pending: ArchivableRecord[] = [];
  private running: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private failure: Error | undefined;
  private started = false;
  /** drain() calls in progress: the loop then writes everything, without lingering. */
  private draining = 0;
  private closing = false;
  private closed = false;
  private readonly maxRecordsPerObject: number;
  private readonly lingerMs: number;
  private readonly maxBacklog: number;
  private readonly retryBaseMs: number;
  private readonly startDrainMs: number;
  private readonly retryMaxMs: number;

  constructor(
    private readonly deps: { archive: AuditArchive; index: CommittingAuditIndex; clock: Clock },
    private readonly options: AuditArchiverOptions = {},
  ) {
    this.maxRecordsPerObject = options.maxRecordsPerObject ?? 1000;
    this.lingerMs = options.lingerMs ?? 100;
    this.maxBacklog = options.maxBacklog ?? 50_000;
    this.retryBaseMs = options.retryBaseMs ?? 50;
    this.startDrainMs = options.startDrainMs ?? 10_000;
    this.retryMaxMs = options.retryMaxMs ?? 5000;
    for (const [name, v] of [
      ['maxRecordsPerObject', this.maxRecordsPerObject],
      ['maxBacklog', this.maxBacklog],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    }
  }

  /**
   * Reads the watermark and the head, then archives whatever is committed but not archived yet
   * (left by a previous process). Resolves once the archive has caught up.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      await this.recoverProgress();
    } catch (err) {
      // Appends are refused from here on: nothing committed could be archived.
      this.failure = err instanceof Error ? err : new Error(String(err));
      throw err;
    }
    // Catch up before anything new, but not for ever: with the archive down, start-up goes on and
    // the archiver keeps retrying behind (appends are refused once the backlog is too deep).
    const drained = this.drain();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.startDrainMs);
    });
    try {
      if ((await Promise.race([drained, waited])) === 'timeout') drained.catch(() => undefined); // reported by onError
    } finally {
      clearTimeout(timer);
    }
  }

  private async recoverProgress(): Promise<void> {
    const { index } = this.deps;
    this.archived = await index.archivedThrough();
    const head = await index.getHead();
    if (this.archived < 0 && head.batch) {
      // A store of the earlier layout (the head carries its last batch): there every batch was
      // archived before its append answered, and AuditLog.recover() has finished the last one.
      await index.setArchivedThrough(head.sequence);
      this.archived = head.sequence;
    }
    if (this.archived >= 0) {
      const [last] = await index.recordsFrom(this.archived, 1);
      if (!last || last.sequence !== this.archived) {
        throw new IntegrityError(`audit record ${this.archived}, the last one archived, is missing from the store`);
      }
      this.archivedHash = last.hash;
    }
    this.committed(head.sequence);
  }

  /**
   * Records up to `sequence` are committed and durable: archive them soon. `records`, if given, are
   * the newest of them, as committed.
   */
  committed(sequence: number, records: readonly ArchivableRecord[] = []): void {
    for (const r of records) {
      if (r.sequence <= this.archived) continue;
      const last = this.pending[this.pending.length - 1];
      // Only a consecutive run is kept; after a gap, the store fills in.
      if (last && r.sequence !== last.sequence + 1) this.pending = [];
      this.pending.push(r);
    }
    if (sequence <= this.committedThrough) return;
    this.committedThrough = sequence;
    this.commits.push([sequence, this.deps.clock.nowNs()]);
    this.schedule();
  }

  /** Why an append must be refused now (the archive stopped, or is too far behind), if it must. */
  refusal(): Error | undefined {
    if (this.failure) return this.failure;
    if (this.closed) return new AuditArchiverClosedError('the audit archiver is closed');
    const backlog = this.backlog;
    if (backlog >= this.maxBacklog) {
      return new TransientError(
        `the audit archive is ${backlog} records behind (limit ${this.maxBacklog}); appends resume when it catches up`,
      );
    }
    return undefined;
  }

  /** Committed records not yet in the archive. */
  get backlog(): number {
    return Math.max(0, this.committedThrough - this.archived);
  }

  /** The last sequence in the archive. */
  get archivedThrough(): number {
    return this.archived;
  }

  /** Resolves once every record committed so far is archived; rejects if the archiver stopped. */
  async drain(): Promise<void> {
    const target = this.committedThrough;
    this.draining++;
    try {
      while (this.archived < target) {
        if (this.failure) throw this.failure;
        this.clearTimer();
        await this.run();
      }
      if (this.failure) throw this.failure;
    } finally {
      this.draining--;
    }
  }

  /**
   * Archives what is committed, then stops. If the archive cannot be written, rejects: the records
   * stay in the store, and the next start archives them.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    try {
      await this.drain();
    } finally {
      this.closed = true;
      this.clearTimer();
      await this.running?.catch(() => undefined);
    }
  }

  private schedule(): void {
    if (this.running || this.failure || this.closed || !this.started) return;
    const full = this.backlog >= this.maxRecordsPerObject;
    if (this.timer) {
      if (!full) return;
      this.clearTimer(); // a full object does not wait out the linger
    }
    const delay = full ? 0 : this.lingerMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run().catch(() => undefined); // recorded in `failure`, reported through onError
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One loop at a time; objects are written in sequence order. */
  private run(): Promise<void> {
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
      if (this.archived < this.committedThrough) this.schedule();
    });
    return this.running;
  }

  private async loop(): Promise<void> {
    let wrote = false;
    while (this.archived < this.committedThrough && !this.failure) {
      // After one object, only full ones go at once (or everything, while draining): the rest
      // waits out another linger, so that objects stay large under a steady flow of commits.
      if (wrote && this.draining === 0 && this.backlog < this.maxRecordsPerObject) return;
      wrote = true;
      for (let attempt = 0; ; attempt++) {
        try {
          await this.writeNext();
          break;
        } catch (err) {
          // Closing gives up after a few attempts: the records stay in the store for the next start.
          const fatal = err instanceof IntegrityError || (this.closing && attempt >= CLOSING_ATTEMPTS - 1);
          this.options.onError?.(err, !fatal);
          if (fatal) {
            this.failure = err instanceof Error ? err : new Error(String(err));
            throw this.failure;
          }
          await sleep(Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** attempt));
        }
      }
    }
  }

  private async writeNext(): Promise<void> {
    const { archive } = this.deps;
    const from = this.archived + 1;
    const taken = await this.take(from, Math.min(this.maxRecordsPerObject, this.committedThrough - this.archived));
    // One UTC day per object: the key's `dt=` partition is the first record's day, and a query
    // that filters on it must find every record of that day there.
    const day = taken[0]?.timestamp.slice(0, 10);
    const nextDay = taken.findIndex((r) => r.timestamp.slice(0, 10) !== day);
    const records = nextDay === -1 ? taken : taken.slice(0, nextDay);
    checkLinks(records, from, this.archivedHash);
    const key = archiveKeyFor(records[0] as ArchivableRecord);
    let written = records;
    if ((await archive.putIfAbsent(key, body(records))) === 'exists') {
      // Written by an earlier attempt or process, maybe with other bounds: it must hold exactly the
      // committed records from `from` on.
      const stored = (await archive.get(key)) ?? '';
      let lines: number;
      try {
        lines = parseBatch(stored).length;
      } catch {
        throw new IntegrityError(`archive object ${key} is not a batch of audit records`);
      }
      written = lines <= records.length ? records.slice(0, lines) : await this.take(from, lines);
      if (lines === 0 || written.length !== lines || body(written) !== stored) {
        throw new IntegrityError(`archive object ${key} differs from the committed audit records`);
      }
      checkLinks(written, from, this.archivedHash);
    }
    const last = written[written.length - 1] as ArchivableRecord;
    await this.deps.index.setArchivedThrough(last.sequence);
    this.archived = last.sequence;
    this.archivedHash = last.hash;
    const keep = this.pending.findIndex((r) => r.sequence > this.archived);
    this.pending = keep === -1 ? [] : this.pending.slice(keep);
    this.report(written.length);
  }

  /** Up to `count` committed records from `from` on: those handed over, else read from the store. */
  private async take(from: number, count: number): Promise<ArchivableRecord[]> {
    const first = this.pending[0];
    const last = this.pending[this.pending.length - 1];
    if (first && last && first.sequence <= from && last.sequence >= from) {
      const start = from - first.sequence;
      return this.pending.slice(start, start + count);
    }
    return (await this.deps.index.recordsFrom(from, count)).map((r) => archivable(r));
  }

  private report(count: number): void {
    const now = this.deps.clock.nowNs();
    let oldest: bigint | undefined;
    while (this.commits.length > 0 && (this.commits[0] as [number, bigint])[0] <= this.archived) {
      const [, at] = this.commits.shift() as [number, bigint];
      oldest ??= at;
    }
    // Records of a commit only partly archived: its time is the oldest still waiting.
    const waiting = this.commits[0];
    if (oldest === undefined && waiting) oldest = waiting[1];
    this.options.onArchived?.(count, oldest === undefined ? 0 : Number(now - oldest) / 1e6);
    this.options.onProgress?.(this.archived);
  }
}

function body(records: readonly ArchivableRecord[]): string {
  return joinLines(records.map((r) => r.line));
}

/** Consecutive sequences from `from`, each linked to the one before (the first to `prevHash`). */
function checkLinks(records: readonly ArchivableRecord[], from: number, prevHash: string): void {
  if (records.length === 0) throw new IntegrityError(`audit record ${from} is committed but missing from the store`);
  const broken = verifyLinks(records, { sequence: from - 1, hash: prevHash });
  if (broken) throw new IntegrityError(`audit record ${broken.sequence}: ${broken.problem}`);
}
