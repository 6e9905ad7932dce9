// The embedded platform: the same handlers and state machine as on AWS, in one process, on the
// local stand-ins of DESIGN.md (a write-once archive, aws-local-stepfunctions, node:https with
// mTLS) and one of two databases: the journaled in-process store (default: fast, the stores' port
// semantics) or dynalite through the real AWS SDK and the DynamoDB adapters (`store: 'dynalite'`).
// Everything lives under one data directory and survives a restart.
import './polyfills.js';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateTableCommand, type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbAccountRiskStore } from '../functions/adapters/dynamodb-account-risk-store.js';
import { DynamoDbApprovalStore } from '../functions/adapters/dynamodb-approval-store.js';
import { DynamoDbAuditIndex } from '../functions/adapters/dynamodb-audit-index.js';
import { DynamoDbOrderStore } from '../functions/adapters/dynamodb-order-store.js';
import { DynamoDbPositionStore } from '../functions/adapters/dynamodb-position-store.js';
import { DynamoDbReferenceStore } from '../functions/adapters/dynamodb-reference-store.js';
import type { AgentHandler } from '../functions/agent-runtime.js';
import { createApprovalHandler } from '../functions/approval/app.js';
import { createComplianceHandler } from '../functions/compliance/app.js';
import type { AgentName } from '../functions/config.js';
import { expireApproval } from '../functions/core/approvals.js';
import { AuditArchiver, type AuditArchiverOptions } from '../functions/core/audit-archiver.js';
import { AuditLog, isCommittingIndex } from '../functions/core/audit-chain.js';
import { CheckpointedTrail, Checkpointer, type CheckpointerOptions } from '../functions/core/audit-checkpointer.js';
import { recordFailure } from '../functions/core/compliance.js';
import type { Order } from '../functions/core/model.js';
import { DISAGREEMENT_LOG_MESSAGE, type Evaluator, loadPolicyEngine } from '../functions/core/policy-engine.js';
import { ReferenceCache } from '../functions/core/reference-cache.js';
import { SimulatedVenue } from '../functions/core/simulated-venue.js';
import { formatNs, SystemClock } from '../functions/core/time.js';
import {
  agentAccess,
  approvalDeps,
  complianceDeps,
  executionDeps,
  type PlatformServices,
  positionDeps,
  riskAdminDeps,
  riskDeps,
  routerDeps,
} from '../functions/deps.js';
import { createExecutionHandler } from '../functions/execution/app.js';
import { createOrderRouterHandler } from '../functions/order-router/app.js';
import type {
  AccountRiskStore,
  ApprovalStore,
  AuditIndex,
  Clock,
  OrderStore,
  PositionStore,
  ReferenceStore,
} from '../functions/ports.js';
import { createPositionTrackerHandler } from '../functions/position-tracker/app.js';
import { createRiskHandler } from '../functions/risk/app.js';
import { DEFAULT_DEV_IDENTITIES, type DevPkiPaths, ensureDevPki, readServerTls } from './dev-pki.js';
import { startLocalDynamo } from './dynamo.js';
import { createHttpsGateway, type GatewayHandler, type HttpsGateway } from './https-gateway.js';
import { JournalDb } from './journal-db.js';
import {
  JournalAccountRiskStore,
  JournalApprovalStore,
  JournalAuditIndex,
  JournalOrderStore,
  JournalPositionStore,
  JournalReferenceStore,
} from './journal-stores.js';
import { LocalArchive } from './local-archive.js';
import { LocalCheckpointSigner } from './local-checkpoint-signer.js';
import { LocalMetrics } from './local-metrics.js';
import { SimulatedMarketData } from './market-data.js';
import { FIRM_LISTED, REFERENCE_PRICES, seedReference } from './seed-data.js';
import { LocalStepFunctions } from './step-functions.js';

export const ASL_PATH = resolve(import.meta.dirname, '../statemachines/order-lifecycle.asl.json');

