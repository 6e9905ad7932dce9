import { describe, expect, it } from 'vitest';
import {
  archiveKeyFor,
  eventIdFor,
  GENESIS_HASH,
  hashRecord,
  serializeBatch,
} from '../../functions/core/audit-chain.js';
import {
  buildConsistencyBundle,
  buildInclusionBundle,
  type ConsistencyProofBundle,
  consistencyBundleFromArchive,
  type InclusionProofBundle,
  inclusionBundleFromArchive,
  loadLeafHashes,
  type ProofBundle,
  parseProofBundle,
  serializeProofBundle,
  verifyProofBundle,
} from '../../functions/core/audit-proofs.js';
import type { ArchiveReader } from '../../functions/core/audit-verify.js';
import { canonicalJson } from '../../functions/core/canonical-json.js';
import {
  checkpointKey,
  type SignedCheckpoint,
  serializeCheckpoint,
  signCheckpoint,
} from '../../functions/core/checkpoint.js';
import { IntegrityError, ValidationError } from '../../functions/core/errors.js';
import { MerkleFrontier } from '../../functions/core/merkle.js';
import type { AuditRecord } from '../../functions/core/model.js';
import { addSeconds } from '../../functions/core/time.js';
import { ephemeralCheckpointSigner } from '../../local/local-checkpoint-signer.js';

const ORIGIN = 'test.acme-trading/audit';

const A = ephemeralCheckpointSigner();
const B = ephemeralCheckpointSigner();

function chain(n: number, salt = ''): AuditRecord[] {
  let prev = GENESIS_HASH;
  return Array.from({ length: n }, (_, sequence) => {
    const partial = {
      sequence,
      event_id: eventIdFor(sequence),
      timestamp: addSeconds('2026-01-02T23:59:50.000000000Z', sequence),
      event_type: 'risk_check' as const,
      order_id: `ORD-${sequence}`,
      actor: 'risk-agent',
      input: { n: sequence, note: sequence === 4 ? 'ünïcödé €' : `plain ${salt}` },
      decision: 'approved',
      reason: `reason ${sequence}`,
      prev_hash: prev,
    };
    const record = { ...partial, hash: hashRecord(partial) } as AuditRecord;
    prev = record.hash;
    return record;
  });
}

async function checkpointsOf(
  records: readonly AuditRecord[],
  sizes: readonly number[],
  signer = A.signer,
  origin = ORIGIN,
) {
  const out: SignedCheckpoint[] = [];
  const f = MerkleFrontier.empty();
  for (const r of records) {
    f.pushHex(r.hash);
    if (sizes.includes(f.size)) {
      const timestamp = addSeconds('2026-01-03T01:00:00.000000000Z', f.size);
      out.push(
        await signCheckpoint(signer, { origin, tree_size: f.size, root_hash: f.root().toString('hex'), timestamp }),
      );
    }
  }
  return out;
}

const RECORDS = chain(19);
const LINES = RECORDS.map((r) => canonicalJson(r));
const LEAVES = RECORDS.map((r) => Buffer.from(r.hash, 'hex'));
const SIZES = [1, 2, 7, 8, 13, 19];
const CPS = await checkpointsOf(RECORDS, SIZES);
const cpOf = (size: number) => CPS.find((c) => c.tree_size === size) as SignedCheckpoint;

class MapArchive implements ArchiveReader {
  readonly objects = new Map<string, string>();
  constructor(records: readonly AuditRecord[], per = 4) {
    for (let i = 0; i < records.length; i += per) {
      const batch = records.slice(i, i + per);
      this.objects.set(archiveKeyFor(batch[0] as AuditRecord), serializeBatch(batch));
    }
    for (const cp of CPS) this.objects.set(checkpointKey(cp.tree_size), serializeCheckpoint(cp));
  }
  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async get(key: string): Promise<string | undefined> {
    return this.objects.get(key);
  }
}

const inclusion = (index: number, size: number) =>
  buildInclusionBundle(LEAVES, index, LINES[index] as string, cpOf(size));
