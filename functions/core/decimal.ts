// Exact fixed-point decimal: a bigint count of 10^-8 units. Money, prices and ratios go through
// here; floats never touch a value that is compared against a limit.

const SCALE = 8;
const FACTOR = 10n ** BigInt(SCALE);
const DECIMAL_RE = /^(-)?(\d{1,20})(?:\.(\d{1,8}))?$/;

export class DecimalFormatError extends Error {
  override readonly name = 'DecimalFormatError';
}

export class Decimal {
  /** The canonical text, made once: limits and prices are long-lived and recorded with every decision. */
  private text: string | undefined;

  private constructor(readonly units: bigint) {}

  static readonly ZERO = new Decimal(0n);

  /** Parses "123", "-0.5", "100.25"; at most 8 fractional digits, no exponent, no float input. */
  static parse(text: string): Decimal {
    const m = DECIMAL_RE.exec(text);
    if (!m) throw new DecimalFormatError(`not a decimal: ${JSON.stringify(text)}`);
    const whole = BigInt(m[2] ?? '0');
    const frac = BigInt((m[3] ?? '').padEnd(SCALE, '0'));
    const units = whole * FACTOR + frac;
    return new Decimal(m[1] ? -units : units);
  }

  /** From a count of 10^-8 units (sums kept as bigint in hot loops). */
  static fromUnits(units: bigint): Decimal {
    return new Decimal(units);
  }

  static isValid(text: string): boolean {
    return DECIMAL_RE.test(text);
  }

  static fromInt(n: number | bigint): Decimal {
    if (typeof n === 'number' && !Number.isSafeInteger(n)) throw new DecimalFormatError(`not a safe integer: ${n}`);
    return new Decimal(BigInt(n) * FACTOR);
  }

  add(o: Decimal): Decimal {
    return new Decimal(this.units + o.units);
  }

  sub(o: Decimal): Decimal {
    return new Decimal(this.units - o.units);
  }

  mulInt(n: number | bigint): Decimal {
    return new Decimal(this.units * BigInt(n));
  }

  /** Product rounded half-even to 8 places. */
  mul(o: Decimal): Decimal {
    return new Decimal(divRound(this.units * o.units, FACTOR));
  }

  /** Quotient rounded half-even to 8 places. */
  div(o: Decimal): Decimal {
    if (o.units === 0n) throw new RangeError('division by zero');
    return new Decimal(divRound(this.units * FACTOR, o.units));
  }

  divInt(n: number | bigint): Decimal {
    const d = BigInt(n);
    if (d === 0n) throw new RangeError('division by zero');
    return new Decimal(divRound(this.units, d));
  }

  neg(): Decimal {
    return new Decimal(-this.units);
  }

  abs(): Decimal {
    return this.units < 0n ? this.neg() : this;
  }

  cmp(o: Decimal): -1 | 0 | 1 {
    return this.units < o.units ? -1 : this.units > o.units ? 1 : 0;
  }

  gt(o: Decimal): boolean {
    return this.units > o.units;
  }

  gte(o: Decimal): boolean {
    return this.units >= o.units;
  }

  lt(o: Decimal): boolean {
    return this.units < o.units;
  }

  lte(o: Decimal): boolean {
    return this.units <= o.units;
  }

  /** this <= a * b, exactly (no rounding of the product): for ratio limits. */
  lteProduct(a: Decimal, b: Decimal): boolean {
    return this.units * FACTOR <= a.units * b.units;
  }

  isZero(): boolean {
    return this.units === 0n;
  }

  isNegative(): boolean {
    return this.units < 0n;
  }

  /** Canonical text: no trailing fractional zeros, at least "0". */
  toString(): string {
    if (this.text === undefined) this.text = this.format();
    return this.text;
  }

  private format(): string {
    const neg = this.units < 0n;
    const abs = neg ? -this.units : this.units;
    const whole = abs / FACTOR;
    const fracUnits = abs % FACTOR;
    if (fracUnits === 0n) return `${neg ? '-' : ''}${whole}`;
    // Trailing zeros trimmed by index, not by regex: this runs for every value a decision records.
    let frac = fracUnits.toString().padStart(SCALE, '0');
    let end = frac.length;
    while (frac.charCodeAt(end - 1) === 48) end--;
    frac = frac.slice(0, end);
    return `${neg ? '-' : ''}${whole}.${frac}`;
  }

  /** Fixed number of places (for money display: 2). Rounds half-even. */
  toFixed(places: number): string {
    const drop = 10n ** BigInt(SCALE - places);
    const rounded = divRound(this.units, drop);
    const neg = rounded < 0n;
    const abs = neg ? -rounded : rounded;
    const p = 10n ** BigInt(places);
    const whole = abs / p;
    const frac = places > 0 ? `.${(abs % p).toString().padStart(places, '0')}` : '';
    return `${neg ? '-' : ''}${whole}${frac}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** Integer division rounding half to even (banker's rounding), as accounting systems do. */
function divRound(n: bigint, d: bigint): bigint {
  const neg = n < 0n !== d < 0n;
  const an = n < 0n ? -n : n;
  const ad = d < 0n ? -d : d;
  let q = an / ad;
  const r = an % ad;
  const twice = r * 2n;
  if (twice > ad || (twice === ad && q % 2n === 1n)) q += 1n;
  return neg ? -q : q;
}
