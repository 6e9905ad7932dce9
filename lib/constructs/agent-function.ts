import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PROJECT_ROOT } from '../project-paths.js';

/** The six agents of docs/contracts.md; each is one Lambda with its own role. */
export const AGENT_NAMES = ['order-router', 'risk', 'approval', 'execution', 'position-tracker', 'compliance'] as const;
export type AgentName = (typeof AGENT_NAMES)[number];

/**
 * ESM output needs a real `require` for the CommonJS dependencies esbuild bundles (they may
 * require Node built-ins at run time). The aliased import keeps the banner's names out of the way
 * of anything esbuild emits.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __agentCreateRequire } from 'node:module'; const require = __agentCreateRequire(import.meta.url);";

/** The Cedar engine's wasm, which its nodejs build reads from `__dirname` (the bundle's directory). */
export const CEDAR_WASM_FILE = 'node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm_bg.wasm';

/**
 * What functions/core/policy-engine.ts loads next to the bundle: the wasm, every `policies/*.cedar`
 * and `policies/schema.cedarschema`. Listed at synth time, so a new policy file ships without a
 * change here.
 */
export function policyEngineFiles(projectRoot: string = PROJECT_ROOT): string[] {
  const policies = readdirSync(join(projectRoot, 'policies'))
    .filter((name) => name.endsWith('.cedar'))
    .sort()
    .map((name) => `policies/${name}`);
  const files = [CEDAR_WASM_FILE, ...policies, 'policies/schema.cedarschema'];
  const missing = files.filter((file) => !existsSync(join(projectRoot, file)));
  if (missing.length > 0) throw new Error(`the policy engine's files are missing: ${missing.join(', ')}`);
  if (policies.length === 0) throw new Error('policies/ holds no .cedar file: every agent would deny everything');
  return files;
}

export interface AgentFunctionProps {
  readonly agentName: AgentName;
  /** Agent-specific variables (docs/contracts.md); the common ones are set here. */
  readonly environment: Record<string, string>;
  readonly auditRetentionDays: number;
  /** Encrypts the function's log group. */
  readonly logKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  readonly memorySize?: number;
  /** Stays under the state machine's 30 s task timeout and API Gateway's 29 s integration timeout. */
  readonly timeout?: Duration;
  /**
   * Files (relative to the repository root) copied next to the bundle, besides the policy
   * engine's (always shipped: every agent is an enforcement point). Keeps the asset to what the
   * code actually loads.
   */
  readonly bundleFiles?: readonly string[];
  readonly description?: string;
}

/**
 * The house Lambda: one agent, its own least-privilege role, an explicit encrypted log group,
 * Node.js 22 on ARM64, active tracing, and an ESM bundle built by the locally installed esbuild.
 */
export class AgentFunction extends Construct {
  public readonly agentName: AgentName;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: AgentFunctionProps) {
    super(scope, id);
    this.agentName = props.agentName;

    // A role of its own and no AWS managed policy: the agent's IAM identity (AGENT_IDENTITY) holds
    // only what the constructs owning each resource grant it.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Workload identity of the ${props.agentName} agent`,
    });

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Explicit log group, so no AWSLambdaBasicExecutionRole: write access to this group only.
    this.logGroup.grantWrite(this.role);

    const bundleFiles = [...new Set([...policyEngineFiles(), ...(props.bundleFiles ?? [])])];
    this.function = new NodejsFunction(this, 'Function', {
      entry: join(PROJECT_ROOT, 'functions', props.agentName, 'handler.ts'),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(20),
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      description: props.description ?? `ACME trading platform: ${props.agentName} agent`,
      environment: {
        ...props.environment,
        AGENT_NAME: props.agentName,
        AGENT_IDENTITY: this.role.roleArn,
        AUDIT_RETENTION_DAYS: String(props.auditRetentionDays),
        POWERTOOLS_SERVICE_NAME: props.agentName,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        // Stack traces point at the TypeScript sources through the bundled source map.
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        // Prefer ESM entry points so the SDK and Powertools tree-shake.
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        inject: [join(PROJECT_ROOT, 'lib', 'bundling', 'esm-shims.ts')],
        // Ship the pinned SDK versions of package-lock.json, not whatever the runtime carries.
        bundleAwsSDK: true,
        tsconfig: join(PROJECT_ROOT, 'tsconfig.json'),
        // Never fall back to a Docker build: synth must work offline on a machine without Docker.
        forceDockerBundling: false,
        // Flat, next to index.mjs: the engine looks for its wasm and policies beside itself.
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) =>
            bundleFiles.map((file) => `cp "${join(inputDir, file)}" "${outputDir}/"`),
        },
      },
    });

    this.acknowledgeFindings();
  }

  /** Findings that are deliberate for every agent, each with why. */
  private acknowledgeFindings(): void {
    const fn = Validations.of(this.function);
    fn.acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the design fixes for every agent (parity with the local run on Node 20/22); the move to 24 is a deliberate, separate upgrade.',
    });
    fn.acknowledge({
      id: 'NIST.800.53.R5-LambdaDLQ',
      reason:
        'Invoked synchronously only (API Gateway proxy, Step Functions lambda:invoke); failures return to the caller, which retries or records order_failed. A DLQ applies to asynchronous invocations only.',
    });
    fn.acknowledge({
      id: 'NIST.800.53.R5-LambdaInsideVPC',
      reason:
        'The agent reaches only AWS APIs (DynamoDB, S3, Step Functions) over TLS with IAM-signed requests; there is no private network resource to reach. VPC placement is a later network-isolation decision.',
    });
    fn.acknowledge({
      id: 'PCI.DSS.321-LambdaInsideVPC',
      reason:
        'The agent reaches only AWS APIs (DynamoDB, S3, Step Functions) over TLS with IAM-signed requests; there is no private network resource to reach. VPC placement is a later network-isolation decision.',
    });
    fn.acknowledge({
      id: 'NIST.800.53.R5-LambdaConcurrency',
      reason:
        'Load is bounded upstream by the API Gateway stage throttle and the WAF per-IP rate rule; reserving concurrency carves up the account pool, a capacity decision per account, not a template default.',
    });
    for (const pack of ['NIST.800.53.R5', 'PCI.DSS.321']) {
      Validations.of(this.role).acknowledge({
        id: `${pack}-IAMNoInlinePolicy`,
        reason:
          "The policy belongs to this one role (the agent's workload identity) and to no other: an inline policy keeps that one-to-one relationship and is deleted with the role.",
      });
    }
    // X-Ray has no resource-level permissions: PutTraceSegments/PutTelemetryRecords need "*".
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support only Resource "*".',
    });
  }
}