export interface LocalPlatformOptions {
  dataDir: string;
  host?: string;
  /** 0 = ephemeral (tests). */
  port?: number;
  /** Shorten the approval wait (tests); the ASL's 300 s otherwise. */
  approvalTimeoutSeconds?: number;
  auditRetentionDays?: number;
  /** Powertools log level for the agents; tests and benchmarks keep it quiet. */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  clock?: Clock;
  /** The database: the journaled in-process store (default) or dynalite through the AWS SDK. */
  store?: LocalStoreKind;
  /** Who decides authorisations (POLICY_EVALUATOR on AWS): default `compiled`. */
  policyEvaluator?: Evaluator;
  /**
   * Ask cedar-wasm too for one compiled decision in this many (default the engine's, 1,000); the
   * integration tests use 1, so every decision they cause is checked against cedar-wasm.
   */
  policyCrossCheckEvery?: number;
  /**
   * How often the simulated market-data feed republishes the seeded symbols' prices (ms); 0 turns
   * it off (prices then go stale after the firm's max_price_age_ms, and orders are rejected).
   */
  marketDataIntervalMs?: number;
  /** How often ended temporary limit changes are swept and recorded (ms; the stack's rule: 1 min). */
  limitSweepIntervalMs?: number;
  /** How the journal store's audit records are archived (object size, linger, backlog limit). */
  auditArchiver?: AuditArchiverOptions;
  /** When checkpoints are signed: every N records or T ms (defaults 1,000 records, 10 s). */
  checkpoints?: Pick<CheckpointerOptions, 'everyRecords' | 'everyMs'>;
  /** The log's name in its checkpoints. */
  auditOrigin?: string;
}

/** The local log's origin line: checkpoints of one log never verify as another's. */
export const LOCAL_AUDIT_ORIGIN = 'local.acme-trading/audit';
/** How often the time rule is looked at (the rule itself is CheckpointerOptions.everyMs). */
const CHECKPOINT_TICK_MS = 1000;

export type LocalStoreKind = 'journal' | 'dynalite';

/** The platform's database, as the benchmark sees it. */
export interface LocalDatabase {
  kind: LocalStoreKind;
  /** Operations the platform has made, named as the DynamoDB adapters' calls (PutItem, Query...). */
  calls(): Record<string, number>;
  /** One plain, durable write of an item to a scratch table: the yardstick for a round trip. */
  plainPut(key: string, item: Record<string, string>): Promise<void>;
  /** Resolves once every write made so far is durable. */
  barrier(): Promise<void>;
  /**
   * Writes made since start-up, and how many of them (a prefix) are durable. The journal store's
   * step writes resolve once applied and are made durable by the audit record each step appends
   * after them (see JournalStoreOptions): the lifecycle test checks with this that no invocation
   * returns before its writes are durable. Both 0 on dynalite (every write durable when it resolves).
   */
  progress(): { written: number; durable: number };
  close(): Promise<void>;
}

export interface LocalPlatform {
  url: string;
  database: LocalDatabase;
  dataDir: string;
  pki: DevPkiPaths;
  workflow: LocalStepFunctions;
  services: PlatformServices;
  handlers: Record<AgentName, AgentHandler>;
  /** With the journal store: copies committed audit records to the archive (undefined on dynalite). */
  auditArchiver: AuditArchiver | undefined;
  /** What the start-up recovery did with executions a previous process left unfinished. */
  recovered: Array<{ order_id: string; outcome: RecoveryOutcome }>;
  /** The simulated market-data feed (local only). */
  marketData: SimulatedMarketData;
  /** The alarm metrics (AuditWriteFailures per stage). */
  metrics: LocalMetrics;
  stop(): Promise<void>;
}

/** The local stand-in for the risk sweep's EventBridge rule (its ARN is the schedule's identity). */
export const LOCAL_SWEEP_RULE_ARN = 'arn:aws:events:local:000000000000:rule/acme-local-risk-sweep';

/** The identity each agent writes into the audit trail: the role it would assume on AWS. */
export const localIdentity = (agent: AgentName): string => `arn:aws:iam::000000000000:role/acme-local-${agent}`;

