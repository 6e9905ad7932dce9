// The CLI's pure half: argument parsing, the seed's `call --target --capability` mapping, and the
// HTTP request each action makes. No I/O here, so all of it is unit-tested without a platform.
import { join } from 'node:path';
import { parseArgs } from 'node:util';

export const PROGRAM = 'trading';
export const DEFAULT_URL = 'https://127.0.0.1:8443';
export const DEFAULT_DATA_DIR = 'data';
export const DEFAULT_WAIT_TIMEOUT_S = 60;
export const IDENTITIES = ['trader', 'approver', 'auditor', 'risk-officer'] as const;
export type Identity = (typeof IDENTITIES)[number];

/** A mistake in the command line: exit 2. `command` points the user at the right --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

// ---- what the CLI can do ----

export type Action =
  | { kind: 'submit'; order: Record<string, unknown>; wait: boolean; timeoutS: number }
  | { kind: 'status'; orderId: string }
  | { kind: 'approvals' }
  | { kind: 'decide'; verdict: 'approve' | 'reject'; approvalId: string; reason?: string }
  | { kind: 'audit'; query: Record<string, string>; all: boolean }
  | { kind: 'report'; reportType: string; from: string; to: string; format: 'json' | 'csv' }
  | { kind: 'positions'; accountId: string }
  | AuditRequestAction
  | AuditOfflineAction
  | RiskAction;

/** Proofs and checkpoints from the platform (GET), printed as JSON for offline verification. */
export interface AuditRequestAction {
  kind: 'audit-request';
  op: 'prove' | 'consistency' | 'checkpoint';
  path: string;
  /** Write the answer to this file as well (a proof bundle to hand to someone else). */
  out?: string;
}

/** What runs on this machine without the platform: verification and SQL over the archive. */
export type AuditOfflineAction =
  | {
      kind: 'audit-offline';
      op: 'verify';
      /** A directory (the local archive) or s3://bucket; default <data-dir>/archive. */
      archive?: string;
      /** PEM or DER SPKI; default <data-dir>/audit-signing/public-key.pem. */
      publicKey?: string;
      origin?: string;
      /** Checkpoint files kept from before: a rewritten history is caught as a fork. */
      known: string[];
    }
  | { kind: 'audit-offline'; op: 'verify-proof'; file: string; publicKey?: string; origin?: string }
  | {
      kind: 'audit-offline';
      op: 'sql';
      sql?: string;
      named?: string;
      params: string[];
      format: 'table' | 'json' | 'csv';
    };

/** What the risk officers' commands do: one route each (`changes` follows next_token). */
export type RiskOp =
  | 'limits'
  | 'change'
  | 'changes'
  | 'decide'
  | 'state'
  | 'restrictions'
  | 'restrict'
  | 'lift'
  | 'locates'
  | 'locate'
  | 'halt'
  | 'resume'
  | 'price';

export interface RiskAction {
  kind: 'risk';
  op: RiskOp;
  method: HttpRequest['method'];
  path: string;
  query?: Record<string, string>;
  body?: unknown;
}

export interface Connection {
  url: string;
  dataDir: string;
  /** The dev identity used, or undefined when --cert/--key name the files. */
  identity: Identity | undefined;
  certPath: string;
  keyPath: string;
  caPath: string;
}

export type Invocation =
  | { kind: 'help'; text: string }
  | { kind: 'run'; command: string; action: Action; connection: Connection; json: boolean };

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path with the query string, percent-encoded. */
  path: string;
  body?: unknown;
}

/** Which dev certificate each action presents unless told otherwise. */
export function defaultIdentity(action: Action): Identity {
  switch (action.kind) {
    case 'submit':
    case 'status':
    case 'positions':
      return 'trader';
    case 'approvals':
    case 'decide':
      return 'approver';
    case 'audit':
    case 'report':
    case 'audit-request':
    case 'audit-offline':
      return 'auditor';
    case 'risk':
      return 'approver';
  }
}

/** The single request an action makes (paging and polling repeat it with other tokens). */
export function requestFor(action: Action, nextToken?: string): HttpRequest {
  const seg = encodeURIComponent;
  switch (action.kind) {
    case 'submit':
      return { method: 'POST', path: '/orders', body: action.order };
    case 'status':
      return { method: 'GET', path: `/orders/${seg(action.orderId)}` };
    case 'approvals':
      return { method: 'GET', path: withQuery('/approvals', { limit: '100', next_token: nextToken }) };
    case 'decide':
      return {
        method: 'POST',
        path: `/approvals/${seg(action.approvalId)}/${action.verdict}`,
        body: action.reason === undefined ? {} : { reason: action.reason },
      };
    case 'audit':
      return {
        method: 'GET',
        path: withQuery('/audit', { ...action.query, next_token: nextToken ?? action.query.next_token }),
      };
    case 'audit-request':
      return { method: 'GET', path: action.path };
    case 'audit-offline':
      throw new Error('an offline audit command makes no request');
    case 'report':
      return {
        method: 'GET',
        path: withQuery(`/reports/${seg(action.reportType)}`, {
          from: action.from,
          to: action.to,
          format: action.format,
        }),
      };
    case 'positions':
      return { method: 'GET', path: `/positions/${seg(action.accountId)}` };
    case 'risk':
      return {
        method: action.method,
        path: action.query ? withQuery(action.path, { ...action.query, next_token: nextToken }) : action.path,
        ...(action.body === undefined ? {} : { body: action.body }),
      };
  }
}

