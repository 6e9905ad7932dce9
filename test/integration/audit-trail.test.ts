// The audit trail as an auditor meets it, on the local platform and through the CLI: orders leave
// records; checkpoints are signed as they come; the whole log verifies offline with the public key
// alone; a record's inclusion proof and a consistency proof between two checkpoints verify offline;
// tampering with the archive or a proof is caught and named; bad requests write nothing.
import { chmod, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_NOT_VERIFIED } from '../../bin/cli-audit.js';
import { checkpointProblem, p256PublicKey, type SignedCheckpoint } from '../../functions/core/checkpoint.js';
import type { AuditRecord } from '../../functions/core/model.js';
import type { OrderView } from '../../functions/core/order-intake.js';
import { LocalCheckpointSigner } from '../../local/local-checkpoint-signer.js';
import { type LocalPlatform, startLocalPlatform } from '../../local/platform.js';
import { runCli } from '../support/cli-run.js';

let dataDir: string;
let platform: LocalPlatform;
/** The checkpoints signed by the count rule before anyone asked for one. */
let countSigned: string[];

const trading = (...argv: string[]) => runCli(argv, { url: platform.url, dataDir });

async function submit(orderId: string, quantity: number): Promise<OrderView> {
  const run = await trading(
    '--json',
    'submit',
    '--order-id',
    orderId,
    '--symbol',
    'AAPL',
    '--side',
    'BUY',
    '--quantity',
    String(quantity),
    '--type',
    'MARKET',
    '--account',
    'ACC-001',
    '--trader',
    'TRADER-123',
    '--wait',
  );
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as OrderView;
}

