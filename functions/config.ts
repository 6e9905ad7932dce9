// Configuration is read once, here, at start-up; a missing variable fails the cold start, not an order.
import { EVALUATORS, isEvaluator } from './core/policy-compiler.js';

export const AGENTS = ['order-router', 'risk', 'approval', 'execution', 'position-tracker', 'compliance'] as const;
export type AgentName = (typeof AGENTS)[number];

// Every agent appends to the audit log, so every agent may sign its checkpoints.
const COMMON = [
  'AGENT_NAME',
  'AGENT_IDENTITY',
  'AUDIT_TABLE',
  'AUDIT_BUCKET',
  'AUDIT_RETENTION_DAYS',
  'AUDIT_SIGNING_KEY_ARN',
  'AUDIT_LOG_ORIGIN',
  // Every agent serves lifecycle tasks (or starts them) and refuses tasks from anything else.
  'STATE_MACHINE_ARN',
  // Who decides authorisations: the policies compiled to JS, or cedar-wasm for every decision
  // (the switch back, should the compiled evaluator be in doubt).
  'POLICY_EVALUATOR',
] as const;
const PER_AGENT = {
  'order-router': ['ORDERS_TABLE', 'REFERENCE_TABLE'],
  // SCHEDULE_RULE_ARN: the one EventBridge rule whose scheduled task the agent accepts.
  risk: ['ORDERS_TABLE', 'REFERENCE_TABLE', 'POSITIONS_TABLE', 'RISK_STATE_TABLE', 'SCHEDULE_RULE_ARN'],
  approval: ['APPROVALS_TABLE', 'APPROVAL_TIMEOUT_SECONDS', 'RISK_STATE_TABLE'],
  execution: ['ORDERS_TABLE', 'REFERENCE_TABLE', 'APPROVALS_TABLE', 'POSITIONS_TABLE', 'RISK_STATE_TABLE'],
  'position-tracker': ['POSITIONS_TABLE', 'REFERENCE_TABLE', 'RISK_STATE_TABLE'],
  compliance: ['ORDERS_TABLE', 'RISK_STATE_TABLE', 'SCHEDULE_RULE_ARN'],
} as const satisfies Record<AgentName, readonly string[]>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type AgentConfig = Record<(typeof COMMON)[number], string> & Partial<Record<string, string>>;

export function loadConfig(agent: AgentName, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const names = [...COMMON, ...PER_AGENT[agent]];
  const missing = names.filter((n) => !env[n]);
  if (missing.length > 0) throw new ConfigError(`${agent}: missing environment variables ${missing.join(', ')}`);
  const out: Record<string, string> = {};
  for (const n of names) out[n] = env[n] as string;
  if (!isEvaluator(out.POLICY_EVALUATOR)) {
    throw new ConfigError(
      `${agent}: POLICY_EVALUATOR must be one of ${EVALUATORS.join(', ')}, got ${out.POLICY_EVALUATOR}`,
    );
  }
  return out as AgentConfig;
}

export function required(config: AgentConfig, name: string): string {
  const v = config[name];
  if (!v) throw new ConfigError(`missing configuration ${name}`);
  return v;
}
