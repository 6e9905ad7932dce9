// Proof bundles: what an auditor is handed to check, offline and with the public key alone, that a
// record is in the signed log (inclusion), or that a later signed log extends an earlier one
// without changing it (consistency). A bundle carries everything the check needs: the archived
// record line, the RFC 9162 proof path, and the signed checkpoint(s) the path leads to.
import type { KeyObject } from 'node:crypto';
import {
  type ArchiveReader,
  parseRecordLine,
  RECORDS_PREFIX,
  recordKeySequence,
  recordLeafData,
  sortRecordKeys,
} from './audit-verify.js';
import { canonicalJson } from './canonical-json.js';
import { checkpointProblem, parseCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import { type FieldError, IntegrityError, ValidationError } from './errors.js';
import { consistencyProof, inclusionProof, leafHash, verifyConsistency, verifyInclusion } from './merkle.js';
import type { AuditRecord } from './model.js';

export interface InclusionProofBundle {
  kind: 'inclusion';
  leaf_index: number;
  tree_size: number;
  /** The record's archived line (canonical JSON, no newline): its leaf is these bytes. */
  record: string;
  /** Sibling hashes from the leaf up (RFC 9162 2.1.3.1), lower-case hex. */
  path: string[];
  checkpoint: SignedCheckpoint;
}

export interface ConsistencyProofBundle {
  kind: 'consistency';
  first: SignedCheckpoint;
  second: SignedCheckpoint;
  /** RFC 9162 2.1.4.1 PROOF(first.tree_size, D[second.tree_size]), lower-case hex. */
  path: string[];
}

export type ProofBundle = InclusionProofBundle | ConsistencyProofBundle;

export type ProofVerdict =
  | {
      ok: true;
      kind: 'inclusion';
      leaf_index: number;
      tree_size: number;
      record: AuditRecord;
      checkpoint: SignedCheckpoint;
    }
  | { ok: true; kind: 'consistency'; first: SignedCheckpoint; second: SignedCheckpoint }
  | { ok: false; problem: string };

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * The inclusion bundle of record `index` (its archived `line`) in the tree `checkpoint` signed,
 * from the log's leaf hashes (at least checkpoint.tree_size of them). The path is checked against
 * the checkpoint's root before it is handed out: leaves that are not the signed log's are refused.
 */
export function buildInclusionBundle(
  leafHashes: readonly Uint8Array[],
  index: number,
  line: string,
  checkpoint: SignedCheckpoint,
): InclusionProofBundle {
  const size = checkpoint.tree_size;
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new ValidationError([
      { field: 'leaf_index', rule: 'range', message: `leaf_index must be in 0..${size - 1} (the checkpoint's size)` },
    ]);
  }
  const { leaf } = recordLeafData(line);
  const leafOf = leafHash(leaf);
  const stored = leafHashes[index];
  if (!stored || !leafOf.equals(stored)) {
    throw new ValidationError([
      { field: 'record', rule: 'leaf', message: `the line is not leaf ${index} of the given leaf hashes` },
    ]);
  }
  const path = inclusionProof(index, size, leafHashes);
  if (!verifyInclusion(index, size, leafOf, path, Buffer.from(checkpoint.root_hash, 'hex'))) {
    throw new IntegrityError(`the leaf hashes do not give the root of the checkpoint of size ${size}`);
  }
  return { kind: 'inclusion', leaf_index: index, tree_size: size, record: line, path: path.map(hex), checkpoint };
}

/** The consistency bundle from `first` to `second` (first.tree_size ≤ second.tree_size), checked as above. */
export function buildConsistencyBundle(
  leafHashes: readonly Uint8Array[],
  first: SignedCheckpoint,
  second: SignedCheckpoint,
): ConsistencyProofBundle {
  const m = first.tree_size;
  const n = second.tree_size;
  if (m > n) {
    throw new ValidationError([
      { field: 'first', rule: 'order', message: 'the first checkpoint must not be larger than the second' },
    ]);
  }
  const path = consistencyProof(m, n, leafHashes);
  const rootM = Buffer.from(first.root_hash, 'hex');
  const rootN = Buffer.from(second.root_hash, 'hex');
  if (!verifyConsistency(m, n, rootM, rootN, path)) {
    throw new IntegrityError(`the leaf hashes do not give the roots of the checkpoints of sizes ${m} and ${n}`);
  }
  return { kind: 'consistency', first, second, path: path.map(hex) };
}

/** The archived form: canonical JSON, one line. */
export function serializeProofBundle(bundle: ProofBundle): string {
  return `${canonicalJson(bundle)}\n`;
}

/** Parses a bundle; anything malformed is a ValidationError naming the field (`checkpoint.signature`, `path[3]`). */
export function parseProofBundle(text: string): ProofBundle {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ValidationError([{ field: 'bundle', rule: 'json', message: 'the proof bundle is not JSON' }]);
  }
  return toBundle(raw);
}