const FUNCTION_NAMES: Record<string, AgentName> = {
  RiskFunctionArn: 'risk',
  ApprovalFunctionArn: 'approval',
  ExecutionFunctionArn: 'execution',
  PositionFunctionArn: 'position-tracker',
  ComplianceFunctionArn: 'compliance',
};

export async function startLocalPlatform(options: LocalPlatformOptions): Promise<LocalPlatform> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const clock = options.clock ?? new SystemClock();
  const approvalTimeoutSeconds = options.approvalTimeoutSeconds ?? 300;

  const pki = await ensureDevPki(join(dataDir, 'pki'), DEFAULT_DEV_IDENTITIES);
  const { database, stores } = await openStores(options.store ?? 'journal', dataDir, clock);
  // What is open so far, closed in reverse if start-up fails anywhere after this.
  const opened: Array<{ close(): Promise<void> }> = [database];
  try {
    const archive = new LocalArchive({
      dir: join(dataDir, 'archive'),
      retentionDays: options.auditRetentionDays ?? 2557, // seven years, as the stack (lib/platform-app.ts)
    });
    opened.push(archive);
    const auditIndex = stores.auditIndex;
    const archiverLog = new Logger({ serviceName: 'audit-archiver', logLevel: options.logLevel ?? 'INFO' });
    // The alarm's metric (AuditWriteFailures on AWS): counted, and logged as the page would be.
    const metrics = new LocalMetrics((stage) =>
      archiverLog.error('ALARM AuditWriteFailures: an audit write failed after its retries', { stage }),
    );
    // Checkpoints of the Merkle tree, signed with the local P-256 key (KMS on AWS).
    const checkpointer = new Checkpointer(
      {
        archive,
        signer: new LocalCheckpointSigner(dataDir),
        clock,
        origin: options.auditOrigin ?? LOCAL_AUDIT_ORIGIN,
        metrics,
      },
      {
        ...options.checkpoints,
        onError: (err) =>
          archiverLog.error('audit checkpoint failed; the next trigger retries', { error: String(err) }),
      },
    );
    // The journal store is the audit log's commit point; the archive is written behind it.
    const auditArchiver = isCommittingIndex(auditIndex)
      ? new AuditArchiver(
          { archive, index: auditIndex, clock },
          {
            // A failing archive is loud: retried writes warn, a stop (appends refused) is an error.
            onError: (err, willRetry) => {
              if (willRetry) {
                archiverLog.warn('audit archive write failed; retrying', { error: String(err) });
                return;
              }
              archiverLog.error('audit archiver stopped: appends are refused', { error: String(err) });
              metrics.auditWriteFailed('archive');
            },
            onProgress: (archivedThrough) => checkpointer.noteArchived(archivedThrough + 1),
            ...options.auditArchiver,
          },
        )
      : undefined;
    if (auditArchiver) opened.push(auditArchiver);

    const handlers = {} as Record<AgentName, AgentHandler>;
    const substitutions: Record<string, string> = {};
    const taskHandlers: Record<string, (payload: unknown) => Promise<unknown>> = {};
    for (const [arnKey, agent] of Object.entries(FUNCTION_NAMES)) {
      substitutions[arnKey] = `local:${agent}`;
      taskHandlers[`local:${agent}`] = (payload) => handlers[agent](payload);
    }
    const workflow: LocalStepFunctions = new LocalStepFunctions({
      definitionPath: ASL_PATH,
      substitutions,
      handlers: taskHandlers,
      dataDir,
      ...(options.approvalTimeoutSeconds !== undefined
        ? { overrides: { taskTimeoutSeconds: { RequestApproval: approvalTimeoutSeconds } } }
        : {}),
    });

    opened.push(workflow);

    const auditLog = new AuditLog({
      archive,
      index: auditIndex,
      clock,
      checkpointer,
      metrics,
      ...(auditArchiver ? { archiver: auditArchiver } : {}),
    });
    // Reports and proofs need the archive to hold what is committed before they sign and read it.
    const auditTrail = new CheckpointedTrail(archive, checkpointer, async () => {
      const tree = await auditLog.tree();
      if (auditArchiver) await auditArchiver.drain();
      return tree;
    });
    const policyLog = new Logger({ serviceName: 'policy-engine', logLevel: options.logLevel ?? 'INFO' });
    const services: PlatformServices = {
      orders: stores.orders,
      reference: new ReferenceCache(stores.reference, clock),
      referenceStore: stores.reference,
      accountRisk: stores.accountRisk,
      positions: stores.positions,
      approvals: stores.approvals,
      // One writer for the whole process: every agent's records share its group commits.
      audit: auditLog,
      auditIndex,
      auditTrail,
      workflow,
      venue: new SimulatedVenue(),
      clock,
      approvalTimeoutSeconds,
      policy: loadPolicyEngine({
        evaluator: options.policyEvaluator ?? 'compiled',
        ...(options.policyCrossCheckEvery !== undefined ? { crossCheckEvery: options.policyCrossCheckEvery } : {}),
        onDisagreement: (disagreement) => policyLog.error(DISAGREEMENT_LOG_MESSAGE, { disagreement }),
      }),
      stateMachineArn: workflow.stateMachineArn,
    };
    // The local risk sweep stands in for the risk agent's EventBridge rule (the checkpoint's time
    // rule runs in process here, so compliance accepts no schedule).
    const access = (agent: AgentName) =>
      agentAccess(services, agent, localIdentity(agent), agent === 'risk' ? LOCAL_SWEEP_RULE_ARN : undefined);

    const logLevel = options.logLevel ?? 'INFO';
    const logger = (agent: AgentName) => new Logger({ serviceName: agent, logLevel });
    handlers['order-router'] = createOrderRouterHandler(
      routerDeps(services, localIdentity('order-router')),
      logger('order-router'),
      access('order-router'),
    );
    const marketData = new SimulatedMarketData(
      stores.reference,
      clock,
      new Logger({ serviceName: 'market-data', logLevel }),
      options.marketDataIntervalMs ?? 1000,
    );
    marketData.track(...Object.keys(REFERENCE_PRICES), ...Object.keys(FIRM_LISTED));
    const admin = riskAdminDeps(services, localIdentity('risk'));
    const told = admin.onChange;
    // A symbol a risk officer prices is published by the feed from then on, like the seeded ones.
    admin.onChange = (what) => {
      told?.(what);
      if (what.kind === 'security') marketData.track(what.key);
    };
    handlers.risk = createRiskHandler(
      { check: riskDeps(services, localIdentity('risk')), admin },
      logger('risk'),
      access('risk'),
    );
    handlers.approval = createApprovalHandler(
      approvalDeps(services, localIdentity('approval')),
      logger('approval'),
      access('approval'),
    );
    handlers.execution = createExecutionHandler(
      executionDeps(services, localIdentity('execution')),
      logger('execution'),
      access('execution'),
    );
    handlers['position-tracker'] = createPositionTrackerHandler(
      positionDeps(services, localIdentity('position-tracker')),
      logger('position-tracker'),
      access('position-tracker'),
    );
    handlers.compliance = createComplianceHandler(
      complianceDeps(services, localIdentity('compliance')),
      logger('compliance'),
      access('compliance'),
    );

    // Prices before recovery: a resumed order's risk step needs a fresh one like any other.
    if ((options.marketDataIntervalMs ?? 1000) > 0) {
      await marketData.start();
      opened.push({ close: () => marketData.stop() });
    }

    // Archive what a previous process committed but did not archive, before anything new (after
    // finishing a batch a writer of the earlier layout left in the head).
    if (auditArchiver) {
      await auditLog.recover();
      await auditArchiver.start();
    }
    // What a previous process committed and archived but did not sign is signed by the time rule.
    const tree = await auditLog.tree();
    checkpointer.noteCommitted(tree.size, tree.root);
    checkpointer.noteArchived(auditArchiver ? auditArchiver.archivedThrough + 1 : tree.size);
    const checkpointTimer = setInterval(() => void checkpointer.tick(), CHECKPOINT_TICK_MS);
    checkpointTimer.unref();
    opened.push({ close: async () => clearInterval(checkpointTimer) });
    // Resuming is allowed within the approval window: beyond it a pre-trade check is no longer current.
    const recovered = [
      ...(await recoverInterrupted(workflow, services, approvalTimeoutSeconds * 1000)),
      ...(await recoverLostStarts(workflow, services, approvalTimeoutSeconds * 1000, clock)),
    ];
    await database.barrier();

    const api =
      (agent: AgentName): GatewayHandler =>
      async (event) => {
        const result = (await handlers[agent](event)) as Awaited<ReturnType<GatewayHandler>>;
        return result;
      };
    const tls = await readServerTls(pki);
    const gateway: HttpsGateway = await createHttpsGateway({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      key: tls.key,
      cert: tls.cert,
      ca: tls.ca,
      routes: [
        { method: 'POST', path: '/orders', handler: api('order-router') },
        { method: 'GET', path: '/orders/{order_id}', handler: api('order-router') },
        { method: 'GET', path: '/approvals', handler: api('approval') },
        { method: 'POST', path: '/approvals/{approval_id}/approve', handler: api('approval') },
        { method: 'POST', path: '/approvals/{approval_id}/reject', handler: api('approval') },
        { method: 'GET', path: '/audit', handler: api('compliance') },
        { method: 'GET', path: '/audit/proofs/{event_id}', handler: api('compliance') },
        { method: 'GET', path: '/audit/consistency', handler: api('compliance') },
        { method: 'GET', path: '/audit/checkpoint', handler: api('compliance') },
        { method: 'GET', path: '/reports/{report_type}', handler: api('compliance') },
        { method: 'GET', path: '/positions/{account_id}', handler: api('position-tracker') },
        { method: 'GET', path: '/risk/limits/{account_id}', handler: api('risk') },
        { method: 'POST', path: '/risk/limit-changes', handler: api('risk') },
        { method: 'GET', path: '/risk/limit-changes', handler: api('risk') },
        { method: 'POST', path: '/risk/limit-changes/{change_id}/approve', handler: api('risk') },
        { method: 'POST', path: '/risk/limit-changes/{change_id}/reject', handler: api('risk') },
        { method: 'GET', path: '/risk/trading-state/{scope}', handler: api('risk') },
        { method: 'PUT', path: '/risk/trading-state/{scope}', handler: api('risk') },
        { method: 'GET', path: '/risk/restrictions/{symbol}', handler: api('risk') },
        { method: 'POST', path: '/risk/restrictions', handler: api('risk') },
        { method: 'POST', path: '/risk/restrictions/{symbol}/{restriction_id}/lift', handler: api('risk') },
        { method: 'GET', path: '/risk/locates/{account_id}/{symbol}', handler: api('risk') },
        { method: 'POST', path: '/risk/locates', handler: api('risk') },
        { method: 'GET', path: '/risk/halts/{symbol}', handler: api('risk') },
        { method: 'PUT', path: '/risk/halts/{symbol}', handler: api('risk') },
        { method: 'DELETE', path: '/risk/halts/{symbol}', handler: api('risk') },
        { method: 'PUT', path: '/risk/prices/{symbol}', handler: api('risk') },
      ],
    });

    // The schedule of the AWS stack (an EventBridge rule): temporary limit changes whose time has
    // come are recorded as ended (they stop applying at their end whatever this does).
    const sweepLog = new Logger({ serviceName: 'risk-schedule', logLevel });
    const sweep = setInterval(() => {
      handlers
        .risk({ action: 'expire_temporary_limits', schedule: { rule_arn: LOCAL_SWEEP_RULE_ARN } })
        .catch((err: unknown) =>
          sweepLog.warn('temporary limits sweep failed; the next one tries again', { error: String(err) }),
        );
    }, options.limitSweepIntervalMs ?? 15_000);
    sweep.unref();
    opened.push({ close: async () => clearInterval(sweep) });

    return {
      url: gateway.url,
      database,
      dataDir,
      pki,
      workflow,
      services,
      handlers,
      auditArchiver,
      recovered,
      marketData,
      metrics,
      async stop() {
        clearInterval(sweep);
        await gateway.close();
        await marketData.stop();
        await workflow.close();
        clearInterval(checkpointTimer);
        // A last checkpoint over everything archived, so nothing waits for the next start to be
        // signed; bounded, since a stopped archive would otherwise hold the shutdown.
        let waited: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          auditTrail
            .checkpoint()
            .catch((err: unknown) => archiverLog.error('final audit checkpoint failed', { error: String(err) })),
          new Promise((r) => {
            waited = setTimeout(r, 5000);
          }),
        ]);
        clearTimeout(waited);
        try {
          // Whatever cannot be archived now stays committed in the store: the next start archives it.
          await auditArchiver?.close();
        } finally {
          await archive.close();
          await database.close();
        }
      },
    };
  } catch (err) {
    for (const r of opened.reverse()) await r.close().catch(() => undefined);
    throw err;
  }
}

