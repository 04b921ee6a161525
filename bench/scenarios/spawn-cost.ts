/**
 * What a start costs when the spawning process is not small, and terminal starts:
 *
 * - `spawn-loaded`: /bin/true start→closed at 64 in flight on an idle runtime, then again while 600
 *   live processes each hold 1 MiB of retained output (about 600 MiB in this process, which is what
 *   retention is for). A fork copies the page tables of everything this process maps, so raw
 *   `child_process` slows down with it; the runtime's native spawner does not fork.
 * - `spawn-memory`: start rate against this process's resident memory (+0, 1, 2, 4 GiB of touched
 *   buffers), for raw child_process, node-pty, and the runtime with each spawner (the node spawner
 *   forks from the worker threads, which share this address space).
 * - `pty-spawn`: terminal starts, /bin/true under a new pty, start→exit with node-pty's `spawn`
 *   against start→closed with the runtime.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ExecBackend, ExecProcess } from '../../src/index.js';
import { consumeAll, inProcessBackendWith, startOptions } from '../lib/backend.js';
import { now, runPool, withTimeout } from '../lib/clock.js';
import { rawSpawnPty } from '../lib/raw.js';
import {
  alternate,
  roundsOf,
  row,
  type MetricRow,
  type Scenario,
  type ScenarioContext,
} from '../lib/scenario.js';
import { median } from '../lib/stats.js';
import { rawTrue, runtimeTrue, startsPerSecond } from './spawn.js';

const MiB = 1 << 20;
const GiB = 1024 * MiB;
const IN_FLIGHT = 64;
const STEP_TIMEOUT_MS = 30_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Starts/s of `one` with `concurrency` in flight for about `durationMs` (a slow start is not cut). */
async function rateFor(durationMs: number, concurrency: number, one: () => Promise<void>) {
  let done = 0;
  const started = now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (now() < deadline) {
        await one();
        done++;
      }
    }),
  );
  return { startsPerSec: (done * 1000) / (now() - started) };
}

async function rawPtyTrue(): Promise<void> {
  const child = rawSpawnPty(['/bin/true'], () => undefined);
  await withTimeout(child.exited, STEP_TIMEOUT_MS, 'node-pty /bin/true');
}

async function runtimePtyTrue(backend: ExecBackend): Promise<void> {
  const process = await backend.start(startOptions(['/bin/true'], { tty: true }));
  await withTimeout(process.closed, STEP_TIMEOUT_MS, 'runtime pty /bin/true');
}

export const spawnLoaded: Scenario = {
  name: 'spawn-loaded',
  title: 'spawn throughput with 600 live processes holding 1 MiB of output each',
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const holders = context.config.quick ? 200 : 600;
    const total = context.config.quick ? 512 : 1024;
    const instance = await context.backend.create();
    const held: ExecProcess[] = [];
    try {
      const idle = await alternate(
        context,
        `spawn c=${IN_FLIGHT}, idle (${total} starts)`,
        () => startsPerSecond(total, IN_FLIGHT, rawTrue),
        () => startsPerSecond(total, IN_FLIGHT, () => runtimeTrue(instance.backend)),
      );
      context.log(`starting ${holders} processes that print 1 MiB each and stay`);
      const holderArgv = ['sh', '-c', 'head -c 1048576 /dev/zero; exec sleep 100000'];
      await runPool(holders, IN_FLIGHT, async () => {
        const process = await instance.backend.start(startOptions(holderArgv));
        held.push(process);
        let bytes = 0;
        await withTimeout(
          new Promise<void>((resolve) => {
            void consumeAll(process, () => undefined);
            const subscription = process.events$.subscribe((event) => {
              if (event.type !== 'output') return;
              bytes += event.chunk.byteLength;
              if (bytes >= MiB) {
                resolve();
                queueMicrotask(() => subscription.unsubscribe());
              }
            });
          }),
          STEP_TIMEOUT_MS,
          'a holder to print its 1 MiB',
        );
      });
      const rssMiB = process.memoryUsage().rss / MiB;
      context.log(`${holders} holders live; this process's RSS is ${rssMiB.toFixed(0)} MiB`);
      const loaded = await alternate(
        context,
        `spawn c=${IN_FLIGHT}, ${holders} live × 1 MiB (${total} starts)`,
        () => startsPerSecond(total, IN_FLIGHT, rawTrue),
        () => startsPerSecond(total, IN_FLIGHT, () => runtimeTrue(instance.backend)),
      );
      const idleRuntime = idle.execvisorMedian.startsPerSec ?? null;
      return [
        row({
          scenario: 'spawn, loaded',
          metric: `c=${IN_FLIGHT}, idle runtime`,
          unit: 'starts/s',
          baseline: idle.baselineMedian.startsPerSec ?? null,
          execvisor: idleRuntime,
          target: { kind: 'ratio-min', value: 1.3, label: '≥ 1.3× raw' },
          rounds: roundsOf(idle, 'startsPerSec'),
        }),
        row({
          scenario: 'spawn, loaded',
          metric: `c=${IN_FLIGHT}, ${holders} live × 1 MiB (RSS ${rssMiB.toFixed(0)} MiB)`,
          unit: 'starts/s',
          baseline: loaded.baselineMedian.startsPerSec ?? null,
          execvisor: loaded.execvisorMedian.startsPerSec ?? null,
          rounds: roundsOf(loaded, 'startsPerSec'),
        }),
        row({
          scenario: 'spawn, loaded',
          metric: `runtime: ${holders} live ÷ idle`,
          unit: 'starts/s',
          baseline: idleRuntime,
          execvisor: loaded.execvisorMedian.startsPerSec ?? null,
          target: { kind: 'ratio-min', value: 0.7, label: '≥ 0.7× idle' },
          note: `baseline column: the runtime idle; raw fell to ${ratioText(
            loaded.baselineMedian.startsPerSec,
            idle.baselineMedian.startsPerSec,
          )} of its idle rate`,
        }),
      ];
    } finally {
      await Promise.all(held.map((process) => process.terminate().catch(() => false)));
      await instance.dispose();
    }
  },
};

