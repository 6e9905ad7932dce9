import { beforeEach, describe, expect, it } from 'vitest';
import type { Locate, Restriction, TraderEntitlement, TradingHalt, TradingState } from '../../functions/core/model.js';
import { ReferenceCache } from '../../functions/core/reference-cache.js';
import { ACC_001, InMemoryReferenceStore, ManualClock, security, T0 } from '../support/in-memory.js';

const MS = 1_000_000n;
let clock: ManualClock;
let store: InMemoryReferenceStore;
let cache: ReferenceCache;

beforeEach(() => {
  clock = new ManualClock(undefined, 0n);
  store = new InMemoryReferenceStore({
    profiles: [ACC_001],
    securities: [security('AAPL', '190'), security('MSFT', '420')],
  });
  cache = new ReferenceCache(store, clock, 1000);
});

describe('ReferenceCache', () => {
  it('serves a risk profile from memory within the TTL and re-reads it after', async () => {
    expect(await cache.getRiskProfile('ACC-001')).toEqual(ACC_001);
    await store.putRiskProfile({ ...ACC_001, max_order_value: '1' });
    clock.advanceNs(999n * MS);
    expect((await cache.getRiskProfile('ACC-001'))?.max_order_value).toBe('1000000');
    expect(store.calls.getRiskProfile).toBe(1);
    clock.advanceNs(1n * MS); // exactly the TTL: stale
    expect((await cache.getRiskProfile('ACC-001'))?.max_order_value).toBe('1');
    expect(store.calls.getRiskProfile).toBe(2);
  });

  it('caches an unknown account too (bounded by the TTL)', async () => {
    expect(await cache.getRiskProfile('ACC-404')).toBeUndefined();
    expect(await cache.getRiskProfile('ACC-404')).toBeUndefined();
    expect(store.calls.getRiskProfile).toBe(1);
    await store.putRiskProfile({ ...ACC_001, account_id: 'ACC-404' });
    clock.advanceNs(1000n * MS);
    expect((await cache.getRiskProfile('ACC-404'))?.account_id).toBe('ACC-404');
  });

  it('serves a security within the TTL; a price change is seen after it', async () => {
    expect((await cache.getSecurity('AAPL'))?.reference_price).toBe('190');
    await store.putSecurity(security('AAPL', '191'));
    expect((await cache.getSecurity('AAPL'))?.reference_price).toBe('190');
    clock.advanceNs(1000n * MS);
    expect((await cache.getSecurity('AAPL'))?.reference_price).toBe('191');
    expect(store.calls.getSecurity).toBe(2);
  });

  it('getSecurities fetches only what is not fresh, in one round trip, and omits unknown symbols', async () => {
    await cache.getSecurity('AAPL');
    const got = await cache.getSecurities(['AAPL', 'MSFT', 'NOPE']);
    expect([...got.keys()].sort()).toEqual(['AAPL', 'MSFT']);
    expect(store.calls.getSecurities).toBe(1);
    // all three are now cached, the unknown one as unknown
    const again = await cache.getSecurities(['AAPL', 'MSFT', 'NOPE']);
    expect([...again.keys()].sort()).toEqual(['AAPL', 'MSFT']);
    expect(store.calls.getSecurities).toBe(1);
    expect(await cache.getSecurity('MSFT')).toEqual(security('MSFT', '420'));
    expect(store.calls.getSecurity).toBe(1);
  });

  it('getSecurities with everything fresh makes no round trip', async () => {
    await cache.getSecurities(['AAPL']);
    await cache.getSecurities(['AAPL']);
    await cache.getSecurities([]);
    expect(store.calls.getSecurities).toBe(1);
  });
});

function tradingState(scope: string, state: TradingState['state'], revision: number): TradingState {
  return { scope, state, reason: 'test', set_by: 'RISK-OFFICER-1', set_at: T0, revision };
}

const RESTRICTION: Restriction = {
  restriction_id: 'R-1',
  symbol: 'AAPL',
  scope: 'FIRM',
  list: 'PROHIBITED',
  reason: 'sanctioned issuer',
  effective_from: T0,
  added_by: 'RISK-OFFICER-1',
  added_at: T0,
};
const LOCATE: Locate = {
  locate_id: 'L-1',
  account_id: 'ACC-001',
  symbol: 'AAPL',
  quantity: 100,
  source: 'stock-loan',
  obtained_at: T0,
  expires_at: '2026-01-03T00:00:00.000000000Z',
  recorded_by: 'RISK-OFFICER-1',
};
const HALT: TradingHalt = { symbol: 'AAPL', kind: 'TRADING_HALT', reason: 'news pending', since: T0, set_by: 'md' };
const entitlement = (trader_id: string, accounts: string[], version = `${trader_id}/v1`): TraderEntitlement => ({
  trader_id,
  accounts,
  updated_by: 'seed',
  updated_at: T0,
  version,
});

