/**
 * `http/request` and the managed network: the server's `httpNetworkDecision` is asked about every
 * destination (the first and each redirect), and a `deny` fails the request before any connection.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecRuntime } from '../../src/runtime/exec-runtime.js';
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
