// PositionStore on the positions table (account_id / symbol). Each item keeps the map
// `recent_fills` (fill id -> executed_at) of the fills applied within the use case's horizon, so a
// fill is applied exactly once even when its step is retried; the writer prunes aged-out entries.
// Items written before the map keep their legacy string set `applied_fills`: read-only, still honoured.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Position } from '../core/model.js';
import type { AppliedFill, PositionStore } from '../ports.js';
import { conditionalWrite, documentClient, getConsistent, type Item, omit, setClause } from './dynamodb-common.js';
import { callAws } from './errors.js';

const LEDGER = 'recent_fills';
const LEGACY_LEDGER = 'applied_fills';
const INTERNAL_FIELDS = [LEDGER, LEGACY_LEDGER] as const;

type PutResult = 'written' | 'conflict' | 'duplicate';

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

  async getWithLedger(
    accountId: string,
    symbol: string,
  ): Promise<{ position: Position; appliedFills: Readonly<Record<string, string>> } | undefined> {
    const item = await getConsistent(this.doc, this.tableName, { account_id: accountId, symbol });
    return item ? { position: toPosition(item), appliedFills: ledgerOf(item) ?? {} } : undefined;
  }

  async putIfVersion(
    position: Position,
    expectedVersion: number,
    fill: AppliedFill,
    prune: readonly string[],
  ): Promise<PutResult> {
    const first = await this.write(position, expectedVersion, fill, expectedVersion === 0 ? 'new' : 'existing', prune);
    // A legacy item (no map yet): a nested path cannot be set under a missing map, so create the map.
    const outcome = first === 'no-ledger' ? await this.write(position, expectedVersion, fill, 'legacy') : first;
    return outcome === 'no-ledger' ? 'conflict' : outcome;
  }

  /**
   * One conditional UpdateItem. `new`: the item must not exist; `existing`: the version must match
   * and the map exist; `legacy`: the version must match and the map not exist yet. Every mode also
   * requires the fill id in neither the map nor the legacy set.
   */
  private async write(
    position: Position,
    expected: number,
    fill: AppliedFill,
    mode: 'new' | 'existing' | 'legacy',
    prune: readonly string[] = [],
  ): Promise<PutResult | 'no-ledger'> {
    const { account_id, symbol, ...fields } = position;
    const set = setClause(fields, 'f');
    const names: Record<string, string> = { ...set.names, '#l': LEDGER };
    const values: Record<string, unknown> = { ...set.values };
    const sets = set.clause ? [set.clause] : [];
    const removes: string[] = [];
    let condition: string;
    if (mode === 'existing') {
      // SET one entry and REMOVE aged-out ones in place (never the entry being set, never twice).
      names['#fid'] = fill.id;
      values[':at'] = fill.executedAt;
      sets.push('#l.#fid = :at');
      [...new Set(prune)]
        .filter((id) => id !== fill.id)
        .forEach((id, i) => {
          names[`#p${i}`] = id;
          removes.push(`#l.#p${i}`);
        });
      condition = '#version = :expected AND attribute_exists(#l) AND attribute_not_exists(#l.#fid)';
    } else {
      values[':map'] = { [fill.id]: fill.executedAt };
      sets.push('#l = :map');
      condition =
        mode === 'new' ? 'attribute_not_exists(account_id)' : '#version = :expected AND attribute_not_exists(#l)';
    }
    if (mode !== 'new') {
      // An item from before the map may hold the fill id in its legacy set.
      names['#version'] = 'version';
      names['#legacy'] = LEGACY_LEDGER;
      values[':expected'] = expected;
      values[':fid'] = fill.id;
      condition += ' AND NOT contains(#legacy, :fid)';
    }
    const outcome = await conditionalWrite(
      `UpdateItem ${this.tableName}`,
      () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { account_id, symbol },
            UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      () => getConsistent(this.doc, this.tableName, { account_id, symbol }),
    );
    if (outcome.ok) return 'written';
    const stored = outcome.stored;
    if (!stored) return 'conflict';
    const ledger = ledgerOf(stored);
    const legacy = stored[LEGACY_LEDGER];
    if ((ledger && Object.hasOwn(ledger, fill.id)) || (legacy instanceof Set && legacy.has(fill.id)))
      return 'duplicate';
    if (mode === 'existing' && ledger === undefined && stored.version === expected) return 'no-ledger';
    return 'conflict';
  }
}

function ledgerOf(item: Item): Record<string, string> | undefined {
  const map = item[LEDGER];
  return map && typeof map === 'object' && !(map instanceof Set) ? (map as Record<string, string>) : undefined;
}

function toPosition(item: Item): Position {
  return omit<Position & Item>(item, INTERNAL_FIELDS);
}
