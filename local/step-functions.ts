// Local stand-in for AWS Step Functions: runs the same ASL file with aws-local-stepfunctions and adds
// what the library lacks: the lambda:invoke integrations wired to in-process handlers, task tokens
// (SendTaskSuccess / Failure / Heartbeat) with TimeoutSeconds and HeartbeatSeconds, idempotent
// start by name, execution history, and a journal under dataDir that survives a restart.
import './polyfills.js';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type RunOptions, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { Workflow } from '../functions/ports.js';
import {
  type AslMachine,
  applyTaskOverrides,
  eachState,
  InvalidDefinition,
  LAMBDA_INVOKE,
  LAMBDA_INVOKE_CALLBACK,
  LIBRARY_DEFAULT_TASK_TIMEOUT_SECONDS,
  parseDefinition,
  substitute,
} from './step-functions-definition.js';
import { ExecutionJournal, type TaskOutcome, type TerminalStatus } from './step-functions-journal.js';

export { InvalidDefinition, MissingSubstitution } from './step-functions-definition.js';

import { TaskDoesNotExist, TaskTimedOut } from '../functions/adapters/errors.js';

const REGION = 'local';
const ACCOUNT = '000000000000';

// ---- errors the callers see (names as in the AWS SDK where AWS has one) ----

// The same classes the AWS adapter raises, so callers match one set of names against both.
export { TaskDoesNotExist, TaskTimedOut } from '../functions/adapters/errors.js';
export class ExecutionAlreadyExists extends Error {
  override readonly name = 'ExecutionAlreadyExists';
  readonly code = 'execution_already_exists';
}
export class ExecutionDoesNotExist extends Error {
  override readonly name = 'ExecutionDoesNotExist';
}
export class InvalidName extends Error {
  override readonly name = 'InvalidName';
}
export class MissingHandler extends Error {
  override readonly name = 'MissingHandler';
}
export class WaitForEndTimeout extends Error {
  override readonly name = 'WaitForEndTimeout';
}
export class LocalStepFunctionsClosed extends Error {
  override readonly name = 'LocalStepFunctionsClosed';
}

// ---- errors handed to the library: it matches Retry/Catch on `name` (exact string) ----

/** An error that surfaces to Retry/Catch under an arbitrary name (a handler's, or SendTaskFailure's). */
export class TaskError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * Thrown into a run that is being stopped. The library reads `isRetryable` / `isCatchable` (duck
 * typed, default true); false for both means no Retry or Catch (States.ALL included) runs another
 * handler after the stop.
 */
class ExecutionStopping extends Error {
  override readonly name = 'ExecutionStopping';
  get isRetryable(): boolean {
    return false;
  }
  get isCatchable(): boolean {
    return false;
  }
}

// ---- public types ----

export type Handler = (payload: unknown) => Promise<unknown>;
export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionEnd {
  executionId: string;
  name: string;
  status: TerminalStatus;
  output?: unknown;
  error?: string;
  cause?: string;
}

export interface LocalStepFunctionsOptions {
  definitionPath: string;
  /** `${Placeholder}` -> value, exactly like CDK definitionSubstitutions (values: handler keys). */
  substitutions: Record<string, string>;
  /** FunctionName (after substitution) -> in-process handler. */
  handlers: Record<string, Handler>;
  /** Everything is written under `<dataDir>/stepfunctions/`. */
  dataDir: string;
  /** Defaults to the definition file name without `.asl.json` (order-lifecycle). */
  stateMachineName?: string;
  overrides?: {
    /** State -> seconds (fractions allowed) replacing TimeoutSeconds, e.g. `{ RequestApproval: 2 }`. */
    taskTimeoutSeconds?: Record<string, number>;
    /** State -> seconds replacing (or adding) HeartbeatSeconds. */
    heartbeatSeconds?: Record<string, number>;
    /** Pause before every retry, in ms, instead of IntervalSeconds x BackoffRate (keeps tests fast). */
    retryIntervalMs?: number;
  };
  /** Called once per execution that ends (not for runs cut off by close(): those are interrupted). */
  onExecutionEnd?: (e: ExecutionEnd) => void;
}

export interface ExecutionDescription {
  executionId: string;
  name: string;
  status: ExecutionStatus;
  input: unknown;
  startDate: string;
  stopDate?: string;
  output?: unknown;
  error?: string;
  cause?: string;
  /** RUNNING in the journal, but its run was lost to a restart or shutdown: see interrupted(). */
  interrupted?: boolean;
}

