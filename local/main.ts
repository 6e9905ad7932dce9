// `npm start`: the whole platform in one process, no AWS account, no Docker.
import './polyfills.js';
import { relative } from 'node:path';
import { EVALUATORS, isEvaluator } from '../functions/core/policy-compiler.js';
import { type LocalStoreKind, startLocalPlatform } from './platform.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const dataDir = process.env.TRADING_DATA_DIR ?? 'data';
const port = Number(process.env.TRADING_PORT ?? 8443);
const host = process.env.TRADING_HOST ?? '127.0.0.1';
const logLevel = (process.env.POWERTOOLS_LOG_LEVEL as 'INFO' | 'WARN' | 'ERROR' | undefined) ?? 'WARN';
const store = process.env.TRADING_STORE ?? 'journal';
if (store !== 'journal' && store !== 'dynalite') {
  console.error(`TRADING_STORE must be 'journal' (default) or 'dynalite', got '${store}'`);
  process.exit(2);
}

const policyEvaluator = process.env.POLICY_EVALUATOR ?? 'compiled';
if (!isEvaluator(policyEvaluator)) {
  console.error(`POLICY_EVALUATOR must be one of ${EVALUATORS.join(', ')}, got '${policyEvaluator}'`);
  process.exit(2);
}

const platform = await startLocalPlatform({
  dataDir,
  port,
  host,
  logLevel,
  store: store as LocalStoreKind,
  policyEvaluator,
});
const rel = (p: string) => relative(process.cwd(), p) || p;
const trader = platform.pki.clients.trader;
const approver = platform.pki.clients.approver;
const auditor = platform.pki.clients.auditor;
if (!trader || !approver || !auditor) throw new Error('dev PKI is missing a client certificate');

const lines = [
  `ACME trading platform (local) listening on ${platform.url}`,
  `data directory: ${rel(platform.dataDir)} (delete it to start afresh)`,
  `database: ${store === 'journal' ? 'journaled in-process store (TRADING_STORE=dynalite: dynalite through the AWS SDK)' : 'dynalite through the AWS SDK and the DynamoDB adapters'}`,
  '',
  'mTLS: the server trusts only client certificates from the dev CA.',
  `  CA:        ${rel(platform.pki.caCert)}`,
  `  trader:    ${rel(trader.cert)}  ${rel(trader.key)}   (CN=TRADER-123)`,
  `  approver:  ${rel(approver.cert)}  ${rel(approver.key)}   (CN=RISK-OFFICER-1)`,
  `  auditor:   ${rel(auditor.cert)}  ${rel(auditor.key)}   (CN=AUDITOR-1)`,
  `Every call is authorised by the Cedar policies in policies/ (refusals: 403, audited as access_denied), decided by ${policyEvaluator === 'compiled' ? 'the policies compiled to JS (POLICY_EVALUATOR=cedar-wasm: by cedar-wasm)' : 'cedar-wasm'}.`,
  `TRADER-123 is entitled to ${((await platform.services.referenceStore.getTraderEntitlement('TRADER-123'))?.accounts ?? []).join(', ') || 'no account'}.`,
  '',
  'Submit an order:',
  `  curl --cacert ${rel(platform.pki.caCert)} --cert ${rel(trader.cert)} --key ${rel(trader.key)} \\`,
  `    -H 'content-type: application/json' ${platform.url}/orders \\`,
  `    -d '{"order_id":"ORD-001","symbol":"AAPL","side":"BUY","quantity":1000,"order_type":"MARKET","account_id":"ACC-001","trader_id":"TRADER-123"}'`,
  '',
  'Or with the CLI:  npx trading submit --order-id ORD-001 --symbol AAPL --side BUY --quantity 1000 --type MARKET --account ACC-001 --trader TRADER-123',
];
for (const r of platform.recovered) {
  lines.push(`recovered ${r.order_id}: ${r.outcome} (it was in flight when the platform last stopped)`);
}
console.log(lines.join('\n'));

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping`);
  await platform.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
