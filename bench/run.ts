// `npm run bench -- <name> [args]`: each benchmark prints its figures, the last line one JSON object.
import '../local/polyfills.js';
import { auditBench } from './audit.js';
import { pipelineBench } from './pipeline.js';
import { policyBench } from './policy.js';
import { riskBench } from './risk.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const benches: Record<string, (args: string[]) => Promise<void>> = {
  audit: auditBench,
  pipeline: pipelineBench,
  policy: policyBench,
  risk: riskBench,
};

const [name, ...args] = process.argv.slice(2);
const bench = name ? benches[name] : undefined;
if (!bench) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [args]`);
  process.exit(2);
}
await bench(args);
