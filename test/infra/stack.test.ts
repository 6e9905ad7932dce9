// The synthesized platform against docs/contracts.md and the design: functions, state machine,
// API, tables, audit archive, the bundles, and the mTLS door. The access matrix is
// iam-least-privilege.test.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DISAGREEMENT_LOG_MESSAGE } from '../../functions/core/policy-engine.js';
import { AGENT_NAMES, type AgentName, policyEngineFiles } from '../../lib/constructs/agent-function.js';
import { truststoreKey } from '../../lib/constructs/mtls-truststore.js';
import { ORDER_API_ROUTES } from '../../lib/constructs/order-api.js';
import { approvalTimeoutSeconds } from '../../lib/constructs/order-lifecycle.js';
import { ORDER_LIFECYCLE_ASL, PROJECT_ROOT } from '../../lib/project-paths.js';
import {
  createPlatformApp,
  type Synthesized,
  synthesizePlatform,
  TEST_TRUSTSTORE_FILE,
  trapDocker,
} from './synth-platform.js';

interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}
interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
  Sid?: string;
}

const PLACEHOLDERS = [
  'RiskFunctionArn',
  'ApprovalFunctionArn',
  'ExecutionFunctionArn',
  'PositionFunctionArn',
  'ComplianceFunctionArn',
] as const;

const COMMON_ENV = [
  'AGENT_NAME',
  'AGENT_IDENTITY',
  'AUDIT_TABLE',
  'AUDIT_BUCKET',
  'AUDIT_RETENTION_DAYS',
  'AUDIT_SIGNING_KEY_ARN',
  'AUDIT_LOG_ORIGIN',
  'POLICY_EVALUATOR',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_LOG_LEVEL',
];
/** docs/contracts.md, plus what functions/config.ts and functions/wiring.ts also need at start-up. */
const AGENT_ENV: Record<AgentName, string[]> = {
  'order-router': ['ORDERS_TABLE', 'STATE_MACHINE_ARN', 'REFERENCE_TABLE'],
  risk: [
    'ORDERS_TABLE',
    'REFERENCE_TABLE',
    'POSITIONS_TABLE',
    'RISK_STATE_TABLE',
    'STATE_MACHINE_ARN',
    'SCHEDULE_RULE_ARN',
  ],
  approval: ['APPROVALS_TABLE', 'APPROVAL_TIMEOUT_SECONDS', 'STATE_MACHINE_ARN', 'RISK_STATE_TABLE'],
  execution: [
    'ORDERS_TABLE',
    'REFERENCE_TABLE',
    'APPROVALS_TABLE',
    'POSITIONS_TABLE',
    'RISK_STATE_TABLE',
    'STATE_MACHINE_ARN',
  ],
  'position-tracker': ['POSITIONS_TABLE', 'REFERENCE_TABLE', 'RISK_STATE_TABLE', 'STATE_MACHINE_ARN'],
  compliance: ['ORDERS_TABLE', 'STATE_MACHINE_ARN', 'RISK_STATE_TABLE', 'SCHEDULE_RULE_ARN'],
};

type TableKey = 'orders' | 'reference' | 'positions' | 'approvals' | 'audit' | 'riskState';

const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resourcesOf = (s: Statement): unknown[] => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);
const getAtt = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));

function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`not in the template: ${what}`);
  return value;
}

function resources(template: Template, type: string): Record<string, CfnResource> {
  return template.findResources(type) as Record<string, CfnResource>;
}

function logicalId(synth: Synthesized, element: { node: { defaultChild?: unknown } }): string {
  return synth.stack.getLogicalId(element.node.defaultChild as CfnElement);
}

