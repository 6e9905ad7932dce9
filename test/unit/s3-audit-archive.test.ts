// The S3 archive adapter's request shape: write-once (IfNoneMatch), COMPLIANCE retention and a
// checksum on every PutObject, and how S3's answers map to the port. No network: aws-sdk-client-mock.
import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { TransientError } from '../../functions/adapters/errors.js';
import { S3AuditArchive } from '../../functions/adapters/s3-audit-archive.js';
import { checkpointKey, serializeCheckpoint } from '../../functions/core/checkpoint.js';

const DAY_MS = 86_400_000;
const s3Mock = mockClient(S3Client);
const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const KEY = 'records/dt=2026-11-23/00000000000000000000.jsonl';
const BODY = '{"sequence":0}\n{"sequence":1}\n';

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

function body(text: string): GetObjectCommandOutput['Body'] {
  // Only transformToString is used by the adapter.
  return { transformToString: async () => text } as unknown as GetObjectCommandOutput['Body'];
}

beforeEach(() => {
  s3Mock.reset();
});

describe('S3AuditArchive.putIfAbsent', () => {
  it('writes once, under COMPLIANCE retention, with a SHA-256 checksum', async () => {
    s3Mock.on(PutObjectCommand).resolves({});
    const now = new Date('2026-11-23T19:25:00.000Z');
    const archive = new S3AuditArchive(client, 'audit-bucket', 2555, { now: () => now });

    expect(await archive.putIfAbsent(KEY, BODY)).toBe('written');

    const calls = s3Mock.commandCalls(PutObjectCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toMatchObject({
      Bucket: 'audit-bucket',
      Key: KEY,
      IfNoneMatch: '*',
      ObjectLockMode: 'COMPLIANCE',
      ContentType: 'application/x-ndjson',
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: createHash('sha256').update(BODY, 'utf8').digest('base64'),
    });
    expect(input?.ObjectLockRetainUntilDate).toEqual(new Date(now.getTime() + 2555 * DAY_MS));
    expect(Buffer.from(input?.Body as Uint8Array).toString('utf8')).toBe(BODY);
  });

  it('retains until about now + retention days with the real clock', async () => {
    s3Mock.on(PutObjectCommand).resolves({});
    await new S3AuditArchive(client, 'b', 7).putIfAbsent(KEY, BODY);
    const until = s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input.ObjectLockRetainUntilDate;
    expect(until).toBeInstanceOf(Date);
    expect(Math.abs((until as Date).getTime() - (Date.now() + 7 * DAY_MS))).toBeLessThan(5_000);
  });

  it("answers 'exists' when the key is taken (412 PreconditionFailed)", async () => {
    s3Mock.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    expect(await new S3AuditArchive(client, 'b', 1).putIfAbsent(KEY, BODY)).toBe('exists');
  });

  it('retries a 409 ConditionalRequestConflict, then reports what S3 settled on', async () => {
    s3Mock
      .on(PutObjectCommand)
      .rejectsOnce(s3Error('ConditionalRequestConflict', 409))
      .rejectsOnce(s3Error('ConditionalRequestConflict', 409))
      .resolves({});
    expect(await new S3AuditArchive(client, 'b', 1).putIfAbsent(KEY, BODY)).toBe('written');
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(3);

    s3Mock.reset();
    s3Mock
      .on(PutObjectCommand)
      .rejectsOnce(s3Error('ConditionalRequestConflict', 409))
      .rejects(s3Error('PreconditionFailed', 412));
    expect(await new S3AuditArchive(client, 'b', 1).putIfAbsent(KEY, BODY)).toBe('exists');
  });

  it('gives up on a conflict that never settles with TransientError', async () => {
    s3Mock.on(PutObjectCommand).rejects(s3Error('ConditionalRequestConflict', 409));
    await expect(new S3AuditArchive(client, 'b', 1).putIfAbsent(KEY, BODY)).rejects.toBeInstanceOf(TransientError);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(5);
  });

  it('maps 5xx and throttling to TransientError and surfaces other errors as they are', async () => {
    s3Mock.on(PutObjectCommand).rejects(s3Error('InternalError', 500));
    await expect(new S3AuditArchive(client, 'b', 1).putIfAbsent(KEY, BODY)).rejects.toMatchObject({
      name: 'TransientError',
    });
    s3Mock.on(PutObjectCommand).rejects(s3Error('SlowDown', 503));
    await expect(new S3AuditArchive(client, 'b', 1).putIfAbsent(KEY, BODY)).rejects.toBeInstanceOf(TransientError);
    s3Mock.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403));
    await expect(new S3AuditArchive(client, 'b', 1).putIfAbsent(KEY, BODY)).rejects.toMatchObject({
      name: 'AccessDenied',
    });
  });

  it('refuses a retention that is not a positive number of days', () => {
    expect(() => new S3AuditArchive(client, 'b', 0)).toThrow(RangeError);
    expect(() => new S3AuditArchive(client, 'b', Number.NaN)).toThrow(RangeError);
  });
});