describe('ReferenceCache: what the risk controls read, compiled, with bounded staleness', () => {
  it('getPrice serves the compiled price within the TTL; a damaged price is no price (the raw item is still served)', async () => {
    const p = await cache.getPrice('AAPL');
    expect([p?.text, p?.price.toString(), p?.asOf]).toEqual(['190', '190', T0]);
    await store.putSecurity(security('AAPL', 'garbage'));
    expect((await cache.getPrice('AAPL'))?.text).toBe('190');
    clock.advanceNs(1000n * MS);
    expect(await cache.getPrice('AAPL')).toBeUndefined();
    expect((await cache.getSecurity('AAPL'))?.reference_price).toBe('garbage');
    expect(await cache.getPrice('NOPE')).toBeUndefined();
  });

  it('getPrices fetches what is not fresh in one round trip and leaves out unknown and damaged prices', async () => {
    await store.putSecurity(security('BAD', '-1'));
    await cache.getPrice('AAPL');
    const got = await cache.getPrices(['AAPL', 'MSFT', 'BAD', 'NOPE']);
    expect([...got.keys()].sort()).toEqual(['AAPL', 'MSFT']);
    expect(got.get('MSFT')?.price.toString()).toBe('420');
    expect(store.calls.getSecurities).toBe(1);
    await cache.getPrices(['AAPL', 'MSFT', 'BAD', 'NOPE']);
    expect(store.calls.getSecurities).toBe(1);
  });

  it('getFirmSettings compiles and caches the settings (absent ones too) for the TTL', async () => {
    expect(await cache.getFirmSettings()).toBeUndefined();
    await store.putFirmSettings({ price_collar: '0.1', max_price_age_ms: 5000, version: 'firm/v1' });
    expect(await cache.getFirmSettings()).toBeUndefined();
    clock.advanceNs(1000n * MS);
    const f = await cache.getFirmSettings();
    expect([f?.version, f?.priceCollar?.toString(), f?.maxPriceAgeMs]).toEqual(['firm/v1', '0.1', 5000]);
    expect(store.calls.getFirmSettings).toBe(2);
  });

  it('the kill switch: ACTIVE when never set; a change is seen within the TTL, at the latest', async () => {
    expect(await cache.getTradingMode('FIRM')).toBe('ACTIVE');
    expect(await cache.getTradingMode('ACC-001')).toBe('ACTIVE');
    await store.putTradingState(tradingState('FIRM', 'HALTED', 1), 0);
    await store.putTradingState(tradingState('ACC-001', 'REDUCING', 1), 0);
    clock.advanceNs(999n * MS);
    expect(await cache.getTradingMode('FIRM')).toBe('ACTIVE');
    clock.advanceNs(1n * MS);
    expect(await cache.getTradingMode('FIRM')).toBe('HALTED');
    expect(await cache.getTradingMode('ACC-001')).toBe('REDUCING');
    expect(await cache.getTradingMode('ACC-002')).toBe('ACTIVE');
    expect(store.calls.getTradingState).toBe(5);
  });

  it('restrictions, locates and halts are compiled and cached per key for the TTL', async () => {
    expect(await cache.getRestrictions('AAPL')).toEqual([]);
    expect(await cache.getLocates('ACC-001', 'AAPL')).toEqual([]);
    expect(await cache.getHalt('AAPL')).toBeUndefined();
    await store.putRestriction(RESTRICTION);
    await store.putLocate(LOCATE);
    await store.putHalt(HALT);
    expect(await cache.getRestrictions('AAPL')).toEqual([]);
    expect(await cache.getLocates('ACC-001', 'AAPL')).toEqual([]);
    expect(await cache.getHalt('AAPL')).toBeUndefined();
    clock.advanceNs(1000n * MS);
    expect(await cache.getRestrictions('AAPL')).toMatchObject([{ id: 'R-1', scope: 'FIRM', list: 'PROHIBITED' }]);
    expect(await cache.getLocates('ACC-001', 'AAPL')).toMatchObject([{ id: 'L-1', quantity: 100 }]);
    expect(await cache.getLocates('ACC-002', 'AAPL')).toEqual([]);
    expect(await cache.getHalt('AAPL')).toEqual({ kind: 'TRADING_HALT', reason: 'news pending' });
    expect([store.calls.listRestrictions, store.calls.listLocates, store.calls.getHalt]).toEqual([2, 3, 2]);
    // A lifted halt is seen after the TTL too.
    expect(await store.deleteHalt('AAPL', T0)).toBe(true);
    clock.advanceNs(1000n * MS);
    expect(await cache.getHalt('AAPL')).toBeUndefined();
  });

  it("a trader's accounts are cached per trader for the TTL, none on record too; a change is seen after it", async () => {
    await store.putTraderEntitlement(entitlement('TRADER-123', ['ACC-002', 'ACC-001']));
    expect(await cache.getTraderAccounts('TRADER-123')).toEqual(['ACC-001', 'ACC-002']);
    expect(await cache.getTraderAccounts('TRADER-456')).toBeUndefined();
    await store.putTraderEntitlement(entitlement('TRADER-123', ['ACC-003'], 'TRADER-123/v2'));
    await store.putTraderEntitlement(entitlement('TRADER-456', ['ACC-004']));
    clock.advanceNs(999n * MS);
    expect(await cache.getTraderAccounts('TRADER-123')).toEqual(['ACC-001', 'ACC-002']);
    expect(await cache.getTraderAccounts('TRADER-456')).toBeUndefined();
    expect(store.calls.getTraderEntitlement).toBe(2);
    clock.advanceNs(1n * MS); // exactly the TTL: stale
    expect(await cache.getTraderAccounts('TRADER-123')).toEqual(['ACC-003']);
    expect(await cache.getTraderAccounts('TRADER-456')).toEqual(['ACC-004']);
    expect(store.calls.getTraderEntitlement).toBe(4);
    // Revoked to no account: on record, so an empty list, not undefined.
    await store.putTraderEntitlement(entitlement('TRADER-456', [], 'TRADER-456/v2'));
    clock.advanceNs(1000n * MS);
    expect(await cache.getTraderAccounts('TRADER-456')).toEqual([]);
  });

  it('the cached accounts cannot be changed by a caller: the next one reads what the store said', async () => {
    await store.putTraderEntitlement(entitlement('TRADER-123', ['ACC-001']));
    const accounts = (await cache.getTraderAccounts('TRADER-123')) as string[];
    expect(() => accounts.push('ACC-999')).toThrow(TypeError);
    expect(await cache.getTraderAccounts('TRADER-123')).toEqual(['ACC-001']);
    expect(store.calls.getTraderEntitlement).toBe(1);
  });

  it('invalidate forgets everything: the next read of each item goes to the store', async () => {
    await cache.getTraderAccounts('TRADER-123');
    await cache.getLimits('ACC-001');
    await cache.getPrice('AAPL');
    await cache.getFirmSettings();
    await cache.getTradingMode('FIRM');
    await cache.getRestrictions('AAPL');
    await cache.getLocates('ACC-001', 'AAPL');
    await cache.getHalt('AAPL');
    await store.putTradingState(tradingState('FIRM', 'HALTED', 1), 0);
    await store.putRiskProfile({ ...ACC_001, version: 'ACC-001/v2' });
    await store.putTraderEntitlement(entitlement('TRADER-123', ['ACC-001']));
    cache.invalidate();
    expect(await cache.getTraderAccounts('TRADER-123')).toEqual(['ACC-001']);
    expect(await cache.getTradingMode('FIRM')).toBe('HALTED');
    expect((await cache.getLimits('ACC-001'))?.version).toBe('ACC-001/v2');
    await cache.getPrice('AAPL');
    await cache.getFirmSettings();
    await cache.getRestrictions('AAPL');
    await cache.getLocates('ACC-001', 'AAPL');
    await cache.getHalt('AAPL');
    expect(store.calls).toMatchObject({
      getRiskProfile: 2,
      getSecurity: 2,
      getFirmSettings: 2,
      getTradingState: 2,
      listRestrictions: 2,
      listLocates: 2,
      getHalt: 2,
      getTraderEntitlement: 2,
    });
  });
});
