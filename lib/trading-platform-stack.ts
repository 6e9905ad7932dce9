import { relative } from 'node:path';
import { CfnOutput, CfnParameter, Stack, type StackProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Evaluator } from '../functions/core/policy-compiler.js';
import { AGENT_ACCESS } from './agent-access.js';
import { AgentFunction, type AgentName } from './constructs/agent-function.js';
import { AgentSchedule } from './constructs/agent-schedule.js';
import { ApiFirewall } from './constructs/api-firewall.js';
import { AuditAlarms } from './constructs/audit-alarms.js';
import { AuditAnalytics } from './constructs/audit-analytics.js';
import { AuditArchive } from './constructs/audit-archive.js';
import { AuditSigningKey } from './constructs/audit-signing-key.js';
import { DataBackup } from './constructs/data-backup.js';
import { DataTables, type TableAccess, type TableName } from './constructs/data-tables.js';
import { MtlsTruststore } from './constructs/mtls-truststore.js';
import { OrderApi } from './constructs/order-api.js';
import { approvalTimeoutSeconds, OrderLifecycle } from './constructs/order-lifecycle.js';
import { PlatformKey } from './constructs/platform-key.js';
import { PolicyAlarms } from './constructs/policy-alarms.js';
import { ORDER_LIFECYCLE_ASL, PROJECT_ROOT } from './project-paths.js';

