import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Key prefixes the agents may touch (docs/contracts.md, audit archive layout). */
export const ARCHIVE_PREFIXES = ['records/', 'checkpoints/'] as const;

export interface AuditArchiveProps {
  readonly encryptionKey: kms.IKey;
  /** Object Lock default retention (COMPLIANCE mode), in days. */
  readonly retentionDays: number;
}

/**
 * The write-once audit archive: S3 Object Lock in COMPLIANCE mode with a default retention, so no
 * one (root included) can delete or shorten a record before it expires, and a bucket policy that
 * refuses any PutObject without `If-None-Match`, so no key is ever overwritten either.
 */
export class AuditArchive extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly accessLogBucket: s3.Bucket;
  public readonly retentionDays: number;

  constructor(scope: Construct, id: string, props: AuditArchiveProps) {
    super(scope, id);
    if (!Number.isInteger(props.retentionDays) || props.retentionDays < 1 || props.retentionDays > 36_500) {
      // S3 accepts 1..36500 days for a default retention.
      throw new Error(`auditRetentionDays must be an integer from 1 to 36500, got ${props.retentionDays}`);
    }
    this.retentionDays = props.retentionDays;

    // Server access logs need SSE-S3 on the target and no Object Lock default retention, so they
    // get their own bucket; its lifecycle keeps them as long as the records they describe.
    this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      lifecycleRules: [
        { expiration: Duration.days(props.retentionDays), noncurrentVersionExpiration: Duration.days(30) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      objectLockEnabled: true,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(Duration.days(props.retentionDays)),
      versioned: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'audit-archive/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Object Lock stops deletes and retention changes, not a new version under the same key. This
    // makes every write a create: without `If-None-Match: *` S3 refuses it.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyPutWithoutIfNoneMatch',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { Null: { 's3:if-none-match': 'true' } },
      }),
    );

    // Under Object Lock a DeleteObject without a version id still succeeds: it adds a delete
    // marker, after which the key reads as absent and an If-None-Match put would succeed, giving the
    // key a second current version. The locked versions stay, but nothing here ever deletes: deny it.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyDelete',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );

    this.acknowledgeFindings();
  }

  /**
   * What an agent appending to the audit log needs: write-once put and get of records/ and
   * checkpoints/ objects, a listing of checkpoints/ (the latest checkpoint), and the platform key
   * only as S3 uses it for them. `listRecords`: also list records/ (the compliance agent's proofs).
   */
  public grantArchiveAccess(grantee: iam.IGrantable & Construct, options: { listRecords?: boolean } = {}): void {
    const objects = ARCHIVE_PREFIXES.map((prefix) => this.bucket.arnForObjects(`${prefix}*`));
    iam.Grant.addToPrincipal({
      grantee,
      // PutObjectRetention: a writer may state the retain-until date explicitly (COMPLIANCE mode
      // only lets it lengthen). No delete, no legal-hold or lock-configuration change.
      actions: ['s3:PutObject', 's3:PutObjectRetention', 's3:GetObject'],
      resourceArns: objects,
    });
    const listed = options.listRecords ? ARCHIVE_PREFIXES : (['checkpoints/'] as const);
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': listed.map((prefix) => `${prefix}*`) } },
    });
    const key = this.bucket.encryptionKey;
    if (key) {
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resourceArns: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
      });
    }
    const logicalId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    for (const prefix of ARCHIVE_PREFIXES) {
      Validations.of(grantee).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${prefix}*]`,
        reason: `Audit objects under ${prefix} (docs/contracts.md archive layout); keys are sequence-numbered and written once.`,
      });
    }
  }

  private acknowledgeFindings(): void {
    // The access-log bucket needs no logging finding acknowledged: cdk-nag exempts log targets.
    const logs = Validations.of(this.accessLogBucket);
    for (const pack of ['NIST.800.53.R5', 'PCI.DSS.321']) {
      logs.acknowledge({
        id: `${pack}-S3DefaultEncryptionKMS`,
        reason: 'S3 server access log delivery supports only SSE-S3 on the target bucket.',
      });
      logs.acknowledge({
        id: `${pack}-S3BucketReplicationEnabled`,
        reason: 'Access logs stay in the region of the archive they describe; cross-region copies are a DR decision.',
      });
      Validations.of(this.bucket).acknowledge({
        id: `${pack}-S3BucketReplicationEnabled`,
        reason:
          'Durability comes from S3 and Object Lock COMPLIANCE retention; cross-region replication (a second locked bucket) is a DR decision outside this stack.',
      });
    }
  }
}