interface Stores {
  orders: OrderStore;
  reference: ReferenceStore;
  positions: PositionStore;
  approvals: ApprovalStore;
  accountRisk: AccountRiskStore;
  auditIndex: AuditIndex;
}

async function openStores(
  kind: LocalStoreKind,
  dataDir: string,
  clock: Clock,
): Promise<{ database: LocalDatabase; stores: Stores }> {
  if (kind === 'journal') {
    const dir = join(dataDir, 'store');
    const db = JournalDb.open({ dir });
    const stores: Stores = {
      // A step's write shares the sync of the audit record the step appends after it.
      orders: new JournalOrderStore(db, { durability: 'caller' }),
      reference: new JournalReferenceStore(db),
      positions: new JournalPositionStore(db, { durability: 'caller' }),
      approvals: new JournalApprovalStore(db),
      // The risk step's reservation, and each release, shares the sync of the step's audit record.
      accountRisk: new JournalAccountRiskStore(db, { durability: 'caller' }),
      auditIndex: new JournalAuditIndex(db),
    };
    await seedOnce(join(dir, 'seeded.json'), stores.reference, clock);
    const database: LocalDatabase = {
      kind,
      calls: () => ({ ...db.counters }),
      plainPut: (key, item) => db.put('scratch', key, '', item).durable,
      barrier: async () => {
        await db.barrier();
      },
      progress: () => db.progress(),
      close: () => db.close(),
    };
    return { database, stores };
  }
  const dynamo = await startLocalDynamo({ dataDir });
  const t = dynamo.tableNames;
  const stores: Stores = {
    orders: new DynamoDbOrderStore(dynamo.client, t.orders),
    reference: new DynamoDbReferenceStore(dynamo.client, t.reference),
    positions: new DynamoDbPositionStore(dynamo.client, t.positions),
    approvals: new DynamoDbApprovalStore(dynamo.client, t.approvals),
    accountRisk: new DynamoDbAccountRiskStore(dynamo.client, t.riskState),
    auditIndex: new DynamoDbAuditIndex(dynamo.client, t.audit),
  };
  // The marker of the first dynalite platform, kept where it was.
  await seedOnce(join(dataDir, 'seeded.json'), stores.reference, clock);
  let scratch: Promise<string> | undefined;
  const database: LocalDatabase = {
    kind,
    calls: () => dynamo.calls(),
    async plainPut(key, item) {
      scratch ??= createScratchTable(dynamo.client);
      const table = await scratch;
      await dynamo.client.send(
        new PutItemCommand({
          TableName: table,
          Item: Object.fromEntries(Object.entries({ pk: key, ...item }).map(([k, v]) => [k, { S: v }])),
        }),
      );
    },
    // Every DynamoDB write is durable when it resolves.
    barrier: async () => undefined,
    progress: () => ({ written: 0, durable: 0 }),
    close: () => dynamo.close(),
  };
  return { database, stores };
}

