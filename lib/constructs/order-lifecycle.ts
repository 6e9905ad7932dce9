import { readFileSync } from 'node:fs';
import { ArnFormat, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

const WAIT_FOR_TASK_TOKEN = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/**
 * The approval callback timeout, read from the ASL file's waitForTaskToken state, so the approval
 * agent's APPROVAL_TIMEOUT_SECONDS can never disagree with the state machine.
 */
export function approvalTimeoutSeconds(definitionFile: string): number {
  const definition = JSON.parse(readFileSync(definitionFile, 'utf8')) as {
    States?: Record<string, { Resource?: unknown; TimeoutSeconds?: unknown }>;
  };
  const waits = Object.entries(definition.States ?? {}).filter(([, state]) => state.Resource === WAIT_FOR_TASK_TOKEN);
  const [wait] = waits;
  if (waits.length !== 1 || !wait || typeof wait[1].TimeoutSeconds !== 'number') {
    throw new Error(`${definitionFile}: expected one ${WAIT_FOR_TASK_TOKEN} state with a numeric TimeoutSeconds`);
  }
  return wait[1].TimeoutSeconds;
}

/** The placeholders of statemachines/order-lifecycle.asl.json (docs/contracts.md). */
export interface OrderLifecycleFunctions {
  readonly RiskFunctionArn: lambda.IFunction;
  readonly ApprovalFunctionArn: lambda.IFunction;
  readonly ExecutionFunctionArn: lambda.IFunction;
  readonly PositionFunctionArn: lambda.IFunction;
  readonly ComplianceFunctionArn: lambda.IFunction;
}

export interface OrderLifecycleProps {
  /** Path of the ASL file; CDK ships it as an asset and CloudFormation fills the placeholders. */
  readonly definitionFile: string;
  readonly functions: OrderLifecycleFunctions;
  /** Name of the state machine; see {@link OrderLifecycle.arnFor}. */
  readonly stateMachineName: string;
  readonly logKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The order lifecycle: a STANDARD state machine (exactly-once steps, the year-long callback wait
 * of the approval state, full execution history) built from the shared ASL file.
 *
 * Agents that the state machine invokes also call it (approval answers its task token, compliance
 * describes executions), and the order router and compliance need its ARN in their environment.
 * Referring to the state machine resource from those functions would close a dependency cycle, so
 * the state machine has a fixed name and its ARN and grants are built from that name.
 */
export class OrderLifecycle extends Construct {
  /** The ARN a state machine named `stateMachineName` gets in the stack of `scope`, without referring to it. */
  public static arnFor(scope: Construct, stateMachineName: string): string {
    return Stack.of(scope).formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  /** Same value as `stateMachine.stateMachineArn`, but usable by the functions it invokes. */
  public readonly stateMachineArn: string;
  public readonly stateMachineName: string;
  private readonly executionsArn: string;

  constructor(scope: Construct, id: string, props: OrderLifecycleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.stateMachineName = props.stateMachineName;
    this.stateMachineArn = OrderLifecycle.arnFor(this, props.stateMachineName);
    this.executionsArn = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${props.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      // The /aws/vendedlogs/ prefix keeps Step Functions log delivery off the account's size-limited
      // CloudWatch Logs resource policy.
      logGroupName: `/aws/vendedlogs/states/${props.stateMachineName}`,
      retention: props.logRetention,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const definitionSubstitutions: Record<string, string> = {};
    for (const [placeholder, fn] of Object.entries(props.functions) as [string, lambda.IFunction][]) {
      definitionSubstitutions[placeholder] = fn.functionArn;
    }

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(props.definitionFile),
      definitionSubstitutions,
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // The state machine's role may invoke the agent functions and nothing else.
    for (const fn of Object.values(props.functions) as lambda.IFunction[]) {
      fn.grantInvoke(this.stateMachine);
    }

    this.acknowledgeFindings(props.functions);
  }

  /** Start executions (the order router; the execution name is the order id). */
  public grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['states:StartExecution'],
      resourceArns: [this.stateMachineArn],
    });
  }

  /** DescribeExecution on this state machine's executions (status reads). */
  public grantDescribeExecution(grantee: iam.IGrantable & Construct): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['states:DescribeExecution'],
      resourceArns: [this.executionsArn],
    });
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${this.stateMachineName}:*]`,
      reason: 'Executions of the order lifecycle only; their names (order ids) are not known in advance.',
    });
    return grant;
  }

  /**
   * Answer the approval state's task token (the checker's decision, the timeout). No
   * SendTaskHeartbeat: the approval state sets no HeartbeatSeconds and nothing sends one.
   */
  public grantTaskResponse(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
      resourceArns: [this.stateMachineArn],
    });
  }

  private acknowledgeFindings(functions: OrderLifecycleFunctions): void {
    const role = Validations.of(this.stateMachine.role);
    for (const pack of ['NIST.800.53.R5', 'PCI.DSS.321']) {
      role.acknowledge({
        id: `${pack}-IAMNoInlinePolicy`,
        reason:
          "The policy belongs to the state machine's own role and to no other: an inline policy keeps that one-to-one relationship and is deleted with the role.",
      });
    }
    role.acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray (xray:PutTraceSegments) support only Resource "*".',
    });
    for (const fn of Object.values(functions) as lambda.IFunction[]) {
      const logicalId = Stack.of(this).getLogicalId(fn.node.defaultChild as lambda.CfnFunction);
      role.acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
        reason: 'lambda:InvokeFunction on the versions and aliases of an agent function the state machine invokes.',
      });
    }
  }
}
