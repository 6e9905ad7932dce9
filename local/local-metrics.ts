// Local stand-in for the CloudWatch metrics: counters in memory, readable by /health and by tests,
// with an optional hook (e.g. a log line) per failure, as the alarm would page on AWS.
import type { OperationalMetrics } from '../functions/ports.js';

export type AuditWriteStage = Parameters<OperationalMetrics['auditWriteFailed']>[0];

export interface LocalMetricsSnapshot {
  /** Failures per stage since start; every stage is listed, 0 when none. */
  auditWriteFailures: Record<AuditWriteStage, number>;
  /** All stages together: what the AWS alarm watches. */
  auditWriteFailuresTotal: number;
  /** RFC 3339 time of the last failure, if any. */
  lastAuditWriteFailureAt?: string;
}

export class LocalMetrics implements OperationalMetrics {
  private readonly failures: Record<AuditWriteStage, number> = { archive: 0, index: 0, checkpoint: 0, append: 0 };
  private lastFailureAt: string | undefined;

  /** @param onAuditWriteFailure called after counting (a logger's error line, say); its errors are ignored. */
  constructor(private readonly onAuditWriteFailure?: (stage: AuditWriteStage) => void) {}

  auditWriteFailed(stage: AuditWriteStage): void {
    this.failures[stage] = (this.failures[stage] ?? 0) + 1;
    this.lastFailureAt = new Date().toISOString();
    try {
      this.onAuditWriteFailure?.(stage);
    } catch {
      // Reporting must not replace the failure being reported.
    }
  }

  snapshot(): LocalMetricsSnapshot {
    const auditWriteFailures = { ...this.failures };
    return {
      auditWriteFailures,
      auditWriteFailuresTotal: Object.values(auditWriteFailures).reduce((a, b) => a + b, 0),
      ...(this.lastFailureAt ? { lastAuditWriteFailureAt: this.lastFailureAt } : {}),
    };
  }
}
