import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal, DecimalFormatError } from '../../functions/core/decimal.js';

const d = (s: string) => Decimal.parse(s);

describe('Decimal.parse / toString', () => {
  it.each([
    ['0', '0'],
    ['123', '123'],
    ['-0.5', '-0.5'],
    ['100.25', '100.25'],
    ['150.50', '150.5'],
    ['150.00000000', '150'],
    ['007', '7'],
    ['-0', '0'],
    ['0.00000001', '0.00000001'],
    ['12345678901234567890.12345678', '12345678901234567890.12345678'],
  ])('parses %s and formats it canonically as %s', (input, canonical) => {
    expect(d(input).toString()).toBe(canonical);
    expect(d(canonical).units).toBe(d(input).units);
  });

  it('counts units of 10^-8', () => {
    expect(d('1').units).toBe(100_000_000n);
    expect(d('-2.5').units).toBe(-250_000_000n);
    expect(d('0.00000001').units).toBe(1n);
  });

  it.each([
    '1e5',
    '1E5',
    '1.5e2',
    '1e-7',
    '',
    ' 1',
    '1 ',
    '1.',
    '.5',
    '+1',
    '1.123456789',
    'NaN',
    'Infinity',
    '0x10',
    '1,000',
    '--1',
    '123456789012345678901',
  ])('rejects %j (no exponent, no float syntax, at most 8 places)', (input) => {
    expect(() => d(input)).toThrow(DecimalFormatError);
    expect(Decimal.isValid(input)).toBe(false);
  });

  it('isValid accepts what parse accepts', () => {
    expect(Decimal.isValid('150.25')).toBe(true);
    expect(Decimal.isValid('-3')).toBe(true);
  });

  it('round-trips any value through its text (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 28n) + 1n, max: 10n ** 28n - 1n }), (units) => {
        // Build the value through arithmetic, format it, parse it back.
        const x = d('0.00000001').mulInt(units);
        expect(x.units).toBe(units);
        expect(d(x.toString()).units).toBe(units);
      }),
    );
  });

  it('formats the same on both sides of 2^53 units (the number fast path and the bigint path)', () => {
    const edge = BigInt(Number.MAX_SAFE_INTEGER); // 90071992.54740991
    for (const units of [edge - 1n, edge, edge + 1n, edge + 9n, -edge, -(edge + 1n), 100_000_000n * 90_071_992n]) {
      const x = d('0.00000001').mulInt(units);
      const whole = (units < 0n ? -units : units) / 100_000_000n;
      const frac = ((units < 0n ? -units : units) % 100_000_000n).toString().padStart(8, '0').replace(/0+$/, '');
      expect(x.toString()).toBe(`${units < 0n ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`);
    }
    fc.assert(
      fc.property(fc.bigInt({ min: edge - 10n ** 9n, max: edge + 10n ** 9n }), (units) => {
        expect(d(d('0.00000001').mulInt(units).toString()).units).toBe(units);
      }),
    );
  });

  it('serialises to JSON as its canonical string', () => {
    expect(JSON.stringify({ price: d('150.50') })).toBe('{"price":"150.5"}');
  });
});

describe('Decimal.fromInt', () => {
  it('accepts safe integers and bigints', () => {
    expect(Decimal.fromInt(42).toString()).toBe('42');
    expect(Decimal.fromInt(-7n).toString()).toBe('-7');
  });
  it.each([1.5, Number.NaN, 2 ** 53])('rejects %s', (n) => {
    expect(() => Decimal.fromInt(n)).toThrow(DecimalFormatError);
  });
});

