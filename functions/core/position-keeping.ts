// position-tracker use cases: apply a fill exactly once (optimistic concurrency on the position's
// version, the fill id remembered on the position), and read positions with P&L.
import type { AuditSink, Clock, PositionStore } from '../ports.js';
import { TransientError } from './errors.js';
import type { Fill, Position } from './model.js';
import { applyFill, emptyPosition, type PositionView, viewPosition } from './positions.js';
import type { ReferenceCache } from './reference-cache.js';
import { formatNs } from './time.js';

export interface PositionDeps {
  positions: PositionStore;
  reference: Pick<ReferenceCache, 'getSecurities'>;
  audit: AuditSink;
  clock: Clock;
  identity: string;
}

const MAX_ATTEMPTS = 10;

export async function applyFillOnce(deps: PositionDeps, fill: Fill): Promise<Position> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current =
      (await deps.positions.get(fill.account_id, fill.symbol)) ?? emptyPosition(fill.account_id, fill.symbol);
    const next = applyFill(current, fill, formatNs(deps.clock.nowNs()));
    const result = await deps.positions.putIfVersion(next, current.version, fill.fill_id);
    if (result === 'conflict') continue;
    const applied = result === 'written' ? next : current;
    await deps.audit.append({
      event_type: 'position_updated',
      order_id: fill.order_id,
      actor: deps.identity,
      input: { fill, before: current, after: applied },
      decision: result === 'written' ? 'applied' : 'replayed',
      reason:
        result === 'written'
          ? `${fill.account_id} ${fill.symbol} ${current.quantity} -> ${next.quantity}`
          : `fill ${fill.fill_id} was already applied`,
    });
    return applied;
  }
  throw new TransientError(
    `position ${fill.account_id}/${fill.symbol} kept changing; fill ${fill.fill_id} not yet applied`,
  );
}

export async function readPositions(deps: PositionDeps, accountId: string): Promise<PositionView[]> {
  const positions = await deps.positions.list(accountId);
  const prices = await deps.reference.getSecurities(positions.map((p) => p.symbol));
  return positions.map((p) => viewPosition(p, prices.get(p.symbol)?.reference_price));
}
