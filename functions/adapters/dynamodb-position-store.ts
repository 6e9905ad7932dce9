// PositionStore on the positions table (account_id / symbol). Each item keeps the string set
// `applied_fills`, so a fill is applied exactly once even when its step is retried.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Position } from '../core/model.js';
import type { PositionStore } from '../ports.js';
import { conditionalWrite, documentClient, getConsistent, type Item, omit, setClause } from './dynamodb-common.js';
import { callAws } from './errors.js';

const INTERNAL_FIELDS = ['applied_fills'] as const;

export class DynamoDbPositionStore implements PositionStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = documentClient(client);
  }

  async list(accountId: string): Promise<Position[]> {
    const positions: Position[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await callAws(`Query ${this.tableName}`, () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'account_id = :a',
            ExpressionAttributeValues: { ':a': accountId },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      positions.push(...(out.Items ?? []).map(toPosition));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return positions;
  }

  async get(accountId: string, symbol: string): Promise<Position | undefined> {
    const item = await getConsistent(this.doc, this.tableName, { account_id: accountId, symbol });
    return item ? toPosition(item) : undefined;
  }

  async putIfVersion(
    position: Position,
    expectedVersion: number,
    fillId: string,
  ): Promise<'written' | 'conflict' | 'duplicate'> {
    const { account_id, symbol, ...fields } = position;
    const set = setClause(fields, 'f');
    // An UpdateItem (not a PutItem) so the fill id joins the stored set in the same write, without
    // reading the set first. The version check makes the write optimistic; the set makes it idempotent.
    const condition =
      expectedVersion === 0
        ? 'attribute_not_exists(account_id)'
        : '#version = :expected AND NOT contains(#fills, :fid)';
    const outcome = await conditionalWrite(
      `UpdateItem ${this.tableName}`,
      () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { account_id, symbol },
            UpdateExpression: `${set.clause ? `SET ${set.clause} ` : ''}ADD #fills :fidset`,
            ConditionExpression: condition,
            ExpressionAttributeNames: {
              ...set.names,
              '#fills': 'applied_fills',
              ...(expectedVersion === 0 ? {} : { '#version': 'version' }),
            },
            ExpressionAttributeValues: {
              ...set.values,
              ':fidset': new Set([fillId]),
              ...(expectedVersion === 0 ? {} : { ':expected': expectedVersion, ':fid': fillId }),
            },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      () => getConsistent(this.doc, this.tableName, { account_id, symbol }),
    );
    if (outcome.ok) return 'written';
    const applied = outcome.stored?.applied_fills;
    return applied instanceof Set && applied.has(fillId) ? 'duplicate' : 'conflict';
  }
}

function toPosition(item: Item): Position {
  return omit<Position & Item>(item, INTERNAL_FIELDS);
}
