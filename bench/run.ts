/**
 * The benchmark suite: every scenario runs its raw baseline and execvisor in the same run,
 * alternating, after a warm-up, over several rounds; the table shows medians and the ratio to the
 * baseline against the targets of docs/benchmarks.md.
 *
 *   npm run bench -- [--quick] [--rounds N] [--only NAME[,NAME]] [--json FILE] [--plot] [--strict]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/run.js --only output --side execvisor
 *
 * Scenario names: spawn-throughput, spawn-latency, spawn-loaded, output, pty-spawn, pty-throughput,
 * pty-echo, scale-pipes, scale-ptys, sandbox, sandbox-proxy, network, the WebSocket variants
 * ws-spawn-throughput, ws-output, ws-pty-echo, pool, the runs against the reference server
 * ref-spawn, ref-output, ref-pty-echo, and spawn-memory (a prefix such as `spawn`, `pty`, `scale`,
 * `ws` or `ref` selects all that start with it).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { backendByName } from './lib/backend.js';
import { cleanupAll, liveTrackedGroups } from './lib/cleanup.js';
import { memorySvg, throughputSvg } from './lib/plot.js';
import { jsonDocument, machineInfo, renderTable } from './lib/report.js';
import type { BenchConfig, MetricRow, Scenario } from './lib/scenario.js';
import { outputThroughput } from './scenarios/output.js';
import { ptyEcho, ptyThroughput } from './scenarios/pty.js';
import { networkProxy } from './scenarios/network.js';
import { poolThroughput } from './scenarios/pool.js';
import { refOutput, refPtyEcho, refSpawn } from './scenarios/reference.js';
import { sandboxOverhead, sandboxProxyOverhead } from './scenarios/sandbox.js';
import { scalePipes, scalePtys } from './scenarios/scale.js';
import { spawnLatency, spawnThroughput } from './scenarios/spawn.js';
import { ptySpawn, spawnLoaded, spawnMemory } from './scenarios/spawn-cost.js';
import { wsOutputThroughput, wsPtyEcho, wsSpawnThroughput } from './scenarios/websocket.js';

const SCENARIOS: readonly Scenario[] = [
  spawnThroughput,
  spawnLatency,
  spawnLoaded,
  outputThroughput,
  ptySpawn,
  ptyThroughput,
  ptyEcho,
  sandboxOverhead,
  sandboxProxyOverhead,
  networkProxy,
  scalePipes,
  scalePtys,
  wsSpawnThroughput,
  wsOutputThroughput,
  wsPtyEcho,
  poolThroughput,
  refSpawn,
  refOutput,
  refPtyEcho,
  // Last: it grows this process by gigabytes, which would slow every fork after it.
  spawnMemory,
];

/** From dist/bench/run.js (or bench/run.ts) up to the repository root. */
const REPO_ROOT = resolve(
  dirname(fileURLToPath(import.meta.url)),
  import.meta.url.endsWith('.ts') ? '..' : '../..',
);
const DEFAULT_PLOT = resolve(REPO_ROOT, 'docs/benchmarks-throughput.svg');
const MEMORY_PLOT = resolve(REPO_ROOT, 'docs/benchmarks-memory.svg');

