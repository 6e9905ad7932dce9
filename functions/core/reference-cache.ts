// Read-through cache over reference data (risk profiles, prices, restricted list) with a bounded
// staleness: the hot path of every order avoids a round trip, and a change is seen within ttlMs.
import type { Clock, ReferenceStore } from '../ports.js';
import type { RiskProfile, SecurityReference } from './model.js';

interface Entry<T> {
  value: T | undefined;
  at: bigint;
}

export class ReferenceCache {
  private readonly profiles = new Map<string, Entry<RiskProfile>>();
  private readonly securities = new Map<string, Entry<SecurityReference>>();
  private readonly ttlNs: bigint;

  constructor(
    private readonly store: ReferenceStore,
    private readonly clock: Clock,
    ttlMs = 1000,
  ) {
    this.ttlNs = BigInt(ttlMs) * 1_000_000n;
  }

  async getRiskProfile(accountId: string): Promise<RiskProfile | undefined> {
    const hit = this.fresh(this.profiles.get(accountId));
    if (hit) return hit.value;
    const value = await this.store.getRiskProfile(accountId);
    this.profiles.set(accountId, { value, at: this.clock.nowNs() });
    return value;
  }

  async getSecurity(symbol: string): Promise<SecurityReference | undefined> {
    const hit = this.fresh(this.securities.get(symbol));
    if (hit) return hit.value;
    const value = await this.store.getSecurity(symbol);
    this.securities.set(symbol, { value, at: this.clock.nowNs() });
    return value;
  }

  async getSecurities(symbols: readonly string[]): Promise<Map<string, SecurityReference>> {
    const out = new Map<string, SecurityReference>();
    const missing: string[] = [];
    for (const s of symbols) {
      const hit = this.fresh(this.securities.get(s));
      if (hit) {
        if (hit.value) out.set(s, hit.value);
      } else missing.push(s);
    }
    if (missing.length > 0) {
      const fetched = await this.store.getSecurities(missing);
      const at = this.clock.nowNs();
      for (const s of missing) {
        const value = fetched.get(s);
        this.securities.set(s, { value, at });
        if (value) out.set(s, value);
      }
    }
    return out;
  }

  private fresh<T>(e: Entry<T> | undefined): Entry<T> | undefined {
    return e && this.clock.nowNs() - e.at < this.ttlNs ? e : undefined;
  }
}