export interface InterruptedExecution {
  executionId: string;
  name: string;
  input: unknown;
  startDate: string;
  waitingForTaskToken: boolean;
  /** The callback state whose token was outstanding. */
  waitingState?: string;
}

export interface HistoryEvent {
  /** The library's event types, plus TaskTokenIssued / TaskTokenClosed added here. */
  type: string;
  timestamp: number;
  state?: string;
  stateType?: string;
  input?: unknown;
  output?: unknown;
  error?: string;
  cause?: unknown;
  retryAttempt?: number;
  catchNext?: string;
  outcome?: TaskOutcome;
}

// ---- internals ----

type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type LocalHandler = LocalHandlers[string];
type JsonValue = Parameters<LocalHandler>[0];
type EventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

interface TaskPlan {
  state: string;
  kind: 'invoke' | 'callback';
  timeoutMs: number;
  heartbeatMs?: number;
}

interface LiveTask {
  token: string;
  tokenHash: string;
  state: string;
  record: ExecutionRecord;
  deadline: number; // performance.now() ms
  heartbeatMs?: number;
  closed: boolean;
  resolve: (value: JsonValue) => void;
  reject: (error: Error) => void;
  promise: Promise<JsonValue>;
  timeoutTimer?: NodeJS.Timeout;
  heartbeatTimer?: NodeJS.Timeout;
  backstopTimer?: NodeJS.Timeout;
}

interface LiveRun {
  abort?: () => void;
  /** 'shutdown' (close(): leave the journal RUNNING) or an abort reason (markAborted). */
  stopping?: { kind: 'shutdown' } | { kind: 'abort'; reason: string };
  /** The token `$$.Task.Token` minted for the attempt about to run; consumed by the callback task. */
  armedToken?: string;
  tasks: Set<LiveTask>;
}

interface ExecutionRecord {
  executionId: string;
  name: string;
  input: JsonValue;
  inputKey: string;
  startDate: string;
  status: ExecutionStatus;
  stopDate?: string;
  output?: unknown;
  error?: string;
  cause?: string;
  interrupted: boolean;
  waiting?: { tokenHash: string; state: string };
  live?: LiveRun;
  events: HistoryEvent[]; // from the library's event log
  extraEvents: HistoryEvent[]; // task-token events added here
  ended: Promise<void>;
  markEnded: () => void;
}

type Outcome =
  | { kind: 'succeeded'; output: unknown }
  | { kind: 'failed'; error: string; cause: string }
  | { kind: 'timed_out'; error: string; cause: string }
  | { kind: 'aborted' };

function noop(): void {}

// The library's validator recompiles its schema on every call (200-600 ms); its verdict on a given
// text does not change, so each distinct definition is validated once per process.
const validatedDefinitions = new Set<string>();

function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A JSON round trip, as every value crossing the Step Functions API is a JSON string. */
function toJson(value: unknown): JsonValue {
  const text = JSON.stringify(value);
  return text === undefined ? null : JSON.parse(text);
}

/** Key-sorted JSON, so `{a,b}` and `{b,a}` are the same input. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// StartExecution's name rule: 1-80 characters, no whitespace, brackets, wildcards, special or control characters.
/** How many ended executions keep their event history in memory (history() is empty for older ones). */
export const HISTORY_RETAINED = 1000;

const BAD_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\p{Cc}]/u;

function newDeferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = noop;
  const promise = new Promise<void>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

function historyEventOf(ev: EventLog): HistoryEvent {
  const out: HistoryEvent = { type: ev.type, timestamp: ev.timestamp };
  if ('state' in ev) {
    out.state = ev.state.name;
    out.stateType = ev.state.type;
    out.input = ev.state.input;
    if (ev.state.output !== undefined) out.output = ev.state.output;
  }
  if ('input' in ev) out.input = ev.input;
  if ('output' in ev) out.output = ev.output;
  if ('Error' in ev) {
    out.error = ev.Error;
    out.cause = ev.Cause instanceof Error ? ev.Cause.message : ev.Cause;
  }
  if ('retry' in ev) out.retryAttempt = ev.retry.attempt;
  if ('catch' in ev) out.catchNext = ev.catch.catcher.Next;
  return out;
}

