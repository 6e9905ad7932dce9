// The risk officers' controls (SEC 15c3-5 "limits as data, changed under control"): limit changes
// under maker-checker, the kill switch, restricted and prohibited lists, locates, halts and manual
// reference prices. Every refused attempt (wrong role, self-approval, bad input, unknown account or
// symbol, a stale change) is audited before it is thrown, and changes nothing; every change is
// audited with who, when, why and the values before and after.
//
// Profile versions: an applied change writes `<account_id>/v<n+1>`, where n is the number at the
// end of the stored version (`ACC-001/v1`, or a loader's `default/v1`; none: 0). Versions only move
// forward, so a version never comes back and "the version is still the one the change was
// requested against" means "nothing was applied since". Removing expired temporary entries keeps
// the version: the limits in force do not change by it (effectiveProfile already ignores them), so
// housekeeping never makes a pending change stale.
import { randomUUID } from 'node:crypto';
import type { AuditSink, Clock, Page, ReferenceStore } from '../ports.js';
import { Decimal } from './decimal.js';
import { ConflictError, type FieldError, ForbiddenError, NotFoundError, ValidationError } from './errors.js';
import {
  ACCOUNT_LIMIT_FIELDS,
  type AuditEventType,
  FIRM_LIMIT_FIELDS,
  FIRM_SCOPE,
  type FirmRiskSettings,
  type HaltKind,
  type LimitChange,
  type LimitChangeStatus,
  type LimitValues,
  type Locate,
  type Restriction,
  type RestrictionList,
  type RiskProfile,
  type SecurityReference,
  SYMBOL_LIMIT_FIELDS,
  type TemporaryLimits,
  TRADING_MODES,
  type TradingHalt,
  type TradingMode,
  type TradingState,
} from './model.js';
import { applyLimitValues, effectiveProfile, limitValueAt } from './risk-limits.js';
import { formatNs, parseNs } from './time.js';

/** Roles (client certificate OU) that may act on the risk controls. */
export const RISK_OFFICER_ROLES: ReadonlySet<string> = new Set(['risk-officer', 'approver']);
/** Roles that may read them: the risk officers and the auditors. */
export const RISK_READER_ROLES: ReadonlySet<string> = new Set([...RISK_OFFICER_ROLES, 'auditor']);

/** An LULD pause lasts five minutes unless its end is given (the LULD plan's pause). */
export const LULD_PAUSE_SECONDS = 300;
/** Conditional writes lost to a concurrent writer are retried this many times. */
const WRITE_ATTEMPTS = 5;

export type RiskDataKind = 'limits' | 'trading_state' | 'restrictions' | 'locates' | 'halt' | 'security';

export interface RiskAdminDeps {
  store: ReferenceStore;
  audit: AuditSink;
  clock: Clock;
  /** The agent's identity: the actor of what no person did (a temporary change's expiry). */
  identity?: string;
  /** Told after every write, so a cache in this process can forget the item at once. */
  onChange?: (what: { kind: RiskDataKind; key: string }) => void;
}

/** Who is acting: the client certificate's CN and OU (or an IAM caller, without a role). */
export interface RiskCaller {
  id: string;
  role: string | undefined;
}

// ---- limit changes ----------------------------------------------------------------------------

export interface LimitChangeRequest {
  account_id: string;
  values: LimitValues;
  reason: string;
  /** RFC 3339 UTC, in the future: the change is temporary and reverts by itself then. */
  until?: string;
}

const MONEY_FIELDS: ReadonlySet<string> = new Set([
  'available_capital',
  'max_order_value',
  'max_position_value',
  'max_total_position_value',
  'approval_threshold',
]);
/** Fractions above 0, at most 1: the concentration limit and the firm's LIMIT collar. */
const FRACTION_FIELDS: ReadonlySet<string> = new Set(['max_concentration', 'price_collar']);
/** Whole numbers and their least value: 0 turns the duplicate check off, the others must be >= 1. */
const INTEGER_FIELDS: ReadonlyMap<string, number> = new Map([
  ['max_order_quantity', 1],
  ['max_orders_per_second', 1],
  ['duplicate_window_ms', 0],
  ['max_price_age_ms', 1],
]);

export async function requestLimitChange(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  request: LimitChangeRequest,
): Promise<LimitChange> {
  const input = { action: 'request', ...(request as unknown as Record<string, unknown>) };
  await authorise(deps, caller, 'limit_change_refused', input);
  const now = deps.clock.nowNs();
  const errors: FieldError[] = [];
  const accountId = requiredString(request.account_id, 'account_id', errors);
  const reason = requiredString(request.reason, 'reason', errors);
  const until = optionalFuture(request.until, 'until', now, errors);
  const firm = accountId === FIRM_SCOPE;
  // The firm's settings (the collar, the price age) are limits too, changed the same way.
  const settings = firm ? await deps.store.getFirmSettings() : undefined;
  const profile = accountId && !firm ? await deps.store.getRiskProfile(accountId) : undefined;
  if (firm && !settings) {
    errors.push({ field: 'account_id', rule: 'unknown_account', message: 'no firm risk settings on file' });
  } else if (accountId && !firm && !profile) errors.push(unknownAccount('account_id', accountId));
  if (firm && request.until !== undefined) {
    errors.push({ field: 'until', rule: 'not_allowed', message: 'a change to the firm settings is permanent' });
  }
  const values = firm
    ? validateFirmValues(request.values, errors)
    : await validateLimitValues(deps.store, request.values, errors);
  if (profile && errors.length === 0) recentOrdersBound(effectiveProfile(profile, formatNs(now)), values, errors);
  if (errors.length > 0) await refuse(deps, caller, 'limit_change_refused', input, new ValidationError(errors));

  const before: Record<string, string | number | null> = {};
  for (const path of Object.keys(values)) {
    before[path] = limitValueAt((firm ? settings : profile) as RiskProfile | FirmRiskSettings, path);
  }
  const change: LimitChange = {
    change_id: `LC-${randomUUID()}`,
    account_id: firm ? FIRM_SCOPE : (profile as RiskProfile).account_id,
    status: 'PENDING',
    values,
    before,
    base_version: firm ? (settings as FirmRiskSettings).version : (profile as RiskProfile).version,
    ...(until ? { until } : {}),
    reason,
    requested_by: caller.id,
    requested_at: formatNs(now),
  };
  // Stored before it is audited, so a change that the record announces is already listable.
  await deps.store.createLimitChange(change);
  await deps.audit.append({
    event_type: 'limit_change_requested',
    actor: caller.id,
    input: {
      change_id: change.change_id,
      account_id: change.account_id,
      values,
      before,
      base_version: change.base_version,
      until: until ?? null,
      role: caller.role ?? null,
    },
    decision: 'pending',
    reason,
  });
  return change;
}

