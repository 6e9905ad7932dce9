// Risk decision benchmark: the pre-trade controls (functions/core/risk.ts, every control, no
// short-circuit) on one core, with the reference data warm (compiled views in memory, as the
// ReferenceCache holds them): 10,000 symbols, 1,000 accounts with positions, open and recent
// orders, restrictions, locates and halts on some symbols. Each decision is timed on its own
// (assembling the snapshot from memory plus evaluateRisk); the last line is the figure.
//   npm run bench -- risk [--decisions N]
import { parseArgs } from 'node:util';
import { Decimal } from '../functions/core/decimal.js';
import type { Order, Position, RecentOrder, RiskProfile, TradingMode } from '../functions/core/model.js';
import { evaluateRisk, orderFingerprint, type RiskEvaluation } from '../functions/core/risk.js';
import {
  type FirmView,
  firmView,
  type HaltView,
  type LimitsView,
  type LocateView,
  limitsView,
  type OpenView,
  type PriceView,
  priceView,
  type RestrictionView,
} from '../functions/core/risk-views.js';
import { prng } from './prng.js';

const SYMBOLS = 10_000;
const ACCOUNTS = 1_000;
const POSITIONS_PER_ACCOUNT = 25;
const OPEN_PER_ACCOUNT = 3;
const RECENT_PER_ACCOUNT = 20;

interface Account {
  limits: LimitsView;
  positions: Position[];
  open: OpenView[];
  recent: RecentOrder[];
  mode: TradingMode;
  locates: Map<string, LocateView[]>;
}

interface World {
  nowNs: bigint;
  firm: FirmView;
  prices: Map<string, PriceView>;
  accounts: Map<string, Account>;
  restrictions: Map<string, RestrictionView[]>;
  halts: Map<string, HaltView>;
  symbols: string[];
  accountIds: string[];
}

function buildWorld(rand: () => number): World {
  // Prices half a second old at the decision time.
  const nowNs = 1_795_000_000_500_000_000n;
  const asOf = '2026-11-18T11:06:40.000000000Z';
  const symbols = Array.from({ length: SYMBOLS }, (_, i) => `S${i.toString(36).toUpperCase().padStart(4, '0')}`);
  const prices = new Map<string, PriceView>();
  for (const symbol of symbols) {
    const cents = 100 + Math.floor(rand() * 50_000);
    const text = (cents / 100).toFixed(2);
    const pv = priceView({ symbol, reference_price: text, price_as_of: asOf });
    if (!pv) throw new Error(`bad price ${text}`);
    prices.set(symbol, pv);
  }
  const restrictions = new Map<string, RestrictionView[]>();
  const halts = new Map<string, HaltView>();
  for (let i = 0; i < SYMBOLS; i += 97) {
    const symbol = symbols[i] as string;
    restrictions.set(symbol, [
      { id: `R-${i}`, scope: 'FIRM', list: i % 2 ? 'RESTRICTED' : 'PROHIBITED', reason: 'bench', fromNs: 0n },
    ]);
  }
  for (let i = 5; i < SYMBOLS; i += 211) halts.set(symbols[i] as string, { kind: 'TRADING_HALT', reason: 'bench' });

  const accounts = new Map<string, Account>();
  const accountIds: string[] = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const id = `ACC-${String(a).padStart(4, '0')}`;
    accountIds.push(id);
    const profile: RiskProfile = {
      account_id: id,
      available_capital: '50000000',
      max_order_value: '1000000',
      max_order_quantity: 100_000,
      max_position_value: '10000000',
      max_total_position_value: '40000000',
      max_concentration: '0.20',
      approval_threshold: '500000',
      max_orders_per_second: 100,
      duplicate_window_ms: 2000,
      symbol_limits: { [symbols[a] as string]: { max_order_quantity: 1000 } },
      version: `${id}/v1`,
    };
    const positions: Position[] = [];
    for (let p = 0; p < POSITIONS_PER_ACCOUNT; p++) {
      positions.push({
        account_id: id,
        symbol: symbols[Math.floor(rand() * SYMBOLS)] as string,
        quantity: Math.floor(rand() * 2000) - 400,
        average_cost: '100',
        realized_pnl: '0',
        version: 1,
        updated_at: asOf,
      });
    }
    const open: OpenView[] = [];
    for (let o = 0; o < OPEN_PER_ACCOUNT; o++) {
      open.push({
        order_id: `OPEN-${a}-${o}`,
        symbol: symbols[Math.floor(rand() * SYMBOLS)] as string,
        side: rand() < 0.5 ? 'BUY' : 'SELL',
        quantity: 100,
        value: Decimal.parse('25000'),
      });
    }
    const recent: RecentOrder[] = [];
    const nowMs = Number(nowNs / 1_000_000n);
    for (let r = 0; r < RECENT_PER_ACCOUNT; r++) {
      recent.push({ order_id: `R-${a}-${r}`, fingerprint: `${id}|X|BUY|${r}|MKT`, at_ms: nowMs - r * 90 });
    }
    const locates = new Map<string, LocateView[]>();
    for (const p of positions.slice(0, 5))
      locates.set(p.symbol, [{ id: `L-${a}`, quantity: 5000, expiresNs: nowNs * 2n }]);
    accounts.set(id, {
      limits: limitsView(profile),
      positions,
      open,
      recent,
      mode: a % 50 === 0 ? 'REDUCING' : 'ACTIVE',
      locates,
    });
  }
  return {
    nowNs,
    firm: firmView({ price_collar: '0.10', max_price_age_ms: 10_000, version: 'firm/v1' }),
    prices,
    accounts,
    restrictions,
    halts,
    symbols,
    accountIds,
  };
}

