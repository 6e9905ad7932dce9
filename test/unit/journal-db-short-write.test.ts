// A write(2) may write fewer bytes than asked (a full disk, a file-size limit). The journal must
// finish every line before it acknowledges it: here every write is cut to half, and nothing
// acknowledged may be missing or torn after a reopen.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { JournalDb } from '../../local/journal-db.js';

const fsState = vi.hoisted(() => ({ halve: false, shortWrites: 0 }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const writeSync = ((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]): number => {
    if (!fsState.halve) return (fs.writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
    fsState.shortWrites += 1;
    if (typeof data === 'string') return fs.writeSync(fd, data.slice(0, Math.max(1, data.length >> 1)));
    const offset = typeof rest[0] === 'number' ? rest[0] : 0;
    const length = typeof rest[1] === 'number' ? rest[1] : data.byteLength - offset;
    return fs.writeSync(fd, data, offset, Math.max(1, length >> 1));
  }) as typeof fs.writeSync;
  return { ...fs, default: { ...fs, writeSync }, writeSync };
});

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'journal-short-'));
  fsState.halve = false;
  fsState.shortWrites = 0;
});

afterEach(async () => {
  fsState.halve = false;
  await rm(dir, { recursive: true, force: true });
});

it('finishes every journal line even when each write(2) writes only half', async () => {
  const db = JournalDb.open({ dir });
  fsState.halve = true;
  const writes = Array.from({ length: 40 }, (_, i) => db.put('t', `k${i}`, '', { i, pad: 'x'.repeat(200) }).durable);
  await Promise.all(writes);
  fsState.halve = false;
  // Reopen without close: only what was acknowledged is owed, and all of it is.
  const again = JournalDb.open({ dir });
  for (let i = 0; i < 40; i++) expect(again.get<{ i: number }>('t', `k${i}`)?.i).toBe(i);
  expect(fsState.shortWrites).toBeGreaterThan(5); // the writes really were cut short
  await again.close();
  await db.close();
});
