// A simulated market-data feed for the embedded platform, next to the simulated venue: every
// `intervalMs` it republishes each tracked symbol's last price with a fresh `price_as_of`, as a
// last-sale feed does. The risk gate rejects orders on a price older than the firm's
// max_price_age_ms (fail closed), so without a feed no local order could pass. Prices move only
// when someone sets them (`trading risk price`); on AWS a real feed writes the same items.
import type { SecurityReference } from '../functions/core/model.js';
import { formatNs } from '../functions/core/time.js';
import type { Clock, ReferenceStore } from '../functions/ports.js';

export interface MarketDataLogger {
  warn(message: string, extra: { error: string }): void;
}

export class SimulatedMarketData {
  private readonly symbols = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Ticks that failed (the store refused a write); logged, and the next tick tries again. */
  failures = 0;

  constructor(
    private readonly store: Pick<ReferenceStore, 'getSecurities' | 'restampPrice'>,
    private readonly clock: Clock,
    private readonly logger: MarketDataLogger,
    private readonly intervalMs = 1000,
  ) {}

  track(...symbols: string[]): void {
    for (const s of symbols) this.symbols.add(s);
  }

  /** Publishes once now, then every interval. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => {
      // One tick at a time: a slow store skips a beat rather than piling writes up.
      this.running ??= this.tick().finally(() => {
        this.running = undefined;
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Republish every tracked symbol's current price, stamped now. */
  async tick(): Promise<void> {
    try {
      const current = await this.store.getSecurities([...this.symbols]);
      const asOf = formatNs(this.clock.nowNs());
      // Conditional on the price read: a price set meanwhile is kept (and stamped by the next tick).
      await Promise.all(
        [...current.values()].map((s: SecurityReference) => this.store.restampPrice(s.symbol, s.reference_price, asOf)),
      );
    } catch (err) {
      this.failures += 1;
      this.logger.warn('market data tick failed; prices age until the next one', { error: String(err) });
    }
  }
}
