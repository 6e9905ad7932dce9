// Local stand-in for the S3 Object Lock audit bucket: a write-once directory tree with the same key
// layout (`<dir>/<key>`), so the DuckDB queries read it like Athena reads S3. Every object carries a
// retain-until date (like COMPLIANCE-mode retention); there is no overwrite path at all.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  type Dirent,
  fchmodSync,
  fstatSync,
  fsync,
  linkSync,
  open as openCb,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  write,
  writeSync,
} from 'node:fs';
import { lstat, mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ArchivePutOptions, AuditArchive, Clock } from '../functions/ports.js';

export class InvalidArchiveKeyError extends Error {
  override readonly name = 'InvalidArchiveKeyError';
}

/** The key collides with a "directory" (`a` vs `a/b`): S3 allows both, a file system cannot. */
export class ArchiveKeyConflictError extends Error {
  override readonly name = 'ArchiveKeyConflictError';
}

export class ObjectLockedError extends Error {
  override readonly name = 'ObjectLockedError';
  constructor(
    readonly key: string,
    /** ISO-8601; undefined when the retention record is missing (treated as locked for ever). */
    readonly retainUntil: string | undefined,
  ) {
    super(
      retainUntil
        ? `object '${key}' is under retention until ${retainUntil}`
        : `object '${key}' has no retention record; refusing to delete`,
    );
  }
}

export interface ObjectRetention {
  key: string;
  mode: 'COMPLIANCE';
  retainUntil: string;
  createdAt: string;
  size: number;
}

export interface LocalArchiveOptions {
  dir: string;
  retentionDays: number;
  /** Injected so tests can move past retain-until. */
  clock?: Clock;
}

// Bookkeeping lives in dot-directories, which no valid key can reach and the `dt=` globs skip.
const RETENTION_DIR = '.retention';
const TMP_DIR = '.tmp';
const KEY_SEGMENT = /^[A-Za-z0-9=._-]+$/;
const MAX_KEY_LENGTH = 1024; // S3's limit
const DAY_MS = 86_400_000;
/** Spare temp files kept ready per instance: one put's worth (the object and its record). */
const SPARE_TEMPS = 2;
/** Files under `.tmp` older than this are left over from a crash or a dead instance. */
const STALE_TEMP_MS = DAY_MS;

const systemClock: Clock = { nowNs: () => BigInt(Date.now()) * 1_000_000n };

export class LocalArchive implements AuditArchive {
  private readonly dir: string;
  private readonly retentionMs: number;
  private readonly clock: Clock;
  /** Directories this instance has made (or found) and fsynced into their parents, or is doing so. */
  private readonly dirs = new Map<string, DirState>();
  private readonly tmpDir: string;
  private readonly tmpPrefix = `${randomBytes(9).toString('hex')}-`;
  private tmpSeq = 0;
  /** Empty temp files created ahead of time, off the critical path (creating an inode can take ~1 ms). */
  private readonly spares: TempFile[] = [];
  private sparesPending = 0;
  private refilling: Promise<void> | undefined;
  private swept = false;
  private closed = false;

