import type { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  archiveKeyFor,
  eventIdFor,
  GENESIS_HASH,
  hashRecord,
  serializeBatch,
} from '../../functions/core/audit-chain.js';
import {
  type ArchiveReader,
  LogVerifier,
  type LogVerifierOptions,
  parseRecordLine,
  recordLeafData,
  sortRecordKeys,
  VerifierUsageError,
  type VerifyReport,
  verifyArchive,
} from '../../functions/core/audit-verify.js';
import { canonicalJson } from '../../functions/core/canonical-json.js';
import {
  checkpointKey,
  type SignedCheckpoint,
  serializeCheckpoint,
  signCheckpoint,
} from '../../functions/core/checkpoint.js';
import { ValidationError } from '../../functions/core/errors.js';
import { EMPTY_ROOT, leafHash, MerkleFrontier, rootOf } from '../../functions/core/merkle.js';
import type { AuditRecord } from '../../functions/core/model.js';
import { addSeconds } from '../../functions/core/time.js';
import type { CheckpointSigner } from '../../functions/ports.js';
import { ephemeralCheckpointSigner } from '../../local/local-checkpoint-signer.js';

const ORIGIN = 'test.acme-trading/audit';

interface Keys {
  signer: CheckpointSigner;
  publicKey: KeyObject;
}

const A: Keys = ephemeralCheckpointSigner();
const B: Keys = ephemeralCheckpointSigner();

type Content = Omit<AuditRecord, 'sequence' | 'event_id' | 'prev_hash' | 'hash'>;

// A microsecond apart from just before midnight UTC: the log spans two days (records 10+ on the 3rd).
const T0 = '2026-01-02T23:59:59.999990000Z';
function content(i: number): Content {
  const ts = `${T0.slice(0, 20)}${String(999_990_000 + i * 1000).padStart(9, '0')}Z`;
  const timestamp = i < 10 ? ts : `2026-01-03T00:00:00.${String((i - 10) * 1000).padStart(9, '0')}Z`;
  const c: Content = {
    event_type: i % 3 === 0 ? 'order_submitted' : 'risk_check',
    actor: `agent-${i % 4}`,
    input: { n: i, order: { symbol: 'AAPL', quantity: 100 + i, limit_price: '187.25' } },
    decision: 'accepted',
    reason: `event ${i}`,
    timestamp,
  };
  if (i % 5 !== 4) c.order_id = `ORD-${i}`;
  if (i % 7 !== 6) c.trader_id = `trader-${i % 3}`;
  // Content that a text-only reader could trip on: members named like the top-level ones inside
  // input, escaped quotes and backslashes, and non-ASCII text (character and byte offsets differ).
  if (i === 2) {
    c.input = {
      hash: 'a'.repeat(64),
      prev_hash: 'b'.repeat(64),
      sequence: 999,
      reason: ',"sequence":7',
      nested: { a: 1, input: 2 },
    };
  }
  if (i === 5) c.reason = 'he said "no", then \\ and ,"prev_hash":"x" \\';
  if (i === 6) c.reason = 'prix 12 € — 注文 😀';
  if (i === 13) c.trader_id = 'trader "quoted" \\';
  if (i === 21) c.reason = 'a tail record with ünïcödé';
  return c;
}

function chain(contents: readonly Content[]): AuditRecord[] {
  let prev = GENESIS_HASH;
  return contents.map((c, sequence) => {
    const partial = { ...c, sequence, event_id: eventIdFor(sequence), prev_hash: prev };
    const record = { ...partial, hash: hashRecord(partial) } as AuditRecord;
    prev = record.hash;
    return record;
  });
}

/** Records cut into objects of 3, 1, 4, 2, 5, 3, 1, … records, each under archiveKeyFor(its first). */
function layout(records: readonly AuditRecord[]): Map<string, string> {
  const sizes = [3, 1, 4, 2, 5];
  const objects = new Map<string, string>();
  for (let i = 0, k = 0; i < records.length; k++) {
    const batch = records.slice(i, i + (sizes[k % sizes.length] as number));
    objects.set(archiveKeyFor(batch[0] as AuditRecord), serializeBatch(batch));
    i += batch.length;
  }
  return objects;
}