describe('S3AuditArchive.get and list', () => {
  it('reads an object and answers undefined for NoSuchKey', async () => {
    s3Mock.on(GetObjectCommand, { Key: KEY }).resolves({ Body: body(BODY) });
    s3Mock
      .on(GetObjectCommand, { Key: 'missing' })
      .rejects(new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'nope' }));
    const archive = new S3AuditArchive(client, 'b', 1);
    expect(await archive.get(KEY)).toBe(BODY);
    expect(await archive.get('missing')).toBeUndefined();
    expect(s3Mock.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({ Bucket: 'b', Key: KEY });
  });

  it('lists every page under a prefix', async () => {
    s3Mock
      .on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: 'records/dt=2026-11-23/1.jsonl' }, { Key: 'records/dt=2026-11-23/0.jsonl' }],
        IsTruncated: true,
        NextContinuationToken: 'page-2',
      })
      .resolvesOnce({ Contents: [{ Key: 'records/dt=2026-11-24/2.jsonl' }], IsTruncated: false });
    const keys = await new S3AuditArchive(client, 'b', 1).list('records/');
    expect(keys).toEqual([
      'records/dt=2026-11-23/0.jsonl',
      'records/dt=2026-11-23/1.jsonl',
      'records/dt=2026-11-24/2.jsonl',
    ]);
    const calls = s3Mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { Bucket: 'b', Prefix: 'records/', ContinuationToken: undefined },
      { Bucket: 'b', Prefix: 'records/', ContinuationToken: 'page-2' },
    ]);
  });

  it('lists nothing for an empty prefix', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 0, IsTruncated: false });
    expect(await new S3AuditArchive(client, 'b', 1).list('records/dt=2030-01-01/')).toEqual([]);
  });
});

// Both kinds of object the agents write: a batch of records and a signed checkpoint. Each must be a
// create (If-None-Match), locked in COMPLIANCE mode until now + retention, with its checksum.
const CHECKPOINT_KEY = checkpointKey(2);
const CHECKPOINT_BODY = serializeCheckpoint({
  origin: 'acme-trading/audit/v1',
  tree_size: 2,
  root_hash: 'ab'.repeat(32),
  timestamp: '2026-11-23T19:25:00.000000000Z',
  key_id: 'cd'.repeat(32),
  signature: 'MEUCIQDx',
});

