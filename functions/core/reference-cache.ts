// Read-through cache over reference and risk data (limits, prices, lists, locates, halts, trading
// states, traders' entitlements) with a bounded staleness: the hot path of every order avoids round
// trips, and a change made anywhere is seen within ttlMs (the kill switch included). What the risk
// controls read comes compiled (risk-views.ts), once per fill. Absent items are cached too, for the
// same bound.
import type { Clock, ReferenceStore } from '../ports.js';
import { type FIRM_SCOPE, type RiskProfile, type SecurityReference, TRADING_MODES, type TradingMode } from './model.js';
import { effectiveProfile } from './risk-limits.js';
import {
  type FirmView,
  firmView,
  type HaltView,
  haltView,
  type LimitsView,
  type LocateView,
  limitsView,
  locateView,
  type PriceView,
  priceView,
  type RestrictionView,
  restrictionView,
} from './risk-views.js';
import { formatNs, parseNs } from './time.js';

interface Entry<T> {
  value: T;
  at: bigint;
}

interface LimitsEntry {
  profile: RiskProfile | undefined;
  view: LimitsView | undefined;
  /** The view is right until this time: the next temporary change to start or end. */
  validUntilNs: bigint;
}

type Scope = typeof FIRM_SCOPE | string;

export class ReferenceCache {
  private readonly profiles = new Map<string, Entry<LimitsEntry>>();
  private readonly securities = new Map<
    string,
    Entry<{ raw: SecurityReference; view: PriceView | undefined } | undefined>
  >();
  private firm: Entry<FirmView | undefined> | undefined;
  private readonly modes = new Map<Scope, Entry<TradingMode>>();
  private readonly restrictions = new Map<string, Entry<RestrictionView[]>>();
  private readonly locates = new Map<string, Entry<LocateView[]>>();
  private readonly halts = new Map<string, Entry<HaltView | undefined>>();
  private readonly traderAccounts = new Map<string, Entry<readonly string[] | undefined>>();
  private readonly ttlNs: bigint;

  constructor(
    private readonly store: ReferenceStore,
    private readonly clock: Clock,
    ttlMs = 1000,
  ) {
    this.ttlNs = BigInt(ttlMs) * 1_000_000n;
  }

  /** Forget everything: the next read of each item goes to the store (after a local change). */
  invalidate(): void {
    this.profiles.clear();
    this.securities.clear();
    this.firm = undefined;
    this.modes.clear();
    this.restrictions.clear();
    this.locates.clear();
    this.halts.clear();
    this.traderAccounts.clear();
  }

  /** The stored (base) profile. */
  async getRiskProfile(accountId: string): Promise<RiskProfile | undefined> {
    return (await this.profileEntry(accountId)).profile;
  }

  /** The limits in force now: temporary changes applied, parsed for the controls. */
  async getLimits(accountId: string): Promise<LimitsView | undefined> {
    const e = await this.profileEntry(accountId);
    if (e.profile && this.clock.nowNs() >= e.validUntilNs) {
      // A temporary change started or ended since the view was made: make it again.
      Object.assign(e, compileProfile(e.profile, this.clock.nowNs()));
    }
    return e.view;
  }

  async getSecurity(symbol: string): Promise<SecurityReference | undefined> {
    return (await this.securityEntry(symbol))?.raw;
  }

  async getPrice(symbol: string): Promise<PriceView | undefined> {
    return (await this.securityEntry(symbol))?.view;
  }

  async getSecurities(symbols: readonly string[]): Promise<Map<string, SecurityReference>> {
    const out = new Map<string, SecurityReference>();
    for (const [s, e] of await this.securityEntries(symbols)) if (e) out.set(s, e.raw);
    return out;
  }

  /** Prices of several symbols, fetching what is not fresh in one round trip. */
  async getPrices(symbols: readonly string[]): Promise<Map<string, PriceView>> {
    const out = new Map<string, PriceView>();
    for (const [s, e] of await this.securityEntries(symbols)) if (e?.view) out.set(s, e.view);
    return out;
  }

