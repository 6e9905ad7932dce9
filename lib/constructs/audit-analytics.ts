import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  AUDIT_COLUMNS,
  AUDIT_NAMED_QUERIES,
  AUDIT_PARTITION,
  AUDIT_TABLE,
  namedQueryUsage,
} from '../../functions/core/audit-named-queries.js';

export interface AuditAnalyticsProps {
  /** The write-once audit archive (records under `records/dt=YYYY-MM-DD/`). */
  readonly archiveBucket: s3.IBucket;
  /** The archive's KMS key: it also encrypts the query results. */
  readonly encryptionKey: kms.IKey;
  /** Query results are deleted after this many days. */
  readonly resultsRetentionDays: number;
  /** Where the results bucket's server access logs go (e.g. the archive's access-log bucket). */
  readonly accessLogBucket?: s3.IBucket;
  /** Glue database name (letters, digits, underscores); default `<stack name>_audit`. */
  readonly databaseName?: string;
  /** Athena workgroup name; default `<stack name>-audit`. */
  readonly workGroupName?: string;
  /** First day partition projection knows of, YYYY-MM-DD (the archive's first records); default 2026-01-01. */
  readonly projectionStartDate?: string;
  /** Optional cost guard: a query scanning more than this many bytes is cancelled (minimum 10 MB). */
  readonly bytesScannedCutoffPerQuery?: number;
}

/** Athena's engine version 3 (Trino): the dialect the named queries are written in. */
export const ATHENA_ENGINE_VERSION = 'Athena engine version 3';
/** Query results live under this prefix of the results bucket. */
export const RESULTS_PREFIX = 'results/';

/**
 * Athena over the audit archive: a Glue table that reads the archive's NDJSON objects where they
 * lie (OpenX JSON SerDe; `input` declared a string, so the SerDe hands over the input object's JSON
 * text for json_extract_scalar), partition projection on `dt` (no crawler, no partition
 * maintenance), a workgroup on engine version 3 whose settings queries cannot override (results
 * encrypted with the platform key, in a bucket of their own that expires them), and the named
 * queries of functions/core/audit-named-queries.ts, saved with the SQL the local DuckDB runs.
 */
