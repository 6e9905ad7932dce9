// Least privilege, proved on the synthesized template: every (action, resource) each agent's role
// is granted is collected and compared with the access matrix written out below (docs/contracts.md,
// "IAM access matrix"; an independent copy, not lib/agent-access.ts), so no agent role can touch a
// table, index, archive prefix, key or state machine outside its row, and no one may invoke an
// agent except the state machine's role (by IAM), this API and this stack's schedules.
import type { CfnElement } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { AGENT_NAMES, type AgentName } from '../../lib/constructs/agent-function.js';
import { type Synthesized, synthesizePlatform } from './synth-platform.js';

interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
}
interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  NotAction?: unknown;
  NotResource?: unknown;
}

// --- The matrix ------------------------------------------------------------------------------------
// Resource names: `table:<t>`, `index:<t>/<index>`, `archive:<prefix>*` (objects),
// `archive?list=<prefix>*` (ListBucket limited by s3:prefix), `key:platform@dynamodb` /
// `key:platform@s3` (the platform key only through that service), `key:signing`,
// `states:stateMachine`, `states:executions`, `logs:own` (the agent's own log group), `*`.

const D = (...actions: string[]) => actions.map((a) => `dynamodb:${a}`);
/** Append to the audit log: the head (GetItem, conditional PutItem) and the record items (BatchWriteItem). */
const AUDIT_APPEND = D('GetItem', 'PutItem', 'BatchWriteItem');
const RISK_STATE = D('GetItem', 'PutItem');
const ARCHIVE_OBJECTS = ['s3:GetObject', 's3:PutObject', 's3:PutObjectRetention'];
const DYNAMODB_KEY = [
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
];

type Row = Record<string, readonly string[]>;

/** What every agent has: its logs and traces, the audit log's append, checkpoint signing. */
const EVERY_AGENT: Row = {
  'logs:own': ['logs:CreateLogStream', 'logs:PutLogEvents'],
  '*': ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'],
  'table:audit': AUDIT_APPEND,
  'archive:records/*': ARCHIVE_OBJECTS,
  'archive:checkpoints/*': ARCHIVE_OBJECTS,
  // The latest checkpoint, for the count rule's signer.
  'archive?list=checkpoints/*': ['s3:ListBucket'],
  'key:platform@dynamodb': DYNAMODB_KEY,
  'key:platform@s3': ['kms:Decrypt', 'kms:GenerateDataKey'],
  'key:signing': ['kms:GetPublicKey', 'kms:Sign'],
};

const MATRIX: Record<AgentName, Row> = {
  'order-router': {
    ...EVERY_AGENT,
    'table:orders': D('GetItem', 'PutItem'),
    'table:reference': D('GetItem'),
    'index:audit/by-order': D('Query'),
    'states:stateMachine': ['states:StartExecution'],
    'states:executions': ['states:DescribeExecution'],
  },
  risk: {
    ...EVERY_AGENT,
    'table:orders': D('GetItem', 'UpdateItem'),
    'table:reference': D('GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'),
    'index:reference/limit-changes-by-status': D('Query'),
    'table:positions': D('Query'),
    'table:riskState': RISK_STATE,
  },
  approval: {
    ...EVERY_AGENT,
    'table:approvals': D('GetItem', 'PutItem', 'UpdateItem'),
    'index:approvals/by-status': D('Query'),
    'table:riskState': RISK_STATE,
    'states:stateMachine': ['states:SendTaskFailure', 'states:SendTaskSuccess'],
  },
  execution: {
    ...EVERY_AGENT,
    'table:orders': D('GetItem', 'UpdateItem'),
    'table:approvals': D('GetItem'),
    'table:reference': D('GetItem', 'BatchGetItem', 'Query'),
    'table:positions': D('Query'),
    'table:riskState': RISK_STATE,
  },
  'position-tracker': {
    ...EVERY_AGENT,
    'table:positions': D('GetItem', 'Query', 'UpdateItem'),
    'table:reference': D('GetItem', 'BatchGetItem'),
    'table:riskState': RISK_STATE,
  },
  compliance: {
    ...EVERY_AGENT,
    'table:orders': D('GetItem'),
    'table:riskState': RISK_STATE,
    'index:audit/by-order': D('Query'),
    'index:audit/by-type': D('Query'),
    'index:audit/by-trader': D('Query'),
    'archive?list=records/*': ['s3:ListBucket'],
  },
};

