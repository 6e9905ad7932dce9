import type { APIGatewayProxyEvent } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../functions/core/errors.js';
import type { AuditRecord, RiskProfile } from '../../functions/core/model.js';
import { ReferenceCache } from '../../functions/core/reference-cache.js';
import {
  addRestriction,
  decideLimitChange,
  expireTemporaryLimits,
  getHalt,
  getLimits,
  getTradingState,
  liftHalt,
  liftRestriction,
  listLimitChanges,
  listLocates,
  listRestrictions,
  nextVersion,
  type RiskAdminDeps,
  type RiskCaller,
  recordLocate,
  requestLimitChange,
  setHalt,
  setReferencePrice,
  setTradingState,
  sweepExpiredLimits,
} from '../../functions/core/risk-admin.js';
import { effectiveProfile } from '../../functions/core/risk-limits.js';
import { addSeconds } from '../../functions/core/time.js';
import { createRiskHandler } from '../../functions/risk/app.js';
import { TEST_RULE_ARN, testAccess } from '../support/access.js';
import {
  ACC_001,
  InMemoryAccountRiskStore,
  InMemoryAuditTrail,
  InMemoryOrderStore,
  InMemoryPositionStore,
  InMemoryReferenceStore,
  ManualClock,
  security,
  T0,
} from '../support/in-memory.js';

const MAKER: RiskCaller = { id: 'RISK-OFFICER-1', role: 'approver' };
const CHECKER: RiskCaller = { id: 'RISK-OFFICER-2', role: 'risk-officer' };
const TRADER: RiskCaller = { id: 'TRADER-123', role: 'trader' };
const AUDITOR: RiskCaller = { id: 'AUDITOR-1', role: 'auditor' };

let clock: ManualClock;
let store: InMemoryReferenceStore;
let audit: InMemoryAuditTrail;
let deps: RiskAdminDeps;
let changed: Array<{ kind: string; key: string }>;

beforeEach(() => {
  clock = new ManualClock(T0);
  store = new InMemoryReferenceStore({
    profiles: [ACC_001, { ...ACC_001, account_id: 'ACC-002', version: 'default/v1' }],
    securities: [security('AAPL', '190.00'), security('MSFT', '420.00')],
    firmSettings: { price_collar: '0.10', max_price_age_ms: 10_000, version: 'firm/v1' },
  });
  audit = new InMemoryAuditTrail(clock);
  changed = [];
  deps = { store, audit, clock, identity: 'risk-agent', onChange: (w) => changed.push(w) };
});

/** Everything the store holds, to show a refusal changed none of it. */
function stored(): unknown {
  return structuredClone({
    profiles: [...store.profiles.entries()],
    securities: [...store.securities.entries()],
    states: [...store.tradingStates.entries()],
    restrictions: [...store.restrictions.entries()],
    locates: [...store.locates.entries()],
    halts: [...store.halts.entries()],
    changes: [...store.limitChanges.entries()],
  });
}

/** Runs `fn`, expects it to throw `type`, and that it audited one refusal and changed nothing. */
async function refused<E extends Error>(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => E,
  eventType: 'limit_change_refused' | 'risk_admin_refused',
): Promise<{ err: E; record: AuditRecord }> {
  const before = stored();
  const records = audit.records().length;
  const err = await fn().then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  expect(stored()).toEqual(before);
  const added = audit.records().slice(records);
  expect(added.map((r) => r.event_type)).toEqual([eventType]);
  expect(added[0]?.decision).toBe('refused');
  expect(changed).toEqual([]);
  return { err: err as E, record: added[0] as AuditRecord };
}

const fieldsOf = (err: ValidationError) => err.errors.map((e) => [e.field, e.rule]);

