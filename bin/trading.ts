#!/usr/bin/env -S node --import tsx
// `trading`: the platform's command line, in the spirit of the seed's `agentweave call`.
import { main } from './cli-main.js';

// exitCode, not exit(): stdout may still be draining into a pipe.
process.exitCode = await main(process.argv.slice(2));
