// AuditArchive on S3 with Object Lock: each batch object is written once (IfNoneMatch '*') under
// COMPLIANCE retention, so not even the account root can alter or delete it before the date.
import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ArchivePutOptions, AuditArchive } from '../ports.js';
import { backoffMs, callAws, errorName, httpStatus, sleep, TransientError } from './errors.js';

const DAY_MS = 86_400_000;
/** Attempts when S3 answers 409 ConditionalRequestConflict (a concurrent write to the same key). */
const CONFLICT_ATTEMPTS = 5;

export interface S3AuditArchiveOptions {
  /** Injected so tests can check the retain-until date. */
  now?: () => Date;
}

export class S3AuditArchive implements AuditArchive {
  private readonly now: () => Date;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly retentionDays: number,
    options: S3AuditArchiveOptions = {},
  ) {
    if (!Number.isInteger(retentionDays) || retentionDays < 1) {
      throw new RangeError(`retentionDays must be a positive integer, got ${retentionDays}`);
    }
    this.now = options.now ?? (() => new Date());
  }

  async putIfAbsent(key: string, body: string, options: ArchivePutOptions = {}): Promise<'written' | 'exists'> {
    // A PutObject publishes at once: nothing to prepare before the claim it depends on is durable.
    await options.publishAfter;
    const bytes = Buffer.from(body, 'utf8');
    // Object Lock requires an integrity checksum on PutObject; computing it here (rather than letting
    // the SDK do it) makes the request deterministic and testable.
    const checksum = createHash('sha256').update(bytes).digest('base64');
    for (let attempt = 0; ; attempt++) {
      try {
        await callAws(`PutObject s3://${this.bucket}/${key}`, () =>
          this.s3.send(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: bytes,
              ContentType: 'application/x-ndjson',
              IfNoneMatch: '*',
              ObjectLockMode: 'COMPLIANCE',
              ObjectLockRetainUntilDate: new Date(this.now().getTime() + this.retentionDays * DAY_MS),
              ChecksumAlgorithm: 'SHA256',
              ChecksumSHA256: checksum,
            }),
          ),
        );
        return 'written';
      } catch (err) {
        const status = httpStatus(err);
        const name = errorName(err);
        if (status === 412 || name === 'PreconditionFailed') return 'exists';
        if (status === 409 || name === 'ConditionalRequestConflict') {
          // Another write to this key is in flight; once it settles we get 412 or succeed.
          if (attempt + 1 >= CONFLICT_ATTEMPTS) {
            throw new TransientError(`PutObject s3://${this.bucket}/${key}: conflict persisted`, { cause: err });
          }
          await sleep(backoffMs(attempt, 50));
          continue;
        }
        throw err;
      }
    }
  }

  async get(key: string): Promise<string | undefined> {
    try {
      const out = await callAws(`GetObject s3://${this.bucket}/${key}`, () =>
        this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })),
      );
      return out.Body ? await out.Body.transformToString('utf-8') : '';
    } catch (err) {
      if (errorName(err) === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await callAws(`ListObjectsV2 s3://${this.bucket}/${prefix}`, () =>
        this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token })),
      );
      for (const o of out.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    // S3 lists in UTF-8 byte order; sorting gives the order JavaScript compares strings by.
    return keys.sort();
  }
}
