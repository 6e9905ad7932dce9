import type { App } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { OrderApiMtls } from './constructs/order-api.js';
import { TradingPlatformStack } from './trading-platform-stack.js';

export const STACK_ID = 'TradingPlatform';

/** Seven years (7 × 365 + two leap days, so any seven calendar years), the SEC 17a-4 retention. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 2557;
export const DEFAULT_LOG_RETENTION_DAYS = 365;

export interface PlatformSettings {
  readonly auditRetentionDays: number;
  readonly logRetention: logs.RetentionDays;
  readonly mtls?: OrderApiMtls;
}

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

  // The mTLS seam: the custom domain exists only when all three are given.
  const domainName = text(app, 'mtlsDomainName');
  const certificateArn = text(app, 'mtlsCertificateArn');
  const truststoreUri = text(app, 'mtlsTruststoreUri');
  const truststoreVersion = text(app, 'mtlsTruststoreVersion');
  const given = [domainName, certificateArn, truststoreUri].filter((v) => v !== undefined).length;
  if (given > 0 && given < 3) {
    throw new Error('mTLS needs all of mtlsDomainName, mtlsCertificateArn and mtlsTruststoreUri, or none');
  }
  const mtls =
    domainName && certificateArn && truststoreUri
      ? { domainName, certificateArn, truststoreUri, truststoreVersion }
      : undefined;

  return {
    auditRetentionDays: integer(app, 'auditRetentionDays', DEFAULT_AUDIT_RETENTION_DAYS),
    logRetention: logDays as logs.RetentionDays,
    mtls,
  };
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
