/**
 * Output throughput over pipes: `head -c N /dev/zero`, one stream and 16 in parallel, every byte
 * delivered to a subscriber that counts it (MB/s = 10^6 bytes/s, start→closed). A short count is
 * reported as lost bytes, not hidden.
 */
import type { ExecBackend, StartOptions } from '../../src/index.js';
import { consumeAll, startOptions } from '../lib/backend.js';
import { now, withTimeout } from '../lib/clock.js';
import { rawSpawnPipe } from '../lib/raw.js';
import {
  alternate,
  roundsOf,
  row,
  type MetricRow,
  type Scenario,
  type ScenarioContext,
} from '../lib/scenario.js';

const MiB = 1 << 20;
const PARALLEL = 16;

function headArgv(bytes: number): string[] {
  return ['head', '-c', String(bytes), '/dev/zero'];
}

export async function rawStreams(count: number, bytesEach: number) {
  let received = 0;
  const started = now();
  const children = Array.from({ length: count }, () =>
    rawSpawnPipe(headArgv(bytesEach), { onData: (chunk) => (received += chunk.byteLength) }),
  );
  await withTimeout(Promise.all(children.map((child) => child.closed)), 300_000, 'raw output streams');
  return measure(started, received, count * bytesEach);
}

export async function runtimeStreams(
  backend: ExecBackend,
  count: number,
  bytesEach: number,
  extra: Partial<StartOptions> = {},
) {
  let received = 0;
  const started = now();
  const processes = await Promise.all(
    Array.from({ length: count }, async () => {
      const process = await backend.start(startOptions(headArgv(bytesEach), extra));
      return { process, delivered: consumeAll(process, (chunk) => (received += chunk.byteLength)) };
    }),
  );
  await withTimeout(
    Promise.all(processes.flatMap(({ process, delivered }) => [process.closed, delivered])),
    300_000,
    'runtime output streams',
  );
  return measure(started, received, count * bytesEach);
}

function measure(started: number, received: number, expected: number) {
  const seconds = (now() - started) / 1000;
  return { mbPerSec: received / 1e6 / seconds, lostBytes: expected - received };
}

export const outputThroughput: Scenario = {
  name: 'output',
  title: 'pipe output throughput (head -c N /dev/zero → counting subscriber)',
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    // One stream at three sizes: a short one pays the start and the first delivery, a long one the
    // steady state. Then 16 at once.
    const singles = context.config.quick ? [16 * MiB, 128 * MiB] : [16 * MiB, 256 * MiB, 1024 * MiB];
    const eachOf16 = context.config.quick ? 16 * MiB : 64 * MiB;
    const instance = await context.backend.create();
    const rows: MetricRow[] = [];
    try {
      for (const single of singles) {
        const one = await alternate(
          context,
          `output 1×${single / MiB} MiB`,
          () => rawStreams(1, single),
          () => runtimeStreams(instance.backend, 1, single),
          // Short streams vary more from round to round: measure more of them.
          single <= 16 * MiB ? context.config.rounds * 3 : context.config.rounds,
        );
        rows.push(
          row({
            scenario: 'output throughput',
            metric: `1 stream × ${single / MiB} MiB`,
            unit: 'MB/s',
            baseline: one.baselineMedian.mbPerSec ?? null,
            execvisor: one.execvisorMedian.mbPerSec ?? null,
            target: { kind: 'ratio-min', value: 0.9, label: '≥ 0.9× raw' },
            note: lostNote(one.execvisor),
            rounds: roundsOf(one, 'mbPerSec'),
          }),
        );
      }
      const many = await alternate(
        context,
        `output ${PARALLEL}×${eachOf16 / MiB} MiB`,
        () => rawStreams(PARALLEL, eachOf16),
        () => runtimeStreams(instance.backend, PARALLEL, eachOf16),
      );
      rows.push(
        row({
          scenario: 'output throughput',
          metric: `${PARALLEL} streams × ${eachOf16 / MiB} MiB (aggregate)`,
          unit: 'MB/s',
          baseline: many.baselineMedian.mbPerSec ?? null,
          execvisor: many.execvisorMedian.mbPerSec ?? null,
          target: { kind: 'ratio-min', value: 0.9, label: '≥ 0.9× raw' },
          note: lostNote(many.execvisor),
          rounds: roundsOf(many, 'mbPerSec'),
        }),
      );
      return rows;
    } finally {
      await instance.dispose();
    }
  },
};

export function lostNote(rounds: readonly Record<string, number>[]): string {
  const lost = rounds.reduce((sum, round) => sum + (round.lostBytes ?? 0), 0);
  return lost === 0 ? 'no bytes lost' : `LOST ${lost} bytes over ${rounds.length} rounds`;
}
