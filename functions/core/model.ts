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

export interface RiskProfile {
  account_id: string;
  available_capital: string;
  max_order_value: string;
  max_position_value: string;
  /** Max share of the portfolio in one symbol, as a decimal fraction ("0.20"). */
  max_concentration: string;
  approval_threshold: string;
  version: string;
}

export interface SecurityReference {
  symbol: string;
  reference_price: string;
  price_as_of: string;
  prohibited: boolean;
  prohibited_reason?: string;
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
