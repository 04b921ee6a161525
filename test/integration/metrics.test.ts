/**
 * `GET /metrics`, scraped and parsed strictly (test/helpers/prometheus.ts): each documented metric
 * moves when what it counts happens. Regression: `execvisor_connections` (gauge) and
 * `execvisor_connections_total` (counter) were one family to OpenMetrics parsers.
 */
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { ExecRuntime } from '../../src/index.js';
import { ExecServerClient } from '../../src/client/index.js';
import { startServer, type ExecServer } from '../../src/server/index.js';
import { parsePrometheusText, sampleValue, type Family } from '../helpers/prometheus.js';
import { commandAvailable, startOrigin } from '../helpers/network-fixtures.js';
import { RawClient } from '../helpers/raw-ws.js';
import { managedNetworkProxy } from '../../src/core/network-options.js';

const CWD = tmpdir();
const ENV = { PATH: '/usr/bin:/bin' };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  options: Parameters<typeof startServer>[0] = {},
): Promise<{ runtime: ExecRuntime; server: ExecServer }> {
  const runtime = await ExecRuntime.create({ workers: 1 });
  cleanups.push(() => runtime.close());
  const server = await startServer({ ...options, runtime });
  cleanups.push(() => server.close());
  return { runtime, server };
}

async function connect(server: ExecServer, resumeSessionId?: string | null): Promise<ExecServerClient> {
  const client = await ExecServerClient.connect(server.url, {
    clientName: 'metrics-test',
    ...(resumeSessionId === undefined ? {} : { resumeSessionId }),
  });
  cleanups.push(() => client.close());
  return client;
}

