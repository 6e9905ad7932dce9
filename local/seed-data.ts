// Reference data a fresh local platform starts with: the seed's ACC-001 limits, a conservative
// default for other accounts, reference prices, and the firm's prohibited list.
import type { RiskProfile, SecurityReference } from '../functions/core/model.js';

/** The seed's limits for ACC-001 (max order $1M, max position $10M, 20% concentration, $500K threshold). */
export const ACC_001: RiskProfile = {
  account_id: 'ACC-001',
  available_capital: '50000000',
  max_order_value: '1000000',
  max_position_value: '10000000',
  max_concentration: '0.20',
  approval_threshold: '500000',
  version: 'ACC-001/v1',
};

/** Accounts without their own limits get these: the seed's $100K max order, and tighter the rest. */
export const CONSERVATIVE_DEFAULT: Omit<RiskProfile, 'account_id' | 'version'> = {
  available_capital: '1000000',
  max_order_value: '100000',
  max_position_value: '250000',
  max_concentration: '0.25',
  approval_threshold: '500000',
};

export const DEFAULT_ACCOUNTS = ['ACC-002', 'ACC-003'];

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

export const PROHIBITED: Record<string, { price: string; reason: string }> = {
  SANC: { price: '12.00', reason: 'firm prohibited list: sanctioned issuer' },
  RSTR: { price: '48.00', reason: 'firm restricted list: information barrier (pending M&A)' },
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
      prohibited: false,
    })),
    ...Object.entries(PROHIBITED).map(([symbol, p]) => ({
      symbol,
      reference_price: p.price,
      price_as_of: asOf,
      prohibited: true,
      prohibited_reason: p.reason,
    })),
  ];
}
