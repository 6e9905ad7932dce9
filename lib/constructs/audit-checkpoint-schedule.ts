import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface AuditCheckpointScheduleProps {
  /** The compliance agent's function: it runs the `checkpoint` task. */
  readonly complianceFunction: lambda.IFunction;
  readonly every?: Duration;
}

/**
 * The time rule of the audit checkpoints on AWS: a frozen Lambda runs no timers, so a quiet log's
 * last records would wait for the next append to be signed. Every minute the compliance agent
 * signs whatever the latest checkpoint does not cover (nothing when nothing was added).
 */
export class AuditCheckpointSchedule extends Construct {
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: AuditCheckpointScheduleProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Checkpoint', {
      description: 'Signs an audit-log checkpoint over records not yet covered (compliance agent: checkpoint)',
      schedule: events.Schedule.rate(props.every ?? Duration.minutes(1)),
      targets: [
        new targets.LambdaFunction(props.complianceFunction, {
          event: events.RuleTargetInput.fromObject({ action: 'checkpoint' }),
          // A missed run is made up by the next: it signs everything not yet covered.
          retryAttempts: 2,
          maxEventAge: Duration.minutes(5),
        }),
      ],
    });
  }
}
