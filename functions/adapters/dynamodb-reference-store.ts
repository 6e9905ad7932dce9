// ReferenceStore on the reference table (pk/sk): account risk profiles, security reference data,
// the firm's risk settings, trading states (kill switches), restricted and prohibited lists,
// locates, market halts, maker-checker limit changes and traders' entitlements. Key layout:
// docs/contracts.md, "reference".
// Every read of the table is strongly consistent (risk data must be current); only the limit-change
// index, a GSI, is read eventually consistent.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type FieldError, IntegrityError, ValidationError } from '../core/errors.js';
import type {
  FirmRiskSettings,
  LimitChange,
  LimitChangeStatus,
  Locate,
  Restriction,
  RiskProfile,
  SecurityReference,
  TraderEntitlement,
  TradingHalt,
  TradingState,
} from '../core/model.js';
import { formatNs, parseNs } from '../core/time.js';
import type { CreateResult, Page, ReferenceStore } from '../ports.js';
import {
  batchGetAll,
  conditionalWrite,
  decodePageToken,
  documentClient,
  getConsistent,
  type Item,
  omit,
  queryPage,
  setClause,
} from './dynamodb-common.js';
import { callAws } from './errors.js';

/** The sparse GSI over limit changes: lc_status (S) / requested_at (S), projecting ALL. */
export const LIMIT_CHANGES_BY_STATUS_INDEX = 'limit-changes-by-status';
/** The GSI's partition key: a copy of a limit change's status, carried by limit-change items only. */
export const LIMIT_CHANGE_STATUS_ATTRIBUTE = 'lc_status';

/** Attributes of the table that are not fields of the records (keys, index copies). */
const INTERNAL_FIELDS = ['pk', 'sk', LIMIT_CHANGE_STATUS_ATTRIBUTE] as const;
/** Fields security items written before restrictions were entries of their own may still carry. */
const LEGACY_SECURITY_FIELDS = ['prohibited', 'prohibited_reason'] as const;

type Key = { pk: string; sk: string };

/**
 * A value that becomes part of a sort key next to others, separated by '#': it must not contain
 * one, or two different records could share a key (scope "A", id "B#C" and scope "A#B", id "C").
 */
export function keyPart(value: string, field: string): string {
  if (value === '' || value.includes('#')) {
    throw new ValidationError([{ field, rule: 'format', message: 'must be non-empty and must not contain #' }]);
  }
  return value;
}

export const accountKey = (accountId: string): Key => ({ pk: `ACCOUNT#${accountId}`, sk: 'RISK_PROFILE' });
export const securityKey = (symbol: string): Key => ({ pk: `SECURITY#${symbol}`, sk: 'REFERENCE' });
export const firmSettingsKey = (): Key => ({ pk: 'FIRM', sk: 'RISK_SETTINGS' });
export const tradingStateKey = (scope: string): Key => ({ pk: `TRADING_STATE#${scope}`, sk: 'STATE' });
export const RESTRICTION_PREFIX = 'RESTRICTION#';
export const restrictionKey = (r: Pick<Restriction, 'symbol' | 'scope' | 'restriction_id'>): Key => ({
  pk: `SECURITY#${r.symbol}`,
  sk: `${RESTRICTION_PREFIX}${keyPart(r.scope, 'scope')}#${keyPart(r.restriction_id, 'restriction_id')}`,
});
export const locatePrefix = (symbol: string): string => `LOCATE#${keyPart(symbol, 'symbol')}#`;
export const locateKey = (l: Pick<Locate, 'account_id' | 'symbol' | 'locate_id'>): Key => ({
  pk: `ACCOUNT#${l.account_id}`,
  sk: `${locatePrefix(l.symbol)}${keyPart(l.locate_id, 'locate_id')}`,
});
export const haltKey = (symbol: string): Key => ({ pk: `SECURITY#${symbol}`, sk: 'HALT' });
export const limitChangeKey = (changeId: string): Key => ({ pk: `LIMIT_CHANGE#${changeId}`, sk: 'CHANGE' });
export const traderEntitlementKey = (traderId: string): Key => ({ pk: `TRADER#${traderId}`, sk: 'ENTITLEMENT' });