  constructor(options: LocalArchiveOptions) {
    if (!Number.isFinite(options.retentionDays) || options.retentionDays < 0) {
      throw new RangeError(`retentionDays must be a non-negative number, got ${options.retentionDays}`);
    }
    this.dir = options.dir;
    this.tmpDir = join(options.dir, TMP_DIR);
    this.retentionMs = options.retentionDays * DAY_MS;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Write `body` under `key` unless the key is taken. Resolves only once the object, the directory
   * entry naming it and its retention record are durable.
   *
   * Crash safety, step by step (what a crash right after each step can leave behind):
   *  1. Object and retention record are written to two temp files under `.tmp` and fsynced,
   *     concurrently (and so is any directory made for the key). Crash: garbage under `.tmp` only.
   *  2. link(temp, key) publishes the complete, already durable object atomically, and fails with
   *     EEXIST if the name is taken: the arbiter between concurrent writers. Crash: the object may
   *     survive without a retention record, which reads as locked for ever: never deletable.
   *  3. Only the winner renames its (durable) record into place; rename, so that a record left by a
   *     crashed delete gives way. If this rename outlives a link that was not persisted, it is a
   *     fresh, unexpired lock on an absent key, replaced by the next write of the key.
   *  4. Both parent directories are fsynced, concurrently; only then does it resolve.
   * So a put costs two rounds of fsyncs, each round's fsyncs running concurrently.
   *
   * Only the fsyncs (waiting for the disk) and file creation go through the thread pool; the temp
   * files are created ahead of time, during the previous put's last fsyncs (see takeTemps): making
   * an inode takes 20 µs on a quiet ext4 but up to ~1 ms of CPU on one with many recently freed
   * inodes. The other calls (stat, small writes, link, rename, unlink, open/close of a directory)
   * are synchronous: a few microseconds each, cheaper than a thread-pool round trip.
   */
  async putIfAbsent(key: string, body: string, options: ArchivePutOptions = {}): Promise<'written' | 'exists'> {
    validateKey(key);
    const target = this.objectPath(key);
    // Not the arbiter (link() is), only a cheap way out that skips the temp files of a rewrite.
    if (isFileSync(target)) return this.existing(target);
    for (let attempt = 0; ; attempt++) {
      const result = await this.write(key, target, body, attempt > 0, options.publishAfter);
      if (result !== 'retry') return result;
      // Something this instance had cached (a directory, a spare temp file) was removed from outside
      // before anything got published: forget it all and start over, once.
      this.forgetCaches();
    }
  }

  /** Discard the spare temp files. Optional: a later put works (and makes new ones). */
  async close(): Promise<void> {
    this.closed = true;
    await this.refilling;
    discardTemps(this.spares.splice(0));
  }

  async get(key: string): Promise<string | undefined> {
    validateKey(key);
    try {
      return await readFile(this.objectPath(key), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'EISDIR') || isErrno(err, 'ENOTDIR')) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    if (prefix !== '') validateKeyChars(prefix);
    // Walk only the deepest directory the prefix pins down, then filter on the full prefix.
    const slash = prefix.lastIndexOf('/');
    const base = slash === -1 ? '' : prefix.slice(0, slash);
    const keys: string[] = [];
    await walk(this.dir, base, keys);
    // Plain code-unit order = S3's UTF-8 binary order for this ASCII key alphabet.
    return keys.filter((k) => k.startsWith(prefix)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The retention record of an object, or undefined when the object does not exist. */
  async retention(key: string): Promise<ObjectRetention | undefined> {
    validateKey(key);
    if (!(await isFile(this.objectPath(key)))) return undefined;
    return this.readRetention(key);
  }

  /**
   * Delete an object whose retention has expired. Refused with ObjectLockedError before
   * retain-until (and when the retention record is missing). A missing key is 'absent'.
   */
  async delete(key: string): Promise<'deleted' | 'absent'> {
    validateKey(key);
    const target = this.objectPath(key);
    if (!(await isFile(target))) return 'absent';
    const retention = await this.readRetention(key);
    if (!retention) throw new ObjectLockedError(key, undefined);
    if (this.nowMs() < Date.parse(retention.retainUntil)) throw new ObjectLockedError(key, retention.retainUntil);
    // Object first: a crash after this leaves only a stale retention record, which the next
    // successful write of the key replaces.
    await unlink(target);
    await fsyncDir(dirname(target));
    await unlink(this.retentionPath(key)).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
    return 'deleted';
  }

  private objectPath(key: string): string {
    return join(this.dir, ...key.split('/'));
  }

  private retentionPath(key: string): string {
    return `${join(this.dir, RETENTION_DIR, ...key.split('/'))}.json`;
  }

  private nowMs(): number {
    return Number(this.clock.nowNs() / 1_000_000n);
  }

  private async write(
    key: string,
    target: string,
    body: string,
    lastTry: boolean,
    publishAfter?: Promise<void>,
  ): Promise<'written' | 'exists' | 'retry'> {
    const recordPath = this.retentionPath(key);
    const objectDir = dirname(target);
    const recordDir = dirname(recordPath);
    const bytes = Buffer.from(body, 'utf8');
    // Retain-until counts from the start of the put, as S3 counts it from the start of the PUT.
    const nowMs = this.nowMs();
    const record: ObjectRetention = {
      key,
      mode: 'COMPLIANCE',
      retainUntil: new Date(nowMs + this.retentionMs).toISOString(),
      createdAt: new Date(nowMs).toISOString(),
      size: bytes.length,
    };

    const dirsDurable = Promise.all([this.durableDir(objectDir), this.durableDir(recordDir), this.sweepOnce()]);
    dirsDurable.catch(() => undefined); // awaited below; this only keeps an early throw from orphaning it
    const temps: TempFile[] = [];
    let published = false;
    let recordPlaced = false;
    try {
      // Keys `p/x` and `p/x.json/...` collide in the retention tree; refuse before publishing.
      if (statSync(recordPath, { throwIfNoEntry: false })?.isDirectory()) {
        throw new ArchiveKeyConflictError(`the retention record of key '${key}' collides with an existing prefix`);
      }
      const [object, retention] = await this.takeTemps(temps);
      await writeAll(object.fd, bytes);
      await writeAll(retention.fd, Buffer.from(`${JSON.stringify(record)}\n`, 'utf8'));
      // 1. Contents durable (and the directories), all at once, and the caller's go-ahead (the claim
      // this object depends on is durable: publishAfter).
      // (allSettled: never close a descriptor while its fsync may still be queued.)
      await allOrFirstError([fsyncFd(object.fd), fsyncFd(retention.fd), dirsDurable, publishAfter]);

      // 2. Publish.
      try {
        linkSync(object.path, target);
      } catch (err) {
        if (isErrno(err, 'EEXIST')) {
          if (isFileSync(target)) return await this.existing(target);
          throw new ArchiveKeyConflictError(`key '${key}' collides with an existing prefix`);
        }
        throw err;
      }
      published = true;

      // 3. Lock (only the winner gets here).
      try {
        renameSync(retention.path, recordPath);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        // The retention directory was removed from outside since it was cached.
        this.dirs.clear();
        await this.durableDir(recordDir);
        renameSync(retention.path, recordPath);
      }
      recordPlaced = true;

      // 4. Names durable.
      const namesDurable = Promise.all([fsyncDir(objectDir), fsyncDir(recordDir)]);
      // Make the next put's temp files while this one waits for the disk (the put awaits them in
      // `finally`). Not earlier: inode creation running during the first fsync round slows it down.
      this.refillSpares();
      // Tidy up while the disk works: the object's temp name is now just a second name of it.
      closeTemps(temps);
      unlinkQuietly(object.path);
      temps.length = 0;
      await namesDurable;
      return 'written';
    } catch (err) {
      if (!published) {
        if (isErrno(err, 'ENOENT') && !lastTry) return 'retry';
        if (isErrno(err, 'ENOTDIR') || isErrno(err, 'EEXIST')) {
          throw new ArchiveKeyConflictError(`a prefix of key '${key}' is an existing object`);
        }
      } else if (isErrno(err, 'EISDIR') || isErrno(err, 'ENOTDIR')) {
        // `<key>.json` became a directory of the retention tree (keys `p/x` and `p/x.json/...`)
        // after the check above: the object is published, without a record, so locked for ever.
        throw new ArchiveKeyConflictError(
          `the retention record of key '${key}' collides with an existing prefix; the object stays locked`,
        );
      }
      throw err;
    } finally {
      // Whatever is left is garbage (or, after link(), a second name of the object). Removals need
      // not be durable: a crash can only leave garbage under `.tmp`, swept a day later.
      closeTemps(temps);
      for (const t of temps) if (!(recordPlaced && t === temps[1])) unlinkQuietly(t.path);
      // Leave nothing running once the put has settled (a test may remove the tree next).
      await this.refilling;
    }
  }

  /**
   * 'exists' promises as much as 'written': the object may have been published a moment ago by a
   * writer that has not fsynced its directory yet, or that died before it could. Its content was
   * fsynced before link(); make its name durable too.
   */
  private async existing(target: string): Promise<'exists'> {
    const dir = dirname(target);
    await Promise.all([this.durableDir(dir), fsyncDir(dir)]);
    return 'exists';
  }

  /**
   * Resolves once `path` exists and is durable in its parent. The first call per directory makes
   * it (if needed) and fsyncs its parent, even if the directory was there already: whoever made it
   * may have crashed before fsyncing. Later calls cost nothing. The archive never removes a
   * directory; should one be removed from outside, the ENOENT that follows clears the cache and the
   * put starts over. (A directory removed and made anew from outside between two puts goes
   * unnoticed: its entry in its parent is then not fsynced by this instance.)
   */
  private durableDir(path: string): Promise<void> {
    return this.dirState(path).durable;
  }

  private dirState(path: string): DirState {
    const known = this.dirs.get(path);
    if (known) return known;
    let exists: Promise<unknown>;
    let durable: Promise<unknown>;
    if (path === this.dir) {
      const created = mkdir(path, { recursive: true });
      exists = created;
      // Fsync the parent of each directory that mkdir made (the root and maybe some above it).
      durable = created.then((first) => {
        const parents: string[] = [];
        if (first !== undefined) for (let d = path; d.length >= first.length; d = dirname(d)) parents.push(dirname(d));
        return Promise.all(parents.map(fsyncDir));
      });
    } else {
      const parent = this.dirState(dirname(path));
      exists = parent.exists.then(() => mkdirOrExisting(path));
      durable = Promise.all([parent.durable, exists.then(() => fsyncDir(dirname(path)))]);
    }
    const state: DirState = { exists, durable: durable.then(() => undefined) };
    state.exists.catch(() => undefined); // reported through `durable`
    state.durable.catch(() => {
      if (this.dirs.get(path) === state) this.dirs.delete(path);
    });
    this.dirs.set(path, state);
    return state;
  }

  /** Two empty temp files, open for writing: spares made earlier, or new ones. Added to `temps`. */
  private async takeTemps(temps: TempFile[]): Promise<[TempFile, TempFile]> {
    const pending = [this.takeSpare() ?? this.newTemp(), this.takeSpare() ?? this.newTemp()];
    const settled = await Promise.allSettled(pending);
    for (const r of settled) if (r.status === 'fulfilled') temps.push(r.value);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return [temps[0] as TempFile, temps[1] as TempFile];
  }

  private takeSpare(): TempFile | undefined {
    for (let t = this.spares.pop(); t; t = this.spares.pop()) {
      // Trusted only while still named (not removed from outside) and still empty.
      try {
        const st = fstatSync(t.fd);
        if (st.nlink === 1 && st.size === 0) return t;
      } catch {
        // unusable
      }
      discardTemps([t]);
    }
    return undefined;
  }

  /** Create spares in the background, in the thread pool, while the current put waits for its fsyncs. */
  private refillSpares(): void {
    if (this.closed) return;
    const jobs: Promise<void>[] = [];
    for (; this.spares.length + this.sparesPending < SPARE_TEMPS; this.sparesPending++) {
      jobs.push(
        this.newTemp().then(
          (t) => {
            this.sparesPending--;
            if (this.closed) discardTemps([t]);
            else this.spares.push(t);
          },
          () => {
            this.sparesPending--; // no spare then; the next put makes its own and reports any error
          },
        ),
      );
    }
    if (jobs.length === 0) return;
    const done = Promise.all([this.refilling, ...jobs]).then(() => {
      if (this.refilling === done) this.refilling = undefined;
    });
    this.refilling = done;
  }

  /** A new empty read-only file under `.tmp`, open for writing. */
  private async newTemp(): Promise<TempFile> {
    await this.dirState(this.tmpDir).exists; // `.tmp` needs no durability: nothing durable names it
    const path = join(this.tmpDir, `${this.tmpPrefix}${(this.tmpSeq++).toString(36)}.part`);
    // Mode 0444: nothing downstream should even try to modify it. The descriptor stays writable.
    const fd = await new Promise<number>((resolve, reject) =>
      openCb(path, 'wx', 0o444, (err, fd) => (err ? reject(err) : resolve(fd))),
    );
    const temp = { path, fd };
    try {
      fchmodSync(fd, 0o444); // the exact mode whatever the umask; persisted by the put's fsync
    } catch (err) {
      discardTemps([temp]);
      throw err;
    }
    return temp;
  }

  /**
   * Once per instance, remove temp files older than a day: left over by a crash or by an instance
   * that exited without close(). A live instance's spare removed this way is noticed (takeSpare),
   * and one removed between that check and link() surfaces as ENOENT, so the put starts over.
   */
  private sweepOnce(): Promise<void> {
    if (this.swept) return Promise.resolve();
    this.swept = true;
    const sweep = async () => {
      let names: string[];
      try {
        names = await readdir(this.tmpDir);
      } catch {
        return;
      }
      const cutoff = Date.now() - STALE_TEMP_MS;
      await Promise.all(
        names
          .filter((n) => n.endsWith('.part'))
          .map(async (n) => {
            const path = join(this.tmpDir, n);
            try {
              if ((await lstat(path)).mtimeMs < cutoff) await unlink(path);
            } catch {
              // gone already, or not ours to remove
            }
          }),
      );
    };
    return sweep();
  }

  private forgetCaches(): void {
    this.dirs.clear();
    discardTemps(this.spares.splice(0));
  }

  private async readRetention(key: string): Promise<ObjectRetention | undefined> {
    try {
      const parsed = JSON.parse(await readFile(this.retentionPath(key), 'utf8')) as Partial<ObjectRetention>;
      if (typeof parsed.retainUntil !== 'string' || Number.isNaN(Date.parse(parsed.retainUntil))) return undefined;
      return parsed as ObjectRetention;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }
}

/** Throws InvalidArchiveKeyError unless `key` is a safe relative key (`records/dt=2024-01-02/x.jsonl`). */
export function validateKey(key: string): void {
  validateKeyChars(key);
  if (key.endsWith('/')) throw new InvalidArchiveKeyError(`archive key must not end with '/': '${key}'`);
}

function validateKeyChars(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new InvalidArchiveKeyError(`archive key must be 1..${MAX_KEY_LENGTH} characters`);
  }
  if (key.startsWith('/')) throw new InvalidArchiveKeyError(`archive key must be relative: '${key}'`);
  const segments = key.split('/');
  segments.forEach((segment, i) => {
    // A trailing '' is a prefix ending in '/', checked by validateKey for full keys.
    if (segment === '' && i === segments.length - 1 && i > 0) return;
    if (!KEY_SEGMENT.test(segment)) {
      throw new InvalidArchiveKeyError(
        `archive key segment '${segment}' is empty or has characters outside [A-Za-z0-9=._-]`,
      );
    }
    // '.', '..' would escape or alias; any leading dot would reach the bookkeeping directories.
    if (segment.startsWith('.')) throw new InvalidArchiveKeyError(`archive key segment '${segment}' starts with '.'`);
  });
}

async function walk(root: string, rel: string, out: string[]): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(rel ? join(root, rel) : root, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
    throw err;
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const key = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) await walk(root, key, out);
    else if (e.isFile()) out.push(key);
  }
}

interface TempFile {
  path: string;
  fd: number;
}

interface DirState {
  exists: Promise<unknown>;
  durable: Promise<void>;
}

async function mkdirOrExisting(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (err) {
    if (isErrno(err, 'EEXIST') && (await stat(path)).isDirectory()) return;
    throw err;
  }
}

/** Bodies up to this size are copied into the page cache synchronously (microseconds). */
const SYNC_WRITE_MAX = 256 * 1024;

async function writeAll(fd: number, bytes: Buffer): Promise<void> {
  let offset = 0;
  if (bytes.length <= SYNC_WRITE_MAX) {
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset, offset);
    return;
  }
  while (offset < bytes.length) {
    offset += await new Promise<number>((resolve, reject) =>
      write(fd, bytes, offset, bytes.length - offset, offset, (err, n) => (err ? reject(err) : resolve(n))),
    );
  }
}

/** Like Promise.all, but settles only once every promise has. */
async function allOrFirstError(promises: Iterable<unknown>): Promise<void> {
  for (const r of await Promise.allSettled(promises)) if (r.status === 'rejected') throw r.reason;
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

function closeTemps(temps: TempFile[]): void {
  for (const t of temps) {
    if (t.fd < 0) continue;
    try {
      closeSync(t.fd);
    } catch {
      // nothing more to do with it
    }
    t.fd = -1;
  }
}

function discardTemps(temps: TempFile[]): void {
  closeTemps(temps);
  for (const t of temps) unlinkQuietly(t.path);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone; at worst garbage under `.tmp`
  }
}

async function fsyncDir(path: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (isErrno(err, 'EISDIR') || isErrno(err, 'EPERM')) return;
    throw err;
  }
  try {
    await fsyncFd(fd);
  } catch (err) {
    // Some platforms/file systems cannot fsync a directory; the data itself is already synced.
    if (!isErrno(err, 'EISDIR') && !isErrno(err, 'EINVAL') && !isErrno(err, 'EPERM')) throw err;
  } finally {
    closeSync(fd);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
}

function isFileSync(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch (err) {
    if (isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && (err as { code: unknown }).code === code;
}
