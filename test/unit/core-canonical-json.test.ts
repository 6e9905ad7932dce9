import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, CanonicalText, canonicalJson, sha256Hex } from '../../functions/core/canonical-json.js';

describe('canonicalJson', () => {
  it('does not depend on key insertion order', () => {
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
    expect(canonicalJson({ a: 2, b: 1 })).toBe('{"a":2,"b":1}');
  });

  it('sorts nested objects inside arrays and keeps array order', () => {
    const value = { z: [3, { y: true, x: null }, [2, 1]], a: 's', m: { d: { c: 'x', b: false } } };
    expect(canonicalJson(value)).toBe('{"a":"s","m":{"d":{"b":false,"c":"x"}},"z":[3,{"x":null,"y":true},[2,1]]}');
  });

  it('writes no whitespace and escapes strings as JSON does', () => {
    expect(canonicalJson({ 'a b': 'line\n"quoted"\u0001' })).toBe('{"a b":"line\\n\\"quoted\\"\\u0001"}');
  });

  it('orders keys by UTF-16 code units (RFC 8785), not by locale', () => {
    const value = { é: 1, z: 2, Z: 3, a: 4, '\u{1F600}': 5, '\uFFFD': 6, '10': 7, '9': 8 };
    const keys = Object.keys(JSON.parse(canonicalJson(value)) as Record<string, unknown>);
    // Integer-like keys come first in JS object key order, so compare the text instead.
    expect(canonicalJson(value)).toBe('{"10":7,"9":8,"Z":3,"a":4,"z":2,"é":1,"\u{1F600}":5,"\uFFFD":6}');
    expect(keys).toHaveLength(8);
  });

  it('drops undefined members and writes undefined array slots as null', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([1, undefined, 2])).toBe('[1,null,2]');
  });

  it('accepts safe integers, including negatives and zero', () => {
    expect(canonicalJson([0, -1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER])).toBe(
      `[0,-1,${Number.MAX_SAFE_INTEGER},-${Number.MAX_SAFE_INTEGER}]`,
    );
  });

  it.each([
    ['a fraction', 1.5],
    ['a fraction nested deep', { a: [{ b: 0.1 }] }],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['an unsafe integer', 2 ** 53],
    ['a bigint', 1n],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['undefined at the top', undefined],
  ])('refuses %s', (_what, value) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
  });

  it('keeps a "__proto__" key that JSON.parse made an own property', () => {
    expect(canonicalJson(JSON.parse('{"__proto__":false,"a":1}'))).toBe('{"__proto__":false,"a":1}');
  });

  it('writes a CanonicalText as it is: the same bytes as serialising its value in place (property)', () => {
    const json = fc.jsonValue().filter((v) => {
      try {
        canonicalJson(v);
        return true;
      } catch {
        return false;
      }
    });
    fc.assert(
      fc.property(json, fc.string(), (v, other) => {
        const inPlace = canonicalJson({ z: other, input: v, a: [v] });
        const text = new CanonicalText(canonicalJson(v));
        expect(canonicalJson({ z: other, input: text, a: [text] })).toBe(inPlace);
      }),
      { numRuns: 200 },
    );
  });

  it('is stable under JSON round trip and key shuffling (property)', () => {
    const json = fc.jsonValue().filter((v) => {
      try {
        canonicalJson(v);
        return true;
      } catch {
        return false;
      }
    });
    fc.assert(
      fc.property(json, (v) => {
        const text = canonicalJson(v);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(canonicalJson(reverseKeys(v))).toBe(text);
      }),
      { numRuns: 200 },
    );
  });

  it('writes the same bytes and throws the same errors as the plain algorithm (property)', () => {
    // Mostly plain characters, so that a string often holds a single one that needs escaping: code units
    // that need it or sort surprisingly, and any UTF-16 code unit (lone surrogates too).
    const unit = fc.oneof(
      { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 6 },
      fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udbff', '\udc00', '\udfff'),
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    );
    const text = fc.oneof(fc.string(), fc.string({ unit }), fc.string({ unit, minLength: 65, maxLength: 80 }));
    const key = fc.oneof(
      text,
      fc.nat().map(String),
      fc.constantFrom('__proto__', 'constructor', 'toString', 'length', 'a', 'b', '10', '9', '-1', '01'),
    );
    const valid = fc.oneof(text, fc.boolean(), fc.constant(null), fc.integer(), fc.maxSafeInteger());
    // What it must refuse, or (undefined, dates) treats specially.
    const odd = fc.oneof(
      fc.double(),
      fc.constantFrom(2 ** 53, -(2 ** 53), Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY, -0, undefined),
      fc.bigInt(),
      fc.constantFrom(() => 1, Symbol('s')),
      fc.date(),
    );
    const tree = (leaf: fc.Arbitrary<unknown>) =>
      fc.letrec((tie) => ({
        value: fc.oneof(
          { depthSize: 'small' },
          { arbitrary: leaf, weight: 4 },
          { arbitrary: tie('array'), weight: 1 },
          { arbitrary: tie('object'), weight: 2 },
        ),
        array: fc.oneof(fc.array(tie('value'), { maxLength: 6 }), fc.sparseArray(tie('value'), { maxLength: 6 })),
        object: fc.oneof(
          { arbitrary: fc.dictionary(key, tie('value'), { maxKeys: 8 }), weight: 4 },
          // Large enough for the other sorting branch.
          { arbitrary: fc.dictionary(key, leaf, { minKeys: 30, maxKeys: 45 }), weight: 1 },
        ),
      })).value;
    // Mostly valid trees (an odd leaf anywhere decides the outcome), some with odd leaves, and plain JSON.
    const anyValue = fc.oneof(
      { arbitrary: tree(valid), weight: 3 },
      { arbitrary: tree(fc.oneof({ arbitrary: valid, weight: 20 }, odd)), weight: 2 },
      fc.jsonValue(),
    );
    fc.assert(
      fc.property(anyValue, (v) => {
        expect(outcome(canonicalJson, v)).toEqual(outcome(referenceCanonicalJson, v));
      }),
      { numRuns: 2000 },
    );
  });
});