function withQuery(path: string, query: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// ---- the seed's agents and capabilities ----

export const SPIFFE_PREFIX = 'spiffe://agentweave.io/agent/';

interface CapabilitySpec {
  /** Data keys: name -> required; 'order' = the data is (or wraps in order_data) an order. */
  keys: Record<string, boolean> | 'order';
  /** The seed's spellings of our keys. */
  aliases?: Record<string, string>;
  build(data: Record<string, string>, raw: Record<string, unknown>, extra: CallExtras): Action;
  command: string;
}

interface InternalCapability {
  internal: string;
}

interface CallExtras {
  wait: boolean;
  timeoutS: number;
  all: boolean;
}

const AGENTS: Record<string, Record<string, CapabilitySpec | InternalCapability>> = {
  'order-router': {
    submit_order: {
      command: 'submit',
      keys: 'order',
      build: (_d, raw, x) => {
        // The seed wraps the order in order_data; a bare order is accepted too.
        const order = raw.order_data === undefined ? raw : raw.order_data;
        if (typeof order !== 'object' || order === null || Array.isArray(order)) {
          throw new UsageError('submit_order: data.order_data must be a JSON object (the order)', 'call');
        }
        return { kind: 'submit', order: order as Record<string, unknown>, wait: x.wait, timeoutS: x.timeoutS };
      },
    },
    status: {
      command: 'status',
      keys: { order_id: true },
      build: (d) => ({ kind: 'status', orderId: d.order_id as string }),
    },
  },
  risk: {
    check_risk: { internal: 'the state machine runs it on every order that submit_order accepted' },
  },
  approval: {
    list_pending: { command: 'approvals', keys: {}, build: () => ({ kind: 'approvals' }) },
    approve: {
      command: 'approve',
      keys: { approval_id: true, reason: false },
      build: (d) => ({
        kind: 'decide',
        verdict: 'approve',
        approvalId: d.approval_id as string,
        ...(d.reason === undefined ? {} : { reason: d.reason }),
      }),
    },
    reject: {
      command: 'reject',
      keys: { approval_id: true, reason: true },
      build: (d) => ({
        kind: 'decide',
        verdict: 'reject',
        approvalId: d.approval_id as string,
        reason: d.reason as string,
      }),
    },
    request_approval: { internal: 'the state machine requests an approval when the risk check says needs_approval' },
  },
  execution: {
    execute_trade: {
      internal: 'the state machine executes an order only after its risk approval (and a checker’s, when needed)',
    },
  },
  'position-tracker': {
    get_positions: {
      command: 'positions',
      keys: { account_id: true },
      build: (d) => ({ kind: 'positions', accountId: d.account_id as string }),
    },
  },
  compliance: {
    query_audit_log: {
      command: 'audit',
      keys: {
        order_id: false,
        event_type: false,
        trader_id: false,
        from: false,
        to: false,
        limit: false,
        next_token: false,
      },
      aliases: { start_time: 'from', end_time: 'to' },
      build: (d, _raw, x) => {
        if (d.order_id === undefined && d.event_type === undefined && d.trader_id === undefined) {
          throw new UsageError(
            'query_audit_log: data needs order_id, or event_type or trader_id (with optional from/to)',
            'call',
          );
        }
        return { kind: 'audit', query: { ...d }, all: x.all };
      },
    },
    generate_report: {
      command: 'report',
      keys: { report_type: true, from: true, to: true, format: false },
      aliases: { start_date: 'from', end_date: 'to' },
      build: (d) => {
        const format = d.format ?? 'json';
        if (format !== 'json' && format !== 'csv')
          throw new UsageError(`generate_report: format must be json or csv, not '${format}'`, 'call');
        return {
          kind: 'report',
          reportType: d.report_type as string,
          from: d.from as string,
          to: d.to as string,
          format,
        };
      },
    },
    log_event: {
      internal: 'the agents append their own audit records; nothing outside the platform writes the trail',
    },
  },
};

const isInternal = (c: CapabilitySpec | InternalCapability): c is InternalCapability => 'internal' in c;

function callable(agent: string): string[] {
  return Object.entries(AGENTS[agent] ?? {})
    .filter(([, c]) => !isInternal(c))
    .map(([name]) => name);
}

/** One line per agent for --help: the callable capabilities and their data keys. */
function describeTargets(): string[] {
  return Object.entries(AGENTS).map(([agent, caps]) => {
    const parts = Object.entries(caps).map(([name, c]) => {
      if (isInternal(c)) return `${name} (internal)`;
      const keys = c.keys === 'order' ? ['order_data*'] : Object.entries(c.keys).map(([k, req]) => (req ? `${k}*` : k));
      return `${name}(${keys.join(', ')})`;
    });
    return `${agent}: ${parts.join('; ')}`;
  });
}

/** Maps the seed's (target, capability, data) onto the platform's routes. */
export function resolveCall(target: string, capability: string, dataText: string, extra: CallExtras): Action {
  const agent = target.startsWith(SPIFFE_PREFIX) ? target.slice(SPIFFE_PREFIX.length) : target;
  const caps = Object.hasOwn(AGENTS, agent) ? AGENTS[agent] : undefined;
  if (!caps) {
    const valid = Object.keys(AGENTS).map((a) => `${SPIFFE_PREFIX}${a}`);
    throw new UsageError(
      `unknown target '${target}' (capability '${capability}'); valid targets: ${valid.join(', ')}`,
      'call',
    );
  }
  const id = `${SPIFFE_PREFIX}${agent}`;
  const cap = Object.hasOwn(caps, capability) ? caps[capability] : undefined;
  const valid = callable(agent);
  const validText =
    valid.length > 0
      ? `its callable capabilities: ${valid.join(', ')}`
      : `nothing on it is callable from outside; submit an order instead (--target ${SPIFFE_PREFIX}order-router --capability submit_order)`;
  if (!cap) throw new UsageError(`target ${id} has no capability '${capability}'; ${validText}`, 'call');
  if (isInternal(cap)) {
    throw new UsageError(
      `${capability} on ${id} is internal to the order lifecycle: ${cap.internal}; ${validText}`,
      'call',
    );
  }
  const raw = jsonObject(dataText, '--data', 'call');
  const keys = cap.keys;
  if (keys === 'order') return cap.build({}, raw, extra);
  const data: Record<string, string> = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const name = cap.aliases?.[key] ?? key;
    if (!Object.hasOwn(keys, name)) {
      unknown.push(key);
      continue;
    }
    if (typeof value === 'number' && Number.isFinite(value)) data[name] = String(value);
    else if (typeof value === 'string') data[name] = value;
    else throw new UsageError(`${capability}: data.${key} must be a string`, 'call');
  }
  const allowed = [...Object.keys(keys), ...Object.keys(cap.aliases ?? {})];
  if (unknown.length > 0) {
    throw new UsageError(
      `${capability}: unknown data key(s) ${unknown.join(', ')}; allowed: ${allowed.length > 0 ? allowed.join(', ') : 'none'}`,
      'call',
    );
  }
  const missing = Object.entries(keys)
    .filter(([k, required]) => required && data[k] === undefined)
    .map(([k]) => k);
  if (missing.length > 0) throw new UsageError(`${capability}: data needs ${missing.join(', ')}`, 'call');
  return cap.build(data, raw, extra);
}

// ---- flags ----

interface FlagSpec {
  type: 'string' | 'boolean';
  /** May be given more than once: the values are collected in order. */
  multiple?: boolean;
  short?: string;
  /** Shown in --help: `--order-id <id>`. */
  value?: string;
  help: string;
}

type Flags = Record<string, FlagSpec>;
type Values = Record<string, string | boolean | string[] | undefined>;

