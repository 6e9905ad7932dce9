import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export type TableName = 'orders' | 'reference' | 'positions' | 'approvals' | 'audit' | 'riskState';

/** The item-level DynamoDB actions the adapters send (functions/adapters/dynamodb-*.ts). */
export type DynamoDbAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'BatchWriteItem';

/** One agent's access to one table: actions on the table, and Query on these indexes. */
export interface TableAccess {
  readonly actions: readonly DynamoDbAction[];
  readonly indexes?: readonly string[];
}

export const DYNAMODB_KEY_ACTIONS = [
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
];

export interface DataTablesProps {
  readonly encryptionKey: kms.IKey;
}

const S = dynamodb.AttributeType.STRING;
const N = dynamodb.AttributeType.NUMBER;

/** The six tables of docs/contracts.md: on demand, point-in-time recovery, KMS-encrypted, retained. */
export class DataTables extends Construct {
  public readonly orders: dynamodb.Table;
  public readonly reference: dynamodb.Table;
  public readonly positions: dynamodb.Table;
  public readonly approvals: dynamodb.Table;
  public readonly audit: dynamodb.Table;
  /** Accounts' live risk state (open and recent orders), one item per account. */
  public readonly riskState: dynamodb.Table;
  private readonly indexNames = new Map<dynamodb.Table, string[]>();

  private readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: DataTablesProps) {
    super(scope, id);
    this.encryptionKey = props.encryptionKey;
    const table = (tableId: string, partitionKey: dynamodb.Attribute, sortKey?: dynamodb.Attribute) =>
      new dynamodb.Table(this, tableId, {
        partitionKey,
        sortKey,
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryptionKey: props.encryptionKey,
        // Books and records: neither a stack update nor a stray delete may drop them.
        deletionProtection: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });

    this.orders = table('Orders', { name: 'order_id', type: S });
    this.reference = table('Reference', { name: 'pk', type: S }, { name: 'sk', type: S });
    // Sparse: only limit-change items carry lc_status.
    this.addIndex(
      this.reference,
      'limit-changes-by-status',
      { name: 'lc_status', type: S },
      { name: 'requested_at', type: S },
    );
    this.positions = table('Positions', { name: 'account_id', type: S }, { name: 'symbol', type: S });
    this.approvals = table('Approvals', { name: 'approval_id', type: S });
    this.addIndex(this.approvals, 'by-status', { name: 'status', type: S }, { name: 'requested_at', type: S });
    this.audit = table('Audit', { name: 'pk', type: S });
    this.addIndex(this.audit, 'by-order', { name: 'order_id', type: S }, { name: 'sequence', type: N });
    this.addIndex(this.audit, 'by-type', { name: 'event_type', type: S }, { name: 'timestamp', type: S });
    // Sparse: records without a trader_id (or with an empty one, kept as a flag) are not in it.
    this.addIndex(this.audit, 'by-trader', { name: 'trader_id', type: S }, { name: 'timestamp', type: S });
    this.riskState = table('RiskState', { name: 'account_id', type: S });
  }

  /** Logical name to table, in the order of docs/contracts.md. */
  public get all(): Record<TableName, dynamodb.Table> {
    return {
      orders: this.orders,
      reference: this.reference,
      positions: this.positions,
      approvals: this.approvals,
      audit: this.audit,
      riskState: this.riskState,
    };
  }

  /**
   * Exactly `access.actions` on one table, and Query on the named indexes only (never
   * `<table>/index/*`). The platform key use that goes with item access is {@link grantKeyUse}.
   */
  public grantItems(grantee: iam.IGrantable, name: TableName, access: TableAccess): void {
    const table = this.all[name];
    const known = this.indexNames.get(table) ?? [];
    for (const index of access.indexes ?? []) {
      if (!known.includes(index)) throw new Error(`table ${name} has no index ${index} (it has ${known.join(', ')})`);
    }
    if (access.actions.length > 0) {
      iam.Grant.addToPrincipal({
        grantee,
        actions: [...new Set(access.actions)].map((a) => `dynamodb:${a}`),
        resourceArns: [table.tableArn],
      });
    }
    if (access.indexes && access.indexes.length > 0) {
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['dynamodb:Query'],
        resourceArns: access.indexes.map((index) => `${table.tableArn}/index/${index}`),
      });
    }
  }

  /**
   * The platform key, as DynamoDB uses it on the caller's behalf for the CMK-encrypted tables: the
   * actions DynamoDB's documentation lists for a customer managed key (GenerateDataKey* and
   * ReEncrypt* spelled out, no key-pair generation), and only through DynamoDB in this region.
   */
  public grantKeyUse(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: DYNAMODB_KEY_ACTIONS,
      resourceArns: [this.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com` } },
    });
  }

  private addIndex(
    table: dynamodb.Table,
    indexName: string,
    partitionKey: dynamodb.Attribute,
    sortKey: dynamodb.Attribute,
  ): void {
    table.addGlobalSecondaryIndex({ indexName, partitionKey, sortKey, projectionType: dynamodb.ProjectionType.ALL });
    this.indexNames.set(table, [...(this.indexNames.get(table) ?? []), indexName]);
  }
}
