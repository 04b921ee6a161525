/** The scenario contract, result rows, targets and the alternating round runner. */
import type { BackendFactory } from './backend.js';
import { median, medianByKey, quantile } from './stats.js';

export interface BenchConfig {
  readonly quick: boolean;
  /** Measured rounds per scenario (after one warm-up round of each side). */
  readonly rounds: number;
  /** Run only one side (for profiling one of them with `node --cpu-prof`); default both. */
  readonly side: 'both' | 'baseline' | 'execvisor';
}

export interface ScenarioContext {
  readonly config: BenchConfig;
  readonly backend: BackendFactory;
  readonly log: (message: string) => void;
}

/**
 * A target on one metric:
 * - `ratio-min`: execvisor/baseline ≥ value (throughputs);
 * - `ratio-max`: execvisor/baseline ≤ value (latencies);
 * - `delta-max`: execvisor − baseline ≤ value (in the metric's unit);
 * - `abs-max`: execvisor ≤ value (absolute, baseline shown for context);
 * - `abs-min`: execvisor ≥ value (absolute, baseline shown for context).
 */
export interface Target {
  readonly kind: 'ratio-min' | 'ratio-max' | 'delta-max' | 'abs-max' | 'abs-min';
  readonly value: number;
  readonly label: string;
}

export type Status = 'met' | 'missed' | 'info' | 'skipped';

export interface MetricRow {
  readonly scenario: string;
  readonly metric: string;
  readonly unit: string;
  readonly baseline: number | null;
  readonly execvisor: number | null;
  /** execvisor / baseline. */
  readonly ratio: number | null;
  readonly target: Target | null;
  readonly status: Status;
  readonly note?: string;
  /** Per-round values (or pooled samples count) for the JSON output. */
  readonly rounds?: { readonly baseline: readonly number[]; readonly execvisor: readonly number[] };
}

export interface Scenario {
  /** Used by `--only`. */
  readonly name: string;
  readonly title: string;
  run(context: ScenarioContext): Promise<MetricRow[]>;
}

export function row(input: {
  scenario: string;
  metric: string;
  unit: string;
  baseline: number | null;
  execvisor: number | null;
  target?: Target | null;
  note?: string;
  rounds?: { baseline: readonly number[]; execvisor: readonly number[] };
}): MetricRow {
  const { baseline, execvisor } = input;
  const ratio =
    baseline !== null && execvisor !== null && baseline !== 0 && Number.isFinite(baseline)
      ? execvisor / baseline
      : null;
  const target = input.target ?? null;
  return {
    scenario: input.scenario,
    metric: input.metric,
    unit: input.unit,
    baseline,
    execvisor,
    ratio,
    target,
    status: target === null ? 'info' : judge(target, baseline, execvisor, ratio),
    ...(input.note === undefined ? {} : { note: input.note }),
    ...(input.rounds === undefined ? {} : { rounds: input.rounds }),
  };
}

/** The median and p99 rows of a latency scenario, from every sample of every measured round. */
export function latencyRows(input: {
  scenario: string;
  metrics: readonly [median: string, p99: string];
  baseline: readonly number[];
  execvisor: readonly number[];
  target: Target;
  rounds: { baseline: readonly number[]; execvisor: readonly number[] };
}): MetricRow[] {
  const note = `${input.baseline.length} samples per side`;
  return [
    row({
      scenario: input.scenario,
      metric: input.metrics[0],
      unit: 'ms',
      baseline: quantile(input.baseline, 0.5),
      execvisor: quantile(input.execvisor, 0.5),
      target: input.target,
      note,
      rounds: input.rounds,
    }),
    row({
      scenario: input.scenario,
      metric: input.metrics[1],
      unit: 'ms',
      baseline: quantile(input.baseline, 0.99),
      execvisor: quantile(input.execvisor, 0.99),
      note,
    }),
  ];
}

export function skipped(scenario: string, metric: string, reason: string, target?: Target): MetricRow {
  return {
    scenario,
    metric,
    unit: '',
    baseline: null,
    execvisor: null,
    ratio: null,
    target: target ?? null,
    status: 'skipped',
    note: `skipped: ${reason}`,
  };
}

function judge(
  target: Target,
  baseline: number | null,
  execvisor: number | null,
  ratio: number | null,
): Status {
  if (execvisor === null || Number.isNaN(execvisor)) return 'missed';
  switch (target.kind) {
    case 'ratio-min':
      return ratio !== null && ratio >= target.value ? 'met' : 'missed';
    case 'ratio-max':
      return ratio !== null && ratio <= target.value ? 'met' : 'missed';
    case 'delta-max':
      return baseline !== null && execvisor - baseline <= target.value ? 'met' : 'missed';
    case 'abs-max':
      return execvisor <= target.value ? 'met' : 'missed';
    case 'abs-min':
      return execvisor >= target.value ? 'met' : 'missed';
  }
}

export type Measure = () => Promise<Record<string, number>>;

export interface AlternatedRounds {
  readonly baseline: Record<string, number>[];
  readonly execvisor: Record<string, number>[];
  readonly baselineMedian: Record<string, number>;
  readonly execvisorMedian: Record<string, number>;
}

/**
 * One warm-up round of each side (discarded), then `rounds` measured rounds, alternating which side
 * goes first (ABBA…) so drift in machine state (page cache, CPU frequency, GC) hits both equally.
 */
export async function alternate(
  context: ScenarioContext,
  label: string,
  baseline: Measure,
  execvisor: Measure,
  rounds = context.config.rounds,
): Promise<AlternatedRounds> {
  const side = context.config.side;
  if (side === 'execvisor') baseline = () => Promise.resolve({});
  if (side === 'baseline') execvisor = () => Promise.resolve({});
  context.log(`${label}: warm-up`);
  await baseline();
  await execvisor();
  const a: Record<string, number>[] = [];
  const b: Record<string, number>[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      a.push(await baseline());
      b.push(await execvisor());
    } else {
      b.push(await execvisor());
      a.push(await baseline());
    }
    context.log(
      `${label}: round ${round + 1}/${rounds} baseline ${show(a.at(-1)!)} | execvisor ${show(b.at(-1)!)}`,
    );
  }
  return { baseline: a, execvisor: b, baselineMedian: medianByKey(a), execvisorMedian: medianByKey(b) };
}

/** Per-round values of one key, for the JSON output. */
export function roundsOf(result: AlternatedRounds, key: string): { baseline: number[]; execvisor: number[] } {
  return {
    baseline: result.baseline.map((round) => round[key] ?? Number.NaN),
    execvisor: result.execvisor.map((round) => round[key] ?? Number.NaN),
  };
}

function show(record: Record<string, number>): string {
  return Object.entries(record)
    .map(([key, value]) => `${key}=${value.toFixed(value >= 100 ? 0 : 3)}`)
    .join(' ');
}

export { median };
