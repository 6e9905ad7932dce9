// Runs the CLI in-process (main() with captured output), as the integration tests drive it.
import { type CliIo, main } from '../../bin/cli-main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI with `argv`, against `defaults`' platform and data dir unless argv gives its own. */
export async function runCli(argv: readonly string[], defaults: { url: string; dataDir: string }): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: {},
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => Date.now(),
  };
  const flags = [
    ...(argv.includes('--url') ? [] : ['--url', defaults.url]),
    ...(argv.includes('--data-dir') ? [] : ['--data-dir', defaults.dataDir]),
  ];
  const code = await main([...flags, ...argv], io);
  return { code, stdout, stderr };
}
