// The real order-lifecycle ASL on the local Step Functions stand-in, with fake handlers keyed by
// function name: paths, task tokens, timeouts, retries, idempotent start, restart.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type ExecutionEnd,
  type Handler,
  LocalStepFunctions,
  type LocalStepFunctionsOptions,
  MissingHandler,
  MissingSubstitution,
} from '../../local/step-functions.js';
import { ExecutionJournal } from '../../local/step-functions-journal.js';

const DEFINITION = new URL('../../statemachines/order-lifecycle.asl.json', import.meta.url).pathname;
const SUBSTITUTIONS = {
  RiskFunctionArn: 'local:risk',
  ApprovalFunctionArn: 'local:approval',
  ExecutionFunctionArn: 'local:execution',
  PositionFunctionArn: 'local:position',
  ComplianceFunctionArn: 'local:compliance',
};

class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

type Payload = Record<string, unknown> & { action: string };
type Decision = 'approved' | 'rejected' | 'needs_approval';

/** Fake agents: the risk decision comes from the order; errors can be queued per function. */
function fakeAgents() {
  const calls: Array<{ fn: string; payload: Payload }> = [];
  const tokens = new Map<string, string[]>(); // order_id -> task tokens, in issue order
  const failures = new Map<string, Error[]>(); // fn -> errors to throw first
  const make =
    (fn: string, body: (p: Payload) => unknown): Handler =>
    async (payload) => {
      const p = payload as Payload;
      calls.push({ fn, payload: p });
      const failure = failures.get(fn)?.shift();
      if (failure) throw failure;
      return body(p);
    };
  const orderId = (p: Payload) => (p.order as { order_id: string }).order_id;
  const handlers: Record<string, Handler> = {
    'local:risk': make('local:risk', (p) => ({
      check_id: `chk-${orderId(p)}`,
      decision: (p.order as { decision: Decision }).decision,
      order_value: '1000.00',
      reasons: [],
    })),
    'local:approval': make('local:approval', (p) => {
      if (p.action === 'request_approval') {
        tokens.set(orderId(p), [...(tokens.get(orderId(p)) ?? []), String(p.task_token)]);
        return { approval_id: `apr-${orderId(p)}` };
      }
      if (p.action === 'confirm_approval') {
        return { approval_id: `apr-${orderId(p)}`, approved_by: 'checker', approved_at: '2026-01-01T00:00:00Z' };
      }
      return { ok: true };
    }),
    'local:execution': make('local:execution', (p) => ({
      status: 'FILLED',
      fill: { order_id: orderId(p), price: '100.00', quantity: 10 },
    })),
    'local:position': make('local:position', () => ({ ok: true })),
    'local:compliance': make('local:compliance', () => ({ recorded: true })),
  };
  const called = (fn: string, action?: string) =>
    calls.filter((c) => c.fn === fn && (action === undefined || c.payload.action === action));
  return { handlers, calls, called, tokens, failures };
}

const dirs: string[] = [];
const instances: LocalStepFunctions[] = [];

function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'local-sfn-'));
  dirs.push(dir);
  return dir;
}

