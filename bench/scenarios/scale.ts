/**
 * Scale: N concurrent live processes, each printing a numbered line every 100 ms for a while.
 * Measured in the steady state (all started, every process has printed): memory per process
 * (RSS of this whole Node process — the runtime's worker threads included — and main-thread heap,
 * deltas over an idle warmed-up backend, retained output subtracted), the main event loop's lag
 * p99 from all-started to all-closed, and lines lost (counted per `\n`; must be 0).
 *
 * The loop paces itself with bash's `read -t 0.1` on a stdin that never gets data (a pipe, or the
 * terminal) instead of `sleep 0.1`: 1,000 children forking `sleep` ten times a second would be
 * 10,000 forks/s on this 2-core machine, measuring the kernel rather than the runtime.
 */
import { existsSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ExecBackend, ExecProcess } from '../../src/index.js';
import { consume, startOptions } from '../lib/backend.js';
import { runPool, sleep, withTimeout } from '../lib/clock.js';
import { rawSpawnPipe, rawSpawnPty } from '../lib/raw.js';
import { row, type MetricRow, type Scenario, type ScenarioContext } from '../lib/scenario.js';

const KiB = 1024;
const NEWLINE = 10;
const START_CONCURRENCY = 64;
const STEADY_SETTLE_MS = 1_500;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Plan {
  readonly count: number;
  readonly lines: number;
  readonly tty: boolean;
}

interface ScaleResult {
  readonly rssPerProcessKiB: number;
  readonly heapPerProcessKiB: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  readonly linesLost: number;
  readonly retainedKiB: number;
}

const NOT_RUN: ScaleResult = {
  rssPerProcessKiB: Number.NaN,
  heapPerProcessKiB: Number.NaN,
  lagP99Ms: Number.NaN,
  lagMaxMs: Number.NaN,
  linesLost: Number.NaN,
  retainedKiB: Number.NaN,
};

function loopArgv(lines: number): string[] {
  if (existsSync('/bin/bash') || existsSync('/usr/bin/bash')) {
    // --norc: bash reads ~/.bashrc when its stdin is a socket (it guesses sshd), as Node's pipes are.
    return [
      'bash',
      '--norc',
      '--noprofile',
      '-c',
      `for ((i=0;i<${lines};i++)); do echo line$i; read -t 0.1; done`,
    ];
  }
  return ['sh', '-c', `i=0; while [ $i -lt ${lines} ]; do echo line$i; i=$((i+1)); sleep 0.1; done`];
}

function countNewlines(chunk: Uint8Array): number {
  let lines = 0;
  let index = chunk.indexOf(NEWLINE);
  while (index !== -1) {
    lines++;
    index = chunk.indexOf(NEWLINE, index + 1);
  }
  return lines;
}

async function memorySnapshot(): Promise<{ rss: number; heap: number }> {
  // Collect twice with a pause, so pages freed by earlier work are returned before reading RSS.
  gc();
  await sleep(300);
  gc();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed };
}

/**
 * The shared choreography: start every process (bounded concurrency), wait until each printed a
 * line, settle, snapshot memory, then follow the loop lag until all closed.
 */
async function measureScale(
  plan: Plan,
  startOne: (index: number, onLines: (lines: number) => void) => Promise<void>,
  allClosed: () => Promise<unknown>,
  retainedBytes: () => number,
  killAll: () => void,
): Promise<ScaleResult> {
  const perProcess = new Uint32Array(plan.count);
  let totalLines = 0;
  let printed = 0;
  let allPrinted: () => void = () => undefined;
  const everyonePrinted = new Promise<void>((resolve) => (allPrinted = resolve));
  const before = await memorySnapshot();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  const budgetMs = plan.lines * 100 * 3 + 60_000;
  try {
    await runPool(plan.count, START_CONCURRENCY, (index) =>
      startOne(index, (lines) => {
        totalLines += lines;
        if (perProcess[index] === 0 && lines > 0 && ++printed === plan.count) allPrinted();
        perProcess[index]! += lines;
      }),
    );
    lag.enable();
    await withTimeout(everyonePrinted, 60_000, 'every process to print its first line');
    await sleep(STEADY_SETTLE_MS);
    const steady = await memorySnapshot();
    const retained = retainedBytes();
    await withTimeout(allClosed(), budgetMs, `${plan.count} processes to close`);
    lag.disable();
    return {
      rssPerProcessKiB: (steady.rss - before.rss - retained) / plan.count / KiB,
      heapPerProcessKiB: (steady.heap - before.heap - retained) / plan.count / KiB,
      lagP99Ms: lag.percentile(99) / 1e6,
      lagMaxMs: lag.max / 1e6,
      linesLost: plan.count * plan.lines - totalLines,
      retainedKiB: retained / KiB,
    };
  } finally {
    lag.disable();
    killAll();
  }
}