function toBundle(raw: unknown): ProofBundle {
  if (!isObject(raw)) {
    throw new ValidationError([{ field: 'bundle', rule: 'object', message: 'the proof bundle is not a JSON object' }]);
  }
  const errors: FieldError[] = [];
  const fields =
    raw.kind === 'inclusion'
      ? ['kind', 'leaf_index', 'tree_size', 'record', 'path', 'checkpoint']
      : raw.kind === 'consistency'
        ? ['kind', 'first', 'second', 'path']
        : undefined;
  if (!fields) {
    throw new ValidationError([{ field: 'kind', rule: 'enum', message: "kind must be 'inclusion' or 'consistency'" }]);
  }
  for (const k of Object.keys(raw)) {
    if (!fields.includes(k)) errors.push({ field: k, rule: 'unknown_field', message: `unknown bundle field ${k}` });
  }
  const path = hexPath(raw.path, errors);
  if (raw.kind === 'inclusion') {
    for (const f of ['leaf_index', 'tree_size'] as const) {
      const v = raw[f];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
        errors.push({ field: f, rule: 'integer', message: `${f} must be a whole number ≥ 0` });
      }
    }
    if (typeof raw.record !== 'string' || raw.record.length === 0 || raw.record.includes('\n')) {
      errors.push({ field: 'record', rule: 'line', message: 'record must be the archived line, without its newline' });
    }
    const checkpoint = checkpointAt(raw.checkpoint, 'checkpoint', errors);
    if (errors.length > 0 || !checkpoint) throw new ValidationError(errors);
    return {
      kind: 'inclusion',
      leaf_index: raw.leaf_index as number,
      tree_size: raw.tree_size as number,
      record: raw.record as string,
      path,
      checkpoint,
    };
  }
  const first = checkpointAt(raw.first, 'first', errors);
  const second = checkpointAt(raw.second, 'second', errors);
  if (errors.length > 0 || !first || !second) throw new ValidationError(errors);
  return { kind: 'consistency', first, second, path };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hexPath(v: unknown, errors: FieldError[]): string[] {
  if (!Array.isArray(v)) {
    errors.push({ field: 'path', rule: 'array', message: 'path must be an array of hashes' });
    return [];
  }
  v.forEach((h, i) => {
    if (typeof h !== 'string' || !/^[0-9a-f]{64}$/.test(h)) {
      errors.push({ field: `path[${i}]`, rule: 'hex64', message: 'a path element is 64 lower-case hex digits' });
    }
  });
  return v as string[];
}

/** A checkpoint inside a bundle, its errors named under `field` (`checkpoint.root_hash`). */
function checkpointAt(v: unknown, field: string, errors: FieldError[]): SignedCheckpoint | undefined {
  if (!isObject(v)) {
    errors.push({ field, rule: 'object', message: `${field} must be a signed checkpoint object` });
    return undefined;
  }
  try {
    return parseCheckpoint(JSON.stringify(v));
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    for (const e of err.errors) errors.push({ ...e, field: `${field}.${e.field}` });
    return undefined;
  }
}

/**
 * Checks a bundle with the public key alone. Inclusion: the checkpoint's signature; the bundle's
 * tree_size is the checkpoint's (a path can also fit a neighbouring size, so the size must be the
 * signed one) and leaf_index is below it; the record is a well-formed canonical record whose
 * sequence is leaf_index and whose `hash` is the leaf hash of its bytes; the path leads from that
 * leaf to the signed root. Consistency: both signatures, one origin, sizes in order, and the path
 * leads from the first root to the second.
 */
