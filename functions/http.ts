// API Gateway proxy mapping shared by the handlers: JSON responses, error mapping, parameters.
// Who is calling is caller-identity.ts's business.
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { ConflictError, ForbiddenError, NotFoundError, UnauthenticatedError, ValidationError } from './core/errors.js';

export function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

export interface ErrorLogger {
  error(message: string, ...extra: unknown[]): void;
}

/** Known domain errors become 4xx with a body that says which rule; anything else is a 500. */
export function errorResponse(err: unknown, logger: ErrorLogger, requestId?: string): APIGatewayProxyResult {
  if (err instanceof ValidationError)
    return json(400, { error: 'ValidationError', message: err.message, errors: err.errors });
  if (err instanceof NotFoundError) return json(404, { error: 'NotFound', message: err.message });
  if (err instanceof ConflictError) return json(409, { error: 'Conflict', code: err.code, message: err.message });
  if (err instanceof ForbiddenError) return json(403, { error: 'Forbidden', code: err.code, message: err.message });
  if (err instanceof UnauthenticatedError) return json(401, { error: 'Unauthenticated', message: err.message });
  logger.error('unhandled error', { error: err, requestId });
  return json(500, { error: 'InternalError', message: 'the request could not be completed', request_id: requestId });
}

export function isApiEvent(event: unknown): event is APIGatewayProxyEvent {
  return typeof event === 'object' && event !== null && 'httpMethod' in event && 'requestContext' in event;
}

export function queryOf(event: APIGatewayProxyEvent): Record<string, string | undefined> {
  return { ...(event.queryStringParameters ?? {}) };
}

export function pathParam(event: APIGatewayProxyEvent, name: string): string {
  const v = event.pathParameters?.[name];
  if (!v) throw new ValidationError([{ field: name, rule: 'required', message: `${name} is required in the path` }]);
  const decoded = decodeOrUndefined(v);
  if (decoded === undefined) {
    throw new ValidationError([{ field: name, rule: 'encoding', message: `${name} is not valid percent-encoding` }]);
  }
  return decoded;
}

/**
 * A path parameter for a policy context, read before the decision: never throws (a malformed or
 * missing value is passed as it is, or as "", and the policy decides on that), so even a
 * malformed request is decided, and a refusal recorded, before the route rejects its input.
 */
export function pathValue(event: APIGatewayProxyEvent, name: string): string {
  const v = event.pathParameters?.[name] ?? '';
  return decodeOrUndefined(v) ?? v;
}

function decodeOrUndefined(v: string): string | undefined {
  try {
    return decodeURIComponent(v);
  } catch {
    return undefined;
  }
}

/** Parses an optional JSON object body (approval decisions). */
export function objectBody(event: APIGatewayProxyEvent): Record<string, unknown> {
  if (!event.body || event.body.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(event.body);
  } catch (err) {
    throw new ValidationError([{ field: 'body', rule: 'json', message: `malformed JSON: ${(err as Error).message}` }]);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ValidationError([{ field: 'body', rule: 'type', message: 'the body must be a JSON object' }]);
  }
  return v as Record<string, unknown>;
}

export class UnknownActionError extends Error {
  override readonly name = 'UnknownActionError';
}
