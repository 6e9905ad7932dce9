// Local stand-in for the mTLS API Gateway (REST API, Lambda proxy integration): a node:https server
// that refuses any client without a certificate from the dev CA at the TLS handshake, and hands the
// handlers the same event shape API Gateway sends, client certificate included.
import { createHash, randomUUID, type X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { APIGatewayEventClientCertificate, APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

export type GatewayHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export interface GatewayRoute {
  method: string;
  /** API Gateway resource template: `/orders/{order_id}`; `{name+}` matches the rest of the path. */
  path: string;
  handler: GatewayHandler;
}

export interface GatewayLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface HttpsGatewayOptions {
  host?: string;
  /** 0 = an ephemeral port. */
  port?: number;
  key: string | Buffer;
  cert: string | Buffer;
  /** The only CA trusted for client certificates. */
  ca: string | Buffer;
  routes: readonly GatewayRoute[];
  /** API Gateway's REST payload limit is 10 MB. */
  maxBodyBytes?: number;
  /** API Gateway's REST integration timeout is 29 s; past it the client gets 504. */
  handlerTimeoutMs?: number;
  logger?: GatewayLogger;
}

export interface HttpsGateway {
  url: string;
  port: number;
  close(): Promise<void>;
}

export class GatewayConfigError extends Error {
  override readonly name = 'GatewayConfigError';
}

export class HttpsTimeoutError extends Error {
  override readonly name = 'HttpsTimeoutError';
}

const DEFAULT_MAX_BODY = 10 * 1024 * 1024;
const DEFAULT_HANDLER_TIMEOUT_MS = 29_000;
const CLOSE_GRACE_MS = 2_000;
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

const stderrLogger: GatewayLogger = {
  warn: (message, fields) => process.stderr.write(`${JSON.stringify({ level: 'WARN', message, ...fields })}\n`),
  error: (message, fields) => process.stderr.write(`${JSON.stringify({ level: 'ERROR', message, ...fields })}\n`),
};

export async function createHttpsGateway(options: HttpsGatewayOptions): Promise<HttpsGateway> {
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const handlerTimeoutMs = options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS;
  const logger = options.logger ?? stderrLogger;
  const resources = compileRoutes(options.routes);

  const server = createServer(
    {
      key: options.key,
      cert: options.cert,
      ca: options.ca,
      requestCert: true,
      // The handshake itself refuses a missing, foreign or expired certificate: no handler ever sees one.
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      keepAlive: true,
    },
    (req, res) => {
      handleRequest(req, res, { resources, maxBodyBytes, handlerTimeoutMs, logger }).catch((err: unknown) => {
        // Last resort: handleRequest answers every path itself; this only guards against a bug there.
        logger.error('gateway internal failure', { error: describeError(err) });
        if (!res.headersSent) sendJson(res, 500, { error: 'InternalServerError', message: 'Internal server error' });
        else res.destroy();
      });
    },
  );
  // Longer than the clients' idle time, so a benchmark's pooled sockets are not cut under it.
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 35_000;
  server.on('tlsClientError', (err, socket) => {
    // For a certificate that fails verification Node just drops the socket ("socket hang up");
    // the verification error itself is on the socket.
    const reason = String(socket.authorizationError ?? (err as NodeJS.ErrnoException).code ?? err.message);
    logger.warn('TLS handshake refused', { reason, remoteAddress: socket.remoteAddress, error: describeError(err) });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `https://${urlHost}:${port}`,
    port,
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
        // In-flight requests get a short grace period, then keep-alive sockets must not hold us open.
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      });
      return closing;
    },
  };
}

// ---- routing ----

type Segment = { kind: 'literal'; value: string } | { kind: 'param'; name: string } | { kind: 'greedy'; name: string };

interface Resource {
  template: string;
  segments: Segment[];
  /** Orders resources most specific first: literal > {param} > {param+}, left to right. */
  rank: number[];
  methods: Map<string, GatewayHandler>;
}

