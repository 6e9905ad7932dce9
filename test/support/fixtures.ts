// Record builders and helpers shared by the integration tests (store contract, DynamoDB adapters,
// journal database): the records the stores hold, real audit hash chains, pagination, and dynalite
// with fresh tables. Defaults are the store contract's; a suite that needs other values passes them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { eventIdFor, GENESIS_HASH, hashRecord } from '../../functions/core/audit-chain.js';
import type {
  ApprovalRecord,
  AuditEventType,
  AuditRecord,
  OrderRecord,
  Position,
  RiskCheck,
} from '../../functions/core/model.js';
import type { ExecutionOutcome, Page } from '../../functions/ports.js';
import {
  DEFAULT_TABLE_NAMES,
  ensureTable,
  startLocalDynamo,
  type TableKind,
  tableDefinitions,
} from '../../local/dynamo.js';

// --- records ------------------------------------------------------------------------------------------

/** The account the records belong to unless a test says otherwise (the ACC_001 risk profile's). */
export const ACCOUNT_ID = 'ACC-001';

/** An order content hash (the one the risk checks approve by default). */
export const HASH_A = 'a'.repeat(64);
/** Another order content hash. */
export const HASH_B = 'b'.repeat(64);

/** An OrderRecord as the gateway stores it: a 100-share AAPL limit buy by T-1, answered RECEIVED. */
export function order(orderId: string, hash = HASH_A, accountId = ACCOUNT_ID): OrderRecord {
  return {
    order_id: orderId,
    order: {
      order_id: orderId,
      symbol: 'AAPL',
      side: 'BUY',
      quantity: 100,
      order_type: 'LIMIT',
      price: '150.25',
      account_id: accountId,
      trader_id: 'T-1',
    },
    order_hash: hash,
    submitted_at: '2026-11-23T19:25:00.123456789Z',
    submitted_by: 'CN=trader-1',
    execution_id: `arn:aws:states:us-east-1:123456789012:execution:order-lifecycle:${orderId}`,
    answer: { statusCode: 202, body: { order_id: orderId, status: 'RECEIVED', nested: { list: [1, 'two', null] } } },
  };
}

/** A RiskCheck on the max-order-value control for `order(orderId)`, with the given decision. */
export function risk(orderId: string, checkId: string, decision: RiskCheck['decision'], hash = HASH_A): RiskCheck {
  return {
    check_id: checkId,
    order_id: orderId,
    order_hash: hash,
    decision,
    reasons: decision === 'rejected' ? ['MAX_ORDER_VALUE'] : [],
    controls: [
      {
        control: 'max_order_value',
        passed: decision !== 'rejected',
        ...(decision === 'rejected' ? { reason_code: 'MAX_ORDER_VALUE' } : {}),
        values: { limit: '1000000', order_value: '15025.00' },
      },
    ],
    order_value: '15025.00',
    reference_price: '150.25',
    limits_version: 'ACC-001/v1',
    checked_at: '2026-11-23T19:25:00.223456789Z',
  };
}

/** A FILLED ExecutionOutcome: the whole 100 shares of `order(orderId)` at 150.20. */
export function filled(
  orderId: string,
  at = '2026-11-23T19:25:01.000000001Z',
  accountId = ACCOUNT_ID,
  venueExecId = `VX-${orderId}`,
): ExecutionOutcome {
  return {
    status: 'FILLED',
    fill: {
      fill_id: `FILL-${orderId}`,
      order_id: orderId,
      account_id: accountId,
      symbol: 'AAPL',
      side: 'BUY',
      quantity: 100,
      price: '150.20',
      venue_exec_id: venueExecId,
      executed_at: at,
    },
    executed_at: at,
  };
}

/** A REJECTED ExecutionOutcome: the venue refused the order, no fill. */
export function venueRejected(at = '2026-11-23T19:25:01.000000001Z'): ExecutionOutcome {
  return { status: 'REJECTED', fill: null, venue_reason: 'venue halted the symbol', executed_at: at };
}

/** A Position at the given version and quantity (a short one carries a realized loss). */
export function position(version: number, quantity: number, symbol = 'AAPL', accountId = ACCOUNT_ID): Position {
  return {
    account_id: accountId,
    symbol,
    quantity,
    average_cost: '150.00',
    realized_pnl: quantity < 0 ? '-12.50' : '0',
    version,
    updated_at: `2026-11-23T19:25:${String(version).padStart(2, '0')}.000000000Z`,
  };
}

/** 2026-11-(10+d)T19:25:00.000000000Z: the d-th day of the fixtures' fills. */
export const day = (d: number) => `2026-11-${String(10 + d).padStart(2, '0')}T19:25:00.000000000Z`;
/** The applied fill a position write carries: its id, executed on day `d`. */
export const fill = (id: string, d = 0) => ({ id, executedAt: day(d) });

