// Several writers (as several Lambda instances would be) append to one audit log at once, on the
// DynamoDB adapter (dynalite) and one write-once archive: the conditional write on the head is the
// only arbiter, no transactions. The sequence and the Merkle tree must not fork: the archive then
// verifies in full, every checkpoint any writer signed included, and holds every record once.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAuditIndex } from '../../functions/adapters/dynamodb-audit-index.js';
import { AuditLog } from '../../functions/core/audit-chain.js';
import { Checkpointer } from '../../functions/core/audit-checkpointer.js';
import { verifyArchive } from '../../functions/core/audit-verify.js';
import type { AuditEvent, AuditRecord } from '../../functions/core/model.js';
import { SystemClock } from '../../functions/core/time.js';
import { type LocalDynamo, startLocalDynamo } from '../../local/dynamo.js';
import { LocalArchive } from '../../local/local-archive.js';
import { ephemeralCheckpointSigner } from '../../local/local-checkpoint-signer.js';
import { freshTables } from '../support/fixtures.js';

let dir: string;
let dynamo: LocalDynamo;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-writers-'));
  dynamo = await startLocalDynamo({ dataDir: dir });
}, 60_000);

afterAll(async () => {
  await dynamo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ev = (writer: number, i: number): AuditEvent => ({
  event_type: 'risk_check',
  order_id: `ORD-${writer}-${i}`,
  trader_id: `TRADER-${writer}`,
  actor: `arn:aws:iam::000000000000:role/writer-${writer}`,
  input: { writer, i },
  decision: 'approved',
  reason: 'all controls passed',
});

describe('concurrent audit writers on DynamoDB', () => {
  it('neither the sequence nor the tree forks: the archive verifies in full, every record once', async () => {
    const table = await freshTables(dynamo.client, 'w')('audit');
    const archive = new LocalArchive({ dir: join(dir, 'archive'), retentionDays: 1 });
    const keys = ephemeralCheckpointSigner();
    const clock = new SystemClock();
    const writers = Array.from({ length: 3 }, () => {
      // Each writer has its own index client state, checkpointer and log, as separate Lambdas do.
      const checkpointer = new Checkpointer(
        { archive, signer: keys.signer, clock, origin: 'test.acme-trading/audit' },
        { everyRecords: 10 },
      );
      return {
        checkpointer,
        log: new AuditLog(
          { archive, index: new DynamoDbAuditIndex(dynamo.client, table), clock, checkpointer },
          { maxBatch: 4, maxClaimAttempts: 200 },
        ),
      };
    });
    const appended: AuditRecord[] = (
      await Promise.all(
        writers.map(({ log }, w) => Promise.all(Array.from({ length: 40 }, (_, i) => log.append(ev(w, i))))),
      )
    ).flat();
    for (const { checkpointer } of writers) await checkpointer.tick();

    expect(appended).toHaveLength(120);
    expect(new Set(appended.map((r) => r.sequence)).size).toBe(120);
    expect(Math.max(...appended.map((r) => r.sequence))).toBe(119);

    const report = await verifyArchive(archive, { publicKey: keys.publicKey, origin: 'test.acme-trading/audit' });
    expect(report).toMatchObject({ ok: true, records: 120 });
    if (!report.ok) return;
    expect(report.checkpoints).toBeGreaterThanOrEqual(3);
    // The tree every writer extended is one tree: each writer's view of it now agrees.
    for (const { log } of writers) expect((await log.tree()).root).toBe(report.root_hash);
    await archive.close();
  }, 60_000);
});
