// AuditIndex on the audit table: `pk=HEAD` is the chain head with its Merkle frontier (its
// conditional write is the only arbiter of who appends next); `pk=SEQ#<20 digits>` items index the
// records for the GSIs by-order (order_id / sequence), by-type (event_type / timestamp) and
// by-trader (trader_id / timestamp).
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { GENESIS_HASH } from '../core/audit-chain.js';
import { canonicalJson } from '../core/canonical-json.js';
import { IntegrityError } from '../core/errors.js';
import type { AuditRecord } from '../core/model.js';
import { normaliseTimestamp } from '../core/time.js';
import type { AuditIndex, ChainHead, Page } from '../ports.js';
import {
  batchWriteAll,
  conditionalWrite,
  decodePageToken,
  documentClient,
  getConsistent,
  type Item,
  queryPage,
} from './dynamodb-common.js';

export const AUDIT_BY_ORDER_INDEX = 'by-order';
export const AUDIT_BY_TYPE_INDEX = 'by-type';
export const AUDIT_BY_TRADER_INDEX = 'by-trader';
const HEAD_KEY = 'HEAD';
// DynamoDB refuses an empty string as an index key, so an empty order_id or trader_id is kept as
// a flag instead (and the record stays out of that index).
const EMPTY_ORDER_ID_FLAG = 'order_id_empty';
const EMPTY_TRADER_ID_FLAG = 'trader_id_empty';

export const recordKey = (sequence: number): string => `SEQ#${String(sequence).padStart(20, '0')}`;

