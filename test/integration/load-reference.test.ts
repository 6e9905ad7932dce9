// The reference-data loader against a real (local) DynamoDB: it fills an empty table and never
// overwrites limits already on file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadReference, main } from '../../bin/load-reference.js';
import { DynamoDbReferenceStore } from '../../functions/adapters/dynamodb-reference-store.js';
import { type LocalDynamo, startLocalDynamo } from '../../local/dynamo.js';
import { ACC_001 } from '../../local/seed-data.js';

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
    expect(first.written).toContain('ACCOUNT#ACC-001');
    expect(first.written).toContain('SECURITY#AAPL');
    expect(await store.getRiskProfile('ACC-001')).toEqual(ACC_001);
    expect((await store.getSecurity('SANC'))?.prohibited).toBe(true);

    // A risk officer tightened ACC-001 since: loading again must not undo it.
    await store.putRiskProfile({ ...ACC_001, max_order_value: '250000', version: 'ACC-001/v2' });
    const second = await loadReference({ table: dynamo.tableNames.reference, endpoint: dynamo.endpoint });
    expect(second.written).toEqual([]);
    expect(second.kept).toHaveLength(first.written.length);
    expect((await store.getRiskProfile('ACC-001'))?.max_order_value).toBe('250000');
  });

  it('refuses to run without a table (exit 2)', async () => {
    expect(await main([])).toBe(2);
    expect(await main(['--bogus'])).toBe(2);
  });
});
