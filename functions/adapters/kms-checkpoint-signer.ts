// CheckpointSigner on AWS KMS: an asymmetric ECC_NIST_P256 key (SIGN_VERIFY) signs with
// ECDSA_SHA_256 over the RAW message, so KMS hashes it (SHA-256) and returns a DER signature, and
// GetPublicKey gives the DER SubjectPublicKeyInfo: the same formats as the local node:crypto
// signer, so one verifier (functions/core/checkpoint.ts) checks both.
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { p256PublicKey } from '../core/checkpoint.js';
import type { CheckpointSigner } from '../ports.js';
import { callAws } from './errors.js';

/** KMS hashes a RAW message itself only up to this size; a longer one would need DIGEST. */
export const KMS_MAX_RAW_MESSAGE_BYTES = 4096;
export const KMS_CHECKPOINT_KEY_SPEC = 'ECC_NIST_P256';
export const KMS_CHECKPOINT_SIGNING_ALGORITHM = 'ECDSA_SHA_256';

/** The KMS key cannot sign checkpoints: wrong key spec or usage, or an unusable answer. */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

/** The message is longer than KMS signs as RAW (4096 bytes); checkpoint bodies are far shorter. */
export class SigningMessageTooLongError extends RangeError {
  override readonly name = 'SigningMessageTooLongError';
}

interface KeyInfo {
  /** The key's ARN as GetPublicKey names it (KMS resolves an alias to it). */
  keyArn: string | undefined;
  spki: Uint8Array;
}

export class KmsCheckpointSigner implements CheckpointSigner {
  /** The public key, fetched once: a key's public half never changes. Cleared on failure. */
  private keyInfo: Promise<KeyInfo> | undefined;

  /**
   * @param kms created once per Lambda module (functions/adapters/aws-clients.ts) and shared.
   * @param keyId key id, key ARN, alias name or alias ARN of the signing key. A key ARN is best: an
   *   alias can be moved to another key, which sign() then detects and refuses.
   */
  constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
  ) {
    if (keyId.trim() === '') throw new SigningKeyError('the checkpoint signing key id is empty');
  }

  async publicKey(): Promise<Uint8Array> {
    const { spki } = await this.key();
    return Uint8Array.from(spki);
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    if (message.byteLength > KMS_MAX_RAW_MESSAGE_BYTES) {
      throw new SigningMessageTooLongError(
        `KMS signs a RAW message of at most ${KMS_MAX_RAW_MESSAGE_BYTES} bytes; this one has ${message.byteLength}`,
      );
    }
    // The key's identity is checked alongside the signature (one GetPublicKey per container).
    const [key, out] = await Promise.all([
      this.key(),
      callAws(`KMS Sign ${this.keyId}`, () =>
        this.kms.send(
          new SignCommand({
            KeyId: this.keyId,
            Message: message,
            MessageType: 'RAW',
            SigningAlgorithm: KMS_CHECKPOINT_SIGNING_ALGORITHM,
          }),
        ),
      ),
    ]);
    if (!out.Signature || out.Signature.byteLength === 0) {
      throw new SigningKeyError(`KMS Sign ${this.keyId}: the answer carries no signature`);
    }
    if (out.SigningAlgorithm !== undefined && out.SigningAlgorithm !== KMS_CHECKPOINT_SIGNING_ALGORITHM) {
      throw new SigningKeyError(`KMS Sign ${this.keyId}: signed with ${out.SigningAlgorithm}, not ECDSA_SHA_256`);
    }
    if (out.KeyId !== undefined && key.keyArn !== undefined && out.KeyId !== key.keyArn) {
      // The alias now names another key: the cached public key (and so the checkpoint's key_id)
      // would not match this signature. Forget it; the caller's retry starts over consistently.
      this.keyInfo = undefined;
      throw new SigningKeyError(
        `KMS Sign ${this.keyId}: signed with ${out.KeyId}, but the public key in use is ${key.keyArn}; the alias moved`,
      );
    }
    return Uint8Array.from(out.Signature);
  }

  private key(): Promise<KeyInfo> {
    if (!this.keyInfo) {
      const pending = this.fetchKey();
      this.keyInfo = pending;
      // A failed fetch is not cached: the next call asks KMS again.
      pending.catch(() => {
        if (this.keyInfo === pending) this.keyInfo = undefined;
      });
    }
    return this.keyInfo;
  }

  private async fetchKey(): Promise<KeyInfo> {
    const out = await callAws(`KMS GetPublicKey ${this.keyId}`, () =>
      this.kms.send(new GetPublicKeyCommand({ KeyId: this.keyId })),
    );
    const what = `KMS key ${out.KeyId ?? this.keyId}`;
    if (out.KeySpec !== KMS_CHECKPOINT_KEY_SPEC) {
      throw new SigningKeyError(`${what} has key spec ${out.KeySpec ?? 'unknown'}; checkpoints need ECC_NIST_P256`);
    }
    if (out.KeyUsage !== 'SIGN_VERIFY') {
      throw new SigningKeyError(`${what} has key usage ${out.KeyUsage ?? 'unknown'}; checkpoints need SIGN_VERIFY`);
    }
    if (out.SigningAlgorithms && !out.SigningAlgorithms.includes(KMS_CHECKPOINT_SIGNING_ALGORITHM)) {
      throw new SigningKeyError(`${what} does not offer ECDSA_SHA_256 (${out.SigningAlgorithms.join(', ')})`);
    }
    if (!out.PublicKey || out.PublicKey.byteLength === 0) {
      throw new SigningKeyError(`${what}: GetPublicKey returned no public key`);
    }
    try {
      p256PublicKey(out.PublicKey);
    } catch (err) {
      throw new SigningKeyError(`${what}: the public key is not a DER P-256 SubjectPublicKeyInfo`, { cause: err });
    }
    return { keyArn: out.KeyId, spki: Uint8Array.from(out.PublicKey) };
  }
}
