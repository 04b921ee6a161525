/** Children must not outlive an embedding process that was killed with SIGKILL. */
import { describe, expect, it } from 'vitest';
import { expectAllDie, startEmbedder } from '../helpers/embedder.js';
import { isDead } from '../helpers/process.js';

describe('orphans', () => {
  it('a SIGKILLed embedder takes its pipe and terminal children (and their children) with it', async () => {
    const { pids, killEmbedder } = await startEmbedder('plain');
    // Each of the 4 children: its shell, and the shell's `sleep`.
    expect(pids.length).toBeGreaterThanOrEqual(8);
    for (const pid of pids) expect(isDead(pid)).toBe(false);
    await killEmbedder();
    await expectAllDie(pids, 'orphan');
  });
});
