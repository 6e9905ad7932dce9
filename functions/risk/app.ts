// risk: check_risk, a state machine task; and the risk officers' API (limits under maker-checker,
// the kill switch, restricted and prohibited lists, locates, halts, manual reference prices).
import {
  type AgentAccess,
  type AgentHandler,
  type AgentLogger,
  agentHandler,
  type RouteAccess,
  routeKey,
} from '../agent-runtime.js';
import { roleOf } from '../caller-identity.js';
import { type FieldError, NotFoundError, ValidationError } from '../core/errors.js';
import type { LimitChangeStatus, LimitValues } from '../core/model.js';
import { validateOrder } from '../core/order.js';
import {
  addRestriction,
  decideLimitChange,
  getHalt,
  getLimits,
  getTradingState,
  liftHalt,
  liftRestriction,
  listLimitChanges,
  listLocates,
  listRestrictions,
  type RiskAdminDeps,
  type RiskCaller,
  recordLocate,
  refuseRequest,
  requestLimitChange,
  setHalt,
  setReferencePrice,
  setTradingState,
  sweepExpiredLimits,
} from '../core/risk-admin.js';
import { checkRisk, type RiskCheckDeps } from '../core/risk-check.js';
import { json, objectBody, pathParam, queryOf } from '../http.js';

export interface RiskAgentDeps {
  /** The pre-trade gate (the state machine's check_risk task). */
  check: RiskCheckDeps;
  /** The risk officers' controls (the API). */
  admin: RiskAdminDeps;
}

const LIMIT_CHANGE_STATUSES: readonly LimitChangeStatus[] = ['PENDING', 'APPROVED', 'REJECTED'];

/** Every route of the risk officers' API: reads are read_risk_controls, the rest change_risk_controls. */
const RISK_ROUTES = [
  'GET /risk/limits/{account_id}',
  'POST /risk/limit-changes',
  'GET /risk/limit-changes',
  'POST /risk/limit-changes/{change_id}/approve',
  'POST /risk/limit-changes/{change_id}/reject',
  'GET /risk/trading-state/{scope}',
  'PUT /risk/trading-state/{scope}',
  'GET /risk/restrictions/{symbol}',
  'POST /risk/restrictions',
  'POST /risk/restrictions/{symbol}/{restriction_id}/lift',
  'GET /risk/locates/{account_id}/{symbol}',
  'POST /risk/locates',
  'GET /risk/halts/{symbol}',
  'PUT /risk/halts/{symbol}',
  'DELETE /risk/halts/{symbol}',
  'PUT /risk/prices/{symbol}',
] as const;

export const RISK_ROUTE_ACCESS: Readonly<Record<string, RouteAccess>> = Object.freeze(
  Object.fromEntries(
    RISK_ROUTES.map((key) => [
      key,
      { action: key.startsWith('GET ') ? 'read_risk_controls' : 'change_risk_controls' } satisfies RouteAccess,
    ]),
  ),
);

