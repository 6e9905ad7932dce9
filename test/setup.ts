// Node 20 lacks Promise.withResolvers, which aws-local-stepfunctions uses.
import '../local/polyfills.js';
import fc from 'fast-check';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// Property tests explore new random cases on every local run; CI pins the seed (FC_SEED, set by
// .ci/run) so that a landing is decided by the code, and a failure found locally is reproducible.
if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });
