// The write-once audit archive on its own, in a bare stack: Object Lock in COMPLIANCE mode with the
// configured default retention (7 years by default), versioning, KMS encryption, a bucket policy
// that refuses any PutObject without If-None-Match and any request without TLS, the agents' grant,
// and cdk-nag with no finding left unacknowledged and no acknowledgment without a finding.
import { App, type IPolicyValidationPlugin, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { NagPack } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { compliancePacks } from '../../lib/compliance-packs.js';
import { ARCHIVE_PREFIXES, AuditArchive } from '../../lib/constructs/audit-archive.js';
import { DEFAULT_AUDIT_RETENTION_DAYS } from '../../lib/platform-app.js';
import { cdkJsonContext } from './synth-platform.js';

interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Principal?: unknown;
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

function probe(
  retentionDays = DEFAULT_AUDIT_RETENTION_DAYS,
  withAgent = false,
): { app: App; stack: Stack; template: Template; archive: AuditArchive } {
  // The app's feature flags, as `cdk synth` runs with them (cdk.json).
  const app = new App({ context: cdkJsonContext() });
  const stack = new Stack(app, 'Probe');
  const key = new kms.Key(stack, 'PlatformKey', { enableKeyRotation: true });
  const archive = new AuditArchive(stack, 'AuditArchive', { encryptionKey: key, retentionDays });
  if (withAgent) {
    const role = new iam.Role(stack, 'Agent', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    archive.grantArchiveAccess(role);
    for (const pack of ['NIST.800.53.R5', 'PCI.DSS.321']) {
      Validations.of(role).acknowledge({
        id: `${pack}-IAMNoInlinePolicy`,
        reason: 'Probe role of this test: its inline policy only shows what the construct under test grants.',
      });
    }
  }
  app.synth();
  return { app, stack, template: Template.fromStack(stack), archive };
}

function archiveBucket(template: Template): { id: string; props: Record<string, unknown> } {
  const buckets = template.findResources('AWS::S3::Bucket', {
    Properties: { ObjectLockEnabled: true },
  });
  const entries = Object.entries(buckets);
  expect(entries).toHaveLength(1);
  const [id, resource] = entries[0] as [string, { Properties: Record<string, unknown> }];
  return { id, props: resource.Properties };
}

function bucketPolicyStatements(template: Template, bucketId: string): Statement[] {
  const policies = Object.values(template.findResources('AWS::S3::BucketPolicy')) as {
    Properties: { Bucket: unknown; PolicyDocument: { Statement: Statement[] } };
  }[];
  const mine = policies.filter((p) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucketId }));
  expect(mine).toHaveLength(1);
  return (mine[0] as (typeof mine)[number]).Properties.PolicyDocument.Statement;
}

