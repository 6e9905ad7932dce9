import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addSeconds, formatNs, nowIso, parseNs, SystemClock } from '../../functions/core/time.js';
import { ManualClock } from '../support/in-memory.js';

const NS_FORMAT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;
// 2026-01-02T14:30:00Z
const T0_NS = 1_767_364_200_000_000_000n;

describe('formatNs', () => {
  it.each([
    [0n, '1970-01-01T00:00:00.000000000Z'],
    [1n, '1970-01-01T00:00:00.000000001Z'],
    [T0_NS, '2026-01-02T14:30:00.000000000Z'],
    [T0_NS + 123_456_789n, '2026-01-02T14:30:00.123456789Z'],
    [T0_NS + 999_999_999n, '2026-01-02T14:30:00.999999999Z'],
    [T0_NS + 1_000_000_000n, '2026-01-02T14:30:01.000000000Z'],
    [T0_NS + 5_000n, '2026-01-02T14:30:00.000005000Z'],
    // Before 1970 the fraction still counts up within its second.
    [-1n, '1969-12-31T23:59:59.999999999Z'],
    [-500_000_000n, '1969-12-31T23:59:59.500000000Z'],
    [-1_000_000_000n, '1969-12-31T23:59:59.000000000Z'],
  ])('%s -> %s', (ns, text) => {
    expect(formatNs(ns)).toBe(text);
    expect(formatNs(ns)).toMatch(NS_FORMAT);
  });

  it('sorts lexically in time order (property)', () => {
    const ns = fc.bigInt({ min: -62_135_596_800_000_000_000n, max: 253_402_300_799_999_999_999n });
    fc.assert(
      fc.property(ns, ns, (a, b) => {
        const [fa, fb] = [formatNs(a), formatNs(b)];
        expect(fa).toMatch(NS_FORMAT);
        expect(fa < fb).toBe(a < b);
        expect(fa === fb).toBe(a === b);
      }),
    );
  });
});

describe('parseNs', () => {
  it('inverts formatNs (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 253_402_300_799_999_999_999n }), (ns) => {
        expect(parseNs(formatNs(ns))).toBe(ns);
      }),
    );
  });

  it.each([
    ['2026-01-02T14:30:00Z', T0_NS],
    ['2026-01-02T14:30:00.5Z', T0_NS + 500_000_000n],
    ['2026-01-02T14:30:00.000001Z', T0_NS + 1_000n],
    ['2026-01-02T14:30:00.123456789Z', T0_NS + 123_456_789n],
  ])('accepts %s (0-9 fractional digits)', (text, ns) => {
    expect(parseNs(text)).toBe(ns);
  });

  it.each([
    '2026-01-02T14:30:00',
    '2026-01-02T14:30:00+00:00',
    '2026-01-02T14:30:00.000000000+01:00',
    '2026-01-02t14:30:00z',
    '2026-01-02 14:30:00Z',
    '2026-01-02',
    '2026-01-02T14:30:00.1234567890Z',
    '2026-13-01T00:00:00Z',
    'yesterday',
    '',
  ])('rejects %j', (text) => {
    expect(parseNs(text)).toBeUndefined();
  });

  // BUG (time.ts:35): Date.parse rolls impossible calendar dates over (2026-02-30 -> 2026-03-02,
  // T24:00:00 -> next day), so parseNs accepts timestamps that are not RFC 3339.
  it.each(['2026-02-30T00:00:00Z', '2026-04-31T12:00:00Z', '2026-01-01T24:00:00Z'])(
    'rejects the impossible date-time %j',
    (text) => {
      expect(parseNs(text)).toBeUndefined();
    },
  );
});

describe('addSeconds', () => {
  it('adds and keeps the nanoseconds', () => {
    expect(addSeconds('2026-01-02T14:30:00.123456789Z', 300)).toBe('2026-01-02T14:35:00.123456789Z');
  });
  it('crosses midnight and the year', () => {
    expect(addSeconds('2025-12-31T23:59:30.000000001Z', 45)).toBe('2026-01-01T00:00:15.000000001Z');
  });
  it('subtracts with a negative count', () => {
    expect(addSeconds('2026-01-02T00:00:00.000000000Z', -1)).toBe('2026-01-01T23:59:59.000000000Z');
  });
  it('refuses a malformed timestamp', () => {
    expect(() => addSeconds('2026-01-02 00:00', 1)).toThrow(RangeError);
  });
});

describe('clocks', () => {
  it('SystemClock readings strictly increase', () => {
    const clock = new SystemClock();
    let last = clock.nowNs();
    for (let i = 0; i < 1000; i++) {
      const t = clock.nowNs();
      expect(t > last).toBe(true);
      last = t;
    }
  });

  it('nowIso formats the clock reading', () => {
    const clock = new ManualClock('2026-01-02T14:30:00.000000042Z', 0n);
    expect(nowIso(clock)).toBe('2026-01-02T14:30:00.000000042Z');
  });

  it('the ManualClock steps and can be moved', () => {
    const clock = new ManualClock('2026-01-02T14:30:00Z', 10n);
    expect(formatNs(clock.nowNs())).toBe('2026-01-02T14:30:00.000000000Z');
    expect(formatNs(clock.nowNs())).toBe('2026-01-02T14:30:00.000000010Z');
    clock.advanceSeconds(60);
    expect(clock.peek()).toBe('2026-01-02T14:31:00.000000020Z');
  });
});
