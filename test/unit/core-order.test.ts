import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../../functions/core/canonical-json.js';
import { type FieldError, ValidationError } from '../../functions/core/errors.js';
import { MAX_ORDER_QUANTITY, orderHash, parseJsonBody, validateOrder } from '../../functions/core/order.js';

const LIMIT = {
  order_id: 'ORD-1',
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 100,
  order_type: 'LIMIT',
  price: '150.50',
  account_id: 'ACC-001',
  trader_id: 'trader-1',
} as const;
const { price: _price, ...MARKET_BASE } = LIMIT;
const MARKET = { ...MARKET_BASE, order_type: 'MARKET' } as const;

function errorsOf(fn: () => unknown): FieldError[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err.errors;
    throw err;
  }
  throw new Error('expected a ValidationError, got a valid result');
}

const rulesOf = (errors: FieldError[]) => errors.map((e) => `${e.field}:${e.rule}`).sort();

function without(field: string): Record<string, unknown> {
  const o: Record<string, unknown> = { ...LIMIT };
  delete o[field];
  return o;
}

describe('parseJsonBody', () => {
  it.each([null, undefined, '', '   \n'])('requires a body (%j)', (body) => {
    expect(rulesOf(errorsOf(() => parseJsonBody(body)))).toEqual(['body:required']);
  });

  it.each(['{bad', '{"order_id":"A"', "{'a':1}", 'undefined', '{"a":1,}'])('reports malformed JSON %j', (body) => {
    const errors = errorsOf(() => parseJsonBody(body));
    expect(rulesOf(errors)).toEqual(['body:json']);
    expect(errors[0]?.message).toMatch(/^malformed JSON/);
  });

  it('parses valid JSON of any shape (validation is validateOrder’s job)', () => {
    expect(parseJsonBody('[1,2]')).toEqual([1, 2]);
    expect(parseJsonBody(JSON.stringify(LIMIT))).toEqual(LIMIT);
  });
});

