import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../functions/core/audit-chain.js';
import { CheckpointedTrail, Checkpointer, latestCheckpoint } from '../../functions/core/audit-checkpointer.js';
import {
  checkpointBody,
  checkpointKey,
  checkpointProblem,
  keyIdOf,
  parseCheckpoint,
  serializeCheckpoint,
  signCheckpoint,
} from '../../functions/core/checkpoint.js';
import { IntegrityError } from '../../functions/core/errors.js';
import type { AuditEvent, AuditRecord } from '../../functions/core/model.js';
import type { CheckpointSigner } from '../../functions/ports.js';
import { ephemeralCheckpointSigner } from '../../local/local-checkpoint-signer.js';
import { InMemoryAuditArchive, InMemoryAuditIndex, ManualClock } from '../support/in-memory.js';

const ORIGIN = 'test.acme-trading/audit';

// An independent RFC 9162 tree hash (recursive definition), to check the log's incremental roots.
function mth(leaves: readonly Buffer[]): Buffer {
  const h = (b: Buffer) => createHash('sha256').update(b).digest();
  if (leaves.length === 0) return h(Buffer.alloc(0));
  if (leaves.length === 1) return leaves[0] as Buffer;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return h(Buffer.concat([Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k))]));
}
const rootOfRecords = (records: readonly AuditRecord[]) =>
  mth(records.map((r) => Buffer.from(r.hash, 'hex'))).toString('hex');

const ev = (n: number): AuditEvent => ({
  event_type: 'order_submitted',
  order_id: `ORD-${n}`,
  trader_id: 'trader-1',
  actor: 'agent',
  input: { n },
  decision: 'accepted',
  reason: `event ${n}`,
});

let clock: ManualClock;
let archive: InMemoryAuditArchive;
let index: InMemoryAuditIndex;
let keys: ReturnType<typeof ephemeralCheckpointSigner>;
let errors: unknown[];
let failures: string[];

const checkpointerOf = (everyRecords: number, everyMs = 60_000) =>
  new Checkpointer(
    { archive, signer: keys.signer, clock, origin: ORIGIN, metrics: { auditWriteFailed: (s) => failures.push(s) } },
    { everyRecords, everyMs, onError: (e) => errors.push(e) },
  );

async function checkpoints() {
  const out = [];
  for (const k of await archive.list('checkpoints/')) out.push(parseCheckpoint((await archive.get(k)) as string));
  return out;
}

beforeEach(() => {
  clock = new ManualClock('2026-01-02T10:00:00.000000000Z', 1_000n);
  archive = new InMemoryAuditArchive();
  index = new InMemoryAuditIndex();
  keys = ephemeralCheckpointSigner();
  errors = [];
  failures = [];
});

describe('AuditLog keeps the Merkle tree with the head', () => {
  it('every committed head carries the frontier whose root is the RFC 9162 root of all records', async () => {
    const log = new AuditLog({ archive, index, clock }, { maxBatch: 3 });
    const records = await Promise.all(Array.from({ length: 11 }, (_, i) => log.append(ev(i))));
    const tree = await log.tree();
    expect(tree.size).toBe(11);
    expect(tree.root).toBe(rootOfRecords(records));
  });

  it('a second writer continues the same tree from the stored frontier', async () => {
    const a = new AuditLog({ archive, index, clock });
    const b = new AuditLog({ archive, index, clock });
    const records: AuditRecord[] = [];
    for (let i = 0; i < 9; i++) records.push(await (i % 2 ? a : b).append(ev(i)));
    expect((await a.tree()).root).toBe(rootOfRecords(records));
    expect((await b.tree()).root).toBe(rootOfRecords(records));
  });

  it('refuses to extend a head that has records but no frontier (a log from before the tree)', async () => {
    await index.advanceHead({ sequence: -1, hash: '0'.repeat(64) }, { sequence: 4, hash: 'a'.repeat(64) });
    const log = new AuditLog({ archive, index, clock }, { maxWriteAttempts: 1 });
    await expect(log.append(ev(1))).rejects.toThrow(IntegrityError);
  });
});

