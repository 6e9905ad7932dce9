// The audit-failure metric as CloudWatch receives it: one Embedded Metric Format line on stdout per
// failure, written at once, namespace TradingPlatform/Audit, metric AuditWriteFailures, dimension
// `stage` only (what lib/constructs/audit-alarms.ts adds up). And the local counters.
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  AUDIT_METRICS_NAMESPACE,
  AUDIT_WRITE_FAILURES_METRIC,
  AUDIT_WRITE_STAGES,
  CloudWatchMetrics,
  createCloudWatchMetrics,
} from '../../functions/adapters/cloudwatch-metrics.js';
import { AUDIT_ALARM_METRIC } from '../../lib/constructs/audit-alarms.js';
import { LocalMetrics } from '../../local/local-metrics.js';

interface Emf {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
  [key: string]: unknown;
}

const ENV_KEYS = [
  'POWERTOOLS_DEV',
  'POWERTOOLS_METRICS_DISABLED',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
];
let savedEnv: Record<string, string | undefined>;
let lines: string[];

beforeEach(() => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
  lines = [];
  // Powertools writes EMF to process.stdout (its own Console outside POWERTOOLS_DEV).
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

const emitted = (): Emf[] => lines.map((l) => JSON.parse(l) as Emf);

describe('CloudWatchMetrics', () => {
  it('writes one EMF line per failure, at once: AuditWriteFailures=1 (Count) by stage', () => {
    const metrics = createCloudWatchMetrics({ serviceName: 'compliance' });
    const before = Date.now();

    metrics.auditWriteFailed('archive');

    const out = emitted();
    expect(out).toHaveLength(1);
    const [emf] = out as [Emf];
    expect(emf._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'TradingPlatform/Audit',
        Dimensions: [['stage']],
        Metrics: [{ Name: 'AuditWriteFailures', Unit: 'Count' }],
      },
    ]);
    expect(emf.stage).toBe('archive');
    expect(emf.AuditWriteFailures).toBe(1);
    // The agent is named on the line, not as a dimension.
    expect(emf.service).toBe('compliance');
    expect(emf._aws.Timestamp).toBeGreaterThanOrEqual(before);
    expect(emf._aws.Timestamp).toBeLessThanOrEqual(Date.now());
  });

  it('flushes each failure separately, each with its own stage, nothing left buffered', () => {
    const metrics = createCloudWatchMetrics({ serviceName: 'risk' });
    for (const stage of AUDIT_WRITE_STAGES) metrics.auditWriteFailed(stage);
    metrics.auditWriteFailed('index');

    const out = emitted();
    expect(out.map((e) => e.stage)).toEqual(['archive', 'index', 'checkpoint', 'append', 'index']);
    for (const e of out) {
      expect(e.AuditWriteFailures).toBe(1);
      expect(e._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['stage']]);
    }
  });

  it('names the service from POWERTOOLS_SERVICE_NAME, as the agents set it', () => {
    process.env.POWERTOOLS_SERVICE_NAME = 'execution';
    createCloudWatchMetrics().auditWriteFailed('checkpoint');
    const [emf] = emitted() as [Emf];
    expect(emf.service).toBe('execution');
    expect(emf._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['stage']]);
  });

  it('never throws out of auditWriteFailed, even when Powertools fails', () => {
    const powertools = new Metrics({ namespace: AUDIT_METRICS_NAMESPACE, serviceName: 'x' });
    const metrics = new CloudWatchMetrics(powertools, 'x');
    vi.spyOn(powertools, 'publishStoredMetrics').mockImplementation(() => {
      throw new Error('stdout closed');
    });
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(() => metrics.auditWriteFailed('append')).not.toThrow();
    expect(errors).toHaveBeenCalledWith(expect.stringContaining('could not emit the AuditWriteFailures metric'));
  });

  it('emits nothing when Powertools metrics are disabled (POWERTOOLS_METRICS_DISABLED)', () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    createCloudWatchMetrics({ serviceName: 'risk' }).auditWriteFailed('archive');
    expect(emitted()).toEqual([]);
  });

  it('uses the namespace and metric name the alarm watches', () => {
    expect(AUDIT_METRICS_NAMESPACE).toBe(AUDIT_ALARM_METRIC.namespace);
    expect(AUDIT_WRITE_FAILURES_METRIC).toBe(AUDIT_ALARM_METRIC.metricName);
    expect([...AUDIT_WRITE_STAGES].sort()).toEqual([...AUDIT_ALARM_METRIC.stages].sort());
    expect(AUDIT_ALARM_METRIC.dimension).toBe('stage');
  });
});

describe('LocalMetrics', () => {
  it('counts failures per stage and in total, readable as a snapshot', () => {
    const seen: string[] = [];
    const metrics = new LocalMetrics((stage) => seen.push(stage));
    expect(metrics.snapshot()).toEqual({
      auditWriteFailures: { archive: 0, index: 0, checkpoint: 0, append: 0 },
      auditWriteFailuresTotal: 0,
    });

    metrics.auditWriteFailed('archive');
    metrics.auditWriteFailed('archive');
    metrics.auditWriteFailed('checkpoint');

    const snap = metrics.snapshot();
    expect(snap.auditWriteFailures).toEqual({ archive: 2, index: 0, checkpoint: 1, append: 0 });
    expect(snap.auditWriteFailuresTotal).toBe(3);
    expect(Date.parse(snap.lastAuditWriteFailureAt ?? '')).not.toBeNaN();
    expect(seen).toEqual(['archive', 'archive', 'checkpoint']);
    // A snapshot is a copy.
    snap.auditWriteFailures.archive = 99;
    expect(metrics.snapshot().auditWriteFailures.archive).toBe(2);
  });

  it('never lets the hook throw out of auditWriteFailed', () => {
    const metrics = new LocalMetrics(() => {
      throw new Error('logger broke');
    });
    expect(() => metrics.auditWriteFailed('index')).not.toThrow();
    expect(metrics.snapshot().auditWriteFailuresTotal).toBe(1);
  });
});