const USAGE = `usage: node dist/bench/run.js [options]
  --quick            smaller sizes, fewer rounds (about 3 minutes)
  --rounds N         measured rounds per scenario (default 5, quick 3), after one warm-up round each
  --only A[,B]       run these scenarios (names or prefixes): ${SCENARIOS.map((s) => s.name).join(', ')}
  --backend NAME     what to measure against the baseline: in-process (default) or websocket
                     (the ws-* scenarios always use websocket)
  --json FILE        also write the results as JSON
  --plot [--plot-file FILE]  write the spawn-throughput SVG (default docs/benchmarks-throughput.svg)
                     and, after spawn-memory, docs/benchmarks-memory.svg (or --memory-plot-file)
  --strict           exit 1 when a target is missed
  --side S           both (default), baseline or execvisor: run one side only, e.g. under --cpu-prof
  --spawner S        the in-process runtime's spawner: native or node (default: the runtime's default)`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      only: { type: 'string' },
      backend: { type: 'string', default: 'in-process' },
      json: { type: 'string' },
      plot: { type: 'boolean', default: false },
      'plot-file': { type: 'string' },
      'memory-plot-file': { type: 'string' },
      strict: { type: 'boolean', default: false },
      side: { type: 'string', default: 'both' },
      spawner: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const rounds = values.rounds === undefined ? (values.quick ? 3 : 5) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) {
    throw new Error(`--rounds must be an integer from 1 to 100, got ${JSON.stringify(values.rounds)}`);
  }
  const side = values.side;
  if (side !== 'both' && side !== 'baseline' && side !== 'execvisor') {
    throw new Error(`--side must be both, baseline or execvisor, got ${JSON.stringify(side)}`);
  }
  const config: BenchConfig = { quick: values.quick, rounds, side };
  const spawner = values.spawner;
  if (spawner !== undefined && spawner !== 'native' && spawner !== 'node') {
    throw new Error(`--spawner must be native or node, got ${JSON.stringify(spawner)}`);
  }
  const backend = backendByName(values.backend, spawner);
  const selected = select(values.only);

  const machine = machineInfo();
  console.log(
    `execvisor bench — ${values.quick ? 'quick' : 'full'} mode, ${rounds} rounds, backend ${backend.name}; ` +
      `${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, node ${machine.node}`,
  );
  const rows: MetricRow[] = [];
  for (const scenario of selected) {
    const started = performance.now();
    console.log(`\n▶ ${scenario.name}: ${scenario.title}`);
    try {
      rows.push(...(await scenario.run({ config, backend, log: (message) => console.log(`  ${message}`) })));
    } catch (error) {
      console.error(`  ${scenario.name} failed: ${(error as Error).stack ?? String(error)}`);
      rows.push({
        scenario: scenario.name,
        metric: 'error',
        unit: '',
        baseline: null,
        execvisor: null,
        ratio: null,
        target: null,
        status: 'missed',
        note: `failed: ${(error as Error).message}`,
      });
      await cleanupAll();
    }
    console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    if (liveTrackedGroups() > 0) {
      console.error(`  warning: ${liveTrackedGroups()} baseline children still tracked; killing them`);
      await cleanupAll();
    }
  }

  console.log(`\n${renderTable(rows)}`);
  const missed = rows.filter((row) => row.status === 'missed');
  const judged = rows.filter((row) => row.status === 'met' || row.status === 'missed');
  console.log(`\ntargets: ${judged.length - missed.length}/${judged.length} met`);

  if (values.json !== undefined) {
    const file = resolve(values.json);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(
      file,
      `${JSON.stringify(jsonDocument(config, backend.name, rows, process.argv.slice(1)), null, 2)}\n`,
    );
    console.log(`wrote ${file}`);
  }
  if (values.plot) {
    const svg = throughputSvg(
      rows,
      `${machine.cpus} CPUs, node ${machine.node}, ${values.quick ? 'quick' : 'full'} mode, median of ${rounds} rounds`,
    );
    if (svg === null) {
      console.log('no spawn-throughput results to plot (run the spawn-throughput scenario)');
    } else {
      const file = resolve(values['plot-file'] ?? DEFAULT_PLOT);
      writeFileSync(file, svg);
      console.log(`wrote ${file}`);
    }
    const memory = memorySvg(rows, `${machine.cpus} CPUs, node ${machine.node}, Linux, median of each level`);
    if (memory !== null) {
      const file = resolve(values['memory-plot-file'] ?? MEMORY_PLOT);
      writeFileSync(file, memory);
      console.log(`wrote ${file}`);
    }
  }
  return values.strict && missed.length > 0 ? 1 : 0;
}

function select(only: string | undefined): readonly Scenario[] {
  if (only === undefined) return SCENARIOS;
  const wanted = only
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const chosen = SCENARIOS.filter((scenario) =>
    wanted.some((name) => scenario.name === name || scenario.name.startsWith(`${name}-`)),
  );
  const unknown = wanted.filter(
    (name) => !SCENARIOS.some((scenario) => scenario.name === name || scenario.name.startsWith(`${name}-`)),
  );
  if (unknown.length > 0 || chosen.length === 0) {
    throw new Error(
      `unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    );
  }
  return chosen;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up children`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

main().then(
  async (code) => {
    await cleanupAll();
    process.exitCode = code;
  },
  async (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    await cleanupAll();
    process.exitCode = 2;
  },
);