interface Match {
  resource: Resource;
  params: Record<string, string> | null;
}

function compileRoutes(routes: readonly GatewayRoute[]): Resource[] {
  const byTemplate = new Map<string, Resource>();
  for (const route of routes) {
    const method = route.method.toUpperCase();
    if (!METHODS.has(method)) throw new GatewayConfigError(`unsupported method ${route.method} for ${route.path}`);
    if (!route.path.startsWith('/')) throw new GatewayConfigError(`route path must start with '/': ${route.path}`);
    let resource = byTemplate.get(route.path);
    if (!resource) {
      const segments = splitPath(route.path).map(parseSegment(route.path));
      const greedyAt = segments.findIndex((s) => s.kind === 'greedy');
      if (greedyAt !== -1 && greedyAt !== segments.length - 1) {
        throw new GatewayConfigError(`greedy parameter must be last: ${route.path}`);
      }
      const rank = segments.map((s) => (s.kind === 'literal' ? 2 : s.kind === 'param' ? 1 : 0));
      resource = { template: route.path, segments, rank, methods: new Map() };
      byTemplate.set(route.path, resource);
    }
    if (resource.methods.has(method)) throw new GatewayConfigError(`duplicate route ${method} ${route.path}`);
    resource.methods.set(method, route.handler);
  }
  return [...byTemplate.values()].sort((a, b) => compareRank(b.rank, a.rank));
}

function parseSegment(template: string): (raw: string) => Segment {
  return (raw) => {
    const m = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(raw);
    if (m?.[1]) return m[2] ? { kind: 'greedy', name: m[1] } : { kind: 'param', name: m[1] };
    if (raw.includes('{') || raw.includes('}'))
      throw new GatewayConfigError(`bad path segment '${raw}' in ${template}`);
    return { kind: 'literal', value: raw };
  };
}

function compareRank(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

class BadPathError extends Error {
  override readonly name = 'BadPathError';
}

function matchResource(resources: readonly Resource[], pathname: string): Match | undefined {
  const parts = splitPath(pathname);
  for (const resource of resources) {
    const params = matchSegments(resource.segments, parts);
    if (params !== undefined) return { resource, params: Object.keys(params).length > 0 ? params : null };
  }
  return undefined;
}

function matchSegments(segments: readonly Segment[], parts: readonly string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    const part = parts[i];
    if (seg === undefined || part === undefined) return undefined;
    if (seg.kind === 'literal') {
      if (seg.value !== part) return undefined;
    } else if (seg.kind === 'param') {
      params[seg.name] = decodeSegment(part);
    } else {
      params[seg.name] = parts.slice(i).map(decodeSegment).join('/');
      return params;
    }
  }
  return parts.length === segments.length ? params : undefined;
}

function decodeSegment(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new BadPathError(`malformed percent-encoding in path segment '${part}'`);
  }
}

// ---- request handling ----

interface HandleContext {
  resources: readonly Resource[];
  maxBodyBytes: number;
  handlerTimeoutMs: number;
  logger: GatewayLogger;
}

