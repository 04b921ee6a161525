/**
 * The behaviour suite: the same assertions against any ExecBackend (the in-process runtime, and the
 * wire client talking to a server). Each case runs a real child process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import type { ExecBackend, ProcessEvent } from '../../src/index.js';
import { errorCodeOf } from '../../src/index.js';
import { checksummedBytes, sha256 } from '../helpers/data.js';
import { FIXTURES, allEvents, eventually, isDead, textOf, waitForOutput } from '../helpers/process.js';

export interface BackendUnderTest {
  readonly backend: ExecBackend;
  cleanup(): Promise<void>;
}

const CWD = tmpdir();
const PATH_ENV = { PATH: '/usr/bin:/bin' };
const shape = (events: ProcessEvent[]) =>
  events.map((event) =>
    event.type === 'output'
      ? [event.seq, event.type, event.stream, Buffer.from(event.chunk).toString()]
      : event.type === 'exited'
        ? [event.seq, event.type, event.exitCode]
        : [event.seq, event.type],
  );

export function describeBackend(label: string, factory: () => Promise<BackendUnderTest>): void {
  describe(`behaviour: ${label}`, () => {
    let under: BackendUnderTest;
    let backend: ExecBackend;
    beforeAll(async () => {
      under = await factory();
      backend = under.backend;
    });
    afterAll(async () => {
      await under?.cleanup();
    });

    it('runs `true` with an empty env: exit 0, then closed', async () => {
      const process = await backend.start({ argv: ['true'], cwd: CWD, env: {} });
      expect(process.sandboxType).toBe('none');
      expect(await process.exited).toBe(0);
      await process.closed;
      const read = await process.read();
      expect(read).toMatchObject({ exited: true, exitCode: 0, closed: true, failure: null, chunks: [] });
    });

    it('delivers exactly the output of a short script', async () => {
      const process = await backend.start({
        argv: ['sh', '-c', "sleep 0.05; printf 'session output\\n'"],
        cwd: CWD,
        env: PATH_ENV,
      });
      const events = await allEvents(process);
      expect(textOf(events)).toBe('session output\n');
      expect(events.at(-1)?.type).toBe('closed');
    });

    it('gives output, stderr, exit and close in seq order', async () => {
      const process = await backend.start({
        argv: [
          'sh',
          '-c',
          "printf 'event output\\n'; sleep 0.1; printf 'event err\\n' >&2; sleep 0.1; exit 7",
        ],
        cwd: CWD,
        env: PATH_ENV,
      });
      expect(shape(await allEvents(process))).toEqual([
        [1, 'output', 'stdout', 'event output\n'],
        [2, 'output', 'stderr', 'event err\n'],
        [3, 'exited', 7],
        [4, 'closed'],
      ]);
    });

    it('replays a finished process in full, through events$ and through read', async () => {
      const process = await backend.start({
        argv: ['sh', '-c', 'printf one; printf two >&2; printf three'],
        cwd: CWD,
        env: PATH_ENV,
      });
      await process.closed;
      const events = await allEvents(process);
      expect(textOf(events, 'stdout')).toBe('onethree');
      expect(textOf(events, 'stderr')).toBe('two');
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
      // The read loop of the client convention returns the same bytes.
      let afterSeq: number | null = null;
      const chunks: Buffer[] = [];
      for (;;) {
        const read = await process.read({ afterSeq, maxBytes: 3 });
        chunks.push(...read.chunks.map((chunk) => Buffer.from(chunk.chunk)));
        afterSeq = read.nextSeq - 1;
        if (read.closed && read.chunks.length === 0) break;
      }
      expect(Buffer.concat(chunks).toString()).toBe(textOf(events));
    });

    it('delivers output a background child writes after its parent exited, before closed', async () => {
      const process = await backend.start({
        argv: ['sh', '-c', '(sleep 0.2; printf late) & printf early'],
        cwd: CWD,
        env: PATH_ENV,
      });
      const events = await allEvents(process);
      expect(textOf(events)).toBe('earlylate');
      const types = events.map((event) => event.type);
      expect(types.at(-1)).toBe('closed');
      expect(types.indexOf('exited')).toBeLessThan(types.lastIndexOf('output'));
      expect(events.at(-1)!.seq).toBe(Math.max(...events.map((event) => event.seq)));
    });

    it('answers a write on a terminal', async () => {
      const process = await backend.start({
        argv: ['sh', '-c', 'IFS= read line; printf "from-stdin:%s\\n" "$line"'],
        cwd: CWD,
        env: PATH_ENV,
        tty: true,
      });
      expect(await process.write('hello\n')).toBe('accepted');
      const events = await allEvents(process);
      expect(textOf(events, 'pty')).toContain('from-stdin:hello');
      expect(await process.exited).toBe(0);
    });

    it('reports stdinClosed without pipeStdin, and the child reads EOF', async () => {
      const process = await backend.start({
        argv: ['sh', '-c', 'if read line; then echo "got:$line"; else echo eof; fi'],
        cwd: CWD,
        env: PATH_ENV,
      });
      expect(await process.write('data\n')).toBe('stdinClosed');
      expect(textOf(await allEvents(process))).toBe('eof\n');
    });

    it('delivers writes with pipeStdin, in order, and closeStdin gives EOF', async () => {
      const process = await backend.start({
        argv: ['sh', '-c', 'cat; echo done'],
        cwd: CWD,
        env: PATH_ENV,
        pipeStdin: true,
      });
      await Promise.all(['a', 'b', 'c', 'd'].map((part) => process.write(part)));
      await process.closeStdin();
      expect(textOf(await allEvents(process))).toBe('abcddone\n');
    });

    it('terminate returns true while running and false after exit', async () => {
      const process = await backend.start({ argv: ['sleep', '1000'], cwd: CWD, env: PATH_ENV });
      expect(await process.terminate()).toBe(true);
      expect(await process.exited).toBe(128 + 9);
      await process.closed;
      expect(await process.terminate()).toBe(false);
    });

    it('graceful terminate lets a SIGTERM handler run', async () => {
      const process = await backend.start({
        argv: ['sh', '-c', 'trap "echo handled; exit 3" TERM; echo ready; while :; do sleep 0.01; done'],
        cwd: CWD,
        env: PATH_ENV,
      });
      await waitForOutput(process, 'ready');
      expect(await process.terminate({ graceMs: 10_000 })).toBe(true);
      const events = await allEvents(process);
      expect(textOf(events)).toContain('handled');
      expect(await process.exited).toBe(3);
    });

    it('terminate kills grandchildren', async () => {
      const process = await backend.start({
        argv: ['sh', '-c', 'sleep 1000 & echo "child:$!"; wait'],
        cwd: CWD,
        env: PATH_ENV,
      });
      const text = await waitForOutput(process, '\n');
      const grandchild = Number(/child:(\d+)/.exec(text)![1]);
      expect(isDead(grandchild)).toBe(false);
      await process.terminate();
      await process.closed;
      await eventually(() => isDead(grandchild), `grandchild ${grandchild} to die`);
    });

    it('resizes a terminal, seen by stty size', async () => {
      const process = await backend.start({
        argv: ['sh', '-c', 'stty size; echo ready; read line; stty size'],
        cwd: CWD,
        env: PATH_ENV,
        tty: true,
      });
      const first = await waitForOutput(process, 'ready');
      expect(first).toContain('24 80');
      await process.resize({ rows: 40, cols: 100 });
      await process.write('\n');
      expect(textOf(await allEvents(process))).toContain('40 100');
    });

    it('passes arg0 as the argv[0] the child sees, with pipes and with a terminal', async () => {
      for (const tty of [false, true]) {
        const process = await backend.start({
          argv: ['sh', '-c', 'echo "zero:$0"'],
          cwd: CWD,
          env: PATH_ENV,
          arg0: 'custom-name',
          tty,
        });
        expect(textOf(await allEvents(process))).toContain('zero:custom-name');
      }
    });

    it('gives the child exactly the env it was given', async () => {
      for (const tty of [false, true]) {
        const process = await backend.start({
          argv: ['/usr/bin/env'],
          cwd: CWD,
          env: { ONLY: 'this', EMPTY: '' },
          tty,
        });
        const lines = textOf(await allEvents(process))
          .split(/\r?\n/)
          .filter(Boolean)
          .sort();
        expect(lines).toEqual(['EMPTY=', 'ONLY=this']);
      }
    });

    it('finds a bare program name with no PATH in env', async () => {
      const process = await backend.start({ argv: ['printf', 'found'], cwd: CWD, env: {} });
      expect(textOf(await allEvents(process))).toBe('found');
    });

    it('lets exactly one of two concurrent starts with one id win', async () => {
      const id = `dup-${Math.random().toString(36).slice(2)}`;
      const results = await Promise.allSettled([
        backend.start({ processId: id, argv: ['true'], cwd: CWD, env: {} }),
        backend.start({ processId: id, argv: ['true'], cwd: CWD, env: {} }),
      ]);
      const fulfilled = results.filter((result) => result.status === 'fulfilled');
      const rejected = results.filter((result) => result.status === 'rejected');
      expect(fulfilled).toHaveLength(1);
      expect(rejected).toHaveLength(1);
      const error = (rejected[0] as PromiseRejectedResult).reason as Error;
      expect(errorCodeOf(error)).toBe('EXEC_ERR_DUPLICATE_PROCESS');
      expect(error.message).toBe(`process ${id} already exists`);
    });

    it('rejects an empty argv', async () => {
      const error = await backend.start({ argv: [], cwd: CWD, env: {} }).catch((e: unknown) => e);
      expect(errorCodeOf(error)).toBe('EXEC_ERR_EMPTY_ARGV');
      expect((error as Error).message).toBe('argv must not be empty');
    });

    it('reports a missing program and frees the id again', async () => {
      const id = `missing-${Math.random().toString(36).slice(2)}`;
      const error = await backend
        .start({ processId: id, argv: ['/definitely/not/here'], cwd: CWD, env: {} })
        .catch((e: unknown) => e);
      expect(errorCodeOf(error)).toBe('EXEC_ERR_SPAWN');
      expect((error as Error).message).toContain('No such file or directory');
      const again = await backend.start({ processId: id, argv: ['true'], cwd: CWD, env: {} });
      expect(await again.exited).toBe(0);
    });

    it('reports a missing cwd', async () => {
      const error = await backend
        .start({ argv: ['true'], cwd: '/definitely/not/a/dir', env: {} })
        .catch((e: unknown) => e);
      expect(errorCodeOf(error)).toBe('EXEC_ERR_SPAWN');
      expect((error as Error).message).toContain('/definitely/not/a/dir');
    });

    it('loses nothing of a terminal program that prints 1 MiB and exits at once', async () => {
      const size = 1 << 20;
      const process = await backend.start({
        argv: ['sh', '-c', `head -c ${size} /dev/zero | tr '\\0' a`],
        cwd: CWD,
        env: PATH_ENV,
        tty: true,
      });
      const events = await allEvents(process);
      const text = textOf(events, 'pty');
      expect(text.length).toBe(size);
      expect(/^a+$/.test(text)).toBe(true);
    });

    it('delivers 100 concurrent 1 MiB checksummed streams intact through events$', async () => {
      const size = 1 << 20;
      const results = await Promise.all(
        Array.from({ length: 100 }, async (_, index) => {
          const seed = index + 1;
          const process = await backend.start({
            argv: [globalThis.process.execPath, `${FIXTURES}checksummed.mjs`, String(seed), String(size)],
            cwd: CWD,
            env: {},
          });
          const events = await allEvents(process);
          const data = Buffer.concat(
            events.flatMap((event) => (event.type === 'output' ? [event.chunk] : [])),
          );
          return { seed, hash: sha256(data), length: data.length };
        }),
      );
      for (const { seed, hash, length } of results) {
        expect(length).toBe(size);
        expect(hash).toBe(sha256(checksummedBytes(seed, size)));
      }
    }, 120_000);
  });
}
