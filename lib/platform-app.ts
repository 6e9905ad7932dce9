import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { App } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { EVALUATORS, type Evaluator, isEvaluator } from '../functions/core/policy-compiler.js';
import { PROJECT_ROOT } from './project-paths.js';
import { TradingPlatformStack } from './trading-platform-stack.js';

export const STACK_ID = 'TradingPlatform';

/** Seven years (7 × 365 + two leap days, so any seven calendar years), the SEC 17a-4 retention. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 2557;
export const DEFAULT_LOG_RETENTION_DAYS = 365;

export interface PlatformSettings {
  readonly auditRetentionDays: number;
  readonly logRetention: logs.RetentionDays;
  /** The mTLS truststore bundle (PEM), and the file it was read from. */
  readonly truststore: { readonly pem: string; readonly file: string };
  /** Who decides authorisations in the agents (POLICY_EVALUATOR). */
  readonly policyEvaluator: Evaluator;
}

/** The context key choosing the agents' policy evaluator; `cedar-wasm` is the switch back. */
export const POLICY_EVALUATOR_CONTEXT = 'policyEvaluator';

/** The context key naming the truststore bundle file. */
export const TRUSTSTORE_FILE_CONTEXT = 'mtlsTruststoreFile';

/** Context given with `-c key=value` arrives as a string; cdk.json gives numbers. */
function integer(app: App, key: string, fallback: number): number {
  const raw: unknown = app.node.tryGetContext(key);
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : Number(String(raw));
  if (!Number.isInteger(value)) throw new Error(`context ${key} must be an integer, got ${JSON.stringify(raw)}`);
  return value;
}

function text(app: App, key: string): string | undefined {
  const raw: unknown = app.node.tryGetContext(key);
  if (raw === undefined || raw === null || raw === '') return undefined;
  return String(raw);
}

/** Reads and checks the platform's context values (cdk.json, or `-c` on the command line). */
export function readPlatformSettings(app: App): PlatformSettings {
  const logDays = integer(app, 'logRetentionDays', DEFAULT_LOG_RETENTION_DAYS);
  const retentions = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number');
  if (!retentions.includes(logDays)) {
    throw new Error(`context logRetentionDays must be one of CloudWatch Logs' values (${retentions.join(', ')})`);
  }

  const evaluator = text(app, POLICY_EVALUATOR_CONTEXT) ?? 'compiled';
  if (!isEvaluator(evaluator)) {
    throw new Error(`context ${POLICY_EVALUATOR_CONTEXT} must be one of ${EVALUATORS.join(', ')}, got ${evaluator}`);
  }

  return {
    auditRetentionDays: integer(app, 'auditRetentionDays', DEFAULT_AUDIT_RETENTION_DAYS),
    logRetention: logDays as logs.RetentionDays,
    truststore: readTruststore(app),
    policyEvaluator: evaluator,
  };
}

/**
 * The API's only door is mutual TLS, so there is no synth without the CA bundle it trusts. No
 * fallback to a file in the repository: a deployment must name the firm's own CAs.
 */
function readTruststore(app: App): { pem: string; file: string } {
  const given = text(app, TRUSTSTORE_FILE_CONTEXT);
  const what =
    "a PEM file of the CA certificates that issue the firm's client certificates (traders, approvers, auditors, risk officers)";
  if (given === undefined) {
    throw new Error(
      `context ${TRUSTSTORE_FILE_CONTEXT} is required: the path, relative to the project root, of ${what}; ` +
        `the API's mTLS truststore. Pass it with -c ${TRUSTSTORE_FILE_CONTEXT}=<file> (or set it in cdk.json).`,
    );
  }
  const file = resolve(PROJECT_ROOT, given);
  try {
    return { pem: readFileSync(file, 'utf8'), file };
  } catch (err) {
    throw new Error(
      `context ${TRUSTSTORE_FILE_CONTEXT}: cannot read ${file} (${(err as Error).message}); it must be ${what}`,
    );
  }
}

/**
 * Adds the platform to an app. Environment-agnostic on purpose: no account or region, so no
 * lookups, and synth works offline without credentials.
 */
export function addTradingPlatform(app: App): TradingPlatformStack {
  return new TradingPlatformStack(app, STACK_ID, {
    description: 'ACME trading platform: pre-trade risk gate, maker-checker approvals, write-once audit trail',
    ...readPlatformSettings(app),
  });
}