export class AuditAnalytics extends Construct {
  public readonly database: glue.CfnDatabase;
  public readonly databaseName: string;
  public readonly table: glue.CfnTable;
  public readonly tableName = AUDIT_TABLE;
  public readonly workGroup: athena.CfnWorkGroup;
  public readonly workGroupName: string;
  public readonly resultsBucket: s3.Bucket;
  /** By query name. */
  public readonly namedQueries: Readonly<Record<string, athena.CfnNamedQuery>>;
  private readonly archiveBucket: s3.IBucket;
  private readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: AuditAnalyticsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (!Number.isInteger(props.resultsRetentionDays) || props.resultsRetentionDays < 1) {
      throw new Error(`resultsRetentionDays must be a positive integer, got ${props.resultsRetentionDays}`);
    }
    const start = props.projectionStartDate ?? '2026-01-01';
    if (!/^\d{4}-\d{2}-\d{2}$/.test(start)) throw new Error(`projectionStartDate must be YYYY-MM-DD, got ${start}`);
    const cutoff = props.bytesScannedCutoffPerQuery;
    if (cutoff !== undefined && (!Number.isInteger(cutoff) || cutoff < 10_000_000)) {
      throw new Error(`bytesScannedCutoffPerQuery must be an integer of at least 10000000, got ${cutoff}`);
    }
    this.archiveBucket = props.archiveBucket;
    this.encryptionKey = props.encryptionKey;
    const base = stack.stackName;
    this.databaseName = props.databaseName ?? `${base.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_audit`;
    if (!/^[a-z0-9_]{1,255}$/.test(this.databaseName)) {
      throw new Error(`databaseName must be lower-case letters, digits and underscores, got ${this.databaseName}`);
    }
    this.workGroupName = props.workGroupName ?? `${base}-audit`;

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        name: this.databaseName,
        description: 'The write-once audit trail, for Athena (read-only).',
      },
    });

    const records = `s3://${props.archiveBucket.bucketName}/records/`;
    this.table = new glue.CfnTable(this, 'RecordsTable', {
      catalogId: stack.account,
      databaseName: this.databaseName,
      tableInput: {
        name: AUDIT_TABLE,
        description: 'One row per audit record: the NDJSON objects under records/dt=YYYY-MM-DD/, as archived.',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          EXTERNAL: 'TRUE',
          // Partition projection: Athena computes the dt partitions from the query's predicates.
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': `${start},NOW`,
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'storage.location.template': `${records}dt=\${dt}/`,
        },
        partitionKeys: [{ name: AUDIT_PARTITION.name, type: AUDIT_PARTITION.type, comment: AUDIT_PARTITION.comment }],
        storageDescriptor: {
          location: records,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          compressed: false,
          columns: AUDIT_COLUMNS.map((c) => ({ name: c.name, type: c.type, comment: c.comment })),
          serdeInfo: {
            // A string column holding a JSON object gets the object's JSON text.
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            parameters: { 'case.insensitive': 'TRUE', 'ignore.malformed.json': 'FALSE', 'dots.in.keys': 'FALSE' },
          },
        },
      },
    });
    this.table.addResourceDependency(this.database);

    this.resultsBucket = new s3.Bucket(this, 'Results', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      lifecycleRules: [
        {
          expiration: Duration.days(props.resultsRetentionDays),
          noncurrentVersionExpiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      ...(props.accessLogBucket
        ? { serverAccessLogsBucket: props.accessLogBucket, serverAccessLogsPrefix: 'athena-results/' }
        : {}),
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: this.workGroupName,
      description: 'Audit trail queries: engine v3, results encrypted with the platform key, settings enforced.',
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        engineVersion: { selectedEngineVersion: ATHENA_ENGINE_VERSION },
        publishCloudWatchMetricsEnabled: true,
        requesterPaysEnabled: false,
        ...(cutoff !== undefined ? { bytesScannedCutoffPerQuery: cutoff } : {}),
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/${RESULTS_PREFIX}`,
          expectedBucketOwner: stack.account,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: props.encryptionKey.keyArn },
        },
      },
    });

    const named: Record<string, athena.CfnNamedQuery> = {};
    for (const q of AUDIT_NAMED_QUERIES) {
      const order = q.parameterMarkers.join(', ');
      const query = new athena.CfnNamedQuery(this, `Query-${q.name}`, {
        name: q.name,
        database: this.databaseName,
        workGroup: this.workGroup.ref,
        description: `${q.description} Usage: ${namedQueryUsage(q)}; the ? parameterMarkers, in order: ${order}.`.slice(
          0,
          1024,
        ),
        queryString: q.sql,
      });
      query.addResourceDependency(this.table);
      named[q.name] = query;
    }
    this.namedQueries = named;

    if (!props.accessLogBucket) {
      for (const pack of [
        'AwsSolutions-S1',
        'NIST.800.53.R5-S3BucketLoggingEnabled',
        'PCI.DSS.321-S3BucketLoggingEnabled',
      ]) {
        Validations.of(this.resultsBucket).acknowledge({
          id: pack,
          reason:
            'Query results are derived copies of the archive, expired by lifecycle; every query is recorded by Athena and CloudTrail, so no access-log bucket was given.',
        });
      }
    }
    for (const pack of ['NIST.800.53.R5', 'PCI.DSS.321']) {
      Validations.of(this.resultsBucket).acknowledge({
        id: `${pack}-S3BucketReplicationEnabled`,
        reason:
          'Query results are reproducible from the write-once archive and expire after days: replicating them to another region adds cost without protecting any record.',
      });
    }
  }

  /** The workgroup's ARN. */
  get workGroupArn(): string {
    const stack = Stack.of(this);
    return stack.formatArn({ service: 'athena', resource: 'workgroup', resourceName: this.workGroupName });
  }

  /**
   * What an auditor needs to run the named queries (or any SELECT) in the workgroup: Athena on the
   * workgroup, the Glue table's metadata, read of the archive's records and checkpoints, the
   * results bucket, and the key (decrypt the archive, encrypt and decrypt results). Nothing that
   * writes the archive.
   */
  public grantQuery(grantee: iam.IGrantable & Construct): void {
    const stack = Stack.of(this);
    iam.Grant.addToPrincipal({
      grantee,
      actions: [
        'athena:StartQueryExecution',
        'athena:StopQueryExecution',
        'athena:GetQueryExecution',
        'athena:BatchGetQueryExecution',
        'athena:ListQueryExecutions',
        'athena:GetQueryResults',
        'athena:GetQueryResultsStream',
        'athena:GetQueryRuntimeStatistics',
        'athena:GetWorkGroup',
        'athena:GetNamedQuery',
        'athena:BatchGetNamedQuery',
        'athena:ListNamedQueries',
      ],
      resourceArns: [this.workGroupArn],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions'],
      resourceArns: [
        stack.formatArn({ service: 'glue', resource: 'catalog' }),
        stack.formatArn({ service: 'glue', resource: 'database', resourceName: this.databaseName }),
        stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${this.databaseName}/${AUDIT_TABLE}` }),
      ],
    });
    const readable = ['records/', 'checkpoints/'];
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: readable.map((p) => this.archiveBucket.arnForObjects(`${p}*`)),
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.archiveBucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': readable.map((p) => `${p}*`) } },
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetBucketLocation'],
      resourceArns: [this.archiveBucket.bucketArn, this.resultsBucket.bucketArn],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resourceArns: [this.resultsBucket.arnForObjects(`${RESULTS_PREFIX}*`)],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket', 's3:ListBucketMultipartUploads'],
      resourceArns: [this.resultsBucket.bucketArn],
    });
    this.encryptionKey.grant(grantee, 'kms:Decrypt', 'kms:GenerateDataKey');

    const archiveId = logicalIdOf(this.archiveBucket);
    const resultsId = logicalIdOf(this.resultsBucket);
    const acks: Array<[string, string]> = [
      ...readable.map((p): [string, string] => [
        `Resource::<${archiveId}.Arn>/${p}*`,
        `Read of the archive's ${p} objects: Athena reads every object of the partitions a query selects; no write, no delete.`,
      ]),
      [
        `Resource::<${resultsId}.Arn>/${RESULTS_PREFIX}*`,
        'Athena writes each query result under a new generated key of the results prefix, and the auditor reads it back.',
      ],
    ];
    for (const [resource, reason] of acks) {
      Validations.of(grantee).acknowledge({ id: `AwsSolutions-IAM5[${resource}]`, reason });
    }
  }
}

function logicalIdOf(bucket: s3.IBucket): string {
  const cfn = bucket.node.defaultChild;
  return cfn instanceof s3.CfnBucket ? Stack.of(bucket).getLogicalId(cfn) : bucket.node.id;
}
