#!/usr/bin/env -S node --import tsx
// Loads the starting reference data (risk profiles, reference prices, the restricted and
// prohibited lists of the firm, the firm risk settings) into a deployed reference table, so a fresh
// `cdk deploy` accepts orders for the seeded accounts. Existing items are left alone: limits,
// prices and lists already on file are never overwritten by a loader.
//   npm run load-reference -- --table <ReferenceTableName> [--region eu-west-1] [--endpoint URL]
import { parseArgs } from 'node:util';
import { createAwsClients } from '../functions/adapters/aws-clients.js';
import { DynamoDbReferenceStore } from '../functions/adapters/dynamodb-reference-store.js';
import { formatNs, SystemClock } from '../functions/core/time.js';
import { type SeedResult, seedReference } from '../local/seed-data.js';

export type LoadResult = SeedResult;

export async function loadReference(options: {
  table: string;
  region?: string;
  endpoint?: string;
}): Promise<LoadResult> {
  const clients = createAwsClients({
    ...(options.region ? { region: options.region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  });
  const store = new DynamoDbReferenceStore(clients.dynamodb, options.table);
  try {
    return await seedReference(store, formatNs(new SystemClock().nowNs()));
  } finally {
    clients.dynamodb.destroy();
    clients.s3.destroy();
    clients.sfn.destroy();
  }
}

export async function main(argv: string[]): Promise<number> {
  let values: { table?: string; region?: string; endpoint?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        table: { type: 'string' },
        region: { type: 'string' },
        endpoint: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`load-reference: ${(err as Error).message}`);
    return 2;
  }
  if (values.help || !values.table) {
    (values.help ? console.log : console.error)(
      'usage: npm run load-reference -- --table <ReferenceTableName> [--region <region>] [--endpoint <url>]',
    );
    return values.help ? 0 : 2;
  }
  const result = await loadReference({
    table: values.table,
    ...(values.region ? { region: values.region } : {}),
    ...(values.endpoint ? { endpoint: values.endpoint } : {}),
  });
  console.log(`wrote ${result.written.length} items; kept ${result.kept.length} already on file`);
  for (const k of result.written) console.log(`  + ${k}`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