/** Statements of the policies attached to a role. */
function roleStatements(template: Template, roleId: string): Statement[] {
  return Object.values(resources(template, 'AWS::IAM::Policy'))
    .filter((p) => sameJson(p.Properties.Roles, [{ Ref: roleId }]))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

describe('the synthesized platform', () => {
  let synth: Synthesized;
  let template: Template;
  let dockerMarker: string;
  let functions: Record<AgentName, { id: string; props: Record<string, unknown>; env: Record<string, unknown> }>;

  beforeAll(() => {
    dockerMarker = trapDocker();
    // The one bundling synth of this file: esbuild builds the six real handlers.
    synth = synthesizePlatform({ bundle: true });
    template = synth.template;
    const byAgent: Partial<typeof functions> = {};
    for (const [id, fn] of Object.entries(resources(template, 'AWS::Lambda::Function'))) {
      const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      // Besides the agents: CDK's BucketDeployment handler (the truststore upload).
      if (typeof env.AGENT_NAME === 'string') byAgent[env.AGENT_NAME as AgentName] = { id, props: fn.Properties, env };
    }
    functions = byAgent as typeof functions;
  });

  describe('agent functions', () => {
    it('has one Lambda per agent, on nodejs22.x, ARM64, with active tracing', () => {
      // The seventh is the truststore upload (CDK BucketDeployment), run by CloudFormation only.
      template.resourceCountIs('AWS::Lambda::Function', 7);
      expect(Object.keys(functions).sort()).toEqual([...AGENT_NAMES].sort());
      for (const { props } of Object.values(functions)) {
        expect(props.Runtime).toBe('nodejs22.x');
        expect(props.Architectures).toEqual(['arm64']);
        expect(props.TracingConfig).toEqual({ Mode: 'Active' });
        expect(props.Handler).toBe('index.handler');
      }
    });

    it('gives each agent its own role, and that role is its AGENT_IDENTITY', () => {
      const roles = Object.values(functions).map(({ props }) => JSON.stringify(props.Role));
      expect(new Set(roles).size).toBe(6);
      for (const { props, env } of Object.values(functions)) {
        expect(env.AGENT_IDENTITY).toEqual(props.Role);
      }
    });

    it('sets the environment of docs/contracts.md', () => {
      for (const agent of AGENT_NAMES) {
        const { env } = functions[agent];
        expect(Object.keys(env).sort()).toEqual([...COMMON_ENV, ...AGENT_ENV[agent], 'NODE_OPTIONS'].sort());
        expect(env.AGENT_NAME).toBe(agent);
        expect(env.POWERTOOLS_SERVICE_NAME).toBe(agent);
        expect(env.AUDIT_RETENTION_DAYS).toBe('2557');
        expect(env.AUDIT_TABLE).toEqual({ Ref: logicalId(synth, synth.stack.tables.audit) });
        expect(env.AUDIT_BUCKET).toEqual({ Ref: logicalId(synth, synth.stack.auditArchive.bucket) });
        if (AGENT_ENV[agent].includes('RISK_STATE_TABLE')) {
          expect(env.RISK_STATE_TABLE).toEqual({ Ref: logicalId(synth, synth.stack.tables.riskState) });
        }
      }
      // The approval agent's timeout is the ASL's waitForTaskToken TimeoutSeconds, never a copy.
      expect(functions.approval.env.APPROVAL_TIMEOUT_SECONDS).toBe(String(approvalTimeoutSeconds(ORDER_LIFECYCLE_ASL)));
    });

    it('names the state machine in STATE_MACHINE_ARN without referring to it (no dependency cycle)', () => {
      const arn = JSON.stringify(functions['order-router'].env.STATE_MACHINE_ARN);
      expect(arn).toContain(':stateMachine:TradingPlatform-order-lifecycle');
      // Every agent refuses a task that does not come from this state machine.
      for (const agent of AGENT_NAMES) {
        expect(functions[agent].env.STATE_MACHINE_ARN, agent).toEqual(functions['order-router'].env.STATE_MACHINE_ARN);
      }
      template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: 'TradingPlatform-order-lifecycle',
      });
    });

    it('logs to its own KMS-encrypted log group with a retention', () => {
      const groups = resources(template, 'AWS::Logs::LogGroup');
      for (const { props } of Object.values(functions)) {
        const ref = (props.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
        expect(groups[ref]?.Properties).toMatchObject({ RetentionInDays: 365, KmsKeyId: expect.anything() });
      }
    });

    it('grants no AWS managed policy to an agent role', () => {
      for (const { props } of Object.values(functions)) {
        const roleId = (props.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
        expect(resources(template, 'AWS::IAM::Role')[roleId]?.Properties.ManagedPolicyArns).toBeUndefined();
      }
    });
  });

  describe('schedules', () => {
    /**
     * The input EventBridge builds: the action, and the rule's ARN and the event time from
     * EventBridge itself (the predefined <aws.events.rule-arn> and the event's $.time), never a
     * constant a payload could copy.
     */
    const scheduledInput = (action: string) => ({
      InputPathsMap: { time: '$.time' },
      InputTemplate: `{"action":"${action}","schedule":{"rule_arn":"<aws.events.rule-arn>","time":<time>}}`,
    });

    it('passes the rule ARN and the time through an input transformer, never a constant input', () => {
      const rules = Object.values(resources(template, 'AWS::Events::Rule'));
      expect(rules).toHaveLength(2);
      for (const rule of rules) {
        for (const target of rule.Properties.Targets as Record<string, unknown>[]) {
          expect(target.Input).toBeUndefined();
          expect(target.InputPath).toBeUndefined();
          const template = (target.InputTransformer as { InputTemplate: string }).InputTemplate;
          // The transformer's output, with EventBridge's values filled in, is the task payload.
          const filled = template
            .replace('<aws.events.rule-arn>', 'arn:aws:events:us-east-1:123456789012:rule/x')
            .replace('<time>', '"2026-01-01T00:00:00Z"');
          expect(JSON.parse(filled)).toEqual({
            action: expect.any(String),
            schedule: { rule_arn: 'arn:aws:events:us-east-1:123456789012:rule/x', time: '2026-01-01T00:00:00Z' },
          });
        }
      }
    });

    it("gives each scheduled agent its own rule's ARN, the only schedule it accepts", () => {
      const rules = resources(template, 'AWS::Events::Rule');
      const fns = resources(template, 'AWS::Lambda::Function');
      for (const rule of Object.values(rules)) {
        const name = rule.Properties.Name as string;
        const [target] = rule.Properties.Targets as Array<{ Arn: { 'Fn::GetAtt': [string, string] } }>;
        const fn = fns[target?.Arn['Fn::GetAtt'][0] ?? ''];
        if (!fn) throw new Error(`rule ${name} targets no function of the stack`);
        const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
        // arn:<partition>:events:<region>:<account>:rule/<name>, joined by CloudFormation.
        const arn = JSON.stringify(env.SCHEDULE_RULE_ARN);
        expect(arn).toContain(':events:');
        expect(arn).toContain(`:rule/${name}`);
        expect(name).toMatch(/^TradingPlatform-(risk-sweep|audit-checkpoint)$/);
      }
      // Agents without a schedule accept none.
      const withRule = Object.values(fns).filter(
        (f) =>
          (f.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
            ?.SCHEDULE_RULE_ARN,
      );
      expect(withRule).toHaveLength(2);
    });

    it("runs the risk agent's sweep of ended temporary limit changes every minute", () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [functions.risk.id, 'Arn'] },
            InputTransformer: scheduledInput('expire_temporary_limits'),
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 },
          }),
        ],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [functions.risk.id, 'Arn'] },
      });
    });

    it("runs the compliance agent's audit checkpoint every minute (the time rule on AWS)", () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [functions.compliance.id, 'Arn'] },
            InputTransformer: scheduledInput('checkpoint'),
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 },
          }),
        ],
      });
    });
  });

  describe('audit checkpoints', () => {
    it('every agent signs with the ECC_NIST_P256 key and names the log origin', () => {
      const keys = resources(template, 'AWS::KMS::Key');
      const signing = Object.entries(keys).filter(([, k]) => k.Properties?.KeySpec === 'ECC_NIST_P256');
      expect(signing).toHaveLength(1);
      const [keyId, key] = signing[0] as [string, { Properties: Record<string, unknown> }];
      expect(key.Properties.KeyUsage).toBe('SIGN_VERIFY');
      for (const agent of AGENT_NAMES) {
        const { env } = functions[agent];
        expect(env.AUDIT_SIGNING_KEY_ARN).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
        expect(JSON.stringify(env.AUDIT_LOG_ORIGIN)).toContain('/audit');
      }
    });

    it('Athena reads the archive: a Glue table projected on dt, an enforced encrypted workgroup, the named queries', () => {
      template.hasResourceProperties('AWS::Glue::Table', {
        TableInput: Match.objectLike({
          Parameters: Match.objectLike({ 'projection.enabled': 'true', 'projection.dt.type': 'date' }),
        }),
      });
      template.hasResourceProperties('AWS::Athena::WorkGroup', {
        WorkGroupConfiguration: Match.objectLike({
          EnforceWorkGroupConfiguration: true,
          ResultConfiguration: Match.objectLike({
            EncryptionConfiguration: Match.objectLike({ EncryptionOption: 'SSE_KMS' }),
          }),
        }),
      });
      expect(Object.keys(resources(template, 'AWS::Athena::NamedQuery')).sort()).toHaveLength(5);
    });

    it('an alarm watches AuditWriteFailures', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        TreatMissingData: 'notBreaching',
      });
    });

    it("a policy evaluators' disagreement logged by any agent pages the audit alarms' on-call", () => {
      // Every agent's log group turns the line into the metric.
      const filters = Object.values(resources(template, 'AWS::Logs::MetricFilter'));
      const logGroupOf = (fnProps: Record<string, unknown>) =>
        (fnProps.LoggingConfig as { LogGroup: unknown }).LogGroup;
      expect(filters.map((f) => f.Properties.LogGroupName).sort(byJson)).toEqual(
        AGENT_NAMES.map((agent) => logGroupOf(functions[agent].props)).sort(byJson),
      );
      for (const f of filters) {
        expect(f.Properties.FilterPattern).toBe(`{ $.message = "${DISAGREEMENT_LOG_MESSAGE}" }`);
        expect(f.Properties.MetricTransformations).toEqual([
          { MetricNamespace: 'TradingPlatform/Policy', MetricName: 'EvaluatorDisagreements', MetricValue: '1' },
        ]);
      }
      const alarms = Object.values(resources(template, 'AWS::CloudWatch::Alarm'));
      const policy = alarms.find((a) => a.Properties.MetricName === 'EvaluatorDisagreements');
      expect(policy?.Properties).toMatchObject({
        AlarmName: 'TradingPlatform-policy-evaluator-disagreements',
        Namespace: 'TradingPlatform/Policy',
        Statistic: 'Sum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
      // The same topic as the audit alarm, whose policy lets both alarms publish.
      const audit = alarms.find((a) => a.Properties.AlarmName === 'TradingPlatform-audit-write-failures');
      expect(policy?.Properties.AlarmActions).toEqual(audit?.Properties.AlarmActions);
      const publish = Object.values(resources(template, 'AWS::SNS::TopicPolicy'))
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
        .find((st) => st.Effect === 'Allow' && JSON.stringify(st.Action) === '"sns:Publish"');
      expect(JSON.stringify(publish?.Condition)).toContain('TradingPlatform-policy-evaluator-disagreements');
      expect(JSON.stringify(publish?.Condition)).toContain('TradingPlatform-audit-write-failures');
    });
  });

  describe('bundles', () => {
    /** The staged asset directory of a function: its S3 key is the asset hash plus ".zip". */
    const assetDir = (props: Record<string, unknown>) =>
      join(synth.outdir, `asset.${(props.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '')}`);

    it('bundled with the local esbuild, never Docker', () => {
      expect(existsSync(dockerMarker)).toBe(false);
    });

    it('ships an ESM bundle and its source map per agent', () => {
      for (const { props } of Object.values(functions)) {
        const dir = assetDir(props);
        expect(existsSync(join(dir, 'index.mjs'))).toBe(true);
        expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
        expect(props.Handler).toBe('index.handler');
      }
    });

    it('ships the policy engine next to every bundle: the Cedar wasm, every policy file, the schema', () => {
      const engine = policyEngineFiles().map((file) => basename(file));
      expect(engine).toEqual(expect.arrayContaining(['cedar_wasm_bg.wasm', 'schema.cedarschema']));
      for (const agent of AGENT_NAMES) {
        const dir = assetDir(functions[agent].props);
        for (const file of engine) expect(existsSync(join(dir, file)), `${agent}: ${file}`).toBe(true);
        // Byte for byte what the repository holds (no stale copy).
        for (const file of policyEngineFiles().filter((f) => f.startsWith('policies/'))) {
          expect(readFileSync(join(dir, basename(file)), 'utf8'), `${agent}: ${file}`).toBe(
            readFileSync(join(PROJECT_ROOT, file), 'utf8'),
          );
        }
      }
    });

    it.each([...AGENT_NAMES])('%s: the bundle starts with the environment the template gives it', (agent) => {
      const { props, env } = functions[agent];
      const fakeValues: Record<string, string> = {
        AGENT_IDENTITY: 'arn:aws:iam::123456789012:role/agent',
        STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:TradingPlatform-order-lifecycle',
      };
      const lambdaEnv: Record<string, string> = {
        PATH: process.env.PATH ?? '',
        AWS_REGION: 'us-east-1',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      };
      for (const [name, value] of Object.entries(env)) {
        // Literal values as deployed; CloudFormation references get a stand-in.
        lambdaEnv[name] = typeof value === 'string' ? value : (fakeValues[name] ?? `${name.toLowerCase()}-stand-in`);
      }
      // Run from "/", as on Lambda: no package.json "type" and no node_modules to fall back on.
      const entry = join(assetDir(props), 'index.mjs');
      const run = spawnSync(
        process.execPath,
        ['-e', `import(${JSON.stringify(entry)}).then((m) => console.log('handler:' + typeof m.handler))`],
        { cwd: '/', env: lambdaEnv, encoding: 'utf8', timeout: 30_000 },
      );
      // Every handler starts: no module-resolution error, no missing configuration.
      expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)|Dynamic require|ConfigError/);
      expect(run.status).toBe(0);
      // The cold start says which evaluator decides each action: in the real bundle, every one compiled.
      const [loaded, ...rest] = run.stdout.trim().split('\n');
      expect(rest).toEqual(['handler:function']);
      const line = JSON.parse(loaded ?? '{}') as { message?: string; evaluators?: Record<string, string> };
      expect(line.message).toBe('policy engine loaded');
      expect(Object.keys(line.evaluators ?? {}).length).toBeGreaterThan(0);
      expect(new Set(Object.values(line.evaluators ?? {}))).toEqual(new Set([env.POLICY_EVALUATOR]));
    });
  });

  describe('order lifecycle', () => {
    it('is a STANDARD state machine with full logging and tracing', () => {
      template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
      template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
      });
    });

    it('fills every placeholder of the ASL file with its function ARN', () => {
      const sm = defined(Object.values(resources(template, 'AWS::StepFunctions::StateMachine'))[0], 'state machine');
      const substitutions = sm.Properties.DefinitionSubstitutions as Record<string, unknown>;
      expect(Object.keys(substitutions).sort()).toEqual([...PLACEHOLDERS].sort());
      const expected: Record<(typeof PLACEHOLDERS)[number], AgentName> = {
        RiskFunctionArn: 'risk',
        ApprovalFunctionArn: 'approval',
        ExecutionFunctionArn: 'execution',
        PositionFunctionArn: 'position-tracker',
        ComplianceFunctionArn: 'compliance',
      };
      for (const placeholder of PLACEHOLDERS) {
        expect(substitutions[placeholder]).toEqual(getAtt(functions[expected[placeholder]].id));
      }

      // The definition ships as an asset (DefinitionS3Location); CloudFormation substitutes at
      // deploy time. Apply the substitutions here to check the definition that will run.
      const key = (sm.Properties.DefinitionS3Location as { Key: string }).Key;
      let definition = readFileSync(join(synth.outdir, `asset.${key}`), 'utf8');
      for (const [name, value] of Object.entries(substitutions)) {
        const fnId = (value as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
        definition = definition.replaceAll(`\${${name}}`, `arn:aws:lambda:us-east-1:123456789012:function:${fnId}`);
      }
      expect(definition).not.toContain('${');
      for (const placeholder of PLACEHOLDERS) {
        expect(definition).toContain(`function:${functions[expected[placeholder]].id}"`);
      }
      expect(() => JSON.parse(definition)).not.toThrow();
      expect(definition).not.toContain(functions['order-router'].id);
    });

    it('lets its role invoke the five agent functions and nothing else', () => {
      const sm = defined(Object.values(resources(template, 'AWS::StepFunctions::StateMachine'))[0], 'state machine');
      const roleId = (sm.Properties.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const statements = roleStatements(template, roleId);
      const invoked = new Set<string>();
      for (const s of statements) {
        const actions = actionsOf(s);
        if (!actions.some((a) => a.startsWith('lambda:'))) continue;
        expect(actions).toEqual(['lambda:InvokeFunction']);
        for (const r of resourcesOf(s)) invoked.add(JSON.stringify(r).match(/"(\w+Function\w+)"/)?.[1] ?? '?');
      }
      const expected = ['risk', 'approval', 'execution', 'position-tracker', 'compliance'] as const;
      expect([...invoked].sort()).toEqual(expected.map((a) => functions[a].id).sort());
      const other = statements.flatMap(actionsOf).filter((a) => !a.startsWith('lambda:'));
      expect(other.every((a) => a.startsWith('logs:') || a.startsWith('xray:'))).toBe(true);
    });
  });

  describe('API', () => {
    /** Full path of every API Gateway resource, from its PathPart chain. */
    function resourcePaths(): Map<string, string> {
      const all = resources(template, 'AWS::ApiGateway::Resource');
      const paths = new Map<string, string>();
      const pathOf = (id: string): string => {
        const known = paths.get(id);
        if (known !== undefined) return known;
        const r = all[id];
        if (!r) throw new Error(`no resource ${id}`);
        const parent = r.Properties.ParentId as { Ref?: string };
        const path = `${parent.Ref ? pathOf(parent.Ref) : ''}/${String(r.Properties.PathPart)}`;
        paths.set(id, path);
        return path;
      };
      for (const id of Object.keys(all)) pathOf(id);
      return paths;
    }

    it('has every route of docs/contracts.md, each validated and proxied to its agent, with no gateway authorizer', () => {
      const paths = resourcePaths();
      const handlerAgent: Record<string, AgentName> = {
        orderRouter: 'order-router',
        approval: 'approval',
        compliance: 'compliance',
        positionTracker: 'position-tracker',
        risk: 'risk',
      };
      const methods = Object.values(resources(template, 'AWS::ApiGateway::Method'));
      const routes = methods.map((m) => {
        const resourceRef = (m.Properties.ResourceId as { Ref?: string }).Ref;
        return {
          route: `${String(m.Properties.HttpMethod)} ${resourceRef ? paths.get(resourceRef) : '/'}`,
          props: m.Properties,
        };
      });
      expect(routes.map((r) => r.route).sort()).toEqual(ORDER_API_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
      expect(routes.map((r) => r.route).sort()).toEqual(
        [
          'GET /approvals',
          'GET /audit',
          'GET /audit/checkpoint',
          'GET /audit/consistency',
          'GET /audit/proofs/{event_id}',
          'GET /orders/{order_id}',
          'GET /positions/{account_id}',
          'GET /reports/{report_type}',
          'POST /approvals/{approval_id}/approve',
          'POST /approvals/{approval_id}/reject',
          'POST /orders',
          'DELETE /risk/halts/{symbol}',
          'GET /risk/halts/{symbol}',
          'GET /risk/limit-changes',
          'GET /risk/limits/{account_id}',
          'GET /risk/locates/{account_id}/{symbol}',
          'GET /risk/restrictions/{symbol}',
          'GET /risk/trading-state/{scope}',
          'POST /risk/limit-changes',
          'POST /risk/limit-changes/{change_id}/approve',
          'POST /risk/limit-changes/{change_id}/reject',
          'POST /risk/locates',
          'POST /risk/restrictions',
          'POST /risk/restrictions/{symbol}/{restriction_id}/lift',
          'PUT /risk/halts/{symbol}',
          'PUT /risk/prices/{symbol}',
          'PUT /risk/trading-state/{scope}',
        ].sort(),
      );
      for (const { route, props } of routes) {
        const contract = ORDER_API_ROUTES.find((r) => `${r.method} ${r.path}` === route);
        // Authentication is the client certificate at the domain; authorisation is Cedar in the handler.
        expect(props.AuthorizationType, route).toBe('NONE');
        expect(props.AuthorizerId, route).toBeUndefined();
        expect(props.RequestValidatorId, route).toBeDefined();
        const integration = props.Integration as { Type: string; Uri: unknown };
        expect(integration.Type).toBe('AWS_PROXY');
        const agent = handlerAgent[contract?.handler ?? ''];
        expect(agent, route).toBeDefined();
        expect(JSON.stringify(integration.Uri)).toContain(functions[agent as AgentName].id);
      }
    });

    it('validates requests, logs access as JSON and traces', () => {
      template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
        ValidateRequestBody: true,
        ValidateRequestParameters: true,
      });
      template.hasResourceProperties('AWS::ApiGateway::Stage', {
        TracingEnabled: true,
        AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('clientCertSubjectDN') },
        MethodSettings: Match.arrayWith([Match.objectLike({ LoggingLevel: 'ERROR', DataTraceEnabled: false })]),
      });
      template.hasResourceProperties('AWS::ApiGateway::Stage', {
        MethodSettings: Match.arrayWith([
          Match.objectLike({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200, MetricsEnabled: true }),
        ]),
      });
      expect(JSON.stringify(resources(template, 'AWS::ApiGateway::Stage'))).toContain('clientCertSerialNumber');
    });

    it('sits behind a WAF web ACL with logging', () => {
      template.hasResourceProperties('AWS::WAFv2::WebACL', { Scope: 'REGIONAL' });
      template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
      template.resourceCountIs('AWS::WAFv2::LoggingConfiguration', 1);
    });
  });

  describe('tables', () => {
    const KEYS: Record<TableKey, { keys: [string, string][]; gsis: Record<string, [string, string][]> }> = {
      orders: { keys: [['order_id', 'S']], gsis: {} },
      reference: {
        keys: [
          ['pk', 'S'],
          ['sk', 'S'],
        ],
        gsis: {
          'limit-changes-by-status': [
            ['lc_status', 'S'],
            ['requested_at', 'S'],
          ],
        },
      },
      positions: {
        keys: [
          ['account_id', 'S'],
          ['symbol', 'S'],
        ],
        gsis: {},
      },
      approvals: {
        keys: [['approval_id', 'S']],
        gsis: {
          'by-status': [
            ['status', 'S'],
            ['requested_at', 'S'],
          ],
        },
      },
      audit: {
        keys: [['pk', 'S']],
        gsis: {
          'by-order': [
            ['order_id', 'S'],
            ['sequence', 'N'],
          ],
          'by-type': [
            ['event_type', 'S'],
            ['timestamp', 'S'],
          ],
          'by-trader': [
            ['trader_id', 'S'],
            ['timestamp', 'S'],
          ],
        },
      },
      riskState: { keys: [['account_id', 'S']], gsis: {} },
    };

    it('has the six tables, on demand, with PITR and KMS encryption', () => {
      template.resourceCountIs('AWS::DynamoDB::Table', 6);
      for (const table of Object.values(resources(template, 'AWS::DynamoDB::Table'))) {
        expect(table.Properties).toMatchObject({
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: expect.anything() },
          DeletionProtectionEnabled: true,
        });
      }
    });

    it.each(Object.keys(KEYS) as TableKey[])('%s has the key schema and GSIs of docs/contracts.md', (name) => {
      const id = logicalId(synth, synth.stack.tables.all[name]);
      const props = resources(template, 'AWS::DynamoDB::Table')[id]?.Properties ?? {};
      const spec = KEYS[name];
      const types = new Map(
        (props.AttributeDefinitions as { AttributeName: string; AttributeType: string }[]).map((a) => [
          a.AttributeName,
          a.AttributeType,
        ]),
      );
      const schema = (keys: { AttributeName: string; KeyType: string }[]) =>
        keys.map((k) => [k.AttributeName, types.get(k.AttributeName)]);
      const keySchema = props.KeySchema as { AttributeName: string; KeyType: string }[];
      expect(keySchema.map((k) => k.KeyType)).toEqual(spec.keys.length === 2 ? ['HASH', 'RANGE'] : ['HASH']);
      expect(schema(keySchema)).toEqual(spec.keys);
      const gsis = (props.GlobalSecondaryIndexes ?? []) as {
        IndexName: string;
        KeySchema: { AttributeName: string; KeyType: string }[];
        Projection?: { ProjectionType?: string };
      }[];
      expect(Object.fromEntries(gsis.map((g) => [g.IndexName, schema(g.KeySchema)]))).toEqual(spec.gsis);
      // The adapters read whole records from the indexes.
      for (const g of gsis) expect(g.Projection, g.IndexName).toEqual({ ProjectionType: 'ALL' });
      expect(types.size).toBe(new Set([...spec.keys, ...Object.values(spec.gsis).flat()].map(([n]) => n)).size);
    });

    it('backs the tables up with AWS Backup', () => {
      const [selection] = Object.values(resources(template, 'AWS::Backup::BackupSelection'));
      const selected = JSON.stringify(selection?.Properties);
      for (const name of Object.keys(KEYS) as TableKey[]) {
        expect(selected).toContain(logicalId(synth, synth.stack.tables.all[name]));
      }
    });
  });

  describe('audit archive', () => {
    it('locks objects in COMPLIANCE mode for seven years, versioned, private, KMS-encrypted, logged', () => {
      const bucketId = logicalId(synth, synth.stack.auditArchive.bucket);
      const logBucketId = logicalId(synth, synth.stack.auditArchive.accessLogBucket);
      expect(resources(template, 'AWS::S3::Bucket')[bucketId]?.Properties).toMatchObject({
        ObjectLockEnabled: true,
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 2557 } },
        },
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            expect.objectContaining({
              ServerSideEncryptionByDefault: expect.objectContaining({ SSEAlgorithm: 'aws:kms' }),
            }),
          ],
        },
        LoggingConfiguration: { DestinationBucketName: { Ref: logBucketId } },
      });
    });

    it('denies plain HTTP and any PutObject without If-None-Match', () => {
      const bucketId = logicalId(synth, synth.stack.auditArchive.bucket);
      const policy = defined(
        Object.values(resources(template, 'AWS::S3::BucketPolicy')).find((p) =>
          sameJson(p.Properties.Bucket, { Ref: bucketId }),
        ),
        'audit bucket policy',
      );
      const statements = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Action: 's3:*',
          Principal: { AWS: '*' },
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Action: 's3:PutObject',
          Principal: { AWS: '*' },
          Condition: { Null: { 's3:if-none-match': 'true' } },
        }),
      );
    });
  });
});

