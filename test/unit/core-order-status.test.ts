import { describe, expect, it } from 'vitest';
import { type AuditEventType, type AuditRecord, FINAL_STATUSES, type OrderStatus } from '../../functions/core/model.js';
import { deriveStatus } from '../../functions/core/order-status.js';

const rec = (seq: number, event_type: AuditEventType, decision: string): AuditRecord => ({
  sequence: seq,
  event_id: `EVT-${seq}`,
  timestamp: `2026-01-02T14:30:00.00000000${seq}Z`,
  event_type,
  order_id: 'ORD-1',
  actor: 'test',
  input: {},
  decision,
  reason: '',
  prev_hash: '',
  hash: '',
});

const path = (...steps: Array<[AuditEventType, string]>): AuditRecord[] => steps.map(([t, d], i) => rec(i, t, d));

describe('deriveStatus', () => {
  it.each<[string, AuditRecord[], OrderStatus]>([
    ['no records', [], 'RECEIVED'],
    ['submitted', path(['order_submitted', 'accepted']), 'RECEIVED'],
    ['risk approved', path(['order_submitted', 'accepted'], ['risk_check', 'approved']), 'RISK_APPROVED'],
    // needs_approval shows as pending only once the approval is requested
    [
      'risk needs approval, not yet requested',
      path(['order_submitted', 'accepted'], ['risk_check', 'needs_approval']),
      'RECEIVED',
    ],
    [
      'approval requested',
      path(['order_submitted', 'accepted'], ['risk_check', 'needs_approval'], ['approval_requested', 'pending']),
      'PENDING_APPROVAL',
    ],
    [
      'a refused self-approval changes nothing',
      path(['risk_check', 'needs_approval'], ['approval_requested', 'pending'], ['approval_refused', 'refused']),
      'PENDING_APPROVAL',
    ],
    ['approved by a checker', path(['approval_requested', 'pending'], ['approved', 'approved']), 'APPROVED'],
    ['rejected by a checker', path(['approval_requested', 'pending'], ['approval_rejected', 'rejected']), 'REJECTED'],
    ['expired', path(['approval_requested', 'pending'], ['approval_expired', 'expired']), 'EXPIRED'],
    [
      'approved, but the decision arrived too late',
      path(['approved', 'approved'], ['approval_expired', 'expired']),
      'EXPIRED',
    ],
    ['rejected by risk', path(['risk_check', 'rejected'], ['order_rejected_risk', 'rejected']), 'REJECTED'],
    ['filled', path(['risk_check', 'approved'], ['trade_executed', 'filled']), 'FILLED'],
    ['filled, positions updated', path(['trade_executed', 'filled'], ['position_updated', 'applied']), 'FILLED'],
    [
      'a failure after the fill does not undo it',
      path(['trade_executed', 'filled'], ['order_failed', 'failed']),
      'FILLED',
    ],
    [
      'a later trade_failed does not undo a fill',
      path(['trade_executed', 'filled'], ['trade_failed', 'blocked']),
      'FILLED',
    ],
    ['venue rejected', path(['risk_check', 'approved'], ['trade_failed', 'rejected']), 'REJECTED'],
    ['execution blocked', path(['risk_check', 'approved'], ['trade_failed', 'blocked']), 'FAILED'],
    ['failed before the fill', path(['risk_check', 'approved'], ['order_failed', 'failed']), 'FAILED'],
  ])('%s -> %s', (_what, records, status) => {
    expect(deriveStatus(records)).toBe(status);
  });

  it('final statuses are FILLED, REJECTED, EXPIRED, FAILED', () => {
    expect([...FINAL_STATUSES].sort()).toEqual(['EXPIRED', 'FAILED', 'FILLED', 'REJECTED']);
  });
});