describe('AuditLog counts writes that failed for good (the alarm metric)', () => {
  it('an archive write that keeps failing is surfaced to the caller and counted as archive', async () => {
    const failing = {
      putIfAbsent: async () => {
        throw new Error('S3 unavailable');
      },
      get: async () => undefined,
      list: async () => [],
    };
    const log = new AuditLog(
      { archive: failing, index, clock, metrics: { auditWriteFailed: (s) => failures.push(s) } },
      { maxWriteAttempts: 2 },
    );
    await expect(log.append(ev(1))).rejects.toThrow(/audit write failed after 2 attempts/);
    expect(failures).toEqual(['archive']);
  });

  it('a failing head store (throttled, 5xx) is counted as append', async () => {
    const broken = new InMemoryAuditIndex();
    broken.advanceHead = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    const log = new AuditLog({ archive, index: broken, clock, metrics: { auditWriteFailed: (s) => failures.push(s) } });
    await expect(log.append(ev(1))).rejects.toThrow(/ProvisionedThroughput/);
    expect(failures).toEqual(['append']);
  });

  it('an index write that keeps failing is counted as index', async () => {
    const broken = new InMemoryAuditIndex();
    broken.putRecords = async () => {
      throw new Error('DynamoDB unavailable');
    };
    const log = new AuditLog(
      { archive, index: broken, clock, metrics: { auditWriteFailed: (s) => failures.push(s) } },
      { maxWriteAttempts: 2 },
    );
    await expect(log.append(ev(1))).rejects.toThrow(/audit write failed/);
    expect(failures).toEqual(['index']);
  });
});