describe('the mTLS door', () => {
  let synth: Synthesized;
  let template: Template;

  beforeAll(() => {
    synth = synthesizePlatform();
    template = synth.template;
  });

  const truststoreBucketId = () => logicalId(synth, synth.stack.truststore.bucket);

  it('takes the domain name and certificate ARN as parameters, so one template deploys anywhere', () => {
    const parameters = template.toJSON().Parameters as Record<string, Record<string, unknown>>;
    expect(parameters.ApiDomainName).toMatchObject({ Type: 'String', AllowedPattern: expect.any(String) });
    expect(parameters.ApiCertificateArn).toMatchObject({ Type: 'String', AllowedPattern: expect.any(String) });
    const domain = new RegExp(String(parameters.ApiDomainName?.AllowedPattern));
    expect(domain.test('orders.acme.example')).toBe(true);
    for (const bad of ['Orders.ACME.example', 'orders', '-x.acme.example', 'orders.acme.example.']) {
      expect(domain.test(bad), bad).toBe(false);
    }
    const certificate = new RegExp(String(parameters.ApiCertificateArn?.AllowedPattern));
    expect(
      certificate.test('arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000'),
    ).toBe(true);
    expect(certificate.test('arn:aws:iam::123456789012:server-certificate/x')).toBe(false);
  });

  it('creates a regional custom domain that demands client certificates from the truststore object', () => {
    template.resourceCountIs('AWS::ApiGateway::DomainName', 1);
    template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      DomainName: { Ref: 'ApiDomainName' },
      RegionalCertificateArn: { Ref: 'ApiCertificateArn' },
      EndpointConfiguration: { Types: ['REGIONAL'] },
      SecurityPolicy: 'TLS_1_2',
      MutualTlsAuthentication: {
        TruststoreUri: {
          'Fn::Join': ['', ['s3://', { Ref: truststoreBucketId() }, `/${synth.stack.truststore.key}`]],
        },
      },
    });
    template.resourceCountIs('AWS::ApiGateway::BasePathMapping', 1);
  });

  it('disables the execute-api endpoint, so the certificate cannot be bypassed', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      DisableExecuteApiEndpoint: true,
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
  });

  it('keeps the truststore in a versioned, private, TLS-only, logged, retained bucket', () => {
    const bucket = resources(template, 'AWS::S3::Bucket')[truststoreBucketId()];
    expect(bucket?.Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: logicalId(synth, synth.stack.auditArchive.accessLogBucket) },
        LogFilePrefix: 'mtls-truststore/',
      },
    });
    expect((bucket as unknown as { DeletionPolicy: string }).DeletionPolicy).toBe('Retain');
    const policy = defined(
      Object.values(resources(template, 'AWS::S3::BucketPolicy')).find((p) =>
        sameJson(p.Properties.Bucket, { Ref: truststoreBucketId() }),
      ),
      'truststore bucket policy',
    );
    const statements = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
    );
  });

  it('lets only the upload function write the truststore, and no one delete a version of it', () => {
    const policies = Object.values(resources(template, 'AWS::S3::BucketPolicy')).filter((p) =>
      JSON.stringify(p.Properties).includes('OnlyTheUploadWritesTheTruststore'),
    );
    expect(policies).toHaveLength(1);
    const [policy] = policies;
    if (!policy) throw new Error('no truststore bucket policy');
    const statements = (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement;
    const write = statements.find((st) => st.Sid === 'OnlyTheUploadWritesTheTruststore');
    expect(write).toMatchObject({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: ['s3:PutObject', 's3:ReplicateDelete', 's3:ReplicateObject', 's3:ReplicateTags'],
    });
    expect(statements.find((st) => st.Sid === 'TruststoreConfigurationFrozen')).toMatchObject({
      Effect: 'Deny',
      Action: ['s3:PutBucketVersioning', 's3:PutLifecycleConfiguration', 's3:PutReplicationConfiguration'],
    });
    expect(JSON.stringify(write?.Condition)).toContain('UploadRole');
    expect(statements.find((st) => st.Sid === 'NoTruststoreDeletes')).toMatchObject({
      Effect: 'Deny',
      Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
    });
  });

  it('uploads the bundle under a key derived from its content, before the domain reads it', () => {
    const pem = readFileSync(join(PROJECT_ROOT, TEST_TRUSTSTORE_FILE), 'utf8');
    expect(synth.stack.truststore.key).toBe(truststoreKey(pem));
    const [deploymentId, deployment] = defined(
      Object.entries(resources(template, 'Custom::CDKBucketDeployment'))[0],
      'truststore deployment',
    );
    expect(deployment.Properties).toMatchObject({
      DestinationBucketName: { Ref: truststoreBucketId() },
      Prune: false,
      RetainOnDelete: true,
    });
    // The staged source holds exactly the bundle, under its key.
    const zipKey = JSON.stringify(deployment.Properties.SourceObjectKeys);
    expect(zipKey).toMatch(/\.zip/);
    const [domainId] = Object.keys(resources(template, 'AWS::ApiGateway::DomainName'));
    const dependsOn = (template.toJSON().Resources as Record<string, { DependsOn?: string[] }>)[domainId ?? '']
      ?.DependsOn;
    expect(dependsOn ?? []).toContain(deploymentId);
  });

  it('a new CA bundle changes the truststore URI, so CloudFormation updates the domain', () => {
    const dir = mkdtempSync(join(tmpdir(), 'truststore-'));
    const pem = readFileSync(join(PROJECT_ROOT, TEST_TRUSTSTORE_FILE), 'utf8');
    writeFileSync(join(dir, 'bundle.pem'), `${pem}${pem}`);
    const other = synthesizePlatform({ context: { mtlsTruststoreFile: join(dir, 'bundle.pem') } });
    expect(other.stack.truststore.key).not.toBe(synth.stack.truststore.key);
    other.template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      MutualTlsAuthentication: {
        TruststoreUri: { 'Fn::Join': ['', ['s3://', Match.anyValue(), `/${other.stack.truststore.key}`]] },
      },
    });
  });

  it('outputs the regional target for the CNAME, and the others', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.MtlsDomainTarget?.Value).toEqual({
      'Fn::GetAtt': [Object.keys(resources(template, 'AWS::ApiGateway::DomainName'))[0], 'RegionalDomainName'],
    });
    expect(JSON.stringify(outputs.ApiUrl?.Value)).toContain('ApiDomainName');
    for (const name of ['MtlsDomainHostedZoneId', 'MtlsTruststoreUri', 'StateMachineArn', 'AuditBucketName']) {
      expect(outputs[name], name).toBeDefined();
    }
    // No output points at the disabled execute-api endpoint.
    expect(JSON.stringify(outputs)).not.toContain('execute-api');
  });
});