export type LimitVerdict = 'approve' | 'reject';

/**
 * The checker's decision. Approval applies the change to the profile it was requested against:
 * if another change was applied since, the request is stale (rejected as such: the maker requests
 * again against the limits now in force).
 */
export async function decideLimitChange(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  changeId: string,
  verdict: LimitVerdict,
  reason?: string,
): Promise<LimitChange> {
  const input = { action: verdict, change_id: changeId, reason: reason ?? null };
  await authorise(deps, caller, 'limit_change_refused', input);
  const change = await deps.store.getLimitChange(changeId);
  if (!change) {
    await refuse(deps, caller, 'limit_change_refused', input, new NotFoundError(`limit change ${changeId} not found`));
  }
  const c = change as LimitChange;
  const withAccount = { ...input, account_id: c.account_id };
  if (c.requested_by === caller.id) {
    await refuse(
      deps,
      caller,
      'limit_change_refused',
      withAccount,
      new ForbiddenError(
        `${caller.id} requested limit change ${changeId}: a second risk officer must ${verdict} it`,
        'SELF_APPROVAL',
      ),
    );
  }
  if (verdict === 'reject' && (reason === undefined || reason.trim() === '')) {
    await refuse(
      deps,
      caller,
      'limit_change_refused',
      withAccount,
      new ValidationError([{ field: 'reason', rule: 'required', message: 'a rejection needs a reason' }]),
    );
  }
  if (c.status === 'APPROVED' && verdict === 'approve') {
    // An approval claimed and then interrupted before its limits were written: the profile is still
    // at the version the change was requested against (a written approval moves it on), and does
    // not name this change. Only then is there something to finish; anything else (applied, or
    // applied and overtaken since) is left exactly as it is, and refused below as decided.
    const subject = await versionOf(deps, c);
    if (subject && subject.version === c.base_version && !alreadyApplied(subject, c)) {
      const nowNs = deps.clock.nowNs();
      if (c.until !== undefined && (parseNs(c.until) ?? 0n) <= nowNs) {
        // Never written, and its time is over: nothing was ever in force under it.
        return closeUnapplied(
          deps,
          caller,
          c,
          reason,
          'EXPIRED_CHANGE',
          `limit change ${c.change_id} ended at ${c.until} before it was applied`,
        );
      }
      const applied = await applyChange(deps, c, nowNs);
      if (!applied) return closeUnapplied(deps, caller, c, reason);
      await auditApproval(deps, caller, c, applied, reason, true);
      return c;
    }
  }
  if (c.status !== 'PENDING') {
    await refuse(
      deps,
      caller,
      'limit_change_refused',
      withAccount,
      new ConflictError(
        `limit change ${changeId} is already ${c.status}${c.decided_by ? ` by ${c.decided_by}` : ''}${c.decided_at ? ` at ${c.decided_at}` : ''}`,
        `LIMIT_CHANGE_${c.status}`,
      ),
    );
  }
  // Housekeeping first: what expired on the account is recorded before anything new applies.
  await expireTemporaryLimits(deps, c.account_id);
  return verdict === 'reject'
    ? rejectChange(deps, caller, c, reason as string)
    : approveChange(deps, caller, c, reason);
}

async function rejectChange(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  c: LimitChange,
  reason: string,
): Promise<LimitChange> {
  const decided = await deps.store.decideLimitChange(c.change_id, {
    status: 'REJECTED',
    decided_by: caller.id,
    decided_at: formatNs(deps.clock.nowNs()),
    decision_reason: reason,
  });
  if (!decided) return decidedConcurrently(deps, caller, c, 'reject');
  await deps.audit.append({
    event_type: 'limit_change_rejected',
    actor: caller.id,
    input: {
      change_id: c.change_id,
      account_id: c.account_id,
      values: c.values,
      before: c.before,
      until: c.until ?? null,
      requested_by: c.requested_by,
      requested_at: c.requested_at,
      request_reason: c.reason,
      rejected_by: caller.id,
      role: caller.role ?? null,
    },
    decision: 'rejected',
    reason,
  });
  return decided;
}

async function approveChange(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  c: LimitChange,
  reason: string | undefined,
): Promise<LimitChange> {
  const refuseAndClose = async (code: string, message: string): Promise<never> => {
    // The request can never apply: close it, so it leaves the pending list, then refuse.
    await deps.store.decideLimitChange(c.change_id, {
      status: 'REJECTED',
      decided_by: caller.id,
      decided_at: formatNs(deps.clock.nowNs()),
      decision_reason: `${code}: ${message}`,
    });
    return refuse(
      deps,
      caller,
      'limit_change_refused',
      { action: 'approve', change_id: c.change_id, account_id: c.account_id, reason: reason ?? null },
      new ConflictError(message, code),
    );
  };

  const nowNs = deps.clock.nowNs();
  const now = formatNs(nowNs);
  if (c.until !== undefined && (parseNs(c.until) ?? 0n) <= nowNs) {
    return refuseAndClose(
      'EXPIRED_CHANGE',
      `limit change ${c.change_id} was to last until ${c.until}, which has passed: request it again`,
    );
  }
  // Stale before anything is claimed: another change applied since this one was requested.
  const subject = await versionOf(deps, c);
  if (!subject) return refuseAndClose('STALE_CHANGE', `${c.account_id} no longer has its limits on file`);
  if (subject.version !== c.base_version) return refuseAndClose('STALE_CHANGE', staleMessage(c, subject.version));

  // Claim first, apply second: once claimed, no other officer can reject it, so limits are never in
  // force under a change the record calls rejected. A claim lost to another decision applies nothing.
  const decided = await deps.store.decideLimitChange(c.change_id, {
    status: 'APPROVED',
    decided_by: caller.id,
    decided_at: now,
    applied_version: nextVersion(c.account_id, c.base_version),
    ...(reason ? { decision_reason: reason } : {}),
  });
  if (!decided) return decidedConcurrently(deps, caller, c, 'approve');
  const applied = await applyChange(deps, decided, nowNs);
  if (!applied) return closeUnapplied(deps, caller, decided, reason);
  await auditApproval(deps, caller, c, applied, reason, false);
  return decided;
}

async function auditApproval(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  c: LimitChange,
  applied: { version: string },
  reason: string | undefined,
  resumed: boolean,
): Promise<void> {
  await deps.audit.append({
    event_type: 'limit_change_approved',
    actor: caller.id,
    input: {
      change_id: c.change_id,
      account_id: c.account_id,
      before: c.before,
      // A temporary change's `before` values apply again at `until`.
      after: c.values,
      until: c.until ?? null,
      temporary: c.until !== undefined,
      requested_by: c.requested_by,
      requested_at: c.requested_at,
      request_reason: c.reason,
      approved_by: caller.id,
      role: caller.role ?? null,
      base_version: c.base_version,
      applied_version: applied.version,
      ...(resumed ? { completed_after_interruption: true, claimed_by: c.decided_by ?? null } : {}),
    },
    decision: 'approved',
    reason: reason ?? `approved by ${caller.id}`,
  });
}