export function verifyProofBundle(bundle: ProofBundle, publicKey: KeyObject): ProofVerdict {
  let b: ProofBundle;
  try {
    b = toBundle(JSON.parse(JSON.stringify(bundle)));
  } catch (err) {
    return { ok: false, problem: `malformed bundle: ${err instanceof Error ? err.message : String(err)}` };
  }
  const path = b.path.map((h) => Buffer.from(h, 'hex'));
  if (b.kind === 'inclusion') {
    const cp = b.checkpoint;
    const bad = checkpointProblem(cp, publicKey);
    if (bad) return { ok: false, problem: `checkpoint: ${bad}` };
    if (b.tree_size !== cp.tree_size) {
      return { ok: false, problem: `tree_size ${b.tree_size} is not the checkpoint's size ${cp.tree_size}` };
    }
    if (b.leaf_index >= b.tree_size)
      return { ok: false, problem: `leaf_index ${b.leaf_index} is not below ${b.tree_size}` };
    let record: AuditRecord;
    let leaf: Buffer;
    try {
      record = parseRecordLine(b.record);
      const data = recordLeafData(b.record);
      leaf = leafHash(data.leaf);
      if (leaf.toString('hex') !== data.hash)
        return { ok: false, problem: 'record: its hash does not match its content' };
    } catch (err) {
      return { ok: false, problem: `record: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (record.sequence !== b.leaf_index) {
      return { ok: false, problem: `record: its sequence ${record.sequence} is not leaf_index ${b.leaf_index}` };
    }
    if (!verifyInclusion(b.leaf_index, b.tree_size, leaf, path, Buffer.from(cp.root_hash, 'hex'))) {
      return { ok: false, problem: "path: it does not lead from the record to the checkpoint's root" };
    }
    return { ok: true, kind: 'inclusion', leaf_index: b.leaf_index, tree_size: b.tree_size, record, checkpoint: cp };
  }
  const { first, second } = b;
  const bad1 = checkpointProblem(first, publicKey);
  if (bad1) return { ok: false, problem: `first: ${bad1}` };
  const bad2 = checkpointProblem(second, publicKey);
  if (bad2) return { ok: false, problem: `second: ${bad2}` };
  if (first.origin !== second.origin) {
    return { ok: false, problem: `the checkpoints name different logs (${first.origin}, ${second.origin})` };
  }
  if (first.tree_size > second.tree_size) {
    return {
      ok: false,
      problem: `the first checkpoint (${first.tree_size}) is larger than the second (${second.tree_size})`,
    };
  }
  const rootM = Buffer.from(first.root_hash, 'hex');
  const rootN = Buffer.from(second.root_hash, 'hex');
  if (!verifyConsistency(first.tree_size, second.tree_size, rootM, rootN, path)) {
    return { ok: false, problem: 'path: it does not show the second tree extends the first' };
  }
  return { ok: true, kind: 'consistency', first, second };
}

/** Archive objects read ahead of the one being hashed. */
const PREFETCH = 16;

/**
 * The leaf hashes of the first `size` records in an archive, in order: each line's hash is taken
 * from its bytes (recordLeafData) and must be its `hash` member, and the objects must follow on
 * without a gap; `onLine` sees each line (to keep the one a bundle needs). Fails loudly otherwise:
 * a proof built from a broken archive would not verify anyway. Holds 32 bytes a record.
 */
export async function loadLeafHashes(
  archive: ArchiveReader,
  size: number,
  onLine?: (index: number, line: string) => void,
): Promise<Buffer[]> {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new ValidationError([{ field: 'size', rule: 'integer', message: 'size must be a whole number ≥ 0' }]);
  }
  const out: Buffer[] = [];
  const keys = sortRecordKeys(await archive.list(RECORDS_PREFIX));
  // Objects are read PREFETCH at a time (on S3 each GET is a round trip; a batch is an object).
  const reads: Array<Promise<string | undefined>> = [];
  const readAhead = (from: number) => {
    for (let j = reads.length; j < Math.min(keys.length, from + PREFETCH); j++) {
      // Objects that start past `size` are not needed (keys name their first record).
      if ((recordKeySequence(keys[j] as string) ?? size) >= size) break;
      const read = archive.get(keys[j] as string);
      read.catch(() => undefined); // awaited in order below; never left unhandled
      reads.push(read);
    }
  };
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k] as string;
    if (out.length >= size) break;
    if (recordKeySequence(key) !== out.length) {
      throw new IntegrityError(`archive object ${key} does not start at record ${out.length}`);
    }
    readAhead(k);
    const body = await reads[k];
    if (body === undefined) throw new IntegrityError(`archive object ${key} is listed but cannot be read`);
    for (const line of body.split('\n')) {
      if (line.length === 0 || out.length >= size) continue;
      const { leaf, hash } = recordLeafData(line);
      const h = leafHash(leaf);
      if (h.toString('hex') !== hash)
        throw new IntegrityError(`record ${out.length} in ${key}: its hash does not match its content`);
      onLine?.(out.length, line);
      out.push(h);
    }
  }
  if (out.length < size) throw new IntegrityError(`the archive holds ${out.length} records, fewer than ${size}`);
  return out;
}

/** The inclusion bundle of record `index` against `checkpoint`, read from an archive. */
export async function inclusionBundleFromArchive(
  archive: ArchiveReader,
  index: number,
  checkpoint: SignedCheckpoint,
): Promise<InclusionProofBundle> {
  let line: string | undefined;
  const leaves = await loadLeafHashes(archive, checkpoint.tree_size, (i, l) => {
    if (i === index) line = l;
  });
  if (line === undefined) {
    throw new ValidationError([
      { field: 'leaf_index', rule: 'range', message: `leaf_index must be in 0..${checkpoint.tree_size - 1}` },
    ]);
  }
  return buildInclusionBundle(leaves, index, line, checkpoint);
}

/** The consistency bundle from `first` to `second`, read from an archive. */
export async function consistencyBundleFromArchive(
  archive: ArchiveReader,
  first: SignedCheckpoint,
  second: SignedCheckpoint,
): Promise<ConsistencyProofBundle> {
  return buildConsistencyBundle(await loadLeafHashes(archive, second.tree_size), first, second);
}
