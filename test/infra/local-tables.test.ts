// The tables `npm start` creates in dynalite and the tables the stack deploys are defined in two
// places (local/dynamo.ts, lib/constructs/data-tables.ts): this keeps them the same, so code
// tested locally meets the same keys and indexes on AWS.
import type { CfnElement } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TableKind, tableDefinitions } from '../../local/dynamo.js';
import { type Synthesized, synthesizePlatform } from './synth-platform.js';

interface KeyElement {
  AttributeName?: string;
  KeyType?: string;
}
interface Gsi {
  IndexName?: string;
  KeySchema?: KeyElement[];
  Projection?: { ProjectionType?: string };
}
interface TableShape {
  AttributeDefinitions?: Array<{ AttributeName?: string; AttributeType?: string }>;
  KeySchema?: KeyElement[];
  GlobalSecondaryIndexes?: Gsi[];
}

/** The parts of a table definition that code depends on, in a comparable order. */
function shape(t: TableShape) {
  return {
    attributes: [...(t.AttributeDefinitions ?? [])].map((a) => `${a.AttributeName}:${a.AttributeType}`).sort(),
    keys: (t.KeySchema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`),
    indexes: [...(t.GlobalSecondaryIndexes ?? [])]
      .map((g) => ({
        name: g.IndexName,
        keys: (g.KeySchema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`),
        projection: g.Projection?.ProjectionType,
      }))
      .sort((a, b) => String(a.name).localeCompare(String(b.name))),
  };
}

describe('local tables match the deployed tables', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesizePlatform();
  });

  const kinds = Object.keys(tableDefinitions()) as TableKind[];

  it('covers the same six tables', () => {
    expect(kinds.sort()).toEqual(Object.keys(synth.stack.tables.all).sort());
  });

  it.each(kinds)('%s: same attributes, keys and indexes', (kind) => {
    const table = synth.stack.tables.all[kind as keyof typeof synth.stack.tables.all];
    const id = synth.stack.getLogicalId(table.node.defaultChild as CfnElement);
    const deployed = synth.template.findResources('AWS::DynamoDB::Table')[id]?.Properties as TableShape;
    expect(deployed).toBeDefined();
    expect(shape(deployed)).toEqual(shape(tableDefinitions()[kind] as TableShape));
  });
});
