// The KMS checkpoint signer's requests and how it reads KMS's answers. No network: the client is
// mocked, and the mocked Sign signs with a local P-256 key exactly as KMS does (SHA-256 of the RAW
// message, DER signature), so the checkpoint verifier is shown to accept KMS-format signatures.
import { generateKeyPairSync, type KeyObject, sign as signRaw } from 'node:crypto';
import {
  DisabledException,
  GetPublicKeyCommand,
  type GetPublicKeyCommandOutput,
  KeyUnavailableException,
  KMSClient,
  KMSInternalException,
  KMSInvalidStateException,
  KMSServiceException,
  NotFoundException,
  SignCommand,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { TransientError } from '../../functions/adapters/errors.js';
import {
  KMS_MAX_RAW_MESSAGE_BYTES,
  KmsCheckpointSigner,
  SigningKeyError,
  SigningMessageTooLongError,
} from '../../functions/adapters/kms-checkpoint-signer.js';
import {
  type Checkpoint,
  checkpointBody,
  checkpointProblem,
  keyIdOf,
  p256PublicKey,
  signCheckpoint,
} from '../../functions/core/checkpoint.js';

const kmsMock = mockClient(KMSClient);
const client = new KMSClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/0f0e0d0c-0b0a-0908-0706-050403020100';
const ALIAS = 'alias/TradingPlatform-audit-checkpoints';

const CHECKPOINT: Checkpoint = {
  origin: 'acme-trading/audit/v1',
  tree_size: 42,
  root_hash: 'a'.repeat(64),
  timestamp: '2026-11-23T19:25:00.123456789Z',
};

function p256(): { privateKey: KeyObject; spki: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, spki: publicKey.export({ format: 'der', type: 'spki' }) };
}

const local = p256();

function publicKeyAnswer(overrides: Partial<GetPublicKeyCommandOutput> = {}): Partial<GetPublicKeyCommandOutput> {
  return {
    KeyId: KEY_ARN,
    PublicKey: Uint8Array.from(local.spki),
    KeySpec: 'ECC_NIST_P256',
    KeyUsage: 'SIGN_VERIFY',
    SigningAlgorithms: ['ECDSA_SHA_256'],
    ...overrides,
  };
}

/** What KMS Sign does for ECDSA_SHA_256 / RAW: SHA-256 over the message, DER-encoded signature. */
function kmsSigns(key: KeyObject = local.privateKey, keyArn = KEY_ARN) {
  kmsMock.on(SignCommand).callsFake((input: { Message: Uint8Array }) => ({
    KeyId: keyArn,
    SigningAlgorithm: 'ECDSA_SHA_256',
    Signature: Uint8Array.from(signRaw('sha256', input.Message, { key, dsaEncoding: 'der' })),
  }));
}

function kmsError<T extends KMSServiceException>(
  Err: new (opts: { $metadata: { httpStatusCode: number }; message: string }) => T,
  status: number,
): T {
  return new Err({ $metadata: { httpStatusCode: status }, message: Err.name });
}

function throttled(): KMSServiceException {
  return new KMSServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'Rate exceeded',
  });
}

beforeEach(() => {
  kmsMock.reset();
});

