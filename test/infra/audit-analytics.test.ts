// The Athena side of the audit trail (lib/constructs/audit-analytics.ts) in a bare stack: the Glue
// table over the archive with partition projection, the enforced and encrypted workgroup, one named
// query per named query with the very SQL the local DuckDB runs, the auditor's grants, and cdk-nag.
import { App, type IPolicyValidationPlugin, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { NagPack } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_COLUMNS, AUDIT_NAMED_QUERIES } from '../../functions/core/audit-named-queries.js';
import { compliancePacks } from '../../lib/compliance-packs.js';
import {
  ATHENA_ENGINE_VERSION,
  AuditAnalytics,
  type AuditAnalyticsProps,
} from '../../lib/constructs/audit-analytics.js';

interface Built {
  app: App;
  stack: Stack;
  analytics: AuditAnalytics;
  auditor: iam.Role;
  template: Template;
}

function build(over: Partial<AuditAnalyticsProps> = {}, withLogs = true): Built {
  const app = new App();
  const stack = new Stack(app, 'AuditAnalyticsTest', { env: { account: '123456789012', region: 'us-east-1' } });
  const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
  const logs = new s3.Bucket(stack, 'Logs', {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    versioned: true,
  });
  const archive = new s3.Bucket(stack, 'Archive', {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: key,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    versioned: true,
    serverAccessLogsBucket: logs,
  });
  const analytics = new AuditAnalytics(stack, 'AuditAnalytics', {
    archiveBucket: archive,
    encryptionKey: key,
    resultsRetentionDays: 30,
    ...(withLogs ? { accessLogBucket: logs } : {}),
    ...over,
  });
  const auditor = new iam.Role(stack, 'Auditor', { assumedBy: new iam.AccountRootPrincipal() });
  analytics.grantQuery(auditor);
  // The grantee's own concern (as agent-function.ts does for the agents' roles): its grants are
  // an inline default policy.
  for (const pack of ['NIST.800.53.R5', 'PCI.DSS.321']) {
    Validations.of(auditor).acknowledge({
      id: `${pack}-IAMNoInlinePolicy`,
      reason: 'The test auditor role holds only the grants AuditAnalytics.grantQuery adds, in its default policy.',
    });
  }
  app.synth();
  return { app, stack, analytics, auditor, template: Template.fromStack(stack) };
}

/** Every statement of the role's policies, flattened. */
function statements(template: Template): Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown }> {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (p) => (p as { Properties: { PolicyDocument: { Statement: never[] } } }).Properties.PolicyDocument.Statement,
  );
}

