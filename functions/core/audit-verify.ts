// Verifies a whole archived audit log with the checkpoint signing key's public half alone: every
// record's hash against its bytes, the chain (sequence from 0, prev_hash links, event ids), the
// archive's layout (each object named for its first record, objects in order without gaps or
// overlaps), and every signed checkpoint (signature, key, origin, order) against the Merkle root of
// the records it covers. It streams: objects are fed in order and dropped, and the tree is kept as
// its frontier, so memory stays small however long the log.
//
// Order of work, and of problems (the report names the first): the checkpoints are added first and
// checked as they come (form, archive key, signer, signature, origin, sizes increasing; not their
// timestamps, which concurrent signers need not order); then the known checkpoints, if any; then the records in sequence
// order, each checkpoint's root compared as soon as the log reaches its size (before the record
// after it); last, truncation (a checkpoint covering records the archive does not hold). Within a
// record: its form, its hash, then sequence, event_id, prev_hash and the object's key.
//
// Two stages share the work. This thread reads the text: each line's form, sequence, event_id and
// prev_hash (against the previous line's `hash` member), the object keys, and the checkpoints. The
// hash stage (STAGE_SOURCE) gets each object's bytes and where each line's hash member is, hashes
// every leaf, compares it with the member, and keeps the Merkle frontier to compare the roots.
// The two together check the chain: prev_hash(i) = member(i-1) here, member(i-1) = leaf hash there.
// For a large log the stage runs in a worker thread, so the hashing and the text reading go on at
// once on two cores, and when the worker is behind this thread hashes leaves too (see flush);
// the first problems each side finds are merged by their place in the log.
//
// Why the text checks can skip JSON.parse, and when they may. They find members by their text: the
// `,"hash":"` member at its one canonical place, right before the first `,"input":` (hashMemberAt:
// cutting the same member out of anywhere else would leave the same leaf bytes), the first
// `,"event_id":"`, and the members after `input` by walking back from the line's end. In valid
// JSON a pattern like `,"hash":"` is always a member (its quote follows a
// comma, so it is not an escaped quote inside a string, and a string cannot end just before
// `hash"`). In canonical JSON of a record (keys sorted, no whitespace) the members before `hash`
// are actor, decision, event_id and event_type, all strings, so no nested object comes first and
// the first occurrences are the top-level members; the members after `input` (and `order_id`) are
// prev_hash, reason, sequence, timestamp and trader_id, strings and a number, so walking back from
// the end meets the top-level ones. That holds only for a canonical record, and a line's own hash
// proves nothing about that: anyone can write bytes and the hash of those bytes. What binds a line
// is a signed checkpoint: a line below its tree_size, when its root matches, hashes (SHA-256 being
// collision resistant) to the leaf the signer's log committed, and that log's writer only hashes
// the canonical JSON of records it built (audit-chain.ts). So lines some checkpoint covers take the
// fast path: one that is not a well-formed record cannot reproduce the committed leaf, and that
// checkpoint's root fails (root_mismatch there, unless a check named the line sooner), so it never
// verifies. Lines past the latest checkpoint are bound by their chain alone, so each of those is
// parsed, checked field by field and must re-serialise to itself byte for byte, before the same
// text checks run on it.
import { isUtf8 } from 'node:buffer';
import { type KeyObject, hash as oneShot, verify } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { archiveKeyFor, eventIdFor, GENESIS_HASH } from './audit-chain.js';
import { canonicalJson } from './canonical-json.js';
import {
  CHECKPOINT_PREFIX,
  checkpointBody,
  checkpointKey,
  keyIdOf,
  parseCheckpoint,
  type SignedCheckpoint,
  spkiDerOf,
} from './checkpoint.js';
import { IntegrityError, ValidationError } from './errors.js';
import { EMPTY_ROOT, HASH_BYTES } from './merkle.js';
import type { AuditRecord } from './model.js';
import { CANONICAL_NS, parseNs } from './time.js';

/** How far a checkpoint's time may fall before its last record's: the clocks of two machines. */
const CLOCK_SKEW_NS = 1_000_000_000n;

export const RECORDS_PREFIX = 'records/';

/** What reads the archive: the AuditArchive port's read half (S3, the local archive, a test's map). */
export interface ArchiveReader {
  /** Keys under a prefix. */
  list(prefix: string): Promise<string[]>;
  get(key: string): Promise<string | undefined>;
}

export type VerifyProblemKind =
  /** An archive object that cannot be read, is empty, is not UTF-8 or does not end with a newline. */
  | 'object_format'
  /** An object's key is not archiveKeyFor(its first record). */
  | 'object_key'
  /** A line that is not a well-formed record (see `message`). */
  | 'record_format'
  /** A record's `hash` is not the leaf hash of its bytes: the record was altered. */
  | 'record_hash'
  /** A record out of place: missing, repeated, reordered, or an object gap or overlap. */
  | 'sequence'
  | 'event_id'
  | 'prev_hash'
  | 'checkpoint_format'
  /** A checkpoint object's key is not checkpointKey(its tree_size). */
  | 'checkpoint_key'
  /** Signed by another key than the one given. */
  | 'checkpoint_signer'
  /** The signature does not verify under the given key. */
  | 'checkpoint_signature'
  | 'checkpoint_origin'
  /** Checkpoint sizes not increasing. */
  | 'checkpoint_order'
  /** A checkpoint signed (by its own time) more than a second before its last record was written. */
  | 'checkpoint_time'
  /** The records' Merkle root at an archived checkpoint's size is not the signed root. */
  | 'root_mismatch'
  /**
   * The key signed two roots for one size (an archived and a known checkpoint), or a known
   * checkpoint's root is not the archive's records' root at its size: two histories.
   */
  | 'fork'
  /** A checkpoint covers records the archive does not hold. */
  | 'truncated';

export interface VerifyProblem {
  kind: VerifyProblemKind;
  message: string;
  /** The log position where the problem is: the sequence a record there must have. */
  sequence?: number;
  /** The event id that belongs at `sequence`. */
  event_id?: string;
  object_key?: string;
  /** 1-based line within `object_key`. */
  line?: number;
  checkpoint_key?: string;
  /** The checkpoint's size, for checkpoint problems (a known checkpoint has no key). */
  tree_size?: number;
}

export interface VerifyOk {
  ok: true;
  /** Records verified: the tree size. */
  records: number;
  objects: number;
  /** Archived checkpoints verified. */
  checkpoints: number;
  /** Known checkpoints (options.knownCheckpoints) verified against the archive. */
  known_checkpoints: number;
  /** Merkle root of all the records, hex. */
  root_hash: string;
  /** The largest verified checkpoint (an archived one on a tie), or null when there is none. */
  latest_checkpoint: SignedCheckpoint | null;
  /** Records after the latest checkpoint: protected only by the hash chain, not yet by a signature. */
  unsigned_tail: number;
  /** Says what `unsigned_tail` means, when it is not 0. */
  unsigned_tail_note?: string;
}

