import { describe, expect, it, vi } from 'vitest';
import { SimulatedMarketData } from '../../local/market-data.js';
import { InMemoryReferenceStore, ManualClock, security, T0 } from '../support/in-memory.js';

const quiet = {
  warnings: [] as string[],
  warn(message: string) {
    this.warnings.push(message);
  },
};

describe('SimulatedMarketData (the local feed)', () => {
  it('republishes every tracked symbol with a fresh price_as_of, leaving the price alone', async () => {
    const clock = new ManualClock(undefined, 0n);
    const store = new InMemoryReferenceStore({ securities: [security('AAPL', '190.00'), security('MSFT', '420.00')] });
    const feed = new SimulatedMarketData(store, clock, quiet);
    feed.track('AAPL', 'NOPE');
    clock.advanceNs(5_000_000_000n);
    await feed.tick();
    expect(store.securities.get('AAPL')).toEqual({
      symbol: 'AAPL',
      reference_price: '190.00',
      price_as_of: '2026-01-02T14:30:05.000000000Z',
    });
    // Untracked and unknown symbols are left alone (nothing is invented).
    expect(store.securities.get('MSFT')?.price_as_of).toBe(T0);
    expect(store.securities.has('NOPE')).toBe(false);
  });

  it('never writes back a price it read before someone set a new one', async () => {
    const clock = new ManualClock(undefined, 0n);
    const store = new InMemoryReferenceStore({ securities: [security('AAPL', '190.00')] });
    const read = store.getSecurities.bind(store);
    store.getSecurities = async (symbols) => {
      const out = await read(symbols);
      // A risk officer sets a price between the feed's read and its write.
      await store.putSecurity(security('AAPL', '191.25', '2026-01-02T14:30:01.000000000Z'));
      return out;
    };
    const feed = new SimulatedMarketData(store, clock, quiet);
    feed.track('AAPL');
    await feed.tick();
    expect(store.securities.get('AAPL')).toMatchObject({ reference_price: '191.25' });
  });

  it('a failing store is logged and counted; the next tick tries again', async () => {
    const store = new InMemoryReferenceStore({ securities: [security('AAPL', '190.00')] });
    store.getSecurities = async () => {
      throw new Error('store down');
    };
    const log = {
      warnings: [] as string[],
      warn(message: string) {
        this.warnings.push(message);
      },
    };
    const feed = new SimulatedMarketData(store, new ManualClock(undefined, 0n), log);
    feed.track('AAPL');
    await feed.tick();
    expect(feed.failures).toBe(1);
    expect(log.warnings).toEqual(['market data tick failed; prices age until the next one']);
  });

  it('publishes on start and then every interval until stopped', async () => {
    const clock = new ManualClock(undefined, 0n);
    const store = new InMemoryReferenceStore({ securities: [security('AAPL', '190.00')] });
    const feed = new SimulatedMarketData(store, clock, quiet, 10);
    feed.track('AAPL');
    clock.advanceNs(1_000_000_000n);
    await feed.start();
    expect(store.securities.get('AAPL')?.price_as_of).toBe('2026-01-02T14:30:01.000000000Z');
    clock.advanceNs(1_000_000_000n);
    // The interval's next tick, however long a loaded machine takes to run it.
    await vi.waitFor(() => expect(store.securities.get('AAPL')?.price_as_of).toBe('2026-01-02T14:30:02.000000000Z'), {
      timeout: 5000,
      interval: 5,
    });
    await feed.stop();
  });
});
