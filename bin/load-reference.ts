#!/usr/bin/env -S node --import tsx
// Loads the starting reference data (risk profiles, reference prices, the restricted and
// prohibited lists of the firm, the firm risk settings, the entitlements of the example traders)
// into a deployed reference table, so a fresh `cdk deploy` accepts orders for the seeded accounts.
// Seed items already on file are left alone: limits, prices, lists and entitlements there are never
// overwritten by the seed. An input file (--file, its format at parseReferenceInput) adds the
// entitlements of other traders, or changes them: there is no API for them.
// (Keep quotes and braces out of this header: after the shebang, vitest misreads them as code.)
//   npm run load-reference -- --table <ReferenceTableName> [--file <reference.json>] [--region eu-west-1] [--endpoint URL]
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createAwsClients } from '../functions/adapters/aws-clients.js';
import { DynamoDbReferenceStore, normaliseTraderEntitlement } from '../functions/adapters/dynamodb-reference-store.js';
import { type FieldError, ValidationError } from '../functions/core/errors.js';
import type { TraderEntitlement } from '../functions/core/model.js';
import { formatNs, SystemClock } from '../functions/core/time.js';
import type { ReferenceStore } from '../functions/ports.js';
import { type SeedResult, seedProfiles, seedReference } from '../local/seed-data.js';

export interface LoadResult extends SeedResult {
  /** Keys of the items the input file changed (an entitlement on file with other accounts). */
  replaced: string[];
}

/** The input file, checked: entitlements with their accounts sorted and without duplicates. */
export interface ReferenceInput {
  entitlements: { trader_id: string; accounts: string[] }[];
}

/** Who the loader records as having changed an entitlement. */
export const LOADER_ACTOR = 'load-reference';

const INPUT_FIELDS = ['entitlements'];
const ENTITLEMENT_FIELDS = ['trader_id', 'accounts'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses and checks an input file's text:
 *
 *   { "entitlements": [ { "trader_id": "TRADER-789", "accounts": ["ACC-002", "ACC-004"] } ] }
 *
 * Each entitlement replaces what is on file for its trader (so one can be narrowed, or revoked with
 * `"accounts": []`), unless the accounts are already the same; the seed's entitlement is not
 * written for a trader the file names. Every account must have a risk profile (on file or in the
 * seed). Throws a ValidationError listing every problem, each named by its path in the file
 * (`entitlements[1].accounts[0]`); the whole file is checked before anything is written.
 */
export function parseReferenceInput(text: string): ReferenceInput {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ValidationError([{ field: 'file', rule: 'json', message: `not JSON: ${(err as Error).message}` }]);
  }
  if (!isObject(raw)) {
    throw new ValidationError([{ field: 'file', rule: 'object', message: 'the file must hold a JSON object' }]);
  }
  const errors: FieldError[] = [];
  for (const k of Object.keys(raw)) {
    if (!INPUT_FIELDS.includes(k)) errors.push({ field: k, rule: 'unknown_field', message: `unknown field ${k}` });
  }
  const list = raw.entitlements ?? [];
  if (!Array.isArray(list)) {
    errors.push({ field: 'entitlements', rule: 'type', message: 'entitlements must be an array' });
    throw new ValidationError(errors);
  }
  const entitlements: ReferenceInput['entitlements'] = [];
  const seen = new Map<string, number>();
  list.forEach((entry: unknown, i) => {
    const at = `entitlements[${i}]`;
    if (!isObject(entry)) {
      errors.push({ field: at, rule: 'object', message: `${at} must be an object {trader_id, accounts}` });
      return;
    }
    for (const k of Object.keys(entry)) {
      if (!ENTITLEMENT_FIELDS.includes(k)) {
        errors.push({ field: `${at}.${k}`, rule: 'unknown_field', message: `unknown field ${k}` });
      }
    }
    try {
      // The stores' own checks, so the file is refused for what a put would refuse, before any
      // write; the bookkeeping fields (who, when, version) are filled in at the write itself.
      const checked = normaliseTraderEntitlement({
        trader_id: entry.trader_id,
        accounts: entry.accounts,
        updated_by: LOADER_ACTOR,
        updated_at: '1970-01-01T00:00:00.000000000Z',
        version: 'check',
      } as TraderEntitlement);
      const first = seen.get(checked.trader_id);
      if (first !== undefined) {
        errors.push({
          field: `${at}.trader_id`,
          rule: 'unique',
          message: `${checked.trader_id} is already in entitlements[${first}]`,
        });
      } else {
        seen.set(checked.trader_id, i);
        entitlements.push({ trader_id: checked.trader_id, accounts: checked.accounts });
      }
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      for (const e of err.errors) errors.push({ ...e, field: `${at}.${e.field}` });
    }
  });
  if (errors.length > 0) throw new ValidationError(errors);
  return { entitlements };
}

