// One contract for the store ports (functions/ports.ts), run against both implementations: the
// DynamoDB adapters (functions/adapters/dynamodb-*.ts) on dynalite, and the journaled local stores
// (local/journal-stores.ts) on a fresh JournalDb. Every store a test asks for is fresh and empty
// (a new table on dynalite, a new database directory for the journal), so tests do not see each
// other's items. Where the two implementations are known to differ, the test says so (`fails on`).
// Parts of it also hold the in-memory stores the unit tests use (test/support/in-memory.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAccountRiskStore } from '../../functions/adapters/dynamodb-account-risk-store.js';
import { DynamoDbApprovalStore } from '../../functions/adapters/dynamodb-approval-store.js';
import { DynamoDbAuditIndex, recordKey } from '../../functions/adapters/dynamodb-audit-index.js';
import { DynamoDbOrderStore } from '../../functions/adapters/dynamodb-order-store.js';
import { DynamoDbPositionStore } from '../../functions/adapters/dynamodb-position-store.js';
import { DynamoDbReferenceStore } from '../../functions/adapters/dynamodb-reference-store.js';
import { eventIdFor, GENESIS_HASH, hashRecord, verifyChain } from '../../functions/core/audit-chain.js';
import { canonicalJson } from '../../functions/core/canonical-json.js';
import { NotFoundError, ValidationError } from '../../functions/core/errors.js';
import type {
  AccountRiskState,
  AuditRecord,
  FirmRiskSettings,
  LimitChange,
  Locate,
  OpenOrder,
  OrderRecord,
  Position,
  RecentOrder,
  Restriction,
  RiskProfile,
  SecurityReference,
  TraderEntitlement,
  TradingHalt,
  TradingState,
} from '../../functions/core/model.js';
import { formatNs, parseNs } from '../../functions/core/time.js';
import type {
  AccountRiskStore,
  ApprovalStore,
  AuditIndex,
  ChainHead,
  CommittingAuditIndex,
  OrderStore,
  PositionStore,
  ReferenceStore,
} from '../../functions/ports.js';
import { JournalDb } from '../../local/journal-db.js';
import {
  JournalAccountRiskStore,
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
  collectItems,
  day,
  EVENT_TYPES,
  fill,
  filled,
  freshTables,
  HASH_A,
  HASH_B,
  hashChain,
  order,
  position as pos,
  risk,
  second,
  startDynalite,
  venueRejected,
} from '../support/fixtures.js';
import {
  ACC_001,
  InMemoryAccountRiskStore,
  InMemoryAuditIndex,
  InMemoryReferenceStore,
  security,
} from '../support/in-memory.js';

// --- the factories ----------------------------------------------------------------------------------

/** Each call hands out a new, empty store. */
interface StoreFactory {
  orders(): Promise<OrderStore>;
  reference(): Promise<ReferenceStore>;
  positions(): Promise<PositionStore>;
  approvals(): Promise<ApprovalStore>;
  audit(): Promise<AuditIndex>;
  accountRisk(): Promise<AccountRiskStore>;
  /** The same audit store as a restarted process finds it (the journal: closed, then reopened). */
  restartAudit(index: AuditIndex): Promise<AuditIndex>;
}

type BackendName = 'dynalite' | 'journal';

interface Backend {
  name: BackendName;
  start(): Promise<{ factory: StoreFactory; stop(): Promise<void> }>;
}

async function startDynaliteStores(): Promise<{ factory: StoreFactory; stop(): Promise<void> }> {
  const { client, stop } = await startDynalite('store-contract-ddb-');
  const freshTable = freshTables(client, 'c');
  const auditTables = new WeakMap<AuditIndex, string>();
  const auditOn = (table: string): AuditIndex => {
    const index = new DynamoDbAuditIndex(client, table);
    auditTables.set(index, table);
    return index;
  };
  return {
    factory: {
      orders: async () => new DynamoDbOrderStore(client, await freshTable('orders')),
      reference: async () => new DynamoDbReferenceStore(client, await freshTable('reference')),
      positions: async () => new DynamoDbPositionStore(client, await freshTable('positions')),
      approvals: async () => new DynamoDbApprovalStore(client, await freshTable('approvals')),
      audit: async () => auditOn(await freshTable('audit')),
      accountRisk: async () => new DynamoDbAccountRiskStore(client, await freshTable('riskState')),
      // Nothing is held in the process: a new adapter on the same table is a restart.
      restartAudit: async (index) => auditOn(auditTables.get(index) as string),
    },
    stop,
  };
}