/** The version (and the change that wrote it) of what a change applies to: a profile or the firm's settings. */
async function versionOf(
  deps: RiskAdminDeps,
  c: LimitChange,
): Promise<{ version: string; last_change_id?: string } | undefined> {
  return c.account_id === FIRM_SCOPE ? deps.store.getFirmSettings() : deps.store.getRiskProfile(c.account_id);
}

function applyChange(deps: RiskAdminDeps, c: LimitChange, nowNs: bigint): Promise<{ version: string } | undefined> {
  return c.account_id === FIRM_SCOPE ? applyFirmChange(deps, c) : applyApproved(deps, c, nowNs);
}

/** The firm-settings counterpart of applyApproved (firm changes are permanent: no temporary layer). */
async function applyFirmChange(deps: RiskAdminDeps, c: LimitChange): Promise<FirmRiskSettings | undefined> {
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const settings = await deps.store.getFirmSettings();
    if (!settings) return undefined;
    if (alreadyApplied(settings, c)) return settings;
    if (settings.version !== c.base_version) return undefined;
    const next: FirmRiskSettings = {
      ...settings,
      last_change_id: c.change_id,
      version: nextVersion('firm', settings.version),
    };
    for (const [path, value] of Object.entries(c.values)) (next as unknown as Record<string, unknown>)[path] = value;
    if (await deps.store.putFirmSettingsIf(next, settings.version)) {
      deps.onChange?.({ kind: 'limits', key: FIRM_SCOPE });
      return next;
    }
  }
  return undefined;
}

/** The firm's settings as limit values: the same rules as the account limits of the same kind. */
function validateFirmValues(raw: unknown, errors: FieldError[]): LimitValues {
  const out: LimitValues = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || Object.keys(raw).length === 0) {
    errors.push({ field: 'values', rule: 'required', message: 'values must set at least one firm setting' });
    return out;
  }
  for (const [path, value] of Object.entries(raw as Record<string, unknown>)) {
    const field = `values.${path}`;
    if (!(FIRM_LIMIT_FIELDS as readonly string[]).includes(path)) {
      errors.push({
        field,
        rule: 'unknown_field',
        message: `${path} is not a firm setting; one of ${FIRM_LIMIT_FIELDS.join(', ')}`,
      });
      continue;
    }
    const v = limitValue(path, value, field, errors);
    if (v !== undefined) out[path] = v;
  }
  return out;
}

function staleMessage(c: LimitChange, inForce: string): string {
  return `limit change ${c.change_id} was requested against ${c.account_id} limits version ${c.base_version}; version ${inForce} is in force now: request the change again`;
}

/**
 * Writes a claimed approval into the profile, conditional on the version it was requested against.
 * The profile or undefined when another change was applied first (the approval cannot apply). A
 * retried call finds its own write by change id.
 */
async function applyApproved(deps: RiskAdminDeps, c: LimitChange, nowNs: bigint): Promise<RiskProfile | undefined> {
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const profile = await deps.store.getRiskProfile(c.account_id);
    if (!profile) return undefined;
    if (alreadyApplied(profile, c)) return profile;
    if (profile.version !== c.base_version) return undefined;
    const kept = unexpired(profile.temporary, nowNs);
    const next = nextVersion(c.account_id, c.base_version);
    const candidate: RiskProfile = {
      ...(c.until === undefined
        ? withTemporary(applyLimitValues(stripTemporary(profile), c.values), kept, next)
        : withTemporary(
            stripTemporary(profile),
            [...kept, { change_id: c.change_id, values: c.values, until: c.until }],
            next,
          )),
      last_change_id: c.change_id,
    };
    // Conditional on the version only: expiry housekeeping rewrites the profile under the same
    // version (same limits in force), and this write, built from `kept`, drops what it dropped too.
    if (await deps.store.putRiskProfileIf(candidate, profile.version)) {
      deps.onChange?.({ kind: 'limits', key: c.account_id });
      return candidate;
    }
  }
  return undefined;
}

/** A claimed approval that could not apply (another change came first): closed as stale, refused. */
async function closeUnapplied(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  c: LimitChange,
  reason: string | undefined,
  code = 'STALE_CHANGE',
  why?: string,
): Promise<never> {
  const inForce = (await deps.store.getRiskProfile(c.account_id))?.version ?? 'none';
  const message = why ?? staleMessage(c, inForce);
  await deps.store.decideLimitChange(
    c.change_id,
    {
      status: 'REJECTED',
      decided_by: caller.id,
      decided_at: formatNs(deps.clock.nowNs()),
      decision_reason: `${code}: ${message}`,
    },
    'APPROVED',
  );
  return refuse(
    deps,
    caller,
    'limit_change_refused',
    { action: 'approve', change_id: c.change_id, account_id: c.account_id, reason: reason ?? null },
    new ConflictError(message, code),
  );
}

async function decidedConcurrently(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  c: LimitChange,
  verdict: LimitVerdict,
): Promise<never> {
  const now = await deps.store.getLimitChange(c.change_id);
  return refuse(
    deps,
    caller,
    'limit_change_refused',
    { action: verdict, change_id: c.change_id, account_id: c.account_id },
    new ConflictError(
      `limit change ${c.change_id} was decided concurrently${now?.decided_by ? ` by ${now.decided_by}` : ''}`,
      `LIMIT_CHANGE_${now?.status ?? 'DECIDED'}`,
    ),
  );
}

/**
 * Removes a profile's expired temporary changes and records each as `limit_change_expired`. The
 * risk gate already ignores them (effectiveProfile): this is the record of the revert, and
 * housekeeping. Runs before every decision on the account; callable on its own. Returns the
 * entries removed. Two processes sweeping the same entry at the same moment may both record it.
 */
