/**
 * `execvisor serve` as a child process on a loopback port (the built CLI, dist/src/cli/main.js),
 * for scenarios that compare it with another server running as a child: both pay the same process
 * boundary. `EXECVISOR_BENCH_SERVE_NODE_ARGS` (space-separated) is passed to its node, for example
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the server alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** From dist/bench/lib (or bench/lib) up to the repository root. */
const REPO_ROOT = resolve(
  dirname(fileURLToPath(import.meta.url)),
  import.meta.url.endsWith('.ts') ? '../..' : '../../..',
);
export const CLI = resolve(REPO_ROOT, 'dist/src/cli/main.js');

export interface ServeChild {
  readonly child: ChildProcess;
  /** `ws://127.0.0.1:PORT`, as printed on its first stdout line. */
  readonly url: string;
  stderr(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it has exited. */
  stop(): Promise<void>;
}

export async function startServeChild(
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServeChild> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const nodeArgs = (process.env.EXECVISOR_BENCH_SERVE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(
    process.execPath,
    [...nodeArgs, CLI, 'serve', '--listen', 'ws://127.0.0.1:0', '--log-level', 'error', ...args],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (data: Buffer) => {
    if (stderr.length < 1 << 20) stderr += data.toString();
  });
  let stdout = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stdout.on('data', (data: Buffer) => {
      stdout += data.toString();
      const newline = stdout.indexOf('\n');
      if (newline >= 0) resolveUrl(stdout.slice(0, newline).trim());
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`execvisor serve exited (${String(code ?? signal)}) before its URL line: ${stderr}`)),
    );
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, url, stderr: () => stderr, stop };
}
