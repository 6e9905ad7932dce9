// The embedded DynamoDB: dynalite in-process (on a worker thread) on a loopback port, its LevelDB under
// <dataDir>/dynamodb, and the platform's six tables created on first start (docs/contracts.md).
// dynalite has no TransactWriteItems and ignores ReturnValuesOnConditionCheckFailure; the adapters
// are written for both (see functions/adapters/dynamodb-common.ts).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS } from '../functions/adapters/aws-clients.js';

export interface TableNames {
  orders: string;
  reference: string;
  positions: string;
  approvals: string;
  audit: string;
  riskState: string;
}

export type TableKind = keyof TableNames;

export const DEFAULT_TABLE_NAMES: Readonly<TableNames> = {
  orders: 'orders',
  reference: 'reference',
  positions: 'positions',
  approvals: 'approvals',
  audit: 'audit',
  riskState: 'risk_state',
};

const S = 'S' as const;
const N = 'N' as const;

/**
 * CreateTable inputs for the six tables, exactly as docs/contracts.md lists them (keys, GSIs,
 * on-demand). GSIs project ALL: the adapters read whole records from them.
 */
export function tableDefinitions(names: TableNames = DEFAULT_TABLE_NAMES): Record<TableKind, CreateTableCommandInput> {
  return {
    orders: {
      TableName: names.orders,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'order_id', AttributeType: S }],
      KeySchema: [{ AttributeName: 'order_id', KeyType: 'HASH' }],
    },
    reference: {
      TableName: names.reference,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: S },
        { AttributeName: 'sk', AttributeType: S },
        { AttributeName: 'lc_status', AttributeType: S },
        { AttributeName: 'requested_at', AttributeType: S },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      // Sparse: only limit-change items carry lc_status.
      GlobalSecondaryIndexes: [
        {
          IndexName: 'limit-changes-by-status',
          KeySchema: [
            { AttributeName: 'lc_status', KeyType: 'HASH' },
            { AttributeName: 'requested_at', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    },
    positions: {
      TableName: names.positions,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'account_id', AttributeType: S },
        { AttributeName: 'symbol', AttributeType: S },
      ],
      KeySchema: [
        { AttributeName: 'account_id', KeyType: 'HASH' },
        { AttributeName: 'symbol', KeyType: 'RANGE' },
      ],
    },
    approvals: {
      TableName: names.approvals,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'approval_id', AttributeType: S },
        { AttributeName: 'status', AttributeType: S },
        { AttributeName: 'requested_at', AttributeType: S },
      ],
      KeySchema: [{ AttributeName: 'approval_id', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'by-status',
          KeySchema: [
            { AttributeName: 'status', KeyType: 'HASH' },
            { AttributeName: 'requested_at', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    },
    audit: {
      TableName: names.audit,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: S },
        { AttributeName: 'order_id', AttributeType: S },
        { AttributeName: 'sequence', AttributeType: N },
        { AttributeName: 'event_type', AttributeType: S },
        { AttributeName: 'timestamp', AttributeType: S },
        { AttributeName: 'trader_id', AttributeType: S },
      ],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'by-order',
          KeySchema: [
            { AttributeName: 'order_id', KeyType: 'HASH' },
            { AttributeName: 'sequence', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'by-type',
          KeySchema: [
            { AttributeName: 'event_type', KeyType: 'HASH' },
            { AttributeName: 'timestamp', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        // Sparse: records without a trader_id (or with an empty one, kept as a flag) are not in it.
        {
          IndexName: 'by-trader',
          KeySchema: [
            { AttributeName: 'trader_id', KeyType: 'HASH' },
            { AttributeName: 'timestamp', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    },
    riskState: {
      TableName: names.riskState,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'account_id', AttributeType: S }],
      KeySchema: [{ AttributeName: 'account_id', KeyType: 'HASH' }],
    },
  };
}

export class TableSchemaMismatchError extends Error {
  override readonly name = 'TableSchemaMismatchError';
}

/** The parts of a table that the adapters depend on, in a comparable form. */
function shape(t: {
  KeySchema?: CreateTableCommandInput['KeySchema'];
  GlobalSecondaryIndexes?: ReadonlyArray<{ IndexName?: string; KeySchema?: CreateTableCommandInput['KeySchema'] }>;
}): string {
  const keys = (k: CreateTableCommandInput['KeySchema']) => (k ?? []).map((e) => `${e.AttributeName}:${e.KeyType}`);
  const gsis = (t.GlobalSecondaryIndexes ?? []).map((g) => `${g.IndexName}(${keys(g.KeySchema).join(',')})`).sort();
  return `${keys(t.KeySchema).join(',')} ${gsis.join(' ')}`;
}

/** Creates the table if absent; an existing table must have the same keys and GSIs. Idempotent. */
export async function ensureTable(client: DynamoDBClient, definition: CreateTableCommandInput): Promise<void> {
  const existing = await describe(client, definition.TableName);
  if (!existing) {
    try {
      await client.send(new CreateTableCommand(definition));
    } catch (err) {
      // Another process created it in between: fine, it is checked below.
      if (!(err instanceof Error && err.name === 'ResourceInUseException')) throw err;
    }
  }
  const table = existing ?? (await waitActive(client, definition.TableName));
  if (shape(table) !== shape(definition)) {
    throw new TableSchemaMismatchError(
      `table ${definition.TableName} exists with keys/GSIs "${shape(table)}", expected "${shape(definition)}"`,
    );
  }
}

export async function ensureTables(client: DynamoDBClient, names: TableNames = DEFAULT_TABLE_NAMES): Promise<void> {
  await Promise.all(Object.values(tableDefinitions(names)).map((d) => ensureTable(client, d)));
}

async function describe(client: DynamoDBClient, tableName: string | undefined): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if (err instanceof Error && err.name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

async function waitActive(client: DynamoDBClient, tableName: string | undefined): Promise<TableDescription> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const table = await describe(client, tableName);
    if (table?.TableStatus === 'ACTIVE') return table;
    if (Date.now() > deadline) throw new Error(`table ${tableName} did not become ACTIVE`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface LocalDynamo {
  endpoint: string;
  tableNames: TableNames;
  client: DynamoDBClient;
  /** Round trips made through `client` so far, by operation (benchmarks count what an order costs). */
  calls(): Record<string, number>;
  close(): Promise<void>;
}

export interface LocalDynamoOptions {
  /** The local run's data directory; the database lives in <dataDir>/dynamodb and survives restarts. */
  dataDir: string;
  tableNames?: Partial<TableNames>;
}

export async function startLocalDynamo(options: LocalDynamoOptions): Promise<LocalDynamo> {
  const path = join(options.dataDir, 'dynamodb');
  await mkdir(path, { recursive: true });
  // dynalite runs on a worker thread (its own core); zero delays so tables are ACTIVE at once.
  const worker = new Worker(new URL('./dynamo-worker.mjs', import.meta.url), { workerData: { path } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', function onMessage(msg: { type: string; port?: number; message?: string }) {
      if (msg.type === 'listening' && msg.port) {
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(msg.port);
      } else if (msg.type === 'error') reject(new Error(`dynalite: ${msg.message}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const counts: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => (args) => {
      const op = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      counts[op] = (counts[op] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'countRoundTrips' },
  );
  const tableNames: TableNames = { ...DEFAULT_TABLE_NAMES, ...options.tableNames };
  const close = async (): Promise<void> => {
    client.destroy();
    // dynalite's close waits for pending LevelDB operations, then closes the database.
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (msg: { type: string; error?: string | null }) => {
        if (msg.type === 'closed') msg.error ? reject(new Error(msg.error)) : resolve();
      });
      worker.postMessage('close');
    });
    await worker.terminate();
  };
  try {
    await ensureTables(client, tableNames);
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  return { endpoint, tableNames, client, calls: () => ({ ...counts }), close };
}
