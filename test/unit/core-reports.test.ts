import { beforeEach, describe, expect, it } from 'vitest';
import type { SignedCheckpoint } from '../../functions/core/checkpoint.js';
import {
  type AuditTrail,
  type ComplianceDeps,
  generateReport,
  logEvent,
  parseAuditQuery,
  queryAuditLog,
  recordFailure,
} from '../../functions/core/compliance.js';
import { IntegrityError, ValidationError } from '../../functions/core/errors.js';
import type { AuditEvent, AuditEventType, AuditRecord, Fill, Order, Side } from '../../functions/core/model.js';
import { buildReport, type Report, reportToCsv } from '../../functions/core/reports.js';
import { InMemoryAccountRiskStore, InMemoryAuditTrail, InMemoryOrderStore, ManualClock } from '../support/in-memory.js';

let seq = 0;
function rec(event_type: AuditEventType, patch: Partial<AuditRecord> = {}): AuditRecord {
  seq += 1;
  return {
    sequence: seq,
    event_id: `EVT-${seq}`,
    timestamp: '2026-01-02T14:30:00.000000000Z',
    event_type,
    order_id: `ORD-${seq}`,
    trader_id: 'trader-1',
    actor: 'agent',
    input: {},
    decision: '',
    reason: '',
    prev_hash: '',
    hash: '',
    ...patch,
  };
}

function fill(symbol: string, side: Side, quantity: number, price: string): Fill {
  return {
    fill_id: `F-${seq}`,
    order_id: `ORD-${seq}`,
    account_id: 'ACC-001',
    symbol,
    side,
    quantity,
    price,
    venue_exec_id: 'X',
    executed_at: '',
  };
}

const trade = (ts: string, f: Fill, decision = 'filled', orderId?: string) =>
  rec('trade_executed', {
    timestamp: ts,
    decision,
    // A fill executes when it is recorded, unless the fixture says otherwise.
    input: { fill: { ...f, executed_at: f.executed_at || ts } },
    ...(orderId ? { order_id: orderId } : {}),
  });

/** A retried step's record of the execution on record: same order, same fill, marked replayed. */
const replay = (ts: string, original: AuditRecord) =>
  rec('trade_executed', {
    timestamp: ts,
    decision: 'filled',
    input: { ...(original.input as object), replayed: true },
    ...(original.order_id ? { order_id: original.order_id } : {}),
  });

const META = { generated_at: '2026-01-03T00:00:00.000000000Z', generated_by: 'examiner', checkpoint: null };
const RANGE = { from: '2026-01-01', to: '2026-01-31' };
const build = (type: Report['report_type'], records: AuditRecord[]) => {
  const byType = new Map<AuditEventType, AuditRecord[]>();
  for (const r of records) byType.set(r.event_type, [...(byType.get(r.event_type) ?? []), r]);
  return buildReport(type, RANGE, byType, META);
};