describe('Checkpointer', () => {
  it('signs every N records: the checkpoints cover the archived tree and verify with the public key', async () => {
    const cp = checkpointerOf(4);
    const log = new AuditLog({ archive, index, clock, checkpointer: cp });
    const records: AuditRecord[] = [];
    for (let i = 0; i < 10; i++) records.push(await log.append(ev(i)));
    await cp.tick();
    const signed = await checkpoints();
    expect(signed.map((c) => c.tree_size)).toEqual([4, 8]);
    for (const c of signed) {
      expect(c.origin).toBe(ORIGIN);
      expect(c.root_hash).toBe(rootOfRecords(records.slice(0, c.tree_size)));
      expect(checkpointProblem(c, keys.publicKey)).toBeUndefined();
      expect(await archive.get(checkpointKey(c.tree_size))).toBe(serializeCheckpoint(c));
    }
    expect(errors).toEqual([]);
  });

  it('signs after T even with fewer than N new records, and not again while nothing is added', async () => {
    const cp = checkpointerOf(1000, 5_000);
    const log = new AuditLog({ archive, index, clock, checkpointer: cp });
    await log.append(ev(1));
    await log.append(ev(2));
    await cp.tick();
    expect(await checkpoints()).toEqual([]);
    clock.advanceNs(5_000_000_000n);
    await cp.tick();
    expect((await checkpoints()).map((c) => c.tree_size)).toEqual([2]);
    clock.advanceNs(10_000_000_000n);
    await cp.tick();
    expect((await checkpoints()).map((c) => c.tree_size)).toEqual([2]);
    await log.append(ev(3));
    await cp.tick();
    expect((await checkpoints()).map((c) => c.tree_size)).toEqual([2, 3]);
  });

  it('of concurrent writers, only the one whose batch crossed a multiple of N signs it', async () => {
    const a = checkpointerOf(10);
    const b = checkpointerOf(10);
    // Writer a committed 6..9 (no multiple of 10 crossed), writer b 9..12 (crossed 10).
    a.noteCommitted(9, 'a'.repeat(64), 6);
    a.noteArchived(9);
    b.noteCommitted(12, 'b'.repeat(64), 9);
    b.noteArchived(12);
    // a sees a later batch of its own that crosses nothing either.
    a.noteCommitted(14, 'c'.repeat(64), 12);
    a.noteArchived(14);
    await Promise.all([a.tick(), b.tick()]);
    expect((await checkpoints()).map((c) => [c.tree_size, c.root_hash])).toEqual([[12, 'b'.repeat(64)]]);
  });

  it('a crossing batch finished later (its first write failed) is still signed by the count rule', async () => {
    let failAt: string | undefined = 'records/dt=2026-01-02/00000000000000000009.jsonl';
    const flaky = {
      putIfAbsent: async (key: string, body: string) => {
        if (key === failAt) {
          failAt = undefined;
          throw new Error('SlowDown');
        }
        return archive.putIfAbsent(key, body);
      },
      get: (key: string) => archive.get(key),
      list: (prefix: string) => archive.list(prefix),
    };
    const cp = new Checkpointer(
      { archive: flaky, signer: keys.signer, clock, origin: ORIGIN },
      { everyRecords: 10, everyMs: null },
    );
    const log = new AuditLog({ archive: flaky, index, clock, checkpointer: cp }, { maxWriteAttempts: 1 });
    for (let i = 0; i < 19; i++) await log.append(ev(i)).catch(() => undefined); // record 9's first write fails
    await cp.tick();
    expect((await checkpoints()).map((c) => c.tree_size)).toEqual([10]);
  });

  it('without a time rule (everyMs null) only the count rule and explicit flushes sign', async () => {
    const cp = new Checkpointer(
      { archive, signer: keys.signer, clock, origin: ORIGIN },
      { everyRecords: 100, everyMs: null },
    );
    cp.noteCommitted(3, 'a'.repeat(64), 0);
    cp.noteArchived(3);
    clock.advanceNs(3_600_000_000_000n);
    await cp.tick();
    expect(await checkpoints()).toEqual([]);
    expect((await cp.flush())?.tree_size).toBe(3);
  });

  it('never signs records the archive does not hold yet', async () => {
    const cp = checkpointerOf(2);
    cp.noteCommitted(2, 'a'.repeat(64), 0);
    cp.noteCommitted(5, 'b'.repeat(64), 2);
    await cp.tick();
    expect(await checkpoints()).toEqual([]);
    cp.noteArchived(3);
    await cp.tick();
    expect((await checkpoints()).map((c) => [c.tree_size, c.root_hash])).toEqual([[2, 'a'.repeat(64)]]);
    cp.noteArchived(5);
    await cp.tick();
    expect((await checkpoints()).map((c) => c.tree_size)).toEqual([2, 5]);
  });

  it('a checkpoint of the same size with another root is a fork: refused, counted, reported', async () => {
    const other = await signCheckpoint(keys.signer, {
      origin: ORIGIN,
      tree_size: 2,
      root_hash: 'c'.repeat(64),
      timestamp: '2026-01-02T10:00:00.000000000Z',
    });
    // The latest checkpoint is read first; put the fork after it so that size 2 is still due.
    await archive.putIfAbsent(checkpointKey(2), serializeCheckpoint(other));
    const cp = checkpointerOf(1);
    cp.noteCommitted(3, 'a'.repeat(64), 0);
    cp.noteArchived(3);
    await cp.tick();
    expect((await latestCheckpoint(archive))?.tree_size).toBe(3);
    const racing = checkpointerOf(1);
    await archive.putIfAbsent(
      checkpointKey(4),
      serializeCheckpoint(await signCheckpoint(keys.signer, { ...other, tree_size: 4, root_hash: 'd'.repeat(64) })),
    );
    // This writer has not seen size 4 signed (it read the latest before), and holds another root.
    (racing as unknown as { last: { size: number; atNs: bigint } }).last = { size: 3, atNs: clock.nowNs() };
    racing.noteCommitted(4, 'e'.repeat(64), 3);
    racing.noteArchived(4);
    await racing.tick();
    expect(errors.some((e) => e instanceof IntegrityError && /forked/.test(e.message))).toBe(true);
    expect(failures).toContain('checkpoint');
  });

  it('a signer failure is counted and retried by the next trigger; nothing is archived meanwhile', async () => {
    let fail = true;
    const flaky: CheckpointSigner = {
      publicKey: keys.signer.publicKey,
      sign: async (m) => {
        if (fail) throw new Error('KMS unavailable');
        return keys.signer.sign(m);
      },
    };
    const cp = new Checkpointer(
      { archive, signer: flaky, clock, origin: ORIGIN, metrics: { auditWriteFailed: (s) => failures.push(s) } },
      { everyRecords: 1, onError: (e) => errors.push(e) },
    );
    cp.noteCommitted(1, 'a'.repeat(64), 0);
    cp.noteArchived(1);
    await cp.tick();
    expect(failures).toEqual(['checkpoint']);
    expect(await checkpoints()).toEqual([]);
    fail = false;
    await cp.tick();
    expect((await checkpoints()).map((c) => c.tree_size)).toEqual([1]);
  });

  it('the signed bytes are the note body: origin, size, base64 root, time', async () => {
    const cp = await signCheckpoint(keys.signer, {
      origin: ORIGIN,
      tree_size: 7,
      root_hash: 'ab'.repeat(32),
      timestamp: '2026-01-02T10:00:00.123456789Z',
    });
    expect(checkpointBody(cp)).toBe(
      `${ORIGIN}\n7\n${Buffer.from('ab'.repeat(32), 'hex').toString('base64')}\n2026-01-02T10:00:00.123456789Z\n`,
    );
    expect(cp.key_id).toBe(keyIdOf(keys.publicKey.export({ format: 'der', type: 'spki' })));
    expect(checkpointProblem({ ...cp, tree_size: 8 }, keys.publicKey)).toMatch(/signature/);
    expect(checkpointProblem(cp, ephemeralCheckpointSigner().publicKey)).toMatch(/not the given key/);
  });
});