async function scrape(server: ExecServer): Promise<Map<string, Family>> {
  const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parsePrometheusText(await response.text());
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const found = sampleValue(families, name, labels);
  if (found === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return found;
}

describe('GET /metrics', () => {
  it('parses strictly: no family collides with another, every documented family is typed', async () => {
    const { server } = await setup();
    const families = await scrape(server);
    const expected: Record<string, string> = {
      execvisor_live_processes: 'gauge',
      execvisor_process_starts_total: 'counter',
      execvisor_process_start_failures_total: 'counter',
      execvisor_process_exits_total: 'counter',
      execvisor_output_bytes_total: 'counter',
      execvisor_worker_failures_total: 'counter',
      execvisor_open_connections: 'gauge',
      execvisor_connections_total: 'counter',
      execvisor_sessions_detached: 'gauge',
      execvisor_rpc_errors_total: 'counter',
      execvisor_rpc_request_duration_seconds: 'histogram',
      execvisor_process_start_duration_seconds: 'histogram',
      execvisor_network_decisions_total: 'counter',
      // prom-client's defaults: process and heap.
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_heap_size_used_bytes: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) {
      expect(families.get(name)?.type, name).toBe(type);
      expect(families.get(name)?.help, name).not.toBe('');
    }
  });

  it('the strict parser refuses the old gauge/counter pair as one family', () => {
    const old =
      '# HELP execvisor_connections x\n# TYPE execvisor_connections gauge\nexecvisor_connections 1\n' +
      '# HELP execvisor_connections_total x\n# TYPE execvisor_connections_total counter\nexecvisor_connections_total 1\n';
    expect(() => parsePrometheusText(old)).toThrow(/collide on execvisor_connections/);
  });

  it('process counters and gauges follow starts, failures, output, exits and closes', async () => {
    const { server } = await setup();
    const client = await connect(server);
    const before = await scrape(server);
    expect(value(before, 'execvisor_live_processes')).toBe(0);

    const sleeper = await client.start({ argv: ['sleep', '60'], cwd: CWD, env: ENV });
    const printer = await client.start({ argv: ['printf', '%s', 'x'.repeat(1000)], cwd: CWD, env: ENV });
    await printer.closed;
    await expect(client.start({ argv: ['no-such-program-here'], cwd: CWD, env: ENV })).rejects.toThrow();
    const during = await scrape(server);
    expect(value(during, 'execvisor_live_processes')).toBe(1);
    // Starts count every attempt; failures are the part of them that did not spawn.
    expect(value(during, 'execvisor_process_starts_total')).toBe(3);
    expect(value(during, 'execvisor_process_start_failures_total')).toBe(1);
    expect(value(during, 'execvisor_process_exits_total')).toBe(1);
    expect(value(during, 'execvisor_output_bytes_total')).toBe(1000);

    await sleeper.terminate();
    await sleeper.closed;
    const after = await scrape(server);
    expect(value(after, 'execvisor_live_processes')).toBe(0);
    expect(value(after, 'execvisor_process_exits_total')).toBe(2);
    // Counters never go down between scrapes.
    expect(value(after, 'execvisor_process_starts_total')).toBe(3);
  });

  it.runIf(commandAvailable('curl'))(
    'managed-network decisions by decision and reason: the proxy and http/request under a policy',
    async () => {
      const origin = await startOrigin();
      cleanups.push(() => origin.close());
      const { server } = await setup({ httpNetworkPolicy: { domains: { '127.0.0.1': 'allow' } } });
      const client = await connect(server);
      // Not enforced (no sandbox needed): curl finds the proxy in its environment and is refused.
      const refused = await client.start({
        argv: ['curl', '-sS', '-m', '10', `http://localhost:${origin.port}/`],
        cwd: CWD,
        env: ENV,
        networkProxy: managedNetworkProxy({ '127.0.0.1': 'allow' }, { enableSocks5: false }),
      });
      await refused.closed;
      const raw = await RawClient.open(server.url);
      cleanups.push(() => Promise.resolve(raw.ws.terminate()));
      await raw.handshake();
      const allowed = await raw.call('http/request', {
        method: 'GET',
        url: `http://127.0.0.1:${origin.port}/`,
        requestId: 'metrics',
      });
      expect(allowed.error).toBeUndefined();
      const families = await scrape(server);
      const count = (decision: string, reason: string) =>
        value(families, 'execvisor_network_decisions_total', { decision, reason });
      expect(count('deny', 'not_allowed_local')).toBe(1);
      expect(count('allow', 'allow')).toBe(1);
    },
  );

  it('start latency: one observation per successful start', async () => {
    const { server } = await setup();
    const client = await connect(server);
    for (let i = 0; i < 3; i++) await (await client.start({ argv: ['true'], cwd: CWD, env: ENV })).closed;
    await expect(client.start({ argv: ['no-such-program-here'], cwd: CWD, env: ENV })).rejects.toThrow();
    const families = await scrape(server);
    expect(value(families, 'execvisor_process_start_duration_seconds_count')).toBe(3);
    expect(value(families, 'execvisor_process_start_duration_seconds_sum')).toBeGreaterThan(0);
    expect(value(families, 'execvisor_process_start_duration_seconds_bucket', { le: '+Inf' })).toBe(3);
  });

  it('request latency by method, with unknown methods under one label', async () => {
    const { server } = await setup();
    const raw = await RawClient.open(server.url);
    cleanups.push(() => Promise.resolve(raw.ws.terminate()));
    await raw.handshake();
    await raw.call('process/list', {});
    await raw.call('process/list', {});
    await raw.call('no/such/method-1', {});
    await raw.call('no/such/method-2', {});
    const families = await scrape(server);
    const count = (method: string) =>
      value(families, 'execvisor_rpc_request_duration_seconds_count', { method });
    expect(count('initialize')).toBe(1);
    expect(count('process/list')).toBe(2);
    expect(count('unknown')).toBe(2);
    const methods = new Set(
      families.get('execvisor_rpc_request_duration_seconds')!.samples.map((s) => s.labels.method),
    );
    expect([...methods].sort()).toEqual(['initialize', 'process/list', 'unknown']);
  });

  it('errors by ExecError code and JSON-RPC code', async () => {
    const { server } = await setup();
    const raw = await RawClient.open(server.url);
    cleanups.push(() => Promise.resolve(raw.ws.terminate()));
    await raw.handshake();
    await raw.call('process/read', { processId: 'missing' });
    await raw.call('process/read', { processId: 'missing' });
    await raw.call('process/start', { processId: 'p' });
    const families = await scrape(server);
    expect(
      value(families, 'execvisor_rpc_errors_total', { code: 'EXEC_ERR_UNKNOWN_PROCESS', rpc_code: '-32600' }),
    ).toBe(2);
    expect(
      value(families, 'execvisor_rpc_errors_total', {
        code: 'EXEC_ERR_INVALID_ARGUMENT',
        rpc_code: '-32602',
      }),
    ).toBe(1);
  });

  it('connections: open now, accepted in total; detached sessions while they wait', async () => {
    const { server } = await setup();
    const first = await connect(server, null);
    const second = await connect(server);
    let families = await scrape(server);
    expect(value(families, 'execvisor_open_connections')).toBe(2);
    expect(value(families, 'execvisor_connections_total')).toBe(2);
    expect(value(families, 'execvisor_sessions_detached')).toBe(0);

    const sessionId = first.sessionId!;
    await first.disconnect();
    await second.close();
    // The server notices each close on its own turn: wait for the gauge rather than guess.
    for (;;) {
      families = await scrape(server);
      if (value(families, 'execvisor_open_connections') === 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(value(families, 'execvisor_connections_total')).toBe(2);
    // Every session detaches when its connection goes, as upstream's do (a clean close as well).
    expect(value(families, 'execvisor_sessions_detached')).toBe(2);

    const resumed = await connect(server, sessionId);
    families = await scrape(server);
    expect(value(families, 'execvisor_sessions_detached')).toBe(1);
    expect(value(families, 'execvisor_open_connections')).toBe(1);
    expect(value(families, 'execvisor_connections_total')).toBe(3);
    await resumed.close();
  });

  it('worker failures: a process whose worker thread dies is counted', async () => {
    const { runtime, server } = await setup();
    const session = runtime.session();
    const process = await session.start({ argv: ['sleep', '60'], cwd: CWD, env: ENV });
    await runtime.terminateWorkerOf(process);
    await process.closed;
    const families = await scrape(server);
    expect(value(families, 'execvisor_worker_failures_total')).toBe(1);
    await runtime.workersReady();
  });
});
