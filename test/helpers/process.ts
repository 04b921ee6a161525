import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { filter, lastValueFrom, toArray } from 'rxjs';
import type { ExecProcess, OutputStream, ProcessEvent } from '../../src/index.js';

export const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;

/** All events of a process until it closes. */
export function allEvents(process: ExecProcess): Promise<ProcessEvent[]> {
  return lastValueFrom(
    process.events$.pipe(
      filter((event): event is ProcessEvent => event.type !== 'network'),
      toArray(),
    ),
  );
}

export function textOf(events: readonly ProcessEvent[], stream?: OutputStream): string {
  return Buffer.concat(
    events.flatMap((event) =>
      event.type === 'output' && (stream === undefined || event.stream === stream) ? [event.chunk] : [],
    ),
  ).toString('utf8');
}

/** Resolves once the process's combined output contains `needle` (a ready line), or rejects at close. */
export function waitForOutput(process: ExecProcess, needle: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const subscription = process.events$.subscribe({
      next(event) {
        if (event.type !== 'output') return;
        text += Buffer.from(event.chunk).toString('utf8');
        if (text.includes(needle)) {
          resolve(text);
          queueMicrotask(() => subscription.unsubscribe());
        }
      },
      complete() {
        reject(
          new Error(`closed before ${JSON.stringify(needle)} appeared; output: ${JSON.stringify(text)}`),
        );
      },
    });
  });
}

/** Whether a pid is gone (or a zombie nobody reaps: dead all the same). */
export function isDead(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return /^State:\s+[ZX]/m.test(status);
  } catch {
    return true;
  }
}

/**
 * Waits for a condition the OS settles asynchronously (a killed process being reaped), checking on
 * each turn of the event loop until the deadline. Fails loudly instead of hanging.
 */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Rejects naming `what` if `promise` has not settled within `ms`, instead of hanging the test. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A pid and all its live descendants, from /proc. */
export function withDescendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command name, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * Runs a fixture script (`test/fixtures/<name>`) with this Node to its exit, collecting what it
 * printed; SIGKILLed after `timeoutMs` (the result then shows the signal).
 */
export async function runFixture(
  name: string,
  args: readonly string[] = [],
  timeoutMs = 60_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [`${FIXTURES}${name}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const closed = once(child, 'close');
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  await closed;
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}