/** The same layout for record lines as given (which need not be canonical records). */
function archiveOfLines(lines: readonly string[], cps: readonly SignedCheckpoint[]): MapArchive {
  const sizes = [3, 1, 4, 2, 5];
  const objects = new Map<string, string>();
  for (let i = 0, k = 0; i < lines.length; k++) {
    const batch = lines.slice(i, i + (sizes[k % sizes.length] as number));
    const first = JSON.parse(batch[0] as string) as AuditRecord;
    objects.set(archiveKeyFor(first), batch.map((l) => `${l}\n`).join(''));
    i += batch.length;
  }
  for (const cp of cps) objects.set(checkpointKey(cp.tree_size), serializeCheckpoint(cp));
  return new MapArchive(objects);
}

/** Signed checkpoints every `every` records (sizes every, 2·every, …), a second apart. */
async function checkpoints(records: readonly AuditRecord[], signer: CheckpointSigner, every = 4) {
  const f = MerkleFrontier.empty();
  const out: SignedCheckpoint[] = [];
  for (const r of records) {
    f.pushHex(r.hash);
    if (f.size % every === 0) {
      const timestamp = addSeconds('2026-01-03T01:00:00.000000000Z', f.size);
      out.push(
        await signCheckpoint(signer, {
          origin: ORIGIN,
          tree_size: f.size,
          root_hash: f.root().toString('hex'),
          timestamp,
        }),
      );
    }
  }
  return out;
}

class MapArchive implements ArchiveReader {
  constructor(readonly objects: Map<string, string>) {}
  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async get(key: string): Promise<string | undefined> {
    return this.objects.get(key);
  }
}

const N = 23; // checkpoints at 4, 8, …, 20: three records after the last, signed by nothing yet
const CONTENTS = Array.from({ length: N }, (_, i) => content(i));
const RECORDS = chain(CONTENTS);
const CHECKPOINTS = await checkpoints(RECORDS, A.signer);

function archiveOf(
  records: readonly AuditRecord[] = RECORDS,
  cps: readonly SignedCheckpoint[] = CHECKPOINTS,
): MapArchive {
  const objects = layout(records);
  for (const cp of cps) objects.set(checkpointKey(cp.tree_size), serializeCheckpoint(cp));
  return new MapArchive(objects);
}

/** The key of the object holding record `seq`, and the record's line number in it. */
function whereIs(archive: MapArchive, seq: number): { key: string; line: number } {
  const keys = sortRecordKeys([...archive.objects.keys()].filter((k) => k.startsWith('records/')));
  let found: { key: string; line: number } | undefined;
  for (const key of keys) {
    const lines = (archive.objects.get(key) ?? '').split('\n').filter((l) => l);
    lines.forEach((l, i) => {
      if ((JSON.parse(l) as AuditRecord).sequence === seq) found = { key, line: i + 1 };
    });
  }
  if (!found) throw new Error(`record ${seq} is not in the archive`);
  return found;
}

/** Rewrites line `line` of object `key`. */
function editLine(archive: MapArchive, key: string, line: number, edit: (l: string) => string | undefined): void {
  const lines = (archive.objects.get(key) ?? '').split('\n').slice(0, -1);
  const next = edit(lines[line - 1] as string);
  if (next === undefined) lines.splice(line - 1, 1);
  else lines[line - 1] = next;
  archive.objects.set(key, lines.map((l) => `${l}\n`).join(''));
}

function editRecord(
  archive: MapArchive,
  seq: number,
  edit: (l: string) => string | undefined,
): { key: string; line: number } {
  const at = whereIs(archive, seq);
  editLine(archive, at.key, at.line, edit);
  return at;
}

/** A record changed and its own hash recomputed: it is self-consistent, the change is elsewhere. */
function rehashed(r: AuditRecord, change: Partial<AuditRecord>): string {
  const { hash: _, ...rest } = { ...r, ...change };
  return canonicalJson({ ...rest, hash: hashRecord(rest) });
}

