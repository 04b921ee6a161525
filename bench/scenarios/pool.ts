/**
 * A fleet on one machine: `/bin/true` start→closed through an `ExecServerPool` over 1, 2 and 4
 * `execvisor serve` processes on loopback, at 64 in flight.
 *
 * - **Pool overhead**: a pool of one server against one `ExecServerClient` to that same server
 *   (what placement, accounting and the health checks cost per start).
 * - **Scaling**: pools of 2 and 4 servers against the pool of 1. Every server is a process of its
 *   own with its own worker threads, but they share this machine's cores: the gain is bounded by
 *   the cores (on 2 cores, by about 2×, less the clients' own work), not by the pool.
 * - **Against raw Node**: the pool of 4 against `child_process.spawn('/bin/true')` in the bench's
 *   own loop (the spawn-throughput baseline), for context.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecServerClient, ExecServerPool } from '../../src/client/index.js';
import type { ExecBackend } from '../../src/index.js';
import { startOptions } from '../lib/backend.js';
import { killGroup, trackGroup } from '../lib/cleanup.js';
import { now, runPool, withTimeout } from '../lib/clock.js';
import {
  alternate,
  roundsOf,
  row,
  type MetricRow,
  type Scenario,
  type ScenarioContext,
} from '../lib/scenario.js';
import { rawTrue } from './spawn.js';

const CONCURRENCY = 64;
const SERVER_COUNTS = [1, 2, 4] as const;
const STEP_TIMEOUT_MS = 30_000;
/** From dist/bench/scenarios/pool.js (or the .ts source) to the built CLI. */
const CLI = resolve(
  dirname(fileURLToPath(import.meta.url)),
  import.meta.url.endsWith('.ts') ? '../../dist/src/cli/main.js' : '../../src/cli/main.js',
);

interface Server {
  readonly url: string;
  stop(): Promise<void>;
}

/** `execvisor serve` on 127.0.0.1:0, in a process group of its own (killed whatever happens). */
async function startServer(): Promise<Server> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  const untrack = trackGroup(child.pid!);
  const [line] = (await withTimeout(once(child.stdout!, 'data'), STEP_TIMEOUT_MS, 'serve to listen')) as [
    Buffer,
  ];
  child.stdout!.resume();
  return {
    url: line.toString().trim(),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await withTimeout(exited, STEP_TIMEOUT_MS, 'serve to stop').catch(() => killGroup(child.pid!));
      }
      untrack();
    },
  };
}

async function startsPerSecond(backend: ExecBackend, total: number): Promise<{ startsPerSec: number }> {
  const started = now();
  await runPool(total, CONCURRENCY, async () => {
    const process = await backend.start(startOptions(['/bin/true']));
    await withTimeout(process.closed, STEP_TIMEOUT_MS, '/bin/true through the pool');
  });
  return { startsPerSec: (total * 1000) / (now() - started) };
}

async function rawStartsPerSecond(total: number): Promise<{ startsPerSec: number }> {
  const started = now();
  await runPool(total, CONCURRENCY, rawTrue);
  return { startsPerSec: (total * 1000) / (now() - started) };
}

export const poolThroughput: Scenario = {
  name: 'pool',
  title: `spawn throughput through ExecServerPool over 1, 2, 4 local servers (/bin/true, ${CONCURRENCY} in flight)`,
  async run(context: ScenarioContext): Promise<MetricRow[]> {
    const total = context.config.quick ? 512 : 2048;
    const servers: Server[] = [];
    const closers: (() => Promise<void>)[] = [];
    try {
      for (let i = 0; i < Math.max(...SERVER_COUNTS); i++) servers.push(await startServer());
      const single = await ExecServerClient.connect(servers[0]!.url, { clientName: 'execvisor-bench' });
      closers.push(() => single.close());
      const pools = new Map<number, ExecServerPool>();
      for (const count of SERVER_COUNTS) {
        const pool = await ExecServerPool.connect({
          servers: servers.slice(0, count).map((s) => s.url),
          clientName: 'execvisor-bench',
        });
        closers.push(() => pool.close());
        pools.set(count, pool);
      }
      const measure = (backend: ExecBackend) => () => startsPerSecond(backend, total);
      const rows: MetricRow[] = [];
      const overhead = await alternate(
        context,
        `pool of 1 vs one client (${total} starts)`,
        measure(single),
        measure(pools.get(1)!),
      );
      rows.push(
        row({
          scenario: 'pool spawn throughput',
          metric: 'pool of 1 server vs one client',
          unit: 'starts/s',
          baseline: overhead.baselineMedian.startsPerSec ?? null,
          execvisor: overhead.execvisorMedian.startsPerSec ?? null,
          target: { kind: 'ratio-min', value: 0.9, label: '≥ 0.9× one client' },
          note: 'the pool’s own cost per start (placement, accounting, health checks)',
          rounds: roundsOf(overhead, 'startsPerSec'),
        }),
      );
      for (const count of SERVER_COUNTS.filter((n) => n > 1)) {
        const scaled = await alternate(
          context,
          `pool of ${count} vs pool of 1 (${total} starts)`,
          measure(pools.get(1)!),
          measure(pools.get(count)!),
        );
        rows.push(
          row({
            scenario: 'pool spawn throughput',
            metric: `pool of ${count} servers vs pool of 1`,
            unit: 'starts/s',
            baseline: scaled.baselineMedian.startsPerSec ?? null,
            execvisor: scaled.execvisorMedian.startsPerSec ?? null,
            note: 'all servers share this machine’s cores: bounded by the cores, not the pool',
            rounds: roundsOf(scaled, 'startsPerSec'),
          }),
        );
      }
      const raw = await alternate(
        context,
        `pool of 4 vs raw spawn (${total} starts)`,
        () => rawStartsPerSecond(total),
        measure(pools.get(4)!),
      );
      rows.push(
        row({
          scenario: 'pool spawn throughput',
          metric: 'pool of 4 servers vs raw spawn',
          unit: 'starts/s',
          baseline: raw.baselineMedian.startsPerSec ?? null,
          execvisor: raw.execvisorMedian.startsPerSec ?? null,
          note: 'raw: child_process.spawn in the bench’s own loop',
          rounds: roundsOf(raw, 'startsPerSec'),
        }),
      );
      return rows;
    } finally {
      await Promise.allSettled(closers.map((close) => close()));
      await Promise.allSettled(servers.map((server) => server.stop()));
    }
  },
};
