// OrderStore on the orders table (pk order_id). Every state change is one conditional write, so a
// retried step never changes a decision and an approval is consumed exactly once.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { IntegrityError, NotFoundError } from '../core/errors.js';
import type { OrderRecord, RiskCheck } from '../core/model.js';
import type { CreateResult, ExecutionOutcome, OrderStore } from '../ports.js';
import { conditionalWrite, createOnce, documentClient, getConsistent, type Item, omit } from './dynamodb-common.js';

/** Bookkeeping attributes kept on the item but not part of OrderRecord. */
const INTERNAL_FIELDS = ['risk_consumed_at'] as const;

type RecordExecutionResult = Awaited<ReturnType<OrderStore['recordExecution']>>;

export class DynamoDbOrderStore implements OrderStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = documentClient(client);
  }

  async create(order: OrderRecord): Promise<CreateResult<OrderRecord>> {
    const outcome = await createOnce(this.doc, this.tableName, 'order_id', order as OrderRecord & Item);
    return outcome.created
      ? { created: true, item: order }
      : { created: false, existing: toOrderRecord(outcome.stored) };
  }

  async get(orderId: string): Promise<OrderRecord | undefined> {
    const item = await this.read(orderId);
    return item ? toOrderRecord(item) : undefined;
  }

  async recordRisk(orderId: string, risk: RiskCheck): Promise<RiskCheck> {
    const outcome = await conditionalWrite(
      `UpdateItem ${this.tableName}`,
      () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { order_id: orderId },
            UpdateExpression: 'SET #risk = :r',
            ConditionExpression: 'attribute_exists(order_id) AND attribute_not_exists(#risk)',
            ExpressionAttributeNames: { '#risk': 'risk' },
            ExpressionAttributeValues: { ':r': risk },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      () => this.read(orderId),
    );
    if (outcome.ok) return risk;
    if (!outcome.stored) throw new NotFoundError(`order ${orderId} not found`);
    const stored = outcome.stored.risk as RiskCheck | undefined;
    if (!stored) throw new IntegrityError(`order ${orderId}: risk write refused but no decision is stored`);
    return stored;
  }

  async recordExecution(
    orderId: string,
    expected: { checkId: string; orderHash: string },
    execution: ExecutionOutcome,
  ): Promise<RecordExecutionResult> {
    const outcome = await conditionalWrite(
      `UpdateItem ${this.tableName}`,
      () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { order_id: orderId },
            // Verifying the approval and consuming it is this one write: no window between the two.
            UpdateExpression: 'SET #exec = :e, #consumed = :at',
            ConditionExpression:
              '#risk.#cid = :cid AND #risk.#oh = :h AND #oh = :h AND (#risk.#dec = :approved OR #risk.#dec = :needs) AND attribute_not_exists(#exec)',
            ExpressionAttributeNames: {
              '#exec': 'execution',
              '#consumed': 'risk_consumed_at',
              '#risk': 'risk',
              '#cid': 'check_id',
              '#oh': 'order_hash',
              '#dec': 'decision',
            },
            ExpressionAttributeValues: {
              ':e': execution,
              ':at': execution.executed_at,
              ':cid': expected.checkId,
              ':h': expected.orderHash,
              ':approved': 'approved',
              ':needs': 'needs_approval',
            },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      () => this.read(orderId),
    );
    if (outcome.ok) return { result: 'recorded', execution };
    return explainRefusal(orderId, outcome.stored, expected);
  }

  private read(orderId: string): Promise<Item | undefined> {
    return getConsistent(this.doc, this.tableName, { order_id: orderId });
  }
}

function toOrderRecord(item: Item): OrderRecord {
  return omit<OrderRecord & Item>(item, INTERNAL_FIELDS);
}

/** Why recordExecution's condition failed, from the stored item. */
export function explainRefusal(
  orderId: string,
  stored: Item | undefined,
  expected: { checkId: string; orderHash: string },
): RecordExecutionResult {
  if (!stored) return { result: 'not_verified', reason: `order ${orderId} not found` };
  const order = toOrderRecord(stored);
  const risk = order.risk;
  if (order.execution) {
    if (risk?.check_id === expected.checkId && risk.order_hash === expected.orderHash) {
      return { result: 'duplicate', execution: order.execution };
    }
    return {
      result: 'not_verified',
      reason: `order already executed under risk check ${risk?.check_id ?? '(none)'}`,
    };
  }
  if (!risk) return { result: 'not_verified', reason: 'no risk decision recorded for the order' };
  if (risk.decision === 'rejected') return { result: 'not_verified', reason: 'risk decision is rejected' };
  if (risk.check_id !== expected.checkId) {
    return {
      result: 'not_verified',
      reason: `risk check id mismatch: expected ${expected.checkId}, stored ${risk.check_id}`,
    };
  }
  if (risk.order_hash !== expected.orderHash || order.order_hash !== expected.orderHash) {
    return { result: 'not_verified', reason: 'order content hash mismatch: the order changed after the risk check' };
  }
  if (risk.decision !== 'approved' && risk.decision !== 'needs_approval') {
    return { result: 'not_verified', reason: `unexpected risk decision ${String(risk.decision)}` };
  }
  // Only reachable when the item changed between the refused write and the read-back (dynalite).
  return { result: 'not_verified', reason: 'order changed concurrently; re-read and retry' };
}