describe('buildReport', () => {
  it('daily_trading_activity: per day and symbol, replays counted once, notional to the cent', () => {
    const sell = trade('2026-01-02T16:00:00.000000000Z', fill('AAPL', 'SELL', 40, '191.5'));
    const report = build('daily_trading_activity', [
      trade('2026-01-02T15:00:00.000000000Z', fill('MSFT', 'BUY', 10, '420')),
      trade('2026-01-02T14:00:00.000000000Z', fill('AAPL', 'BUY', 100, '190')),
      sell,
      replay('2026-01-02T16:00:01.000000000Z', sell),
      trade('2026-01-03T10:00:00.000000000Z', fill('AAPL', 'BUY', 3, '0.005')),
      // a replay recorded on a later day still belongs to the day the trade executed
      replay('2026-01-05T09:00:00.000000000Z', sell),
    ]);
    expect(report).toMatchObject({ report_type: 'daily_trading_activity', ...RANGE, ...META });
    expect(report.rows).toEqual([
      { date: '2026-01-02', symbol: 'AAPL', trades: 2, shares_bought: 100, shares_sold: 40, notional: '26660.00' },
      { date: '2026-01-02', symbol: 'MSFT', trades: 1, shares_bought: 10, shares_sold: 0, notional: '4200.00' },
      { date: '2026-01-03', symbol: 'AAPL', trades: 1, shares_bought: 3, shares_sold: 0, notional: '0.02' },
    ]);
    expect(report.totals).toEqual({ trades: 4, notional: '30860.02' });
  });

  it('rejected_orders: a venue rejection replayed by a retried step is one row', () => {
    const first = rec('trade_failed', { decision: 'rejected', order_id: 'ORD-VR', input: { fill: null } });
    const again = rec('trade_failed', {
      decision: 'rejected',
      order_id: 'ORD-VR',
      input: { fill: null, replayed: true },
    });
    const report = build('rejected_orders', [first, again]);
    expect(report.rows.map((r) => r.event_id)).toEqual([first.event_id]);
    expect(report.totals).toEqual({ rejected: 1 });
  });

  it('risk_violations: one row per risk rejection', () => {
    const r = rec('order_rejected_risk', {
      reason: 'MAX_ORDER_VALUE_EXCEEDED, PROHIBITED_SECURITY',
      decision: 'rejected',
    });
    const report = build('risk_violations', [r, rec('order_invalid')]);
    expect(report.rows).toEqual([
      {
        timestamp: r.timestamp,
        order_id: r.order_id,
        trader_id: 'trader-1',
        reasons: 'MAX_ORDER_VALUE_EXCEEDED, PROHIBITED_SECURITY',
        event_id: r.event_id,
      },
    ]);
    expect(report.totals).toEqual({ violations: 1 });
  });

  it('rejected_orders: every stage, in sequence order, without venue fills or replays', () => {
    const expired = rec('approval_expired', { reason: 'timed out' });
    const invalid = rec('order_invalid', { reason: 'quantity:type', order_id: undefined, trader_id: undefined });
    const risk = rec('order_rejected_risk', { reason: 'MAX_ORDER_VALUE_EXCEEDED' });
    const checker = rec('approval_rejected', { reason: 'too big' });
    const venueReject = rec('trade_failed', { decision: 'rejected', reason: 'venue rejected: LIMIT_NOT_MARKETABLE' });
    const blocked = rec('trade_failed', { decision: 'blocked', reason: 'RISK_APPROVAL_NOT_VERIFIED: x' });
    const replayed = rec('trade_failed', { decision: 'replayed' });
    const report = build('rejected_orders', [
      venueReject,
      risk,
      invalid,
      expired,
      checker,
      blocked,
      replayed,
      rec('trade_executed'),
    ]);
    expect(report.rows.map((r) => r.stage)).toEqual([
      'approval_expired',
      'order_invalid',
      'order_rejected_risk',
      'approval_rejected',
      'trade_failed',
      'trade_failed',
    ]);
    expect(report.rows[1]).toMatchObject({ order_id: '', trader_id: '', reason: 'quantity:type' });
    expect(report.totals).toEqual({ rejected: 6 });
  });

  it('high_value_trades: fills that needed a checker, with who approved them and how', () => {
    const approved = rec('approved', {
      order_id: 'ORD-HV',
      actor: 'checker-1',
      timestamp: '2026-01-02T14:31:00.000000000Z',
      input: { order_value: '600020', via: 'api' },
    });
    const hv = trade('2026-01-02T14:32:00.000000000Z', fill('AAPL', 'BUY', 3158, '190'), 'filled', 'ORD-HV');
    const hvReplay = trade('2026-01-02T14:33:00.000000000Z', fill('AAPL', 'BUY', 3158, '190'), 'replayed', 'ORD-HV');
    const small = trade('2026-01-02T14:34:00.000000000Z', fill('AAPL', 'BUY', 1, '190'), 'filled', 'ORD-SMALL');
    const report = build('high_value_trades', [approved, hv, hvReplay, small]);
    expect(report.rows).toEqual([
      {
        executed_at: '2026-01-02T14:32:00.000000000Z',
        order_id: 'ORD-HV',
        trader_id: 'trader-1',
        symbol: 'AAPL',
        quantity: 3158,
        price: '190',
        order_value: '600020',
        approved_by: 'checker-1',
        approved_at: '2026-01-02T14:31:00.000000000Z',
        approved_via: 'api',
      },
    ]);
    expect(report.totals).toEqual({ trades: 1 });
  });

  it('an empty period gives empty rows and zero totals', () => {
    expect(build('daily_trading_activity', []).totals).toEqual({ trades: 0, notional: '0.00' });
    expect(build('risk_violations', []).rows).toEqual([]);
  });
});