async function createScratchTable(client: DynamoDBClient): Promise<string> {
  const table = `scratch-${randomUUID().slice(0, 8)}`;
  await client.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
  return table;
}

/**
 * The marker's layout version: a directory seeded under an earlier one gets what the seed has
 * gained since (restrictions as entries, the firm's settings), without anything on file changing.
 */
const SEED_VERSION = 3;

/** Reference data is written on the first start only; later changes are kept across restarts. */
async function seedOnce(marker: string, store: ReferenceStore, clock: Clock): Promise<void> {
  let seeded: { version?: unknown } | undefined;
  try {
    seeded = JSON.parse(await readFile(marker, 'utf8')) as { version?: unknown };
  } catch {
    // first start
  }
  if (seeded && typeof seeded.version === 'number' && seeded.version >= SEED_VERSION) return;
  const asOf = formatNs(clock.nowNs());
  // Only what is not on file: safe on a first start and on a directory of an earlier layout alike.
  await seedReference(store, asOf);
  await writeFile(marker, JSON.stringify({ seeded_at: asOf, version: SEED_VERSION }));
}

/**
 * Executions the previous process left running cannot be continued where they stopped by the
 * local runner. None is dropped silently, and each outcome is audited:
 * - a pending approval expires (its window cannot be resumed);
 * - an order that already traded, or one recent enough that its risk decision (and approval) are
 *   still contemporaneous, runs its lifecycle again under a new execution: every step is idempotent
 *   (the stored risk decision is reused, an approval on record is handed to the new wait, an
 *   execution is recorded once, a fill is applied to a position once);
 * - an older one that has not traded fails: nothing executes on a stale pre-trade check.
 * Steps are ordered so that a crash during recovery is recovered by the next start: the new
 * execution (a deterministic name) starts before the old one is closed.
 */