const GLOBAL_FLAGS: Flags = {
  url: { type: 'string', value: 'url', help: `platform URL (env TRADING_URL, default ${DEFAULT_URL})` },
  'data-dir': {
    type: 'string',
    value: 'dir',
    help: `where \`npm start\` keeps its data; the dev PKI is <dir>/pki (env TRADING_DATA_DIR, default ./${DEFAULT_DATA_DIR})`,
  },
  as: {
    type: 'string',
    value: 'who',
    help: 'dev identity: trader (TRADER-123), approver (RISK-OFFICER-1), auditor (AUDITOR-1), risk-officer (RISK-OFFICER-2)',
  },
  cert: { type: 'string', value: 'file', help: 'client certificate (PEM) instead of --as; needs --key' },
  key: { type: 'string', value: 'file', help: 'client private key (PEM) for --cert' },
  ca: { type: 'string', value: 'file', help: 'CA that signed the server certificate (default <data-dir>/pki/ca.crt)' },
  json: { type: 'boolean', help: 'print the raw JSON answer (pretty) instead of tables' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
};

const WAIT_FLAGS: Flags = {
  wait: {
    type: 'boolean',
    help: 'poll until the order is final (FILLED, REJECTED, EXPIRED, FAILED) or waits for a checker',
  },
  'timeout-s': {
    type: 'string',
    value: 'n',
    help: `give up waiting after n seconds (default ${DEFAULT_WAIT_TIMEOUT_S}; exit 4)`,
  },
};

interface CommandSpec {
  name: string;
  args: string[];
  /** Positional arguments that may follow the required ones. */
  optionalArgs?: string[];
  /** The usage line's flags, when some are required. */
  synopsis?: string;
  summary: string;
  flags: Flags;
  details?: string[];
  build(values: Values, positionals: string[]): Action;
}

const ORDER_FLAG_FIELDS: Array<[flag: string, field: string]> = [
  ['order-id', 'order_id'],
  ['symbol', 'symbol'],
  ['side', 'side'],
  ['quantity', 'quantity'],
  ['type', 'order_type'],
  ['price', 'price'],
  ['account', 'account_id'],
  ['trader', 'trader_id'],
];

const COMMANDS: CommandSpec[] = [
  {
    name: 'submit',
    args: [],
    synopsis:
      "--order-id <id> --symbol <ticker> --side <BUY|SELL> --quantity <n> --type <MARKET|LIMIT> [--price <p>] --account <id> --trader <id> [--wait [--timeout-s <n>]]  |  --data '<json>'",
    summary: 'submit an order (POST /orders)',
    flags: {
      'order-id': {
        type: 'string',
        value: 'id',
        help: 'client order id, unique per order (resubmitting the same order is safe)',
      },
      symbol: { type: 'string', value: 'ticker', help: 'e.g. AAPL' },
      side: { type: 'string', value: 'BUY|SELL', help: 'BUY or SELL' },
      quantity: { type: 'string', value: 'n', help: 'whole number of shares' },
      type: { type: 'string', value: 'MARKET|LIMIT', help: 'order type' },
      price: { type: 'string', value: 'decimal', help: 'limit price (LIMIT orders only)' },
      account: { type: 'string', value: 'id', help: 'account id, e.g. ACC-001' },
      trader: { type: 'string', value: 'id', help: 'trader id, e.g. TRADER-123' },
      data: {
        type: 'string',
        value: 'json',
        help: "the whole order as JSON instead of the flags above; `--json '{...}'` works too",
      },
      ...WAIT_FLAGS,
    },
    details: [
      'The server validates the order and names every bad field; the CLI passes the values through.',
      'With --wait, PENDING_APPROVAL stops the wait: a checker must decide (trading approvals).',
    ],
    build(values) {
      const wait = waitOf(values, 'submit');
      const data = str(values, 'data');
      if (data !== undefined) {
        const given = ORDER_FLAG_FIELDS.filter(([flag]) => values[flag] !== undefined).map(([flag]) => `--${flag}`);
        if (given.length > 0)
          throw new UsageError(`give the order either as --data or as flags, not both (${given.join(', ')})`, 'submit');
        return { kind: 'submit', order: jsonObject(data, '--data', 'submit'), ...wait };
      }
      requireFlags(values, ['order-id', 'symbol', 'side', 'quantity', 'type', 'account', 'trader'], 'submit');
      const order: Record<string, unknown> = {};
      for (const [flag, field] of ORDER_FLAG_FIELDS) {
        const v = str(values, flag);
        if (v === undefined) continue;
        if (field === 'quantity') order[field] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
        else if (field === 'side' || field === 'order_type') order[field] = v.toUpperCase();
        else order[field] = v;
      }
      return { kind: 'submit', order, ...wait };
    },
  },
  {
    name: 'status',
    args: ['order_id'],
    summary: 'an order: status, risk decision, fill and its audit history (GET /orders/{order_id})',
    flags: {},
    build: (_v, [orderId]) => ({ kind: 'status', orderId: orderId as string }),
  },
  {
    name: 'approvals',
    args: [],
    summary: 'pending approvals, every page (GET /approvals)',
    flags: {},
    build: () => ({ kind: 'approvals' }),
  },
  {
    name: 'approve',
    args: ['approval_id'],
    synopsis: '[--reason <text>]',
    summary: 'approve a pending order as the checker (POST /approvals/{approval_id}/approve)',
    flags: { reason: { type: 'string', value: 'text', help: 'why (kept in the audit trail)' } },
    details: ['The checker must not be the order’s maker (the trader who submitted it).'],
    build: (v, [approvalId]) => {
      const reason = str(v, 'reason');
      return {
        kind: 'decide',
        verdict: 'approve',
        approvalId: approvalId as string,
        ...(reason === undefined ? {} : { reason }),
      };
    },
  },
  {
    name: 'reject',
    args: ['approval_id'],
    synopsis: '--reason <text>',
    summary: 'reject a pending order as the checker (POST /approvals/{approval_id}/reject)',
    flags: { reason: { type: 'string', value: 'text', help: 'why (required; kept in the audit trail)' } },
    build: (v, [approvalId]) => {
      requireFlags(v, ['reason'], 'reject');
      return {
        kind: 'decide',
        verdict: 'reject',
        approvalId: approvalId as string,
        reason: str(v, 'reason') as string,
      };
    },
  },
  {
    name: 'audit',
    args: [],
    synopsis: '--order-id <id> | --event-type <type> | --trader-id <id>  [--from <t>] [--to <t>] [--all]',
    summary: 'query the audit trail by order, event type or trader, with a time range (GET /audit)',
    details: [
      `Also: ${PROGRAM} audit <verify|prove|consistency|verify-proof|checkpoint|sql> (${PROGRAM} help audit <sub>).`,
    ],
    flags: {
      'order-id': { type: 'string', value: 'id', help: 'every record of one order, in sequence order' },
      'event-type': { type: 'string', value: 'type', help: 'records of one type, e.g. trade_executed' },
      'trader-id': { type: 'string', value: 'id', help: "one trader's records, oldest first" },
      from: { type: 'string', value: 'time', help: 'with --event-type: from YYYY-MM-DD or an RFC 3339 UTC time' },
      to: {
        type: 'string',
        value: 'time',
        help: 'with --event-type: to YYYY-MM-DD (inclusive) or an RFC 3339 UTC time',
      },
      limit: { type: 'string', value: 'n', help: 'records per page (server default 100, at most 1000)' },
      'next-token': { type: 'string', value: 'token', help: 'continue from a previous page' },
      all: { type: 'boolean', help: 'follow next_token to the last page' },
    },
    build: (v) => {
      if (v['order-id'] === undefined && v['event-type'] === undefined && v['trader-id'] === undefined) {
        throw new UsageError(
          'missing required flag: give --order-id, or --event-type or --trader-id (with optional --from/--to)',
          'audit',
        );
      }
      const query: Record<string, string> = {};
      for (const [flag, param] of [
        ['order-id', 'order_id'],
        ['event-type', 'event_type'],
        ['trader-id', 'trader_id'],
        ['from', 'from'],
        ['to', 'to'],
        ['limit', 'limit'],
        ['next-token', 'next_token'],
      ] as const) {
        const value = str(v, flag);
        if (value !== undefined) query[param] = value;
      }
      return { kind: 'audit', query, all: v.all === true };
    },
  },
  {
    name: 'report',
    args: ['report_type'],
    synopsis: '--from <YYYY-MM-DD> --to <YYYY-MM-DD> [--format json|csv]',
    summary: 'a regulatory report from the audit trail (GET /reports/{report_type})',
    flags: {
      from: { type: 'string', value: 'YYYY-MM-DD', help: 'first day (required)' },
      to: { type: 'string', value: 'YYYY-MM-DD', help: 'last day, inclusive (required)' },
      format: { type: 'string', value: 'json|csv', help: 'json (default: a table, or JSON with --json) or csv' },
    },
    details: ['report_type: daily_trading_activity, risk_violations, rejected_orders, high_value_trades'],
    build: (v, [reportType]) => {
      requireFlags(v, ['from', 'to'], 'report');
      const format = str(v, 'format') ?? 'json';
      if (format !== 'json' && format !== 'csv')
        throw new UsageError(`--format must be json or csv, not '${format}'`, 'report');
      return {
        kind: 'report',
        reportType: reportType as string,
        from: str(v, 'from') as string,
        to: str(v, 'to') as string,
        format,
      };
    },
  },
  {
    name: 'positions',
    args: ['account_id'],
    summary: 'positions and P&L of an account (GET /positions/{account_id})',
    flags: {},
    build: (_v, [accountId]) => ({ kind: 'positions', accountId: accountId as string }),
  },
  {
    name: 'call',
    args: [],
    synopsis: "--target <spiffe id> --capability <name> [--data '<json>']",
    summary: "the seed's `agentweave call`: a capability of an agent, by SPIFFE id",
    flags: {
      target: { type: 'string', value: 'spiffe id', help: 'spiffe://agentweave.io/agent/<agent> (or just <agent>)' },
      capability: { type: 'string', value: 'name', help: 'the capability to call' },
      data: { type: 'string', value: 'json', help: "the capability's input as a JSON object (default {})" },
      ...WAIT_FLAGS,
      all: { type: 'boolean', help: 'query_audit_log: follow next_token to the last page' },
    },
    details: ['Targets and capabilities (data keys; * = required):', ...describeTargets().map((l) => `  ${l}`)],
    build: (v) => {
      requireFlags(v, ['target', 'capability'], 'call');
      return resolveCall(str(v, 'target') as string, str(v, 'capability') as string, str(v, 'data') ?? '{}', {
        ...waitOf(v, 'call'),
        all: v.all === true,
      });
    },
  },
];

// ---- the auditors' commands: `trading audit <subcommand>` ----

const AUDIT_COMMANDS: CommandSpec[] = [
  {
    name: 'audit verify',
    args: [],
    synopsis: '[--archive <dir|s3://bucket>] [--public-key <file>] [--origin <name>] [--known <checkpoint file>...]',
    summary: 'verify the whole archived log offline: hashes, chain, Merkle roots, every signature',
    details: [
      'Reads the archive itself (not the platform), so it trusts nothing but the public key. Names the',
      'first bad record or checkpoint; exit 5 when the log does not verify.',
    ],
    flags: {
      archive: {
        type: 'string',
        value: 'dir|s3://bucket',
        help: 'the archive (default <data-dir>/archive; s3:// uses your AWS credentials)',
      },
      'public-key': {
        type: 'string',
        value: 'file',
        help: 'the signing key, PEM or DER SPKI (default <data-dir>/audit-signing/public-key.pem)',
      },
      origin: { type: 'string', value: 'name', help: "the log's name every checkpoint must carry" },
      known: {
        type: 'string',
        multiple: true,
        value: 'file',
        help: 'a checkpoint kept from before (repeatable): the log must still contain it',
      },
    },
    build: (v) => ({
      kind: 'audit-offline',
      op: 'verify',
      ...optional(v, 'archive', 'archive'),
      ...optional(v, 'public-key', 'publicKey'),
      ...optional(v, 'origin', 'origin'),
      known: strings(v, 'known'),
    }),
  },
  {
    name: 'audit prove',
    args: ['event_id'],
    synopsis: '[--out <file>]',
    summary: 'an inclusion proof of one record against the latest signed checkpoint (JSON)',
    flags: { out: { type: 'string', value: 'file', help: 'also write the proof to this file' } },
    build: (v, [eventId]) => ({
      kind: 'audit-request',
      op: 'prove',
      path: `/audit/proofs/${encodeURIComponent(eventId as string)}`,
      ...optional(v, 'out', 'out'),
    }),
  },
  {
    name: 'audit consistency',
    args: [],
    synopsis: '--from <tree size> --to <tree size> [--out <file>]',
    summary: 'a consistency proof between two signed checkpoints (JSON)',
    flags: {
      from: { type: 'string', value: 'size', help: "the earlier checkpoint's tree size" },
      to: { type: 'string', value: 'size', help: "the later checkpoint's tree size" },
      out: { type: 'string', value: 'file', help: 'also write the proof to this file' },
    },
    build: (v) => {
      requireFlags(v, ['from', 'to'], 'audit consistency');
      return {
        kind: 'audit-request',
        op: 'consistency',
        path: withQuery('/audit/consistency', { from: str(v, 'from'), to: str(v, 'to') }),
        ...optional(v, 'out', 'out'),
      };
    },
  },
  {
    name: 'audit checkpoint',
    args: [],
    summary: 'the latest signed checkpoint (signs one first over anything not yet covered)',
    flags: { out: { type: 'string', value: 'file', help: 'also write the checkpoint to this file' } },
    build: (v) => ({
      kind: 'audit-request',
      op: 'checkpoint',
      path: '/audit/checkpoint',
      ...optional(v, 'out', 'out'),
    }),
  },
  {
    name: 'audit verify-proof',
    args: ['file'],
    synopsis: '[--public-key <file>] [--origin <name>]',
    summary: 'verify an inclusion or consistency proof offline, with the public key only',
    flags: {
      origin: { type: 'string', value: 'name', help: "the log's name the proof's checkpoints must carry" },
      'public-key': {
        type: 'string',
        value: 'file',
        help: 'the signing key, PEM or DER SPKI (default <data-dir>/audit-signing/public-key.pem)',
      },
    },
    build: (v, [file]) => ({
      kind: 'audit-offline',
      op: 'verify-proof',
      file: file as string,
      ...optional(v, 'public-key', 'publicKey'),
      ...optional(v, 'origin', 'origin'),
    }),
  },
  {
    name: 'audit sql',
    args: [],
    optionalArgs: ['query'],
    synopsis: '"<select ...>" | --named <name> [--param <value>...]  [--format table|json|csv]',
    summary: "SQL over the local archive on DuckDB (the Athena table's columns; read-only)",
    details: [
      'Table audit_records: sequence, event_id, "timestamp", event_type, order_id, trader_id, actor,',
      'input (JSON text), decision, reason, prev_hash, hash, dt (the day partition).',
      'Named queries (the Athena workgroup has the same): daily_trading_activity, risk_violations,',
      'rejected_orders, high_value_trades (each --param <from> --param <to>), order_history (--param <order id>).',
    ],
    flags: {
      named: { type: 'string', value: 'name', help: 'run a named query instead of a query text' },
      param: { type: 'string', multiple: true, value: 'value', help: "a named query's parameter, in order" },
      format: { type: 'string', value: 'table|json|csv', help: 'output format (default table; --json = json)' },
    },
    build: (v, [query]) => {
      const named = str(v, 'named');
      if ((query === undefined) === (named === undefined)) {
        throw new UsageError('give a query text or --named <name>, not both and not neither', 'audit sql');
      }
      const format = str(v, 'format') ?? (v.json === true ? 'json' : 'table');
      if (format !== 'table' && format !== 'json' && format !== 'csv') {
        throw new UsageError(`--format must be table, json or csv, not '${format}'`, 'audit sql');
      }
      return {
        kind: 'audit-offline',
        op: 'sql',
        ...(query !== undefined ? { sql: query } : {}),
        ...(named !== undefined ? { named } : {}),
        params: strings(v, 'param'),
        format,
      };
    },
  },
];

function optional<K extends string>(v: Values, flag: string, key: K): Partial<Record<K, string>> {
  const value = str(v, flag);
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

function strings(v: Values, flag: string): string[] {
  const value = v[flag];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [String(value)];
}

const AUDIT_NAMES = AUDIT_COMMANDS.map((c) => c.name.slice('audit '.length));

// ---- the risk officers' commands: `trading risk <subcommand>` ----

const seg = encodeURIComponent;
const REASON_REQUIRED: FlagSpec = { type: 'string', value: 'text', help: 'why (required; kept in the audit trail)' };
const TRADING_MODES = ['ACTIVE', 'REDUCING', 'HALTED'];

const RISK_COMMANDS: CommandSpec[] = [
  {
    name: 'risk limits',
    args: ['account_id'],
    summary: "an account's limits: stored, in force now (temporary changes applied), and pending changes",
    flags: {},
    build: (_v, [accountId]) => ({
      kind: 'risk',
      op: 'limits',
      method: 'GET',
      path: `/risk/limits/${seg(accountId as string)}`,
    }),
  },
  {
    name: 'risk change',
    args: ['account_id'],
    synopsis: '--set <field>=<value> [--set ...] --reason <text> [--until <time>]',
    summary: 'request a limit change; a second risk officer must approve it (POST /risk/limit-changes)',
    flags: {
      set: {
        type: 'string',
        multiple: true,
        value: 'field=value',
        help: 'a limit and its new value; repeat for several (e.g. max_order_value=2000000, symbol_limits.AAPL.max_order_quantity=5000)',
      },
      reason: REASON_REQUIRED,
      until: {
        type: 'string',
        value: 'time',
        help: 'RFC 3339 UTC: the change is temporary and reverts by itself then',
      },
    },
    details: [
      'fields: available_capital, max_order_value, max_order_quantity, max_position_value,',
      'max_total_position_value, max_concentration (a fraction, e.g. 0.25), approval_threshold,',
      'max_orders_per_second, duplicate_window_ms (0: off), symbol_limits.<SYMBOL>.<max_order_value|',
      'max_order_quantity|max_position_value>. The server checks every value and names each bad one.',
    ],
    build: (v, [accountId]) => {
      requireFlags(v, ['set', 'reason'], 'risk change');
      const values: Record<string, string> = {};
      for (const pair of v.set as string[]) {
        const eq = pair.indexOf('=');
        const field = eq < 0 ? '' : pair.slice(0, eq).trim();
        if (eq < 0 || field === '' || pair.slice(eq + 1).trim() === '') {
          throw new UsageError(`--set takes <field>=<value>, not '${pair}'`, 'risk change');
        }
        if (Object.hasOwn(values, field)) throw new UsageError(`--set ${field} given more than once`, 'risk change');
        values[field] = pair.slice(eq + 1).trim();
      }
      const until = str(v, 'until');
      return {
        kind: 'risk',
        op: 'change',
        method: 'POST',
        path: '/risk/limit-changes',
        body: { account_id: accountId, values, reason: str(v, 'reason'), ...(until === undefined ? {} : { until }) },
      };
    },
  },
  {
    name: 'risk changes',
    args: [],
    synopsis: '[--status PENDING|APPROVED|REJECTED]',
    summary: 'limit changes by status, every page (GET /risk/limit-changes)',
    flags: { status: { type: 'string', value: 'status', help: 'PENDING (default), APPROVED or REJECTED' } },
    build: (v) => ({
      kind: 'risk',
      op: 'changes',
      method: 'GET',
      path: '/risk/limit-changes',
      query: { status: (str(v, 'status') ?? 'PENDING').toUpperCase(), limit: '100' },
    }),
  },
  {
    name: 'risk approve',
    args: ['change_id'],
    synopsis: '[--reason <text>]',
    summary: 'approve a limit change as the second risk officer (never its requester)',
    flags: { reason: { type: 'string', value: 'text', help: 'why (kept in the audit trail)' } },
    build: (v, [changeId]) => {
      const reason = str(v, 'reason');
      return {
        kind: 'risk',
        op: 'decide',
        method: 'POST',
        path: `/risk/limit-changes/${seg(changeId as string)}/approve`,
        body: reason === undefined ? {} : { reason },
      };
    },
  },
  {
    name: 'risk reject',
    args: ['change_id'],
    synopsis: '--reason <text>',
    summary: 'reject a limit change',
    flags: { reason: REASON_REQUIRED },
    build: (v, [changeId]) => {
      requireFlags(v, ['reason'], 'risk reject');
      return {
        kind: 'risk',
        op: 'decide',
        method: 'POST',
        path: `/risk/limit-changes/${seg(changeId as string)}/reject`,
        body: { reason: str(v, 'reason') },
      };
    },
  },
  {
    name: 'risk state',
    args: ['FIRM|account_id'],
    optionalArgs: ['ACTIVE|REDUCING|HALTED'],
    synopsis: '[--reason <text>]',
    summary: 'the kill switch of the firm or an account: show it, or set it (one officer suffices)',
    flags: { reason: { type: 'string', value: 'text', help: 'why (required when setting; kept in the audit trail)' } },
    details: ['ACTIVE trades; REDUCING accepts only orders that reduce a position; HALTED accepts none.'],
    build: (v, [scope, mode]) => {
      const path = `/risk/trading-state/${seg(scope as string)}`;
      if (mode === undefined) {
        if (v.reason !== undefined) throw new UsageError('--reason needs a state to set', 'risk state');
        return { kind: 'risk', op: 'state', method: 'GET', path };
      }
      const state = mode.toUpperCase();
      if (!TRADING_MODES.includes(state)) {
        throw new UsageError(`the state must be one of ${TRADING_MODES.join(', ')}, not '${mode}'`, 'risk state');
      }
      requireFlags(v, ['reason'], 'risk state');
      return { kind: 'risk', op: 'state', method: 'PUT', path, body: { state, reason: str(v, 'reason') } };
    },
  },
  {
    name: 'risk restrictions',
    args: ['symbol'],
    summary: "a symbol's restricted and prohibited list entries, lifted ones included",
    flags: {},
    build: (_v, [symbol]) => ({
      kind: 'risk',
      op: 'restrictions',
      method: 'GET',
      path: `/risk/restrictions/${seg(symbol as string)}`,
    }),
  },
  {
    name: 'risk restrict',
    args: ['symbol'],
    synopsis: '--list RESTRICTED|PROHIBITED [--account <id>] --reason <text> [--from <time>] [--until <time>]',
    summary: 'put a symbol on the firm’s (or an account’s) restricted or prohibited list',
    flags: {
      list: { type: 'string', value: 'RESTRICTED|PROHIBITED', help: 'which list (required)' },
      account: { type: 'string', value: 'id', help: 'only this account (default: firm-wide)' },
      reason: REASON_REQUIRED,
      from: { type: 'string', value: 'time', help: 'in force from (RFC 3339 UTC; default now)' },
      until: { type: 'string', value: 'time', help: 'in force until (default: until lifted)' },
    },
    build: (v, [symbol]) => {
      requireFlags(v, ['list', 'reason'], 'risk restrict');
      const account = str(v, 'account');
      const from = str(v, 'from');
      const until = str(v, 'until');
      return {
        kind: 'risk',
        op: 'restrict',
        method: 'POST',
        path: '/risk/restrictions',
        body: {
          symbol,
          list: (str(v, 'list') as string).toUpperCase(),
          reason: str(v, 'reason'),
          ...(account === undefined ? {} : { scope: account }),
          ...(from === undefined ? {} : { effective_from: from }),
          ...(until === undefined ? {} : { effective_until: until }),
        },
      };
    },
  },
  {
    name: 'risk lift',
    args: ['symbol', 'restriction_id'],
    synopsis: '--reason <text>',
    summary: 'lift a restriction (it stays in the history, ended now)',
    flags: { reason: REASON_REQUIRED },
    build: (v, [symbol, restrictionId]) => {
      requireFlags(v, ['reason'], 'risk lift');
      return {
        kind: 'risk',
        op: 'lift',
        method: 'POST',
        path: `/risk/restrictions/${seg(symbol as string)}/${seg(restrictionId as string)}/lift`,
        body: { reason: str(v, 'reason') },
      };
    },
  },
  {
    name: 'risk locates',
    args: ['account_id', 'symbol'],
    summary: "an account's locates in a symbol, expired ones included",
    flags: {},
    build: (_v, [accountId, symbol]) => ({
      kind: 'risk',
      op: 'locates',
      method: 'GET',
      path: `/risk/locates/${seg(accountId as string)}/${seg(symbol as string)}`,
    }),
  },
  {
    name: 'risk locate',
    args: ['account_id', 'symbol', 'quantity'],
    synopsis: '--source <who> [--expires <time>]',
    summary: 'record a Reg SHO locate (good until the next UTC midnight unless --expires)',
    flags: {
      source: { type: 'string', value: 'who', help: 'the lender or stock-loan desk (required)' },
      expires: { type: 'string', value: 'time', help: 'RFC 3339 UTC expiry' },
    },
    build: (v, [accountId, symbol, quantity]) => {
      requireFlags(v, ['source'], 'risk locate');
      const expires = str(v, 'expires');
      return {
        kind: 'risk',
        op: 'locate',
        method: 'POST',
        path: '/risk/locates',
        body: {
          account_id: accountId,
          symbol,
          quantity,
          source: str(v, 'source'),
          ...(expires === undefined ? {} : { expires_at: expires }),
        },
      };
    },
  },
  {
    name: 'risk halt',
    args: ['symbol'],
    synopsis: '[--luld] --reason <text> [--until <time>]',
    summary: 'halt a symbol (until resumed), or --luld: a limit-up/limit-down pause (5 minutes by default)',
    flags: {
      luld: { type: 'boolean', help: 'a limit-up/limit-down pause instead of a trading halt' },
      reason: REASON_REQUIRED,
      until: { type: 'string', value: 'time', help: 'ends by itself then (RFC 3339 UTC)' },
    },
    build: (v, [symbol]) => {
      requireFlags(v, ['reason'], 'risk halt');
      const until = str(v, 'until');
      return {
        kind: 'risk',
        op: 'halt',
        method: 'PUT',
        path: `/risk/halts/${seg(symbol as string)}`,
        body: {
          kind: v.luld === true ? 'LULD_PAUSE' : 'TRADING_HALT',
          reason: str(v, 'reason'),
          ...(until === undefined ? {} : { until }),
        },
      };
    },
  },
  {
    name: 'risk resume',
    args: ['symbol'],
    synopsis: '--reason <text>',
    summary: 'lift a halt or pause',
    flags: { reason: REASON_REQUIRED },
    build: (v, [symbol]) => {
      requireFlags(v, ['reason'], 'risk resume');
      return {
        kind: 'risk',
        op: 'resume',
        method: 'DELETE',
        path: `/risk/halts/${seg(symbol as string)}`,
        body: { reason: str(v, 'reason') },
      };
    },
  },
  {
    name: 'risk price',
    args: ['symbol', 'price'],
    summary: 'set a manual reference price (a market-data correction), as of now',
    flags: {},
    build: (_v, [symbol, price]) => ({
      kind: 'risk',
      op: 'price',
      method: 'PUT',
      path: `/risk/prices/${seg(symbol as string)}`,
      body: { price },
    }),
  },
];

function riskHelp(): string {
  const width = Math.max(...RISK_COMMANDS.map((c) => usageOf(c).length));
  return [
    `usage: ${PROGRAM} risk <subcommand> [flags]`,
    '',
    "The risk officers' controls (default identity: approver, RISK-OFFICER-1; the second officer is",
    '--as risk-officer, RISK-OFFICER-2). A limit change needs a second officer; every change and every',
    'refusal is audited.',
    '',
    'subcommands:',
    ...RISK_COMMANDS.map((c) => `  ${usageOf(c).padEnd(width)}  ${c.summary}`),
    '',
    `${PROGRAM} risk <subcommand> --help for its flags.`,
  ].join('\n');
}

function commandOf(name: string): CommandSpec | undefined {
  return [...COMMANDS, ...RISK_COMMANDS, ...AUDIT_COMMANDS].find((c) => c.name === name);
}

const COMMAND_NAMES = [...COMMANDS.map((c) => c.name), 'risk'];
const RISK_NAMES = RISK_COMMANDS.map((c) => c.name.slice('risk '.length));

// ---- the command line ----

export interface Env {
  readonly [name: string]: string | undefined;
}

/** Parses argv (without node and the script) into what to run; throws UsageError. */
export function parseCommandLine(argv: readonly string[], env: Env): Invocation {
  const split = splitCommand(argv);
  let { command, rest } = split;
  if (command === undefined) {
    if (rest.includes('--help') || rest.includes('-h')) return { kind: 'help', text: mainHelp() };
    throw new UsageError(`missing command; one of: ${COMMAND_NAMES.join(', ')}`);
  }
  if (command === 'help') {
    const topics = rest.filter((a) => !a.startsWith('-'));
    const topic =
      (topics[0] === 'risk' || topics[0] === 'audit') && topics[1] !== undefined
        ? `${topics[0]} ${topics[1]}`
        : topics[0];
    if (topic === undefined) return { kind: 'help', text: mainHelp() };
    if (topic === 'risk') return { kind: 'help', text: riskHelp() };
    const spec = commandOf(topic);
    if (!spec) throw new UsageError(`unknown command '${topic}'; one of: ${COMMAND_NAMES.join(', ')}`);
    return { kind: 'help', text: commandHelp(spec) };
  }
  if (command === 'risk') {
    const sub = splitCommand(rest);
    if (sub.command === undefined) {
      if (rest.includes('--help') || rest.includes('-h')) return { kind: 'help', text: riskHelp() };
      throw new UsageError(`missing risk subcommand; one of: ${RISK_NAMES.join(', ')}`, 'risk');
    }
    if (!RISK_NAMES.includes(sub.command)) {
      throw new UsageError(`unknown risk subcommand '${sub.command}'; one of: ${RISK_NAMES.join(', ')}`, 'risk');
    }
    command = `risk ${sub.command}`;
    rest = sub.rest;
  }
  if (command === 'audit') {
    // `audit` alone (with flags) queries; a first word names one of the auditors' subcommands.
    // (A word that is not a subcommand is a flag's value, or an unexpected argument of the query.)
    const sub = splitCommand(rest);
    if (sub.command !== undefined && AUDIT_NAMES.includes(sub.command)) {
      command = `audit ${sub.command}`;
      rest = sub.rest;
    }
  }
  const spec = commandOf(command);
  if (!spec) throw new UsageError(`unknown command '${command}'; one of: ${COMMAND_NAMES.join(', ')}`);

  const args = command === 'submit' ? jsonBodyAlias(rest) : [...rest];
  const { values, positionals } = parseFlags(spec, args);
  if (values.help === true) return { kind: 'help', text: commandHelp(spec) };
  const most = spec.args.length + (spec.optionalArgs?.length ?? 0);
  if (positionals.length > most) {
    throw new UsageError(`unexpected argument '${positionals[most]}'`, spec.name);
  }
  const missingArg = spec.args[positionals.length];
  if (missingArg !== undefined) throw new UsageError(`missing <${missingArg}>`, spec.name);
  for (const [i, name] of [...spec.args, ...(spec.optionalArgs ?? [])].entries()) {
    if (i < spec.args.length || positionals[i] !== undefined) {
      if ((positionals[i] ?? '').trim() === '') throw new UsageError(`<${name}> must not be empty`, spec.name);
    }
  }
  const action = spec.build(values, positionals);
  return {
    kind: 'run',
    command: spec.name,
    action,
    connection: connectionOf(values, action, env, spec.name),
    json: values.json === true,
  };
}

/** The command is the first argument that is not a global flag (or its value). */
function splitCommand(argv: readonly string[]): { command: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') break;
    if (!a.startsWith('-')) return { command: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
    const name = a.replace(/^--?/, '');
    if (!a.includes('=') && GLOBAL_FLAGS[name]?.type === 'string') i++;
  }
  return { command: undefined, rest: [...argv] };
}

/**
 * `submit --json '{...}'` (the brief's spelling) means the order body, while `--json` alone asks
 * for JSON output: a value that starts with `{` decides.
 */
function jsonBodyAlias(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (a === '--json' && next !== undefined && next.trimStart().startsWith('{')) {
      out.push('--data', next);
      i++;
    } else if (a.startsWith('--json=')) {
      out.push(`--data=${a.slice('--json='.length)}`);
    } else {
      out.push(a);
    }
  }
  return out;
}

/**
 * node:util parseArgs, non-strict so that every mistake gets a message naming the flag and the
 * command (strict mode's messages talk about positionals and dashes instead).
 */
const NEGATIVE = /^-\d+(\.\d+)?$/;
const NEGATIVE_MARK = '\u0000';

function parseFlags(spec: CommandSpec, args: string[]): { values: Values; positionals: string[] } {
  const flags: Flags = { ...GLOBAL_FLAGS, ...spec.flags };
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, f] of Object.entries(flags))
    options[name] = f.short ? { type: f.type, short: f.short } : { type: f.type };
  // A negative number where a positional goes (`risk price XOM -1`) is an argument for the server
  // to judge, not a short flag: carried past parseArgs under a mark no flag starts with.
  const marked = args.map((a, i) => {
    const prev = i > 0 ? (args[i - 1] as string) : '';
    const prevTakesValue = /^--?[^=]+$/.test(prev) && flags[prev.replace(/^--?/, '')]?.type === 'string';
    return NEGATIVE.test(a) && !prevTakesValue ? `${NEGATIVE_MARK}${a}` : a;
  });
  const { tokens } = parseArgs({ args: marked, options, strict: false, allowPositionals: true, tokens: true });
  const values: Values = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals.push(t.value.startsWith(NEGATIVE_MARK) ? t.value.slice(NEGATIVE_MARK.length) : t.value);
    }
    if (t.kind !== 'option') continue;
    const f = Object.hasOwn(flags, t.name) ? flags[t.name] : undefined;
    if (!f)
      throw new UsageError(`unknown flag ${t.rawName} for '${spec.name}'; its flags: ${flagList(spec)}`, spec.name);
    if (values[t.name] !== undefined && !f.multiple) {
      throw new UsageError(`${t.rawName} given more than once`, spec.name);
    }
    if (f.type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`${t.rawName} takes no value`, spec.name);
      values[t.name] = true;
      continue;
    }
    // A following flag is not a value (`--symbol --side BUY`); a negative number is, so the
    // server can say what is wrong with it.
    if (t.value === undefined || (!t.inlineValue && /^--[a-z]/.test(t.value))) {
      throw new UsageError(`${t.rawName} needs a value${f.value ? ` (<${f.value}>)` : ''}`, spec.name);
    }
    if (f.multiple) values[t.name] = [...((values[t.name] as string[] | undefined) ?? []), t.value];
    else values[t.name] = t.value;
  }
  return { values, positionals };
}

