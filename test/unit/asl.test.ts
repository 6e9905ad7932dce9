// The order-lifecycle ASL is shared by CDK and the local runner; these checks keep it inside what
// both accept, and keep every order out of limbo (every Task times out and is caught).
import '../../local/polyfills.js';
import { readFileSync } from 'node:fs';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { CLAIMED_IDENTITY_FIELDS, LIFECYCLE_CALLERS } from '../../functions/caller-identity.js';
import {
  type AslMachine,
  type AslState,
  eachState,
  LAMBDA_INVOKE,
  LAMBDA_INVOKE_CALLBACK,
  MissingSubstitution,
  parseDefinition,
  placeholdersOf,
  substitute,
} from '../../local/step-functions-definition.js';

const ASL_PATH = new URL('../../statemachines/order-lifecycle.asl.json', import.meta.url);
const CONTRACTS_PATH = new URL('../../docs/contracts.md', import.meta.url);
const raw = readFileSync(ASL_PATH, 'utf8');

/** The placeholder list as docs/contracts.md states it ("placeholders: `A`, `B`, ... ."). */
function documentedPlaceholders(): string[] {
  const doc = readFileSync(CONTRACTS_PATH, 'utf8');
  const at = doc.indexOf('placeholders:');
  expect(at, 'docs/contracts.md lists the ASL placeholders').toBeGreaterThanOrEqual(0);
  const sentence = doc.slice(at, doc.indexOf('. ', at));
  return Array.from(sentence.matchAll(/`([A-Za-z0-9_]+)`/g), (m) => m[1] ?? '');
}

const documented = documentedPlaceholders();
const substitutions = Object.fromEntries(documented.map((name) => [name, `local:${name}`]));
const machine: AslMachine = parseDefinition(substitute(raw, substitutions));

function states(): Array<[string, AslState]> {
  const out: Array<[string, AslState]> = [];
  eachState(machine, (name, state) => {
    out.push([name, state]);
  });
  return out;
}
const tasks = () => states().filter(([, s]) => s.Type === 'Task');