async function recoverInterrupted(
  workflow: LocalStepFunctions,
  services: PlatformServices,
  maxResumeAgeMs: number,
): Promise<Array<{ order_id: string; outcome: RecoveryOutcome }>> {
  const out: Array<{ order_id: string; outcome: RecoveryOutcome }> = [];
  for (const e of workflow.interrupted()) {
    const order = (e.input as { order?: Order } | undefined)?.order;
    const why = 'the platform stopped while this order was in flight';
    if (!order) {
      await workflow.markAborted(e.executionId, why);
      continue;
    }
    if (e.waitingForTaskToken) {
      await expireApproval(
        approvalDeps(services, localIdentity('approval')),
        order,
        `${why}; the approval wait cannot be resumed`,
      );
      await workflow.markAborted(e.executionId, why);
      out.push({ order_id: order.order_id, outcome: 'expired' });
      continue;
    }
    const record = await services.orders.get(order.order_id);
    const outcome = await resumeOrFail(workflow, services, {
      order,
      traded: record?.execution !== undefined,
      ageMs: Date.now() - Date.parse(e.startDate),
      maxResumeAgeMs,
      why,
      failedExecutionId: e.executionId,
      start: { name: nextResumeName(e.name), input: e.input },
      resumed: { interrupted_execution: e.executionId },
      resumedReason: 'its lifecycle runs again (every step is idempotent)',
    });
    await workflow.markAborted(e.executionId, why);
    out.push({ order_id: order.order_id, outcome });
  }
  return out;
}

