// Reference data a fresh local platform (and `npm run load-reference` on AWS) starts with: the
// seed's ACC-001 limits, a conservative default for other accounts, reference prices, the firm's
// restricted and prohibited lists, the firm's erroneous-order settings, and which accounts each
// example trader may submit for.
import {
  FIRM_SCOPE,
  type FirmRiskSettings,
  type Restriction,
  type RestrictionList,
  type RiskProfile,
  type SecurityReference,
  type TraderEntitlement,
} from '../functions/core/model.js';
import type { ReferenceStore } from '../functions/ports.js';

/**
 * The seed's limits for ACC-001 (max order $1M, max position $10M, 20% concentration, $500K
 * threshold), with the controls the seed left out: 100,000 shares an order, $40M gross, 100 orders a
 * second, the same order twice within 2 s refused.
 */
export const ACC_001: RiskProfile = {
  account_id: 'ACC-001',
  available_capital: '50000000',
  max_order_value: '1000000',
  max_order_quantity: 100_000,
  max_position_value: '10000000',
  max_total_position_value: '40000000',
  max_concentration: '0.20',
  approval_threshold: '500000',
  max_orders_per_second: 100,
  duplicate_window_ms: 2_000,
  version: 'ACC-001/v1',
};

/** Accounts without their own limits get these: the seed's $100K max order, and tighter the rest. */
export const CONSERVATIVE_DEFAULT: Omit<RiskProfile, 'account_id' | 'version'> = {
  available_capital: '1000000',
  max_order_value: '100000',
  max_order_quantity: 10_000,
  max_position_value: '250000',
  max_total_position_value: '1000000',
  max_concentration: '0.25',
  approval_threshold: '500000',
  max_orders_per_second: 100,
  duplicate_window_ms: 2_000,
};

export const DEFAULT_ACCOUNTS = ['ACC-002', 'ACC-003', 'ACC-004'];

export const REFERENCE_PRICES: Record<string, string> = {
  AAPL: '190.00',
  MSFT: '420.00',
  GOOGL: '170.00',
  AMZN: '185.00',
  NVDA: '120.00',
  TSLA: '250.00',
  JPM: '210.00',
  XOM: '115.00',
  SPY: '580.00',
  'BRK.B': '450.00',
};

/** Symbols on the firm's lists: priced like the others, and listed firm-wide from the seed time. */
export const FIRM_LISTED: Record<string, { price: string; list: RestrictionList; reason: string }> = {
  SANC: { price: '12.00', list: 'PROHIBITED', reason: 'firm prohibited list: sanctioned issuer' },
  RSTR: { price: '48.00', list: 'RESTRICTED', reason: 'firm restricted list: information barrier (pending M&A)' },
};

/** LIMIT prices within 10% of the reference; a reference price older than 10 s is stale. */
export const FIRM_SETTINGS: FirmRiskSettings = { price_collar: '0.10', max_price_age_ms: 10_000, version: 'firm/v1' };

export const SEED_ACTOR = 'seed';

/**
 * Which accounts each example trader may submit for: TRADER-123 (the seed's trader, in every
 * example and test) the first three accounts; TRADER-456 only ACC-004, so a trader acting outside
 * its entitlements has an account to try.
 */
export const TRADER_ACCOUNTS: Record<string, readonly string[]> = {
  'TRADER-123': ['ACC-001', 'ACC-002', 'ACC-003'],
  'TRADER-456': ['ACC-004'],
};

export function seedProfiles(): RiskProfile[] {
  return [
    ACC_001,
    ...DEFAULT_ACCOUNTS.map((account_id) => ({ account_id, ...CONSERVATIVE_DEFAULT, version: 'default/v1' })),
  ];
}

export function seedSecurities(asOf: string): SecurityReference[] {
  return [
    ...Object.entries(REFERENCE_PRICES).map(([symbol, reference_price]) => ({
      symbol,
      reference_price,
      price_as_of: asOf,
    })),
    ...Object.entries(FIRM_LISTED).map(([symbol, l]) => ({ symbol, reference_price: l.price, price_as_of: asOf })),
  ];
}

export function seedRestrictions(asOf: string): Restriction[] {
  return Object.entries(FIRM_LISTED).map(([symbol, l]) => ({
    restriction_id: `SEED-${symbol}`,
    symbol,
    scope: FIRM_SCOPE,
    list: l.list,
    reason: l.reason,
    effective_from: asOf,
    added_by: SEED_ACTOR,
    added_at: asOf,
  }));
}

export function seedEntitlements(asOf: string): TraderEntitlement[] {
  return Object.entries(TRADER_ACCOUNTS).map(([trader_id, accounts]) => ({
    trader_id,
    accounts: [...accounts],
    updated_by: SEED_ACTOR,
    updated_at: asOf,
    version: `${trader_id}/v1`,
  }));
}

export interface SeedResult {
  /** Keys of the items written (as the reference table names them). */
  written: string[];
  /** Keys of the items already on file, left as they are. */
  kept: string[];
}

/**
 * Writes every seed item that is not on file yet, and never touches one that is: limits,
 * prices and lists already there (changed since, or lifted) stay as they are. Used by the local
 * platform's first start (and by a start on a data directory seeded by an earlier layout) and by
 * the loader for a deployed table.
 */
export async function seedReference(
  store: ReferenceStore,
  asOf: string,
  /** Traders whose entitlements the caller writes itself (the loader's input file): not seeded. */
  skipTraders: ReadonlySet<string> = new Set(),
): Promise<SeedResult> {
  const result: SeedResult = { written: [], kept: [] };
  const step = async (key: string, present: boolean, write: () => Promise<void>): Promise<void> => {
    if (present) result.kept.push(key);
    else {
      await write();
      result.written.push(key);
    }
  };
  for (const profile of seedProfiles()) {
    await step(
      `ACCOUNT#${profile.account_id}`,
      (await store.getRiskProfile(profile.account_id)) !== undefined,
      // Conditional: a profile created in between is kept, not overwritten.
      async () => void (await store.putRiskProfileIf(profile, undefined)),
    );
  }
  for (const security of seedSecurities(asOf)) {
    await step(`SECURITY#${security.symbol}`, (await store.getSecurity(security.symbol)) !== undefined, () =>
      store.putSecurity(security),
    );
  }
  for (const r of seedRestrictions(asOf)) {
    const onFile = await store.listRestrictions(r.symbol);
    await step(
      `SECURITY#${r.symbol}/RESTRICTION#${r.scope}#${r.restriction_id}`,
      onFile.some((o) => o.scope === r.scope && o.restriction_id === r.restriction_id),
      () => store.putRestriction(r),
    );
  }
  await step('FIRM/RISK_SETTINGS', (await store.getFirmSettings()) !== undefined, () =>
    store.putFirmSettings(FIRM_SETTINGS),
  );
  for (const e of seedEntitlements(asOf)) {
    if (skipTraders.has(e.trader_id)) continue;
    // An entitlement on file (narrowed or widened since) is the firm's current word: kept.
    await step(`TRADER#${e.trader_id}`, (await store.getTraderEntitlement(e.trader_id)) !== undefined, () =>
      store.putTraderEntitlement(e),
    );
  }
  return result;
}