describe('limit changes: maker-checker', () => {
  it('records a pending change with the values in force, and applies it only when a second officer approves', async () => {
    const change = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000', 'symbol_limits.AAPL.max_order_quantity': '5000' },
      reason: 'desk mandate raised',
    });
    expect(change).toMatchObject({
      status: 'PENDING',
      account_id: 'ACC-001',
      values: { max_order_value: '2000000', 'symbol_limits.AAPL.max_order_quantity': 5000 },
      before: { max_order_value: '1000000', 'symbol_limits.AAPL.max_order_quantity': null },
      base_version: 'ACC-001/v1',
      requested_by: 'RISK-OFFICER-1',
      reason: 'desk mandate raised',
    });
    expect(change.change_id).toMatch(/^LC-[0-9a-f-]{36}$/);
    // Nothing applies before the checker.
    expect(store.profiles.get('ACC-001')).toEqual(ACC_001);
    const requested = audit.ofType('limit_change_requested');
    expect(requested).toHaveLength(1);
    expect(requested[0]).toMatchObject({
      actor: 'RISK-OFFICER-1',
      decision: 'pending',
      reason: 'desk mandate raised',
      input: { change_id: change.change_id, before: change.before, values: change.values, until: null },
    });
    expect((await listLimitChanges(deps, CHECKER, 'PENDING', 10)).items.map((c) => c.change_id)).toEqual([
      change.change_id,
    ]);
    expect((await getLimits(deps, CHECKER, 'ACC-001')).pending.map((c) => c.change_id)).toEqual([change.change_id]);

    const decided = await decideLimitChange(deps, CHECKER, change.change_id, 'approve', 'checked the mandate');
    expect(decided).toMatchObject({
      status: 'APPROVED',
      decided_by: 'RISK-OFFICER-2',
      applied_version: 'ACC-001/v2',
      decision_reason: 'checked the mandate',
    });
    const profile = store.profiles.get('ACC-001') as RiskProfile;
    expect(profile.version).toBe('ACC-001/v2');
    expect(profile.max_order_value).toBe('2000000');
    expect(profile.symbol_limits).toEqual({ AAPL: { max_order_quantity: 5000 } });
    expect(profile.approval_threshold).toBe(ACC_001.approval_threshold);
    expect(changed).toContainEqual({ kind: 'limits', key: 'ACC-001' });

    const approved = audit.ofType('limit_change_approved');
    expect(approved).toHaveLength(1);
    expect(approved[0]).toMatchObject({
      actor: 'RISK-OFFICER-2',
      decision: 'approved',
      reason: 'checked the mandate',
      input: {
        change_id: change.change_id,
        account_id: 'ACC-001',
        before: { max_order_value: '1000000', 'symbol_limits.AAPL.max_order_quantity': null },
        after: { max_order_value: '2000000', 'symbol_limits.AAPL.max_order_quantity': 5000 },
        requested_by: 'RISK-OFFICER-1',
        approved_by: 'RISK-OFFICER-2',
        request_reason: 'desk mandate raised',
        base_version: 'ACC-001/v1',
        applied_version: 'ACC-001/v2',
        until: null,
      },
    });
    expect((await listLimitChanges(deps, CHECKER, 'PENDING', 10)).items).toEqual([]);
  });

  it('refuses a self-approval (audited, nothing changed), whatever the role', async () => {
    const change = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'r',
    });
    const { err, record } = await refused(
      () => decideLimitChange(deps, MAKER, change.change_id, 'approve'),
      ForbiddenError,
      'limit_change_refused',
    );
    expect(err.code).toBe('SELF_APPROVAL');
    expect(record.actor).toBe('RISK-OFFICER-1');
    expect(record.reason).toMatch(/^SELF_APPROVAL: /);
    expect(store.limitChanges.get(change.change_id)?.status).toBe('PENDING');
  });

  it('refuses anyone who is not a risk officer, for every action (audited, nothing changed)', async () => {
    const change = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'r',
    });
    const limitActions = [
      () => requestLimitChange(deps, TRADER, { account_id: 'ACC-001', values: { max_order_value: '9' }, reason: 'r' }),
      () => decideLimitChange(deps, TRADER, change.change_id, 'approve'),
      () => decideLimitChange(deps, AUDITOR, change.change_id, 'reject', 'no'),
      () => decideLimitChange(deps, { id: 'arn:aws:iam::1:user/x', role: undefined }, change.change_id, 'approve'),
    ];
    for (const act of limitActions) {
      const { err } = await refused(act, ForbiddenError, 'limit_change_refused');
      expect(err.code).toBe('NOT_A_RISK_OFFICER');
    }
    const adminActions = [
      () => setTradingState(deps, TRADER, { scope: 'FIRM', state: 'HALTED', reason: 'r' }),
      () => addRestriction(deps, AUDITOR, { symbol: 'AAPL', scope: 'FIRM', list: 'PROHIBITED', reason: 'r' }),
      () => liftRestriction(deps, TRADER, { symbol: 'AAPL', restriction_id: 'RS-1', reason: 'r' }),
      () => recordLocate(deps, TRADER, { account_id: 'ACC-001', symbol: 'AAPL', quantity: 10, source: 's' }),
      () => setHalt(deps, TRADER, { symbol: 'AAPL', reason: 'r' }),
      () => liftHalt(deps, TRADER, { symbol: 'AAPL', reason: 'r' }),
      () => setReferencePrice(deps, TRADER, { symbol: 'AAPL', price: '1' }),
      () => getLimits(deps, TRADER, 'ACC-001'),
    ];
    for (const act of adminActions) {
      const { err } = await refused(act, ForbiddenError, 'risk_admin_refused');
      expect(err.code).toMatch(/^NOT_A_RISK_(OFFICER|READER)$/);
    }
    // An auditor may read.
    expect((await getLimits(deps, AUDITOR, 'ACC-001')).profile).toEqual(ACC_001);
  });

  it('names every bad field at once: negative, zero, non-numeric, fractions, integers, unknown fields and symbols', async () => {
    const { err, record } = await refused(
      () =>
        requestLimitChange(deps, MAKER, {
          account_id: 'ACC-001',
          values: {
            max_order_value: '-5',
            approval_threshold: '0',
            available_capital: 'lots',
            max_position_value: '1e6',
            max_concentration: '1.5',
            max_order_quantity: '2.5',
            max_orders_per_second: 0,
            duplicate_window_ms: -1,
            max_leverage: '2',
            'symbol_limits.ZZZZ.max_order_value': '10',
            'symbol_limits.AAPL.max_concentration': '0.1',
            'symbol_limits.MSFT.max_position_value': '0',
          },
          reason: ' ',
          until: '2020-01-01T00:00:00Z',
        }),
      ValidationError,
      'limit_change_refused',
    );
    expect(fieldsOf(err).sort()).toEqual(
      [
        ['reason', 'required'],
        ['until', 'not_before_now'],
        ['values.max_order_value', 'positive'],
        ['values.approval_threshold', 'positive'],
        ['values.available_capital', 'decimal'],
        ['values.max_position_value', 'decimal'],
        ['values.max_concentration', 'fraction'],
        ['values.max_order_quantity', 'integer'],
        ['values.max_orders_per_second', 'positive'],
        ['values.duplicate_window_ms', 'non_negative'],
        ['values.max_leverage', 'unknown_field'],
        ['values.symbol_limits.ZZZZ.max_order_value', 'unknown_symbol'],
        ['values.symbol_limits.AAPL.max_concentration', 'unknown_field'],
        ['values.symbol_limits.MSFT.max_position_value', 'positive'],
      ].sort(),
    );
    expect(err.message).toContain('values.max_order_value: must be greater than zero');
    expect(record.reason).toMatch(/^INVALID_INPUT: /);
    expect((record.input as { errors: unknown[] }).errors).toHaveLength(14);
  });

  it('bounds the throttle and the duplicate window (they size the account risk state item)', async () => {
    const { err } = await refused(
      () =>
        requestLimitChange(deps, MAKER, {
          account_id: 'ACC-001',
          values: { max_orders_per_second: 1001, duplicate_window_ms: 60_001 },
          reason: 'too much',
        }),
      ValidationError,
      'limit_change_refused',
    );
    expect(fieldsOf(err).sort()).toEqual([
      ['values.duplicate_window_ms', 'max'],
      ['values.max_orders_per_second', 'max'],
    ]);
    // Each within its bound, but together: 100 a second for 60 s is 6,000 orders to keep.
    const together = await refused(
      () =>
        requestLimitChange(deps, MAKER, {
          account_id: 'ACC-001',
          values: { max_orders_per_second: 100, duplicate_window_ms: 60_000 },
          reason: 'too much together',
        }),
      ValidationError,
      'limit_change_refused',
    );
    expect(fieldsOf(together.err)).toEqual([['values.duplicate_window_ms', 'max']]);
    const ok = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_orders_per_second: 1000 },
      reason: 'at the bound, with the 2 s window in force (2,000 kept)',
    });
    expect(ok.status).toBe('PENDING');
  });

  it('refuses an unknown account, an empty change, a malformed until; takes 0 as "off" for the duplicate window', async () => {
    const unknown = await refused(
      () => requestLimitChange(deps, MAKER, { account_id: 'ACC-404', values: { max_order_value: '1' }, reason: 'r' }),
      ValidationError,
      'limit_change_refused',
    );
    expect(fieldsOf(unknown.err)).toEqual([['account_id', 'unknown_account']]);
    const empty = await refused(
      () => requestLimitChange(deps, MAKER, { account_id: 'ACC-001', values: {}, reason: 'r', until: 'tomorrow' }),
      ValidationError,
      'limit_change_refused',
    );
    expect(fieldsOf(empty.err)).toEqual([
      ['until', 'timestamp'],
      ['values', 'required'],
    ]);
    const ok = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { duplicate_window_ms: 0, max_concentration: '1', max_orders_per_second: '50' },
      reason: 'r',
    });
    expect(ok.values).toEqual({ duplicate_window_ms: 0, max_concentration: '1', max_orders_per_second: 50 });
  });

  it('refuses a stale change: another change was applied since it was requested (audited, closed as stale)', async () => {
    const first = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'a',
    });
    const second = await requestLimitChange(deps, CHECKER, {
      account_id: 'ACC-001',
      values: { approval_threshold: '600000' },
      reason: 'b',
    });
    await decideLimitChange(deps, CHECKER, first.change_id, 'approve');
    const profileAfterFirst = structuredClone(store.profiles.get('ACC-001'));
    const records = audit.records().length;
    const err = await decideLimitChange(deps, MAKER, second.change_id, 'approve').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('STALE_CHANGE');
    expect((err as ConflictError).message).toContain('ACC-001/v1');
    // The limits are untouched; the request is closed so it cannot apply later.
    expect(store.profiles.get('ACC-001')).toEqual(profileAfterFirst);
    expect(store.limitChanges.get(second.change_id)).toMatchObject({
      status: 'REJECTED',
      decided_by: 'RISK-OFFICER-1',
      decision_reason: expect.stringMatching(/^STALE_CHANGE: /),
    });
    const added = audit.records().slice(records);
    expect(added.map((r) => [r.event_type, r.decision])).toEqual([['limit_change_refused', 'refused']]);
    expect(added[0]?.reason).toMatch(/^STALE_CHANGE: /);
  });

  it('refuses a stale change even when it sets the same values as the one applied since', async () => {
    // The review's case: X and Y, both against v1, both max_order_value 2,000,000. Y is approved;
    // X must not be taken for "already applied" (a retried approval) because its values match.
    const x = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'x',
    });
    const y = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'y',
    });
    await decideLimitChange(deps, CHECKER, y.change_id, 'approve');
    const err = await decideLimitChange(deps, CHECKER, x.change_id, 'approve').catch((e: unknown) => e);
    expect((err as ConflictError).code).toBe('STALE_CHANGE');
    expect(store.limitChanges.get(x.change_id)?.status).toBe('REJECTED');
    expect(store.profiles.get('ACC-001')?.last_change_id).toBe(y.change_id);
  });

  it('refuses to decide a change twice, or an unknown change (audited)', async () => {
    const change = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'r',
    });
    await decideLimitChange(deps, CHECKER, change.change_id, 'reject', 'not justified');
    expect(audit.ofType('limit_change_rejected')[0]).toMatchObject({
      actor: 'RISK-OFFICER-2',
      decision: 'rejected',
      reason: 'not justified',
      input: { change_id: change.change_id, requested_by: 'RISK-OFFICER-1', values: change.values },
    });
    expect(store.profiles.get('ACC-001')).toEqual(ACC_001);
    const again = await refused(
      () => decideLimitChange(deps, CHECKER, change.change_id, 'approve'),
      ConflictError,
      'limit_change_refused',
    );
    expect(again.err.code).toBe('LIMIT_CHANGE_REJECTED');
    await refused(() => decideLimitChange(deps, CHECKER, 'LC-nope', 'approve'), NotFoundError, 'limit_change_refused');
    const other = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '3' },
      reason: 'r',
    });
    const noReason = await refused(
      () => decideLimitChange(deps, CHECKER, other.change_id, 'reject', ''),
      ValidationError,
      'limit_change_refused',
    );
    expect(fieldsOf(noReason.err)).toEqual([['reason', 'required']]);
  });

  it('applies a temporary change until its expiry, then the base limits again; the expiry is audited', async () => {
    const until = '2026-01-02T16:30:00Z';
    const change = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '3000000' },
      reason: 'index rebalance',
      until,
    });
    expect(change.until).toBe('2026-01-02T16:30:00.000000000Z');
    await decideLimitChange(deps, CHECKER, change.change_id, 'approve');
    const profile = store.profiles.get('ACC-001') as RiskProfile;
    // The base limits stay; the change is laid over them while it lasts.
    expect(profile.max_order_value).toBe('1000000');
    expect(profile.version).toBe('ACC-001/v2');
    expect(profile.temporary).toEqual([
      { change_id: change.change_id, values: { max_order_value: '3000000' }, until: change.until },
    ]);
    expect(audit.ofType('limit_change_approved')[0]?.input).toMatchObject({
      temporary: true,
      until: change.until,
      before: { max_order_value: '1000000' },
      after: { max_order_value: '3000000' },
    });
    expect(effectiveProfile(profile, '2026-01-02T16:29:59.999999999Z').max_order_value).toBe('3000000');
    expect(effectiveProfile(profile, '2026-01-02T16:30:00.000000000Z').max_order_value).toBe('1000000');
    clock.set('2026-01-02T15:00:00Z');
    expect(((await getLimits(deps, CHECKER, 'ACC-001')).effective as RiskProfile).max_order_value).toBe('3000000');

    // Nothing to expire yet.
    expect(await expireTemporaryLimits(deps, 'ACC-001')).toEqual([]);
    clock.set('2026-01-02T16:30:00.5Z');
    expect(((await getLimits(deps, CHECKER, 'ACC-001')).effective as RiskProfile).max_order_value).toBe('1000000');
    const expired = await expireTemporaryLimits(deps, 'ACC-001');
    expect(expired.map((t) => t.change_id)).toEqual([change.change_id]);
    const swept = store.profiles.get('ACC-001') as RiskProfile;
    expect(swept.temporary).toBeUndefined();
    // Housekeeping does not change the limits in force, so it keeps the version.
    expect(swept.version).toBe('ACC-001/v2');
    expect(audit.ofType('limit_change_expired')).toHaveLength(1);
    expect(audit.ofType('limit_change_expired')[0]).toMatchObject({
      actor: 'risk-agent',
      decision: 'expired',
      input: {
        change_id: change.change_id,
        values: { max_order_value: '3000000' },
        now_in_force: { max_order_value: '1000000' },
      },
    });
    expect(await expireTemporaryLimits(deps, 'ACC-001')).toEqual([]);
    expect(audit.ofType('limit_change_expired')).toHaveLength(1);
  });

  it('the scheduled sweep records every temporary change whose end has come, once, on any account', async () => {
    const change = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '3000000' },
      reason: 'index rebalance',
      until: '2026-01-02T16:30:00Z',
    });
    await decideLimitChange(deps, CHECKER, change.change_id, 'approve');
    clock.set('2026-01-02T16:00:00Z');
    expect(await sweepExpiredLimits(deps)).toEqual({ accounts: [], expired: 0 });
    clock.set('2026-01-02T16:30:00Z');
    expect(await sweepExpiredLimits(deps)).toEqual({ accounts: ['ACC-001'], expired: 1 });
    expect((store.profiles.get('ACC-001') as RiskProfile).temporary).toBeUndefined();
    expect(audit.ofType('limit_change_expired').map((r) => r.input)).toMatchObject([{ change_id: change.change_id }]);
    // The next sweep finds the change ended but nothing left to record.
    expect(await sweepExpiredLimits(deps)).toEqual({ accounts: ['ACC-001'], expired: 0 });
    expect(audit.ofType('limit_change_expired')).toHaveLength(1);
  });

  it('a change requested before a temporary change expired still applies after the expiry is swept', async () => {
    const temp = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '3000000' },
      reason: 't',
      until: '2026-01-02T15:00:00Z',
    });
    await decideLimitChange(deps, CHECKER, temp.change_id, 'approve');
    const perm = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { approval_threshold: '400000' },
      reason: 'p',
    });
    clock.set('2026-01-02T15:00:01Z');
    const decided = await decideLimitChange(deps, CHECKER, perm.change_id, 'approve');
    expect(decided.applied_version).toBe('ACC-001/v3');
    const profile = store.profiles.get('ACC-001') as RiskProfile;
    expect(profile.approval_threshold).toBe('400000');
    expect(profile.temporary).toBeUndefined();
    // The expiry was recorded before the approval.
    const types = audit.records().map((r) => r.event_type);
    expect(types.indexOf('limit_change_expired')).toBeLessThan(types.lastIndexOf('limit_change_approved'));
  });

  it('refuses to approve a temporary change whose end has passed', async () => {
    const change = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '3000000' },
      reason: 't',
      until: '2026-01-02T15:00:00Z',
    });
    clock.set('2026-01-02T15:00:00Z');
    const err = await decideLimitChange(deps, CHECKER, change.change_id, 'approve').catch((e: unknown) => e);
    expect((err as ConflictError).code).toBe('EXPIRED_CHANGE');
    expect(store.profiles.get('ACC-001')).toEqual(ACC_001);
    expect(store.limitChanges.get(change.change_id)?.status).toBe('REJECTED');
    expect(audit.ofType('limit_change_refused')).toHaveLength(1);
  });

  it('an approval that loses the race to a concurrent change is refused as stale, and the winner stands', async () => {
    const mine = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'a',
    });
    // Between the approval's read and its conditional write, another writer moves the version.
    store.beforeConditionalWrite.push(async () => {
      const p = store.profiles.get('ACC-001') as RiskProfile;
      store.profiles.set('ACC-001', { ...p, approval_threshold: '1', version: 'ACC-001/v2' });
    });
    const err = await decideLimitChange(deps, CHECKER, mine.change_id, 'approve').catch((e: unknown) => e);
    expect((err as ConflictError).code).toBe('STALE_CHANGE');
    expect(store.profiles.get('ACC-001')).toMatchObject({ approval_threshold: '1', max_order_value: '1000000' });
    expect(audit.ofType('limit_change_approved')).toHaveLength(0);
  });

  it('a rejection that wins the claim leaves the limits untouched (the approval applies nothing)', async () => {
    const mine = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'a',
    });
    // Just before this approval's claim, another checker rejects the change.
    store.beforeConditionalWrite.push(async () => {
      const c = store.limitChanges.get(mine.change_id);
      if (c) store.limitChanges.set(mine.change_id, { ...c, status: 'REJECTED', decided_by: 'RISK-OFFICER-3' });
    });
    const err = await decideLimitChange(deps, CHECKER, mine.change_id, 'approve').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('LIMIT_CHANGE_REJECTED');
    expect((err as ConflictError).message).toContain('RISK-OFFICER-3');
    // Never written: the limits in force are the ones the record says.
    expect(store.profiles.get('ACC-001')).toEqual(ACC_001);
    expect(audit.ofType('limit_change_approved')).toHaveLength(0);
    expect(audit.ofType('limit_change_refused')).toHaveLength(1);
  });

  it('a claimed approval that another change overtakes before its write is closed as stale, not applied', async () => {
    const mine = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'a',
    });
    // After the claim, before the profile write: another change lands (a new version).
    store.beforeConditionalWrite.push(
      async () => undefined,
      async () => {
        const p = store.profiles.get('ACC-001');
        if (p) store.profiles.set('ACC-001', { ...p, approval_threshold: '1', version: 'ACC-001/v2' });
      },
    );
    const err = await decideLimitChange(deps, CHECKER, mine.change_id, 'approve').catch((e: unknown) => e);
    expect((err as ConflictError).code).toBe('STALE_CHANGE');
    expect(store.profiles.get('ACC-001')).toMatchObject({
      max_order_value: ACC_001.max_order_value,
      version: 'ACC-001/v2',
    });
    expect(store.limitChanges.get(mine.change_id)).toMatchObject({
      status: 'REJECTED',
      decision_reason: expect.stringMatching(/^STALE_CHANGE: /),
    });
    expect(audit.ofType('limit_change_approved')).toHaveLength(0);
  });

  it('approving again a change applied and then overtaken changes nothing (refused as decided)', async () => {
    const a = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'a',
    });
    await decideLimitChange(deps, CHECKER, a.change_id, 'approve');
    const b = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { approval_threshold: '600000' },
      reason: 'b',
    });
    await decideLimitChange(deps, CHECKER, b.change_id, 'approve');
    const profile = structuredClone(store.profiles.get('ACC-001'));
    const third: RiskCaller = { id: 'RISK-OFFICER-3', role: 'risk-officer' };
    const err = await decideLimitChange(deps, third, a.change_id, 'approve').catch((e: unknown) => e);
    expect((err as ConflictError).code).toBe('LIMIT_CHANGE_APPROVED');
    expect(store.limitChanges.get(a.change_id)).toMatchObject({ status: 'APPROVED', applied_version: 'ACC-001/v2' });
    expect(store.profiles.get('ACC-001')).toEqual(profile);
  });

  it('an approval claimed but interrupted before its write is finished by an officer approving it again', async () => {
    const mine = await requestLimitChange(deps, MAKER, {
      account_id: 'ACC-001',
      values: { max_order_value: '2000000' },
      reason: 'a',
    });
    // As if the process stopped right after the claim.
    await store.decideLimitChange(mine.change_id, {
      status: 'APPROVED',
      decided_by: 'RISK-OFFICER-2',
      decided_at: T0,
      applied_version: 'ACC-001/v2',
    });
    expect(store.profiles.get('ACC-001')?.max_order_value).toBe(ACC_001.max_order_value);
    const done = await decideLimitChange(deps, CHECKER, mine.change_id, 'approve');
    expect(done.status).toBe('APPROVED');
    expect(store.profiles.get('ACC-001')).toMatchObject({ max_order_value: '2000000', version: 'ACC-001/v2' });
    const [rec] = audit.ofType('limit_change_approved');
    expect(rec?.input).toMatchObject({ completed_after_interruption: true, applied_version: 'ACC-001/v2' });
    // Once applied, approving again is refused as already decided.
    const again = await decideLimitChange(deps, CHECKER, mine.change_id, 'approve').catch((e: unknown) => e);
    expect((again as ConflictError).code).toBe('LIMIT_CHANGE_APPROVED');
    // The requester still cannot finish their own change.
    const self = await decideLimitChange(deps, MAKER, mine.change_id, 'approve').catch((e: unknown) => e);
    expect((self as ForbiddenError).code).toBe('SELF_APPROVAL');
  });

  it('numbers versions from the stored one, whatever its prefix', () => {
    expect(nextVersion('ACC-001', 'ACC-001/v1')).toBe('ACC-001/v2');
    expect(nextVersion('ACC-002', 'default/v1')).toBe('ACC-002/v2');
    expect(nextVersion('ACC-009', 'legacy')).toBe('ACC-009/v1');
    expect(nextVersion('ACC-001', 'ACC-001/v99')).toBe('ACC-001/v100');
  });
});

