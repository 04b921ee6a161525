import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { FIXTURES, eventually, isDead, withDescendants } from './process.js';

/**
 * Starts test/fixtures/embedder.mjs (a runtime with four long-lived children, optionally
 * sandboxed), waits for its pid line, and returns the children with all their descendants.
 */
export async function startEmbedder(mode: 'plain' | 'sandboxed'): Promise<{
  pids: number[];
  killEmbedder: () => Promise<void>;
}> {
  const embedder = spawn(
    process.execPath,
    [`${FIXTURES}embedder.mjs`, ...(mode === 'sandboxed' ? ['sandboxed'] : [])],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let line = '';
  embedder.stdout.setEncoding('utf8');
  for await (const chunk of embedder.stdout) {
    line += chunk as string;
    if (line.includes('\n')) break;
  }
  const pids = (JSON.parse(line) as number[]).flatMap(withDescendants);
  return {
    pids,
    killEmbedder: async () => {
      embedder.kill('SIGKILL');
      await once(embedder, 'exit');
    },
  };
}

/** Waits for every pid to die; whatever the verdict, kills what is left so nothing stays behind. */
export async function expectAllDie(pids: readonly number[], what: string): Promise<void> {
  try {
    for (const pid of pids) await eventually(() => isDead(pid), `${what} ${pid} to die`);
  } finally {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