describe('context', () => {
  it('takes the audit retention from context, as -c passes it (a string)', () => {
    const { template } = synthesizePlatform({ context: { auditRetentionDays: '3650' } });
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 3650 } },
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ AUDIT_RETENTION_DAYS: '3650' }) },
    });
  });

  it('gives every agent the policy evaluator: compiled by default, cedar-wasm when asked (the switch back)', () => {
    const evaluators = (template: Template) =>
      Object.values(resources(template, 'AWS::Lambda::Function'))
        .map((fn) => (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables)
        .filter((env) => typeof env.AGENT_NAME === 'string')
        .map((env) => env.POLICY_EVALUATOR);
    expect(evaluators(synthesizePlatform().template)).toEqual(AGENT_NAMES.map(() => 'compiled'));
    const back = synthesizePlatform({ context: { policyEvaluator: 'cedar-wasm' } }).template;
    expect(evaluators(back)).toEqual(AGENT_NAMES.map(() => 'cedar-wasm'));
    expect(() => createPlatformApp({ context: { policyEvaluator: 'opa' } })).toThrow(/policyEvaluator must be one of/);
  });

  it('refuses a retention S3 Object Lock cannot hold', () => {
    expect(() => createPlatformApp({ context: { auditRetentionDays: 0 } })).toThrow(/auditRetentionDays/);
    expect(() => createPlatformApp({ context: { logRetentionDays: 42 } })).toThrow(/logRetentionDays/);
  });
});
