/** Children must not outlive an embedding process that was killed with SIGKILL. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FIXTURES, eventually, isDead, withDescendants } from '../helpers/process.js';

describe('orphans', () => {
  it('a SIGKILLed embedder takes its pipe and terminal children (and their children) with it', async () => {
    const embedder = spawn(process.execPath, [`${FIXTURES}embedder.mjs`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let line = '';
    embedder.stdout.setEncoding('utf8');
    for await (const chunk of embedder.stdout) {
      line += chunk as string;
      if (line.includes('\n')) break;
    }
    const pids = (JSON.parse(line) as number[]).flatMap(withDescendants);
    // Each of the 4 children: its shell, and the shell's `sleep`.
    expect(pids.length).toBeGreaterThanOrEqual(8);
    for (const pid of pids) expect(isDead(pid)).toBe(false);
    embedder.kill('SIGKILL');
    await once(embedder, 'exit');
    try {
      for (const pid of pids) await eventually(() => isDead(pid), `orphan ${pid} to be killed`);
    } finally {
      // Whatever the verdict, leave nothing behind.
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
});
