import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { AgentFunction, type AgentName } from './constructs/agent-function.js';
import { AgentSchedule } from './constructs/agent-schedule.js';
import { ApiFirewall } from './constructs/api-firewall.js';
import { AuditAlarms } from './constructs/audit-alarms.js';
import { AuditAnalytics } from './constructs/audit-analytics.js';
import { AuditArchive } from './constructs/audit-archive.js';
import { AuditSigningKey } from './constructs/audit-signing-key.js';
import { DataBackup } from './constructs/data-backup.js';
import { DataTables } from './constructs/data-tables.js';
import { OrderApi, type OrderApiMtls } from './constructs/order-api.js';
import { approvalTimeoutSeconds, OrderLifecycle } from './constructs/order-lifecycle.js';
import { PlatformKey } from './constructs/platform-key.js';
import { ORDER_LIFECYCLE_ASL } from './project-paths.js';

export interface TradingPlatformStackProps extends StackProps {
  /** Object Lock COMPLIANCE default retention of the audit archive, in days. */
  readonly auditRetentionDays: number;
  readonly logRetention: logs.RetentionDays;
  /** The mTLS custom domain; without it the API is reached on its execute-api endpoint. */
  readonly mtls?: OrderApiMtls;
  /** Defaults to the shared ASL file. */
  readonly definitionFile?: string;
}

export interface TradingPlatformAgents {
  readonly orderRouter: AgentFunction;
  readonly risk: AgentFunction;
  readonly approval: AgentFunction;
  readonly execution: AgentFunction;
  readonly positionTracker: AgentFunction;
  readonly compliance: AgentFunction;
}

/**
 * The whole platform in one stack: the agents, the order lifecycle, the API, the tables and the
 * write-once audit archive. Each agent gets exactly the access docs/contracts.md gives it.
 */
export class TradingPlatformStack extends Stack {
  public readonly platformKey: PlatformKey;
  public readonly tables: DataTables;
  public readonly backup: DataBackup;
  public readonly auditArchive: AuditArchive;
  public readonly auditSigningKey: AuditSigningKey;
  public readonly auditAlarms: AuditAlarms;
  /** The time rule of the audit checkpoints on AWS (a frozen Lambda runs no timers). */
  public readonly auditCheckpointSchedule: AgentSchedule;
  /** Glue table over the archive, the Athena workgroup and the named queries. */
  public readonly auditAnalytics: AuditAnalytics;
  /** The audit log's name, in every signed checkpoint. */
  public readonly auditLogOrigin: string;
  public readonly agents: TradingPlatformAgents;
  public readonly lifecycle: OrderLifecycle;
  public readonly orderApi: OrderApi;
  public readonly firewall: ApiFirewall;
  public readonly riskSchedule: AgentSchedule;

