// Workflow on AWS Step Functions (standard workflow). Execution name = order id, so a retried start
// is a no-op; the task-token refusals come back as the named errors of ./errors.ts.
import { isDeepStrictEqual } from 'node:util';
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { ConflictError } from '../core/errors.js';
import type { Workflow } from '../ports.js';
import { callAws, errorName, InvalidToken, TaskDoesNotExist, TaskTimedOut } from './errors.js';

type ExecutionState = Awaited<ReturnType<Workflow['describe']>>;

// SendTaskFailure limits (characters); longer values are refused outright, so they are cut.
const MAX_ERROR = 256;
const MAX_CAUSE = 32_768;

export class SfnWorkflow implements Workflow {
  private readonly executionArnPrefix: string;
  private readonly stateMachineArn: string;

  /**
   * Without a state machine ARN only the task-token calls work: the approval agent answers tokens
   * but cannot be given the ARN (the definition references its function: a deploy-time cycle).
   */
  constructor(
    private readonly sfn: SFNClient,
    stateMachineArn: string | undefined,
  ) {
    this.stateMachineArn = stateMachineArn ?? '';
    if (stateMachineArn === undefined) {
      this.executionArnPrefix = '';
      return;
    }
    // arn:<partition>:states:<region>:<account>:stateMachine:<name>
    const parts = stateMachineArn.split(':');
    if (parts.length !== 7 || parts[0] !== 'arn' || parts[2] !== 'states' || parts[5] !== 'stateMachine') {
      throw new RangeError(`not a state machine ARN: ${stateMachineArn}`);
    }
    this.executionArnPrefix = `${parts.slice(0, 5).join(':')}:execution:${parts[6]}:`;
  }

  executionIdFor(name: string): string {
    if (!this.stateMachineArn) throw new RangeError('this workflow client has no state machine ARN');
    return `${this.executionArnPrefix}${name}`;
  }

  async start(name: string, input: unknown): Promise<{ executionId: string }> {
    const body = JSON.stringify(input ?? {});
    if (!this.stateMachineArn) throw new RangeError('this workflow client has no state machine ARN');
    try {
      const out = await callAws(`StartExecution ${name}`, () =>
        this.sfn.send(new StartExecutionCommand({ stateMachineArn: this.stateMachineArn, name, input: body })),
      );
      return { executionId: out.executionArn ?? this.executionIdFor(name) };
    } catch (err) {
      if (errorName(err) !== 'ExecutionAlreadyExists') throw err;
      // AWS answers a repeat of a *running* execution with the same input by itself, but refuses a
      // repeat once it has finished; compare inputs so the port's "same input is a no-op" holds.
      const executionId = this.executionIdFor(name);
      const existing = await callAws(`DescribeExecution ${name}`, () =>
        this.sfn.send(new DescribeExecutionCommand({ executionArn: executionId })),
      );
      if (existing.input !== undefined && isDeepStrictEqual(JSON.parse(existing.input), JSON.parse(body))) {
        return { executionId };
      }
      throw new ConflictError(`execution ${name} already exists with a different input`, 'execution_already_exists');
    }
  }

  async sendTaskSuccess(taskToken: string, output: unknown): Promise<void> {
    await this.taskCall('SendTaskSuccess', () =>
      this.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output ?? {}) })),
    );
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    await this.taskCall('SendTaskFailure', () =>
      this.sfn.send(
        new SendTaskFailureCommand({ taskToken, error: error.slice(0, MAX_ERROR), cause: cause.slice(0, MAX_CAUSE) }),
      ),
    );
  }

  async describe(executionId: string): Promise<ExecutionState> {
    try {
      const out = await callAws('DescribeExecution', () =>
        this.sfn.send(new DescribeExecutionCommand({ executionArn: executionId })),
      );
      switch (out.status) {
        case 'SUCCEEDED':
        case 'FAILED':
        case 'TIMED_OUT':
        case 'ABORTED':
        case 'RUNNING':
          return {
            status: out.status,
            ...(out.error !== undefined ? { error: out.error } : {}),
            ...(out.cause !== undefined ? { cause: out.cause } : {}),
          };
        // A redrive has been requested: the execution is about to run again.
        case 'PENDING_REDRIVE':
          return { status: 'RUNNING' };
        default:
          throw new Error(`DescribeExecution returned an unknown status ${String(out.status)}`);
      }
    } catch (err) {
      if (errorName(err) === 'ExecutionDoesNotExist') return undefined;
      throw err;
    }
  }

  private async taskCall(what: string, op: () => Promise<unknown>): Promise<void> {
    try {
      await callAws(what, op);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      switch (errorName(err)) {
        case 'TaskTimedOut':
          throw new TaskTimedOut(message, { cause: err });
        case 'TaskDoesNotExist':
          throw new TaskDoesNotExist(message, { cause: err });
        case 'InvalidToken':
          throw new InvalidToken(message, { cause: err });
        default:
          throw err;
      }
    }
  }
}