const actionsOf = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('AuditAnalytics', () => {
  let built: Built;
  beforeAll(() => {
    built = build();
  });

  it('declares the Glue table over records/ with the OpenX SerDe and the archive columns', () => {
    const { template, stack, analytics } = built;
    template.resourceCountIs('AWS::Glue::Database', 1);
    template.hasResourceProperties('AWS::Glue::Database', {
      DatabaseInput: { Name: analytics.databaseName },
    });
    expect(analytics.databaseName).toBe('auditanalyticstest_audit');
    const tables = template.findResources('AWS::Glue::Table');
    expect(Object.keys(tables)).toHaveLength(1);
    const input = (Object.values(tables)[0] as { Properties: { TableInput: Record<string, unknown> } }).Properties
      .TableInput as {
      Name: string;
      TableType: string;
      Parameters: Record<string, unknown>;
      PartitionKeys: Array<{ Name: string; Type: string }>;
      StorageDescriptor: {
        Location: unknown;
        Columns: Array<{ Name: string; Type: string }>;
        SerdeInfo: { SerializationLibrary: string };
      };
    };
    expect(input.Name).toBe('audit_records');
    expect(input.TableType).toBe('EXTERNAL_TABLE');
    expect(input.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.openx.data.jsonserde.JsonSerDe');
    expect(input.StorageDescriptor.Columns.map((c) => [c.Name, c.Type])).toEqual(
      AUDIT_COLUMNS.map((c) => [c.name, c.type]),
    );
    expect(input.StorageDescriptor.Columns.find((c) => c.Name === 'input')?.Type).toBe('string');
    expect(input.PartitionKeys).toEqual([expect.objectContaining({ Name: 'dt', Type: 'string' })]);
    const resolve = (v: unknown) => JSON.stringify(stack.resolve(v));
    expect(resolve(input.StorageDescriptor.Location)).toMatch(/"s3:\/\/",\{"Ref":"Archive[0-9A-F]+"\},"\/records\/"/);
    expect(input.Parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': '2026-01-01,NOW',
      'projection.dt.interval': '1',
      'projection.dt.interval.unit': 'DAYS',
    });
    expect(resolve(input.Parameters['storage.location.template'])).toMatch(
      /"s3:\/\/",\{"Ref":"Archive[0-9A-F]+"\},"\/records\/dt=\$\{dt\}\/"/,
    );
  });

  it('enforces the workgroup: engine v3, SSE_KMS results with the key in their own bucket, metrics on', () => {
    const { template } = built;
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'AuditAnalyticsTest-audit',
      State: 'ENABLED',
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        PublishCloudWatchMetricsEnabled: true,
        EngineVersion: { SelectedEngineVersion: ATHENA_ENGINE_VERSION },
        ResultConfiguration: {
          OutputLocation: {
            'Fn::Join': ['', ['s3://', { Ref: Match.stringLikeRegexp('^AuditAnalyticsResults') }, '/results/']],
          },
          EncryptionConfiguration: {
            EncryptionOption: 'SSE_KMS',
            KmsKey: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
          },
        },
      },
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
            },
          },
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 30, Status: 'Enabled' })]),
      },
      LoggingConfiguration: { LogFilePrefix: 'athena-results/' },
    });
    // TLS only.
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^AuditAnalyticsResults') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('saves one named query per named query, with the identical SQL, in the workgroup and database', () => {
    const { template, analytics } = built;
    const queries = Object.values(template.findResources('AWS::Athena::NamedQuery')).map(
      (r) => (r as { Properties: Record<string, unknown> }).Properties,
    );
    expect(queries).toHaveLength(AUDIT_NAMED_QUERIES.length);
    for (const q of AUDIT_NAMED_QUERIES) {
      const saved = queries.find((p) => p.Name === q.name);
      expect(saved, q.name).toBeDefined();
      expect(saved?.QueryString).toBe(q.sql);
      expect(saved?.Database).toBe(analytics.databaseName);
      expect(saved?.WorkGroup).toEqual({ Ref: expect.stringMatching(/^AuditAnalyticsWorkGroup/) });
      expect(String(saved?.Description)).toContain(q.parameterMarkers.join(', '));
    }
    expect(Object.keys(analytics.namedQueries).sort()).toEqual(AUDIT_NAMED_QUERIES.map((q) => q.name).sort());
  });

  it('grants an auditor Athena in the workgroup, the table, read of records/ and checkpoints/, results, the key', () => {
    const all = statements(built.template);
    const find = (action: string) => all.filter((s) => actionsOf(s).includes(action));
    const json = (v: unknown) => JSON.stringify(v);
    expect(json(find('athena:StartQueryExecution')[0]?.Resource)).toContain('workgroup/AuditAnalyticsTest-audit');
    expect(json(find('athena:GetQueryResults')[0]?.Resource)).toContain('workgroup/AuditAnalyticsTest-audit');
    const glueRes = json(find('glue:GetTable')[0]?.Resource);
    expect(glueRes).toContain(':catalog');
    expect(glueRes).toContain('database/auditanalyticstest_audit');
    expect(glueRes).toContain('table/auditanalyticstest_audit/audit_records');
    const reads = find('s3:GetObject').map((s) => json(s.Resource));
    expect(reads.some((r) => r.includes('/records/*') && r.includes('Archive'))).toBe(true);
    expect(reads.some((r) => r.includes('/checkpoints/*') && r.includes('Archive'))).toBe(true);
    expect(reads.some((r) => r.includes('/results/*') && r.includes('AuditAnalyticsResults'))).toBe(true);
    const puts = find('s3:PutObject').map((s) => json(s.Resource));
    expect(puts).toHaveLength(1);
    expect(puts[0]).toContain('AuditAnalyticsResults');
    expect(puts[0]).not.toContain('Archive');
    const list = find('s3:ListBucket').find((s) => json(s.Resource).includes('Archive'));
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': ['records/*', 'checkpoints/*'] } });
    expect(find('kms:Decrypt').length).toBeGreaterThan(0);
    expect(find('kms:GenerateDataKey').length).toBeGreaterThan(0);
    // Nothing that changes or removes archive objects.
    for (const s of all) {
      for (const a of actionsOf(s)) expect(a).not.toMatch(/^s3:(Delete|PutObjectRetention|PutObjectLegalHold|\*)/);
    }
  });

  it('validates its props', () => {
    expect(() => build({ resultsRetentionDays: 0 })).toThrow(/resultsRetentionDays/);
    expect(() => build({ projectionStartDate: '2026/01/01' })).toThrow(/projectionStartDate/);
    expect(() => build({ databaseName: 'Audit-DB' })).toThrow(/databaseName/);
    expect(() => build({ bytesScannedCutoffPerQuery: 5 })).toThrow(/bytesScannedCutoffPerQuery/);
  });
});

/** Findings of the platform's cdk-nag packs on the construct's and the auditor's resources. */
function nagFindings(b: Built): string[] {
  return compliancePacks(b.app).flatMap((pack: IPolicyValidationPlugin) =>
    (pack as NagPack)
      .validateScope(b.stack)
      .violations.flatMap((v) =>
        v.violatingResources
          .filter((r) => /\/(AuditAnalytics|Auditor)\//.test(r.constructPath ?? ''))
          .map((r) => `${v.ruleName} ${r.constructPath}`),
      ),
  );
}

/** The same findings with every acknowledgment left out: what each acknowledgment must answer for. */
function rawFindings(over: Partial<AuditAnalyticsProps> = {}, withLogs = true): Array<{ rule: string; path: string }> {
  const acknowledge = Validations.prototype.acknowledge;
  Validations.prototype.acknowledge = () => {};
  try {
    const b = build(over, withLogs);
    return compliancePacks(b.app).flatMap((pack) =>
      (pack as NagPack)
        .validateScope(b.stack)
        .violations.flatMap((v) =>
          v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })),
        ),
    );
  } finally {
    Validations.prototype.acknowledge = acknowledge;
  }
}

