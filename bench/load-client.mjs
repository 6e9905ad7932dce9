// The pipeline benchmark's load generator, on its own thread: like wrk or k6 beside a server, its
// TLS and JSON work does not share the event loop of the platform it measures. It keeps
// `inFlight` orders going over one keep-alive mTLS connection pool; after each 202 it asks the
// main thread to wait for the order's lifecycle to end, and times each order from just before its
// POST to the moment that answer arrives (so the hop between threads counts against the platform).
// Plain JS so it loads the same way under tsx and node.
import { Agent, request } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';

const { url, tls, orders, inFlight } = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: inFlight, ca: tls.ca, cert: tls.cert, key: tls.key });
const waiting = new Map();
let seq = 0;

parentPort.on('message', (msg) => {
  const done = waiting.get(msg.id);
  if (done) {
    waiting.delete(msg.id);
    done(msg.status);
  }
});

function post(body) {
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/orders`,
      {
        method: 'POST',
        agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length, Accept: 'application/json' },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('no response within 30 s')));
    req.on('error', reject);
    req.end(payload);
  });
}

function waitForEnd(executionId) {
  const id = seq++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    parentPort.postMessage({ type: 'wait', id, executionId });
  });
}

const latencies = [];
let failed = 0;
let next = 0;
async function worker() {
  for (;;) {
    const i = next++;
    if (i >= orders.length) return;
    const t0 = performance.now();
    const res = await post(orders[i]);
    if (res.status !== 202) {
      failed++;
      continue;
    }
    const status = await waitForEnd(res.body.execution_id);
    latencies.push(performance.now() - t0);
    if (status !== 'SUCCEEDED') failed++;
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: inFlight }, worker));
const seconds = (performance.now() - t0) / 1000;
agent.destroy();
parentPort.postMessage({ type: 'done', latencies, failed, seconds });
