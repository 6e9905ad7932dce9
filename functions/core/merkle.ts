// The audit log's Merkle tree, as RFC 9162 (Certificate Transparency v2) section 2.1 defines it:
// SHA-256, leaves hashed as H(0x00 || data), interior nodes as H(0x01 || left || right), and for
// n > 1 leaves the split at k, the largest power of two below n. A record's `hash` field is its
// leaf hash (audit-chain.ts), so the hash chain and the tree are over the same bytes.
//
// The appender keeps only the frontier: the roots of the perfect subtrees that make up the tree
// (one per set bit of its size, largest first). Pushing a leaf costs one hash plus one per subtree
// it completes (amortised one), and the root folds the frontier from the right.
//
// Sizes and indices are plain numbers up to 2^53 - 1, so the RFC's bit operations are written as
// arithmetic (% 2, / 2): JavaScript's bitwise operators truncate to 32 bits.
import { hash as oneShot } from 'node:crypto';

export const HASH_BYTES = 32;
const LEAF_PREFIX = Buffer.from([0x00]);

export class MerkleError extends Error {
  override readonly name = 'MerkleError';
}

function sha256(data: Uint8Array): Buffer {
  // The digest as a latin1 ('binary') string, then copied into a Buffer: about twice as fast on Node 20 as
  // asking crypto.hash for a Buffer, which allocates a fresh backing store for every 32 bytes.
  return Buffer.from(oneShot('sha256', data, 'binary'), 'latin1');
}

/** H(0x00 || data): data is the leaf's bytes (a string is taken as UTF-8). */
export function leafHash(data: Uint8Array | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return sha256(Buffer.concat([LEAF_PREFIX, bytes]));
}

// One buffer for every interior node's input: hashing is synchronous and consumes it at once, and
// a node is hashed per leaf on average, so not allocating (and concatenating) here matters.
const nodeInput = Buffer.alloc(1 + 2 * HASH_BYTES);
nodeInput[0] = 0x01;

/** H(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_BYTES || right.length !== HASH_BYTES)
    throw new MerkleError('node children must be 32-byte hashes');
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_BYTES);
  return sha256(nodeInput);
}

/** MTH of the empty tree: the hash of the empty string. */
export const EMPTY_ROOT: Buffer = sha256(Buffer.alloc(0));

// MerkleFrontier's buffer: 0x01, then the two children being hashed (so the node's input is one
// contiguous view, made once), then a slot per stack node, then one slot where root() folds.
const CHILDREN_AT = 1;
const STACK_AT = 1 + 2 * HASH_BYTES;
/** A size below 2^53 has at most 53 set bits, so at most 53 perfect subtrees. */
const MAX_NODES = 53;
const FOLD_AT = STACK_AT + MAX_NODES * HASH_BYTES;
const FRONTIER_BYTES = FOLD_AT + HASH_BYTES;

/**
 * The roots of the perfect subtrees of a tree of `size` leaves, largest first: one per set bit.
 * The nodes live in one buffer and are hashed in place: a push allocates nothing but the digest's
 * string, which matters to the verifier, which pushes every record of the log.
 */
export class MerkleFrontier {
  private readonly nodeInput: Buffer;

  private constructor(
    private n: number,
    private depth: number,
    private readonly buf: Buffer,
  ) {
    this.nodeInput = buf.subarray(0, STACK_AT);
  }

  static empty(): MerkleFrontier {
    const buf = Buffer.alloc(FRONTIER_BYTES);
    buf[0] = 0x01;
    return new MerkleFrontier(0, 0, buf);
  }

  /** Restores a frontier as stored (hex, largest subtree first); its length must match the size. */
  static fromHex(size: number, hex: readonly string[]): MerkleFrontier {
    if (!Number.isSafeInteger(size) || size < 0) throw new MerkleError(`bad tree size ${size}`);
    if (hex.length !== popcount(size)) {
      throw new MerkleError(`a tree of ${size} leaves has ${popcount(size)} frontier nodes, not ${hex.length}`);
    }
    const f = MerkleFrontier.empty();
    hex.forEach((h, i) => {
      if (!/^[0-9a-f]{64}$/.test(h)) throw new MerkleError('frontier node is not a 64-digit lower-case hex hash');
      f.buf.write(h, STACK_AT + i * HASH_BYTES, HASH_BYTES, 'hex');
    });
    f.n = size;
    f.depth = hex.length;
    return f;
  }

