import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface AgentScheduleProps {
  /** The agent function that runs the task. */
  readonly fn: lambda.IFunction;
  /** The task the agent runs: its payload is `{ action }`. */
  readonly action: string;
  readonly description: string;
  readonly every?: Duration;
}

/**
 * An agent's housekeeping task on a schedule (an EventBridge rule, every minute by default). Each
 * task does whatever is due when it runs, so a missed run is made up by the next one: two retries,
 * and an event older than five minutes is dropped.
 */
export class AgentSchedule extends Construct {
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: AgentScheduleProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Rule', {
      description: props.description,
      schedule: events.Schedule.rate(props.every ?? Duration.minutes(1)),
      targets: [
        new targets.LambdaFunction(props.fn, {
          event: events.RuleTargetInput.fromObject({ action: props.action }),
          retryAttempts: 2,
          maxEventAge: Duration.minutes(5),
        }),
      ],
    });
  }
}
