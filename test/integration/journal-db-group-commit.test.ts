// local/journal-db.ts group commit: the sync starts at the end of the event-loop turn, so the
// writes of one turn share one fdatasync; a write made while a sync runs waits for the next one;
// unsynced() counts what is applied but not durable; close() makes durable (and resolves) the
// writes whose sync was only scheduled.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JournalDb, JournalWriteError } from '../../local/journal-db.js';

let dir: string;
let opened: JournalDb[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'journal-group-commit-'));
  opened = [];
});

afterEach(async () => {
  for (const db of opened) await db.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

function open(): JournalDb {
  const db = JournalDb.open({ dir });
  opened.push(db);
  return db;
}

/** The next turn of the event loop (after the group commit scheduled in this one has started). */
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

const journalText = () => readFileSync(join(dir, 'journal.jsonl'), 'utf8');

describe('JournalDb group commit', () => {
  it('the writes of one event-loop turn share one fdatasync', async () => {
    const db = open();
    const s0 = db.syncs;
    const writes = Array.from({ length: 5 }, (_, i) => db.put('t', `k${i}`, '', { i }).durable);
    // Nothing synced yet: the sync starts at the end of the turn, not at the first write.
    expect(db.syncs).toBe(s0);
    expect(db.unsynced()).toBe(5);
    await Promise.all(writes);
    expect(db.syncs).toBe(s0 + 1);
    expect(db.unsynced()).toBe(0);
  });

  it('writes made after a microtask boundary of the same turn join the same sync', async () => {
    const db = open();
    const s0 = db.syncs;
    const a = db.put('t', 'a', '', { a: 1 }).durable;
    await Promise.resolve();
    await Promise.resolve();
    const b = db.put('t', 'b', '', { b: 1 }).durable;
    await Promise.all([a, b]);
    expect(db.syncs).toBe(s0 + 1);
  });

  it('a write in a later turn, once the first sync completed, takes another sync', async () => {
    const db = open();
    const s0 = db.syncs;
    await db.put('t', 'a', '', { n: 1 }).durable;
    expect(db.syncs).toBe(s0 + 1);
    await db.put('t', 'b', '', { n: 2 }).durable;
    expect(db.syncs).toBe(s0 + 2);
    await Promise.all([db.put('t', 'c', '', { n: 3 }).durable, db.put('t', 'd', '', { n: 4 }).durable]);
    expect(db.syncs).toBe(s0 + 3);
  });

  it('a write made while a sync runs waits for the next sync, which takes every write queued meanwhile', async () => {
    const db = open();
    const s0 = db.syncs;
    const first = [db.put('t', 'a', '', { n: 1 }).durable, db.put('t', 'b', '', { n: 2 }).durable];
    await nextTurn(); // the group commit started: written, fdatasync in flight
    expect(db.syncs).toBe(s0 + 1);
    let laterDone = false;
    const later = db.put('t', 'c', '', { n: 3 }).durable.then(() => {
      laterDone = true;
    });
    const alsoLater = db.put('t', 'd', '', { n: 4 }).durable;
    expect(db.syncs).toBe(s0 + 1); // not started by the write: it waits for the running sync
    await Promise.all(first);
    expect(laterDone).toBe(false); // the first sync did not cover it
    await Promise.all([later, alsoLater]);
    expect(db.syncs).toBe(s0 + 2);
    expect(db.unsynced()).toBe(0);
  });
});

describe('JournalDb.unsynced()', () => {
  it('counts the writes applied but not durable, and is 0 once their durable promise resolved', async () => {
    const db = open();
    expect(db.unsynced()).toBe(0);
    const { durable } = db.put('t', 'a', '', { n: 1 });
    expect(db.unsynced()).toBe(1);
    // Readable at once, not durable yet.
    expect(db.get('t', 'a')).toEqual({ n: 1 });
    expect(db.settled(db.seqOf('t', 'a'))).toBeInstanceOf(Promise);
    expect(db.barrier()).toBeInstanceOf(Promise);
    const seen = await durable.then(() => db.unsynced());
    expect(seen).toBe(0);
    expect(db.settled(db.seqOf('t', 'a'))).toBeUndefined();
    expect(db.barrier()).toBeUndefined();
    expect(journalText()).toContain('"p":"a"');
  });

  it('each write, when its durable promise resolves, is covered: unsynced() is no more than the writes after it', async () => {
    const db = open();
    const seen: Array<{ i: number; unsynced: number; covered: boolean }> = [];
    const writes: Promise<void>[] = [];
    for (let turn = 0; turn < 4; turn++) {
      for (let j = 0; j < 3; j++) {
        const i = turn * 3 + j;
        const { durable } = db.put('t', `k${i}`, '', { i });
        const seq = db.seqOf('t', `k${i}`);
        writes.push(
          durable.then(() => {
            seen.push({ i, unsynced: db.unsynced(), covered: db.settled(seq) === undefined });
          }),
        );
      }
      await nextTurn();
    }
    await Promise.all(writes);
    expect(seen.map((s) => s.i)).toEqual([...Array(12).keys()]); // in write order
    for (const s of seen) {
      expect(s.covered).toBe(true);
      expect(s.unsynced).toBeLessThanOrEqual(11 - s.i);
    }
    expect(db.unsynced()).toBe(0);
  });
});

describe('JournalDb.close()', () => {
  it('resolves a write whose sync was only scheduled, and the write survives reopen', async () => {
    const db = open();
    const s0 = db.syncs;
    const { durable } = db.put('t', 'a', '', { n: 1 });
    const other = db.put('t', 'b', '', { n: 2 }).durable;
    let outcome: 'resolved' | 'rejected' | undefined;
    const watched = durable.then(
      () => {
        outcome = 'resolved';
      },
      () => {
        outcome = 'rejected';
      },
    );
    await db.close(); // in the same turn: the scheduled group commit has not run
    await watched;
    await expect(other).resolves.toBeUndefined();
    expect(outcome).toBe('resolved');
    expect(db.unsynced()).toBe(0);
    await nextTurn(); // the scheduled flush finds nothing left to do
    expect(db.syncs).toBe(s0);

    const again = open();
    expect(again.get('t', 'a')).toEqual({ n: 1 });
    expect(again.get('t', 'b')).toEqual({ n: 2 });
  });

  it('waits for a running sync and the write queued behind it, and resolves both', async () => {
    const db = open();
    const first = db.put('t', 'a', '', { n: 1 }).durable;
    await nextTurn(); // sync in flight
    const queued = db.put('t', 'b', '', { n: 2 }).durable;
    await db.close();
    await expect(first).resolves.toBeUndefined();
    await expect(queued).resolves.toBeUndefined();
    const again = open();
    expect(again.get('t', 'a')).toEqual({ n: 1 });
    expect(again.get('t', 'b')).toEqual({ n: 2 });
  });

  it('a write after close is never acknowledged', async () => {
    const db = open();
    await db.put('t', 'a', '', { n: 1 }).durable;
    await db.close();
    const { durable } = db.put('t', 'late', '', { n: 2 });
    await expect(durable).rejects.toBeInstanceOf(JournalWriteError);
    const again = open();
    expect(again.get('t', 'a')).toEqual({ n: 1 });
    expect(again.get('t', 'late')).toBeUndefined();
  });
});