/** Every object in the document, with its JSON path, for the "no JSONata" sweep. */
function walk(value: unknown, path: string, visit: (path: string, value: unknown) => void): void {
  visit(path, value);
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) walk(v, `${path}[${i}]`, visit);
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`, visit);
  }
}

describe('order-lifecycle.asl.json', () => {
  it('is JSON as written, placeholders included', () => {
    expect(() => JSON.parse(raw)).not.toThrow();
  });

  it('uses exactly the five placeholders of docs/contracts.md, and each gets a value', () => {
    expect(documented).toEqual([
      'RiskFunctionArn',
      'ApprovalFunctionArn',
      'ExecutionFunctionArn',
      'PositionFunctionArn',
      'ComplianceFunctionArn',
    ]);
    expect([...placeholdersOf(raw)].sort()).toEqual([...documented].sort());
    const text = substitute(raw, substitutions);
    expect(text).not.toContain('${');
    expect(() => JSON.parse(text)).not.toThrow();
  });

  it('refuses to load with a placeholder left without a value', () => {
    const { ComplianceFunctionArn: _left, ...partial } = substitutions;
    expect(() => substitute(raw, partial)).toThrow(MissingSubstitution);
    expect(() => substitute(raw, partial)).toThrow(/ComplianceFunctionArn/);
  });

  it('names every Lambda through a placeholder', () => {
    const original = parseDefinition(raw);
    eachState(original, (name, state) => {
      if (state.Type !== 'Task') return;
      const params = state.Parameters as Record<string, unknown> | undefined;
      expect(params?.FunctionName, name).toMatch(/^\$\{[A-Za-z0-9_]+\}$/);
    });
  });

  it('uses no JSONata and no variables (the local runner ignores them)', () => {
    const banned = new Set(['QueryLanguage', 'Arguments', 'Output', 'Assign']);
    const found: string[] = [];
    const check = (where: string, obj: Record<string, unknown>) => {
      for (const key of Object.keys(obj)) if (banned.has(key)) found.push(`${where}.${key}`);
    };
    check('$', machine);
    for (const [name, state] of states()) {
      check(name, state);
      for (const [i, rule] of (state.Choices ?? []).entries()) check(`${name}.Choices[${i}]`, rule);
      for (const [i, catcher] of (state.Catch ?? []).entries()) {
        check(`${name}.Catch[${i}]`, catcher as unknown as Record<string, unknown>);
      }
    }
    walk(machine, '$', (path, value) => {
      if (typeof value === 'string' && /\{%[\s\S]*%\}/.test(value)) found.push(`${path} (JSONata expression)`);
    });
    expect(found).toEqual([]);
  });

  it('gives every Task an integer TimeoutSeconds, and the approval callback 300 s', () => {
    for (const [name, state] of tasks()) {
      expect(Number.isInteger(state.TimeoutSeconds) && (state.TimeoutSeconds ?? 0) >= 1, name).toBe(true);
      expect([LAMBDA_INVOKE, LAMBDA_INVOKE_CALLBACK], name).toContain(state.Resource);
    }
    const callbacks = tasks().filter(([, s]) => s.Resource === LAMBDA_INVOKE_CALLBACK);
    expect(callbacks.map(([name]) => name)).toEqual(['RequestApproval']);
    const [, approval] = callbacks[0] ?? [];
    expect(approval?.TimeoutSeconds).toBe(300);
    expect(JSON.stringify(approval?.Parameters)).toContain('"task_token.$":"$$.Task.Token"');
    // The whole execution outlives its longest wait.
    expect(machine.TimeoutSeconds ?? 0).toBeGreaterThan(300);
  });

  it('catches States.ALL on every Task, so no order is left in limbo', () => {
    for (const [name, state] of tasks()) {
      const all = (state.Catch ?? []).some((c) => c.ErrorEquals.includes('States.ALL'));
      expect(all, name).toBe(true);
    }
  });

  it('tells every task who calls it from the platform context only: the machine, the execution, its own step', () => {
    const steps = new Set<string>();
    for (const [name, state] of tasks()) {
      const payload = (state.Parameters as { Payload?: Record<string, unknown> } | undefined)?.Payload;
      // The caller comes from $$ (Step Functions' own context) and a constant: nothing from the input.
      expect(payload?.lifecycle, name).toEqual({
        'state_machine.$': '$$.StateMachine.Id',
        'execution.$': '$$.Execution.Id',
        step: name,
      });
      for (const field of CLAIMED_IDENTITY_FIELDS) expect(Object.keys(payload ?? {}), name).not.toContain(field);
      steps.add(name);
    }
    // The identity map and the machine name the same steps.
    expect([...steps].sort()).toEqual(Object.keys(LIFECYCLE_CALLERS).sort());
  });

  it('retries TransientError wherever it retries', () => {
    for (const [name, state] of states()) {
      for (const retrier of state.Retry ?? []) expect(retrier.ErrorEquals, name).toContain('TransientError');
    }
  });

  it('has every Next target defined and every state reachable', () => {
    const names = new Set(Object.keys(machine.States));
    const targets = (s: AslState): string[] =>
      [s.Next, s.Default, ...(s.Choices ?? []).map((c) => c.Next), ...(s.Catch ?? []).map((c) => c.Next)].filter(
        (t): t is string => t !== undefined,
      );
    expect(names.has(machine.StartAt)).toBe(true);
    for (const [name, state] of Object.entries(machine.States)) {
      for (const target of targets(state)) expect(names.has(target), `${name} -> ${target}`).toBe(true);
    }
    const seen = new Set<string>();
    const queue = [machine.StartAt];
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      if (seen.has(next)) continue;
      seen.add(next);
      const state = machine.States[next];
      if (state) queue.push(...targets(state));
    }
    expect([...names].filter((n) => !seen.has(n))).toEqual([]);
  });

  it("passes aws-local-stepfunctions' own validator", () => {
    expect(() => new StateMachine(machine as unknown as StateMachineDefinition)).not.toThrow();
  });
});
