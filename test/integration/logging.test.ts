/**
 * Logging as operators and embedders meet it: a pino logger passed as is gets structured fields
 * (regression: the runtime called `(message, fields)`, which pino reads as a format argument and
 * drops, and the server put ids and peers into the message text), and every line `execvisor serve`
 * writes to stderr is one JSON object of one schema, the bind failure included (it was plain text).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/index.js';
import { startServer, type ExecServer } from '../../src/server/index.js';
import { killAllCli, runCli } from '../helpers/cli.js';
import { RawClient } from '../helpers/raw-ws.js';
import { spawnServe, stopAll } from '../helpers/serve.js';

type Line = Record<string, unknown>;

/** Every stderr line parsed as JSON with the common keys; fails on any other line. */
function jsonLines(stderr: string): Line[] {
  return stderr
    .split('\n')
    .filter((text) => text !== '')
    .map((text) => {
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        throw new Error(`not a JSON log line: ${text}`);
      }
      expect(Object.keys(line).slice(0, 3), text).toEqual(['time', 'level', 'msg']);
      expect(['debug', 'info', 'warn', 'error']).toContain(line.level);
      return line;
    });
}

let server: ExecServer | null = null;
let blocker: Server | null = null;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await server?.close();
  server = null;
  if (blocker !== null) await new Promise((resolve) => blocker!.close(resolve));
  blocker = null;
  await killAllCli();
  await stopAll();
});

describe('a pino logger, passed as is', () => {
  it('gets the URL, the peer and the reason as fields, not in the message text', async () => {
    const lines: Line[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const text of chunk.toString('utf8').split('\n'))
          if (text !== '') lines.push(JSON.parse(text) as Line);
        done();
      },
    });
    // No cast: pino's logger type fits the Logger interface.
    const logger: Logger = pino({ level: 'debug' }, sink);
    server = await startServer({ logger });
    const client = await RawClient.open(server.url);
    clients.push(client);
    client.ws.send('not json');
    await client.until(() => client.others.find((message) => message.id === -1), 'the id -1 error');
    const listening = lines.find((line) => line.msg === 'listening');
    expect(listening?.url).toBe(server.url);
    const malformed = lines.find((line) => line.msg === 'ignoring malformed message');
    expect(malformed?.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(typeof malformed?.reason).toBe('string');
    for (const line of lines) expect(line.msg).not.toMatch(/127\.0\.0\.1|ws:\/\//);
  });
});

describe('execvisor serve: every stderr line is JSON', () => {
  it('a bind failure is a JSON error line naming the address and the cause, and exits 1', async () => {
    blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as { port: number };
    const listen = `ws://127.0.0.1:${port}`;
    const result = await runCli(['serve', '--listen', listen]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toBe('');
    const lines = jsonLines(result.stderr);
    const failure = lines.find((line) => line.msg === 'failed to listen');
    expect(failure).toMatchObject({ level: 'error', listen, err: { code: 'EADDRINUSE' } });
  });

  it('a bad command line is a JSON error line too, and exits 2', async () => {
    const result = await runCli(['serve', '--listen', 'ws://localhost:1234']);
    expect(result.code).toBe(2);
    const [line] = jsonLines(result.stderr);
    expect(line).toMatchObject({ level: 'error', msg: 'invalid command line' });
    expect((line!.err as Line).message).toContain('invalid websocket --listen URL `ws://localhost:1234`');
  });

  it('a debug run logs connections, protocol violations and shutdown as JSON with fields', async () => {
    const serve = await spawnServe(['--log-level', 'debug']);
    const client = await RawClient.open(serve.url);
    clients.push(client);
    client.ws.send('not json');
    await client.until(() => client.others.find((message) => message.id === -1), 'the id -1 error');
    client.ws.close();
    await client.closed();
    await stopAll();
    const lines = jsonLines(serve.stderr());
    const messages = lines.map((line) => line.msg);
    expect(messages).toEqual(
      expect.arrayContaining([
        'listening',
        'connection opened',
        'ignoring malformed message',
        'shutting down',
      ]),
    );
    expect(lines.find((line) => line.msg === 'shutting down')?.signal).toBe('SIGTERM');
    expect(lines.find((line) => line.msg === 'connection opened')?.peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});
