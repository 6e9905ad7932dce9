// What every agent handler shares: the logger contract and the task/API dispatch.
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { callerFromApi, callerFromTask, type TaskIdentityConfig } from './caller-identity.js';
import {
  type AccessDeps,
  type Caller,
  enforce,
  isCallerProblem,
  type ResolvedCaller,
  refuseIfNeverAllowed,
} from './core/access.js';
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

/** What an agent needs to be an enforcement point. */
export interface AgentAccess {
  deps: AccessDeps;
  task: TaskIdentityConfig;
}

/** The policy action of an API route, and how its context is found. */
export interface RouteAccess {
  action: string;
  /** The policy context, from the path or query (known before the route runs). */
  context?: (event: APIGatewayProxyEvent) => Record<string, unknown>;
  /** The order (and trader) a refusal is indexed under in the audit trail, when the path names one. */
  subject?: (event: APIGatewayProxyEvent) => { order_id?: string; trader_id?: string };
  /**
   * The context needs a read (e.g. the order's account): the route must call `authorize` before it
   * acts. A deferred route that answers without having called it is refused (fail closed).
   */
  deferred?: true;
  /**
   * For a deferred route: the most permissive context it could be authorised with. Before a route
   * that has not authorised writes anything (an invalid order's record), it calls `probe`: a
   * caller the policies refuse even this context is refused (and audited) instead.
   */
  probe?: (caller: Caller) => Record<string, unknown>;
}

export interface ApiCall {
  event: APIGatewayProxyEvent;
  caller: Caller;
  /** For deferred routes: authorise the route's action with the context it found. */
  authorize(context: Record<string, unknown>, subject?: { order_id?: string; trader_id?: string }): Promise<void>;
  /** The route's probe (RouteAccess.probe): refuses a caller who could never be authorised. */
  probe(): Promise<void>;
}

export interface TaskCall {
  payload: TaskPayload;
  caller: Caller;
}

export interface TaskSpec {
  /** The policy action (policies/schema.cedarschema). */
  action: string;
  /**
   * The use case authorises itself, because the policy context needs a store read first
   * (execute_trade: the risk approval). The caller is still identified before it runs.
   */
  deferred?: true;
  run(call: TaskCall): Promise<unknown>;
}

export interface AgentApi {
  routes: Readonly<Record<string, RouteAccess>>;
  handle(call: ApiCall): Promise<APIGatewayProxyResult>;
}

/** A deferred route answered without authorising: a programming error, refused rather than served. */
export class RouteNotAuthorised extends Error {
  override readonly name = 'RouteNotAuthorised';
}

const orderIdOf = (payload: TaskPayload): string | undefined => {
  const id = (payload.order as { order_id?: unknown } | undefined)?.order_id;
  return typeof id === 'string' ? id : undefined;
};

/**
 * One Lambda per agent serves both its API routes and its state machine tasks, and is the
 * enforcement point for both: the caller is identified from the platform (certificate, lifecycle,
 * schedule) and authorised against the policies before anything runs. Task errors are thrown (the
 * state machine retries or catches them by name); API errors become JSON responses.
 */
export function agentHandler(
  logger: AgentLogger,
  access: AgentAccess,
  api: AgentApi | undefined,
  tasks: Readonly<Record<string, TaskSpec>>,
): AgentHandler {
  return async (event: unknown) => {
    if (isApiEvent(event)) {
      const requestId = event.requestContext.requestId;
      try {
        return await serveApi(logger, access, api, event);
      } catch (err) {
        return errorResponse(err, logger, requestId);
      } finally {
        logger.resetKeys?.();
      }
    }
    const payload = event as TaskPayload;
    const task =
      typeof payload?.action === 'string' && Object.hasOwn(tasks, payload.action) ? tasks[payload.action] : undefined;
    if (!task) throw new UnknownActionError(`unknown action ${JSON.stringify(payload?.action)}`);
    const orderId = orderIdOf(payload);
    logger.appendKeys?.({ order_id: orderId, action: payload.action });
    try {
      const resolved = callerFromTask(payload, access.task);
      const caller = task.deferred
        ? await identified(access.deps, resolved, task.action, orderId)
        : await enforce(access.deps, resolved, { action: task.action, ...(orderId ? { order_id: orderId } : {}) });
      return await task.run({ payload, caller });
    } catch (err) {
      logger.warn('task failed', { error: err });
      throw err;
    } finally {
      logger.resetKeys?.();
    }
  };
}