function setup(extra: Partial<LocalStepFunctionsOptions> = {}, dataDir = newDataDir()) {
  const agents = fakeAgents();
  const ended: ExecutionEnd[] = [];
  const sfn = new LocalStepFunctions({
    definitionPath: DEFINITION,
    substitutions: SUBSTITUTIONS,
    handlers: agents.handlers,
    dataDir,
    overrides: { retryIntervalMs: 5 },
    onExecutionEnd: (e) => ended.push(e),
    ...extra,
  });
  instances.push(sfn);
  return { sfn, agents, ended, dataDir };
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(instances.splice(0).map((i) => i.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function orderInput(orderId: string, decision: Decision) {
  return { order: { order_id: orderId, account_id: 'ACC-1', symbol: 'AAPL', side: 'BUY', quantity: 10, decision } };
}

async function until<T>(probe: () => T | undefined, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const entered = (sfn: LocalStepFunctions, id: string) =>
  (sfn.history(id) ?? []).filter((e) => e.type === 'StateEntered').map((e) => e.state);

async function rejectionName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).name;
  }
  return 'resolved';
}

describe('LocalStepFunctions on the order-lifecycle ASL', () => {
  it('runs the approved path to OrderFilled, with the lambda:invoke result shape and the context', async () => {
    const { sfn, agents, ended } = setup();
    const { executionId } = await sfn.start('ord-approved', orderInput('ord-approved', 'approved'));
    expect(executionId).toBe('arn:aws:states:local:000000000000:execution:order-lifecycle:ord-approved');
    const end = await sfn.waitForEnd(executionId, 5_000);
    expect(end.status).toBe('SUCCEEDED');
    expect(entered(sfn, executionId)).toEqual([
      'CheckRisk',
      'RouteRiskDecision',
      'ExecuteTrade',
      'RouteExecutionResult',
      'UpdatePosition',
      'OrderFilled',
    ]);
    // ResultSelector read $.Payload.*, so the integration's { Payload, StatusCode } shape is right.
    expect(end.output).toMatchObject({
      risk: { check_id: 'chk-ord-approved', decision: 'approved', order_value: '1000.00' },
      execution: { status: 'FILLED', fill: { order_id: 'ord-approved' } },
    });
    expect(agents.called('local:risk')[0]?.payload.execution_id).toBe(executionId);
    expect(ended).toEqual([expect.objectContaining({ executionId, name: 'ord-approved', status: 'SUCCEEDED' })]);
    expect(await sfn.describe(executionId)).toMatchObject({ status: 'SUCCEEDED', name: 'ord-approved' });
  });

  it('ends a rejected order at OrderRejected', async () => {
    const { sfn, agents } = setup();
    const { executionId } = await sfn.start('ord-rejected', orderInput('ord-rejected', 'rejected'));
    expect((await sfn.waitForEnd(executionId, 5_000)).status).toBe('SUCCEEDED');
    expect(entered(sfn, executionId).at(-1)).toBe('OrderRejected');
    expect(agents.called('local:execution')).toHaveLength(0);
  });

  it('waits for approval; SendTaskSuccess continues to ConfirmApproval, ExecuteTrade, UpdatePosition', async () => {
    const { sfn, agents } = setup();
    const { executionId } = await sfn.start('ord-wait', orderInput('ord-wait', 'needs_approval'));
    const [token] = await until(() => agents.tokens.get('ord-wait'));
    expect(token).toMatch(/^[A-Za-z0-9_-]{64}$/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await sfn.describe(executionId))?.status).toBe('RUNNING');
    expect((sfn.history(executionId) ?? []).map((e) => e.type)).toContain('TaskTokenIssued');

    await sfn.sendTaskSuccess(String(token), { approval_id: 'apr-ord-wait', decision: 'approved', by: 'checker' });
    const end = await sfn.waitForEnd(executionId, 5_000);
    expect(end.status).toBe('SUCCEEDED');
    expect(entered(sfn, executionId)).toEqual([
      'CheckRisk',
      'RouteRiskDecision',
      'RequestApproval',
      'ConfirmApproval',
      'ExecuteTrade',
      'RouteExecutionResult',
      'UpdatePosition',
      'OrderFilled',
    ]);
    // The callback's output is the task result (ResultPath $.approval).
    expect(agents.called('local:approval', 'confirm_approval')[0]?.payload.approval).toEqual({
      approval_id: 'apr-ord-wait',
      decision: 'approved',
      by: 'checker',
    });
    // The token's task is over: a second answer is refused as AWS does.
    expect(await rejectionName(sfn.sendTaskSuccess(String(token), {}))).toBe('TaskTimedOut');
  });

  it('routes SendTaskFailure(ApprovalRejected) to RecordApprovalRejection and ApprovalRejected', async () => {
    const { sfn, agents } = setup();
    const { executionId } = await sfn.start('ord-no', orderInput('ord-no', 'needs_approval'));
    const [token] = await until(() => agents.tokens.get('ord-no'));
    await sfn.sendTaskFailure(String(token), 'ApprovalRejected', 'rejected by checker: too large');
    const end = await sfn.waitForEnd(executionId, 5_000);
    expect(end.status).toBe('SUCCEEDED');
    expect(entered(sfn, executionId).slice(-2)).toEqual(['RecordApprovalRejection', 'ApprovalRejected']);
    expect(agents.called('local:approval', 'record_rejection')[0]?.payload.error).toEqual({
      Error: 'ApprovalRejected',
      Cause: 'rejected by checker: too large',
    });
  });

  it('expires an unanswered approval at the (shortened) TimeoutSeconds; the late token is TaskTimedOut', async () => {
    const { sfn, agents } = setup({ overrides: { retryIntervalMs: 5, taskTimeoutSeconds: { RequestApproval: 0.4 } } });
    const started = Date.now();
    const { executionId } = await sfn.start('ord-late', orderInput('ord-late', 'needs_approval'));
    const [token] = await until(() => agents.tokens.get('ord-late'));
    const end = await sfn.waitForEnd(executionId, 5_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(end.status).toBe('SUCCEEDED');
    expect(entered(sfn, executionId).slice(-3)).toEqual(['RequestApproval', 'ExpireApproval', 'OrderExpired']);
    const failed = (sfn.history(executionId) ?? []).find((e) => e.type === 'StateFailed');
    expect(failed).toMatchObject({ state: 'RequestApproval', error: 'States.Timeout' });
    expect(agents.called('local:approval', 'expire_approval')).toHaveLength(1);
    expect(await rejectionName(sfn.sendTaskSuccess(String(token), { decision: 'approved' }))).toBe('TaskTimedOut');
  });

  it('keeps a 300 s callback waiting past the library default of 60 s, and times it out at 300 s', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
    const { sfn, agents } = setup();
    const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);
    const { executionId } = await sfn.start('ord-slow', orderInput('ord-slow', 'needs_approval'));
    for (let i = 0; i < 50 && !agents.tokens.has('ord-slow'); i++) await tick(10);
    expect(agents.tokens.get('ord-slow')).toHaveLength(1);
    await tick(61_000);
    expect((await sfn.describe(executionId))?.status).toBe('RUNNING');
    await tick(238_000); // 299.x s in
    expect((await sfn.describe(executionId))?.status).toBe('RUNNING');
    expect(agents.called('local:approval', 'expire_approval')).toHaveLength(0);
    await tick(2_000);
    for (let i = 0; i < 50 && (await sfn.describe(executionId))?.status === 'RUNNING'; i++) await tick(10);
    expect((await sfn.describe(executionId))?.status).toBe('SUCCEEDED');
    expect(entered(sfn, executionId).slice(-2)).toEqual(['ExpireApproval', 'OrderExpired']);
  });

  it('times out a callback whose heartbeats stop (States.Timeout), not while they come', async () => {
    const { sfn, agents } = setup({ overrides: { retryIntervalMs: 5, heartbeatSeconds: { RequestApproval: 0.25 } } });
    const { executionId } = await sfn.start('ord-hb', orderInput('ord-hb', 'needs_approval'));
    const [token] = await until(() => agents.tokens.get('ord-hb'));
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await sfn.sendTaskHeartbeat(String(token));
    }
    expect((await sfn.describe(executionId))?.status).toBe('RUNNING');
    const end = await sfn.waitForEnd(executionId, 5_000);
    expect(entered(sfn, executionId).slice(-2)).toEqual(['ExpireApproval', 'OrderExpired']);
    expect(end.status).toBe('SUCCEEDED');
    expect(await rejectionName(sfn.sendTaskHeartbeat(String(token)))).toBe('TaskTimedOut');
  });

  it('retries a TransientError (twice, then success) and mints a new token per attempt', async () => {
    const { sfn, agents } = setup();
    agents.failures.set('local:execution', [
      new NamedError('TransientError', 'venue busy'),
      new NamedError('TransientError', 'venue busy'),
    ]);
    const started = Date.now();
    const { executionId } = await sfn.start('ord-retry', orderInput('ord-retry', 'approved'));
    const end = await sfn.waitForEnd(executionId, 5_000);
    expect(end.status).toBe('SUCCEEDED');
    expect(Date.now() - started).toBeLessThan(1_000); // the 1 s / 2 s intervals were overridden
    expect(agents.called('local:execution')).toHaveLength(3);
    const retried = (sfn.history(executionId) ?? []).filter((e) => e.type === 'StateRetried');
    expect(retried.map((e) => e.state)).toEqual(['ExecuteTrade', 'ExecuteTrade']);
    expect(entered(sfn, executionId).at(-1)).toBe('OrderFilled');

    // A retried callback state gets a fresh token; the first attempt's token is dead.
    agents.failures.set('local:approval', [new NamedError('TransientError', 'table throttled')]);
    const second = await sfn.start('ord-retry-cb', orderInput('ord-retry-cb', 'needs_approval'));
    const tokens = await until(() => {
      const t = agents.tokens.get('ord-retry-cb');
      return t && t.length === 1 && agents.called('local:approval', 'request_approval').length === 2 ? t : undefined;
    });
    const firstAttempt = agents.called('local:approval', 'request_approval')[0]?.payload.task_token;
    expect(firstAttempt).not.toBe(tokens[0]);
    expect(await rejectionName(sfn.sendTaskSuccess(String(firstAttempt), {}))).toBe('TaskTimedOut');
    await sfn.sendTaskSuccess(String(tokens[0]), { approval_id: 'a' });
    expect((await sfn.waitForEnd(second.executionId, 5_000)).status).toBe('SUCCEEDED');
  });

  it('sends a non-retryable error to RecordFailure and OrderFailed (FAILED)', async () => {
    const { sfn, agents, ended } = setup();
    agents.failures.set('local:execution', [new NamedError('IntegrityError', 'approval hash mismatch')]);
    const { executionId } = await sfn.start('ord-bad', orderInput('ord-bad', 'approved'));
    const end = await sfn.waitForEnd(executionId, 5_000);
    expect(end).toMatchObject({ status: 'FAILED', error: 'OrderFailed' });
    expect(entered(sfn, executionId).slice(-2)).toEqual(['RecordFailure', 'OrderFailed']);
    expect(agents.called('local:execution')).toHaveLength(1);
    const error = agents.called('local:compliance', 'record_failure')[0]?.payload.error as {
      Error: string;
      Cause: string;
    };
    expect(error.Error).toBe('IntegrityError');
    expect(JSON.parse(error.Cause)).toEqual({ errorType: 'IntegrityError', errorMessage: 'approval hash mismatch' });
    expect(ended.at(-1)).toMatchObject({ status: 'FAILED', error: 'OrderFailed' });
  });

  it('stops the order as AuditTrailUnavailable when even its failure cannot be recorded', async () => {
    const { sfn, agents } = setup();
    agents.failures.set('local:execution', [new NamedError('IntegrityError', 'approval hash mismatch')]);
    // The audit trail is down: RecordFailure fails on every attempt (its retries included).
    agents.failures.set(
      'local:compliance',
      Array.from(
        { length: 20 },
        () => new NamedError('TransientError', 'audit write failed after 5 attempts: S3 down'),
      ),
    );
    const { executionId } = await sfn.start('ord-no-audit', orderInput('ord-no-audit', 'approved'));
    const end = await sfn.waitForEnd(executionId, 10_000);
    expect(end).toMatchObject({ status: 'FAILED', error: 'AuditTrailUnavailable' });
    expect(String(end.cause)).toContain('audit write failed after 5 attempts');
    expect(entered(sfn, executionId).slice(-2)).toEqual(['RecordFailure', 'OrderStopped']);
    // Nothing after the failure ran: the order never went on unrecorded.
    expect(agents.called('local:execution')).toHaveLength(1);
  });

  it('refuses an unknown token with TaskDoesNotExist', async () => {
    const { sfn } = setup();
    expect(await rejectionName(sfn.sendTaskSuccess('not-a-token', {}))).toBe('TaskDoesNotExist');
    expect(await rejectionName(sfn.sendTaskFailure('not-a-token', 'X', 'y'))).toBe('TaskDoesNotExist');
    expect(await rejectionName(sfn.sendTaskHeartbeat('not-a-token'))).toBe('TaskDoesNotExist');
  });

  it('starts idempotently by name: same input is a no-op, a different input is refused', async () => {
    const { sfn, agents } = setup();
    const input = orderInput('ord-idem', 'approved');
    const first = await sfn.start('ord-idem', input);
    // Same input with keys in another order is the same input.
    const reordered = { order: { ...Object.fromEntries(Object.entries(input.order).reverse()) } };
    expect(await sfn.start('ord-idem', reordered)).toEqual(first);
    await sfn.waitForEnd(first.executionId, 5_000);
    expect(await sfn.start('ord-idem', input)).toEqual(first);
    expect(agents.called('local:risk')).toHaveLength(1);
    expect(await rejectionName(sfn.start('ord-idem', orderInput('ord-idem', 'rejected')))).toBe(
      'ExecutionAlreadyExists',
    );
    expect(await rejectionName(sfn.start('bad name', input))).toBe('InvalidName');
    expect(await sfn.describe(sfn.executionIdFor('never-started'))).toBeUndefined();
  });

  it('stops a live execution with markAborted: ABORTED, its token dead, no rejection left unhandled', async () => {
    const { sfn, agents, ended } = setup();
    const { executionId } = await sfn.start('ord-stop', orderInput('ord-stop', 'needs_approval'));
    const [token] = await until(() => agents.tokens.get('ord-stop'));
    const end = await sfn.markAborted(executionId, 'operator stop');
    expect(end).toMatchObject({ status: 'ABORTED', cause: 'operator stop' });
    expect(ended.at(-1)).toMatchObject({ executionId, status: 'ABORTED' });
    expect(await rejectionName(sfn.sendTaskSuccess(String(token), {}))).toBe('TaskTimedOut');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(agents.called('local:compliance')).toHaveLength(0); // no Catch ran after the stop
  });

  it('after a restart, reports the execution cut off while waiting, keeps names taken, records the decision', async () => {
    const dataDir = newDataDir();
    const a = setup({}, dataDir);
    const done = await a.sfn.start('ord-done', orderInput('ord-done', 'approved'));
    await a.sfn.waitForEnd(done.executionId, 5_000);
    const waiting = await a.sfn.start('ord-cut', orderInput('ord-cut', 'needs_approval'));
    const [token] = await until(() => a.agents.tokens.get('ord-cut'));
    await a.sfn.close(); // the process stops (a crash leaves the same journal, minus a note)
    expect(a.ended.map((e) => e.name)).toEqual(['ord-done']);

    const b = setup({}, dataDir);
    expect(b.sfn.interrupted()).toEqual([
      {
        executionId: waiting.executionId,
        name: 'ord-cut',
        input: orderInput('ord-cut', 'needs_approval'),
        startDate: expect.any(String),
        waitingForTaskToken: true,
        waitingState: 'RequestApproval',
      },
    ]);
    expect(await b.sfn.describe(waiting.executionId)).toMatchObject({ status: 'RUNNING', interrupted: true });
    expect(await b.sfn.describe(done.executionId)).toMatchObject({ status: 'SUCCEEDED', output: expect.any(Object) });
    expect(await b.sfn.start('ord-cut', orderInput('ord-cut', 'needs_approval'))).toEqual(waiting);
    expect(await b.sfn.start('ord-done', orderInput('ord-done', 'approved'))).toEqual(done);
    expect(await rejectionName(b.sfn.start('ord-cut', orderInput('ord-cut', 'approved')))).toBe(
      'ExecutionAlreadyExists',
    );
    expect(b.agents.calls).toHaveLength(0); // nothing re-ran
    expect(await rejectionName(b.sfn.sendTaskSuccess(String(token), {}))).toBe('TaskTimedOut');

    const aborted = await b.sfn.markAborted(waiting.executionId, 'approval expired: platform restarted');
    expect(aborted).toMatchObject({ status: 'ABORTED', cause: 'approval expired: platform restarted' });
    expect(b.ended).toEqual([expect.objectContaining({ name: 'ord-cut', status: 'ABORTED' })]);
    expect(b.sfn.interrupted()).toEqual([]);
    await b.sfn.close();

    const c = setup({}, dataDir);
    expect(c.sfn.interrupted()).toEqual([]);
    expect(await c.sfn.describe(waiting.executionId)).toMatchObject({ status: 'ABORTED' });
  });

  it('sees an execution as interrupted when the first process never closed (crash)', async () => {
    const dataDir = newDataDir();
    const a = setup({}, dataDir);
    const { executionId } = await a.sfn.start('ord-crash', orderInput('ord-crash', 'needs_approval'));
    await until(() => a.agents.tokens.get('ord-crash'));
    const b = setup({}, dataDir);
    expect(b.sfn.interrupted()).toMatchObject([{ executionId, waitingForTaskToken: true }]);
  });

  it('refuses a definition with a placeholder left unset, or a function without a handler', () => {
    const { RiskFunctionArn: _unset, ...partial } = SUBSTITUTIONS;
    const base = { definitionPath: DEFINITION, handlers: fakeAgents().handlers, dataDir: newDataDir() };
    expect(() => new LocalStepFunctions({ ...base, substitutions: partial })).toThrow(MissingSubstitution);
    expect(() => new LocalStepFunctions({ ...base, substitutions: partial })).toThrow(/\$\{RiskFunctionArn\}/);
    const { 'local:position': _missing, ...handlers } = fakeAgents().handlers;
    expect(() => new LocalStepFunctions({ ...base, substitutions: SUBSTITUTIONS, handlers })).toThrow(MissingHandler);
    expect(
      () =>
        new LocalStepFunctions({
          ...base,
          substitutions: SUBSTITUTIONS,
          overrides: { taskTimeoutSeconds: { Nope: 1 } },
        }),
    ).toThrow(/Nope/);
  });
});

