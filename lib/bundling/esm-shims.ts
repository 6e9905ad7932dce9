// Injected by esbuild into every agent bundle (BundlingOptions.inject). ESM has no __dirname or
// __filename, but CommonJS dependencies bundled into the ESM output (wasm-pack's nodejs build, for
// one, loads its .wasm from __dirname) still refer to them. esbuild rewrites those free
// identifiers to these exports, scoped, so a module that declares its own __dirname is untouched.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const filename = fileURLToPath(import.meta.url);
const directory = dirname(filename);

export { directory as __dirname, filename as __filename };
