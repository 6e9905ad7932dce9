import { link, mkdir, mkdtemp, readdir, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../functions/ports.js';
import {
  ArchiveKeyConflictError,
  InvalidArchiveKeyError,
  LocalArchive,
  ObjectLockedError,
} from '../../local/local-archive.js';

const DAY_NS = 86_400_000_000_000n;

// Pass-through wrappers that log, in completion order, each fsync (by path), link and rename the
// archive makes through node:fs, so the tests can check the order the crash-safety argument needs.
const fsLog = vi.hoisted(() => ({ events: [] as string[], fdPaths: new Map<number, string>() }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const named = (fd: number, path: unknown) => {
    fsLog.fdPaths.set(fd, String(path));
    return fd;
  };
  return {
    ...fs,
    openSync: (path: string, flags: string, mode?: number) => named(fs.openSync(path, flags, mode), path),
    open: (path: string, flags: string, mode: number, cb: (err: Error | null, fd: number) => void) =>
      fs.open(path, flags, mode, (err, fd) => cb(err, err ? fd : named(fd, path))),
    fsync: (fd: number, cb: (err: Error | null) => void) =>
      fs.fsync(fd, (err) => {
        if (!err) fsLog.events.push(`fsync ${fsLog.fdPaths.get(fd)}`);
        cb(err);
      }),
    linkSync: (from: string, to: string) => {
      fs.linkSync(from, to);
      fsLog.events.push(`link ${from} ${to}`);
    },
    renameSync: (from: string, to: string) => {
      fs.renameSync(from, to);
      fsLog.events.push(`rename ${from} ${to}`);
    },
  };
});

/** `.tmp` holds nothing but the (at most two) empty spare temp files of a live instance. */
async function expectOnlySpares(dir: string): Promise<void> {
  const names = await readdir(join(dir, '.tmp'));
  expect(names.length).toBeLessThanOrEqual(2);
  for (const n of names) expect((await stat(join(dir, '.tmp', n))).size).toBe(0);
}

class FakeClock implements Clock {
  constructor(public ns: bigint) {}
  nowNs(): bigint {
    return this.ns;
  }
}

describe('LocalArchive', () => {
  let dir: string;
  let clock: FakeClock;
  let archive: LocalArchive;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-archive-'));
    clock = new FakeClock(BigInt(Date.parse('2025-01-02T03:04:05.000Z')) * 1_000_000n);
    archive = new LocalArchive({ dir, retentionDays: 7, clock });
  });

  afterEach(async () => {
    await archive.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes an object under <dir>/<key> and reads it back', async () => {
    const key = 'records/dt=2025-01-02/00000000000000000000.jsonl';
    expect(await archive.putIfAbsent(key, '{"a":1}\n')).toBe('written');
    expect(await archive.get(key)).toBe('{"a":1}\n');
    // Same layout as the S3 bucket, so DuckDB can glob it.
    expect((await stat(join(dir, 'records', 'dt=2025-01-02', '00000000000000000000.jsonl'))).isFile()).toBe(true);
    // No temp files left behind but the empty spares made for the next put, removed by close().
    await expectOnlySpares(dir);
    await archive.close();
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
  });

  it('publishes nothing before publishAfter resolves, and nothing at all if it rejects', async () => {
    const key = 'records/dt=2025-01-02/00000000000000000007.jsonl';
    let go: () => void = () => undefined;
    const claim = new Promise<void>((r) => {
      go = r;
    });
    const put = archive.putIfAbsent(key, 'body\n', { publishAfter: claim });
    await new Promise((r) => setTimeout(r, 30)); // the temp files are written and synced by now
    expect(await archive.get(key)).toBeUndefined();
    go();
    expect(await put).toBe('written');
    expect(await archive.get(key)).toBe('body\n');

    const lost = 'records/dt=2025-01-02/00000000000000000008.jsonl';
    const failed = archive.putIfAbsent(lost, 'other\n', { publishAfter: Promise.reject(new Error('claim lost')) });
    await expect(failed).rejects.toThrow('claim lost');
    expect(await archive.get(lost)).toBeUndefined();
    expect(await archive.retention(lost)).toBeUndefined();
    await expectOnlySpares(dir);
  });

  it('returns undefined for a missing key', async () => {
    expect(await archive.get('records/none.jsonl')).toBeUndefined();
    await archive.putIfAbsent('records/a/b.jsonl', 'x');
    expect(await archive.get('records/a')).toBeUndefined(); // a "directory" is not an object
  });

  it("never overwrites: a second write is 'exists' and the content is unchanged", async () => {
    const key = 'records/dt=2025-01-02/1.jsonl';
    expect(await archive.putIfAbsent(key, 'first')).toBe('written');
    expect(await archive.putIfAbsent(key, 'second')).toBe('exists');
    expect(await archive.get(key)).toBe('first');
  });

  it('lets exactly one of many concurrent writers to a key win', async () => {
    const key = 'records/dt=2025-01-02/race.jsonl';
    const bodies = Array.from({ length: 25 }, (_, i) => `writer-${i}\n`.repeat(200));
    const results = await Promise.all(bodies.map((b) => archive.putIfAbsent(key, b)));
    expect(results.filter((r) => r === 'written')).toHaveLength(1);
    expect(results.filter((r) => r === 'exists')).toHaveLength(24);
    const winner = bodies[results.indexOf('written')];
    expect(await archive.get(key)).toBe(winner);
  });

  it('records retain-until and refuses delete before it', async () => {
    const key = 'records/dt=2025-01-02/locked.jsonl';
    await archive.putIfAbsent(key, 'keep me');
    const retention = await archive.retention(key);
    expect(retention).toMatchObject({ mode: 'COMPLIANCE', retainUntil: '2025-01-09T03:04:05.000Z', size: 7 });

    await expect(archive.delete(key)).rejects.toBeInstanceOf(ObjectLockedError);
    clock.ns += 7n * DAY_NS - 1_000_000n; // one millisecond short
    await expect(archive.delete(key)).rejects.toThrow(/under retention until 2025-01-09T03:04:05.000Z/);
    expect(await archive.get(key)).toBe('keep me');

    clock.ns += 1_000_000n;
    expect(await archive.delete(key)).toBe('deleted');
    expect(await archive.get(key)).toBeUndefined();
    expect(await archive.delete(key)).toBe('absent');
  });

  it('refuses to delete an object whose retention record is missing', async () => {
    // An object placed without going through putIfAbsent (or a crash before its record) stays locked.
    await writeFile(join(dir, 'stray.jsonl'), 'x');
    clock.ns += 10_000n * DAY_NS;
    const err = await archive.delete('stray.jsonl').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectLockedError);
    expect((err as ObjectLockedError).retainUntil).toBeUndefined();
  });

  it('lists keys under a prefix in lexical order, recursively', async () => {
    const keys = [
      'records/dt=2025-01-03/00000000000000000010.jsonl',
      'records/dt=2025-01-02/00000000000000000005.jsonl',
      'records/dt=2025-01-02/00000000000000000000.jsonl',
      'records/dt=2025-01-10/00000000000000000020.jsonl',
      'reports/daily.json',
      'records-other.txt',
    ];
    for (const k of keys) await archive.putIfAbsent(k, k);

    expect(await archive.list('records/')).toEqual([
      'records/dt=2025-01-02/00000000000000000000.jsonl',
      'records/dt=2025-01-02/00000000000000000005.jsonl',
      'records/dt=2025-01-03/00000000000000000010.jsonl',
      'records/dt=2025-01-10/00000000000000000020.jsonl',
    ]);
    expect(await archive.list('records/dt=2025-01-0')).toEqual([
      'records/dt=2025-01-02/00000000000000000000.jsonl',
      'records/dt=2025-01-02/00000000000000000005.jsonl',
      'records/dt=2025-01-03/00000000000000000010.jsonl',
    ]);
    // A prefix is a string prefix, as on S3, not a directory.
    expect(await archive.list('records')).toEqual([...[...keys].sort()].filter((k) => k.startsWith('records')));
    // The bookkeeping directories never show up.
    expect(await archive.list('')).toEqual([...keys].sort());
    expect(await archive.list('nothing/here/')).toEqual([]);
  });

  it.each([
    ['../escape.jsonl'],
    ['records/../../etc/passwd'],
    ['/absolute.jsonl'],
    ['records//double.jsonl'],
    ['records/trailing/'],
    ['.retention/records/x.json'],
    ['records/./x'],
    ['with space.jsonl'],
    ['back\\slash.jsonl'],
    ['nul\0.jsonl'],
    ['unicodé.jsonl'],
    [''],
    ['x'.repeat(1025)],
  ])('rejects the bad key %j', async (key) => {
    await expect(archive.putIfAbsent(key, 'x')).rejects.toBeInstanceOf(InvalidArchiveKeyError);
    await expect(archive.get(key)).rejects.toBeInstanceOf(InvalidArchiveKeyError);
    await expect(archive.delete(key)).rejects.toBeInstanceOf(InvalidArchiveKeyError);
  });

  it('rejects bad list prefixes', async () => {
    await expect(archive.list('../')).rejects.toBeInstanceOf(InvalidArchiveKeyError);
    await expect(archive.list('/records')).rejects.toBeInstanceOf(InvalidArchiveKeyError);
  });

  it('reports a key that collides with an existing prefix', async () => {
    await archive.putIfAbsent('a/b', 'x');
    await expect(archive.putIfAbsent('a', 'y')).rejects.toBeInstanceOf(ArchiveKeyConflictError);
    await expect(archive.putIfAbsent('a/b/c', 'y')).rejects.toBeInstanceOf(ArchiveKeyConflictError);
    expect(await archive.get('a/b')).toBe('x');
  });

  it('keeps objects across instances (a restart)', async () => {
    await archive.putIfAbsent('records/k.jsonl', 'v');
    const reopened = new LocalArchive({ dir, retentionDays: 1, clock });
    expect(await reopened.putIfAbsent('records/k.jsonl', 'other')).toBe('exists');
    expect(await reopened.get('records/k.jsonl')).toBe('v');
    // The retention recorded at write time holds, whatever the new instance is configured with.
    expect((await reopened.retention('records/k.jsonl'))?.retainUntil).toBe('2025-01-09T03:04:05.000Z');
  });

  it('keeps only empty spares under .tmp, however many objects it writes', async () => {
    for (let i = 0; i < 20; i++) await archive.putIfAbsent(`records/dt=2025-01-02/${i}.jsonl`, `body ${i}`);
    await expectOnlySpares(dir);
    // Written read-only, and the temp name of each object is gone (one link: its key).
    const s = await stat(join(dir, 'records', 'dt=2025-01-02', '7.jsonl'));
    expect(s.mode & 0o777).toBe(0o444);
    expect(s.nlink).toBe(1);
    // Concurrent writers of different keys each get their own temp files.
    const keys = Array.from({ length: 12 }, (_, i) => `records/dt=2025-01-03/${i}.jsonl`);
    expect(await Promise.all(keys.map((k) => archive.putIfAbsent(k, k)))).toEqual(keys.map(() => 'written'));
    for (const k of keys) expect(await archive.get(k)).toBe(k);
    await expectOnlySpares(dir);
  });

  it('writes a large body (written to the temp file asynchronously)', async () => {
    const body = `${'x'.repeat(1023)}\n`.repeat(1024); // 1 MiB
    expect(await archive.putIfAbsent('records/big.jsonl', body)).toBe('written');
    expect(await archive.get('records/big.jsonl')).toBe(body);
    expect((await archive.retention('records/big.jsonl'))?.size).toBe(body.length);
  });

  it('is not fooled by directories removed from outside after it cached them', async () => {
    const key = (k: string) => `records/dt=2025-01-02/${k}.jsonl`;
    await archive.putIfAbsent(key('a'), 'a');
    // Remove the object tree, the retention tree, the temp directory (with its spares), everything.
    for (const [k, removed] of [
      ['b', 'records'],
      ['c', '.retention'],
      ['d', '.tmp'],
      ['e', ''],
    ] as const) {
      await rm(join(dir, removed), { recursive: true });
      expect(await archive.putIfAbsent(key(k), k)).toBe('written');
      expect(await archive.get(key(k))).toBe(k);
      expect((await archive.retention(key(k)))?.retainUntil).toBe('2025-01-09T03:04:05.000Z');
      await expect(archive.delete(key(k))).rejects.toBeInstanceOf(ObjectLockedError);
    }
    expect(await archive.list('records/')).toEqual([key('e')]);
  });

  it('records retention for objects written after their directories were removed from outside', async () => {
    await archive.putIfAbsent('records/dt=2025-01-02/a.jsonl', 'a');
    await rm(join(dir, '.retention'), { recursive: true });
    await archive.putIfAbsent('records/dt=2025-01-02/b.jsonl', 'b');
    expect((await archive.retention('records/dt=2025-01-02/b.jsonl'))?.retainUntil).toBe('2025-01-09T03:04:05.000Z');
    // The object whose record was removed along with the tree stays locked for ever.
    clock.ns += 10_000n * DAY_NS;
    await expect(archive.delete('records/dt=2025-01-02/a.jsonl')).rejects.toBeInstanceOf(ObjectLockedError);
    expect(await archive.delete('records/dt=2025-01-02/b.jsonl')).toBe('deleted');
  });

  it('does not use a spare temp file that was removed from outside', async () => {
    await archive.putIfAbsent('records/a.jsonl', 'a');
    const spares = await readdir(join(dir, '.tmp'));
    expect(spares).toHaveLength(2);
    await unlink(join(dir, '.tmp', spares[0] as string));
    expect(await archive.putIfAbsent('records/b.jsonl', 'b')).toBe('written');
    expect(await archive.get('records/b.jsonl')).toBe('b');
    expect((await archive.retention('records/b.jsonl'))?.size).toBe(1);
    await expectOnlySpares(dir);
  });

  it("answers 'exists' for a key taken by another instance, and the loser leaves no trace", async () => {
    const other = new LocalArchive({ dir, retentionDays: 30, clock });
    try {
      const results = await Promise.all([
        archive.putIfAbsent('records/k.jsonl', 'mine'),
        other.putIfAbsent('records/k.jsonl', 'theirs'),
      ]);
      expect([...results].sort()).toEqual(['exists', 'written']);
      const winner = results[0] === 'written' ? 'mine' : 'theirs';
      expect(await archive.get('records/k.jsonl')).toBe(winner);
      // The winner's retention, not the loser's.
      expect((await archive.retention('records/k.jsonl'))?.retainUntil).toBe(
        winner === 'mine' ? '2025-01-09T03:04:05.000Z' : '2025-02-01T03:04:05.000Z',
      );
    } finally {
      await other.close();
    }
    await archive.close();
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
  });

  it('leaves an object published without its retention record (a crash between the two) locked', async () => {
    // What a crash right after link() leaves: the object, a temp name for it, the record's temp file.
    await mkdir(join(dir, 'records'), { recursive: true });
    await mkdir(join(dir, '.tmp'), { recursive: true });
    await writeFile(join(dir, '.tmp', 'crashed-1.part'), 'half-done', { mode: 0o444 });
    await link(join(dir, '.tmp', 'crashed-1.part'), join(dir, 'records', 'k.jsonl'));
    await writeFile(join(dir, '.tmp', 'crashed-2.part'), '{"retainUntil":"2000-01-01T00:00:00.000Z"}\n');
    clock.ns += 10_000n * DAY_NS;
    await expect(archive.delete('records/k.jsonl')).rejects.toBeInstanceOf(ObjectLockedError);
    expect(await archive.putIfAbsent('records/k.jsonl', 'again')).toBe('exists');
    expect(await archive.get('records/k.jsonl')).toBe('half-done');
    await expect(archive.delete('records/k.jsonl')).rejects.toBeInstanceOf(ObjectLockedError);
  });

  it('replaces a retention record left behind by a crashed delete when the key is written again', async () => {
    const key = 'records/dt=2025-01-02/k.jsonl';
    await archive.putIfAbsent(key, 'first');
    clock.ns += 8n * DAY_NS;
    // A delete that crashed after removing the object: its expired record is still there.
    await unlink(join(dir, 'records', 'dt=2025-01-02', 'k.jsonl'));
    expect(await archive.putIfAbsent(key, 'second')).toBe('written');
    expect((await archive.retention(key))?.retainUntil).toBe('2025-01-17T03:04:05.000Z');
    await expect(archive.delete(key)).rejects.toBeInstanceOf(ObjectLockedError);
    expect(await archive.get(key)).toBe('second');
  });

  it('removes temp files older than a day once per instance, and keeps recent ones', async () => {
    await mkdir(join(dir, '.tmp'), { recursive: true });
    const old = join(dir, '.tmp', 'old.part');
    const recent = join(dir, '.tmp', 'recent.part');
    await writeFile(old, 'left over by a crash');
    await writeFile(recent, 'maybe in use by another instance');
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await utimes(old, twoDaysAgo, twoDaysAgo);
    await archive.putIfAbsent('records/a.jsonl', 'a');
    const names = await readdir(join(dir, '.tmp'));
    expect(names).not.toContain('old.part');
    expect(names).toContain('recent.part');
  });

  it('refuses keys whose retention record would collide with a directory, before publishing', async () => {
    await archive.putIfAbsent('p/x.json/y', 'y');
    await expect(archive.putIfAbsent('p/x', 'x')).rejects.toBeInstanceOf(ArchiveKeyConflictError);
    expect(await archive.get('p/x')).toBeUndefined();

    await archive.putIfAbsent('q/x', 'x');
    await expect(archive.putIfAbsent('q/x.json/y', 'y')).rejects.toBeInstanceOf(ArchiveKeyConflictError);
    expect(await archive.get('q/x.json/y')).toBeUndefined();
    expect(await archive.list('')).toEqual(['p/x.json/y', 'q/x']);
  });

  it('keeps working after close()', async () => {
    await archive.putIfAbsent('records/a.jsonl', 'a');
    await archive.close();
    expect(await archive.putIfAbsent('records/b.jsonl', 'b')).toBe('written');
    expect(await archive.putIfAbsent('records/a.jsonl', 'z')).toBe('exists');
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
  });

  describe('crash-safety order', () => {
    const key = 'records/dt=2025-01-02/00000000000000000001.jsonl';
    /** The logged events of one put, with paths relative to the archive. */
    async function eventsOf(put: () => Promise<unknown>): Promise<string[]> {
      fsLog.events.length = 0;
      await put();
      return fsLog.events.map((e) => e.replaceAll(`${dir}/`, '').replaceAll(dir, '<root>'));
    }

    it('makes contents durable before naming them, and names durable before resolving', async () => {
      await archive.putIfAbsent('records/dt=2025-01-02/warm-up.jsonl', 'x'); // directories now known
      const events = await eventsOf(() => archive.putIfAbsent(key, 'body'));
      const link = events.findIndex((e) => e.startsWith('link '));
      const rename = events.findIndex((e) => e.startsWith('rename '));
      expect(link).toBeGreaterThan(-1);
      const objectTemp = (events[link] as string).split(' ')[1] as string;
      const recordTemp = (events[rename] as string).split(' ')[1] as string;
      expect(events[link]).toBe(`link ${objectTemp} ${key}`);
      expect(events[rename]).toBe(`rename ${recordTemp} .retention/${key}.json`);
      // 1. Both contents fsynced (in either order) before anything is named in the tree.
      expect(new Set(events.slice(0, 2))).toEqual(new Set([`fsync ${objectTemp}`, `fsync ${recordTemp}`]));
      // 2., 3. The object is published first, its record only after.
      expect([link, rename]).toEqual([2, 3]);
      // 4. Both names durable before the put resolved; nothing else was fsynced (directories cached).
      expect(new Set(events.slice(4))).toEqual(
        new Set(['fsync records/dt=2025-01-02', 'fsync .retention/records/dt=2025-01-02']),
      );
      expect(events).toHaveLength(6);
    });

    it('makes new directories durable in their parents, once per instance', async () => {
      const events = await eventsOf(() => archive.putIfAbsent(key, 'body'));
      const link = events.findIndex((e) => e.startsWith('link '));
      const parents = ['<root>', 'records', '.retention', '.retention/records'].map((d) => `fsync ${d}`);
      // Every directory made for the key is in a durable parent before the object is named.
      for (const p of parents) expect(events.indexOf(p), p).toBeGreaterThan(-1);
      for (const p of parents) expect(events.indexOf(p), p).toBeLessThan(link);
      // A second instance on the same tree does it again (whoever made them may have crashed
      // before its fsync); later puts of either instance do not.
      const other = new LocalArchive({ dir, retentionDays: 7, clock });
      try {
        const again = await eventsOf(() => other.putIfAbsent('records/dt=2025-01-02/2.jsonl', 'b'));
        for (const p of parents) expect(again).toContain(p);
        const later = await eventsOf(() => other.putIfAbsent('records/dt=2025-01-02/3.jsonl', 'c'));
        expect(later.filter((e) => e.startsWith('fsync '))).toHaveLength(4);
      } finally {
        await other.close();
      }
    });

    it("makes the name durable before answering 'exists' (its writer may have died before doing so)", async () => {
      await archive.putIfAbsent(key, 'body');
      const events = await eventsOf(() => archive.putIfAbsent(key, 'other'));
      expect(events).toEqual(['fsync records/dt=2025-01-02']);
    });
  });
});
