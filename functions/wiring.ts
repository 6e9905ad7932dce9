// AWS wiring: the SDK clients once per Lambda module, and the adapters an agent's configuration
// names. Built lazily per service, so an agent only touches what its configuration provides
// (loadConfig has already failed the cold start if anything it needs is missing).
import { Logger } from '@aws-lambda-powertools/logger';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { createAwsClients } from './adapters/aws-clients.js';
import { createCloudWatchMetrics } from './adapters/cloudwatch-metrics.js';
import { DynamoDbAccountRiskStore } from './adapters/dynamodb-account-risk-store.js';
import { DynamoDbApprovalStore } from './adapters/dynamodb-approval-store.js';
import { DynamoDbAuditIndex } from './adapters/dynamodb-audit-index.js';
import { DynamoDbOrderStore } from './adapters/dynamodb-order-store.js';
import { DynamoDbPositionStore } from './adapters/dynamodb-position-store.js';
import { DynamoDbReferenceStore } from './adapters/dynamodb-reference-store.js';
import { KmsCheckpointSigner } from './adapters/kms-checkpoint-signer.js';
import { S3AuditArchive } from './adapters/s3-audit-archive.js';
import { SfnWorkflow } from './adapters/sfn-workflow.js';
import type { AgentAccess } from './agent-runtime.js';
import { type AgentConfig, type AgentName, loadConfig, required } from './config.js';
import { AuditLog } from './core/audit-chain.js';
import { CheckpointedTrail, Checkpointer } from './core/audit-checkpointer.js';
import { DISAGREEMENT_LOG_MESSAGE, type Evaluator, loadPolicyEngine } from './core/policy-engine.js';
import { ReferenceCache } from './core/reference-cache.js';
import { SimulatedVenue } from './core/simulated-venue.js';
import { SystemClock } from './core/time.js';
import { agentAccess, type PlatformServices } from './deps.js';

export interface AwsAgentContext {
  config: AgentConfig;
  identity: string;
  services: PlatformServices;
  /** The agent as an enforcement point. */
  access: AgentAccess;
  /** Resolves once a checkpoint this invocation began signing is done (lambdaEntry awaits it). */
  settle(): Promise<void>;
}

export function awsAgentContext(
  agent: AgentName,
  tracer?: Tracer,
  logger: Logger = new Logger({ serviceName: agent }),
): AwsAgentContext {
  const config = loadConfig(agent);
  // Parsed once per cold start; a policy set that does not validate fails the cold start. A
  // disagreement of the compiled evaluator with cedar-wasm is a defect: logged as an error (the
  // request is also refused, and the refusal audited with both answers).
  const policy = loadPolicyEngine({
    evaluator: config.POLICY_EVALUATOR as Evaluator,
    onDisagreement: (disagreement) => logger.error(DISAGREEMENT_LOG_MESSAGE, { disagreement }),
  });
  // Which evaluator decides each action, so a switch (POLICY_EVALUATOR) can be seen to have taken.
  logger.info('policy engine loaded', { evaluators: policy.evaluators });
  const clients = createAwsClients(tracer ? { tracer } : {});
  const clock = new SystemClock();
  const lazy = <T>(make: () => T): (() => T) => {
    let v: T | undefined;
    return () => {
      v ??= make();
      return v;
    };
  };
  const auditIndex = lazy(() => new DynamoDbAuditIndex(clients.dynamodb, required(config, 'AUDIT_TABLE')));
  const archive = lazy(
    () =>
      new S3AuditArchive(
        clients.s3,
        required(config, 'AUDIT_BUCKET'),
        Number(required(config, 'AUDIT_RETENTION_DAYS')),
      ),
  );
  const metrics = lazy(() => createCloudWatchMetrics({ serviceName: agent }));
  let checkpointerMade = false;
  const checkpointer = lazy(() => {
    checkpointerMade = true;
    return new Checkpointer(
      {
        archive: archive(),
        signer: new KmsCheckpointSigner(clients.kms, required(config, 'AUDIT_SIGNING_KEY_ARN')),
        clock,
        origin: required(config, 'AUDIT_LOG_ORIGIN'),
        metrics: metrics(),
      },
      {
        // Every instance signs by the count rule (only the batch that crosses a multiple of N);
        // the time rule is the compliance agent's scheduled `checkpoint` (one signer, each
        // minute), not every instance's: a frozen Lambda has no timers anyway.
        everyMs: null,
        onError: (err) =>
          console.error(JSON.stringify({ level: 'ERROR', message: 'audit checkpoint failed', error: String(err) })),
      },
    );
  });
  const audit = lazy(
    () =>
      new AuditLog({
        archive: archive(),
        index: auditIndex(),
        clock,
        checkpointer: checkpointer(),
        metrics: metrics(),
      }),
  );
  // In this mode the archive is written before an append is acknowledged: the committed tree is archived.
  const auditTrail = lazy(() => new CheckpointedTrail(archive(), checkpointer(), () => audit().tree()));
  const orders = lazy(() => new DynamoDbOrderStore(clients.dynamodb, required(config, 'ORDERS_TABLE')));
  // One store behind the cache and the risk officers' writes.
  const referenceStore = lazy(() => new DynamoDbReferenceStore(clients.dynamodb, required(config, 'REFERENCE_TABLE')));
  const reference = lazy(() => new ReferenceCache(referenceStore(), clock));
  const accountRisk = lazy(() => new DynamoDbAccountRiskStore(clients.dynamodb, required(config, 'RISK_STATE_TABLE')));
  const positions = lazy(() => new DynamoDbPositionStore(clients.dynamodb, required(config, 'POSITIONS_TABLE')));
  const approvals = lazy(() => new DynamoDbApprovalStore(clients.dynamodb, required(config, 'APPROVALS_TABLE')));
  const workflow = lazy(() => new SfnWorkflow(clients.sfn, config.STATE_MACHINE_ARN));
  const venue = lazy(() => new SimulatedVenue());

  const services: PlatformServices = {
    get orders() {
      return orders();
    },
    get reference() {
      return reference();
    },
    get referenceStore() {
      return referenceStore();
    },
    get accountRisk() {
      return accountRisk();
    },
    get positions() {
      return positions();
    },
    get approvals() {
      return approvals();
    },
    get audit() {
      return audit();
    },
    get auditIndex() {
      return auditIndex();
    },
    get auditTrail() {
      return auditTrail();
    },
    get workflow() {
      return workflow();
    },
    get venue() {
      return venue();
    },
    clock,
    get approvalTimeoutSeconds() {
      return Number(required(config, 'APPROVAL_TIMEOUT_SECONDS'));
    },
    policy,
    stateMachineArn: config.STATE_MACHINE_ARN,
  };
  return {
    config,
    identity: config.AGENT_IDENTITY,
    services,
    access: agentAccess(services, agent, config.AGENT_IDENTITY, config.SCHEDULE_RULE_ARN),
    settle: () => (checkpointerMade ? checkpointer().idle() : Promise.resolve()),
  };
}
