// One contract for the store ports (functions/ports.ts), run against both implementations: the
// DynamoDB adapters (functions/adapters/dynamodb-*.ts) on dynalite, and the journaled local stores
// (local/journal-stores.ts) on a fresh JournalDb. Every store a test asks for is fresh and empty
// (a new table on dynalite, a new database directory for the journal), so tests do not see each
// other's items. Where the two implementations are known to differ, the test says so (`fails on`).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbApprovalStore } from '../../functions/adapters/dynamodb-approval-store.js';
import { DynamoDbAuditIndex, recordKey } from '../../functions/adapters/dynamodb-audit-index.js';
import { DynamoDbOrderStore } from '../../functions/adapters/dynamodb-order-store.js';
import { DynamoDbPositionStore } from '../../functions/adapters/dynamodb-position-store.js';
import { DynamoDbReferenceStore } from '../../functions/adapters/dynamodb-reference-store.js';
import { GENESIS_HASH, verifyChain } from '../../functions/core/audit-chain.js';
import { canonicalJson } from '../../functions/core/canonical-json.js';
import { NotFoundError, ValidationError } from '../../functions/core/errors.js';
import type { AuditRecord, OrderRecord, Position, RiskProfile, SecurityReference } from '../../functions/core/model.js';
import type {
  ApprovalStore,
  AuditIndex,
  ChainHead,
  OrderStore,
  PositionStore,
  ReferenceStore,
} from '../../functions/ports.js';
import { JournalDb } from '../../local/journal-db.js';
import {
  JournalApprovalStore,
  JournalAuditIndex,
  JournalOrderStore,
  JournalPositionStore,
  JournalReferenceStore,
} from '../../local/journal-stores.js';
import {
  approval,
  awkwardAuditChain,
  collect,
  day,
  EVENT_TYPES,
  fill,
  filled,
  freshTables,
  HASH_A,
  HASH_B,
  order,
  position as pos,
  risk,
  second,
  startDynalite,
  venueRejected,
} from '../support/fixtures.js';
import { ACC_001, security } from '../support/in-memory.js';

// --- the factories ----------------------------------------------------------------------------------

/** Each call hands out a new, empty store. */
interface StoreFactory {
  orders(): Promise<OrderStore>;
  reference(): Promise<ReferenceStore>;
  positions(): Promise<PositionStore>;
  approvals(): Promise<ApprovalStore>;
  audit(): Promise<AuditIndex>;
}

type BackendName = 'dynalite' | 'journal';

interface Backend {
  name: BackendName;
  start(): Promise<{ factory: StoreFactory; stop(): Promise<void> }>;
}

async function startDynaliteStores(): Promise<{ factory: StoreFactory; stop(): Promise<void> }> {
  const { client, stop } = await startDynalite('store-contract-ddb-');
  const freshTable = freshTables(client, 'c');
  return {
    factory: {
      orders: async () => new DynamoDbOrderStore(client, await freshTable('orders')),
      reference: async () => new DynamoDbReferenceStore(client, await freshTable('reference')),
      positions: async () => new DynamoDbPositionStore(client, await freshTable('positions')),
      approvals: async () => new DynamoDbApprovalStore(client, await freshTable('approvals')),
      audit: async () => new DynamoDbAuditIndex(client, await freshTable('audit')),
    },
    stop,
  };
}

