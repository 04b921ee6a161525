/**
 * The managed-network proxy's cost: the same HTTP request and the same byte stream, straight to a
 * local origin (baseline) and through a process's lease on the runtime's `NetworkProxy`
 * (execvisor: the policy decision, its record, and the extra hop). Both sides use Node's client
 * with a new connection per request, as a proxied tool typically does.
 */
import { request as httpRequest, createServer as createHttpServer } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { NetworkProxy, parseNetworkProxyLaunchConfig } from '../../src/network/index.js';
import { now, withTimeout } from '../lib/clock.js';
import { alternate, latencyRows, roundsOf, row, type MetricRow, type Scenario } from '../lib/scenario.js';
import { quantile } from '../lib/stats.js';
import { managedNetworkProxy } from '../../src/core/network-options.js';

function get(port: number, path: string, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { host } });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Reads `bytes` from a socket that is already connected (through a tunnel or not). */
function drain(socket: Socket, bytes: number, already: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = already;
    socket.on('data', (data: Buffer) => {
      received += data.length;
      if (received >= bytes) resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => (received >= bytes ? resolve() : reject(new Error(`short read ${received}`))));
  });
}

export const networkProxy: Scenario = {
  name: 'network',
  title: 'managed-network proxy: request round trip and tunnel throughput (baseline: direct)',
  async run(context): Promise<MetricRow[]> {
    const requests = context.config.quick ? 100 : 300;
    const streamBytes = (context.config.quick ? 128 : 512) << 20;
    const origin = createHttpServer((_req, res) => res.end('ok\n'));
    const chunk = Buffer.alloc(1 << 20, 0x61);
    const streamer = createNetServer((socket) => {
      socket.on('error', () => undefined);
      let sent = 0;
      const pump = () => {
        while (sent < streamBytes) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => streamer.listen(0, '127.0.0.1', resolve));
    const originPort = (origin.address() as { port: number }).port;
    const streamPort = (streamer.address() as { port: number }).port;
    const proxy = await NetworkProxy.start();
    const lease = proxy.register({
      processId: 'bench',
      config: parseNetworkProxyLaunchConfig(managedNetworkProxy({ '127.0.0.1': 'allow' }))!,
    });
    const proxyPort = await lease.listenLoopback();
    const host = `127.0.0.1:${originPort}`;
    try {
      const samples = { baseline: [] as number[], execvisor: [] as number[] };
      const loop = async (through: boolean, into: number[]) => {
        for (let index = 0; index < requests; index++) {
          const started = now();
          if (through) await get(proxyPort, `http://${host}/r`, host);
          else await get(originPort, '/r', host);
          into.push(now() - started);
        }
        return { p50: quantile(into.slice(-requests), 0.5) };
      };
      await alternate(
        context,
        `network round trip (${requests} sequential requests/round)`,
        () => loop(false, samples.baseline),
        () => loop(true, samples.execvisor),
      );
      const latency = latencyRows({
        scenario: 'proxied HTTP request',
        metrics: ['round trip median', 'round trip p99'],
        baseline: samples.baseline.slice(requests),
        execvisor: samples.execvisor.slice(requests),
        target: { kind: 'delta-max', value: 1, label: '≤ +1 ms' },
        rounds: { baseline: [], execvisor: [] },
      });

      const stream = async (through: boolean) => {
        const socket = connect(through ? proxyPort : streamPort, '127.0.0.1');
        socket.on('error', () => undefined);
        await new Promise((resolve) => socket.once('connect', resolve));
        const started = now();
        let already = 0;
        if (through) {
          socket.write(`CONNECT 127.0.0.1:${streamPort} HTTP/1.1\r\nHost: 127.0.0.1:${streamPort}\r\n\r\n`);
          const head = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
          const end = head.indexOf('\r\n\r\n');
          if (!head.subarray(0, 12).toString().startsWith('HTTP/1.1 200')) throw new Error('tunnel refused');
          already = head.length - end - 4;
        }
        await withTimeout(drain(socket, streamBytes, already), 120_000, 'stream');
        const seconds = (now() - started) / 1000;
        socket.destroy();
        return { mbps: streamBytes / 1e6 / seconds };
      };
      const throughput = await alternate(
        context,
        `network tunnel (${streamBytes >> 20} MiB)`,
        () => stream(false),
        () => stream(true),
      );
      return [
        ...latency,
        row({
          scenario: 'proxied tunnel (CONNECT)',
          metric: 'throughput',
          unit: 'MB/s',
          baseline: throughput.baselineMedian.mbps ?? null,
          execvisor: throughput.execvisorMedian.mbps ?? null,
          note: 'one event loop runs origin, proxy and client: the proxy doubles the JS work per byte',
          rounds: roundsOf(throughput, 'mbps'),
        }),
      ];
    } finally {
      await proxy.close();
      origin.closeAllConnections();
      await new Promise<void>((resolve) => origin.close(() => resolve()));
      await new Promise<void>((resolve) => streamer.close(() => resolve()));
    }
  },
};
