// The auditors' offline commands: they read the archive (or a proof file) themselves and trust
// nothing but the public key, so they run without the platform and without a client certificate.
//   audit verify        the whole log: every record's hash, the chain, the Merkle root at every
//                       checkpoint and every signature; names the first problem
//   audit verify-proof  an inclusion or consistency proof, with the public key only
//   audit sql           SQL over the local archive on DuckDB (bin/cli-audit-sql.ts)

import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { S3AuditArchive } from '../functions/adapters/s3-audit-archive.js';
import { parseProofBundle, verifyProofBundle } from '../functions/core/audit-proofs.js';
import { type ArchiveReader, type VerifyReport, verifyArchive } from '../functions/core/audit-verify.js';
import { p256PublicKey, parseCheckpoint, type SignedCheckpoint } from '../functions/core/checkpoint.js';
import { ValidationError } from '../functions/core/errors.js';
import { LocalArchive } from '../local/local-archive.js';
import { LocalCheckpointSigner } from '../local/local-checkpoint-signer.js';
import type { AuditOfflineAction } from './cli-args.js';
import { UsageError } from './cli-args.js';
import { AuditSqlError, runAuditSql } from './cli-audit-sql.js';

/** Exit code of a log or proof that does not verify (distinct from usage and server errors). */
export const EXIT_NOT_VERIFIED = 5;

export interface OfflineOutput {
  out(text: string): void;
  err(text: string): void;
  json: boolean;
}

export async function runAuditOffline(action: AuditOfflineAction, dataDir: string, o: OfflineOutput): Promise<number> {
  switch (action.op) {
    case 'verify': {
      const publicKey = await loadPublicKey(action.publicKey ?? LocalCheckpointSigner.publicKeyPath(dataDir));
      const known: SignedCheckpoint[] = [];
      for (const file of action.known) known.push(parseCheckpoint(await readText(file, '--known')));
      const report = await verifyArchive(archiveAt(action.archive ?? join(dataDir, 'archive')), {
        publicKey,
        ...(action.origin !== undefined ? { origin: action.origin } : {}),
        knownCheckpoints: known,
      });
      o.out(o.json ? JSON.stringify(report, null, 2) : describeReport(report));
      return report.ok ? 0 : EXIT_NOT_VERIFIED;
    }
    case 'verify-proof': {
      const publicKey = await loadPublicKey(action.publicKey ?? LocalCheckpointSigner.publicKeyPath(dataDir));
      const bundle = parseProofBundle(await readText(action.file, '<file>'));
      const verdict = verifyProofBundle(bundle, publicKey);
      // Signed by the key is not enough when the auditor knows which log it must be.
      const origins =
        bundle.kind === 'inclusion' ? [bundle.checkpoint.origin] : [bundle.first.origin, bundle.second.origin];
      const wrong = action.origin === undefined ? undefined : origins.find((o) => o !== action.origin);
      const result: typeof verdict =
        verdict.ok && wrong !== undefined
          ? {
              ok: false,
              problem: `the proof's checkpoint is of the log ${JSON.stringify(wrong)}, not ${JSON.stringify(action.origin)}`,
            }
          : verdict;
      if (o.json) o.out(JSON.stringify(result, null, 2));
      else if (result.ok) o.out(`VERIFIED: ${describeBundle(bundle)}`);
      else o.out(`NOT VERIFIED: ${result.problem}`);
      return result.ok ? 0 : EXIT_NOT_VERIFIED;
    }
    case 'sql': {
      try {
        o.out(
          await runAuditSql({
            dataDir,
            ...(action.sql !== undefined ? { sql: action.sql } : {}),
            ...(action.named !== undefined ? { named: action.named } : {}),
            params: action.params,
            format: action.format,
          }),
        );
        return 0;
      } catch (err) {
        if (err instanceof AuditSqlError) throw new UsageError(err.message, 'audit sql');
        throw err;
      }
    }
  }
}

function archiveAt(where: string): ArchiveReader {
  const s3 = /^s3:\/\/([^/]+)\/?$/.exec(where);
  // Reading only: the retention given to the adapter is never used.
  if (s3) return new S3AuditArchive(new S3Client({}), s3[1] as string, 1);
  if (where.startsWith('s3://'))
    throw new UsageError(`--archive must be s3://<bucket>, not '${where}'`, 'audit verify');
  return new LocalArchive({ dir: where, retentionDays: 0 });
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${what}: cannot read ${file}: ${(err as Error).message}`, 'audit');
  }
}

/** PEM, or DER SPKI (what `aws kms get-public-key` gives, base64-decoded). */
async function loadPublicKey(file: string): Promise<KeyObject> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new UsageError(
      `cannot read the public key ${file}: ${(err as Error).message} (give --public-key <file>)`,
      'audit',
    );
  }
  try {
    const text = bytes.toString('utf8');
    return p256PublicKey(text.includes('-----BEGIN') ? text : bytes);
  } catch (err) {
    const why = err instanceof ValidationError ? err.message : 'not a PEM or DER public key';
    throw new UsageError(`the public key ${file}: ${why}`, 'audit');
  }
}

export function describeReport(r: VerifyReport): string {
  if (!r.ok) {
    const p = r.problem;
    const where = [
      p.sequence !== undefined ? `record ${p.sequence}` : undefined,
      p.event_id,
      p.object_key ? `in ${p.object_key}${p.line !== undefined ? ` line ${p.line}` : ''}` : undefined,
      p.checkpoint_key ? `checkpoint ${p.checkpoint_key}` : undefined,
      p.checkpoint_key === undefined && p.tree_size !== undefined ? `checkpoint of size ${p.tree_size}` : undefined,
    ].filter((x) => x !== undefined);
    return [
      `NOT VERIFIED: ${p.kind}${where.length > 0 ? ` at ${where.join(', ')}` : ''}`,
      `  ${p.message}`,
      `  ${r.records_verified} records verified before it`,
    ].join('\n');
  }
  const cp = r.latest_checkpoint;
  return [
    `VERIFIED: ${r.records} records in ${r.objects} objects; ${r.checkpoints} signed checkpoints${
      r.known_checkpoints > 0 ? `, ${r.known_checkpoints} kept checkpoints` : ''
    }`,
    `  Merkle root of the log: ${r.root_hash}`,
    cp
      ? `  latest checkpoint: size ${cp.tree_size}, root ${cp.root_hash}, signed ${cp.timestamp} by key ${cp.key_id}`
      : '  no checkpoint yet',
    ...(r.unsigned_tail > 0
      ? [`  ${r.unsigned_tail} records after it: ${r.unsigned_tail_note ?? 'protected by the hash chain only'}`]
      : []),
  ].join('\n');
}

function describeBundle(b: ReturnType<typeof parseProofBundle>): string {
  if (b.kind === 'inclusion') {
    return `record ${b.leaf_index} is in the log of ${b.tree_size} records signed at ${b.checkpoint.timestamp} (${b.checkpoint.origin})`;
  }
  return `the log of ${b.second.tree_size} records (signed ${b.second.timestamp}) extends the log of ${b.first.tree_size} (signed ${b.first.timestamp}) without changing it`;
}
