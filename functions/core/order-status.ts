// An order's status is derived from its audit records: one source of truth, no status writes on
// the hot path. The workflow's own status covers the case where no final record could be written.
import type { AuditRecord, OrderStatus } from './model.js';

export function deriveStatus(records: readonly AuditRecord[]): OrderStatus {
  let status: OrderStatus = 'RECEIVED';
  let filled = false;
  for (const r of records) {
    switch (r.event_type) {
      case 'risk_check':
        // needs_approval becomes PENDING_APPROVAL once the approval is actually requested.
        if (r.decision === 'approved' && !filled) status = 'RISK_APPROVED';
        break;
      case 'approval_requested':
        if (!filled) status = 'PENDING_APPROVAL';
        break;
      // Once filled, an order stays FILLED: records replayed by a re-run lifecycle cannot undo a trade.
      case 'approved':
        if (!filled) status = 'APPROVED';
        break;
      case 'order_rejected_risk':
      case 'approval_rejected':
        if (!filled) status = 'REJECTED';
        break;
      case 'approval_expired':
        if (!filled) status = 'EXPIRED';
        break;
      case 'trade_executed':
        status = 'FILLED';
        filled = true;
        break;
      case 'trade_failed':
        if (!filled) status = r.decision === 'rejected' ? 'REJECTED' : 'FAILED';
        break;
      case 'order_failed':
        // A failure after the fill (e.g. the position update) does not undo the trade.
        if (!filled) status = 'FAILED';
        break;
      default:
        break;
    }
  }
  return status;
}