describe('AuditArchive', () => {
  it('defaults to seven years of retention (the platform default, 2557 days: 7 × 365 plus two leap days)', () => {
    expect(DEFAULT_AUDIT_RETENTION_DAYS).toBe(2557);
  });

  it('locks every object in COMPLIANCE mode for the default retention, with versioning', () => {
    const { template } = probe();
    const { props } = archiveBucket(template);
    expect(props.ObjectLockEnabled).toBe(true);
    expect(props.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: DEFAULT_AUDIT_RETENTION_DAYS } },
    });
    expect(props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  it('takes another retention (days), and refuses one S3 would not accept', () => {
    const { props } = archiveBucket(probe(3650).template);
    expect(props.ObjectLockConfiguration).toMatchObject({
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 3650 } },
    });
    expect(probe(1).archive.retentionDays).toBe(1);
    for (const bad of [0, -1, 1.5, 36_501, Number.NaN]) {
      const stack = new Stack(new App({ context: cdkJsonContext() }), 'Bad');
      expect(
        () => new AuditArchive(stack, 'A', { encryptionKey: new kms.Key(stack, 'K'), retentionDays: bad }),
      ).toThrow(/auditRetentionDays must be an integer from 1 to 36500/);
    }
  });

  it('encrypts with the platform KMS key (bucket key on), blocks public access, is retained', () => {
    const { template } = probe();
    const { id, props } = archiveBucket(template);
    const [keyId] = Object.keys(template.findResources('AWS::KMS::Key'));
    expect(props.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          BucketKeyEnabled: true,
          ServerSideEncryptionByDefault: {
            SSEAlgorithm: 'aws:kms',
            KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
          },
        },
      ],
    });
    expect(props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({ ObjectLockEnabled: true }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    expect(id).toMatch(/^AuditArchiveBucket/);
  });

  it('refuses any PutObject without If-None-Match (no overwrite, no new version of a key)', () => {
    const { template } = probe();
    const { id } = archiveBucket(template);
    const statements = bucketPolicyStatements(template, id);
    const deny = statements.find((s) => s.Sid === 'DenyPutWithoutIfNoneMatch');
    expect(deny).toBeDefined();
    expect(deny?.Effect).toBe('Deny');
    expect(list(deny?.Action)).toEqual(['s3:PutObject']);
    expect(deny?.Principal).toEqual({ AWS: '*' });
    expect(deny?.Condition).toEqual({ Null: { 's3:if-none-match': 'true' } });
    expect(deny?.Resource).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, '/*']] });
  });

  it('refuses every delete: no delete marker can make a key look absent and be written again', () => {
    const { template } = probe();
    const { id } = archiveBucket(template);
    const deny = bucketPolicyStatements(template, id).find((s) => s.Sid === 'DenyDelete');
    expect(deny?.Effect).toBe('Deny');
    expect(list(deny?.Action).sort()).toEqual(['s3:DeleteObject', 's3:DeleteObjectVersion']);
    expect(deny?.Principal).toEqual({ AWS: '*' });
    expect(deny?.Condition).toBeUndefined();
    // Lifecycle expiration is not subject to the bucket policy: the archive must have none, or an
    // expired key could take a delete marker and be written again.
    const bucket = template.toJSON().Resources[id] as { Properties: { LifecycleConfiguration?: unknown } };
    expect(bucket.Properties.LifecycleConfiguration).toBeUndefined();
  });

  it('refuses every request without TLS, and below TLS 1.2', () => {
    const { template } = probe();
    const { id } = archiveBucket(template);
    const statements = bucketPolicyStatements(template, id);
    const bucketAndObjects = [
      { 'Fn::GetAtt': [id, 'Arn'] },
      { 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, '/*']] },
    ];

    const noTls = statements.find((s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false');
    expect(noTls).toBeDefined();
    expect(list(noTls?.Action)).toEqual(['s3:*']);
    expect(noTls?.Principal).toEqual({ AWS: '*' });
    expect(noTls?.Condition).toEqual({ Bool: { 'aws:SecureTransport': 'false' } });
    expect(noTls?.Resource).toEqual(bucketAndObjects);

    const oldTls = statements.find((s) => s.Effect === 'Deny' && s.Condition?.NumericLessThan);
    expect(oldTls?.Condition).toEqual({ NumericLessThan: { 's3:TlsVersion': 1.2 } });
    expect(list(oldTls?.Action)).toEqual(['s3:*']);
    expect(oldTls?.Resource).toEqual(bucketAndObjects);

    // Nothing in the policy allows anything to anyone.
    expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([]);
  });

  it('logs access to its own SSE-S3 bucket, kept as long as the records', () => {
    const { template } = probe();
    const { props } = archiveBucket(template);
    expect(props.LoggingConfiguration).toMatchObject({ LogFilePrefix: 'audit-archive/' });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: DEFAULT_AUDIT_RETENTION_DAYS })]),
      },
    });
  });

  it('grants agents write-once put, get and list on records/ and checkpoints/, and never delete', () => {
    const { template } = probe(DEFAULT_AUDIT_RETENTION_DAYS, true);
    const { id } = archiveBucket(template);
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
    );
    const s3Actions = statements.flatMap((s) => list(s.Action)).filter((a) => a.startsWith('s3:'));
    expect(new Set(s3Actions)).toEqual(
      new Set(['s3:PutObject', 's3:PutObjectRetention', 's3:GetObject', 's3:ListBucket']),
    );
    expect(
      s3Actions.some((a) => /Delete|LegalHold|BypassGovernance|PutObjectLockConfiguration|PutBucketPolicy/.test(a)),
    ).toBe(false);
    const objects = statements.find((s) => list(s.Action).includes('s3:PutObject'));
    expect(list(objects?.Resource)).toHaveLength(ARCHIVE_PREFIXES.length);
    expect(list(objects?.Resource)).toEqual(
      expect.arrayContaining(
        ARCHIVE_PREFIXES.map((prefix) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, `/${prefix}*`]] })),
      ),
    );
    // A writer lists checkpoints/ only (the latest checkpoint); records/ is listed for proofs alone.
    const listing = statements.find((s) => list(s.Action).includes('s3:ListBucket'));
    expect(listing?.Condition).toEqual({ StringLike: { 's3:prefix': ['checkpoints/*'] } });
    // The key only as S3 uses it for these objects, not for direct Decrypt calls.
    const key = statements.find((s) => list(s.Action).includes('kms:GenerateDataKey'));
    expect(new Set(list(key?.Action))).toEqual(new Set(['kms:GenerateDataKey', 'kms:Decrypt']));
    expect(JSON.stringify(key?.Condition)).toMatch(/"kms:ViaService":\{"Fn::Join":\["",\["s3\."/);
  });

  it('passes AwsSolutions, NIST 800-53 R5 and PCI DSS 3.2.1, every acknowledgment answering a finding', () => {
    const { app, stack } = probe(DEFAULT_AUDIT_RETENTION_DAYS, true);
    const findings = compliancePacks(app).flatMap((pack: IPolicyValidationPlugin) =>
      (pack as NagPack)
        .validateScope(stack)
        .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`)),
    );
    expect(findings).toEqual([]);

    // The same stack with acknowledging switched off: every acknowledgment must have had a finding.
    const acknowledge = Validations.prototype.acknowledge;
    Validations.prototype.acknowledge = () => {};
    let raw: { rule: string; path: string }[];
    try {
      const bare = probe(DEFAULT_AUDIT_RETENTION_DAYS, true);
      raw = compliancePacks(bare.app).flatMap((pack) =>
        (pack as NagPack)
          .validateScope(bare.stack)
          .violations.flatMap((v) =>
            v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })),
          ),
      );
    } finally {
      Validations.prototype.acknowledge = acknowledge;
    }
    const stale: string[] = [];
    const acked: string[] = [];
    for (const node of app.node.findAll() as IConstruct[]) {
      for (const m of node.node.metadata.filter((e) => e.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)) {
        for (const [rule, reason] of Object.entries(m.data as Record<string, string>)) {
          const id = rule.replace(/^annotation::/i, '');
          const path = node.node.path;
          acked.push(`${id} ${path}`);
          expect(reason.length, `${path} ${id}`).toBeGreaterThanOrEqual(60);
          if (!raw.some((f) => f.rule === id && (f.path === path || f.path.startsWith(`${path}/`)))) {
            stale.push(`${id} ${path}`);
          }
        }
      }
    }
    expect(acked.length).toBeGreaterThan(0);
    expect(stale).toEqual([]);
  });
});