async function handleRequest(req: IncomingMessage, res: ServerResponse, ctx: HandleContext): Promise<void> {
  const requestId = randomUUID();
  const requestTimeEpoch = Date.now();
  res.setHeader('x-amzn-RequestId', requestId);
  const method = (req.method ?? 'GET').toUpperCase();
  const url = new URL(req.url ?? '/', 'https://localhost');

  let match: Match | undefined;
  try {
    match = matchResource(ctx.resources, url.pathname);
  } catch (err) {
    if (err instanceof BadPathError)
      return drainThen(req, () => sendError(res, 400, 'BadRequest', err.message, requestId));
    throw err;
  }
  if (!match) {
    return drainThen(req, () => sendError(res, 404, 'NotFound', `no route for ${method} ${url.pathname}`, requestId));
  }
  const { resource } = match;
  const handler = resource.methods.get(method);
  if (!handler) {
    res.setHeader('Allow', [...resource.methods.keys()].join(', '));
    return drainThen(req, () =>
      sendError(res, 405, 'MethodNotAllowed', `${method} is not allowed on ${resource.template}`, requestId),
    );
  }

  const body = await readBody(req, ctx.maxBodyBytes);
  if (body === 'too_large') {
    sendError(res, 413, 'PayloadTooLarge', `request body exceeds ${ctx.maxBodyBytes} bytes`, requestId);
    return;
  }
  if (body === 'aborted') return; // the client went away; nobody to answer

  const socket = req.socket as TLSSocket;
  const clientCert = clientCertOf(socket);
  if (!clientCert) {
    // Unreachable with rejectUnauthorized; refuse rather than call a handler without an identity.
    sendError(res, 403, 'Forbidden', 'client certificate required', requestId);
    return;
  }

  const event = buildEvent({ req, url, method, match, body, requestId, requestTimeEpoch, clientCert });
  let result: APIGatewayProxyResult;
  try {
    result = await withTimeout(handler(event), ctx.handlerTimeoutMs);
  } catch (err) {
    if (err instanceof HandlerTimeoutError) {
      ctx.logger.error('handler timed out', { requestId, route: `${method} ${match.resource.template}` });
      sendError(res, 504, 'GatewayTimeout', 'Endpoint request timed out', requestId);
      return;
    }
    ctx.logger.error('handler failed', {
      requestId,
      route: `${method} ${match.resource.template}`,
      error: describeError(err),
    });
    sendError(res, 500, 'InternalServerError', 'Internal server error', requestId);
    return;
  }
  if (!isProxyResult(result)) {
    // What API Gateway does with a malformed Lambda proxy response.
    ctx.logger.error('malformed handler response', { requestId, route: `${method} ${match.resource.template}` });
    sendError(res, 502, 'BadGateway', 'Malformed Lambda proxy response', requestId);
    return;
  }
  writeResult(res, result, method === 'HEAD');
}

function drainThen(req: IncomingMessage, respond: () => void): void {
  // Answer at once; the unread body is discarded so the keep-alive connection stays usable.
  respond();
  req.resume();
}

function readBody(req: IncomingMessage, max: number): Promise<string | null | 'too_large' | 'aborted'> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > max) {
    req.resume();
    return Promise.resolve('too_large');
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (v: string | null | 'too_large' | 'aborted') => {
      if (!done) {
        done = true;
        resolve(v);
      }
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        chunks.length = 0;
        finish('too_large'); // keep reading (and dropping) the rest, so the connection survives
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(size === 0 ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => finish('aborted'));
    req.on('close', () =>
      finish(req.complete ? (size === 0 ? null : Buffer.concat(chunks).toString('utf8')) : 'aborted'),
    );
  });
}

interface EventInput {
  req: IncomingMessage;
  url: URL;
  method: string;
  match: Match;
  body: string | null;
  requestId: string;
  requestTimeEpoch: number;
  clientCert: APIGatewayEventClientCertificate;
}

function buildEvent(i: EventInput): APIGatewayProxyEvent {
  const { headers, multiValueHeaders } = collectHeaders(i.req);
  const sourceIp = i.req.socket.remoteAddress ?? '127.0.0.1';
  // API Gateway adds these on the way to the integration.
  setDefaultHeader(headers, multiValueHeaders, 'X-Forwarded-For', sourceIp);
  setDefaultHeader(headers, multiValueHeaders, 'X-Forwarded-Proto', 'https');
  setDefaultHeader(headers, multiValueHeaders, 'X-Forwarded-Port', String(i.req.socket.localPort ?? ''));
  const { single, multi } = collectQuery(i.url.searchParams);
  const userAgent = i.req.headers['user-agent'] ?? null;

  return {
    resource: i.match.resource.template,
    path: i.url.pathname,
    httpMethod: i.method,
    headers,
    multiValueHeaders,
    queryStringParameters: single,
    multiValueQueryStringParameters: multi,
    pathParameters: i.match.params,
    stageVariables: null,
    body: i.body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: undefined,
      domainName: i.req.headers.host ?? 'localhost',
      domainPrefix: 'local',
      extendedRequestId: i.requestId,
      protocol: `HTTP/${i.req.httpVersion}`,
      httpMethod: i.method,
      path: `/local${i.url.pathname}`,
      stage: 'local',
      requestId: i.requestId,
      requestTime: formatRequestTime(i.requestTimeEpoch),
      requestTimeEpoch: i.requestTimeEpoch,
      resourceId: resourceIdOf(i.match.resource.template),
      resourcePath: i.match.resource.template,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: i.clientCert,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp,
        user: null,
        userAgent,
        userArn: null,
      },
    },
  };
}