describe('ExecutionJournal background sync', () => {
  it('keeps appending while its background sync runs, and closes cleanly after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfn-journal-'));
    try {
      const file = join(dir, 'executions.jsonl');
      const journal = new ExecutionJournal(file);
      const at = new Date().toISOString();
      for (let i = 0; i < 50; i++) {
        journal.append({ type: 'interrupted', executionId: `e${i}`, reason: 'test', at });
        // Spread over several sync intervals, so appends land while a sync is in flight.
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 25));
      }
      await journal.close();
      await journal.close(); // idempotent
      expect(() => journal.append({ type: 'interrupted', executionId: 'late', reason: 'test', at })).toThrow(/closed/);
      expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(50);
      const reread = new ExecutionJournal(file);
      expect(reread.entries).toHaveLength(50);
      await reread.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ExecutionJournal compaction at start-up', () => {
  it('drops executions that ended before the name-retention window, keeps recent and running ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfn-journal-'));
    try {
      const file = join(dir, 'executions.jsonl');
      const now = Date.parse('2026-11-23T12:00:00.000Z');
      const daysAgo = (d: number) => new Date(now - d * 86_400_000).toISOString();
      const started = (id: string, at: string) =>
        ({ type: 'started', stateMachine: 'sm', executionId: id, name: id, input: {}, at }) as const;
      const ended = (id: string, at: string) => ({ type: 'ended', executionId: id, status: 'SUCCEEDED', at }) as const;
      writeFileSync(
        file,
        [
          started('old', daysAgo(120)),
          ended('old', daysAgo(91)),
          started('recent', daysAgo(89)),
          ended('recent', daysAgo(89)),
          started('running', daysAgo(120)),
        ]
          .map((e) => `${JSON.stringify(e)}\n`)
          .join(''),
      );
      const journal = new ExecutionJournal(file, { now: () => now });
      expect(journal.compactedExecutions).toBe(1);
      expect(journal.entries.map((e) => e.executionId)).toEqual(['recent', 'recent', 'running']);
      await journal.close();
      // The file itself was rewritten: a second start reads the same, and drops nothing more.
      const again = new ExecutionJournal(file, { now: () => now });
      expect(again.compactedExecutions).toBe(0);
      expect(again.entries.map((e) => e.executionId)).toEqual(['recent', 'recent', 'running']);
      await again.close();
      expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