const checkpointKeys = async () => (await readdir(join(dataDir, 'archive', 'checkpoints'))).sort();

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'audit-trail-'));
  platform = await startLocalPlatform({
    dataDir,
    port: 0,
    logLevel: 'SILENT',
    checkpoints: { everyRecords: 5, everyMs: 60_000 },
  });
  for (let i = 1; i <= 2; i++) await submit(`AUD-${i}`, 10 * i);
  // The count rule: once the archive holds 5 records more than the last checkpoint, one is signed.
  const deadline = Date.now() + 10_000;
  while ((await checkpointKeys().catch(() => [])).length === 0) {
    if (Date.now() > deadline) throw new Error('no checkpoint was signed by the count rule');
    await new Promise((r) => setTimeout(r, 50));
  }
  countSigned = await checkpointKeys();
  for (let i = 3; i <= 4; i++) await submit(`AUD-${i}`, 10 * i);
  // Signed on demand: a checkpoint over everything committed so far.
  const cp = await trading('--json', 'audit', 'checkpoint');
  expect(cp.code, cp.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await platform?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the audit trail, verified by an auditor', () => {
  it('signs checkpoints as records come (every 5 here) and the latest covers every record', async () => {
    expect(countSigned.length).toBeGreaterThanOrEqual(1);
    expect(Number(countSigned[0]?.slice(0, 20))).toBeGreaterThanOrEqual(5);
    expect((await checkpointKeys()).length).toBeGreaterThan(countSigned.length);
    const run = await trading('--json', 'audit', 'checkpoint');
    const cp = JSON.parse(run.stdout) as SignedCheckpoint;
    const key = p256PublicKey(await readFile(LocalCheckpointSigner.publicKeyPath(dataDir), 'utf8'));
    expect(checkpointProblem(cp, key)).toBeUndefined();
    expect(cp.origin).toBe('local.acme-trading/audit');
    // Every record so far: the orders' own, and none after (the query is not audited).
    const all = await trading('--json', 'audit', '--event-type', 'order_submitted');
    const submitted = (JSON.parse(all.stdout) as { records: AuditRecord[] }).records;
    expect(Math.max(...submitted.map((r) => r.sequence))).toBeLessThan(cp.tree_size);
  });

  it('`audit verify` checks the whole archived log offline and says what it verified', async () => {
    const run = await trading('audit', 'verify');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^VERIFIED: \d+ records in \d+ objects; \d+ signed checkpoints/);
    const json = await trading('--json', 'audit', 'verify', '--origin', 'local.acme-trading/audit');
    const report = JSON.parse(json.stdout) as { ok: boolean; records: number; checkpoints: number };
    expect(report.ok).toBe(true);
    expect(report.checkpoints).toBe((await checkpointKeys()).length);
  });

  it('names the first altered record of a tampered copy of the archive (exit 5)', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'audit-tampered-'));
    try {
      await cp(join(dataDir, 'archive'), copy, { recursive: true });
      const day = (await readdir(join(copy, 'records')))[0] as string;
      const object = join(copy, 'records', day, (await readdir(join(copy, 'records', day))).sort()[0] as string);
      await chmod(object, 0o644);
      const body = await readFile(object, 'utf8');
      const lines = body.split('\n');
      // Record 2's decision changed from what was decided.
      lines[2] = (lines[2] as string).replace(/"decision":"[^"]*"/, '"decision":"forged"');
      await writeFile(object, lines.join('\n'));
      const run = await trading('audit', 'verify', '--archive', copy);
      expect(run.code).toBe(EXIT_NOT_VERIFIED);
      expect(run.stdout).toMatch(/^NOT VERIFIED: record_hash at record 2, EVT-00000000000000000002/);
      // And with another key, the first checkpoint is refused.
      const other = join(copy, 'other.pem');
      const { generateKeyPairSync } = await import('node:crypto');
      await writeFile(
        other,
        generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }),
      );
      const wrongKey = await trading('audit', 'verify', '--public-key', other);
      expect(wrongKey.code).toBe(EXIT_NOT_VERIFIED);
      expect(wrongKey.stdout).toMatch(/^NOT VERIFIED: checkpoint_signer at checkpoint checkpoints\//);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('proves a record’s inclusion; the proof verifies offline, and a tampered one does not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'audit-proof-'));
    try {
      const status = await trading('--json', 'status', 'AUD-3');
      const history = (JSON.parse(status.stdout) as OrderView).history;
      const fill = history.find((r) => r.event_type === 'trade_executed');
      expect(fill).toBeDefined();
      const file = join(dir, 'proof.json');
      const prove = await trading('audit', 'prove', fill?.event_id as string, '--out', file);
      expect(prove.code, prove.stderr).toBe(0);
      const bundle = JSON.parse(await readFile(file, 'utf8')) as { kind: string; record: string; leaf_index: number };
      expect(bundle.kind).toBe('inclusion');
      expect(bundle.leaf_index).toBe(fill?.sequence);
      expect((JSON.parse(bundle.record) as AuditRecord).order_id).toBe('AUD-3');

      const ok = await trading('audit', 'verify-proof', file, '--origin', 'local.acme-trading/audit');
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^VERIFIED: record \d+ is in the log of \d+ records/);
      const otherLog = await trading('audit', 'verify-proof', file, '--origin', 'another/log');
      expect(otherLog.code).toBe(EXIT_NOT_VERIFIED);
      expect(otherLog.stdout).toMatch(
        /^NOT VERIFIED: the proof's checkpoint is of the log "local.acme-trading\/audit"/,
      );

      const forged = join(dir, 'forged.json');
      await writeFile(forged, JSON.stringify({ ...bundle, record: bundle.record.replace('"filled"', '"rejected"') }));
      const bad = await trading('audit', 'verify-proof', forged);
      expect(bad.code).toBe(EXIT_NOT_VERIFIED);
      expect(bad.stdout).toMatch(/^NOT VERIFIED: /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('proves two checkpoints consistent (the later extends the earlier); the proof verifies offline', async () => {
    const sizes = (await checkpointKeys()).map((k) => Number(k.slice(0, 20)));
    const [first, second] = [sizes[0] as number, sizes[sizes.length - 1] as number];
    const dir = await mkdtemp(join(tmpdir(), 'audit-consistency-'));
    try {
      const file = join(dir, 'consistency.json');
      const run = await trading('audit', 'consistency', '--from', String(first), '--to', String(second), '--out', file);
      expect(run.code, run.stderr).toBe(0);
      const ok = await trading('audit', 'verify-proof', file);
      expect(ok.code, ok.stdout).toBe(0);
      expect(ok.stdout).toContain(`extends the log of ${first}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a malformed or unknown event id and a bad range with a clear error, writing nothing', async () => {
    const before = await checkpointKeys();
    const records = async () =>
      (JSON.parse((await trading('--json', 'audit', 'verify')).stdout) as { records: number }).records;
    const count = await records();

    const malformed = await trading('--json', 'audit', 'prove', 'EVT-12');
    expect(malformed.code).toBe(1);
    expect(malformed.stdout).toContain('event_id');
    const unknown = await trading('--json', 'audit', 'prove', `EVT-${'9'.repeat(15).padStart(20, '0')}`);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/404/);
    const reversed = await trading('--json', 'audit', 'consistency', '--from', '9', '--to', '3');
    expect(reversed.code).toBe(1);
    expect(reversed.stdout).toMatch(/"field": "to"/);
    const missing = await trading('--json', 'audit', 'consistency', '--from', '1', '--to', '3');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/404/);

    expect(await checkpointKeys()).toEqual(before);
    expect(await records()).toBe(count);
  });

  it('queries a trader’s records, paginated', async () => {
    const page = await trading('--json', 'audit', '--trader-id', 'TRADER-123', '--limit', '3');
    const body = JSON.parse(page.stdout) as { records: AuditRecord[]; next_token?: string };
    expect(body.records).toHaveLength(3);
    expect(body.next_token).toBeDefined();
    const all = await trading('--json', 'audit', '--trader-id', 'TRADER-123', '--all');
    const records = (JSON.parse(all.stdout) as { records: AuditRecord[] }).records;
    expect(records.every((r) => r.trader_id === 'TRADER-123')).toBe(true);
    expect(new Set(records.map((r) => r.order_id))).toEqual(new Set(['AUD-1', 'AUD-2', 'AUD-3', 'AUD-4']));
  });
});
