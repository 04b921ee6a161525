/**
 * Terminals. Throughput: a pty child writing N bytes of /dev/zero (a tty translates `\n`, NULs pass
 * unchanged), start→all bytes seen and exit reported. Interactive round trip: a pty running `cat`
 * with echo off; write a numbered line, time until cat's copy of it is observed.
 */
import type { ExecBackend, ExecProcess } from '../../src/index.js';
import { consume, startOptions } from '../lib/backend.js';
import { now, sleep, withTimeout } from '../lib/clock.js';
import { rawSpawnPty } from '../lib/raw.js';
import {
  alternate,
  latencyRows,
  roundsOf,
  row,
  type MetricRow,
  type Scenario,
  type ScenarioContext,
} from '../lib/scenario.js';
import { quantile } from '../lib/stats.js';
import { lostNote } from './output.js';

const MiB = 1 << 20;
/** node-pty may report the exit before the last data; this long is waited for a short count. */
const TAIL_GRACE_MS = 1_000;

function headArgv(bytes: number): string[] {
  return ['head', '-c', String(bytes), '/dev/zero'];
}

async function rawPtyThroughput(bytes: number) {
  let received = 0;
  let last = 0;
  let allIn: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (allIn = resolve));
  const started = now();
  const child = rawSpawnPty(headArgv(bytes), (chunk) => {
    received += chunk.byteLength;
    last = now();
    if (received >= bytes) allIn();
  });
  try {
    await withTimeout(child.exited, 300_000, 'raw pty exit');
    await Promise.race([all, sleep(TAIL_GRACE_MS)]);
  } finally {
    child.kill();
  }
  const end = received >= bytes ? last : now();
  return { mbPerSec: received / 1e6 / ((Math.max(end, last) - started) / 1000), lostBytes: bytes - received };
}

async function runtimePtyThroughput(backend: ExecBackend, bytes: number) {
  let received = 0;
  const started = now();
  const process = await backend.start(startOptions(headArgv(bytes), { tty: true }));
  consume(process, (chunk) => (received += chunk.byteLength));
  await withTimeout(process.closed, 300_000, 'runtime pty closed');
  return { mbPerSec: received / 1e6 / ((now() - started) / 1000), lostBytes: bytes - received };
}

export const ptyThroughput: Scenario = {
  name: 'pty-throughput',
  title: 'pty output throughput (head -c N /dev/zero under a terminal)',
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const bytes = context.config.quick ? 32 * MiB : 256 * MiB;
    const instance = await context.backend.create();
    try {
      const result = await alternate(
        context,
        `pty output ${bytes / MiB} MiB`,
        () => rawPtyThroughput(bytes),
        () => runtimePtyThroughput(instance.backend, bytes),
      );
      return [
        row({
          scenario: 'pty throughput',
          metric: `1 pty × ${bytes / MiB} MiB`,
          unit: 'MB/s',
          baseline: result.baselineMedian.mbPerSec ?? null,
          execvisor: result.execvisorMedian.mbPerSec ?? null,
          target: { kind: 'ratio-min', value: 0.9, label: '≥ 0.9× node-pty' },
          note: `${lostNote(result.execvisor)}; node-pty: ${lostNote(result.baseline)}`,
          rounds: roundsOf(result, 'mbPerSec'),
        }),
        row({
          scenario: 'pty throughput',
          metric: `bytes lost at EOF (sum of ${result.execvisor.length} rounds)`,
          unit: 'B',
          baseline: sum(result.baseline, 'lostBytes'),
          execvisor: sum(result.execvisor, 'lostBytes'),
          target: { kind: 'abs-max', value: 0, label: '= 0' },
          note: 'a tty must deliver every byte before EIO; python pty.fork + os.read loses none here',
        }),
      ];
    } finally {
      await instance.dispose();
    }
  },
};

function sum(rounds: readonly Record<string, number>[], key: string): number {
  return rounds.reduce((total, round) => total + (round[key] ?? 0), 0);
}

/** cat with the terminal's own echo off, so each line comes back once, from the process. */
const CAT_ARGV = ['sh', '-c', 'stty -echo; echo READY; exec cat'];

/** Watches a byte stream for a marker; resolves the waiter when the text so far contains it. */
class MarkerWatch {
  #text = '';
  #marker: string | null = null;
  #resolve: (() => void) | null = null;

  feed(chunk: Uint8Array): void {
    this.#text += Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    if (this.#marker !== null && this.#text.includes(this.#marker)) {
      const resolve = this.#resolve!;
      this.#marker = null;
      this.#resolve = null;
      this.#text = '';
      resolve();
    } else if (this.#text.length > 4096) {
      this.#text = this.#text.slice(-64);
    }
  }

  /** Arms the watch before the write that should produce `marker`. */
  expect(marker: string): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#marker = marker;
      this.#resolve = resolve;
      this.feed(new Uint8Array(0));
    });
  }
}

async function echoLoop(count: number, write: (line: string) => unknown, watch: MarkerWatch, into: number[]) {
  for (let index = 0; index < count; index++) {
    const marker = `<${index}>`;
    const seen = watch.expect(marker);
    const started = now();
    void write(`${marker}\n`);
    await withTimeout(seen, 5_000, `echo of ${marker}`);
    into.push(now() - started);
  }
}

export async function rawEcho(count: number, into: number[]) {
  const watch = new MarkerWatch();
  const child = rawSpawnPty(CAT_ARGV, (chunk) => watch.feed(chunk));
  try {
    await withTimeout(watch.expect('READY'), 5_000, 'raw cat ready');
    await echoLoop(count, (line) => child.write(line), watch, into);
  } finally {
    child.kill();
    await withTimeout(child.exited, 5_000, 'raw cat exit').catch(() => undefined);
  }
  return { p50: quantile(into.slice(-count), 0.5) };
}

export async function runtimeEcho(backend: ExecBackend, count: number, into: number[]) {
  const watch = new MarkerWatch();
  const ready = watch.expect('READY');
  const process: ExecProcess = await backend.start(startOptions(CAT_ARGV, { tty: true }));
  consume(process, (chunk) => watch.feed(chunk));
  try {
    await withTimeout(ready, 5_000, 'runtime cat ready');
    await echoLoop(count, (line) => process.write(line), watch, into);
  } finally {
    await process.terminate();
    await withTimeout(process.closed, 5_000, 'runtime cat closed').catch(() => undefined);
  }
  return { p50: quantile(into.slice(-count), 0.5) };
}

export const ptyEcho: Scenario = {
  name: 'pty-echo',
  title: 'interactive round trip (write a line to cat under a pty, time until it comes back)',
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const perRound = context.config.quick ? 100 : 300;
    const instance = await context.backend.create();
    const samples = { baseline: [] as number[], execvisor: [] as number[] };
    try {
      const result = await alternate(
        context,
        `pty echo (${perRound} round trips/round)`,
        () => rawEcho(perRound, samples.baseline),
        () => runtimeEcho(instance.backend, perRound, samples.execvisor),
      );
      const baseline = samples.baseline.slice(perRound);
      const execvisor = samples.execvisor.slice(perRound);
      return latencyRows({
        scenario: 'pty round trip',
        metrics: ['median', 'p99'],
        baseline,
        execvisor,
        target: { kind: 'delta-max', value: 0.5, label: '≤ raw + 0.5 ms' },
        rounds: roundsOf(result, 'p50'),
      });
    } finally {
      await instance.dispose();
    }
  },
};
