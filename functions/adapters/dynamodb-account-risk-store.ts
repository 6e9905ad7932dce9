// AccountRiskStore on the risk-state table (partition key account_id): each account's live risk
// state (open orders, recent orders) in one item, replaced whole by a PutItem conditional on its
// revision, so two orders of one account cannot both spend the same capital.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { AccountRiskState } from '../core/model.js';
import type { AccountRiskStore } from '../ports.js';
import { conditionalWrite, documentClient, getConsistent, type Item } from './dynamodb-common.js';

/** The state of an account with no item yet. */
export function emptyAccountRiskState(accountId: string): AccountRiskState {
  return { account_id: accountId, revision: 0, open: {}, recent: [] };
}

/**
 * Every implementation refuses a write that does not move the revision on by one: stored at the
 * expected revision, the next writer from the same read would win too (a lost update).
 */
export function checkNextRevision(next: AccountRiskState, expectedRevision: number): void {
  if (!Number.isSafeInteger(expectedRevision) || expectedRevision < 0 || next.revision !== expectedRevision + 1) {
    throw new RangeError(
      `account risk state ${next.account_id}: revision ${next.revision} cannot follow ${expectedRevision}`,
    );
  }
}

export class DynamoDbAccountRiskStore implements AccountRiskStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = documentClient(client);
  }

  async get(accountId: string): Promise<AccountRiskState> {
    const item = await getConsistent(this.doc, this.tableName, { account_id: accountId });
    return item ? (item as AccountRiskState & Item) : emptyAccountRiskState(accountId);
  }

  async putIfRevision(next: AccountRiskState, expectedRevision: number): Promise<'written' | 'conflict'> {
    checkNextRevision(next, expectedRevision);
    const outcome = await conditionalWrite(`PutItem ${this.tableName}`, () =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: next as AccountRiskState & Item,
          ...(expectedRevision === 0
            ? { ConditionExpression: 'attribute_not_exists(account_id)' }
            : {
                ConditionExpression: '#revision = :expected',
                ExpressionAttributeNames: { '#revision': 'revision' },
                ExpressionAttributeValues: { ':expected': expectedRevision },
              }),
        }),
      ),
    );
    return outcome.ok ? 'written' : 'conflict';
  }
}
