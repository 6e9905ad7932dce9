// What every agent handler shares: the logger contract and the task/API dispatch.
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { NotFoundError } from './core/errors.js';
import { errorResponse, isApiEvent, UnknownActionError } from './http.js';

export interface AgentLogger {
  info(message: string, ...extra: unknown[]): void;
  warn(message: string, ...extra: unknown[]): void;
  error(message: string, ...extra: unknown[]): void;
  appendKeys?(keys: Record<string, unknown>): void;
  resetKeys?(): void;
}

export type TaskPayload = { action: string } & Record<string, unknown>;
export type AgentHandler = (event: unknown) => Promise<unknown>;

/**
 * One Lambda per agent serves both its API routes and its state machine tasks. Task errors are
 * thrown (the state machine retries or catches them by name); API errors become JSON responses.
 */
export function agentHandler(
  logger: AgentLogger,
  api: ((event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>) | undefined,
  tasks: Record<string, (payload: TaskPayload) => Promise<unknown>>,
): AgentHandler {
  return async (event: unknown) => {
    if (isApiEvent(event)) {
      if (!api) return errorResponse(new NotFoundError('this agent has no API'), logger);
      try {
        return await api(event);
      } catch (err) {
        return errorResponse(err, logger, event.requestContext.requestId);
      }
    }
    const payload = event as TaskPayload;
    const task = typeof payload?.action === 'string' ? tasks[payload.action] : undefined;
    if (!task) throw new UnknownActionError(`unknown action ${JSON.stringify(payload?.action)}`);
    const order = payload.order as { order_id?: string } | undefined;
    logger.appendKeys?.({ order_id: order?.order_id, action: payload.action });
    try {
      return await task(payload);
    } catch (err) {
      logger.warn('task failed', { error: err });
      throw err;
    } finally {
      logger.resetKeys?.();
    }
  };
}

export function routeKey(event: APIGatewayProxyEvent): string {
  return `${event.httpMethod} ${event.resource}`;
}

/**
 * The Lambda entry around an agent handler: every log line carries the invocation's context
 * (request id, function, cold start) next to the order_id the handler adds.
 */
export function lambdaEntry(
  handler: AgentHandler,
  logger: { addContext(context: Context): void },
  /**
   * Work the invocation started in the background (a checkpoint being signed) that must finish
   * before the handler returns: Lambda freezes the environment once it has answered.
   */
  settle?: () => Promise<void>,
): (event: unknown, context: Context) => Promise<unknown> {
  return async (event, context) => {
    logger.addContext(context);
    try {
      return await handler(event);
    } finally {
      await settle?.().catch(() => undefined); // its own failures are counted and logged where they happen
    }
  };
}