function collectHeaders(req: IncomingMessage): {
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
} {
  // rawHeaders keep the client's spelling, as API Gateway does; handlers must compare case-insensitively.
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    headers[name] = value; // last one wins, like API Gateway's single-value map
    const list = multiValueHeaders[name];
    if (list) list.push(value);
    else multiValueHeaders[name] = [value];
  }
  return { headers, multiValueHeaders };
}

function setDefaultHeader(
  headers: Record<string, string>,
  multi: Record<string, string[]>,
  name: string,
  value: string,
): void {
  const lower = name.toLowerCase();
  if (Object.keys(headers).some((k) => k.toLowerCase() === lower)) return;
  headers[name] = value;
  multi[name] = [value];
}

function collectQuery(params: URLSearchParams): {
  single: Record<string, string> | null;
  multi: Record<string, string[]> | null;
} {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  let any = false;
  for (const [k, v] of params) {
    any = true;
    single[k] = v;
    const list = multi[k];
    if (list) list.push(v);
    else multi[k] = [v];
  }
  return any ? { single, multi } : { single: null, multi: null };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `09/Apr/2015:12:34:56 +0000`, API Gateway's requestTime (CLF) format. */
function formatRequestTime(epochMs: number): string {
  const d = new Date(epochMs);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function resourceIdOf(template: string): string {
  return createHash('sha256').update(template).digest('hex').slice(0, 6);
}

// ---- client certificate, in API Gateway's format ----

const certCache = new WeakMap<TLSSocket, APIGatewayEventClientCertificate>();

/**
 * The peer certificate as API Gateway's mTLS puts it in `requestContext.identity.clientCert`:
 * DNs in certificate order, comma-joined (`CN=TRADER-123,OU=trader`), validity in OpenSSL's
 * `Aug 29 00:28:21 2020 GMT` form, serial in decimal. Parsed once per TLS connection.
 */
function clientCertOf(socket: TLSSocket): APIGatewayEventClientCertificate | undefined {
  const cached = certCache.get(socket);
  if (cached) return cached;
  if (!socket.authorized) return undefined;
  const peer = socket.getPeerX509Certificate();
  if (!peer) return undefined;
  const cert = toApiGatewayClientCert(peer);
  certCache.set(socket, cert);
  return cert;
}

export function toApiGatewayClientCert(peer: X509Certificate): APIGatewayEventClientCertificate {
  return {
    clientCertPem: peer.toString(),
    subjectDN: formatDn(peer.subject),
    issuerDN: formatDn(peer.issuer),
    serialNumber: BigInt(`0x${peer.serialNumber}`).toString(10),
    validity: { notBefore: peer.validFrom, notAfter: peer.validTo },
  };
}

/** node:crypto prints one RDN per line, RFC 2253-escaped, in certificate order. */
function formatDn(multiline: string | undefined): string {
  // A certificate with an empty subject has none: "" reaches the handler, which refuses it (audited).
  return (multiline ?? '').split('\n').filter(Boolean).join(',');
}

// ---- responses ----

function isProxyResult(v: unknown): v is APIGatewayProxyResult {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.statusCode === 'number' &&
    Number.isInteger(r.statusCode) &&
    r.statusCode >= 100 &&
    r.statusCode <= 599 &&
    (r.body === undefined || r.body === null || typeof r.body === 'string')
  );
}

function writeResult(res: ServerResponse, result: APIGatewayProxyResult, head: boolean): void {
  const merged = new Map<string, { name: string; values: string[] }>();
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    merged.set(name.toLowerCase(), { name, values: values.map(String) });
  }
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    // As on API Gateway, the single-value map wins over the multi-value one for the same header.
    merged.set(name.toLowerCase(), { name, values: [String(value)] });
  }
  merged.delete('content-length');
  merged.delete('transfer-encoding');
  merged.delete('connection');
  for (const { name, values } of merged.values())
    res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
  if (!merged.has('content-type')) res.setHeader('Content-Type', 'application/json');
  const raw = result.body ?? '';
  const payload = result.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  res.setHeader('Content-Length', payload.length);
  res.statusCode = result.statusCode;
  res.end(head ? undefined : payload);
}

