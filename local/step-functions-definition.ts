// Loads an ASL file the way CDK does (DefinitionBody.fromFile + definitionSubstitutions) and reads
// from it what the local runner needs. Shared by local/step-functions.ts and the ASL unit test.

export const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
export const LAMBDA_INVOKE_CALLBACK = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/** aws-local-stepfunctions gives a Task without TimeoutSeconds this timeout (AWS: 99999999 s). */
export const LIBRARY_DEFAULT_TASK_TIMEOUT_SECONDS = 60;

// CloudFormation DefinitionSubstitutions keys: letters, digits, underscore.
const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

export class MissingSubstitution extends Error {
  override readonly name = 'MissingSubstitution';
  constructor(readonly missing: readonly string[]) {
    super(`no substitution for ${missing.map((m) => `\${${m}}`).join(', ')} in the state machine definition`);
  }
}

export class InvalidDefinition extends Error {
  override readonly name = 'InvalidDefinition';
}

export interface AslRetrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
}

export interface AslCatcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
}

export interface AslState {
  Type: string;
  Resource?: string;
  Parameters?: unknown;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  HeartbeatSeconds?: number;
  HeartbeatSecondsPath?: string;
  Retry?: AslRetrier[];
  Catch?: AslCatcher[];
  Next?: string;
  End?: boolean;
  Choices?: Array<{ Next: string; [field: string]: unknown }>;
  Default?: string;
  Branches?: AslMachine[];
  Iterator?: AslMachine;
  ItemProcessor?: AslMachine;
  [field: string]: unknown;
}

export interface AslMachine {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  [field: string]: unknown;
}

/** The distinct `${Name}` placeholders in an ASL text, in order of first use. */
export function placeholdersOf(text: string): string[] {
  return [...new Set(Array.from(text.matchAll(PLACEHOLDER), (m) => m[1] ?? ''))];
}

/**
 * Replace every `${Name}` by its value, as CloudFormation does for DefinitionSubstitutions. Values are
 * JSON-string-escaped so a quote in a value cannot break the document. Throws when a placeholder has
 * no value, or when a `${` is left that is not a well-formed placeholder.
 */
export function substitute(text: string, substitutions: Readonly<Record<string, string>>): string {
  const missing = placeholdersOf(text).filter((name) => !Object.hasOwn(substitutions, name));
  if (missing.length > 0) throw new MissingSubstitution(missing);
  const out = text.replace(PLACEHOLDER, (_match, name: string) => JSON.stringify(substitutions[name]).slice(1, -1));
  const stray = out.indexOf('${');
  if (stray >= 0) {
    throw new InvalidDefinition(`malformed placeholder near "${out.slice(stray, stray + 40)}"`);
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parse an ASL document far enough to walk it; the library's validator checks the rest. */
export function parseDefinition(text: string): AslMachine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidDefinition(`the state machine definition is not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(parsed) || typeof parsed.StartAt !== 'string' || !isRecord(parsed.States)) {
    throw new InvalidDefinition('the state machine definition needs StartAt and States');
  }
  for (const [name, state] of Object.entries(parsed.States)) {
    if (!isRecord(state) || typeof state.Type !== 'string') throw new InvalidDefinition(`state ${name} has no Type`);
  }
  return parsed as AslMachine;
}

/** Every state, nested Parallel branches and Map processors included. */
export function eachState(machine: AslMachine, visit: (name: string, state: AslState) => void): void {
  for (const [name, state] of Object.entries(machine.States)) {
    visit(name, state);
    for (const branch of state.Branches ?? []) eachState(branch, visit);
    if (state.Iterator) eachState(state.Iterator, visit);
    if (state.ItemProcessor) eachState(state.ItemProcessor, visit);
  }
}

export interface TaskOverrides {
  /** State name -> seconds (fractions allowed locally), replacing the state's TimeoutSeconds. */
  taskTimeoutSeconds?: Readonly<Record<string, number>>;
  /** State name -> seconds, replacing (or adding) the state's HeartbeatSeconds. */
  heartbeatSeconds?: Readonly<Record<string, number>>;
}

/** A copy of the definition with test-time timeouts applied; the file itself is never edited. */
export function applyTaskOverrides(machine: AslMachine, overrides: TaskOverrides): AslMachine {
  const copy = structuredClone(machine);
  const tasks = new Map<string, AslState>();
  eachState(copy, (name, state) => {
    if (state.Type === 'Task') tasks.set(name, state);
  });
  const apply = (
    what: string,
    field: 'TimeoutSeconds' | 'HeartbeatSeconds',
    values?: Readonly<Record<string, number>>,
  ) => {
    for (const [name, seconds] of Object.entries(values ?? {})) {
      const state = tasks.get(name);
      if (!state) throw new InvalidDefinition(`${what} override for ${name}: no Task state has that name`);
      if (!Number.isFinite(seconds) || seconds <= 0) {
        throw new InvalidDefinition(`${what} override for ${name} must be a positive number of seconds`);
      }
      state[field] = seconds;
    }
  };
  apply('taskTimeoutSeconds', 'TimeoutSeconds', overrides.taskTimeoutSeconds);
  apply('heartbeatSeconds', 'HeartbeatSeconds', overrides.heartbeatSeconds);
  return copy;
}
