// The house constructs on their own: what the platform stack test does not reach.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { AgentFunction, CEDAR_WASM_FILE, policyEngineFiles } from '../../lib/constructs/agent-function.js';
import { checkTruststorePem, truststoreKey } from '../../lib/constructs/mtls-truststore.js';
import { approvalTimeoutSeconds } from '../../lib/constructs/order-lifecycle.js';
import { ORDER_LIFECYCLE_ASL, PROJECT_ROOT } from '../../lib/project-paths.js';
import { createPlatformApp, TEST_TRUSTSTORE_FILE, trapDocker } from './synth-platform.js';

const FIXTURE_PEM = readFileSync(join(PROJECT_ROOT, TEST_TRUSTSTORE_FILE), 'utf8');

describe('AgentFunction', () => {
  it('lists the policy engine files at synth: the wasm, every policies/*.cedar and the schema', () => {
    const cedar = readdirSync(join(PROJECT_ROOT, 'policies'))
      .filter((f) => f.endsWith('.cedar'))
      .map((f) => `policies/${f}`);
    expect(cedar.length).toBeGreaterThan(0);
    expect(policyEngineFiles().sort()).toEqual([CEDAR_WASM_FILE, ...cedar, 'policies/schema.cedarschema'].sort());
  });

  it('refuses to synth an agent without the policy engine files', () => {
    const root = mkdtempSync(join(tmpdir(), 'no-policies-'));
    expect(() => policyEngineFiles(root)).toThrow(/policies|missing/);
  });

  it('copies the policy engine and bundleFiles next to the bundle (loaded from __dirname), without Docker', () => {
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
    expect(files).toEqual(
      ['index.mjs', 'index.mjs.map', 'order-lifecycle.asl.json', ...policyEngineFiles().map((f) => basename(f))].sort(),
    );
    expect(existsSync(dockerMarker)).toBe(false);
  });
});

describe('the mTLS truststore bundle', () => {
  it('accepts a bundle of CA certificates and names them', () => {
    expect(checkTruststorePem(FIXTURE_PEM, 'fixture')).toEqual([expect.stringContaining('CN=Test client CA')]);
    expect(checkTruststorePem(`${FIXTURE_PEM}\n${FIXTURE_PEM}`, 'fixture')).toHaveLength(2);
  });

  it.each([
    ['no certificate', '', /no PEM certificate/],
    ['a private key', `${FIXTURE_PEM}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`, /private key/],
    ['anything else', `${FIXTURE_PEM}hello`, /other than PEM certificates/],
    ['a damaged certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /does not parse/],
  ])('refuses a bundle with %s', (_case, pem, error) => {
    expect(() => checkTruststorePem(pem, 'bundle.pem')).toThrow(error);
  });

  it('refuses an expired CA', () => {
    expect(() => checkTruststorePem(FIXTURE_PEM, 'fixture', new Date('2200-01-01T00:00:00Z'))).toThrow(/expired/);
  });

  it('keys the object by the content: a new bundle is a new key', () => {
    expect(truststoreKey(FIXTURE_PEM)).toMatch(/^truststore\/[0-9a-f]{16}\.pem$/);
    expect(truststoreKey(FIXTURE_PEM)).toBe(truststoreKey(FIXTURE_PEM));
    expect(truststoreKey(`${FIXTURE_PEM}\n`)).not.toBe(truststoreKey(FIXTURE_PEM));
  });

  it('fails synth without mtlsTruststoreFile, naming the key and what it must hold', () => {
    expect(() => createPlatformApp({ context: { mtlsTruststoreFile: undefined } })).toThrow(
      /mtlsTruststoreFile is required.*CA certificates that issue the firm's client certificates/,
    );
  });

  it('fails synth on an unreadable or unfit file', () => {
    expect(() => createPlatformApp({ context: { mtlsTruststoreFile: 'no/such/file.pem' } })).toThrow(
      /mtlsTruststoreFile: cannot read/,
    );
    expect(() => createPlatformApp({ context: { mtlsTruststoreFile: 'package.json' } })).toThrow(/no PEM certificate/);
  });
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
