// ApprovalStore on the approvals table (pk approval_id, GSI by-status: status / requested_at).
// Transitions are conditional on the current status, so two checkers cannot both decide.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ApprovalRecord, ApprovalStatus } from '../core/model.js';
import type { ApprovalStore, CreateResult, Page } from '../ports.js';
import {
  conditionalWrite,
  createOnce,
  decodePageToken,
  documentClient,
  getConsistent,
  type Item,
  queryPage,
  setClause,
} from './dynamodb-common.js';

export const APPROVALS_BY_STATUS_INDEX = 'by-status';

export class DynamoDbApprovalStore implements ApprovalStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = documentClient(client);
  }

  async create(approval: ApprovalRecord): Promise<CreateResult<ApprovalRecord>> {
    const outcome = await createOnce(this.doc, this.tableName, 'approval_id', approval as ApprovalRecord & Item);
    return outcome.created
      ? { created: true, item: approval }
      : { created: false, existing: outcome.stored as ApprovalRecord & Item };
  }

  async get(approvalId: string): Promise<ApprovalRecord | undefined> {
    return (await this.read(approvalId)) as (ApprovalRecord & Item) | undefined;
  }

  async transition(
    approvalId: string,
    from: ApprovalStatus,
    patch: Partial<ApprovalRecord> & { status: ApprovalStatus },
  ): Promise<ApprovalRecord | undefined> {
    const { approval_id: _key, ...fields } = patch;
    const set = setClause(fields, 'p');
    return this.conditionalUpdate(approvalId, set.clause, set.names, set.values, from);
  }

  async updateTaskToken(approvalId: string, taskToken: string): Promise<ApprovalRecord | undefined> {
    return this.conditionalUpdate(approvalId, '#tt = :tt', { '#tt': 'task_token' }, { ':tt': taskToken }, 'PENDING');
  }

  async listByStatus(status: ApprovalStatus, limit: number, nextToken?: string): Promise<Page<ApprovalRecord>> {
    return queryPage(
      this.doc,
      {
        TableName: this.tableName,
        IndexName: APPROVALS_BY_STATUS_INDEX,
        KeyConditionExpression: '#status = :s',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':s': status },
        ScanIndexForward: true, // oldest request first
      },
      limit,
      decodePageToken(nextToken, { status }),
      (item) => item as ApprovalRecord & Item,
    );
  }

  /** SET the given fields when the status is still `from`; undefined when it was not. */
  private async conditionalUpdate(
    approvalId: string,
    clause: string,
    names: Record<string, string>,
    values: Record<string, unknown>,
    from: ApprovalStatus,
  ): Promise<ApprovalRecord | undefined> {
    const outcome = await conditionalWrite(`UpdateItem ${this.tableName}`, () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { approval_id: approvalId },
          UpdateExpression: `SET ${clause}`,
          // `#status = :from` fails on a missing item too, so no attribute_exists is needed.
          ConditionExpression: '#status = :from',
          ExpressionAttributeNames: { ...names, '#status': 'status' },
          ExpressionAttributeValues: { ...values, ':from': from },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return outcome.ok ? (outcome.output.Attributes as (ApprovalRecord & Item) | undefined) : undefined;
  }

  private read(approvalId: string): Promise<Item | undefined> {
    return getConsistent(this.doc, this.tableName, { approval_id: approvalId });
  }
}