function flagList(spec: CommandSpec): string {
  return Object.keys({ ...spec.flags, ...GLOBAL_FLAGS })
    .map((n) => `--${n}`)
    .join(', ');
}

function connectionOf(values: Values, action: Action, env: Env, command: string): Connection {
  const url = (str(values, 'url') ?? env.TRADING_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url '${url}' is not a URL`, command);
  }
  if (parsed.protocol !== 'https:')
    throw new UsageError(`--url must be https:// (the platform speaks only mutual TLS), not '${url}'`, command);
  const dataDir = str(values, 'data-dir') ?? env.TRADING_DATA_DIR ?? DEFAULT_DATA_DIR;
  const pki = join(dataDir, 'pki');
  const caPath = str(values, 'ca') ?? join(pki, 'ca.crt');
  const cert = str(values, 'cert');
  const key = str(values, 'key');
  const as = str(values, 'as');
  if (cert !== undefined || key !== undefined) {
    if (as !== undefined) throw new UsageError('give either --as or --cert/--key, not both', command);
    if (cert === undefined) throw new UsageError('missing required flag --cert (--key needs it)', command);
    if (key === undefined) throw new UsageError('missing required flag --key (--cert needs it)', command);
    return { url, dataDir, identity: undefined, certPath: cert, keyPath: key, caPath };
  }
  if (as !== undefined && !(IDENTITIES as readonly string[]).includes(as)) {
    throw new UsageError(`--as must be one of ${IDENTITIES.join(', ')}, not '${as}'`, command);
  }
  const identity = (as as Identity | undefined) ?? defaultIdentity(action);
  return {
    url,
    dataDir,
    identity,
    certPath: join(pki, `${identity}.crt`),
    keyPath: join(pki, `${identity}.key`),
    caPath,
  };
}

function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function requireFlags(values: Values, names: string[], command: string): void {
  const missing = names.filter((n) => values[n] === undefined);
  if (missing.length === 1) throw new UsageError(`missing required flag --${missing[0]}`, command);
  if (missing.length > 1)
    throw new UsageError(`missing required flags ${missing.map((n) => `--${n}`).join(', ')}`, command);
}

function waitOf(values: Values, command: string): { wait: boolean; timeoutS: number } {
  const raw = str(values, 'timeout-s');
  if (raw !== undefined && values.wait !== true) throw new UsageError('--timeout-s needs --wait', command);
  const timeoutS = raw === undefined ? DEFAULT_WAIT_TIMEOUT_S : Number(raw);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0)
    throw new UsageError(`--timeout-s must be a positive number of seconds, not '${raw}'`, command);
  return { wait: values.wait === true, timeoutS };
}