function acknowledgments(root: IConstruct): Array<{ path: string; rules: Record<string, string> }> {
  return root.node
    .findAll()
    .flatMap((node) =>
      node.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .map((m) => ({ path: node.node.path, rules: m.data as Record<string, string> })),
    );
}

describe('AuditAnalytics under cdk-nag (AwsSolutions, NIST 800-53 R5, PCI DSS 3.2.1)', () => {
  it.each([
    ['with', true],
    ['without', false],
  ])('acknowledges, %s an access-log bucket, only findings that exist, per resource, with a reason', (_w, logs) => {
    const b = build({}, logs);
    const raw = rawFindings({}, logs);
    const stale: string[] = [];
    // Ours: on the construct and on the grantee (the test's own buckets carry CDK's).
    const acks = acknowledgments(b.app).filter((a) => /\/(AuditAnalytics|Auditor)(\/|$)/.test(a.path));
    expect(acks.length).toBeGreaterThan(0);
    for (const { path, rules } of acks) {
      expect(path).not.toBe('AuditAnalyticsTest');
      for (const [rule, reason] of Object.entries(rules)) {
        expect(reason.length, `${path} ${rule}`).toBeGreaterThanOrEqual(60);
        const id = rule.replace(/^annotation::/i, '');
        if (!raw.some((f) => f.rule === id && (f.path === path || f.path.startsWith(`${path}/`)))) {
          stale.push(`${id} ${path}`);
        }
      }
    }
    expect(stale).toEqual([]);
  });

  it('has no unacknowledged finding, with the access-log bucket given', () => {
    expect(nagFindings(build())).toEqual([]);
  });

  it('has no unacknowledged finding without one (the logging findings are acknowledged on the bucket)', () => {
    expect(nagFindings(build({}, false))).toEqual([]);
  });
});
