// The audit trail in store-committed mode, on disk: AuditLog + AuditArchiver on a real JournalDb,
// JournalAuditIndex and LocalArchive. Appends are acknowledged once durable in the journal; the
// archiver copies them behind, in objects of bounded size, resumes from its watermark after a
// crash, recognises an object written just before one, refuses a tampered object (and with it new
// appends), retries transient failures, refuses appends past its backlog, and gives up at close.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditArchiver, type AuditArchiverOptions } from '../../functions/core/audit-archiver.js';
import {
  AuditLog,
  type AuditLogOptions,
  archiveKeyFor,
  eventIdFor,
  hashRecord,
  parseBatch,
  serializeBatch,
  verifyChain,
} from '../../functions/core/audit-chain.js';
import { IntegrityError, TransientError } from '../../functions/core/errors.js';
import type { AuditEvent, AuditRecord } from '../../functions/core/model.js';
import type { ArchivePutOptions, AuditArchive } from '../../functions/ports.js';
import { JournalDb } from '../../local/journal-db.js';
import { JournalAuditIndex } from '../../local/journal-stores.js';
import { LocalArchive } from '../../local/local-archive.js';
import { ManualClock } from '../support/in-memory.js';

const ev = (n: number): AuditEvent => ({
  event_type: 'order_submitted',
  order_id: `ORD-${n}`,
  trader_id: 'trader-1',
  actor: `agent-${n}`,
  input: { n: String(n), nested: { list: [1, 'two', null] } },
  decision: 'accepted',
  reason: `event ${n}`,
});

/** The journal key of an audit record (journal-stores.ts). */
const recordKey = (sequence: number): string => `SEQ#${String(sequence).padStart(20, '0')}`;

/** Fast retries unless a test says otherwise. */
const FAST: AuditArchiverOptions = { retryBaseMs: 1, retryMaxMs: 5 };

let root: string;
let dbDir: string;
let archiveDir: string;
let clock: ManualClock;
let dbs: JournalDb[];
let archives: LocalArchive[];
let archivers: AuditArchiver[];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'audit-archiver-'));
  dbDir = join(root, 'store');
  archiveDir = join(root, 'archive');
  clock = new ManualClock('2026-01-02T12:00:00.000000000Z', 1_000n);
  dbs = [];
  archives = [];
  archivers = [];
});

afterEach(async () => {
  // Stops any linger timer; an archiver whose store or archive is gone gives up after a few attempts.
  for (const a of archivers) await a.close().catch(() => undefined);
  for (const db of dbs) await db.close().catch(() => undefined);
  for (const a of archives) await a.close().catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

function openDb(dir = dbDir): JournalDb {
  const db = JournalDb.open({ dir });
  dbs.push(db);
  return db;
}

function openArchive(): LocalArchive {
  const a = new LocalArchive({ dir: archiveDir, retentionDays: 1, clock });
  archives.push(a);
  return a;
}

interface Stack {
  db: JournalDb;
  index: JournalAuditIndex;
  archive: AuditArchive;
  archiver: AuditArchiver;
  log: AuditLog;
}

/** A store, an archiver (not started) and the audit log that commits to the store. */
function stack(
  options: AuditArchiverOptions = {},
  over: { db?: JournalDb; archive?: AuditArchive; log?: AuditLogOptions } = {},
): Stack {
  const db = over.db ?? openDb();
  const index = new JournalAuditIndex(db);
  const archive = over.archive ?? openArchive();
  const archiver = new AuditArchiver({ archive, index, clock }, { ...FAST, ...options });
  archivers.push(archiver);
  const log = new AuditLog({ archive, index, clock, archiver }, over.log ?? {});
  return { db, index, archive, archiver, log };
}

async function appendSequentially(log: AuditLog, from: number, count: number): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (let i = from; i < from + count; i++) out.push(await log.append(ev(i)));
  return out;
}

/** The archive's objects in key order, with the records each holds. */
async function objects(archive: AuditArchive): Promise<Array<{ key: string; records: AuditRecord[] }>> {
  const out: Array<{ key: string; records: AuditRecord[] }> = [];
  for (const key of await archive.list('records/')) {
    out.push({ key, records: parseBatch((await archive.get(key)) ?? '') });
  }
  return out;
}

/** The archive holds exactly `committed`, as one valid chain from genesis, each object named for its first record. */
async function expectArchiveHolds(
  archive: AuditArchive,
  committed: readonly AuditRecord[],
  maxRecordsPerObject = Number.POSITIVE_INFINITY,
): Promise<Array<{ key: string; records: AuditRecord[] }>> {
  const objs = await objects(archive);
  const all = objs.flatMap((o) => o.records);
  expect(all).toEqual(committed);
  expect(verifyChain(all)).toBeUndefined();
  for (const o of objs) {
    expect(o.records.length).toBeGreaterThan(0);
    expect(o.records.length).toBeLessThanOrEqual(maxRecordsPerObject);
    expect(o.key).toBe(archiveKeyFor(o.records[0] as AuditRecord));
  }
  return objs;
}

/** An archive whose puts fail while `broken`, or for the next `failNext` calls. */
class FlakyArchive implements AuditArchive {
  broken = false;
  failNext = 0;
  puts = 0;
  failures = 0;
  constructor(private readonly inner: AuditArchive) {}

  async putIfAbsent(key: string, body: string, options?: ArchivePutOptions): Promise<'written' | 'exists'> {
    this.puts++;
    if (this.broken || this.failNext > 0) {
      if (this.failNext > 0) this.failNext--;
      this.failures++;
      throw new Error('archive unavailable');
    }
    return this.inner.putIfAbsent(key, body, options);
  }
  get(key: string): Promise<string | undefined> {
    return this.inner.get(key);
  }
  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }
}

