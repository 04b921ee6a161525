import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExecRuntime, errorCodeOf } from '../../src/index.js';
import { inProcessBackend } from '../helpers/backends.js';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { expectAllDie, startEmbedder } from '../helpers/embedder.js';
import { describeSandbox } from './sandbox-suite.js';

const enabled = bwrapAvailable();

describeSandbox('in-process ExecRuntime', inProcessBackend, enabled);

describe.skipIf(!enabled)('sandbox: host', () => {
  it('finds bwrap at its fixed location whatever PATH says, and sandboxes for every cwd', async () => {
    const saved = process.env.PATH;
    // Worker threads take a copy of the environment when they start.
    process.env.PATH = '/nonexistent';
    const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
    const at =
      (level: string) =>
      (fields: Record<string, unknown>, message: string): void => {
        lines.push({ level, message, ...(Object.keys(fields).length > 0 ? { fields } : {}) });
      };
    const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
    let runtime: ExecRuntime | undefined;
    const outside = mkdtempSync('/var/tmp/execvisor-everycwd-');
    try {
      runtime = await ExecRuntime.create({ workers: 1, logger });
      // The start log names the bwrap in use.
      expect(lines).toContainEqual({
        level: 'info',
        message: 'sandbox: using bwrap',
        fields: { bwrap: expect.stringMatching(/^\/(usr\/(local\/)?)?bin\/bwrap$/), source: 'default' },
      });
      for (const cwd of ['/', '/usr', '/tmp']) {
        for (const mode of ['auto', 'require'] as const) {
          const target = join(outside, `written-${mode}-${cwd.replaceAll('/', '_')}`);
          const process = await runtime.start({
            argv: ['/bin/sh', '-c', `echo x > ${target}`],
            cwd,
            env: {},
            sandbox: { mode, policy: { type: 'read-only' } },
          });
          expect(process.sandboxType, `${mode} in ${cwd}`).toBe('linux-seccomp');
          expect(await process.exited, `${mode} in ${cwd}`).not.toBe(0);
          expect(existsSync(target), `${mode} in ${cwd}`).toBe(false);
        }
      }
    } finally {
      process.env.PATH = saved;
      await runtime?.close();
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('an explicit bwrap that is not an executable file is a startup error, not a fallback', async () => {
    const dir = mkdtempSync('/tmp/execvisor-bwrap-');
    const plain = join(dir, 'bwrap');
    writeFileSync(plain, '#!/bin/sh\n', { mode: 0o644 });
    try {
      for (const bwrapPath of ['/nonexistent/bwrap', plain, dir, 'relative/bwrap']) {
        const created = await ExecRuntime.create({ workers: 1, bwrapPath }).catch((e: unknown) => e);
        if (created instanceof ExecRuntime) await created.close();
        expect(errorCodeOf(created), bwrapPath).toBe('EXEC_ERR_INVALID_ARGUMENT');
        expect((created as Error).message).toMatch(/^bwrapPath /);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const saved = process.env.EXECVISOR_BWRAP;
    process.env.EXECVISOR_BWRAP = '/nonexistent/bwrap';
    try {
      const error = await ExecRuntime.create({ workers: 1 }).catch((e: unknown) => e);
      expect(errorCodeOf(error)).toBe('EXEC_ERR_INVALID_ARGUMENT');
      expect((error as Error).message).toBe(
        'EXECVISOR_BWRAP "/nonexistent/bwrap" is not an executable file (no such file)',
      );
    } finally {
      if (saved === undefined) delete process.env.EXECVISOR_BWRAP;
      else process.env.EXECVISOR_BWRAP = saved;
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