/**
 * Runs an order's lifecycle (again) under `start`, audited `order_resumed`; or, when it has not
 * traded and is older than the resume window (its pre-trade check is no longer current), records
 * it FAILED (`StaleAfterRestart`) instead.
 */
async function resumeOrFail(
  workflow: LocalStepFunctions,
  services: PlatformServices,
  p: {
    order: Order;
    traded: boolean;
    ageMs: number;
    maxResumeAgeMs: number;
    why: string;
    failedExecutionId: string;
    start: { name: string; input: unknown };
    resumed: Record<string, unknown>;
    resumedReason: string;
  },
): Promise<'resumed' | 'failed'> {
  if (!p.traded && !(p.ageMs <= p.maxResumeAgeMs)) {
    await recordFailure(
      complianceDeps(services, localIdentity('compliance')),
      p.order,
      {
        Error: 'StaleAfterRestart',
        Cause: `${p.why} ${Math.round(p.ageMs / 1000)} s ago; its pre-trade check is no longer current, so it does not execute: resubmit it`,
      },
      p.failedExecutionId,
    );
    return 'failed';
  }
  const started = await workflow.start(p.start.name, p.start.input);
  await services.audit.append({
    event_type: 'order_resumed',
    order_id: p.order.order_id,
    trader_id: p.order.trader_id,
    actor: localIdentity('order-router'),
    input: { ...p.resumed, resumed_execution: started.executionId },
    decision: 'resumed',
    reason: `${p.why}; ${p.resumedReason}`,
  });
  return 'resumed';
}

