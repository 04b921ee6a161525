/**
 * ExecServerClient against an in-process server: error codes, transport loss, resume, limits and
 * output under outbound backpressure.
 */
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { ExecRuntime, errorCodeOf, RemoteError, TransportError } from '../../src/index.js';
import { ExecServerClient } from '../../src/client/index.js';
import { startServer, type ExecServer, type ServerOptions } from '../../src/server/index.js';
import { allEvents, eventually, isDead, textOf, waitForOutput } from '../helpers/process.js';
import { startWsProxy } from '../helpers/ws-proxy.js';

const CWD = tmpdir();
const PATH_ENV = { PATH: '/usr/bin:/bin' };

const PAUSED = 'pausing output notifications';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  serverOptions: Omit<ServerOptions, 'runtime'> = {},
  runtimeOptions: Parameters<typeof ExecRuntime.create>[0] = {},
): Promise<{ runtime: ExecRuntime; server: ExecServer }> {
  const runtime = await ExecRuntime.create(runtimeOptions);
  cleanups.push(() => runtime.close());
  const server = await startServer({ ...serverOptions, runtime });
  cleanups.push(() => server.close());
  return { runtime, server };
}

async function connect(url: string, options: Parameters<typeof ExecServerClient.connect>[1] = {}) {
  const client = await ExecServerClient.connect(url, { clientName: 'client-test', ...options });
  cleanups.push(() => client.close());
  return client;
}

