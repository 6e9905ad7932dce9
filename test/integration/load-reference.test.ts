// The reference-data loader against a real (local) DynamoDB: it fills an empty table and never
// overwrites limits, prices, lists, settings or entitlements already on file; an input file's
// entitlements replace what is on file, and a bad file is refused whole, naming the field.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadReference, main, parseReferenceInput } from '../../bin/load-reference.js';
import { DynamoDbReferenceStore } from '../../functions/adapters/dynamodb-reference-store.js';
import { ValidationError } from '../../functions/core/errors.js';
import type { Restriction } from '../../functions/core/model.js';
import {
  DEFAULT_TABLE_NAMES,
  ensureTable,
  type LocalDynamo,
  startLocalDynamo,
  tableDefinitions,
} from '../../local/dynamo.js';
import { ACC_001, CONSERVATIVE_DEFAULT, FIRM_SETTINGS } from '../../local/seed-data.js';

/** The fields and rules a refused input names. */
function refusal(fn: () => unknown): { field: string; rule: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).errors.map(({ field, rule }) => ({ field, rule }));
  }
  throw new Error('not refused');
}

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

  let tables = 0;
  /** A new, empty reference table and its store. */
  async function freshTable(): Promise<{ table: string; store: DynamoDbReferenceStore }> {
    const table = `reference-fresh-${++tables}`;
    await ensureTable(dynamo.client, tableDefinitions({ ...DEFAULT_TABLE_NAMES, reference: table }).reference);
    return { table, store: new DynamoDbReferenceStore(dynamo.client, table) };
  }

  let files = 0;
  async function inputFile(content: unknown): Promise<string> {
    const path = join(dir, `input-${++files}.json`);
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  }

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
        'ACCOUNT#ACC-004',
        'TRADER#TRADER-123',
        'TRADER#TRADER-456',
      ]),
    );
    expect(first.replaced).toEqual([]);
    expect(await store.getRiskProfile('ACC-001')).toEqual(ACC_001);
    expect((await store.getRiskProfile('ACC-002'))?.max_order_quantity).toBe(10_000);
    expect(await store.getRiskProfile('ACC-004')).toEqual({
      account_id: 'ACC-004',
      ...CONSERVATIVE_DEFAULT,
      version: 'default/v1',
    });
    const trader123 = await store.getTraderEntitlement('TRADER-123');
    expect(trader123).toEqual({
      trader_id: 'TRADER-123',
      accounts: ['ACC-001', 'ACC-002', 'ACC-003'],
      updated_by: 'seed',
      updated_at: expect.any(String),
      version: 'TRADER-123/v1',
    });
    expect((await store.getTraderEntitlement('TRADER-456'))?.accounts).toEqual(['ACC-004']);
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
    const narrowed = {
      ...(trader123 as NonNullable<typeof trader123>),
      accounts: ['ACC-001'],
      version: 'TRADER-123/v2',
    };
    await store.putTraderEntitlement(narrowed);
    const second = await loadReference({ table: dynamo.tableNames.reference, endpoint: dynamo.endpoint });
    expect(second.written).toEqual([]);
    expect(second.replaced).toEqual([]);
    expect([...second.kept].sort()).toEqual([...first.written].sort());
    expect((await store.getRiskProfile('ACC-001'))?.max_order_value).toBe('250000');
    expect(await store.listRestrictions('SANC')).toEqual([lifted]);
    expect((await store.getFirmSettings())?.version).toBe('firm/v2');
    expect((await store.getSecurity('AAPL'))?.reference_price).toBe('191.00');
    expect(await store.getTraderEntitlement('TRADER-123')).toEqual(narrowed);
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
    expect(result.written).toContain('TRADER#TRADER-123');
    expect(await earlier.getRiskProfile('ACC-001')).toEqual(oldProfile);
    expect((await earlier.getSecurity('SANC'))?.reference_price).toBe('11.00');
    expect((await earlier.listRestrictions('SANC')).map((r) => r.list)).toEqual(['PROHIBITED']);
  });

  it("loads an input file's entitlements: written, kept when the same, replaced when not; the seed's for a trader it names skipped", async () => {
    const { table, store } = await freshTable();
    const file = await inputFile({
      entitlements: [
        { trader_id: 'TRADER-789', accounts: ['ACC-004', 'ACC-002', 'ACC-004'] },
        { trader_id: 'TRADER-123', accounts: ['ACC-001'] },
      ],
    });
    const first = await loadReference({ table, endpoint: dynamo.endpoint, file });
    expect(first.written).toEqual(
      expect.arrayContaining(['TRADER#TRADER-789', 'TRADER#TRADER-123', 'TRADER#TRADER-456']),
    );
    expect(first.written.filter((k) => k === 'TRADER#TRADER-123')).toHaveLength(1);
    expect([first.kept, first.replaced]).toEqual([[], []]);
    expect(await store.getTraderEntitlement('TRADER-789')).toEqual({
      trader_id: 'TRADER-789',
      accounts: ['ACC-002', 'ACC-004'],
      updated_by: 'load-reference',
      updated_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/),
      version: 'TRADER-789/v1',
    });
    // The file's word, not the seed's.
    expect((await store.getTraderEntitlement('TRADER-123'))?.accounts).toEqual(['ACC-001']);
    expect((await store.getTraderEntitlement('TRADER-456'))?.accounts).toEqual(['ACC-004']);

    // The same file again: nothing to do (the order of the accounts in the file does not matter).
    const again = await loadReference({
      table,
      endpoint: dynamo.endpoint,
      file: await inputFile({
        entitlements: [
          { trader_id: 'TRADER-123', accounts: ['ACC-001'] },
          { trader_id: 'TRADER-789', accounts: ['ACC-002', 'ACC-004'] },
        ],
      }),
    });
    expect([again.written, again.replaced]).toEqual([[], []]);
    expect(again.kept).toEqual(expect.arrayContaining(['TRADER#TRADER-789', 'TRADER#TRADER-123']));
    expect((await store.getTraderEntitlement('TRADER-789'))?.version).toBe('TRADER-789/v1');

    // Revoked: replaced with no account, a new version.
    const revoked = await loadReference({
      table,
      endpoint: dynamo.endpoint,
      file: await inputFile({ entitlements: [{ trader_id: 'TRADER-789', accounts: [] }] }),
    });
    expect([revoked.written, revoked.replaced]).toEqual([[], ['TRADER#TRADER-789']]);
    expect(await store.getTraderEntitlement('TRADER-789')).toMatchObject({ accounts: [], version: 'TRADER-789/v2' });
  });

  it('refuses a bad input file whole, naming each field and rule', () => {
    expect(refusal(() => parseReferenceInput('{"entitlements": ['))).toEqual([{ field: 'file', rule: 'json' }]);
    expect(refusal(() => parseReferenceInput('[]'))).toEqual([{ field: 'file', rule: 'object' }]);
    expect(refusal(() => parseReferenceInput('{"entitlements": {}}'))).toEqual([
      { field: 'entitlements', rule: 'type' },
    ]);
    expect(
      refusal(() =>
        parseReferenceInput(
          JSON.stringify({
            entitlments: [],
            entitlements: [
              { trader_id: 'TRADER-1', accounts: ['ACC-001'] },
              'TRADER-2',
              { trader_id: '', accounts: 'ACC-001' },
              { trader_id: 'TRADER-3', accounts: ['ACC-001', ''], account: [] },
              { accounts: [] },
              { trader_id: 'TRADER-1', accounts: [] },
            ],
          }),
        ),
      ),
    ).toEqual([
      { field: 'entitlments', rule: 'unknown_field' },
      { field: 'entitlements[1]', rule: 'object' },
      { field: 'entitlements[2].trader_id', rule: 'required' },
      { field: 'entitlements[2].accounts', rule: 'type' },
      { field: 'entitlements[3].account', rule: 'unknown_field' },
      { field: 'entitlements[3].accounts[1]', rule: 'required' },
      { field: 'entitlements[4].trader_id', rule: 'required' },
      { field: 'entitlements[5].trader_id', rule: 'unique' },
    ]);
    // No entitlements at all is a valid file.
    expect(parseReferenceInput('{}')).toEqual({ entitlements: [] });
  });

  it('writes nothing when the file is bad or names an account without a risk profile (exit 2)', async () => {
    const { table, store } = await freshTable();
    const bad = await inputFile({ entitlements: [{ trader_id: 'TRADER-1', accounts: [''] }] });
    expect(await main(['--table', table, '--endpoint', dynamo.endpoint, '--file', bad])).toBe(2);
    expect(await main(['--table', table, '--endpoint', dynamo.endpoint, '--file', join(dir, 'missing.json')])).toBe(2);
    const unknown = await inputFile({ entitlements: [{ trader_id: 'TRADER-1', accounts: ['ACC-001', 'ACC-999'] }] });
    await expect(loadReference({ table, endpoint: dynamo.endpoint, file: unknown })).rejects.toMatchObject({
      errors: [
        { field: 'entitlements[0].accounts', rule: 'unknown_account', message: expect.stringContaining('ACC-999') },
      ],
    });
    expect(await main(['--table', table, '--endpoint', dynamo.endpoint, '--file', unknown])).toBe(2);
    // Nothing of the seed either: the input is checked first.
    expect(await store.getRiskProfile('ACC-001')).toBeUndefined();
    expect(await store.getTraderEntitlement('TRADER-123')).toBeUndefined();
    // An account with a profile on file (not in the seed) may be named.
    await store.putRiskProfile({ ...ACC_001, account_id: 'ACC-999', version: 'v1' });
    expect(await main(['--table', table, '--endpoint', dynamo.endpoint, '--file', unknown])).toBe(0);
    expect((await store.getTraderEntitlement('TRADER-1'))?.accounts).toEqual(['ACC-001', 'ACC-999']);
  });

  it('refuses to run without a table (exit 2)', async () => {
    expect(await main([])).toBe(2);
    expect(await main(['--bogus'])).toBe(2);
  });
});