export interface VerifyFailed {
  ok: false;
  problem: VerifyProblem;
  /**
   * Records before the problem's place in the log, each of which passed its own checks (for a
   * root mismatch: the records under that checkpoint, whose root they do not give).
   */
  records_verified: number;
}

export type VerifyReport = VerifyOk | VerifyFailed;

export interface LogVerifierOptions {
  /** The checkpoint signing key (p256PublicKey in checkpoint.ts). */
  publicKey: KeyObject;
  /** The log's name: every checkpoint must carry it. Without it they must all carry the same one. */
  origin?: string;
  /**
   * Checkpoints the auditor kept from before (published, or from an earlier run): each must verify
   * with the key and match the archive's records at its size, so a history rewritten wholesale,
   * even re-signed, is caught as a fork, and one cut below them as truncated.
   */
  knownCheckpoints?: readonly SignedCheckpoint[];
  /**
   * Hash in a worker thread once the log outgrows one batch (default: when the process may use
   * more than one core). Off, or for a log of one batch, everything runs on the calling thread.
   */
  parallel?: boolean;
  /** Bytes of records handed to the hash stage at a time (default 1 MiB). */
  batchBytes?: number;
}

/** The verifier was driven out of order (a checkpoint added after a record object). */
export class VerifierUsageError extends Error {
  override readonly name = 'VerifierUsageError';
}

const HASH_MEMBER = ',"hash":"';
/** `,"hash":"` + 64 hex digits + `"`: the stage's source hard-codes 9 and 74 (see there). */
const HASH_MEMBER_LENGTH = HASH_MEMBER.length + 64 + 1;
const EVENT_ID_MEMBER = ',"event_id":"';
const PREV_MEMBER = ',"prev_hash":"';
const REASON_KEY = ',"reason":';
const SEQUENCE_MEMBER = ',"sequence":';
const TIMESTAMP_KEY = ',"timestamp":';
const TRADER_KEY = ',"trader_id":';
const HEX64 = /^[0-9a-f]{64}$/;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;

/**
 * A record line's leaf data and its `hash` member: the leaf is the line's UTF-8 bytes with the
 * top-level member `,"hash":"<64 hex>"` cut out (at its one canonical place: hashMemberAt),
 * so leafHash(leaf) is the record's hash if the line is intact.
 */
export function recordLeafData(line: string): { leaf: Buffer; hash: string } {
  const h = hashMemberAt(line, 0, line.length);
  const hash = h < 0 ? '' : line.slice(h + HASH_MEMBER.length, h + HASH_MEMBER_LENGTH - 1);
  if (h < 0 || !HEX64.test(hash) || line.charCodeAt(h + HASH_MEMBER_LENGTH - 1) !== QUOTE) {
    throw new ValidationError([
      {
        field: 'hash',
        rule: 'member',
        message: 'the record has no top-level "hash" member of 64 lower-case hex digits',
      },
    ]);
  }
  return { leaf: Buffer.from(line.slice(0, h) + line.slice(h + HASH_MEMBER_LENGTH), 'utf8'), hash };
}

const INPUT_KEY = ',"input":';

/**
 * Where the top-level `"hash"` member of the line text[s, e) starts, or -1. It must sit at its one
 * canonical place, right before the top-level `,"input":`: cutting a `,"hash":"…"` out of anywhere
 * else (into `input`, into a string) would leave the same leaf bytes, so a line so rearranged would
 * hash to its committed leaf: the place is checked, not just searched for. Checked as: the first
 * `,"input":` of the line follows the member at once. Why that pins it: if the line minus the
 * member is the committed leaf L (else the hash fails anyway), L is canonical, so its first
 * `,"input":` is the top-level member (the members before it are strings, which cannot hold an
 * unescaped quote); the member, having none, was cut from just before L's first `,"input":`.
 */
export function hashMemberAt(text: string, s: number, e: number): number {
  const h = text.indexOf(HASH_MEMBER, s);
  if (h < 0 || h + HASH_MEMBER_LENGTH >= e) return -1;
  return text.indexOf(INPUT_KEY, s) === h + HASH_MEMBER_LENGTH ? h : -1;
}

const REQUIRED_STRINGS = ['actor', 'decision', 'event_id', 'event_type', 'reason'] as const;
const OPTIONAL_STRINGS = ['order_id', 'trader_id'] as const;
const RECORD_FIELDS: ReadonlySet<string> = new Set([
  ...REQUIRED_STRINGS,
  ...OPTIONAL_STRINGS,
  'hash',
  'input',
  'prev_hash',
  'sequence',
  'timestamp',
]);

/**
 * Parses an archived record line strictly: a JSON object with exactly the record's fields, of
 * their types, in canonical form (it must re-serialise to the same text). It does not check the
 * hash; recordLeafData and the verifier do. A ValidationError names the field and the rule.
 */
export function parseRecordLine(line: string): AuditRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new ValidationError([{ field: 'record', rule: 'json', message: 'the record is not JSON' }]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ValidationError([{ field: 'record', rule: 'object', message: 'the record is not a JSON object' }]);
  }
  const o = raw as Record<string, unknown>;
  const errors: Array<{ field: string; rule: string; message: string }> = [];
  for (const k of Object.keys(o)) {
    if (!RECORD_FIELDS.has(k)) errors.push({ field: k, rule: 'unknown_field', message: `unknown record field ${k}` });
  }
  for (const f of REQUIRED_STRINGS) {
    if (typeof o[f] !== 'string') errors.push({ field: f, rule: 'string', message: `${f} must be a string` });
  }
  for (const f of OPTIONAL_STRINGS) {
    if (f in o && typeof o[f] !== 'string') errors.push({ field: f, rule: 'string', message: `${f} must be a string` });
  }
  for (const f of ['hash', 'prev_hash'] as const) {
    if (typeof o[f] !== 'string' || !HEX64.test(o[f])) {
      errors.push({ field: f, rule: 'hex64', message: `${f} must be 64 lower-case hex digits` });
    }
  }
  if (!Number.isSafeInteger(o.sequence) || (o.sequence as number) < 0) {
    errors.push({ field: 'sequence', rule: 'integer', message: 'sequence must be a whole number ≥ 0' });
  }
  if (typeof o.timestamp !== 'string' || !CANONICAL_NS.test(o.timestamp)) {
    errors.push({ field: 'timestamp', rule: 'format', message: 'timestamp must be UTC with nine fractional digits' });
  }
  if (!('input' in o)) errors.push({ field: 'input', rule: 'required', message: 'input is missing' });
  if (errors.length > 0) throw new ValidationError(errors);
  let canonical: string;
  try {
    canonical = canonicalJson(o);
  } catch (err) {
    throw new ValidationError([
      { field: 'record', rule: 'canonical', message: `not canonical JSON: ${messageOf(err)}` },
    ]);
  }
  if (canonical !== line) {
    throw new ValidationError([
      {
        field: 'record',
        rule: 'canonical',
        message: 'the line is not in canonical form (it re-serialises differently)',
      },
    ]);
  }
  return o as unknown as AuditRecord;
}

