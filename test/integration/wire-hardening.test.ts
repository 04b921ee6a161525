/**
 * Resource hardening of the transports (issue #10 items 8 and 10), against a real `execvisor serve`:
 * writes of any size up to the message limit, over WebSocket and stdio; half-open connections
 * closed after the handshake timeout; a connection cap refused with a clear status.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RawClient, type RawJsonRpcClient } from '../helpers/raw-ws.js';
import { spawnServe, spawnServeStdio, stopAll } from '../helpers/serve.js';

const MESSAGE_LIMIT = 16 * 1024 * 1024;
const clients: RawJsonRpcClient[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.terminate();
  for (const socket of sockets.splice(0)) socket.destroy();
});
afterAll(() => stopAll());

async function wsClient(url: string): Promise<RawClient> {
  const client = await RawClient.open(url);
  clients.push(client);
  return client;
}

function stdioClient(): RawJsonRpcClient {
  const { client } = spawnServeStdio(['--log-level', 'error', '--workers', '1']);
  clients.push(client);
  return client;
}

/** A request of exactly `total` bytes, padded by an unknown member (the server ignores it). */
function writeFileOfSize(total: number, path: string): { text: string; bytes: number } {
  const bytes = Math.floor((total - 512) / 4) * 3;
  const dataBase64 = Buffer.alloc(bytes, 7).toString('base64');
  const frame = (pad: string) =>
    JSON.stringify({ id: 99, method: 'fs/writeFile', params: { path, dataBase64, sandbox: null, pad } });
  const text = frame('x'.repeat(total - Buffer.byteLength(frame(''))));
  expect(Buffer.byteLength(text)).toBe(total);
  return { text, bytes };
}

describe.each([
  ['WebSocket', async () => wsClient((await spawnServe(['--log-level', 'error'])).url)],
  ['stdio', () => Promise.resolve(stdioClient())],
] as const)('writes of any size up to the message limit, over %s (issue #10 item 8)', (_name, open) => {
  // Before: a base64 check by regular expression overflowed V8's stack from about 4 MiB.
  it('writes 8 MiB to a process stdin', async () => {
    const client = await open();
    await client.handshake();
    await client.result('process/start', {
      processId: 'big',
      argv: ['/bin/sh', '-c', 'wc -c'],
      cwd: tmpdir(),
      env: { PATH: '/usr/bin:/bin' },
      tty: false,
      pipeStdin: true,
    });
    const chunk = Buffer.alloc(8 * 1024 * 1024, 'z').toString('base64');
    expect(await client.result('process/write', { processId: 'big', chunk }, 30_000)).toEqual({
      status: 'accepted',
    });
    await client.result('process/closeStdin', { processId: 'big' });
    await client.until(
      () => (client.outputOf('big').trim() === String(8 * 1024 * 1024) ? true : undefined),
      'wc',
    );
  });

  it('writes a file with a request of exactly the 16 MiB limit', async () => {
    const client = await open();
    await client.handshake();
    const path = join(tmpdir(), `execvisor-limit-${process.pid}-${clients.length}`);
    const { text, bytes } = writeFileOfSize(MESSAGE_LIMIT, path);
    try {
      client.send(text);
      expect(await client.answer(99, 30_000)).toMatchObject({ result: {} });
      expect((await readFile(path)).length).toBe(bytes);
    } finally {
      await rm(path, { force: true });
    }
  });
});

describe('half-open connections and the connection cap (issue #10 item 10)', () => {
  it('drops a TCP connection that never sends its upgrade', async () => {
    const server = await spawnServe(['--handshake-timeout-ms', '300']);
    const answers = ['', ''];
    const closed = [0, 1].map((index) => {
      const socket = tcpConnect(server.port, '127.0.0.1');
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.on('data', (data: Buffer) => (answers[index] += data.toString()));
      // The second one sends the start of an upgrade and never finishes it.
      if (index === 1)
        socket.once('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'));
      return once(socket, 'close');
    });
    // Both are closed by the server (before: they stayed open forever).
    await Promise.all(closed);
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes an upgraded connection that sends no initialize in time (1008), not one that did', async () => {
    const server = await spawnServe(['--handshake-timeout-ms', '500']);
    const polite = await wsClient(server.url);
    await polite.handshake();
    const idle = await wsClient(server.url);
    expect(await idle.closed(5_000)).toBe(1008);
    // `idle` was opened after `polite` initialized, so `polite`'s deadline (had it one) was earlier.
    expect(polite.isOpen).toBe(true);
    expect(await polite.result('environment/status', {})).toEqual({ status: 'ready' });
  });

  it('refuses upgrades beyond --max-connections with 503, and takes one again after a close', async () => {
    const server = await spawnServe(['--max-connections', '2']);
    const first = await wsClient(server.url);
    await wsClient(server.url);
    const refused = new WebSocket(server.url);
    refused.on('error', () => undefined);
    const [, response] = (await once(refused, 'unexpected-response')) as [
      unknown,
      NodeJS.ReadableStream & { statusCode: number },
    ];
    expect(response.statusCode).toBe(503);
    let body = '';
    for await (const chunk of response) body += String(chunk);
    expect(body).toBe('too many connections (limit 2)\n');
    refused.terminate();
    first.ws.close();
    await first.closed();
    // The server counts the close when its own close handler ran: each attempt is a round trip.
    let accepted = false;
    for (let attempt = 0; attempt < 200 && !accepted; attempt++) {
      const again = new WebSocket(server.url);
      again.on('error', () => undefined);
      accepted = await new Promise<boolean>((resolve) => {
        again.once('open', () => resolve(true));
        again.once('unexpected-response', () => resolve(false));
      });
      again.terminate();
    }
    expect(accepted).toBe(true);
  });
});
