// Canonical JSON (the RFC 8785 shape for the values we store: strings, safe integers, booleans,
// null, arrays, objects): keys sorted by UTF-16 code units, no whitespace. The audit hash is over
// these bytes, so the same record always hashes the same wherever it is re-serialised.
//
// This runs several times per audit record, so it builds one string with `+=` instead of
// intermediate arrays, closures and joins. The output is byte-for-byte that of the plain
// algorithm (map + sort + join), which the unit test keeps as a reference and compares against.
import { createHash } from 'node:crypto';

export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
}

/**
 * A value already in canonical form (the output of canonicalJson), written as it is: a record's
 * input is serialised once and reused for its hash, its archive line and its journal line.
 */
export class CanonicalText {
  constructor(readonly text: string) {}
}

export function canonicalJson(value: unknown): string {
  const out = write(value);
  // `+=` builds a rope (a tree of cons strings) that takes about ten times the flat size while it
  // is kept, and records' lines are kept (the journal store, the archiver's queue): flatten once.
  // ToNumber flattens its argument; the number itself is not wanted.
  if (out.length > 64) Number(out);
  return out;
}

function write(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (Number.isSafeInteger(value)) return String(value);
      if (!Number.isFinite(value)) throw new CanonicalJsonError('non-finite number');
      // Fractions and huge numbers are carried as decimal strings; a float here is a bug.
      throw new CanonicalJsonError(`only safe integers are canonical, got ${value}`);
    case 'object':
      if (Array.isArray(value)) return writeArray(value);
      if (value instanceof CanonicalText) return value.text;
      return writeObject(value as Record<string, unknown>);
    default:
      throw new CanonicalJsonError(`cannot canonicalise a ${typeof value}`);
  }
}

function writeArray(arr: readonly unknown[]): string {
  let out = '[';
  for (let i = 0; i < arr.length; i++) {
    if (i > 0) out += ',';
    const v = arr[i];
    // An undefined slot is null, as JSON.stringify writes it. A hole has no JSON form (`[1,,2]` is
    // not JSON): refused, so it can never reach a stored line.
    if (v !== undefined) out += write(v);
    else if (i in arr) out += 'null';
    else throw new CanonicalJsonError(`a sparse array (a hole at index ${i}) is not JSON`);
  }
  return `${out}]`;
}

function writeObject(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj);
  const n = keys.length;
  // Both `<` on strings and the default sort compare UTF-16 code units, the RFC 8785 order (keys are
  // unique, so stability does not matter). Our objects are small and often already in order, where
  // an insertion sort is a single pass and cheaper than Array.prototype.sort.
  if (n > 32) keys.sort();
  else {
    for (let i = 1; i < n; i++) {
      const k = keys[i] as string;
      let j = i - 1;
      while (j >= 0 && (keys[j] as string) > k) {
        keys[j + 1] = keys[j] as string;
        j--;
      }
      keys[j + 1] = k;
    }
  }
  let out = '{';
  let sep = '';
  for (let i = 0; i < n; i++) {
    const k = keys[i] as string;
    const v = obj[k];
    if (v === undefined) continue; // an undefined member is absent
    out += `${sep}${quoteKey(k)}:${write(v)}`;
    sep = ',';
  }
  return `${out}}`;
}

/** JSON.stringify of a string, skipping the native call when there is nothing to escape. */
export function quote(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // '"', '\\', control characters, and any surrogate (a lone one is escaped, e.g. as \udc00).
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

// Records repeat the same few dozen keys, so their quoted forms are memoised; bounded in count and
// length, as keys inside a record's free-form input could be anything.
const quotedKeys = new Map<string, string>();
const MAX_QUOTED_KEYS = 1000;
const MAX_QUOTED_KEY_LENGTH = 64;

function quoteKey(k: string): string {
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = quote(k);
    if (quotedKeys.size < MAX_QUOTED_KEYS && k.length <= MAX_QUOTED_KEY_LENGTH) quotedKeys.set(k, q);
  }
  return q;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
