// The CLI's connection to the platform: the identity's PEM files, one mTLS request, and the
// failures sorted into what the user can do about them (exit 1 server said no, exit 3 no platform).
import { readFile } from 'node:fs/promises';
import { type HttpsJsonResponse, httpsJson } from '../local/https-gateway.js';
import type { Connection, HttpRequest } from './cli-args.js';

/** The server answered, with a 4xx or 5xx: exit 1. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly request: HttpRequest,
  ) {
    super(`${request.method} ${request.path.split('?')[0]} answered ${status}`);
  }
}

/** No answer: nothing listening, the TLS handshake failed, or a timeout: exit 3. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
  constructor(
    message: string,
    readonly url: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** The identity's PEM files are not where they should be: exit 3 (`npm start` makes them). */
export class CertificateMissingError extends Error {
  override readonly name = 'CertificateMissingError';
}

export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

export async function loadTls(c: Connection): Promise<TlsMaterial> {
  const read = async (path: string, what: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'not found' : `unreadable (${code ?? (err as Error).message})`;
      const origin = c.identity
        ? `\`npm start\` creates the dev PKI under ${c.dataDir}/pki on its first start; run it, or point --data-dir (env TRADING_DATA_DIR) at its data directory`
        : 'check --cert, --key and --ca';
      throw new CertificateMissingError(`${what} ${path} ${why}: ${origin}`);
    }
  };
  const who = c.identity ? `the ${c.identity} certificate` : 'the client certificate';
  const results = await Promise.allSettled([
    read(c.certPath, who),
    read(c.keyPath, c.identity ? `the ${c.identity} key` : 'the client key'),
    read(c.caPath, 'the dev CA certificate'),
  ]);
  // Report the first missing file in a fixed order (certificate, key, CA), whichever read failed first.
  const [cert, key, ca] = results.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  });
  return { cert: cert as string, key: key as string, ca: ca as string };
}

export interface Client {
  /** A 2xx answer; anything else throws ApiError or UnreachableError. */
  send(request: HttpRequest): Promise<HttpsJsonResponse>;
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_OSSL/;

export function createClient(c: Connection, tls: TlsMaterial, timeoutMs = 30_000): Client {
  return {
    async send(request) {
      let res: HttpsJsonResponse;
      try {
        res = await httpsJson(`${c.url}${request.path}`, {
          method: request.method,
          ...(request.body === undefined ? {} : { body: request.body }),
          cert: tls.cert,
          key: tls.key,
          ca: tls.ca,
          timeoutMs,
        });
      } catch (err) {
        throw unreachable(err, c);
      }
      if (res.status < 200 || res.status > 299) throw new ApiError(res.status, res.body, request);
      return res;
    },
  };
}

function unreachable(err: unknown, c: Connection): UnreachableError {
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? e.name;
  const detail = `${e.message}${e.code && !e.message.includes(e.code) ? ` (${e.code})` : ''}`;
  if (TLS_CODES.test(code) || /certificate|handshake|alert/i.test(e.message)) {
    return new UnreachableError(
      `the TLS handshake with ${c.url} failed: ${detail}`,
      c.url,
      `the certificates must come from the running platform's dev PKI: is --data-dir (now ${c.dataDir}) the directory \`npm start\` uses?`,
    );
  }
  if (code === 'ECONNRESET' || /socket hang up/.test(e.message)) {
    // The gateway drops a client certificate it does not trust without a TLS alert.
    return new UnreachableError(
      `${c.url} closed the connection: ${detail}`,
      c.url,
      `is \`npm start\` running there, and does it use the dev PKI under ${c.dataDir}/pki (its --data-dir)?`,
    );
  }
  return new UnreachableError(
    `cannot reach the platform at ${c.url}: ${detail}`,
    c.url,
    'is `npm start` running? (or set --url / TRADING_URL)',
  );
}
