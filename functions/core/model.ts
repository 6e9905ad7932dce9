// Domain records. Money and prices are decimal strings (see decimal.ts), never floats.
// Timestamps are RFC 3339 UTC strings with nanoseconds: 2026-11-23T19:25:00.123456789Z.

export type Side = 'BUY' | 'SELL';
export type OrderType = 'MARKET' | 'LIMIT';

/** A validated order as the trader sent it. */
export interface Order {
  order_id: string;
  symbol: string;
  side: Side;
  quantity: number;
  order_type: OrderType;
  price?: string;
  account_id: string;
  trader_id: string;
  /** The trader means to send the same order again within the duplicate window. */
  duplicate_intended?: boolean;
}

export type OrderStatus =
  | 'RECEIVED'
  | 'RISK_APPROVED'
  | 'PENDING_APPROVAL'
  | 'APPROVED'
  | 'FILLED'
  | 'REJECTED'
  | 'EXPIRED'
  | 'FAILED';

export const FINAL_STATUSES: ReadonlySet<OrderStatus> = new Set(['FILLED', 'REJECTED', 'EXPIRED', 'FAILED']);

/** The stored order: the idempotency record and the anchor for the risk decision and the fill. */
export interface OrderRecord {
  order_id: string;
  order: Order;
  /** SHA-256 of the canonical order: binds the risk approval to this exact content. */
  order_hash: string;
  submitted_at: string;
  submitted_by: string;
  execution_id: string;
  /** The first answer, replayed verbatim to an identical resubmission. */
  answer: { statusCode: number; body: Record<string, unknown> };
  risk?: RiskCheck;
  execution?: {
    status: 'FILLED' | 'REJECTED';
    fill: Fill | null;
    venue_reason?: string;
    executed_at: string;
  };
}

export type RiskDecision = 'approved' | 'rejected' | 'needs_approval';

export interface ControlResult {
  control: string;
  passed: boolean;
  /** Stable reason code when the control failed. */
  reason_code?: string;
  /** The values the control compared, as strings. */
  values: Record<string, string>;
}

export interface RiskCheck {
  check_id: string;
  order_id: string;
  order_hash: string;
  decision: RiskDecision;
  reasons: string[];
  controls: ControlResult[];
  order_value: string;
  reference_price: string;
  limits_version: string;
  checked_at: string;
}

/**
 * An account's pre-trade limits: data, changed under maker-checker (see risk-admin.ts). Money is a
 * decimal string; a limit that is absent fails its control closed (MISSING_LIMIT), never open.
 */
export interface RiskProfile {
  account_id: string;
  /** Capital the account may commit: positions at reference prices plus open orders plus this order. */
  available_capital: string;
  max_order_value: string;
  max_order_quantity?: number;
  /** Per symbol: the projected position's value after the order. */
  max_position_value: string;
  /** All symbols: the projected gross position value after the order. */
  max_total_position_value?: string;
  /** Max share of the portfolio in one symbol, as a decimal fraction ("0.20"). */
  max_concentration: string;
  approval_threshold: string;
  /** Throttle: orders accepted per rolling second (default 100). */
  max_orders_per_second?: number;
  /** Duplicate window: the same order again within this many milliseconds is rejected. */
  duplicate_window_ms?: number;
  /** Per-symbol overrides of the per-order and per-position limits. */
  symbol_limits?: Record<string, SymbolLimits>;
  /** Approved temporary changes, in force until their expiry; then the values above apply again. */
  temporary?: TemporaryLimits[];
  /** Changes on every applied change: the decision records which limits it used. */
  version: string;
  /** The limit change that produced this version (how a retried approval recognises its own write). */
  last_change_id?: string;
}

export interface SymbolLimits {
  max_order_value?: string;
  max_order_quantity?: number;
  max_position_value?: string;
}

