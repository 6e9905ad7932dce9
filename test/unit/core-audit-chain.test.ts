import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  AuditLog,
  type AuditLogOptions,
  archiveKeyFor,
  eventIdFor,
  GENESIS_HASH,
  hashRecord,
  parseBatch,
  recordText,
  serializeBatch,
  verifyChain,
} from '../../functions/core/audit-chain.js';
import { canonicalJson, sha256Hex } from '../../functions/core/canonical-json.js';
import { IntegrityError, TransientError, ValidationError } from '../../functions/core/errors.js';
import { AUDIT_EVENT_TYPES, type AuditEvent, type AuditRecord } from '../../functions/core/model.js';
import type { AuditArchive, ChainHead } from '../../functions/ports.js';
import { DeadWriterArchive, InMemoryAuditArchive, InMemoryAuditIndex, ManualClock } from '../support/in-memory.js';

const ev = (n: number | string, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  event_type: 'order_submitted',
  order_id: `ORD-${n}`,
  trader_id: 'trader-1',
  actor: `agent-${n}`,
  input: { n: String(n), nested: { list: [1, 'two', null] } },
  decision: 'accepted',
  reason: `event ${n}`,
  ...extra,
});

let clock: ManualClock;
let archive: InMemoryAuditArchive;
let index: InMemoryAuditIndex;
const logOf = (options: AuditLogOptions = {}, a: AuditArchive = archive) =>
  new AuditLog({ archive: a, index, clock }, { maxWriteAttempts: 2, ...options });

beforeEach(() => {
  // one microsecond before midnight: the second record of a test falls on the next day
  clock = new ManualClock('2026-01-02T23:59:59.999999000Z', 1_000n);
  archive = new InMemoryAuditArchive();
  index = new InMemoryAuditIndex();
});

/** Every record in the archive, batch by batch, in key order. */
async function archived(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (const key of await archive.list('records/')) out.push(...parseBatch((await archive.get(key)) ?? ''));
  return out;
}

function expectContiguousValidChain(records: readonly AuditRecord[], count: number): void {
  expect(records.map((r) => r.sequence)).toEqual([...Array(count).keys()]);
  expect(verifyChain(records)).toBeUndefined();
  for (let i = 1; i < records.length; i++) {
    expect((records[i]?.timestamp ?? '') >= (records[i - 1]?.timestamp ?? '')).toBe(true);
  }
}

