/**
 * Memory a client cannot pin: a flow-control window above the runtime's `maxFlowWindowBytes` is
 * refused; the output the runtime holds (retained plus unacknowledged) stays within
 * `outputBudgetBytes` whether processes are flow-controlled or not, with producers paused rather
 * than memory grown; a process whose consumer acknowledges still moves on when others pin the
 * budget; and a disconnect gives everything back. Every check reads the runtime's own accounting
 * (`stats()`), never a clock.
 */
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { ExecRuntime, errorCodeOf, type ExecRuntimeOptions } from '../../src/index.js';
import { startServer } from '../../src/server/index.js';
import { eventually, isDead, within } from '../helpers/process.js';
import { RawClient } from '../helpers/raw-ws.js';
import { spawnServe, stopAll } from '../helpers/serve.js';

const CWD = tmpdir();
const PATH_ENV = { PATH: '/usr/bin:/bin' };
const MiB = 1 << 20;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await stopAll();
});

async function runtimeWith(options: ExecRuntimeOptions): Promise<ExecRuntime> {
  const runtime = await ExecRuntime.create(options);
  cleanups.push(() => runtime.close());
  return runtime;
}

async function rawClient(url: string): Promise<RawClient> {
  const client = await RawClient.open(url);
  cleanups.push(async () => {
    client.ws.terminate();
    await Promise.resolve();
  });
  await client.handshake();
  return client;
}

describe('memory bounds: the flow-control window', () => {
  it('refuses a window above maxFlowWindowBytes, naming the limit (in-process)', async () => {
    const runtime = await runtimeWith({ workers: 1 });
    expect(runtime.options.maxFlowWindowBytes).toBe(8 * MiB);
    const error = await runtime
      .start({
        argv: ['true'],
        cwd: CWD,
        env: {},
        flowControl: { highWaterBytes: 2 ** 40, lowWaterBytes: 0 },
      })
      .catch((e: unknown) => e);
    expect(errorCodeOf(error)).toBe('EXEC_ERR_INVALID_ARGUMENT');
    expect((error as Error).message).toBe(
      "flowControl.highWaterBytes must be at most 8388608 (the runtime's maxFlowWindowBytes), got 1099511627776",
    );
    // The limit itself is allowed.
    const at = await runtime.start({
      argv: ['true'],
      cwd: CWD,
      env: {},
      flowControl: { highWaterBytes: 8 * MiB, lowWaterBytes: MiB },
    });
    expect(await at.exited).toBe(0);
  });

  it('refuses it over the wire with -32602, and serve --max-flow-window sets the limit', async () => {
    const server = await spawnServe(['--max-flow-window', String(MiB)]);
    const client = await rawClient(server.url);
    const start = (processId: string, flowControl: unknown) =>
      client.call('process/start', { processId, argv: ['true'], cwd: CWD, env: {}, tty: false, flowControl });
    const huge = await start('huge', { highWaterBytes: 2 ** 40, lowWaterBytes: 0 });
    expect(huge.error).toMatchObject({
      code: -32602,
      message:
        "flowControl.highWaterBytes must be at most 1048576 (the runtime's maxFlowWindowBytes), got 1099511627776",
      data: { code: 'EXEC_ERR_INVALID_ARGUMENT' },
    });
    expect((await start('over', { highWaterBytes: 2 * MiB, lowWaterBytes: 0 })).error.code).toBe(-32602);
    expect((await start('at', { highWaterBytes: MiB, lowWaterBytes: 0 })).result).toEqual({
      processId: 'at',
      sandboxType: 'none',
    });
    // A start without flowControl runs under the server's own window, kept within the limit too.
    expect((await start('plain', null)).result).toEqual({ processId: 'plain', sandboxType: 'none' });
  });
});

