/**
 * Shutdown of a real `execvisor serve` (run `npm run build` first): SIGINT closes every connection
 * with 1001 and kills every process; while it drains, `/readyz` and upgrades answer 503; a shutdown
 * that takes longer than `--shutdown-timeout-ms` kills what is left; a second signal does that at
 * once. A client that stops reading its socket holds the drain (the server waits up to a second
 * for its close handshake), which gives each test a draining server to look at.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, isDead } from '../helpers/process.js';
import { RawClient, refusedUpgradeStatus } from '../helpers/raw-ws.js';
import { spawnServe, stopAll, type ServeProcess } from '../helpers/serve.js';

const clients: RawClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await stopAll();
});

/** A connected client running `sleep 300` (with a terminal when `tty`); returns its pid. */
async function clientWithProcess(
  server: ServeProcess,
  tty = false,
): Promise<{ client: RawClient; pid: number }> {
  const client = await RawClient.open(server.url);
  clients.push(client);
  await client.handshake();
  await client.result('process/start', {
    processId: 'sleeper',
    argv: ['sleep', '300'],
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
    tty,
  });
  const { processes } = await client.result('process/list', { processId: 'sleeper' });
  return { client, pid: (processes as { pid: number }[])[0]!.pid };
}

/** The server's exit code, waiting for it. */
async function exitCode(server: ServeProcess): Promise<number | null> {
  if (server.child.exitCode !== null) return server.child.exitCode;
  const [code] = (await once(server.child, 'exit')) as [number | null];
  return code;
}

async function readyz(server: ServeProcess): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${server.port}/readyz`);
  return { status: response.status, text: await response.text() };
}

describe('execvisor serve shutdown', () => {
  it('SIGINT closes every connection with 1001, kills every process and exits 0', async () => {
    const server = await spawnServe();
    const pipes = await clientWithProcess(server);
    const terminal = await clientWithProcess(server, true);
    const exited = exitCode(server);
    server.child.kill('SIGINT');
    expect(await pipes.client.closed()).toBe(1001);
    expect(await terminal.client.closed()).toBe(1001);
    expect(await exited).toBe(0);
    for (const pid of [pipes.pid, terminal.pid]) await eventually(() => isDead(pid), `pid ${pid} to die`);
  });

  it('answers /readyz and new upgrades with 503 while it drains', async () => {
    const server = await spawnServe();
    expect(await readyz(server)).toEqual({ status: 200, text: 'ok' });
    const { client, pid } = await clientWithProcess(server);
    // The client reads nothing: the server waits for its close handshake, still draining.
    client.ws.pause();
    const exited = exitCode(server);
    server.child.kill('SIGINT');
    // Logged just before the server starts closing, in the same turn.
    await server.logged('shutting down');
    const ready = await readyz(server);
    // Answered (a refused connection would have thrown): the listener is still there, saying no.
    expect(ready).toEqual({ status: 503, text: 'shutting down' });
    expect(await refusedUpgradeStatus(server.url, {})).toBe(503);
    client.ws.resume();
    expect(await client.closed()).toBe(1001);
    expect(await exited).toBe(0);
    await eventually(() => isDead(pid), `pid ${pid} to die`);
  });

  it('kills what is left once shutting down takes longer than --shutdown-timeout-ms', async () => {
    const server = await spawnServe(['--shutdown-timeout-ms', '200']);
    const { client, pid } = await clientWithProcess(server);
    client.ws.pause();
    server.child.kill('SIGINT');
    // It exits while the client still holds the drain: the timeout cut it short.
    expect(await exitCode(server)).toBe(0);
    expect(logLines(server)).toContainEqual(
      expect.objectContaining({
        msg: 'shutdown took too long; killing remaining processes',
        shutdownTimeoutMs: 200,
      }),
    );
    await eventually(() => isDead(pid), `pid ${pid} to die`);
  });

  it('a second signal kills what is left at once', async () => {
    const server = await spawnServe();
    const { client, pid } = await clientWithProcess(server);
    client.ws.pause();
    const exited = exitCode(server);
    server.child.kill('SIGINT');
    await eventually(
      () => logLines(server).some((line) => line.msg === 'shutting down' && line.signal === 'SIGINT'),
      'the shutdown to begin',
    );
    server.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(logLines(server)).toContainEqual(
      expect.objectContaining({
        msg: 'a second signal during shutdown: killing remaining processes',
        signal: 'SIGTERM',
      }),
    );
    expect(logLines(server).map((line) => line.msg)).not.toContain(
      'shutdown took too long; killing remaining processes',
    );
    await eventually(() => isDead(pid), `pid ${pid} to die`);
  });
});

/** The server's stderr as the JSON log lines it is made of. */
function logLines(server: { stderr(): string }): Record<string, unknown>[] {
  return server
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