export async function expireTemporaryLimits(deps: RiskAdminDeps, accountId: string): Promise<TemporaryLimits[]> {
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const profile = await deps.store.getRiskProfile(accountId);
    if (!profile?.temporary || profile.temporary.length === 0) return [];
    const nowNs = deps.clock.nowNs();
    const kept = unexpired(profile.temporary, nowNs);
    const expired = profile.temporary.filter((t) => !kept.includes(t));
    if (expired.length === 0) return [];
    const next = withTemporary(stripTemporary(profile), kept, profile.version);
    if (!(await deps.store.putRiskProfileIf(next, profile.version))) continue;
    deps.onChange?.({ kind: 'limits', key: accountId });
    for (const t of expired) {
      const reverted: Record<string, string | number | null> = {};
      for (const path of Object.keys(t.values))
        reverted[path] = limitValueAt(effectiveProfile(next, formatNs(nowNs)), path);
      await deps.audit.append({
        event_type: 'limit_change_expired',
        actor: deps.identity ?? 'risk',
        input: {
          change_id: t.change_id,
          account_id: accountId,
          values: t.values,
          until: t.until,
          now_in_force: reverted,
        },
        decision: 'expired',
        reason: `temporary limit change ${t.change_id} ended at ${t.until}; the limits it set no longer apply`,
      });
    }
    return expired;
  }
  return [];
}

/**
 * Records the end of every temporary change whose time has come, on a schedule (an EventBridge rule
 * on AWS, a timer locally). The limits stop applying at `until` whatever this does (the risk gate
 * lays only unexpired changes over the base limits); this removes them from the profile and writes
 * `limit_change_expired`. Reads every approved change, a page at a time: limit changes are few.
 */
export async function sweepExpiredLimits(deps: RiskAdminDeps): Promise<{ accounts: string[]; expired: number }> {
  const nowNs = deps.clock.nowNs();
  const accounts = new Set<string>();
  let token: string | undefined;
  do {
    const page = await deps.store.listLimitChanges('APPROVED', 100, token);
    for (const c of page.items) {
      if (c.until !== undefined && (parseNs(c.until) ?? 0n) <= nowNs) accounts.add(c.account_id);
    }
    token = page.nextToken;
  } while (token);
  let expired = 0;
  for (const account of accounts) expired += (await expireTemporaryLimits(deps, account)).length;
  return { accounts: [...accounts], expired };
}

export interface LimitsView {
  account_id: string;
  /** The stored limits, temporary changes listed but not applied (FIRM: the firm settings). */
  profile: RiskProfile | FirmRiskSettings;
  /** The limits in force now (what the risk gate applies). */
  effective: RiskProfile | FirmRiskSettings;
  as_of: string;
  /** Changes waiting for a checker. */
  pending: LimitChange[];
}

export async function getLimits(deps: RiskAdminDeps, caller: RiskCaller, accountId: string): Promise<LimitsView> {
  await authoriseRead(deps, caller, { action: 'get_limits', account_id: accountId });
  const firm = accountId === FIRM_SCOPE ? await deps.store.getFirmSettings() : undefined;
  const profile = firm ? undefined : await deps.store.getRiskProfile(accountId);
  if (!profile && !firm) throw new NotFoundError(`account ${accountId} has no risk profile`);
  const asOf = formatNs(deps.clock.nowNs());
  const pending: LimitChange[] = [];
  let token: string | undefined;
  do {
    const page = await deps.store.listLimitChanges('PENDING', 500, token);
    pending.push(...page.items.filter((c) => c.account_id === accountId));
    token = page.nextToken;
  } while (token);
  if (firm) return { account_id: accountId, profile: firm, effective: firm, as_of: asOf, pending };
  return {
    account_id: accountId,
    profile: profile as RiskProfile,
    effective: effectiveProfile(profile as RiskProfile, asOf),
    as_of: asOf,
    pending,
  };
}

export async function listLimitChanges(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  status: LimitChangeStatus,
  limit: number,
  nextToken?: string,
): Promise<Page<LimitChange>> {
  await authoriseRead(deps, caller, { action: 'list_limit_changes', status });
  return deps.store.listLimitChanges(status, limit, nextToken);
}

// ---- the kill switch --------------------------------------------------------------------------

export interface TradingStateRequest {
  scope: string;
  state: string;
  reason: string;
}

/**
 * Sets the kill switch of the firm or one account. One risk officer suffices, unlike a limit
 * change: stopping trading must be fast, and it only ever narrows what may trade (resuming is as
 * visible in the audit trail as stopping).
 */
export async function setTradingState(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  request: TradingStateRequest,
): Promise<TradingState> {
  const input = { action: 'set_trading_state', ...(request as unknown as Record<string, unknown>) };
  await authorise(deps, caller, 'risk_admin_refused', input);
  const errors: FieldError[] = [];
  const scope = await validScope(deps.store, request.scope, 'scope', errors);
  const reason = requiredString(request.reason, 'reason', errors);
  if (typeof request.state !== 'string' || !(TRADING_MODES as readonly string[]).includes(request.state)) {
    errors.push({
      field: 'state',
      rule: 'enum',
      message: `state must be one of ${TRADING_MODES.join(', ')}`,
    });
  }
  if (errors.length > 0) await refuse(deps, caller, 'risk_admin_refused', input, new ValidationError(errors));
  const state = request.state as TradingMode;

  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const current = await deps.store.getTradingState(scope);
    const revision = current?.revision ?? 0;
    const next: TradingState = {
      scope,
      state,
      reason,
      set_by: caller.id,
      set_at: formatNs(deps.clock.nowNs()),
      revision: revision + 1,
    };
    if (!(await deps.store.putTradingState(next, revision))) continue;
    deps.onChange?.({ kind: 'trading_state', key: scope });
    await deps.audit.append({
      event_type: 'trading_state_changed',
      actor: caller.id,
      input: {
        scope,
        before: current
          ? { state: current.state, set_by: current.set_by, set_at: current.set_at }
          : { state: 'ACTIVE' },
        after: { state },
        revision: next.revision,
        role: caller.role ?? null,
      },
      decision: state,
      reason,
    });
    return next;
  }
  return refuse(
    deps,
    caller,
    'risk_admin_refused',
    input,
    new ConflictError(`the trading state of ${scope} kept changing; try again`, 'CONCURRENT_CHANGE'),
  );
}

/** The stored state, or ACTIVE at revision 0 when none was ever set. */
export async function getTradingState(deps: RiskAdminDeps, caller: RiskCaller, scope: string): Promise<TradingState> {
  await authoriseRead(deps, caller, { action: 'get_trading_state', scope });
  if (scope !== FIRM_SCOPE && !(await deps.store.getRiskProfile(scope))) {
    throw new NotFoundError(`scope ${scope} is neither ${FIRM_SCOPE} nor a known account`);
  }
  return (
    (await deps.store.getTradingState(scope)) ?? {
      scope,
      state: 'ACTIVE',
      reason: 'never set',
      set_by: '',
      set_at: '',
      revision: 0,
    }
  );
}

// ---- restricted and prohibited lists ----------------------------------------------------------

const RESTRICTION_LISTS: readonly RestrictionList[] = ['RESTRICTED', 'PROHIBITED'];