async function rawScale(plan: Plan): Promise<ScaleResult> {
  const argv = loopArgv(plan.lines);
  const closers: Promise<unknown>[] = [];
  const killers: (() => void)[] = [];
  return measureScale(
    plan,
    async (_index, onLines) => {
      if (plan.tty) {
        const child = rawSpawnPty(argv, (chunk) => onLines(countNewlines(chunk)));
        closers.push(child.exited.then(() => sleep(250)));
        killers.push(() => child.kill());
      } else {
        const child = rawSpawnPipe(argv, {
          pipeStdin: true,
          onData: (chunk) => onLines(countNewlines(chunk)),
        });
        closers.push(child.closed);
        killers.push(() => child.kill());
      }
      // spawn is synchronous: yield now and then so the loop can read what is already running.
      if (closers.length % START_CONCURRENCY === 0) await sleep(0);
    },
    () => Promise.all(closers),
    () => 0,
    () => killers.forEach((kill) => kill()),
  );
}

async function runtimeScale(backend: ExecBackend, plan: Plan): Promise<ScaleResult> {
  const argv = loopArgv(plan.lines);
  const processes: ExecProcess[] = [];
  let bytes = 0;
  return measureScale(
    plan,
    async (_index, onLines) => {
      const process = await backend.start(startOptions(argv, plan.tty ? { tty: true } : { pipeStdin: true }));
      processes.push(process);
      consume(process, (chunk) => {
        bytes += chunk.byteLength;
        onLines(countNewlines(chunk));
      });
    },
    () => Promise.all(processes.map((process) => process.closed)),
    // Every line is retained (well under the per-process bound): that is output, not overhead.
    () => bytes,
    () => processes.forEach((process) => void process.terminate().catch(() => false)),
  );
}

function scaleScenario(name: string, tty: boolean): Scenario {
  const kind = tty ? 'ptys' : 'pipe processes';
  return {
    name,
    title: `scale: concurrent live ${kind}, a line every 100 ms`,
    async run(context: ScenarioContext): Promise<MetricRow[]> {
      const quick = context.config.quick;
      const plan: Plan = {
        count: tty ? (quick ? 100 : 500) : quick ? 200 : 1000,
        lines: quick ? 50 : 200,
        tty,
      };
      const label = `${plan.count} ${kind}`;
      const instance = await context.backend.create();
      try {
        // Warm the runtime (threads up, code optimised) before the idle memory snapshot.
        await runPool(16, 8, async () => {
          const warm = await instance.backend.start(startOptions(loopArgv(3), { tty }));
          await withTimeout(warm.closed, 10_000, 'warm-up process');
        });
        // Heavy and slow: one run per side, baseline first (no alternation beyond that).
        context.log(`${label}: baseline (${plan.lines} lines each)`);
        const raw = context.config.side === 'execvisor' ? NOT_RUN : await rawScale(plan);
        context.log(`${label}: baseline ${JSON.stringify(raw)}`);
        await sleep(1_000);
        context.log(`${label}: execvisor`);
        const ours =
          context.config.side === 'baseline' ? NOT_RUN : await runtimeScale(instance.backend, plan);
        context.log(`${label}: execvisor ${JSON.stringify(ours)}`);
        const scenario = `scale (${label})`;
        const full = plan.count >= 1000 && !tty;
        return [
          row({
            scenario,
            metric: 'memory per process (RSS, incl. workers)',
            unit: 'KiB',
            baseline: raw.rssPerProcessKiB,
            execvisor: ours.rssPerProcessKiB,
            target: tty ? null : { kind: 'abs-max', value: 64, label: '≤ 64 KiB' },
            note: `retained output subtracted: ${ours.retainedKiB.toFixed(0)} KiB${full ? '' : '; target is for 1,000'}`,
          }),
          row({
            scenario,
            metric: 'main-thread heap per process',
            unit: 'KiB',
            baseline: raw.heapPerProcessKiB,
            execvisor: ours.heapPerProcessKiB,
          }),
          row({
            scenario,
            metric: 'event-loop lag p99',
            unit: 'ms',
            baseline: raw.lagP99Ms,
            execvisor: ours.lagP99Ms,
            target: tty ? null : { kind: 'abs-max', value: 20, label: '≤ 20 ms' },
            note: `max: baseline ${raw.lagMaxMs.toFixed(1)} ms, execvisor ${ours.lagMaxMs.toFixed(1)} ms`,
          }),
          row({
            scenario,
            metric: 'lines lost',
            unit: '',
            baseline: raw.linesLost,
            execvisor: ours.linesLost,
            target: { kind: 'abs-max', value: 0, label: '= 0' },
            note: `${plan.count} × ${plan.lines} lines expected`,
          }),
        ];
      } finally {
        await instance.dispose();
      }
    },
  };
}

export const scalePipes = scaleScenario('scale-pipes', false);
export const scalePtys = scaleScenario('scale-ptys', true);
