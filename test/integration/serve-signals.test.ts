/**
 * `execvisor serve` and a supervisor that stops it at once. Regression: the ready line was printed
 * before the SIGTERM handler was installed, so a SIGTERM sent the moment the URL was read could
 * find the default action and kill the server without its shutdown (exit by signal, not 0).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, requireBuild } from '../helpers/serve.js';

describe('execvisor serve: SIGTERM right after the ready line', () => {
  // A server an iteration did not see exit (a failed assertion, a hang) is killed here.
  const running = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of running) child.kill('SIGKILL');
    running.clear();
  });

  it('shuts down gracefully (exit 0) every time', async () => {
    requireBuild();
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const child = spawn(
        process.execPath,
        [CLI, 'serve', '--listen', 'ws://127.0.0.1:0', '--workers', '1'],
        {
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
      running.add(child);
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      await once(child.stdout, 'data');
      child.kill('SIGTERM');
      const [code, signal] = await exited;
      running.delete(child);
      outcomes.push(`${code ?? signal}`);
    }
    expect(outcomes).toEqual(Array.from({ length: 12 }, () => '0'));
  }, 60_000);
});