  async getFirmSettings(): Promise<FirmView | undefined> {
    const hit = this.fresh(this.firm);
    if (hit) return hit.value;
    const f = await this.store.getFirmSettings();
    this.firm = { value: f ? firmView(f) : undefined, at: this.clock.nowNs() };
    return this.firm.value;
  }

  /** The trading state of FIRM or an account; ACTIVE when none was ever set. */
  async getTradingMode(scope: Scope): Promise<TradingMode> {
    return this.through(this.modes, scope, async () => {
      const item = await this.store.getTradingState(scope);
      if (item === undefined) return 'ACTIVE';
      const state = item.state;
      // A state that is not one of the three (a damaged item, a typo in a direct write) halts:
      // the kill switch fails closed.
      return TRADING_MODES.includes(state) ? state : 'HALTED';
    });
  }

  async getRestrictions(symbol: string): Promise<RestrictionView[]> {
    return this.through(this.restrictions, symbol, async () =>
      (await this.store.listRestrictions(symbol)).map(restrictionView),
    );
  }

  async getLocates(accountId: string, symbol: string): Promise<LocateView[]> {
    return this.through(this.locates, `${accountId}|${symbol}`, async () =>
      (await this.store.listLocates(accountId, symbol)).map(locateView),
    );
  }

  async getHalt(symbol: string): Promise<HaltView | undefined> {
    return this.through(this.halts, symbol, async () => {
      const h = await this.store.getHalt(symbol);
      return h ? haltView(h) : undefined;
    });
  }

  /** The accounts the trader is entitled to; undefined when the trader has no entitlement on record. */
  async getTraderAccounts(traderId: string): Promise<readonly string[] | undefined> {
    return this.through(this.traderAccounts, traderId, async () => {
      const e = await this.store.getTraderEntitlement(traderId);
      // Frozen: every caller within the TTL shares this one array.
      return e ? Object.freeze([...e.accounts]) : undefined;
    });
  }

  private async profileEntry(accountId: string): Promise<LimitsEntry> {
    return this.through(this.profiles, accountId, async () => {
      const profile = await this.store.getRiskProfile(accountId);
      return profile
        ? { profile, ...compileProfile(profile, this.clock.nowNs()) }
        : { profile: undefined, view: undefined, validUntilNs: FOREVER };
    });
  }

  private async securityEntry(symbol: string) {
    const hit = this.fresh(this.securities.get(symbol));
    if (hit) return hit.value;
    const raw = await this.store.getSecurity(symbol);
    const value = raw ? { raw, view: priceView(raw) } : undefined;
    this.securities.set(symbol, { value, at: this.clock.nowNs() });
    return value;
  }

  private async securityEntries(symbols: readonly string[]) {
    const out = new Map<string, { raw: SecurityReference; view: PriceView | undefined } | undefined>();
    const missing: string[] = [];
    for (const s of symbols) {
      const hit = this.fresh(this.securities.get(s));
      if (hit) out.set(s, hit.value);
      else missing.push(s);
    }
    if (missing.length > 0) {
      const fetched = await this.store.getSecurities(missing);
      const at = this.clock.nowNs();
      for (const s of missing) {
        const raw = fetched.get(s);
        const value = raw ? { raw, view: priceView(raw) } : undefined;
        this.securities.set(s, { value, at });
        out.set(s, value);
      }
    }
    return out;
  }

  private async through<T>(map: Map<string, Entry<T>>, key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.fresh(map.get(key));
    if (hit) return hit.value;
    const value = await load();
    map.set(key, { value, at: this.clock.nowNs() });
    return value;
  }

  private fresh<T>(e: Entry<T> | undefined): Entry<T> | undefined {
    return e && this.clock.nowNs() - e.at < this.ttlNs ? e : undefined;
  }
}

const FOREVER = 2n ** 63n;

function compileProfile(profile: RiskProfile, nowNs: bigint): { view: LimitsView; validUntilNs: bigint } {
  const now = formatNs(nowNs);
  let validUntilNs = FOREVER;
  for (const t of profile.temporary ?? []) {
    const until = parseNs(t.until);
    if (until !== undefined && until > nowNs && until < validUntilNs) validUntilNs = until;
  }
  return { view: limitsView(effectiveProfile(profile, now)), validUntilNs };
}
