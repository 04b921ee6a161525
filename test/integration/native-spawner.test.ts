/**
 * The native spawner (src/native/, src/spawn/native-backend.ts) on its own: what the child gets
 * (session, signals, descriptors, argv, inherited data), exec failures with the program and the OS
 * reason (issue #10, item 12), and the choice between spawners.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ExecRuntime, errorCodeOf } from '../../src/index.js';
import { nativeSpawner } from '../../src/spawn/native-binding.js';
import { spawnNative } from '../../src/spawn/native-backend.js';
import type { SpawnRequest } from '../../src/spawn/types.js';
import { FIXTURES, allEvents, textOf } from '../helpers/process.js';

const PATH_ENV = { PATH: '/usr/bin:/bin' };
const run = promisify(execFile);

describe.runIf(process.platform === 'linux')('native spawner', () => {
  let runtime: ExecRuntime;
  let dir: string;
  beforeAll(async () => {
    runtime = await ExecRuntime.create({ workers: 1 });
    dir = mkdtempSync(join(tmpdir(), 'execvisor-native-'));
  });
  afterAll(async () => {
    await runtime.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is the default on Linux, and it loads', () => {
    expect(nativeSpawner()).toMatchObject({ available: true });
    expect(runtime.spawner).toBe('native');
  });

  async function output(argv: string[], tty = false): Promise<string> {
    const process = await runtime.start({ argv, cwd: dir, env: PATH_ENV, tty });
    return textOf(await allEvents(process));
  }

  it.each([false, true])(
    'starts the child in a new session with default signals, nothing blocked and only 0-2 open (tty %s)',
    async (tty) => {
      // This process ignores SIGPIPE (Node does); the child must not inherit that. The shell reads
      // its own status with builtins: while it waits for a command its mask is not its own.
      const text = await output(
        [
          'sh',
          '-c',
          'while IFS= read -r l; do case "$l" in SigIgn*|SigBlk*) echo "$l";; esac; done </proc/$$/status; echo fds; ls /proc/$$/fd; echo end; echo ids $(ps -o pid=,pgid=,sid= -p $$)',
        ],
        tty,
      );
      expect(text).toMatch(/SigIgn:\s+0000000000000000/);
      expect(text).toMatch(/SigBlk:\s+0000000000000000/);
      // ls runs with no pipe of the shell's open (a pipeline or $(…) would show one).
      expect(/fds\r?\n([^]*?)end/.exec(text)?.[1]?.split(/\s+/).filter(Boolean)).toEqual(['0', '1', '2']);
      const ids = /^ids (\d+) (\d+) (\d+)/m.exec(text)!;
      expect(ids[1]).toBe(ids[2]);
      expect(ids[1]).toBe(ids[3]);
    },
  );

  it('gives a terminal child its controlling terminal and any argv[0], without a shim', async () => {
    const process = await runtime.start({
      argv: ['sh', '-c', 'echo "zero:$0"; ps -o tty= -p $$; cat /proc/$$/cmdline | tr "\\0" " "'],
      arg0: '-login-shell',
      cwd: dir,
      env: PATH_ENV,
      tty: true,
    });
    const text = textOf(await allEvents(process));
    expect(text).toContain('zero:-login-shell');
    expect(text).toMatch(/pts\/\d+/);
    // No perl between us and the program.
    expect(text).toContain('-login-shell -c ');
  });

  it('passes files and in-memory data on descriptors 3, 4, …', async () => {
    const file = join(dir, 'inherited.txt');
    writeFileSync(file, 'from a file\n');
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const request: SpawnRequest = {
        file: '/bin/sh',
        argv: ['sh', '-c', 'cat <&3; cat <&4; ls /proc/$$/fd | tr "\\n" " "'],
        cwd: dir,
        env: PATH_ENV,
        pipeStdin: false,
        size: { rows: 24, cols: 80 },
        extraFds: [
          { kind: 'file', path: file },
          { kind: 'data', data: Buffer.from('from memory\n') },
        ],
      };
      try {
        spawnNative(
          request,
          { onData: (_, data) => chunks.push(data), onExit: () => undefined, onClose: resolve },
          { tty: false, cgroupFd: null, maxReadBytes: 1 << 20 },
        );
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    expect(Buffer.concat(chunks).toString()).toBe('from a file\nfrom memory\n0 1 2 3 4 ');
  });

  describe('exec failures name the program and the OS reason', () => {
    function script(name: string, content: string | Buffer): string {
      const path = join(dir, name);
      writeFileSync(path, content);
      chmodSync(path, 0o755);
      return path;
    }

    async function startError(argv: string[], tty = false): Promise<Error> {
      const error = await runtime.start({ argv, cwd: dir, env: PATH_ENV, tty }).then(
        () => null,
        (reason: unknown) => reason as Error,
      );
      expect(error).not.toBeNull();
      expect(errorCodeOf(error)).toBe('EXEC_ERR_SPAWN');
      return error!;
    }

    it.each([false, true])('ENOENT: an interpreter that is not there (tty %s)', async (tty) => {
      const path = script('missing-interpreter', '#!/definitely/not/here\n');
      expect((await startError([path], tty)).message).toBe(
        `failed to spawn \`${path}\`: No such file or directory (os error 2)`,
      );
    });

    it.each([false, true])('EACCES: an interpreter that cannot be executed (tty %s)', async (tty) => {
      // A directory passes for nobody's interpreter.
      const path = script('bad-interpreter', `#!${dir}\n`);
      expect((await startError([path], tty)).message).toBe(
        `failed to spawn \`${path}\`: Permission denied (os error 13)`,
      );
    });

    it.each([false, true])('ENOEXEC: a file no kernel loader knows (tty %s)', async (tty) => {
      const path = script('not-a-program', Buffer.from([0x7f, 0x01, 0x02, 0x03, 0x00, 0xff]));
      expect((await startError([path], tty)).message).toBe(
        `failed to spawn \`${path}\`: Exec format error (os error 8)`,
      );
    });

    it('EMFILE: no descriptor left', async () => {
      const { stdout } = await run('prlimit', [
        '--nofile=256:256',
        process.execPath,
        `${FIXTURES}emfile.mjs`,
        'native',
      ]);
      expect(JSON.parse(stdout)).toEqual({
        code: 'EXEC_ERR_SPAWN',
        message: 'failed to spawn `true`: Too many open files (os error 24)',
      });
    });

    it('a missing cwd names the cwd', async () => {
      const error = await runtime
        .start({ argv: ['/bin/true'], cwd: join(dir, 'gone'), env: {} })
        .catch((e: unknown) => e as Error);
      expect(errorCodeOf(error)).toBe('EXEC_ERR_SPAWN');
      expect((error as Error).message).toContain(join(dir, 'gone'));
    });
  });
});

describe('choosing the spawner', () => {
  it('spawner "node" uses child_process and node-pty', async () => {
    const runtime = await ExecRuntime.create({ workers: 1, spawner: 'node' });
    try {
      expect(runtime.spawner).toBe('node');
      const process = await runtime.start({ argv: ['sh', '-c', 'echo ok'], cwd: '/', env: PATH_ENV });
      expect(textOf(await allEvents(process))).toBe('ok\n');
    } finally {
      await runtime.destroy();
    }
  });

  it('rejects an unknown spawner with a coded error naming the option', async () => {
    const error = await ExecRuntime.create({ spawner: 'fork' as 'node' }).catch((e: unknown) => e as Error);
    expect(errorCodeOf(error)).toBe('EXEC_ERR_INVALID_ARGUMENT');
    expect((error as Error).message).toBe('spawner must be one of "native", "node", got "fork"');
  });
});
