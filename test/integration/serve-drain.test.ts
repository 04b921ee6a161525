/**
 * A real `execvisor serve` as a pod behind a load balancer sees it: `--drain-ms` (SIGTERM drains
 * first: `/readyz` 503, `process/start` refused with EXEC_ERR_DRAINING / -32011, running processes
 * finish, the rest are terminated when the period ends, exit 0), `/readyz` out of capacity, and
 * `--require-sandbox`. The capacity members of `environment/info` [ext] are checked on the way.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { RawClient } from '../helpers/raw-ws.js';
import { spawnServe, stopAll, type ServeProcess } from '../helpers/serve.js';

const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };
const clients: RawClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await stopAll();
});

async function client(server: ServeProcess): Promise<RawClient> {
  const raw = await RawClient.open(server.url);
  clients.push(raw);
  await raw.handshake();
  return raw;
}

async function readyz(server: ServeProcess): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${server.port}/readyz`);
  return { status: response.status, text: await response.text() };
}

function start(raw: RawClient, processId: string, argv: string[]): Promise<Record<string, unknown>> {
  return raw.call('process/start', { processId, argv, cwd: '/', env: ENV, tty: false, pipeStdin: true });
}

async function exitOf(server: ServeProcess): Promise<[number | null, NodeJS.Signals | null]> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) {
    return [server.child.exitCode, server.child.signalCode];
  }
  return (await once(server.child, 'exit')) as [number | null, NodeJS.Signals | null];
}

describe('execvisor serve --drain-ms', () => {
  it('on SIGTERM: /readyz 503 at once, starts refused with -32011, running processes finish, exit 0', async () => {
    const server = await spawnServe(['--drain-ms', '60000']);
    const raw = await client(server);
    expect((await start(raw, 'reader', ['/bin/sh', '-c', 'read line; echo "got $line"'])).result).toEqual({
      processId: 'reader',
      sandboxType: 'none',
    });
    expect(await readyz(server)).toEqual({ status: 200, text: 'ok' });

    const exited = exitOf(server);
    server.child.kill('SIGTERM');
    await server.logged('draining');
    expect(await readyz(server)).toEqual({ status: 503, text: 'draining' });
    // Alive all the same: a liveness probe must not restart a draining server.
    expect((await fetch(`http://127.0.0.1:${server.port}/livez`)).status).toBe(200);
    const refused = await start(raw, 'late', ['/bin/true']);
    expect(refused.error).toEqual({
      code: -32011,
      message:
        'the exec server is draining before it stops and starts no new processes; start it on another server',
      data: { code: 'EXEC_ERR_DRAINING' },
    });
    // A new connection is still taken (a client may come back to watch its processes end).
    const other = await client(server);
    const info = await other.result('environment/info', {});
    expect(info.capacity).toEqual({
      liveProcesses: 1,
      maxProcesses: 4096,
      maxProcessesPerConnection: 1024,
      accepting: false,
    });

    // The running process was left alone: it reads its line and exits 0, seen by its client.
    await raw.result('process/write', {
      processId: 'reader',
      chunk: Buffer.from('fine\n').toString('base64'),
    });
    const closed = await raw.notification(
      (m) => m.method === 'process/closed' && m.params.processId === 'reader',
      'reader closed',
    );
    expect(closed.params).toMatchObject({ processId: 'reader' });
    expect(raw.outputOf('reader')).toBe('got fine\n');
    const exitedNote = raw.messages.find(
      (m) => m.method === 'process/exited' && m.params.processId === 'reader',
    );
    expect(exitedNote?.params.exitCode).toBe(0);
    await server.logged('drained: every process has ended');
    expect(await exited).toEqual([0, null]);
    expect(await raw.closed()).toBe(1001);
  });

  it('terminates what still runs when the drain period ends, then exits 0', async () => {
    const server = await spawnServe(['--drain-ms', '200']);
    const raw = await client(server);
    await start(raw, 'forever', [
      '/bin/sh',
      '-c',
      'trap "exit 7" TERM; echo up; while :; do read -t 1 x; done',
    ]);
    await raw.notification((m) => m.method === 'process/output', 'up');
    const exited = exitOf(server);
    server.child.kill('SIGTERM');
    const note = await raw.notification(
      (m) => m.method === 'process/exited' && m.params.processId === 'forever',
      'forever exited',
    );
    // SIGTERM first: the process ran its own handler.
    expect(note.params.exitCode).toBe(7);
    await server.logged('drain period over; terminating the remaining processes');
    expect(await exited).toEqual([0, null]);
  });

  it('without --drain-ms SIGTERM shuts down at once, as before', async () => {
    const server = await spawnServe();
    const raw = await client(server);
    await start(raw, 'sleeper', ['sleep', '300']);
    const exited = exitOf(server);
    server.child.kill('SIGTERM');
    expect(await raw.closed()).toBe(1001);
    expect(await exited).toEqual([0, null]);
    expect(server.stderr()).not.toContain('"msg":"draining"');
  });
});

describe('GET /readyz', () => {
  it('answers 503 while the server is out of capacity, 200 again once a process ended', async () => {
    const server = await spawnServe(['--max-processes', '2']);
    const raw = await client(server);
    await start(raw, 'a', ['/bin/sh', '-c', 'read x']);
    expect(await readyz(server)).toEqual({ status: 200, text: 'ok' });
    await start(raw, 'b', ['/bin/sh', '-c', 'read x']);
    expect(await readyz(server)).toEqual({
      status: 503,
      text: 'out of capacity: 2 of 2 processes running',
    });
    const info = await raw.result('environment/info', {});
    expect(info.capacity).toMatchObject({ liveProcesses: 2, maxProcesses: 2, accepting: false });
    await raw.result('process/closeStdin', { processId: 'a' });
    await raw.notification((m) => m.method === 'process/closed' && m.params.processId === 'a', 'a closed');
    expect(await readyz(server)).toEqual({ status: 200, text: 'ok' });
  });

  it('--require-sandbox: ready once a sandboxed process ran; never with a sandbox that does not work', async () => {
    if (!bwrapAvailable()) {
      if (process.env.CI === 'true') throw new Error('CI=true: bubblewrap is required');
      console.warn('skipping the working-sandbox half: bubblewrap is not installed');
    } else {
      const good = await spawnServe(['--require-sandbox']);
      await good.logged('sandbox checked: a required sandbox works here');
      expect(await readyz(good)).toEqual({ status: 200, text: 'ok' });
    }
    // A "bwrap" that exits 1 at once: bwrap present, sandbox broken (as in a pod without user namespaces).
    const broken = await spawnServe(['--require-sandbox', '--bwrap', '/bin/false']);
    await broken.logged('the sandbox is required (--require-sandbox) and does not work here: not ready');
    const answer = await readyz(broken);
    expect(answer.status).toBe(503);
    expect(answer.text).toMatch(/^sandbox unavailable: /);
    const raw = await client(broken);
    expect((await raw.result('environment/info', {})).capacity).toMatchObject({ accepting: false });
    // Without the flag the same server is ready: the sandbox is only checked when required.
    const lenient = await spawnServe(['--bwrap', '/bin/false']);
    expect(await readyz(lenient)).toEqual({ status: 200, text: 'ok' });
  });
});