/**
 * How far back start-up looks for accepted orders whose lifecycle never started: from this long
 * before the last entry of the Step Functions journal (about when the previous process stopped).
 */
const LOST_START_LOOKBACK_MS = 60 * 60 * 1000;

/**
 * An order accepted (its `order_submitted` record is durable, its 202 sent) whose execution the
 * Step Functions journal does not know: the journal is synced within 20 ms of StartExecution, so a
 * machine crash in that window loses the start. Nothing after order_submitted is on record for such
 * an order; it is started now, under its own name, within the resume window (as an interrupted one
 * would be), else recorded FAILED.
 */
async function recoverLostStarts(
  workflow: LocalStepFunctions,
  services: PlatformServices,
  maxResumeAgeMs: number,
  clock: Clock,
): Promise<Array<{ order_id: string; outcome: RecoveryOutcome }>> {
  const out: Array<{ order_id: string; outcome: RecoveryOutcome }> = [];
  const nowMs = Number(clock.nowNs() / 1_000_000n);
  const lastEntry = workflow.journalLastEntryAt();
  const lastMs = lastEntry ? Date.parse(lastEntry) : Number.NaN;
  const stoppedMs = Number.isFinite(lastMs) ? Math.min(nowMs, lastMs) : nowMs;
  const from = formatNs(BigInt(stoppedMs - LOST_START_LOOKBACK_MS) * 1_000_000n);
  const to = formatNs(clock.nowNs());
  const seen = new Set<string>();
  let token: string | undefined;
  do {
    const page = await services.auditIndex.queryByType('order_submitted', from, to, 500, token);
    for (const submitted of page.items) {
      const id = submitted.order_id;
      if (!id || seen.has(id)) continue;
      seen.add(id);
      if (await workflow.describe(workflow.executionIdFor(id))) continue;
      const history = await services.auditIndex.queryByOrder(id, 10);
      if (history.items.some((r) => r.event_type !== 'order_submitted')) continue; // its lifecycle ran
      const record = await services.orders.get(id);
      if (!record || record.risk || record.execution) continue;
      const outcome = await resumeOrFail(workflow, services, {
        order: record.order,
        traded: false,
        ageMs: nowMs - Date.parse(submitted.timestamp),
        maxResumeAgeMs,
        why: 'the platform stopped before this accepted order’s lifecycle was on disk',
        failedExecutionId: workflow.executionIdFor(id),
        start: { name: id, input: { order: record.order } },
        resumed: { lost_start: true },
        resumedReason: 'its lifecycle starts now',
      });
      out.push({ order_id: id, outcome });
    }
    token = page.nextToken;
  } while (token);
  return out;
}

export type RecoveryOutcome = 'expired' | 'resumed' | 'failed';

/**
 * ORD-1 -> ORD-1.r1 -> ORD-1.r2: the same name on every attempt, so a restarted recovery is
 * idempotent. '.' cannot occur in an order_id, so a resumed name never collides with an order's.
 */
function nextResumeName(name: string): string {
  const m = /^(.*)\.r(\d+)$/.exec(name);
  return m ? `${m[1]}.r${Number(m[2]) + 1}` : `${name}.r1`;
}
