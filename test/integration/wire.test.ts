/**
 * Black-box wire tests: a real `execvisor serve` process (run `npm run build` first) driven by a
 * raw `ws` client, checking the exact JSON of the protocol. One server serves every test that does
 * not need a fresh one (its own flags, environment, counters, or its death).
 */
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAllCli, runCli } from '../helpers/cli.js';
import { eventually, isDead } from '../helpers/process.js';
import { RawClient, refusedUpgradeStatus, type Json } from '../helpers/raw-ws.js';
import { spawnServe, stopAll, type ServeProcess } from '../helpers/serve.js';

const CWD = tmpdir();
const PATH_ENV = { PATH: '/usr/bin:/bin' };

const clients: RawClient[] = [];
let shared: ServeProcess;

/** The server shared by the tests that need nothing of their own. */
function sharedServer(): ServeProcess {
  return shared;
}

/** A server of the test's own, with extra flags or environment (stopped after the file). */
function spawnServer(args: string[] = [], env: Record<string, string> = {}): Promise<ServeProcess> {
  return spawnServe(args, { ...process.env, ...env });
}

async function connect(url: string, headers?: Record<string, string>): Promise<RawClient> {
  const client = await RawClient.open(url, headers);
  clients.push(client);
  return client;
}

/** The HTTP status of a refused upgrade. */
function refusedStatus(url: string, headers: Record<string, string>): Promise<number> {
  return refusedUpgradeStatus(url, headers);
}

function startParams(processId: string, argv: string[], extra: Json = {}): Json {
  return { processId, argv, cwd: CWD, env: PATH_ENV, tty: false, ...extra };
}

async function pidOf(client: RawClient, processId: string): Promise<number> {
  const { processes } = await client.result('process/list', { processId });
  return (processes as Json[])[0]!.pid as number;
}

/** The client convention: read from afterSeq null until closed. */
async function readAll(client: RawClient, processId: string, from: number | null = null, maxBytes?: number) {
  let afterSeq = from;
  let text = '';
  for (;;) {
    const read = await client.result('process/read', {
      processId,
      afterSeq,
      maxBytes: maxBytes ?? null,
      waitMs: 5000,
    });
    for (const chunk of read.chunks as Json[])
      text += Buffer.from(chunk.chunk as string, 'base64').toString();
    afterSeq = (read.nextSeq as number) - 1;
    if (read.closed && read.chunks.length === 0) return { text, read };
  }
}

beforeAll(async () => {
  shared = await spawnServe();
});

afterEach(() => {
  for (const client of clients.splice(0)) client.ws.terminate();
});

afterAll(async () => {
  await stopAll();
  await killAllCli();
});

describe('wire: handshake and envelope', () => {
  it('answers initialize with a {}-compatible result and starts `true`', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    const init = await client.call('initialize', { clientName: 'wire-test' });
    expect(init).not.toHaveProperty('jsonrpc');
    expect(init.id).toBe(1);
    expect(typeof init.result).toBe('object');
    expect(init.result.sessionId).toEqual(expect.any(String));
    client.send({ method: 'initialized', params: {} });
    const start = await client.call('process/start', {
      processId: 'proc-1',
      argv: ['true'],
      cwd: CWD,
      env: {},
      tty: false,
      arg0: null,
    });
    expect(start).toEqual({ id: 2, result: { processId: 'proc-1', sandboxType: 'none' } });
    const closed = await client.waitFor((m) => m.method === 'process/closed');
    const exited = client.messages.find((m) => m.method === 'process/exited');
    expect(exited).toEqual({
      method: 'process/exited',
      params: { processId: 'proc-1', seq: 1, exitCode: 0, sandboxDenied: false },
    });
    expect(closed).toEqual({ method: 'process/closed', params: { processId: 'proc-1', seq: 2 } });
  });

  it('answers a message that is not JSON with id -1 and keeps the connection', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    client.send('not-json');
    const error = await client.waitFor((m) => m.id === -1);
    const localPort = (client.ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    expect(error.error.code).toBe(-32600);
    expect(error.error.message).toMatch(
      new RegExp(
        `^failed to parse websocket JSON-RPC message from exec-server websocket 127\\.0\\.0\\.1:${localPort}: `,
      ),
    );
    client.send('{"no":"shape"}');
    await client.waitFor((m) => m.id === -1 && m !== error);
    const init = await client.call('initialize', { clientName: 'still-here' });
    expect(init.result).toBeDefined();
  });

  it('echoes string ids and answers unknown methods with -32601', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    client.send({ id: 'abc', method: 'process/frobnicate', params: {} });
    const answer = await client.waitFor((m) => m.id === 'abc');
    expect(answer.error).toMatchObject({
      code: -32601,
      message: 'exec-server stub does not implement `process/frobnicate` yet',
    });
  });

  it('enforces the handshake order with the exact texts', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    const early = await client.call('process/read', { processId: 'x' });
    expect(early.error).toMatchObject({
      code: -32600,
      message: 'client must call initialize before using exec methods',
    });
    await client.result('initialize', { clientName: 'c' });
    const between = await client.call('process/list', {});
    expect(between.error).toMatchObject({
      code: -32600,
      message: 'client must send initialized before using exec methods',
    });
    const again = await client.call('initialize', { clientName: 'c' });
    expect(again.error).toMatchObject({
      code: -32600,
      message: 'initialize may only be sent once per connection',
    });
    client.send({ method: 'initialized' });
    expect((await client.call('process/list', {})).result).toEqual({ processes: [] });
  });

  it('names the missing field of bad params', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    const answer = await client.call('initialize', {});
    expect(answer.error).toMatchObject({ code: -32602, message: 'missing field `clientName`' });
  });

  for (const [label, message] of [
    ['an unexpected notification', { method: 'process/output', params: {} }],
    ['initialized before initialize', { method: 'initialized', params: {} }],
    ['a client response', { id: 7, result: {} }],
    ['a client error', { id: 7, error: { code: 1, message: 'x' } }],
  ] as const) {
    it(`closes the connection without a reply on ${label}`, async () => {
      const server = sharedServer();
      const client = await connect(server.url);
      client.send(message);
      await client.closed();
      expect(client.messages).toEqual([]);
    });
  }
});