export interface TradingPlatformStackProps extends StackProps {
  /** Object Lock COMPLIANCE default retention of the audit archive, in days. */
  readonly auditRetentionDays: number;
  readonly logRetention: logs.RetentionDays;
  /** The mTLS truststore bundle (PEM) and the file it came from (for messages). */
  readonly truststore: { readonly pem: string; readonly file: string };
  /** Who decides authorisations in the agents (POLICY_EVALUATOR). @default 'compiled' */
  readonly policyEvaluator?: Evaluator;
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
  public readonly policyAlarms: PolicyAlarms;
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
  public readonly truststore: MtlsTruststore;
  /** `cdk deploy --parameters ApiDomainName=... --parameters ApiCertificateArn=...` */
  public readonly apiDomainName: CfnParameter;
  public readonly apiCertificateArn: CfnParameter;

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
    // Named here, once: the topic's policy must name the alarm that publishes to it.
    const policyAlarmName = PolicyAlarms.defaultName(this);
    this.auditAlarms = new AuditAlarms(this, 'AuditAlarms', {
      topicEncryptionKey: key,
      otherAlarmNames: [policyAlarmName],
    });
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
          POLICY_EVALUATOR: props.policyEvaluator ?? 'compiled',
        },
        auditRetentionDays: props.auditRetentionDays,
        logKey: key,
        logRetention: props.logRetention,
      });

    // Every agent gets STATE_MACHINE_ARN: the router starts executions, and every agent refuses a
    // task that does not come from this state machine. REFERENCE_TABLE wherever a route names an
    // account: the enforcement point reads the trader's entitlements there.
    // Each scheduled agent accepts only its own rule (SCHEDULE_RULE_ARN, functions/caller-identity.ts).
    const riskSweepRule = `${this.stackName}-risk-sweep`;
    const checkpointRule = `${this.stackName}-audit-checkpoint`;
    this.agents = {
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
        STATE_MACHINE_ARN: stateMachineArn,
        SCHEDULE_RULE_ARN: AgentSchedule.arnFor(this, riskSweepRule),
      }),
      approval: agent('Approval', 'approval', {
        APPROVALS_TABLE: t.approvals.tableName,
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
        STATE_MACHINE_ARN: stateMachineArn,
      }),
      positionTracker: agent('PositionTracker', 'position-tracker', {
        POSITIONS_TABLE: t.positions.tableName,
        REFERENCE_TABLE: t.reference.tableName,
        RISK_STATE_TABLE: t.riskState.tableName,
        STATE_MACHINE_ARN: stateMachineArn,
      }),
      compliance: agent('Compliance', 'compliance', {
        ORDERS_TABLE: t.orders.tableName,
        STATE_MACHINE_ARN: stateMachineArn,
        RISK_STATE_TABLE: t.riskState.tableName,
        SCHEDULE_RULE_ARN: AgentSchedule.arnFor(this, checkpointRule),
      }),
    };
    // A sampled decision on which the compiled policy evaluator and cedar-wasm disagree pages the
    // same on-call as a failed audit write.
    this.policyAlarms = new PolicyAlarms(this, 'PolicyAlarms', {
      alarmName: policyAlarmName,
      logGroups: Object.values(this.agents).map((a) => a.logGroup),
      ...(this.auditAlarms.topic ? { topic: this.auditAlarms.topic } : {}),
    });

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
      ruleName: riskSweepRule,
      fn: this.agents.risk.function,
      action: 'expire_temporary_limits',
      description: 'Records temporary risk limit changes that have ended (risk agent: expire_temporary_limits)',
    });
    this.auditCheckpointSchedule = new AgentSchedule(this, 'AuditCheckpointSchedule', {
      ruleName: checkpointRule,
      fn: this.agents.compliance.function,
      action: 'checkpoint',
      description: 'Signs an audit-log checkpoint over records not yet covered (compliance agent: checkpoint)',
    });

    // Parameters, not context: one synthesized template deploys to any domain, and synth needs
    // neither value.
    this.apiDomainName = new CfnParameter(this, 'ApiDomainName', {
      type: 'String',
      description:
        'Custom domain of the API, the only way in (mutual TLS; lower case, e.g. orders.acme.example). Point a CNAME at the MtlsDomainTarget output.',
      allowedPattern: '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$',
      constraintDescription: 'a lower-case DNS name such as orders.acme.example',
      maxLength: 253,
    });
    this.apiCertificateArn = new CfnParameter(this, 'ApiCertificateArn', {
      type: 'String',
      description:
        "ARN of the ACM server certificate for ApiDomainName, in this stack's region (a regional domain); publicly trusted, as API Gateway mTLS requires.",
      allowedPattern: '^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$',
      constraintDescription: 'an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)',
    });
    this.truststore = new MtlsTruststore(this, 'MtlsTruststore', {
      pem: props.truststore.pem,
      source: relative(PROJECT_ROOT, props.truststore.file) || props.truststore.file,
      accessLogBucket: this.auditArchive.accessLogBucket,
      logKey: key,
      logRetention: props.logRetention,
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
      domain: {
        domainName: this.apiDomainName.valueAsString,
        certificateArn: this.apiCertificateArn.valueAsString,
        truststore: this.truststore,
      },
    });

    this.firewall = new ApiFirewall(this, 'OrderApiFirewall', {
      stage: this.orderApi.api.deploymentStage,
      logKey: key,
      logRetention: props.logRetention,
    });

    // The execute-api URL is disabled: the API's address is the custom domain.
    new CfnOutput(this, 'ApiUrl', {
      description: 'The API, through the mTLS custom domain (a client certificate from the truststore CAs)',
      value: `https://${this.apiDomainName.valueAsString}/`,
    });
    new CfnOutput(this, 'MtlsDomainTarget', {
      description: 'Point the mTLS domain (CNAME, or alias with MtlsDomainHostedZoneId) at this regional endpoint',
      value: this.orderApi.domainName.domainNameAliasDomainName,
    });
    new CfnOutput(this, 'MtlsDomainHostedZoneId', {
      description: 'Hosted zone of the regional endpoint, for a Route 53 alias record',
      value: this.orderApi.domainName.domainNameAliasHostedZoneId,
    });
    new CfnOutput(this, 'MtlsTruststoreUri', {
      description: 'The CA bundle the domain trusts (its key is a hash of the bundle)',
      value: this.truststore.uri,
    });
    new CfnOutput(this, 'StateMachineArn', { value: this.lifecycle.stateMachine.stateMachineArn });
    new CfnOutput(this, 'AuditBucketName', { value: this.auditArchive.bucket.bucketName });
    for (const [name, table] of Object.entries(this.tables.all)) {
      new CfnOutput(this, `${name[0]?.toUpperCase()}${name.slice(1)}TableName`, { value: table.tableName });
    }
  }

  /** The access matrix of docs/contracts.md (lib/agent-access.ts), and nothing more. */
  private grantAccess(): void {
    const byName: Record<AgentName, AgentFunction> = {
      'order-router': this.agents.orderRouter,
      risk: this.agents.risk,
      approval: this.agents.approval,
      execution: this.agents.execution,
      'position-tracker': this.agents.positionTracker,
      compliance: this.agents.compliance,
    };
    for (const [name, agent] of Object.entries(byName) as [AgentName, AgentFunction][]) {
      const access = AGENT_ACCESS[name];
      for (const [table, tableAccess] of Object.entries(access.tables) as [TableName, TableAccess][]) {
        this.tables.grantItems(agent.role, table, tableAccess);
      }
      // Every agent writes the audit table at least, so every agent uses the platform key.
      this.tables.grantKeyUse(agent.role);
      this.auditArchive.grantArchiveAccess(agent.role, { listRecords: access.listArchiveRecords });
      // Whoever extends the log may sign a checkpoint of it (the count rule, every N records).
      this.auditSigningKey.grantSign(agent.role);
      for (const call of access.stateMachine) {
        if (call === 'start') this.lifecycle.grantStartExecution(agent.role);
        if (call === 'describe') this.lifecycle.grantDescribeExecution(agent.role);
        if (call === 'taskResponse') this.lifecycle.grantTaskResponse(agent.role);
      }
    }
  }
}
