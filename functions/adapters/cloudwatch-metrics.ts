// OperationalMetrics on CloudWatch, through Powertools Metrics: each failure is written at once as
// an Embedded Metric Format line on stdout (CloudWatch Logs turns it into the metric), so an
// invocation that then fails, or a container that is frozen, still reports it.
//
// The metric is AuditWriteFailures in TradingPlatform/Audit with one dimension, `stage`. Powertools'
// default `service` dimension is left out on purpose: with it each agent would have its own
// series and the alarm (lib/constructs/audit-alarms.ts) would have to add up agents × stages; the
// agent is named by the log group the line lands in, and by the `service` field on the line.
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { OperationalMetrics } from '../ports.js';

export type AuditWriteStage = Parameters<OperationalMetrics['auditWriteFailed']>[0];

export const AUDIT_METRICS_NAMESPACE = 'TradingPlatform/Audit';
export const AUDIT_WRITE_FAILURES_METRIC = 'AuditWriteFailures';
export const AUDIT_STAGE_DIMENSION = 'stage';
// A record, so that this fails to compile when the port gains (or loses) a stage.
const STAGES: Record<AuditWriteStage, true> = { archive: true, index: true, checkpoint: true, append: true };
/** Every stage the port names; the alarm adds these series up. */
export const AUDIT_WRITE_STAGES: readonly AuditWriteStage[] = Object.keys(STAGES) as AuditWriteStage[];

export interface CloudWatchMetricsOptions {
  /** Defaults to AUDIT_METRICS_NAMESPACE. */
  namespace?: string;
  /** Written on each line as `service` (not a dimension); defaults to POWERTOOLS_SERVICE_NAME. */
  serviceName?: string;
}

export class CloudWatchMetrics implements OperationalMetrics {
  /**
   * @param metrics a Powertools Metrics instance used for these metrics alone: each call flushes
   *   it, so metrics other code buffered on it would be flushed with them.
   */
  constructor(
    private readonly metrics: Metrics,
    private readonly serviceName: string | undefined,
  ) {
    // The metric's only dimension is the stage (see above).
    this.metrics.clearDefaultDimensions();
  }

  auditWriteFailed(stage: AuditWriteStage): void {
    // Called on a failure path: never let reporting replace the error being reported.
    try {
      this.metrics.addDimension(AUDIT_STAGE_DIMENSION, stage);
      if (this.serviceName) this.metrics.addMetadata('service', this.serviceName);
      this.metrics.addMetric(AUDIT_WRITE_FAILURES_METRIC, MetricUnit.Count, 1);
      // Synchronous from addDimension to here, so concurrent callers cannot interleave.
      this.metrics.publishStoredMetrics();
    } catch (err) {
      console.error(
        JSON.stringify({
          level: 'ERROR',
          message: 'could not emit the AuditWriteFailures metric',
          stage,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    }
  }
}

/**
 * The CloudWatch metrics of one Lambda module: call once, at cold start (functions/wiring.ts), as
 * Powertools' Metrics instance is meant to be created once and reused across invocations.
 */
export function createCloudWatchMetrics(options: CloudWatchMetricsOptions = {}): CloudWatchMetrics {
  const serviceName = options.serviceName ?? process.env.POWERTOOLS_SERVICE_NAME;
  const metrics = new Metrics({
    namespace: options.namespace ?? AUDIT_METRICS_NAMESPACE,
    ...(serviceName ? { serviceName } : {}),
  });
  return new CloudWatchMetrics(metrics, serviceName);
}
