// risk agent use case: check_risk. The decision is audited before it is stored, and stored once:
// a retried step gets the decision already on record, never a second opinion.
import { randomUUID } from 'node:crypto';
import type { AuditSink, Clock, OrderStore, PositionStore } from '../ports.js';
import type { Order, RiskCheck } from './model.js';
import { orderHash } from './order.js';
import type { ReferenceCache } from './reference-cache.js';
import { evaluateRisk } from './risk.js';
import { formatNs } from './time.js';

export interface RiskCheckDeps {
  orders: Pick<OrderStore, 'recordRisk'>;
  positions: Pick<PositionStore, 'list'>;
  reference: Pick<ReferenceCache, 'getRiskProfile' | 'getSecurity' | 'getSecurities'>;
  audit: AuditSink;
  clock: Clock;
  identity: string;
}

export interface RiskCheckResult {
  check_id: string;
  decision: RiskCheck['decision'];
  order_value: string;
  reasons: string[];
}

export async function checkRisk(deps: RiskCheckDeps, order: Order): Promise<RiskCheckResult> {
  const [profile, security, positions] = await Promise.all([
    deps.reference.getRiskProfile(order.account_id),
    deps.reference.getSecurity(order.symbol),
    deps.positions.list(order.account_id),
  ]);
  const held = positions.filter((p) => p.quantity !== 0 && p.symbol !== order.symbol).map((p) => p.symbol);
  const prices = held.length > 0 ? await deps.reference.getSecurities(held) : new Map();
  const evaluation = evaluateRisk({ order, profile, security, positions, prices });
  const check: RiskCheck = {
    check_id: randomUUID(),
    order_id: order.order_id,
    order_hash: orderHash(order),
    checked_at: formatNs(deps.clock.nowNs()),
    ...evaluation,
  };

  // Stored once, then audited: a retried step finds the decision already in force and records
  // that one again (marked as a replay), never a second opinion that was not in force.
  const stored = await deps.orders.recordRisk(order.order_id, check);
  const replay = stored.check_id !== check.check_id;
  const base = { order_id: order.order_id, trader_id: order.trader_id, actor: deps.identity };
  const note = replay ? 'replayed (step retried), the decision on record: ' : '';
  const writes = [
    deps.audit.append({
      ...base,
      event_type: 'risk_check',
      // Every control with the values it compared: the examiner's evidence.
      input: {
        order,
        check_id: stored.check_id,
        limits_version: stored.limits_version,
        order_value: stored.order_value,
        reference_price: stored.reference_price,
        controls: stored.controls,
        ...(replay ? { replayed: true } : {}),
      },
      decision: stored.decision,
      reason: note + (stored.reasons.length > 0 ? stored.reasons.join(', ') : 'all pre-trade controls passed'),
    }),
  ];
  if (stored.decision === 'rejected') {
    writes.push(
      deps.audit.append({
        ...base,
        event_type: 'order_rejected_risk',
        input: {
          check_id: stored.check_id,
          controls: stored.controls.filter((c) => !c.passed),
          ...(replay ? { replayed: true } : {}),
        },
        decision: 'rejected',
        reason: note + stored.reasons.join(', '),
      }),
    );
  }
  await Promise.all(writes);
  return {
    check_id: stored.check_id,
    decision: stored.decision,
    order_value: stored.order_value,
    reasons: stored.reasons,
  };
}