  constructor(scope: Construct, id: string, props: TradingPlatformStackProps) {
    super(scope, id, props);
    const definitionFile = props.definitionFile ?? ORDER_LIFECYCLE_ASL;

    this.platformKey = new PlatformKey(this, 'PlatformKey');
    const key = this.platformKey.key;
    this.tables = new DataTables(this, 'Tables', { encryptionKey: key });
    this.backup = new DataBackup(this, 'Backup', {
      tables: Object.values(this.tables.all),
      encryptionKey: key,
      retentionDays: props.auditRetentionDays,
    });
    this.auditArchive = new AuditArchive(this, 'AuditArchive', {
      encryptionKey: key,
      retentionDays: props.auditRetentionDays,
    });

    this.auditSigningKey = new AuditSigningKey(this, 'AuditSigningKey');
    this.auditLogOrigin = `acme-trading/${this.account}/${this.region}/${this.stackName}/audit`;
    this.auditAlarms = new AuditAlarms(this, 'AuditAlarms', { topicEncryptionKey: key });
    this.auditAnalytics = new AuditAnalytics(this, 'AuditAnalytics', {
      archiveBucket: this.auditArchive.bucket,
      encryptionKey: key,
      resultsRetentionDays: 30,
      accessLogBucket: this.auditArchive.accessLogBucket,
    });

    const stateMachineName = `${this.stackName}-order-lifecycle`;
    const stateMachineArn = OrderLifecycle.arnFor(this, stateMachineName);
    const t = this.tables;
    const agent = (id: string, agentName: AgentName, environment: Record<string, string>) =>
      new AgentFunction(this, id, {
        agentName,
        environment: {
          ...environment,
          AUDIT_TABLE: t.audit.tableName,
          AUDIT_BUCKET: this.auditArchive.bucket.bucketName,
          AUDIT_SIGNING_KEY_ARN: this.auditSigningKey.key.keyArn,
          AUDIT_LOG_ORIGIN: this.auditLogOrigin,
        },
        auditRetentionDays: props.auditRetentionDays,
        logKey: key,
        logRetention: props.logRetention,
      });

    this.agents = {
      // REFERENCE_TABLE beyond docs/contracts.md: intake checks the symbol (functions/config.ts).
      orderRouter: agent('OrderRouter', 'order-router', {
        ORDERS_TABLE: t.orders.tableName,
        REFERENCE_TABLE: t.reference.tableName,
        STATE_MACHINE_ARN: stateMachineArn,
      }),
      risk: agent('Risk', 'risk', {
        ORDERS_TABLE: t.orders.tableName,
        REFERENCE_TABLE: t.reference.tableName,
        POSITIONS_TABLE: t.positions.tableName,
        RISK_STATE_TABLE: t.riskState.tableName,
      }),
      // STATE_MACHINE_ARN beyond docs/contracts.md: the workflow adapter answering task tokens
      // is built with it (functions/wiring.ts).
      approval: agent('Approval', 'approval', {
        APPROVALS_TABLE: t.approvals.tableName,
        ORDERS_TABLE: t.orders.tableName,
        APPROVAL_TIMEOUT_SECONDS: String(approvalTimeoutSeconds(definitionFile)),
        STATE_MACHINE_ARN: stateMachineArn,
        RISK_STATE_TABLE: t.riskState.tableName,
      }),
      execution: agent('Execution', 'execution', {
        ORDERS_TABLE: t.orders.tableName,
        REFERENCE_TABLE: t.reference.tableName,
        APPROVALS_TABLE: t.approvals.tableName,
        // The re-check of an order that waited reads the account's positions.
        POSITIONS_TABLE: t.positions.tableName,
        RISK_STATE_TABLE: t.riskState.tableName,
      }),
      positionTracker: agent('PositionTracker', 'position-tracker', {
        POSITIONS_TABLE: t.positions.tableName,
        REFERENCE_TABLE: t.reference.tableName,
        RISK_STATE_TABLE: t.riskState.tableName,
      }),
      compliance: agent('Compliance', 'compliance', {
        ORDERS_TABLE: t.orders.tableName,
        STATE_MACHINE_ARN: stateMachineArn,
        RISK_STATE_TABLE: t.riskState.tableName,
      }),
    };

    this.lifecycle = new OrderLifecycle(this, 'OrderLifecycle', {
      definitionFile,
      stateMachineName,
      functions: {
        RiskFunctionArn: this.agents.risk.function,
        ApprovalFunctionArn: this.agents.approval.function,
        ExecutionFunctionArn: this.agents.execution.function,
        PositionFunctionArn: this.agents.positionTracker.function,
        ComplianceFunctionArn: this.agents.compliance.function,
      },
      logKey: key,
      logRetention: props.logRetention,
    });

    this.grantAccess();
    // Temporary limit changes that have ended are recorded (they stop applying at their end anyway).
    this.riskSchedule = new AgentSchedule(this, 'RiskSchedule', {
      fn: this.agents.risk.function,
      action: 'expire_temporary_limits',
      description: 'Records temporary risk limit changes that have ended (risk agent: expire_temporary_limits)',
    });
    this.auditCheckpointSchedule = new AgentSchedule(this, 'AuditCheckpointSchedule', {
      fn: this.agents.compliance.function,
      action: 'checkpoint',
      description: 'Signs an audit-log checkpoint over records not yet covered (compliance agent: checkpoint)',
    });

    this.orderApi = new OrderApi(this, 'OrderApi', {
      handlers: {
        orderRouter: this.agents.orderRouter.function,
        approval: this.agents.approval.function,
        compliance: this.agents.compliance.function,
        positionTracker: this.agents.positionTracker.function,
        risk: this.agents.risk.function,
      },
      logKey: key,
      logRetention: props.logRetention,
      mtls: props.mtls,
    });

    this.firewall = new ApiFirewall(this, 'OrderApiFirewall', {
      stage: this.orderApi.api.deploymentStage,
      logKey: key,
      logRetention: props.logRetention,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.orderApi.api.url });
    if (this.orderApi.domainName) {
      new CfnOutput(this, 'MtlsDomainTarget', {
        description: 'Point the mTLS domain (CNAME or alias) at this regional endpoint',
        value: this.orderApi.domainName.domainNameAliasDomainName,
      });
    }
    new CfnOutput(this, 'StateMachineArn', { value: this.lifecycle.stateMachine.stateMachineArn });
    new CfnOutput(this, 'AuditBucketName', { value: this.auditArchive.bucket.bucketName });
    for (const [name, table] of Object.entries(this.tables.all)) {
      new CfnOutput(this, `${name[0]?.toUpperCase()}${name.slice(1)}TableName`, { value: table.tableName });
    }
  }

  /** The access matrix of docs/contracts.md, and nothing more. */
  private grantAccess(): void {
    const { orderRouter, risk, approval, execution, positionTracker, compliance } = this.agents;
    const t = this.tables;

    t.grantReadWrite(orderRouter.role, 'orders');
    t.grantRead(orderRouter.role, 'reference');
    this.lifecycle.grantStartExecution(orderRouter.role);
    this.lifecycle.grantDescribeExecution(orderRouter.role);

    // The risk agent also hosts the risk officers' admin API: it writes limits, lists, halts.
    t.grantRead(risk.role, 'positions');
    t.grantReadWrite(risk.role, 'orders', 'reference');

    // Accounts' live risk state: risk reserves an order's value; the steps that end an order
    // (approval rejected or expired, execution refused, fill applied, failure recorded) release it.
    for (const agent of [risk, approval, execution, positionTracker, compliance]) {
      t.grantGetPut(agent.role, 'riskState');
    }

    t.grantReadWrite(approval.role, 'approvals');
    t.grantRead(approval.role, 'orders');
    this.lifecycle.grantTaskResponse(approval.role);

    // Execution consumes the risk approval on the order and verifies the approval record.
    t.grantReadWrite(execution.role, 'orders');
    t.grantRead(execution.role, 'reference', 'approvals', 'positions');

    t.grantReadWrite(positionTracker.role, 'positions');
    t.grantRead(positionTracker.role, 'reference');

    t.grantRead(compliance.role, 'orders');
    this.lifecycle.grantDescribeExecution(compliance.role);

    // Every agent appends its own decisions to the audit trail.
    for (const agent of Object.values(this.agents) as AgentFunction[]) {
      t.grantReadWrite(agent.role, 'audit');
      this.auditArchive.grantArchiveAccess(agent.role);
      // Whoever extends the log may sign a checkpoint of it (every N records or T seconds).
      this.auditSigningKey.grantSign(agent.role);
    }
  }
}