export interface RestrictionRequest {
  symbol: string;
  /** FIRM, or an account id. */
  scope: string;
  list: string;
  reason: string;
  effective_from?: string;
  effective_until?: string;
}

export async function addRestriction(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  request: RestrictionRequest,
): Promise<Restriction> {
  const input = { action: 'add_restriction', ...(request as unknown as Record<string, unknown>) };
  await authorise(deps, caller, 'risk_admin_refused', input);
  const nowNs = deps.clock.nowNs();
  const errors: FieldError[] = [];
  const symbol = await knownSymbol(deps.store, request.symbol, 'symbol', errors);
  const scope = await validScope(deps.store, request.scope, 'scope', errors);
  const reason = requiredString(request.reason, 'reason', errors);
  if (typeof request.list !== 'string' || !(RESTRICTION_LISTS as readonly string[]).includes(request.list)) {
    errors.push({ field: 'list', rule: 'enum', message: `list must be one of ${RESTRICTION_LISTS.join(', ')}` });
  }
  let from = formatNs(nowNs);
  if (request.effective_from !== undefined) {
    const ns = typeof request.effective_from === 'string' ? parseNs(request.effective_from) : undefined;
    if (ns === undefined) errors.push(badTimestamp('effective_from'));
    else from = formatNs(ns);
  }
  const until = optionalFuture(request.effective_until, 'effective_until', nowNs, errors);
  if (until !== undefined && (parseNs(until) ?? 0n) <= (parseNs(from) ?? 0n)) {
    errors.push({
      field: 'effective_until',
      rule: 'after_from',
      message: 'effective_until must be after effective_from',
    });
  }
  if (errors.length > 0) await refuse(deps, caller, 'risk_admin_refused', input, new ValidationError(errors));

  const restriction: Restriction = {
    restriction_id: `RS-${randomUUID()}`,
    symbol,
    scope,
    list: request.list as RestrictionList,
    reason,
    effective_from: from,
    ...(until ? { effective_until: until } : {}),
    added_by: caller.id,
    added_at: formatNs(nowNs),
  };
  await deps.store.putRestriction(restriction);
  deps.onChange?.({ kind: 'restrictions', key: symbol });
  await deps.audit.append({
    event_type: 'restriction_added',
    actor: caller.id,
    input: { ...restriction, role: caller.role ?? null },
    decision: restriction.list,
    reason,
  });
  return restriction;
}

export async function liftRestriction(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  request: { symbol: string; restriction_id: string; reason: string },
): Promise<Restriction> {
  const input = { action: 'lift_restriction', ...request };
  await authorise(deps, caller, 'risk_admin_refused', input);
  const errors: FieldError[] = [];
  const reason = requiredString(request.reason, 'reason', errors);
  if (errors.length > 0) await refuse(deps, caller, 'risk_admin_refused', input, new ValidationError(errors));
  const nowNs = deps.clock.nowNs();
  const found = (await deps.store.listRestrictions(request.symbol)).find(
    (r) => r.restriction_id === request.restriction_id,
  );
  if (!found) {
    await refuse(
      deps,
      caller,
      'risk_admin_refused',
      input,
      new NotFoundError(`no restriction ${request.restriction_id} on ${request.symbol}`),
    );
  }
  const r = found as Restriction;
  if (r.effective_until !== undefined && (parseNs(r.effective_until) ?? nowNs + 1n) <= nowNs) {
    await refuse(
      deps,
      caller,
      'risk_admin_refused',
      input,
      new ConflictError(`restriction ${r.restriction_id} ended at ${r.effective_until}`, 'RESTRICTION_ENDED'),
    );
  }
  const lifted: Restriction = { ...r, effective_until: formatNs(nowNs) };
  await deps.store.putRestriction(lifted);
  deps.onChange?.({ kind: 'restrictions', key: r.symbol });
  await deps.audit.append({
    event_type: 'restriction_lifted',
    actor: caller.id,
    input: {
      restriction_id: r.restriction_id,
      symbol: r.symbol,
      scope: r.scope,
      list: r.list,
      added_by: r.added_by,
      added_reason: r.reason,
      before: { effective_until: r.effective_until ?? null },
      after: { effective_until: lifted.effective_until },
      role: caller.role ?? null,
    },
    decision: 'lifted',
    reason,
  });
  return lifted;
}

export async function listRestrictions(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  symbol: string,
): Promise<Restriction[]> {
  await authoriseRead(deps, caller, { action: 'list_restrictions', symbol });
  return deps.store.listRestrictions(symbol);
}

// ---- locates ----------------------------------------------------------------------------------

export interface LocateRequest {
  account_id: string;
  symbol: string;
  quantity: number | string;
  source: string;
  expires_at?: string;
}

/** Records a Reg SHO locate. A locate is good for the day: by default it expires at the next UTC midnight. */
export async function recordLocate(deps: RiskAdminDeps, caller: RiskCaller, request: LocateRequest): Promise<Locate> {
  const input = { action: 'record_locate', ...(request as unknown as Record<string, unknown>) };
  await authorise(deps, caller, 'risk_admin_refused', input);
  const nowNs = deps.clock.nowNs();
  const errors: FieldError[] = [];
  const accountId = requiredString(request.account_id, 'account_id', errors);
  if (accountId && !(await deps.store.getRiskProfile(accountId))) errors.push(unknownAccount('account_id', accountId));
  const symbol = await knownSymbol(deps.store, request.symbol, 'symbol', errors);
  const quantity = wholeNumber(request.quantity, 'quantity', 1, errors);
  const source = requiredString(request.source, 'source', errors);
  const expires = optionalFuture(request.expires_at, 'expires_at', nowNs, errors) ?? endOfUtcDay(nowNs);
  if (errors.length > 0) await refuse(deps, caller, 'risk_admin_refused', input, new ValidationError(errors));

  const locate: Locate = {
    locate_id: `LO-${randomUUID()}`,
    account_id: accountId,
    symbol,
    quantity: quantity as number,
    source,
    obtained_at: formatNs(nowNs),
    expires_at: expires,
    recorded_by: caller.id,
  };
  await deps.store.putLocate(locate);
  deps.onChange?.({ kind: 'locates', key: `${accountId}|${symbol}` });
  await deps.audit.append({
    event_type: 'locate_recorded',
    actor: caller.id,
    input: { ...locate, role: caller.role ?? null },
    decision: 'recorded',
    reason: `locate of ${locate.quantity} ${symbol} for ${accountId} from ${source}, until ${expires}`,
  });
  return locate;
}

export async function listLocates(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  accountId: string,
  symbol: string,
): Promise<Locate[]> {
  await authoriseRead(deps, caller, { action: 'list_locates', account_id: accountId, symbol });
  return deps.store.listLocates(accountId, symbol);
}

