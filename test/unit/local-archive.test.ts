import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../functions/ports.js';
import {
  ArchiveKeyConflictError,
  InvalidArchiveKeyError,
  LocalArchive,
  ObjectLockedError,
} from '../../local/local-archive.js';

const DAY_NS = 86_400_000_000_000n;

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
    await rm(dir, { recursive: true, force: true });
  });

  it('writes an object under <dir>/<key> and reads it back', async () => {
    const key = 'records/dt=2025-01-02/00000000000000000000.jsonl';
    expect(await archive.putIfAbsent(key, '{"a":1}\n')).toBe('written');
    expect(await archive.get(key)).toBe('{"a":1}\n');
    // Same layout as the S3 bucket, so DuckDB can glob it.
    expect((await stat(join(dir, 'records', 'dt=2025-01-02', '00000000000000000000.jsonl'))).isFile()).toBe(true);
    // No temp files left behind.
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
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
});
