/**
 * `http/request` and the managed network: the server's `httpNetworkDecision` is asked about every
 * destination (the first and each redirect), and a `deny` fails the request before any connection.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecRuntime } from '../../src/runtime/exec-runtime.js';
import { prepareHttpRequest, readBody, sendHttpRequest } from '../../src/server/http-request.js';
import { startServer, type ExecServer } from '../../src/server/server.js';
import { RawClient } from '../helpers/raw-ws.js';

let runtime: ExecRuntime;
let server: ExecServer;
let peer: Server;
let port = 0;
const asked: string[] = [];
const hits: string[] = [];

beforeAll(async () => {
  peer = createServer((request, response) => {
    hits.push(request.url ?? '');
    if (request.url === '/redirect') {
      response.writeHead(302, { location: `http://localhost:${port}/final` });
      response.end();
      return;
    }
    response.end('ok');
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  port = (peer.address() as AddressInfo).port;
  runtime = await ExecRuntime.create({ workers: 1 });
  server = await startServer({
    runtime,
    // Loopback by address is allowed; the name `localhost` is not.
    httpNetworkDecision: (host, p) => {
      asked.push(`${host}:${p}`);
      return host === '127.0.0.1' ? 'allow' : 'deny';
    },
  });
});
afterAll(async () => {
  await server.close();
  await runtime.close();
  await new Promise<void>((resolve) => peer.close(() => resolve()));
});

describe('http/request under a managed network decision', () => {
  it('asks about every destination and refuses a denied one before connecting', async () => {
    const client = await RawClient.open(server.url);
    await client.handshake();
    const allowed = await client.result('http/request', {
      method: 'GET',
      url: `http://127.0.0.1:${port}/direct`,
      requestId: 'a',
    });
    expect(Buffer.from(allowed.bodyBase64 as string, 'base64').toString()).toBe('ok');
    const denied = await client.call('http/request', {
      method: 'GET',
      url: `http://127.0.0.1:${port}/redirect`,
      requestId: 'b',
    });
    expect(denied.error).toMatchObject({
      code: -32603,
      message: `http/request failed: the managed network policy denies localhost:${port}`,
    });
    expect(asked).toEqual([`127.0.0.1:${port}`, `127.0.0.1:${port}`, `localhost:${port}`]);
    expect(hits).toEqual(['/direct', '/redirect']);
    client.ws.terminate();
  });
});

describe('http/request under a managed-network policy (httpNetworkPolicy)', () => {
  let policed: ExecServer;
  let client: RawClient;
  beforeAll(async () => {
    policed = await startServer({ runtime, httpNetworkPolicy: { domains: { '127.0.0.1': 'allow' } } });
    client = await RawClient.open(policed.url);
    await client.handshake();
  });
  afterAll(async () => {
    client.ws.terminate();
    await policed.close();
  });
  const request = (url: string, method = 'GET') =>
    client.call('http/request', { method, url, requestId: `r-${Math.random()}` });

  it('decides every destination as the proxy would, redirects included', async () => {
    const allowed = await request(`http://127.0.0.1:${port}/direct`);
    expect(Buffer.from(allowed.result.bodyBase64 as string, 'base64').toString()).toBe('ok');
    // The redirect goes to `localhost`, which is not the listed host: local, so refused.
    const redirected = await request(`http://127.0.0.1:${port}/redirect`);
    expect(redirected.error).toMatchObject({
      code: -32603,
      message: `http/request failed: the managed network policy denies localhost:${port} (not_allowed_local)`,
    });
    const unlisted = await request('http://example.com/');
    expect(unlisted.error?.message).toBe(
      'http/request failed: the managed network policy denies example.com:80 (not_allowed)',
    );
  });

  it('never reaches the server itself, even with its address allowed', async () => {
    const self = await request(`http://127.0.0.1:${policed.port}/readyz`);
    expect(self.error?.message).toBe(
      `http/request failed: the managed network policy denies 127.0.0.1:${policed.port} (not_allowed_local)`,
    );
  });

  it('refuses a bad policy when the server starts', async () => {
    await expect(
      startServer({ runtime, httpNetworkPolicy: { domains: { 'ex*.com': 'allow' } } }),
    ).rejects.toThrow(/invalid network proxy config: domain pattern "ex\*\.com" is not supported/);
    await expect(
      startServer({
        runtime,
        httpNetworkPolicy: { domains: {} },
        httpNetworkDecision: () => 'allow',
      }),
    ).rejects.toThrow('give httpNetworkDecision or httpNetworkPolicy, not both');
  });
});

describe('http/request pinned to the addresses a decision checked', () => {
  it('connects to them, never looking the name up again (no DNS rebinding)', async () => {
    const prepared = prepareHttpRequest(
      {
        method: 'GET',
        url: `http://pinned.invalid:${port}/direct`,
        headers: [],
        body: null,
        timeoutMs: null,
        redirectPolicy: 'follow',
      },
      {},
    );
    const { head, body } = await sendHttpRequest(
      { method: 'GET', url: '', headers: [], body: null, timeoutMs: null, redirectPolicy: 'follow' },
      prepared,
      () => ({ decision: 'allow', addresses: ['127.0.0.1'] }),
      new AbortController().signal,
    );
    expect(head.status).toBe(200);
    expect((await readBody(body, new AbortController().signal)).toString()).toBe('ok');
  });
});
