/**
 * Faults: a worker thread dies mid-stream, a client connection drops, the server gets SIGTERM or
 * SIGKILL. Only what the fault owns fails; everything it owned is gone (checked in /proc); every
 * other stream finishes with every byte.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ExecRuntime, type ExecProcess } from '../../src/index.js';
import { ExecServerClient } from '../../src/client/index.js';
import { startServer, type ExecServer } from '../../src/server/index.js';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { eventually, isDead, withDescendants } from '../helpers/process.js';
import { RawClient, type Json } from '../helpers/raw-ws.js';
import { spawnServe, stopAll } from '../helpers/serve.js';
import {
  StreamVerifier,
  createSliceSource,
  sliceArgv,
  sliceFor,
  type SliceSource,
} from '../helpers/slices.js';
import { SPAWNERS } from '../helpers/spawners.js';

const CWD = tmpdir();
const PATH_ENV = { PATH: '/usr/bin:/bin' };
const KiB = 1024;
/** Read-only: a writable cwd (the temp directory itself) would leave bwrap's .codex mount point there. */
const SANDBOX = { mode: 'require', policy: { type: 'read-only' } };
/** A shell with a long-lived grandchild whose pid it prints. */
const WITH_GRANDCHILD = ['/bin/sh', '-c', 'sleep 1000 & echo "child:$!"; wait'];
/** The same, deaf to SIGHUP (inherited by the sleep): a closing terminal cannot kill it, only a kill can. */
const HANGUP_PROOF = ['/bin/sh', '-c', 'trap "" HUP; sleep 1000 & echo "child:$!"; wait'];

function isReaper(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('execvisor-reaper');
  } catch {
    return false;
  }
}

let source: SliceSource;
const leftovers: number[] = [];
beforeAll(() => {
  source = createSliceSource(77, 2 << 20);
});
afterAll(async () => {
  await stopAll();
  // Whatever a verdict said, leave nothing behind.
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  source?.remove();
});

async function allDead(pids: readonly number[], what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const pid of pids) {
    await eventually(() => isDead(pid), `${what}: pid ${pid} to be gone`, Math.max(1, deadline - Date.now()));
  }
}

