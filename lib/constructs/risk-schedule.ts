import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface RiskScheduleProps {
  /** The risk agent's function: it runs the `expire_temporary_limits` task. */
  readonly riskFunction: lambda.IFunction;
  readonly every?: Duration;
}

/**
 * The risk agent's housekeeping on a schedule: temporary limit changes whose time has come are
 * removed from their profiles and recorded as ended (`limit_change_expired`). The limits stop
 * applying at their end whatever this does; the schedule bounds how late the record is.
 */
export class RiskSchedule extends Construct {
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: RiskScheduleProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'TemporaryLimitsSweep', {
      description: 'Records temporary risk limit changes that have ended (risk agent: expire_temporary_limits)',
      schedule: events.Schedule.rate(props.every ?? Duration.minutes(1)),
      targets: [
        new targets.LambdaFunction(props.riskFunction, {
          event: events.RuleTargetInput.fromObject({ action: 'expire_temporary_limits' }),
          // A missed sweep is caught up by the next one: a minute later, nothing is lost.
          retryAttempts: 2,
          maxEventAge: Duration.minutes(5),
        }),
      ],
    });
  }
}
