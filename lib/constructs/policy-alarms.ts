import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/**
 * What the agents log when the compiled policy evaluator and cedar-wasm disagree on a sampled
 * decision (functions/wiring.ts, with DISAGREEMENT_LOG_MESSAGE of functions/core/policy-engine.ts;
 * a test holds the two equal), and the metric each agent's log group turns it into.
 */
export const POLICY_ALARM_METRIC = {
  namespace: 'TradingPlatform/Policy',
  metricName: 'EvaluatorDisagreements',
  logMessage: 'policy evaluators disagree',
} as const;

export interface PolicyAlarmsProps {
  /** The agents' log groups (Powertools JSON lines). */
  readonly logGroups: readonly logs.ILogGroup[];
  /** @default `<stack name>-policy-evaluator-disagreements` */
  readonly alarmName?: string;
  /**
   * Where the alarm publishes; the topic's policy must let this alarm publish (AuditAlarms'
   * `otherAlarmNames`). @default no topic: the alarm only changes state
   */
  readonly topic?: sns.ITopic;
}

/**
 * Pages when the compiled policy evaluator and cedar-wasm disagree on any sampled decision: a
 * defect in the compiled evaluator (the request was refused, and the refusal audited with both
 * answers). One in a minute is enough; no data is the normal case.
 */
export class PolicyAlarms extends Construct {
  public readonly alarm: cloudwatch.Alarm;
  public readonly metricFilters: readonly logs.MetricFilter[];

  constructor(scope: Construct, id: string, props: PolicyAlarmsProps) {
    super(scope, id);
    const { namespace, metricName, logMessage } = POLICY_ALARM_METRIC;
    this.metricFilters = props.logGroups.map(
      (logGroup, i) =>
        new logs.MetricFilter(this, `Disagreements${i}`, {
          logGroup,
          filterPattern: logs.FilterPattern.stringValue('$.message', '=', logMessage),
          metricNamespace: namespace,
          metricName,
          metricValue: '1',
        }),
    );
    this.alarm = new cloudwatch.Alarm(this, 'EvaluatorDisagreements', {
      alarmName: props.alarmName ?? PolicyAlarms.defaultName(Stack.of(this)),
      alarmDescription:
        'The compiled policy evaluator and cedar-wasm disagreed on a sampled authorisation: a defect in ' +
        'functions/core/policy-compiler.ts. The request was refused; its access_denied audit record and the ' +
        `agent's "${logMessage}" log line carry both answers.`,
      metric: new cloudwatch.Metric({
        namespace,
        metricName,
        statistic: cloudwatch.Stats.SUM,
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.topic) {
      this.alarm.addAlarmAction(new actions.SnsAction(props.topic));
    } else {
      Validations.of(this.alarm).acknowledge({
        id: 'NIST.800.53.R5-CloudWatchAlarmAction',
        reason:
          'Deployed without a notification topic: the alarm is watched in the console or by an external pager that reads alarm state.',
      });
    }
  }

  /** The alarm's name when none is given: fixed, so a topic policy can name it before it exists. */
  static defaultName(stack: Stack): string {
    return `${stack.stackName}-policy-evaluator-disagreements`;
  }
}
