/**
 * Spawn throughput (`/bin/true` start→closed at a fixed concurrency, starts/s) and spawn latency
 * (sequential start→closed on an idle runtime, p50/p99 over every sample of every round).
 */
import type { ExecBackend } from '../../src/index.js';
import { startOptions, type BackendFactory } from '../lib/backend.js';
import { now, runPool, withTimeout } from '../lib/clock.js';
import { rawSpawnPipe } from '../lib/raw.js';
import {
  alternate,
  latencyRows,
  roundsOf,
  row,
  type MetricRow,
  type Scenario,
  type ScenarioContext,
  type Target,
} from '../lib/scenario.js';
import { quantile } from '../lib/stats.js';

const TRUE = ['/bin/true'];
const STEP_TIMEOUT_MS = 30_000;

export const CONCURRENCY_LEVELS = [1, 64, 256] as const;

export async function rawTrue(): Promise<void> {
  await withTimeout(rawSpawnPipe(TRUE).closed, STEP_TIMEOUT_MS, 'raw /bin/true');
}

export async function runtimeTrue(backend: ExecBackend): Promise<void> {
  const process = await backend.start(startOptions(TRUE));
  await withTimeout(process.closed, STEP_TIMEOUT_MS, 'runtime /bin/true');
}

export async function startsPerSecond(total: number, concurrency: number, one: () => Promise<void>) {
  const started = now();
  await runPool(total, concurrency, one);
  return { startsPerSec: (total * 1000) / (now() - started) };
}

/** Starts/s at each concurrency level, raw against `factory`'s backend, one row per level. */
export async function spawnThroughputRows(
  context: ScenarioContext,
  factory: BackendFactory,
  labels: { readonly round: string; readonly scenario: string; readonly target64: Target },
): Promise<MetricRow[]> {
  const instance = await factory.create();
  const rows: MetricRow[] = [];
  try {
    for (const concurrency of CONCURRENCY_LEVELS) {
      const total = totalFor(concurrency, context.config.quick);
      const result = await alternate(
        context,
        `${labels.round} c=${concurrency} (${total} starts)`,
        () => startsPerSecond(total, concurrency, rawTrue),
        () => startsPerSecond(total, concurrency, () => runtimeTrue(instance.backend)),
      );
      rows.push(
        row({
          scenario: labels.scenario,
          metric: `concurrency ${concurrency}`,
          unit: 'starts/s',
          baseline: result.baselineMedian.startsPerSec ?? null,
          execvisor: result.execvisorMedian.startsPerSec ?? null,
          target: concurrency === 64 ? labels.target64 : null,
          rounds: roundsOf(result, 'startsPerSec'),
        }),
      );
    }
  } finally {
    await instance.dispose();
  }
  return rows;
}

export const spawnThroughput: Scenario = {
  name: 'spawn-throughput',
  title: 'spawn throughput (/bin/true start→closed)',
  run: (context: ScenarioContext) =>
    spawnThroughputRows(context, context.backend, {
      round: 'spawn',
      scenario: 'spawn throughput',
      target64: { kind: 'ratio-min', value: 1.3, label: '≥ 1.3× raw' },
    }),
};

export function totalFor(concurrency: number, quick: boolean): number {
  if (concurrency === 1) return quick ? 100 : 300;
  return quick ? Math.max(concurrency * 2, 256) : Math.max(concurrency * 8, 1024);
}

export const spawnLatency: Scenario = {
  name: 'spawn-latency',
  title: 'spawn latency on an idle runtime (sequential /bin/true start→closed)',
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const perRound = context.config.quick ? 60 : 200;
    const instance = await context.backend.create();
    const samples = { baseline: [] as number[], execvisor: [] as number[] };
    const sequential = async (one: () => Promise<void>, into: number[]) => {
      for (let index = 0; index < perRound; index++) {
        const started = now();
        await one();
        into.push(now() - started);
      }
      return { p50: quantile(into.slice(-perRound), 0.5) };
    };
    try {
      // The warm-up round of `alternate` also lands in the sample arrays; drop it below.
      const result = await alternate(
        context,
        `spawn latency (${perRound} sequential starts/round)`,
        () => sequential(rawTrue, samples.baseline),
        () => sequential(() => runtimeTrue(instance.backend), samples.execvisor),
      );
      const baseline = samples.baseline.slice(perRound);
      const execvisor = samples.execvisor.slice(perRound);
      return latencyRows({
        scenario: 'spawn latency',
        metrics: ['p50', 'p99'],
        baseline,
        execvisor,
        target: { kind: 'ratio-max', value: 1.3, label: '≤ 1.3× raw' },
        rounds: roundsOf(result, 'p50'),
      });
    } finally {
      await instance.dispose();
    }
  },
};
