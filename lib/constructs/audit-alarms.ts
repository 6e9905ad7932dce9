import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/**
 * The metric the agents emit when an audit write still fails after its retries
 * (functions/adapters/cloudwatch-metrics.ts, checked equal by its test): one series per stage.
 */
export const AUDIT_ALARM_METRIC = {
  namespace: 'TradingPlatform/Audit',
  metricName: 'AuditWriteFailures',
  dimension: 'stage',
  stages: ['archive', 'index', 'checkpoint', 'append'],
} as const;

export interface AuditAlarmsProps {
  /**
   * With a key: an SNS topic encrypted with it is made the alarm's action (subscribe the on-call
   * to it). The key's policy gains CloudWatch's use of it for this alarm only, so it must be a key
   * of this stack, not an imported one.
   * @default no topic: the alarm only changes state
   */
  readonly topicEncryptionKey?: kms.IKey;
  /** @default `<stack name>-audit-write-failures` */
  readonly alarmName?: string;
  /**
   * Other alarms of this stack, by name, that may publish to the topic too (the policy evaluator's,
   * PolicyAlarms): the on-call has one topic to subscribe to.
   * @default none
   */
  readonly otherAlarmNames?: readonly string[];
}

/**
 * Pages when an audit write fails for good: any stage (archive, index, checkpoint, append), one
 * failure in a minute is enough. A missing data point is the normal case (the metric is written
 * only on failure) and counts as not breaching.
 */
export class AuditAlarms extends Construct {
  public readonly alarm: cloudwatch.Alarm;
  public readonly topic: sns.Topic | undefined;

  constructor(scope: Construct, id: string, props: AuditAlarmsProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    // Named, so the key and topic policies can name the alarm without depending on it (the key's
    // policy referring to the alarm, which refers to the topic, which refers to the key: a cycle).
    const alarmName = props.alarmName ?? `${stack.stackName}-audit-write-failures`;
    const arnOf = (name: string) =>
      stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    const publishers = [alarmName, ...(props.otherAlarmNames ?? [])].map(arnOf);

    const { namespace, metricName, dimension, stages } = AUDIT_ALARM_METRIC;
    const period = Duration.minutes(1);
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    for (const stage of stages) {
      usingMetrics[stage] = new cloudwatch.Metric({
        namespace,
        metricName,
        dimensionsMap: { [dimension]: stage },
        statistic: cloudwatch.Stats.SUM,
        period,
      });
    }
    this.alarm = new cloudwatch.Alarm(this, 'WriteFailures', {
      alarmName,
      alarmDescription:
        'An audit write (archive, index, checkpoint or append) failed after its retries: the audit trail ' +
        'may be incomplete or appends refused. See the agents’ logs for the AuditWriteFailures lines.',
      // Every stage's series added up; SUM over the array counts the series that have a value.
      metric: new cloudwatch.MathExpression({
        expression: 'SUM(METRICS())',
        usingMetrics,
        period,
        label: 'Audit write failures (all stages)',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    if (props.topicEncryptionKey) {
      this.topic = this.alarmTopic(props.topicEncryptionKey, publishers);
      this.alarm.addAlarmAction(new actions.SnsAction(this.topic));
    } else {
      this.topic = undefined;
      Validations.of(this.alarm).acknowledge({
        id: 'NIST.800.53.R5-CloudWatchAlarmAction',
        reason:
          'Deployed without a notification topic (no topicEncryptionKey given): the alarm is watched in the console or by an external pager that reads alarm state.',
      });
    }
  }

  /** An SNS topic, KMS-encrypted and TLS-only, that only the named alarms' CloudWatch may publish to. */
  private alarmTopic(key: kms.IKey, alarmArns: readonly string[]): sns.Topic {
    const account = Stack.of(this).account;
    const fromThisAlarm = {
      ArnLike: { 'aws:SourceArn': alarmArns.length === 1 ? alarmArns[0] : [...alarmArns] },
      StringEquals: { 'aws:SourceAccount': account },
    };
    // CloudWatch cannot publish to a KMS-encrypted topic without the use of its key.
    const added = key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAuditAlarmToPublishEncrypted',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: fromThisAlarm,
      }),
      true,
    );
    if (!added.statementAdded) {
      throw new Error(
        'AuditAlarms: topicEncryptionKey must be a key whose policy this stack manages (not an imported key): CloudWatch needs its use to publish the alarm',
      );
    }
    const topic = new sns.Topic(this, 'Topic', {
      displayName: 'ACME trading platform: alarms (audit writes, policy evaluators)',
      masterKey: key,
      enforceSSL: true,
    });
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAuditAlarmToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: fromThisAlarm,
      }),
    );
    return topic;
  }
}
