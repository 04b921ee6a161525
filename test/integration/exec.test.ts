/**
 * The conveniences: `exec()` (one implementation over ExecBackend, run here through the runtime and
 * through the wire client), `timeoutMs` and `signal` on start, and `signal` on long reads.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecRuntime } from '../../src/index.js';
import { ErrorCodes, errorCodeOf, timedOut, type ExecServerClient } from '../../src/index.js';
import { inProcessBackend, wireBackend } from '../helpers/backends.js';
import { eventually } from '../helpers/process.js';
import type { BackendUnderTest } from './behaviour-suite.js';

const CWD = tmpdir();
const ENV = { PATH: '/usr/bin:/bin' };

describe.each([
  ['in-process', () => inProcessBackend()],
  ['over the wire', () => wireBackend('exec-test')],
] as const)('%s', (_label, factory) => {
  let under: BackendUnderTest;
  let backend: ExecRuntime | ExecServerClient;
  beforeAll(async () => {
    under = await factory();
    backend = under.backend as ExecRuntime | ExecServerClient;
  });
  afterAll(() => under.cleanup());

  describe('exec()', () => {
    it('resolves with stdout and stderr apart, the exit code, no signal, and the duration', async () => {
      const result = await backend.exec({
        argv: ['sh', '-c', 'printf out; printf err >&2; exit 3'],
        cwd: CWD,
        env: ENV,
      });
      expect(result).toMatchObject({
        stdout: 'out',
        stderr: 'err',
        exitCode: 3,
        signal: null,
        timedOut: false,
      });
      expect(result.durationMs).toBeGreaterThan(0);
      expect(typeof result.processId).toBe('string');
    });

    it('decodes UTF-8 split across chunk boundaries', async () => {
      // 3-byte characters in output far larger than one pipe read: reads end mid-character.
      const count = 200_000;
      const result = await backend.exec({
        argv: ['sh', '-c', `for i in $(seq 1 ${count / 1000}); do printf '${'€'.repeat(1000)}'; done`],
        cwd: CWD,
        env: ENV,
      });
      expect(result.stdout.length).toBe(count);
      expect(result.stdout).toBe('€'.repeat(count));
    });

    it("encoding: 'buffer' gives the exact bytes", async () => {
      const result = await backend.exec({
        argv: ['printf', '\\000\\377\\342\\202'],
        cwd: CWD,
        env: ENV,
        encoding: 'buffer',
      });
      expect(result.stdout).toBeInstanceOf(Uint8Array);
      expect([...result.stdout]).toEqual([0, 255, 0xe2, 0x82]);
      expect(result.stderr).toEqual(new Uint8Array(0));
    });

    it('collects everything even when given a flowControl window (it ignores one)', async () => {
      const size = 2_000_000;
      const options = {
        argv: ['head', '-c', String(size), '/dev/zero'],
        cwd: CWD,
        env: ENV,
        encoding: 'buffer',
        flowControl: { highWaterBytes: 65_536, lowWaterBytes: 16_384 },
      } as const;
      // Not in ExecOptions; a JavaScript caller may pass it all the same.
      const result = await backend.exec(options);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toHaveLength(size);
    });

    it('writes input to stdin and closes it', async () => {
      const result = await backend.exec({ argv: ['wc', '-c'], cwd: CWD, env: ENV, input: 'héllo\n' });
      expect(result.stdout.trim()).toBe('7');
    });

    it('maxBuffer: output within it is kept; past it the process is terminated and exec rejects', async () => {
      const fits = await backend.exec({
        argv: ['head', '-c', '1000', '/dev/zero'],
        cwd: CWD,
        env: ENV,
        maxBuffer: 1000,
      });
      expect(fits.stdout.length).toBe(1000);
      const error = await backend
        .exec({
          argv: ['sh', '-c', 'head -c 100000 /dev/zero; exec sleep 60'],
          cwd: CWD,
          env: ENV,
          maxBuffer: 1000,
        })
        .catch((e: unknown) => e);
      expect(errorCodeOf(error)).toBe(ErrorCodes.LIMIT);
      expect((error as Error).message).toBe(
        'exec: stdout exceeded maxBuffer (1000 bytes); the process was terminated',
      );
    });

    it('refuses bad options with EXEC_ERR_INVALID_ARGUMENT', async () => {
      for (const options of [
        { maxBuffer: -1 },
        { encoding: 'latin1' },
        { timeoutMs: 0 },
        { terminateGraceMs: -5 },
        { signal: 'abort' },
      ]) {
        const error = await backend
          .exec({ argv: ['true'], cwd: CWD, env: ENV, ...(options as object) })
          .catch((e: unknown) => e);
        expect(errorCodeOf(error), JSON.stringify(options)).toBe(ErrorCodes.INVALID_ARGUMENT);
      }
    });
  });

  describe('timeoutMs', () => {
    it('terminates a process still running when it runs out, and says so', async () => {
      const result = await backend.exec({ argv: ['sleep', '60'], cwd: CWD, env: ENV, timeoutMs: 50 });
      expect(result).toMatchObject({ exitCode: 143, signal: 'SIGTERM', timedOut: true });
    });

    it('escalates to SIGKILL after terminateGraceMs for a child that ignores SIGTERM', async () => {
      const result = await backend.exec({
        argv: ['sh', '-c', 'trap "" TERM; echo ready; exec sleep 60'],
        cwd: CWD,
        env: ENV,
        timeoutMs: 50,
        terminateGraceMs: 50,
      });
      expect(result).toMatchObject({ stdout: 'ready\n', exitCode: 137, signal: 'SIGKILL', timedOut: true });
    });

    it('does not fire for a process that finished first', async () => {
      const process = await backend.start({ argv: ['true'], cwd: CWD, env: ENV, timeoutMs: 60_000 });
      await process.closed;
      expect(timedOut(process)).toBe(false);
      expect(await process.exited).toBe(0);
    });

    it('on start(): timedOut(process) tells a timeout from another end', async () => {
      const process = await backend.start({ argv: ['sleep', '60'], cwd: CWD, env: ENV, timeoutMs: 50 });
      expect(await process.exited).toBe(143);
      expect(timedOut(process)).toBe(true);
    });
  });

  describe('signal (AbortSignal)', () => {
    it('aborted before the start: nothing starts, EXEC_ERR_ABORTED', async () => {
      const before = (await backend.list()).length;
      const controller = new AbortController();
      controller.abort();
      const error = await backend
        .start({ argv: ['sleep', '60'], cwd: CWD, env: ENV, signal: controller.signal })
        .catch((e: unknown) => e);
      expect(errorCodeOf(error)).toBe(ErrorCodes.ABORTED);
      expect((await backend.list()).length).toBe(before);
    });

    it('aborted after the start: the process is terminated (not counted as a timeout)', async () => {
      const controller = new AbortController();
      const process = await backend.start({
        argv: ['sleep', '60'],
        cwd: CWD,
        env: ENV,
        signal: controller.signal,
      });
      controller.abort();
      expect(await process.exited).toBe(143);
      expect(timedOut(process)).toBe(false);
    });

    it('exec() rejects with EXEC_ERR_ABORTED once the process has ended', async () => {
      const controller = new AbortController();
      const pending = backend.exec({
        argv: ['sh', '-c', 'exec sleep 60'],
        cwd: CWD,
        env: ENV,
        signal: controller.signal,
      });
      await waitForList(backend, 'sleep');
      controller.abort();
      expect(errorCodeOf(await pending.catch((e: unknown) => e))).toBe(ErrorCodes.ABORTED);
    });

    it('gives up a long read with EXEC_ERR_ABORTED; the next read still gets the output', async () => {
      const process = await backend.start({
        argv: ['sh', '-c', 'read x; echo "got $x"'],
        cwd: CWD,
        env: ENV,
        pipeStdin: true,
      });
      const controller = new AbortController();
      const waiting = process.read({ waitMs: 60_000, signal: controller.signal }).catch((e: unknown) => e);
      controller.abort();
      expect(errorCodeOf(await waiting)).toBe(ErrorCodes.ABORTED);
      await process.write('it\n');
      await process.closed;
      const result = await process.read({ waitMs: 5_000 });
      expect(Buffer.concat(result.chunks.map((c) => c.chunk)).toString()).toBe('got it\n');
    });
  });
});

/** Waits until a process of `backend` is listed whose pid runs `program`; an explicit signal. */
function waitForList(backend: ExecRuntime | ExecServerClient, program: string): Promise<void> {
  const running = async () =>
    (await backend.list()).some((info) => {
      if (info.pid === null || info.exited) return false;
      try {
        return readFileSync(`/proc/${info.pid}/comm`, 'utf8').trim() === program;
      } catch {
        return false;
      }
    });
  return eventually(running, `a listed process running ${program}`, 10_000);
}
