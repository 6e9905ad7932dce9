// Order validation: every bad field is reported with the rule it broke, all at once.
import { canonicalJson, sha256Hex } from './canonical-json.js';
import { Decimal } from './decimal.js';
import { type FieldError, ValidationError } from './errors.js';
import type { Order } from './model.js';

export const ORDER_FIELDS = [
  'order_id',
  'symbol',
  'side',
  'quantity',
  'order_type',
  'price',
  'account_id',
  'trader_id',
  'duplicate_intended',
] as const;
/** Above this a quantity is treated as a fat-finger error, whatever the account's limits. */
export const MAX_ORDER_QUANTITY = 10_000_000;
export const MAX_PRICE = Decimal.parse('1000000');

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const SYMBOL_RE = /^[A-Z][A-Z0-9.]{0,9}$/;
const ACCOUNT_RE = /^[A-Z0-9][A-Z0-9-]{0,31}$/;

export function parseJsonBody(body: string | null | undefined): unknown {
  if (body === null || body === undefined || body.trim() === '') {
    throw new ValidationError([{ field: 'body', rule: 'required', message: 'a JSON object is required' }]);
  }
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new ValidationError([{ field: 'body', rule: 'json', message: `malformed JSON: ${(err as Error).message}` }]);
  }
}

/** Validates a submitted order; throws ValidationError naming every bad field. */
export function validateOrder(input: unknown): Order {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError([{ field: 'body', rule: 'type', message: 'the order must be a JSON object' }]);
  }
  const o = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  const bad = (field: string, rule: string, message: string) => errors.push({ field, rule, message });

  for (const key of Object.keys(o)) {
    if (!(ORDER_FIELDS as readonly string[]).includes(key))
      bad(key, 'unknown_field', `unknown field ${JSON.stringify(key)}`);
  }

  const str = (field: string, re: RegExp, what: string): string | undefined => {
    const v = o[field];
    if (v === undefined || v === null) return void bad(field, 'required', `${field} is required`);
    if (typeof v !== 'string') return void bad(field, 'type', `${field} must be a string`);
    if (!re.test(v)) return void bad(field, 'format', `${field} must be ${what}`);
    return v;
  };
  const oneOf = <T extends string>(field: string, values: readonly T[]): T | undefined => {
    const v = o[field];
    if (v === undefined || v === null) return void bad(field, 'required', `${field} is required`);
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      return void bad(field, 'enum', `${field} must be one of ${values.join(', ')}`);
    }
    return v as T;
  };

  const order_id = str('order_id', ID_RE, '1-64 characters of A-Z, a-z, 0-9, _ or -');
  const symbol = str('symbol', SYMBOL_RE, 'an upper-case ticker of 1-10 characters (A-Z, 0-9, .)');
  const side = oneOf('side', ['BUY', 'SELL'] as const);
  const order_type = oneOf('order_type', ['MARKET', 'LIMIT'] as const);
  const account_id = str('account_id', ACCOUNT_RE, '1-32 characters of A-Z, 0-9 or -');
  const trader_id = str('trader_id', ID_RE, '1-64 characters of A-Z, a-z, 0-9, _ or -');

  let quantity: number | undefined;
  const q = o.quantity;
  if (q === undefined || q === null) bad('quantity', 'required', 'quantity is required');
  else if (typeof q !== 'number') bad('quantity', 'type', 'quantity must be a number');
  else if (!Number.isInteger(q)) bad('quantity', 'integer', 'quantity must be a whole number of shares');
  else if (q <= 0) bad('quantity', 'positive', 'quantity must be greater than zero');
  else if (q > MAX_ORDER_QUANTITY) bad('quantity', 'max', `quantity must be at most ${MAX_ORDER_QUANTITY}`);
  else quantity = q;

  let price: string | undefined;
  const p = o.price;
  if (p !== undefined && p !== null) {
    if (order_type === 'MARKET') bad('price', 'not_allowed', 'a MARKET order must not carry a price');
    else price = validatePrice(p, bad);
  } else if (order_type === 'LIMIT') {
    bad('price', 'required', 'price is required for a LIMIT order');
  }

  const dup = o.duplicate_intended;
  if (dup !== undefined && dup !== null && typeof dup !== 'boolean') {
    bad('duplicate_intended', 'type', 'duplicate_intended must be true or false');
  }

  if (errors.length > 0) throw new ValidationError(errors);
  return {
    order_id: order_id as string,
    symbol: symbol as string,
    side: side as Order['side'],
    quantity: quantity as number,
    order_type: order_type as Order['order_type'],
    ...(price !== undefined ? { price } : {}),
    account_id: account_id as string,
    trader_id: trader_id as string,
    // Only `true` is kept: an order without the flag hashes as it did before the flag existed.
    ...(dup === true ? { duplicate_intended: true } : {}),
  };
}

function validatePrice(p: unknown, bad: (f: string, r: string, m: string) => void): string | undefined {
  // A JSON number is accepted only when its shortest text is an exact decimal (no exponent).
  const text = typeof p === 'number' ? (Number.isFinite(p) ? String(p) : '') : typeof p === 'string' ? p : undefined;
  if (text === undefined) return void bad('price', 'type', 'price must be a decimal number or string');
  if (!/^\d{1,7}(\.\d{1,4})?$/.test(text)) {
    if (/^-/.test(text)) return void bad('price', 'positive', 'price must be greater than zero');
    return void bad('price', 'format', 'price must be a plain decimal with at most 4 decimal places');
  }
  const d = Decimal.parse(text);
  if (d.isZero()) return void bad('price', 'positive', 'price must be greater than zero');
  if (d.gt(MAX_PRICE)) return void bad('price', 'max', `price must be at most ${MAX_PRICE}`);
  // Reg NMS Rule 612: prices of $1.00 or more trade in whole cents.
  if (d.gte(Decimal.parse('1')) && !/^\d+(\.\d{1,2})?$/.test(text.replace(/0+$/, '').replace(/\.$/, ''))) {
    return void bad('price', 'tick_size', 'prices of $1.00 or more must be in whole cents (Reg NMS Rule 612)');
  }
  return d.toString();
}

/** SHA-256 of the canonical order: what the risk approval is bound to. */
export function orderHash(order: Order): string {
  return sha256Hex(canonicalJson(order));
}
