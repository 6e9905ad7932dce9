// Local stand-in for the KMS checkpoint signing key: an ECDSA P-256 key pair under the data
// directory, `audit-signing/private-key.pem` (PKCS#8, mode 0600) and `audit-signing/public-key.pem`
// (SPKI) beside it for an auditor to take. Signatures are DER over SHA-256 of the message, as KMS
// ECDSA_SHA_256 makes them, so the same verifier checks both.
//
// The key is made on first use and never replaced: checkpoints signed with it verify only with
// it. Concurrent first starts agree on one key (no-clobber publish, the winner re-read), and a key
// file that cannot be read is an error, not a reason to make a new one.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointSigner } from '../functions/ports.js';

const DIR = 'audit-signing';
const PRIVATE_KEY_FILE = 'private-key.pem';
const PUBLIC_KEY_FILE = 'public-key.pem';

/** The key files exist but cannot be used as they are; they are never replaced automatically. */
export class SigningKeyFileError extends Error {
  override readonly name = 'SigningKeyFileError';
}

interface LoadedKey {
  privateKey: KeyObject;
  spki: Buffer;
}

/**
 * A P-256 signer whose key lives only in memory, for tests and benchmarks: the same DER signatures
 * as the key kept on disk, and its public key to verify them with.
 */
export function ephemeralCheckpointSigner(): { signer: CheckpointSigner; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return {
    publicKey,
    signer: {
      publicKey: async () => spki,
      sign: async (message) => sign('sha256', message, { key: privateKey, dsaEncoding: 'der' }),
    },
  };
}

export class LocalCheckpointSigner implements CheckpointSigner {
  private loaded: Promise<LoadedKey> | undefined;

  constructor(private readonly dataDir: string) {}

  /** Where the signing key pair lives under a data directory. */
  static keyDir(dataDir: string): string {
    return join(dataDir, DIR);
  }

  /** The private key (PKCS#8 PEM, mode 0600). */
  static privateKeyPath(dataDir: string): string {
    return join(dataDir, DIR, PRIVATE_KEY_FILE);
  }

  /** The public key (SPKI PEM): what an auditor verifies the checkpoints with. */
  static publicKeyPath(dataDir: string): string {
    return join(dataDir, DIR, PUBLIC_KEY_FILE);
  }

  async publicKey(): Promise<Uint8Array> {
    const { spki } = await this.key();
    return Uint8Array.from(spki);
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    const { privateKey } = await this.key();
    return Uint8Array.from(sign('sha256', message, { key: privateKey, dsaEncoding: 'der' }));
  }

  /** Loads (or, the first time, makes) the key pair; resolves once it is durable on disk. */
  private key(): Promise<LoadedKey> {
    if (!this.loaded) {
      const pending = this.loadOrCreate();
      this.loaded = pending;
      // A failure is not cached: a fixed file is picked up by the next call.
      pending.catch(() => {
        if (this.loaded === pending) this.loaded = undefined;
      });
    }
    return this.loaded;
  }

  private async loadOrCreate(): Promise<LoadedKey> {
    const dir = LocalCheckpointSigner.keyDir(this.dataDir);
    const privatePath = LocalCheckpointSigner.privateKeyPath(this.dataDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });

    let pem = await readIfPresent(privatePath);
    if (pem === undefined) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const fresh = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      // Whoever publishes first wins; everyone else uses the winner's key.
      await publishOnce(dir, privatePath, fresh, 0o600);
      pem = await readFile(privatePath, 'utf8');
    }
    await checkPrivateMode(privatePath);
    const privateKey = parsePrivateKey(pem, privatePath);
    const publicKey = createPublicKey(privateKey);
    await this.ensurePublicKeyFile(dir, publicKey);
    return { privateKey, spki: publicKey.export({ format: 'der', type: 'spki' }) };
  }

  /** Writes the public key beside the private one, or checks the one there matches it. */
  private async ensurePublicKeyFile(dir: string, publicKey: KeyObject): Promise<void> {
    const path = LocalCheckpointSigner.publicKeyPath(this.dataDir);
    const expected = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    let existing = await readIfPresent(path);
    if (existing === undefined) {
      await publishOnce(dir, path, expected, 0o644);
      existing = await readFile(path, 'utf8');
    }
    let matches = false;
    try {
      const onFile = createPublicKey(existing).export({ format: 'der', type: 'spki' });
      matches = onFile.equals(publicKey.export({ format: 'der', type: 'spki' }));
    } catch {
      matches = false;
    }
    if (!matches) {
      throw new SigningKeyFileError(
        `${path} is not the public key of ${LocalCheckpointSigner.privateKeyPath(this.dataDir)}: ` +
          'an auditor holding it could not verify the checkpoints. Find out which key signed the ' +
          'archived checkpoints before changing either file.',
      );
    }
  }
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

function parsePrivateKey(pem: string, path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new SigningKeyFileError(
      `${path} is not a readable private key (${err instanceof Error ? err.message : String(err)}). ` +
        'It is not replaced: checkpoints it signed verify only with it. Restore it from a backup, or, ' +
        'if it is truly lost, move it aside deliberately (a new key is then made) and record why.',
      { cause: err },
    );
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new SigningKeyFileError(
      `${path} holds a ${key.asymmetricKeyType ?? 'unknown'} key` +
        `${key.asymmetricKeyDetails?.namedCurve ? ` on ${key.asymmetricKeyDetails.namedCurve}` : ''}; ` +
        'checkpoints are signed with ECDSA P-256. The file is left as it is.',
    );
  }
  return key;
}

/** Like ssh: a private key others can read is refused (POSIX file modes only). */
async function checkPrivateMode(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) {
    throw new SigningKeyFileError(
      `${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it`,
    );
  }
}

/**
 * Publishes `content` at `path` only if nothing is there yet: written and fsynced under a temporary
 * name first, then link()ed into place (link fails with EEXIST instead of replacing), so a reader
 * never sees a partial file and concurrent writers cannot both win. The directory entry is
 * fsynced before this resolves, for the winner and the losers alike (the winner may not have yet).
 */
async function publishOnce(dir: string, path: string, content: string, mode: number): Promise<'written' | 'exists'> {
  const temp = join(dir, `.${randomBytes(8).toString('hex')}.tmp`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  let result: 'written' | 'exists' = 'written';
  try {
    try {
      await handle.writeFile(content, 'utf8');
      // The umask may have narrowed the mode; never widened it. Set it exactly.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, path);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      result = 'exists';
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await fsyncDir(dir);
  return result;
}

async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