describe('the firm settings under maker-checker', () => {
  it('changes the collar through a second officer: before and after audited, a new version', async () => {
    const change = await requestLimitChange(deps, MAKER, {
      account_id: 'FIRM',
      values: { price_collar: '0.05', max_price_age_ms: 5000 },
      reason: 'tighter collar for volatile markets',
    });
    expect(change).toMatchObject({
      account_id: 'FIRM',
      before: { price_collar: '0.10', max_price_age_ms: 10_000 },
      base_version: 'firm/v1',
    });
    const self = await decideLimitChange(deps, MAKER, change.change_id, 'approve').catch((e: unknown) => e);
    expect((self as ForbiddenError).code).toBe('SELF_APPROVAL');
    expect(store.firmSettings?.price_collar).toBe('0.10');
    await decideLimitChange(deps, CHECKER, change.change_id, 'approve');
    expect(store.firmSettings).toEqual({
      price_collar: '0.05',
      max_price_age_ms: 5000,
      version: 'firm/v2',
      last_change_id: change.change_id,
    });
    expect(audit.ofType('limit_change_approved')[0]?.input).toMatchObject({
      account_id: 'FIRM',
      before: { price_collar: '0.10', max_price_age_ms: 10_000 },
      after: { price_collar: '0.05', max_price_age_ms: 5000 },
      applied_version: 'firm/v2',
    });
    expect(changed).toContainEqual({ kind: 'limits', key: 'FIRM' });
  });

  it('shows the firm settings to a reader as the FIRM limits', async () => {
    const view = await getLimits(deps, AUDITOR, 'FIRM');
    expect(view).toMatchObject({
      account_id: 'FIRM',
      profile: { price_collar: '0.10', max_price_age_ms: 10_000, version: 'firm/v1' },
      pending: [],
    });
  });

  it('names every bad firm value, refuses a temporary firm change, audited, nothing changed', async () => {
    const { err } = await refused(
      () =>
        requestLimitChange(deps, MAKER, {
          account_id: 'FIRM',
          values: { price_collar: '2', max_price_age_ms: 0, max_order_value: '1' },
          reason: 'r',
          until: '2026-01-02T16:00:00Z',
        }),
      ValidationError,
      'limit_change_refused',
    );
    expect(fieldsOf(err).sort()).toEqual([
      ['until', 'not_allowed'],
      ['values.max_order_value', 'unknown_field'],
      ['values.max_price_age_ms', 'positive'],
      ['values.price_collar', 'fraction'],
    ]);
    expect(store.firmSettings?.version).toBe('firm/v1');
  });

  it('refuses a firm change requested against settings another change has replaced since', async () => {
    const a = await requestLimitChange(deps, MAKER, {
      account_id: 'FIRM',
      values: { price_collar: '0.05' },
      reason: 'a',
    });
    const b = await requestLimitChange(deps, MAKER, {
      account_id: 'FIRM',
      values: { price_collar: '0.08' },
      reason: 'b',
    });
    await decideLimitChange(deps, CHECKER, a.change_id, 'approve');
    const err = await decideLimitChange(deps, CHECKER, b.change_id, 'approve').catch((e: unknown) => e);
    expect((err as ConflictError).code).toBe('STALE_CHANGE');
    expect(store.firmSettings?.price_collar).toBe('0.05');
  });
});

