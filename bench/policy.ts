// Policy benchmark (issue 5): what the Cedar enforcement points cost, on one core.
// (a) One authorisation against the pre-parsed policy set (functions/core/policy-engine.ts, as the
//     agents load it: the policies compiled to JS, one decision in 1,000 (at random) also asked of cedar-wasm
//     and compared): each decision timed on its own, over a mix of the decisions one order meets:
//     a trader's submit_order (its entitlement answered from the store), then the agent-to-agent
//     steps (check_risk, request_approval, a checker's approve, confirm_approval, execute_trade,
//     send_to_venue, update_positions), cycled evenly. The same mix asked of cedar-wasm alone, and
//     cedar-wasm's floor (no policy, empty context), are printed beside it.
// (b) per_order_ms: every `enforce` (functions/core/access.ts) one order passes through, awaited
//     in sequence as the agents run them, with the entitlements from a warm in-memory cache and an
//     in-memory audit sink (an allowed call audits nothing). The headline is the approval path,
//     the longest (8 decisions): every order costs at most that. The straight-through path (5
//     decisions, no approval) is printed beside it. RecordFailure's log_event is on failure paths
//     only and not counted.
//   npm run bench -- policy [--decisions N] [--orders N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type AccessDeps, type Caller, enforce, selfCaller } from '../functions/core/access.js';
import type { AuditEvent, AuditRecord } from '../functions/core/model.js';
import { type AuthorizationRequest, loadPolicyEngine, type PolicyEngine } from '../functions/core/policy-engine.js';
import type { AuditSink } from '../functions/ports.js';
import { prng } from './prng.js';

const TRADERS = 100;
const ACCOUNTS_PER_TRADER = 10;
const VENUE = { type: 'Agent', id: 'exchange' } as const;
const APPROVED = (riskCheckId: string) => ({ risk_check_id: riskCheckId, risk_approval_verified: true });

interface Desk {
  traderId: string;
  accounts: readonly string[];
}

function buildDesks(): Desk[] {
  return Array.from({ length: TRADERS }, (_, t) => ({
    traderId: `TRADER-${String(t).padStart(3, '0')}`,
    accounts: Object.freeze(
      Array.from(
        { length: ACCOUNTS_PER_TRADER },
        (_, a) => `ACC-${String(t * ACCOUNTS_PER_TRADER + a).padStart(4, '0')}`,
      ),
    ),
  }));
}

interface BenchOrder {
  orderId: string;
  traderId: string;
  accountId: string;
  accounts: readonly string[];
  riskCheckId: string;
}