export class DynamoDbAuditIndex implements AuditIndex {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = documentClient(client);
  }

  async getHead(): Promise<ChainHead> {
    const item = await getConsistent(this.doc, this.tableName, { pk: HEAD_KEY });
    if (!item) return { sequence: -1, hash: GENESIS_HASH };
    const head: ChainHead = { sequence: item.sequence as number, hash: item.hash as string };
    if (item.batch) head.batch = item.batch as NonNullable<ChainHead['batch']>;
    if (item.frontier !== undefined) {
      const frontier = item.frontier;
      if (!Array.isArray(frontier) || !frontier.every((h) => typeof h === 'string')) {
        throw new IntegrityError(`audit head ${this.tableName}: frontier is not a list of hashes`);
      }
      head.frontier = frontier;
    }
    return head;
  }

  async advanceHead(expected: ChainHead, next: ChainHead): Promise<boolean> {
    // The hash is checked too: a writer holding a stale view of the same sequence must not win.
    const fromEmpty = expected.sequence === -1;
    const outcome = await conditionalWrite(`PutItem ${this.tableName} HEAD`, () =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          // The frontier is claimed with the head, in this one conditional write (a list: order matters).
          Item: { pk: HEAD_KEY, sequence: next.sequence, hash: next.hash, batch: next.batch, frontier: next.frontier },
          ConditionExpression: fromEmpty ? 'attribute_not_exists(pk)' : '#seq = :expected AND #hash = :hash',
          ...(fromEmpty
            ? {}
            : {
                ExpressionAttributeNames: { '#seq': 'sequence', '#hash': 'hash' },
                ExpressionAttributeValues: { ':expected': expected.sequence, ':hash': expected.hash },
              }),
        }),
      ),
    );
    return outcome.ok;
  }

  async putRecords(records: readonly AuditRecord[]): Promise<void> {
    // Re-indexing a batch (a retry, or a writer finishing a dead writer's batch) rewrites the same items.
    await batchWriteAll(
      this.doc,
      this.tableName,
      records.map((r) => ({ PutRequest: { Item: toItem(r) } })),
    );
  }

  async queryByOrder(orderId: string, limit: number, nextToken?: string): Promise<Page<AuditRecord>> {
    // DynamoDB refuses an empty key value in a query; such records are not in the index anyway.
    if (orderId === '') return { items: [] };
    return queryPage(
      this.doc,
      {
        TableName: this.tableName,
        IndexName: AUDIT_BY_ORDER_INDEX,
        KeyConditionExpression: '#oid = :oid',
        ExpressionAttributeNames: { '#oid': 'order_id' },
        ExpressionAttributeValues: { ':oid': orderId },
        ScanIndexForward: true,
      },
      limit,
      decodePageToken(nextToken, { order_id: orderId }),
      fromItem,
    );
  }

  async queryByType(
    eventType: string,
    fromTs: string,
    toTs: string,
    limit: number,
    nextToken?: string,
  ): Promise<Page<AuditRecord>> {
    if (eventType === '') return { items: [] };
    return this.queryTimeRange(AUDIT_BY_TYPE_INDEX, 'event_type', eventType, fromTs, toTs, limit, nextToken);
  }

  async queryByTrader(
    traderId: string,
    fromTs: string,
    toTs: string,
    limit: number,
    nextToken?: string,
  ): Promise<Page<AuditRecord>> {
    // DynamoDB refuses an empty key value in a query; such records are not in the index anyway.
    if (traderId === '') return { items: [] };
    return this.queryTimeRange(AUDIT_BY_TRADER_INDEX, 'trader_id', traderId, fromTs, toTs, limit, nextToken);
  }

  /** One page of a GSI partitioned by `keyName` and sorted by timestamp, between two timestamps (inclusive). */
  private async queryTimeRange(
    indexName: string,
    keyName: string,
    keyValue: string,
    fromTs: string,
    toTs: string,
    limit: number,
    nextToken: string | undefined,
  ): Promise<Page<AuditRecord>> {
    const from = normaliseTimestamp(fromTs);
    const to = normaliseTimestamp(toTs);
    const startKey = decodePageToken(nextToken, { [keyName]: keyValue });
    // BETWEEN refuses a reversed range (ValidationException); it holds nothing, as on the other stores.
    if (from > to) return { items: [] };
    return queryPage(
      this.doc,
      {
        TableName: this.tableName,
        IndexName: indexName,
        KeyConditionExpression: '#k = :k AND #ts BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#k': keyName, '#ts': 'timestamp' },
        ExpressionAttributeValues: { ':k': keyValue, ':from': from, ':to': to },
        ScanIndexForward: true,
      },
      limit,
      startKey,
      fromItem,
    );
  }
}

/**
 * The record's own attributes, with `input` as its canonical JSON text: exact by construction (a
 * DynamoDB map would drop undefined list entries and re-type numbers), and the hash chain needs the
 * same content back. order_id and trader_id are present only when the record has a non-empty one
 * (sparse GSIs); an empty one is kept as a flag.
 */
export function toItem(record: AuditRecord): Item {
  const { input, order_id, trader_id, ...rest } = record;
  const item: Item = { ...rest, pk: recordKey(record.sequence) };
  if (input !== undefined) item.input = canonicalJson(input);
  if (order_id === '') item[EMPTY_ORDER_ID_FLAG] = true;
  else if (order_id !== undefined) item.order_id = order_id;
  if (trader_id === '') item[EMPTY_TRADER_ID_FLAG] = true;
  else if (trader_id !== undefined) item.trader_id = trader_id;
  return item;
}

export function fromItem(item: Item): AuditRecord {
  const { pk: _pk, input, [EMPTY_ORDER_ID_FLAG]: emptyOrderId, [EMPTY_TRADER_ID_FLAG]: emptyTraderId, ...rest } = item;
  const record = rest as Item;
  if (emptyOrderId === true) record.order_id = '';
  if (emptyTraderId === true) record.trader_id = '';
  if (input !== undefined) {
    if (typeof input !== 'string') throw new IntegrityError(`audit item ${String(item.pk)}: input is not JSON text`);
    record.input = JSON.parse(input);
  }
  return record as unknown as AuditRecord;
}
