// A row of the decision tables (test/policy-decisions.json, test/policy-decisions-people.json) as
// the request the enforcement point builds for it: one definition for every test that runs them.
import { type AuthorizationRequest, type EntityRef, spiffeToEntity } from '../../functions/core/policy-engine.js';

/** A schedule is named by its rule ARN (functions/caller-identity.ts). */
export const isScheduleRule = (id: string): boolean => id.startsWith('arn:aws:events:');

/** A table identity as a Cedar entity: a schedule by its rule ARN, a SPIFFE id as the engine maps it. */
export const entityOf = (id: string): EntityRef => (isScheduleRule(id) ? { type: 'Schedule', id } : spiffeToEntity(id));

type Contexts = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** A row of the seed's table (caller x callee x action x context), by the table's names. */
export function seedRowRequest(
  row: { caller: string; callee: string; action: string; context: string },
  table: { identities: Readonly<Record<string, string>>; contexts: Contexts },
): AuthorizationRequest {
  const caller = table.identities[row.caller];
  const callee = table.identities[row.callee];
  const context = table.contexts[row.context];
  if (caller === undefined || callee === undefined || context === undefined) {
    throw new Error(`unknown name in row ${JSON.stringify(row)}`);
  }
  return { principal: entityOf(caller), action: row.action, resource: entityOf(callee), context: { ...context } };
}

export interface TablePrincipal {
  type: string;
  id: string;
  /** A trader's entitlements as the store holds them. */
  accounts?: readonly string[];
}

/**
 * A row of the people's table. As the enforcement point builds it: an account is answered
 * `account_entitled` from the principal's entitlements (false for anyone but a trader), the
 * order's trader is an entity.
 */
export function peopleRowRequest(
  row: { principal: string; resource: string; action: string; context: string },
  table: { principals: Readonly<Record<string, TablePrincipal>>; contexts: Contexts },
): AuthorizationRequest {
  const principal = table.principals[row.principal];
  const context = table.contexts[row.context];
  if (principal === undefined || context === undefined) throw new Error(`unknown name in row ${JSON.stringify(row)}`);
  const { trader_id: traderId, ...rest } = context;
  const cedarContext: Record<string, unknown> = { ...rest };
  if (typeof context.account_id === 'string') {
    cedarContext.account_entitled = (principal.accounts ?? []).includes(context.account_id);
  }
  if (typeof traderId === 'string') cedarContext.order_trader = { __entity: { type: 'Trading::Trader', id: traderId } };
  return {
    principal: { type: principal.type, id: principal.id },
    action: row.action,
    resource: { type: 'Agent', id: row.resource },
    context: cedarContext,
  };
}