// The original algorithm, kept as the specification of the optimised one.
function referenceCanonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError('non-finite number');
      if (!Number.isSafeInteger(value)) throw new CanonicalJsonError(`only safe integers are canonical, got ${value}`);
      return String(value);
    case 'object': {
      if (Array.isArray(value)) {
        const parts: string[] = [];
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) throw new CanonicalJsonError(`a sparse array (a hole at index ${i}) is not JSON`);
          const v: unknown = value[i];
          parts.push(referenceCanonicalJson(v === undefined ? null : v));
        }
        return `[${parts.join(',')}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${referenceCanonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new CanonicalJsonError(`cannot canonicalise a ${typeof value}`);
  }
}

function outcome(f: (v: unknown) => string, v: unknown) {
  try {
    return { text: f(v) };
  } catch (err) {
    return { error: (err as Error).constructor, message: (err as Error).message };
  }
}

function reverseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reverseKeys);
  if (v !== null && typeof v === 'object') {
    // fromEntries defines own properties: a "__proto__" key stays a key (assignment would not).
    return Object.fromEntries(
      Object.keys(v)
        .reverse()
        .map((k) => [k, reverseKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 test vector', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('hashes the canonical bytes: a known digest whatever the key order', () => {
    const expected = 'cdab067e9f3beb32d1252cfd63e492592fecbf591b0d08cadb24bb17f3864246'; // sha256('{"a":"x","b":1}')
    expect(sha256Hex(canonicalJson({ b: 1, a: 'x' }))).toBe(expected);
    expect(sha256Hex(canonicalJson({ a: 'x', b: 1 }))).toBe(expected);
  });

  it('hashes UTF-8', () => {
    expect(sha256Hex('é')).toBe(
      createHash('sha256')
        .update(Buffer.from([0xc3, 0xa9]))
        .digest('hex'),
    );
  });
});