/** The first sequence an object key names (records/dt=…/<20 digits>.jsonl), or undefined. */
export function recordKeySequence(key: string): number | undefined {
  const m = /\/(\d{20})\.jsonl$/.exec(key);
  const n = m ? Number(m[1]) : Number.NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Record object keys in log order, by the sequence in their names: listing order is by date first,
 * which is log order only while no writer's clock steps back across midnight. Keys that name no
 * sequence come first, so the verifier reports them.
 */
export function sortRecordKeys(keys: readonly string[]): string[] {
  return keys
    .map((key) => ({ key, seq: recordKeySequence(key) ?? -1 }))
    .sort((a, b) => a.seq - b.seq || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((k) => k.key);
}

// ---------------------------------------------------------------------------------------------
// The hash stage. Plain JavaScript in a string, so that one text runs both in a worker thread
// (which cannot load this TypeScript module under tsx, vitest or a bundle) and on this thread.
// Input: a batch buffer whose last CLAIM_BYTES are free scratch, and, per line, the byte offsets of
// its start, of its `,"hash":"` member (9 bytes, then 64 hex digits and a quote: 74 bytes) and of
// its end; or leaf hashes the reading thread computed itself (hashLeaves, the same code). Each leaf
// is hashed in place: the claimed hash is copied aside, the bytes before the member move up over
// it and a 0x00 goes just before them, so the leaf is one contiguous view, copied once. The digest
// goes straight into the frontier (MerkleFrontier's, merkle.ts, in one buffer) and is compared
// there with the claim's hex digits. crypto.hash is asked for latin1 strings, as on Node 20 a
// Buffer result costs twice the time. The stage stops at its first problem: a leaf hash that is
// not the claim, or a root that is not a checkpoint's.
const CLAIM_BYTES = 64;
const STAGE_SOURCE = `
function createStage(hash, targets) {
  var SLOT = 32, STACK_AT = 65, FOLD_AT = 65 + 53 * 32;
  var HEX = [];
  for (var d = 0; d < 16; d++) HEX.push('0123456789abcdef'.charCodeAt(d));
  var tree = Buffer.alloc(FOLD_AT + SLOT);
  tree[0] = 1;
  var nodeInput = tree.subarray(0, STACK_AT);
  // Buffer#latin1Write skips Buffer#write's argument handling; it is there on every Node we run on.
  var put = typeof tree.latin1Write === 'function'
    ? function (dst, s, at) { dst.latin1Write(s, at, SLOT); }
    : function (dst, s, at) { dst.write(s, at, SLOT, 'latin1'); };
  var size = 0, depth = 0, next = 0, problem = null;
  function view(bytes) {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  // Line i of a batch: its leaf hash into dst[at..at + 32); false if that is not the claimed hash.
  function leaf(b, offsets, i, dst, at) {
    var s = offsets[3 * i], h = offsets[3 * i + 1], e = offsets[3 * i + 2], claim = b.length - 64;
    b.copyWithin(claim, h + 9, h + 73);
    b.copyWithin(s + 74, s, h);
    b[s + 73] = 0;
    put(dst, hash('sha256', b.subarray(s + 73, e), 'latin1'), at);
    for (var k = 0; k < SLOT; k++) {
      var v = dst[at + k];
      if (b[claim + 2 * k] !== HEX[v >> 4] || b[claim + 2 * k + 1] !== HEX[v & 15]) return false;
    }
    return true;
  }
  // The leaf in the slot above the stack joins the tree; false if a checkpoint's root then fails.
  function grow() {
    var top = depth;
    for (var m = size; m % 2 === 1; m = (m - 1) / 2) {
      var left = STACK_AT + (top - 1) * SLOT;
      tree.copyWithin(1, left, left + 2 * SLOT);
      put(tree, hash('sha256', nodeInput, 'latin1'), left);
      top -= 1;
    }
    depth = top + 1;
    size += 1;
    while (next < targets.length && targets[next].size === size) {
      var r = root();
      if (r !== targets[next].root) { problem = { kind: 'root', target: next, root: r }; return false; }
      next += 1;
    }
    return true;
  }
  function root() {
    if (depth === 0) return hash('sha256', '', 'hex');
    tree.copyWithin(FOLD_AT, STACK_AT + (depth - 1) * SLOT, STACK_AT + depth * SLOT);
    for (var i = depth - 2; i >= 0; i--) {
      tree.copyWithin(1, STACK_AT + i * SLOT, STACK_AT + (i + 1) * SLOT);
      tree.copyWithin(1 + SLOT, FOLD_AT, FOLD_AT + SLOT);
      put(tree, hash('sha256', nodeInput, 'latin1'), FOLD_AT);
    }
    return tree.toString('hex', FOLD_AT, FOLD_AT + SLOT);
  }
  // Lines to hash and add.
  function batch(bytes, offsets, count) {
    var b = view(bytes);
    for (var i = 0; i < count && problem === null; i++) {
      if (!leaf(b, offsets, i, tree, STACK_AT + depth * SLOT)) problem = { kind: 'record_hash', sequence: size };
      else grow();
    }
  }
  // Leaf hashes computed (and checked) elsewhere, 32 bytes each, to add.
  function leaves(bytes, count) {
    for (var i = 0; i < count && problem === null; i++) {
      tree.set(bytes.subarray(SLOT * i, SLOT * (i + 1)), STACK_AT + depth * SLOT);
      grow();
    }
  }
  // The leaf half alone, for the reading thread to take a share: hashes into out, 32 bytes a line,
  // and returns how many lines matched their claim before the first that did not.
  function hashLeaves(bytes, offsets, count, out) {
    var b = view(bytes), o = view(out);
    for (var i = 0; i < count; i++) if (!leaf(b, offsets, i, o, SLOT * i)) return i;
    return count;
  }
  return {
    batch: batch,
    leaves: leaves,
    hashLeaves: hashLeaves,
    failed: function () { return problem !== null; },
    finish: function () { return { problem: problem, size: size, root: root() }; },
  };
}
`;

/** The worker: the stage behind a port. `control` [0] counts batches in flight, [1] is 1 once it failed. */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { hash } = require('node:crypto');
${STAGE_SOURCE}
const stage = createStage(hash, workerData.targets);
const control = new Int32Array(workerData.control);
let error = null;
parentPort.on('message', (m) => {
  if (m.finish) {
    parentPort.postMessage(error === null ? { result: stage.finish() } : { error: error });
    return;
  }
  try {
    if (error !== null || stage.failed()) {
      // stopped at its first problem: the batch is only counted off
    } else if (m.offsets) stage.batch(new Uint8Array(m.bytes), new Int32Array(m.offsets), m.count);
    else stage.leaves(new Uint8Array(m.bytes), m.count);
  } catch (err) {
    error = String(err && err.stack || err);
  }
  if (error !== null || stage.failed()) Atomics.store(control, 1, 1);
  Atomics.sub(control, 0, 1);
  Atomics.notify(control, 0);
});
`;

type StageProblem = { kind: 'record_hash'; sequence: number } | { kind: 'root'; target: number; root: string };

interface StageResult {
  problem: StageProblem | null;
  size: number;
  root: string;
}

interface Stage {
  batch(bytes: Uint8Array, offsets: Int32Array, count: number): void;
  leaves(bytes: Uint8Array, count: number): void;
  hashLeaves(bytes: Uint8Array, offsets: Int32Array, count: number, out: Uint8Array): number;
  failed(): boolean;
  finish(): StageResult;
}

/** The stage's text made a function on this thread (the same text the worker runs). */
function createStage(targets: readonly StageTarget[]): Stage {
  const create = new Function('Buffer', `${STAGE_SOURCE}\nreturn createStage;`)(Buffer) as (
    hash: typeof oneShot,
    targets: readonly StageTarget[],
  ) => Stage;
  return create(oneShot, targets);
}

interface StageTarget {
  size: number;
  root: string;
}

/** Where the stage runs: this thread, or a worker. */
interface StageHost {
  /** True when the batch's buffers are handed over (a worker), so new ones are needed. */
  readonly transfers: boolean;
  /** True when the stage has all the batches it may queue: the reader should not add to them. */
  behind(): boolean;
  send(bytes: Buffer, offsets: Int32Array, count: number): void;
  /** Leaf hashes the reader computed itself (32 bytes each), to add to the tree. */
  sendLeaves(leaves: Buffer, count: number): void;
  failed(): boolean;
  finish(): Promise<StageResult>;
  close(): void;
}

class InlineStage implements StageHost {
  readonly transfers = false;
  private readonly stage: Stage;

  constructor(targets: readonly StageTarget[]) {
    this.stage = createStage(targets);
  }

  behind(): boolean {
    return false;
  }

  send(bytes: Buffer, offsets: Int32Array, count: number): void {
    this.stage.batch(bytes, offsets, count);
  }

  sendLeaves(leaves: Buffer, count: number): void {
    this.stage.leaves(leaves, count);
  }

  failed(): boolean {
    return this.stage.failed();
  }

  async finish(): Promise<StageResult> {
    return this.stage.finish();
  }

  close(): void {}
}

/** Batches in flight to the worker before the reader waits: bounds the memory queued. */
const MAX_IN_FLIGHT = 4;
/** How long the reader waits for the worker to take a batch before it gives up. */
const STALL_MS = 120_000;

class WorkerStage implements StageHost {
  readonly transfers = true;
  private readonly control = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;
  private readonly done: Promise<StageResult>;

  constructor(targets: readonly StageTarget[]) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { control: this.control.buffer, targets } });
    this.worker.unref(); // a verifier dropped without finish() does not keep the process alive
    this.done = new Promise<StageResult>((resolve, reject) => {
      this.worker.once('message', (m: { result?: StageResult; error?: string }) =>
        m.result ? resolve(m.result) : reject(new IntegrityError(`the hash stage failed: ${m.error}`)),
      );
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => reject(new IntegrityError(`the hash stage exited (code ${code})`)));
    });
    this.done.catch(() => undefined); // awaited in finish(); never left unhandled
  }

  behind(): boolean {
    return Atomics.load(this.control, 0) >= MAX_IN_FLIGHT;
  }

  send(bytes: Buffer, offsets: Int32Array, count: number): void {
    this.waitForRoom();
    const transfer = [bytes.buffer as ArrayBuffer, offsets.buffer as ArrayBuffer];
    this.worker.postMessage({ bytes: transfer[0], offsets: transfer[1], count }, transfer);
  }

  sendLeaves(leaves: Buffer, count: number): void {
    this.waitForRoom();
    const transfer = leaves.buffer as ArrayBuffer;
    this.worker.postMessage({ bytes: transfer, count }, [transfer]);
  }

  /**
   * The caller is synchronous, so it waits on the counter itself (Atomics.wait) while the worker
   * has MAX_IN_FLIGHT batches; the worker's own event loop keeps taking them meanwhile.
   */
  private waitForRoom(): void {
    const started = Date.now();
    for (let n = Atomics.load(this.control, 0); n >= MAX_IN_FLIGHT; n = Atomics.load(this.control, 0)) {
      if (Date.now() - started > STALL_MS) throw new IntegrityError('the hash stage stopped taking batches');
      Atomics.wait(this.control, 0, n, 100);
    }
    Atomics.add(this.control, 0, 1);
  }

  failed(): boolean {
    return Atomics.load(this.control, 1) !== 0;
  }

  finish(): Promise<StageResult> {
    this.worker.ref(); // awaited now: the answer must keep the process alive until it comes
    this.worker.postMessage({ finish: true });
    return this.done;
  }

  close(): void {
    void this.worker.terminate();
  }
}

interface Target {
  size: number;
  root: string;
  /** The archive key; absent for a known checkpoint. */
  key?: string;
  cp: SignedCheckpoint;
}

// Problems are merged by their place in the log: checkpoint problems first, a root at size T just
// before record T, and within a record its form, then its hash, then the rest. floor((place + 1) / 4)
// is the number of records before the place.
const BEFORE_RECORDS = -2;
const RANK_FORM = 0;
const RANK_HASH = 1;
const RANK_REST = 2;
const placeOfRecord = (sequence: number, rank: number) => 4 * sequence + rank;
const placeOfRoot = (size: number) => 4 * size - 1;
const AFTER_RECORDS = Number.MAX_VALUE;

/** How a line fared here: rejected before it could be hashed, rejected after, or passed. */
const LINE_REJECTED = 0;
const LINE_SENT_AND_REJECTED = 1;
const LINE_PASSED = 2;

const DEFAULT_BATCH_BYTES = 1024 * 1024;

/**
 * The streaming verifier. Add every checkpoint first (addCheckpoint, in key order), then every
 * record object in log order (addObject), then await finish(). After the first problem the rest
 * is skipped (see `failed`, to stop reading early). close() ends a verifier given up on.
 */
export class LogVerifier {
  private readonly publicKey: KeyObject;
  private readonly keyId: string;
  private origin: string | undefined;
  private readonly known: readonly SignedCheckpoint[];
  private readonly parallel: boolean;
  private readonly batchBytes: number;
  private problem: VerifyProblem | undefined;
  /** The problem's place in the log (placeOfRecord, placeOfRoot, BEFORE_RECORDS). */
  private problemAt = Number.POSITIVE_INFINITY;
  private sealed = false;
  private finished = false;
  private readonly archived: SignedCheckpoint[] = [];
  private targets: Target[] = [];
  /** Targets whose time has been compared with their last record's (record() walks them). */
  private timed = 0;
  /** The targets the hash stage compares (size > 0; size 0 is compared at once). */
  private stageTargets: Target[] = [];
  /** Records below this size are covered by a checkpoint and take the fast path (see the top). */
  private covered = 0;
  private next = 0;
  /** The previous record's `hash` member, as text: the next prev_hash must be it. */
  private prevHash = GENESIS_HASH;
  private readonly objectKeys: string[] = [];
  private readonly objectFirsts: number[] = [];
  // The batch being filled for the hash stage: bytes, and 3 offsets per line (start, member, end).
  private bytes: Buffer;
  private offsets: Int32Array;
  private used = 0;
  private lines = 0;
  private stage: StageHost | undefined;
  /** Lines handed to the stage so far: the sequence of the next batch's first line. */
  private sent = 0;
  /** The stage's leaf half on this thread, for the batches it hashes itself (see flush). */
  private leafHasher: Stage | undefined;
  /** Where the line at hand has its members (set by record and locateTail). */
  private memberAt = 0;
  private prevHashAt = 0;
  private sequenceAt = 0;
  private sequenceEnd = 0;
  private timestampAt = 0;

  constructor(opts: LogVerifierOptions) {
    this.publicKey = opts.publicKey;
    this.keyId = keyIdOf(spkiDerOf(opts.publicKey));
    this.origin = opts.origin;
    this.known = opts.knownCheckpoints ?? [];
    // A worker only pays where a second core runs it: on one, the hand-over is pure cost.
    this.parallel = opts.parallel ?? availableParallelism() > 1;
    this.batchBytes = Math.max(4096, opts.batchBytes ?? DEFAULT_BATCH_BYTES);
    this.bytes = ownBuffer(this.batchBytes);
    this.offsets = offsetsFor(this.batchBytes);
  }

  /** True once a problem is found: whatever is added later is not looked at. */
  get failed(): boolean {
    return this.problem !== undefined || (this.stage?.failed() ?? false);
  }

  /** An archived checkpoint, by its key and text (undefined: listed but unreadable). */
  addCheckpoint(key: string, text: string | undefined): void {
    if (this.sealed) throw new VerifierUsageError('checkpoints must all be added before the first record object');
    if (this.problem) return;
    const at = { checkpoint_key: key };
    if (text === undefined) {
      this.fail(BEFORE_RECORDS, {
        kind: 'checkpoint_format',
        message: 'the checkpoint is listed but cannot be read',
        ...at,
      });
      return;
    }
    let cp: SignedCheckpoint;
    try {
      cp = parseCheckpoint(text);
    } catch (err) {
      this.fail(BEFORE_RECORDS, { kind: 'checkpoint_format', message: messageOf(err), ...at });
      return;
    }
    const where = { ...at, tree_size: cp.tree_size };
    if (key !== checkpointKey(cp.tree_size)) {
      const message = `a checkpoint of size ${cp.tree_size} must be ${checkpointKey(cp.tree_size)}`;
      this.fail(BEFORE_RECORDS, { kind: 'checkpoint_key', message, ...where });
      return;
    }
    const issue = this.checkpointIssue(cp);
    if (issue) {
      this.fail(BEFORE_RECORDS, { ...issue, ...where });
      return;
    }
    const last = this.archived[this.archived.length - 1];
    if (last && cp.tree_size <= last.tree_size) {
      const message = `size ${cp.tree_size} does not follow size ${last.tree_size}`;
      this.fail(BEFORE_RECORDS, { kind: 'checkpoint_order', message, ...where });
      return;
    }
    // Timestamps are not required to rise with the size: concurrent writers each sign the head
    // they committed, and one whose signing is slow can sign a smaller tree later than another
    // signs a larger one. Each checkpoint is still true (the log held at least tree_size records
    // at its time), and refusing the order would fail an honest, write-once log for ever.
    this.archived.push(cp);
  }

  /** A record object, by its key and body (undefined: listed but unreadable), in log order. */
  addObject(key: string, body: string | Uint8Array | undefined): void {
    if (this.finished) throw new VerifierUsageError('the verifier has finished');
    this.seal();
    if (this.failed) return;
    const text = this.objectText(key, body);
    if (text === undefined) return;
    this.objectKeys.push(key);
    this.objectFirsts.push(this.next);
    const length = text.length;
    // Room for the object's UTF-8 (3 bytes at most per UTF-16 unit) in the batch.
    if (this.used + 3 * length > this.bytes.length - CLAIM_BYTES) {
      if (this.used > 0) this.flush(false);
      if (3 * length > this.bytes.length - CLAIM_BYTES) {
        this.bytes = ownBuffer(3 * length);
        this.offsets = offsetsFor(3 * length);
      }
    }
    const base = this.used;
    const written = this.bytes.write(text, base, 'utf8');
    // The byte count equals the length exactly when every unit is ASCII: then a character offset
    // is a byte offset; otherwise each line's offsets are counted in bytes.
    const ascii = written === length;
    let cursor = base;
    let start = 0;
    for (let line = 1; start < length; line++) {
      const end = text.indexOf('\n', start);
      const fate = this.record(key, text, start, end, line);
      if (fate !== LINE_REJECTED) {
        const h = this.memberAt;
        let o = 3 * this.lines;
        if (ascii) {
          this.offsets[o++] = base + start;
          this.offsets[o++] = base + h;
          this.offsets[o] = base + end;
        } else {
          const at = cursor + Buffer.byteLength(text.slice(start, h), 'utf8');
          const stop = at + HASH_MEMBER_LENGTH + Buffer.byteLength(text.slice(h + HASH_MEMBER_LENGTH, end), 'utf8');
          this.offsets[o++] = cursor;
          this.offsets[o++] = at;
          this.offsets[o] = stop;
          cursor = stop + 1;
        }
        this.lines += 1;
      }
      if (fate !== LINE_PASSED) break;
      start = end + 1;
    }
    this.used = base + written;
  }

  /** Runs what is left of the hash stage and reports. The verifier is done after it. */
  async finish(): Promise<VerifyReport> {
    if (this.finished) throw new VerifierUsageError('the verifier has finished');
    this.seal();
    this.finished = true;
    let result: StageResult | undefined;
    if (this.problemAt !== BEFORE_RECORDS) {
      try {
        this.flush(true);
        result = await (this.stage as StageHost).finish();
      } finally {
        this.close();
      }
    }
    if (result?.problem) this.stageProblem(result.problem);
    const missing = this.stageTargets.find((t) => t.size > (result?.size ?? 0));
    if (!this.problem && missing) {
      this.fail(AFTER_RECORDS, {
        kind: 'truncated',
        message:
          `the ${missing.key ? 'checkpoint' : 'known checkpoint'} of size ${missing.size} covers records ` +
          `${this.next}..${missing.size - 1}, which the archive does not hold`,
        sequence: this.next,
        event_id: eventIdFor(this.next),
        tree_size: missing.size,
        ...(missing.key ? { checkpoint_key: missing.key } : {}),
      });
    }
    if (this.problem || !result) {
      const before = this.problemAt === AFTER_RECORDS ? this.next : Math.max(0, Math.floor((this.problemAt + 1) / 4));
      const problem = this.problem ?? { kind: 'record_format', message: 'nothing was verified' };
      return { ok: false, problem, records_verified: before };
    }
    let latest: Target | undefined;
    for (const t of this.targets) if (!latest || t.size > latest.size) latest = t;
    const unsigned = this.next - (latest?.size ?? 0);
    return {
      ok: true,
      records: this.next,
      objects: this.objectKeys.length,
      checkpoints: this.archived.length,
      known_checkpoints: this.known.length,
      root_hash: result.root,
      latest_checkpoint: latest?.cp ?? null,
      unsigned_tail: unsigned,
      ...(unsigned > 0
        ? {
            unsigned_tail_note:
              `${unsigned} record(s) after the latest checkpoint are protected only by the hash chain: ` +
              'no signature covers them yet, so whoever can write the archive could still rewrite them unnoticed',
          }
        : {}),
    };
  }

  /** Stops the hash stage's worker, if any (finish() does it; for a verifier given up on). */
  close(): void {
    this.stage?.close();
  }

  /** Keeps the problem that comes first in the log. */
  private fail(at: number, problem: VerifyProblem): void {
    if (at < this.problemAt) {
      this.problemAt = at;
      this.problem = problem;
    }
  }

  /** Signer, signature, then origin: the kinds a checkpoint can fail with beyond its form. */
  private checkpointIssue(cp: SignedCheckpoint): Pick<VerifyProblem, 'kind' | 'message'> | undefined {
    if (cp.key_id !== this.keyId) {
      return {
        kind: 'checkpoint_signer',
        message: `signed by key ${cp.key_id.slice(0, 16)}…, not the given key ${this.keyId.slice(0, 16)}…`,
      };
    }
    // checkpoint.ts's checkpointProblem, without exporting the key again for each checkpoint.
    let valid = false;
    try {
      const body = Buffer.from(checkpointBody(cp), 'utf8');
      valid = verify('sha256', body, { key: this.publicKey, dsaEncoding: 'der' }, Buffer.from(cp.signature, 'base64'));
    } catch {
      valid = false;
    }
    if (!valid) return { kind: 'checkpoint_signature', message: 'signature does not verify' };
    if (this.origin === undefined) this.origin = cp.origin;
    else if (cp.origin !== this.origin) {
      return {
        kind: 'checkpoint_origin',
        message: `origin ${JSON.stringify(cp.origin)} is not ${JSON.stringify(this.origin)}`,
      };
    }
    return undefined;
  }

  /** Ends the checkpoint phase: checks the known checkpoints and lines up every root to compare. */
  private seal(): void {
    if (this.sealed) return;
    this.sealed = true;
    if (this.problem) return;
    const bySize = new Map(this.archived.map((cp) => [cp.tree_size, cp]));
    for (const cp of this.known) {
      const at = { tree_size: cp.tree_size };
      const issue = this.checkpointIssue(cp);
      if (issue) {
        this.fail(BEFORE_RECORDS, {
          ...issue,
          message: `known checkpoint of size ${cp.tree_size}: ${issue.message}`,
          ...at,
        });
        return;
      }
      const same = bySize.get(cp.tree_size);
      if (same && same.root_hash !== cp.root_hash) {
        this.fail(BEFORE_RECORDS, {
          kind: 'fork',
          message: `the key signed two roots for size ${cp.tree_size}: ${same.root_hash} (archived) and ${cp.root_hash} (known)`,
          checkpoint_key: checkpointKey(cp.tree_size),
          ...at,
        });
        return;
      }
    }
    this.targets = [
      ...this.archived.map((cp) => ({ size: cp.tree_size, root: cp.root_hash, key: checkpointKey(cp.tree_size), cp })),
      ...this.known.map((cp) => ({ size: cp.tree_size, root: cp.root_hash, cp })),
    ].sort((a, b) => a.size - b.size); // stable: an archived checkpoint before a known one of its size
    this.covered = this.targets.reduce((m, t) => Math.max(m, t.size), 0);
    const empty = EMPTY_ROOT.toString('hex');
    for (const t of this.targets) {
      if (t.size === 0 && t.root !== empty) this.rootProblem(t, empty);
    }
    this.stageTargets = this.targets.filter((t) => t.size > 0);
  }

  private rootProblem(t: Target, root: string): void {
    this.fail(t.size === 0 ? -1 : placeOfRoot(t.size), {
      kind: t.key ? 'root_mismatch' : 'fork',
      message: t.key
        ? `the records' Merkle root at size ${t.size} is ${root}, not the signed ${t.root}`
        : `the known checkpoint of size ${t.size} signed root ${t.root}; the archive's records give ${root}`,
      tree_size: t.size,
      ...(t.key ? { checkpoint_key: t.key } : {}),
    });
  }

  private stageProblem(p: StageProblem): void {
    if (p.kind === 'root') {
      const t = this.stageTargets[p.target];
      if (t) this.rootProblem(t, p.root);
      return;
    }
    // The object holding the record: the last one starting at or before it.
    let lo = 0;
    let hi = this.objectFirsts.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if ((this.objectFirsts[mid] as number) <= p.sequence) lo = mid;
      else hi = mid - 1;
    }
    this.fail(placeOfRecord(p.sequence, RANK_HASH), {
      kind: 'record_hash',
      message: "the record's hash does not match its content",
      sequence: p.sequence,
      event_id: eventIdFor(p.sequence),
      object_key: this.objectKeys[lo] as string,
      line: p.sequence - (this.objectFirsts[lo] as number) + 1,
    });
  }

  /**
   * Hands the batch to the hash stage, starting it first: in a worker unless this is the last. When
   * the worker is behind, this thread hashes the batch's leaves itself instead of waiting, and hands
   * over only the leaf hashes, which cost the worker a node hash each rather than a leaf and a node:
   * the work shares itself out between the two threads, whatever their speeds.
   */
  private flush(last: boolean): void {
    if (!this.stage) {
      const targets = this.stageTargets.map((t) => ({ size: t.size, root: t.root }));
      this.stage = this.parallel && !last ? new WorkerStage(targets) : new InlineStage(targets);
    }
    const first = this.sent;
    this.sent += this.lines;
    let handedOver = false;
    if (this.lines > 0 && this.stage.transfers && this.stage.behind()) {
      this.leafHasher ??= createStage([]);
      const leaves = Buffer.from(new ArrayBuffer(HASH_BYTES * this.lines));
      const good = this.leafHasher.hashLeaves(this.bytes, this.offsets, this.lines, leaves);
      this.stage.sendLeaves(leaves, good);
      if (good < this.lines) this.stageProblem({ kind: 'record_hash', sequence: first + good });
    } else if (this.lines > 0) {
      this.stage.send(this.bytes, this.offsets, this.lines);
      handedOver = this.stage.transfers;
    }
    // A worker was handed the buffers (they are detached here now): fresh ones for the next batch.
    if (handedOver && !last) {
      this.bytes = ownBuffer(this.batchBytes);
      this.offsets = offsetsFor(this.batchBytes);
    }
    this.used = 0;
    this.lines = 0;
  }

  /** The object's text, or undefined (and the problem set) if it is not lines of UTF-8. */
  private objectText(key: string, body: string | Uint8Array | undefined): string | undefined {
    const fail = (message: string) => {
      const at = placeOfRecord(this.next, RANK_FORM);
      this.fail(at, {
        kind: 'object_format',
        message,
        object_key: key,
        sequence: this.next,
        event_id: eventIdFor(this.next),
      });
      return undefined;
    };
    if (body === undefined) return fail('the object is listed but cannot be read');
    let text: string;
    if (typeof body === 'string') {
      // A string holding a lone surrogate did not come from UTF-8 bytes; its encoding would not be its text.
      if (!(body as unknown as { isWellFormed(): boolean }).isWellFormed())
        return fail('the object is not valid Unicode text');
      text = body;
    } else {
      if (!isUtf8(body)) return fail('the object is not valid UTF-8');
      text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    }
    if (text.length === 0 || text.charCodeAt(text.length - 1) !== NEWLINE) {
      return fail('an object is one or more lines, each ended by a newline');
    }
    return text;
  }

  /** Checks the text of line text[s, e) as record `this.next` (its hash is the stage's). */
  private record(key: string, text: string, s: number, e: number, line: number): number {
    const seq = this.next;
    if (seq >= this.covered) {
      try {
        parseRecordLine(text.slice(s, e));
      } catch (err) {
        return this.rejectLine('record_format', messageOf(err), key, line);
      }
    }
    // Locate the members (see the top of this file for why the text is enough).
    const h = hashMemberAt(text, s, e);
    if (
      text.charCodeAt(s) !== 0x7b ||
      h < 0 ||
      h + HASH_MEMBER_LENGTH >= e ||
      text.charCodeAt(h + HASH_MEMBER_LENGTH - 1) !== QUOTE
    ) {
      return this.rejectLine('record_format', 'no top-level "hash" member', key, line);
    }
    const v = text.indexOf(EVENT_ID_MEMBER, s);
    if (v < 0 || v > h || !this.locateTail(text, h + HASH_MEMBER_LENGTH, e)) {
      const message = 'event_id, prev_hash, reason, sequence or timestamp is missing or out of place';
      return this.rejectLine('record_format', message, key, line);
    }
    this.memberAt = h;
    // From here the line goes to the hash stage whatever else is wrong with it: its hash comes first.
    const found = sequenceAt(text, this.sequenceAt, this.sequenceEnd);
    if (found === undefined) {
      return this.rejectLine(
        'record_format',
        'sequence is not a canonical whole number',
        key,
        line,
        LINE_SENT_AND_REJECTED,
      );
    }
    if (found !== seq)
      return this.rejectLine('sequence', sequenceMessage(seq, found, line), key, line, LINE_SENT_AND_REJECTED);
    if (!isEventIdOf(text, v + EVENT_ID_MEMBER.length, seq)) {
      return this.rejectLine('event_id', `event_id must be ${eventIdFor(seq)}`, key, line, LINE_SENT_AND_REJECTED);
    }
    // slice and === rather than startsWith(x, position), which measured slower here on Node 20.
    if (text.slice(this.prevHashAt, this.prevHashAt + 64) !== this.prevHash) {
      const message =
        seq === 0 ? 'the first record must link to the genesis hash' : "prev_hash is not the previous record's hash";
      return this.rejectLine('prev_hash', message, key, line, LINE_SENT_AND_REJECTED);
    }
    if (line === 1) {
      const date = text.slice(this.timestampAt, this.timestampAt + 10);
      const expected = archiveKeyFor({ timestamp: date, sequence: seq });
      if (key !== expected) {
        const message = `an object starting with this record must be ${expected}`;
        return this.rejectLine('object_key', message, key, line, LINE_SENT_AND_REJECTED);
      }
    }
    // A checkpoint cannot have been signed before the last record it covers was written (a
    // backdated one is refused), give or take the clocks of different machines.
    while (this.timed < this.targets.length && (this.targets[this.timed] as Target).size <= seq + 1) {
      const t = this.targets[this.timed] as Target;
      this.timed += 1;
      if (t.size !== seq + 1) continue;
      const written = parseNs(text.slice(this.timestampAt, this.timestampAt + 30));
      const signed = parseNs(t.cp.timestamp);
      if (written !== undefined && signed !== undefined && signed + CLOCK_SKEW_NS < written) {
        const message = `the checkpoint of size ${t.size} says it was signed at ${t.cp.timestamp}, before its last record was written`;
        return this.rejectLine('checkpoint_time', message, key, line, LINE_SENT_AND_REJECTED);
      }
    }
    this.prevHash = text.slice(h + HASH_MEMBER.length, h + HASH_MEMBER_LENGTH - 1);
    this.next = seq + 1;
    return LINE_PASSED;
  }

  /**
   * Finds the top-level members after `input` by walking back from the line's end, which in a
   * canonical record is `,"prev_hash":"<64 hex>","reason":"…","sequence":N,"timestamp":"…"`, then
   * `,"trader_id":"…"` if present, then `}`; sets the fields below. Walking back over the strings
   * is cheaper than String#lastIndexOf, a runtime call on Node 20, and exact: a string's opening
   * quote is the first quote before its end not escaped by an odd run of backslashes.
   */
  private locateTail(text: string, lo: number, e: number): boolean {
    if (text.charCodeAt(e - 1) !== 0x7d || text.charCodeAt(e - 2) !== QUOTE) return false;
    let open = stringStart(text, e - 2, lo);
    if (open >= 0 && text.slice(open - TRADER_KEY.length, open) === TRADER_KEY) {
      const close = open - TRADER_KEY.length - 1; // the timestamp's closing quote
      open = text.charCodeAt(close) === QUOTE ? stringStart(text, close, lo) : -1;
    }
    if (open <= lo || text.slice(open - TIMESTAMP_KEY.length, open) !== TIMESTAMP_KEY) return false;
    this.timestampAt = open + 1;
    const digitsEnd = open - TIMESTAMP_KEY.length;
    let d = digitsEnd;
    while (d > lo && isDigit(text.charCodeAt(d - 1))) d--;
    if (d === digitsEnd || text.slice(d - SEQUENCE_MEMBER.length, d) !== SEQUENCE_MEMBER) return false;
    this.sequenceAt = d;
    this.sequenceEnd = digitsEnd;
    const reasonClose = d - SEQUENCE_MEMBER.length - 1;
    const reasonOpen = text.charCodeAt(reasonClose) === QUOTE ? stringStart(text, reasonClose, lo) : -1;
    if (reasonOpen < 0 || text.slice(reasonOpen - REASON_KEY.length, reasonOpen) !== REASON_KEY) return false;
    const prevClose = reasonOpen - REASON_KEY.length - 1;
    const prevAt = prevClose - 64;
    if (text.charCodeAt(prevClose) !== QUOTE || prevAt - PREV_MEMBER.length < lo) return false;
    if (text.slice(prevAt - PREV_MEMBER.length, prevAt) !== PREV_MEMBER) return false;
    this.prevHashAt = prevAt;
    return true;
  }

  private rejectLine(
    kind: VerifyProblemKind,
    message: string,
    key: string,
    line: number,
    fate = LINE_REJECTED,
  ): number {
    const seq = this.next;
    const rank = fate === LINE_REJECTED ? RANK_FORM : RANK_REST;
    this.fail(placeOfRecord(seq, rank), {
      kind,
      message,
      sequence: seq,
      event_id: eventIdFor(seq),
      object_key: key,
      line,
    });
    return fate;
  }
}