function problemOf(report: VerifyReport) {
  if (report.ok) throw new Error(`expected a problem, got ${JSON.stringify(report)}`);
  return report.problem;
}

const MODES: Array<[string, Partial<LogVerifierOptions>]> = [
  ['on the calling thread', { parallel: false }],
  // Small batches, so that even this small log goes through the worker thread.
  ['with the hash stage in a worker', { parallel: true, batchBytes: 4096 }],
];

describe.each(MODES)('verifyArchive %s', (_mode, modeOpts) => {
  const verify = (archive: ArchiveReader, opts: Partial<LogVerifierOptions> = {}) =>
    verifyArchive(archive, { publicKey: A.publicKey, origin: ORIGIN, ...modeOpts, ...opts });

  it('a clean log verifies, with its counts, its root and the unsigned tail named', async () => {
    const archive = archiveOf();
    const report = await verify(archive);
    if (!report.ok) throw new Error(JSON.stringify(report.problem));
    expect(report.records).toBe(N);
    expect(report.objects).toBe([...archive.objects.keys()].filter((k) => k.startsWith('records/')).length);
    expect(new Set([...archive.objects.keys()].map((k) => k.slice(0, 21))).size).toBeGreaterThanOrEqual(3); // two days + checkpoints
    expect(report.checkpoints).toBe(5);
    expect(report.latest_checkpoint).toEqual(CHECKPOINTS[4]);
    expect(report.root_hash).toBe(rootOf(RECORDS.map((r) => Buffer.from(r.hash, 'hex'))).toString('hex'));
    expect(report.unsigned_tail).toBe(3);
    expect(report.unsigned_tail_note).toMatch(/only by the hash chain/);
  });

  it('a log whose last record is signed has no unsigned tail; an empty archive verifies as empty', async () => {
    const records = RECORDS.slice(0, 20);
    const report = await verify(archiveOf(records));
    expect(report).toMatchObject({ ok: true, records: 20, unsigned_tail: 0 });
    expect(report.ok && report.unsigned_tail_note).toBeFalsy();
    const empty = await verify(new MapArchive(new Map()));
    expect(empty).toMatchObject({ ok: true, records: 0, checkpoints: 0, latest_checkpoint: null });
    expect(empty.ok && empty.root_hash).toBe(EMPTY_ROOT.toString('hex'));
  });

  it('one flipped byte in a record is named: record_hash at its sequence, object and line', async () => {
    for (const seq of [0, 7, 6, 21]) {
      const archive = archiveOf();
      // The reason's first letter: the line stays well-formed JSON; only its hash gives it away.
      const at = editRecord(archive, seq, (l) => l.replace('"reason":"', '"reason":"X'));
      expect(problemOf(await verify(archive))).toMatchObject({
        kind: 'record_hash',
        sequence: seq,
        event_id: eventIdFor(seq),
        object_key: at.key,
        line: at.line,
      });
    }
  });

  it.each<[string, (l: string, member: string) => string]>([
    // Each leaves the line minus its member exactly the committed leaf bytes: only its place tells.
    ['into input', (l, m) => l.replace(m, '').replace('"input":{', `"input":{${m.slice(1)},`)],
    ['into the middle of a string in input', (l, m) => l.replace(m, '').replace('"symbol":"AA', `"symbol":"AA${m}`)],
    ['into order_id', (l, m) => l.replace(m, '').replace('"order_id":"', `"order_id":"${m}`)],
  ])('a hash member moved %s is refused as record_format, though the line still hashes right', async (_w, move) => {
    for (const seq of [5, 21]) {
      const archive = archiveOf();
      const at = editRecord(archive, seq, (l) => {
        const member = (/,"hash":"[0-9a-f]{64}"/.exec(l) as RegExpExecArray)[0];
        const moved = move(l, member);
        expect(moved).not.toBe(l);
        return moved;
      });
      expect(problemOf(await verify(archive))).toMatchObject({
        kind: 'record_format',
        sequence: seq,
        object_key: at.key,
        line: at.line,
      });
    }
  });

  it('a hash member moved before a nested "input" key is refused too', async () => {
    const archive = archiveOf();
    const at = editRecord(archive, 2, (l) => {
      const member = (/,"hash":"[0-9a-f]{64}"/.exec(l) as RegExpExecArray)[0];
      const moved = l.replace(member, '').replace('"a":1,"input":2', `"a":1${member},"input":2`);
      expect(moved).toContain(`${member},"input":2`);
      return moved;
    });
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'record_format', sequence: 2, line: at.line });
  });

  it('a changed hash member is named as record_hash too', async () => {
    const archive = archiveOf();
    editRecord(archive, 9, (l) => l.replace(/"hash":"(.)/, (_m, c: string) => `"hash":"${c === 'a' ? 'b' : 'a'}`));
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'record_hash', sequence: 9 });
  });

  it('a deleted record is named: sequence, at the record that is missing', async () => {
    const archive = archiveOf();
    editRecord(archive, 5, () => undefined);
    const p = problemOf(await verify(archive));
    expect(p).toMatchObject({ kind: 'sequence', sequence: 5, event_id: eventIdFor(5) });
    expect(p.message).toMatch(/record 5 is missing/);
  });

  it('two swapped records are named: sequence, at the first', async () => {
    const archive = archiveOf();
    const at = whereIs(archive, 11);
    expect(whereIs(archive, 12).key).toBe(at.key);
    const lines = (archive.objects.get(at.key) ?? '').split('\n');
    [lines[at.line - 1], lines[at.line]] = [lines[at.line] as string, lines[at.line - 1] as string];
    archive.objects.set(at.key, lines.join('\n'));
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'sequence', sequence: 11, object_key: at.key });
  });

  it('a forged record inserted and the log re-chained after it: the links hold, the signed root does not', async () => {
    const forged: Content = { ...(CONTENTS[6] as Content), reason: 'a forged approval', decision: 'approved' };
    const records = chain([...CONTENTS.slice(0, 6), forged, ...CONTENTS.slice(6)]);
    const p = problemOf(await verify(archiveOf(records)));
    expect(p).toMatchObject({ kind: 'root_mismatch', checkpoint_key: checkpointKey(8), tree_size: 8 });
  });

  it('a log cut below its latest checkpoint is named: truncated', async () => {
    // Records 0..17 stay: the checkpoint of size 20 names records the archive no longer holds.
    const archive = archiveOf(RECORDS.slice(0, 18));
    expect(problemOf(await verify(archive))).toMatchObject({
      kind: 'truncated',
      sequence: 18,
      checkpoint_key: checkpointKey(20),
      tree_size: 20,
    });
  });

  it('a whole object missing from the middle is named: sequence, at the next object', async () => {
    const archive = archiveOf();
    const gone = whereIs(archive, 8);
    expect(gone.line).toBe(1);
    const span = (archive.objects.get(gone.key) ?? '').split('\n').length - 1;
    archive.objects.delete(gone.key);
    const p = problemOf(await verify(archive));
    expect(p).toMatchObject({ kind: 'sequence', sequence: 8, line: 1, object_key: whereIs(archive, 8 + span).key });
    expect(p.message).toMatch(/are missing|is missing/);
  });

  it('an object under another name is named: object_key', async () => {
    const archive = archiveOf();
    const at = whereIs(archive, 10); // the first record of the second day
    const body = archive.objects.get(at.key) as string;
    archive.objects.delete(at.key);
    const renamed = at.key.replace('dt=2026-01-03', 'dt=2026-01-02');
    archive.objects.set(renamed, body);
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'object_key', object_key: renamed, sequence: 10 });
  });

  it('a broken link or a wrong event id in a self-consistent record is named', async () => {
    let archive = archiveOf();
    editRecord(archive, 14, () => rehashed(RECORDS[14] as AuditRecord, { prev_hash: 'f'.repeat(64) }));
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'prev_hash', sequence: 14 });
    archive = archiveOf();
    editRecord(archive, 0, () => rehashed(RECORDS[0] as AuditRecord, { prev_hash: 'f'.repeat(64) }));
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'prev_hash', sequence: 0 });
    archive = archiveOf();
    editRecord(archive, 15, () => rehashed(RECORDS[15] as AuditRecord, { event_id: eventIdFor(16) }));
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'event_id', sequence: 15 });
  });

  it("a checkpoint's signature replaced by another valid one is named: checkpoint_signature", async () => {
    const archive = archiveOf();
    const other = CHECKPOINTS[0] as SignedCheckpoint;
    const cp = { ...(CHECKPOINTS[2] as SignedCheckpoint), signature: other.signature };
    archive.objects.set(checkpointKey(cp.tree_size), serializeCheckpoint(cp));
    expect(problemOf(await verify(archive))).toMatchObject({
      kind: 'checkpoint_signature',
      checkpoint_key: checkpointKey(12),
    });
  });

  it('a checkpoint re-signed with the right key over another root is named: root_mismatch', async () => {
    const archive = archiveOf();
    const cp = CHECKPOINTS[1] as SignedCheckpoint;
    const forged = await signCheckpoint(A.signer, { ...cp, root_hash: 'ab'.repeat(32) });
    archive.objects.set(checkpointKey(cp.tree_size), serializeCheckpoint(forged));
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'root_mismatch', checkpoint_key: checkpointKey(8) });
  });

  it('a forked history signed by another key is named: checkpoint_signer', async () => {
    // Its own chain, its own tree, every checkpoint valid under key B.
    const contents = CONTENTS.map((c, i) => (i === 3 ? { ...c, decision: 'rejected' } : c));
    const records = chain(contents);
    const archive = archiveOf(records, await checkpoints(records, B.signer));
    expect((await verify(archive, { publicKey: B.publicKey })).ok).toBe(true);
    expect(problemOf(await verify(archive))).toMatchObject({
      kind: 'checkpoint_signer',
      checkpoint_key: checkpointKey(4),
    });
  });

  it('the same key signing another root for a size the archive has is named: fork', async () => {
    const cp = CHECKPOINTS[1] as SignedCheckpoint;
    const other = await signCheckpoint(A.signer, { ...cp, root_hash: 'cd'.repeat(32) });
    const p = problemOf(await verify(archiveOf(), { knownCheckpoints: [other] }));
    expect(p).toMatchObject({ kind: 'fork', tree_size: 8, checkpoint_key: checkpointKey(8) });
  });

  it('a history rewritten and re-signed by the same key is named against the checkpoints kept: fork', async () => {
    const records = chain(CONTENTS.map((c, i) => (i === 1 ? { ...c, decision: 'rejected' } : c)));
    const rewritten = archiveOf(records, await checkpoints(records, A.signer));
    expect((await verify(rewritten)).ok).toBe(true); // alone it is a consistent signed log
    const kept = [CHECKPOINTS[0] as SignedCheckpoint];
    // The kept checkpoint of size 4 and the archive's of size 4 are both signed by the key.
    expect(problemOf(await verify(rewritten, { knownCheckpoints: kept }))).toMatchObject({
      kind: 'fork',
      tree_size: 4,
    });
    // Without an archived checkpoint of that size, the records themselves disagree with it.
    const unsignedRewrite = archiveOf(records, []);
    const p = problemOf(await verify(unsignedRewrite, { knownCheckpoints: kept }));
    expect(p).toMatchObject({ kind: 'fork', tree_size: 4 });
    expect(p.checkpoint_key).toBeUndefined();
  });

  it('a kept checkpoint beyond the archive is named: truncated', async () => {
    const p = problemOf(
      await verify(archiveOf(RECORDS.slice(0, 12), CHECKPOINTS.slice(0, 3)), { knownCheckpoints: CHECKPOINTS }),
    );
    expect(p).toMatchObject({ kind: 'truncated', tree_size: 16, sequence: 12 });
  });

  it('verifying with another public key is named: checkpoint_signer', async () => {
    const p = problemOf(await verify(archiveOf(), { publicKey: B.publicKey }));
    expect(p).toMatchObject({ kind: 'checkpoint_signer', checkpoint_key: checkpointKey(4) });
  });

  it('checkpoint form, key, origin and order are checked', async () => {
    let archive = archiveOf();
    archive.objects.set(checkpointKey(8), '{"origin":');
    expect(problemOf(await verify(archive))).toMatchObject({
      kind: 'checkpoint_format',
      checkpoint_key: checkpointKey(8),
    });

    archive = archiveOf();
    const body = archive.objects.get(checkpointKey(8)) as string;
    archive.objects.delete(checkpointKey(8));
    archive.objects.set(checkpointKey(9), body);
    expect(problemOf(await verify(archive))).toMatchObject({
      kind: 'checkpoint_key',
      checkpoint_key: checkpointKey(9),
    });

    expect(problemOf(await verify(archiveOf(), { origin: 'another/log' }))).toMatchObject({
      kind: 'checkpoint_origin',
    });
    const mixed = archiveOf();
    const cp = await signCheckpoint(A.signer, { ...(CHECKPOINTS[3] as SignedCheckpoint), origin: 'another/log' });
    mixed.objects.set(checkpointKey(16), serializeCheckpoint(cp));
    expect(problemOf(await verify(mixed, { origin: undefined }))).toMatchObject({
      kind: 'checkpoint_origin',
      checkpoint_key: checkpointKey(16),
    });

    archive = archiveOf();
    const early = await signCheckpoint(A.signer, {
      ...(CHECKPOINTS[2] as SignedCheckpoint),
      timestamp: '2026-01-03T00:00:00.000000000Z',
    });
    archive.objects.set(checkpointKey(12), serializeCheckpoint(early));
    // A larger tree signed earlier than a smaller one is what two concurrent signers produce: each
    // checkpoint is still true, and the log verifies.
    expect(await verify(archive)).toMatchObject({ ok: true, records: N });

    // But one signed, by its own time, more than a second before its last record was written is
    // backdated: named at that record.
    archive = archiveOf();
    const backdated = await signCheckpoint(A.signer, {
      ...(CHECKPOINTS[2] as SignedCheckpoint),
      timestamp: '2026-01-02T00:00:00.000000000Z',
    });
    archive.objects.set(checkpointKey(12), serializeCheckpoint(backdated));
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'checkpoint_time', sequence: 11 });
  });

  it('a checkpoint of the empty tree is compared too', async () => {
    const zero = await signCheckpoint(A.signer, {
      origin: ORIGIN,
      tree_size: 0,
      root_hash: EMPTY_ROOT.toString('hex'),
      timestamp: '2026-01-02T00:00:00.000000000Z',
    });
    expect((await verify(archiveOf(RECORDS, [zero, ...CHECKPOINTS]))).ok).toBe(true);
    const bad = await signCheckpoint(A.signer, { ...zero, root_hash: '00'.repeat(32) });
    expect(problemOf(await verify(archiveOf(RECORDS, [bad, ...CHECKPOINTS])))).toMatchObject({
      kind: 'root_mismatch',
      tree_size: 0,
    });
  });

  it('a reformatted line fails: as tampered under a checkpoint, as not canonical after the last', async () => {
    // The same JSON value written otherwise: an escaped letter keeps every member where it was.
    const escaped = (l: string) =>
      l.replace(/"reason":"(.)/, (_m, c: string) => `"reason":"\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    let archive = archiveOf();
    editRecord(archive, 3, escaped);
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'record_hash', sequence: 3 });
    archive = archiveOf();
    editRecord(archive, 21, escaped);
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'record_format', sequence: 21 });
    // Whitespace moves the members' text: the line is not even found to be a record.
    const spaced = (l: string) => JSON.stringify(JSON.parse(l), null, 1).replace(/\n/g, '');
    archive = archiveOf();
    editRecord(archive, 3, spaced);
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'record_format', sequence: 3 });
  });

  it('a malformed line with a matching hash: the root catches it under a checkpoint, the parser after the last', async () => {
    // The bytes are not a canonical record (a key repeated in input, where the text checks do not
    // look), but the hash member is the leaf hash of exactly those bytes: the per-line hash alone
    // would accept it.
    const forge = (l: string) => {
      const { leaf } = recordLeafData(l);
      const bytes = leaf.toString('utf8').replace('"input":{"n":', '"input":{"n":-1,"n":'); // a key repeated inside input
      const h = leafHash(bytes).toString('hex');
      return bytes.replace(',"input":', `,"hash":"${h}","input":`);
    };
    let archive = archiveOf();
    editRecord(archive, 21, (l) => {
      const f = forge(l);
      expect(() => parseRecordLine(f)).toThrow(ValidationError);
      return f;
    });
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'record_format', sequence: 21 });
    // Under a checkpoint, with every later record re-linked to the forged hash and re-hashed: the
    // chain holds; only the signed root is left to catch it.
    const lines = RECORDS.map((r) => canonicalJson(r));
    lines[9] = forge(lines[9] as string);
    for (let j = 10; j < lines.length; j++) {
      const prev = recordLeafData(lines[j - 1] as string).hash;
      lines[j] = rehashed(JSON.parse(lines[j] as string) as AuditRecord, { prev_hash: prev });
    }
    archive = archiveOfLines(lines, CHECKPOINTS);
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'root_mismatch', tree_size: 12 });
  });

  it('the first problem in the log is the one named, whichever stage finds it', async () => {
    // A hash problem at 3 before a sequence problem at 17.
    let archive = archiveOf();
    editRecord(archive, 3, (l) => l.replace('"reason":"', '"reason":"X'));
    editRecord(archive, 17, () => undefined);
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'record_hash', sequence: 3 });
    // A sequence problem at 2 before a hash problem at 16.
    archive = archiveOf();
    editRecord(archive, 16, (l) => l.replace('"reason":"', '"reason":"X'));
    editRecord(archive, 2, () => undefined);
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'sequence', sequence: 2 });
    // A root that fails at 8 before a broken link at 14.
    const records = chain([...CONTENTS.slice(0, 6), CONTENTS[6] as Content, ...CONTENTS.slice(6, N - 1)]);
    archive = archiveOf(records);
    editRecord(archive, 14, () => rehashed(records[14] as AuditRecord, { prev_hash: 'f'.repeat(64) }));
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'root_mismatch', tree_size: 8 });
    // Within one record its hash comes before its place in the sequence.
    archive = archiveOf();
    editRecord(archive, 12, (l) => l.replace('"sequence":12', '"sequence":13'));
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'record_hash', sequence: 12 });
  });

  it('an object that is not lines is named: object_format', async () => {
    const archive = archiveOf();
    const at = whereIs(archive, 4);
    archive.objects.set(at.key, (archive.objects.get(at.key) as string).slice(0, -1));
    expect(problemOf(await verify(archive))).toMatchObject({ kind: 'object_format', object_key: at.key, sequence: 4 });
    const blank = archiveOf();
    const b = whereIs(blank, 4);
    blank.objects.set(b.key, `\n${blank.objects.get(b.key)}`);
    expect(problemOf(await verify(blank))).toMatchObject({ kind: 'record_format', object_key: b.key, line: 1 });
  });
});

