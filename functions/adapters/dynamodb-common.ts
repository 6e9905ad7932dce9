// Shared plumbing for the DynamoDB adapters: document client, conditional writes that hand back the
// stored item, opaque page tokens, batch calls that never drop items.
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
// lib-dynamodb leaves the item on a ConditionalCheckFailedException in wire format (aws-sdk-js-v3#6723).
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { IntegrityError, ValidationError } from '../core/errors.js';
import type { Page } from '../ports.js';
import { backoffMs, callAws, errorName, sleep, TransientError } from './errors.js';

export type Item = Record<string, unknown>;
type Key = Record<string, string | number>;

/** Batch calls retry unprocessed items this many times before failing with TransientError. */
export const BATCH_MAX_ATTEMPTS = 8;
export const MAX_PAGE_SIZE = 1000;

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  // removeUndefinedValues: optional model fields are plain `undefined`, never stored.
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export async function getConsistent(
  doc: DynamoDBDocumentClient,
  tableName: string,
  key: Key,
): Promise<Item | undefined> {
  const out = await callAws(`GetItem ${tableName}`, () =>
    doc.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true })),
  );
  return out.Item;
}

export type ConditionalOutcome<T> = { ok: true; output: T } | { ok: false; stored: Item | undefined };

/**
 * Runs a conditional write issued with ReturnValuesOnConditionCheckFailure ALL_OLD. On a failed
 * condition, returns the stored item from the error (one round trip on AWS and DynamoDB Local).
 * dynalite never returns it, and nobody does when the item is absent: then `readBack` (a strongly
 * consistent GetItem) fills in, when the caller needs the stored item at all.
 */
export async function conditionalWrite<T>(
  what: string,
  write: () => Promise<T>,
  readBack?: () => Promise<Item | undefined>,
): Promise<ConditionalOutcome<T>> {
  try {
    return { ok: true, output: await callAws(what, write) };
  } catch (err) {
    if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
    const raw = (err as { Item?: Record<string, AttributeValue> }).Item;
    if (raw && Object.keys(raw).length > 0) return { ok: false, stored: unmarshall(raw) };
    return { ok: false, stored: readBack ? await readBack() : undefined };
  }
}

/**
 * PutItem only where no item has this key yet; otherwise the item already stored. For tables whose
 * items are never deleted (orders, approvals), so a refused create always has something to read.
 */
export async function createOnce(
  doc: DynamoDBDocumentClient,
  tableName: string,
  keyName: string,
  item: Item,
): Promise<{ created: true } | { created: false; stored: Item }> {
  const value = item[keyName];
  if (typeof value !== 'string' && typeof value !== 'number')
    throw new TypeError(`${tableName}: no ${keyName} to create`);
  const key: Key = { [keyName]: value };
  const outcome = await conditionalWrite(
    `PutItem ${tableName}`,
    () =>
      doc.send(
        new PutCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#k)',
          ExpressionAttributeNames: { '#k': keyName },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      ),
    () => getConsistent(doc, tableName, key),
  );
  if (outcome.ok) return { created: true };
  if (!outcome.stored) throw new IntegrityError(`${tableName} ${value} exists but could not be read`);
  return { created: false, stored: outcome.stored };
}

