// The house constructs on their own: what the platform stack test does not reach.
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { AgentFunction } from '../../lib/constructs/agent-function.js';
import { parseS3Uri } from '../../lib/constructs/order-api.js';
import { approvalTimeoutSeconds } from '../../lib/constructs/order-lifecycle.js';
import { ORDER_LIFECYCLE_ASL } from '../../lib/project-paths.js';
import { trapDocker } from './synth-platform.js';

describe('AgentFunction', () => {
  it('copies bundleFiles next to the bundle (e.g. a wasm file loaded from __dirname), without Docker', () => {
    const dockerMarker = trapDocker();
    const outdir = mkdtempSync(join(tmpdir(), 'agent-fn-'));
    const app = new App({ outdir });
    const stack = new Stack(app, 'Probe');
    new AgentFunction(stack, 'Risk', {
      agentName: 'risk',
      environment: {},
      auditRetentionDays: 1,
      logKey: new kms.Key(stack, 'Key'),
      logRetention: logs.RetentionDays.ONE_WEEK,
      bundleFiles: ['statemachines/order-lifecycle.asl.json'],
    });
    app.synth();
    const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
    expect(assets).toHaveLength(1);
    const files = readdirSync(join(outdir, assets[0] ?? '')).sort();
    expect(files).toEqual(['index.mjs', 'index.mjs.map', 'order-lifecycle.asl.json']);
    expect(existsSync(dockerMarker)).toBe(false);
  });
});

describe('parseS3Uri', () => {
  it('splits s3://bucket/key', () => {
    expect(parseS3Uri('s3://acme-truststore/ca/truststore.pem')).toEqual({
      bucket: 'acme-truststore',
      key: 'ca/truststore.pem',
    });
  });

  it.each(['acme-truststore/truststore.pem', 's3://acme-truststore', 's3://acme-truststore/', 'https://x/y'])(
    'refuses %s',
    (uri) => {
      expect(() => parseS3Uri(uri)).toThrow(/s3:\/\/bucket\/key/);
    },
  );
});

describe('approvalTimeoutSeconds', () => {
  it('reads the waitForTaskToken state of the shared ASL file', () => {
    expect(approvalTimeoutSeconds(ORDER_LIFECYCLE_ASL)).toBe(300);
  });

  it('refuses a definition without exactly one callback state', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'asl-')), 'no-wait.asl.json');
    writeFileSync(file, JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Succeed' } } }));
    expect(() => approvalTimeoutSeconds(file)).toThrow(/waitForTaskToken/);
  });
});
