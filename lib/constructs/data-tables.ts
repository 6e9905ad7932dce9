import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export type TableName = 'orders' | 'reference' | 'positions' | 'approvals' | 'audit' | 'riskState';

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
  private readonly indexed = new Set<dynamodb.Table>();

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

  /** Item reads (get, query, scan) on the named tables and their indexes. */
  public grantRead(grantee: iam.IGrantable & Construct, ...names: TableName[]): void {
    for (const name of names) {
      this.all[name].grantReadData(grantee);
      this.acknowledgeIndexes(grantee, name);
    }
  }

  /** Item reads and writes on the named tables and their indexes. */
  public grantReadWrite(grantee: iam.IGrantable & Construct, ...names: TableName[]): void {
    for (const name of names) {
      this.all[name].grantReadWriteData(grantee);
      this.acknowledgeIndexes(grantee, name);
    }
    const reason =
      'Writes to the CMK-encrypted tables: DynamoDB needs the kms:GenerateDataKey*/kms:ReEncrypt* families, granted on the platform key only.';
    Validations.of(grantee).acknowledge({ id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason });
    Validations.of(grantee).acknowledge({ id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason });
  }

  /**
   * GetItem and PutItem only, on one table without indexes: for an item replaced whole by a
   * conditional put (the accounts' risk state), nothing to delete, update or batch.
   */
  public grantGetPut(grantee: iam.IGrantable & Construct, name: TableName): void {
    const table = this.all[name];
    table.grant(grantee, 'dynamodb:GetItem', 'dynamodb:PutItem');
    // The items are encrypted with the platform key: reading and writing them needs it.
    this.encryptionKey.grantEncryptDecrypt(grantee);
    const reason =
      'Reads and writes of the CMK-encrypted risk state: DynamoDB needs the kms:GenerateDataKey*/kms:ReEncrypt* families, granted on the platform key only.';
    Validations.of(grantee).acknowledge({ id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason });
    Validations.of(grantee).acknowledge({ id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason });
  }

  private addIndex(
    table: dynamodb.Table,
    indexName: string,
    partitionKey: dynamodb.Attribute,
    sortKey: dynamodb.Attribute,
  ): void {
    table.addGlobalSecondaryIndex({ indexName, partitionKey, sortKey, projectionType: dynamodb.ProjectionType.ALL });
    this.indexed.add(table);
  }

  /** CDK grants on `<table>/index/*` when a table has indexes; the wildcard is the index name. */
  private acknowledgeIndexes(grantee: Construct, name: TableName): void {
    const table = this.all[name];
    if (!this.indexed.has(table)) return;
    const logicalId = Stack.of(this).getLogicalId(table.node.defaultChild as dynamodb.CfnTable);
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/index/*]`,
      reason: `Queries on the GSIs of the ${name} table (docs/contracts.md): the wildcard is the index name, under this one table.`,
    });
  }
}
