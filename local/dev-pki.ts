// Development PKI for the local mTLS gateway: a dev CA, a localhost server certificate and one
// client certificate per identity, created on first start and reused afterwards. Pure JS
// (@peculiar/x509 over WebCrypto) so `npm start` needs no openssl binary.
import 'reflect-metadata';
import { createPrivateKey, X509Certificate as NodeX509Certificate, randomBytes, webcrypto } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

// No DOM lib here: name the provider type through the library instead of the global `Crypto`.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
const CA_DAYS = 3650;
const SERVER_DAYS = 825;
const CLIENT_DAYS = 365;
// A certificate this close to expiry is re-issued at start, so a running dev stack never trips over it.
const RENEW_BEFORE_MS = 30 * DAY_MS;
// Back-date notBefore a little so a client with a slightly slow clock still accepts a fresh certificate.
const BACKDATE_MS = 5 * 60_000;
const CA_SUBJECT = 'CN=ACME Trading Dev CA, O=ACME Trading (dev)';
const SERVER_SUBJECT = 'CN=localhost, O=ACME Trading (dev)';

export interface DevIdentity {
  /** File stem: `<name>.crt` / `<name>.key`. */
  name: string;
  /** Subject CN: the caller identity the handlers see. */
  cn: string;
  /** Subject OU: the caller's role. */
  role: string;
}

export interface CertKeyPaths {
  cert: string;
  key: string;
}

export interface DevPkiPaths {
  dir: string;
  caCert: string;
  caKey: string;
  server: CertKeyPaths;
  clients: Record<string, CertKeyPaths>;
}

/** PEM material, ready for `https.createServer` / `https.Agent`. */
export interface PemPair {
  cert: string;
  key: string;
}

export class DevPkiError extends Error {
  override readonly name = 'DevPkiError';
}

export const DEFAULT_DEV_IDENTITIES: readonly DevIdentity[] = [
  { name: 'trader', cn: 'TRADER-123', role: 'trader' },
  { name: 'approver', cn: 'RISK-OFFICER-1', role: 'approver' },
  { name: 'auditor', cn: 'AUDITOR-1', role: 'auditor' },
  // A second risk officer: a limit change needs a checker other than the officer who requested it.
  { name: 'risk-officer', cn: 'RISK-OFFICER-2', role: 'risk-officer' },
];

const NAME_RE = /^[a-z0-9][a-z0-9-]*$/;
const RESERVED_NAMES = new Set(['ca', 'server']);

/**
 * Make sure `dir` holds a usable dev PKI and return the file paths. Valid existing files are kept;
 * anything missing, expiring, or not issued by the current CA is (re-)issued. A new CA therefore
 * re-issues every leaf, so the set never mixes CAs.
 */
export async function ensureDevPki(
  dir: string,
  identities: readonly DevIdentity[] = DEFAULT_DEV_IDENTITIES,
): Promise<DevPkiPaths> {
  validateIdentities(identities);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Two processes starting together (server + CLI) must not each mint a CA and mix the results.
  return withDirLock(dir, () => ensureDevPkiLocked(dir, identities));
}

