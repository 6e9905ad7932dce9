// The Step Functions adapter: what it sends, and how the service's refusals map to the port and
// to the named errors the approval logic matches on. No network: aws-sdk-client-mock.
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  InvalidToken as SdkInvalidToken,
  TaskDoesNotExist as SdkTaskDoesNotExist,
  TaskTimedOut as SdkTaskTimedOut,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  InvalidToken,
  TaskDoesNotExist,
  TaskTimedOut,
  TaskTokenError,
  TransientError,
} from '../../functions/adapters/errors.js';
import { SfnWorkflow } from '../../functions/adapters/sfn-workflow.js';
import { ConflictError } from '../../functions/core/errors.js';

const SM_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:order-lifecycle';
const EXEC_ARN = 'arn:aws:states:eu-west-1:123456789012:execution:order-lifecycle:ORD-1';
const sfnMock = mockClient(SFNClient);
const client = new SFNClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const meta = { $metadata: { httpStatusCode: 400 }, message: 'refused' };

function serviceError(name: string, status: number): SFNServiceException {
  return new SFNServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

beforeEach(() => {
  sfnMock.reset();
});

describe('SfnWorkflow.start', () => {
  it('starts an execution named after the order with the JSON input', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXEC_ARN, startDate: new Date() });
    const workflow = new SfnWorkflow(client, SM_ARN);
    expect(await workflow.start('ORD-1', { order_id: 'ORD-1', quantity: 100 })).toEqual({ executionId: EXEC_ARN });
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input).toEqual({
      stateMachineArn: SM_ARN,
      name: 'ORD-1',
      input: '{"order_id":"ORD-1","quantity":100}',
    });
  });

  it('derives the execution ARN from the state machine ARN', () => {
    expect(new SfnWorkflow(client, SM_ARN).executionIdFor('ORD-1')).toBe(EXEC_ARN);
    expect(() => new SfnWorkflow(client, 'arn:aws:lambda:eu-west-1:1:function:x')).toThrow(RangeError);
  });

  it('treats a repeat with the same input as a no-op, even once the execution has finished', async () => {
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists(meta));
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXEC_ARN, status: 'SUCCEEDED', input: '{"quantity":100,"order_id":"ORD-1"}' });
    const workflow = new SfnWorkflow(client, SM_ARN);
    expect(await workflow.start('ORD-1', { order_id: 'ORD-1', quantity: 100 })).toEqual({ executionId: EXEC_ARN });
    expect(sfnMock.commandCalls(DescribeExecutionCommand)[0]?.args[0].input).toEqual({ executionArn: EXEC_ARN });
  });

  it('refuses the same name with a different input as a ConflictError', async () => {
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists(meta));
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXEC_ARN, status: 'RUNNING', input: '{"quantity":5}' });
    const err = await new SfnWorkflow(client, SM_ARN).start('ORD-1', { quantity: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('execution_already_exists');
  });

  it('maps throttling and 5xx to TransientError', async () => {
    sfnMock.on(StartExecutionCommand).rejects(serviceError('ThrottlingException', 400));
    await expect(new SfnWorkflow(client, SM_ARN).start('ORD-1', {})).rejects.toBeInstanceOf(TransientError);
    sfnMock.on(StartExecutionCommand).rejects(serviceError('ServiceUnavailable', 503));
    await expect(new SfnWorkflow(client, SM_ARN).start('ORD-1', {})).rejects.toMatchObject({ name: 'TransientError' });
  });
});

describe('SfnWorkflow task tokens', () => {
  it('sends success with JSON output and failure with error and cause', async () => {
    sfnMock.on(SendTaskSuccessCommand).resolves({});
    sfnMock.on(SendTaskFailureCommand).resolves({});
    const workflow = new SfnWorkflow(client, SM_ARN);
    await workflow.sendTaskSuccess('tok-1', { decision: 'APPROVED', by: 'CN=checker' });
    await workflow.sendTaskSuccess('tok-2', undefined);
    await workflow.sendTaskFailure('tok-3', 'ApprovalRejected', 'x'.repeat(40_000));
    const success = sfnMock.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input);
    expect(success).toEqual([
      { taskToken: 'tok-1', output: '{"decision":"APPROVED","by":"CN=checker"}' },
      { taskToken: 'tok-2', output: '{}' },
    ]);
    const failure = sfnMock.commandCalls(SendTaskFailureCommand)[0]?.args[0].input;
    expect(failure?.taskToken).toBe('tok-3');
    expect(failure?.error).toBe('ApprovalRejected');
    expect(failure?.cause).toHaveLength(32_768); // the service refuses longer causes
  });

  it.each([
    ['TaskTimedOut', new SdkTaskTimedOut(meta), TaskTimedOut],
    ['TaskDoesNotExist', new SdkTaskDoesNotExist(meta), TaskDoesNotExist],
    ['InvalidToken', new SdkInvalidToken(meta), InvalidToken],
  ] as const)('maps %s to the named error class with the same name', async (name, sdkError, cls) => {
    sfnMock.on(SendTaskSuccessCommand).rejects(sdkError);
    sfnMock.on(SendTaskFailureCommand).rejects(sdkError);
    const workflow = new SfnWorkflow(client, SM_ARN);
    for (const call of [() => workflow.sendTaskSuccess('tok', {}), () => workflow.sendTaskFailure('tok', 'E', 'c')]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(cls);
      expect(err).toBeInstanceOf(TaskTokenError);
      expect((err as Error).name).toBe(name);
      expect((err as Error).cause).toBe(sdkError);
    }
  });

  it('lets other refusals through unchanged', async () => {
    const denied = serviceError('AccessDeniedException', 400);
    sfnMock.on(SendTaskSuccessCommand).rejects(denied);
    await expect(new SfnWorkflow(client, SM_ARN).sendTaskSuccess('tok', {})).rejects.toBe(denied);
  });
});

describe('SfnWorkflow.describe', () => {
  it.each(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const)('reports %s', async (status) => {
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXEC_ARN, status });
    expect(await new SfnWorkflow(client, SM_ARN).describe(EXEC_ARN)).toEqual({ status });
  });

  it('reports a pending redrive as running', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXEC_ARN, status: 'PENDING_REDRIVE' });
    expect(await new SfnWorkflow(client, SM_ARN).describe(EXEC_ARN)).toEqual({ status: 'RUNNING' });
  });

  it('answers undefined for an execution that does not exist', async () => {
    sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist(meta));
    expect(await new SfnWorkflow(client, SM_ARN).describe(EXEC_ARN)).toBeUndefined();
  });
});