async function startJournalStores(): Promise<{ factory: StoreFactory; stop(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'store-contract-journal-'));
  const dbs: JournalDb[] = [];
  let counter = 0;
  const freshDb = (): JournalDb => {
    counter++;
    const db = JournalDb.open({ dir: join(root, `db${counter}`) });
    dbs.push(db);
    return db;
  };
  return {
    factory: {
      orders: async () => new JournalOrderStore(freshDb()),
      reference: async () => new JournalReferenceStore(freshDb()),
      positions: async () => new JournalPositionStore(freshDb()),
      approvals: async () => new JournalApprovalStore(freshDb()),
      audit: async () => new JournalAuditIndex(freshDb()),
    },
    stop: async () => {
      for (const db of dbs) await db.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

const backends: Backend[] = [
  { name: 'dynalite', start: startDynaliteStores },
  { name: 'journal', start: startJournalStores },
];

// --- fixtures (the shared builders are in test/support/fixtures.ts) ----------------------------------

/**
 * Timestamps for `auditChain`: they mostly follow the sequence, but some records share a timestamp
 * and a few are out of order (a later sequence with an earlier timestamp), so by-type ordering
 * (timestamp, then sequence) differs from sequence order.
 */
function tickStamp(seq: number): string {
  // Pairs (2k, 2k+1) share a timestamp (they are of different types). Every 9th record shares
  // the timestamp of the record of its type four sequences before (a tie, ordered by sequence);
  // every 11th is stamped 7 s early, before earlier records of its type (out of sequence order).
  const even = Math.floor(seq / 2) * 2;
  const tick = seq % 9 === 8 ? Math.floor((seq - 4) / 2) * 2 : seq % 11 === 10 ? even - 7 : even;
  return `2031-01-01T00:${String(Math.floor(tick / 60)).padStart(2, '0')}:${String(tick % 60).padStart(2, '0')}.000000${String(tick % 1000).padStart(3, '0')}Z`;
}

/** A real hash chain with awkward content, stamped by `tickStamp`. */
const auditChain = (count: number) => awkwardAuditChain(count, tickStamp);

/** The by-type index order: timestamp, then sequence. */
function byTypeOrder(a: AuditRecord, b: AuditRecord): number {
  return a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.sequence - b.sequence;
}

const bySequence = (records: readonly AuditRecord[]) => [...records].sort((a, b) => a.sequence - b.sequence);

/**
 * By-type results: ordered by timestamp, each record once. Records sharing a timestamp come in
 * sequence order on the journal; DynamoDB leaves their order unspecified (dynalite orders them by a
 * hash of the table key), so for it only the set of records within a timestamp is compared.
 */
function expectByTypeOrder(backend: BackendName, items: readonly AuditRecord[], want: readonly AuditRecord[]): void {
  if (backend === 'journal') {
    expect(items).toEqual(want);
    return;
  }
  expect(items.map((r) => r.timestamp)).toEqual(want.map((r) => r.timestamp));
  expect(bySequence(items)).toEqual(bySequence(want));
}

const tokenOf = (key: unknown) => Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');

/** The rejection a bad page token must get: a ValidationError naming the field nextToken. */
async function expectTokenRejected(promise: Promise<unknown>): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  expect((err as ValidationError).errors.map((e) => e.field)).toEqual(['nextToken']);
}

// --- the contract -----------------------------------------------------------------------------------

function storeContract(backend: Backend): void {
  let stores: StoreFactory;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const started = await backend.start();
    stores = started.factory;
    stop = started.stop;
  }, 60_000);

  afterAll(async () => {
    await stop?.();
  });

  describe('OrderStore', () => {
    it('creates once; a second create returns the stored record unchanged', async () => {
      const store = await stores.orders();
      const first = order('ORD-1');
      expect(await store.create(first)).toEqual({ created: true, item: first });
      const second = { ...order('ORD-1', HASH_B), submitted_by: 'CN=someone-else' };
      expect(await store.create(second)).toEqual({ created: false, existing: first });
      expect(await store.get('ORD-1')).toEqual(first);
      expect(await store.get('ORD-missing')).toBeUndefined();
      // A MARKET order has no price: the optional field stays absent.
      const market = order('ORD-2');
      const { price: _price, ...rest } = market.order;
      const marketOrder: OrderRecord = { ...market, order: { ...rest, order_type: 'MARKET' } };
      expect((await store.create(marketOrder)).created).toBe(true);
      const stored = await store.get('ORD-2');
      expect(stored).toEqual(marketOrder);
      expect(stored?.order).not.toHaveProperty('price');
    });

    it('returns the existing record with its risk decision and execution, never the bookkeeping', async () => {
      const store = await stores.orders();
      await store.create(order('ORD-1'));
      const decision = risk('ORD-1', 'RC-1', 'approved');
      await store.recordRisk('ORD-1', decision);
      const exec = filled('ORD-1');
      await store.recordExecution('ORD-1', { checkId: 'RC-1', orderHash: HASH_A }, exec);
      const again = await store.create(order('ORD-1'));
      expect(again).toEqual({ created: false, existing: { ...order('ORD-1'), risk: decision, execution: exec } });
      if (!again.created) expect(again.existing).not.toHaveProperty('risk_consumed_at');
      expect(await store.get('ORD-1')).not.toHaveProperty('risk_consumed_at');
    });

    it('records the risk decision once; a retry gets the first decision back', async () => {
      const store = await stores.orders();
      await store.create(order('ORD-1'));
      const first = risk('ORD-1', 'RC-1', 'approved');
      expect(await store.recordRisk('ORD-1', first)).toEqual(first);
      expect(await store.recordRisk('ORD-1', risk('ORD-1', 'RC-2', 'rejected'))).toEqual(first);
      expect(await store.recordRisk('ORD-1', first)).toEqual(first);
      expect((await store.get('ORD-1'))?.risk).toEqual(first);
      await expect(store.recordRisk('ORD-missing', first)).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.get('ORD-missing')).toBeUndefined();
    });

    it('lets exactly one of two concurrent risk decisions stick', async () => {
      const store = await stores.orders();
      await store.create(order('ORD-1'));
      const [a, b] = await Promise.all([
        store.recordRisk('ORD-1', risk('ORD-1', 'RC-1', 'approved')),
        store.recordRisk('ORD-1', risk('ORD-1', 'RC-2', 'rejected')),
      ]);
      expect(a).toEqual(b);
      expect((await store.get('ORD-1'))?.risk).toEqual(a);
    });

    it('records an execution against a verified approval; a retry under the same check is a duplicate', async () => {
      const store = await stores.orders();
      await store.create(order('ORD-1'));
      await store.recordRisk('ORD-1', risk('ORD-1', 'RC-1', 'approved'));
      const exec = filled('ORD-1');
      const expected = { checkId: 'RC-1', orderHash: HASH_A };
      expect(await store.recordExecution('ORD-1', expected, exec)).toEqual({ result: 'recorded', execution: exec });
      // The retry carries a later timestamp: it gets the stored execution back, not its own.
      const retry = filled('ORD-1', '2026-11-23T19:26:00.000000000Z');
      expect(await store.recordExecution('ORD-1', expected, retry)).toEqual({ result: 'duplicate', execution: exec });
      expect(await store.recordExecution('ORD-1', expected, venueRejected())).toEqual({
        result: 'duplicate',
        execution: exec,
      });
      const stored = await store.get('ORD-1');
      expect(stored?.execution).toEqual(exec);
      expect(stored).not.toHaveProperty('risk_consumed_at');
    });

    it('accepts a needs_approval decision and records a venue rejection (no fill)', async () => {
      const store = await stores.orders();
      await store.create(order('ORD-1'));
      await store.recordRisk('ORD-1', risk('ORD-1', 'RC-1', 'needs_approval'));
      const outcome = venueRejected();
      expect(await store.recordExecution('ORD-1', { checkId: 'RC-1', orderHash: HASH_A }, outcome)).toEqual({
        result: 'recorded',
        execution: outcome,
      });
      expect((await store.get('ORD-1'))?.execution).toEqual(outcome);
    });

    it('refuses with the precise reason when the approval does not verify, and records nothing', async () => {
      const store = await stores.orders();
      const ok = { checkId: 'RC-1', orderHash: HASH_A };
      const attempt = (id: string, expected = ok) => store.recordExecution(id, expected, filled(id));

      expect(await attempt('ORD-missing')).toEqual({ result: 'not_verified', reason: 'order ORD-missing not found' });
      expect(await store.get('ORD-missing')).toBeUndefined();

      await store.create(order('ORD-norisk'));
      expect(await attempt('ORD-norisk')).toEqual({
        result: 'not_verified',
        reason: 'no risk decision recorded for the order',
      });

      await store.create(order('ORD-rejected'));
      await store.recordRisk('ORD-rejected', risk('ORD-rejected', 'RC-1', 'rejected'));
      expect(await attempt('ORD-rejected')).toEqual({ result: 'not_verified', reason: 'risk decision is rejected' });

      await store.create(order('ORD-other'));
      await store.recordRisk('ORD-other', risk('ORD-other', 'RC-9', 'approved'));
      expect(await attempt('ORD-other')).toEqual({
        result: 'not_verified',
        reason: 'risk check id mismatch: expected RC-1, stored RC-9',
      });

      const hashMismatch = {
        result: 'not_verified',
        reason: 'order content hash mismatch: the order changed after the risk check',
      };
      // The caller's hash differs from the one the risk check approved.
      await store.create(order('ORD-changed'));
      await store.recordRisk('ORD-changed', risk('ORD-changed', 'RC-1', 'approved'));
      expect(await attempt('ORD-changed', { checkId: 'RC-1', orderHash: HASH_B })).toEqual(hashMismatch);
      // The risk check and the caller agree, but the stored order has another hash.
      await store.create(order('ORD-drift', HASH_B));
      await store.recordRisk('ORD-drift', risk('ORD-drift', 'RC-1', 'approved', HASH_A));
      expect(await attempt('ORD-drift')).toEqual(hashMismatch);

      for (const id of ['ORD-norisk', 'ORD-rejected', 'ORD-other', 'ORD-changed', 'ORD-drift']) {
        const stored = await store.get(id);
        expect(stored?.execution, id).toBeUndefined();
        expect(stored, id).not.toHaveProperty('risk_consumed_at');
      }
      // The refusals consumed nothing: the right check still goes through.
      expect((await attempt('ORD-changed')).result).toBe('recorded');
    });

    it('answers not_verified for an order already executed under another check (or another hash)', async () => {
      const store = await stores.orders();
      await store.create(order('ORD-done'));
      await store.recordRisk('ORD-done', risk('ORD-done', 'RC-1', 'approved'));
      const exec = filled('ORD-done');
      expect((await store.recordExecution('ORD-done', { checkId: 'RC-1', orderHash: HASH_A }, exec)).result).toBe(
        'recorded',
      );
      const already = { result: 'not_verified', reason: 'order already executed under risk check RC-1' };
      expect(
        await store.recordExecution('ORD-done', { checkId: 'RC-2', orderHash: HASH_A }, filled('ORD-done')),
      ).toEqual(already);
      expect(
        await store.recordExecution('ORD-done', { checkId: 'RC-1', orderHash: HASH_B }, filled('ORD-done')),
      ).toEqual(already);
      expect((await store.get('ORD-done'))?.execution).toEqual(exec);
    });

    it('lets exactly one of two concurrent executions consume the approval', async () => {
      const store = await stores.orders();
      await store.create(order('ORD-1'));
      await store.recordRisk('ORD-1', risk('ORD-1', 'RC-1', 'approved'));
      const expected = { checkId: 'RC-1', orderHash: HASH_A };
      const results = await Promise.all([
        store.recordExecution('ORD-1', expected, filled('ORD-1', '2026-11-23T19:25:01.000000001Z')),
        store.recordExecution('ORD-1', expected, filled('ORD-1', '2026-11-23T19:25:01.000000002Z')),
      ]);
      expect(results.map((r) => r.result).sort()).toEqual(['duplicate', 'recorded']);
      const stored = (await store.get('ORD-1'))?.execution;
      for (const r of results) if (r.result !== 'not_verified') expect(r.execution).toEqual(stored);
    });

    it('lets exactly one of two concurrent creates win', async () => {
      const store = await stores.orders();
      const a = order('ORD-1');
      const b = { ...order('ORD-1', HASH_B), submitted_by: 'CN=other' };
      const results = await Promise.all([store.create(a), store.create(b)]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const winner = results.find((r) => r.created);
      const loser = results.find((r) => !r.created);
      if (winner?.created && loser && !loser.created) expect(loser.existing).toEqual(winner.item);
    });
  });

  describe('ReferenceStore', () => {
    it('stores, replaces and reads risk profiles', async () => {
      const store = await stores.reference();
      expect(await store.getRiskProfile('ACC-001')).toBeUndefined();
      await store.putRiskProfile(ACC_001);
      expect(await store.getRiskProfile('ACC-001')).toEqual(ACC_001);
      const v2: RiskProfile = { ...ACC_001, max_order_value: '2000000', version: 'ACC-001/v2' };
      await store.putRiskProfile(v2);
      expect(await store.getRiskProfile('ACC-001')).toEqual(v2);
      expect(await store.getRiskProfile('ACC-002')).toBeUndefined();
      // A profile and a security with the same name do not collide.
      await store.putSecurity(security('ACC-001', '1.00'));
      expect(await store.getRiskProfile('ACC-001')).toEqual(v2);
      expect(await store.getSecurity('ACC-001')).toEqual(security('ACC-001', '1.00'));
    });

    it('stores, replaces and reads securities one at a time and in batches over 100 symbols', async () => {
      const store = await stores.reference();
      expect(await store.getSecurity('AAPL')).toBeUndefined();
      const securities: SecurityReference[] = Array.from({ length: 110 }, (_, i) =>
        security(`SYM${i}`, `${100 + i}.25`, i === 7),
      );
      await Promise.all(securities.map((s) => store.putSecurity(s)));
      expect(await store.getSecurity('SYM7')).toEqual(securities[7]);
      expect(await store.getSecurity('SYM7')).toHaveProperty('prohibited_reason', 'firm restricted list');
      expect(await store.getSecurity('SYM8')).not.toHaveProperty('prohibited_reason');

      const replaced = security('SYM3', '999.99', true);
      await store.putSecurity(replaced);
      expect(await store.getSecurity('SYM3')).toEqual(replaced);

      const wanted = [...securities.map((s) => s.symbol), 'SYM0', 'SYM0', 'NOPE'];
      const found = await store.getSecurities(wanted);
      expect(found.size).toBe(110);
      expect(found.get('SYM109')).toEqual(securities[109]);
      expect(found.get('SYM3')).toEqual(replaced);
      expect(found.has('NOPE')).toBe(false);
      expect(await store.getSecurities([])).toEqual(new Map());
      expect(await store.getSecurities(['NOPE'])).toEqual(new Map());
    });
  });

  describe('PositionStore', () => {
    it('applies each fill exactly once and detects version conflicts', async () => {
      const store = await stores.positions();
      expect(await store.putIfVersion(pos(1, 100), 0, fill('F1'), [])).toBe('written');
      expect(await store.putIfVersion(pos(1, 100), 0, fill('F1'), [])).toBe('duplicate');
      // Version 0 means "absent": the position exists, so a new fill from version 0 conflicts.
      expect(await store.putIfVersion(pos(1, 999), 0, fill('F9'), [])).toBe('conflict');
      expect(await store.putIfVersion(pos(2, 150), 1, fill('F2'), [])).toBe('written');
      expect(await store.putIfVersion(pos(2, 175), 1, fill('F3'), [])).toBe('conflict');
      expect(await store.putIfVersion(pos(9, 175), 8, fill('F3'), [])).toBe('conflict');
      // F2 retried after its write landed: the version matches but the fill is already in.
      expect(await store.putIfVersion(pos(3, 200), 2, fill('F2'), [])).toBe('duplicate');
      // A duplicate is a duplicate even from a stale version.
      expect(await store.putIfVersion(pos(3, 200), 7, fill('F1'), [])).toBe('duplicate');
      expect(await store.get('ACC-001', 'AAPL')).toEqual(pos(2, 150));
      expect(await store.getWithLedger('ACC-001', 'AAPL')).toEqual({
        position: pos(2, 150),
        appliedFills: { F1: day(0), F2: day(0) },
      });
      // An absent position cannot be updated from a version other than 0.
      expect(await store.putIfVersion(pos(2, 5, 'MSFT'), 1, fill('F5'), [])).toBe('conflict');
      expect(await store.get('ACC-001', 'MSFT')).toBeUndefined();
      expect(await store.get('ACC-001', 'NONE')).toBeUndefined();
      expect(await store.getWithLedger('ACC-001', 'NONE')).toBeUndefined();
    });

    it('replaces the whole position on a write (short positions, negative P&L)', async () => {
      const store = await stores.positions();
      await store.putIfVersion(pos(1, 100), 0, fill('F1'), []);
      const short: Position = { ...pos(2, -50), average_cost: '151.125', realized_pnl: '-37.50' };
      expect(await store.putIfVersion(short, 1, fill('F2'), [])).toBe('written');
      expect(await store.get('ACC-001', 'AAPL')).toEqual(short);
    });

    it('lists an account, ordered by symbol, and only that account', async () => {
      const store = await stores.positions();
      const symbols = ['MSFT', 'AAPL', 'brk.b', 'BRK.B', 'A', 'Z9', 'GOOG'];
      for (const [i, s] of symbols.entries()) {
        expect(await store.putIfVersion(pos(1, 10 + i, s), 0, fill(`F-${s}`), [])).toBe('written');
      }
      await store.putIfVersion(pos(1, 1, 'AAPL', 'ACC-002'), 0, fill('F-other'), []);
      const listed = await store.list('ACC-001');
      const sorted = [...symbols].sort(); // code-unit order, as DynamoDB orders string keys (ASCII here)
      expect(listed.map((p) => p.symbol)).toEqual(sorted);
      expect(listed).toEqual(sorted.map((s) => pos(1, 10 + symbols.indexOf(s), s)));
      expect(await store.list('ACC-002')).toEqual([pos(1, 1, 'AAPL', 'ACC-002')]);
      expect(await store.list('ACC-none')).toEqual([]);
    });

    it('lets exactly one of two concurrent writers from the same version win', async () => {
      const store = await stores.positions();
      await store.putIfVersion(pos(1, 100), 0, fill('F1'), []);
      const results = await Promise.all([
        store.putIfVersion(pos(2, 110), 1, fill('F2'), []),
        store.putIfVersion(pos(2, 120), 1, fill('F3'), []),
      ]);
      expect([...results].sort()).toEqual(['conflict', 'written']);
      const won = results[0] === 'written' ? 110 : 120;
      expect((await store.get('ACC-001', 'AAPL'))?.quantity).toBe(won);
      // Two concurrent first writes: one creates, the other conflicts.
      const first = await Promise.all([
        store.putIfVersion(pos(1, 1, 'MSFT'), 0, fill('M1'), []),
        store.putIfVersion(pos(1, 2, 'MSFT'), 0, fill('M2'), []),
      ]);
      expect([...first].sort()).toEqual(['conflict', 'written']);
    });

    it('prunes the listed entries in the same write, and only those', async () => {
      const store = await stores.positions();
      // Prune on a first write is harmless.
      expect(await store.putIfVersion(pos(1, 100), 0, fill('F1', 1), ['F0', 'F1'])).toBe('written');
      await store.putIfVersion(pos(2, 110), 1, fill('F2', 2), []);
      await store.putIfVersion(pos(3, 120), 2, fill('F3', 3), []);
      // A conflicting write prunes nothing; neither does a duplicate.
      expect(await store.putIfVersion(pos(3, 999), 2, fill('F4', 4), ['F1', 'F2'])).toBe('conflict');
      expect(await store.putIfVersion(pos(4, 999), 3, fill('F3', 3), ['F1', 'F2'])).toBe('duplicate');
      expect((await store.getWithLedger('ACC-001', 'AAPL'))?.appliedFills).toEqual({
        F1: day(1),
        F2: day(2),
        F3: day(3),
      });
      // Pruning an id that is not there (or twice, or the fill itself) is harmless.
      expect(await store.putIfVersion(pos(4, 130), 3, fill('F4', 4), ['F1', 'F1', 'F-none', 'F4'])).toBe('written');
      expect(await store.getWithLedger('ACC-001', 'AAPL')).toEqual({
        position: pos(4, 130),
        appliedFills: { F2: day(2), F3: day(3), F4: day(4) },
      });
      // A pruned id is no longer a duplicate: the use case's horizon is what refuses such a fill.
      expect(await store.putIfVersion(pos(5, 140), 4, fill('F1', 1), ['F2'])).toBe('written');
      expect((await store.getWithLedger('ACC-001', 'AAPL'))?.appliedFills).toEqual({
        F1: day(1),
        F3: day(3),
        F4: day(4),
      });
    });

    it('hands out copies: changing a returned ledger or position does not change the store', async () => {
      const store = await stores.positions();
      await store.putIfVersion(pos(1, 100), 0, fill('F1'), []);
      const read = await store.getWithLedger('ACC-001', 'AAPL');
      if (!read) throw new Error('position missing');
      read.position.quantity = -1;
      (read.appliedFills as Record<string, string>).F9 = day(9);
      const listed = await store.list('ACC-001');
      (listed[0] as Position).version = 99;
      expect(await store.getWithLedger('ACC-001', 'AAPL')).toEqual({
        position: pos(1, 100),
        appliedFills: { F1: day(0) },
      });
      expect(await store.putIfVersion(pos(2, 1), 1, fill('F9'), [])).toBe('written');
    });
  });

  describe('ApprovalStore', () => {
    it('creates once; a second create returns the stored record', async () => {
      const store = await stores.approvals();
      const a = approval('AP-1', second(0));
      expect(await store.create(a)).toEqual({ created: true, item: a });
      expect(await store.create({ ...a, maker: 'CN=other', status: 'APPROVED' })).toEqual({
        created: false,
        existing: a,
      });
      expect(await store.get('AP-1')).toEqual(a);
      expect(await store.get('AP-missing')).toBeUndefined();
    });

    it('replaces the task token only while pending', async () => {
      const store = await stores.approvals();
      const a = approval('AP-1', second(0));
      await store.create(a);
      expect(await store.updateTaskToken('AP-1', 'token-2')).toEqual({ ...a, task_token: 'token-2' });
      expect(await store.updateTaskToken('AP-1', 'token-3')).toEqual({ ...a, task_token: 'token-3' });
      expect(await store.get('AP-1')).toEqual({ ...a, task_token: 'token-3' });
      for (const status of ['APPROVED', 'REJECTED', 'EXPIRED'] as const) {
        const id = `AP-${status}`;
        await store.create(approval(id, second(1), status));
        expect(await store.updateTaskToken(id, 'new-token'), status).toBeUndefined();
        expect((await store.get(id))?.task_token).toBe(`token-${id}`);
      }
      expect(await store.updateTaskToken('AP-missing', 't')).toBeUndefined();
      expect(await store.get('AP-missing')).toBeUndefined();
    });

    it('transitions only out of the expected status, returning the new record', async () => {
      const store = await stores.approvals();
      const a = { ...approval('AP-1', second(0)), task_token: 'token-2' };
      await store.create(a);
      const decided = {
        ...a,
        status: 'APPROVED' as const,
        decided_by: 'CN=checker-1',
        decided_at: second(60),
      };
      expect(
        await store.transition('AP-1', 'PENDING', {
          status: 'APPROVED',
          decided_by: 'CN=checker-1',
          decided_at: second(60),
        }),
      ).toEqual(decided);
      // From the wrong status: undefined, and nothing changes.
      expect(await store.transition('AP-1', 'PENDING', { status: 'REJECTED', decided_by: 'CN=checker-2' })).toBe(
        undefined,
      );
      expect(await store.transition('AP-1', 'EXPIRED', { status: 'REJECTED' })).toBeUndefined();
      expect(await store.get('AP-1')).toEqual(decided);
      // From the right non-pending status: fine (a console rejection overtaking an API approval).
      const rejected = await store.transition('AP-1', 'APPROVED', {
        status: 'REJECTED',
        decided_by: 'console:x',
        reason: 'rejected in the console',
      });
      expect(rejected).toEqual({
        ...decided,
        status: 'REJECTED',
        decided_by: 'console:x',
        reason: 'rejected in the console',
      });
      expect(await store.get('AP-1')).toEqual(rejected);
      expect(await store.transition('AP-missing', 'PENDING', { status: 'EXPIRED' })).toBeUndefined();
      expect(await store.get('AP-missing')).toBeUndefined();
    });

    it('leaves a field the patch sets to undefined as it was', async () => {
      // DynamoDB: setClause skips undefined values, so `reason: undefined` keeps the stored reason.
      const store = await stores.approvals();
      const a = { ...approval('AP-1', second(0)), reason: 'large order' };
      await store.create(a);
      const next = await store.transition('AP-1', 'PENDING', {
        status: 'APPROVED',
        decided_by: 'CN=c',
        reason: undefined,
      });
      expect(next).toEqual({ ...a, status: 'APPROVED', decided_by: 'CN=c' });
      expect(await store.get('AP-1')).toEqual({ ...a, status: 'APPROVED', decided_by: 'CN=c' });
    });

    it('never changes the key: an approval_id in the patch is ignored', async () => {
      const store = await stores.approvals();
      const a = approval('AP-1', second(0));
      await store.create(a);
      const next = await store.transition('AP-1', 'PENDING', { status: 'APPROVED', approval_id: 'AP-other' });
      expect(next).toEqual({ ...a, status: 'APPROVED' });
      expect(await store.get('AP-1')).toEqual({ ...a, status: 'APPROVED' });
      expect(await store.get('AP-other')).toBeUndefined();
    });

    it('lets exactly one of two concurrent checkers decide', async () => {
      const store = await stores.approvals();
      await store.create(approval('AP-1', second(0)));
      const results = await Promise.all([
        store.transition('AP-1', 'PENDING', { status: 'APPROVED', decided_by: 'CN=a' }),
        store.transition('AP-1', 'PENDING', { status: 'REJECTED', decided_by: 'CN=b' }),
      ]);
      const winners = results.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(await store.get('AP-1')).toEqual(winners[0]);
    });

    it('lists by status, oldest request first, across pages; other statuses stay out', async () => {
      const store = await stores.approvals();
      // Requested out of creation order; distinct timestamps (the index does not order ties).
      const offsets = [5, 0, 11, 3, 8, 1, 9, 4, 10, 2, 7, 6];
      const pending = offsets.map((s, i) => approval(`AP-${i}`, second(s)));
      for (const a of pending) await store.create(a);
      await store.create(approval('AP-done', second(-5), 'APPROVED'));
      await store.create(approval('AP-late', second(30), 'EXPIRED'));
      const want = [...pending].sort((a, b) => (a.requested_at < b.requested_at ? -1 : 1));

      for (const limit of [1, 3, 5, 12, 1000]) {
        const { items, pages } = await collect((token) => store.listByStatus('PENDING', limit, token));
        expect(items, `limit ${limit}`).toEqual(want);
        expect(pages, `limit ${limit}`).toBeGreaterThanOrEqual(Math.ceil(want.length / limit));
        expect(pages, `limit ${limit}`).toBeLessThanOrEqual(Math.ceil(want.length / limit) + 1);
      }
      const first = await store.listByStatus('PENDING', 5);
      expect(first.items).toEqual(want.slice(0, 5));
      expect(first.nextToken).toMatch(/^[A-Za-z0-9_-]+$/);
      const secondPage = await store.listByStatus('PENDING', 5, first.nextToken);
      expect(secondPage.items).toEqual(want.slice(5, 10));
      // The same token gives the same page again (tokens carry no server state).
      expect(await store.listByStatus('PENDING', 5, first.nextToken)).toEqual(secondPage);

      expect((await store.listByStatus('APPROVED', 10)).items).toEqual([approval('AP-done', second(-5), 'APPROVED')]);
      expect((await store.listByStatus('EXPIRED', 10)).items).toEqual([approval('AP-late', second(30), 'EXPIRED')]);
      expect(await store.listByStatus('REJECTED', 10)).toEqual({ items: [] });

      // A decided approval leaves the pending list and joins its new status.
      await store.transition('AP-2', 'PENDING', { status: 'REJECTED', decided_by: 'CN=c' });
      const after = await collect((token) => store.listByStatus('PENDING', 4, token));
      expect(after.items.map((a) => a.approval_id)).toEqual(
        want.map((a) => a.approval_id).filter((id) => id !== 'AP-2'),
      );
      expect((await store.listByStatus('REJECTED', 10)).items.map((a) => a.approval_id)).toEqual(['AP-2']);
    });

    it('clamps the page size to 1..1000', async () => {
      const store = await stores.approvals();
      const pending = [2, 0, 1].map((s, i) => approval(`AP-${i}`, second(s)));
      for (const a of pending) await store.create(a);
      const want = [...pending].sort((a, b) => (a.requested_at < b.requested_at ? -1 : 1));
      for (const limit of [0, -5, 0.5]) {
        const page = await store.listByStatus('PENDING', limit);
        expect(page.items, `limit ${limit}`).toEqual(want.slice(0, 1));
        expect(page.nextToken, `limit ${limit}`).toBeDefined();
      }
      expect((await store.listByStatus('PENDING', 2.9)).items).toEqual(want.slice(0, 2));
      for (const limit of [5000, Number.POSITIVE_INFINITY, Number.NaN]) {
        expect((await store.listByStatus('PENDING', limit)).items, `limit ${limit}`).toEqual(want);
      }
    });

    it('refuses a token from another query or a garbage token (ValidationError on nextToken)', async () => {
      const store = await stores.approvals();
      for (const [i, s] of [0, 1, 2].entries()) await store.create(approval(`AP-${i}`, second(s)));
      for (const [i, s] of [0, 1, 2].entries()) await store.create(approval(`AP-x${i}`, second(s), 'APPROVED'));
      const first = await store.listByStatus('PENDING', 1);
      expect(first.nextToken).toBeDefined();
      await expectTokenRejected(store.listByStatus('APPROVED', 1, first.nextToken));
      await expectTokenRejected(store.listByStatus('EXPIRED', 1, first.nextToken));
      const approvedToken = (await store.listByStatus('APPROVED', 1)).nextToken;
      await expectTokenRejected(store.listByStatus('PENDING', 1, approvedToken));
      for (const garbage of ['not-a-token', '!!!', tokenOf([1, 2]), tokenOf('x'), tokenOf(null), tokenOf({})]) {
        await expectTokenRejected(store.listByStatus('PENDING', 1, garbage));
      }
      // An empty token is no token.
      expect((await store.listByStatus('PENDING', 10, '')).items).toHaveLength(3);
    });

    it('ends the listing at a token that names the last approval (no restart)', async () => {
      const store = await stores.approvals();
      for (const [i, s] of [0, 1, 2].entries()) await store.create(approval(`AP-${i}`, second(s)));
      const token = tokenOf({ approval_id: 'AP-2', status: 'PENDING', requested_at: second(2) });
      expect(await store.listByStatus('PENDING', 2, token)).toEqual({ items: [] });
    });

    it('refuses a forged token that names the right status but not a valid position in the index', async () => {
      const store = await stores.approvals();
      for (const [i, s] of [0, 1, 2].entries()) await store.create(approval(`AP-${i}`, second(s)));
      await expectTokenRejected(store.listByStatus('PENDING', 1, tokenOf({ status: 'PENDING' })));
      await expectTokenRejected(
        store.listByStatus('PENDING', 1, tokenOf({ status: 'PENDING', requested_at: 5, approval_id: 'AP-1' })),
      );
    });
  });

  describe('AuditIndex', () => {
    const HEAD_1: ChainHead = {
      sequence: 4,
      hash: HASH_A,
      batch: { archiveKey: 'records/dt=2031-01-01/000.jsonl', body: '{"sequence":0}\n' },
    };

    it('starts at genesis and moves the head only from the current sequence and hash', async () => {
      const index = await stores.audit();
      const genesis = await index.getHead();
      expect(genesis).toEqual({ sequence: -1, hash: GENESIS_HASH });
      expect(await index.advanceHead(genesis, HEAD_1)).toBe(true);
      expect(await index.getHead()).toEqual(HEAD_1);

      // A writer still holding the genesis view loses, so does one with the right sequence but a
      // stale hash, or a stale sequence with the right hash.
      expect(await index.advanceHead(genesis, { sequence: 9, hash: HASH_B })).toBe(false);
      expect(await index.advanceHead({ sequence: 4, hash: HASH_B }, { sequence: 9, hash: HASH_B })).toBe(false);
      expect(await index.advanceHead({ sequence: 3, hash: HASH_A }, { sequence: 9, hash: HASH_B })).toBe(false);
      expect(await index.getHead()).toEqual(HEAD_1);

      // The current head (its batch included or not) wins; a head without a batch has none.
      const next: ChainHead = { sequence: 7, hash: HASH_B };
      expect(await index.advanceHead({ sequence: 4, hash: HASH_A }, next)).toBe(true);
      const head = await index.getHead();
      expect(head).toEqual(next);
      expect(head).not.toHaveProperty('batch');
      expect(await index.advanceHead(HEAD_1, { sequence: 8, hash: HASH_A })).toBe(false);
      expect(await index.advanceHead(next, { ...HEAD_1, sequence: 8 })).toBe(true);
      expect(await index.getHead()).toEqual({ ...HEAD_1, sequence: 8 });
    });

    it('lets exactly one of two racing writers advance the head', async () => {
      const index = await stores.audit();
      const genesis = await index.getHead();
      const theirs: ChainHead = { sequence: 2, hash: HASH_B };
      const wins = await Promise.all([index.advanceHead(genesis, HEAD_1), index.advanceHead(genesis, theirs)]);
      expect(wins.filter(Boolean)).toHaveLength(1);
      const head = await index.getHead();
      expect(head).toEqual(wins[0] ? HEAD_1 : theirs);
      const next = { sequence: head.sequence + 1, hash: 'd'.repeat(64) };
      const race = await Promise.all([
        index.advanceHead(head, next),
        index.advanceHead(head, { ...next, hash: 'e'.repeat(64) }),
      ]);
      expect(race.filter(Boolean)).toHaveLength(1);
      expect((await index.getHead()).sequence).toBe(next.sequence);
    });

    it('indexes records by order (by sequence) across pages, exactly as written', async () => {
      const index = await stores.audit();
      const records = auditChain(60);
      await index.putRecords(records.slice(0, 37));
      await index.putRecords(records.slice(37));
      await index.putRecords(records.slice(10, 20)); // re-indexing a batch is harmless

      for (const orderId of ['ORD-0', 'ORD-1', 'ORD-2']) {
        const want = records.filter((r) => r.order_id === orderId);
        expect(want.length).toBeGreaterThan(10);
        for (const limit of [1, 4, 7]) {
          const { items, pages } = await collect((token) => index.queryByOrder(orderId, limit, token));
          expect(items, `${orderId} limit ${limit}`).toEqual(want);
          expect(pages).toBeGreaterThanOrEqual(Math.ceil(want.length / limit));
          expect(pages).toBeLessThanOrEqual(Math.ceil(want.length / limit) + 1);
        }
        const { items } = await collect((token) => index.queryByOrder(orderId, 5, token));
        expect(items.map(canonicalJson)).toEqual(want.map(canonicalJson));
      }
      // An empty order_id is kept on the record but is not in the by-order index.
      expect(await index.queryByOrder('', 7)).toEqual({ items: [] });
      expect(await index.queryByOrder('ORD-none', 7)).toEqual({ items: [] });
      // The page size is clamped.
      expect((await index.queryByOrder('ORD-0', 0)).items).toHaveLength(1);
      expect((await index.queryByOrder('ORD-0', Number.NaN)).items).toEqual(
        records.filter((r) => r.order_id === 'ORD-0'),
      );
    });

    it('indexes records by type (by timestamp, then sequence) within inclusive time bounds', async () => {
      const index = await stores.audit();
      const records = auditChain(60);
      await index.putRecords(records);

      for (const type of EVENT_TYPES) {
        const all = records.filter((r) => r.event_type === type).sort(byTypeOrder);
        const from = all[3]?.timestamp as string;
        const to = all[all.length - 4]?.timestamp as string;
        // Both bounds are timestamps of records: both ends are included.
        const want = all.filter((r) => r.timestamp >= from && r.timestamp <= to);
        expect(want.length).toBeGreaterThan(5);
        expect(want[0]?.timestamp).toBe(from);
        expect(want[want.length - 1]?.timestamp).toBe(to);
        for (const limit of [1, 2, 3]) {
          const { items, pages } = await collect((token) => index.queryByType(type, from, to, limit, token));
          expectByTypeOrder(backend.name, items, want);
          expect(pages).toBeGreaterThanOrEqual(Math.ceil(want.length / limit));
        }
      }
      // The ordering is by timestamp, not by sequence: the chain has records stamped out of order.
      const everything = await collect((token) =>
        index.queryByType('trade_executed', '2031-01-01T00:00:00Z', '2031-01-01T01:00:00Z', 4, token),
      );
      const sequences = everything.items.map((r) => r.sequence);
      expect(sequences).not.toEqual([...sequences].sort((a, b) => a - b));
      expectByTypeOrder(
        backend.name,
        everything.items,
        records.filter((r) => r.event_type === 'trade_executed').sort(byTypeOrder),
      );

      // One-nanosecond-wide windows around a record: inclusive on both ends, nothing else.
      const one = records.find((r) => r.event_type === 'risk_check' && r.sequence === 13) as AuditRecord;
      const sameTs = records.filter((r) => r.event_type === 'risk_check' && r.timestamp === one.timestamp);
      expect((await index.queryByType('risk_check', one.timestamp, one.timestamp, 10)).items).toEqual(sameTs);
      const before = `${one.timestamp.slice(0, -2)}${Number(one.timestamp.at(-2)) - 1}Z`;
      expect((await index.queryByType('risk_check', before, before, 10)).items).toEqual([]);

      // Bounds written without nine fractional digits are read as the instants they name.
      const whole = await collect((token) =>
        index.queryByType('order_submitted', '2031-01-01T00:00:10Z', '2031-01-01T00:00:20.5Z', 2, token),
      );
      expectByTypeOrder(
        backend.name,
        whole.items,
        records
          .filter(
            (r) =>
              r.event_type === 'order_submitted' &&
              r.timestamp >= '2031-01-01T00:00:10.000000000Z' &&
              r.timestamp <= '2031-01-01T00:00:20.500000000Z',
          )
          .sort(byTypeOrder),
      );
      expect(whole.items.length).toBeGreaterThan(1);

      expect(await index.queryByType('approved', '2031-01-01T00:00:00Z', '2031-01-02T00:00:00Z', 10)).toEqual({
        items: [],
      });
      expect(await index.queryByType('', '2031-01-01T00:00:00Z', '2031-01-02T00:00:00Z', 10)).toEqual({ items: [] });
    });

    it('reads back every record exactly: the chain still verifies', async () => {
      const index = await stores.audit();
      const records = auditChain(45);
      await index.putRecords(records);
      const all = new Map<number, AuditRecord>();
      for (const type of EVENT_TYPES) {
        const page = await collect((token) =>
          index.queryByType(type, '2031-01-01T00:00:00Z', '2031-01-01T00:01:00Z', 1000, token),
        );
        for (const r of page.items) all.set(r.sequence, r);
      }
      const readBack = [...all.values()].sort((a, b) => a.sequence - b.sequence);
      expect(readBack).toEqual(records);
      expect(readBack.map(canonicalJson)).toEqual(records.map(canonicalJson));
      expect(verifyChain(readBack)).toBeUndefined();
      expect(readBack.filter((r) => r.order_id === '')).toHaveLength(records.filter((r) => r.order_id === '').length);
      expect(readBack.filter((r) => !('order_id' in r))).toHaveLength(
        records.filter((r) => r.order_id === undefined).length,
      );
    });

    it('refuses a token from another query or a garbage token (ValidationError on nextToken)', async () => {
      const index = await stores.audit();
      await index.putRecords(auditChain(30));
      const from = '2031-01-01T00:00:00Z';
      const to = '2031-01-01T01:00:00Z';
      const byOrder = (await index.queryByOrder('ORD-0', 2)).nextToken;
      const byType = (await index.queryByType('risk_check', from, to, 2)).nextToken;
      expect(byOrder).toBeDefined();
      expect(byType).toBeDefined();
      // Each token still works for its own query.
      expect((await index.queryByOrder('ORD-0', 2, byOrder)).items.length).toBeGreaterThan(0);
      expect((await index.queryByType('risk_check', from, to, 2, byType)).items.length).toBeGreaterThan(0);

      await expectTokenRejected(index.queryByOrder('ORD-1', 2, byOrder));
      await expectTokenRejected(index.queryByOrder('ORD-0', 2, byType));
      await expectTokenRejected(index.queryByType('risk_check', from, to, 2, byOrder));
      await expectTokenRejected(index.queryByType('trade_executed', from, to, 2, byType));
      const approvalsToken = tokenOf({ status: 'PENDING', requested_at: second(0), approval_id: 'AP-1' });
      await expectTokenRejected(index.queryByOrder('ORD-0', 2, approvalsToken));
      await expectTokenRejected(index.queryByType('risk_check', from, to, 2, approvalsToken));
      for (const garbage of ['not-a-token', '!!!', tokenOf([1]), tokenOf(7), tokenOf({ x: true })]) {
        await expectTokenRejected(index.queryByOrder('ORD-0', 2, garbage));
        await expectTokenRejected(index.queryByType('risk_check', from, to, 2, garbage));
      }
    });

    it('ends the by-order listing at a token that names the last record (no restart)', async () => {
      const index = await stores.audit();
      const records = auditChain(30);
      await index.putRecords(records);
      const last = records.filter((r) => r.order_id === 'ORD-0').at(-1) as AuditRecord;
      // The adapter's own key shape (table key + index key); the journal reads the fields it needs.
      const token = tokenOf({ pk: recordKey(last.sequence), order_id: 'ORD-0', sequence: last.sequence });
      expect(await collect((t) => index.queryByOrder('ORD-0', 2, t ?? token))).toEqual({ items: [], pages: 1 });
    });

    it('ends the by-type listing at a token that names the last record (no restart)', async () => {
      const index = await stores.audit();
      const records = auditChain(30);
      await index.putRecords(records);
      const last = records
        .filter((r) => r.event_type === 'risk_check')
        .sort(byTypeOrder)
        .at(-1) as AuditRecord;
      // Each implementation's own key shape (DynamoDB: table key + index key; journal: index entry).
      const token = tokenOf(
        backend.name === 'journal'
          ? { event_type: 'risk_check', timestamp: last.timestamp, sequence: last.sequence }
          : { pk: recordKey(last.sequence), event_type: 'risk_check', timestamp: last.timestamp },
      );
      const from = '2031-01-01T00:00:00Z';
      const to = '2031-01-01T01:00:00Z';
      expect(await index.queryByType('risk_check', from, to, 2, token)).toEqual({ items: [] });
    });

    it('refuses a forged token that names the right order but not a valid position in the index', async () => {
      const index = await stores.audit();
      await index.putRecords(auditChain(30));
      await expectTokenRejected(index.queryByOrder('ORD-0', 2, tokenOf({ order_id: 'ORD-0' })));
      await expectTokenRejected(index.queryByOrder('ORD-0', 2, tokenOf({ order_id: 'ORD-0', sequence: 'abc' })));
    });
  });
}

describe.each(backends)('store contract on $name', (backend) => {
  storeContract(backend);
});