describe.each(SPAWNERS)('faults: a worker thread dies mid-stream (spawner %s)', (spawner) => {
  let runtime: ExecRuntime | undefined;
  afterEach(async () => {
    await runtime?.destroy();
    runtime = undefined;
  });

  const ROUNDS = 3;
  const PER_ROUND = 16;
  const HALF = 256 * KiB;

  interface Streaming {
    readonly process: ExecProcess;
    readonly verifier: StreamVerifier;
    readonly pids: number[];
    readonly done: Promise<void>;
  }

  /**
   * A child that writes half its slice, waits for a line on stdin, writes the rest; with a
   * grandchild. Resolves once it started; `halfway` once the first half and the grandchild's pid
   * arrived (or it closed early, which the assertions then report).
   */
  async function startHalfway(runtime: ExecRuntime, index: number): Promise<{ halfway: Promise<Streaming> }> {
    const slice = sliceFor(source, index, 2 * HALF);
    const [dd, input, flags, , , bs, status] = sliceArgv(source, slice);
    const part = (skip: number) => `${dd} ${input} ${flags} skip=${skip} count=${HALF} ${bs} ${status}`;
    const script =
      `sleep 1000 & echo "child:$!" >&2; ${part(slice.offset)}; ` +
      `read line; ${part(slice.offset + HALF)}; kill $!`;
    const process = await runtime.start({
      argv: ['/bin/sh', '-c', script],
      cwd: CWD,
      env: PATH_ENV,
      pipeStdin: true,
    });
    const verifier = new StreamVerifier(source.bytes.subarray(slice.offset, slice.offset + slice.count));
    let stderr = '';
    let resolveHalfway!: () => void;
    const halfway = new Promise<void>((resolve) => (resolveHalfway = resolve));
    const done = new Promise<void>((resolve, reject) => {
      process.events$.subscribe({
        next(event) {
          if (event.type !== 'output') return;
          if (event.stream === 'stdout') verifier.push(event.chunk);
          else stderr += Buffer.from(event.chunk).toString();
          if (verifier.verified >= HALF && /child:\d+/.test(stderr)) resolveHalfway();
        },
        complete: resolve,
        error: reject,
      });
    });
    leftovers.push(process.pid!);
    return {
      halfway: Promise.race([halfway, done]).then(() => {
        const grandchild = Number(/child:(\d+)/.exec(stderr)?.[1] ?? 0);
        if (grandchild > 0) leftovers.push(grandchild);
        return { process, verifier, pids: [process.pid!, grandchild].filter((pid) => pid > 0), done };
      }),
    };
  }

  it(`${ROUNDS} crashes × ${PER_ROUND} streams: only the victims fail, their groups die, the rest finish intact`, async () => {
    runtime = await ExecRuntime.create({ spawner, workers: 2 });
    const threadOf = (process: ExecProcess) => (process as unknown as { threadId: number }).threadId;
    let victimsTotal = 0;
    let survivorBytes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // The worker that died in the previous round has been replaced before this round starts.
      await runtime.workersReady();
      // Started one after another (the pool spreads them over both threads), then all stream at once.
      const started: { halfway: Promise<Streaming> }[] = [];
      for (let index = 0; index < PER_ROUND; index++) {
        started.push(await startHalfway(runtime, round * PER_ROUND + index));
      }
      const streams = await Promise.all(started.map((stream) => stream.halfway));
      for (const stream of streams) expect(stream.verifier.verified).toBe(HALF);
      const victimThread = threadOf(streams[round % PER_ROUND]!.process);
      const victims = streams.filter((stream) => threadOf(stream.process) === victimThread);
      const survivors = streams.filter((stream) => threadOf(stream.process) !== victimThread);
      expect(survivors.length).toBeGreaterThan(0);

      await runtime.terminateWorkerOf(victims[0]!.process);
      for (const victim of victims) {
        await victim.done;
        const read = await victim.process.read({ afterSeq: Number.MAX_SAFE_INTEGER - 1 });
        expect(read).toMatchObject({ exited: true, closed: true });
        expect(read.failure).toMatch(/worker died/);
      }
      await allDead(
        victims.flatMap((victim) => victim.pids),
        'victim process group',
      );
      victimsTotal += victims.length;

      // The survivors never noticed: release them and check every byte.
      for (const survivor of survivors) expect(await survivor.process.write('go\n')).toBe('accepted');
      for (const survivor of survivors) {
        await survivor.done;
        expect(survivor.verifier.verdict()).toBeNull();
        expect(await survivor.process.exited).toBe(0);
        expect((await survivor.process.read({ afterSeq: Number.MAX_SAFE_INTEGER - 1 })).failure).toBeNull();
        survivorBytes += survivor.verifier.verified;
      }
    }
    // The pool replaced every dead worker: a fresh batch spreads over two live threads, intact.
    await runtime.workersReady();
    const started: { halfway: Promise<Streaming> }[] = [];
    for (let index = 0; index < PER_ROUND; index++) started.push(await startHalfway(runtime, 900 + index));
    const fresh = await Promise.all(started.map((stream) => stream.halfway));
    expect(new Set(fresh.map((stream) => threadOf(stream.process))).size).toBe(2);
    for (const stream of fresh) expect(await stream.process.write('go\n')).toBe('accepted');
    for (const stream of fresh) {
      await stream.done;
      expect(stream.verifier.verdict()).toBeNull();
      expect(await stream.process.exited).toBe(0);
      survivorBytes += stream.verifier.verified;
    }
    expect(runtime.stats().workerFailuresTotal).toBeGreaterThanOrEqual(ROUNDS);
    console.log(
      `[faults] ${ROUNDS} worker crashes: ${victimsTotal} victim processes failed and were killed; ` +
        `${ROUNDS * PER_ROUND - victimsTotal} survivors and ${PER_ROUND} fresh processes finished with ${survivorBytes} bytes verified`,
    );
  });
});

/** Starts `count` processes with grandchildren on a raw client; pids of each tree once all run. */
async function startTrees(
  client: RawClient,
  prefix: string,
  count: number,
  extra: Json = {},
  argv: readonly string[] = WITH_GRANDCHILD,
): Promise<number[]> {
  const ids = Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
  await Promise.all(
    ids.map((processId, index) =>
      client.result('process/start', {
        processId,
        argv,
        cwd: CWD,
        env: PATH_ENV,
        tty: index % 2 === 1,
        ...extra,
      }),
    ),
  );
  for (const processId of ids) {
    await client.until(
      () => (/child:\d+/.test(client.outputOf(processId)) ? true : undefined),
      `${processId} ready`,
    );
  }
  const { processes } = await client.result('process/list', {});
  const pids = (processes as Json[])
    .filter((info) => ids.includes(info.processId as string))
    .flatMap((info) => withDescendants(info.pid as number));
  leftovers.push(...pids);
  return pids;
}