describe('reportToCsv', () => {
  const report = (rows: Report['rows']): Report => ({
    report_type: 'rejected_orders',
    ...RANGE,
    ...META,
    rows,
    totals: {},
  });
  const dataRows = (csv: string) =>
    csv
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');

  it('writes a header of every column and one line per row', () => {
    expect(
      dataRows(
        reportToCsv(
          report([
            { a: 'x', b: 1 },
            { a: 'y', c: 'z' },
          ]),
        ),
      ),
    ).toBe('a,b,c\nx,1,\ny,,z\n');
  });

  it.each([
    ['a comma', 'a,b', '"a,b"'],
    ['a quote', 'say "no"', '"say ""no"""'],
    ['a newline', 'line1\nline2', '"line1\nline2"'],
    ['a carriage return', 'a\rb', '"a\rb"'],
    ['all of them', 'x, "y"\r\nz', '"x, ""y""\r\nz"'],
    ['nothing special', 'plain text', 'plain text'],
    ['a hash (never read as a comment line)', '#1', '"#1"'],
    ['a formula', '=HYPERLINK("x")', `"'=HYPERLINK(""x"")"`],
    ['a plus', '+1+1', "'+1+1"],
    ['an at', '@SUM(A1)', "'@SUM(A1)"],
    ['a dash before a letter', '-cmd', "'-cmd"],
    ['a dash, a digit, then a formula', "-2+3+cmd|' /C calc'!A0", `'-2+3+cmd|' /C calc'!A0`],
    ['a negative number', '-12.50', '-12.50'],
  ])('escapes a field with %s (RFC 4180)', (_what, value, escaped) => {
    expect(dataRows(reportToCsv(report([{ reason: value, n: 2 }])))).toBe(`reason,n\n${escaped},2\n`);
  });

  it('a report without rows is its comment lines and a line break', () => {
    const csv = reportToCsv(report([]));
    expect(dataRows(csv)).toBe('\n');
    expect(csv).toContain('# checkpoint none');
  });
});