describe('record helpers', () => {
  it('eventIdFor pads to 20 digits', () => {
    expect(eventIdFor(0)).toBe('EVT-00000000000000000000');
    expect(eventIdFor(1234)).toBe('EVT-00000000000000001234');
  });

  it('hashRecord is the RFC 9162 leaf hash, SHA-256(0x00 || canonical record without its hash)', () => {
    const rest: Omit<AuditRecord, 'hash'> = {
      sequence: 0,
      event_id: eventIdFor(0),
      timestamp: '2026-01-02T14:30:00.000000000Z',
      event_type: 'order_submitted',
      actor: 'a',
      input: { b: 1, a: 'x' },
      decision: 'accepted',
      reason: 'r',
      prev_hash: GENESIS_HASH,
    };
    // The canonical bytes written out by hand: keys sorted, no whitespace.
    const bytes =
      '{"actor":"a","decision":"accepted","event_id":"EVT-00000000000000000000","event_type":"order_submitted",' +
      '"input":{"a":"x","b":1},"prev_hash":"' +
      GENESIS_HASH +
      '","reason":"r","sequence":0,"timestamp":"2026-01-02T14:30:00.000000000Z"}';
    expect(canonicalJson(rest)).toBe(bytes);
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from([0]), Buffer.from(bytes, 'utf8')]))
      .digest('hex');
    expect(hashRecord(rest)).toBe(expected);
    expect(hashRecord(rest)).not.toBe(sha256Hex(bytes));
    expect(hashRecord({ ...rest, input: { a: 'x', b: 1 } })).toBe(hashRecord(rest));
    expect(hashRecord({ ...rest, reason: 'R' })).not.toBe(hashRecord(rest));
    expect(hashRecord({ ...rest, prev_hash: '1'.repeat(64) })).not.toBe(hashRecord(rest));
  });

  it('recordText is canonicalJson of the record, with and without its hash (property)', () => {
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    fc.assert(
      fc.property(
        fc.record(
          {
            sequence: fc.nat(),
            actor: text,
            decision: text,
            reason: text,
            order_id: text,
            trader_id: text,
            event_type: fc.constantFrom(...AUDIT_EVENT_TYPES),
            input: fc.object({ values: [text, fc.integer(), fc.boolean(), fc.constant(null)], maxDepth: 2 }),
            timestamp: text,
            prev_hash: text,
          },
          {
            requiredKeys: ['sequence', 'actor', 'decision', 'reason', 'event_type', 'input', 'timestamp', 'prev_hash'],
          },
        ),
        fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: undefined }),
        (fields, hash) => {
          const rest = { ...fields, event_id: eventIdFor(fields.sequence) } as Omit<AuditRecord, 'hash'>;
          const { input, ...withoutInput } = rest;
          const expected = canonicalJson(hash === undefined ? rest : { ...rest, hash });
          expect(recordText(withoutInput, canonicalJson(input), hash)).toBe(expected);
        },
      ),
    );
  });

  it.each(AUDIT_EVENT_TYPES)('recordText gives the canonical JSON of the record with its hash (%s)', (type) => {
    const rest: Omit<AuditRecord, 'hash'> = {
      sequence: 7,
      event_id: eventIdFor(7),
      timestamp: '2026-01-02T14:30:00.000000000Z',
      event_type: type,
      order_id: 'O,"event_type":"x"',
      actor: String.raw`a\",\"event_type\":\"`,
      input: { event_type: type, nested: { ',"event_type":"order_submitted"': 1, hash: 'h' } },
      decision: 'd',
      reason: `,"event_type":"${type}"`,
      prev_hash: GENESIS_HASH,
    };
    const hash = 'ab'.repeat(32);
    const { input, ...withoutInput } = rest;
    expect(recordText(withoutInput, canonicalJson(input), hash)).toBe(canonicalJson({ ...rest, hash }));
  });

  it('a batch is cut at midnight: every archive object holds one UTC day, under that day', async () => {
    clock = new ManualClock('2026-01-02T23:59:59.999998000Z', 1_000n);
    const log = logOf();
    const records = await Promise.all(Array.from({ length: 6 }, (_, i) => log.append(ev(i))));
    expect(records.map((r) => r.sequence)).toEqual([0, 1, 2, 3, 4, 5]);
    const keys = await archive.list('records/');
    expect(keys.length).toBeGreaterThanOrEqual(2);
    for (const key of keys) {
      const day = key.slice('records/dt='.length, 'records/dt='.length + 10);
      for (const r of parseBatch((await archive.get(key)) as string)) expect(r.timestamp.slice(0, 10)).toBe(day);
    }
    expect(verifyChain(records)).toBeUndefined();
  });

  it('archive keys are partitioned by the first record’s day and named by its sequence', () => {
    const r = { sequence: 42, timestamp: '2026-01-02T14:30:00.000000000Z' } as AuditRecord;
    expect(archiveKeyFor(r)).toBe('records/dt=2026-01-02/00000000000000000042.jsonl');
  });
});