describe('validateOrder: one bad input, one named error', () => {
  const cases: Array<[string, unknown, string]> = [
    // not an object
    ['an array', [LIMIT], 'body:type'],
    ['a string', 'ORD-1', 'body:type'],
    ['a number', 42, 'body:type'],
    ['null', null, 'body:type'],
    ['a boolean', true, 'body:type'],
    // missing fields
    ['no order_id', without('order_id'), 'order_id:required'],
    ['no symbol', without('symbol'), 'symbol:required'],
    ['no side', without('side'), 'side:required'],
    ['no quantity', without('quantity'), 'quantity:required'],
    ['no order_type (price given)', without('order_type'), 'order_type:required'],
    ['no account_id', without('account_id'), 'account_id:required'],
    ['no trader_id', without('trader_id'), 'trader_id:required'],
    ['null symbol', { ...LIMIT, symbol: null }, 'symbol:required'],
    ['null quantity', { ...LIMIT, quantity: null }, 'quantity:required'],
    // unknown fields
    ['an unknown field', { ...LIMIT, time_in_force: 'DAY' }, 'time_in_force:unknown_field'],
    ['a misspelt field', { ...MARKET, qty: 1 }, 'qty:unknown_field'],
    [
      '__proto__ as a key',
      JSON.parse(`{"__proto__":{"x":1},${JSON.stringify(LIMIT).slice(1)}`),
      '__proto__:unknown_field',
    ],
    // wrong types
    ['quantity as a string', { ...LIMIT, quantity: '100' }, 'quantity:type'],
    ['quantity as a boolean', { ...LIMIT, quantity: true }, 'quantity:type'],
    ['side as a number', { ...LIMIT, side: 1 }, 'side:enum'],
    ['side in lower case', { ...LIMIT, side: 'buy' }, 'side:enum'],
    ['side HOLD', { ...LIMIT, side: 'HOLD' }, 'side:enum'],
    ['order_type STOP', { ...MARKET, order_type: 'STOP' }, 'order_type:enum'],
    ['symbol as a number', { ...LIMIT, symbol: 123 }, 'symbol:type'],
    ['order_id as a number', { ...LIMIT, order_id: 5 }, 'order_id:type'],
    ['account_id as an array', { ...LIMIT, account_id: ['ACC-001'] }, 'account_id:type'],
    ['trader_id as an object', { ...LIMIT, trader_id: { id: 'x' } }, 'trader_id:type'],
    ['price as a boolean', { ...LIMIT, price: true }, 'price:type'],
    ['price as an object', { ...LIMIT, price: { amount: '1' } }, 'price:type'],
    // quantity range
    ['zero quantity', { ...LIMIT, quantity: 0 }, 'quantity:positive'],
    ['negative quantity', { ...LIMIT, quantity: -5 }, 'quantity:positive'],
    ['fractional quantity', { ...LIMIT, quantity: 1.5 }, 'quantity:integer'],
    ['absurd quantity (max + 1)', { ...LIMIT, quantity: MAX_ORDER_QUANTITY + 1 }, 'quantity:max'],
    ['absurd quantity (1e12)', { ...LIMIT, quantity: 1e12 }, 'quantity:max'],
    // price
    ['non-numeric price', { ...LIMIT, price: 'abc' }, 'price:format'],
    ['price with a currency sign', { ...LIMIT, price: '$150.50' }, 'price:format'],
    ['price with an exponent', { ...LIMIT, price: '1e2' }, 'price:format'],
    ['price with thousands separators', { ...LIMIT, price: '1,500.00' }, 'price:format'],
    ['negative price', { ...LIMIT, price: '-5' }, 'price:positive'],
    ['negative price as a number', { ...LIMIT, price: -1.5 }, 'price:positive'],
    ['zero price', { ...LIMIT, price: '0' }, 'price:positive'],
    ['zero price with decimals', { ...LIMIT, price: '0.0000' }, 'price:positive'],
    ['zero price as a number', { ...LIMIT, price: 0 }, 'price:positive'],
    ['too many decimals', { ...LIMIT, price: '150.12345' }, 'price:format'],
    ['too many decimals below $1', { ...LIMIT, price: '0.00001' }, 'price:format'],
    ['a float that is not an exact decimal', { ...LIMIT, price: 0.1 + 0.2 }, 'price:format'],
    ['a number printed with an exponent', { ...LIMIT, price: 1e-7 }, 'price:format'],
    ['too many integer digits', { ...LIMIT, price: '10000000' }, 'price:format'],
    ['above the maximum price', { ...LIMIT, price: '1000000.01' }, 'price:max'],
    ['sub-penny at $1 and above', { ...LIMIT, price: '150.505' }, 'price:tick_size'],
    ['sub-penny at exactly $1.001', { ...LIMIT, price: '1.001' }, 'price:tick_size'],
    ['sub-penny as a JSON number', { ...LIMIT, price: 150.505 }, 'price:tick_size'],
    ['LIMIT without a price', without('price'), 'price:required'],
    ['LIMIT with a null price', { ...LIMIT, price: null }, 'price:required'],
    ['MARKET with a price', { ...MARKET, price: '150.50' }, 'price:not_allowed'],
    ['MARKET with a numeric price', { ...MARKET, price: 150 }, 'price:not_allowed'],
    // formats
    ['lower-case symbol', { ...LIMIT, symbol: 'aapl' }, 'symbol:format'],
    ['empty symbol', { ...LIMIT, symbol: '' }, 'symbol:format'],
    ['symbol of 11 characters', { ...LIMIT, symbol: 'ABCDEFGHIJK' }, 'symbol:format'],
    ['symbol starting with a digit', { ...LIMIT, symbol: '1ABC' }, 'symbol:format'],
    ['symbol with a space', { ...LIMIT, symbol: 'BRK B' }, 'symbol:format'],
    ['order_id with a space', { ...LIMIT, order_id: 'ORD 1' }, 'order_id:format'],
    ['order_id with a slash', { ...LIMIT, order_id: 'ORD/1' }, 'order_id:format'],
    ['order_id of 65 characters', { ...LIMIT, order_id: 'A'.repeat(65) }, 'order_id:format'],
    ['empty order_id', { ...LIMIT, order_id: '' }, 'order_id:format'],
    ['lower-case account', { ...LIMIT, account_id: 'acc-001' }, 'account_id:format'],
    ['account starting with a dash', { ...LIMIT, account_id: '-ACC' }, 'account_id:format'],
    ['account of 33 characters', { ...LIMIT, account_id: `A${'1'.repeat(32)}` }, 'account_id:format'],
    ['trader_id with a dot', { ...LIMIT, trader_id: 'jane.doe' }, 'trader_id:format'],
  ];

  it.each(cases)('%s', (_what, input, expected) => {
    const errors = errorsOf(() => validateOrder(input));
    expect(rulesOf(errors)).toEqual([expected]);
    const e = errors[0];
    expect(e?.message.length).toBeGreaterThan(0);
  });

  it('names every field in the error message', () => {
    try {
      validateOrder({ ...LIMIT, quantity: '100', side: 1 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      const message = (err as ValidationError).message;
      expect(message).toMatch(/(^|; )quantity: quantity must be a number(;|$)/);
      expect(message).toMatch(/(^|; )side: side must be one of BUY, SELL(;|$)/);
    }
  });
});

describe('validateOrder: several errors at once are all reported', () => {
  it('reports every bad field, no short-circuit', () => {
    const input = {
      order_id: '',
      symbol: 'aapl',
      side: 'HOLD',
      quantity: -1,
      order_type: 'MARKET',
      price: '1',
      extra: 1,
    };
    expect(rulesOf(errorsOf(() => validateOrder(input)))).toEqual(
      [
        'account_id:required',
        'extra:unknown_field',
        'order_id:format',
        'price:not_allowed',
        'quantity:positive',
        'side:enum',
        'symbol:format',
        'trader_id:required',
      ].sort(),
    );
  });

  it('reports every missing field of an empty object', () => {
    expect(rulesOf(errorsOf(() => validateOrder({})))).toEqual(
      ['account_id', 'order_id', 'order_type', 'quantity', 'side', 'symbol', 'trader_id'].map((f) => `${f}:required`),
    );
  });

  it('reports a bad price and a bad quantity together', () => {
    expect(rulesOf(errorsOf(() => validateOrder({ ...LIMIT, quantity: 2.5, price: '150.505' })))).toEqual([
      'price:tick_size',
      'quantity:integer',
    ]);
  });
});

describe('validateOrder: valid orders', () => {
  it('accepts a MARKET order and returns exactly its fields', () => {
    expect(validateOrder({ ...MARKET })).toEqual({ ...MARKET });
    expect(Object.keys(validateOrder({ ...MARKET }))).not.toContain('price');
  });

  it('accepts a MARKET order with a null price (absent)', () => {
    expect(validateOrder({ ...MARKET, price: null })).toEqual({ ...MARKET });
  });

  it('accepts a LIMIT order and normalises its price', () => {
    expect(validateOrder({ ...LIMIT })).toEqual({ ...LIMIT, price: '150.5' });
  });

  it.each([
    ['150.50', '150.5'],
    ['150.00', '150'],
    ['150', '150'],
    ['0150.25', '150.25'],
    ['1.10', '1.1'],
    ['1.0000', '1'],
    ['0.9999', '0.9999'],
    ['0.0001', '0.0001'],
    ['1000000', '1000000'],
    [150.25, '150.25'],
    [150, '150'],
    [0.5, '0.5'],
  ])('price %j -> %j', (price, normalised) => {
    expect(validateOrder({ ...LIMIT, price }).price).toBe(normalised);
  });

  it.each([
    ['quantity 1', { quantity: 1 }],
    [`quantity ${MAX_ORDER_QUANTITY}`, { quantity: MAX_ORDER_QUANTITY }],
    ['symbol with a dot', { symbol: 'BRK.B' }],
    ['symbol of 10 characters', { symbol: 'ABCDEFGHIJ' }],
    ['order_id of 64 characters', { order_id: 'a'.repeat(64) }],
    ['order_id with underscore', { order_id: 'ord_2026-01-02_001' }],
    ['account of 32 characters', { account_id: `A${'1'.repeat(31)}` }],
    ['SELL side', { side: 'SELL' }],
  ])('accepts %s', (_what, patch) => {
    expect(validateOrder({ ...LIMIT, ...patch })).toEqual({ ...LIMIT, price: '150.5', ...patch });
  });
});

describe('orderHash', () => {
  it('is the SHA-256 of the canonical order, independent of key order', () => {
    const order = validateOrder({ ...MARKET });
    const reordered = validateOrder(Object.fromEntries(Object.entries(MARKET).reverse()));
    const canonical =
      '{"account_id":"ACC-001","order_id":"ORD-1","order_type":"MARKET","quantity":100,"side":"BUY","symbol":"AAPL","trader_id":"trader-1"}';
    expect(orderHash(order)).toBe(sha256Hex(canonical));
    expect(canonicalJson(order)).toBe(canonical);
    expect(orderHash(reordered)).toBe(orderHash(order));
  });

  it('changes with any field', () => {
    const base = validateOrder({ ...LIMIT });
    const hashes = new Set([
      orderHash(base),
      orderHash({ ...base, quantity: 101 }),
      orderHash({ ...base, price: '150.51' }),
      orderHash({ ...base, side: 'SELL' }),
      orderHash({ ...base, account_id: 'ACC-002' }),
    ]);
    expect(hashes.size).toBe(5);
  });
});