// ---- halts ------------------------------------------------------------------------------------

const HALT_KINDS: readonly HaltKind[] = ['TRADING_HALT', 'LULD_PAUSE'];

export interface HaltRequest {
  symbol: string;
  /** Default TRADING_HALT. */
  kind?: string;
  reason: string;
  /** Default: none for a halt (until lifted), five minutes for an LULD pause. */
  until?: string;
}

export async function setHalt(deps: RiskAdminDeps, caller: RiskCaller, request: HaltRequest): Promise<TradingHalt> {
  const input = { action: 'set_halt', ...(request as unknown as Record<string, unknown>) };
  await authorise(deps, caller, 'risk_admin_refused', input);
  const nowNs = deps.clock.nowNs();
  const errors: FieldError[] = [];
  const symbol = await knownSymbol(deps.store, request.symbol, 'symbol', errors);
  const reason = requiredString(request.reason, 'reason', errors);
  const kind = request.kind ?? 'TRADING_HALT';
  if (typeof kind !== 'string' || !(HALT_KINDS as readonly string[]).includes(kind)) {
    errors.push({ field: 'kind', rule: 'enum', message: `kind must be one of ${HALT_KINDS.join(', ')}` });
  }
  let until = optionalFuture(request.until, 'until', nowNs, errors);
  if (until === undefined && kind === 'LULD_PAUSE')
    until = formatNs(nowNs + BigInt(LULD_PAUSE_SECONDS) * 1_000_000_000n);
  if (errors.length > 0) await refuse(deps, caller, 'risk_admin_refused', input, new ValidationError(errors));

  const before = await deps.store.getHalt(symbol);
  const beforeEnds = before?.until === undefined ? undefined : parseNs(before.until);
  const beforeInForce = before !== undefined && (beforeEnds === undefined || beforeEnds > nowNs);
  const untilNs = until === undefined ? undefined : parseNs(until);
  const shortens =
    beforeInForce &&
    untilNs !== undefined &&
    (before.until === undefined || (beforeEnds !== undefined && untilNs < beforeEnds));
  if (shortens) {
    // A halt in force is not shortened by a new one that ends sooner: lift it first, on purpose.
    await refuse(
      deps,
      caller,
      'risk_admin_refused',
      input,
      new ConflictError(
        `${symbol} is halted ${before?.until ? `until ${before.until}` : 'until lifted'} (${before?.kind}, since ${before?.since}: ${before?.reason}); lift it before setting a halt that ends sooner`,
        'HALT_IN_FORCE',
      ),
    );
  }
  const halt: TradingHalt = {
    symbol,
    kind: kind as HaltKind,
    reason,
    since: formatNs(nowNs),
    ...(until ? { until } : {}),
    set_by: caller.id,
  };
  await deps.store.putHalt(halt);
  deps.onChange?.({ kind: 'halt', key: symbol });
  await deps.audit.append({
    event_type: 'halt_set',
    actor: caller.id,
    input: { ...halt, before: before ?? null, role: caller.role ?? null },
    decision: halt.kind,
    reason,
  });
  return halt;
}

export async function liftHalt(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  request: { symbol: string; reason: string },
): Promise<TradingHalt> {
  const input = { action: 'lift_halt', ...request };
  await authorise(deps, caller, 'risk_admin_refused', input);
  const errors: FieldError[] = [];
  const reason = requiredString(request.reason, 'reason', errors);
  if (errors.length > 0) await refuse(deps, caller, 'risk_admin_refused', input, new ValidationError(errors));
  const halt = await deps.store.getHalt(request.symbol);
  if (!halt) {
    await refuse(
      deps,
      caller,
      'risk_admin_refused',
      input,
      new ConflictError(`${request.symbol} is not halted`, 'NOT_HALTED'),
    );
  }
  const h = halt as TradingHalt;
  if (!(await deps.store.deleteHalt(h.symbol, h.since))) {
    // Another halt was set (or this one lifted) since it was read: that one stays.
    await refuse(
      deps,
      caller,
      'risk_admin_refused',
      input,
      new ConflictError(`the halt of ${h.symbol} changed while it was being lifted; look again`, 'HALT_CHANGED'),
    );
  }
  deps.onChange?.({ kind: 'halt', key: h.symbol });
  await deps.audit.append({
    event_type: 'halt_lifted',
    actor: caller.id,
    input: { symbol: h.symbol, before: h, role: caller.role ?? null },
    decision: 'lifted',
    reason,
  });
  return h;
}

export async function getHalt(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  symbol: string,
): Promise<TradingHalt | undefined> {
  await authoriseRead(deps, caller, { action: 'get_halt', symbol });
  return deps.store.getHalt(symbol);
}

// ---- manual reference prices ------------------------------------------------------------------

/**
 * A manual reference price: a market-data correction by a risk officer (a bad print, a feed
 * outage). Only for a symbol the platform knows (new securities come with the reference data
 * load), as of now, so the staleness control sees a fresh price.
 */
export async function setReferencePrice(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  request: { symbol: string; price: string | number },
): Promise<SecurityReference> {
  const input = { action: 'set_reference_price', ...(request as unknown as Record<string, unknown>) };
  await authorise(deps, caller, 'risk_admin_refused', input);
  const errors: FieldError[] = [];
  const existing =
    typeof request.symbol === 'string' && request.symbol !== ''
      ? await deps.store.getSecurity(request.symbol)
      : undefined;
  if (typeof request.symbol !== 'string' || request.symbol === '') {
    errors.push({ field: 'symbol', rule: 'required', message: 'symbol is required' });
  } else if (!existing) {
    errors.push({ field: 'symbol', rule: 'unknown_symbol', message: `unknown symbol ${request.symbol}` });
  }
  const price = positiveDecimal(request.price, 'price', errors);
  if (price !== undefined && existing) {
    // One officer moves a price at most by the firm's collar from the price on file (the same band a
    // LIMIT order gets): every value, capital and collar check keys off the reference price, so a
    // fat-fingered or malicious price must not pass in one step. A larger correction takes several,
    // each audited.
    const collar = (await deps.store.getFirmSettings())?.price_collar;
    const prior = Decimal.isValid(existing.reference_price) ? Decimal.parse(existing.reference_price) : undefined;
    if (collar === undefined || !Decimal.isValid(collar)) {
      errors.push({
        field: 'price',
        rule: 'band',
        message: 'no firm price collar on file: a manual price cannot be checked',
      });
    } else if (prior && !Decimal.parse(price).sub(prior).abs().lteProduct(prior, Decimal.parse(collar))) {
      errors.push({
        field: 'price',
        rule: 'band',
        message: `a manual price may move at most ${collar} of the price on file (${existing.reference_price}) at a time, not to ${price}`,
      });
    }
  }
  if (errors.length > 0) await refuse(deps, caller, 'risk_admin_refused', input, new ValidationError(errors));

  const prev = existing as SecurityReference;
  const next: SecurityReference = {
    ...prev,
    reference_price: price as string,
    price_as_of: formatNs(deps.clock.nowNs()),
  };
  await deps.store.putSecurity(next);
  deps.onChange?.({ kind: 'security', key: next.symbol });
  await deps.audit.append({
    event_type: 'reference_price_set',
    actor: caller.id,
    input: {
      symbol: next.symbol,
      before: { reference_price: prev.reference_price, price_as_of: prev.price_as_of },
      after: { reference_price: next.reference_price, price_as_of: next.price_as_of },
      role: caller.role ?? null,
    },
    decision: 'set',
    reason: `manual reference price ${next.reference_price} for ${next.symbol}`,
  });
  return next;
}

