import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../functions/config.js';

const ENV = {
  AGENT_NAME: 'position-tracker',
  AGENT_IDENTITY: 'arn:aws:iam::123456789012:role/agent',
  AUDIT_TABLE: 'audit',
  AUDIT_BUCKET: 'audit-bucket',
  AUDIT_RETENTION_DAYS: '2557',
  AUDIT_SIGNING_KEY_ARN: 'arn:aws:kms:us-east-1:123456789012:key/k',
  AUDIT_LOG_ORIGIN: 'acme/audit',
  STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:m',
  POLICY_EVALUATOR: 'compiled',
  POSITIONS_TABLE: 'positions',
  REFERENCE_TABLE: 'reference',
  RISK_STATE_TABLE: 'risk-state',
};

describe('loadConfig', () => {
  it('reads what the agent needs, once', () => {
    expect(loadConfig('position-tracker', ENV)).toMatchObject({
      POLICY_EVALUATOR: 'compiled',
      POSITIONS_TABLE: 'positions',
    });
    expect(loadConfig('position-tracker', { ...ENV, POLICY_EVALUATOR: 'cedar-wasm' }).POLICY_EVALUATOR).toBe(
      'cedar-wasm',
    );
  });

  it('fails at start-up on a missing variable or an evaluator it does not know, naming it', () => {
    const { POLICY_EVALUATOR: _, ...without } = ENV;
    expect(() => loadConfig('position-tracker', without)).toThrow(ConfigError);
    expect(() => loadConfig('position-tracker', without)).toThrow(/POLICY_EVALUATOR/);
    expect(() => loadConfig('position-tracker', { ...ENV, POLICY_EVALUATOR: 'opa' })).toThrow(
      /POLICY_EVALUATOR must be one of compiled, cedar-wasm, got opa/,
    );
  });
});