/** Resolves with `p`'s outcome, or with 'pending' if it has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | 'pending'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'pending'>((r) => {
    timer = setTimeout(() => r('pending'), ms);
  });
  try {
    return await Promise.race([
      p.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('appends in store-committed mode', () => {
  it('resolves with consecutive sequences, each record durable in the journal when its append resolves', async () => {
    const { db, log, archiver } = stack({ lingerMs: 60_000 });
    await archiver.start();
    const crashCopies: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await log.append(ev(i)).then((rec) => {
        // At the moment of the answer: the record's write (and the head's) is durable...
        expect(db.settled(db.seqOf('audit', recordKey(rec.sequence)))).toBeUndefined();
        expect(db.settled(db.seqOf('audit', 'HEAD'))).toBeUndefined();
        expect(db.unsynced()).toBe(0);
        // ...and what is on disk now (a crash here) holds it.
        const copy = join(root, `crash-${i}`);
        mkdirSync(copy);
        for (const f of ['snapshot.jsonl', 'journal.jsonl']) {
          if (existsSync(join(dbDir, f))) copyFileSync(join(dbDir, f), join(copy, f));
        }
        crashCopies.push(copy);
        return rec;
      });
      expect(r.sequence).toBe(i);
    }
    for (const [i, copy] of crashCopies.entries()) {
      const crashed = openDb(copy);
      const index = new JournalAuditIndex(crashed);
      expect((await index.getHead()).sequence).toBe(i);
      const stored = await index.recordsFrom(0, 100);
      expect(stored.map((r) => r.sequence)).toEqual([...Array(i + 1).keys()]);
      expect(verifyChain(stored)).toBeUndefined();
    }
  });

  it('concurrent appends form one chain, in call order, every record stored once', async () => {
    const batches: number[] = [];
    const { db, index, log, archiver } = stack({ lingerMs: 60_000 }, { log: { onBatch: (n) => batches.push(n) } });
    await archiver.start();
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(ev(i))));
    expect(answers.map((r) => r.sequence)).toEqual([...Array(50).keys()]);
    expect(answers.map((r) => r.actor)).toEqual(Array.from({ length: 50 }, (_, i) => `agent-${i}`));
    expect(verifyChain(answers)).toBeUndefined();
    // Batched (maxBatch 25), and each batch answered once durable.
    expect(batches.reduce((a, b) => a + b, 0)).toBe(50);
    expect(batches.length).toBeLessThan(50);
    expect(db.unsynced()).toBe(0);
    const stored = await index.recordsFrom(0, 1000);
    expect(stored).toEqual(answers);
    expect((await index.getHead()).sequence).toBe(49);
    expect(archiver.backlog).toBe(50);
  });
});

describe('archiving', () => {
  it('after drain the archive holds exactly the committed records, in bounded objects, and the watermark is the head', async () => {
    // A few microseconds before midnight: the chain straddles two days.
    clock = new ManualClock('2026-01-02T23:59:59.999990000Z', 1_000n);
    const { index, archive, archiver, log } = stack({ maxRecordsPerObject: 7, lingerMs: 5 });
    await archiver.start();
    const sequential = await appendSequentially(log, 0, 10);
    const concurrent = await Promise.all(Array.from({ length: 40 }, (_, i) => log.append(ev(100 + i))));
    const committed = [...sequential, ...concurrent];
    expect(committed.map((r) => r.sequence)).toEqual([...Array(50).keys()]);
    await archiver.drain();

    const objs = await expectArchiveHolds(archive, committed, 7);
    expect(await index.recordsFrom(0, 1000)).toEqual(committed);
    const head = await index.getHead();
    expect(head.sequence).toBe(49);
    expect(await index.archivedThrough()).toBe(head.sequence);
    expect(archiver.archivedThrough).toBe(49);
    expect(archiver.backlog).toBe(0);
    // The chain straddles midnight: each object holds one UTC day, filed under it.
    expect(new Set(objs.map((o) => o.key.slice(0, 'records/dt=2026-01-02'.length))).size).toBe(2);
    for (const o of objs) {
      const day = o.key.slice('records/dt='.length, 'records/dt='.length + 10);
      for (const r of o.records) expect(r.timestamp.slice(0, 10), `${o.key} #${r.sequence}`).toBe(day);
    }
  });

  it('with a long linger, records of many batches are grouped into few objects', async () => {
    const batches: number[] = [];
    const { archive, archiver, log } = stack(
      { maxRecordsPerObject: 4, lingerMs: 60_000 },
      { log: { onBatch: (n) => batches.push(n) } },
    );
    await archiver.start();
    const first = await appendSequentially(log, 0, 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(await archive.list('records/')).toEqual([]); // fewer than an object's worth: lingering
    const committed = [...first, ...(await appendSequentially(log, 3, 7))];
    expect(batches).toHaveLength(10);
    // Full objects go at once; the last two records keep lingering.
    const deadline = Date.now() + 2000;
    while (archiver.archivedThrough < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(archiver.archivedThrough).toBe(7);
    await new Promise((r) => setTimeout(r, 50));
    expect(archiver.archivedThrough).toBe(7);
    await archiver.drain();
    const objs = await expectArchiveHolds(archive, committed, 4);
    expect(objs.map((o) => o.records.length)).toEqual([4, 4, 2]);
  });

  it('reports each object archived: its record count and a non-negative lag since commit', async () => {
    const reports: Array<{ records: number; lagMs: number }> = [];
    // Objects large enough that none is full (a full one would go before the clock moves).
    const { archiver, log } = stack({
      maxRecordsPerObject: 100,
      lingerMs: 60_000,
      onArchived: (records, lagMs) => reports.push({ records, lagMs }),
    });
    await archiver.start();
    await appendSequentially(log, 0, 8);
    clock.advanceSeconds(5); // the records wait 5 s before the archive gets them
    await archiver.drain();
    expect(reports.map((r) => r.records)).toEqual([8]);
    for (const r of reports) {
      expect(r.lagMs).toBeGreaterThanOrEqual(5000);
      expect(r.lagMs).toBeLessThan(5100);
    }
    // Nothing waiting: a report with no commit outstanding has lag 0, never negative.
    expect(reports.every((r) => Number.isFinite(r.lagMs) && r.lagMs >= 0)).toBe(true);
  });

  it('writes a full object without waiting out the linger', async () => {
    // lingerMs is how long records wait to be grouped; once maxRecordsPerObject are committed there
    // is nothing left to group, so the pending linger timer gives way.
    const { archiver, log } = stack({ maxRecordsPerObject: 4, lingerMs: 3_000 });
    await archiver.start();
    await appendSequentially(log, 0, 4);
    const deadline = Date.now() + 500;
    while (archiver.archivedThrough < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(archiver.archivedThrough).toBe(3);
  });
});

describe('restart', () => {
  it('archives what a crashed process committed but never archived, once', async () => {
    const flaky = new FlakyArchive(openArchive());
    const first = stack({ lingerMs: 60_000, maxRecordsPerObject: 4 }, { archive: flaky });
    await first.archiver.start();
    const committed = await appendSequentially(first.log, 0, 6);
    await first.archiver.drain(); // records 0..5 archived, watermark 5
    flaky.broken = true; // from here on nothing reaches the archive (a full object would go at once)
    committed.push(...(await appendSequentially(first.log, 6, 7))); // 6..12: committed, not archived
    expect(await first.index.archivedThrough()).toBe(5);
    // The crash: the store stops here (everything acknowledged is durable); the archiver never runs again.
    await first.db.close();

    const db = openDb();
    const second = stack({ lingerMs: 60_000, maxRecordsPerObject: 4 }, { db });
    expect(await second.index.archivedThrough()).toBe(5);
    expect(second.archiver.backlog).toBe(0);
    await second.archiver.start();
    expect(second.archiver.archivedThrough).toBe(12);
    expect(await second.index.archivedThrough()).toBe(12);
    const objs = await expectArchiveHolds(second.archive, committed, 4);
    // 0..5 as the first process wrote them (4 + 2), then 6..12 from the watermark on.
    expect(objs.map((o) => o.records[0]?.sequence)).toEqual([0, 4, 6, 10]);
    // The log carries on from the head.
    const next = await second.log.append(ev(13));
    expect(next.sequence).toBe(13);
    expect(next.prev_hash).toBe(committed[12]?.hash);
    await second.archiver.drain();
    await expectArchiveHolds(second.archive, [...committed, next], 4);
  });

  it('recognises an object written before a crash that left the watermark behind, and goes on after it', async () => {
    const errors: unknown[] = [];
    const first = stack({ lingerMs: 60_000 });
    const committed = await appendSequentially(first.log, 0, 6); // never archived
    const records = await first.index.recordsFrom(0, 100);
    expect(records).toEqual(committed);
    // The crashed archiver wrote 0..5 as one object, then died before moving the watermark.
    await first.archive.putIfAbsent(archiveKeyFor(records[0] as AuditRecord), serializeBatch(records));
    expect(await first.index.archivedThrough()).toBe(-1);

    // Restarted with smaller objects than that one: the object is checked whole and taken as it is.
    const second = stack(
      { lingerMs: 60_000, maxRecordsPerObject: 4, onError: (e) => errors.push(e) },
      { db: first.db, archive: first.archive },
    );
    await second.archiver.start();
    expect(errors).toEqual([]);
    expect(await second.index.archivedThrough()).toBe(5);
    let objs = await expectArchiveHolds(second.archive, committed, 6);
    expect(objs).toHaveLength(1);

    committed.push(...(await appendSequentially(second.log, 6, 5)));
    await second.archiver.drain();
    objs = await expectArchiveHolds(second.archive, committed, 6);
    expect(objs.map((o) => o.records.map((r) => r.sequence))).toEqual([[0, 1, 2, 3, 4, 5], [6, 7, 8, 9], [10]]);
    expect(errors).toEqual([]);
  });

  it('recognises a smaller earlier object (other bounds) and archives the rest after it', async () => {
    const errors: unknown[] = [];
    const first = stack({ lingerMs: 60_000 });
    const committed = await appendSequentially(first.log, 0, 9);
    // An earlier process (maxRecordsPerObject 3) archived 0..2 and moved the watermark, then wrote
    // 3..5 and died before moving it again.
    await first.archive.putIfAbsent(archiveKeyFor(committed[0] as AuditRecord), serializeBatch(committed.slice(0, 3)));
    await first.index.setArchivedThrough(2);
    await first.archive.putIfAbsent(archiveKeyFor(committed[3] as AuditRecord), serializeBatch(committed.slice(3, 6)));

    const second = stack(
      { lingerMs: 60_000, maxRecordsPerObject: 100, onError: (e) => errors.push(e) },
      { db: first.db, archive: first.archive },
    );
    await second.archiver.start();
    expect(errors).toEqual([]);
    expect(await second.index.archivedThrough()).toBe(8);
    const objs = await expectArchiveHolds(second.archive, committed, 100);
    expect(objs.map((o) => o.records.map((r) => r.sequence))).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 7, 8],
    ]);
  });
});

describe('start-up', () => {
  it('does not wait for ever when the archive is down: start-up goes on, the archiver catches up later', async () => {
    const first = stack({ lingerMs: 60_000 });
    const committed = await appendSequentially(first.log, 0, 3); // never archived (not started)
    await first.db.close();

    const flaky = new FlakyArchive(openArchive());
    flaky.broken = true;
    const second = stack({ lingerMs: 5, startDrainMs: 100 }, { db: openDb(), archive: flaky });
    expect(await within(second.archiver.start(), 2_000)).toEqual({ value: undefined });
    expect(second.archiver.backlog).toBe(3);
    expect(second.archiver.refusal()).toBeUndefined(); // within the backlog limit: appends go on
    const next = await second.log.append(ev(3));
    flaky.broken = false;
    await second.archiver.drain();
    await expectArchiveHolds(second.archive, [...committed, next], 1000);
  });

  it('takes a store of the earlier layout (the head carries its batch, no watermark) as archived up to the head', async () => {
    // The earlier layout: claimHead + archive + index before each append answered.
    const db = openDb();
    const index = new JournalAuditIndex(db);
    const archive = openArchive();
    const old = new AuditLog({ archive, index, clock });
    const committed = await appendSequentially(old, 0, 5);
    expect((await index.getHead()).batch).toBeDefined();
    expect(await index.archivedThrough()).toBe(-1);
    const puts: string[] = [];
    const watching: AuditArchive = {
      putIfAbsent: (key, body, options) => {
        puts.push(key);
        return archive.putIfAbsent(key, body, options);
      },
      get: (key) => archive.get(key),
      list: (prefix) => archive.list(prefix),
    };
    const { archiver, log } = stack({ lingerMs: 5 }, { db, archive: watching });
    await log.recover(); // finds the head's batch already in the archive
    puts.length = 0;
    await archiver.start();
    expect(puts).toEqual([]); // the archiver re-reads and rewrites nothing
    expect(await index.archivedThrough()).toBe(4);
    const next = await log.append(ev(5));
    expect(next.prev_hash).toBe(committed[4]?.hash);
    await archiver.drain();
    await expectArchiveHolds(archive, [...committed, next], 1000);
  });
});

describe('integrity', () => {
  it('a tampered object stops the archiver and, with it, the audit log (fail closed)', async () => {
    const errors: Array<{ err: unknown; willRetry: boolean }> = [];
    const { index, archive, archiver, log } = stack({
      lingerMs: 60_000,
      onError: (err, willRetry) => errors.push({ err, willRetry }),
    });
    const committed = await appendSequentially(log, 0, 4);
    // Same key, same number of lines, one field changed.
    const forged = committed.map((r, i) => (i === 2 ? { ...r, decision: 'rejected' } : r));
    const key = archiveKeyFor(committed[0] as AuditRecord);
    await archive.putIfAbsent(key, serializeBatch(forged));

    const started = archiver.start();
    await expect(started).rejects.toBeInstanceOf(IntegrityError);
    const err = await started.catch((e: unknown) => e);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.err).toBe(err);
    expect(errors[0]?.willRetry).toBe(false);
    expect(archiver.refusal()).toBe(err);
    await expect(archiver.drain()).rejects.toBe(err);
    await expect(log.append(ev(99))).rejects.toBe(err);
    // Nothing moved: the forged object is left as found, the watermark and head where they were.
    expect(await archive.get(key)).toBe(serializeBatch(forged));
    expect(await archive.list('records/')).toEqual([key]);
    expect(await index.archivedThrough()).toBe(-1);
    expect((await index.getHead()).sequence).toBe(3);
  });

  it('an object holding a record the store never committed is refused', async () => {
    const { index, archive, archiver, log } = stack({ lingerMs: 60_000 });
    const committed = await appendSequentially(log, 0, 3);
    // The three committed records, then a well-formed fourth, linked to them, that the store never had.
    const last = committed[2] as AuditRecord;
    const { hash: _h, ...rest } = last;
    const body = { ...rest, sequence: 3, event_id: eventIdFor(3), reason: 'forged', prev_hash: last.hash };
    const extra: AuditRecord = { ...body, hash: hashRecord(body) };
    expect(verifyChain([...committed, extra])).toBeUndefined();
    await archive.putIfAbsent(archiveKeyFor(committed[0] as AuditRecord), serializeBatch([...committed, extra]));
    await expect(archiver.start()).rejects.toBeInstanceOf(IntegrityError);
    expect(archiver.refusal()).toBeInstanceOf(IntegrityError);
    expect(await index.archivedThrough()).toBe(-1);
  });

  it('an unparseable object under the key is an integrity failure, not retried for ever', async () => {
    // A SyntaxError from parsing the stored object must not pass for a transient failure (retried
    // for ever, start() never resolving, appends refused as TransientError).
    const errors: Array<{ err: unknown; willRetry: boolean }> = [];
    const { archive, archiver, log } = stack({
      lingerMs: 60_000,
      onError: (err, willRetry) => errors.push({ err, willRetry }),
    });
    const committed = await appendSequentially(log, 0, 2);
    await archive.putIfAbsent(archiveKeyFor(committed[0] as AuditRecord), 'this is not json\n');
    const outcome = await within(archiver.start(), 500);
    expect(outcome).not.toBe('pending');
    expect(outcome !== 'pending' && 'error' in outcome && outcome.error).toBeInstanceOf(IntegrityError);
    expect(errors.every((e) => e.err instanceof IntegrityError)).toBe(true);
  });
});

describe('archive failures', () => {
  it('retries a transient failure with backoff, reporting it, until the records are archived', async () => {
    const errors: Array<{ err: unknown; willRetry: boolean }> = [];
    const flaky = new FlakyArchive(openArchive());
    flaky.failNext = 3;
    const { archiver, log } = stack(
      { lingerMs: 1, retryBaseMs: 2, retryMaxMs: 10, onError: (err, willRetry) => errors.push({ err, willRetry }) },
      { archive: flaky },
    );
    await archiver.start();
    const committed = await appendSequentially(log, 0, 5);
    await archiver.drain();
    expect(flaky.failures).toBe(3);
    expect(errors).toHaveLength(3);
    for (const e of errors) {
      expect(e.willRetry).toBe(true);
      expect((e.err as Error).message).toBe('archive unavailable');
    }
    expect(archiver.refusal()).toBeUndefined();
    await expectArchiveHolds(flaky, committed);
  });

  it('refuses appends past maxBacklog while the archive is down, and takes them again once it caught up', async () => {
    const flaky = new FlakyArchive(openArchive());
    flaky.broken = true;
    const { index, archiver, log } = stack(
      { lingerMs: 0, maxBacklog: 5, retryBaseMs: 1, retryMaxMs: 5 },
      { archive: flaky },
    );
    await archiver.start();
    const committed = await appendSequentially(log, 0, 5);
    expect(archiver.backlog).toBe(5);
    const refusal = archiver.refusal();
    expect(refusal).toBeInstanceOf(TransientError);
    const refused = log.append(ev(5));
    await expect(refused).rejects.toBeInstanceOf(TransientError);
    await expect(log.append(ev(6))).rejects.toBeInstanceOf(TransientError);
    expect((await index.getHead()).sequence).toBe(4); // nothing refused was committed
    // The archiver keeps trying while the archive is down (its first attempt is asynchronous: wait
    // for it rather than race it).
    await vi.waitFor(() => expect(flaky.failures).toBeGreaterThan(0), { timeout: 5000, interval: 5 });

    flaky.broken = false;
    await archiver.drain();
    expect(archiver.backlog).toBe(0);
    expect(archiver.refusal()).toBeUndefined();
    const next = await log.append(ev(7));
    expect(next.sequence).toBe(5);
    committed.push(next);
    await archiver.drain();
    await expectArchiveHolds(flaky, committed);
  });

  it('close() gives up after a bounded number of attempts; the records stay in the store for the next start', async () => {
    const errors: Array<{ err: unknown; willRetry: boolean }> = [];
    const working = openArchive();
    const flaky = new FlakyArchive(working);
    flaky.broken = true;
    const first = stack(
      { lingerMs: 60_000, onError: (err, willRetry) => errors.push({ err, willRetry }) },
      { archive: flaky },
    );
    await first.archiver.start();
    const committed = await appendSequentially(first.log, 0, 4);
    const closed = within(first.archiver.close(), 5_000);
    const outcome = await closed;
    expect(outcome).not.toBe('pending');
    expect(outcome !== 'pending' && 'error' in outcome).toBe(true);
    expect(flaky.puts).toBeGreaterThanOrEqual(1);
    expect(flaky.puts).toBeLessThanOrEqual(10);
    expect(errors).toHaveLength(flaky.puts);
    expect(errors.at(-1)?.willRetry).toBe(false);
    expect(errors.slice(0, -1).every((e) => e.willRetry)).toBe(true);
    // Closed: no more appends.
    expect(first.archiver.refusal()).toBeInstanceOf(Error);
    await expect(first.log.append(ev(4))).rejects.toBeInstanceOf(Error);
    expect(await working.list('records/')).toEqual([]);
    await first.db.close();

    const db = openDb();
    const second = stack({ lingerMs: 60_000 }, { db, archive: working });
    expect(await second.index.recordsFrom(0, 100)).toEqual(committed);
    expect(await second.index.archivedThrough()).toBe(-1);
    await second.archiver.start();
    await expectArchiveHolds(working, committed);
    expect(await second.index.archivedThrough()).toBe(3);
  });
});