/** Reads and checks an input file; a file that cannot be read is a ValidationError on `file`. */
export async function readReferenceInput(path: string): Promise<ReferenceInput> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ValidationError([
      { field: 'file', rule: 'readable', message: `cannot read ${path}: ${(err as Error).message}` },
    ]);
  }
  return parseReferenceInput(text);
}

export async function loadReference(options: {
  table: string;
  region?: string;
  endpoint?: string;
  /** Path of an input file (its format: parseReferenceInput). */
  file?: string;
}): Promise<LoadResult> {
  // Checked before any client exists: a bad file changes nothing.
  const input = options.file === undefined ? { entitlements: [] } : await readReferenceInput(options.file);
  const clients = createAwsClients({
    ...(options.region ? { region: options.region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  });
  const store = new DynamoDbReferenceStore(clients.dynamodb, options.table);
  try {
    return await loadInto(store, input, formatNs(new SystemClock().nowNs()));
  } finally {
    clients.dynamodb.destroy();
    clients.s3.destroy();
    clients.sfn.destroy();
  }
}

/** The seed (what is not on file yet), then the input file's entitlements. */
export async function loadInto(store: ReferenceStore, input: ReferenceInput, asOf: string): Promise<LoadResult> {
  await checkAccountsKnown(store, input);
  const named = new Set(input.entitlements.map((e) => e.trader_id));
  const result: LoadResult = { ...(await seedReference(store, asOf, named)), replaced: [] };
  for (const { trader_id, accounts } of input.entitlements) {
    const key = `TRADER#${trader_id}`;
    const onFile = await store.getTraderEntitlement(trader_id);
    if (onFile && sameAccounts(onFile.accounts, accounts)) {
      result.kept.push(key);
      continue;
    }
    await store.putTraderEntitlement({
      trader_id,
      accounts,
      updated_by: LOADER_ACTOR,
      updated_at: asOf,
      version: nextVersion(trader_id, onFile?.version),
    });
    (onFile ? result.replaced : result.written).push(key);
  }
  return result;
}

/** Every account an entitlement names must have a risk profile: on file, or about to be seeded. */
async function checkAccountsKnown(store: ReferenceStore, input: ReferenceInput): Promise<void> {
  const known = new Set(seedProfiles().map((p) => p.account_id));
  const errors: FieldError[] = [];
  for (const [i, e] of input.entitlements.entries()) {
    for (const account of e.accounts) {
      if (known.has(account)) continue;
      if ((await store.getRiskProfile(account)) !== undefined) {
        known.add(account);
        continue;
      }
      errors.push({
        field: `entitlements[${i}].accounts`,
        rule: 'unknown_account',
        message: `${e.trader_id}: unknown account ${account} (no risk profile on file or in the seed)`,
      });
    }
  }
  if (errors.length > 0) throw new ValidationError(errors);
}

function sameAccounts(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** `<trader>/v<n+1>` after `.../v<n>`; always differs from the version replaced. */
function nextVersion(traderId: string, current: string | undefined): string {
  const n = current === undefined ? 0 : Number(/\/v(\d+)$/.exec(current)?.[1] ?? 0);
  return `${traderId}/v${n + 1}`;
}

export async function main(argv: string[]): Promise<number> {
  let values: { table?: string; region?: string; endpoint?: string; file?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        table: { type: 'string' },
        region: { type: 'string' },
        endpoint: { type: 'string' },
        file: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`load-reference: ${(err as Error).message}`);
    return 2;
  }
  if (values.help || !values.table) {
    (values.help ? console.log : console.error)(
      'usage: npm run load-reference -- --table <ReferenceTableName> [--file <reference.json>] [--region <region>] [--endpoint <url>]',
    );
    return values.help ? 0 : 2;
  }
  let result: LoadResult;
  try {
    result = await loadReference({
      table: values.table,
      ...(values.region ? { region: values.region } : {}),
      ...(values.endpoint ? { endpoint: values.endpoint } : {}),
      ...(values.file ? { file: values.file } : {}),
    });
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    // Nothing was written: the input is checked first.
    console.error(`load-reference: ${values.file ?? 'input'}: refused, nothing written`);
    for (const e of err.errors) console.error(`  ${e.field}: ${e.message} (${e.rule})`);
    return 2;
  }
  console.log(
    `wrote ${result.written.length} items; replaced ${result.replaced.length}; kept ${result.kept.length} already on file`,
  );
  for (const k of result.written) console.log(`  + ${k}`);
  for (const k of result.replaced) console.log(`  ~ ${k}`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