describe('the kill switch', () => {
  it('sets the firm and an account ACTIVE / REDUCING / HALTED, audited with who, why, before and after', async () => {
    expect((await getTradingState(deps, CHECKER, 'FIRM')).state).toBe('ACTIVE');
    const halted = await setTradingState(deps, MAKER, { scope: 'FIRM', state: 'HALTED', reason: 'runaway algo' });
    expect(halted).toMatchObject({ scope: 'FIRM', state: 'HALTED', set_by: 'RISK-OFFICER-1', revision: 1 });
    expect(store.tradingStates.get('FIRM')?.state).toBe('HALTED');
    expect(changed).toEqual([{ kind: 'trading_state', key: 'FIRM' }]);
    const resumed = await setTradingState(deps, CHECKER, { scope: 'FIRM', state: 'ACTIVE', reason: 'fixed' });
    expect(resumed.revision).toBe(2);
    await setTradingState(deps, CHECKER, { scope: 'ACC-002', state: 'REDUCING', reason: 'margin call' });
    expect((await getTradingState(deps, AUDITOR, 'ACC-002')).state).toBe('REDUCING');
    const records = audit.ofType('trading_state_changed');
    expect(records.map((r) => [r.actor, r.decision, r.reason])).toEqual([
      ['RISK-OFFICER-1', 'HALTED', 'runaway algo'],
      ['RISK-OFFICER-2', 'ACTIVE', 'fixed'],
      ['RISK-OFFICER-2', 'REDUCING', 'margin call'],
    ]);
    expect(records[1]?.input).toMatchObject({
      scope: 'FIRM',
      before: { state: 'HALTED', set_by: 'RISK-OFFICER-1' },
      after: { state: 'ACTIVE' },
    });
    expect(records[0]?.input).toMatchObject({ before: { state: 'ACTIVE' }, after: { state: 'HALTED' } });
  });

  it('retries a write lost to a concurrent officer, from the state that officer wrote', async () => {
    store.beforeConditionalWrite.push(async () => {
      store.tradingStates.set('FIRM', {
        scope: 'FIRM',
        state: 'REDUCING',
        reason: 'other',
        set_by: 'X',
        set_at: T0,
        revision: 1,
      });
    });
    const s = await setTradingState(deps, MAKER, { scope: 'FIRM', state: 'HALTED', reason: 'r' });
    expect(s.revision).toBe(2);
    expect(audit.ofType('trading_state_changed')[0]?.input).toMatchObject({ before: { state: 'REDUCING' } });
  });

  it('refuses an unknown scope or state and a missing reason (audited, nothing changed)', async () => {
    const { err } = await refused(
      () => setTradingState(deps, MAKER, { scope: 'ACC-404', state: 'STOPPED', reason: '' }),
      ValidationError,
      'risk_admin_refused',
    );
    expect(fieldsOf(err)).toEqual([
      ['scope', 'unknown_scope'],
      ['reason', 'required'],
      ['state', 'enum'],
    ]);
    await expect(getTradingState(deps, CHECKER, 'ACC-404')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('lists, locates, halts and prices', () => {
  it('adds a restriction and lifts it, keeping the history', async () => {
    const r = await addRestriction(deps, MAKER, {
      symbol: 'AAPL',
      scope: 'ACC-001',
      list: 'RESTRICTED',
      reason: 'MNPI',
    });
    expect(r).toMatchObject({ symbol: 'AAPL', scope: 'ACC-001', list: 'RESTRICTED', added_by: 'RISK-OFFICER-1' });
    expect(r.restriction_id).toMatch(/^RS-/);
    expect(r.effective_until).toBeUndefined();
    expect(changed).toEqual([{ kind: 'restrictions', key: 'AAPL' }]);
    clock.advanceSeconds(60);
    const lifted = await liftRestriction(deps, CHECKER, {
      symbol: 'AAPL',
      restriction_id: r.restriction_id,
      reason: 'deal announced',
    });
    expect(lifted.effective_until).toBeDefined();
    const listed = await listRestrictions(deps, AUDITOR, 'AAPL');
    expect(listed).toEqual([lifted]);
    expect(audit.ofType('restriction_added')[0]).toMatchObject({ actor: 'RISK-OFFICER-1', reason: 'MNPI' });
    expect(audit.ofType('restriction_lifted')[0]).toMatchObject({
      actor: 'RISK-OFFICER-2',
      reason: 'deal announced',
      input: { before: { effective_until: null }, after: { effective_until: lifted.effective_until } },
    });
    changed = [];
    const again = await refused(
      () => liftRestriction(deps, CHECKER, { symbol: 'AAPL', restriction_id: r.restriction_id, reason: 'x' }),
      ConflictError,
      'risk_admin_refused',
    );
    expect(again.err.code).toBe('RESTRICTION_ENDED');
    await refused(
      () => liftRestriction(deps, CHECKER, { symbol: 'AAPL', restriction_id: 'RS-nope', reason: 'x' }),
      NotFoundError,
      'risk_admin_refused',
    );
  });

  it('refuses a restriction on an unknown symbol, scope or list', async () => {
    const { err } = await refused(
      () =>
        addRestriction(deps, MAKER, {
          symbol: 'ZZZZ',
          scope: 'ACC-404',
          list: 'GREY',
          reason: 'r',
          effective_until: '2020-01-01T00:00:00Z',
        }),
      ValidationError,
      'risk_admin_refused',
    );
    expect(fieldsOf(err)).toEqual([
      ['symbol', 'unknown_symbol'],
      ['scope', 'unknown_scope'],
      ['list', 'enum'],
      ['effective_until', 'not_before_now'],
    ]);
  });

  it('records a locate, good until the next UTC midnight by default', async () => {
    const l = await recordLocate(deps, MAKER, {
      account_id: 'ACC-001',
      symbol: 'AAPL',
      quantity: '5000',
      source: 'stock loan desk',
    });
    expect(l).toMatchObject({
      account_id: 'ACC-001',
      symbol: 'AAPL',
      quantity: 5000,
      source: 'stock loan desk',
      obtained_at: T0,
      expires_at: '2026-01-03T00:00:00.000000000Z',
      recorded_by: 'RISK-OFFICER-1',
    });
    expect(await listLocates(deps, CHECKER, 'ACC-001', 'AAPL')).toEqual([l]);
    expect(audit.ofType('locate_recorded')[0]?.input).toMatchObject({ locate_id: l.locate_id, quantity: 5000 });
    changed = [];
    const { err } = await refused(
      () => recordLocate(deps, MAKER, { account_id: 'ACC-404', symbol: 'ZZZZ', quantity: 0, source: '' }),
      ValidationError,
      'risk_admin_refused',
    );
    expect(fieldsOf(err)).toEqual([
      ['account_id', 'unknown_account'],
      ['symbol', 'unknown_symbol'],
      ['quantity', 'positive'],
      ['source', 'required'],
    ]);
  });

  it('halts a symbol, pauses one for five minutes (LULD), and lifts a halt', async () => {
    const halt = await setHalt(deps, MAKER, { symbol: 'AAPL', reason: 'news pending' });
    expect(halt).toMatchObject({ symbol: 'AAPL', kind: 'TRADING_HALT', since: T0, set_by: 'RISK-OFFICER-1' });
    expect(halt.until).toBeUndefined();
    const pause = await setHalt(deps, MAKER, { symbol: 'MSFT', kind: 'LULD_PAUSE', reason: 'limit down' });
    expect(pause.until).toBe(addSeconds(pause.since, 300));
    expect(await getHalt(deps, AUDITOR, 'MSFT')).toEqual(pause);
    const lifted = await liftHalt(deps, CHECKER, { symbol: 'AAPL', reason: 'news out' });
    expect(lifted).toEqual(halt);
    expect(store.halts.has('AAPL')).toBe(false);
    expect(audit.ofType('halt_set').map((r) => r.decision)).toEqual(['TRADING_HALT', 'LULD_PAUSE']);
    expect(audit.ofType('halt_lifted')[0]).toMatchObject({ actor: 'RISK-OFFICER-2', input: { before: halt } });
    changed = [];
    const notHalted = await refused(
      () => liftHalt(deps, CHECKER, { symbol: 'AAPL', reason: 'x' }),
      ConflictError,
      'risk_admin_refused',
    );
    expect(notHalted.err.code).toBe('NOT_HALTED');
    const bad = await refused(
      () => setHalt(deps, MAKER, { symbol: 'AAPL', kind: 'CIRCUIT', reason: 'r', until: 'soon' }),
      ValidationError,
      'risk_admin_refused',
    );
    expect(fieldsOf(bad.err)).toEqual([
      ['kind', 'enum'],
      ['until', 'timestamp'],
    ]);
  });

  it('sets a manual reference price as of now, with the price before and after in the audit record', async () => {
    clock.set('2026-01-02T15:00:00Z');
    const s = await setReferencePrice(deps, MAKER, { symbol: 'AAPL', price: '191.25' });
    expect(s).toEqual({ symbol: 'AAPL', reference_price: '191.25', price_as_of: '2026-01-02T15:00:00.000000000Z' });
    expect(audit.ofType('reference_price_set')[0]?.input).toMatchObject({
      before: { reference_price: '190.00', price_as_of: T0 },
      after: { reference_price: '191.25' },
    });
    changed = [];
    for (const price of ['-1', '0', 'abc']) {
      const { err } = await refused(
        () => setReferencePrice(deps, MAKER, { symbol: 'AAPL', price }),
        ValidationError,
        'risk_admin_refused',
      );
      expect(err.errors[0]?.field).toBe('price');
    }
    const unknown = await refused(
      () => setReferencePrice(deps, MAKER, { symbol: 'ZZZZ', price: '1' }),
      ValidationError,
      'risk_admin_refused',
    );
    expect(fieldsOf(unknown.err)).toEqual([['symbol', 'unknown_symbol']]);
  });

  it('moves a price at most by the firm collar at a time (refused beyond, audited, nothing changed)', async () => {
    const jump = await refused(
      () => setReferencePrice(deps, MAKER, { symbol: 'AAPL', price: '209.01' }),
      ValidationError,
      'risk_admin_refused',
    );
    expect(fieldsOf(jump.err)).toEqual([['price', 'band']]);
    expect(store.securities.get('AAPL')?.reference_price).toBe('190.00');
    const down = await refused(
      () => setReferencePrice(deps, MAKER, { symbol: 'AAPL', price: '170.99' }),
      ValidationError,
      'risk_admin_refused',
    );
    expect(fieldsOf(down.err)).toEqual([['price', 'band']]);
    // At the edges: 190 x 1.1 and 190 x 0.9.
    expect((await setReferencePrice(deps, MAKER, { symbol: 'AAPL', price: '209.00' })).reference_price).toBe('209.00');
    expect((await setReferencePrice(deps, MAKER, { symbol: 'AAPL', price: '188.10' })).reference_price).toBe('188.10');
  });
});

describe('the risk API (functions/risk/app.ts)', () => {
  const silent = { info: () => {}, warn: () => {}, error: () => {} };
  let cache: ReferenceCache;
  let handler: (event: unknown) => Promise<unknown>;

  beforeEach(() => {
    // A long staleness bound: a change seen at once is seen because the write invalidated the cache.
    cache = new ReferenceCache(store, clock, 60_000);
    handler = createRiskHandler(
      {
        check: {
          orders: new InMemoryOrderStore(),
          positions: new InMemoryPositionStore(),
          reference: cache,
          accountRisk: new InMemoryAccountRiskStore(),
          audit,
          clock,
          identity: 'risk-agent',
        },
        admin: { ...deps, onChange: () => cache.invalidate() },
      },
      silent,
      testAccess('risk', audit),
    );
  });

  async function call(
    who: RiskCaller,
    method: string,
    resource: string,
    path: Record<string, string> = {},
    body?: unknown,
    query?: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const event = {
      httpMethod: method,
      resource,
      path: resource.replace(/\{(\w+)\}/g, (_m, k: string) => path[k] ?? ''),
      pathParameters: Object.keys(path).length > 0 ? path : null,
      queryStringParameters: query ?? null,
      body: body === undefined ? null : JSON.stringify(body),
      requestContext: {
        requestId: 'r-1',
        identity: { clientCert: { subjectDN: `CN=${who.id},OU=${who.role}` } },
      },
    } as unknown as APIGatewayProxyEvent;
    const res = (await handler(event)) as { statusCode: number; body: string };
    return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown> };
  }

  it('takes a limit change through request, listing and approval by a second officer', async () => {
    const requested = await call(
      MAKER,
      'POST',
      '/risk/limit-changes',
      {},
      {
        account_id: 'ACC-001',
        values: { max_order_value: '1500000' },
        reason: 'mandate',
      },
    );
    expect(requested.status).toBe(201);
    const id = requested.body.change_id as string;
    const listed = await call(CHECKER, 'GET', '/risk/limit-changes', {}, undefined, { status: 'PENDING' });
    expect((listed.body.changes as Array<{ change_id: string }>).map((c) => c.change_id)).toEqual([id]);
    const self = await call(MAKER, 'POST', '/risk/limit-changes/{change_id}/approve', { change_id: id }, {});
    expect(self.status).toBe(403);
    expect(self.body.code).toBe('SELF_APPROVAL');
    const approved = await call(CHECKER, 'POST', '/risk/limit-changes/{change_id}/approve', { change_id: id }, {});
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'APPROVED', applied_version: 'ACC-001/v2' });
    const limits = await call(AUDITOR, 'GET', '/risk/limits/{account_id}', { account_id: 'ACC-001' });
    expect(limits.body).toMatchObject({ effective: { max_order_value: '1500000', version: 'ACC-001/v2' } });
    // The gate's cache sees the new limits at once.
    expect((await cache.getRiskProfile('ACC-001'))?.max_order_value).toBe('1500000');
  });

  it('does not let a halt that ends sooner shorten a timed halt in force; a longer one may replace it', async () => {
    await setHalt(deps, MAKER, { symbol: 'AAPL', kind: 'TRADING_HALT', reason: 'news', until: '2026-01-02T15:30:00Z' });
    const err = await setHalt(deps, MAKER, { symbol: 'AAPL', kind: 'LULD_PAUSE', reason: 'limit down' }).catch(
      (e: unknown) => e,
    );
    expect((err as ConflictError).code).toBe('HALT_IN_FORCE');
    expect(store.halts.get('AAPL')).toMatchObject({ kind: 'TRADING_HALT', until: '2026-01-02T15:30:00.000000000Z' });
    await setHalt(deps, MAKER, {
      symbol: 'AAPL',
      kind: 'TRADING_HALT',
      reason: 'extended',
      until: '2026-01-02T16:30:00Z',
    });
    expect(store.halts.get('AAPL')).toMatchObject({ reason: 'extended' });
  });

  it('lifts only the halt it read: one set meanwhile stays (refused, audited)', async () => {
    await setHalt(deps, MAKER, { symbol: 'AAPL', kind: 'LULD_PAUSE', reason: 'limit down' });
    const read = store.getHalt.bind(store);
    store.getHalt = async (symbol) => {
      const seen = await read(symbol);
      // Between the read and the lift, the exchange halts the symbol outright.
      store.halts.set('AAPL', {
        symbol: 'AAPL',
        kind: 'TRADING_HALT',
        reason: 'news',
        since: '2026-01-02T14:31:00.000000000Z',
        set_by: 'x',
      });
      return seen;
    };
    const err = await liftHalt(deps, MAKER, { symbol: 'AAPL', reason: 'pause over' }).catch((e: unknown) => e);
    expect((err as ConflictError).code).toBe('HALT_CHANGED');
    expect(store.halts.get('AAPL')).toMatchObject({ kind: 'TRADING_HALT' });
    expect(audit.records().at(-1)).toMatchObject({ event_type: 'risk_admin_refused' });
    expect(audit.ofType('halt_lifted')).toEqual([]);
  });

  it('does not let a pause that ends by itself replace a halt until lifted (audited)', async () => {
    await setHalt(deps, MAKER, { symbol: 'AAPL', kind: 'TRADING_HALT', reason: 'regulatory halt' });
    const err = await setHalt(deps, MAKER, { symbol: 'AAPL', kind: 'LULD_PAUSE', reason: 'limit down' }).catch(
      (e: unknown) => e,
    );
    expect((err as ConflictError).code).toBe('HALT_IN_FORCE');
    expect(store.halts.get('AAPL')).toMatchObject({ kind: 'TRADING_HALT', reason: 'regulatory halt' });
    expect(audit.records().at(-1)).toMatchObject({ event_type: 'risk_admin_refused' });
  });

  it("runs the schedule's sweep as a task (the EventBridge rule's input)", async () => {
    expect(await handler({ action: 'expire_temporary_limits', schedule: { rule_arn: TEST_RULE_ARN } })).toEqual({
      accounts: [],
      expired: 0,
    });
    // Without the rule's identity (the input transformer's <aws.events.rule-arn>) it is refused, audited.
    await expect(handler({ action: 'expire_temporary_limits' })).rejects.toMatchObject({ name: 'CallerUnidentified' });
    expect(audit.ofType('access_denied').at(-1)).toMatchObject({
      decision: 'denied',
      actor: 'arn:aws:iam::000000000000:role/acme-test-risk',
    });
  });

  it('refuses a body that is not a JSON object, audited, nothing changed', async () => {
    const before = stored();
    const res = await call(MAKER, 'POST', '/risk/limit-changes', {}, 'max_order_value=2000000');
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'body', rule: 'type', message: 'the body must be a JSON object' }]);
    expect(stored()).toEqual(before);
    expect(audit.records().map((r) => [r.event_type, r.actor])).toEqual([['limit_change_refused', 'RISK-OFFICER-1']]);
  });

  it('refuses unknown or mistyped body fields, naming them, audited, nothing changed', async () => {
    const before = stored();
    const res = await call(
      MAKER,
      'POST',
      '/risk/limit-changes',
      {},
      {
        account_id: 'ACC-001',
        values: { max_order_value: '-1' },
        reason: 'r',
        urgent: true,
      },
    );
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'urgent', rule: 'unknown_field', message: 'unknown field "urgent"' }]);
    const state = await call(MAKER, 'PUT', '/risk/trading-state/{scope}', { scope: 'FIRM' }, { state: 1 });
    expect(state.status).toBe(400);
    expect(state.body.errors).toEqual([{ field: 'state', rule: 'type', message: 'state must be a string' }]);
    expect(stored()).toEqual(before);
    expect(audit.records().map((r) => r.event_type)).toEqual(['limit_change_refused', 'risk_admin_refused']);
    const bad = await call(
      MAKER,
      'POST',
      '/risk/limit-changes',
      {},
      {
        account_id: 'ACC-001',
        values: { max_order_value: '-1' },
        reason: 'r',
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([
      { field: 'values.max_order_value', rule: 'positive', message: 'must be greater than zero, not -1' },
    ]);
  });

  it('sets the kill switch, seen by the gate at once; lists, locates, halts and prices', async () => {
    expect(await cache.getTradingMode('FIRM')).toBe('ACTIVE');
    const set = await call(
      CHECKER,
      'PUT',
      '/risk/trading-state/{scope}',
      { scope: 'FIRM' },
      {
        state: 'HALTED',
        reason: 'incident',
      },
    );
    expect(set.status).toBe(200);
    expect(await cache.getTradingMode('FIRM')).toBe('HALTED');
    expect((await call(AUDITOR, 'GET', '/risk/trading-state/{scope}', { scope: 'FIRM' })).body).toMatchObject({
      state: 'HALTED',
      set_by: 'RISK-OFFICER-2',
    });
    const trader = await call(
      TRADER,
      'PUT',
      '/risk/trading-state/{scope}',
      { scope: 'FIRM' },
      {
        state: 'ACTIVE',
        reason: 'me',
      },
    );
    expect(trader.status).toBe(403);

    const added = await call(
      MAKER,
      'POST',
      '/risk/restrictions',
      {},
      { symbol: 'AAPL', list: 'PROHIBITED', reason: 'x' },
    );
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ scope: 'FIRM', list: 'PROHIBITED' });
    const rid = added.body.restriction_id as string;
    const lifted = await call(
      MAKER,
      'POST',
      '/risk/restrictions/{symbol}/{restriction_id}/lift',
      { symbol: 'AAPL', restriction_id: rid },
      { reason: 'y' },
    );
    expect(lifted.status).toBe(200);
    const listed = await call(AUDITOR, 'GET', '/risk/restrictions/{symbol}', { symbol: 'AAPL' });
    expect((listed.body.restrictions as unknown[]).length).toBe(1);

    const locate = await call(
      MAKER,
      'POST',
      '/risk/locates',
      {},
      {
        account_id: 'ACC-001',
        symbol: 'MSFT',
        quantity: 100,
        source: 'desk',
      },
    );
    expect(locate.status).toBe(201);
    const locates = await call(MAKER, 'GET', '/risk/locates/{account_id}/{symbol}', {
      account_id: 'ACC-001',
      symbol: 'MSFT',
    });
    expect((locates.body.locates as unknown[]).length).toBe(1);

    expect((await call(MAKER, 'PUT', '/risk/halts/{symbol}', { symbol: 'AAPL' }, { reason: 'news' })).status).toBe(200);
    expect((await cache.getHalt('AAPL'))?.kind).toBe('TRADING_HALT');
    expect((await call(MAKER, 'GET', '/risk/halts/{symbol}', { symbol: 'AAPL' })).body.kind).toBe('TRADING_HALT');
    expect((await call(MAKER, 'DELETE', '/risk/halts/{symbol}', { symbol: 'AAPL' }, { reason: 'out' })).status).toBe(
      200,
    );
    expect(await cache.getHalt('AAPL')).toBeUndefined();
    expect((await call(MAKER, 'GET', '/risk/halts/{symbol}', { symbol: 'AAPL' })).status).toBe(404);

    const price = await call(MAKER, 'PUT', '/risk/prices/{symbol}', { symbol: 'MSFT' }, { price: '421.50' });
    expect(price.body).toMatchObject({ reference_price: '421.50' });
    expect((await cache.getSecurity('MSFT'))?.reference_price).toBe('421.50');
    expect((await call(MAKER, 'GET', '/risk/nothing')).status).toBe(404);
  });
});