describe('memory bounds: the output budget', () => {
  it('holds never-acknowledged flow-controlled output of many processes within the budget, and a disconnect gives it all back', async () => {
    const budget = 16 * MiB;
    const processes = 12;
    const runtime = await runtimeWith({ outputBudgetBytes: budget, workers: 2 });
    // No detach TTL: the session ends with its connection (with one, it would wait to be resumed).
    const server = await startServer({ runtime, detachTtlMs: 0 });
    cleanups.push(() => server.close());
    const client = await rawClient(server.url);
    // It reads its socket (so notifications are not what holds anything back) but never acknowledges.
    let notified = 0;
    client.onNotification = (message) => {
      if (message.method === 'process/output') notified += (message.params.chunk as string).length;
    };
    const pids: number[] = [];
    for (let i = 0; i < processes; i++) {
      const processId = `p${i}`;
      await client.result('process/start', {
        processId,
        argv: ['head', '-c', String(1 << 30), '/dev/zero'],
        cwd: CWD,
        env: PATH_ENV,
        tty: i % 2 === 1,
        // The largest window allowed: together 96 MiB, six times the budget.
        flowControl: { highWaterBytes: 8 * MiB, lowWaterBytes: 4 * MiB },
      });
      const { processes: listed } = await client.result('process/list', { processId });
      pids.push((listed as { pid: number }[])[0]!.pid);
    }
    // Every producer stops (its window or the budget), and nothing acknowledges: this is the most
    // the runtime will ever hold for them.
    await eventually(
      () => runtime.stats().pausedProcesses === processes,
      'every process to be paused',
      30_000,
    );
    const held = runtime.stats();
    expect(held.outputBudgetBytes).toBe(budget);
    expect(held.unacknowledgedOutputBytes).toBeLessThanOrEqual(budget);
    expect(held.retainedOutputBytes).toBeLessThanOrEqual(budget);
    // The budget is what stopped them (the windows alone would have allowed 96 MiB).
    expect(held.retainedOutputBytes).toBeGreaterThan(budget / 2);
    expect(notified).toBeGreaterThan(0);

    // The client goes away: its session is closed, every paused process drains, closes and is
    // forgotten, and its output leaves the runtime.
    client.ws.terminate();
    await eventually(
      () => runtime.stats().liveProcesses === 0 && runtime.stats().retainedProcesses === 0,
      'every process to close and be forgotten',
      30_000,
    );
    const after = runtime.stats();
    expect(after.retainedOutputBytes).toBe(0);
    expect(after.unacknowledgedOutputBytes).toBe(0);
    expect(after.pausedProcesses).toBe(0);
    for (const pid of pids) await eventually(() => isDead(pid), `pid ${pid} to die`);
  });

  it('a paused process that is killed still drains its output and closes (pipes and terminal)', async () => {
    const runtime = await runtimeWith({ workers: 1 });
    for (const tty of [false, true]) {
      const process = await runtime.start({
        argv: ['head', '-c', String(1 << 30), '/dev/zero'],
        cwd: CWD,
        env: {},
        tty,
        flowControl: { highWaterBytes: 256 * 1024, lowWaterBytes: 64 * 1024 },
      });
      await eventually(
        () => runtime.stats().pausedProcesses === 1,
        `the ${tty ? 'terminal' : 'pipe'} to pause`,
      );
      expect(await process.terminate()).toBe(true);
      await within(process.closed, 10_000, `the killed ${tty ? 'terminal' : 'pipe'} process to close`);
      expect(await process.exited).toBe(137);
      expect(runtime.stats().pausedProcesses).toBe(0);
    }
  });

  it('keeps output without flow control within the budget by evicting the oldest', async () => {
    const budget = 4 * MiB;
    const processes = 12;
    // 1 MiB retained each would be 12 MiB without the budget.
    const runtime = await runtimeWith({
      outputBudgetBytes: budget,
      retainedBytesPerProcess: MiB,
      workers: 2,
    });
    const started = [];
    for (let i = 0; i < processes; i++) {
      started.push(
        await runtime.start({
          argv: ['sh', '-c', `head -c ${MiB} /dev/zero; exec sleep 300`],
          cwd: CWD,
          env: PATH_ENV,
        }),
      );
    }
    await eventually(
      () => runtime.stats().outputBytesTotal === processes * MiB,
      'every byte to arrive',
      30_000,
    );
    expect(runtime.stats().retainedOutputBytes).toBeLessThanOrEqual(budget);
    expect(runtime.stats().retainedOutputBytes).toBeGreaterThan(budget / 2);
    // Readers see the eviction where it happened (appends evict their own log's oldest first).
    const reads = await Promise.all(started.map((process) => process.read()));
    expect(reads.some((read) => read.firstRetainedSeq > 1)).toBe(true);
    for (const process of started) await process.terminate();
  });

  it('lets a process whose consumer acknowledges run to its end while others pin the budget', async () => {
    const budget = 4 * MiB;
    const runtime = await runtimeWith({ outputBudgetBytes: budget, workers: 2 });
    const flowControl = { highWaterBytes: 8 * MiB, lowWaterBytes: 4 * MiB };
    const pinning = [];
    for (let i = 0; i < 4; i++) {
      pinning.push(
        await runtime.start({
          argv: ['head', '-c', String(1 << 30), '/dev/zero'],
          cwd: CWD,
          env: {},
          flowControl,
        }),
      );
    }
    await eventually(() => runtime.stats().pausedProcesses === 4, 'the pinning processes to pause', 30_000);
    expect(runtime.stats().unacknowledgedOutputBytes).toBeGreaterThan((budget * 3) / 4);
    // The budget is spent; this one still gets through, its reads acknowledging as it goes.
    const size = 16 * MiB;
    const consumed = await runtime.start({
      argv: ['head', '-c', String(size), '/dev/zero'],
      cwd: CWD,
      env: {},
      flowControl,
    });
    let bytes = 0;
    let afterSeq: number | null = null;
    for (;;) {
      const read = await consumed.read({ afterSeq, waitMs: 10_000 });
      for (const chunk of read.chunks) bytes += chunk.chunk.byteLength;
      afterSeq = read.nextSeq - 1;
      if (read.closed && read.chunks.length === 0) break;
      expect(read.chunks.length > 0 || read.exited, 'a read that waited 10 s for nothing').toBe(true);
    }
    expect(bytes).toBe(size);
    expect(runtime.stats().unacknowledgedOutputBytes).toBeLessThanOrEqual(budget);
    for (const process of pinning) await process.terminate();
    for (const process of pinning) await process.closed;
  });
});
