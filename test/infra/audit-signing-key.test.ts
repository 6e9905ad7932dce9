// The checkpoint signing key and the audit-failure alarm, each in a bare stack: their resources,
// their grants, and cdk-nag (AWS Solutions, NIST 800-53 rev 5, PCI DSS 3.2.1) with no finding left
// unacknowledged and no acknowledgment without a finding.
import { Logger } from '@aws-lambda-powertools/logger';
import { App, ArnFormat, type IPolicyValidationPlugin, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { NagPack } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it, vi } from 'vitest';
import { DISAGREEMENT_LOG_MESSAGE } from '../../functions/core/policy-engine.js';
import { compliancePacks } from '../../lib/compliance-packs.js';
import { AUDIT_ALARM_METRIC, AuditAlarms } from '../../lib/constructs/audit-alarms.js';
import { AuditSigningKey } from '../../lib/constructs/audit-signing-key.js';
import { POLICY_ALARM_METRIC, PolicyAlarms } from '../../lib/constructs/policy-alarms.js';
import { cdkJsonContext } from './synth-platform.js';

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Principal?: unknown;
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]).slice().sort();

/** Every finding of the three packs on the stack, as "rule path" lines. */
function nagFindings(app: App, stack: Stack): string[] {
  return compliancePacks(app).flatMap((pack: IPolicyValidationPlugin) =>
    (pack as NagPack)
      .validateScope(stack)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`)),
  );
}

/** Builds and synthesizes a probe stack; `build` adds the constructs under test. */
function probe(build: (stack: Stack) => void): { app: App; stack: Stack; template: Template } {
  // The app's feature flags, as `cdk synth` runs with them (cdk.json).
  const app = new App({ context: cdkJsonContext() });
  const stack = new Stack(app, 'Probe');
  build(stack);
  app.synth();
  return { app, stack, template: Template.fromStack(stack) };
}

/** Acknowledgments in the tree that answer no finding (findings counted with acknowledging off). */
function staleAcknowledgments(build: (stack: Stack) => void, app: App): string[] {
  const acknowledge = Validations.prototype.acknowledge;
  Validations.prototype.acknowledge = () => {};
  let raw: { rule: string; path: string }[];
  try {
    const bare = probe(build);
    raw = compliancePacks(bare.app).flatMap((pack) =>
      (pack as NagPack)
        .validateScope(bare.stack)
        .violations.flatMap((v) =>
          v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })),
        ),
    );
  } finally {
    Validations.prototype.acknowledge = acknowledge;
  }
  const stale: string[] = [];
  for (const node of app.node.findAll() as IConstruct[]) {
    for (const m of node.node.metadata.filter((e) => e.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)) {
      for (const id of Object.keys(m.data as Record<string, string>).map((k) => k.replace(/^annotation::/i, ''))) {
        const path = node.node.path;
        if (!raw.some((f) => f.rule === id && (f.path === path || f.path.startsWith(`${path}/`)))) {
          stale.push(`${id} ${path}`);
        }
      }
    }
  }
  return stale;
}

describe('AuditSigningKey', () => {
  const build = (stack: Stack) => {
    const signing = new AuditSigningKey(stack, 'AuditSigningKey');
    const writer = new iam.Role(stack, 'Writer', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    const auditor = new iam.Role(stack, 'Auditor', { assumedBy: new iam.AccountRootPrincipal() });
    signing.grantSign(writer);
    signing.grantVerify(auditor);
    // The probe roles' policies are test scaffolding, not part of the construct.
    for (const role of [writer, auditor]) {
      for (const pack of ['NIST.800.53.R5', 'PCI.DSS.321']) {
        Validations.of(role).acknowledge({
          id: `${pack}-IAMNoInlinePolicy`,
          reason: 'Probe role of this test: its inline policy only shows what the construct under test grants.',
        });
      }
    }
  };

  it('is an asymmetric ECC_NIST_P256 SIGN_VERIFY key, not rotated, retained, with an alias', () => {
    const { template } = probe(build);
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({
        KeySpec: 'ECC_NIST_P256',
        KeyUsage: 'SIGN_VERIFY',
        EnableKeyRotation: false,
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    const [keyId] = Object.keys(template.findResources('AWS::KMS::Key'));
    template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/Probe-audit-checkpoints',
      TargetKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
  });

  it('takes an alias name', () => {
    const { template } = probe((stack) => new AuditSigningKey(stack, 'K', { aliasName: 'alias/acme/audit-signing' }));
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/acme/audit-signing' });
  });

  it('grantSign gives kms:Sign and kms:GetPublicKey on this key only; grantVerify GetPublicKey and Verify', () => {
    const { template } = probe(build);
    const [keyId] = Object.keys(template.findResources('AWS::KMS::Key'));
    const policies = template.findResources('AWS::IAM::Policy');
    const statementsOf = (roleLogicalPrefix: string): Statement[] =>
      Object.values(policies)
        .filter((p) =>
          JSON.stringify((p as { Properties: { Roles: unknown } }).Properties.Roles).includes(roleLogicalPrefix),
        )
        .flatMap(
          (p) =>
            (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
        );

    const writer = statementsOf('Writer');
    expect(writer).toHaveLength(1);
    expect(actionsOf(writer[0] as Statement)).toEqual(['kms:GetPublicKey', 'kms:Sign']);
    expect(writer[0]?.Resource).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });

    const auditor = statementsOf('Auditor');
    expect(auditor).toHaveLength(1);
    expect(actionsOf(auditor[0] as Statement)).toEqual(['kms:GetPublicKey', 'kms:Verify']);
    expect(auditor[0]?.Resource).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
  });

  it('passes AwsSolutions, NIST 800-53 R5 and PCI DSS 3.2.1 with nothing acknowledged on the key', () => {
    const { app, stack } = probe(build);
    expect(nagFindings(app, stack)).toEqual([]);
    // cdk-nag's rotation rules skip asymmetric keys: no acknowledgment is needed (or allowed: stale).
    expect(staleAcknowledgments(build, app)).toEqual([]);
    const keyAcks = new AuditSigningKey(new Stack(new App(), 'Other'), 'K').key.node.metadata.filter(
      (m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY,
    );
    expect(keyAcks).toEqual([]);
  });
});

describe('AuditAlarms', () => {
  const withTopic = (stack: Stack) => {
    const key = new kms.Key(stack, 'PlatformKey', { enableKeyRotation: true });
    new AuditAlarms(stack, 'AuditAlarms', { topicEncryptionKey: key });
  };
  const withoutTopic = (stack: Stack) => {
    new AuditAlarms(stack, 'AuditAlarms');
  };

  it('alarms on AuditWriteFailures of any stage: ≥ 1 in one minute, missing data not breaching', () => {
    const { template } = probe(withoutTopic);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    const alarm = Object.values(template.findResources('AWS::CloudWatch::Alarm'))[0] as {
      Properties: Record<string, unknown> & { Metrics: Record<string, unknown>[] };
    };
    expect(alarm.Properties).toMatchObject({
      AlarmName: 'Probe-audit-write-failures',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
    const expression = alarm.Properties.Metrics.filter((m) => m.Expression);
    expect(expression).toEqual([expect.objectContaining({ Expression: 'SUM(METRICS())', ReturnData: true })]);
    const stats = alarm.Properties.Metrics.filter((m) => m.MetricStat).map(
      (m) => m.MetricStat as { Metric: Record<string, unknown>; Period: number; Stat: string },
    );
    expect(stats).toHaveLength(4);
    for (const s of stats) {
      expect(s.Period).toBe(60);
      expect(s.Stat).toBe('Sum');
      expect(s.Metric.Namespace).toBe('TradingPlatform/Audit');
      expect(s.Metric.MetricName).toBe('AuditWriteFailures');
    }
    const stages = stats.map((s) => s.Metric.Dimensions as { Name: string; Value: string }[]);
    expect(stages.map((d) => d.map((x) => x.Name))).toEqual([['stage'], ['stage'], ['stage'], ['stage']]);
    expect(stages.map((d) => d[0]?.Value).sort()).toEqual([...AUDIT_ALARM_METRIC.stages].sort());
    // The series the expression adds up do not count on their own.
    for (const m of alarm.Properties.Metrics.filter((x) => x.MetricStat)) expect(m.ReturnData).toBe(false);
  });

  it('without a key: no topic, no action, and the missing action acknowledged on the alarm alone', () => {
    const { app, stack, template } = probe(withoutTopic);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm'))[0]).not.toHaveProperty(
      'Properties.AlarmActions',
    );
    expect(nagFindings(app, stack)).toEqual([]);
    expect(staleAcknowledgments(withoutTopic, app)).toEqual([]);
  });

  it('with a key: an encrypted, TLS-only topic is the alarm action, publishable by this alarm only', () => {
    const { stack, template } = probe(withTopic);
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
    const [keyId] = Object.keys(template.findResources('AWS::KMS::Key'));
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmActions: [{ Ref: topicId }] });

    const topicPolicy = Object.values(template.findResources('AWS::SNS::TopicPolicy'))[0] as {
      Properties: { Topics: unknown[]; PolicyDocument: { Statement: Statement[] } };
    };
    expect(topicPolicy.Properties.Topics).toEqual([{ Ref: topicId }]);
    const statements = topicPolicy.Properties.PolicyDocument.Statement;
    const tls = statements.find((s) => s.Effect === 'Deny');
    expect(tls?.Condition).toEqual({ Bool: { 'aws:SecureTransport': 'false' } });
    expect(actionsOf(tls as Statement)).toContain('sns:Publish');

    const publish = statements.find((s) => s.Sid === 'AllowCloudWatchAuditAlarmToPublish') as Statement;
    expect(publish.Principal).toEqual({ Service: 'cloudwatch.amazonaws.com' });
    expect(actionsOf(publish)).toEqual(['sns:Publish']);
    const alarmArn = stack.resolve(
      stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: 'Probe-audit-write-failures',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    expect(publish.Condition?.ArnLike?.['aws:SourceArn']).toEqual(alarmArn);
    expect(publish.Condition?.StringEquals?.['aws:SourceAccount']).toEqual({ Ref: 'AWS::AccountId' });

    // The key lets CloudWatch encrypt for the topic, for this alarm only.
    const keyPolicy = (
      Object.values(template.findResources('AWS::KMS::Key'))[0] as {
        Properties: { KeyPolicy: { Statement: Statement[] } };
      }
    ).Properties.KeyPolicy.Statement;
    const cw = keyPolicy.find((s) => s.Sid === 'AllowCloudWatchAuditAlarmToPublishEncrypted') as Statement;
    expect(cw.Principal).toEqual({ Service: 'cloudwatch.amazonaws.com' });
    expect(actionsOf(cw)).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
    expect(cw.Condition?.ArnLike?.['aws:SourceArn']).toEqual(alarmArn);
  });

  it('with a key: passes the three packs with nothing acknowledged', () => {
    const { app, stack } = probe(withTopic);
    expect(nagFindings(app, stack)).toEqual([]);
    expect(staleAcknowledgments(withTopic, app)).toEqual([]);
    const acks = app.node
      .findAll()
      .filter((n) => n.node.metadata.some((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY));
    expect(acks).toEqual([]);
  });

  it('refuses an imported key, whose policy cannot let CloudWatch use it', () => {
    const stack = new Stack(new App(), 'Probe');
    const imported = kms.Key.fromKeyArn(
      stack,
      'Imported',
      'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000',
    );
    expect(() => new AuditAlarms(stack, 'AuditAlarms', { topicEncryptionKey: imported })).toThrow(/imported key/);
  });
});

describe('PolicyAlarms', () => {
  const withoutTopic = (stack: Stack) => {
    const logGroups = ['a', 'b'].map((name) => new logs.LogGroup(stack, `Logs-${name}`));
    new PolicyAlarms(stack, 'PolicyAlarms', { logGroups });
  };

  it('a metric filter per log group; without a topic the missing action is acknowledged on the alarm alone', () => {
    const { app, stack, template } = probe(withoutTopic);
    template.resourceCountIs('AWS::Logs::MetricFilter', 2);
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: `{ $.message = "${POLICY_ALARM_METRIC.logMessage}" }`,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'Probe-policy-evaluator-disagreements' });
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm'))[0]).not.toHaveProperty(
      'Properties.AlarmActions',
    );
    expect(nagFindings(app, stack).filter((f) => f.includes('PolicyAlarms'))).toEqual([]);
    expect(staleAcknowledgments(withoutTopic, app).filter((f) => f.includes('PolicyAlarms'))).toEqual([]);
  });

  it('matches the line the agents log: Powertools puts the message at the top level of its JSON', () => {
    expect(POLICY_ALARM_METRIC.logMessage).toBe(DISAGREEMENT_LOG_MESSAGE);
    const written: string[] = [];
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    try {
      new Logger({ serviceName: 'risk' }).error(DISAGREEMENT_LOG_MESSAGE, { disagreement: { action: 'check_risk' } });
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    const lines = written
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: POLICY_ALARM_METRIC.logMessage,
        disagreement: { action: 'check_risk' },
      }),
    ]);
  });
});