function makeOrders(desks: readonly Desk[], rand: () => number, n: number): BenchOrder[] {
  return Array.from({ length: n }, (_, i) => {
    const desk = desks[Math.floor(rand() * desks.length)] as Desk;
    return {
      orderId: `ORD-${i}`,
      traderId: desk.traderId,
      accountId: desk.accounts[Math.floor(rand() * desk.accounts.length)] as string,
      accounts: desk.accounts,
      riskCheckId: `RC-ORD-${i}`,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// (a) single decisions

const agent = (id: string) => ({ type: 'Agent', id });
const traderRef = (id: string) => ({ __entity: { type: 'Trading::Trader', id } });

/** The decisions of one order (approval path), as the engine sees them. */
function orderDecisions(o: BenchOrder): { kind: string; request: AuthorizationRequest }[] {
  return [
    {
      kind: 'submit_order (Trader, entitled account)',
      request: {
        principal: { type: 'Trader', id: o.traderId },
        action: 'submit_order',
        resource: agent('order-router'),
        // As the enforcement point passes it, the entitlement answered from the store.
        context: {
          account_id: o.accountId,
          account_entitled: o.accounts.includes(o.accountId),
          order_trader: traderRef(o.traderId),
        },
      },
    },
    {
      kind: 'check_risk',
      request: { principal: agent('order-router'), action: 'check_risk', resource: agent('risk'), context: {} },
    },
    {
      kind: 'request_approval',
      request: { principal: agent('risk'), action: 'request_approval', resource: agent('approval'), context: {} },
    },
    {
      kind: 'approve (Approver)',
      request: {
        principal: { type: 'Approver', id: 'RISK-OFFICER-1' },
        action: 'approve',
        resource: agent('approval'),
        context: {},
      },
    },
    {
      kind: 'confirm_approval',
      request: { principal: agent('approval'), action: 'confirm_approval', resource: agent('approval'), context: {} },
    },
    {
      kind: 'execute_trade',
      request: {
        principal: agent('risk'),
        action: 'execute_trade',
        resource: agent('execution'),
        context: APPROVED(o.riskCheckId),
      },
    },
    {
      kind: 'send_to_venue',
      request: {
        principal: agent('execution'),
        action: 'send_to_venue',
        resource: VENUE,
        context: APPROVED(o.riskCheckId),
      },
    },
    {
      kind: 'update_positions',
      request: {
        principal: agent('execution'),
        action: 'update_positions',
        resource: agent('position-tracker'),
        context: {},
      },
    },
  ];
}

function percentile(sorted: Float64Array, p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? 0;
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

function timeDecisions(engine: PolicyEngine, orders: readonly BenchOrder[], n: number) {
  const mix = orders.flatMap(orderDecisions);
  // Every decision of the mix must be an allow, or the figure would be of refusals.
  for (const { kind, request } of mix.slice(0, 64)) {
    const r = engine.authorize(request);
    if (r.decision !== 'allow') throw new Error(`${kind} refused: ${JSON.stringify(r)}`);
  }
  for (let i = 0; i < 50_000; i++) engine.authorize((mix[i % mix.length] as (typeof mix)[number]).request);

  const kinds = [...new Set(mix.map((m) => m.kind))];
  const perKind = new Map(kinds.map((k) => [k, new Float64Array(Math.ceil(n / kinds.length) + 1)]));
  const filled = new Map(kinds.map((k) => [k, 0]));
  const lat = new Float64Array(n);
  let allowed = 0;
  for (let i = 0; i < n; i++) {
    const { kind, request } = mix[i % mix.length] as (typeof mix)[number];
    const s = process.hrtime.bigint();
    const r = engine.authorize(request);
    const us = Number(process.hrtime.bigint() - s) / 1000;
    lat[i] = us;
    if (r.decision === 'allow') allowed++;
    const k = filled.get(kind) ?? 0;
    (perKind.get(kind) as Float64Array)[k] = us;
    filled.set(kind, k + 1);
  }
  if (allowed !== n) throw new Error(`${n - allowed} decisions refused`);
  lat.sort();
  const byKind: Record<string, { p50_us: number; p99_us: number }> = {};
  for (const kind of kinds) {
    const xs = (perKind.get(kind) as Float64Array).subarray(0, filled.get(kind)).sort();
    byKind[kind] = { p50_us: round(percentile(xs, 50), 1), p99_us: round(percentile(xs, 99), 1) };
  }
  return { lat, byKind };
}

// ---------------------------------------------------------------------------------------------
// (b) the enforcement points of one order

class MemoryAudit implements AuditSink {
  readonly events: AuditEvent[] = [];
  async append(event: AuditEvent): Promise<AuditRecord> {
    this.events.push(event);
    const sequence = this.events.length;
    return { ...event, sequence, event_id: `E-${sequence}`, timestamp: '', prev_hash: '', hash: '' };
  }
}

/** Shaped like the reference cache's warm hit: one map lookup, the frozen array shared by every caller. */
class WarmEntitlements {
  private readonly byTrader = new Map<string, readonly string[]>();
  constructor(desks: readonly Desk[]) {
    for (const d of desks) this.byTrader.set(d.traderId, d.accounts);
  }
  async getTraderAccounts(traderId: string): Promise<readonly string[] | undefined> {
    return this.byTrader.get(traderId);
  }
}

interface Agents {
  router: AccessDeps;
  risk: AccessDeps;
  approval: AccessDeps;
  execution: AccessDeps;
  positions: AccessDeps;
  compliance: AccessDeps;
}

function agents(policy: PolicyEngine, audit: AuditSink, entitlements: WarmEntitlements): Agents {
  const deps = (self: string): AccessDeps => ({
    policy,
    audit,
    self,
    identity: `arn:aws:iam::123456789012:role/acme-trading-${self}`,
    entitlements,
  });
  return {
    router: deps('order-router'),
    risk: deps('risk'),
    approval: deps('approval'),
    execution: deps('execution'),
    positions: deps('position-tracker'),
    compliance: deps('compliance'),
  };
}

const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:acme-trading-order-lifecycle';
/** The caller functions/caller-identity.ts derives for a lifecycle step (LIFECYCLE_CALLERS). */
const lifecycle = (agentName: string, step: string, orderId: string): Caller => ({
  principal: { type: 'Agent', id: agentName },
  via: 'state_machine',
  evidence: { state_machine: STATE_MACHINE, execution: `${STATE_MACHINE}:${orderId}`, step },
});
const person = (type: string, id: string, ou: string): Caller => ({
  principal: { type, id },
  via: 'client_certificate',
  evidence: { subject_dn: `CN=${id},OU=${ou},O=ACME` },
});
const CHECKER = person('Approver', 'RISK-OFFICER-1', 'approver');

/** Every enforcement point of one order, in lifecycle order; `approval` adds the maker-checker steps. */
async function enforceOrder(a: Agents, o: BenchOrder, approval: boolean): Promise<number> {
  const subject = { order_id: o.orderId, trader_id: o.traderId };
  // POST /orders: the trader, held to its own name and entitled accounts (deferred route).
  await enforce(a.router, person('Trader', o.traderId, 'trader'), {
    action: 'submit_order',
    context: { account_id: o.accountId, order_trader: traderRef(o.traderId) },
    ...subject,
  });
  await enforce(a.risk, lifecycle('order-router', 'CheckRisk', o.orderId), {
    action: 'check_risk',
    order_id: o.orderId,
  });
  let decisions = 2;
  if (approval) {
    await enforce(a.approval, lifecycle('risk', 'RequestApproval', o.orderId), {
      action: 'request_approval',
      order_id: o.orderId,
    });
    await enforce(a.approval, CHECKER, { action: 'approve', context: {} });
    await enforce(a.approval, lifecycle('approval', 'ConfirmApproval', o.orderId), {
      action: 'confirm_approval',
      order_id: o.orderId,
    });
    decisions += 3;
  }
  const context = APPROVED(o.riskCheckId);
  await enforce(a.execution, lifecycle('risk', 'ExecuteTrade', o.orderId), {
    action: 'execute_trade',
    context,
    ...subject,
  });
  await enforce(a.execution, selfCaller('execution', a.execution.identity), {
    action: 'send_to_venue',
    resource: VENUE,
    context,
    ...subject,
  });
  await enforce(a.positions, lifecycle('execution', 'UpdatePosition', o.orderId), {
    action: 'update_positions',
    order_id: o.orderId,
  });
  return decisions + 3;
}

/** `a`: the enforcement points every order meets (each decides every request: nothing is remembered). */
async function timeOrders(a: Agents, orders: readonly BenchOrder[], n: number, approval: boolean) {
  // Every order gets its own risk check id, as the risk agent issues one per decision (the orders' other fields repeat).
  const nth = (i: number): BenchOrder => ({ ...(orders[i % orders.length] as BenchOrder), riskCheckId: `RC-${i}` });
  for (let i = 0; i < 5_000; i++) await enforceOrder(a, nth(n + i), approval);
  const lat = new Float64Array(n);
  let total = 0n;
  let decisions = 0;
  for (let i = 0; i < n; i++) {
    const o = nth(i);
    const s = process.hrtime.bigint();
    decisions = await enforceOrder(a, o, approval);
    const took = process.hrtime.bigint() - s;
    total += took;
    lat[i] = Number(took) / 1e6;
  }
  lat.sort();
  return {
    decisions,
    mean_ms: Number(total) / 1e6 / n,
    p50_ms: percentile(lat, 50),
    p99_ms: percentile(lat, 99),
  };
}

export async function policyBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { decisions: { type: 'string' }, orders: { type: 'string' } },
    strict: true,
  });
  const n = Number(values.decisions ?? 200_000);
  const nOrders = Number(values.orders ?? 20_000);
  const rand = prng(20261125);
  const desks = buildDesks();
  const orders = makeOrders(desks, rand, 1_000);

  const loadStart = process.hrtime.bigint();
  const engine = loadPolicyEngine();
  const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;
  console.log(
    JSON.stringify({
      run: 'policy_setup',
      policies: engine.policyIds.length,
      load_ms: round(loadMs, 1),
      traders: TRADERS,
    }),
  );

  // The headline engine decides every action of the mix with the compiled evaluator (asking
  // cedar-wasm too for one decision in DEFAULT_CROSS_CHECK_EVERY, which is timed with the rest).
  const mixed = new Set(orderDecisions(orders[0] as BenchOrder).map((d) => d.request.action));
  const notCompiled = [...mixed].filter((action) => engine.evaluators[action] !== 'compiled');
  if (notCompiled.length > 0) throw new Error(`not compiled: ${notCompiled.join(', ')}`);
  const { lat, byKind } = timeDecisions(engine, orders, n);
  console.log(JSON.stringify({ run: 'policy_decision_by_kind', evaluator: 'compiled', ...byKind }));
  console.log(
    JSON.stringify({
      run: 'policy_decision_detail',
      decisions: n,
      p90_us: round(percentile(lat, 90), 1),
      p999_us: round(percentile(lat, 99.9), 1),
      max_us: round(lat[lat.length - 1] ?? 0, 1),
    }),
  );

  // The same decisions asked of cedar-wasm alone (the reference the compiled evaluator is held to).
  const wasm = timeDecisions(loadPolicyEngine({ evaluator: 'cedar-wasm' }), orders, Math.min(n, 100_000));
  console.log(
    JSON.stringify({
      run: 'policy_decision_cedar_wasm',
      p50_us: round(percentile(wasm.lat, 50), 1),
      p99_us: round(percentile(wasm.lat, 99), 1),
      by_kind: wasm.byKind,
    }),
  );

  // cedar-wasm's own floor on this machine: the same call with no policy at all and an empty
  // context (what no policy set, however small, can go below).
  const schema = readFileSync(new URL('../policies/schema.cedarschema', import.meta.url), 'utf8');
  const empty = loadPolicyEngine({ policies: {}, schema, evaluator: 'cedar-wasm' });
  const floorRequest: AuthorizationRequest = {
    principal: agent('order-router'),
    action: 'check_risk',
    resource: agent('risk'),
    context: {},
  };
  for (let i = 0; i < 50_000; i++) empty.authorize(floorRequest);
  const floor = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    empty.authorize(floorRequest);
    floor[i] = Number(process.hrtime.bigint() - s) / 1000;
  }
  floor.sort();
  console.log(
    JSON.stringify({
      run: 'policy_floor',
      what: 'one statefulIsAuthorized with no policy and an empty context',
      p50_us: round(percentile(floor, 50), 1),
      p99_us: round(percentile(floor, 99), 1),
    }),
  );

  const audit = new MemoryAudit();
  const a = agents(engine, audit, new WarmEntitlements(desks));
  // Sanity: a refusal does reach the sink (so "allowed calls audit nothing" is a measured fact),
  // and RecordFailure's log_event, not timed, is allowed.
  const stray = orders[0] as BenchOrder;
  const refused = await enforce(a.router, person('Trader', stray.traderId, 'trader'), {
    action: 'submit_order',
    context: { account_id: 'ACC-NOT-ENTITLED', order_trader: traderRef(stray.traderId) },
  }).then(
    () => false,
    () => true,
  );
  if (!refused || audit.events.length !== 1) throw new Error('an unentitled submit was not refused and audited');
  await enforce(a.compliance, lifecycle('order-router', 'RecordFailure', stray.orderId), { action: 'log_event' });

  const straight = await timeOrders(a, orders, nOrders, false);
  const withApproval = await timeOrders(a, orders, nOrders, true);
  if (audit.events.length !== 1) throw new Error(`allowed calls audited ${audit.events.length - 1} events`);
  for (const [path, r] of [
    ['straight_through', straight],
    ['approval', withApproval],
  ] as const) {
    console.log(
      JSON.stringify({
        run: 'policy_per_order',
        path,
        orders: nOrders,
        decisions: r.decisions,
        mean_ms: round(r.mean_ms, 4),
        p50_ms: round(r.p50_ms, 4),
        p99_ms: round(r.p99_ms, 4),
      }),
    );
  }

  console.log(
    JSON.stringify({
      bench: 'policy',
      p50_us: round(percentile(lat, 50), 1),
      p99_us: round(percentile(lat, 99), 1),
      per_order_ms: round(withApproval.mean_ms, 3),
    }),
  );
}
