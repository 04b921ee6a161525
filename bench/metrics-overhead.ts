/**
 * What the prom-client metrics cost a request, in one run: the time `ServerMetrics.timeRequest`
 * adds to each request (a histogram observation by method), next to two hrtime reads (the least any
 * timing costs) and next to a whole `process/list` round trip over a loopback WebSocket; and the
 * time one `/metrics` scrape takes to render.
 *
 *   npm run build && node dist/bench/metrics-overhead.js
 */
import { ExecRuntime } from '../src/runtime/exec-runtime.js';
import { ExecServerClient } from '../src/client/index.js';
import { ServerMetrics } from '../src/server/metrics.js';
import { startServer } from '../src/server/server.js';

const CALLS = 1_000_000;
const ROUND_TRIPS = 5_000;

function nsPerCall(body: () => void, calls: number): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) body();
  return Number(process.hrtime.bigint() - started) / calls;
}

const stats = () => ({
  liveProcesses: 0,
  startsTotal: 0,
  exitsTotal: 0,
  outputBytesTotal: 0,
  startFailuresTotal: 0,
});
const metrics = new ServerMetrics(stats);
let sink = 0n;
// Warm both loops before measuring.
nsPerCall(() => metrics.timeRequest('process/list')(true), CALLS / 10);
nsPerCall(() => (sink += process.hrtime.bigint() - process.hrtime.bigint()), CALLS / 10);
const timed = nsPerCall(() => metrics.timeRequest('process/list')(true), CALLS);
const hrtimeOnly = nsPerCall(() => (sink += process.hrtime.bigint() - process.hrtime.bigint()), CALLS);

const runtime = await ExecRuntime.create({ workers: 1 });
const server = await startServer({ runtime });
const client = await ExecServerClient.connect(server.url);
for (let i = 0; i < 500; i++) await client.list();
const started = process.hrtime.bigint();
for (let i = 0; i < ROUND_TRIPS; i++) await client.list();
const roundTripNs = Number(process.hrtime.bigint() - started) / ROUND_TRIPS;
const response = await fetch(`${server.url.replace('ws:', 'http:')}/metrics`);
await response.text();
const scrapeStarted = process.hrtime.bigint();
for (let i = 0; i < 20; i++) await (await fetch(`${server.url.replace('ws:', 'http:')}/metrics`)).text();
const scrapeMs = Number(process.hrtime.bigint() - scrapeStarted) / 20 / 1e6;
await client.close();
await server.close();
await runtime.close();

const report = {
  timeRequestNs: Math.round(timed),
  twoHrtimeReadsNs: Math.round(hrtimeOnly),
  listRoundTripNs: Math.round(roundTripNs),
  metricsShareOfRoundTrip: Number((timed / roundTripNs).toFixed(4)),
  scrapeMs: Number(scrapeMs.toFixed(2)),
  ignore: sink === 0n ? 0 : 1,
};
console.log(JSON.stringify(report, null, 2));
