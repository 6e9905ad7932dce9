// order-router: POST /orders (submit_order) and GET /orders/{order_id} (status).
import { type AgentHandler, type AgentLogger, agentHandler, routeKey } from '../agent-runtime.js';
import { NotFoundError } from '../core/errors.js';
import { getOrder, type OrderIntakeDeps, submitOrder } from '../core/order-intake.js';
import { callerOf, json, pathParam } from '../http.js';

export function createOrderRouterHandler(deps: OrderIntakeDeps, logger: AgentLogger): AgentHandler {
  return agentHandler(
    logger,
    async (event) => {
      switch (routeKey(event)) {
        case 'POST /orders': {
          const answer = await submitOrder(deps, event.body, callerOf(event));
          return json(answer.statusCode, answer.body);
        }
        case 'GET /orders/{order_id}': {
          callerOf(event);
          return json(200, await getOrder(deps, pathParam(event, 'order_id')));
        }
        default:
          throw new NotFoundError(`no route ${routeKey(event)}`);
      }
    },
    {},
  );
}
