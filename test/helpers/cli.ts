/**
 * Runs the built `execvisor` command (run `npm run build` first) as a child process and collects
 * what it printed. Every child is tracked, so `killAllCli()` in an `afterEach`/`afterAll` leaves
 * nothing running even when a test fails half-way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { CLI, requireBuild } from './serve.js';

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** The child's environment. Default: this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed. Default: stdin is /dev/null. */
  readonly stdin?: string | Buffer;
  /** The child is SIGKILLed after this long (the result then shows the signal). Default 60 s. */
  readonly timeoutMs?: number;
  readonly cwd?: string;
  /**
   * Where the child's stdout goes: a pipe to this process (default), or a descriptor (or a stream
   * with one, such as another child's stdin) handed to the child as is.
   */
  readonly stdout?: 'pipe' | Writable | number;
}

const running = new Set<ChildProcess>();

/** Starts `execvisor ...args` and leaves it running; the caller owns its stdio. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): ChildProcess {
  requireBuild();
  const child = spawn(process.execPath, [CLI, ...args], {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', options.stdout ?? 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (options.stdin !== undefined) {
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(options.stdin);
  }
  return child;
}

/** Runs `execvisor ...args` to its exit. */
export async function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const closed = once(child, 'close');
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  await closed;
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

/** SIGKILLs every CLI child still running and waits for each to exit. */
export async function killAllCli(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }),
  );
}
