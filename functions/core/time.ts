import type { Clock } from '../ports.js';

/** System clock: wall time from Date.now() refined by hrtime so successive readings stay ordered. */
export class SystemClock implements Clock {
  private readonly originNs = BigInt(Date.now()) * 1_000_000n;
  private readonly originHr = process.hrtime.bigint();
  private last = 0n;

  nowNs(): bigint {
    let t = this.originNs + (process.hrtime.bigint() - this.originHr);
    if (t <= this.last) t = this.last + 1n;
    this.last = t;
    return t;
  }
}

// The date and time of the last second formatted: every audit record formats a timestamp, and
// most fall in the same second as the one before.
let cachedSecond: bigint | undefined;
let cachedPrefix = '';

/** RFC 3339 UTC with exactly nine fractional digits: 2026-11-23T19:25:00.123456789Z. */
export function formatNs(ns: bigint): string {
  let second = ns / 1_000_000_000n;
  let frac = ns % 1_000_000_000n;
  // BigInt division truncates towards zero: before 1970 the fraction counts up from the second below.
  if (frac < 0n) {
    frac += 1_000_000_000n;
    second -= 1n;
  }
  if (second !== cachedSecond) {
    cachedPrefix = new Date(Number(second) * 1000).toISOString().slice(0, 19); // ...T19:25:00
    cachedSecond = second;
  }
  return `${cachedPrefix}.${frac.toString().padStart(9, '0')}Z`;
}

export function nowIso(clock: Clock): string {
  return formatNs(clock.nowNs());
}

/** The shape formatNs writes: fixed width, so such timestamps order correctly as strings. */
export const CANONICAL_NS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;

const NS_TS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/;

/** Parses an RFC 3339 UTC timestamp (Z suffix) to epoch nanoseconds. */
export function parseNs(ts: string): bigint | undefined {
  const m = NS_TS.exec(ts);
  if (!m?.[1]) return undefined;
  const secMs = Date.parse(`${m[1]}Z`);
  // Date.parse rolls impossible dates over (Feb 30 -> Mar 2): refuse anything that does not round-trip.
  if (Number.isNaN(secMs) || new Date(secMs).toISOString().slice(0, 19) !== m[1]) return undefined;
  return BigInt(secMs) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/**
 * Timestamps are compared as strings, and records carry nine fractional digits; one written
 * another way ('...T00:00:00Z' sorts after '...T00:00:00.5Z') is rewritten to that form.
 */
export function normaliseTimestamp(ts: string): string {
  const ns = parseNs(ts);
  return ns === undefined ? ts : formatNs(ns);
}

export function addSeconds(ts: string, seconds: number): string {
  const ns = parseNs(ts);
  if (ns === undefined) throw new RangeError(`bad timestamp ${ts}`);
  return formatNs(ns + BigInt(seconds) * 1_000_000_000n);
}
