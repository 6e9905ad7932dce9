import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/**
 * EventBridge's predefined variable for the ARN of the rule that fired: EventBridge writes the
 * value, not whoever wrote the rule's input. Only this stack's rules (besides API Gateway and the
 * state machine's role) may invoke an agent, and the agent accepts only its own rule's ARN
 * (SCHEDULE_RULE_ARN, functions/caller-identity.ts).
 */
export const RULE_ARN_VARIABLE = '<aws.events.rule-arn>';

/**
 * The target input of a scheduled task: `{"action": <action>, "schedule": {"rule_arn": <the rule's
 * ARN>, "time": <the event's time>}}`. CDK has no field for EventBridge's predefined variables
 * (aws/aws-cdk#27841), but a literal `<aws.events.rule-arn>` in the template is one; the EventField
 * for the time makes CDK render an InputTransformer rather than a constant Input.
 */
export function scheduledTaskInput(action: string): events.RuleTargetInput {
  return events.RuleTargetInput.fromObject({
    action,
    schedule: { rule_arn: RULE_ARN_VARIABLE, time: events.EventField.time },
  });
}

export interface AgentScheduleProps {
  /**
   * The rule's name, fixed so its ARN is known before the rule exists: the agent's configuration
   * names it (a reference would be a cycle: the rule targets the agent).
   */
  readonly ruleName: string;
  /** The agent function that runs the task. */
  readonly fn: lambda.IFunction;
  /** The task the agent runs (see {@link scheduledTaskInput}). */
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

  /** The ARN a rule of this name has in `scope`'s stack. */
  static arnFor(scope: Construct, ruleName: string): string {
    return Stack.of(scope).formatArn({
      service: 'events',
      resource: 'rule',
      resourceName: ruleName,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  constructor(scope: Construct, id: string, props: AgentScheduleProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Rule', {
      ruleName: props.ruleName,
      description: props.description,
      schedule: events.Schedule.rate(props.every ?? Duration.minutes(1)),
      targets: [
        new targets.LambdaFunction(props.fn, {
          event: scheduledTaskInput(props.action),
          retryAttempts: 2,
          maxEventAge: Duration.minutes(5),
        }),
      ],
    });
  }
}