/** `SET #f0 = :f0, ...` for every defined field; names are placeholders so reserved words are safe. */
export function setClause(
  fields: Item,
  tag: string,
): { clause: string; names: Record<string, string>; values: Record<string, unknown> } {
  const parts: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  let i = 0;
  for (const [field, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    names[`#${tag}${i}`] = field;
    values[`:${tag}${i}`] = value;
    parts.push(`#${tag}${i} = :${tag}${i}`);
    i++;
  }
  return { clause: parts.join(', '), names, values };
}

export function omit<T extends Item>(item: Item, fields: readonly string[]): T {
  const out: Item = {};
  for (const [k, v] of Object.entries(item)) if (!fields.includes(k)) out[k] = v;
  return out as T;
}

// --- Pagination -----------------------------------------------------------------------------------

function invalidToken(message: string): ValidationError {
  return new ValidationError([{ field: 'nextToken', rule: 'format', message }]);
}

/** LastEvaluatedKey as base64url JSON: opaque to callers, no server-side state. */
export function encodePageToken(key: Item | undefined): string | undefined {
  if (!key || Object.keys(key).length === 0) return undefined;
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/**
 * Decodes a page token and checks it belongs to this query (`bound` = the key values the query
 * fixes), so a token cannot be replayed against another partition.
 */
export function decodePageToken(token: string | undefined, bound: Key): Key | undefined {
  if (token === undefined || token === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidToken('is not a valid page token');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidToken('is not a valid page token');
  }
  const entries = Object.entries(parsed);
  if (entries.length === 0 || entries.length > 4) throw invalidToken('is not a valid page token');
  const key: Key = {};
  for (const [k, v] of entries) {
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw invalidToken('is not a valid page token');
    }
    key[k] = v;
  }
  for (const [k, v] of Object.entries(bound)) {
    if (key[k] !== v) throw invalidToken('belongs to a different query');
  }
  return key;
}

export function clampLimit(limit: number): number {
  if (!Number.isFinite(limit)) return MAX_PAGE_SIZE;
  return Math.min(Math.max(Math.trunc(limit), 1), MAX_PAGE_SIZE);
}

/** One page of a Query, mapped; a start key DynamoDB refuses becomes a 400-style ValidationError. */
export async function queryPage<T>(
  doc: DynamoDBDocumentClient,
  input: QueryCommandInput,
  limit: number,
  startKey: Key | undefined,
  toRecord: (item: Item) => T,
): Promise<Page<T>> {
  let out: QueryCommandOutput;
  try {
    out = await callAws(`Query ${input.TableName}/${input.IndexName ?? 'table'}`, () =>
      doc.send(new QueryCommand({ ...input, Limit: clampLimit(limit), ExclusiveStartKey: startKey })),
    );
  } catch (err) {
    if (startKey && errorName(err) === 'ValidationException') throw invalidToken('is not valid for this query');
    throw err;
  }
  const page: Page<T> = { items: (out.Items ?? []).map(toRecord) };
  const nextToken = encodePageToken(out.LastEvaluatedKey);
  if (nextToken !== undefined) page.nextToken = nextToken;
  return page;
}

// --- Batches --------------------------------------------------------------------------------------

type WriteRequests = NonNullable<BatchWriteCommandOutput['UnprocessedItems']>[string];

/** BatchWriteItem in chunks of 25; unprocessed items are retried with backoff, never dropped. */
export async function batchWriteAll(
  doc: DynamoDBDocumentClient,
  tableName: string,
  requests: WriteRequests,
  maxAttempts = BATCH_MAX_ATTEMPTS,
): Promise<void> {
  for (let i = 0; i < requests.length; i += 25) {
    let pending = requests.slice(i, i + 25);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= maxAttempts) {
        throw new TransientError(
          `BatchWriteItem ${tableName}: ${pending.length} item(s) still unprocessed after ${maxAttempts} attempts`,
        );
      }
      if (attempt > 0) await sleep(backoffMs(attempt));
      const batch = pending;
      const out = await callAws(`BatchWriteItem ${tableName}`, () =>
        doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: batch } })),
      );
      pending = out.UnprocessedItems?.[tableName] ?? [];
    }
  }
}

type KeysAndAttributes = NonNullable<BatchGetCommandOutput['UnprocessedKeys']>[string];

/** BatchGetItem in chunks of 100; unprocessed keys are retried with backoff, never dropped. */
export async function batchGetAll(
  doc: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly Key[],
  maxAttempts = BATCH_MAX_ATTEMPTS,
): Promise<Item[]> {
  const items: Item[] = [];
  for (let i = 0; i < keys.length; i += 100) {
    let pending: KeysAndAttributes | undefined = { Keys: keys.slice(i, i + 100) };
    for (let attempt = 0; pending?.Keys && pending.Keys.length > 0; attempt++) {
      if (attempt >= maxAttempts) {
        throw new TransientError(
          `BatchGetItem ${tableName}: ${pending.Keys.length} key(s) still unprocessed after ${maxAttempts} attempts`,
        );
      }
      if (attempt > 0) await sleep(backoffMs(attempt));
      const request: KeysAndAttributes = pending;
      const out = await callAws(`BatchGetItem ${tableName}`, () =>
        doc.send(new BatchGetCommand({ RequestItems: { [tableName]: request } })),
      );
      items.push(...(out.Responses?.[tableName] ?? []));
      pending = out.UnprocessedKeys?.[tableName];
    }
  }
  return items;
}
