/**
 * A real `execvisor serve` process (run `npm run build` first): spawned on a free loopback port,
 * ready once it printed its URL, or on stdio (`spawnServeStdio`); always stopped by `stopAll()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { RawStdioClient } from './raw-ws.js';

export const CLI = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly port: number;
  stderr(): string;
  /** Resolves once the server logged a line with this `msg` (rejects if it exits first). */
  logged(msg: string): Promise<void>;
}

const started = new Set<ChildProcess>();

export function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
}

export async function spawnServe(
  args: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServeProcess> {
  requireBuild();
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', 'ws://127.0.0.1:0', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  let stderr = '';
  const messages = new Set<string>();
  const waiters: { msg: string; resolve: () => void; reject: (error: Error) => void }[] = [];
  let partial = '';
  child.stderr.on('data', (data: Buffer) => {
    const text = data.toString();
    // Bounded: a test that floods the log must not grow this without end.
    if (stderr.length < 1 << 20) stderr += text;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      let msg: unknown;
      try {
        msg = (JSON.parse(line) as { msg?: unknown }).msg;
      } catch {
        continue;
      }
      if (typeof msg !== 'string') continue;
      messages.add(msg);
      for (const waiter of waiters.filter((w) => w.msg === msg)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  child.once('exit', (code, signal) => {
    for (const waiter of waiters.splice(0)) {
      waiter.reject(new Error(`server exited (${code ?? signal}) before logging "${waiter.msg}": ${stderr}`));
    }
  });
  const logged = (msg: string) =>
    messages.has(msg)
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => waiters.push({ msg, resolve, reject }));
  let stdout = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (data: Buffer) => {
      stdout += data.toString();
      const newline = stdout.indexOf('\n');
      if (newline >= 0) resolve(stdout.slice(0, newline));
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`server exited (${code ?? signal}) before its ready line: ${stderr}`)),
    );
  });
  return {
    child,
    pid: child.pid!,
    url,
    port: Number(new URL(url).port),
    stderr: () => stderr,
    logged,
  };
}

export interface StdioServeProcess {
  readonly client: RawStdioClient;
  readonly pid: number;
  stderr(): string;
}

/**
 * `execvisor serve --listen stdio`, with a raw client on its stdin and stdout. Nothing is awaited:
 * the first request is answered once the server is up.
 */
export function spawnServeStdio(
  args: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): StdioServeProcess {
  requireBuild();
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', 'stdio', ...args], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  let stderr = '';
  child.stderr.on('data', (data: Buffer) => {
    if (stderr.length < 1 << 20) stderr += data.toString();
  });
  return { client: new RawStdioClient(child), pid: child.pid!, stderr: () => stderr };
}

/** Whether the child is still running (has not exited). */
export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/**
 * Stops every server still running: SIGTERM (a graceful shutdown that kills its children), then
 * SIGKILL if it has not exited within `graceMs`. Waits for each to exit.
 */
export async function stopAll(graceMs = 15_000): Promise<void> {
  await Promise.all(
    [...started].map(async (child) => {
      if (!isRunning(child)) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }),
  );
}