describe('Decimal arithmetic', () => {
  it('adds, subtracts, negates, takes absolute values across zero', () => {
    expect(d('1.5').add(d('-2.25')).toString()).toBe('-0.75');
    expect(d('-1.5').sub(d('-2.25')).toString()).toBe('0.75');
    expect(d('3').neg().toString()).toBe('-3');
    expect(d('-3.1').abs().toString()).toBe('3.1');
    expect(d('3.1').abs().toString()).toBe('3.1');
    expect(d('-0.00000001').isNegative()).toBe(true);
    expect(d('0').isNegative()).toBe(false);
    expect(d('0.00').isZero()).toBe(true);
  });

  it('mulInt is exact', () => {
    expect(d('190.00').mulInt(1000).toString()).toBe('190000');
    expect(d('-0.01').mulInt(3n).toString()).toBe('-0.03');
  });

  it.each([
    // exact products
    ['1.5', '2', '3'],
    ['0.2', '50000000', '10000000'],
    ['-1.25', '4', '-5'],
    // 5 units x 0.5 = 2.5 units -> 2 (even); 15 x 0.5 = 7.5 -> 8 (even)
    ['0.00000005', '0.5', '0.00000002'],
    ['0.00000015', '0.5', '0.00000008'],
    ['0.00000007', '0.5', '0.00000004'],
    ['-0.00000005', '0.5', '-0.00000002'],
    ['-0.00000015', '0.5', '-0.00000008'],
    // 0.33333333 x 1.5 = 0.499999995 -> 0.49999999|5 -> even is ...0 -> 0.5
    ['0.33333333', '1.5', '0.5'],
    // not a tie: rounds to nearest
    ['0.00000001', '0.4', '0'],
    ['0.00000001', '0.6', '0.00000001'],
  ])('mul %s x %s = %s (half-even to 8 places)', (a, b, expected) => {
    expect(d(a).mul(d(b)).toString()).toBe(expected);
  });

  it.each([
    ['1', '3', '0.33333333'],
    ['2', '3', '0.66666667'],
    ['-2', '3', '-0.66666667'],
    ['2', '-3', '-0.66666667'],
    ['1', '8', '0.125'],
    // 0.5 units -> 0 (even); 1.5 -> 2; 2.5 -> 2
    ['0.00000001', '2', '0'],
    ['0.00000003', '2', '0.00000002'],
    ['0.00000005', '2', '0.00000002'],
    ['-0.00000005', '2', '-0.00000002'],
    ['190000', '50000000', '0.0038'],
  ])('div %s / %s = %s (half-even to 8 places)', (a, b, expected) => {
    expect(d(a).div(d(b)).toString()).toBe(expected);
  });

  it.each([
    ['0.00000005', 2, '0.00000002'],
    ['0.00000007', 2, '0.00000004'],
    ['-0.00000007', 2, '-0.00000004'],
    ['0.00000001', 3, '0'],
    ['0.00000002', 3, '0.00000001'],
    ['300.5', 2, '150.25'],
  ])('divInt %s / %d = %s (half-even)', (a, n, expected) => {
    expect(d(a).divInt(n).toString()).toBe(expected);
  });

  it('refuses division by zero', () => {
    expect(() => d('1').div(d('0'))).toThrow(RangeError);
    expect(() => d('1').divInt(0)).toThrow(RangeError);
  });

  it('compares exactly', () => {
    const a = d('100.00000001');
    const b = d('100');
    expect(a.cmp(b)).toBe(1);
    expect(b.cmp(a)).toBe(-1);
    expect(b.cmp(d('100.0'))).toBe(0);
    expect(a.gt(b)).toBe(true);
    expect(b.gt(b)).toBe(false);
    expect(b.gte(b)).toBe(true);
    expect(b.lt(a)).toBe(true);
    expect(b.lt(b)).toBe(false);
    expect(b.lte(b)).toBe(true);
    expect(d('-5').lt(d('-4.99999999'))).toBe(true);
  });
});

describe('Decimal.toFixed', () => {
  it.each([
    ['1.005', 2, '1.00'],
    ['1.015', 2, '1.02'],
    ['1.025', 2, '1.02'],
    ['1.0251', 2, '1.03'],
    ['-1.005', 2, '-1.00'],
    ['-1.015', 2, '-1.02'],
    ['-0.001', 2, '0.00'],
    ['2.5', 0, '2'],
    ['3.5', 0, '4'],
    ['150', 2, '150.00'],
    ['0.07', 2, '0.07'],
    ['1234567.12345678', 8, '1234567.12345678'],
    ['1234567.12345678', 4, '1234567.1235'],
  ])('%s toFixed(%d) = %s', (a, places, expected) => {
    expect(d(a).toFixed(places)).toBe(expected);
  });
});