describe('latestCheckpoint', () => {
  it('finds the latest at or below the log size by listing near it, widening only as needed', async () => {
    const listed: string[] = [];
    const spy = {
      list: async (prefix: string) => {
        listed.push(prefix);
        return archive.list(prefix);
      },
      get: (key: string) => archive.get(key),
    };
    for (const size of [5, 1_200, 1_999, 250_000]) {
      await archive.putIfAbsent(
        checkpointKey(size),
        serializeCheckpoint(
          await signCheckpoint(keys.signer, {
            origin: ORIGIN,
            tree_size: size,
            root_hash: 'a'.repeat(64),
            timestamp: '2026-01-02T10:00:00.000000000Z',
          }),
        ),
      );
    }
    expect((await latestCheckpoint(spy, 250_010))?.tree_size).toBe(250_000);
    expect(listed).toEqual([`checkpoints/${'0'.repeat(14)}250`]);
    listed.length = 0;
    expect((await latestCheckpoint(spy, 249_999))?.tree_size).toBe(1_999);
    expect(listed.length).toBeGreaterThan(1);
    expect((await latestCheckpoint(spy, 4))?.tree_size).toBeUndefined();
    expect((await latestCheckpoint(spy))?.tree_size).toBe(250_000);
  });
});

describe('CheckpointedTrail', () => {
  it('signs on demand whatever the latest checkpoint does not cover, and returns it', async () => {
    const cp = checkpointerOf(1000);
    const log = new AuditLog({ archive, index, clock, checkpointer: cp });
    const trail = new CheckpointedTrail(archive, cp, () => log.tree());
    expect(await trail.checkpoint()).toBeUndefined();
    const records = [await log.append(ev(1)), await log.append(ev(2)), await log.append(ev(3))];
    const latest = await trail.checkpoint();
    expect(latest?.tree_size).toBe(3);
    expect(latest?.root_hash).toBe(rootOfRecords(records));
    expect((await trail.checkpoint())?.tree_size).toBe(3);
    expect((await checkpoints()).length).toBe(1);
  });
});