describe('compliance use cases', () => {
  let clock: ManualClock;
  let audit: InMemoryAuditTrail;
  let deps: ComplianceDeps;
  let accountRisk: InMemoryAccountRiskStore;
  let orders: InMemoryOrderStore;
  let covered: number | undefined;
  const CHECKPOINT: SignedCheckpoint = {
    origin: 'test.acme-trading/audit',
    tree_size: 0,
    root_hash: 'a'.repeat(64),
    timestamp: '2026-01-02T14:30:00.000000000Z',
    key_id: 'b'.repeat(64),
    signature: 'c2lnbmF0dXJl',
  };
  const ORDER: Order = {
    order_id: 'ORD-1',
    symbol: 'AAPL',
    side: 'BUY',
    quantity: 1,
    order_type: 'MARKET',
    account_id: 'ACC-001',
    trader_id: 'trader-1',
  };
  const event = (event_type: AuditEventType, patch: Partial<AuditEvent> = {}): AuditEvent => ({
    event_type,
    order_id: 'ORD-1',
    trader_id: 'trader-1',
    actor: 'agent',
    input: {},
    decision: 'rejected',
    reason: 'r',
    ...patch,
  });

  beforeEach(() => {
    clock = new ManualClock('2026-01-02T14:30:00.000000000Z');
    audit = new InMemoryAuditTrail(clock);
    accountRisk = new InMemoryAccountRiskStore([
      {
        account_id: 'ACC-001',
        revision: 1,
        open: { 'ORD-1': { order_id: 'ORD-1', symbol: 'AAPL', side: 'BUY', quantity: 100, value: '19000' } },
        recent: [],
      },
    ]);
    orders = new InMemoryOrderStore();
    covered = undefined;
    const trail: AuditTrail = {
      archive: { list: async () => [], get: async () => undefined },
      // A checkpoint over every record so far, or over the first `covered`.
      checkpoint: async () => ({ ...CHECKPOINT, tree_size: covered ?? audit.records().length }),
      size: async () => audit.records().length,
    };
    deps = { audit, index: audit.index, trail, accountRisk, orders, clock, identity: 'compliance-agent' };
  });

  it('logEvent appends to the chain', async () => {
    const r = await logEvent(deps, event('order_submitted'));
    expect(r.sequence).toBe(0);
    expect(audit.records()).toEqual([r]);
  });

  it('recordFailure records order_failed with the error name and a bounded cause', async () => {
    const r = await recordFailure(deps, ORDER, { Error: 'States.TaskFailed', Cause: 'x'.repeat(5000) }, 'exec-1');
    expect(r).toMatchObject({
      event_type: 'order_failed',
      order_id: 'ORD-1',
      trader_id: 'trader-1',
      actor: 'compliance-agent',
      decision: 'failed',
    });
    expect((r.input as { cause: string }).cause).toHaveLength(2000);
    expect(r.input).toMatchObject({ execution_id: 'exec-1', error: 'States.TaskFailed' });
    expect(r.reason).toBe(`States.TaskFailed: ${'x'.repeat(300)}`);
    // The failed order no longer holds capital.
    expect((await accountRisk.get('ACC-001')).open).toEqual({});
  });

  it('recordFailure keeps the reservation of an order that filled (its position may lack the fill)', async () => {
    orders.records.set('ORD-1', {
      order_id: 'ORD-1',
      order: ORDER,
      order_hash: 'h',
      submitted_at: '2026-01-02T14:30:00.000000000Z',
      submitted_by: 'trader-1',
      execution_id: 'exec-3',
      answer: { statusCode: 202, body: {} },
      execution: { status: 'FILLED', fill: null, executed_at: '2026-01-02T14:30:00.000000000Z' },
    });
    const r = await recordFailure(deps, ORDER, { Error: 'FillTooOldError', Cause: 'old' }, 'exec-3');
    expect(Object.keys((await accountRisk.get('ACC-001')).open)).toEqual(['ORD-1']);
    expect(r.input).toHaveProperty('reservation_kept');
  });

  it('recordFailure still records the failure when the release fails, and says so', async () => {
    accountRisk.putIfRevision = async () => {
      throw new Error('store down');
    };
    const r = await recordFailure(deps, ORDER, { Error: 'States.TaskFailed', Cause: 'boom' }, 'exec-2');
    expect(r.event_type).toBe('order_failed');
    expect(r.input).toMatchObject({ release_error: 'Error: store down' });
  });

  it.each([null, 'boom', 42, {}])('recordFailure copes with an error of any shape (%j)', async (error) => {
    const r = await recordFailure(deps, ORDER, error, 'exec-1');
    expect(r.reason).toBe('Unknown');
  });

  describe('parseAuditQuery', () => {
    it('defaults the limit and turns dates into day bounds', () => {
      expect(parseAuditQuery({ event_type: 'trade_executed', from: '2026-01-02', to: '2026-01-03' })).toEqual({
        event_type: 'trade_executed',
        from: '2026-01-02T00:00:00.000000000Z',
        to: '2026-01-03T23:59:59.999999999Z',
        limit: 100,
      });
      expect(parseAuditQuery({ order_id: 'ORD-1', limit: '5', next_token: 't' })).toEqual({
        order_id: 'ORD-1',
        limit: 5,
        next_token: 't',
      });
    });

    it('accepts RFC 3339 bounds and normalises them to nanoseconds', () => {
      expect(parseAuditQuery({ event_type: 'approved', from: '2026-01-02T14:30:00Z' }).from).toBe(
        '2026-01-02T14:30:00.000000000Z',
      );
    });

    it.each<[string, Record<string, string>, string[]]>([
      ['an unknown parameter', { order_id: 'O', sort: 'asc' }, ['sort:unknown_field']],
      ['limit 0', { order_id: 'O', limit: '0' }, ['limit:range']],
      ['limit 1001', { order_id: 'O', limit: '1001' }, ['limit:range']],
      ['a fractional limit', { order_id: 'O', limit: '2.5' }, ['limit:range']],
      ['a non-numeric limit', { order_id: 'O', limit: 'ten' }, ['limit:range']],
      ['an unknown event type', { event_type: 'nope' }, ['event_type:enum']],
      ['neither order_id nor event_type', {}, ['order_id:required']],
      ['a malformed from', { event_type: 'approved', from: '02/01/2026' }, ['from:format']],
      ['an impossible date', { event_type: 'approved', to: '2026-02-30' }, ['to:format']],
      ['to before from', { event_type: 'approved', from: '2026-01-03', to: '2026-01-02' }, ['to:range']],
      ['several at once', { limit: '0', x: '1' }, ['limit:range', 'order_id:required', 'x:unknown_field']],
      ['two selectors', { order_id: 'O', trader_id: 'T' }, ['trader_id:one_of']],
      ['a malformed trader id', { trader_id: 'a b' }, ['trader_id:format']],
      ['a time range with an order id', { order_id: 'O', from: '2026-01-01' }, ['from:not_with_order_id']],
    ])('rejects %s', (_what, q, expected) => {
      try {
        parseAuditQuery(q);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).errors.map((e) => `${e.field}:${e.rule}`).sort()).toEqual(expected);
      }
    });
  });

  it('queryAuditLog reads by order, or by type within a time range', async () => {
    await logEvent(deps, event('order_submitted'));
    await logEvent(deps, event('approved', { order_id: 'ORD-2' }));
    clock.set('2026-01-05T00:00:00.000000000Z');
    await logEvent(deps, event('approved', { order_id: 'ORD-3' }));
    const byOrder = await queryAuditLog(deps, { order_id: 'ORD-1', limit: 10 });
    expect(byOrder.items.map((r) => r.event_type)).toEqual(['order_submitted']);
    const all = await queryAuditLog(deps, { event_type: 'approved', limit: 10 });
    expect(all.items.map((r) => r.order_id)).toEqual(['ORD-2', 'ORD-3']);
    const early = await queryAuditLog(deps, {
      event_type: 'approved',
      to: '2026-01-02T23:59:59.999999999Z',
      limit: 10,
    });
    expect(early.items.map((r) => r.order_id)).toEqual(['ORD-2']);
  });

  it('generateReport reads every page of the period from the index', async () => {
    clock.set('2026-01-01T23:59:59.999999999Z');
    await logEvent(deps, event('order_rejected_risk', { order_id: 'ORD-BEFORE' }));
    clock.set('2026-01-02T10:00:00.000000000Z');
    await Promise.all(
      Array.from({ length: 1200 }, (_, i) => logEvent(deps, event('order_rejected_risk', { order_id: `ORD-${i}` }))),
    );
    clock.set('2026-01-03T00:00:00.000000000Z');
    await logEvent(deps, event('order_rejected_risk', { order_id: 'ORD-AFTER' }));
    const report = await generateReport(
      deps,
      { report_type: 'risk_violations', from: '2026-01-02', to: '2026-01-02' },
      'examiner',
    );
    expect(report.totals).toEqual({ violations: 1200 });
    expect(report).toMatchObject({ from: '2026-01-02', to: '2026-01-02', generated_by: 'examiner' });
    expect(report.rows.some((r) => r.order_id === 'ORD-BEFORE' || r.order_id === 'ORD-AFTER')).toBe(false);
  });

  it.each<[string, Record<string, string | undefined>, string[]]>([
    ['an unknown report type', { report_type: 'pnl', from: '2026-01-01', to: '2026-01-02' }, ['report_type:enum']],
    ['no dates', { report_type: 'risk_violations' }, ['from:format', 'to:format']],
    [
      'a timestamp instead of a date',
      { report_type: 'risk_violations', from: '2026-01-01T00:00:00Z', to: '2026-01-02' },
      ['from:format'],
    ],
    ['an impossible date', { report_type: 'risk_violations', from: '2026-02-30', to: '2026-03-02' }, ['from:format']],
    ['to before from', { report_type: 'risk_violations', from: '2026-01-03', to: '2026-01-02' }, ['to:range']],
  ])('generateReport rejects %s', async (_what, params, expected) => {
    const err = await generateReport(deps, params, 'examiner').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).errors.map((e) => `${e.field}:${e.rule}`).sort()).toEqual(expected);
    // Refused before anything is read or written.
    expect(audit.records()).toEqual([]);
  });

  it('a report counts only what its checkpoint covers, carries the checkpoint, and is itself audited', async () => {
    clock.set('2026-01-02T10:00:00.000000000Z');
    for (let i = 0; i < 5; i++) await logEvent(deps, event('order_rejected_risk', { order_id: `ORD-${i}` }));
    covered = 3; // records 3 and 4 came after the latest checkpoint
    const report = await generateReport(
      deps,
      { report_type: 'risk_violations', from: '2026-01-02', to: '2026-01-02' },
      'examiner-7',
    );
    expect(report.rows.map((r) => r.order_id)).toEqual(['ORD-0', 'ORD-1', 'ORD-2']);
    expect(report.checkpoint).toEqual({ ...CHECKPOINT, tree_size: 3 });
    const logged = audit.records().at(-1);
    expect(logged).toMatchObject({
      event_type: 'report_generated',
      actor: 'examiner-7',
      decision: 'generated',
      input: {
        report_type: 'risk_violations',
        from: '2026-01-02',
        to: '2026-01-02',
        rows: 3,
        checkpoint_tree_size: 3,
        checkpoint_root_hash: 'a'.repeat(64),
      },
    });
    const csv = reportToCsv(report);
    expect(csv.split('\n').slice(0, 3)).toEqual([
      '# report_type=risk_violations from=2026-01-02 to=2026-01-02',
      `# generated_at=${report.generated_at} generated_by=examiner-7`,
      `# checkpoint origin=test.acme-trading/audit tree_size=3 root_hash=${'a'.repeat(64)} timestamp=2026-01-02T14:30:00.000000000Z key_id=${'b'.repeat(64)} signature=c2lnbmF0dXJl`,
    ]);
  });

  it('high_value_trades finds the approval given the evening before a trade just after midnight', async () => {
    clock.set('2026-01-01T23:59:30.000000000Z');
    await logEvent(
      deps,
      event('approved', { decision: 'approved', actor: 'checker-1', input: { order_value: '600000' } }),
    );
    clock.set('2026-01-02T00:00:01.000000000Z');
    const fill = {
      symbol: 'MSFT',
      side: 'BUY',
      quantity: 1500,
      price: '400.00',
      executed_at: '2026-01-02T00:00:01.000000000Z',
    };
    await logEvent(deps, event('trade_executed', { decision: 'filled', input: { fill } }));
    const report = await generateReport(
      deps,
      { report_type: 'high_value_trades', from: '2026-01-02', to: '2026-01-02' },
      'examiner',
    );
    expect(report.rows).toEqual([
      expect.objectContaining({
        order_id: 'ORD-1',
        approved_by: 'checker-1',
        approved_at: '2026-01-01T23:59:30.000000000Z',
      }),
    ]);
  });

  it('a report refuses an index record that no longer matches its hash', async () => {
    clock.set('2026-01-02T10:00:00.000000000Z');
    await logEvent(deps, event('order_rejected_risk', { order_id: 'ORD-A' }));
    // The index answers with the record edited after it was written.
    const index = deps.index;
    const edited: ComplianceDeps = {
      ...deps,
      index: {
        ...index,
        queryByType: async (...args: Parameters<typeof index.queryByType>) => {
          const page = await index.queryByType(...args);
          return { ...page, items: page.items.map((r) => ({ ...r, reason: 'edited in the index' })) };
        },
      },
    };
    const err = await generateReport(
      edited,
      { report_type: 'risk_violations', from: '2026-01-02', to: '2026-01-02' },
      'examiner',
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(String((err as Error).message)).toMatch(/does not match its hash/);
  });

  it('queryAuditLog reads a trader’s records within a time range', async () => {
    clock.set('2026-01-02T10:00:00.000000000Z');
    await logEvent(deps, event('order_submitted', { trader_id: 'trader-1', order_id: 'A' }));
    await logEvent(deps, event('order_submitted', { trader_id: 'trader-2', order_id: 'B' }));
    clock.set('2026-01-04T10:00:00.000000000Z');
    await logEvent(deps, event('order_submitted', { trader_id: 'trader-1', order_id: 'C' }));
    const all = await queryAuditLog(deps, parseAuditQuery({ trader_id: 'trader-1' }));
    expect(all.items.map((r) => r.order_id)).toEqual(['A', 'C']);
    const early = await queryAuditLog(deps, parseAuditQuery({ trader_id: 'trader-1', to: '2026-01-03' }));
    expect(early.items.map((r) => r.order_id)).toEqual(['A']);
  });
});