/**
 * A batch buffer for `size` bytes of records and the stage's scratch after them, over its own
 * ArrayBuffer (never Node's shared pool), so it can be transferred.
 */
function ownBuffer(size: number): Buffer {
  return Buffer.from(new ArrayBuffer(size + CLAIM_BYTES));
}

/** Offsets for a batch of `bytes` bytes: every line sent holds a 74-byte hash member, so fewer lines. */
function offsetsFor(bytes: number): Int32Array {
  return new Int32Array(3 * Math.ceil(bytes / HASH_MEMBER_LENGTH));
}

/** The digits text[i, end) as a canonical whole number (no leading zero, safe), or undefined. */
function sequenceAt(text: string, i: number, end: number): number | undefined {
  if (end - i > 16 || (end - i > 1 && text.charCodeAt(i) === 0x30)) return undefined;
  let n = 0;
  for (let j = i; j < end; j++) n = n * 10 + (text.charCodeAt(j) - 0x30);
  return Number.isSafeInteger(n) ? n : undefined;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * The index of the quote opening the JSON string whose closing quote is at `close`, or -1 if
 * there is none after `lo`: the nearest quote before it that an even run of backslashes precedes.
 */
function stringStart(text: string, close: number, lo: number): number {
  for (let i = close - 1; i > lo; i--) {
    if (text.charCodeAt(i) !== QUOTE) continue;
    let k = i - 1;
    while (k > lo && text.charCodeAt(k) === BACKSLASH) k--;
    if ((i - 1 - k) % 2 === 0) return i;
  }
  return -1;
}

/** Is text[at..) `EVT-`, then `seq` in 20 digits, then a quote? (eventIdFor, without building it.) */
function isEventIdOf(text: string, at: number, seq: number): boolean {
  if (text.slice(at, at + 4) !== 'EVT-' || text.charCodeAt(at + 24) !== QUOTE) return false;
  // A 20-digit value at or above 2^53 may round, but never down to a safe integer, so never equals seq.
  let n = 0;
  for (let i = at + 4; i < at + 24; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return false;
    n = n * 10 + (c - 0x30);
  }
  return n === seq;
}

function sequenceMessage(expected: number, found: number, line: number): string {
  if (found > expected) {
    const gap =
      found - expected === 1 ? `record ${expected} is missing` : `records ${expected}..${found - 1} are missing`;
    return line === 1 ? `${gap}: the object starts at ${found}` : `${gap}: found ${found}`;
  }
  return line === 1
    ? `the object starts at ${found}, overlapping records already verified (expected ${expected})`
    : `expected sequence ${expected}, found ${found} (repeated or out of order)`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface VerifyArchiveOptions extends LogVerifierOptions {
  /** Objects read ahead while one is verified (network latency hides behind hashing). Default 8. */
  prefetch?: number;
}

/** Verifies everything in an archive: its checkpoints, then its record objects in log order. */
export async function verifyArchive(archive: ArchiveReader, opts: VerifyArchiveOptions): Promise<VerifyReport> {
  const verifier = new LogVerifier(opts);
  try {
    const prefetch = Math.max(1, opts.prefetch ?? 8);
    const checkpoints = [...(await archive.list(CHECKPOINT_PREFIX))].sort();
    await readInOrder(archive, checkpoints, prefetch, verifier, (key, text) => verifier.addCheckpoint(key, text));
    if (!verifier.failed) {
      const objects = sortRecordKeys(await archive.list(RECORDS_PREFIX));
      await readInOrder(archive, objects, prefetch, verifier, (key, body) => verifier.addObject(key, body));
    }
    return await verifier.finish();
  } finally {
    verifier.close();
  }
}

/** Reads keys with up to `window` gets in flight, handing each body over in key order. */
async function readInOrder(
  archive: ArchiveReader,
  keys: readonly string[],
  window: number,
  verifier: LogVerifier,
  take: (key: string, body: string | undefined) => void,
): Promise<void> {
  const inFlight: Array<Promise<string | undefined>> = [];
  const start = (i: number) => {
    const key = keys[i];
    if (key === undefined) return;
    const p = archive.get(key);
    p.catch(() => undefined); // read (and thrown) in order below; never left unhandled if we stop early
    inFlight.push(p);
  };
  for (let i = 0; i < Math.min(window, keys.length); i++) start(i);
  for (let i = 0; i < keys.length && !verifier.failed; i++) {
    const body = await (inFlight.shift() as Promise<string | undefined>);
    start(i + window);
    take(keys[i] as string, body);
  }
}