describe('wire: processes', () => {
  it('lets exactly one of two starts with one id win', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    await client.handshake();
    const a = client.request('process/start', startParams('dup', ['sleep', '5']));
    const b = client.request('process/start', startParams('dup', ['sleep', '5']));
    const answers = [await client.response(a), await client.response(b)];
    expect(answers.filter((m) => m.result !== undefined)).toHaveLength(1);
    expect(answers.find((m) => m.error !== undefined)?.error).toMatchObject({
      code: -32600,
      message: 'process dup already exists',
    });
    expect((await client.result('process/terminate', { processId: 'dup' })).running).toBe(true);
  });

  it('terminates a running process, then reports running:false', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    await client.handshake();
    await client.result('process/start', startParams('t', ['sleep', '30']));
    expect(await client.result('process/terminate', { processId: 't' })).toEqual({ running: true });
    const exited = await client.waitFor((m) => m.method === 'process/exited');
    expect(exited.params.exitCode).toBe(128 + 9);
    await client.waitFor((m) => m.method === 'process/closed');
    expect(await client.result('process/terminate', { processId: 't' })).toEqual({ running: false });
    expect(await client.result('process/terminate', { processId: 'never' })).toEqual({ running: false });
    const unknown = await client.call('process/read', { processId: 'never' });
    expect(unknown.error).toMatchObject({ code: -32600, message: 'unknown process id never' });
  });

  it('sends output, exit and close notifications with one seq counter (they may precede the start answer)', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    await client.handshake();
    const id = client.request(
      'process/start',
      startParams('n', ['/bin/sh', '-c', 'printf hi; printf err >&2']),
    );
    await client.waitFor((m) => m.method === 'process/closed');
    await client.response(id);
    const notes = client.messages
      .filter((m) => typeof m.method === 'string')
      .map((m): [string, number] => [m.method as string, m.params.seq as number]);
    expect(notes.at(-1)).toEqual(['process/closed', notes.length]);
    expect(notes.map(([, seq]) => seq)).toEqual(notes.map((_, i) => i + 1));
    const text = client.messages
      .filter((m) => m.method === 'process/output')
      .map(
        (m) => `${m.params.stream as string}:${Buffer.from(m.params.chunk as string, 'base64').toString()}`,
      )
      .sort();
    expect(text).toEqual(['stderr:err', 'stdout:hi']);
  });

  it('returns exact output through a read loop from afterSeq null', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    await client.handshake();
    const script = 'i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done';
    await client.result('process/start', startParams('r', ['/bin/sh', '-c', script]));
    const { text, read } = await readAll(client, 'r', null, 64);
    expect(text).toBe(Array.from({ length: 200 }, (_, i) => `line ${i}\n`).join(''));
    expect(read).toMatchObject({ exited: true, exitCode: 0, closed: true, failure: null });
  });

  it('writes to a piped stdin in order, and answers stdinClosed without pipeStdin', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    await client.handshake();
    // Start and writes sent back to back: the writes must see the process, in order.
    client.request('process/start', startParams('cat', ['cat'], { pipeStdin: true }));
    const writes = ['a', 'b', 'c', 'd'].map((s) =>
      client.request('process/write', { processId: 'cat', chunk: Buffer.from(s).toString('base64') }),
    );
    const close = client.request('process/closeStdin', { processId: 'cat' });
    for (const id of writes) expect((await client.response(id)).result).toEqual({ status: 'accepted' });
    expect((await client.response(close)).result).toEqual({});
    expect((await readAll(client, 'cat')).text).toBe('abcd');
    await client.result('process/start', startParams('nopipe', ['sleep', '5']));
    expect(await client.result('process/write', { processId: 'nopipe', chunk: 'aGk=' })).toEqual({
      status: 'stdinClosed',
    });
    expect(await client.result('process/write', { processId: 'ghost', chunk: 'aGk=' })).toEqual({
      status: 'unknownProcess',
    });
    expect((await client.call('process/write', { processId: 'nopipe', chunk: 'a===' })).error.code).toBe(
      -32602,
    );
    await client.result('process/terminate', { processId: 'nopipe' });
  });

  it('signals the process group with process/signal, and names bad signals and ids', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    await client.handshake();
    const script = 'trap "echo got-int; exit 4" INT; echo ready; while :; do sleep 0.05; done';
    await client.result('process/start', startParams('sig', ['/bin/sh', '-c', script]));
    await client.until(() => client.outputOf('sig').includes('ready') || undefined, 'the ready line');
    expect(await client.result('process/signal', { processId: 'sig', signal: 'interrupt' })).toEqual({});
    const exited = await client.waitFor((m) => m.method === 'process/exited' && m.params.processId === 'sig');
    expect(exited.params.exitCode).toBe(4);
    expect(client.outputOf('sig')).toContain('got-int');
    const bad = await client.call('process/signal', { processId: 'sig', signal: 'SIGNOPE' });
    expect(bad.error).toMatchObject({ code: -32602, data: { code: 'EXEC_ERR_INVALID_ARGUMENT' } });
    const unknown = await client.call('process/signal', { processId: 'ghost', signal: 'kill' });
    expect(unknown.error).toMatchObject({ code: -32600, message: 'unknown process id ghost' });
  });

  it('does not let a 60 s long-poll read delay a concurrent start', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    await client.handshake();
    await client.result('process/start', startParams('quiet', ['sleep', '60']));
    const longPoll = client.request('process/read', { processId: 'quiet', afterSeq: null, waitMs: 60_000 });
    const start = await client.call('process/start', startParams('quick', ['true']));
    expect(start.result).toEqual({ processId: 'quick', sandboxType: 'none' });
    // The start was answered while the long poll is still pending: it did not wait behind it.
    expect(client.messages.some((m) => m.id === longPoll)).toBe(false);
    await client.result('process/terminate', { processId: 'quiet' });
    expect((await client.response(longPoll)).result.exited).toBe(true);
  });

  it('kills the processes of a connection once its session was not resumed within the TTL', async () => {
    const server = await spawnServer(['--detach-ttl-ms', '300']);
    const client = await connect(server.url);
    await client.handshake();
    await client.result('process/start', startParams('k', ['sleep', '300']));
    const pid = await pidOf(client, 'k');
    expect(isDead(pid)).toBe(false);
    client.ws.close();
    await eventually(() => isDead(pid), `pid ${pid} to die after the detach TTL`);
  });

  it('kills the processes of a connection when it closes, with a detach TTL of 0', async () => {
    const server = await spawnServer(['--detach-ttl-ms', '0']);
    const client = await connect(server.url);
    const init = await client.handshake();
    expect(init.capabilities.detachable).toBe(false);
    await client.result('process/start', startParams('k', ['sleep', '300']));
    const pid = await pidOf(client, 'k');
    client.ws.close();
    await eventually(() => isDead(pid), `pid ${pid} to die after disconnect`);
  });

  it('resumes a detached session and reads on without a gap', async () => {
    const server = sharedServer();
    const first = await connect(server.url);
    const { sessionId } = await first.handshake({ resumeSessionId: null });
    const script = 'i=0; while [ $i -lt 40 ]; do echo "n$i"; i=$((i+1)); sleep 0.01; done';
    await first.result('process/start', startParams('s', ['/bin/sh', '-c', script]));
    const part = await first.result('process/read', { processId: 's', afterSeq: null, waitMs: 5000 });
    let text = (part.chunks as Json[])
      .map((c) => Buffer.from(c.chunk as string, 'base64').toString())
      .join('');
    first.ws.terminate();
    await first.closed();

    const second = await connect(server.url);
    const busy = await connect(server.url);
    const resumed = await second.handshake({ resumeSessionId: sessionId });
    expect(resumed.sessionId).toBe(sessionId);
    const stolen = await busy.call('initialize', { clientName: 'thief', resumeSessionId: sessionId });
    // The reference's code for a session attached elsewhere.
    expect(stolen.error).toMatchObject({
      code: -32010,
      message: `session ${sessionId} is already attached to another connection`,
    });
    const unknown = await busy.call('initialize', { clientName: 'lost', resumeSessionId: 'nope' });
    expect(unknown.error).toMatchObject({ code: -32600, message: 'unknown session id nope' });
    text += (await readAll(second, 's', (part.nextSeq as number) - 1)).text;
    expect(text).toBe(Array.from({ length: 40 }, (_, i) => `n${i}\n`).join(''));
  });

  it('keeps a detached session alive and its processes running until resumed', async () => {
    const server = sharedServer();
    const client = await connect(server.url);
    // Every session detaches, as upstream's do, whether or not the client sent resumeSessionId.
    const { sessionId, capabilities } = await client.handshake();
    expect(capabilities.detachable).toBe(true);
    await client.result('process/start', startParams('d', ['sleep', '300']));
    const pid = await pidOf(client, 'd');
    client.ws.terminate();
    await client.closed();
    const again = await connect(server.url);
    await again.handshake({ resumeSessionId: sessionId });
    const { processes } = await again.result('process/list', {});
    expect(processes).toMatchObject([{ processId: 'd', pid, exited: false, closed: false }]);
    expect(isDead(pid)).toBe(false);
    expect(await again.result('process/terminate', { processId: 'd' })).toEqual({ running: true });
  });
});