/** The limit fields a change may set: account-wide names, or `symbol_limits.<SYMBOL>.<field>`. */
export const ACCOUNT_LIMIT_FIELDS = [
  'available_capital',
  'max_order_value',
  'max_order_quantity',
  'max_position_value',
  'max_total_position_value',
  'max_concentration',
  'approval_threshold',
  'max_orders_per_second',
  'duplicate_window_ms',
] as const;
export type AccountLimitField = (typeof ACCOUNT_LIMIT_FIELDS)[number];
export const SYMBOL_LIMIT_FIELDS = ['max_order_value', 'max_order_quantity', 'max_position_value'] as const;
/** The firm's limit fields (FirmRiskSettings), changed like an account's under the scope FIRM. */
export const FIRM_LIMIT_FIELDS = ['price_collar', 'max_price_age_ms'] as const;
export type SymbolLimitField = (typeof SYMBOL_LIMIT_FIELDS)[number];

/** Limit values by field path (`max_order_value`, `symbol_limits.AAPL.max_order_quantity`). */
export type LimitValues = Record<string, string | number>;

export interface TemporaryLimits {
  change_id: string;
  values: LimitValues;
  until: string;
}

/** Firm-wide settings of the erroneous-order controls. */
export interface FirmRiskSettings {
  /** LIMIT price must lie within reference * (1 +- collar): a fraction ("0.10"). */
  price_collar: string;
  /** A reference price older than this is stale: the order is rejected. */
  max_price_age_ms: number;
  version: string;
  /** The limit change that produced this version (see RiskProfile.last_change_id). */
  last_change_id?: string;
}

export type TradingMode = 'ACTIVE' | 'REDUCING' | 'HALTED';
export const TRADING_MODES: readonly TradingMode[] = ['ACTIVE', 'REDUCING', 'HALTED'];

/** The kill switch: firm-wide (scope FIRM) or per account. No record means ACTIVE. */
export interface TradingState {
  scope: string;
  state: TradingMode;
  reason: string;
  set_by: string;
  set_at: string;
  /** 0 before the first change; conditional writes on it. */
  revision: number;
}

export const FIRM_SCOPE = 'FIRM';

export type RestrictionList = 'RESTRICTED' | 'PROHIBITED';

/** An entry on the firm's or an account's restricted or prohibited list. */
export interface Restriction {
  restriction_id: string;
  symbol: string;
  /** FIRM, or an account id. */
  scope: string;
  list: RestrictionList;
  reason: string;
  effective_from: string;
  /** Absent: until lifted (a lift sets it, so the history stays). */
  effective_until?: string;
  added_by: string;
  added_at: string;
}

/** A Reg SHO locate: borrowable shares reserved for an account's short sales in a symbol. */
export interface Locate {
  locate_id: string;
  account_id: string;
  symbol: string;
  quantity: number;
  /** Who provided the locate (the lender or the stock-loan desk). */
  source: string;
  obtained_at: string;
  expires_at: string;
  recorded_by: string;
}

export type HaltKind = 'TRADING_HALT' | 'LULD_PAUSE';

/** A symbol halted by its market (a regulatory halt, a limit-up/limit-down pause). */
export interface TradingHalt {
  symbol: string;
  kind: HaltKind;
  reason: string;
  since: string;
  /** An LULD pause ends by itself; a halt lasts until lifted. */
  until?: string;
  set_by: string;
}

export type LimitChangeStatus = 'PENDING' | 'APPROVED' | 'REJECTED';

/** A maker-checker limit change: requested by one risk officer, applied when another approves. */
export interface LimitChange {
  change_id: string;
  account_id: string;
  status: LimitChangeStatus;
  /** New values by field path. */
  values: LimitValues;
  /** The values in force when requested (null: not set). */
  before: Record<string, string | number | null>;
  /** The profile version the change was requested against: applying it requires the same one. */
  base_version: string;
  /** A temporary change reverts by itself at this time. */
  until?: string;
  reason: string;
  requested_by: string;
  requested_at: string;
  decided_by?: string;
  decided_at?: string;
  decision_reason?: string;
  /** The profile version the approval produced. */
  applied_version?: string;
}

/** Which accounts a trader may submit orders for (and read orders/positions of). */
export interface TraderEntitlement {
  trader_id: string;
  /** Account ids, sorted, no duplicates. */
  accounts: string[];
  /** Who last changed it and when (UTC, ns precision string like the other *_at fields). */
  updated_by: string;
  updated_at: string;
  /** Opaque version for conditional replacement, e.g. "TRADER-123/v1". */
  version: string;
}

/** An order the risk gate accepted that has not finished: its value stays committed. */
export interface OpenOrder {
  order_id: string;
  symbol: string;
  side: Side;
  quantity: number;
  /** The order's value at acceptance (its worst case). */
  value: string;
}

/** An order the gate accepted recently: for the throttle and the duplicate check. */
export interface RecentOrder {
  order_id: string;
  /** account|symbol|side|quantity|price; absent for an order marked duplicate_intended. */
  fingerprint?: string;
  at_ms: number;
}

/** An account's live risk state: one item, changed by conditional writes on `revision`. */
export interface AccountRiskState {
  account_id: string;
  /** 0: no item yet. */
  revision: number;
  open: Record<string, OpenOrder>;
  recent: RecentOrder[];
}

/** A symbol's reference price (the last trade or the NBBO midpoint, from market data). */
export interface SecurityReference {
  symbol: string;
  reference_price: string;
  price_as_of: string;
}

export interface Fill {
  fill_id: string;
  order_id: string;
  account_id: string;
  symbol: string;
  side: Side;
  quantity: number;
  price: string;
  venue_exec_id: string;
  executed_at: string;
}

export interface Position {
  account_id: string;
  symbol: string;
  /** Signed: negative is short. */
  quantity: number;
  average_cost: string;
  realized_pnl: string;
  version: number;
  updated_at: string;
}

export type ApprovalStatus = 'PENDING' | 'APPROVED' | 'REJECTED' | 'EXPIRED';

export interface ApprovalRecord {
  approval_id: string;
  order_id: string;
  status: ApprovalStatus;
  maker: string;
  account_id: string;
  symbol: string;
  side: Side;
  quantity: number;
  order_value: string;
  risk_check_id: string;
  task_token: string;
  requested_at: string;
  expires_at: string;
  decided_by?: string;
  decided_at?: string;
  reason?: string;
}

export const AUDIT_EVENT_TYPES = [
  'order_submitted',
  'order_invalid',
  'risk_check',
  'order_rejected_risk',
  'approval_requested',
  'approved',
  'approval_rejected',
  'approval_expired',
  'approval_refused',
  'trade_executed',
  'trade_failed',
  'position_updated',
  'order_failed',
  'order_resumed',
  'limit_change_requested',
  'limit_change_approved',
  'limit_change_rejected',
  'limit_change_refused',
  'limit_change_expired',
  'trading_state_changed',
  'restriction_added',
  'restriction_lifted',
  'locate_recorded',
  'halt_set',
  'halt_lifted',
  'reference_price_set',
  'risk_admin_refused',
  'report_generated',
  // An enforcement point refused a call: who (as the platform established it), what, and the
  // policy that decided (functions/core/access.ts).
  'access_denied',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** What an agent asks the audit trail to record. */
export interface AuditEvent {
  event_type: AuditEventType;
  order_id?: string;
  trader_id?: string;
  /** The acting identity: an agent's role, or the human behind a client certificate. */
  actor: string;
  input: unknown;
  decision: string;
  reason: string;
}

/** A committed audit record: the event plus its place in the hash chain. */
export interface AuditRecord extends AuditEvent {
  sequence: number;
  event_id: string;
  timestamp: string;
  prev_hash: string;
  hash: string;
}