/**
 * The entitlement as every store keeps it: checked field by field (loaders hand over parsed JSON,
 * whatever its declared type), accounts sorted by code unit and without duplicates, so readers can
 * compare and search it as they find it. Throws a ValidationError naming each bad field.
 */
export function normaliseTraderEntitlement(entitlement: TraderEntitlement): TraderEntitlement {
  const errors: FieldError[] = [];
  const text = (field: 'trader_id' | 'updated_by' | 'updated_at' | 'version'): string => {
    const v: unknown = entitlement[field];
    if (typeof v !== 'string' || v === '') {
      errors.push({ field, rule: 'required', message: `${field} must be a non-empty string` });
      return '';
    }
    return v;
  };
  const trader_id = text('trader_id');
  const updated_by = text('updated_by');
  let updated_at = text('updated_at');
  if (updated_at !== '') {
    // Stored as the other *_at fields are (nine digits, Z), so it compares as text.
    const ns = parseNs(updated_at);
    if (ns === undefined) {
      errors.push({ field: 'updated_at', rule: 'timestamp', message: 'updated_at must be an RFC 3339 UTC timestamp' });
    } else updated_at = formatNs(ns);
  }
  const version = text('version');
  const accounts: unknown = entitlement.accounts;
  const ids: string[] = [];
  if (!Array.isArray(accounts)) {
    errors.push({ field: 'accounts', rule: 'type', message: 'accounts must be an array of account ids' });
  } else {
    accounts.forEach((a: unknown, i) => {
      if (typeof a === 'string' && a !== '') ids.push(a);
      else
        errors.push({
          field: `accounts[${i}]`,
          rule: 'required',
          message: `accounts[${i}] must be a non-empty string`,
        });
    });
  }
  if (errors.length > 0) throw new ValidationError(errors);
  // Default sort: by UTF-16 code unit, as DynamoDB orders strings; no locale in it.
  return { trader_id, accounts: [...new Set(ids)].sort(), updated_by, updated_at, version };
}