/** Refuses (and records) a caller the platform could not identify; the policy decision comes later. */
async function identified(
  deps: AccessDeps,
  resolved: ResolvedCaller,
  action: string,
  orderId: string | undefined,
): Promise<Caller> {
  if (!isCallerProblem(resolved)) return resolved;
  return enforce(deps, resolved, { action, ...(orderId ? { order_id: orderId } : {}) });
}

async function serveApi(
  logger: AgentLogger,
  access: AgentAccess,
  api: AgentApi | undefined,
  event: APIGatewayProxyEvent,
): Promise<APIGatewayProxyResult> {
  const resolved = callerFromApi(event);
  const key = routeKey(event);
  const route = api && Object.hasOwn(api.routes, key) ? api.routes[key] : undefined;
  // Who is calling is settled before anything else, including whether the route exists.
  const caller = await identified(access.deps, resolved, route?.action ?? 'unknown_route', undefined);
  if (!api || !route) throw new NotFoundError(api ? `no route ${key}` : 'this agent has no API');
  let authorised = false;
  const authorize = async (
    context: Record<string, unknown>,
    subject: { order_id?: string; trader_id?: string } = {},
  ): Promise<void> => {
    // Every later log line of the request carries the order it is about.
    if (subject.order_id !== undefined) logger.appendKeys?.({ order_id: subject.order_id });
    await enforce(access.deps, caller, { action: route.action, context, ...subject });
    authorised = true;
  };
  if (!route.deferred) await authorize(route.context?.(event) ?? {}, route.subject?.(event));
  const probe = async (): Promise<void> => {
    if (route.probe)
      await refuseIfNeverAllowed(access.deps, caller, { action: route.action, context: route.probe(caller) });
  };
  const response = await api.handle({ event, caller, authorize, probe });
  if (!authorised && response.statusCode < 400) throw new RouteNotAuthorised(`${key} answered without authorising`);
  return response;
}

export function routeKey(event: APIGatewayProxyEvent): string {
  return `${event.httpMethod} ${event.resource}`;
}

/** The part of Powertools' Tracer the entry uses (the Lambda's X-Ray segment is active tracing's). */
export interface EntryTracer {
  getSegment(): { addNewSubsegment(name: string): EntrySubsegment } | undefined;
  setSegment(segment: unknown): void;
  annotateColdStart(): void;
  addServiceNameAnnotation(): void;
  putAnnotation(key: string, value: string): void;
  addErrorAsMetadata(error: Error): void;
}
interface EntrySubsegment {
  close(): void;
}

export interface EntryOptions {
  logger: { addContext(context: Context): void };
  tracer?: EntryTracer;
  /**
   * Work the invocation started in the background (a checkpoint being signed) that must finish
   * before the handler returns: Lambda freezes the environment once it has answered.
   */
  settle?: () => Promise<void>;
}

/**
 * The Lambda entry around an agent handler: every log line carries the invocation's context
 * (request id, function, cold start) next to the order_id the handler adds, and the invocation is
 * a traced subsegment annotated with the order (X-Ray search by order_id) and its action.
 */
export function lambdaEntry(
  handler: AgentHandler,
  options: EntryOptions,
): (event: unknown, context: Context) => Promise<unknown> {
  const { logger, tracer, settle } = options;
  return async (event, context) => {
    logger.addContext(context);
    const parent = tracer?.getSegment();
    const segment = parent?.addNewSubsegment(`## ${context.functionName}`);
    if (tracer && segment) {
      tracer.setSegment(segment);
      tracer.annotateColdStart();
      tracer.addServiceNameAnnotation();
      const task = event as { action?: unknown; order?: { order_id?: unknown } } | null;
      if (typeof task?.action === 'string') tracer.putAnnotation('action', task.action);
      if (typeof task?.order?.order_id === 'string') tracer.putAnnotation('order_id', task.order.order_id);
    }
    try {
      return await handler(event);
    } catch (err) {
      if (tracer && segment && err instanceof Error) tracer.addErrorAsMetadata(err);
      throw err;
    } finally {
      await settle?.().catch(() => undefined); // its own failures are counted and logged where they happen
      if (tracer && segment) {
        segment.close();
        tracer.setSegment(parent);
      }
    }
  };
}
