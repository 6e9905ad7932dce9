// Node 20 lacks Promise.withResolvers, which aws-local-stepfunctions uses.
import '../local/polyfills.js';

process.env.AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING ??= '1';