const flipHex = (h: string, at = 0) => `${h.slice(0, at)}${h[at] === 'a' ? 'b' : 'a'}${h.slice(at + 1)}`;
const problem = (b: ProofBundle, key = A.publicKey) => {
  const v = verifyProofBundle(b, key);
  return v.ok ? undefined : v.problem;
};

describe('inclusion bundles', () => {
  it('verify for every record under every checkpoint', () => {
    for (const size of SIZES) {
      for (let i = 0; i < size; i++) {
        const v = verifyProofBundle(inclusion(i, size), A.publicKey);
        expect(v).toMatchObject({ ok: true, kind: 'inclusion', leaf_index: i, tree_size: size });
        expect(v.ok && v.kind === 'inclusion' && v.record).toEqual(RECORDS[i]);
      }
    }
  });

  it('do not verify after any field is changed', async () => {
    const b = inclusion(5, 13);
    const other = await signCheckpoint(A.signer, { ...cpOf(13), root_hash: flipHex(cpOf(13).root_hash) });
    const tampered: Array<[string, InclusionProofBundle]> = [
      ['leaf_index + 1', { ...b, leaf_index: 6 }],
      ['leaf_index - 1', { ...b, leaf_index: 4 }],
      ['tree_size + 1', { ...b, tree_size: 14 }],
      ['tree_size - 1', { ...b, tree_size: 12 }],
      ['record content', { ...b, record: (b.record as string).replace('reason 5', 'reason X') }],
      ['another record', { ...b, record: LINES[6] as string }],
      ['record re-hashed', { ...b, record: canonicalJson({ ...RECORDS[5], reason: 'forged', hash: undefined }) }],
      ['path element', { ...b, path: b.path.map((p, i) => (i === 1 ? flipHex(p, 7) : p)) }],
      ['path dropped', { ...b, path: b.path.slice(0, -1) }],
      ['path added', { ...b, path: [...b.path, b.path[0] as string] }],
      ['path reordered', { ...b, path: [...b.path].reverse() }],
      ['signature', { ...b, checkpoint: { ...b.checkpoint, signature: cpOf(8).signature } }],
      ['root', { ...b, checkpoint: { ...b.checkpoint, root_hash: flipHex(b.checkpoint.root_hash) } }],
      ['root re-signed', { ...b, checkpoint: other }],
      ['checkpoint size', { ...b, checkpoint: { ...b.checkpoint, tree_size: 14 } }],
      ['origin', { ...b, checkpoint: { ...b.checkpoint, origin: 'another/log' } }],
      ['timestamp', { ...b, checkpoint: { ...b.checkpoint, timestamp: '2026-01-03T02:00:00.000000000Z' } }],
      ['key_id', { ...b, checkpoint: { ...b.checkpoint, key_id: flipHex(b.checkpoint.key_id) } }],
    ];
    // The forged record's hash is recomputed: it is self-consistent, but not the signed leaf.
    const forged = tampered[6]?.[1] as InclusionProofBundle;
    const { hash: _, ...rest } = JSON.parse(forged.record) as AuditRecord;
    forged.record = canonicalJson({ ...rest, hash: hashRecord(rest) });
    for (const [what, t] of tampered) expect(problem(t), what).toBeDefined();
    expect(problem(b, B.publicKey)).toMatch(/checkpoint: signed by key/);
  });

  it('name what failed', () => {
    const b = inclusion(5, 13);
    expect(problem({ ...b, tree_size: 14 })).toMatch(/not the checkpoint's size/);
    expect(problem({ ...b, leaf_index: 13 })).toMatch(/not below/);
    expect(problem({ ...b, leaf_index: 6 })).toMatch(/sequence 5 is not leaf_index 6/);
    expect(problem({ ...b, record: ` ${b.record}` })).toMatch(/^record: /);
    expect(problem({ ...b, path: [] })).toMatch(/^path: /);
    expect(problem({ ...b, path: ['zz'] })).toMatch(/^malformed bundle: path\[0\]/);
  });
});

describe('consistency bundles', () => {
  it('verify for every pair of checkpoints in order, the same one included', () => {
    for (const first of CPS) {
      for (const second of CPS) {
        if (first.tree_size > second.tree_size) continue;
        const b = buildConsistencyBundle(LEAVES, first, second);
        expect(verifyProofBundle(b, A.publicKey)).toMatchObject({ ok: true, kind: 'consistency', first, second });
      }
    }
  });

  it('do not verify after any field is changed, nor for a forked log', async () => {
    const b = buildConsistencyBundle(LEAVES, cpOf(7), cpOf(13));
    const otherOrigin = await signCheckpoint(A.signer, { ...cpOf(7), origin: 'another/log' });
    // A fork signed by the same key: another history whose size-13 tree does not extend ours.
    const [forkCp] = await checkpointsOf(chain(13, 'fork'), [13]);
    const tampered: Array<[string, ConsistencyProofBundle]> = [
      ['swapped', { ...b, first: b.second, second: b.first }],
      ['path element', { ...b, path: b.path.map((p, i) => (i === 0 ? flipHex(p, 3) : p)) }],
      ['path dropped', { ...b, path: b.path.slice(1) }],
      ['path added', { ...b, path: [...b.path, b.path[0] as string] }],
      ['first root', { ...b, first: { ...b.first, root_hash: flipHex(b.first.root_hash) } }],
      ['first signature', { ...b, first: { ...b.first, signature: b.second.signature } }],
      ['second size', { ...b, second: { ...b.second, tree_size: 12 } }],
      ['second replaced by the fork', { ...b, second: forkCp as SignedCheckpoint }],
      ['origins differ', { ...b, first: otherOrigin }],
      ['another first', { ...b, first: cpOf(8) }],
    ];
    for (const [what, t] of tampered) expect(problem(t), what).toBeDefined();
    expect(problem({ ...b, first: otherOrigin })).toMatch(/different logs/);
    expect(problem({ ...b, first: b.second, second: b.first })).toMatch(/larger than the second/);
    expect(problem(b, B.publicKey)).toMatch(/^first: signed by key/);
  });
});

describe('builders', () => {
  it('refuse leaves that are not the signed log, a line that is not the leaf, sizes out of order', async () => {
    expect(() => buildInclusionBundle(LEAVES, 3, LINES[4] as string, cpOf(8))).toThrow(ValidationError);
    expect(() => buildInclusionBundle(LEAVES, 8, LINES[8] as string, cpOf(8))).toThrow(ValidationError);
    const otherLeaves = chain(19, 'other').map((r) => Buffer.from(r.hash, 'hex'));
    const otherLines = chain(19, 'other').map((r) => canonicalJson(r));
    expect(() => buildInclusionBundle(otherLeaves, 3, otherLines[3] as string, cpOf(8))).toThrow(IntegrityError);
    expect(() => buildConsistencyBundle(otherLeaves, cpOf(7), cpOf(13))).toThrow(IntegrityError);
    expect(() => buildConsistencyBundle(LEAVES, cpOf(13), cpOf(7))).toThrow(ValidationError);
  });
});

describe('parseProofBundle', () => {
  const fieldsOf = (text: string) => {
    try {
      parseProofBundle(text);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return err.errors.map((e) => `${e.field}:${e.rule}`);
    }
    return [];
  };
  const inc = JSON.parse(JSON.stringify(inclusion(2, 7))) as Record<string, unknown>;
  const con = JSON.parse(JSON.stringify(buildConsistencyBundle(LEAVES, cpOf(2), cpOf(7)))) as Record<string, unknown>;
  const text = (o: unknown) => JSON.stringify(o);

  it('round-trips both kinds through JSON', () => {
    for (const b of [inclusion(2, 7), inclusion(18, 19), buildConsistencyBundle(LEAVES, cpOf(2), cpOf(7))]) {
      expect(parseProofBundle(serializeProofBundle(b))).toEqual(b);
      expect(parseProofBundle(JSON.stringify(b, null, 2))).toEqual(b);
      expect(verifyProofBundle(parseProofBundle(serializeProofBundle(b)), A.publicKey).ok).toBe(true);
    }
  });

  it('names the field of malformed input', () => {
    expect(fieldsOf('{')).toEqual(['bundle:json']);
    expect(fieldsOf('[]')).toEqual(['bundle:object']);
    expect(fieldsOf(text({ ...inc, kind: 'other' }))).toEqual(['kind:enum']);
    expect(fieldsOf(text({ ...inc, leaf_index: -1 }))).toEqual(['leaf_index:integer']);
    expect(fieldsOf(text({ ...inc, tree_size: 1.5 }))).toEqual(['tree_size:integer']);
    expect(fieldsOf(text({ ...inc, record: 1 }))).toEqual(['record:line']);
    expect(fieldsOf(text({ ...inc, path: 'x' }))).toEqual(['path:array']);
    expect(fieldsOf(text({ ...inc, path: [(inc.path as string[])[0], 'XY'] }))).toEqual(['path[1]:hex64']);
    expect(fieldsOf(text({ ...inc, extra: true }))).toEqual(['extra:unknown_field']);
    expect(fieldsOf(text({ ...inc, checkpoint: 'x' }))).toEqual(['checkpoint:object']);
    const cp = inc.checkpoint as Record<string, unknown>;
    expect(fieldsOf(text({ ...inc, checkpoint: { ...cp, signature: undefined } }))).toEqual([
      'checkpoint.signature:base64',
    ]);
    expect(fieldsOf(text({ ...inc, checkpoint: { ...cp, root_hash: 'x' } }))).toEqual(['checkpoint.root_hash:hex64']);
    expect(fieldsOf(text({ ...con, first: { ...(con.first as object), tree_size: -2 } }))).toEqual([
      'first.tree_size:integer',
    ]);
    expect(fieldsOf(text({ ...con, second: null }))).toEqual(['second:object']);
    expect(fieldsOf(text({ ...con, leaf_index: 3 }))).toEqual(['leaf_index:unknown_field']);
  });
});

describe('from an archive', () => {
  it('loads the leaf hashes of a prefix and builds bundles that verify', async () => {
    const archive = new MapArchive(RECORDS);
    const seen: string[] = [];
    const leaves = await loadLeafHashes(archive, 13, (i, l) => {
      seen[i] = l;
    });
    expect(leaves.map((l) => l.toString('hex'))).toEqual(RECORDS.slice(0, 13).map((r) => r.hash));
    expect(seen).toEqual(LINES.slice(0, 13));
    const b = await inclusionBundleFromArchive(archive, 4, cpOf(13));
    expect(b.record).toBe(LINES[4]);
    expect(verifyProofBundle(b, A.publicKey).ok).toBe(true);
    expect(verifyProofBundle(await consistencyBundleFromArchive(archive, cpOf(8), cpOf(19)), A.publicKey).ok).toBe(
      true,
    );
    await expect(inclusionBundleFromArchive(archive, 13, cpOf(13))).rejects.toThrow(ValidationError);
  });

  it('fails loudly on an archive that is short, has a gap, or has an altered record', async () => {
    await expect(loadLeafHashes(new MapArchive(RECORDS.slice(0, 10)), 13)).rejects.toThrow(IntegrityError);
    const gap = new MapArchive(RECORDS);
    gap.objects.delete(archiveKeyFor(RECORDS[4] as AuditRecord));
    await expect(loadLeafHashes(gap, 13)).rejects.toThrow(/does not start at record 4/);
    const altered = new MapArchive(RECORDS);
    const key = archiveKeyFor(RECORDS[8] as AuditRecord);
    altered.objects.set(key, (altered.objects.get(key) as string).replace('reason 9', 'reason X'));
    await expect(loadLeafHashes(altered, 13)).rejects.toThrow(/record 9 .*does not match/);
    await expect(loadLeafHashes(altered, -1)).rejects.toThrow(ValidationError);
  });
});