export function createRiskHandler(deps: RiskAgentDeps, logger: AgentLogger, access: AgentAccess): AgentHandler {
  const admin = deps.admin;
  return agentHandler(
    logger,
    access,
    {
      routes: RISK_ROUTE_ACCESS,
      async handle({ event, caller: who }) {
        const caller: RiskCaller = { id: who.principal.id, role: roleOf(who) };
        const key = routeKey(event);
        /** The body, every field not in `allowed` (or of the wrong type) refused, audited. */
        const body = async (
          kind: 'limit_change' | 'other',
          action: string,
          allowed: Record<string, 'string' | 'object' | 'number|string'>,
          path: Record<string, string> = {},
        ): Promise<Record<string, unknown>> => {
          let b: Record<string, unknown>;
          try {
            b = objectBody(event);
          } catch (err) {
            // Malformed JSON or not an object: refused like any other bad input, and audited.
            if (!(err instanceof ValidationError)) throw err;
            return refuseRequest(
              admin,
              caller,
              kind,
              { action, ...path, body: event.body?.slice(0, 2000) ?? null },
              err.errors,
            );
          }
          const errors: FieldError[] = [];
          for (const [k, v] of Object.entries(b)) {
            const type = allowed[k];
            if (type === undefined || !Object.hasOwn(allowed, k)) {
              errors.push({ field: k, rule: 'unknown_field', message: `unknown field ${JSON.stringify(k)}` });
            } else if (type === 'string' && typeof v !== 'string') {
              errors.push({ field: k, rule: 'type', message: `${k} must be a string` });
            } else if (type === 'object' && (typeof v !== 'object' || v === null || Array.isArray(v))) {
              errors.push({ field: k, rule: 'type', message: `${k} must be an object` });
            } else if (type === 'number|string' && typeof v !== 'number' && typeof v !== 'string') {
              errors.push({ field: k, rule: 'type', message: `${k} must be a number or a string` });
            }
          }
          if (errors.length > 0) await refuseRequest(admin, caller, kind, { action, ...path, body: b }, errors);
          return b;
        };
        const str = (v: unknown): string => v as string;
        const opt = (v: unknown): string | undefined => (v === undefined ? undefined : (v as string));

        switch (key) {
          case 'GET /risk/limits/{account_id}':
            return json(200, await getLimits(admin, caller, pathParam(event, 'account_id')));

          case 'POST /risk/limit-changes': {
            const b = await body('limit_change', 'request', {
              account_id: 'string',
              values: 'object',
              reason: 'string',
              until: 'string',
            });
            const until = opt(b.until);
            const change = await requestLimitChange(admin, caller, {
              account_id: str(b.account_id),
              values: (b.values ?? {}) as LimitValues,
              reason: str(b.reason),
              ...(until === undefined ? {} : { until }),
            });
            return json(201, change);
          }

          case 'GET /risk/limit-changes': {
            const q = queryOf(event);
            const status = (q.status ?? 'PENDING') as LimitChangeStatus;
            const limit = q.limit === undefined ? 50 : Number(q.limit);
            const errors: FieldError[] = [];
            if (!LIMIT_CHANGE_STATUSES.includes(status)) {
              errors.push({
                field: 'status',
                rule: 'enum',
                message: `status must be one of ${LIMIT_CHANGE_STATUSES.join(', ')}`,
              });
            }
            if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
              errors.push({ field: 'limit', rule: 'range', message: 'limit must be a whole number from 1 to 500' });
            }
            if (errors.length > 0) throw new ValidationError(errors);
            const page = await listLimitChanges(admin, caller, status, limit, q.next_token);
            return json(200, { changes: page.items, ...(page.nextToken ? { next_token: page.nextToken } : {}) });
          }

          case 'POST /risk/limit-changes/{change_id}/approve':
          case 'POST /risk/limit-changes/{change_id}/reject': {
            const verdict = key.endsWith('/approve') ? 'approve' : 'reject';
            const changeId = pathParam(event, 'change_id');
            const b = await body('limit_change', verdict, { reason: 'string' }, { change_id: changeId });
            return json(200, await decideLimitChange(admin, caller, changeId, verdict, opt(b.reason)));
          }

          case 'GET /risk/trading-state/{scope}':
            return json(200, await getTradingState(admin, caller, pathParam(event, 'scope')));

          case 'PUT /risk/trading-state/{scope}': {
            const scope = pathParam(event, 'scope');
            const b = await body('other', 'set_trading_state', { state: 'string', reason: 'string' }, { scope });
            return json(
              200,
              await setTradingState(admin, caller, { scope, state: str(b.state), reason: str(b.reason) }),
            );
          }

          case 'GET /risk/restrictions/{symbol}': {
            const symbol = pathParam(event, 'symbol');
            return json(200, { symbol, restrictions: await listRestrictions(admin, caller, symbol) });
          }

          case 'POST /risk/restrictions': {
            const b = await body('other', 'add_restriction', {
              symbol: 'string',
              scope: 'string',
              list: 'string',
              reason: 'string',
              effective_from: 'string',
              effective_until: 'string',
            });
            const from = opt(b.effective_from);
            const until = opt(b.effective_until);
            const restriction = await addRestriction(admin, caller, {
              symbol: str(b.symbol),
              // Firm-wide unless an account is named: the broader list is the safer default.
              scope: opt(b.scope) ?? 'FIRM',
              list: str(b.list),
              reason: str(b.reason),
              ...(from === undefined ? {} : { effective_from: from }),
              ...(until === undefined ? {} : { effective_until: until }),
            });
            return json(201, restriction);
          }

          case 'POST /risk/restrictions/{symbol}/{restriction_id}/lift': {
            const symbol = pathParam(event, 'symbol');
            const restrictionId = pathParam(event, 'restriction_id');
            const b = await body(
              'other',
              'lift_restriction',
              { reason: 'string' },
              { symbol, restriction_id: restrictionId },
            );
            return json(
              200,
              await liftRestriction(admin, caller, { symbol, restriction_id: restrictionId, reason: str(b.reason) }),
            );
          }

          case 'GET /risk/locates/{account_id}/{symbol}': {
            const accountId = pathParam(event, 'account_id');
            const symbol = pathParam(event, 'symbol');
            return json(200, {
              account_id: accountId,
              symbol,
              locates: await listLocates(admin, caller, accountId, symbol),
            });
          }

          case 'POST /risk/locates': {
            const b = await body('other', 'record_locate', {
              account_id: 'string',
              symbol: 'string',
              quantity: 'number|string',
              source: 'string',
              expires_at: 'string',
            });
            const expires = opt(b.expires_at);
            const locate = await recordLocate(admin, caller, {
              account_id: str(b.account_id),
              symbol: str(b.symbol),
              quantity: b.quantity as number | string,
              source: str(b.source),
              ...(expires === undefined ? {} : { expires_at: expires }),
            });
            return json(201, locate);
          }

          case 'GET /risk/halts/{symbol}': {
            const symbol = pathParam(event, 'symbol');
            const halt = await getHalt(admin, caller, symbol);
            if (!halt) throw new NotFoundError(`${symbol} is not halted`);
            return json(200, halt);
          }

          case 'PUT /risk/halts/{symbol}': {
            const symbol = pathParam(event, 'symbol');
            const b = await body(
              'other',
              'set_halt',
              { kind: 'string', reason: 'string', until: 'string' },
              { symbol },
            );
            const kind = opt(b.kind);
            const until = opt(b.until);
            const halt = await setHalt(admin, caller, {
              symbol,
              reason: str(b.reason),
              ...(kind === undefined ? {} : { kind }),
              ...(until === undefined ? {} : { until }),
            });
            return json(200, halt);
          }

          case 'DELETE /risk/halts/{symbol}': {
            const symbol = pathParam(event, 'symbol');
            const b = await body('other', 'lift_halt', { reason: 'string' }, { symbol });
            return json(200, await liftHalt(admin, caller, { symbol, reason: str(b.reason) }));
          }

          case 'PUT /risk/prices/{symbol}': {
            const symbol = pathParam(event, 'symbol');
            const b = await body('other', 'set_reference_price', { price: 'number|string' }, { symbol });
            return json(200, await setReferencePrice(admin, caller, { symbol, price: b.price as string | number }));
          }

          default:
            throw new NotFoundError(`no route ${key}`);
        }
      },
    },
    {
      check_risk: {
        action: 'check_risk',
        run: async ({ payload: p }) => {
          const result = await checkRisk(deps.check, validateOrder(p.order));
          logger.info('risk decision', {
            check_id: result.check_id,
            decision: result.decision,
            reasons: result.reasons,
          });
          return result;
        },
      },
      // The schedule's task: temporary limit changes whose time has come are recorded as ended.
      expire_temporary_limits: {
        action: 'expire_temporary_limits',
        run: async () => {
          const swept = await sweepExpiredLimits(admin);
          if (swept.expired > 0) logger.info('temporary limit changes ended', swept);
          return swept;
        },
      },
    },
  );
}