describe('KmsCheckpointSigner.sign', () => {
  it('asks KMS for ECDSA_SHA_256 over the RAW message, with the configured key', async () => {
    kmsMock.on(GetPublicKeyCommand).resolves(publicKeyAnswer());
    kmsSigns();
    const message = Buffer.from(checkpointBody(CHECKPOINT), 'utf8');

    const signature = await new KmsCheckpointSigner(client, KEY_ARN).sign(message);

    const calls = kmsMock.commandCalls(SignCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toEqual({
      KeyId: KEY_ARN,
      Message: message,
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    // A DER ECDSA signature: SEQUENCE { INTEGER r, INTEGER s }.
    expect(signature[0]).toBe(0x30);
    expect(signature).toBeInstanceOf(Uint8Array);
  });

  it('signs a checkpoint that the same verifier as for local signatures accepts', async () => {
    kmsMock.on(GetPublicKeyCommand).resolves(publicKeyAnswer());
    kmsSigns();
    const signer = new KmsCheckpointSigner(client, ALIAS);

    const signed = await signCheckpoint(signer, CHECKPOINT);

    expect(signed.key_id).toBe(keyIdOf(local.spki));
    expect(checkpointProblem(signed, p256PublicKey(await signer.publicKey()))).toBeUndefined();
    // And with the public key as an auditor holds it (PEM), independent of the signer.
    const pem = p256PublicKey(local.spki).export({ format: 'pem', type: 'spki' }).toString();
    expect(checkpointProblem(signed, p256PublicKey(pem))).toBeUndefined();
    // Any change to the signed fields breaks it.
    expect(checkpointProblem({ ...signed, tree_size: 43 }, p256PublicKey(local.spki))).toBe(
      'signature does not verify',
    );
    // Another key's signature is refused, by key id first.
    const other = p256();
    expect(checkpointProblem(signed, p256PublicKey(other.spki))).toMatch(/^signed by key /);
  });

  it('refuses a message longer than KMS signs as RAW, before calling KMS', async () => {
    kmsMock.on(GetPublicKeyCommand).resolves(publicKeyAnswer());
    kmsSigns();
    const signer = new KmsCheckpointSigner(client, KEY_ARN);
    await expect(signer.sign(new Uint8Array(KMS_MAX_RAW_MESSAGE_BYTES + 1))).rejects.toBeInstanceOf(
      SigningMessageTooLongError,
    );
    await expect(signer.sign(new Uint8Array(4097))).rejects.toThrow(/at most 4096 bytes; this one has 4097/);
    expect(kmsMock.commandCalls(SignCommand)).toHaveLength(0);
    // 4096 bytes is still fine.
    expect((await signer.sign(new Uint8Array(4096)))[0]).toBe(0x30);
  });

  it('refuses a signature made by a different key than the public key in use (an alias moved)', async () => {
    kmsMock.on(GetPublicKeyCommand).resolves(publicKeyAnswer());
    const moved = p256();
    kmsSigns(moved.privateKey, 'arn:aws:kms:us-east-1:123456789012:key/ffffffff-0000-0000-0000-000000000000');
    const signer = new KmsCheckpointSigner(client, ALIAS);
    await expect(signer.sign(Buffer.from('x'))).rejects.toThrow(/the alias moved/);

    // The cached public key is dropped: the next call fetches the key the alias now names.
    kmsMock.reset();
    kmsMock
      .on(GetPublicKeyCommand)
      .resolves(
        publicKeyAnswer({ KeyId: 'arn:aws:kms:us-east-1:123456789012:key/ffffffff-0000-0000-0000-000000000000' }),
      );
    kmsSigns(moved.privateKey, 'arn:aws:kms:us-east-1:123456789012:key/ffffffff-0000-0000-0000-000000000000');
    await expect(signer.sign(Buffer.from('x'))).resolves.toBeInstanceOf(Uint8Array);
    expect(kmsMock.commandCalls(GetPublicKeyCommand)).toHaveLength(1);
  });

  it('refuses an answer without a signature or with another algorithm', async () => {
    kmsMock.on(GetPublicKeyCommand).resolves(publicKeyAnswer());
    kmsMock.on(SignCommand).resolves({ KeyId: KEY_ARN });
    await expect(new KmsCheckpointSigner(client, KEY_ARN).sign(Buffer.from('x'))).rejects.toBeInstanceOf(
      SigningKeyError,
    );
    kmsMock
      .on(SignCommand)
      .resolves({ KeyId: KEY_ARN, Signature: new Uint8Array([1]), SigningAlgorithm: 'ECDSA_SHA_384' });
    await expect(new KmsCheckpointSigner(client, KEY_ARN).sign(Buffer.from('x'))).rejects.toThrow(/ECDSA_SHA_384/);
  });

  it('maps throttling and KMS 5xx to TransientError and surfaces the rest as they are', async () => {
    kmsMock.on(GetPublicKeyCommand).resolves(publicKeyAnswer());
    const signer = new KmsCheckpointSigner(client, KEY_ARN);
    const cases: [unknown, string][] = [
      [throttled(), 'TransientError'],
      [kmsError(KMSInternalException, 500), 'TransientError'],
      [kmsError(KeyUnavailableException, 500), 'TransientError'],
      [kmsError(DisabledException, 400), 'DisabledException'],
      [kmsError(KMSInvalidStateException, 400), 'KMSInvalidStateException'],
      [kmsError(NotFoundException, 400), 'NotFoundException'],
      [
        new KMSServiceException({
          name: 'AccessDeniedException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          message: 'not authorized to perform kms:Sign',
        }),
        'AccessDeniedException',
      ],
    ];
    for (const [error, name] of cases) {
      kmsMock.on(SignCommand).rejects(error as Error);
      const outcome = signer.sign(Buffer.from('x'));
      await expect(outcome).rejects.toMatchObject({ name });
      if (name === 'TransientError') {
        await expect(signer.sign(Buffer.from('x'))).rejects.toBeInstanceOf(TransientError);
        await expect(signer.sign(Buffer.from('x'))).rejects.toThrow(/^KMS Sign arn:aws:kms:/);
      }
    }
  });
});

describe('KmsCheckpointSigner.publicKey', () => {
  it('returns the DER SPKI KMS gives, fetched once and then cached', async () => {
    kmsMock.on(GetPublicKeyCommand).resolves(publicKeyAnswer());
    kmsSigns();
    const signer = new KmsCheckpointSigner(client, ALIAS);
    const [a, b] = await Promise.all([signer.publicKey(), signer.publicKey()]);
    await signer.sign(Buffer.from('x'));
    expect(Buffer.from(a)).toEqual(local.spki);
    expect(Buffer.from(b)).toEqual(local.spki);
    expect(await signer.publicKey()).not.toBe(a); // a copy each time: callers cannot alter the cache
    expect(kmsMock.commandCalls(GetPublicKeyCommand)).toHaveLength(1);
    expect(kmsMock.commandCalls(GetPublicKeyCommand)[0]?.args[0].input).toEqual({ KeyId: ALIAS });
  });

  it.each([
    [{ KeySpec: 'ECC_NIST_P384' as const }, /key spec ECC_NIST_P384; checkpoints need ECC_NIST_P256/],
    [{ KeySpec: 'RSA_2048' as const }, /key spec RSA_2048/],
    [{ KeySpec: 'SYMMETRIC_DEFAULT' as const }, /key spec SYMMETRIC_DEFAULT/],
    [{ KeySpec: undefined }, /key spec unknown/],
    [{ KeyUsage: 'ENCRYPT_DECRYPT' as const }, /key usage ENCRYPT_DECRYPT; checkpoints need SIGN_VERIFY/],
    [{ KeyUsage: 'KEY_AGREEMENT' as const }, /key usage KEY_AGREEMENT/],
    [{ SigningAlgorithms: ['ECDSA_SHA_384' as const] }, /does not offer ECDSA_SHA_256/],
    [{ PublicKey: undefined }, /returned no public key/],
    [{ PublicKey: new Uint8Array([1, 2, 3]) }, /not a DER P-256 SubjectPublicKeyInfo/],
  ])('refuses an unsuitable key: %o', async (overrides, message) => {
    kmsMock.on(GetPublicKeyCommand).resolves(publicKeyAnswer(overrides));
    kmsSigns();
    const signer = new KmsCheckpointSigner(client, KEY_ARN);
    await expect(signer.publicKey()).rejects.toBeInstanceOf(SigningKeyError);
    await expect(signer.publicKey()).rejects.toThrow(message);
    // Nothing gets signed with it either.
    await expect(signer.sign(Buffer.from('x'))).rejects.toBeInstanceOf(SigningKeyError);
  });

  it('refuses a P-384 public key even when the key spec claims P-256', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    kmsMock
      .on(GetPublicKeyCommand)
      .resolves(publicKeyAnswer({ PublicKey: Uint8Array.from(publicKey.export({ format: 'der', type: 'spki' })) }));
    await expect(new KmsCheckpointSigner(client, KEY_ARN).publicKey()).rejects.toThrow(/P-256/);
  });

  it('does not cache a failure: a throttled fetch is TransientError, the next call asks again', async () => {
    kmsMock.on(GetPublicKeyCommand).rejectsOnce(throttled()).resolves(publicKeyAnswer());
    const signer = new KmsCheckpointSigner(client, KEY_ARN);
    await expect(signer.publicKey()).rejects.toBeInstanceOf(TransientError);
    expect(Buffer.from(await signer.publicKey())).toEqual(local.spki);
    expect(kmsMock.commandCalls(GetPublicKeyCommand)).toHaveLength(2);
  });

  it('refuses an empty key id', () => {
    expect(() => new KmsCheckpointSigner(client, ' ')).toThrow(SigningKeyError);
  });
});
