// Errors the adapters raise, and the classification of SDK failures. No SDK imports here: handlers
// and local stand-ins import these classes too, so they must not pull the AWS SDK in.
import { TransientError } from '../core/errors.js';

// One class for the whole platform: the state machine retries on the name 'TransientError'.
export { TransientError };

/**
 * A task token was refused by Step Functions. The subclasses carry the SDK's own error names
 * (TaskTimedOut, TaskDoesNotExist, InvalidToken), so code matching on `name` behaves the same
 * against AWS and against a local stand-in that mimics the SDK.
 */
export abstract class TaskTokenError extends Error {
  abstract override readonly name: 'TaskTimedOut' | 'TaskDoesNotExist' | 'InvalidToken';
}

/** The task already timed out (the approval window closed before the checker answered). */
export class TaskTimedOut extends TaskTokenError {
  override readonly name = 'TaskTimedOut';
}

/** The execution or the task behind the token is gone (already answered or finished). */
export class TaskDoesNotExist extends TaskTokenError {
  override readonly name = 'TaskDoesNotExist';
}

/** The token is malformed or not one Step Functions issued. */
export class InvalidToken extends TaskTokenError {
  override readonly name = 'InvalidToken';
}

const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'InternalServerError',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'TransactionInProgressException',
]);

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** Throttling, 5xx and network failures: worth another attempt later. */
export function isRetryable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as SdkErrorShape;
  if (typeof e.name === 'string' && RETRYABLE_NAMES.has(e.name)) return true;
  if (typeof e.code === 'string' && RETRYABLE_CODES.has(e.code)) return true;
  if (e.$retryable) return true;
  if (e.$fault === 'server') return true;
  const status = e.$metadata?.httpStatusCode;
  return typeof status === 'number' && (status >= 500 || status === 429);
}

export function errorName(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const name = (err as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

export function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const status = (err as SdkErrorShape).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Runs one SDK call (the SDK has already done its own retries by the time it throws) and turns a
 * retryable failure into TransientError, so the state machine's Retry applies; other errors pass.
 */
export async function callAws<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof TransientError || !isRetryable(err)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new TransientError(`${what}: ${errorName(err) ?? 'error'}: ${message}`, { cause: err });
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with full jitter (attempt 0 -> up to base ms). */
export function backoffMs(attempt: number, baseMs = 25, capMs = 2_000): number {
  return Math.round(Math.random() * Math.min(capMs, baseMs * 2 ** attempt));
}
