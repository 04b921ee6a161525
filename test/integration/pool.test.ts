/**
 * `ExecServerPool` against several real `execvisor serve` processes: placement, a server killed
 * mid-run, a server drained, servers added and removed through a resolver, a connection lost and
 * resumed. Every wait is for an event (a process's end, a log line, a refresh); no test sleeps.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ExecServerClient, ExecServerPool, type RemoteProcess } from '../../src/client/index.js';
import { ErrorCodes, errorCodeOf } from '../../src/errors.js';
import type { StartOptions } from '../../src/core/types.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.js';
import { spawnServe, stopAll, type ServeProcess } from '../helpers/serve.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };
/** Runs until a line comes on stdin, then exits 0: a process that ends when the test says. */
const UNTIL_LINE: StartOptions = {
  argv: ['/bin/sh', '-c', 'read line; echo "got $line"'],
  cwd: '/',
  env: ENV,
  pipeStdin: true,
};
const TRUE: StartOptions = { argv: ['/bin/true'], cwd: '/', env: ENV };

const pools: ExecServerPool[] = [];
const clients: ExecServerClient[] = [];
const proxies: TcpProxy[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await stopAll();
});

async function servers(count: number, args: string[] = []): Promise<ServeProcess[]> {
  return Promise.all(Array.from({ length: count }, () => spawnServe(['--workers', '1', ...args])));
}

async function connect(options: Parameters<typeof ExecServerPool.connect>[0]): Promise<ExecServerPool> {
  const pool = await ExecServerPool.connect(options);
  pools.push(pool);
  return pool;
}

function countBy(processes: readonly RemoteProcess[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const process of processes) counts.set(process.server, (counts.get(process.server) ?? 0) + 1);
  return counts;
}

/** Error answers with this code the servers gave, in all (their `/metrics`). */
async function errorsAnswered(
  fleet: readonly ServeProcess[],
  code: string,
  rpcCode: number,
): Promise<number> {
  let total = 0;
  for (const server of fleet) {
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    total +=
      sampleValue(parsePrometheusText(text), 'execvisor_rpc_errors_total', {
        code,
        rpc_code: String(rpcCode),
      }) ?? 0;
  }
  return total;
}

/** Ends an UNTIL_LINE process and returns its exit code and output. */
async function finish(process: RemoteProcess, line = 'bye'): Promise<{ exitCode: number; output: string }> {
  let output = '';
  process.events$.subscribe({
    next: (event) => {
      if (event.type === 'output') output += Buffer.from(event.chunk).toString();
    },
    error: () => undefined,
  });
  await process.write(`${line}\n`);
  const exitCode = await process.exited;
  await process.closed;
  return { exitCode, output };
}