describe.each(SPAWNERS)('faults: a client connection drops (spawner %s)', (spawner) => {
  let runtime: ExecRuntime | undefined;
  let server: ExecServer | undefined;
  afterEach(async () => {
    await server?.close();
    await runtime?.destroy();
    server = undefined;
    runtime = undefined;
  });

  // Every session detaches on a drop (as upstream's); it is closed once the detach TTL ran out.
  const DETACH_TTL_MS = 300;
  it('its processes (pipes and terminals, with grandchildren) are gone within 1 s of the detach TTL; another client is untouched', async () => {
    runtime = await ExecRuntime.create({ spawner });
    server = await startServer({ runtime, detachTtlMs: DETACH_TTL_MS });
    const bystander = await ExecServerClient.connect(server.url, { clientName: 'bystander' });
    try {
      const slice = sliceFor(source, 3, 512 * KiB);
      const verifier = new StreamVerifier(source.bytes.subarray(slice.offset, slice.offset + slice.count));
      // The bystander's child waits on stdin, so it is certainly running across the drop.
      const [dd, ...ddArgs] = sliceArgv(source, slice);
      const other = await bystander.start({
        argv: ['/bin/sh', '-c', `read line; exec ${dd} ${ddArgs.join(' ')}`],
        cwd: CWD,
        env: PATH_ENV,
        pipeStdin: true,
      });

      const client = await RawClient.open(server.url);
      await client.handshake();
      const pids = await startTrees(client, 'drop', 20);
      expect(pids.length).toBeGreaterThanOrEqual(40);
      for (const pid of pids) expect(isDead(pid)).toBe(false);
      // No close frame: the TCP connection just goes away.
      client.ws.terminate();
      const dropped = Date.now();
      await allDead(pids, 'dropped connection', DETACH_TTL_MS + 1_000);
      console.log(
        `[faults] connection drop: ${pids.length} processes gone ${Date.now() - dropped} ms after the drop`,
      );

      expect(await other.write('go\n')).toBe('accepted');
      await new Promise<void>((resolve, reject) =>
        other.events$.subscribe({
          next: (event) => (event.type === 'output' ? verifier.push(event.chunk) : undefined),
          complete: resolve,
          error: reject,
        }),
      );
      expect(verifier.verdict()).toBeNull();
      expect(await other.exited).toBe(0);
    } finally {
      await bystander.close();
    }
  });
});

describe.each(SPAWNERS)('faults: the server process is signalled (spawner %s)', (spawner) => {
  it('SIGTERM: every child (pipes, terminals, grandchildren, a detached session) is gone and the exit code is 0', async () => {
    const server = await spawnServe(['--spawner', spawner]);
    const client = await RawClient.open(server.url);
    await client.handshake();
    const detached = await RawClient.open(server.url);
    await detached.handshake({ resumeSessionId: null });
    const pids = [...(await startTrees(client, 'term', 16)), ...(await startTrees(detached, 'det', 4))];
    const everything = withDescendants(server.pid).filter((pid) => pid !== server.pid);
    leftovers.push(...everything);
    expect(everything.length).toBeGreaterThan(pids.length); // and the orphan reaper
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    const [code, signal] = (await exited) as [number | null, string | null];
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    await allDead(everything, 'SIGTERMed server');
    console.log(`[faults] SIGTERM: exit 0, ${everything.length} descendants gone`);
  });

  const sandboxed = bwrapAvailable();
  it(`SIGKILL: unsandboxed children die by the orphan reaper${sandboxed ? ', sandboxed ones with their server' : ''} (pipes, terminals, grandchildren)`, async () => {
    const server = await spawnServe(['--spawner', spawner]);
    const client = await RawClient.open(server.url);
    await client.handshake();
    // Deaf to SIGHUP: the terminal children cannot die of their terminal closing, only of the reaper.
    const plain = await startTrees(client, 'plain', 8, {}, HANGUP_PROOF);
    const boxed = sandboxed ? await startTrees(client, 'boxed', 4, { sandbox: SANDBOX }) : [];
    const everything = withDescendants(server.pid).filter((pid) => pid !== server.pid);
    leftovers.push(...everything);
    expect(everything.filter(isReaper)).toHaveLength(1);
    // Each plain tree: its shell and its sleep. Each sandboxed tree: bwrap and what runs inside it.
    expect(plain.length).toBeGreaterThanOrEqual(16);
    expect(boxed.length).toBeGreaterThanOrEqual(sandboxed ? 12 : 0);
    const exited = once(server.child, 'exit');
    server.child.kill('SIGKILL');
    await exited;
    const killed = Date.now();
    await allDead(everything, 'SIGKILLed server');
    console.log(
      `[faults] SIGKILL: ${plain.length} unsandboxed + ${boxed.length} sandboxed processes ` +
        `(${everything.length} descendants with the reaper) gone ${Date.now() - killed} ms after the kill`,
    );
  });
});