function ratioText(part: number | undefined, whole: number | undefined): string {
  if (part === undefined || whole === undefined || whole === 0) return 'n/a';
  return `${(part / whole).toFixed(2)}×`;
}

export const ptySpawn: Scenario = {
  name: 'pty-spawn',
  title: 'terminal starts (/bin/true under a new pty: node-pty spawn→exit, runtime start→closed)',
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const total = context.config.quick ? 256 : 1024;
    const concurrency = 16;
    const instance = await context.backend.create();
    try {
      const result = await alternate(
        context,
        `pty spawn c=${concurrency} (${total} starts)`,
        () => startsPerSecond(total, concurrency, rawPtyTrue),
        () => startsPerSecond(total, concurrency, () => runtimePtyTrue(instance.backend)),
      );
      return [
        row({
          scenario: 'pty spawn',
          metric: `concurrency ${concurrency}`,
          unit: 'starts/s',
          baseline: result.baselineMedian.startsPerSec ?? null,
          execvisor: result.execvisorMedian.startsPerSec ?? null,
          target: { kind: 'ratio-min', value: 1.2, label: '≥ 1.2× node-pty' },
          rounds: roundsOf(result, 'startsPerSec'),
        }),
      ];
    } finally {
      await instance.dispose();
    }
  },
};

/** The series of the memory table and plot (`metric` of each row is `<level> · <series>`). */
export const MEMORY_SERIES = [
  'raw child_process',
  'node-pty',
  'runtime, native spawner',
  'runtime, node spawner',
] as const;

export const spawnMemory: Scenario = {
  name: 'spawn-memory',
  title: "start rate against this process's resident memory (+0, 1, 2, 4 GiB)",
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const levels = context.config.quick ? [0, 1] : [0, 1, 2, 4];
    const durationMs = context.config.quick ? 750 : 1_500;
    const rounds = Math.min(context.config.rounds, 3);
    const native = await inProcessBackendWith({ spawner: 'native' }).create();
    const node = await inProcessBackendWith({ spawner: 'node' }).create();
    const series: Record<(typeof MEMORY_SERIES)[number], () => Promise<{ startsPerSec: number }>> = {
      'raw child_process': () => rateFor(durationMs, IN_FLIGHT, rawTrue),
      'node-pty': () => rateFor(durationMs, IN_FLIGHT, rawPtyTrue),
      'runtime, native spawner': () => rateFor(durationMs, IN_FLIGHT, () => runtimeTrue(native.backend)),
      'runtime, node spawner': () => rateFor(durationMs, IN_FLIGHT, () => runtimeTrue(node.backend)),
    };
    const ballast: Buffer[] = [];
    const rows: MetricRow[] = [];
    try {
      for (const name of MEMORY_SERIES) await series[name](); // warm-up
      for (const level of levels) {
        while (ballast.length < level) {
          // Touched, so it is resident (and every page is in the page tables a fork copies).
          ballast.push(Buffer.allocUnsafeSlow(GiB).fill(ballast.length + 1));
        }
        const rssGiB = process.memoryUsage().rss / GiB;
        const samples = new Map<string, number[]>(MEMORY_SERIES.map((name) => [name, []]));
        for (let round = 0; round < rounds; round++) {
          // A different series goes first each round.
          for (let index = 0; index < MEMORY_SERIES.length; index++) {
            const name = MEMORY_SERIES[(index + round) % MEMORY_SERIES.length]!;
            samples.get(name)!.push((await series[name]()).startsPerSec);
          }
        }
        const medians = MEMORY_SERIES.map((name) => median(samples.get(name)!));
        context.log(
          `+${level} GiB (RSS ${rssGiB.toFixed(2)} GiB): ` +
            MEMORY_SERIES.map((name, index) => `${name} ${medians[index]!.toFixed(0)}/s`).join(', '),
        );
        const raw = medians[0]!;
        MEMORY_SERIES.forEach((name, index) => {
          rows.push(
            row({
              scenario: 'spawn vs memory',
              metric: `+${level} GiB · ${name}`,
              unit: 'starts/s',
              // The ratio column compares every series with raw child_process at the same level.
              baseline: index === 0 ? null : raw,
              execvisor: medians[index]!,
              note: `RSS ${rssGiB.toFixed(2)} GiB, c=${IN_FLIGHT}, median of ${rounds} × ${durationMs} ms`,
              rounds: { baseline: [], execvisor: samples.get(name)! },
            }),
          );
        });
      }
      return rows;
    } finally {
      ballast.length = 0;
      await native.dispose();
      await node.dispose();
      gc();
    }
  },
};