describe('ExecServerPool over three servers', () => {
  it('spreads 60 starts evenly: 20 on each server, as the pool and the servers count them', async () => {
    const fleet = await servers(3);
    const pool = await connect({ servers: fleet.map((s) => s.url) });
    expect(pool.servers().map((s) => s.state)).toEqual(['ready', 'ready', 'ready']);

    const processes = await Promise.all(Array.from({ length: 60 }, () => pool.start(UNTIL_LINE)));
    expect([...countBy(processes).entries()].sort()).toEqual(fleet.map((s) => [s.url, 20]).sort());
    expect(pool.servers().map((s) => s.liveProcesses)).toEqual([20, 20, 20]);
    expect(new Set(processes.map((p) => p.processId)).size).toBe(60);
    // Each server reports its own count to the pool with its capacity.
    await pool.refresh();
    for (const server of pool.servers()) {
      expect(server.capacity).toMatchObject({ liveProcesses: 20, maxProcesses: 4096, accepting: true });
    }
    expect(pool.get(processes[0]!.processId)).toBe(processes[0]);

    const results = await Promise.all(processes.map((p) => finish(p)));
    expect(results.every((r) => r.exitCode === 0 && r.output === 'got bye\n')).toBe(true);
    expect(pool.servers().map((s) => s.liveProcesses)).toEqual([0, 0, 0]);
    expect(pool.get(processes[0]!.processId)).toBeUndefined();
  });

  it('a server SIGKILLed mid-run: its processes fail with EXEC_ERR_TRANSPORT, 30 new starts all succeed elsewhere', async () => {
    const fleet = await servers(3);
    const pool = await connect({ servers: fleet.map((s) => s.url) });
    const running = await Promise.all(Array.from({ length: 30 }, () => pool.start(UNTIL_LINE)));
    const victim = fleet[1]!;
    const onVictim = running.filter((p) => p.server === victim.url);
    expect(onVictim).toHaveLength(10);

    victim.child.kill('SIGKILL');
    // Promptly: the connection drops, the reconnection is refused (nobody listens), they fail.
    const outcomes = await Promise.allSettled(onVictim.map((p) => p.exited));
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      expect(errorCodeOf((outcome as PromiseRejectedResult).reason)).toBe(ErrorCodes.TRANSPORT);
      expect(String((outcome as PromiseRejectedResult).reason)).toMatch(/ECONNREFUSED/);
    }
    expect(pool.servers().find((s) => s.url === victim.url)).toMatchObject({
      state: 'down',
      liveProcesses: 0,
    });

    const more = await Promise.all(Array.from({ length: 30 }, () => pool.exec(TRUE)));
    expect(more.every((r) => r.exitCode === 0)).toBe(true);
    const fresh = await Promise.all(Array.from({ length: 30 }, () => pool.start(TRUE)));
    expect(fresh.some((p) => p.server === victim.url)).toBe(false);
    await Promise.all(fresh.map((p) => p.closed));

    // The others' processes never noticed.
    const survivors = running.filter((p) => p.server !== victim.url);
    const results = await Promise.all(survivors.map((p) => finish(p)));
    expect(results.every((r) => r.exitCode === 0)).toBe(true);
  });

  it('a server drained with SIGTERM: its processes end normally, nothing new lands on it, it exits 0', async () => {
    const fleet = await servers(3, ['--drain-ms', '60000']);
    const pool = await connect({ servers: fleet.map((s) => s.url) });
    const running = await Promise.all(Array.from({ length: 9 }, () => pool.start(UNTIL_LINE)));
    const drained = fleet[0]!;
    const onDrained = running.filter((p) => p.server === drained.url);
    expect(onDrained).toHaveLength(3);

    const exit = once(drained.child, 'exit');
    drained.child.kill('SIGTERM');
    await drained.logged('draining');
    const during = await Promise.all(Array.from({ length: 20 }, () => pool.start(TRUE)));
    expect(during.some((p) => p.server === drained.url)).toBe(false);
    expect(pool.servers().find((s) => s.url === drained.url)).toMatchObject({
      state: 'draining',
      reason: 'draining',
      liveProcesses: 3,
    });
    await Promise.all(during.map((p) => p.closed));

    // Its running processes were left alone: they take their input and exit 0.
    const results = await Promise.all(onDrained.map((p) => finish(p, 'late')));
    expect(results).toEqual(onDrained.map(() => ({ exitCode: 0, output: 'got late\n' })));
    expect(await exit).toEqual([0, null]);
    await Promise.all(running.filter((p) => p.server !== drained.url).map((p) => finish(p)));
  });
});

describe('ExecServerPool with a DNS name', () => {
  it('takes servers as the resolver adds them and lets them go as it removes them', async () => {
    // One port on several loopback addresses, as the pods behind a headless Service have.
    const first = await spawnServe(['--workers', '1', '--listen', 'ws://127.0.0.2:0']);
    const second = await spawnServe(['--workers', '1', '--listen', `ws://127.0.0.3:${first.port}`]);
    let addresses = ['127.0.0.2'];
    const lookups: string[] = [];
    const pool = await connect({
      servers: { dns: `fleet.test:${first.port}`, refreshMs: 3_600_000 },
      resolver: (host) => {
        lookups.push(host);
        return Promise.resolve(addresses);
      },
    });
    expect(lookups).toEqual(['fleet.test']);
    expect(pool.servers().map((s) => [s.url, s.state])).toEqual([[first.url, 'ready']]);
    const early = await Promise.all(Array.from({ length: 4 }, () => pool.start(UNTIL_LINE)));
    expect(early.every((p) => p.server === first.url)).toBe(true);

    addresses = ['127.0.0.3', '127.0.0.2'];
    await pool.refresh();
    expect(pool.servers().map((s) => [s.url, s.state])).toEqual([
      [first.url, 'ready'],
      [second.url, 'ready'],
    ]);
    // The new server is the least loaded: the next four go there.
    const later = await Promise.all(Array.from({ length: 4 }, () => pool.start(UNTIL_LINE)));
    expect(later.every((p) => p.server === second.url)).toBe(true);

    addresses = ['127.0.0.3'];
    await pool.refresh();
    // Gone from the name, still holding the pool's processes: kept for them, used for nothing new.
    const starts = await Promise.all(Array.from({ length: 6 }, () => pool.start(TRUE)));
    expect(starts.every((p) => p.server === second.url)).toBe(true);
    // Counted until they have closed: wait, so that the count below is the four still running.
    await Promise.all(starts.map((p) => p.closed));
    expect(pool.servers().map((s) => s.url)).toEqual([first.url, second.url]);
    await Promise.all(early.map((p) => finish(p)));
    expect(pool.servers().map((s) => s.url)).toEqual([second.url]);

    addresses = [];
    await pool.refresh();
    expect(pool.servers().map((s) => [s.url, s.liveProcesses])).toEqual([[second.url, 4]]);
    await expect(pool.start(TRUE)).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT });
    await Promise.all(later.map((p) => finish(p)));
    expect(pool.servers()).toEqual([]);
  });
});

