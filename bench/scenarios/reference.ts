/**
 * Against the reference server: the Rust `codex exec-server` of the pinned `@openai/codex`
 * (bench/lib/codex-reference.ts) and `execvisor serve`, both as child processes on loopback, driven
 * by the same client in the same run: one `ExecServerClient` per server speaking the current shape
 * (`file://` cwds, a `writeId` on every write). The baseline column is the reference; the ratio is
 * execvisor ÷ reference, target ≥ 1.2× on every row (latencies: reference ÷ execvisor ≥ 1.2, i.e.
 * execvisor ≤ reference / 1.2).
 *
 * Both servers run as children so both pay the same process boundary; each gets a fresh server per
 * scenario. The reference install (about 100 MB, into a cache folder outside our dependencies)
 * happens on first use; without it the rows are skipped with the reason.
 */
import { startReferenceServer } from '../lib/codex-reference.js';
import { childEnv, clientOf, type BackendFactory, type BackendInstance } from '../lib/backend.js';
import {
  alternate,
  latencyRows,
  roundsOf,
  row,
  skipped,
  type MetricRow,
  type Scenario,
  type ScenarioContext,
  type Target,
} from '../lib/scenario.js';
import { startServeChild } from '../lib/serve-child.js';
import { lostNote, runtimeStreams } from './output.js';
import { runtimeEcho } from './pty.js';
import { runtimeTrue, startsPerSecond, totalFor } from './spawn.js';

const MiB = 1 << 20;
const THROUGHPUT_TARGET: Target = { kind: 'ratio-min', value: 1.2, label: '≥ 1.2× reference' };
const LATENCY_TARGET: Target = { kind: 'ratio-max', value: 1 / 1.2, label: '≤ reference ÷ 1.2' };

/** What both servers run with: the same small environment the children get, plus HOME. */
function serverEnv(): NodeJS.ProcessEnv {
  return { ...childEnv(), HOME: process.env.HOME ?? '/root' };
}

/** Both servers are spoken to in the current shape, as a codex client of today would. */
function connected(url: string, stop: () => Promise<void>): Promise<BackendInstance> {
  return clientOf(url, stop, { protocol: 'current' });
}

/** The reference `codex exec-server --listen ws://127.0.0.1:0`, one client connection. */
export const referenceBackend: BackendFactory = {
  name: 'codex exec-server',
  async create() {
    const server = await startReferenceServer(serverEnv());
    return connected(server.url, () => server.stop());
  },
};

/** `execvisor serve --listen ws://127.0.0.1:0` as a child, one client connection. */
export const serveChildBackend: BackendFactory = {
  name: 'execvisor serve',
  async create() {
    const server = await startServeChild([], serverEnv());
    return connected(server.url, () => server.stop());
  },
};

/** Both servers for one scenario, or a skipped row naming why the reference is unavailable. */
async function withBoth(
  context: ScenarioContext,
  scenario: string,
  body: (reference: BackendInstance, ours: BackendInstance) => Promise<MetricRow[]>,
): Promise<MetricRow[]> {
  let reference: BackendInstance;
  try {
    reference = context.config.side === 'execvisor' ? placeholder() : await referenceBackend.create();
  } catch (error) {
    return [skipped(scenario, 'all', `the reference server is unavailable: ${(error as Error).message}`)];
  }
  try {
    const ours = context.config.side === 'baseline' ? placeholder() : await serveChildBackend.create();
    try {
      return await body(reference, ours);
    } finally {
      await ours.dispose();
    }
  } finally {
    await reference.dispose();
  }
}

/** Stands in for the side `--side` leaves out (`alternate` never calls into it). */
function placeholder(): BackendInstance {
  return { backend: null as never, dispose: () => Promise.resolve() };
}

export const refSpawn: Scenario = {
  name: 'ref-spawn',
  title: 'starts/s against the reference server (/bin/true start→closed over WebSocket, 1 and 32 in flight)',
  run: (context) =>
    withBoth(context, 'reference: spawn throughput', async (reference, ours) => {
      const rows: MetricRow[] = [];
      for (const concurrency of [1, 32]) {
        const total = totalFor(concurrency, context.config.quick);
        const result = await alternate(
          context,
          `ref spawn c=${concurrency} (${total} starts)`,
          () => startsPerSecond(total, concurrency, () => runtimeTrue(reference.backend)),
          () => startsPerSecond(total, concurrency, () => runtimeTrue(ours.backend)),
        );
        rows.push(
          row({
            scenario: 'reference: spawn throughput',
            metric: `${concurrency} in flight`,
            unit: 'starts/s',
            baseline: result.baselineMedian.startsPerSec ?? null,
            execvisor: result.execvisorMedian.startsPerSec ?? null,
            target: THROUGHPUT_TARGET,
            rounds: roundsOf(result, 'startsPerSec'),
          }),
        );
      }
      return rows;
    }),
};

export const refOutput: Scenario = {
  name: 'ref-output',
  title: 'one 128 MiB stream through output notifications against the reference server',
  run: (context) =>
    withBoth(context, 'reference: output throughput', async (reference, ours) => {
      const bytes = 128 * MiB;
      const result = await alternate(
        context,
        `ref output 1×${bytes / MiB} MiB`,
        () => runtimeStreams(reference.backend, 1, bytes),
        () => runtimeStreams(ours.backend, 1, bytes),
      );
      return [
        row({
          scenario: 'reference: output throughput',
          metric: `1 stream × ${bytes / MiB} MiB (delivered)`,
          unit: 'MB/s',
          baseline: result.baselineMedian.mbPerSec ?? null,
          execvisor: result.execvisorMedian.mbPerSec ?? null,
          target: THROUGHPUT_TARGET,
          note: `reference ${lostNote(result.baseline)}; execvisor ${lostNote(result.execvisor)}`,
          rounds: roundsOf(result, 'mbPerSec'),
        }),
      ];
    }),
};

export const refPtyEcho: Scenario = {
  name: 'ref-pty-echo',
  title: 'pty echo round trip against the reference server (a line to cat under tty: true)',
  run: (context) =>
    withBoth(context, 'reference: pty round trip', async (reference, ours) => {
      const perRound = context.config.quick ? 50 : 100;
      const samples = { baseline: [] as number[], execvisor: [] as number[] };
      const result = await alternate(
        context,
        `ref pty echo (${perRound} round trips/round)`,
        () => runtimeEcho(reference.backend, perRound, samples.baseline),
        () => runtimeEcho(ours.backend, perRound, samples.execvisor),
      );
      // The warm-up round also landed in the sample arrays; drop it.
      return latencyRows({
        scenario: 'reference: pty round trip',
        metrics: ['median', 'p99'],
        baseline: samples.baseline.slice(perRound),
        execvisor: samples.execvisor.slice(perRound),
        target: LATENCY_TARGET,
        rounds: roundsOf(result, 'p50'),
      });
    }),
};