/** Actions nobody gets unless the matrix says so, by name. */
const DANGEROUS = ['dynamodb:DeleteItem', 'dynamodb:Scan', 'dynamodb:BatchWriteItem', 'dynamodb:PartiQLDelete'];

const LIFECYCLE_FUNCTIONS: readonly AgentName[] = ['risk', 'approval', 'execution', 'position-tracker', 'compliance'];

// --- Reading the template --------------------------------------------------------------------------

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const getAttArn = (v: unknown): string | undefined => {
  const att = (v as { 'Fn::GetAtt'?: [string, string] } | null)?.['Fn::GetAtt'];
  return att && att[1] === 'Arn' ? att[0] : undefined;
};
/** `{Fn::Join: ['', [{Fn::GetAtt: [id, 'Arn']}, suffix]]}` as [id, suffix]. */
const arnWithSuffix = (v: unknown): [string, string] | undefined => {
  const join = (v as { 'Fn::Join'?: [string, unknown[]] } | null)?.['Fn::Join'];
  if (join?.[0] !== '' || join[1].length !== 2) return undefined;
  const id = getAttArn(join[1][0]);
  return id && typeof join[1][1] === 'string' ? [id, join[1][1]] : undefined;
};

interface Names {
  tables: Record<string, string>;
  archive: string;
  platformKey: string;
  signingKey: string;
  stateMachineName: string;
}

/** A resource (and the statement's condition) as a name of the matrix; `?<json>` when unknown. */
function nameOf(resource: unknown, statement: Statement, names: Names, ownLogGroup: string): string[] {
  if (resource === '*') return ['*'];
  const id = getAttArn(resource);
  const tableOf = (logicalId: string) => Object.entries(names.tables).find(([, t]) => t === logicalId)?.[0];
  if (id !== undefined) {
    const table = tableOf(id);
    if (table) return [`table:${table}`];
    if (id === ownLogGroup) return ['logs:own'];
    if (id === names.signingKey) return ['key:signing'];
    if (id === names.platformKey) {
      const via = JSON.stringify(statement.Condition?.StringEquals?.['kms:ViaService'] ?? '');
      const service = /"(dynamodb|s3)\."/.exec(via)?.[1];
      return [service ? `key:platform@${service}` : 'key:platform (any service)'];
    }
    if (id === names.archive) {
      const prefixes = list(statement.Condition?.StringLike?.['s3:prefix'] as string | string[] | undefined);
      return prefixes.length > 0 ? prefixes.map((p) => `archive?list=${p}`) : ['archive?list=(everything)'];
    }
    return [`?${id}`];
  }
  const suffixed = arnWithSuffix(resource);
  if (suffixed) {
    const [logicalId, suffix] = suffixed;
    const table = tableOf(logicalId);
    if (table && suffix.startsWith('/index/')) return [`index:${table}/${suffix.slice('/index/'.length)}`];
    if (logicalId === names.archive && suffix.startsWith('/')) return [`archive:${suffix.slice(1)}`];
    return [`?${logicalId}${suffix}`];
  }
  const text = JSON.stringify(resource);
  if (text.endsWith(`:stateMachine:${names.stateMachineName}"]]}`)) return ['states:stateMachine'];
  if (text.endsWith(`:execution:${names.stateMachineName}:*"]]}`)) return ['states:executions'];
  return [`?${text}`];
}