// ---- helpers ----------------------------------------------------------------------------------

/**
 * A request the API could not even hand to a use case (unknown or mistyped body fields): audited
 * like any other refusal, then thrown as a ValidationError naming the fields.
 */
export function refuseRequest(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  kind: 'limit_change' | 'other',
  input: Record<string, unknown>,
  errors: FieldError[],
): Promise<never> {
  return refuse(
    deps,
    caller,
    kind === 'limit_change' ? 'limit_change_refused' : 'risk_admin_refused',
    input,
    new ValidationError(errors),
  );
}

/** Audits the refusal, then throws it: nothing has been changed. */
async function refuse(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  eventType: Extract<AuditEventType, 'limit_change_refused' | 'risk_admin_refused'>,
  input: Record<string, unknown>,
  err: Error,
): Promise<never> {
  const code =
    err instanceof ForbiddenError || err instanceof ConflictError
      ? err.code
      : err instanceof ValidationError
        ? 'INVALID_INPUT'
        : err instanceof NotFoundError
          ? 'NOT_FOUND'
          : err.name;
  await deps.audit.append({
    event_type: eventType,
    actor: caller.id,
    input: {
      ...input,
      role: caller.role ?? null,
      ...(err instanceof ValidationError ? { errors: err.errors } : {}),
    },
    decision: 'refused',
    reason: `${code}: ${err.message}`,
  });
  throw err;
}

async function authorise(
  deps: RiskAdminDeps,
  caller: RiskCaller,
  eventType: 'limit_change_refused' | 'risk_admin_refused',
  input: Record<string, unknown>,
): Promise<void> {
  if (caller.role && RISK_OFFICER_ROLES.has(caller.role)) return;
  await refuse(
    deps,
    caller,
    eventType,
    input,
    new ForbiddenError(
      `${caller.id} (role ${caller.role ?? '(none)'}) is not a risk officer: only ${[...RISK_OFFICER_ROLES].join(' or ')} may change risk controls`,
      'NOT_A_RISK_OFFICER',
    ),
  );
}

async function authoriseRead(deps: RiskAdminDeps, caller: RiskCaller, input: Record<string, unknown>): Promise<void> {
  if (caller.role && RISK_READER_ROLES.has(caller.role)) return;
  await refuse(
    deps,
    caller,
    'risk_admin_refused',
    input,
    new ForbiddenError(
      `${caller.id} (role ${caller.role ?? '(none)'}) may not read risk controls: only ${[...RISK_READER_ROLES].join(', ')}`,
      'NOT_A_RISK_READER',
    ),
  );
}

/** Every bad path or value, each named `values.<path>`; the values normalised (money as strings). */
async function validateLimitValues(store: ReferenceStore, raw: unknown, errors: FieldError[]): Promise<LimitValues> {
  const out: LimitValues = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    errors.push({ field: 'values', rule: 'type', message: 'values must be an object of field path -> value' });
    return out;
  }
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0) {
    errors.push({ field: 'values', rule: 'required', message: 'values must set at least one limit' });
    return out;
  }
  const symbolsSeen = new Map<string, boolean>();
  for (const [path, value] of entries) {
    const field = `values.${path}`;
    let name: string;
    const parts = path.split('.');
    if (parts.length === 3 && parts[0] === 'symbol_limits') {
      const [, symbol, sub] = parts as [string, string, string];
      if (!(SYMBOL_LIMIT_FIELDS as readonly string[]).includes(sub)) {
        errors.push({
          field,
          rule: 'unknown_field',
          message: `${sub} is not a per-symbol limit; one of ${SYMBOL_LIMIT_FIELDS.join(', ')}`,
        });
        continue;
      }
      let known = symbolsSeen.get(symbol);
      if (known === undefined) {
        known = symbol !== '' && (await store.getSecurity(symbol)) !== undefined;
        symbolsSeen.set(symbol, known);
      }
      if (!known) {
        errors.push({ field, rule: 'unknown_symbol', message: `unknown symbol ${JSON.stringify(symbol)}` });
        continue;
      }
      name = sub;
    } else if ((ACCOUNT_LIMIT_FIELDS as readonly string[]).includes(path)) {
      name = path;
    } else {
      errors.push({
        field,
        rule: 'unknown_field',
        message: `${path} is not a limit; one of ${ACCOUNT_LIMIT_FIELDS.join(', ')}, or symbol_limits.<SYMBOL>.<${SYMBOL_LIMIT_FIELDS.join('|')}>`,
      });
      continue;
    }
    const v = limitValue(name, value, field, errors);
    if (v !== undefined) out[path] = v;
  }
  return out;
}

/**
 * Upper bounds of the fields that size an account's live risk state (one DynamoDB item, 400 KB at
 * most): the recent orders kept are those of the last second (at most the throttle's limit) and
 * those within the duplicate window.
 */
const INTEGER_MAXIMUMS: ReadonlyMap<string, { most: number; why: string }> = new Map([
  ['max_orders_per_second', { most: 1000, why: "it bounds the account's risk state" }],
  ['duplicate_window_ms', { most: 60_000, why: "it bounds the account's risk state" }],
  ['max_price_age_ms', { most: 3_600_000, why: 'an hour' }],
]);

/**
 * The account's live risk state keeps the orders of the duplicate window (at most the throttle's
 * rate for that long), and is one DynamoDB item (400 KB at most, about 100 bytes an order): the
 * two limits together, as they would be in force after the change, must keep it well under that.
 */
export const MAX_RECENT_ORDERS = 2500;

