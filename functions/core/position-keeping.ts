// position-tracker use cases: apply a fill exactly once (optimistic concurrency on the position's
// version, the fill id remembered on the position), and read positions with P&L.
//
// The ledger of applied fill ids is bounded by a horizon: a fill that executed more than `horizon`
// ago is refused (FillTooOldError), and each write forgets the ids of fills older than the horizon
// (plus a grace for clock skew between writers). Within the horizon an id is always remembered, so
// exactly-once holds; beyond it a fill cannot be applied at all.
import type { AccountRiskStore, AuditSink, Clock, PositionStore } from '../ports.js';
import { releaseOrder } from './account-risk.js';
import { FillTooOldError, TransientError, ValidationError } from './errors.js';
import type { Fill, Position } from './model.js';
import { applyFill, emptyPosition, type PositionView, viewPosition } from './positions.js';
import type { ReferenceCache } from './reference-cache.js';
import { CANONICAL_NS, formatNs, parseNs } from './time.js';

export interface PositionDeps {
  positions: PositionStore;
  reference: Pick<ReferenceCache, 'getSecurities'>;
  /** The filled order's reserved value is released once the position holds the fill. */
  accountRisk: Pick<AccountRiskStore, 'get' | 'putIfRevision'>;
  audit: AuditSink;
  clock: Clock;
  identity: string;
  /** How old (by executed_at) a fill may be and still be applied; default DEFAULT_FILL_HORIZON_MS. */
  fillHorizonMs?: number;
}

export const DEFAULT_FILL_HORIZON_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * Ledger entries are forgotten only this long after they leave the horizon, so a writer whose clock
 * runs ahead cannot forget an id another writer (clock behind) would still accept.
 */
export const LEDGER_PRUNE_GRACE_MS = 60_000;
/** Forget at most this many ids per write (keeps the update expression under DynamoDB's 4 KB). */
export const MAX_PRUNE_PER_WRITE = 100;

const MAX_ATTEMPTS = 10;
const MS = 1_000_000n;

export async function applyFillOnce(deps: PositionDeps, fill: Fill): Promise<Position> {
  const executedNs = parseNs(fill.executed_at);
  if (executedNs === undefined) {
    throw new ValidationError([
      { field: 'fill.executed_at', rule: 'format', message: 'must be an RFC 3339 UTC timestamp' },
    ]);
  }
  const horizonNs = BigInt(deps.fillHorizonMs ?? DEFAULT_FILL_HORIZON_MS) * MS;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const stored = await deps.positions.getWithLedger(fill.account_id, fill.symbol);
    // Read the clock after the ledger: any id missing from it was pruned by a write that happened
    // before this reading, so (clocks agreeing within the grace) its fill is refused here.
    const nowNs = deps.clock.nowNs();
    if (executedNs < nowNs - horizonNs) {
      throw new FillTooOldError(
        `fill ${fill.fill_id} executed at ${fill.executed_at}, before the ${deps.fillHorizonMs ?? DEFAULT_FILL_HORIZON_MS} ms horizon; it cannot be applied exactly once`,
      );
    }
    const current = stored?.position ?? emptyPosition(fill.account_id, fill.symbol);
    const prune = agedOut(stored?.appliedFills ?? {}, nowNs - horizonNs - BigInt(LEDGER_PRUNE_GRACE_MS) * MS);
    const next = applyFill(current, fill, formatNs(nowNs));
    const result = await deps.positions.putIfVersion(
      next,
      current.version,
      { id: fill.fill_id, executedAt: fill.executed_at },
      prune.filter((id) => id !== fill.fill_id),
    );
    if (result === 'conflict') continue;
    const applied = result === 'written' ? next : current;
    // After the position, not before: in between, the order counts twice (conservative), never zero times.
    await releaseOrder(deps.accountRisk, fill.account_id, fill.order_id);
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

/** Ids of ledger entries that executed before `cutoffNs`, oldest first, at most MAX_PRUNE_PER_WRITE. */
function agedOut(ledger: Readonly<Record<string, string>>, cutoffNs: bigint): string[] {
  const old: Array<[string, bigint]> = [];
  // Canonical timestamps (fixed width, UTC) order as strings: only those that are not get parsed,
  // so a large ledger costs a string comparison per entry, not a date parse.
  const cutoff = formatNs(cutoffNs);
  for (const [id, at] of Object.entries(ledger)) {
    if (CANONICAL_NS.test(at) && at >= cutoff) continue;
    const ns = parseNs(at);
    if (ns !== undefined && ns < cutoffNs) old.push([id, ns]); // unreadable entries are kept
  }
  old.sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return old.slice(0, MAX_PRUNE_PER_WRITE).map(([id]) => id);
}

export async function readPositions(deps: PositionDeps, accountId: string): Promise<PositionView[]> {
  const positions = await deps.positions.list(accountId);
  const prices = await deps.reference.getSecurities(positions.map((p) => p.symbol));
  return positions.map((p) => viewPosition(p, prices.get(p.symbol)?.reference_price));
}
