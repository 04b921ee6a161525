/**
 * Documented control behaviour, in-process and over the wire: `terminate({graceMs})` escalates to
 * SIGKILL for a child that ignores SIGTERM, `closeStdin` on a terminal ends the input (VEOF), and a
 * read with `acknowledge: false` leaves flow-controlled output unacknowledged (the process stays
 * paused) while an ordinary read releases it. In-process, a closed session refuses starts.
 */
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodeOf, type ExecBackend, type ExecRuntime } from '../../src/index.js';
import { inProcessBackend, wireBackend } from '../helpers/backends.js';
import { allEvents, eventually, textOf, waitForOutput, within } from '../helpers/process.js';

const CWD = tmpdir();
const PATH_ENV = { PATH: '/usr/bin:/bin' };

for (const [label, factory] of [
  ['in-process', () => inProcessBackend()],
  ['over the wire', () => wireBackend('process-control')],
] as const) {
  describe(`process control: ${label}`, () => {
    let under: Awaited<ReturnType<typeof factory>> | undefined;
    let backend: ExecBackend;
    let runtime: ExecRuntime;
    beforeAll(async () => {
      under = await factory();
      backend = under.backend;
      runtime = under.runtime;
    });
    afterAll(async () => {
      await under?.cleanup();
    });

    it('terminate({graceMs}) sends SIGTERM, then SIGKILL to a child that ignores it', async () => {
      // The trap prints on SIGTERM and goes on; only SIGKILL ends the loop (exit 128 + 9).
      const process = await backend.start({
        argv: ['sh', '-c', "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.05; done"],
        cwd: CWD,
        env: PATH_ENV,
      });
      await waitForOutput(process, 'ready');
      expect(await process.terminate({ graceMs: 1_000 })).toBe(true);
      expect(await within(process.exited, 15_000, 'the SIGKILL after the grace period')).toBe(137);
      expect(textOf(await allEvents(process))).toContain('got-term');
    });

    it('closeStdin on a terminal sends end-of-file (VEOF): cat exits', async () => {
      const process = await backend.start({ argv: ['cat'], cwd: CWD, env: PATH_ENV, tty: true });
      expect(await process.write('hello\n')).toBe('accepted');
      // The terminal echoes the line and cat writes it back: it has read it.
      await waitForOutput(process, 'hello\r\nhello\r\n');
      await process.closeStdin();
      expect(await within(process.exited, 15_000, 'cat exiting on VEOF')).toBe(0);
      await process.closed;
    });

    it('a read with acknowledge: false acknowledges nothing; an ordinary read releases the process', async () => {
      const size = 4 << 20;
      const process = await backend.start({
        argv: ['head', '-c', String(size), '/dev/zero'],
        cwd: CWD,
        env: PATH_ENV,
        flowControl: { highWaterBytes: 256 * 1024, lowWaterBytes: 64 * 1024 },
      });
      // Paused at its window, with its unacknowledged output held.
      await eventually(() => runtime.stats().pausedProcesses === 1, 'the process to pause at its window');
      const held = runtime.stats().unacknowledgedOutputBytes;
      expect(held).toBeGreaterThan(256 * 1024);
      expect(held).toBeLessThan(size);
      const peek = await process.read({ acknowledge: false });
      const peeked = peek.chunks.reduce((sum, chunk) => sum + chunk.chunk.byteLength, 0);
      expect(peeked).toBe(held);
      // Nothing acknowledged: still held, still paused.
      expect(runtime.stats().unacknowledgedOutputBytes).toBe(held);
      expect(runtime.stats().pausedProcesses).toBe(1);
      // The consumer's own reads acknowledge, and the process runs to its end.
      let bytes = 0;
      let afterSeq: number | null = null;
      for (;;) {
        const read = await process.read({ afterSeq, waitMs: 5_000 });
        for (const chunk of read.chunks) bytes += chunk.chunk.byteLength;
        afterSeq = read.nextSeq - 1;
        if (read.closed && read.chunks.length === 0) break;
      }
      expect(bytes).toBe(size);
      expect(await process.exited).toBe(0);
      expect(runtime.stats().unacknowledgedOutputBytes).toBe(0);
    });
  });
}

describe('process control: sessions', () => {
  it('a closed session refuses starts with EXEC_ERR_CLOSED; other sessions go on', async () => {
    const under = await inProcessBackend();
    const runtime = under.runtime;
    try {
      const session = runtime.session();
      await session.close();
      expect(session.isClosed).toBe(true);
      const error = await session.start({ argv: ['true'], cwd: CWD, env: {} }).catch((e: unknown) => e);
      expect(errorCodeOf(error)).toBe('EXEC_ERR_CLOSED');
      expect((error as Error).message).toBe('the session is closed');
      const other = await runtime.session().start({ argv: ['true'], cwd: CWD, env: {} });
      expect(await other.exited).toBe(0);
    } finally {
      await under.cleanup();
    }
  });
});
