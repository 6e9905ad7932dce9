// local/journal-stores.ts with { durability: 'caller' }: a step's write resolves once applied, and
// becomes durable with the audit record the caller appends after it (the journal is one ordered
// file, so the record's sync covers the write). Other callers never see it before it is durable.
// Without the option a write resolves only once durable, as a DynamoDB write does.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_HASH } from '../../functions/core/audit-chain.js';
import type { AuditRecord } from '../../functions/core/model.js';
import { JournalDb } from '../../local/journal-db.js';
import { JournalAuditIndex, JournalOrderStore, JournalPositionStore } from '../../local/journal-stores.js';
import { fill, filled, HASH_A, hashChain, order, position, risk } from '../support/fixtures.js';

let dir: string;
let opened: JournalDb[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'journal-caller-'));
  opened = [];
});

afterEach(async () => {
  for (const db of opened) await db.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

function open(at = join(dir, 'store')): JournalDb {
  const db = JournalDb.open({ dir: at });
  opened.push(db);
  return db;
}

const journalText = (db = join(dir, 'store')) => readFileSync(join(db, 'journal.jsonl'), 'utf8');

/** What a crash right now would leave: a copy of the database files as they are on disk. */
function crashCopy(name: string): string {
  const from = join(dir, 'store');
  const to = join(dir, name);
  mkdirSync(to);
  for (const f of ['snapshot.jsonl', 'journal.jsonl']) {
    if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
  }
  return to;
}

const records: AuditRecord[] = hashChain(2, (seq) => ({
  timestamp: `2026-11-23T19:25:0${seq}.000000000Z`,
  event_type: 'order_submitted',
  order_id: 'ORD-1',
  actor: 'order-router',
  input: { seq },
  decision: 'accepted',
  reason: 'received',
}));
const rec = (i: number) => records[i] as AuditRecord;

describe("JournalOrderStore with durability 'caller'", () => {
  it('create() resolves once applied, before the write is durable', async () => {
    const db = open();
    const store = new JournalOrderStore(db, { durability: 'caller' });
    const answer = await store.create(order('ORD-1')).then((r) => ({ r, unsynced: db.unsynced() }));
    expect(answer.r).toEqual({ created: true, item: order('ORD-1') });
    expect(answer.unsynced).toBe(1);
    expect(db.settled(db.seqOf('orders', 'ORD-1'))).toBeInstanceOf(Promise);
  });

  it('the audit commit made after the write makes it durable: one sync for both', async () => {
    const db = open();
    const store = new JournalOrderStore(db, { durability: 'caller' });
    const index = new JournalAuditIndex(db);
    const s0 = db.syncs;
    await store.create(order('ORD-1'));
    expect(db.unsynced()).toBeGreaterThan(0);
    const { won, durable } = index.commitBatch(
      { sequence: -1, hash: GENESIS_HASH },
      { sequence: 0, hash: rec(0).hash },
      [rec(0)],
    );
    expect(won).toBe(true);
    const after = await durable.then(() => ({
      unsynced: db.unsynced(),
      orderSettled: db.settled(db.seqOf('orders', 'ORD-1')) === undefined,
      journal: journalText(),
    }));
    expect(after.unsynced).toBe(0);
    expect(after.orderSettled).toBe(true);
    expect(after.journal).toContain('"t":"orders","p":"ORD-1"');
    expect(db.syncs).toBe(s0 + 1); // the step's write and its audit record shared one fdatasync

    // A crash now keeps both.
    const crashed = open(crashCopy('crash'));
    expect(await new JournalOrderStore(crashed).get('ORD-1')).toEqual(order('ORD-1'));
    expect((await new JournalAuditIndex(crashed).getHead()).sequence).toBe(0);
  });

  it('another reader of a write that is not durable yet answers only once it is', async () => {
    const db = open();
    const writer = new JournalOrderStore(db, { durability: 'caller' });
    const reader = new JournalOrderStore(db);
    await writer.create(order('ORD-1'));
    expect(db.unsynced()).toBe(1);
    const read = await reader.get('ORD-1').then((o) => ({ o, unsynced: db.unsynced() }));
    expect(read.o).toEqual(order('ORD-1'));
    expect(read.unsynced).toBe(0);

    // The same holds for the writer's own store, and for a retried create (the conditional answer).
    await writer.recordRisk('ORD-1', risk('ORD-1', 'RC-1', 'approved'));
    expect(db.unsynced()).toBe(1);
    const again = await writer.create(order('ORD-1')).then((r) => ({ r, unsynced: db.unsynced() }));
    expect(again.r.created).toBe(false);
    expect(again.unsynced).toBe(0);
    expect(again.r.created ? undefined : again.r.existing.risk?.check_id).toBe('RC-1');
  });

  it('recordRisk and recordExecution also resolve before durable; a refused retry answers from durable state', async () => {
    const db = open();
    const store = new JournalOrderStore(db, { durability: 'caller' });
    await store.create(order('ORD-1'));
    const riskAnswer = await store
      .recordRisk('ORD-1', risk('ORD-1', 'RC-1', 'approved'))
      .then((r) => ({ r, unsynced: db.unsynced() }));
    expect(riskAnswer.r.check_id).toBe('RC-1');
    expect(riskAnswer.unsynced).toBeGreaterThan(0);
    const exec = await store
      .recordExecution('ORD-1', { checkId: 'RC-1', orderHash: HASH_A }, filled('ORD-1'))
      .then((r) => ({ r, unsynced: db.unsynced() }));
    expect(exec.r.result).toBe('recorded');
    expect(exec.unsynced).toBeGreaterThan(0);
    // The approval is consumed: a second execution is refused, answered only from durable state.
    const refused = await store
      .recordExecution('ORD-1', { checkId: 'RC-1', orderHash: HASH_A }, filled('ORD-1'))
      .then((r) => ({ r, unsynced: db.unsynced() }));
    expect(refused.r.result).not.toBe('recorded');
    expect(refused.unsynced).toBe(0);
  });
});

describe("JournalPositionStore with durability 'caller'", () => {
  it('putIfVersion resolves before durable; readers wait for it', async () => {
    const db = open();
    const writer = new JournalPositionStore(db, { durability: 'caller' });
    const reader = new JournalPositionStore(db);
    const written = await writer
      .putIfVersion(position(1, 100), 0, fill('F-1'), [])
      .then((r) => ({ r, unsynced: db.unsynced() }));
    expect(written.r).toBe('written');
    expect(written.unsynced).toBe(1);
    const read = await reader.get(position(1, 100).account_id, 'AAPL').then((p) => ({ p, unsynced: db.unsynced() }));
    expect(read.p).toEqual(position(1, 100));
    expect(read.unsynced).toBe(0);
    const listed = await writer.list(position(1, 100).account_id);
    expect(listed).toEqual([position(1, 100)]);
  });
});

describe('the default durability', () => {
  it('create() resolves only once the write is durable', async () => {
    const db = open();
    const store = new JournalOrderStore(db);
    const answer = await store.create(order('ORD-1')).then((r) => ({
      r,
      unsynced: db.unsynced(),
      journal: journalText(),
    }));
    expect(answer.r.created).toBe(true);
    expect(answer.unsynced).toBe(0);
    expect(answer.journal).toContain('"t":"orders","p":"ORD-1"');
    const crashed = open(crashCopy('crash'));
    expect(await new JournalOrderStore(crashed).get('ORD-1')).toEqual(order('ORD-1'));
  });

  it('recordRisk and putIfVersion resolve only once durable', async () => {
    const db = open();
    const orders = new JournalOrderStore(db);
    const positions = new JournalPositionStore(db, { durability: 'write' });
    await orders.create(order('ORD-1'));
    const r = await orders.recordRisk('ORD-1', risk('ORD-1', 'RC-1', 'approved')).then(() => db.unsynced());
    expect(r).toBe(0);
    const p = await positions.putIfVersion(position(1, 100), 0, fill('F-1'), []).then(() => db.unsynced());
    expect(p).toBe(0);
  });
});