export class DynamoDbReferenceStore implements ReferenceStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = documentClient(client);
  }

  // --- profiles and prices ----------------------------------------------------------------------

  async getRiskProfile(accountId: string): Promise<RiskProfile | undefined> {
    const item = await this.getItem(accountKey(accountId));
    return item ? toRecord<RiskProfile>(item) : undefined;
  }

  async getSecurity(symbol: string): Promise<SecurityReference | undefined> {
    const item = await this.getItem(securityKey(symbol));
    return item ? toSecurity(item) : undefined;
  }

  async getSecurities(symbols: readonly string[]): Promise<Map<string, SecurityReference>> {
    // BatchGetItem refuses duplicate keys in one request.
    const keys = [...new Set(symbols)].map(securityKey);
    const items = await batchGetAll(this.doc, this.tableName, keys);
    const out = new Map<string, SecurityReference>();
    for (const item of items) {
      const security = toSecurity(item);
      out.set(security.symbol, security);
    }
    return out;
  }

  async putRiskProfile(profile: RiskProfile): Promise<void> {
    await this.putItem({ ...profile, ...accountKey(profile.account_id) });
  }

  async putRiskProfileIf(profile: RiskProfile, expectedVersion: string | undefined): Promise<boolean> {
    return this.putItemIf(
      { ...profile, ...accountKey(profile.account_id) },
      expectedVersion === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':expected': expectedVersion },
          },
    );
  }

  async putSecurity(security: SecurityReference): Promise<void> {
    await this.putItem({ ...security, ...securityKey(security.symbol) });
  }

  async restampPrice(symbol: string, price: string, asOf: string): Promise<boolean> {
    const outcome = await conditionalWrite(`UpdateItem ${this.tableName}`, () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: securityKey(symbol),
          UpdateExpression: 'SET price_as_of = :asOf',
          // Fails on a missing item too (the attribute is absent).
          ConditionExpression: 'reference_price = :price',
          ExpressionAttributeValues: { ':asOf': asOf, ':price': price },
        }),
      ),
    );
    return outcome.ok;
  }

  // --- firm settings and trading states -----------------------------------------------------------

  async getFirmSettings(): Promise<FirmRiskSettings | undefined> {
    const item = await this.getItem(firmSettingsKey());
    return item ? toRecord<FirmRiskSettings>(item) : undefined;
  }

  async putFirmSettings(settings: FirmRiskSettings): Promise<void> {
    await this.putItem({ ...settings, ...firmSettingsKey() });
  }

  async putFirmSettingsIf(settings: FirmRiskSettings, expectedVersion: string | undefined): Promise<boolean> {
    return this.putItemIf(
      { ...settings, ...firmSettingsKey() },
      expectedVersion === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':expected': expectedVersion },
          },
    );
  }

  async getTradingState(scope: string): Promise<TradingState | undefined> {
    const item = await this.getItem(tradingStateKey(scope));
    return item ? toRecord<TradingState>(item) : undefined;
  }

  async putTradingState(state: TradingState, expectedRevision: number): Promise<boolean> {
    return this.putItemIf(
      { ...state, ...tradingStateKey(state.scope) },
      expectedRevision === 0
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: '#revision = :expected',
            ExpressionAttributeNames: { '#revision': 'revision' },
            ExpressionAttributeValues: { ':expected': expectedRevision },
          },
    );
  }

  // --- lists, locates, halts ----------------------------------------------------------------------

  async listRestrictions(symbol: string): Promise<Restriction[]> {
    const items = await this.queryAll(`SECURITY#${symbol}`, RESTRICTION_PREFIX);
    return items.map((item) => toRecord<Restriction>(item)).filter((r) => r.symbol === symbol);
  }

  async putRestriction(restriction: Restriction): Promise<void> {
    await this.putItem({ ...restriction, ...restrictionKey(restriction) });
  }

  async listLocates(accountId: string, symbol: string): Promise<Locate[]> {
    // No locate can be stored under a symbol that cannot be part of a key.
    if (symbol === '' || symbol.includes('#')) return [];
    const items = await this.queryAll(`ACCOUNT#${accountId}`, locatePrefix(symbol));
    return items.map((item) => toRecord<Locate>(item)).filter((l) => l.account_id === accountId && l.symbol === symbol);
  }

  async putLocate(locate: Locate): Promise<void> {
    await this.putItem({ ...locate, ...locateKey(locate) });
  }

  async getHalt(symbol: string): Promise<TradingHalt | undefined> {
    const item = await this.getItem(haltKey(symbol));
    return item ? toRecord<TradingHalt>(item) : undefined;
  }

  async putHalt(halt: TradingHalt): Promise<void> {
    await this.putItem({ ...halt, ...haltKey(halt.symbol) });
  }

  async deleteHalt(symbol: string, since: string): Promise<boolean> {
    const outcome = await conditionalWrite(`DeleteItem ${this.tableName}`, () =>
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: haltKey(symbol),
          // Fails on a missing item too.
          ConditionExpression: 'since = :since',
          ExpressionAttributeValues: { ':since': since },
        }),
      ),
    );
    return outcome.ok;
  }

  // --- limit changes ------------------------------------------------------------------------------

  /** PutItem only where the change id is new; otherwise the change already stored (a retry). */
  async createLimitChange(change: LimitChange): Promise<CreateResult<LimitChange>> {
    const key = limitChangeKey(change.change_id);
    const outcome = await conditionalWrite(
      `PutItem ${this.tableName}`,
      () =>
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...change, ...key, [LIMIT_CHANGE_STATUS_ATTRIBUTE]: change.status },
            ConditionExpression: 'attribute_not_exists(pk)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      () => this.getItem(key),
    );
    if (outcome.ok) return { created: true, item: change };
    // Limit changes are never deleted: a refused create always has something to read.
    if (!outcome.stored) throw new IntegrityError(`limit change ${change.change_id} exists but could not be read`);
    return { created: false, existing: toRecord<LimitChange>(outcome.stored) };
  }

  async getLimitChange(changeId: string): Promise<LimitChange | undefined> {
    const item = await this.getItem(limitChangeKey(changeId));
    return item ? toRecord<LimitChange>(item) : undefined;
  }

  async decideLimitChange(
    changeId: string,
    patch: Pick<LimitChange, 'status' | 'decided_by' | 'decided_at'> &
      Partial<Pick<LimitChange, 'decision_reason' | 'applied_version'>>,
    from: LimitChangeStatus = 'PENDING',
  ): Promise<LimitChange | undefined> {
    // Only the decision's fields: never the key, the values or who asked.
    const set = setClause(
      {
        status: patch.status,
        decided_by: patch.decided_by,
        decided_at: patch.decided_at,
        decision_reason: patch.decision_reason,
        applied_version: patch.applied_version,
        [LIMIT_CHANGE_STATUS_ATTRIBUTE]: patch.status,
      },
      'p',
    );
    const outcome = await conditionalWrite(`UpdateItem ${this.tableName}`, () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: limitChangeKey(changeId),
          UpdateExpression: `SET ${set.clause}`,
          // Fails on a missing item too: no attribute_exists needed.
          ConditionExpression: '#status = :from',
          ExpressionAttributeNames: { ...set.names, '#status': 'status' },
          ExpressionAttributeValues: { ...set.values, ':from': from },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    const stored = outcome.ok ? outcome.output.Attributes : undefined;
    return stored ? toRecord<LimitChange>(stored) : undefined;
  }

  async listLimitChanges(status: LimitChangeStatus, limit: number, nextToken?: string): Promise<Page<LimitChange>> {
    return queryPage(
      this.doc,
      {
        TableName: this.tableName,
        IndexName: LIMIT_CHANGES_BY_STATUS_INDEX,
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': LIMIT_CHANGE_STATUS_ATTRIBUTE },
        ExpressionAttributeValues: { ':s': status },
        ScanIndexForward: true, // oldest request first
      },
      limit,
      decodePageToken(nextToken, { [LIMIT_CHANGE_STATUS_ATTRIBUTE]: status }),
      (item) => toRecord<LimitChange>(item),
    );
  }

  // --- trader entitlements ------------------------------------------------------------------------

  async getTraderEntitlement(traderId: string): Promise<TraderEntitlement | undefined> {
    const item = await this.getItem(traderEntitlementKey(traderId));
    return item ? toRecord<TraderEntitlement>(item) : undefined;
  }

  async putTraderEntitlement(entitlement: TraderEntitlement): Promise<void> {
    const stored = normaliseTraderEntitlement(entitlement);
    await this.putItem({ ...stored, ...traderEntitlementKey(stored.trader_id) });
  }

  // --- plumbing -----------------------------------------------------------------------------------

  private getItem(key: Key): Promise<Item | undefined> {
    // Risk limits must be current: a strongly consistent read costs little here.
    return getConsistent(this.doc, this.tableName, key);
  }

  private async putItem(item: Item): Promise<void> {
    await callAws(`PutItem ${this.tableName}`, () =>
      this.doc.send(new PutCommand({ TableName: this.tableName, Item: item })),
    );
  }

  /** A conditional PutItem: false when the condition failed. */
  private async putItemIf(
    item: Item,
    condition: {
      ConditionExpression: string;
      ExpressionAttributeNames?: Record<string, string>;
      ExpressionAttributeValues?: Record<string, unknown>;
    },
  ): Promise<boolean> {
    const outcome = await conditionalWrite(`PutItem ${this.tableName}`, () =>
      this.doc.send(new PutCommand({ TableName: this.tableName, Item: item, ...condition })),
    );
    return outcome.ok;
  }

  /** Every item of a partition whose sort key starts with `prefix`, all pages, in sort-key order. */
  private async queryAll(pk: string, prefix: string): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await callAws(`Query ${this.tableName}`, () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      items.push(...(out.Items ?? []));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  }
}

function toRecord<T>(item: Item): T {
  return omit<T & Item>(item, INTERNAL_FIELDS);
}

/** A security's reference price, without the prohibited flag items of the earlier layout carry. */
function toSecurity(item: Item): SecurityReference {
  return omit<SecurityReference & Item>(item, [...INTERNAL_FIELDS, ...LEGACY_SECURITY_FIELDS]);
}
