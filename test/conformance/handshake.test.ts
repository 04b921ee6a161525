/**
 * Conformance: the envelope, the handshake, the transports and the environment methods, against
 * the reference and ours (upstream tests websocket.rs, health.rs, initialize.rs; transport.rs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawClient, RawStdioClient } from '../helpers/raw-ws.js';
import { spawnServe } from '../helpers/serve.js';
import {
  SERVER_ENV,
  fresh,
  reference,
  scratch,
  startParams,
  startTargets,
  stopTargets,
  uri,
  type Target,
} from './harness.js';

const targets = await startTargets();
afterAll(() => stopTargets(targets));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe.each(targets)('conformance: handshake and envelope, $name', (target: Target) => {
  let client: Awaited<ReturnType<Target['ready']>>;
  beforeAll(async () => {
    client = await target.ready();
  });

  // websocket.rs: exec_server_reports_malformed_websocket_json_and_keeps_running
  it('answers a malformed message with id -1 and -32600, and keeps the connection', async () => {
    const conn = await target.connect();
    conn.send('not-json');
    const error = await conn.until(() => conn.others.find((m) => m.id === -1), 'the parse error');
    expect(error.error.code).toBe(-32600);
    expect(error.error.message).toMatch(
      target.carrier === 'ws'
        ? /^failed to parse websocket JSON-RPC message from exec-server websocket \S+:\d+: /
        : /^failed to parse JSON-RPC message from exec-server stdio: /,
    );
    const init = await conn.result('initialize', { clientName: 'conformance' });
    expect(init.sessionId).toMatch(UUID);
  });

  // websocket.rs: exec_server_accepts_binary_websocket_json
  it.runIf(target.carrier === 'ws')('accepts JSON in a binary frame', async () => {
    const conn = (await target.connect()) as RawClient;
    conn.send(Buffer.from(JSON.stringify({ id: 1, method: 'initialize', params: { clientName: 'bin' } })));
    expect((await conn.answer(1)).result.sessionId).toMatch(UUID);
  });

  // websocket.rs: exec_server_rejects_browser_origin_websocket_handshake
  it.runIf(target.carrier === 'ws')('refuses an upgrade with a browser Origin (403)', async () => {
    const ws = new WebSocket(target.url, { headers: { origin: 'https://evil.example' } });
    ws.on('error', () => undefined);
    const [, response] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).toBe(403);
    ws.terminate();
  });

  // health.rs: exec_server_serves_readyz_alongside_websocket_endpoint
  it.runIf(target.carrier === 'ws')('serves GET /readyz next to the WebSocket', async () => {
    const response = await fetch(`${target.url.replace('ws://', 'http://')}/readyz`);
    expect(response.status).toBe(200);
  });

  // Issue #10 item 11: odd ids are refused as JSON-RPC does, without closing the connection.
  it('answers odd ids with id -1 and keeps the connection', async () => {
    const conn = await target.connect();
    for (const id of ['1.5', 'true', 'null', '{"a":1}']) {
      conn.send(`{"id":${id},"method":"environment/status"}`);
    }
    await conn.until(
      () => (conn.others.filter((m) => m.id === -1).length >= 4 ? true : undefined),
      '4 errors',
    );
    for (const error of conn.others.filter((m) => m.id === -1)) {
      expect(error.error.code).toBe(-32600);
      expect(error.error.message).toMatch(/data did not match any variant of untagged enum RequestId$/);
    }
    expect(conn.isOpen).toBe(true);
    expect((await conn.result('initialize', { clientName: 'after' })).sessionId).toMatch(UUID);
  });

  it('echoes an integer id beyond 2^53 digit for digit', async () => {
    client.send('{"id":9007199254740993,"method":"environment/status","params":{}}');
    await client.until(() => client.raw.find((t) => t.includes('9007199254740993')), 'the answer');
    const text = client.raw.find((t) => t.includes('9007199254740993'))!;
    expect(text).toMatch(/"id":9007199254740993[,}]/);
  });

  it('echoes string and negative ids', async () => {
    client.send({ id: 'id-α', method: 'environment/status' });
    client.send({ id: -7, method: 'environment/status' });
    expect((await client.answer('id-α')).result).toEqual({ status: 'ready' });
    expect((await client.answer(-7)).result).toEqual({ status: 'ready' });
  });

  it('answers an unknown method with -32601 and the reference text', async () => {
    const answer = await client.call('nope/x', {});
    expect(answer.error).toMatchObject({
      code: -32601,
      message: 'exec-server stub does not implement `nope/x` yet',
    });
  });

  it('enforces the handshake order with the exact texts, per method family', async () => {
    const conn = await target.connect();
    const families: [string, unknown, string][] = [
      ['process/read', { processId: 'x' }, 'exec methods'],
      ['fs/getMetadata', { path: uri('/') }, 'filesystem methods'],
      ['environment/info', {}, 'environment info methods'],
      ['environment/status', {}, 'environment status methods'],
      ['http/request', { method: 'GET', url: 'http://127.0.0.1:1/', requestId: 'r' }, 'http methods'],
    ];
    for (const [method, params, family] of families) {
      expect((await conn.call(method, params)).error, method).toMatchObject({
        code: -32600,
        message: `client must call initialize before using ${family}`,
      });
    }
    await conn.result('initialize', { clientName: 'order' });
    for (const [method, params, family] of families) {
      expect((await conn.call(method, params)).error, method).toMatchObject({
        code: -32600,
        message: `client must send initialized before using ${family}`,
      });
    }
    expect((await conn.call('initialize', { clientName: 'again' })).error).toMatchObject({
      code: -32600,
      message: 'initialize may only be sent once per connection',
    });
  });

  it('names the missing field of bad params', async () => {
    expect((await client.call('process/read', null)).error).toMatchObject({
      code: -32602,
      message: 'invalid type: null, expected struct ReadParams',
    });
    expect((await client.call('process/start', { processId: 'x' })).error).toMatchObject({ code: -32602 });
    expect((await client.call('environment/info', { junk: 1 })).error).toMatchObject({
      code: -32602,
      message: 'invalid type: map, expected unit',
    });
  });

  // health.rs: remote_environment_fetches_info_from_exec_server; initialize.rs
  it('answers initialize with environmentInfo, and environment/info and /status', async () => {
    const conn = await target.connect();
    const init = await conn.result('initialize', { clientName: 'info' });
    conn.send({ method: 'initialized', params: {} });
    const info = await conn.result('environment/info', {});
    for (const value of [init.environmentInfo, info]) {
      expect(value).toMatchObject({
        shell: { name: expect.any(String), path: expect.stringMatching(/^\//) },
        executorVersion: expect.any(String),
        cwd: expect.stringMatching(/^file:\/\/\//),
        userHomeDir: expect.stringMatching(/^file:\/\/\//),
        platformOs: 'linux',
        temporaryDirectories: expect.any(Array),
        tempDir: expect.stringMatching(/^file:\/\/\//),
      });
      for (const name of [
        'networkProxyLaunch',
        'capabilityDiscoverySandbox',
        'environmentConfigRead',
        'httpHeaderEnvVars',
        'sandboxedFileStreaming',
        'shellSnapshotV2',
      ]) {
        expect(typeof value.capabilities[name], name).toBe('boolean');
      }
    }
    expect(await conn.result('environment/status', {})).toEqual({ status: 'ready' });
    expect(await conn.result('environment/status', null)).toEqual({ status: 'ready' });
  });

  it('ignores blank lines on stdio', async () => {
    if (target.carrier !== 'stdio') return;
    const conn = (await target.connect()) as RawStdioClient;
    conn.send(Buffer.from('\n   \n'));
    expect((await conn.result('initialize', { clientName: 'blank' })).sessionId).toMatch(UUID);
    expect(conn.others).toEqual([]);
  });

  it('ends the server (and its processes) at EOF on stdin', async () => {
    if (target.carrier !== 'stdio') return;
    const conn = (await target.connect()) as RawStdioClient;
    await conn.handshake();
    const id = fresh('eof');
    await conn.result('process/start', startParams(id, ['/bin/sleep', '300']));
    conn.endInput();
    expect(await conn.closed(15_000)).toBe(0);
  });
});

describe.each(targets)('conformance: sessions, $name', (target: Target) => {
  it.runIf(target.carrier === 'ws')(
    'detaches every session on disconnect, resumes it, and refuses one attached elsewhere (-32010)',
    async () => {
      const first = await target.connect();
      const { sessionId } = await first.handshake();
      const id = fresh('sess');
      await first.result(
        'process/start',
        startParams(id, ['/bin/sh', '-c', 'echo one; sleep 0.5; echo two']),
      );
      const second = await target.connect();
      const stolen = await second.call('initialize', { clientName: 'thief', resumeSessionId: sessionId });
      expect(stolen.error).toMatchObject({
        code: -32010,
        message: `session ${sessionId} is already attached to another connection`,
      });
      const unknown = await second.call('initialize', { clientName: 'lost', resumeSessionId: 'nope' });
      expect(unknown.error).toMatchObject({ code: -32600, message: 'unknown session id nope' });
      (first as RawClient).ws.close();
      await first.closed();
      const third = await target.connect();
      expect((await third.handshake({ resumeSessionId: sessionId })).sessionId).toBe(sessionId);
      let output = '';
      let afterSeq: number | null = null;
      for (;;) {
        const read = await third.result('process/read', { processId: id, afterSeq, waitMs: 2000 });
        for (const chunk of read.chunks) output += Buffer.from(chunk.chunk as string, 'base64').toString();
        if (read.closed === true) break;
        afterSeq = read.nextSeq - 1;
      }
      expect(output).toBe('one\ntwo\n');
    },
  );
});

// health.rs: exec_server_connection_token_gates_websocket_only. Each server takes its token its own
// way (ours `--token-file`, the reference `--ws-auth capability-token --ws-token-file`); the
// behaviour on the wire is the same.
describe('conformance: a connection token gates the WebSocket only', () => {
  const token = 'conformance-token-0123456789abcdef';
  const tokens = scratch('token');
  const tokenFile = join(tokens.dir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    tokens.cleanup();
  });

  async function gated(server: 'reference' | 'ours'): Promise<string | null> {
    if (server === 'ours') return (await spawnServe(['--token-file', tokenFile], SERVER_ENV)).url;
    const binary = await reference();
    if (binary === null) return null;
    const child = spawn(
      binary,
      [
        'exec-server',
        '--listen',
        'ws://127.0.0.1:0',
        '--ws-auth',
        'capability-token',
        '--ws-token-file',
        tokenFile,
      ],
      { env: SERVER_ENV, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    children.push(child);
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    return line.toString().trim();
  }

  async function upgrade(url: string, headers: Record<string, string>): Promise<number | 'open'> {
    const ws = new WebSocket(url, { headers });
    ws.on('error', () => undefined);
    const outcome = await new Promise<number | 'open'>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    });
    ws.terminate();
    return outcome;
  }

  it.each(['reference', 'ours'] as const)(
    '%s: readyz is open, the upgrade needs the bearer token',
    async (server) => {
      const url = await gated(server);
      if (url === null) return;
      expect((await fetch(`${url.replace('ws://', 'http://')}/readyz`)).status).toBe(200);
      expect(await upgrade(url, {})).toBe(401);
      expect(await upgrade(url, { authorization: 'Bearer wrong' })).toBe(401);
      expect(await upgrade(url, { authorization: `Bearer ${token}` })).toBe('open');
    },
  );
});