function makeOrders(world: World, rand: () => number, n: number): Order[] {
  const out: Order[] = [];
  for (let i = 0; i < n; i++) {
    const accountId = world.accountIds[Math.floor(rand() * ACCOUNTS)] as string;
    const account = world.accounts.get(accountId) as Account;
    // Half the orders in a symbol the account holds (positions, shorts, reductions), half anywhere.
    const held = rand() < 0.5 ? account.positions[Math.floor(rand() * POSITIONS_PER_ACCOUNT)]?.symbol : undefined;
    const symbol = held ?? (world.symbols[Math.floor(rand() * SYMBOLS)] as string);
    const ref = world.prices.get(symbol)?.price as Decimal;
    const limit = rand() < 0.5;
    // Limit prices around the reference, some outside the 10% collar.
    const price = limit ? ref.mul(Decimal.parse((0.85 + rand() * 0.3).toFixed(4))).toFixed(2) : undefined;
    out.push({
      order_id: `O-${i}`,
      symbol,
      side: rand() < 0.5 ? 'BUY' : 'SELL',
      quantity: 1 + Math.floor(rand() * 3000),
      order_type: limit ? 'LIMIT' : 'MARKET',
      ...(price !== undefined && price !== '0.00' ? { price } : { order_type: 'MARKET' as const }),
      account_id: accountId,
      trader_id: 'TRADER-1',
    });
  }
  return out;
}

const NONE: readonly never[] = [];

/** One decision: the snapshot from memory (what the warm cache hands the use case) and the controls. */
function decide(world: World, order: Order): RiskEvaluation {
  const account = world.accounts.get(order.account_id);
  return evaluateRisk({
    order,
    nowNs: world.nowNs,
    limits: account?.limits,
    firm: world.firm,
    price: world.prices.get(order.symbol),
    positions: account?.positions ?? NONE,
    prices: world.prices,
    open: account?.open ?? NONE,
    recent: account?.recent ?? NONE,
    firmMode: 'ACTIVE',
    accountMode: account?.mode ?? 'HALTED',
    restrictions: world.restrictions.get(order.symbol) ?? NONE,
    locates: account?.locates.get(order.symbol) ?? NONE,
    halt: world.halts.get(order.symbol),
  });
}

function percentile(sorted: Float64Array, p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? 0;
}

export async function riskBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { decisions: { type: 'string' } }, strict: true });
  const n = Number(values.decisions ?? 200_000);
  const rand = prng(20261124);
  const world = buildWorld(rand);
  const orders = makeOrders(world, rand, 10_000);
  // Sanity: the mix exercises every outcome, so the timing is not of a shortcut.
  const outcomes: Record<string, number> = {};
  for (const o of orders) {
    const d = decide(world, o);
    outcomes[d.decision] = (outcomes[d.decision] ?? 0) + 1;
    if (d.controls.length !== 20) throw new Error(`expected every control evaluated, got ${d.controls.length}`);
    void orderFingerprint(o);
  }
  console.log(JSON.stringify({ run: 'risk_setup', symbols: SYMBOLS, accounts: ACCOUNTS, outcomes }));

  // Warm-up (JIT), then the timed run: each decision timed on its own.
  for (let i = 0; i < 50_000; i++) {
    decide(world, orders[i % orders.length] as Order);
  }
  const lat = new Float64Array(n);
  let sink = 0;
  let timedNs = 0n;
  for (let i = 0; i < n; i++) {
    const order = orders[i % orders.length] as Order;
    const s = process.hrtime.bigint();
    const d = decide(world, order);
    const took = process.hrtime.bigint() - s;
    timedNs += took;
    lat[i] = Number(took) / 1000;
    sink += d.reasons.length;
  }
  // Decisions a second of decision time on one core.
  const elapsedS = Number(timedNs) / 1e9;
  lat.sort();
  const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
  console.log(
    JSON.stringify({
      run: 'risk_detail',
      decisions: n,
      failed_controls: sink,
      p90_us: round(percentile(lat, 90)),
      p999_us: round(percentile(lat, 99.9)),
      max_us: round(lat[lat.length - 1] ?? 0),
    }),
  );
  console.log(
    JSON.stringify({
      bench: 'risk',
      p50_us: round(percentile(lat, 50)),
      p99_us: round(percentile(lat, 99)),
      decisions_per_s: Math.round(n / elapsedS),
    }),
  );
}
