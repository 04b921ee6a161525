import { describe, expect, it } from 'vitest';
import { ExecRuntime, errorCodeOf } from '../../src/index.js';
import { inProcessBackend } from '../helpers/backends.js';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { expectAllDie, startEmbedder } from '../helpers/embedder.js';
import { describeSandbox } from './sandbox-suite.js';

const enabled = bwrapAvailable();

describeSandbox('in-process ExecRuntime', inProcessBackend, enabled);

describe.skipIf(!enabled)('sandbox: host', () => {
  it('require with bwrap hidden from PATH gives the clear error', async () => {
    const saved = process.env.PATH;
    // Worker threads take a copy of the environment when they start.
    process.env.PATH = '/nonexistent';
    let runtime: ExecRuntime | undefined;
    try {
      runtime = await ExecRuntime.create({ workers: 1 });
      const error = await runtime
        .start({
          argv: ['/bin/true'],
          cwd: '/tmp',
          env: {},
          sandbox: { mode: 'require', policy: { type: 'read-only' } },
        })
        .catch((e: unknown) => e);
      expect(errorCodeOf(error)).toBe('EXEC_ERR_SANDBOX');
      expect((error as Error).message).toBe(
        'failed to prepare process sandbox: no sandbox is available on this host: bwrap not found on PATH',
      );
      // auto falls back to no sandbox and says so.
      const auto = await runtime.start({
        argv: ['/bin/true'],
        cwd: '/tmp',
        env: {},
        sandbox: { mode: 'auto', policy: { type: 'read-only' } },
      });
      expect(auto.sandboxType).toBe('none');
    } finally {
      process.env.PATH = saved;
      await runtime?.close();
    }
  });

  it('a sandboxed child dies when its server process is killed with SIGKILL', async () => {
    const { pids, killEmbedder } = await startEmbedder('sandboxed');
    // Each of the 4 children: bwrap, its namespace's init, the shell, and the shell's `sleep`.
    expect(pids.length).toBeGreaterThanOrEqual(12);
    await killEmbedder();
    await expectAllDie(pids, 'sandboxed');
  });
});