describe('LogVerifier', () => {
  const opts = { publicKey: A.publicKey, origin: ORIGIN, parallel: false };

  it('takes checkpoints first, and bytes as well as text', async () => {
    const v = new LogVerifier(opts);
    for (const cp of CHECKPOINTS) v.addCheckpoint(checkpointKey(cp.tree_size), serializeCheckpoint(cp));
    const objects = layout(RECORDS);
    for (const key of sortRecordKeys([...objects.keys()])) v.addObject(key, Buffer.from(objects.get(key) as string));
    expect(() => v.addCheckpoint(checkpointKey(24), '{}')).toThrow(VerifierUsageError);
    expect(await v.finish()).toMatchObject({ ok: true, records: N, unsigned_tail: 3 });
    await expect(v.finish()).rejects.toThrow(VerifierUsageError);
  });

  it('refuses bytes that are not UTF-8, and text with a lone surrogate', async () => {
    const first = archiveKeyFor(RECORDS[0] as AuditRecord);
    const v = new LogVerifier(opts);
    v.addObject(first, Buffer.from([0x7b, 0xff, 0x7d, 0x0a]));
    expect(problemOf(await v.finish())).toMatchObject({ kind: 'object_format', sequence: 0 });
    const w = new LogVerifier(opts);
    w.addObject(first, '{"a":"\ud800"}\n');
    expect(problemOf(await w.finish())).toMatchObject({ kind: 'object_format' });
  });

  it('an unreadable object or checkpoint is named', async () => {
    const v = new LogVerifier(opts);
    v.addObject('records/dt=2026-01-02/00000000000000000000.jsonl', undefined);
    expect(problemOf(await v.finish())).toMatchObject({ kind: 'object_format', sequence: 0 });
    const w = new LogVerifier(opts);
    w.addCheckpoint(checkpointKey(4), undefined);
    expect(problemOf(await w.finish())).toMatchObject({ kind: 'checkpoint_format', checkpoint_key: checkpointKey(4) });
  });

  it('verifies a log of objects larger than a batch through the worker', async () => {
    const contents = Array.from({ length: 300 }, (_, i) => ({ ...content(i % 23), reason: `r${i}`.repeat(20) }));
    const records = chain(contents);
    const objects = new Map<string, string>();
    for (let i = 0; i < records.length; i += 100) {
      const batch = records.slice(i, i + 100);
      objects.set(archiveKeyFor(batch[0] as AuditRecord), serializeBatch(batch));
    }
    for (const cp of await checkpoints(records, A.signer, 50))
      objects.set(checkpointKey(cp.tree_size), serializeCheckpoint(cp));
    const report = await verifyArchive(new MapArchive(objects), { ...opts, parallel: true, batchBytes: 4096 });
    expect(report).toMatchObject({ ok: true, records: 300, checkpoints: 6, unsigned_tail: 0 });
    // While the worker starts (or whenever it is behind) this thread hashes batches itself: a
    // problem is named the same wherever its leaf was hashed, and the first one wins.
    const flip = (key: string, seq: number) => {
      const body = objects.get(key) as string;
      objects.set(key, body.replace(`"reason":"r${seq}`, `"reason":"X${seq}`));
    };
    const keyOf = (seq: number) => archiveKeyFor(records[seq - (seq % 100)] as AuditRecord);
    flip(keyOf(250), 250);
    const late = await verifyArchive(new MapArchive(objects), { ...opts, parallel: true, batchBytes: 4096 });
    expect(problemOf(late)).toMatchObject({ kind: 'record_hash', sequence: 250, object_key: keyOf(250), line: 51 });
    flip(keyOf(40), 40);
    const early = await verifyArchive(new MapArchive(objects), { ...opts, parallel: true, batchBytes: 4096 });
    expect(problemOf(early)).toMatchObject({ kind: 'record_hash', sequence: 40, line: 41 });
  });
});

