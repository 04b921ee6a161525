/**
 * The WebSocket variants: the same raw baselines as spawn.ts, output.ts and pty.ts, against an
 * `ExecServerClient` connected over loopback to an in-process `startServer` (whatever `--backend`
 * says). Their targets are absolute, what a client of `execvisor serve` on the same host should get:
 * ≥ 500 starts/s at 64 in flight, ≥ 200 MB/s delivered on one stream, echo median ≤ 2 ms.
 */
import { webSocketBackend } from '../lib/backend.js';
import {
  alternate,
  latencyRows,
  roundsOf,
  row,
  type MetricRow,
  type Scenario,
  type ScenarioContext,
} from '../lib/scenario.js';
import { lostNote, rawStreams, runtimeStreams } from './output.js';
import { rawEcho, runtimeEcho } from './pty.js';
import { spawnThroughputRows } from './spawn.js';

const MiB = 1 << 20;
/** Below the default 1 MiB retention, so nothing unacknowledged is ever at risk. */
const FLOW_CONTROL = { highWaterBytes: 1 * MiB, lowWaterBytes: 0.25 * MiB };

export const wsSpawnThroughput: Scenario = {
  name: 'ws-spawn-throughput',
  title: 'spawn throughput over WebSocket (/bin/true start→closed through ExecServerClient)',
  run: (context: ScenarioContext) =>
    spawnThroughputRows(context, webSocketBackend, {
      round: 'ws spawn',
      scenario: 'spawn throughput (WebSocket)',
      target64: { kind: 'abs-min', value: 500, label: '≥ 500 starts/s' },
    }),
};

export const wsOutputThroughput: Scenario = {
  name: 'ws-output',
  title: 'pipe output throughput over WebSocket (head -c N /dev/zero → counting events$ subscriber)',
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const bytes = context.config.quick ? 128 * MiB : 1024 * MiB;
    const instance = await webSocketBackend.create();
    try {
      const result = await alternate(
        context,
        `ws output 1×${bytes / MiB} MiB`,
        () => rawStreams(1, bytes),
        () => runtimeStreams(instance.backend, 1, bytes),
      );
      // What a client that needs every byte does: the actor pauses until process/read catches up.
      const flow = await alternate(
        context,
        `ws output 1×${bytes / MiB} MiB, flowControl`,
        () => rawStreams(1, bytes),
        () => runtimeStreams(instance.backend, 1, bytes, { flowControl: FLOW_CONTROL }),
      );
      return [
        row({
          scenario: 'output throughput (WebSocket)',
          metric: `1 stream × ${bytes / MiB} MiB (delivered)`,
          unit: 'MB/s',
          baseline: result.baselineMedian.mbPerSec ?? null,
          execvisor: result.execvisorMedian.mbPerSec ?? null,
          target: { kind: 'abs-min', value: 200, label: '≥ 200 MB/s' },
          note: `no flow control; ${lostNote(result.execvisor)}`,
          rounds: roundsOf(result, 'mbPerSec'),
        }),
        row({
          scenario: 'output throughput (WebSocket)',
          metric: `1 stream × ${bytes / MiB} MiB, flowControl`,
          unit: 'MB/s',
          baseline: flow.baselineMedian.mbPerSec ?? null,
          execvisor: flow.execvisorMedian.mbPerSec ?? null,
          target: { kind: 'abs-min', value: 200, label: '≥ 200 MB/s' },
          note: `flowControl ${FLOW_CONTROL.highWaterBytes / MiB} MiB / ${FLOW_CONTROL.lowWaterBytes / MiB} MiB; ${lostNote(flow.execvisor)}`,
          rounds: roundsOf(flow, 'mbPerSec'),
        }),
      ];
    } finally {
      await instance.dispose();
    }
  },
};

export const wsPtyEcho: Scenario = {
  name: 'ws-pty-echo',
  title: 'interactive round trip over WebSocket (a line to cat under a pty, until it comes back)',
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const perRound = context.config.quick ? 100 : 300;
    const instance = await webSocketBackend.create();
    const samples = { baseline: [] as number[], execvisor: [] as number[] };
    try {
      const result = await alternate(
        context,
        `ws pty echo (${perRound} round trips/round)`,
        () => rawEcho(perRound, samples.baseline),
        () => runtimeEcho(instance.backend, perRound, samples.execvisor),
      );
      // The warm-up round also landed in the sample arrays; drop it.
      const baseline = samples.baseline.slice(perRound);
      const execvisor = samples.execvisor.slice(perRound);
      return latencyRows({
        scenario: 'pty round trip (WebSocket)',
        metrics: ['median', 'p99'],
        baseline,
        execvisor,
        target: { kind: 'abs-max', value: 2, label: '≤ 2 ms' },
        rounds: roundsOf(result, 'p50'),
      });
    } finally {
      await instance.dispose();
    }
  },
};
