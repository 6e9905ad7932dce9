// risk: check_risk, a state machine task.
import { type AgentHandler, type AgentLogger, agentHandler } from '../agent-runtime.js';
import { validateOrder } from '../core/order.js';
import { checkRisk, type RiskCheckDeps } from '../core/risk-check.js';

export function createRiskHandler(deps: RiskCheckDeps, logger: AgentLogger): AgentHandler {
  return agentHandler(logger, undefined, {
    check_risk: async (p) => {
      const result = await checkRisk(deps, validateOrder(p.order));
      logger.info('risk decision', { check_id: result.check_id, decision: result.decision, reasons: result.reasons });
      return result;
    },
  });
}
