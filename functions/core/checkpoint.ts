// Signed checkpoints of the audit log's Merkle tree: the log's origin, its size, its root hash and
// the time, signed with ECDSA P-256 over SHA-256 (KMS ECC_NIST_P256 / ECDSA_SHA_256 on AWS,
// node:crypto locally; the same DER signature either way). The signed bytes are a C2SP
// tlog-checkpoint note body with the time as an extension line, so anyone can rebuild them from
// the archived fields and check the signature with the public key alone.
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { CheckpointSigner } from '../ports.js';
import { canonicalJson } from './canonical-json.js';
import { ValidationError } from './errors.js';
import { formatNs, parseNs } from './time.js';

export interface Checkpoint {
  /** Names the log: a checkpoint of one log never verifies as another's. */
  origin: string;
  /** Records covered: 0..tree_size-1. */
  tree_size: number;
  /** RFC 9162 Merkle tree hash of those records, lower-case hex. */
  root_hash: string;
  /** When it was signed, UTC with nanoseconds. */
  timestamp: string;
}

export interface SignedCheckpoint extends Checkpoint {
  /** Lower-case hex SHA-256 of the signing key's DER SubjectPublicKeyInfo. */
  key_id: string;
  /** Base64 DER ECDSA signature over checkpointBody(). */
  signature: string;
}

export const CHECKPOINT_PREFIX = 'checkpoints/';

/** The signed bytes: origin, size, base64 root hash, then the time, each line ended by `\n`. */
export function checkpointBody(cp: Checkpoint): string {
  return `${cp.origin}\n${cp.tree_size}\n${Buffer.from(cp.root_hash, 'hex').toString('base64')}\n${cp.timestamp}\n`;
}

/** Archive key: sequence-numbered by size, so the keys list in tree order. */
export function checkpointKey(treeSize: number): string {
  return `${CHECKPOINT_PREFIX}${String(treeSize).padStart(20, '0')}.json`;
}

export function keyIdOf(spkiDer: Uint8Array): string {
  return createHash('sha256').update(spkiDer).digest('hex');
}

/** The archived form: canonical JSON, one line. */
export function serializeCheckpoint(cp: SignedCheckpoint): string {
  return `${canonicalJson({ ...cp })}\n`;
}

export async function signCheckpoint(
  signer: CheckpointSigner,
  cp: Checkpoint,
  keyId?: string,
): Promise<SignedCheckpoint> {
  validateCheckpoint(cp);
  const [signature, key] = await Promise.all([
    signer.sign(Buffer.from(checkpointBody(cp), 'utf8')),
    keyId ? Promise.resolve(undefined) : signer.publicKey(),
  ]);
  return {
    ...cp,
    key_id: keyId ?? keyIdOf(key as Uint8Array),
    signature: Buffer.from(signature).toString('base64'),
  };
}

/** A P-256 public key from DER SPKI or PEM; anything else is refused. */
export function p256PublicKey(key: Uint8Array | string): KeyObject {
  const k =
    typeof key === 'string'
      ? createPublicKey(key)
      : createPublicKey({ key: Buffer.from(key), format: 'der', type: 'spki' });
  if (k.asymmetricKeyType !== 'ec' || k.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new ValidationError([
      { field: 'public_key', rule: 'p256', message: 'the public key must be an ECDSA P-256 key' },
    ]);
  }
  return k;
}

export function spkiDerOf(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' });
}

// A key's id, once per key: exporting it costs more than the signature check.
const keyIds = new WeakMap<KeyObject, string>();

/** Why a checkpoint does not verify under `publicKey`, or undefined when it does. */
export function checkpointProblem(cp: SignedCheckpoint, publicKey: KeyObject): string | undefined {
  let keyId = keyIds.get(publicKey);
  if (keyId === undefined) {
    keyId = keyIdOf(spkiDerOf(publicKey));
    keyIds.set(publicKey, keyId);
  }
  if (cp.key_id !== keyId) return `signed by key ${cp.key_id.slice(0, 16)}…, not the given key ${keyId.slice(0, 16)}…`;
  let ok = false;
  try {
    ok = verify(
      'sha256',
      Buffer.from(checkpointBody(cp), 'utf8'),
      { key: publicKey, dsaEncoding: 'der' },
      Buffer.from(cp.signature, 'base64'),
    );
  } catch {
    ok = false;
  }
  return ok ? undefined : 'signature does not verify';
}

/** Parses an archived checkpoint; a malformed one is a ValidationError naming the field. */
export function parseCheckpoint(text: string): SignedCheckpoint {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ValidationError([{ field: 'checkpoint', rule: 'json', message: 'the checkpoint is not JSON' }]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ValidationError([
      { field: 'checkpoint', rule: 'object', message: 'the checkpoint is not a JSON object' },
    ]);
  }
  const o = raw as Record<string, unknown>;
  const cp = {
    origin: o.origin,
    tree_size: o.tree_size,
    root_hash: o.root_hash,
    timestamp: o.timestamp,
    key_id: o.key_id,
    signature: o.signature,
  } as SignedCheckpoint;
  validateCheckpoint(cp);
  const errors = [];
  if (typeof cp.key_id !== 'string' || !/^[0-9a-f]{64}$/.test(cp.key_id))
    errors.push({ field: 'key_id', rule: 'hex64', message: 'key_id must be 64 lower-case hex digits' });
  if (typeof cp.signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(cp.signature))
    errors.push({ field: 'signature', rule: 'base64', message: 'signature must be base64' });
  const extra = Object.keys(o).filter((k) => !(k in cp));
  for (const k of extra) errors.push({ field: k, rule: 'unknown_field', message: `unknown checkpoint field ${k}` });
  if (errors.length > 0) throw new ValidationError(errors);
  return cp;
}

function validateCheckpoint(cp: Checkpoint): void {
  const errors = [];
  if (typeof cp.origin !== 'string' || cp.origin.length === 0 || /[\n\r]/.test(cp.origin))
    errors.push({ field: 'origin', rule: 'line', message: 'origin must be a non-empty single line' });
  if (!Number.isSafeInteger(cp.tree_size) || cp.tree_size < 0)
    errors.push({ field: 'tree_size', rule: 'integer', message: 'tree_size must be a whole number ≥ 0' });
  if (typeof cp.root_hash !== 'string' || !/^[0-9a-f]{64}$/.test(cp.root_hash))
    errors.push({ field: 'root_hash', rule: 'hex64', message: 'root_hash must be 64 lower-case hex digits' });
  const ns = typeof cp.timestamp === 'string' ? parseNs(cp.timestamp) : undefined;
  if (ns === undefined || formatNs(ns) !== cp.timestamp)
    errors.push({ field: 'timestamp', rule: 'format', message: 'timestamp must be UTC with nanoseconds' });
  if (errors.length > 0) throw new ValidationError(errors);
}