async function startJournalStores(): Promise<{ factory: StoreFactory; stop(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'store-contract-journal-'));
  const dbs: JournalDb[] = [];
  let counter = 0;
  const openDb = (dir: string): JournalDb => {
    const db = JournalDb.open({ dir });
    dbs.push(db);
    return db;
  };
  const freshDb = (): JournalDb => {
    counter++;
    return openDb(join(root, `db${counter}`));
  };
  const auditDbs = new WeakMap<AuditIndex, { db: JournalDb; dir: string }>();
  const auditOn = (dir: string): AuditIndex => {
    const db = openDb(dir);
    const index = new JournalAuditIndex(db);
    auditDbs.set(index, { db, dir });
    return index;
  };
  return {
    factory: {
      orders: async () => new JournalOrderStore(freshDb()),
      reference: async () => new JournalReferenceStore(freshDb()),
      positions: async () => new JournalPositionStore(freshDb()),
      approvals: async () => new JournalApprovalStore(freshDb()),
      audit: async () => auditOn(join(root, `db${++counter}`)),
      accountRisk: async () => new JournalAccountRiskStore(freshDb()),
      // Closed (every write synced), then opened again: what a new process reads from the directory.
      restartAudit: async (index) => {
        const { db, dir } = auditDbs.get(index) as { db: JournalDb; dir: string };
        await db.close();
        dbs.splice(dbs.indexOf(db), 1);
        return auditOn(dir);
      },
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
function expectByTypeOrder(
  backend: BackendName | 'memory',
  items: readonly AuditRecord[],
  want: readonly AuditRecord[],
): void {
  if (backend !== 'dynalite') {
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

  riskDataContract(backend.name, () => stores);

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

    it('restamps a price only while it is still the price read (a feed never writes back an old price)', async () => {
      const store = await stores.reference();
      expect(await store.restampPrice('AAPL', '190.00', second(1))).toBe(false);
      expect(await store.getSecurity('AAPL')).toBeUndefined();
      await store.putSecurity(security('AAPL', '190.00', second(0)));
      expect(await store.restampPrice('AAPL', '190.00', second(2))).toBe(true);
      expect(await store.getSecurity('AAPL')).toEqual(security('AAPL', '190.00', second(2)));
      // Someone set a new price after the feed read 190.00: the feed's restamp is refused.
      await store.putSecurity(security('AAPL', '191.50', second(3)));
      expect(await store.restampPrice('AAPL', '190.00', second(4))).toBe(false);
      expect(await store.getSecurity('AAPL')).toEqual(security('AAPL', '191.50', second(3)));
    });

    it('stores, replaces and reads securities one at a time and in batches over 100 symbols', async () => {
      const store = await stores.reference();
      expect(await store.getSecurity('AAPL')).toBeUndefined();
      const securities: SecurityReference[] = Array.from({ length: 110 }, (_, i) =>
        security(`SYM${i}`, `${100 + i}.25`, i === 7 ? second(7) : second(0)),
      );
      await Promise.all(securities.map((s) => store.putSecurity(s)));
      expect(await store.getSecurity('SYM7')).toEqual(securities[7]);
      expect(await store.getSecurity('SYM7')).toHaveProperty('price_as_of', second(7));
      expect(await store.getSecurity('SYM8')).toHaveProperty('price_as_of', second(0));

      const replaced = security('SYM3', '999.99', second(9));
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

  auditTraderAndFrontierContract(backend.name, () => stores);
}

// --- the audit index by trader, and the head's Merkle frontier (every store, in-memory too) ----------

/** What the trader and frontier contract needs: fresh, empty audit stores (restartable, where they persist). */
interface AuditStoreFactory {
  audit(): Promise<AuditIndex>;
  restartAudit?(index: AuditIndex): Promise<AuditIndex>;
}

const TRADER = 'T-7';
const OTHER_TRADER = 'T-8';
const TRADER_BASE_NS = parseNs('2031-02-01T09:30:00Z') as bigint;

/**
 * Timestamps with every nanosecond digit in use, about a millisecond apart: every 13th record
 * shares the timestamp of the one before (a tie), every 17th is stamped 5 ms early (out of sequence
 * order).
 */
function traderStamp(seq: number): string {
  const at = (s: number) => BigInt(s) * 1_000_003n + BigInt(s % 7);
  const ns = seq % 13 === 12 ? at(seq - 1) : seq % 17 === 16 ? at(seq) - 5_000_000n : at(seq);
  return formatNs(TRADER_BASE_NS + ns);
}

/**
 * 400 chained records: 250 of TRADER (seq % 8 in 0..4), 50 of OTHER_TRADER, 50 without a
 * trader_id and 50 with an empty one (kept on the record, in no trader's listing).
 */
function traderChain(count = 400): AuditRecord[] {
  return hashChain(count, (seq) => {
    const slot = seq % 8;
    const traderId = slot <= 4 ? TRADER : slot === 5 ? OTHER_TRADER : slot === 7 ? '' : undefined;
    return {
      timestamp: traderStamp(seq),
      event_type: EVENT_TYPES[seq % EVENT_TYPES.length] ?? 'order_submitted',
      ...(seq % 3 === 2 ? {} : { order_id: `ORD-${seq % 5}` }),
      ...(traderId !== undefined ? { trader_id: traderId } : {}),
      actor: 'CN=TRADER-7',
      input: { seq, nested: { list: [1, null, 'é€😀'], empty: {} } },
      decision: seq % 2 ? 'approved' : '',
      reason: `reason ${seq}`,
    };
  });
}

const ofTrader = (records: readonly AuditRecord[], traderId: string) =>
  records.filter((r) => r.trader_id === traderId).sort(byTypeOrder);

/** `ts` moved by `deltaNs` nanoseconds. */
const shiftNs = (ts: string, deltaNs: bigint) => formatNs((parseNs(ts) as bigint) + deltaNs);

const FRONTIER_1 = ['1'.repeat(64)];
const FRONTIER_3 = ['2'.repeat(64), '3'.repeat(64)];
const FRONTIER_5 = ['4'.repeat(64), '5'.repeat(64)];

function auditTraderAndFrontierContract(backend: BackendName | 'memory', stores: () => AuditStoreFactory): void {
  // The in-memory index's by-order and by-type tokens are offsets, not keys: a by-trader token is
  // not refused there, so only the stores with keyed tokens are held to that.
  const keyedTokens = backend !== 'memory';
  const wholeRange = ['2031-02-01T09:30:00Z', '2031-02-01T09:31:00Z'] as const;

  describe('AuditIndex: by trader', () => {
    it("lists a trader's records, oldest first, across pages of 1, 2, 100 and 1000: none lost, none twice", async () => {
      const index = await stores().audit();
      const records = traderChain();
      await index.putRecords(records.slice(0, 190));
      await index.putRecords(records.slice(190));
      const want = ofTrader(records, TRADER);
      expect(want).toHaveLength(250);
      for (const limit of [1, 2, 100, 1000]) {
        const { items, pages } = await collect((token) => index.queryByTrader(TRADER, ...wholeRange, limit, token));
        expect(items, `limit ${limit}`).toHaveLength(250);
        expect(new Set(items.map((r) => r.sequence)).size).toBe(250);
        expectByTypeOrder(backend, items, want);
        expect(pages).toBeGreaterThanOrEqual(Math.ceil(250 / limit));
        expect(pages).toBeLessThanOrEqual(Math.ceil(250 / limit) + 1);
      }
      // Read back exactly (the chain's content, canonical JSON included).
      const all = await collect((token) => index.queryByTrader(TRADER, ...wholeRange, 1000, token));
      expect(all.pages).toBe(1);
      expect(bySequence(all.items).map(canonicalJson)).toEqual(bySequence(want).map(canonicalJson));
      // Timestamp order, not sequence order: the chain has records stamped out of order.
      const sequences = all.items.map((r) => r.sequence);
      expect(sequences).not.toEqual([...sequences].sort((a, b) => a - b));

      // Only that trader: the other trader's records are in its own listing, the rest in none.
      expectByTypeOrder(
        backend,
        await collectItems((token) => index.queryByTrader(OTHER_TRADER, ...wholeRange, 7, token)),
        ofTrader(records, OTHER_TRADER),
      );
      expect(await index.queryByTrader('T-none', ...wholeRange, 10)).toEqual({ items: [] });
      expect(await index.queryByTrader('', ...wholeRange, 10)).toEqual({ items: [] });
      // The page size is clamped (a zero limit is one item, not an endless listing).
      expect((await index.queryByTrader(TRADER, ...wholeRange, 0)).items).toHaveLength(1);
    });

    it('includes both bounds, to the nanosecond, and reads bounds with fewer digits as the instants they name', async () => {
      const index = await stores().audit();
      const records = traderChain();
      await index.putRecords(records);
      const want = ofTrader(records, TRADER);
      const from = (want[37] as AuditRecord).timestamp;
      const to = (want[201] as AuditRecord).timestamp;
      const inRange = want.filter((r) => r.timestamp >= from && r.timestamp <= to);
      expect(inRange[0]?.timestamp).toBe(from);
      expect(inRange.at(-1)?.timestamp).toBe(to);
      for (const limit of [1, 3, 100]) {
        const { items } = await collect((token) => index.queryByTrader(TRADER, from, to, limit, token));
        expectByTypeOrder(backend, items, inRange);
      }
      // One nanosecond inside each bound leaves the records at the bounds out.
      const inner = await collect((token) =>
        index.queryByTrader(TRADER, shiftNs(from, 1n), shiftNs(to, -1n), 50, token),
      );
      expectByTypeOrder(
        backend,
        inner.items,
        inRange.filter((r) => r.timestamp !== from && r.timestamp !== to),
      );

      // A window one nanosecond wide: exactly the records stamped then (a tie: both of them).
      const tie = want.find((r, i) => want[i + 1]?.timestamp === r.timestamp) as AuditRecord;
      const tied = want.filter((r) => r.timestamp === tie.timestamp);
      expect(tied.length).toBeGreaterThan(1);
      expect(bySequence((await index.queryByTrader(TRADER, tie.timestamp, tie.timestamp, 10)).items)).toEqual(tied);
      const before = shiftNs(tie.timestamp, -1n);
      expect(await index.queryByTrader(TRADER, before, before, 10)).toEqual({ items: [] });
      const after = shiftNs(tie.timestamp, 1n);
      expect(await index.queryByTrader(TRADER, after, after, 10)).toEqual({ items: [] });

      // '...09:30:00.1Z' is 09:30:00.100000000, '...09:30:00Z' is 09:30:00.000000000.
      const tenth = await collect((token) =>
        index.queryByTrader(TRADER, '2031-02-01T09:30:00Z', '2031-02-01T09:30:00.1Z', 9, token),
      );
      const wantTenth = want.filter(
        (r) => r.timestamp >= '2031-02-01T09:30:00.000000000Z' && r.timestamp <= '2031-02-01T09:30:00.100000000Z',
      );
      expect(wantTenth.length).toBeGreaterThan(20);
      expect(wantTenth.length).toBeLessThan(want.length);
      expectByTypeOrder(backend, tenth.items, wantTenth);
      // A range without records and a reversed one hold nothing.
      expect(await index.queryByTrader(TRADER, '2031-02-02T00:00:00Z', '2031-02-03T00:00:00Z', 10)).toEqual({
        items: [],
      });
      expect(await index.queryByTrader(TRADER, to, from, 10)).toEqual({ items: [] });
    });

    it('keeps an empty trader_id on the record, outside every trader listing', async () => {
      const index = await stores().audit();
      const records = traderChain(40);
      await index.putRecords(records);
      const readBack = new Map<number, AuditRecord>();
      for (const type of EVENT_TYPES) {
        for (const r of await collectItems((token) => index.queryByType(type, ...wholeRange, 100, token))) {
          readBack.set(r.sequence, r);
        }
      }
      expect(bySequence([...readBack.values()])).toEqual(records);
      const listed = [
        ...(await collectItems((t) => index.queryByTrader(TRADER, ...wholeRange, 100, t))),
        ...(await collectItems((t) => index.queryByTrader(OTHER_TRADER, ...wholeRange, 100, t))),
      ];
      expect(bySequence(listed)).toEqual(records.filter((r) => r.trader_id !== undefined && r.trader_id !== ''));
    });

    it('refuses a token from another query or a garbage token (ValidationError on nextToken)', async () => {
      const index = await stores().audit();
      await index.putRecords(traderChain(80));
      const byTrader = (await index.queryByTrader(TRADER, ...wholeRange, 2)).nextToken;
      const byOther = (await index.queryByTrader(OTHER_TRADER, ...wholeRange, 2)).nextToken;
      const byType = (await index.queryByType('risk_check', ...wholeRange, 2)).nextToken;
      const byOrder = (await index.queryByOrder('ORD-0', 2)).nextToken;
      for (const token of [byTrader, byOther, byType, byOrder]) expect(token).toBeDefined();
      // The token still works for its own query.
      expect((await index.queryByTrader(TRADER, ...wholeRange, 2, byTrader)).items.length).toBe(2);

      await expectTokenRejected(index.queryByTrader(OTHER_TRADER, ...wholeRange, 2, byTrader));
      await expectTokenRejected(index.queryByTrader(TRADER, ...wholeRange, 2, byOther));
      await expectTokenRejected(index.queryByTrader(TRADER, ...wholeRange, 2, byType));
      await expectTokenRejected(index.queryByTrader(TRADER, ...wholeRange, 2, byOrder));
      const approvalsToken = tokenOf({ status: 'PENDING', requested_at: second(0), approval_id: 'AP-1' });
      await expectTokenRejected(index.queryByTrader(TRADER, ...wholeRange, 2, approvalsToken));
      // Right trader, but no position in the index.
      await expectTokenRejected(index.queryByTrader(TRADER, ...wholeRange, 2, tokenOf({ trader_id: TRADER })));
      for (const garbage of ['not-a-token', '!!!', tokenOf([1]), tokenOf(7), tokenOf({ x: true })]) {
        await expectTokenRejected(index.queryByTrader(TRADER, ...wholeRange, 2, garbage));
      }
      if (keyedTokens) {
        await expectTokenRejected(index.queryByType('risk_check', ...wholeRange, 2, byTrader));
        await expectTokenRejected(index.queryByOrder('ORD-0', 2, byTrader));
      }
    });

    it('ends the by-trader listing at a token that names the last record (no restart)', async () => {
      const index = await stores().audit();
      const records = traderChain(80);
      await index.putRecords(records);
      const last = ofTrader(records, TRADER).at(-1) as AuditRecord;
      // Each implementation's own key shape (DynamoDB: table key + index key; the others: index entry).
      const token = tokenOf(
        backend === 'dynalite'
          ? { pk: recordKey(last.sequence), trader_id: TRADER, timestamp: last.timestamp }
          : { trader_id: TRADER, timestamp: last.timestamp, sequence: last.sequence },
      );
      expect(await index.queryByTrader(TRADER, ...wholeRange, 2, token)).toEqual({ items: [] });
    });

    it('lists the records a commit stored, and the same after a restart', async () => {
      let index = await stores().audit();
      const records = traderChain(60);
      const committing = index as Partial<CommittingAuditIndex>;
      const head: ChainHead = { sequence: 59, hash: (records[59] as AuditRecord).hash, frontier: FRONTIER_5 };
      if (committing.commitBatch) {
        const genesis = await index.getHead();
        const { won, durable } = committing.commitBatch(genesis, head, records);
        expect(won).toBe(true);
        await durable;
      } else {
        await index.putRecords(records);
        expect(await index.advanceHead(await index.getHead(), head)).toBe(true);
      }
      const want = ofTrader(records, TRADER);
      expectByTypeOrder(backend, await collectItems((t) => index.queryByTrader(TRADER, ...wholeRange, 4, t)), want);
      const restart = stores().restartAudit;
      if (!restart) return; // the in-memory index lives and dies with the process
      index = await restart(index);
      expect(await index.getHead()).toEqual(head);
      expectByTypeOrder(backend, await collectItems((t) => index.queryByTrader(TRADER, ...wholeRange, 4, t)), want);
    });
  });

  describe("AuditIndex: the head's Merkle frontier", () => {
    it('stores the frontier with the head and reads it back as stored; a head without one has none', async () => {
      const index = await stores().audit();
      const genesis = await index.getHead();
      expect(genesis).toEqual({ sequence: -1, hash: GENESIS_HASH });
      expect(genesis).not.toHaveProperty('frontier');

      const first: ChainHead = { sequence: 0, hash: HASH_A, frontier: [...FRONTIER_1] };
      expect(await index.advanceHead(genesis, first)).toBe(true);
      first.frontier?.push('f'.repeat(64)); // the caller's array is not the stored one
      expect(await index.getHead()).toEqual({ sequence: 0, hash: HASH_A, frontier: FRONTIER_1 });

      const third: ChainHead = {
        sequence: 2,
        hash: HASH_B,
        batch: { archiveKey: 'records/dt=2031-02-01/000.jsonl', body: '{"sequence":1}\n{"sequence":2}\n' },
        frontier: FRONTIER_3,
      };
      expect(await index.advanceHead({ sequence: 0, hash: HASH_A }, third)).toBe(true);
      const read = await index.getHead();
      expect(read).toEqual(third);
      read.frontier?.reverse(); // nor is a returned one
      expect((await index.getHead()).frontier).toEqual(FRONTIER_3); // in order: largest subtree first

      // A head stored without a frontier reads back without one (not the previous head's).
      const bare: ChainHead = { sequence: 3, hash: 'c'.repeat(64) };
      expect(await index.advanceHead(third, bare)).toBe(true);
      const bareRead = await index.getHead();
      expect(bareRead).toEqual(bare);
      expect(bareRead).not.toHaveProperty('frontier');
      expect(await index.advanceHead(bare, { sequence: 5, hash: 'd'.repeat(64), frontier: FRONTIER_5 })).toBe(true);
      expect(await index.getHead()).toEqual({ sequence: 5, hash: 'd'.repeat(64), frontier: FRONTIER_5 });
    });

    it('leaves the stored frontier untouched when a conditional advance loses', async () => {
      const index = await stores().audit();
      const head: ChainHead = { sequence: 2, hash: HASH_A, frontier: FRONTIER_3 };
      expect(await index.advanceHead(await index.getHead(), head)).toBe(true);
      const rival: ChainHead = { sequence: 5, hash: HASH_B, frontier: ['e'.repeat(64)] };
      const genesis: ChainHead = { sequence: -1, hash: GENESIS_HASH };
      expect(await index.advanceHead(genesis, rival)).toBe(false);
      expect(await index.advanceHead({ sequence: 2, hash: HASH_B, frontier: FRONTIER_3 }, rival)).toBe(false);
      expect(await index.advanceHead({ sequence: 1, hash: HASH_A }, rival)).toBe(false);
      expect(await index.advanceHead(head, { sequence: 4, hash: HASH_B })).toBe(true);
      expect(await index.advanceHead(head, rival)).toBe(false); // stale now: the bare head stays bare
      expect(await index.getHead()).toEqual({ sequence: 4, hash: HASH_B });

      // Two racing writers: the winner's frontier is stored, whole, and only it.
      const next = await index.getHead();
      const mine: ChainHead = { sequence: 6, hash: 'd'.repeat(64), frontier: FRONTIER_5 };
      const theirs: ChainHead = { sequence: 6, hash: 'e'.repeat(64), frontier: FRONTIER_1 };
      const wins = await Promise.all([index.advanceHead(next, mine), index.advanceHead(next, theirs)]);
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect(await index.getHead()).toEqual(wins[0] ? mine : theirs);
    });

    it('claims the frontier with the head through claimHead, where the store has it', async () => {
      const index = await stores().audit();
      const { claimHead } = index as Partial<CommittingAuditIndex>;
      if (!claimHead) return; // advanceHead only (above)
      const genesis = await index.getHead();
      const claimed: ChainHead = { sequence: 0, hash: HASH_A, frontier: FRONTIER_1 };
      const lost = claimHead.call(index, { sequence: 0, hash: HASH_B }, { ...claimed, frontier: FRONTIER_5 });
      expect(lost.won).toBe(false);
      await lost.durable;
      expect(await index.getHead()).toEqual(genesis);
      const { won, durable } = claimHead.call(index, genesis, claimed);
      expect(won).toBe(true);
      await durable;
      expect(await index.getHead()).toEqual(claimed);
      expect(claimHead.call(index, genesis, { ...claimed, frontier: FRONTIER_5 }).won).toBe(false);
      expect(await index.getHead()).toEqual(claimed);
      const bare: ChainHead = { sequence: 1, hash: HASH_B };
      const next = claimHead.call(index, claimed, bare);
      expect(next.won).toBe(true);
      await next.durable;
      const read = await index.getHead();
      expect(read).toEqual(bare);
      expect(read).not.toHaveProperty('frontier');
    });

    it('commits the frontier with the head and the records through commitBatch, where the store has it', async () => {
      const index = await stores().audit();
      const { commitBatch } = index as Partial<CommittingAuditIndex>;
      if (!commitBatch) return; // advanceHead only (above)
      const genesis = await index.getHead();
      const records = traderChain(4);
      const next: ChainHead = { sequence: 3, hash: (records[3] as AuditRecord).hash, frontier: FRONTIER_3 };
      const stale = commitBatch.call(index, { sequence: 0, hash: HASH_B }, { ...next, frontier: FRONTIER_5 }, records);
      expect(stale.won).toBe(false);
      await stale.durable;
      expect(await index.getHead()).toEqual(genesis);
      const { won, durable } = commitBatch.call(index, genesis, next, records);
      expect(won).toBe(true);
      await durable;
      expect(await index.getHead()).toEqual(next);

      // A losing commit leaves the head, its frontier and the records as they were.
      const more = hashChainFrom(records, 2);
      const bare: ChainHead = { sequence: 5, hash: (more[1] as AuditRecord).hash };
      expect(commitBatch.call(index, genesis, bare, more).won).toBe(false);
      expect(await index.getHead()).toEqual(next);
      expect(await collectItems((t) => index.queryByTrader(TRADER, ...wholeRange, 10, t))).toEqual(
        ofTrader(records, TRADER),
      );
      // A head committed without a frontier has none.
      const commit = commitBatch.call(index, next, bare, more);
      expect(commit.won).toBe(true);
      await commit.durable;
      const read = await index.getHead();
      expect(read).toEqual(bare);
      expect(read).not.toHaveProperty('frontier');
      expect(await collectItems((t) => index.queryByTrader(TRADER, ...wholeRange, 10, t))).toEqual(
        ofTrader([...records, ...more], TRADER),
      );
    });

    it('keeps the frontier across a restart', async () => {
      const restart = stores().restartAudit;
      if (!restart) return; // the in-memory index lives and dies with the process
      let index = await stores().audit();
      const head: ChainHead = { sequence: 2, hash: HASH_A, frontier: FRONTIER_3 };
      expect(await index.advanceHead(await index.getHead(), head)).toBe(true);
      index = await restart(index);
      expect(await index.getHead()).toEqual(head);
      const bare: ChainHead = { sequence: 3, hash: HASH_B };
      expect(await index.advanceHead(head, bare)).toBe(true);
      index = await restart(index);
      const read = await index.getHead();
      expect(read).toEqual(bare);
      expect(read).not.toHaveProperty('frontier');
    });
  });
}

/** `count` more records chained after `records`. */
function hashChainFrom(records: readonly AuditRecord[], count: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  let prev = records.at(-1) as AuditRecord;
  for (let i = 0; i < count; i++) {
    const partial: Omit<AuditRecord, 'hash'> = {
      sequence: prev.sequence + 1,
      event_id: eventIdFor(prev.sequence + 1),
      timestamp: traderStamp(prev.sequence + 1),
      event_type: 'risk_check',
      trader_id: TRADER,
      actor: 'CN=TRADER-7',
      input: { seq: prev.sequence + 1 },
      decision: '',
      reason: 'more',
      prev_hash: prev.hash,
    };
    prev = { ...partial, hash: hashRecord(partial) };
    out.push(prev);
  }
  return out;
}

// --- the risk engine's data: reference items beyond profiles and prices, accounts' risk state -------

/** What the risk-data contract needs: fresh, empty stores. */
interface RiskStoreFactory {
  reference(): Promise<ReferenceStore>;
  accountRisk(): Promise<AccountRiskStore>;
}

const FIRM_SETTINGS: FirmRiskSettings = { price_collar: '0.10', max_price_age_ms: 10_000, version: 'firm/v1' };

function tradingState(scope: string, revision: number, state: TradingState['state'] = 'HALTED'): TradingState {
  return {
    scope,
    state,
    reason: `kill switch ${revision}`,
    set_by: 'CN=RISK-OFFICER-1',
    set_at: second(revision),
    revision,
  };
}

function restriction(
  symbol: string,
  scope: string,
  id: string,
  list: Restriction['list'] = 'PROHIBITED',
  until?: string,
): Restriction {
  return {
    restriction_id: id,
    symbol,
    scope,
    list,
    reason: `on the ${list.toLowerCase()} list: ${id}`,
    effective_from: second(0),
    ...(until !== undefined ? { effective_until: until } : {}),
    added_by: 'CN=RISK-OFFICER-1',
    added_at: second(0),
  };
}

function locate(accountId: string, symbol: string, id: string, quantity = 1_000, expiresAt = second(600)): Locate {
  return {
    locate_id: id,
    account_id: accountId,
    symbol,
    quantity,
    source: 'stock-loan desk',
    obtained_at: second(1),
    expires_at: expiresAt,
    recorded_by: 'CN=RISK-OFFICER-1',
  };
}

function halt(symbol: string, kind: TradingHalt['kind'] = 'TRADING_HALT'): TradingHalt {
  return {
    symbol,
    kind,
    reason: kind === 'LULD_PAUSE' ? 'limit down' : 'news pending',
    since: second(2),
    ...(kind === 'LULD_PAUSE' ? { until: second(302) } : {}),
    set_by: 'CN=RISK-OFFICER-1',
  };
}

function entitlement(traderId: string, accounts: string[], n = 1): TraderEntitlement {
  return {
    trader_id: traderId,
    accounts,
    updated_by: 'load-reference',
    updated_at: second(n),
    version: `${traderId}/v${n}`,
  };
}

/** A put the store must refuse, naming these fields with these rules, and storing nothing. */
async function expectEntitlementRefused(
  store: ReferenceStore,
  bad: TraderEntitlement,
  want: readonly { field: string; rule: string }[],
): Promise<void> {
  const err = await store.putTraderEntitlement(bad).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  expect((err as ValidationError).errors.map(({ field, rule }) => ({ field, rule }))).toEqual(want);
}

function limitChange(id: string, requestedAt: string, status: LimitChange['status'] = 'PENDING'): LimitChange {
  return {
    change_id: id,
    account_id: 'ACC-001',
    status,
    values: { max_order_value: '2000000', 'symbol_limits.AAPL.max_order_quantity': 5_000 },
    before: { max_order_value: '1000000', 'symbol_limits.AAPL.max_order_quantity': null },
    base_version: 'ACC-001/v1',
    until: '2026-11-24T21:00:00.000000000Z',
    reason: 'earnings week',
    requested_by: 'CN=RISK-OFFICER-1',
    requested_at: requestedAt,
  };
}

/** A profile with every optional field: per-symbol limits and temporary changes (nested maps and lists). */
const FULL_PROFILE: RiskProfile = {
  ...ACC_001,
  max_order_quantity: 100_000,
  max_total_position_value: '40000000',
  max_orders_per_second: 100,
  duplicate_window_ms: 2_000,
  symbol_limits: { AAPL: { max_order_value: '500000', max_order_quantity: 2_500 }, 'BRK.B': {} },
  temporary: [
    { change_id: 'LC-1', values: { max_order_value: '3000000', max_orders_per_second: 50 }, until: second(900) },
  ],
  version: 'ACC-001/v7',
};

function accountRisk(accountId: string, revision: number, orders: readonly string[]): AccountRiskState {
  return {
    account_id: accountId,
    revision,
    open: Object.fromEntries(
      orders.map((id, i): [string, OpenOrder] => [
        id,
        {
          order_id: id,
          symbol: i % 2 ? 'MSFT' : 'AAPL',
          side: i % 2 ? 'SELL' : 'BUY',
          quantity: 100 + i,
          value: `${19_000 + i}.50`,
        },
      ]),
    ),
    recent: orders.map(
      (id, i): RecentOrder => ({
        order_id: id,
        fingerprint: `${accountId}|AAPL|BUY|${100 + i}|190.00`,
        at_ms: 1_795_000_000_000 + i,
      }),
    ),
  };
}

function riskDataContract(backend: BackendName | 'memory', stores: () => RiskStoreFactory): void {
  // The in-memory stores' page tokens are offsets, not the adapters' keys: token checks skip them.
  const keyedTokens = backend !== 'memory';

  describe('ReferenceStore: conditional profile writes', () => {
    it('creates only where no profile is stored, and replaces only from the stored version', async () => {
      const store = await stores().reference();
      expect(await store.putRiskProfileIf(ACC_001, 'ACC-001/v1')).toBe(false);
      expect(await store.getRiskProfile('ACC-001')).toBeUndefined();
      expect(await store.putRiskProfileIf(ACC_001, undefined)).toBe(true);
      expect(await store.getRiskProfile('ACC-001')).toEqual(ACC_001);
      // Created already: another create is refused, whatever it carries.
      expect(await store.putRiskProfileIf({ ...ACC_001, version: 'ACC-001/x' }, undefined)).toBe(false);
      // From a stale version: refused, the stored profile unchanged.
      const v2 = { ...FULL_PROFILE, version: 'ACC-001/v2' };
      expect(await store.putRiskProfileIf(v2, 'ACC-001/v0')).toBe(false);
      expect(await store.getRiskProfile('ACC-001')).toEqual(ACC_001);
      expect(await store.putRiskProfileIf(v2, 'ACC-001/v1')).toBe(true);
      expect(await store.getRiskProfile('ACC-001')).toEqual(v2);
      expect(await store.putRiskProfileIf({ ...v2, version: 'ACC-001/v3' }, 'ACC-001/v1')).toBe(false);
      expect(await store.getRiskProfile('ACC-001')).toEqual(v2);
      // Another account is another item.
      expect(await store.putRiskProfileIf({ ...ACC_001, account_id: 'ACC-002' }, undefined)).toBe(true);
      expect(await store.getRiskProfile('ACC-001')).toEqual(v2);
    });

    it('reads back nested limits exactly (symbol limits, temporary changes)', async () => {
      const store = await stores().reference();
      await store.putRiskProfile(FULL_PROFILE);
      expect(await store.getRiskProfile('ACC-001')).toEqual(FULL_PROFILE);
      // An unconditional put still replaces the whole profile: the optional fields go.
      await store.putRiskProfile(ACC_001);
      expect(await store.getRiskProfile('ACC-001')).toEqual(ACC_001);
    });

    it('lets exactly one of two changes from the same version win', async () => {
      const store = await stores().reference();
      await store.putRiskProfile(ACC_001);
      const a = { ...ACC_001, max_order_value: '1', version: 'ACC-001/a' };
      const b = { ...ACC_001, max_order_value: '2', version: 'ACC-001/b' };
      const results = await Promise.all([
        store.putRiskProfileIf(a, 'ACC-001/v1'),
        store.putRiskProfileIf(b, 'ACC-001/v1'),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.getRiskProfile('ACC-001')).toEqual(results[0] ? a : b);
    });
  });

  describe('ReferenceStore: firm settings and trading states', () => {
    it('stores and replaces the firm settings', async () => {
      const store = await stores().reference();
      expect(await store.getFirmSettings()).toBeUndefined();
      await store.putFirmSettings(FIRM_SETTINGS);
      expect(await store.getFirmSettings()).toEqual(FIRM_SETTINGS);
      const v2 = { price_collar: '0.05', max_price_age_ms: 2_500, version: 'firm/v2' };
      await store.putFirmSettings(v2);
      expect(await store.getFirmSettings()).toEqual(v2);
    });

    it('replaces the firm settings only from the stored version (undefined: none stored)', async () => {
      const store = await stores().reference();
      const v2 = { price_collar: '0.05', max_price_age_ms: 2_500, version: 'firm/v2', last_change_id: 'LC-1' };
      expect(await store.putFirmSettingsIf(v2, 'firm/v1')).toBe(false);
      expect(await store.getFirmSettings()).toBeUndefined();
      expect(await store.putFirmSettingsIf(FIRM_SETTINGS, undefined)).toBe(true);
      expect(await store.putFirmSettingsIf(FIRM_SETTINGS, undefined)).toBe(false);
      expect(await store.putFirmSettingsIf(v2, 'firm/v9')).toBe(false);
      expect(await store.getFirmSettings()).toEqual(FIRM_SETTINGS);
      expect(await store.putFirmSettingsIf(v2, FIRM_SETTINGS.version)).toBe(true);
      expect(await store.getFirmSettings()).toEqual(v2);
    });

    it('writes a trading state only from the stored revision (0: none stored), per scope', async () => {
      const store = await stores().reference();
      expect(await store.getTradingState('FIRM')).toBeUndefined();
      // Nothing stored: only expected revision 0 writes.
      expect(await store.putTradingState(tradingState('FIRM', 1), 1)).toBe(false);
      expect(await store.getTradingState('FIRM')).toBeUndefined();
      expect(await store.putTradingState(tradingState('FIRM', 1), 0)).toBe(true);
      expect(await store.getTradingState('FIRM')).toEqual(tradingState('FIRM', 1));
      // Stored: 0 no longer writes, nor a stale or a future revision.
      expect(await store.putTradingState(tradingState('FIRM', 1, 'ACTIVE'), 0)).toBe(false);
      expect(await store.putTradingState(tradingState('FIRM', 2, 'ACTIVE'), 2)).toBe(false);
      expect(await store.getTradingState('FIRM')).toEqual(tradingState('FIRM', 1));
      expect(await store.putTradingState(tradingState('FIRM', 2, 'REDUCING'), 1)).toBe(true);
      expect(await store.getTradingState('FIRM')).toEqual(tradingState('FIRM', 2, 'REDUCING'));
      expect(await store.putTradingState(tradingState('FIRM', 3, 'ACTIVE'), 1)).toBe(false);
      expect(await store.getTradingState('FIRM')).toEqual(tradingState('FIRM', 2, 'REDUCING'));
      // An account's switch is its own item.
      expect(await store.getTradingState('ACC-001')).toBeUndefined();
      expect(await store.putTradingState(tradingState('ACC-001', 1), 0)).toBe(true);
      expect(await store.getTradingState('ACC-001')).toEqual(tradingState('ACC-001', 1));
      expect(await store.getTradingState('FIRM')).toEqual(tradingState('FIRM', 2, 'REDUCING'));
    });

    it('lets exactly one of two switches from the same revision win', async () => {
      const store = await stores().reference();
      const results = await Promise.all([
        store.putTradingState(tradingState('FIRM', 1, 'HALTED'), 0),
        store.putTradingState(tradingState('FIRM', 1, 'REDUCING'), 0),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.getTradingState('FIRM'))?.state).toBe(results[0] ? 'HALTED' : 'REDUCING');
    });
  });

  describe('ReferenceStore: restrictions, locates, halts', () => {
    it("lists a symbol's restrictions (firm and account, lifted ones too) and no other symbol's", async () => {
      const store = await stores().reference();
      expect(await store.listRestrictions('SANC')).toEqual([]);
      // Neighbours: a symbol that extends the name, one that sorts just before, other items of the partition.
      await store.putSecurity(security('SANC', '12.00'));
      await store.putHalt(halt('SANC'));
      await store.putRestriction(restriction('SANCX', 'FIRM', 'R-9'));
      await store.putRestriction(restriction('SAN', 'FIRM', 'R-8'));
      const entries = [
        restriction('SANC', 'FIRM', 'R-2', 'RESTRICTED'),
        restriction('SANC', 'ACC-002', 'R-3'),
        restriction('SANC', 'FIRM', 'R-1', 'PROHIBITED', second(60)),
        restriction('SANC', 'ACC-001', 'R-4', 'RESTRICTED'),
      ];
      for (const r of entries) await store.putRestriction(r);
      // In sort-key order: by scope, then restriction id.
      expect(await store.listRestrictions('SANC')).toEqual([entries[3], entries[1], entries[2], entries[0]]);
      expect(await store.listRestrictions('SANCX')).toEqual([restriction('SANCX', 'FIRM', 'R-9')]);
      expect(await store.listRestrictions('SAN')).toEqual([restriction('SAN', 'FIRM', 'R-8')]);
      expect(await store.listRestrictions('SA')).toEqual([]);
      // The other items of the symbol's partition are untouched.
      expect(await store.getSecurity('SANC')).toEqual(security('SANC', '12.00'));
      expect(await store.getHalt('SANC')).toEqual(halt('SANC'));
    });

    it('replaces a restriction by its id (a lift sets effective_until, the entry stays)', async () => {
      const store = await stores().reference();
      const r = restriction('RSTR', 'FIRM', 'R-1', 'RESTRICTED');
      await store.putRestriction(r);
      const lifted = { ...r, effective_until: second(90) };
      await store.putRestriction(lifted);
      expect(await store.listRestrictions('RSTR')).toEqual([lifted]);
      // The same id under another scope is another entry.
      const account = restriction('RSTR', 'ACC-001', 'R-1');
      await store.putRestriction(account);
      expect(await store.listRestrictions('RSTR')).toEqual([account, lifted]);
    });

    it('refuses a scope or an id that would run into the next key part', async () => {
      const store = await stores().reference();
      for (const bad of [
        restriction('X', 'A#B', 'C'),
        restriction('X', 'A', 'B#C'),
        restriction('X', '', 'C'),
        restriction('X', 'A', ''),
      ]) {
        await expect(store.putRestriction(bad)).rejects.toBeInstanceOf(ValidationError);
      }
      await expect(store.putLocate(locate('ACC-001', 'A#B', 'L-1'))).rejects.toBeInstanceOf(ValidationError);
      await expect(store.putLocate(locate('ACC-001', 'AB', 'L#1'))).rejects.toBeInstanceOf(ValidationError);
      expect(await store.listRestrictions('X')).toEqual([]);
      expect(await store.listLocates('ACC-001', 'A#B')).toEqual([]);
    });

    it("lists an account's locates in one symbol (expired ones too), no other account's or symbol's", async () => {
      const store = await stores().reference();
      expect(await store.listLocates('ACC-001', 'TSLA')).toEqual([]);
      await store.putRiskProfile(ACC_001); // the same partition
      const mine = [
        locate('ACC-001', 'TSLA', 'L-2', 500),
        locate('ACC-001', 'TSLA', 'L-1', 1_000, second(-60)), // expired
        locate('ACC-001', 'TSLA', 'L-3', 250),
      ];
      for (const l of mine) await store.putLocate(l);
      await store.putLocate(locate('ACC-001', 'TSL', 'L-4'));
      await store.putLocate(locate('ACC-001', 'TSLAX', 'L-5'));
      await store.putLocate(locate('ACC-002', 'TSLA', 'L-6'));
      await store.putLocate(locate('ACC-0011', 'TSLA', 'L-7'));
      // By locate id (the sort key's order).
      expect(await store.listLocates('ACC-001', 'TSLA')).toEqual([mine[1], mine[0], mine[2]]);
      expect(await store.listLocates('ACC-001', 'TSL')).toEqual([locate('ACC-001', 'TSL', 'L-4')]);
      expect(await store.listLocates('ACC-001', 'TSLAX')).toEqual([locate('ACC-001', 'TSLAX', 'L-5')]);
      expect(await store.listLocates('ACC-002', 'TSLA')).toEqual([locate('ACC-002', 'TSLA', 'L-6')]);
      expect(await store.listLocates('ACC-00', 'TSLA')).toEqual([]);
      expect(await store.listLocates('ACC-001', 'AAPL')).toEqual([]);
      expect(await store.getRiskProfile('ACC-001')).toEqual(ACC_001);
      // Replaced by id (a locate drawn down).
      const drawn = { ...(mine[0] as Locate), quantity: 100 };
      await store.putLocate(drawn);
      expect(await store.listLocates('ACC-001', 'TSLA')).toEqual([mine[1], drawn, mine[2]]);
    });

    it('sets, replaces and lifts a halt; lifts only the halt read (by its since); an absent one is refused', async () => {
      const store = await stores().reference();
      expect(await store.getHalt('NVDA')).toBeUndefined();
      expect(await store.deleteHalt('NVDA', second(2))).toBe(false);
      expect(await store.getHalt('NVDA')).toBeUndefined();
      await store.putSecurity(security('NVDA', '120.00'));
      await store.putRestriction(restriction('NVDA', 'FIRM', 'R-1', 'RESTRICTED'));
      await store.putHalt(halt('NVDA', 'LULD_PAUSE'));
      expect(await store.getHalt('NVDA')).toEqual(halt('NVDA', 'LULD_PAUSE'));
      await store.putHalt(halt('NVDA'));
      expect(await store.getHalt('NVDA')).toEqual(halt('NVDA')); // no `until` left behind
      await store.putHalt(halt('AMZN'));
      // A halt set since the one the caller read stays.
      expect(await store.deleteHalt('NVDA', second(1))).toBe(false);
      expect(await store.getHalt('NVDA')).toEqual(halt('NVDA'));
      expect(await store.deleteHalt('NVDA', second(2))).toBe(true);
      expect(await store.getHalt('NVDA')).toBeUndefined();
      // Only the halt went.
      expect(await store.getHalt('AMZN')).toEqual(halt('AMZN'));
      expect(await store.getSecurity('NVDA')).toEqual(security('NVDA', '120.00'));
      expect(await store.listRestrictions('NVDA')).toEqual([restriction('NVDA', 'FIRM', 'R-1', 'RESTRICTED')]);
      // Set again after a lift.
      await store.putHalt(halt('NVDA'));
      expect(await store.getHalt('NVDA')).toEqual(halt('NVDA'));
    });
  });

  describe('ReferenceStore: trader entitlements', () => {
    it('stores, reads and replaces a whole entitlement per trader; none on record reads as undefined', async () => {
      const store = await stores().reference();
      expect(await store.getTraderEntitlement('TRADER-123')).toBeUndefined();
      const first = entitlement('TRADER-123', ['ACC-001', 'ACC-002']);
      await store.putTraderEntitlement(first);
      expect(await store.getTraderEntitlement('TRADER-123')).toEqual(first);
      // Another trader, a trader named like an account (another item kind): items of their own.
      await store.putTraderEntitlement(entitlement('TRADER-1234', ['ACC-004']));
      await store.putRiskProfile(ACC_001);
      await store.putTraderEntitlement(entitlement('ACC-001', ['ACC-001']));
      // Replaced whole: narrowed, then revoked (no account at all is still on record).
      const narrowed = entitlement('TRADER-123', ['ACC-002'], 2);
      await store.putTraderEntitlement(narrowed);
      expect(await store.getTraderEntitlement('TRADER-123')).toEqual(narrowed);
      const revoked = entitlement('TRADER-123', [], 3);
      await store.putTraderEntitlement(revoked);
      expect(await store.getTraderEntitlement('TRADER-123')).toEqual(revoked);
      expect(await store.getTraderEntitlement('TRADER-1234')).toEqual(entitlement('TRADER-1234', ['ACC-004']));
      expect(await store.getTraderEntitlement('ACC-001')).toEqual(entitlement('ACC-001', ['ACC-001']));
      expect(await store.getRiskProfile('ACC-001')).toEqual(ACC_001);
      expect(await store.getTraderEntitlement('TRADER-12')).toBeUndefined();
      expect(await store.getTraderEntitlement('')).toBeUndefined();
    });

    it('stores the accounts sorted (by code unit) without duplicates, and updated_at in the nine-digit form', async () => {
      const store = await stores().reference();
      await store.putTraderEntitlement({
        ...entitlement('TRADER-9', ['ACC-010', 'ACC-002', 'acc-001', 'ACC-010', 'ACC-002', 'ACC-1']),
        updated_at: '2026-11-23T19:25:00.5Z',
      });
      expect(await store.getTraderEntitlement('TRADER-9')).toEqual({
        ...entitlement('TRADER-9', ['ACC-002', 'ACC-010', 'ACC-1', 'acc-001']),
        updated_at: '2026-11-23T19:25:00.500000000Z',
      });
    });

    it('refuses an entitlement without a trader, with accounts that are not non-empty strings, or without its bookkeeping', async () => {
      const store = await stores().reference();
      const ok = entitlement('TRADER-1', ['ACC-001']);
      await expectEntitlementRefused(store, { ...ok, trader_id: '' }, [{ field: 'trader_id', rule: 'required' }]);
      await expectEntitlementRefused(store, { ...ok, accounts: 'ACC-001' as unknown as string[] }, [
        { field: 'accounts', rule: 'type' },
      ]);
      await expectEntitlementRefused(store, { ...ok, accounts: ['ACC-001', '', 7 as unknown as string] }, [
        { field: 'accounts[1]', rule: 'required' },
        { field: 'accounts[2]', rule: 'required' },
      ]);
      await expectEntitlementRefused(store, { ...ok, updated_by: '', version: undefined as unknown as string }, [
        { field: 'updated_by', rule: 'required' },
        { field: 'version', rule: 'required' },
      ]);
      await expectEntitlementRefused(store, { ...ok, updated_at: 'yesterday' }, [
        { field: 'updated_at', rule: 'timestamp' },
      ]);
      expect(await store.getTraderEntitlement('TRADER-1')).toBeUndefined();
      // A refused replacement leaves the stored one as it was.
      await store.putTraderEntitlement(ok);
      await expectEntitlementRefused(store, { ...ok, accounts: [''] }, [{ field: 'accounts[0]', rule: 'required' }]);
      expect(await store.getTraderEntitlement('TRADER-1')).toEqual(ok);
    });

    it('hands out copies: changing a written or a returned entitlement does not change the store', async () => {
      const store = await stores().reference();
      const written = entitlement('TRADER-1', ['ACC-001', 'ACC-002']);
      await store.putTraderEntitlement(written);
      written.accounts.push('ACC-003');
      const read = await store.getTraderEntitlement('TRADER-1');
      read?.accounts.push('ACC-004');
      expect(await store.getTraderEntitlement('TRADER-1')).toEqual(entitlement('TRADER-1', ['ACC-001', 'ACC-002']));
    });
  });

  describe('ReferenceStore: limit changes', () => {
    it('creates once; a second create returns the stored change unchanged', async () => {
      const store = await stores().reference();
      expect(await store.getLimitChange('LC-1')).toBeUndefined();
      const change = limitChange('LC-1', second(1));
      expect(await store.createLimitChange(change)).toEqual({ created: true, item: change });
      const other = { ...limitChange('LC-1', second(2)), reason: 'another', values: { max_order_value: '1' } };
      expect(await store.createLimitChange(other)).toEqual({ created: false, existing: change });
      // Values, nulls in `before`, numbers and strings: exactly as written.
      expect(await store.getLimitChange('LC-1')).toEqual(change);
    });

    it("decides only a pending change, once, with the decision's fields only", async () => {
      const store = await stores().reference();
      const change = limitChange('LC-1', second(1));
      await store.createLimitChange(change);
      const decided = await store.decideLimitChange('LC-1', {
        status: 'APPROVED',
        decided_by: 'CN=RISK-OFFICER-2',
        decided_at: second(5),
        applied_version: 'ACC-001/v2',
        decision_reason: undefined, // an undefined field is not written
      });
      const want: LimitChange = {
        ...change,
        status: 'APPROVED',
        decided_by: 'CN=RISK-OFFICER-2',
        decided_at: second(5),
        applied_version: 'ACC-001/v2',
      };
      expect(decided).toEqual(want);
      expect(await store.getLimitChange('LC-1')).toEqual(want);
      // No longer pending: refused, unchanged.
      expect(
        await store.decideLimitChange('LC-1', { status: 'REJECTED', decided_by: 'CN=x', decided_at: second(6) }),
      ).toBeUndefined();
      expect(await store.getLimitChange('LC-1')).toEqual(want);
      // Absent: refused, nothing created.
      expect(
        await store.decideLimitChange('LC-2', { status: 'REJECTED', decided_by: 'CN=x', decided_at: second(6) }),
      ).toBeUndefined();
      expect(await store.getLimitChange('LC-2')).toBeUndefined();
      // A rejection with its reason.
      await store.createLimitChange(limitChange('LC-3', second(3)));
      expect(
        await store.decideLimitChange('LC-3', {
          status: 'REJECTED',
          decided_by: 'CN=RISK-OFFICER-2',
          decided_at: second(7),
          decision_reason: 'not justified',
        }),
      ).toEqual({
        ...limitChange('LC-3', second(3)),
        status: 'REJECTED',
        decided_by: 'CN=RISK-OFFICER-2',
        decided_at: second(7),
        decision_reason: 'not justified',
      });
    });

    it('moves a change out of a given status only (an approval that could not be applied is closed)', async () => {
      const store = await stores().reference();
      await store.createLimitChange(limitChange('LC-1', second(1)));
      // Still PENDING: a transition from APPROVED is refused.
      expect(
        await store.decideLimitChange(
          'LC-1',
          { status: 'REJECTED', decided_by: 'CN=a', decided_at: second(2) },
          'APPROVED',
        ),
      ).toBeUndefined();
      await store.decideLimitChange('LC-1', { status: 'APPROVED', decided_by: 'CN=a', decided_at: second(2) });
      const closed = await store.decideLimitChange(
        'LC-1',
        { status: 'REJECTED', decided_by: 'CN=a', decided_at: second(3), decision_reason: 'STALE_CHANGE: x' },
        'APPROVED',
      );
      expect(closed).toMatchObject({ status: 'REJECTED', decided_at: second(3), decision_reason: 'STALE_CHANGE: x' });
      expect((await store.listLimitChanges('REJECTED', 10)).items.map((c) => c.change_id)).toEqual(['LC-1']);
      expect((await store.listLimitChanges('APPROVED', 10)).items).toEqual([]);
    });

    it('lets exactly one of two concurrent deciders win', async () => {
      const store = await stores().reference();
      await store.createLimitChange(limitChange('LC-1', second(1)));
      const results = await Promise.all([
        store.decideLimitChange('LC-1', { status: 'APPROVED', decided_by: 'CN=a', decided_at: second(2) }),
        store.decideLimitChange('LC-1', { status: 'REJECTED', decided_by: 'CN=b', decided_at: second(2) }),
      ]);
      const winners = results.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(await store.getLimitChange('LC-1')).toEqual(winners[0]);
    });

    it('lists by status, oldest request first, across pages; other items and statuses stay out', async () => {
      const store = await stores().reference();
      // Other reference items (not in the index).
      await store.putRiskProfile(FULL_PROFILE);
      await store.putSecurity(security('AAPL', '190.00'));
      await store.putTradingState(tradingState('FIRM', 1), 0);
      // Distinct timestamps, out of creation order (the index does not order ties).
      const offsets = [5, 0, 11, 3, 8, 1, 9, 4, 10, 2, 7, 6];
      const pending = offsets.map((s, i) => limitChange(`LC-${i}`, second(s)));
      for (const c of pending) await store.createLimitChange(c);
      await store.createLimitChange(limitChange('LC-old', second(-5), 'APPROVED'));
      const want = [...pending].sort((a, b) => (a.requested_at < b.requested_at ? -1 : 1));

      for (const limit of [1, 5, 12, 1000]) {
        const { items, pages } = await collect((token) => store.listLimitChanges('PENDING', limit, token));
        expect(items, `limit ${limit}`).toEqual(want);
        expect(pages, `limit ${limit}`).toBeGreaterThanOrEqual(Math.ceil(want.length / limit));
        expect(pages, `limit ${limit}`).toBeLessThanOrEqual(Math.ceil(want.length / limit) + 1);
      }
      const first = await store.listLimitChanges('PENDING', 5);
      expect(first.items).toEqual(want.slice(0, 5));
      expect(first.nextToken).toBeDefined();
      expect((await store.listLimitChanges('PENDING', 5, first.nextToken)).items).toEqual(want.slice(5, 10));
      expect((await store.listLimitChanges('APPROVED', 10)).items).toEqual([
        limitChange('LC-old', second(-5), 'APPROVED'),
      ]);
      expect(await store.listLimitChanges('REJECTED', 10)).toEqual({ items: [] });

      // A decided change leaves the pending list and joins its new status, decision included.
      const rejected = await store.decideLimitChange('LC-2', {
        status: 'REJECTED',
        decided_by: 'CN=c',
        decided_at: second(20),
      });
      const after = await collect((token) => store.listLimitChanges('PENDING', 4, token));
      expect(after.items.map((c) => c.change_id)).toEqual(want.map((c) => c.change_id).filter((id) => id !== 'LC-2'));
      expect((await store.listLimitChanges('REJECTED', 10)).items).toEqual([rejected]);
    });

    it.skipIf(!keyedTokens)('refuses a token from another status or a garbage token', async () => {
      const store = await stores().reference();
      for (const [i, s] of [0, 1, 2].entries()) await store.createLimitChange(limitChange(`LC-${i}`, second(s)));
      for (const [i, s] of [0, 1, 2].entries()) {
        await store.createLimitChange(limitChange(`LC-x${i}`, second(s), 'APPROVED'));
      }
      const first = await store.listLimitChanges('PENDING', 1);
      expect(first.nextToken).toBeDefined();
      await expectTokenRejected(store.listLimitChanges('APPROVED', 1, first.nextToken));
      const approvedToken = (await store.listLimitChanges('APPROVED', 1)).nextToken;
      await expectTokenRejected(store.listLimitChanges('PENDING', 1, approvedToken));
      for (const garbage of ['not-a-token', tokenOf([1]), tokenOf({}), tokenOf({ lc_status: 'PENDING' })]) {
        await expectTokenRejected(store.listLimitChanges('PENDING', 1, garbage));
      }
      // A token naming the last change ends the listing.
      const last = tokenOf({ lc_status: 'PENDING', requested_at: second(2), pk: 'LIMIT_CHANGE#LC-2', sk: 'CHANGE' });
      expect(await store.listLimitChanges('PENDING', 2, last)).toEqual({ items: [] });
      expect((await store.listLimitChanges('PENDING', 10, '')).items).toHaveLength(3);
    });
  });

  describe('AccountRiskStore', () => {
    it('reads an account without an item as an empty state at revision 0', async () => {
      const store = await stores().accountRisk();
      expect(await store.get('ACC-001')).toEqual({ account_id: 'ACC-001', revision: 0, open: {}, recent: [] });
    });

    it('writes only from the stored revision, and reads nested state back exactly', async () => {
      const store = await stores().accountRisk();
      const r1 = accountRisk('ACC-001', 1, ['ORD-1', 'ORD-2', 'ORD-3']);
      expect(await store.putIfRevision(r1, 0)).toBe('written');
      expect(await store.get('ACC-001')).toEqual(r1);
      // Stale, repeated and future revisions conflict; nothing changes.
      expect(await store.putIfRevision(accountRisk('ACC-001', 1, []), 0)).toBe('conflict');
      expect(await store.putIfRevision(accountRisk('ACC-001', 3, []), 2)).toBe('conflict');
      expect(await store.get('ACC-001')).toEqual(r1);
      const r2 = accountRisk('ACC-001', 2, ['ORD-3', 'ORD-4']);
      expect(await store.putIfRevision(r2, 1)).toBe('written');
      expect(await store.get('ACC-001')).toEqual(r2);
      expect(await store.putIfRevision(accountRisk('ACC-001', 2, []), 1)).toBe('conflict');
      // Everything released: an empty map and an empty list, not absent fields.
      const r3 = accountRisk('ACC-001', 3, []);
      expect(await store.putIfRevision(r3, 2)).toBe('written');
      expect(await store.get('ACC-001')).toEqual({ account_id: 'ACC-001', revision: 3, open: {}, recent: [] });
      // Accounts are independent items.
      expect(await store.get('ACC-002')).toEqual({ account_id: 'ACC-002', revision: 0, open: {}, recent: [] });
      expect(await store.putIfRevision(accountRisk('ACC-002', 1, ['ORD-9']), 0)).toBe('written');
      expect(await store.get('ACC-001')).toEqual(r3);
    });

    it('refuses a write that does not move the revision on by one, and writes nothing', async () => {
      const store = await stores().accountRisk();
      await expect(store.putIfRevision(accountRisk('ACC-001', 0, ['ORD-1']), 0)).rejects.toBeInstanceOf(RangeError);
      await expect(store.putIfRevision(accountRisk('ACC-001', 2, ['ORD-1']), 0)).rejects.toBeInstanceOf(RangeError);
      expect((await store.get('ACC-001')).revision).toBe(0);
      await store.putIfRevision(accountRisk('ACC-001', 1, ['ORD-1']), 0);
      await expect(store.putIfRevision(accountRisk('ACC-001', 1, ['ORD-2']), 1)).rejects.toBeInstanceOf(RangeError);
      expect(await store.get('ACC-001')).toEqual(accountRisk('ACC-001', 1, ['ORD-1']));
    });

    it('lets exactly one of two writers from the same revision win', async () => {
      const store = await stores().accountRisk();
      await store.putIfRevision(accountRisk('ACC-001', 1, ['ORD-1']), 0);
      const a = accountRisk('ACC-001', 2, ['ORD-1', 'ORD-A']);
      const b = accountRisk('ACC-001', 2, ['ORD-1', 'ORD-B']);
      const results = await Promise.all([store.putIfRevision(a, 1), store.putIfRevision(b, 1)]);
      expect([...results].sort()).toEqual(['conflict', 'written']);
      expect(await store.get('ACC-001')).toEqual(results[0] === 'written' ? a : b);
      // From nothing, too.
      const c = accountRisk('ACC-002', 1, ['ORD-C']);
      const d = accountRisk('ACC-002', 1, ['ORD-D']);
      const fresh = await Promise.all([store.putIfRevision(c, 0), store.putIfRevision(d, 0)]);
      expect([...fresh].sort()).toEqual(['conflict', 'written']);
      expect(await store.get('ACC-002')).toEqual(fresh[0] === 'written' ? c : d);
    });

    it('hands out copies: changing a returned or written state does not change the store', async () => {
      const store = await stores().accountRisk();
      const r1 = accountRisk('ACC-001', 1, ['ORD-1']);
      await store.putIfRevision(r1, 0);
      const want = structuredClone(r1);
      r1.recent.push({ order_id: 'X', fingerprint: 'x', at_ms: 1 });
      const read = await store.get('ACC-001');
      delete read.open['ORD-1'];
      read.recent.length = 0;
      expect(await store.get('ACC-001')).toEqual(want);
    });
  });
}

describe.each(backends)('store contract on $name', (backend) => {
  storeContract(backend);
});

// The in-memory stores the unit tests use (test/support/in-memory.ts) keep the same contract for
// the risk engine's data, so what the core is tested against is what it meets.
describe('risk-data contract on the in-memory stores', () => {
  riskDataContract('memory', () => ({
    reference: async () => new InMemoryReferenceStore(),
    accountRisk: async () => new InMemoryAccountRiskStore(),
  }));
});

// The same for the audit index: by trader, and the head's frontier.
describe('audit trader and frontier contract on the in-memory index', () => {
  auditTraderAndFrontierContract('memory', () => ({ audit: async () => new InMemoryAuditIndex() }));
});
