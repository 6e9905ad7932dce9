// position-tracker: apply_fill (task) and GET /positions/{account_id}.
import { type AgentAccess, type AgentHandler, type AgentLogger, agentHandler, routeKey } from '../agent-runtime.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import type { Fill } from '../core/model.js';
import { applyFillOnce, type PositionDeps, readPositions } from '../core/position-keeping.js';
import { json, pathParam, pathValue } from '../http.js';

export function createPositionTrackerHandler(
  deps: PositionDeps,
  logger: AgentLogger,
  access: AgentAccess,
): AgentHandler {
  return agentHandler(
    logger,
    access,
    {
      routes: {
        // The account is in the path: a trader is held to its entitlements before anything is read.
        'GET /positions/{account_id}': {
          action: 'read_positions',
          context: (event) => ({ account_id: pathValue(event, 'account_id') }),
        },
      },
      async handle({ event }) {
        if (routeKey(event) !== 'GET /positions/{account_id}') throw new NotFoundError(`no route ${routeKey(event)}`);
        const accountId = pathParam(event, 'account_id');
        return json(200, { account_id: accountId, positions: await readPositions(deps, accountId) });
      },
    },
    {
      apply_fill: {
        action: 'update_positions',
        run: async ({ payload: p }) => {
          const position = await applyFillOnce(deps, fillOf(p.fill));
          return { account_id: position.account_id, symbol: position.symbol, quantity: position.quantity };
        },
      },
    },
  );
}

function fillOf(v: unknown): Fill {
  const f = v as Partial<Fill> | null | undefined;
  const ok =
    f &&
    typeof f.fill_id === 'string' &&
    typeof f.order_id === 'string' &&
    typeof f.account_id === 'string' &&
    typeof f.symbol === 'string' &&
    (f.side === 'BUY' || f.side === 'SELL') &&
    Number.isSafeInteger(f.quantity) &&
    (f.quantity as number) > 0 &&
    typeof f.price === 'string' &&
    typeof f.venue_exec_id === 'string' &&
    typeof f.executed_at === 'string';
  if (!ok)
    throw new ValidationError([{ field: 'fill', rule: 'shape', message: 'fill is missing fields or has wrong types' }]);
  return f as Fill;
}