  get size(): number {
    return this.n;
  }

  copy(): MerkleFrontier {
    return new MerkleFrontier(this.n, this.depth, Buffer.from(this.buf));
  }

  /** Appends a leaf by its leaf hash. */
  push(leaf: Uint8Array): void {
    if (leaf.length !== HASH_BYTES) throw new MerkleError('a leaf hash is 32 bytes');
    this.buf.set(leaf, STACK_AT + this.depth * HASH_BYTES);
    this.settle();
  }

  /** Appends a leaf by its leaf hash in hex (64 digits). */
  pushHex(leaf: string): void {
    const at = STACK_AT + this.depth * HASH_BYTES;
    if (leaf.length !== 2 * HASH_BYTES || this.buf.write(leaf, at, HASH_BYTES, 'hex') !== HASH_BYTES) {
      throw new MerkleError('a leaf hash is 64 hex digits');
    }
    this.settle();
  }

  /** The new leaf is in the slot above the stack: merge it with each subtree it completes. */
  private settle(): void {
    let top = this.depth;
    // Each trailing 1 bit of the old size is a perfect subtree the new leaf completes.
    for (let m = this.n; m % 2 === 1; m = (m - 1) / 2) {
      const left = STACK_AT + (top - 1) * HASH_BYTES;
      this.buf.copyWithin(CHILDREN_AT, left, left + 2 * HASH_BYTES);
      this.buf.write(oneShot('sha256', this.nodeInput, 'binary'), left, HASH_BYTES, 'latin1');
      top -= 1;
    }
    this.depth = top + 1;
    this.n += 1;
  }

  root(): Buffer {
    if (this.depth === 0) return Buffer.from(EMPTY_ROOT);
    const top = STACK_AT + (this.depth - 1) * HASH_BYTES;
    this.buf.copyWithin(FOLD_AT, top, top + HASH_BYTES);
    for (let i = this.depth - 2; i >= 0; i--) {
      const at = STACK_AT + i * HASH_BYTES;
      this.buf.copyWithin(CHILDREN_AT, at, at + HASH_BYTES);
      this.buf.copyWithin(CHILDREN_AT + HASH_BYTES, FOLD_AT, FOLD_AT + HASH_BYTES);
      this.buf.write(oneShot('sha256', this.nodeInput, 'binary'), FOLD_AT, HASH_BYTES, 'latin1');
    }
    return Buffer.from(this.buf.subarray(FOLD_AT, FOLD_AT + HASH_BYTES));
  }

  toHex(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.depth; i++)
      out.push(this.buf.toString('hex', STACK_AT + i * HASH_BYTES, STACK_AT + (i + 1) * HASH_BYTES));
    return out;
  }
}

function popcount(n: number): number {
  let c = 0;
  for (let m = n; m > 0; m = Math.floor(m / 2)) c += m % 2;
  return c;
}

/** The largest power of two strictly below n (n ≥ 2): RFC 9162's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function hashAt(leafHashes: readonly Uint8Array[], i: number): Uint8Array {
  const h = leafHashes[i];
  if (h === undefined || h.length !== HASH_BYTES) throw new MerkleError(`leaf hash ${i} is not a 32-byte hash`);
  return h;
}

/**
 * MTH(D[from:to]) (RFC 9162 2.1.1) of the given leaf hashes: to - from - 1 node hashes. Built
 * bottom-up like the frontier, which yields the same tree as the RFC's recursive split.
 */
export function rootOf(leafHashes: readonly Uint8Array[], from = 0, to = leafHashes.length): Buffer {
  if (!isSize(from) || !isSize(to) || from > to || to > leafHashes.length) {
    throw new MerkleError(`bad leaf range [${from}, ${to}) of ${leafHashes.length} leaves`);
  }
  if (from === to) return EMPTY_ROOT;
  const stack: Uint8Array[] = [];
  for (let i = from; i < to; i++) {
    let node = hashAt(leafHashes, i);
    for (let m = i - from; m % 2 === 1; m = (m - 1) / 2) node = nodeHash(stack.pop() as Uint8Array, node);
    stack.push(node);
  }
  let r = stack[stack.length - 1] as Uint8Array;
  for (let i = stack.length - 2; i >= 0; i--) r = nodeHash(stack[i] as Uint8Array, r);
  return Buffer.isBuffer(r) ? r : Buffer.from(r);
}