export class LocalStepFunctions implements Workflow {
  readonly stateMachineName: string;
  readonly stateMachineArn: string;
  private readonly machine: StateMachine;
  private readonly plans: TaskPlan[];
  private readonly retryIntervalOverrides: Record<string, number>;
  private readonly handlers: Record<string, Handler>;
  private readonly journal: ExecutionJournal;
  private readonly onExecutionEnd: ((e: ExecutionEnd) => void) | undefined;
  private readonly executions = new Map<string, ExecutionRecord>(); // by name
  private readonly tasks = new Map<string, LiveTask>(); // open tasks by token
  private readonly endedTokenHashes = new Set<string>(); // this process's and earlier processes' tokens
  private readonly inflight = new Set<Promise<unknown>>(); // handler invocations, awaited by close()
  // Histories are kept in memory for the most recent ended executions only: a long-running local
  // platform would otherwise grow without bound (the journal on disk keeps every execution).
  private readonly retainedHistories: ExecutionRecord[] = [];
  private closed = false;

  constructor(options: LocalStepFunctionsOptions) {
    this.stateMachineName = options.stateMachineName ?? basename(options.definitionPath).replace(/(\.asl)?\.json$/, '');
    this.stateMachineArn = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${this.stateMachineName}`;
    this.handlers = options.handlers;
    this.onExecutionEnd = options.onExecutionEnd;

    const text = substitute(readFileSync(options.definitionPath, 'utf8'), options.substitutions);
    const definition = parseDefinition(text);
    // The library's validator checks the definition as written; the test overrides come after it,
    // as they may use fractions of a second, which the validator (rightly, for AWS) refuses.
    if (!validatedDefinitions.has(text)) {
      new StateMachine(definition as unknown as StateMachineDefinition);
      validatedDefinitions.add(text);
    }
    const effective = applyTaskOverrides(definition, {
      taskTimeoutSeconds: options.overrides?.taskTimeoutSeconds,
      heartbeatSeconds: options.overrides?.heartbeatSeconds,
    });
    this.machine = new StateMachine(effective as unknown as StateMachineDefinition, {
      validationOptions: { noValidate: true },
    });
    this.plans = this.planTasks(effective);
    this.retryIntervalOverrides = {};
    const retryMs = options.overrides?.retryIntervalMs;
    if (retryMs !== undefined) {
      eachState(effective, (name, state) => {
        if (state.Retry) this.retryIntervalOverrides[name] = retryMs;
      });
    }

    this.journal = new ExecutionJournal(join(options.dataDir, 'stepfunctions', 'executions.jsonl'));
    this.load();
  }

  // ---- Workflow port ----

  executionIdFor(name: string): string {
    return `arn:aws:states:${REGION}:${ACCOUNT}:execution:${this.stateMachineName}:${name}`;
  }

  async start(name: string, input: unknown): Promise<{ executionId: string }> {
    this.assertOpen();
    if (name.length < 1 || name.length > 80 || BAD_NAME.test(name)) {
      throw new InvalidName(`invalid execution name ${JSON.stringify(name)}`);
    }
    const json = toJson(input ?? {});
    const inputKey = canonical(json);
    const existing = this.executions.get(name);
    if (existing) {
      if (existing.inputKey === inputKey) return { executionId: existing.executionId };
      throw new ExecutionAlreadyExists(`execution ${name} already exists with a different input`);
    }
    const executionId = this.executionIdFor(name);
    const startDate = new Date().toISOString();
    const { promise, resolve } = newDeferred();
    const record: ExecutionRecord = {
      executionId,
      name,
      input: json,
      inputKey,
      startDate,
      status: 'RUNNING',
      interrupted: false,
      live: { tasks: new Set() },
      events: [],
      extraEvents: [],
      ended: promise,
      markEnded: resolve,
    };
    // In the file before we answer (a crash of the process keeps the name taken); fdatasynced
    // within 20 ms (a crash of the machine in that window can lose the start: docs/contracts.md).
    this.journal.append({
      type: 'started',
      stateMachine: this.stateMachineName,
      executionId,
      name,
      input: json,
      at: startDate,
    });
    this.executions.set(name, record);
    // Run on a later turn: StartExecution answers before the first state runs.
    setImmediate(() => this.run(record));
    return { executionId };
  }

  async sendTaskSuccess(taskToken: string, output: unknown): Promise<void> {
    this.assertOpen();
    const task = this.openTask(taskToken);
    const value = toJson(output ?? {});
    this.closeTask(task, 'succeeded', true);
    task.resolve(value);
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    this.assertOpen();
    const task = this.openTask(taskToken);
    this.closeTask(task, 'failed', true);
    task.reject(new TaskError(error, cause));
  }

  /** SendTaskHeartbeat: restarts the HeartbeatSeconds clock of the token's task. */
  async sendTaskHeartbeat(taskToken: string): Promise<void> {
    this.assertOpen();
    const task = this.openTask(taskToken);
    if (task.heartbeatMs !== undefined) this.armHeartbeat(task, task.heartbeatMs);
  }

  async describe(executionId: string): Promise<ExecutionDescription | undefined> {
    const record = this.recordById(executionId);
    return record ? this.describeRecord(record) : undefined;
  }

  // ---- beyond the port ----

  /** The execution's events (state entered/exited/failed/retried/caught, task tokens), oldest first. */
  history(executionId: string): HistoryEvent[] | undefined {
    const record = this.recordById(executionId);
    if (!record) return undefined;
    // Library events reach us through an async generator, after the task-token events we record
    // synchronously; order by time, and within a millisecond put token events inside their state.
    const rank = (e: HistoryEvent, extra: boolean) => (extra ? 1 : e.type === 'StateEntered' ? 0 : 2);
    return [
      ...record.events.map((e) => ({ e, r: rank(e, false) })),
      ...record.extraEvents.map((e) => ({ e, r: rank(e, true) })),
    ]
      .sort((a, b) => a.e.timestamp - b.e.timestamp || a.r - b.r)
      .map(({ e }) => e);
  }

  /** Resolves with the final description once the execution has ended. */
  async waitForEnd(executionId: string, timeoutMs: number): Promise<ExecutionDescription> {
    const record = this.recordById(executionId);
    if (!record) throw new ExecutionDoesNotExist(`no execution ${executionId}`);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const first = await Promise.race([record.ended.then(() => 'ended' as const), timedOut]);
      if (first === 'timeout') {
        throw new WaitForEndTimeout(`execution ${record.name} still ${record.status} after ${timeoutMs} ms`);
      }
      if (record.status === 'RUNNING') {
        throw new LocalStepFunctionsClosed(`closed while execution ${record.name} was running`);
      }
      return this.describeRecord(record);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Executions the journal says are RUNNING but whose run was lost (a restart or close()). The library
   * cannot resume them; the platform decides their fate and records it with markAborted().
   */
  /** When the last entry the journal held at start-up was written (undefined: an empty journal). */
  journalLastEntryAt(): string | undefined {
    return this.journal.entries.at(-1)?.at;
  }

  interrupted(): InterruptedExecution[] {
    const out: InterruptedExecution[] = [];
    for (const r of this.executions.values()) {
      if (r.status !== 'RUNNING' || !r.interrupted) continue;
      const item: InterruptedExecution = {
        executionId: r.executionId,
        name: r.name,
        input: r.input,
        startDate: r.startDate,
        waitingForTaskToken: r.waiting !== undefined,
      };
      if (r.waiting) item.waitingState = r.waiting.state;
      out.push(item);
    }
    return out;
  }

  /**
   * Record an execution as ABORTED (StopExecution). An interrupted one is closed in the journal; a
   * live one is stopped first. An execution that has already ended is left as it is.
   */
  async markAborted(executionId: string, reason: string): Promise<ExecutionDescription> {
    this.assertOpen();
    const record = this.recordById(executionId);
    if (!record) throw new ExecutionDoesNotExist(`no execution ${executionId}`);
    if (record.status !== 'RUNNING') return this.describeRecord(record);
    if (record.live) {
      this.stop(record, { kind: 'abort', reason });
      await record.ended;
      return this.describeRecord(record);
    }
    if (record.waiting) {
      this.endedTokenHashes.add(record.waiting.tokenHash);
      this.journal.append({
        type: 'task-token-closed',
        executionId,
        tokenHash: record.waiting.tokenHash,
        outcome: 'aborted',
        at: new Date().toISOString(),
      });
    }
    this.finish(record, { kind: 'aborted' }, reason);
    return this.describeRecord(record);
  }

  /**
   * Stop every run (their tokens answer TaskTimedOut from now on), wait for in-flight handlers, and
   * flush the journal. The journal keeps those executions RUNNING: a new instance reports them as
   * interrupted, so the platform decides what they become (and audits it), not the shutdown.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const waits: Promise<unknown>[] = [...this.inflight];
    for (const record of this.executions.values()) {
      if (record.live) {
        this.stop(record, { kind: 'shutdown' });
        waits.push(record.ended);
      } else if (record.status === 'RUNNING') {
        record.markEnded(); // releases waitForEnd on an interrupted execution (it answers Closed)
      }
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(waits),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 5_000);
      }),
    ]);
    clearTimeout(timer);
    await this.journal.close();
  }

  // ---- running ----

  private run(record: ExecutionRecord): void {
    const live = record.live;
    if (!live) return;
    if (live.stopping) {
      this.settle(record, { kind: 'aborted' });
      return;
    }
    const armToken = () => this.armToken(live);
    const context: NonNullable<RunOptions['context']> = {
      Execution: { Id: record.executionId, Name: record.name, StartTime: record.startDate, Input: record.input },
      StateMachine: { Id: this.stateMachineArn, Name: this.stateMachineName },
      // The library copies the context shallowly, so this getter survives: Parameters reading
      // `$$.Task.Token` mints the token for the attempt about to run (a retry re-reads it: new token).
      Task: {
        get Token(): string {
          return armToken();
        },
      },
    };
    const execution = this.machine.run(record.input, {
      context,
      overrides: {
        taskResourceLocalHandlers: this.localHandlersFor(record),
        retryIntervalOverrides: this.retryIntervalOverrides,
      },
    });
    live.abort = execution.abort;
    const historyDone = this.consumeEvents(record, execution.eventLogs);
    execution.result
      .then(
        (output): Outcome => ({ kind: 'succeeded', output }),
        (err: unknown): Outcome => {
          const name = err instanceof Error ? err.name : '';
          if (name === 'ExecutionAbortedError') return { kind: 'aborted' };
          if (name === 'ExecutionTimeoutError') {
            return { kind: 'timed_out', error: 'States.Timeout', cause: 'the execution exceeded its TimeoutSeconds' };
          }
          // ExecutionError wraps the state's error (a Fail state's Error/Cause, or an uncaught one).
          const inner = err instanceof Error && err.cause instanceof Error ? err.cause : undefined;
          return inner
            ? { kind: 'failed', error: inner.name, cause: inner.message }
            : { kind: 'failed', error: 'States.Runtime', cause: errorMessage(err) };
        },
      )
      .then(async (outcome) => {
        // The event log closes on the terminal event; don't let a stuck reader hold the end.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          historyDone,
          new Promise((resolve) => {
            timer = setTimeout(resolve, 1_000);
          }),
        ]);
        clearTimeout(timer);
        this.settle(record, outcome);
      })
      .catch((err: unknown) => {
        // settle() must not throw; if it does, say so rather than leave an unhandled rejection.
        process.emitWarning(`local step functions: ending ${record.name} failed: ${errorMessage(err)}`);
      });
  }

  private async consumeEvents(record: ExecutionRecord, events: AsyncGenerator<EventLog>): Promise<void> {
    try {
      for await (const ev of events) record.events.push(historyEventOf(ev));
    } catch (err) {
      process.emitWarning(`local step functions: event log of ${record.name} failed: ${errorMessage(err)}`);
    }
  }

  private settle(record: ExecutionRecord, outcome: Outcome): void {
    const live = record.live;
    record.live = undefined;
    // A task still open here belongs to a run that ended under it (execution timeout, abort).
    for (const task of live?.tasks ?? []) {
      this.closeTask(task, 'aborted', live?.stopping?.kind !== 'shutdown');
      task.reject(new ExecutionStopping('the execution ended'));
    }
    if (outcome.kind === 'aborted' && live?.stopping?.kind === 'shutdown') {
      // Not an end: the journal keeps it RUNNING and the next instance reports it as interrupted.
      record.interrupted = true;
      this.journal.append({
        type: 'interrupted',
        executionId: record.executionId,
        reason: 'shutdown',
        at: new Date().toISOString(),
      });
      record.markEnded();
      return;
    }
    const reason = live?.stopping?.kind === 'abort' ? live.stopping.reason : undefined;
    this.finish(record, outcome, reason);
  }

  private finish(record: ExecutionRecord, outcome: Outcome, abortReason?: string): void {
    const end: ExecutionEnd = { executionId: record.executionId, name: record.name, status: 'ABORTED' };
    switch (outcome.kind) {
      case 'succeeded':
        end.status = 'SUCCEEDED';
        end.output = outcome.output;
        break;
      case 'failed':
      case 'timed_out':
        end.status = outcome.kind === 'failed' ? 'FAILED' : 'TIMED_OUT';
        end.error = outcome.error;
        end.cause = outcome.cause;
        break;
      case 'aborted':
        end.error = 'ExecutionAborted';
        end.cause = abortReason ?? 'aborted';
        break;
    }
    const stopDate = new Date().toISOString();
    this.journal.append({ type: 'ended', ...end, at: stopDate });
    record.status = end.status;
    record.stopDate = stopDate;
    record.output = end.output;
    record.error = end.error;
    record.cause = end.cause;
    record.interrupted = false;
    record.waiting = undefined;
    record.markEnded();
    this.retainedHistories.push(record);
    if (this.retainedHistories.length > HISTORY_RETAINED) {
      const oldest = this.retainedHistories.shift();
      if (oldest) oldest.events = [];
    }
    try {
      this.onExecutionEnd?.(end);
    } catch (err) {
      process.emitWarning(`local step functions: onExecutionEnd for ${record.name} threw: ${errorMessage(err)}`);
    }
  }

  private stop(record: ExecutionRecord, stopping: NonNullable<LiveRun['stopping']>): void {
    const live = record.live;
    if (!live || live.stopping) return;
    live.stopping = stopping;
    for (const task of [...live.tasks]) {
      this.closeTask(task, 'aborted', stopping.kind !== 'shutdown');
      task.reject(new ExecutionStopping('the execution is stopping'));
    }
    live.abort?.(); // undefined when the run has not begun: run() sees `stopping` and settles
  }

  // ---- Task states ----

  private planTasks(machine: AslMachine): TaskPlan[] {
    const plans: TaskPlan[] = [];
    eachState(machine, (name, state) => {
      if (state.Type !== 'Task') return;
      const kind =
        state.Resource === LAMBDA_INVOKE
          ? 'invoke'
          : state.Resource === LAMBDA_INVOKE_CALLBACK
            ? 'callback'
            : undefined;
      // Without an override the library would call the real AWS Lambda: refuse up front instead.
      if (!kind) throw new InvalidDefinition(`state ${name}: no local stand-in for Resource ${String(state.Resource)}`);
      if (state.TimeoutSecondsPath !== undefined || state.HeartbeatSecondsPath !== undefined) {
        throw new InvalidDefinition(`state ${name}: TimeoutSecondsPath/HeartbeatSecondsPath are not supported locally`);
      }
      const params = state.Parameters;
      const fn =
        typeof params === 'object' && params !== null ? (params as Record<string, unknown>).FunctionName : undefined;
      if (typeof fn === 'string' && !Object.hasOwn(this.handlers, fn)) {
        throw new MissingHandler(`state ${name} invokes ${fn}, which has no handler`);
      }
      // The library's rule (`TimeoutSeconds || 60`), so our timer and its timer agree.
      const timeoutMs = (state.TimeoutSeconds || LIBRARY_DEFAULT_TASK_TIMEOUT_SECONDS) * 1000;
      const plan: TaskPlan = { state: name, kind, timeoutMs };
      if (state.HeartbeatSeconds !== undefined) plan.heartbeatMs = state.HeartbeatSeconds * 1000;
      plans.push(plan);
    });
    return plans;
  }

  private localHandlersFor(record: ExecutionRecord): LocalHandlers {
    const handlers: LocalHandlers = {};
    for (const plan of this.plans) {
      handlers[plan.state] = plan.kind === 'invoke' ? this.invokeTask(record) : this.callbackTask(record, plan);
    }
    return handlers;
  }

  /** lambda:invoke: the result is `{ Payload, StatusCode }`, as the real integration returns. */
  private invokeTask(record: ExecutionRecord): LocalHandler {
    return async (params) => {
      const live = record.live;
      if (!live || live.stopping) throw new ExecutionStopping('the execution is stopping');
      live.armedToken = undefined; // a token read outside a callback state is never issued
      const payload = await this.invoke(params);
      return { Payload: payload, StatusCode: 200 };
    };
  }

  /** lambda:invoke.waitForTaskToken: invoke, then wait for the token (its output is the result). */
  private callbackTask(record: ExecutionRecord, plan: TaskPlan): LocalHandler {
    return async (params) => {
      const live = record.live;
      if (!live || live.stopping) throw new ExecutionStopping('the execution is stopping');
      const token = live.armedToken ?? this.mintToken();
      live.armedToken = undefined;
      // Everything up to the first await runs before the library arms its own TimeoutSeconds timer
      // for this attempt, so ours (same duration) fires first and the token is refused no later than
      // the library gives up on it.
      const task = this.issueTask(record, live, plan, token);
      try {
        await this.invoke(params);
      } catch (err) {
        // The invocation failed before anyone answered the token: the task fails with its error.
        if (this.closeTask(task, 'failed', true)) throw err;
      }
      return task.promise;
    };
  }

  private async invoke(params: JsonValue): Promise<JsonValue> {
    const p = typeof params === 'object' && params !== null && !Array.isArray(params) ? params : {};
    const fn = p.FunctionName;
    const handler = typeof fn === 'string' && Object.hasOwn(this.handlers, fn) ? this.handlers[fn] : undefined;
    if (!handler) {
      throw new TaskError('Lambda.ResourceNotFoundException', `Function not found: ${String(fn)}`);
    }
    const call = (async () => handler(p.Payload ?? {}))();
    this.inflight.add(call);
    try {
      return toJson(await call);
    } catch (err) {
      // The Lambda integration reports the function's errorType as the state error and a JSON
      // Cause, as AWS does; Retry/Catch match on the error's `name` (TransientError, ...).
      const name = err instanceof Error && err.name ? err.name : 'Error';
      throw new TaskError(name, JSON.stringify({ errorType: name, errorMessage: errorMessage(err) }));
    } finally {
      this.inflight.delete(call);
    }
  }

  // ---- task tokens ----

  private mintToken(): string {
    return randomBytes(48).toString('base64url');
  }

  private armToken(live: LiveRun): string {
    live.armedToken ??= this.mintToken();
    return live.armedToken;
  }

  private issueTask(record: ExecutionRecord, live: LiveRun, plan: TaskPlan, token: string): LiveTask {
    let resolve: (value: JsonValue) => void = noop;
    let reject: (error: Error) => void = noop;
    const promise = new Promise<JsonValue>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A failure can arrive while the handler is still running, before anyone awaits this promise.
    promise.catch(noop);
    const task: LiveTask = {
      token,
      tokenHash: hashToken(token),
      state: plan.state,
      record,
      deadline: performance.now() + plan.timeoutMs,
      closed: false,
      resolve,
      reject,
      promise,
    };
    if (plan.heartbeatMs !== undefined) task.heartbeatMs = plan.heartbeatMs;
    task.timeoutTimer = setTimeout(() => {
      // Refuse the token from now on. The library's own timer raises the real States.Timeout (which,
      // unlike any error we could build, is excluded from States.TaskFailed, as on AWS); the
      // backstop only matters if that timer ever did not fire.
      if (!this.closeTask(task, 'timed_out', true)) return;
      task.backstopTimer = setTimeout(() => reject(new TaskError('States.Timeout', 'Task timed out')), 1_000);
      task.backstopTimer.unref();
    }, plan.timeoutMs);
    if (task.heartbeatMs !== undefined) this.armHeartbeat(task, task.heartbeatMs);
    this.tasks.set(token, task);
    live.tasks.add(task);
    record.waiting = { tokenHash: task.tokenHash, state: plan.state };
    const at = Date.now();
    this.journal.append({
      type: 'task-token-issued',
      executionId: record.executionId,
      state: plan.state,
      tokenHash: task.tokenHash,
      at: new Date(at).toISOString(),
    });
    record.extraEvents.push({ type: 'TaskTokenIssued', timestamp: at, state: plan.state });
    return task;
  }

  private armHeartbeat(task: LiveTask, ms: number): void {
    clearTimeout(task.heartbeatTimer);
    task.heartbeatTimer = setTimeout(() => {
      if (!this.closeTask(task, 'heartbeat_timed_out', true)) return;
      // AWS reports a missed heartbeat as States.Timeout (and States.HeartbeatTimeout, which the
      // library's exact-name matching cannot express): Catch on States.Timeout sees it.
      task.reject(new TaskError('States.Timeout', 'no heartbeat within HeartbeatSeconds'));
    }, ms);
  }

  /** Mark a task ended; false when it already was (first answer wins). */
  private closeTask(task: LiveTask, outcome: TaskOutcome, journal: boolean): boolean {
    if (task.closed) return false;
    task.closed = true;
    clearTimeout(task.timeoutTimer);
    clearTimeout(task.heartbeatTimer);
    this.tasks.delete(task.token);
    this.endedTokenHashes.add(task.tokenHash);
    const record = task.record;
    record.live?.tasks.delete(task);
    const at = Date.now();
    record.extraEvents.push({ type: 'TaskTokenClosed', timestamp: at, state: task.state, outcome });
    if (!journal) return true; // shutdown: the next instance must still see the token as outstanding
    if (record.waiting?.tokenHash === task.tokenHash) record.waiting = undefined;
    this.journal.append({
      type: 'task-token-closed',
      executionId: record.executionId,
      tokenHash: task.tokenHash,
      outcome,
      at: new Date(at).toISOString(),
    });
    return true;
  }

  /** The open task of a token, or the AWS error for a token that is unknown or whose task ended. */
  private openTask(token: string): LiveTask {
    const task = typeof token === 'string' ? this.tasks.get(token) : undefined;
    if (!task) {
      if (typeof token === 'string' && this.endedTokenHashes.has(hashToken(token))) {
        throw new TaskTimedOut('Task Timed Out: the task for this token has already ended');
      }
      throw new TaskDoesNotExist('Task does not exist: unknown task token');
    }
    // The deadline decides, whichever timer the event loop runs first.
    if (performance.now() >= task.deadline) {
      this.closeTask(task, 'timed_out', true);
      throw new TaskTimedOut('Task Timed Out: the task exceeded its TimeoutSeconds');
    }
    return task;
  }

  // ---- state ----

  private load(): void {
    const prefix = this.executionIdFor('');
    const byId = new Map<string, ExecutionRecord>();
    for (const entry of this.journal.entries) {
      if (entry.type === 'started') {
        if (entry.stateMachine !== this.stateMachineName || this.executions.has(entry.name)) continue;
        const input = toJson(entry.input);
        const record: ExecutionRecord = {
          executionId: entry.executionId,
          name: entry.name,
          input,
          inputKey: canonical(input),
          startDate: entry.at,
          status: 'RUNNING',
          interrupted: true,
          events: [],
          extraEvents: [],
          ended: Promise.resolve(),
          markEnded: noop,
        };
        byId.set(entry.executionId, record);
        this.executions.set(entry.name, record);
        continue;
      }
      if (!entry.executionId.startsWith(prefix)) continue;
      const record = byId.get(entry.executionId);
      switch (entry.type) {
        case 'task-token-issued':
          this.endedTokenHashes.add(entry.tokenHash);
          if (record) record.waiting = { tokenHash: entry.tokenHash, state: entry.state };
          break;
        case 'task-token-closed':
          if (record?.waiting?.tokenHash === entry.tokenHash) record.waiting = undefined;
          break;
        case 'ended':
          if (!record) break;
          record.status = entry.status;
          record.stopDate = entry.at;
          record.output = entry.output;
          record.error = entry.error;
          record.cause = entry.cause;
          record.interrupted = false;
          record.waiting = undefined;
          break;
        case 'interrupted':
          break;
      }
    }
    // An interrupted execution can still end (markAborted): give waitForEnd something to wait on.
    for (const record of byId.values()) {
      if (record.status !== 'RUNNING') continue;
      const { promise, resolve } = newDeferred();
      record.ended = promise;
      record.markEnded = resolve;
    }
  }

  private recordById(executionId: string): ExecutionRecord | undefined {
    const prefix = this.executionIdFor('');
    if (!executionId.startsWith(prefix)) return undefined;
    const record = this.executions.get(executionId.slice(prefix.length));
    return record?.executionId === executionId ? record : undefined;
  }

  private describeRecord(r: ExecutionRecord): ExecutionDescription {
    const d: ExecutionDescription = {
      executionId: r.executionId,
      name: r.name,
      status: r.status,
      input: r.input,
      startDate: r.startDate,
    };
    if (r.stopDate !== undefined) d.stopDate = r.stopDate;
    if (r.output !== undefined) d.output = r.output;
    if (r.error !== undefined) d.error = r.error;
    if (r.cause !== undefined) d.cause = r.cause;
    if (r.interrupted && r.status === 'RUNNING') d.interrupted = true;
    return d;
  }

  private assertOpen(): void {
    if (this.closed) throw new LocalStepFunctionsClosed('this LocalStepFunctions is closed');
  }
}
