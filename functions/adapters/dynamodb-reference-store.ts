// ReferenceStore on the reference table (pk/sk): account risk profiles and security reference data.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { RiskProfile, SecurityReference } from '../core/model.js';
import type { ReferenceStore } from '../ports.js';
import { batchGetAll, documentClient, type Item, omit } from './dynamodb-common.js';
import { callAws } from './errors.js';

const KEY_FIELDS = ['pk', 'sk'] as const;

export const accountKey = (accountId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: 'RISK_PROFILE' });
export const securityKey = (symbol: string) => ({ pk: `SECURITY#${symbol}`, sk: 'REFERENCE' });

export class DynamoDbReferenceStore implements ReferenceStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = documentClient(client);
  }

  async getRiskProfile(accountId: string): Promise<RiskProfile | undefined> {
    const item = await this.getItem(accountKey(accountId));
    return item ? omit<RiskProfile & Item>(item, KEY_FIELDS) : undefined;
  }

  async getSecurity(symbol: string): Promise<SecurityReference | undefined> {
    const item = await this.getItem(securityKey(symbol));
    return item ? omit<SecurityReference & Item>(item, KEY_FIELDS) : undefined;
  }

  async getSecurities(symbols: readonly string[]): Promise<Map<string, SecurityReference>> {
    // BatchGetItem refuses duplicate keys in one request.
    const keys = [...new Set(symbols)].map(securityKey);
    const items = await batchGetAll(this.doc, this.tableName, keys);
    const out = new Map<string, SecurityReference>();
    for (const item of items) {
      const security = omit<SecurityReference & Item>(item, KEY_FIELDS);
      out.set(security.symbol, security);
    }
    return out;
  }

  async putRiskProfile(profile: RiskProfile): Promise<void> {
    await this.putItem({ ...profile, ...accountKey(profile.account_id) });
  }

  async putSecurity(security: SecurityReference): Promise<void> {
    await this.putItem({ ...security, ...securityKey(security.symbol) });
  }

  private async getItem(key: { pk: string; sk: string }): Promise<Item | undefined> {
    // Risk limits must be current: a strongly consistent read costs little here.
    const out = await callAws(`GetItem ${this.tableName}`, () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true })),
    );
    return out.Item;
  }

  private async putItem(item: Item): Promise<void> {
    await callAws(`PutItem ${this.tableName}`, () =>
      this.doc.send(new PutCommand({ TableName: this.tableName, Item: item })),
    );
  }
}