/**
 * The inclusion proof of leaf `index` in the tree of the first `size` leaves: RFC 9162 2.1.3.1
 * PATH(m, D[n]), the sibling subtree roots from the leaf up. Each level's sibling is hashed once
 * and the siblings are disjoint, so the whole proof costs fewer than `size` node hashes.
 */
export function inclusionProof(index: number, size: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  if (!isSize(size) || size > leafHashes.length)
    throw new MerkleError(`bad tree size ${size} of ${leafHashes.length} leaves`);
  if (!isSize(index) || index >= size) throw new MerkleError(`leaf index ${index} is not in a tree of ${size} leaves`);
  const path: Buffer[] = [];
  let lo = 0;
  let hi = size;
  let m = index;
  // Top-down: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) or PATH(m - k, D[k:n]) : MTH(D[0:k]).
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (m < k) {
      path.push(rootOf(leafHashes, lo + k, hi));
      hi = lo + k;
    } else {
      path.push(rootOf(leafHashes, lo, lo + k));
      lo += k;
      m -= k;
    }
  }
  return path.reverse();
}

/**
 * RFC 9162 2.1.3.2: does `proof` show the leaf with hash `leaf` at `index` in the tree of `size`
 * leaves whose root is `root`? The root must be bound to the size by other means (a signed
 * checkpoint): a proof can verify for a neighbouring size whose tree has the same shape.
 */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isSize(index) || !isSize(size) || index >= size) return false;
  if (leaf.length !== HASH_BYTES || root.length !== HASH_BYTES) return false;
  let fn = index;
  let sn = size - 1;
  let r: Uint8Array = leaf;
  for (const p of proof) {
    if (sn === 0 || p.length !== HASH_BYTES) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && Buffer.from(r.buffer, r.byteOffset, r.byteLength).equals(root);
}

/**
 * The consistency proof from the tree of the first `m` leaves to that of the first `n`: RFC 9162
 * 2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true). Empty when m is 0 or m = n. Fewer than `n`
 * node hashes, as for an inclusion proof.
 */
export function consistencyProof(m: number, n: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  if (!isSize(n) || n > leafHashes.length) throw new MerkleError(`bad tree size ${n} of ${leafHashes.length} leaves`);
  if (!isSize(m) || m > n) throw new MerkleError(`bad first tree size ${m}: must be 0..${n}`);
  if (m === 0 || m === n) return [];
  const proof: Buffer[] = [];
  let lo = 0;
  let hi = n;
  let mm = m;
  let complete = true; // the RFC's b: the subtree so far is a prefix the first tree's root covers whole
  for (;;) {
    if (mm === hi - lo) {
      if (!complete) proof.push(rootOf(leafHashes, lo, hi));
      break;
    }
    const k = splitPoint(hi - lo);
    if (mm <= k) {
      proof.push(rootOf(leafHashes, lo + k, hi));
      hi = lo + k;
    } else {
      proof.push(rootOf(leafHashes, lo, lo + k));
      lo += k;
      mm -= k;
      complete = false;
    }
  }
  return proof.reverse();
}

function isPowerOfTwo(n: number): boolean {
  let m = n;
  while (m > 1 && m % 2 === 0) m /= 2;
  return m === 1;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * RFC 9162 2.1.4.2: does `proof` show the tree of `m` leaves with root `rootM` is a prefix of the
 * tree of `n` leaves with root `rootN`? For m = n the proof is empty and the roots equal; for
 * m = 0 the proof is empty and rootM must be the empty tree's root (stricter than the RFC, which
 * leaves m = 0 undefined: an empty tree has exactly one root).
 */
export function verifyConsistency(
  m: number,
  n: number,
  rootM: Uint8Array,
  rootN: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isSize(m) || !isSize(n) || m > n) return false;
  if (rootM.length !== HASH_BYTES || rootN.length !== HASH_BYTES) return false;
  if (m === 0) return proof.length === 0 && same(rootM, EMPTY_ROOT);
  if (m === n) return proof.length === 0 && same(rootM, rootN);
  if (proof.length === 0) return false;
  for (const p of proof) if (p.length !== HASH_BYTES) return false;
  // When m is a power of two the first tree is a complete subtree, whose root the proof leaves out.
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : proof;
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr: Uint8Array = path[0] as Uint8Array;
  let sr: Uint8Array = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && same(fr, rootM) && same(sr, rootN);
}
