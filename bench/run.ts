// `npm run bench -- <name> [args]`: each benchmark prints its figures, the last line one JSON object.
import '../local/polyfills.js';
import { pipelineBench } from './pipeline.js';

process.env.AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING ??= '1';

const benches: Record<string, (args: string[]) => Promise<void>> = {
  pipeline: pipelineBench,
};

const [name, ...args] = process.argv.slice(2);
const bench = name ? benches[name] : undefined;
if (!bench) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [args]`);
  process.exit(2);
}
await bench(args);