describe('ExecServerClient', () => {
  it('turns server errors into RemoteErrors with the ExecError code', async () => {
    const { server } = await setup();
    const client = await connect(server.url);
    const sleeper = await client.start({ processId: 'dup', argv: ['sleep', '30'], cwd: CWD, env: PATH_ENV });
    const duplicate = await client
      .start({ processId: 'dup', argv: ['true'], cwd: CWD, env: {} })
      .catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(RemoteError);
    expect(errorCodeOf(duplicate)).toBe('EXEC_ERR_DUPLICATE_PROCESS');
    expect((duplicate as RemoteError).rpcCode).toBe(-32600);
    const resize = await sleeper.resize({ rows: 10, cols: 10 }).catch((e: unknown) => e);
    expect(errorCodeOf(resize)).toBe('EXEC_ERR_NOT_A_TTY');
    expect(sleeper.pid).toBeGreaterThan(0);
    expect(await sleeper.terminate()).toBe(true);
    expect(await sleeper.exited).toBe(137);
  });

  it('fails every open handle with the transport-disconnected failure when the socket drops', async () => {
    const { server } = await setup();
    const client = await connect(server.url);
    const process = await client.start({ argv: ['sleep', '30'], cwd: CWD, env: PATH_ENV, pipeStdin: true });
    const events = allEvents(process).catch((e: unknown) => e);
    const pending = process.read({ waitMs: 30_000 });
    await server.close();
    const error = await events;
    expect(error).toBeInstanceOf(TransportError);
    expect((error as Error).message).toMatch(/^exec-server transport disconnected/);
    expect((await pending).failure).toMatch(/^exec-server transport disconnected/);
    expect(await process.read()).toMatchObject({
      closed: true,
      failure: expect.stringMatching(/^exec-server transport disconnected/),
    });
    const write = await process.write('x').catch((e: unknown) => e);
    expect(errorCodeOf(write)).toBe('EXEC_ERR_TRANSPORT');
    expect((write as Error).message).toMatch(/^exec-server transport disconnected/);
    await expect(process.exited).rejects.toBeInstanceOf(TransportError);
  });

  it('resumes a session after a dropped connection and replays without a gap', async () => {
    const { server } = await setup();
    const first = await connect(server.url, { resumeSessionId: null });
    expect(first.sessionId).toEqual(expect.any(String));
    const script = 'printf ready; read go; i=0; while [ $i -lt 20 ]; do echo "r$i"; i=$((i+1)); done';
    const process = await first.start({
      processId: 'keep',
      argv: ['sh', '-c', script],
      cwd: CWD,
      env: PATH_ENV,
      pipeStdin: true,
    });
    await waitForOutput(process, 'ready');
    await first.disconnect();

    const second = await connect(server.url, { resumeSessionId: first.sessionId });
    const resumed = second.get('keep');
    expect(resumed).toBeDefined();
    expect(await resumed!.write('go\n')).toBe('accepted');
    const events = await allEvents(resumed!);
    expect(textOf(events)).toBe(`ready${Array.from({ length: 20 }, (_, i) => `r${i}\n`).join('')}`);
    expect(events.map((e) => e.type).slice(-2)).toEqual(['exited', 'closed']);
  });

  it('forgets a handle once its process has closed (a long-lived client does not grow)', async () => {
    const { server } = await setup();
    const client = await connect(server.url);
    // It runs until its stdin closes, so it is still there when the start resolves.
    const process = await client.start({
      processId: 'brief',
      argv: ['cat'],
      cwd: CWD,
      env: {},
      pipeStdin: true,
    });
    expect(client.get('brief')).toBe(process);
    await process.closeStdin();
    await process.closed;
    expect(client.get('brief')).toBeUndefined();
  });

  it('with reconnect: resumes after a dropped connection; a read and a write cut by the drop are made again', async () => {
    const { server } = await setup();
    const client = await connect(server.url, { reconnect: true });
    const states: string[] = [];
    client.onStateChange((state) => states.push(state));
    const process = await client.start({
      argv: ['/bin/sh', '-c', 'read line; echo "got $line"'],
      cwd: CWD,
      env: PATH_ENV,
      pipeStdin: true,
    });
    const events = allEvents(process);
    // A long poll in flight when the connection drops.
    const read = process.read({ afterSeq: 0, waitMs: 20_000 });
    await client.disconnect();
    expect(client.state).toBe('reconnecting');
    expect(await process.write('again\n')).toBe('accepted');
    const answer = await read;
    expect(answer.failure).toBeNull();
    expect(Buffer.concat(answer.chunks.map((c) => c.chunk)).toString()).toBe('got again\n');
    expect(await process.exited).toBe(0);
    expect(textOf(await events)).toBe('got again\n');
    expect(states).toEqual(['reconnecting', 'connected']);
  });

  it('kills a detached session that is not resumed within the TTL', async () => {
    const { server } = await setup({ detachTtlMs: 50 });
    const client = await connect(server.url, { resumeSessionId: null });
    const process = await client.start({ argv: ['sleep', '300'], cwd: CWD, env: PATH_ENV });
    const pid = process.pid!;
    await client.disconnect();
    await eventually(() => isDead(pid), `pid ${pid} to die after the detach TTL`);
  });

  // Every session detaches now; a client that did not ask for one to come back to must not leave
  // its processes running for the TTL when it closes.
  it('terminates its processes on close() unless it asked for a session to resume', async () => {
    const { server } = await setup({ detachTtlMs: 600_000 });
    const plain = await ExecServerClient.connect(server.url, { clientName: 'plain' });
    const gone = await plain.start({ argv: ['sleep', '300'], cwd: CWD, env: PATH_ENV });
    await plain.close();
    expect(isDead(gone.pid!)).toBe(true);
    const keeping = await ExecServerClient.connect(server.url, {
      clientName: 'keeping',
      resumeSessionId: null,
    });
    const kept = await keeping.start({ argv: ['sleep', '300'], cwd: CWD, env: PATH_ENV });
    const { sessionId } = keeping;
    await keeping.close();
    expect(isDead(kept.pid!)).toBe(false);
    const back = await connect(server.url, { resumeSessionId: sessionId });
    expect(await back.get(kept.processId)!.terminate()).toBe(true);
  });

  it('reports the per-connection process limit as a LIMIT error', async () => {
    const { server } = await setup({ maxProcessesPerConnection: 1 });
    const client = await connect(server.url);
    const first = await client.start({ argv: ['sleep', '30'], cwd: CWD, env: PATH_ENV });
    const error = await client.start({ argv: ['true'], cwd: CWD, env: {} }).catch((e: unknown) => e);
    expect(errorCodeOf(error)).toBe('EXEC_ERR_LIMIT');
    await first.terminate();
    await first.closed;
    const next = await client.start({ argv: ['true'], cwd: CWD, env: {} });
    expect(await next.exited).toBe(0);
  });

  it('loses no output when the server stops forwarding notifications under backpressure', async () => {
    // A high-water mark of 1 byte pauses notifications as soon as the socket backs up; the proxy
    // makes it back up for sure by not reading the server's side until the server has paused.
    const logs: string[] = [];
    const note = (_fields: object, message: string) => void logs.push(message);
    const logger = { debug: note, info: note, warn: note, error: note };
    const { runtime, server } = await setup(
      { outboundHighWaterBytes: 1, logger },
      { retainedBytesPerProcess: 16 << 20 },
    );
    const proxy = await startWsProxy(server.url);
    cleanups.push(() => proxy.close());
    const client = await connect(proxy.url);
    // More than every socket buffer between the server and the proxy can take.
    const size = 32 << 20;
    const process = await client.start({
      argv: ['sh', '-c', `read go; head -c ${size} /dev/zero | tr '\\0' b`],
      cwd: CWD,
      env: PATH_ENV,
      pipeStdin: true,
    });
    const events = allEvents(process);
    events.catch(() => undefined);
    proxy.pauseServerSide();
    // (Its answer comes back on the paused side.)
    const written = process.write('go\n');
    // Backpressure happened: the server stopped forwarding (and, pacing the process itself, held it).
    await eventually(() => logs.some((line) => line.includes(PAUSED)), 'the forwarder to pause', 30_000);
    expect(runtime.stats().outputBytesTotal).toBeLessThan(size);
    proxy.resumeServerSide();
    expect(await written).toBe('accepted');
    const all = await events;
    const text = textOf(all, 'stdout');
    expect(text.length).toBe(size);
    expect(text).toBe('b'.repeat(size));
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    expect(process.lostSeqs).toBe(0);
  }, 120_000);

  it('catches up with a read after a missed output notification, and loses nothing', async () => {
    const { server } = await setup();
    // The first output notification after seq 1 never reaches the client.
    let dropping = true;
    const proxy = await startWsProxy(server.url, {
      drop: (text) => {
        const message = JSON.parse(text) as { method?: string; params?: { seq?: number } };
        if (!dropping || message.method !== 'process/output' || (message.params?.seq ?? 0) < 2) return false;
        dropping = false;
        return true;
      },
    });
    cleanups.push(() => proxy.close());
    const client = await connect(proxy.url);
    const process = await client.start({
      argv: ['sh', '-c', 'printf one; read go; printf two; sleep 0.05; printf three'],
      cwd: CWD,
      env: PATH_ENV,
      pipeStdin: true,
    });
    await waitForOutput(process, 'one');
    expect(await process.write('go\n')).toBe('accepted');
    const events = await allEvents(process);
    expect(proxy.dropped).toHaveLength(1);
    expect(textOf(events)).toBe('onetwothree');
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.type).slice(-2)).toEqual(['exited', 'closed']);
    expect(process.lostSeqs).toBe(0);
  });

  it('replays from seq 1 for every subscriber of a handle', async () => {
    const { server } = await setup();
    const client = await connect(server.url);
    const process = await client.start({
      argv: ['sh', '-c', 'printf a; printf b >&2'],
      cwd: CWD,
      env: PATH_ENV,
    });
    const first = await allEvents(process);
    const second = await allEvents(process);
    expect(second).toEqual(first);
    expect(first[0]!.seq).toBe(1);
    expect(process.info()).toMatchObject({ exited: true, exitCode: 0, closed: true });
  });
});