describe('AuditLog.append', () => {
  it('starts the chain at sequence 0 on the genesis hash, durable in archive and index', async () => {
    const log = logOf();
    const r = await log.append(ev(1));
    const { hash, ...rest } = r;
    expect(rest).toEqual({
      sequence: 0,
      event_id: 'EVT-00000000000000000000',
      timestamp: '2026-01-02T23:59:59.999999000Z',
      event_type: 'order_submitted',
      order_id: 'ORD-1',
      trader_id: 'trader-1',
      actor: 'agent-1',
      input: { n: '1', nested: { list: [1, 'two', null] } },
      decision: 'accepted',
      reason: 'event 1',
      prev_hash: GENESIS_HASH,
    });
    expect(hash).toBe(hashRecord(rest));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    const key = 'records/dt=2026-01-02/00000000000000000000.jsonl';
    expect(await archive.list('records/')).toEqual([key]);
    expect(await archive.get(key)).toBe(`${canonicalJson(r)}\n`);
    expect(index.all()).toEqual([r]);
    expect(index.peekHead()).toMatchObject({ sequence: 0, hash });
  });

  it('omits absent order_id/trader_id rather than writing nulls', async () => {
    const { order_id: _o, trader_id: _t, ...bare } = ev(1);
    const r = await logOf().append(bare);
    expect(r).not.toHaveProperty('order_id');
    expect(r).not.toHaveProperty('trader_id');
    expect(verifyChain([r])).toBeUndefined();
  });

  it('links each record to the previous one, with non-decreasing timestamps', async () => {
    const log = logOf();
    const records: AuditRecord[] = [];
    for (let i = 0; i < 5; i++) records.push(await log.append(ev(i)));
    expectContiguousValidChain(records, 5);
    for (let i = 1; i < 5; i++) expect(records[i]?.prev_hash).toBe(records[i - 1]?.hash);
    // the day changed between records 0 and 1: batches are partitioned by their first record's day
    expect(await archive.list('records/dt=2026-01-03/')).toHaveLength(4);
    expect(await archived()).toEqual(records);
    expect(index.all()).toEqual(records);
  });

  it('group commit: many concurrent appends share fewer batches, all resolve, in order', async () => {
    const sizes: number[] = [];
    const log = logOf({ onBatch: (n) => sizes.push(n) });
    const records = await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(ev(i))));
    expect(records.map((r) => r.sequence)).toEqual([...Array(100).keys()]);
    expect(records.map((r) => r.actor)).toEqual(Array.from({ length: 100 }, (_, i) => `agent-${i}`));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(100);
    expect(sizes.length).toBeLessThan(10);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(25);
    expect((await archive.list('records/')).length).toBe(sizes.length);
    expectContiguousValidChain(index.all(), 100);
    expect(await archived()).toEqual(records);
  });

  it('respects maxBatch', async () => {
    const sizes: number[] = [];
    const log = logOf({ maxBatch: 10, onBatch: (n) => sizes.push(n) });
    await Promise.all(Array.from({ length: 35 }, (_, i) => log.append(ev(i))));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
    expectContiguousValidChain(index.all(), 35);
  });

  it('refuses an unknown event type with a ValidationError and writes nothing', async () => {
    const log = logOf();
    const bad = { ...ev(1), event_type: 'order_teleported' } as unknown as AuditEvent;
    const err = await log.append(bad).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).errors).toEqual([expect.objectContaining({ field: 'event_type', rule: 'enum' })]);
    expect(index.calls.advanceHead).toBe(0);
    expect(index.all()).toEqual([]);
    expect(archive.objects.size).toBe(0);
    expect(index.peekHead().sequence).toBe(-1);
  });

  // BUG (audit-chain.ts:96-111, 170-190): an event whose input cannot be canonicalised (a float)
  // is only detected in build(), which fails the whole group-committed batch: other callers'
  // valid events are rejected with a CanonicalJsonError they did not cause.
  it('one event with a non-canonical input does not fail the other events of its batch', async () => {
    const log = logOf();
    const first = log.append(ev(0)); // flushes alone; the next two queue into one batch
    const good = log.append(ev(1));
    const bad = log.append(ev(2, { input: { price: 150.25 } }));
    const [f, g, b] = await Promise.allSettled([first, good, bad]);
    expect(f.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect(g.status).toBe('fulfilled');
  });

  it('retries a transient archive failure', async () => {
    archive.failNextPuts = 2;
    const r = await logOf({ maxWriteAttempts: 3 }).append(ev(1));
    expect(archive.putAttempts).toBe(3);
    expect(await archived()).toEqual([r]);
  });

  it('retries a transient index failure', async () => {
    index.failNextPutRecords = 1;
    const r = await logOf().append(ev(1));
    expect(index.all()).toEqual([r]);
  });

  it('surfaces a permanent archive failure as a TransientError; the claimed batch is finished later, not dropped', async () => {
    archive.failAllPuts = true;
    const log = logOf({ maxWriteAttempts: 2 });
    const err = await log.append(ev(1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/after 2 attempts/);
    expect(archive.putAttempts).toBe(2);
    // The head holds the batch, so the next append (archive back) completes it first.
    const head = index.peekHead();
    expect(head.sequence).toBe(0);
    expect(parseBatch(head.batch?.body ?? '')).toHaveLength(1);
    archive.failAllPuts = false;
    const next = await log.append(ev(2));
    expect(next.sequence).toBe(1);
    const all = await archived();
    expect(all.map((r) => r.actor)).toEqual(['agent-1', 'agent-2']);
    expectContiguousValidChain(index.all(), 2);
  });

  it('refuses to accept an archive object that differs from the claimed batch (IntegrityError, not retried), and stops there', async () => {
    const key = 'records/dt=2026-01-02/00000000000000000000.jsonl';
    archive.objects.set(key, '{"forged":true}\n');
    const log = logOf({ maxWriteAttempts: 3 });
    const err = await log.append(ev(1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(IntegrityError);
    expect(archive.putAttempts).toBe(1);
    expect(archive.objects.get(key)).toBe('{"forged":true}\n'); // never overwritten
    // The batch stays unwritten: nothing is appended past it until someone resolves the conflict.
    await expect(log.append(ev(2))).rejects.toBeInstanceOf(IntegrityError);
    expect(index.peekHead().sequence).toBe(0);
  });

  it('gives up with a TransientError when the head stays contended', async () => {
    class LosingIndex extends InMemoryAuditIndex {
      override async advanceHead(_e: ChainHead, _n: ChainHead): Promise<boolean> {
        this.calls.advanceHead += 1;
        return false;
      }
    }
    index = new LosingIndex();
    const err = await logOf({ maxClaimAttempts: 3 })
      .append(ev(1))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(TransientError);
    expect(index.calls.advanceHead).toBe(3);
    expect(archive.objects.size).toBe(0);
  });
});

describe('AuditLog: several writers on one chain', () => {
  it('two instances appending concurrently never fork: contiguous, valid, every record exactly once', async () => {
    const a = logOf();
    const b = logOf();
    const writes: Array<Promise<AuditRecord>> = [];
    for (let i = 0; i < 60; i++) writes.push((i % 2 === 0 ? a : b).append(ev(i)));
    const records = await Promise.all(writes);
    expect(index.calls.advanceHeadLost).toBeGreaterThan(0); // they really contended
    const all = index.all();
    expectContiguousValidChain(all, 60);
    expect(all.map((r) => r.actor).sort()).toEqual(Array.from({ length: 60 }, (_, i) => `agent-${i}`).sort());
    expect(new Set(records.map((r) => r.sequence)).size).toBe(60);
    expect(await archived()).toEqual(all);
    for (const r of records) expect(all[r.sequence]).toEqual(r);
  });

  it('a writer that claimed the head and died before archiving: the next writer finishes its batch', async () => {
    const dead = new DeadWriterArchive(archive);
    const crashed = logOf({ maxWriteAttempts: 1 }, dead);
    await expect(crashed.append(ev('lost?'))).rejects.toBeInstanceOf(TransientError);
    expect(dead.putAttempts).toBe(1);
    expect(index.peekHead().sequence).toBe(0); // claimed...
    expect(archive.objects.size).toBe(0); // ...but not archived (the index, written alongside, may list it)

    const survivor = logOf();
    const r = await survivor.append(ev('next'));
    expect(r.sequence).toBe(1);
    const all = index.all();
    expectContiguousValidChain(all, 2);
    expect(all.map((x) => x.actor)).toEqual(['agent-lost?', 'agent-next']);
    expect(await archived()).toEqual(all);
  });

  it('a survivor holding a stale head also finishes the dead writer’s batch before its own', async () => {
    const survivor = logOf();
    await survivor.append(ev(0)); // caches head 0
    const crashed = logOf({ maxWriteAttempts: 1 }, new DeadWriterArchive(archive));
    await expect(crashed.append(ev(1))).rejects.toBeInstanceOf(TransientError);
    await survivor.append(ev(2));
    const all = index.all();
    expectContiguousValidChain(all, 3);
    expect(all.map((x) => x.actor)).toEqual(['agent-0', 'agent-1', 'agent-2']);
    expect(await archived()).toEqual(all);
  });

  it('the dead writer itself cannot append past its unarchived batch', async () => {
    const crashed = logOf({ maxWriteAttempts: 1 }, new DeadWriterArchive(archive));
    await expect(crashed.append(ev(1))).rejects.toBeInstanceOf(TransientError);
    await expect(crashed.append(ev(2))).rejects.toBeInstanceOf(TransientError);
    expect(index.peekHead().sequence).toBe(0);
  });
});

const tick = () => new Promise((r) => setImmediate(r));

describe('AuditLog: a batch whose write failed', () => {
  it('is written before anything new is claimed, and nothing hangs while the archive is down', async () => {
    archive.failAllPuts = true;
    const log = logOf({ maxWriteAttempts: 1 });
    await expect(log.append(ev(0))).rejects.toBeInstanceOf(TransientError);
    // The archive is still down: the failed batch is retried first, and the new append fails fast.
    await expect(log.append(ev(1))).rejects.toBeInstanceOf(TransientError);
    expect(index.peekHead().sequence).toBe(0);
    archive.failAllPuts = false;
    const r = await log.append(ev(2));
    expect(r.sequence).toBe(1);
    const all = index.all();
    expectContiguousValidChain(all, 2);
    expect(all.map((x) => x.actor)).toEqual(['agent-0', 'agent-2']);
  });
});

/** An index that decides a claim at once and makes it durable when told (as the local journal does). */
class DeferredDurabilityIndex extends InMemoryAuditIndex {
  private pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  claimHead(expected: ChainHead, next: ChainHead): { won: boolean; durable: Promise<void> } {
    const current = this.peekHead();
    if (current.sequence !== expected.sequence || current.hash !== expected.hash) {
      return { won: false, durable: Promise.resolve() };
    }
    void super.advanceHead(expected, next);
    return { won: true, durable: new Promise((resolve, reject) => this.pending.push({ resolve, reject })) };
  }
  settle(error?: Error): void {
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) error ? p.reject(error) : p.resolve();
  }
}

describe('AuditLog: a claim decided before it is durable (claimHead)', () => {
  it('prepares the batch meanwhile but archives it only once the claim is durable; the append waits for both', async () => {
    const deferred = new DeferredDurabilityIndex();
    index = deferred;
    let resolved = false;
    const append = logOf().append(ev(1));
    void append.then(() => {
      resolved = true;
    });
    for (let i = 0; i < 5; i++) await tick();
    expect(deferred.peekHead().sequence).toBe(0); // decided
    expect(archive.objects.size).toBe(0); // not published before the claim is durable
    expect(resolved).toBe(false);
    deferred.settle();
    const r = await append;
    expect(r.sequence).toBe(0);
    expect(await archived()).toEqual([r]);
  });

  it('a claim that never becomes durable archives nothing and fails the append', async () => {
    const deferred = new DeferredDurabilityIndex();
    index = deferred;
    const append = logOf({ maxWriteAttempts: 1 }).append(ev(1));
    for (let i = 0; i < 5; i++) await tick();
    deferred.settle(new Error('journal sync failed'));
    await expect(append).rejects.toThrow();
    expect(archive.objects.size).toBe(0);
  });
});

describe('verifyChain', () => {
  let chain: AuditRecord[];

  beforeEach(async () => {
    const log = logOf();
    chain = [];
    for (let i = 0; i < 5; i++) chain.push(await log.append(ev(i)));
  });

  const at = (i: number): AuditRecord => {
    const r = chain[i];
    if (!r) throw new Error(`no record ${i}`);
    return structuredClone(r);
  };

  it('accepts an intact chain and an empty one', () => {
    expect(verifyChain(chain)).toBeUndefined();
    expect(verifyChain([])).toBeUndefined();
  });

  it('names the record whose content was altered (one byte)', () => {
    const tampered = chain.map((_, i) => at(i));
    const r2 = at(2);
    tampered[2] = { ...r2, reason: r2.reason.replace('2', '3') };
    expect(verifyChain(tampered)).toEqual({ sequence: 2, problem: 'record hash does not match its content' });
  });

  it('names the record whose stored hash was altered', () => {
    const tampered = chain.map((_, i) => at(i));
    const r2 = at(2);
    tampered[2] = { ...r2, hash: `${r2.hash.slice(0, -1)}${r2.hash.endsWith('0') ? '1' : '0'}` };
    expect(verifyChain(tampered)).toEqual({ sequence: 2, problem: 'record hash does not match its content' });
  });

  it('names a record whose prev_hash was altered', () => {
    const tampered = chain.map((_, i) => at(i));
    tampered[3] = { ...at(3), prev_hash: GENESIS_HASH };
    expect(verifyChain(tampered)).toEqual({ sequence: 3, problem: 'prev_hash does not match the previous record' });
  });

  it('a rewritten record with a recomputed hash breaks the next link', () => {
    const tampered = chain.map((_, i) => at(i));
    const { hash: _h, ...rest } = at(2);
    const forged = { ...rest, decision: 'rejected' };
    tampered[2] = { ...forged, hash: hashRecord(forged) };
    expect(verifyChain(tampered)).toEqual({ sequence: 3, problem: 'prev_hash does not match the previous record' });
  });

  it('names the gap left by a deleted record', () => {
    const tampered = chain.filter((_, i) => i !== 2);
    expect(verifyChain(tampered)).toEqual({ sequence: 3, problem: 'expected sequence 2' });
  });

  it('names swapped records', () => {
    const tampered = [at(0), at(2), at(1), at(3), at(4)];
    expect(verifyChain(tampered)).toEqual({ sequence: 2, problem: 'expected sequence 1' });
  });

  it('swapped records renumbered to look contiguous still fail on the links', () => {
    const tampered = [at(0), { ...at(2), sequence: 1 }, { ...at(1), sequence: 2 }, at(3), at(4)];
    expect(verifyChain(tampered)?.sequence).toBe(1);
  });

  it('detects a flipped byte in the archived text', async () => {
    const [key] = await archive.list('records/dt=2026-01-03/');
    const body = (await archive.get(key ?? '')) ?? '';
    const flipped = body.replace('"event 1"', '"event 7"');
    expect(flipped).not.toBe(body);
    const records = [at(0), ...parseBatch(flipped), ...chain.slice(2)];
    expect(verifyChain(records)).toEqual({ sequence: 1, problem: 'record hash does not match its content' });
  });

  it('verifies a suffix from a trusted checkpoint', () => {
    const checkpoint = { sequence: 1, hash: at(1).hash };
    expect(verifyChain(chain.slice(2), checkpoint)).toBeUndefined();
    expect(verifyChain(chain.slice(2), { sequence: 1, hash: at(0).hash })).toEqual({
      sequence: 2,
      problem: 'prev_hash does not match the previous record',
    });
    expect(verifyChain(chain.slice(3), checkpoint)).toEqual({ sequence: 3, problem: 'expected sequence 2' });
  });

  it('round-trips through serializeBatch/parseBatch unchanged', () => {
    expect(parseBatch(serializeBatch(chain))).toEqual(chain);
    expect(serializeBatch(chain).split('\n')).toHaveLength(6);
  });
});
