import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  certFingerprint,
  createExpiredClientCert,
  createUntrustedClientCert,
  DEFAULT_DEV_IDENTITIES,
  type DevPkiPaths,
  ensureDevPki,
  type PemPair,
  readClientTls,
  readServerTls,
} from '../../local/dev-pki.js';
import {
  closeHttpsAgents,
  createHttpsGateway,
  type GatewayLogger,
  type HttpsGateway,
  httpsJson,
} from '../../local/https-gateway.js';

describe('local mTLS gateway', () => {
  let dir: string;
  let pki: DevPkiPaths;
  let ca: string;
  let trader: PemPair;
  let gateway: HttpsGateway;
  const seen: APIGatewayProxyEvent[] = [];
  const logged: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const logger: GatewayLogger = {
    warn: (message, fields) => logged.push({ level: 'warn', message, fields }),
    error: (message, fields) => logged.push({ level: 'error', message, fields }),
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'https-gateway-'));
    pki = await ensureDevPki(join(dir, 'pki'));
    const server = await readServerTls(pki);
    ca = server.ca;
    trader = await readClientTls(pki, 'trader');
    gateway = await createHttpsGateway({
      port: 0,
      ...server,
      maxBodyBytes: 1024,
      logger,
      routes: [
        {
          method: 'GET',
          path: '/orders/{order_id}',
          handler: async (event) => {
            seen.push(event);
            return { statusCode: 200, body: JSON.stringify({ echo: event.pathParameters }) };
          },
        },
        {
          method: 'POST',
          path: '/orders',
          handler: async (event) => {
            seen.push(event);
            return {
              statusCode: 201,
              headers: { 'X-Echo': 'yes' },
              body: JSON.stringify({ received: JSON.parse(event.body ?? 'null') }),
            };
          },
        },
        {
          method: 'POST',
          path: '/approvals/{approval_id}/approve',
          handler: async () => {
            throw new Error('boom');
          },
        },
      ],
    });
  });

  afterAll(async () => {
    closeHttpsAgents();
    await gateway?.close();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    seen.length = 0;
    logged.length = 0;
  });

  it('hands the handler an API Gateway REST proxy event with the client certificate', async () => {
    const res = await httpsJson(`${gateway.url}/orders/ORD%2F42?verbose=1&tag=a&tag=b`, { ...trader, ca });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ echo: { order_id: 'ORD/42' } });
    expect(res.headers['content-type']).toBe('application/json');

    expect(seen).toHaveLength(1);
    const event = seen[0] as APIGatewayProxyEvent;
    expect(event).toMatchObject({
      httpMethod: 'GET',
      path: '/orders/ORD%2F42',
      resource: '/orders/{order_id}',
      pathParameters: { order_id: 'ORD/42' },
      queryStringParameters: { verbose: '1', tag: 'b' },
      multiValueQueryStringParameters: { verbose: ['1'], tag: ['a', 'b'] },
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
    });
    const rc = event.requestContext;
    expect(rc).toMatchObject({ stage: 'local', httpMethod: 'GET', resourcePath: '/orders/{order_id}' });
    expect(rc.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['x-amzn-requestid']).toBe(rc.requestId);
    expect(Math.abs(rc.requestTimeEpoch - Date.now())).toBeLessThan(10_000);
    expect(rc.identity.sourceIp).toBe('127.0.0.1');

    const cert = rc.identity.clientCert;
    expect(cert).not.toBeNull();
    expect(cert?.subjectDN).toBe('CN=TRADER-123,OU=trader');
    expect(cert?.issuerDN).toBe('CN=ACME Trading Dev CA,O=ACME Trading (dev)');
    const parsed = new X509Certificate(trader.cert);
    expect(cert?.clientCertPem.trim()).toBe(trader.cert.trim());
    expect(cert?.serialNumber).toBe(BigInt(`0x${parsed.serialNumber}`).toString(10));
    expect(cert?.validity).toEqual({ notBefore: parsed.validFrom, notAfter: parsed.validTo });
    // OpenSSL's date form, as in API Gateway's events: "Aug 29 00:28:21 2020 GMT".
    expect(cert?.validity.notAfter).toMatch(/^[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4} GMT$/);
  });

  it('passes a POST body, headers and the response headers through', async () => {
    const res = await httpsJson(`${gateway.url}/orders`, {
      method: 'POST',
      body: { symbol: 'AAPL', quantity: 10 },
      headers: { 'X-Client-Order-Id': 'c-1' },
      ...trader,
      ca,
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ received: { symbol: 'AAPL', quantity: 10 } });
    expect(res.headers['x-echo']).toBe('yes');
    const event = seen[0] as APIGatewayProxyEvent;
    expect(event.body).toBe('{"symbol":"AAPL","quantity":10}');
    expect(event.pathParameters).toBeNull();
    expect(event.queryStringParameters).toBeNull();
    expect(event.headers['X-Client-Order-Id']).toBe('c-1');
    expect(event.multiValueHeaders['X-Client-Order-Id']).toEqual(['c-1']);
  });

  it('shows each role in the subject DN', async () => {
    for (const id of DEFAULT_DEV_IDENTITIES) {
      const tls = await readClientTls(pki, id.name);
      await httpsJson(`${gateway.url}/orders/x`, { ...tls, ca });
    }
    expect(seen.map((e) => e.requestContext.identity.clientCert?.subjectDN)).toEqual([
      'CN=TRADER-123,OU=trader',
      'CN=RISK-OFFICER-1,OU=approver',
      'CN=AUDITOR-1,OU=auditor',
      'CN=RISK-OFFICER-2,OU=risk-officer',
    ]);
  });

  async function expectHandshakeRefused(reason: string): Promise<void> {
    // The server logs why it dropped the handshake; the client only sees an alert or a reset.
    await vi.waitFor(() =>
      expect(logged).toContainEqual(
        expect.objectContaining({ message: 'TLS handshake refused', fields: expect.objectContaining({ reason }) }),
      ),
    );
    expect(seen).toHaveLength(0);
  }

  it('refuses a client without a certificate at the TLS handshake', async () => {
    await expect(httpsJson(`${gateway.url}/orders/x`, { ca })).rejects.toThrow();
    await expectHandshakeRefused('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
  });

  it('refuses a certificate from another CA', async () => {
    const rogue = await createUntrustedClientCert({ cn: 'TRADER-123', role: 'trader' });
    await expect(httpsJson(`${gateway.url}/orders/x`, { cert: rogue.cert, key: rogue.key, ca })).rejects.toThrow();
    await expectHandshakeRefused('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('refuses an expired certificate from the dev CA', async () => {
    const expired = await createExpiredClientCert(pki, { cn: 'TRADER-123', role: 'trader' });
    expect(Date.parse(new X509Certificate(expired.cert).validTo)).toBeLessThan(Date.now());
    await expect(httpsJson(`${gateway.url}/orders/x`, { ...expired, ca })).rejects.toThrow();
    await expectHandshakeRefused('CERT_HAS_EXPIRED');
  });

  it('answers 404 for an unknown route', async () => {
    const res = await httpsJson(`${gateway.url}/nowhere`, { ...trader, ca });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: 'NotFound', message: expect.stringContaining('/nowhere') });
    // Too many segments is not a match either.
    expect((await httpsJson(`${gateway.url}/orders/a/b`, { ...trader, ca })).status).toBe(404);
  });

  it('answers 405 for a wrong method on a known path', async () => {
    const res = await httpsJson(`${gateway.url}/orders/x`, { method: 'DELETE', ...trader, ca });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET');
    expect(res.body).toMatchObject({ error: 'MethodNotAllowed' });
    expect(seen).toHaveLength(0);
  });

  it('answers 413 for a body over the limit, and the connection stays usable', async () => {
    const res = await httpsJson(`${gateway.url}/orders`, { method: 'POST', body: 'x'.repeat(2048), ...trader, ca });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: 'PayloadTooLarge' });
    expect(seen).toHaveLength(0);
    expect((await httpsJson(`${gateway.url}/orders/y`, { ...trader, ca })).status).toBe(200);
  });

  it('answers 500 with a request id when the handler throws, and logs it', async () => {
    const res = await httpsJson(`${gateway.url}/approvals/A-1/approve`, { method: 'POST', body: {}, ...trader, ca });
    expect(res.status).toBe(500);
    const body = res.body as { error: string; requestId: string };
    expect(body.error).toBe('InternalServerError');
    expect(body.requestId).toBe(res.headers['x-amzn-requestid']);
    expect(logged).toContainEqual(
      expect.objectContaining({ level: 'error', fields: expect.objectContaining({ requestId: body.requestId }) }),
    );
  });

  it('answers 504 for a handler past the timeout and 502 for a malformed result', async () => {
    const server = await readServerTls(pki);
    const small = await createHttpsGateway({
      ...server,
      handlerTimeoutMs: 100,
      logger,
      routes: [
        {
          method: 'GET',
          path: '/slow',
          handler: () => new Promise((r) => setTimeout(() => r({ statusCode: 200, body: '' }), 1_000)),
        },
        {
          method: 'GET',
          path: '/bad',
          handler: async () => ({ body: 'no status' }) as unknown as APIGatewayProxyResult,
        },
      ],
    });
    try {
      expect((await httpsJson(`${small.url}/slow`, { ...trader, ca })).status).toBe(504);
      expect((await httpsJson(`${small.url}/bad`, { ...trader, ca })).status).toBe(502);
    } finally {
      await small.close();
    }
  });

  it('serves many concurrent requests over pooled keep-alive connections', async () => {
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => httpsJson(`${gateway.url}/orders/o-${i}`, { ...trader, ca })),
    );
    const ms = performance.now() - started;
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(ms).toBeLessThan(20_000); // a loose guard against a stall, not a benchmark
  });

  it('reuses the PKI on a second start: same CA, same client certificates', async () => {
    const caBefore = certFingerprint(await readFile(pki.caCert, 'utf8'));
    const traderBefore = certFingerprint(trader.cert);
    const again = await ensureDevPki(pki.dir);
    expect(certFingerprint(await readFile(again.caCert, 'utf8'))).toBe(caBefore);
    expect(certFingerprint((await readClientTls(again, 'trader')).cert)).toBe(traderBefore);
    expect((await stat(again.caKey)).mode & 0o777).toBe(0o600);
    expect((await stat(again.clients.trader?.key ?? '')).mode & 0o777).toBe(0o600);
  });

  it('concurrent first starts on one directory agree on a single CA', async () => {
    const fresh = join(dir, 'pki-race');
    const [first, ...rest] = await Promise.all([ensureDevPki(fresh), ensureDevPki(fresh), ensureDevPki(fresh)]);
    expect(rest.every((p) => p.caCert === first?.caCert)).toBe(true);
    const caCert = new X509Certificate(await readFile(join(fresh, 'ca.crt'), 'utf8'));
    const leaves = ['server', ...DEFAULT_DEV_IDENTITIES.map((i) => i.name)];
    for (const name of leaves) {
      const leaf = new X509Certificate(await readFile(join(fresh, `${name}.crt`), 'utf8'));
      expect(leaf.checkIssued(caCert) && leaf.verify(caCert.publicKey)).toBe(true);
    }
  });

  it('adds a missing client certificate without touching the others', async () => {
    const caBefore = certFingerprint(await readFile(pki.caCert, 'utf8'));
    const more = await ensureDevPki(pki.dir, [
      ...DEFAULT_DEV_IDENTITIES,
      { name: 'ops', cn: 'OPS-1', role: 'operator' },
    ]);
    expect(certFingerprint(await readFile(more.caCert, 'utf8'))).toBe(caBefore);
    expect(certFingerprint((await readClientTls(more, 'trader')).cert)).toBe(certFingerprint(trader.cert));
    const ops = await readClientTls(more, 'ops');
    await httpsJson(`${gateway.url}/orders/z`, { ...ops, ca });
    expect(seen[0]?.requestContext.identity.clientCert?.subjectDN).toBe('CN=OPS-1,OU=operator');
  });
});