function recentOrdersBound(inForce: RiskProfile, values: LimitValues, errors: FieldError[]): void {
  if (!('max_orders_per_second' in values) && !('duplicate_window_ms' in values)) return;
  const after = applyLimitValues(inForce, values);
  const rate = typeof after.max_orders_per_second === 'number' ? after.max_orders_per_second : 100;
  const windowMs = typeof after.duplicate_window_ms === 'number' ? after.duplicate_window_ms : 0;
  const kept = Math.ceil((rate * Math.max(windowMs, 1000)) / 1000);
  if (kept > MAX_RECENT_ORDERS) {
    const field = 'duplicate_window_ms' in values ? 'values.duplicate_window_ms' : 'values.max_orders_per_second';
    errors.push({
      field,
      rule: 'max',
      message: `${rate} orders a second over a ${windowMs} ms duplicate window would keep up to ${kept} recent orders in the account's risk state; at most ${MAX_RECENT_ORDERS}`,
    });
  }
}

function limitValue(name: string, value: unknown, field: string, errors: FieldError[]): string | number | undefined {
  const least = INTEGER_FIELDS.get(name);
  if (least !== undefined) {
    const n = wholeNumber(value, field, least, errors);
    const max = INTEGER_MAXIMUMS.get(name);
    if (n !== undefined && max !== undefined && n > max.most) {
      errors.push({ field, rule: 'max', message: `must be at most ${max.most} (${max.why}), not ${n}` });
      return undefined;
    }
    return n;
  }
  if (FRACTION_FIELDS.has(name)) {
    const d = decimalOf(value, field, errors);
    if (d === undefined) return undefined;
    const x = Decimal.parse(d);
    if (!x.gt(Decimal.ZERO) || x.gt(Decimal.fromInt(1))) {
      errors.push({
        field,
        rule: 'fraction',
        message: `must be a fraction above 0 and at most 1 (e.g. "0.20"), not ${d}`,
      });
      return undefined;
    }
    return d;
  }
  if (MONEY_FIELDS.has(name)) return positiveDecimal(value, field, errors);
  errors.push({ field, rule: 'unknown_field', message: `${name} is not a limit` });
  return undefined;
}

/** A decimal string (or a JSON number that reads as one), as its string. */
function decimalOf(value: unknown, field: string, errors: FieldError[]): string | undefined {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string' || !Decimal.isValid(text.trim())) {
    errors.push({
      field,
      rule: 'decimal',
      message: `must be a decimal number such as "250000.00" (at most 8 decimals), not ${JSON.stringify(value)}`,
    });
    return undefined;
  }
  return text.trim();
}

function positiveDecimal(value: unknown, field: string, errors: FieldError[]): string | undefined {
  const d = decimalOf(value, field, errors);
  if (d === undefined) return undefined;
  if (!Decimal.parse(d).gt(Decimal.ZERO)) {
    errors.push({ field, rule: 'positive', message: `must be greater than zero, not ${d}` });
    return undefined;
  }
  return d;
}

/** A whole number >= least, given as a number or as a string of digits. */
function wholeNumber(value: unknown, field: string, least: number, errors: FieldError[]): number | undefined {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^-?\d+$/.test(value.trim())
        ? Number(value)
        : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    errors.push({ field, rule: 'integer', message: `must be a whole number, not ${JSON.stringify(value)}` });
    return undefined;
  }
  if (n < least) {
    errors.push(
      least === 0
        ? { field, rule: 'non_negative', message: `must be 0 (off) or more, not ${n}` }
        : { field, rule: 'positive', message: `must be at least ${least}, not ${n}` },
    );
    return undefined;
  }
  return n;
}

function requiredString(value: unknown, field: string, errors: FieldError[]): string {
  if (typeof value !== 'string' || value.trim() === '') {
    errors.push({ field, rule: 'required', message: `${field} is required` });
    return '';
  }
  return value.trim();
}

function badTimestamp(field: string): FieldError {
  return { field, rule: 'timestamp', message: 'must be an RFC 3339 UTC time, e.g. 2026-11-23T21:00:00Z' };
}

/** An optional RFC 3339 UTC time after now, normalised to nine fractional digits. */
function optionalFuture(value: unknown, field: string, nowNs: bigint, errors: FieldError[]): string | undefined {
  if (value === undefined) return undefined;
  const ns = typeof value === 'string' ? parseNs(value) : undefined;
  if (ns === undefined) {
    errors.push(badTimestamp(field));
    return undefined;
  }
  if (ns <= nowNs) {
    errors.push({ field, rule: 'not_before_now', message: `must be in the future (now is ${formatNs(nowNs)})` });
    return undefined;
  }
  return formatNs(ns);
}

function unknownAccount(field: string, accountId: string): FieldError {
  return { field, rule: 'unknown_account', message: `unknown account ${accountId}` };
}

async function knownSymbol(
  store: ReferenceStore,
  value: unknown,
  field: string,
  errors: FieldError[],
): Promise<string> {
  const symbol = requiredString(value, field, errors);
  if (symbol && !(await store.getSecurity(symbol))) {
    errors.push({ field, rule: 'unknown_symbol', message: `unknown symbol ${symbol}` });
  }
  return symbol;
}

/** FIRM or a known account. */
async function validScope(store: ReferenceStore, value: unknown, field: string, errors: FieldError[]): Promise<string> {
  const scope = requiredString(value, field, errors);
  if (scope && scope !== FIRM_SCOPE && !(await store.getRiskProfile(scope))) {
    errors.push({
      field,
      rule: 'unknown_scope',
      message: `${field} must be ${FIRM_SCOPE} or a known account, not ${scope}`,
    });
  }
  return scope;
}

/** The version after `version`: the account's id and the next number (see the file's header). */
export function nextVersion(accountId: string, version: string): string {
  const n = /\/v(\d+)$/.exec(version)?.[1];
  return `${accountId}/v${n === undefined ? 1 : BigInt(n) + 1n}`;
}

/**
 * This change wrote the profile (a retried approval): by the change id the write carries, not by
 * its values, which another change against the same version may have set identically.
 */
function alreadyApplied(subject: { last_change_id?: string }, c: LimitChange): boolean {
  return subject.last_change_id === c.change_id;
}

function unexpired(temporary: readonly TemporaryLimits[] | undefined, nowNs: bigint): TemporaryLimits[] {
  return (temporary ?? []).filter((t) => (parseNs(t.until) ?? 0n) > nowNs);
}

function stripTemporary(profile: RiskProfile): RiskProfile {
  const { temporary: _t, ...base } = profile;
  return base;
}

function withTemporary(base: RiskProfile, temporary: TemporaryLimits[], version: string): RiskProfile {
  return { ...base, ...(temporary.length > 0 ? { temporary } : {}), version };
}

/** The next UTC midnight: a locate is good for the trading day it was obtained on. */
function endOfUtcDay(nowNs: bigint): string {
  const d = new Date(Number(nowNs / 1_000_000n));
  const next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  return formatNs(BigInt(next) * 1_000_000n);
}
