import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  MerkleError,
  MerkleFrontier,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../functions/core/merkle.js';

const h = (hex: string) => Buffer.from(hex, 'hex');
const hx = (b: Uint8Array) => Buffer.from(b).toString('hex');

// An independent reference, straight from RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1: recursion over
// slices, createHash rather than merkle.ts's hashing, BigInt-free but only ever used on small trees.
const sha = (...parts: Uint8Array[]) => {
  const c = createHash('sha256');
  for (const p of parts) c.update(p);
  return c.digest();
};
const split = (n: number) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
function mth(d: readonly Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return d[0] as Buffer; // already a leaf hash: H(0x00 || data)
  const k = split(d.length);
  return sha(Buffer.from([1]), mth(d.slice(0, k)), mth(d.slice(k)));
}
function path(m: number, d: readonly Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}
function subproof(m: number, d: readonly Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = split(d.length);
  return m <= k
    ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))]
    : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

const leavesOf = (n: number, salt = '') => Array.from({ length: n }, (_, i) => leafHash(`${salt}leaf ${i}`));

// The RFC 6962 / 9162 reference vectors every CT implementation tests against: the 8 leaves, the
// roots of sizes 1..8, and inclusion and consistency proofs, from transparency-dev/merkle
// proof/verify_test.go (the roots first appeared in google/certificate-transparency
// cpp/merkletree/merkle_tree_test.cc, also used by google/trillian testonly/compact_merkle_tree.go).
const VECTOR_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
];
const VECTOR_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
// (index, size, path): the source numbers leaves from 1; these are 0-based.
const VECTOR_INCLUSION: Array<[number, number, string[]]> = [
  [0, 1, []],
  [
    0,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    5,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    1,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
const VECTOR_CONSISTENCY: Array<[number, number, string[]]> = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
];

describe('RFC 6962/9162 reference vectors', () => {
  const leaves = VECTOR_LEAVES.map((d) => leafHash(h(d)));

  it('roots of sizes 0..8', () => {
    expect(hx(rootOf(leaves, 0, 0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hx(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    VECTOR_ROOTS.forEach((root, i) => {
      expect(hx(rootOf(leaves, 0, i + 1))).toBe(root);
      expect(hx(mth(leaves.slice(0, i + 1)))).toBe(root);
      const f = MerkleFrontier.empty();
      for (const l of leaves.slice(0, i + 1)) f.push(l);
      expect(hx(f.root())).toBe(root);
    });
  });

  it.each(VECTOR_INCLUSION)('inclusion proof of leaf %i in size %i is the published one and verifies', (i, n, p) => {
    const proof = inclusionProof(i, n, leaves);
    expect(proof.map(hx)).toEqual(p);
    const root = h(VECTOR_ROOTS[n - 1] as string);
    const leaf = leaves[i] as Buffer;
    expect(verifyInclusion(i, n, leaf, proof, root)).toBe(true);
    // transparency-dev's corruptions of the same proof.
    const some = h('abacaba000000000000000000000000000000000000000000060061e00123456');
    const wrong: Array<[number, number, Buffer, Buffer[], Buffer]> = [
      [i - 1, n, leaf, proof, root],
      [i + 1, n, leaf, proof, root],
      [i ^ 2, n, leaf, proof, root],
      [i, n * 2, leaf, proof, root],
      [i, Math.floor(n / 2), leaf, proof, root],
      [i, n, leafHash('WrongLeaf'), proof, root],
      [i, n, leaf, proof, EMPTY_ROOT],
      [i, n, leaf, proof, some],
      [i, n, leaf, [...proof, root], root],
      [i, n, leaf, [root, ...proof], root],
      ...proof.map((_, j): [number, number, Buffer, Buffer[], Buffer] => [i, n, leaf, flipAt(proof, j, 3), root]),
    ];
    if (proof.length > 0) wrong.push([i, n, leaf, proof.slice(0, -1), root]);
    if (proof.length > 1) wrong.push([i, n, leaf, [proof[0] as Buffer, some, ...proof.slice(1)], root]);
    for (const [wi, wn, wl, wp, wr] of wrong) expect(verifyInclusion(wi, wn, wl, wp, wr)).toBe(false);
  });

  it.each(VECTOR_CONSISTENCY)('consistency proof from %i to %i is the published one and verifies', (m, n, p) => {
    const proof = consistencyProof(m, n, leaves);
    expect(proof.map(hx)).toEqual(p);
    const r1 = h(VECTOR_ROOTS[m - 1] as string);
    const r2 = h(VECTOR_ROOTS[n - 1] as string);
    expect(verifyConsistency(m, n, r1, r2, proof)).toBe(true);
    if (proof.length === 0) return;
    const wrong: Array<[number, number, Buffer, Buffer, Buffer[]]> = [
      [m - 1, n, r1, r2, proof],
      [m + 1, n, r1, r2, proof],
      [m ^ 2, n, r1, r2, proof],
      [m, n * 2, r1, r2, proof],
      [m, Math.floor(n / 2), r1, r2, proof],
      [m, n, leafHash('WrongRoot'), r2, proof],
      [m, n, r1, leafHash('WrongRoot'), proof],
      [m, n, r2, r1, proof],
      [m, n, r1, r2, []],
      [m, n, r1, r2, [...proof, r1]],
      [m, n, r1, r2, [...proof, r2]],
      [m, n, r1, r2, [r1, ...proof]],
      [m, n, r1, r2, [r2, ...proof]],
      [m, n, r1, r2, [proof[0] as Buffer, ...proof]],
      [m, n, r1, r2, proof.slice(0, -1)],
      ...proof.map((_, j): [number, number, Buffer, Buffer, Buffer[]] => [m, n, r1, r2, flipAt(proof, j, 4)]),
    ];
    for (const [wm, wn, w1, w2, wp] of wrong) expect(verifyConsistency(wm, wn, w1, w2, wp)).toBe(false);
  });

  it('edge cases of consistency: the empty tree is consistent with every tree, a tree with itself', () => {
    const r1 = h(VECTOR_ROOTS[0] as string);
    expect(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])).toBe(true);
    expect(verifyConsistency(0, 5, EMPTY_ROOT, h(VECTOR_ROOTS[4] as string), [])).toBe(true);
    expect(verifyConsistency(1, 1, r1, r1, [])).toBe(true);
    expect(verifyConsistency(1, 1, r1, EMPTY_ROOT, [])).toBe(false); // same size, different roots
    expect(verifyConsistency(1, 1, r1, r1, [EMPTY_ROOT])).toBe(false); // same size, a proof
    expect(verifyConsistency(0, 1, EMPTY_ROOT, r1, [EMPTY_ROOT])).toBe(false);
    // Stricter than transparency-dev, which accepts any root for size 0: an empty tree has one root.
    expect(verifyConsistency(0, 1, r1, r1, [])).toBe(false);
    expect(verifyConsistency(1, 0, r1, EMPTY_ROOT, [])).toBe(false); // back in time
    expect(verifyConsistency(1, 2, r1, h(VECTOR_ROOTS[1] as string), [])).toBe(false); // proof missing
    expect(consistencyProof(0, 8, leaves)).toEqual([]);
    expect(consistencyProof(8, 8, leaves)).toEqual([]);
  });
});

function flipAt(proof: readonly Buffer[], j: number, bit: number): Buffer[] {
  return proof.map((p, k) => (k === j ? flipBit(p, bit) : p));
}

function flipBit(b: Uint8Array, bit: number): Buffer {
  const c = Buffer.from(b);
  const byte = Math.floor(bit / 8) % c.length;
  c[byte] = (c[byte] as number) ^ (1 << (bit % 8));
  return c;
}

describe('rootOf, inclusionProof and consistencyProof against the RFC recursion', () => {
  it('every size 0..64, every index and every earlier size', () => {
    const leaves = leavesOf(64);
    for (let n = 0; n <= 64; n++) {
      const d = leaves.slice(0, n);
      expect(hx(rootOf(leaves, 0, n))).toBe(hx(mth(d)));
      for (let i = 0; i < n; i++) expect(inclusionProof(i, n, leaves).map(hx)).toEqual(path(i, d).map(hx));
      for (let m = 1; m < n; m++) expect(consistencyProof(m, n, leaves).map(hx)).toEqual(subproof(m, d, true).map(hx));
    }
  });

  it('rootOf takes any range, the MTH of that slice', () => {
    const leaves = leavesOf(40);
    for (const [from, to] of [
      [3, 3],
      [5, 6],
      [7, 40],
      [16, 32],
      [1, 38],
    ] as const) {
      expect(hx(rootOf(leaves, from, to))).toBe(hx(mth(leaves.slice(from, to))));
    }
  });

  it('nodeHash and leafHash are the RFC prefixes', () => {
    const a = leafHash('a');
    const b = leafHash(Buffer.from('b'));
    expect(hx(a)).toBe(hx(sha(Buffer.from([0]), Buffer.from('a'))));
    expect(hx(nodeHash(a, b))).toBe(hx(sha(Buffer.from([1]), a, b)));
    expect(() => nodeHash(a, Buffer.alloc(31))).toThrow(MerkleError);
  });
});

describe('MerkleFrontier', () => {
  it('agrees with rootOf at every size 0..300 and survives a hex round trip at each', () => {
    const leaves = leavesOf(300, 'f');
    const f = MerkleFrontier.empty();
    for (let n = 0; n <= 300; n++) {
      expect(hx(f.root())).toBe(hx(rootOf(leaves, 0, n)));
      expect(f.size).toBe(n);
      const restored = MerkleFrontier.fromHex(n, f.toHex());
      expect(restored.toHex()).toEqual(f.toHex());
      expect(hx(restored.root())).toBe(hx(f.root()));
      if (n < 300) {
        // The restored copy goes on as the original does.
        restored.pushHex(hx(leaves[n] as Buffer));
        f.push(leaves[n] as Buffer);
        expect(hx(restored.root())).toBe(hx(f.root()));
      }
    }
  });

  it('agrees with rootOf for a few large sizes, pushed by bytes or by hex', () => {
    const leaves = leavesOf(70_001, 'big');
    const a = MerkleFrontier.empty();
    const b = MerkleFrontier.empty();
    const at = new Set([1024, 4095, 65_536, 70_001]);
    for (let n = 1; n <= 70_001; n++) {
      a.push(leaves[n - 1] as Buffer);
      b.pushHex(hx(leaves[n - 1] as Buffer));
      if (at.has(n)) {
        expect(hx(a.root())).toBe(hx(rootOf(leaves, 0, n)));
        expect(hx(b.root())).toBe(hx(a.root()));
      }
    }
  });

  it('copy is independent of the original', () => {
    const f = MerkleFrontier.empty();
    for (const l of leavesOf(5)) f.push(l);
    const c = f.copy();
    f.push(leafHash('x'));
    expect(c.size).toBe(5);
    expect(hx(c.root())).toBe(hx(rootOf(leavesOf(5))));
  });

  it('refuses bad input', () => {
    expect(() => MerkleFrontier.fromHex(3, ['00'.repeat(32)])).toThrow(MerkleError); // 3 has 2 set bits
    expect(() => MerkleFrontier.fromHex(1, ['ZZ'.repeat(32)])).toThrow(MerkleError);
    expect(() => MerkleFrontier.fromHex(-1, [])).toThrow(MerkleError);
    expect(() => MerkleFrontier.fromHex(1.5, [])).toThrow(MerkleError);
    expect(() => MerkleFrontier.empty().push(Buffer.alloc(31))).toThrow(MerkleError);
    expect(() => MerkleFrontier.empty().pushHex('ab')).toThrow(MerkleError);
    expect(() => MerkleFrontier.empty().pushHex('zz'.repeat(32))).toThrow(MerkleError);
  });
});

describe('bad sizes', () => {
  const leaves = leavesOf(8);
  it('the builders throw', () => {
    expect(() => inclusionProof(8, 8, leaves)).toThrow(MerkleError);
    expect(() => inclusionProof(0, 0, leaves)).toThrow(MerkleError);
    expect(() => inclusionProof(-1, 8, leaves)).toThrow(MerkleError);
    expect(() => inclusionProof(0.5, 8, leaves)).toThrow(MerkleError);
    expect(() => inclusionProof(0, 9, leaves)).toThrow(MerkleError);
    expect(() => consistencyProof(5, 4, leaves)).toThrow(MerkleError);
    expect(() => consistencyProof(-1, 4, leaves)).toThrow(MerkleError);
    expect(() => consistencyProof(2, 9, leaves)).toThrow(MerkleError);
    expect(() => rootOf(leaves, 5, 4)).toThrow(MerkleError);
    expect(() => rootOf(leaves, 0, 9)).toThrow(MerkleError);
    expect(() => rootOf([leafHash('a'), Buffer.alloc(3)])).toThrow(MerkleError);
  });

  it('the verifiers say no', () => {
    const root = rootOf(leaves);
    const leaf = leaves[0] as Buffer;
    expect(verifyInclusion(0, 0, leaf, [], root)).toBe(false);
    expect(verifyInclusion(8, 8, leaf, inclusionProof(7, 8, leaves), root)).toBe(false);
    expect(verifyInclusion(-1, 8, leaf, [], root)).toBe(false);
    expect(verifyInclusion(0.5, 8, leaf, [], root)).toBe(false);
    expect(verifyInclusion(0, 2 ** 53, leaf, [], root)).toBe(false);
    expect(verifyInclusion(0, 8, Buffer.alloc(31), inclusionProof(0, 8, leaves), root)).toBe(false);
    expect(verifyInclusion(0, 8, leaf, [Buffer.alloc(31)], root)).toBe(false);
    expect(verifyConsistency(9, 8, root, root, [])).toBe(false);
    expect(verifyConsistency(-1, 8, EMPTY_ROOT, root, [])).toBe(false);
    expect(verifyConsistency(3, 8, root.subarray(1), root, consistencyProof(3, 8, leaves))).toBe(false);
  });
});

// Sizes past 2^32, where 32-bit bit operations would go wrong: the path's elements are arbitrary
// hashes, and an independent recursion over BigInt sizes (the RFC's split, top-down) says what
// roots they lead to; the verifiers must agree, and must not after a change.
describe('sizes beyond 2^32', () => {
  const big = (n: bigint) => {
    let k = 1n;
    while (k * 2n < n) k *= 2n;
    return k;
  };
  /** The root PATH(i, D[n]) leads to from `leaf`, consuming `p` from its end (the top sibling). */
  function inclusionRoot(i: bigint, n: bigint, leaf: Buffer, p: Buffer[]): Buffer {
    if (n === 1n) return leaf;
    const k = big(n);
    const sibling = p.pop() as Buffer;
    return i < k
      ? sha(Buffer.from([1]), inclusionRoot(i, k, leaf, p), sibling)
      : sha(Buffer.from([1]), sibling, inclusionRoot(i - k, n - k, leaf, p));
  }
  function inclusionLength(i: bigint, n: bigint): number {
    if (n === 1n) return 0;
    const k = big(n);
    return 1 + (i < k ? inclusionLength(i, k) : inclusionLength(i - k, n - k));
  }
  /** (old root, new root) that SUBPROOF(m, D[n], b) leads to, consuming `p` from its end. */
  function consistencyRoots(m: bigint, n: bigint, b: boolean, first: Buffer, p: Buffer[]): [Buffer, Buffer] {
    if (m === n) {
      const node = b ? first : (p.pop() as Buffer);
      return [node, node];
    }
    const k = big(n);
    const one = Buffer.from([1]);
    if (m <= k) {
      const right = p.pop() as Buffer;
      const [o, nw] = consistencyRoots(m, k, b, first, p);
      return [o, sha(one, nw, right)];
    }
    const left = p.pop() as Buffer;
    const [o, nw] = consistencyRoots(m - k, n - k, false, first, p);
    return [sha(one, left, o), sha(one, left, nw)];
  }
  function consistencyLength(m: bigint, n: bigint, b: boolean): number {
    if (m === n) return b ? 0 : 1;
    const k = big(n);
    return 1 + (m <= k ? consistencyLength(m, k, b) : consistencyLength(m - k, n - k, false));
  }
  const randomHashes = (count: number, salt: string) =>
    Array.from({ length: count }, (_, j) => leafHash(`${salt}${j}`));

  it.each([
    [2 ** 31 + 5, 2 ** 32],
    [2 ** 33 + 17, 2 ** 40 + 2 ** 33 + 7],
    [2 ** 52 + 3, 2 ** 53 - 1],
    [2 ** 32 - 1, 2 ** 32 + 1],
  ])('inclusion of leaf %i in a tree of %i', (index, size) => {
    const leaf = leafHash('the leaf');
    const proof = randomHashes(inclusionLength(BigInt(index), BigInt(size)), `p${index}`);
    const root = inclusionRoot(BigInt(index), BigInt(size), leaf, [...proof]);
    expect(verifyInclusion(index, size, leaf, proof, root)).toBe(true);
    expect(verifyInclusion(index + 2 ** 31, size, leaf, proof, root)).toBe(false);
    expect(verifyInclusion(index - 1, size, leaf, proof, root)).toBe(false);
    expect(verifyInclusion(index, size, leaf, flipAt(proof, proof.length - 1, 9), root)).toBe(false);
  });

  it.each([
    [2 ** 31 + 5, 2 ** 32 + 3],
    [2 ** 32, 2 ** 40 + 1],
    [3 * 2 ** 33 + 1, 2 ** 40 + 2 ** 33 + 7],
    [2 ** 52 + 3, 2 ** 53 - 1],
  ])('consistency from %i to %i', (m, n) => {
    const first = leafHash('first root stand-in');
    const proof = randomHashes(consistencyLength(BigInt(m), BigInt(n), true), `c${m}`);
    const [rootM, rootN] = consistencyRoots(BigInt(m), BigInt(n), true, first, [...proof]);
    expect(verifyConsistency(m, n, rootM, rootN, proof)).toBe(true);
    expect(verifyConsistency(m + 2 ** 31, n, rootM, rootN, proof)).toBe(false);
    expect(verifyConsistency(m, n, rootM, rootN, flipAt(proof, proof.length - 1, 9))).toBe(false);
    expect(verifyConsistency(m, n, rootN, rootM, proof)).toBe(false);
  });
});

describe('a million leaves', () => {
  it('builds and checks proofs without quadratic work', () => {
    const n = 1_000_000;
    const leaves = Array.from({ length: n }, (_, i) => leafHash(String(i)));
    const root = rootOf(leaves);
    const i = 765_432;
    expect(verifyInclusion(i, n, leaves[i] as Buffer, inclusionProof(i, n, leaves), root)).toBe(true);
    const m = 524_289;
    expect(verifyConsistency(m, n, rootOf(leaves, 0, m), root, consistencyProof(m, n, leaves))).toBe(true);
  });
});

describe('a proof fits a neighbouring size of the same shape', () => {
  it('so the size must come from the signed checkpoint with the root', () => {
    const leaves = leavesOf(4);
    // Leaf 0's path in the tree of 3 leads to the same value checked as a tree of 4: only the
    // root, bound to its size by a signature, tells them apart.
    const proof = inclusionProof(0, 3, leaves);
    const root3 = rootOf(leaves, 0, 3);
    expect(verifyInclusion(0, 4, leaves[0] as Buffer, proof, root3)).toBe(true);
    expect(verifyInclusion(0, 4, leaves[0] as Buffer, proof, rootOf(leaves, 0, 4))).toBe(false);
  });
});

describe('properties (fast-check; FC_SEED fixes the seed)', () => {
  const tree = fc.record({ n: fc.integer({ min: 1, max: 200 }), salt: fc.string({ maxLength: 6 }), bit: fc.nat(255) });

  it('every inclusion proof verifies, and none after any single change', () => {
    fc.assert(
      fc.property(tree, ({ n, salt, bit }) => {
        const leaves = leavesOf(n + 1, salt); // one more, for the real root of size n + 1
        const roots = new Map<number, Buffer>();
        const rootAt = (k: number) => {
          const r = roots.get(k) ?? rootOf(leaves, 0, k);
          roots.set(k, r);
          return r;
        };
        const root = rootAt(n);
        const extra = leafHash(`${salt}extra`);
        for (let i = 0; i < n; i++) {
          const proof = inclusionProof(i, n, leaves);
          const leaf = leaves[i] as Buffer;
          if (!verifyInclusion(i, n, leaf, proof, root)) return false;
          const changed: Array<[number, number, Buffer, Buffer[], Buffer]> = [
            [i, n, flipBit(leaf, bit), proof, root],
            [i, n, leaf, proof, flipBit(root, bit)],
            [i - 1, n, leaf, proof, root],
            [i + 1, n, leaf, proof, root],
            // A size changed by one, with the real root of that size (a neighbouring size of the
            // same shape takes the same path to the same value: see the test above).
            [i, n - 1, leaf, proof, rootAt(n - 1)],
            [i, n + 1, leaf, proof, rootAt(n + 1)],
            [i, n, leaf, [...proof, extra], root],
            [i, n, leaf, [extra, ...proof], root],
            ...proof.map((_, j): [number, number, Buffer, Buffer[], Buffer] => [
              i,
              n,
              leaf,
              flipAt(proof, j, bit),
              root,
            ]),
            ...proof.map((_, j): [number, number, Buffer, Buffer[], Buffer] => [
              i,
              n,
              leaf,
              proof.filter((_, k) => k !== j),
              root,
            ]),
          ];
          for (const [ci, cn, cl, cp, cr] of changed) if (verifyInclusion(ci, cn, cl, cp, cr)) return false;
        }
        return true;
      }),
      { numRuns: 40 },
    );
  });

  it('every consistency proof (m ≤ n) verifies, and none after any single change', () => {
    fc.assert(
      fc.property(tree, ({ n, salt, bit }) => {
        const leaves = leavesOf(n + 1, salt);
        const roots: Buffer[] = [];
        const f = MerkleFrontier.empty();
        for (let k = 0; k <= n + 1; k++) {
          roots.push(f.root());
          if (k < n + 1) f.push(leaves[k] as Buffer);
        }
        const rootAt = (k: number) => roots[k] as Buffer;
        const extra = leafHash(`${salt}extra`);
        const same = (a: readonly Buffer[], b: readonly Buffer[]) =>
          a.length === b.length && a.every((x, j) => x.equals(b[j] as Buffer));
        for (let m = 0; m <= n; m++) {
          const proof = consistencyProof(m, n, leaves);
          const r1 = rootAt(m);
          const r2 = rootAt(n);
          if (!verifyConsistency(m, n, r1, r2, proof)) return false;
          const changed: Array<[number, number, Buffer, Buffer, Buffer[]]> = [
            [m, n, flipBit(r1, bit), r2, proof],
            [m, n, r1, r2, [...proof, extra]],
            [m, n, r1, r2, [extra, ...proof]],
            ...proof.map((_, j): [number, number, Buffer, Buffer, Buffer[]] => [m, n, r1, r2, flipAt(proof, j, bit)]),
            ...proof.map((_, j): [number, number, Buffer, Buffer, Buffer[]] => [
              m,
              n,
              r1,
              r2,
              proof.filter((_, k) => k !== j),
            ]),
          ];
          if (!r1.equals(r2)) changed.push([m, n, r2, r1, proof]);
          // From the empty tree the claim says nothing of the second root: any root is consistent.
          if (m > 0) changed.push([m, n, r1, flipBit(r2, bit), proof]);
          // Sizes changed by one, with the real roots of those sizes; a change that leaves a true
          // claim (the same proof is that pair's proof too: both empty, from 0 or to itself) is skipped.
          for (const [cm, cn] of [
            [m - 1, n],
            [m + 1, n],
            [m, n - 1],
            [m, n + 1],
          ] as const) {
            if (cm < 0 || cn < cm || cn > n + 1) {
              changed.push([cm, cn, r1, r2, proof]);
              continue;
            }
            if (same(consistencyProof(cm, cn, leaves), proof)) continue;
            changed.push([cm, cn, rootAt(cm), rootAt(cn), proof]);
          }
          for (const [cm, cn, c1, c2, cp] of changed) if (verifyConsistency(cm, cn, c1, c2, cp)) return false;
        }
        return true;
      }),
      { numRuns: 25 },
    );
  });
});
