// The local checkpoint signing key: made once under the data directory, kept across restarts, one
// key however many processes start at once, never silently replaced; and its signatures verify
// with the same code as KMS's.
import { spawn } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Checkpoint,
  checkpointProblem,
  keyIdOf,
  p256PublicKey,
  signCheckpoint,
} from '../../functions/core/checkpoint.js';
import { PROJECT_ROOT } from '../../lib/project-paths.js';
import { LocalCheckpointSigner, SigningKeyFileError } from '../../local/local-checkpoint-signer.js';

const CHECKPOINT: Checkpoint = {
  origin: 'acme-trading/audit/v1',
  tree_size: 7,
  root_hash: '0123456789abcdef'.repeat(4),
  timestamp: '2026-11-23T19:25:00.000000001Z',
};

const dataDir = (): string => mkdtempSync(join(tmpdir(), 'local-signer-'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('LocalCheckpointSigner', () => {
  it('makes a P-256 key on first use: private PKCS#8 PEM (0600), public SPKI PEM beside it', async () => {
    const dir = dataDir();
    const signer = new LocalCheckpointSigner(dir);
    const spki = await signer.publicKey();

    const privatePath = LocalCheckpointSigner.privateKeyPath(dir);
    const publicPath = LocalCheckpointSigner.publicKeyPath(dir);
    expect(publicPath).toBe(join(dir, 'audit-signing', 'public-key.pem'));
    expect(privatePath).toBe(join(dir, 'audit-signing', 'private-key.pem'));
    expect(readFileSync(privatePath, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readFileSync(publicPath, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    if (process.platform !== 'win32') {
      expect(statSync(privatePath).mode & 0o777).toBe(0o600);
      expect(statSync(LocalCheckpointSigner.keyDir(dir)).mode & 0o777).toBe(0o700);
    }
    // The public file is what the signer reports, and it is P-256.
    const onFile = createPublicKey(readFileSync(publicPath, 'utf8'));
    expect(hex(onFile.export({ format: 'der', type: 'spki' }))).toBe(hex(spki));
    expect(p256PublicKey(spki).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    // Nothing but the two files (no temp file left behind).
    expect(readdirSync(LocalCheckpointSigner.keyDir(dir)).sort()).toEqual(['private-key.pem', 'public-key.pem']);
  });

  it('keeps the key across instances (a restart signs with the same key)', async () => {
    const dir = dataDir();
    const first = await new LocalCheckpointSigner(dir).publicKey();
    const privateBefore = readFileSync(LocalCheckpointSigner.privateKeyPath(dir), 'utf8');
    const second = new LocalCheckpointSigner(dir);
    expect(hex(await second.publicKey())).toBe(hex(first));
    expect(readFileSync(LocalCheckpointSigner.privateKeyPath(dir), 'utf8')).toBe(privateBefore);
    // And a signature by the second verifies with the first's public key.
    const signed = await signCheckpoint(second, CHECKPOINT);
    expect(checkpointProblem(signed, p256PublicKey(first))).toBeUndefined();
  });

  it('signs DER ECDSA over SHA-256, which the checkpoint verifier accepts with the public key file', async () => {
    const dir = dataDir();
    const signer = new LocalCheckpointSigner(dir);
    const signed = await signCheckpoint(signer, CHECKPOINT);
    const auditorsKey = p256PublicKey(readFileSync(LocalCheckpointSigner.publicKeyPath(dir), 'utf8'));

    expect(signed.key_id).toBe(keyIdOf(await signer.publicKey()));
    expect(checkpointProblem(signed, auditorsKey)).toBeUndefined();
    expect(checkpointProblem({ ...signed, root_hash: 'f'.repeat(64) }, auditorsKey)).toBe('signature does not verify');

    const message = Buffer.from('any message');
    const signature = await signer.sign(message);
    expect(signature[0]).toBe(0x30); // DER SEQUENCE, as KMS returns it
    expect(verify('sha256', message, { key: auditorsKey, dsaEncoding: 'der' }, signature)).toBe(true);
    // Not the IEEE P1363 (r || s) form.
    expect(verify('sha256', message, { key: auditorsKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(false);
  });

  it('agrees on one key when many instances start at once', async () => {
    const dir = dataDir();
    const keys = await Promise.all(Array.from({ length: 16 }, () => new LocalCheckpointSigner(dir).publicKey()));
    expect(new Set(keys.map(hex)).size).toBe(1);
    const onFile = createPublicKey(readFileSync(LocalCheckpointSigner.publicKeyPath(dir), 'utf8'));
    expect(hex(onFile.export({ format: 'der', type: 'spki' }))).toBe(hex(keys[0] as Uint8Array));
    expect(readdirSync(LocalCheckpointSigner.keyDir(dir)).sort()).toEqual(['private-key.pem', 'public-key.pem']);
  });

  it('agrees on one key when several processes start at once', async () => {
    const dir = dataDir();
    const module = join(PROJECT_ROOT, 'local', 'local-checkpoint-signer.ts');
    // Each child waits for the same instant, so their first uses overlap.
    const startAt = Date.now() + 1_500;
    const script = `
      const { LocalCheckpointSigner } = await import(${JSON.stringify(module)});
      const signer = new LocalCheckpointSigner(process.argv[1]);
      while (Date.now() < ${startAt}) await new Promise((r) => setTimeout(r, 1));
      process.stdout.write(Buffer.from(await signer.publicKey()).toString('hex'));
    `;
    const run = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir], {
          cwd: PROJECT_ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
        });
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`))));
      });
    const keys = await Promise.all(Array.from({ length: 4 }, run));
    expect(keys[0]).toMatch(/^3059/); // a DER P-256 SPKI
    expect(new Set(keys).size).toBe(1);
    expect(hex(await new LocalCheckpointSigner(dir).publicKey())).toBe(keys[0]);
    expect(readdirSync(LocalCheckpointSigner.keyDir(dir)).sort()).toEqual(['private-key.pem', 'public-key.pem']);
  });

  it('refuses a corrupt private key file with a clear error and leaves it in place', async () => {
    const dir = dataDir();
    await new LocalCheckpointSigner(dir).publicKey();
    const path = LocalCheckpointSigner.privateKeyPath(dir);
    const corrupt = readFileSync(path, 'utf8').slice(0, 60);
    writeFileSync(path, corrupt, { mode: 0o600 });

    const signer = new LocalCheckpointSigner(dir);
    await expect(signer.sign(Buffer.from('x'))).rejects.toBeInstanceOf(SigningKeyFileError);
    await expect(signer.publicKey()).rejects.toThrow(/is not a readable private key.*It is not replaced/s);
    expect(readFileSync(path, 'utf8')).toBe(corrupt);
  });

  it('refuses an empty private key file rather than making a new key', async () => {
    const dir = dataDir();
    mkdirSync(LocalCheckpointSigner.keyDir(dir), { recursive: true });
    writeFileSync(LocalCheckpointSigner.privateKeyPath(dir), '', { mode: 0o600 });
    await expect(new LocalCheckpointSigner(dir).publicKey()).rejects.toBeInstanceOf(SigningKeyFileError);
    expect(readFileSync(LocalCheckpointSigner.privateKeyPath(dir), 'utf8')).toBe('');
  });

  it('refuses a private key that is not P-256', async () => {
    const dir = dataDir();
    mkdirSync(LocalCheckpointSigner.keyDir(dir), { recursive: true });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    writeFileSync(
      LocalCheckpointSigner.privateKeyPath(dir),
      privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      { mode: 0o600 },
    );
    await expect(new LocalCheckpointSigner(dir).publicKey()).rejects.toThrow(/ec key on secp384r1.*P-256/);
  });

  it('refuses a public key file that does not match the private key', async () => {
    const dir = dataDir();
    await new LocalCheckpointSigner(dir).publicKey();
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const publicPath = LocalCheckpointSigner.publicKeyPath(dir);
    writeFileSync(publicPath, other.export({ format: 'pem', type: 'spki' }).toString());
    await expect(new LocalCheckpointSigner(dir).publicKey()).rejects.toThrow(/is not the public key of/);
    writeFileSync(publicPath, 'garbage');
    await expect(new LocalCheckpointSigner(dir).publicKey()).rejects.toBeInstanceOf(SigningKeyFileError);
  });

  it('rewrites a missing public key file from the private key', async () => {
    const dir = dataDir();
    const spki = await new LocalCheckpointSigner(dir).publicKey();
    const publicPath = LocalCheckpointSigner.publicKeyPath(dir);
    const before = readFileSync(publicPath, 'utf8');
    writeFileSync(publicPath, ''); // replaced below by an empty file: refused, not rewritten
    await expect(new LocalCheckpointSigner(dir).publicKey()).rejects.toBeInstanceOf(SigningKeyFileError);
    const { unlinkSync } = await import('node:fs');
    unlinkSync(publicPath);
    expect(hex(await new LocalCheckpointSigner(dir).publicKey())).toBe(hex(spki));
    expect(readFileSync(publicPath, 'utf8')).toBe(before);
  });

  it.skipIf(process.platform === 'win32')('refuses a private key file others can read', async () => {
    const dir = dataDir();
    const signer = new LocalCheckpointSigner(dir);
    await signer.publicKey();
    chmodSync(LocalCheckpointSigner.privateKeyPath(dir), 0o644);
    await expect(new LocalCheckpointSigner(dir).publicKey()).rejects.toThrow(/readable by others \(mode 644\)/);
  });

  it('retries after a failure instead of caching it', async () => {
    const dir = dataDir();
    mkdirSync(LocalCheckpointSigner.keyDir(dir), { recursive: true });
    const privatePath = LocalCheckpointSigner.privateKeyPath(dir);
    writeFileSync(privatePath, 'not a key', { mode: 0o600 });
    const signer = new LocalCheckpointSigner(dir);
    await expect(signer.publicKey()).rejects.toBeInstanceOf(SigningKeyFileError);
    // Restored from backup: the same instance now works.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(privatePath, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), { mode: 0o600 });
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    expect(hex(await signer.publicKey())).toBe(spki.toString('hex'));
  });
});