/** An ApprovalRecord for a 10,000-share AAPL buy of order ORD-{id}, requested at `requestedAt`. */
export function approval(
  id: string,
  requestedAt: string,
  status: ApprovalRecord['status'] = 'PENDING',
  accountId = ACCOUNT_ID,
): ApprovalRecord {
  return {
    approval_id: id,
    order_id: `ORD-${id}`,
    status,
    maker: 'CN=trader-1',
    account_id: accountId,
    symbol: 'AAPL',
    side: 'BUY',
    quantity: 10_000,
    order_value: '1502500.00',
    risk_check_id: `RC-${id}`,
    task_token: `token-${id}`,
    requested_at: requestedAt,
    expires_at: '2026-11-24T19:30:00.000000000Z',
  };
}

/** 2026-11-23T19:MM:SS.000000000Z for the n-th second after 19:25:00. */
export const second = (n: number) => {
  const total = 25 * 60 + n;
  return `2026-11-23T19:${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}.000000000Z`;
};

// --- audit chains -------------------------------------------------------------------------------------

/** The event types `awkwardAuditChain` cycles through, in order. */
export const EVENT_TYPES: AuditEventType[] = ['order_submitted', 'risk_check', 'trade_executed', 'position_updated'];

/** What a chained record holds besides what `hashChain` fills in. */
export type AuditRecordBody = Omit<AuditRecord, 'sequence' | 'event_id' | 'prev_hash' | 'hash'>;

/** A real hash chain of `count` records (sequence from 0), each linked to the one before. */
export function hashChain(count: number, body: (seq: number) => AuditRecordBody): AuditRecord[] {
  const records: AuditRecord[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 0; seq < count; seq++) {
    const partial: Omit<AuditRecord, 'hash'> = {
      sequence: seq,
      event_id: eventIdFor(seq),
      ...body(seq),
      prev_hash: prev,
    };
    const record: AuditRecord = { ...partial, hash: hashRecord(partial) };
    records.push(record);
    prev = record.hash;
  }
  return records;
}

/**
 * A real hash chain with awkward content: nested input, unicode, empty strings, nulls, big ints.
 * Some records have no order_id, some an empty one; `timestampOf` stamps each sequence.
 */
export function awkwardAuditChain(count: number, timestampOf: (seq: number) => string): AuditRecord[] {
  return hashChain(count, (seq) => {
    const orderId = seq % 5 === 4 ? undefined : seq % 7 === 6 ? '' : `ORD-${seq % 3}`;
    return {
      timestamp: timestampOf(seq),
      event_type: EVENT_TYPES[seq % EVENT_TYPES.length] ?? 'order_submitted',
      ...(orderId !== undefined ? { order_id: orderId } : {}),
      ...(seq % 2 === 0 ? { trader_id: 'T-1' } : {}),
      actor: 'arn:aws:iam::123456789012:role/risk',
      input: {
        z: [1, null, { b: 'é€😀', a: '' }],
        a: { quantity: Number.MAX_SAFE_INTEGER - seq, price: '150.25', flag: seq % 2 === 0, empty: {}, list: [] },
        seq,
      },
      decision: seq % 3 === 0 ? 'approved' : '',
      reason: `reason ${seq}\nline two "quoted"`,
    };
  });
}

// --- pagination ---------------------------------------------------------------------------------------

/** Follows nextToken to the end; a last empty page (DynamoDB may answer one) is allowed. */
export async function collect<T>(fetch: (token?: string) => Promise<Page<T>>): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let pages = 0;
  let token: string | undefined;
  do {
    const page = await fetch(token);
    items.push(...page.items);
    token = page.nextToken;
    pages++;
    if (pages > 10_000) throw new Error('pagination does not terminate');
  } while (token);
  return { items, pages };
}

/** Every item of a paginated query, following nextToken to the end. */
export async function collectItems<T>(fetch: (token?: string) => Promise<Page<T>>): Promise<T[]> {
  return (await collect(fetch)).items;
}

// --- dynalite -----------------------------------------------------------------------------------------

/** Dynalite on a new temporary directory named from `prefix`; stop() closes it and removes the directory. */
export async function startDynalite(prefix: string): Promise<{ client: DynamoDBClient; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const local = await startLocalDynamo({ dataDir: dir });
  return {
    client: local.client,
    stop: async () => {
      await local.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A maker of fresh, empty tables on `client` with the contract's schema, named `${prefix}${n}-${kind}`. */
export function freshTables(client: DynamoDBClient, prefix: string): (kind: TableKind) => Promise<string> {
  let counter = 0;
  return async (kind) => {
    counter++;
    const name = `${prefix}${counter}-${kind}`;
    await ensureTable(client, tableDefinitions({ ...DEFAULT_TABLE_NAMES, [kind]: name })[kind]);
    return name;
  };
}
