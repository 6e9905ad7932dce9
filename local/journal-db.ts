// The embedded database of the local platform: tables held in memory, every change appended to a
// write-ahead journal under <dataDir>/store and fsynced (group commit) before the write resolves.
// It exists because the pipeline's target (DESIGN.md: "use these, or something shown to be
// better") is out of reach through the AWS SDK and dynalite on two cores (docs/benchmarks.md):
// the DynamoDB adapters stay the AWS path and are tested on dynalite and DynamoDB Local, while
// the local stores (journal-stores.ts) give the same port semantics without a network hop.
//
// Durability: a write is applied in memory at once and its journal line queued; the queue is
// written and fdatasynced as one group commit (started at the end of the event-loop turn, so the
// writes of one turn share it), and the write resolves only after the sync that
// covers it (nothing acknowledged is lost, even by a machine crash). Other callers may read a
// change before it is durable, but the journal is one ordered file, so what survives a crash is
// always a prefix of the history: nothing durable can depend on a change that was lost. Journal
// lines carry whole values, so replaying a line twice yields the same state: the snapshot taken
// at start-up and the journal may overlap after a crash between the two steps of compaction.
import {
  closeSync,
  existsSync,
  fdatasync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** Thrown after the journal could not be written or synced: the store stops (fail-stop). */
export class JournalWriteError extends Error {
  override readonly name = 'JournalWriteError';
}

/** The journal or snapshot on disk is not what this store wrote (a line in the middle is unreadable). */
export class JournalCorruptError extends Error {
  override readonly name = 'JournalCorruptError';
}

/** One change: table, partition key, sort key ('' for tables without one), the new value or null (deleted). */
interface JournalLine {
  t: string;
  p: string;
  s: string;
  v: unknown;
}

/**
 * An item as stored: its JSON text, parsed on first read. Most items written (audit records, the
 * intermediate states of an order) are never read back, so they are never parsed.
 */
interface Entry {
  text: string;
  value?: unknown;
  /** The journal write that stored it (0 = read at start-up, durable). */
  seq: number;
}

type Partition = Map<string, Entry>;

function parsed(e: Entry): unknown {
  if (e.value === undefined) e.value = JSON.parse(e.text);
  return e.value;
}

const SNAPSHOT = 'snapshot.jsonl';
const JOURNAL = 'journal.jsonl';

export interface JournalDbOptions {
  dir: string;
}

export class JournalDb {
  private readonly tables = new Map<string, Map<string, Partition>>();
  private fd: number | undefined;
  private failed: Error | undefined;
  private waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private syncing = false;
  private flushScheduled = false;
  private syncCount = 0;
  private buffer = '';
  private bytes = 0;
  /** Writes made since start-up, and how many of them are known durable (a prefix). */
  private written = 0;
  private durableSeq = 0;
  /** Operations by kind, counted by the stores (the benchmark reports them per order). */
  readonly counters: Record<string, number> = {};

  private constructor(private readonly dir: string) {}

  /** Loads the snapshot and the journal, compacts them into a new snapshot, and opens a fresh journal. */
  static open(options: JournalDbOptions): JournalDb {
    const db = new JournalDb(options.dir);
    mkdirSync(options.dir, { recursive: true });
    const snapshot = join(options.dir, SNAPSHOT);
    const journal = join(options.dir, JOURNAL);
    db.replay(snapshot, false);
    const replayed = db.replay(journal, true);
    if (replayed > 0 || !existsSync(snapshot)) {
      // Snapshot first (complete, synced, renamed into place), only then empty the journal.
      const tmp = `${snapshot}.tmp`;
      const fd = openSync(tmp, 'w', 0o600);
      try {
        let chunk = '';
        for (const line of db.lines()) {
          chunk += `${JSON.stringify(line)}\n`;
          if (chunk.length > 1 << 20) {
            writeFully(fd, chunk);
            chunk = '';
          }
        }
        if (chunk) writeFully(fd, chunk);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, snapshot);
      syncDir(options.dir);
      closeSync(openSync(journal, 'w', 0o600));
    }
    db.fd = openSync(journal, 'a', 0o600);
    syncDir(options.dir);
    return db;
  }

  /** The stored value (shared: callers must not modify it; the stores copy before handing out). */
  get<T>(table: string, pk: string, sk = ''): T | undefined {
    this.check();
    const e = this.tables.get(table)?.get(pk)?.get(sk);
    return e === undefined ? undefined : (parsed(e) as T);
  }

  /** Every item of a partition, by sort key in code-unit order (DynamoDB's order for S keys). */
  partition<T>(table: string, pk: string): Array<[string, T]> {
    this.check();
    const part = this.tables.get(table)?.get(pk);
    if (!part) return [];
    return [...part.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([k, e]): [string, T] => [k, parsed(e) as T]);
  }

  /** Every item of a table (unordered). */
  *scan<T>(table: string): Iterable<T> {
    this.check();
    for (const part of this.tables.get(table)?.values() ?? []) for (const e of part.values()) yield parsed(e) as T;
  }

  /**
   * Writes (or, with `undefined`, deletes) one item. The caller has already checked its condition
   * synchronously, so check-and-write is atomic (one event loop). The returned value is what is
   * stored: the JSON form, exactly what a restart reads back. Resolves once the change is durable.
   */
  put<T>(
    table: string,
    pk: string,
    sk: string,
    value: T | undefined,
    options: { owned?: boolean; text?: string } = {},
  ): { stored: T | undefined; durable: Promise<void> } {
    this.check();
    // `text`: the caller's JSON of `value` (an audit record's canonical line), not serialised again.
    const text = value === undefined ? 'null' : (options.text ?? JSON.stringify(value));
    // The same bytes as JSON.stringify({t, p, s, v}), without serialising the value twice.
    this.buffer += `{"t":${JSON.stringify(table)},"p":${JSON.stringify(pk)},"s":${JSON.stringify(sk)},"v":${text}}\n`;
    // `owned`: the caller hands over a fresh, plain-JSON object and keeps no reference to it, so it
    // is kept as is (read often: positions) instead of being parsed back from its text.
    const seq = ++this.written;
    this.apply(table, pk, sk, value === undefined ? undefined : options.owned ? { text, value, seq } : { text, seq });
    return {
      // What a restart reads back (the JSON form), parsed only if asked for.
      get stored(): T | undefined {
        return value === undefined ? undefined : (JSON.parse(text) as T);
      },
      durable: this.sync(),
    };
  }

  /** The journal write that stored an item (0 when it was read at start-up or is absent). */
  seqOf(table: string, pk: string, sk = ''): number {
    return this.tables.get(table)?.get(pk)?.get(sk)?.seq ?? 0;
  }

  /** The latest write among a partition's items. */
  partitionSeq(table: string, pk: string): number {
    let max = 0;
    for (const e of this.tables.get(table)?.get(pk)?.values() ?? []) if (e.seq > max) max = e.seq;
    return max;
  }

  /**
   * Resolves once the writes up to `seq` are durable: an answer read from an item some other call
   * wrote must not reach the caller before that write is durable (DynamoDB never shows anything
   * else). Usually it already is, and this costs nothing.
   */
  settled(seq: number): Promise<void> | undefined {
    this.check();
    return seq <= this.durableSeq ? undefined : this.sync();
  }

  /** Resolves once every write made so far is durable. */
  barrier(): Promise<void> | undefined {
    return this.settled(this.written);
  }

  /** Writes applied but not yet durable. */
  unsynced(): number {
    return this.written - this.durableSeq;
  }

  /** Writes made since start-up, and how many of them (a prefix) are durable. */
  progress(): { written: number; durable: number } {
    return { written: this.written, durable: this.durableSeq };
  }

  /** fdatasyncs made since start-up (each a group commit). */
  get syncs(): number {
    return this.syncCount;
  }

  count(op: string, n = 1): void {
    this.counters[op] = (this.counters[op] ?? 0) + n;
  }

  /** Bytes appended to the journal since start-up. */
  journalBytes(): number {
    return this.bytes;
  }

  async close(): Promise<void> {
    if (this.fd === undefined) return;
    // Let in-flight syncs finish, then sync once more and close.
    while (this.syncing) await new Promise((r) => setImmediate(r));
    const fd = this.fd;
    this.fd = undefined;
    const waiting = this.waiting;
    this.waiting = [];
    try {
      if (this.buffer) writeFully(fd, this.buffer);
      this.buffer = '';
      fsyncSync(fd);
      this.durableSeq = this.written;
      for (const w of waiting) w.resolve();
    } catch (err) {
      this.fail(new JournalWriteError(`journal sync at close failed: ${String(err)}`));
      for (const w of waiting) w.reject(this.failed as Error);
      throw err;
    } finally {
      closeSync(fd);
    }
  }

  private sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * The sync starts at the end of this turn of the event loop, not at the first write: every write
   * made in the turn (a step's store write, then its audit record and index entries) shares one
   * fdatasync instead of each waiting for the next.
   */
  private scheduleFlush(): void {
    if (this.syncing || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (!this.syncing && this.waiting.length > 0) this.flush();
    });
  }

  /** Group commit: one fdatasync covers every write made before it started. */
  private flush(): void {
    if (this.fd === undefined) {
      const batch = this.waiting;
      this.waiting = [];
      for (const w of batch) w.reject(new JournalWriteError('journal closed before the write was synced'));
      return;
    }
    this.syncing = true;
    const batch = this.waiting;
    this.waiting = [];
    const chunk = this.buffer;
    this.buffer = '';
    const upTo = this.written;
    try {
      writeFully(this.fd, chunk);
      this.bytes += chunk.length;
    } catch (err) {
      this.fail(new JournalWriteError(`journal write failed: ${String(err)}`));
      for (const w of batch) w.reject(this.failed as Error);
      this.syncing = false;
      return;
    }
    this.syncCount++;
    fdatasync(this.fd, (err) => {
      if (err) {
        // After a failed fsync the file's state is unknown: stop rather than acknowledge.
        this.fail(new JournalWriteError(`journal sync failed: ${err.message}`));
        for (const w of [...batch, ...this.waiting]) w.reject(this.failed as Error);
        this.waiting = [];
        this.syncing = false;
        return;
      }
      if (upTo > this.durableSeq) this.durableSeq = upTo;
      for (const w of batch) w.resolve();
      if (this.waiting.length > 0) this.flush();
      else this.syncing = false;
    });
  }

  private fail(err: Error): void {
    this.failed ??= err;
  }

  private check(): void {
    if (this.failed) throw this.failed;
  }

  private apply(table: string, pk: string, sk: string, value: Entry | undefined): void {
    let t = this.tables.get(table);
    if (!t) {
      t = new Map();
      this.tables.set(table, t);
    }
    let part = t.get(pk);
    if (value === undefined) {
      part?.delete(sk);
      if (part?.size === 0) t.delete(pk);
      return;
    }
    if (!part) {
      part = new Map();
      t.set(pk, part);
    }
    part.set(sk, value);
  }

  private *lines(): Iterable<JournalLine> {
    for (const [t, parts] of this.tables)
      for (const [p, items] of parts) for (const [s, e] of items) yield { t, p, s, v: parsed(e) };
  }

  /** Applies a file's lines; a torn last line (a crash mid-append) is ignored in the journal only. */
  private replay(path: string, tornTailAllowed: boolean): number {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    const lines = text.split('\n');
    const complete = text.endsWith('\n') || text.length === 0;
    let n = 0;
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i];
      if (!raw) continue;
      const last = i === lines.length - 1;
      let line: JournalLine;
      try {
        line = JSON.parse(raw) as JournalLine;
        if (typeof line.t !== 'string' || typeof line.p !== 'string' || typeof line.s !== 'string') {
          throw new Error('not a journal line');
        }
      } catch {
        if (last && !complete && tornTailAllowed) break;
        throw new JournalCorruptError(`${path}: line ${i + 1} is not a journal line`);
      }
      this.apply(line.t, line.p, line.s, line.v === null ? undefined : { text: '', value: line.v, seq: 0 });
      n++;
    }
    return n;
  }
}

/** writeSync may write less than asked (a full disk, a file-size limit): all of it, or an error. */
function writeFully(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < bytes.length) {
    const n = writeSync(fd, bytes, offset, bytes.length - offset);
    if (n <= 0) throw new JournalWriteError(`journal write stopped after ${offset} of ${bytes.length} bytes`);
    offset += n;
  }
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems cannot fsync a directory; the files themselves are synced.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
