// execution: execute_trade, a state machine task.
import { type AgentAccess, type AgentHandler, type AgentLogger, agentHandler } from '../agent-runtime.js';
import { ValidationError } from '../core/errors.js';
import { type ExecutionDeps, executeTrade } from '../core/execution.js';
import { validateOrder } from '../core/order.js';

export function createExecutionHandler(deps: ExecutionDeps, logger: AgentLogger, access: AgentAccess): AgentHandler {
  return agentHandler(logger, access, undefined, {
    execute_trade: {
      action: 'execute_trade',
      // The policy context is the risk approval, verified in the store by the use case first.
      deferred: true,
      run: async ({ payload: p, caller }) => {
        if (typeof p.risk_check_id !== 'string' || p.risk_check_id === '') {
          throw new ValidationError([
            { field: 'risk_check_id', rule: 'required', message: 'risk_check_id is required' },
          ]);
        }
        const result = await executeTrade(deps, validateOrder(p.order), p.risk_check_id, caller);
        logger.info('execution', { status: result.status });
        return { status: result.status, fill: result.fill, venue_reason: result.venue_reason ?? null };
      },
    },
  });
}
