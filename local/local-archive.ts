// Local stand-in for the S3 Object Lock audit bucket: a write-once directory tree with the same key
// layout (`<dir>/<key>`), so the DuckDB queries read it like Athena reads S3. Every object carries a
// retain-until date (like COMPLIANCE-mode retention); there is no overwrite path at all.
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { chmod, type FileHandle, link, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AuditArchive, Clock } from '../functions/ports.js';

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

const systemClock: Clock = { nowNs: () => BigInt(Date.now()) * 1_000_000n };

export class LocalArchive implements AuditArchive {
  private readonly dir: string;
  private readonly retentionMs: number;
  private readonly clock: Clock;

  constructor(options: LocalArchiveOptions) {
    if (!Number.isFinite(options.retentionDays) || options.retentionDays < 0) {
      throw new RangeError(`retentionDays must be a non-negative number, got ${options.retentionDays}`);
    }
    this.dir = options.dir;
    this.retentionMs = options.retentionDays * DAY_MS;
    this.clock = options.clock ?? systemClock;
  }

  async putIfAbsent(key: string, body: string): Promise<'written' | 'exists'> {
    validateKey(key);
    const target = this.objectPath(key);
    if (await isFile(target)) return 'exists';

    const tmpDir = join(this.dir, TMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `${randomBytes(12).toString('hex')}.part`);
    const bytes = Buffer.from(body, 'utf8');
    await writeDurably(tmp, bytes, 0o444); // read-only: nothing downstream should even try to modify it
    try {
      await this.ensureParentDir(target, key);
      try {
        // link() publishes the complete, fsynced file atomically and fails if the name is taken:
        // of two concurrent writers exactly one wins, and a reader never sees a partial object.
        await link(tmp, target);
      } catch (err) {
        if (isErrno(err, 'EEXIST')) {
          if (await isFile(target)) return 'exists';
          throw new ArchiveKeyConflictError(`key '${key}' collides with an existing prefix`);
        }
        throw err;
      }
      await fsyncDir(dirname(target));
    } finally {
      await unlink(tmp).catch(() => undefined);
    }

    const nowMs = this.nowMs();
    await this.writeRetention(key, {
      key,
      mode: 'COMPLIANCE',
      retainUntil: new Date(nowMs + this.retentionMs).toISOString(),
      createdAt: new Date(nowMs).toISOString(),
      size: bytes.length,
    });
    return 'written';
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

  private async ensureParentDir(target: string, key: string): Promise<void> {
    const parent = dirname(target);
    try {
      const created = await mkdir(parent, { recursive: true });
      if (created !== undefined) {
        // New directories must be durable too, or a crash could lose the entry that names the object.
        for (let d = parent; d.length >= created.length; d = dirname(d)) await fsyncDir(dirname(d));
      }
    } catch (err) {
      if (isErrno(err, 'ENOTDIR') || isErrno(err, 'EEXIST')) {
        throw new ArchiveKeyConflictError(`a prefix of key '${key}' is an existing object`);
      }
      throw err;
    }
  }

  private async writeRetention(key: string, record: ObjectRetention): Promise<void> {
    const path = this.retentionPath(key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${randomBytes(6).toString('hex')}.part`;
    await writeDurably(tmp, Buffer.from(`${JSON.stringify(record)}\n`, 'utf8'), 0o444);
    // rename, not link: only the writer that won the object's link() gets here, and a record left
    // behind by an earlier, crashed delete must give way to this one.
    await rename(tmp, path);
    await fsyncDir(dirname(path));
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

async function writeDurably(path: string, bytes: Buffer, mode: number): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(path, mode);
}

async function fsyncDir(path: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    await fh.sync();
  } catch (err) {
    // Some platforms/file systems cannot fsync a directory; the data itself is already synced.
    if (!isErrno(err, 'EISDIR') && !isErrno(err, 'EINVAL') && !isErrno(err, 'EPERM')) throw err;
  } finally {
    await fh?.close();
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

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && (err as { code: unknown }).code === code;
}
