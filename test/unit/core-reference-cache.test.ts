import { beforeEach, describe, expect, it } from 'vitest';
import { ReferenceCache } from '../../functions/core/reference-cache.js';
import { ACC_001, InMemoryReferenceStore, ManualClock, security } from '../support/in-memory.js';

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