function resources(template: Template, type: string): Record<string, CfnResource> {
  return template.findResources(type) as Record<string, CfnResource>;
}

function statementsOf(template: Template, roleId: string): Statement[] {
  return Object.values(resources(template, 'AWS::IAM::Policy'))
    .filter((p) =>
      list(p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })),
    )
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** Every (resource name -> actions) a role is allowed. */
function grantsOf(statements: Statement[], names: Names, ownLogGroup: string): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const s of statements) {
    expect(s.Effect).toBe('Allow');
    expect(s.NotAction).toBeUndefined();
    expect(s.NotResource).toBeUndefined();
    for (const resource of list(s.Resource)) {
      for (const name of nameOf(resource, s, names, ownLogGroup)) {
        out[name] ??= new Set();
        for (const action of list(s.Action)) out[name].add(action);
      }
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]));
}

const sortedRow = (row: Row): Record<string, string[]> =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [k, [...v].sort()]));

describe('least privilege, on the synthesized template', () => {
  let synth: Synthesized;
  let template: Template;
  let names: Names;
  let agents: Record<AgentName, { functionId: string; roleId: string; logGroupId: string }>;
  let grants: Record<AgentName, Record<string, string[]>>;

  const id = (element: { node: { defaultChild?: unknown } }) =>
    synth.stack.getLogicalId(element.node.defaultChild as CfnElement);

  beforeAll(() => {
    synth = synthesizePlatform();
    template = synth.template;
    const stack = synth.stack;
    names = {
      tables: Object.fromEntries(Object.entries(stack.tables.all).map(([name, table]) => [name, id(table)])),
      archive: id(stack.auditArchive.bucket),
      platformKey: id(stack.platformKey.key),
      signingKey: id(stack.auditSigningKey.key),
      stateMachineName: stack.lifecycle.stateMachineName,
    };
    const byName: Record<AgentName, (typeof stack.agents)[keyof typeof stack.agents]> = {
      'order-router': stack.agents.orderRouter,
      risk: stack.agents.risk,
      approval: stack.agents.approval,
      execution: stack.agents.execution,
      'position-tracker': stack.agents.positionTracker,
      compliance: stack.agents.compliance,
    };
    agents = Object.fromEntries(
      AGENT_NAMES.map((name) => [
        name,
        { functionId: id(byName[name].function), roleId: id(byName[name].role), logGroupId: id(byName[name].logGroup) },
      ]),
    ) as typeof agents;
    grants = Object.fromEntries(
      AGENT_NAMES.map((name) => [
        name,
        grantsOf(statementsOf(template, agents[name].roleId), names, agents[name].logGroupId),
      ]),
    ) as typeof grants;
  });

  describe('agent roles', () => {
    it('one role per agent, its only policy the one the stack writes, no managed or inline policy', () => {
      const roleIds = AGENT_NAMES.map((a) => agents[a].roleId);
      expect(new Set(roleIds).size).toBe(AGENT_NAMES.length);
      const roles = resources(template, 'AWS::IAM::Role');
      for (const roleId of roleIds) {
        expect(roles[roleId]?.Properties.ManagedPolicyArns, roleId).toBeUndefined();
        expect(roles[roleId]?.Properties.Policies, roleId).toBeUndefined();
        expect(JSON.stringify(roles[roleId]?.Properties.AssumeRolePolicyDocument)).toContain('lambda.amazonaws.com');
      }
      // No customer managed policy names an agent role either.
      for (const policy of Object.values(resources(template, 'AWS::IAM::ManagedPolicy'))) {
        for (const roleId of roleIds) expect(JSON.stringify(policy.Properties.Roles ?? [])).not.toContain(roleId);
      }
    });

    it.each([...AGENT_NAMES])('%s: exactly its row of the access matrix, resource by resource', (agent) => {
      expect(grants[agent]).toEqual(sortedRow(MATRIX[agent]));
    });

    it('no agent role can touch another agent’s resources: who touches each resource is the matrix’s column', () => {
      const touchedBy = (source: Record<AgentName, Record<string, readonly string[]>>) => {
        const out: Record<string, AgentName[]> = {};
        for (const agent of AGENT_NAMES) {
          for (const resource of Object.keys(source[agent])) out[resource] = [...(out[resource] ?? []), agent];
        }
        return out;
      };
      expect(touchedBy(grants)).toEqual(touchedBy(MATRIX));
      // Every table, every index the matrix names, both archive prefixes and both keys are covered.
      const covered = new Set(Object.values(grants).flatMap((g) => Object.keys(g)));
      for (const table of Object.keys(names.tables)) expect(covered.has(`table:${table}`), table).toBe(true);
    });

    it('no Action "*", no service-wide or family wildcard, no Deny tricks', () => {
      for (const agent of AGENT_NAMES) {
        const actions = Object.values(grants[agent]).flat();
        expect(
          actions.filter((a) => a.includes('*')),
          agent,
        ).toEqual([]);
        // Resource "*" only where the service has no resource-level permissions (X-Ray).
        expect(grants[agent]['*'], agent).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
      }
    });

    it('DeleteItem, Scan and BatchWriteItem only where the matrix names them', () => {
      for (const agent of AGENT_NAMES) {
        for (const [resource, actions] of Object.entries(grants[agent])) {
          for (const action of actions.filter((a) => DANGEROUS.includes(a))) {
            expect(MATRIX[agent][resource] ?? [], `${agent} ${action} on ${resource}`).toContain(action);
          }
        }
      }
      const deleters = AGENT_NAMES.filter((a) => Object.values(grants[a]).flat().includes('dynamodb:DeleteItem'));
      // Only the risk officers' halt lift deletes (functions/adapters/dynamodb-reference-store.ts).
      expect(deleters).toEqual(['risk']);
      expect(grants.risk['table:reference']).toContain('dynamodb:DeleteItem');
      expect(AGENT_NAMES.some((a) => Object.values(grants[a]).flat().includes('dynamodb:Scan'))).toBe(false);
      // BatchWriteItem: the audit record items, nowhere else.
      for (const agent of AGENT_NAMES) {
        const batchWrites = Object.entries(grants[agent])
          .filter(([, actions]) => actions.includes('dynamodb:BatchWriteItem'))
          .map(([resource]) => resource);
        expect(batchWrites, agent).toEqual(['table:audit']);
      }
    });

    it('the archive: write-once objects under records/ and checkpoints/, never delete, never lock changes', () => {
      for (const agent of AGENT_NAMES) {
        const s3 = Object.values(grants[agent])
          .flat()
          .filter((a) => a.startsWith('s3:'));
        expect(new Set(s3), agent).toEqual(
          new Set(['s3:GetObject', 's3:PutObject', 's3:PutObjectRetention', 's3:ListBucket']),
        );
      }
    });

    it('no agent role has lambda:InvokeFunction (or any lambda: action)', () => {
      for (const agent of AGENT_NAMES) {
        expect(
          Object.values(grants[agent])
            .flat()
            .filter((a) => a.startsWith('lambda:')),
          agent,
        ).toEqual([]);
      }
    });
  });

  describe('who may invoke an agent', () => {
    it("the state machine's role invokes exactly the five lifecycle functions (and their versions)", () => {
      const sm = Object.values(resources(template, 'AWS::StepFunctions::StateMachine'))[0];
      const roleId = getAttArn(sm?.Properties.RoleArn);
      expect(roleId).toBeDefined();
      const statements = statementsOf(template, roleId as string);
      const invoked = new Set<string>();
      for (const s of statements) {
        const actions = list(s.Action);
        if (!actions.some((a) => a.startsWith('lambda:'))) continue;
        expect(actions).toEqual(['lambda:InvokeFunction']);
        for (const r of list(s.Resource)) {
          const plain = getAttArn(r);
          const versions = arnWithSuffix(r);
          if (plain) invoked.add(plain);
          else if (versions && versions[1] === ':*') invoked.add(`${versions[0]}:*`);
          else invoked.add(`?${JSON.stringify(r)}`);
        }
      }
      const expected = LIFECYCLE_FUNCTIONS.flatMap((a) => [agents[a].functionId, `${agents[a].functionId}:*`]);
      expect([...invoked].sort()).toEqual(expected.sort());
      expect([...invoked].some((r) => r.startsWith(agents['order-router'].functionId))).toBe(false);
      // Otherwise only its log delivery and traces.
      const other = statements.flatMap((s) => list(s.Action)).filter((a) => !a.startsWith('lambda:'));
      expect(
        other.every((a) => a.startsWith('logs:') || a.startsWith('xray:')),
        other.join(', '),
      ).toBe(true);
    });

    it('no other role in the stack may invoke an agent', () => {
      const smRole = getAttArn(
        Object.values(resources(template, 'AWS::StepFunctions::StateMachine'))[0]?.Properties.RoleArn,
      );
      const agentFunctions = AGENT_NAMES.map((a) => agents[a].functionId);
      for (const [policyId, policy] of Object.entries(resources(template, 'AWS::IAM::Policy'))) {
        if (
          list(policy.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: smRole }))
        )
          continue;
        const statements = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
        for (const s of statements) {
          if (!list(s.Action).some((a) => a.startsWith('lambda:') || a === '*')) continue;
          const text = JSON.stringify(s.Resource);
          for (const fn of agentFunctions) expect(text, policyId).not.toContain(fn);
        }
      }
    });

    it("each function's resource policy: API Gateway for this API's stage, EventBridge for this stack's rules", () => {
      const api = id(synth.stack.orderApi.api);
      const stage = id(synth.stack.orderApi.api.deploymentStage);
      const rules = new Set([id(synth.stack.riskSchedule.rule), id(synth.stack.auditCheckpointSchedule.rule)]);
      const agentFunctions = new Set(AGENT_NAMES.map((a) => agents[a].functionId));
      const permissions = Object.values(resources(template, 'AWS::Lambda::Permission'));
      expect(permissions.length).toBeGreaterThan(0);
      const ruleTargets: string[] = [];
      for (const { Properties: p } of permissions) {
        expect(p.Action).toBe('lambda:InvokeFunction');
        const fn = getAttArn(p.FunctionName);
        expect(fn !== undefined && agentFunctions.has(fn), JSON.stringify(p.FunctionName)).toBe(true);
        expect(p.SourceAccount ?? undefined).toBeUndefined();
        if (p.Principal === 'apigateway.amazonaws.com') {
          // arn:<partition>:execute-api:<region>:<account>:<this api>/<this stage>/<METHOD>/<path>
          const parts = (p.SourceArn as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
          const text = JSON.stringify(parts);
          expect(text).toContain(':execute-api:');
          expect(parts).toContainEqual({ Ref: api });
          expect(parts).toContainEqual({ Ref: stage });
          expect(text).not.toContain('test-invoke-stage');
        } else if (p.Principal === 'events.amazonaws.com') {
          const rule = getAttArn(p.SourceArn);
          expect(rule !== undefined && rules.has(rule), JSON.stringify(p.SourceArn)).toBe(true);
          ruleTargets.push(`${rule}->${fn}`);
        } else {
          throw new Error(`a Lambda permission for ${String(p.Principal)}`);
        }
      }
      expect(ruleTargets.sort()).toEqual(
        [
          `${id(synth.stack.riskSchedule.rule)}->${agents.risk.functionId}`,
          `${id(synth.stack.auditCheckpointSchedule.rule)}->${agents.compliance.functionId}`,
        ].sort(),
      );
    });
  });
});
