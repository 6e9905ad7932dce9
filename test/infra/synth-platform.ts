// Synthesizes the platform the way `npx cdk synth` does (cdk.json context, the same stack), into a
// temporary directory, so the infra tests check exactly what deploys.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { addTradingPlatform } from '../../lib/platform-app.js';
import { PROJECT_ROOT } from '../../lib/project-paths.js';
import type { TradingPlatformStack } from '../../lib/trading-platform-stack.js';

export interface SynthOptions {
  /** Run esbuild for the six functions (slow); otherwise CDK stages placeholder assets. */
  readonly bundle?: boolean;
  readonly context?: Record<string, unknown>;
}

export interface Synthesized {
  readonly app: App;
  readonly stack: TradingPlatformStack;
  readonly template: Template;
  readonly assembly: CloudAssembly;
  readonly outdir: string;
}

export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/**
 * A test-only truststore: one self-signed CA certificate (its key was discarded when it was made),
 * valid to 2126. Deployments name the firm's own CA bundle with -c mtlsTruststoreFile=<file>.
 */
export const TEST_TRUSTSTORE_FILE = 'test/infra/fixtures/truststore-ca.pem';

export function createPlatformApp(options: SynthOptions = {}): {
  app: App;
  stack: TradingPlatformStack;
  outdir: string;
} {
  const outdir = mkdtempSync(join(tmpdir(), 'trading-cdk-'));
  const context: Record<string, unknown> = {
    ...cdkJsonContext(),
    mtlsTruststoreFile: TEST_TRUSTSTORE_FILE,
    ...options.context,
  };
  // An empty list tells CDK to bundle no stack: NodejsFunction then stages a placeholder asset.
  if (!options.bundle) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({ outdir, context });
  return { app, stack: addTradingPlatform(app), outdir };
}

export function synthesizePlatform(options: SynthOptions = {}): Synthesized {
  const { app, stack, outdir } = createPlatformApp(options);
  const assembly = app.synth();
  return { app, stack, template: Template.fromStack(stack), assembly, outdir };
}

/**
 * Points CDK's Docker command at a script that only records being called, so a test can prove
 * that bundling never reached for Docker. Returns the file the script writes to.
 */
export function trapDocker(): string {
  const dir = mkdtempSync(join(tmpdir(), 'no-docker-'));
  const marker = join(dir, 'docker-was-called');
  const script = join(dir, 'docker');
  writeFileSync(script, `#!/bin/sh\necho "$@" >> '${marker}'\nexit 1\n`);
  chmodSync(script, 0o755);
  process.env.CDK_DOCKER = script;
  return marker;
}
