// The reference-data loader against a real (local) DynamoDB: it fills an empty table and never
// overwrites limits, prices, lists or settings already on file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadReference, main } from '../../bin/load-reference.js';
import { DynamoDbReferenceStore } from '../../functions/adapters/dynamodb-reference-store.js';
import type { Restriction } from '../../functions/core/model.js';
import {
  DEFAULT_TABLE_NAMES,
  ensureTable,
  type LocalDynamo,
  startLocalDynamo,
  tableDefinitions,
} from '../../local/dynamo.js';
import { ACC_001, FIRM_SETTINGS } from '../../local/seed-data.js';

describe('load-reference', () => {
  let dir: string;
  let dynamo: LocalDynamo;
  let store: DynamoDbReferenceStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'load-ref-'));
    dynamo = await startLocalDynamo({ dataDir: dir });
    store = new DynamoDbReferenceStore(dynamo.client, dynamo.tableNames.reference);
  });
  afterAll(async () => {
    await dynamo.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('fills an empty table, then keeps what is on file', async () => {
    const first = await loadReference({ table: dynamo.tableNames.reference, endpoint: dynamo.endpoint });
    expect(first.kept).toEqual([]);
    expect(first.written).toEqual(
      expect.arrayContaining([
        'ACCOUNT#ACC-001',
        'ACCOUNT#ACC-002',
        'SECURITY#AAPL',
        'SECURITY#SANC',
        'SECURITY#SANC/RESTRICTION#FIRM#SEED-SANC',
        'SECURITY#RSTR/RESTRICTION#FIRM#SEED-RSTR',
        'FIRM/RISK_SETTINGS',
      ]),
    );
    expect(await store.getRiskProfile('ACC-001')).toEqual(ACC_001);
    expect((await store.getRiskProfile('ACC-002'))?.max_order_quantity).toBe(10_000);
    expect(await store.getFirmSettings()).toEqual(FIRM_SETTINGS);
    // The listed symbols keep their prices; the lists are restrictions of their own.
    expect(await store.getSecurity('SANC')).toEqual({
      symbol: 'SANC',
      reference_price: '12.00',
      price_as_of: expect.any(String),
    });
    const sanc = await store.listRestrictions('SANC');
    expect(sanc).toEqual([
      expect.objectContaining({ scope: 'FIRM', list: 'PROHIBITED', added_by: 'seed', restriction_id: 'SEED-SANC' }),
    ]);
    expect(sanc[0]?.effective_from).toBe(sanc[0]?.added_at);
    expect(sanc[0]?.effective_until).toBeUndefined();
    expect(await store.listRestrictions('RSTR')).toEqual([
      expect.objectContaining({ scope: 'FIRM', list: 'RESTRICTED', added_by: 'seed' }),
    ]);
    expect(await store.listRestrictions('AAPL')).toEqual([]);

    // Risk officers changed things since: loading again must undo none of it.
    await store.putRiskProfile({ ...ACC_001, max_order_value: '250000', version: 'ACC-001/v2' });
    const lifted = { ...(sanc[0] as Restriction), effective_until: '2026-11-24T00:00:00.000000000Z' };
    await store.putRestriction(lifted);
    await store.putFirmSettings({ ...FIRM_SETTINGS, price_collar: '0.05', version: 'firm/v2' });
    await store.putSecurity({
      symbol: 'AAPL',
      reference_price: '191.00',
      price_as_of: '2026-11-24T00:00:00.000000000Z',
    });
    const second = await loadReference({ table: dynamo.tableNames.reference, endpoint: dynamo.endpoint });
    expect(second.written).toEqual([]);
    expect([...second.kept].sort()).toEqual([...first.written].sort());
    expect((await store.getRiskProfile('ACC-001'))?.max_order_value).toBe('250000');
    expect(await store.listRestrictions('SANC')).toEqual([lifted]);
    expect((await store.getFirmSettings())?.version).toBe('firm/v2');
    expect((await store.getSecurity('AAPL'))?.reference_price).toBe('191.00');
  });

  it('adds only what a table of the earlier layout lacks (the lists as restrictions, the firm settings)', async () => {
    const table = 'reference-earlier-layout';
    await ensureTable(dynamo.client, tableDefinitions({ ...DEFAULT_TABLE_NAMES, reference: table }).reference);
    const earlier = new DynamoDbReferenceStore(dynamo.client, table);
    const oldProfile = { ...ACC_001, max_order_value: '750000', version: 'ACC-001/v5' };
    await earlier.putRiskProfile(oldProfile);
    await earlier.putSecurity({
      symbol: 'SANC',
      reference_price: '11.00',
      price_as_of: '2026-11-01T00:00:00.000000000Z',
    });
    const result = await loadReference({ table, endpoint: dynamo.endpoint });
    expect(result.kept).toEqual(['ACCOUNT#ACC-001', 'SECURITY#SANC']);
    expect(result.written).toContain('SECURITY#SANC/RESTRICTION#FIRM#SEED-SANC');
    expect(result.written).toContain('FIRM/RISK_SETTINGS');
    expect(await earlier.getRiskProfile('ACC-001')).toEqual(oldProfile);
    expect((await earlier.getSecurity('SANC'))?.reference_price).toBe('11.00');
    expect((await earlier.listRestrictions('SANC')).map((r) => r.list)).toEqual(['PROHIBITED']);
  });

  it('refuses to run without a table (exit 2)', async () => {
    expect(await main([])).toBe(2);
    expect(await main(['--bogus'])).toBe(2);
  });
});
