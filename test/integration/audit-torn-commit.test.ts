// A crash in the middle of an audit commit: commitBatch writes the batch's records, then its head,
// in one group commit, and the journal keeps a prefix of what was written, so a crash can keep the
// records and lose the head. Nobody was answered for that batch; after a restart it must not
// exist: not indexed, not archived, and not in the way of the next commit.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditArchiver } from '../../functions/core/audit-archiver.js';
import { AuditLog, parseBatch, verifyChain } from '../../functions/core/audit-chain.js';
import type { AuditEvent, AuditRecord } from '../../functions/core/model.js';
import { JournalDb } from '../../local/journal-db.js';
import { JournalAuditIndex } from '../../local/journal-stores.js';
import { LocalArchive } from '../../local/local-archive.js';

const clock = { nowNs: () => BigInt(Date.now()) * 1_000_000n };
const ev = (n: number): AuditEvent => ({
  event_type: 'order_submitted',
  order_id: `ORD-${n}`,
  actor: 'test',
  input: { n: String(n) },
  decision: 'accepted',
  reason: 'test',
});

let root = '';
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = '';
});

function open(dir: string) {
  const db = JournalDb.open({ dir: join(dir, 'store') });
  const index = new JournalAuditIndex(db);
  const archive = new LocalArchive({ dir: join(dir, 'archive'), retentionDays: 1 });
  const archiver = new AuditArchiver({ archive, index, clock }, { lingerMs: 5 });
  const log = new AuditLog({ archive, index, clock, archiver });
  return { db, index, archive, archiver, log };
}

describe('an audit commit cut off by a crash', () => {
  it('is discarded at start-up: not indexed, not archived, and the next append takes its sequence', async () => {
    root = mkdtempSync(join(tmpdir(), 'torn-commit-'));
    const first = open(root);
    // Not started: nothing is archived before the "crash".
    await first.log.append(ev(0));
    await first.log.append(ev(1));
    await first.archive.close();
    await first.db.close();

    // The crash: the journal kept record 1's line but only a torn piece of the head line after it.
    const file = join(root, 'store', 'journal.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const lastHead = lines.findLastIndex((l) => l.includes('"p":"HEAD"'));
    expect(lines[lastHead - 1]).toContain('"p":"SEQ#');
    writeFileSync(file, `${lines.slice(0, lastHead).join('\n')}\n${(lines[lastHead] as string).slice(0, 20)}`);

    const second = open(root);
    expect(second.index.discardedAtStart).toBe(1);
    expect((await second.index.getHead()).sequence).toBe(0);
    expect((await second.index.queryByOrder('ORD-1', 10)).items).toEqual([]);
    await second.log.recover();
    await second.archiver.start();
    const next = await second.log.append(ev(2));
    expect(next.sequence).toBe(1);
    await second.archiver.close();

    const all: AuditRecord[] = [];
    for (const key of await second.archive.list('records/'))
      all.push(...parseBatch((await second.archive.get(key)) ?? ''));
    expect(all.map((r) => r.order_id)).toEqual(['ORD-0', 'ORD-2']);
    expect(verifyChain(all)).toBeUndefined();
    await second.archive.close();
    await second.db.close();

    // The removal itself is durable: a third start finds nothing to discard.
    const third = open(root);
    expect(third.index.discardedAtStart).toBe(0);
    expect((await third.index.getHead()).sequence).toBe(1);
    await third.archive.close();
    await third.db.close();
  });
});
