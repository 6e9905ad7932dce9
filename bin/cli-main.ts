// The CLI as a function: main(argv, io) -> exit code. bin/trading.ts wires it to the process;
// tests call it directly with captured output.

import { writeFile } from 'node:fs/promises';
import { approvalIdFor } from '../functions/core/approvals.js';
import type { ApprovalRecord, AuditRecord, OrderStatus } from '../functions/core/model.js';
import type { OrderView } from '../functions/core/order-intake.js';
import type { PositionView } from '../functions/core/positions.js';
import type { Report } from '../functions/core/reports.js';
import { closeHttpsAgents } from '../local/https-gateway.js';
import {
  type Action,
  type Env,
  type Invocation,
  mainHelp,
  PROGRAM,
  parseCommandLine,
  type RiskAction,
  requestFor,
  UsageError,
} from './cli-args.js';
import { runAuditOffline } from './cli-audit.js';
import {
  ApiError,
  CertificateMissingError,
  type Client,
  createClient,
  loadTls,
  UnreachableError,
} from './cli-client.js';
import {
  formatApprovals,
  formatAudit,
  formatDecision,
  formatHalt,
  formatLimitChange,
  formatLimitChanges,
  formatLimits,
  formatLocates,
  formatOrder,
  formatPositions,
  formatPrice,
  formatReport,
  formatRestriction,
  formatRestrictions,
  formatServerError,
  formatTradingState,
} from './cli-format.js';

export const EXIT = { ok: 0, server: 1, usage: 2, unreachable: 3, waitTimeout: 4 } as const;

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Env;
  sleep(ms: number): Promise<void>;
  now(): number;
}

export function processIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
  };
}

/** Statuses that end a --wait: final ones, and PENDING_APPROVAL (a human must act first). */
const WAIT_ENDS: ReadonlySet<OrderStatus> = new Set(['FILLED', 'REJECTED', 'EXPIRED', 'FAILED', 'PENDING_APPROVAL']);
const POLL_FIRST_MS = 100;
const POLL_MAX_MS = 1_000;

export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const out = (text: string) => io.stdout(`${text}\n`);
  const err = (text: string) => io.stderr(`${PROGRAM}: ${text}\n`);
  let inv: Invocation;
  try {
    inv = parseCommandLine(argv, io.env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(e.message);
    io.stderr(e.command ? `(see: ${PROGRAM} ${e.command} --help)\n` : `\n${mainHelp()}\n`);
    return EXIT.usage;
  }
  if (inv.kind === 'help') {
    out(inv.text);
    return EXIT.ok;
  }
  try {
    if (inv.action.kind === 'audit-offline') {
      // Verification and SQL read the archive themselves: no platform, no certificate.
      return await runAuditOffline(inv.action, inv.connection.dataDir, { out, err, json: inv.json });
    }
    const client = createClient(inv.connection, await loadTls(inv.connection));
    return await run(inv.action, client, { out, err, json: inv.json, io });
  } catch (e) {
    if (e instanceof ApiError) {
      if (inv.json) out(JSON.stringify(e.body, null, 2));
      err(formatServerError(e.status, `${e.request.method} ${e.request.path.split('?')[0]}`, e.body));
      return EXIT.server;
    }
    if (e instanceof UnreachableError) {
      err(`${e.message}\n  ${e.hint}`);
      return EXIT.unreachable;
    }
    if (e instanceof CertificateMissingError) {
      err(e.message);
      return EXIT.unreachable;
    }
    if (e instanceof UsageError) {
      err(e.message);
      return EXIT.usage;
    }
    throw e;
  } finally {
    // Pooled keep-alive sockets would hold the process open after the answer.
    closeHttpsAgents();
  }
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
  json: boolean;
  io: CliIo;
}