function sendError(res: ServerResponse, status: number, error: string, message: string, requestId: string): void {
  sendJson(res, status, { error, message, requestId });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', payload.length);
  res.end(payload);
}

class HandlerTimeoutError extends Error {
  override readonly name = 'HandlerTimeoutError';
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HandlerTimeoutError(`handler exceeded ${ms} ms`)), ms);
  });
  // A handler that throws synchronously (non-async function) still lands in the catch above.
  return Promise.race([Promise.resolve().then(() => p), timeout]).finally(() => clearTimeout(timer));
}

function describeError(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, ...(code !== undefined ? { code } : {}), stack: err.stack };
  }
  return { value: String(err) };
}

// ---- client helper (tests, CLI, benchmarks) ----

export interface HttpsJsonOptions {
  method?: string;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  cert?: string | Buffer;
  key?: string | Buffer;
  ca?: string | Buffer;
  timeoutMs?: number;
}

export interface HttpsJsonResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Parsed JSON when the body is JSON, the text otherwise, null when empty. */
  body: unknown;
}

const agents = new Map<string, Agent>();

/** One keep-alive agent per (ca, cert, key): a benchmark reuses its TLS sessions across requests. */
function agentFor(o: HttpsJsonOptions): Agent {
  const h = createHash('sha256');
  for (const part of [o.ca, o.cert, o.key]) h.update(part === undefined ? '\0none' : `\0${String(part)}`);
  const id = h.digest('hex');
  let agent = agents.get(id);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: 256, ca: o.ca, cert: o.cert, key: o.key });
    agents.set(id, agent);
  }
  return agent;
}

/** Destroy the pooled agents (end of a test run or CLI command). */
export function closeHttpsAgents(): void {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}

export async function httpsJson(url: string, options: HttpsJsonOptions = {}): Promise<HttpsJsonResponse> {
  try {
    return await httpsJsonOnce(url, options);
  } catch (err) {
    // A pooled socket the server closed while idle fails before the request reaches it; Node's
    // documented remedy is to retry once on a fresh socket.
    if (err instanceof ReusedSocketResetError) return httpsJsonOnce(url, options);
    throw err;
  }
}

class ReusedSocketResetError extends Error {
  override readonly name = 'ReusedSocketResetError';
}

function httpsJsonOnce(url: string, o: HttpsJsonOptions): Promise<HttpsJsonResponse> {
  const payload =
    o.body === undefined
      ? undefined
      : Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body), 'utf8');
  const headers: Record<string, string | number> = { Accept: 'application/json', ...o.headers };
  if (payload) {
    headers['Content-Length'] = payload.length;
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type'))
      headers['Content-Type'] = 'application/json';
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: o.method ?? 'GET', headers, agent: agentFor(o) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parseBody(text) });
      });
    });
    req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(new HttpsTimeoutError(`no response from ${url}`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (req.reusedSocket && err.code === 'ECONNRESET') reject(new ReusedSocketResetError(err.message));
      else reject(err);
    });
    req.end(payload);
  });
}

function parseBody(text: string): unknown {
  if (text.length === 0) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