async function ensureDevPkiLocked(dir: string, identities: readonly DevIdentity[]): Promise<DevPkiPaths> {
  const now = Date.now();
  const paths: DevPkiPaths = {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    server: { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') },
    clients: {},
  };

  const ca = await ensureCa(paths.caCert, paths.caKey, now);

  const server = await loadValidLeaf(
    paths.server,
    ca.node,
    now,
    (c) => c.checkHost('localhost') !== undefined && c.checkIP('127.0.0.1') !== undefined,
  );
  if (!server) {
    await writePair(paths.server, await issueServer(ca, now));
  }

  for (const id of identities) {
    const p: CertKeyPaths = { cert: join(dir, `${id.name}.crt`), key: join(dir, `${id.name}.key`) };
    paths.clients[id.name] = p;
    const want = formatSubject(id);
    const ok = await loadValidLeaf(p, ca.node, now, (c) => c.subject === want);
    if (!ok) {
      await writePair(p, await issueClient(ca, id, { notBefore: new Date(now - BACKDATE_MS), days: CLIENT_DAYS }));
    }
  }
  return paths;
}

/** Read the server material and the CA for `createHttpsGateway`. */
export async function readServerTls(paths: DevPkiPaths): Promise<PemPair & { ca: string }> {
  const [cert, key, ca] = await Promise.all([
    readFile(paths.server.cert, 'utf8'),
    readFile(paths.server.key, 'utf8'),
    readFile(paths.caCert, 'utf8'),
  ]);
  return { cert, key, ca };
}

/** Read one client's certificate and key (e.g. `trader`). */
export async function readClientTls(paths: DevPkiPaths, name: string): Promise<PemPair> {
  const p = paths.clients[name];
  if (!p) throw new DevPkiError(`no dev client certificate named '${name}'`);
  const [cert, key] = await Promise.all([readFile(p.cert, 'utf8'), readFile(p.key, 'utf8')]);
  return { cert, key };
}

/** SHA-256 fingerprint of a PEM certificate, colon-separated hex (as openssl prints it). */
export function certFingerprint(pem: string): string {
  return new NodeX509Certificate(pem).fingerprint256;
}

// ---- test helpers: certificates the gateway must refuse ----

/** A client certificate from a fresh CA the gateway does not trust (same subject shape). */
export async function createUntrustedClientCert(
  identity: Omit<DevIdentity, 'name'>,
): Promise<PemPair & { ca: string }> {
  const now = Date.now();
  const rogue = await createCa('CN=Rogue CA, O=Not ACME', now);
  const leaf = await issueClient(
    rogue,
    { name: 'rogue', ...identity },
    { notBefore: new Date(now - BACKDATE_MS), days: 30 },
  );
  return { ...leaf, ca: rogue.pem };
}

/** A client certificate issued by the dev CA whose validity ended yesterday. */
export async function createExpiredClientCert(
  paths: DevPkiPaths,
  identity: Omit<DevIdentity, 'name'>,
): Promise<PemPair> {
  const ca = await loadCa(paths.caCert, paths.caKey);
  if (!ca) throw new DevPkiError(`dev CA at ${paths.caCert} is missing or unreadable`);
  const now = Date.now();
  return issueClient(
    ca,
    { name: 'expired', ...identity },
    { notBefore: new Date(now - 30 * DAY_MS), notAfter: new Date(now - DAY_MS) },
  );
}

// ---- internals ----

interface Ca {
  pem: string;
  node: NodeX509Certificate;
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
}

/** Subject as node:crypto prints it (forward order, newline-separated): used to spot a changed role. */
function formatSubject(id: Omit<DevIdentity, 'name'>): string {
  return `CN=${escapeDnValue(id.cn)}\nOU=${escapeDnValue(id.role)}`;
}

// RFC 2253 escaping as OpenSSL (and so node:crypto) prints it.
function escapeDnValue(v: string): string {
  return v
    .replace(/[,+"\\<>;]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}

function validateIdentities(identities: readonly DevIdentity[]): void {
  const seen = new Set<string>();
  for (const id of identities) {
    if (!NAME_RE.test(id.name) || RESERVED_NAMES.has(id.name)) {
      throw new DevPkiError(`invalid dev identity name '${id.name}' (lower-case letters, digits, '-'; not ca/server)`);
    }
    if (seen.has(id.name)) throw new DevPkiError(`duplicate dev identity name '${id.name}'`);
    seen.add(id.name);
    if (!id.cn || !id.role) throw new DevPkiError(`dev identity '${id.name}' needs a cn and a role`);
  }
}

function randomSerial(): string {
  // 16 random bytes with the top bit cleared: a positive INTEGER of fixed size (RFC 5280 4.1.2.2).
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x01;
  return b.toString('hex');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return webcrypto.subtle.importKey('pkcs8', der, EC_ALG, true, ['sign']);
}

async function createCa(subject: string, now: number): Promise<Ca> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_DAYS * DAY_MS),
    keys,
    signingAlgorithm: EC_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pem = cert.toString('pem');
  return { pem, node: new NodeX509Certificate(pem), cert, privateKey: keys.privateKey };
}

async function ensureCa(certPath: string, keyPath: string, now: number): Promise<Ca> {
  const existing = await loadCa(certPath, keyPath);
  if (existing && Date.parse(existing.node.validTo) - now > RENEW_BEFORE_MS) return existing;
  const ca = await createCa(CA_SUBJECT, now);
  // Key first: a crash between the two writes leaves a cert-less key, which the next start replaces.
  await writeFileAtomic(keyPath, await exportKeyPem(ca.privateKey), 0o600);
  await writeFileAtomic(certPath, ca.pem, 0o644);
  return ca;
}

async function loadCa(certPath: string, keyPath: string): Promise<Ca | undefined> {
  const pair = await readPairIfPresent({ cert: certPath, key: keyPath });
  if (!pair) return undefined;
  try {
    const node = new NodeX509Certificate(pair.cert);
    if (!node.ca || !keyMatches(node, pair.key)) return undefined;
    return {
      pem: pair.cert,
      node,
      cert: new x509.X509Certificate(pair.cert),
      privateKey: await importKeyPem(pair.key),
    };
  } catch {
    return undefined; // unreadable: treat as absent and re-create
  }
}

async function loadValidLeaf(
  p: CertKeyPaths,
  ca: NodeX509Certificate,
  now: number,
  extra: (c: NodeX509Certificate) => boolean,
): Promise<boolean> {
  const pair = await readPairIfPresent(p);
  if (!pair) return false;
  try {
    const c = new NodeX509Certificate(pair.cert);
    return (
      c.checkIssued(ca) &&
      c.verify(ca.publicKey) &&
      Date.parse(c.validTo) - now > RENEW_BEFORE_MS &&
      Date.parse(c.validFrom) <= now &&
      keyMatches(c, pair.key) &&
      extra(c)
    );
  } catch {
    return false;
  }
}

function keyMatches(cert: NodeX509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

async function issueServer(ca: Ca, now: number): Promise<PemPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: SERVER_SUBJECT,
    issuer: ca.cert.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + SERVER_DAYS * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: EC_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await exportKeyPem(keys.privateKey) };
}

async function issueClient(
  ca: Ca,
  id: DevIdentity,
  validity: { notBefore: Date; days: number } | { notBefore: Date; notAfter: Date },
): Promise<PemPair> {
  const keys = await newKeys();
  const notAfter =
    'notAfter' in validity ? validity.notAfter : new Date(validity.notBefore.getTime() + validity.days * DAY_MS);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    // JSON form keeps the attribute order (CN, then OU) and needs no string escaping.
    subject: [{ CN: [id.cn] }, { OU: [id.role] }],
    issuer: ca.cert.subject,
    notBefore: validity.notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: EC_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await exportKeyPem(keys.privateKey) };
}

const LOCK_WAIT_MS = 30_000;
// Generation takes well under a second; a lock this old was left by a process that died holding it.
const LOCK_STALE_MS = 60_000;

async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await mkdir(lock); // atomic: exactly one caller creates it
      break;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      const since = await stat(lock).then(
        (st) => Date.now() - st.mtimeMs,
        () => 0,
      );
      if (since > LOCK_STALE_MS) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new DevPkiError(`timed out waiting for the dev PKI lock ${lock}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function readPairIfPresent(p: CertKeyPaths): Promise<PemPair | undefined> {
  try {
    const [cert, key] = await Promise.all([readFile(p.cert, 'utf8'), readFile(p.key, 'utf8')]);
    return { cert, key };
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

async function writePair(p: CertKeyPaths, pair: PemPair): Promise<void> {
  await writeFileAtomic(p.key, pair.key, 0o600);
  await writeFileAtomic(p.cert, pair.cert, 0o644);
}

/** Write via a temp file + rename, so a crash never leaves half a PEM behind. */
async function writeFileAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(content, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await chmod(tmp, mode); // open()'s mode is filtered by the umask; make it exact
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && (err as { code: unknown }).code === code;
}