async function run(action: Action, client: Client, o: Output): Promise<number> {
  const show = (body: unknown, human: () => string) => o.out(o.json ? JSON.stringify(body, null, 2) : human());
  switch (action.kind) {
    case 'submit': {
      const res = await client.send(requestFor(action));
      const answer = res.body as { order_id?: string; status?: string; execution_id?: string };
      const orderId = answer.order_id ?? String(action.order.order_id);
      if (!action.wait) {
        show(
          answer,
          () =>
            `${orderId} ${answer.status ?? ''} (execution ${answer.execution_id ?? '-'})\nfollow it: ${PROGRAM} status ${orderId}`,
        );
        return EXIT.ok;
      }
      if (!o.json) o.out(`${orderId} ${answer.status ?? ''}; waiting (up to ${action.timeoutS} s)`);
      return waitForOrder(client, orderId, action.timeoutS, o);
    }
    case 'status': {
      const res = await client.send(requestFor(action));
      show(res.body, () => formatOrder(res.body as OrderView));
      return EXIT.ok;
    }
    case 'approvals': {
      const items: ApprovalRecord[] = [];
      let token: string | undefined;
      do {
        const page = (await client.send(requestFor(action, token))).body as {
          approvals: ApprovalRecord[];
          next_token?: string;
        };
        items.push(...page.approvals);
        token = page.next_token;
      } while (token);
      show({ approvals: items }, () => formatApprovals(items));
      return EXIT.ok;
    }
    case 'decide': {
      const res = await client.send(requestFor(action));
      show(res.body, () => formatDecision(res.body as ApprovalRecord));
      return EXIT.ok;
    }
    case 'audit': {
      const records: AuditRecord[] = [];
      let token: string | undefined;
      do {
        const page = (await client.send(requestFor(action, token))).body as {
          records: AuditRecord[];
          next_token?: string;
        };
        records.push(...page.records);
        token = page.next_token;
      } while (token && action.all);
      const body = { records, count: records.length, ...(token ? { next_token: token } : {}) };
      show(body, () => formatAudit(records, token));
      return EXIT.ok;
    }
    case 'report': {
      const res = await client.send(requestFor(action));
      if (action.format === 'csv') {
        // CSV is already for people and for spreadsheets: print it as the server wrote it.
        o.out(String(res.body ?? '').replace(/\n$/, ''));
        return EXIT.ok;
      }
      show(res.body, () => formatReport(res.body as Report));
      return EXIT.ok;
    }
    case 'positions': {
      const res = await client.send(requestFor(action));
      const body = res.body as { account_id: string; positions: PositionView[] };
      show(body, () => formatPositions(body.account_id, body.positions));
      return EXIT.ok;
    }
    case 'risk':
      return runRisk(action, client, show);
    case 'audit-request': {
      const res = await client.send(requestFor(action));
      // Proofs and checkpoints are for machines (and for verify-proof): always JSON.
      const text = JSON.stringify(res.body, null, 2);
      if (action.out !== undefined) await writeFile(action.out, `${text}\n`, { flag: 'wx' });
      o.out(text);
      return EXIT.ok;
    }
    case 'audit-offline':
      throw new Error('offline audit commands run before the client is made');
  }
}

type Body = Record<string, unknown>;

async function runRisk(
  action: RiskAction,
  client: Client,
  show: (body: unknown, human: () => string) => void,
): Promise<number> {
  if (action.op === 'changes') {
    const changes: Body[] = [];
    let token: string | undefined;
    do {
      const page = (await client.send(requestFor(action, token))).body as { changes: Body[]; next_token?: string };
      changes.push(...page.changes);
      token = page.next_token;
    } while (token);
    show({ changes }, () => formatLimitChanges(changes));
    return EXIT.ok;
  }
  const body = (await client.send(requestFor(action))).body as Body;
  const human = (): string => {
    switch (action.op) {
      case 'limits':
        return formatLimits(body);
      case 'changes':
        return formatLimitChanges((body.changes ?? []) as Body[]);
      case 'change':
      case 'decide':
        return formatLimitChange(body);
      case 'state':
        return formatTradingState(body);
      case 'restrictions':
        return formatRestrictions(String(body.symbol), (body.restrictions ?? []) as Body[]);
      case 'restrict':
      case 'lift':
        return formatRestriction(body);
      case 'locates':
        return formatLocates((body.locates ?? []) as Body[]);
      case 'locate':
        return formatLocates([body]);
      case 'halt':
        return formatHalt(body);
      case 'resume':
        return formatHalt(body, true);
      case 'price':
        return formatPrice(body);
    }
  };
  show(body, human);
  return EXIT.ok;
}

export async function waitForOrder(client: Client, orderId: string, timeoutS: number, o: Output): Promise<number> {
  const request = requestFor({ kind: 'status', orderId });
  const deadline = o.io.now() + timeoutS * 1000;
  let delay = POLL_FIRST_MS;
  for (;;) {
    const view = (await client.send(request)).body as OrderView;
    const done = WAIT_ENDS.has(view.status);
    const left = deadline - o.io.now();
    if (done || left <= 0) {
      if (o.json) o.out(JSON.stringify(view, null, 2));
      else o.out(formatOrder(view));
      if (view.status === 'PENDING_APPROVAL') {
        const id = approvalIdFor(orderId);
        const note = `${orderId} waits for a checker (maker-checker): someone other than ${view.order.trader_id} must \`${PROGRAM} approve ${id}\` or \`${PROGRAM} reject ${id} --reason ...\`; stopped waiting`;
        if (o.json) o.err(note);
        else o.out(note);
      }
      if (done) return EXIT.ok;
      o.err(
        `${orderId} is still ${view.status} after ${timeoutS} s; stopped waiting (\`${PROGRAM} status ${orderId}\` to look again)`,
      );
      return EXIT.waitTimeout;
    }
    await o.io.sleep(Math.min(delay, left));
    delay = Math.min(Math.round(delay * 1.5), POLL_MAX_MS);
  }
}