describe('wire: HTTP, security and limits', () => {
  it('answers readyz and metrics', async () => {
    const server = await spawnServer();
    const client = await connect(server.url);
    await client.handshake();
    await client.call('process/read', { processId: 'missing' });
    const base = `http://127.0.0.1:${server.port}`;
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('ok');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^execvisor_live_processes \d+$/m);
    expect(metrics).toMatch(/^execvisor_open_connections 1$/m);
    expect(metrics).toMatch(
      /^execvisor_rpc_errors_total\{code="EXEC_ERR_UNKNOWN_PROCESS",rpc_code="-32600"\} 1$/m,
    );
  });

  it('refuses a handshake with an Origin header (403)', async () => {
    const server = sharedServer();
    expect(await refusedStatus(server.url, { Origin: 'http://evil.example' })).toBe(403);
  });

  it('requires the bearer token when one is configured (401)', async () => {
    const server = await spawnServer([], { EXEC_SERVER_TOKEN: 'sekrit' });
    const attempts: Record<string, string>[] = [
      {},
      { Authorization: 'Bearer wrong' },
      { Authorization: 'Basic sekrit' },
    ];
    for (const headers of attempts) {
      expect(await refusedStatus(server.url, headers)).toBe(401);
    }
    const client = await connect(server.url, { Authorization: 'Bearer sekrit' });
    expect((await client.call('initialize', { clientName: 'ok' })).result).toBeDefined();
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(200);
  });

  it('closes a socket that sends a 20 MiB frame with 1009, and only that one', async () => {
    const server = sharedServer();
    const other = await connect(server.url);
    await other.handshake();
    const big = await connect(server.url);
    big.send(
      JSON.stringify({ id: 1, method: 'initialize', params: { clientName: 'x'.repeat(20 * 1024 * 1024) } }),
    );
    expect(await big.closed()).toBe(1009);
    expect((await other.result('process/start', startParams('alive', ['true']))).processId).toBe('alive');
  });

  it('refuses bad listen URLs with exit code 2', async () => {
    const hostName = await runCli(['serve', '--listen', 'ws://localhost:1234']);
    expect(hostName.code).toBe(2);
    expect(hostName.stderr).toContain(
      'invalid websocket --listen URL `ws://localhost:1234`; expected `ws://IP:PORT`',
    );
    expect(hostName.stdout).toBe('');
    const scheme = await runCli(['serve', '--listen', 'http://127.0.0.1:1234']);
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toContain(
      'unsupported --listen URL `http://127.0.0.1:1234`; expected `ws://IP:PORT` or `stdio`',
    );
    const stdioLike = await runCli(['serve', '--listen', 'stdio://x']);
    expect(stdioLike.code).toBe(2);
    expect(stdioLike.stderr).toContain(
      'unsupported --listen URL `stdio://x`; expected `ws://IP:PORT` or `stdio`',
    );
    const open = await runCli(['serve', '--listen', 'ws://0.0.0.0:0'], {
      env: { ...process.env, EXEC_SERVER_TOKEN: '' },
    });
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('without a token');
  });

  it('leaves no child behind on SIGTERM and exits 0', async () => {
    const server = await spawnServer();
    const client = await connect(server.url);
    await client.handshake({ resumeSessionId: null });
    await client.result('process/start', startParams('orphan?', ['sleep', '300']));
    await client.result('process/start', startParams('tty', ['sleep', '300'], { tty: true }));
    const pids = [await pidOf(client, 'orphan?'), await pidOf(client, 'tty')];
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    for (const pid of pids) await eventually(() => isDead(pid), `pid ${pid} to die with the server`);
  });
});
