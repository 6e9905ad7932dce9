import { createHash, X509Certificate } from 'node:crypto';
import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';

/** Where the bundles live in the bucket; each bundle's key also names its content. */
export const TRUSTSTORE_PREFIX = 'truststore/';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]+?\r?\n-----END CERTIFICATE-----/g;

/**
 * Checks a truststore bundle and returns its certificates' subjects: one or more PEM CA
 * certificates, none expired, and nothing else (a private key in the bundle would be published to
 * the bucket). API Gateway only warns about a bad certificate and goes on; here synth fails.
 */
export function checkTruststorePem(pem: string, what: string, now: Date = new Date()): string[] {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new Error(`${what} holds a private key: a truststore is CA certificates only`);
  }
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error(`${what} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  const rest = pem.replace(PEM_CERTIFICATE, '').trim();
  if (rest.length > 0) throw new Error(`${what} holds something other than PEM certificates`);
  return blocks.map((block, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      throw new Error(`${what}: certificate ${i + 1} does not parse (${(err as Error).message})`);
    }
    if (!cert.ca) throw new Error(`${what}: ${cert.subject} is not a CA certificate (basicConstraints CA:TRUE)`);
    if (new Date(cert.validTo).getTime() <= now.getTime()) {
      throw new Error(`${what}: ${cert.subject} expired on ${cert.validTo}`);
    }
    return cert.subject;
  });
}

/** `truststore/<first 16 hex digits of the bundle's SHA-256>.pem`. */
export function truststoreKey(pem: string): string {
  return `${TRUSTSTORE_PREFIX}${createHash('sha256').update(pem).digest('hex').slice(0, 16)}.pem`;
}

export interface MtlsTruststoreProps {
  /** PEM bundle of the CA certificates that issue the firm's client certificates. */
  readonly pem: string;
  /** Names the bundle in error messages (the file it came from). */
  readonly source: string;
  readonly accessLogBucket: s3.IBucket;
  /** Encrypts the upload function's log group. */
  readonly logKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The mTLS truststore: a versioned, private bucket holding the CA bundle under a key derived from
 * its content, uploaded at deploy time. A new bundle is a new key, so the custom domain's
 * truststore URI changes and CloudFormation updates the domain (API Gateway reads a truststore
 * only when the domain is created or updated).
 *
 * SSE-S3, not the platform KMS key: the bundle is public CA certificates, and API Gateway reads
 * the object with the deploying principal's S3 access; its mTLS documentation asks for S3 access
 * only, so no KMS key permission is put in that path.
 */
export class MtlsTruststore extends Construct {
  public readonly bucket: s3.Bucket;
  /** Object key of this bundle. */
  public readonly key: string;
  public readonly deployment: s3deploy.BucketDeployment;
  /** Subjects of the bundle's CA certificates, in order. */
  public readonly subjects: readonly string[];

  constructor(scope: Construct, id: string, props: MtlsTruststoreProps) {
    super(scope, id);
    this.subjects = checkTruststorePem(props.pem, props.source);
    this.key = truststoreKey(props.pem);

    this.bucket = new s3.Bucket(this, 'Bucket', {
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: 'mtls-truststore/',
      // The domain may still point at a bundle; a deleted stack must not take it away.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // The upload function's own role and log group: no AWS managed policy, logs encrypted.
    const role = new iam.Role(this, 'UploadRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Uploads the mTLS truststore bundle (CDK BucketDeployment)',
    });
    const logGroup = new logs.LogGroup(this, 'UploadLogs', {
      retention: props.logRetention,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    logGroup.grantWrite(role);

    this.deployment = new s3deploy.BucketDeployment(this, 'Upload', {
      sources: [s3deploy.Source.data(this.key, props.pem)],
      destinationBucket: this.bucket,
      // Earlier bundles stay: the domain is updated after this upload, and rolls back to them.
      prune: false,
      retainOnDelete: true,
      role,
      logGroup,
      memoryLimit: 256,
    });

    // The bundle decides who may connect at all: only the upload function writes it, and no one
    // deletes a version (the domain names the key, and the versions are the bundle's history).
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheUploadWritesTheTruststore',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        // Replication writes versions without PutObject.
        actions: ['s3:PutObject', 's3:ReplicateObject', 's3:ReplicateDelete', 's3:ReplicateTags'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': role.roleArn } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'NoTruststoreDeletes',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );

    // Versions also go by lifecycle expiry and come by replication, and versioning could be
    // suspended: the bucket's configuration is frozen (change this policy first to change it).
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'TruststoreConfigurationFrozen',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutLifecycleConfiguration', 's3:PutReplicationConfiguration', 's3:PutBucketVersioning'],
        resources: [this.bucket.bucketArn],
      }),
    );

    this.acknowledgeFindings(role);
  }

  /** `s3://<bucket>/<key>`, as the domain's MutualTlsAuthentication carries it. */
  public get uri(): string {
    return `s3://${this.bucket.bucketName}/${this.key}`;
  }

  private acknowledgeFindings(role: iam.Role): void {
    for (const pack of ['NIST.800.53.R5', 'PCI.DSS.321']) {
      Validations.of(this.bucket).acknowledge({
        id: `${pack}-S3DefaultEncryptionKMS`,
        reason:
          'Public CA certificates only; SSE-S3 so API Gateway reads the truststore with S3 access alone, as its mTLS documentation requires, with no KMS key in that path.',
      });
      Validations.of(this.bucket).acknowledge({
        id: `${pack}-S3BucketReplicationEnabled`,
        reason:
          'The bundle is rebuilt from the file the deployment names at every deploy; a cross-region copy adds nothing the source file does not already hold.',
      });
      Validations.of(role).acknowledge({
        id: `${pack}-IAMNoInlinePolicy`,
        reason:
          "The policy belongs to the truststore upload function's own role and to no other: an inline policy keeps that one-to-one relationship and is deleted with the role.",
      });
    }

    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    const upload = Validations.of(role);
    // BucketDeployment grants itself read and write on the destination and read on the CDK asset
    // bucket, with CDK's wildcard action families: object keys are content hashes, unknown here.
    const wildcardActions: Record<string, string> = {
      'Action::s3:GetObject*':
        'reads the staged asset and the destination objects it compares (GetObject, versions, tags)',
      'Action::s3:GetBucket*': 'reads the location and settings of the asset and destination buckets it copies between',
      'Action::s3:List*': 'lists the staged asset and the truststore objects under the destination prefix it syncs',
      'Action::s3:DeleteObject*':
        'would prune superseded objects; pruning is off here, CDK grants the family regardless',
      'Action::s3:Abort*': 'aborts a multipart upload it started if the copy to the truststore bucket fails midway',
    };
    for (const [finding, why] of Object.entries(wildcardActions)) {
      upload.acknowledge({
        id: `AwsSolutions-IAM5[${finding}]`,
        reason: `Truststore upload (CDK BucketDeployment) ${why}.`,
      });
    }
    upload.acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
      reason: 'Objects of the truststore bucket only: the upload writes the bundle under its content-hash key.',
    });
    upload.acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
      reason: "The CDK bootstrap asset bucket of this account and region, where cdk deploy staged the bundle's zip.",
    });

    const handler = Validations.of(this.uploadFunction());
    handler.acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        "CDK's BucketDeployment handler: its Python runtime is chosen by the aws-cdk-lib release, and moves with aws-cdk-lib upgrades.",
    });
    handler.acknowledge({
      id: 'NIST.800.53.R5-LambdaDLQ',
      reason:
        'Invoked synchronously by CloudFormation as a custom resource; a failure fails the deployment and rolls it back, so there is no event to keep.',
    });
    handler.acknowledge({
      id: 'NIST.800.53.R5-LambdaConcurrency',
      reason:
        'Runs once per deployment that changes the bundle, serially under CloudFormation; reserving concurrency for it would only take from the account pool.',
    });
    for (const pack of ['NIST.800.53.R5', 'PCI.DSS.321']) {
      handler.acknowledge({
        id: `${pack}-LambdaInsideVPC`,
        reason:
          'Copies one object between two S3 buckets over TLS with IAM-signed requests; there is no private network resource for it to reach.',
      });
    }
  }

  /** BucketDeployment's handler: a singleton function it adds to the stack, not to itself. */
  private uploadFunction(): lambda.Function {
    const fn = Stack.of(this).node.children.find(
      (c): c is lambda.Function => c instanceof lambda.Function && c.node.id.startsWith('Custom::CDKBucketDeployment'),
    );
    if (!fn) throw new Error('BucketDeployment added no Custom::CDKBucketDeployment function to the stack');
    return fn;
  }
}