describe('recordLeafData and parseRecordLine', () => {
  const line = canonicalJson(RECORDS[6] as AuditRecord);

  it('cut the top-level hash member out of the line: its leaf hash is the record hash', () => {
    const { leaf, hash } = recordLeafData(line);
    expect(hash).toBe((RECORDS[6] as AuditRecord).hash);
    expect(leafHash(leaf).toString('hex')).toBe(hash);
    const { hash: _, ...rest } = RECORDS[6] as AuditRecord;
    expect(leaf.toString('utf8')).toBe(canonicalJson(rest));
  });

  it('name what is wrong', () => {
    expect(() => recordLeafData('{"actor":"a"}')).toThrow(ValidationError);
    expect(parseRecordLine(line)).toEqual(RECORDS[6]);
    const fieldOf = (l: string) => {
      try {
        parseRecordLine(l);
      } catch (err) {
        return (err as ValidationError).errors.map((e) => `${e.field}:${e.rule}`);
      }
      return [];
    };
    expect(fieldOf('nope')).toEqual(['record:json']);
    expect(fieldOf('[1]')).toEqual(['record:object']);
    expect(fieldOf(line.replace('"sequence":6', '"sequence":-6'))).toEqual(['sequence:integer']);
    expect(fieldOf(line.replace('{', '{"zzz":1,'))).toContain('zzz:unknown_field');
    expect(fieldOf(` ${line}`)).toEqual(['record:canonical']);
  });
});