describe.each([
  ['records/', KEY, BODY],
  ['checkpoints/', CHECKPOINT_KEY, CHECKPOINT_BODY],
])('S3AuditArchive.putIfAbsent under %s', (prefix, key, text) => {
  const RETENTION_DAYS = 2555;
  const now = new Date('2026-11-23T19:25:00.000Z');
  const archive = () => new S3AuditArchive(client, 'audit-bucket', RETENTION_DAYS, { now: () => now });

  it('sends IfNoneMatch *, COMPLIANCE mode until now + retention, and the SHA-256 checksum of the body', async () => {
    expect(key.startsWith(prefix)).toBe(true);
    s3Mock.on(PutObjectCommand).resolves({});
    expect(await archive().putIfAbsent(key, text)).toBe('written');

    const input = s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input?.Bucket).toBe('audit-bucket');
    expect(input?.Key).toBe(key);
    expect(input?.IfNoneMatch).toBe('*');
    expect(input?.ObjectLockMode).toBe('COMPLIANCE');
    expect(input?.ObjectLockRetainUntilDate).toEqual(new Date(now.getTime() + RETENTION_DAYS * DAY_MS));
    expect(input?.ChecksumAlgorithm).toBe('SHA256');
    expect(input?.ChecksumSHA256).toBe(createHash('sha256').update(text, 'utf8').digest('base64'));
    expect(Buffer.from(input?.Body as Uint8Array).toString('utf8')).toBe(text);
    // Never a legal hold or a governance-mode lock that a privileged user could lift.
    expect(input).not.toHaveProperty('ObjectLockLegalHoldStatus');
  });

  it("answers 'exists' on 412 PreconditionFailed, and the caller can read the object to compare bodies", async () => {
    s3Mock.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    s3Mock.on(GetObjectCommand, { Bucket: 'audit-bucket', Key: key }).resolves({ Body: body(text) });
    const a = archive();
    expect(await a.putIfAbsent(key, text)).toBe('exists');
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(1); // a taken key is not retried
    // What a caller does next: the same bytes mean its own earlier write; others, a conflict.
    expect(await a.get(key)).toBe(text);
    expect(s3Mock.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({ Bucket: 'audit-bucket', Key: key });
  });

  it('retries 409 ConditionalRequestConflict, then gives up with TransientError', async () => {
    s3Mock.on(PutObjectCommand).rejectsOnce(s3Error('ConditionalRequestConflict', 409)).resolves({});
    expect(await archive().putIfAbsent(key, text)).toBe('written');
    const calls = s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    // The retry is the same conditional, locked, checksummed write.
    expect(calls[1]).toEqual(calls[0]);

    s3Mock.reset();
    s3Mock.on(PutObjectCommand).rejects(s3Error('ConditionalRequestConflict', 409));
    const failure = archive().putIfAbsent(key, text);
    await expect(failure).rejects.toBeInstanceOf(TransientError);
    await expect(failure).rejects.toThrow(/conflict persisted/);
  });

  it('surfaces other errors as S3 gave them, and maps throttling and 5xx to TransientError', async () => {
    for (const [name, status] of [
      ['AccessDenied', 403],
      ['InvalidRequest', 400],
      ['NoSuchBucket', 404],
    ] as const) {
      s3Mock.on(PutObjectCommand).rejects(s3Error(name, status));
      await expect(archive().putIfAbsent(key, text)).rejects.toMatchObject({ name });
    }
    for (const [name, status] of [
      ['SlowDown', 503],
      ['InternalError', 500],
      ['ServiceUnavailable', 503],
    ] as const) {
      s3Mock.on(PutObjectCommand).rejects(s3Error(name, status));
      await expect(archive().putIfAbsent(key, text)).rejects.toBeInstanceOf(TransientError);
    }
  });

  it('publishes nothing before publishAfter resolves, and nothing at all if it rejects', async () => {
    s3Mock.on(PutObjectCommand).resolves({});
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const put = archive().putIfAbsent(key, text, { publishAfter: gate });
    await new Promise((r) => setTimeout(r, 10));
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
    release();
    expect(await put).toBe('written');
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(1);

    s3Mock.reset();
    s3Mock.on(PutObjectCommand).resolves({});
    await expect(
      archive().putIfAbsent(key, text, { publishAfter: Promise.reject(new Error('claim lost')) }),
    ).rejects.toThrow('claim lost');
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });
});