describe('ExecServerPool placement', () => {
  it('fills the least loaded servers first, counting what other clients run there', async () => {
    const fleet = await servers(3);
    // Another client (another pool, another orchestrator) runs 6 processes on the first server.
    const other = await ExecServerClient.connect(fleet[0]!.url);
    clients.push(other);
    const theirs = await Promise.all(Array.from({ length: 6 }, () => other.start(UNTIL_LINE)));
    const pool = await connect({ servers: fleet.map((s) => s.url) });
    expect(pool.servers()[0]!.capacity?.liveProcesses).toBe(6);

    const ours = await Promise.all(Array.from({ length: 12 }, () => pool.start(UNTIL_LINE)));
    // 18 processes in all: 6 on each server, none of ours on the busy one.
    expect([...countBy(ours).entries()].sort()).toEqual(
      [
        [fleet[1]!.url, 6],
        [fleet[2]!.url, 6],
      ].sort(),
    );
    // Then evenly again, the pool's own count kept exact between two reports.
    const more = await Promise.all(Array.from({ length: 3 }, () => pool.start(UNTIL_LINE)));
    expect([...countBy(more).values()]).toEqual([1, 1, 1]);
    await Promise.all([...theirs, ...ours, ...more].map((p) => finish(p)));
  });

  it('keeps processes with one placementKey on one server, and different keys spread', async () => {
    const fleet = await servers(3);
    const pool = await connect({ servers: fleet.map((s) => s.url) });
    const keys = Array.from({ length: 12 }, (_, i) => `agent-${i}`);
    const byKey = new Map<string, Set<string>>();
    for (const key of keys) {
      const processes = await Promise.all(
        Array.from({ length: 3 }, () => pool.start({ ...TRUE, placementKey: key })),
      );
      byKey.set(key, new Set(processes.map((p) => p.server)));
      await Promise.all(processes.map((p) => p.closed));
    }
    expect([...byKey.values()].every((set) => set.size === 1)).toBe(true);
    // With no process left, a key goes back to the same server (rendezvous, not memory).
    const again = await pool.start({ ...TRUE, placementKey: 'agent-0' });
    expect(again.server).toBe([...byKey.get('agent-0')!][0]);
    expect(new Set([...byKey.values()].map((set) => [...set][0])).size).toBeGreaterThan(1);
  });

  it('refuses a second start of one processId, and answers a request error without trying elsewhere', async () => {
    const fleet = await servers(2);
    const pool = await connect({ servers: fleet.map((s) => s.url) });
    const process = await pool.start({ ...UNTIL_LINE, processId: 'one' });
    await expect(pool.start({ ...TRUE, processId: 'one' })).rejects.toMatchObject({
      code: ErrorCodes.DUPLICATE_PROCESS,
    });
    await expect(pool.start({ argv: [], cwd: '/', env: {} })).rejects.toMatchObject({
      code: ErrorCodes.EMPTY_ARGV,
    });
    // A failure another host might not have is tried on every server; the last answer is the error.
    await expect(pool.start({ argv: ['/no/such/program'], cwd: '/', env: {} })).rejects.toMatchObject({
      code: ErrorCodes.SPAWN,
    });
    // As the servers counted the answers: the request error once, the spawn failure on both.
    expect(await errorsAnswered(fleet, ErrorCodes.EMPTY_ARGV, -32602)).toBe(1);
    expect(await errorsAnswered(fleet, ErrorCodes.SPAWN, -32603)).toBe(2);
    await finish(process);
  });
});

describe('ExecServerPool and a lost connection', () => {
  it('resumes the session when the network comes back: the process goes on, output included', async () => {
    const [server] = await servers(1);
    const proxy = await startTcpProxy(server!.port);
    proxies.push(proxy);
    const pool = await connect({ servers: [proxy.url] });
    const process = await pool.start(UNTIL_LINE);
    let output = '';
    process.events$.subscribe({
      next: (event) => {
        if (event.type === 'output') output += Buffer.from(event.chunk).toString();
      },
      error: () => undefined,
    });
    const accepted = proxy.accepted;
    await proxy.cut();
    // Written through the new connection once the session is resumed.
    await process.write('after the cut\n');
    expect(await process.exited).toBe(0);
    await process.closed;
    expect(output).toBe('got after the cut\n');
    expect(proxy.accepted).toBeGreaterThan(accepted);
    await pool.refresh();
    expect(pool.servers()[0]).toMatchObject({ state: 'ready', liveProcesses: 0 });
  });
});
