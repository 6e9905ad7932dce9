// dynalite on its own thread: the database's request parsing and LevelDB work run on the second
// core instead of competing with the handlers on the main event loop. Plain JS so it loads the
// same way under tsx, vitest and node.
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

const dynalite = createRequire(import.meta.url)('dynalite');
const server = dynalite({ path: workerData.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.on('error', (err) => parentPort?.postMessage({ type: 'error', message: String(err) }));
server.listen(0, '127.0.0.1', () => parentPort?.postMessage({ type: 'listening', port: server.address().port }));
parentPort?.on('message', (msg) => {
  if (msg === 'close')
    server.close((err) => parentPort?.postMessage({ type: 'closed', error: err ? String(err) : null }));
});