function jsonObject(text: string, flag: string, command: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${flag} is not valid JSON: ${(err as Error).message}`, command);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new UsageError(`${flag} must be a JSON object`, command);
  return v as Record<string, unknown>;
}

// ---- help ----

function flagLines(flags: Flags): string[] {
  const rows = Object.entries(flags).map(
    ([name, f]) => [`${f.short ? `-${f.short}, ` : ''}--${name}${f.value ? ` <${f.value}>` : ''}`, f.help] as const,
  );
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`);
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => usageOf(c).length));
  return [
    `usage: ${PROGRAM} <command> [flags]`,
    '',
    'Talks HTTPS with mutual TLS to the trading platform (`npm start` runs one locally).',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${usageOf(c).padEnd(width)}  ${c.summary}`),
    `  ${'risk <subcommand>'.padEnd(width)}  the risk officers' controls: limits (maker-checker), kill switch, lists, locates, halts, prices`,
    `  ${'help [command]'.padEnd(width)}  this text, or a command's`,
    '',
    'flags for every command:',
    ...flagLines(GLOBAL_FLAGS),
    '',
    'identity: submit, status, positions present the trader certificate; approvals, approve, reject',
    'and risk the approver; audit, report the auditor (files <data-dir>/pki/<name>.crt and .key).',
    '',
    'exit codes: 0 ok; 1 the server answered with an error; 2 usage error; 3 platform unreachable',
    '(or its dev certificates missing); 4 --wait timed out.',
  ].join('\n');
}

function usageOf(c: CommandSpec): string {
  return [c.name, ...c.args.map((a) => `<${a}>`), ...(c.optionalArgs ?? []).map((a) => `[<${a}>]`)].join(' ');
}

function commandHelp(c: CommandSpec): string {
  return [
    `usage: ${PROGRAM} ${usageOf(c)}${c.synopsis ? ` ${c.synopsis}` : ''} [global flags]`,
    '',
    `${c.summary}.`,
    ...(c.details ? ['', ...c.details] : []),
    ...(Object.keys(c.flags).length > 0 ? ['', 'flags:', ...flagLines(c.flags)] : []),
    '',
    'global flags:',
    ...flagLines(GLOBAL_FLAGS),
  ].join('\n');
}
