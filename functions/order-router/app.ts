// order-router: POST /orders (submit_order) and GET /orders/{order_id} (read_order).
import { type AgentAccess, type AgentHandler, type AgentLogger, agentHandler, routeKey } from '../agent-runtime.js';
import { NotFoundError } from '../core/errors.js';
import { getOrder, type OrderIntakeDeps, submitOrder } from '../core/order-intake.js';
import { json, pathParam } from '../http.js';

/** A Cedar entity reference in a context (the JSON form `__entity`). */
const traderEntity = (traderId: string) => ({ __entity: { type: 'Trading::Trader', id: traderId } });

export function createOrderRouterHandler(
  deps: OrderIntakeDeps,
  logger: AgentLogger,
  access: AgentAccess,
): AgentHandler {
  return agentHandler(
    logger,
    access,
    {
      routes: {
        // Both need the order first: its account and trader are the policy's context.
        'POST /orders': {
          action: 'submit_order',
          deferred: true,
          // An entitled account, in the caller's own name: refused even so, refused before the body is read.
          probe: (caller) => ({
            account_id: '',
            account_entitled: true,
            order_trader: traderEntity(caller.principal.id),
          }),
        },
        // The order is read before the decision (its account is the context); nothing is answered
        // or written before it.
        'GET /orders/{order_id}': { action: 'read_order', deferred: true },
      },
      async handle({ event, caller, authorize, probe }) {
        switch (routeKey(event)) {
          case 'POST /orders': {
            const answer = await submitOrder(deps, event.body, caller.principal.id, {
              authorize: (order) =>
                authorize(
                  // The trader the order names, as an entity the policy compares with the caller.
                  { account_id: order.account_id, order_trader: traderEntity(order.trader_id) },
                  { order_id: order.order_id, trader_id: order.trader_id },
                ),
              // An invalid order is recorded only for a caller who may submit orders at all.
              beforeRecordingInvalid: probe,
            });
            return json(answer.statusCode, answer.body);
          }
          case 'GET /orders/{order_id}': {
            const orderId = pathParam(event, 'order_id');
            return json(
              200,
              await getOrder(deps, orderId, (accountId) => authorize({ account_id: accountId }, { order_id: orderId })),
            );
          }
          default:
            throw new NotFoundError(`no route ${routeKey(event)}`);
        }
      },
    },
    {},
  );
}
