/**
 * What a load run counts and how it is told: the vocabulary of a run (flags, scenarios, failure
 * codes), the per-operation byte ledger, latency samples, and the summary (text or JSON).
 */
import { errorCodeOf } from '../../errors.js';

export type LoadScenario = 'spawn' | 'stream' | 'interactive' | 'mixed';
export type OperationKind = Exclude<LoadScenario, 'mixed'>;

export interface LoadFlags {
  remote?: string;
  tokenFile?: string;
  scenario: LoadScenario;
  processes: number;
  concurrency: number;
  duration?: number;
  bytes: number;
  lines: number;
  json: boolean;
  spawner?: 'native' | 'node';
}

/** Codes of failures found by the load generator itself (runtime failures keep their EXEC_ERR_ code). */
export const LoadErrorCodes = Object.freeze({
  EXIT_STATUS: 'LOAD_EXIT_STATUS',
  TIMEOUT: 'LOAD_TIMEOUT',
  WRITE: 'LOAD_WRITE_REFUSED',
  EVENTS_FAILED: 'LOAD_EVENTS_FAILED',
  MISMATCH: 'LOAD_BYTES_MISMATCH',
  UNKNOWN: 'LOAD_UNKNOWN',
});

export class LoadFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LoadFailure';
  }
}

/** Latency samples kept per kind; beyond it, a uniform reservoir keeps the quantiles honest. */
const MAX_SAMPLES = 200_000;
/** A bounded sample: all values up to `MAX_SAMPLES`, then a uniform reservoir (Algorithm R). */
class Samples {
  readonly #values: number[] = [];
  #seen = 0;

  add(value: number): void {
    this.#seen += 1;
    if (this.#values.length < MAX_SAMPLES) {
      this.#values.push(value);
      return;
    }
    const slot = Math.floor(Math.random() * this.#seen);
    if (slot < MAX_SAMPLES) this.#values[slot] = value;
  }

  summary(): LatencySummary {
    const sorted = [...this.#values].sort((a, b) => a - b);
    const q = (p: number) =>
      sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
    return {
      count: this.#seen,
      p50: round(q(0.5)),
      p95: round(q(0.95)),
      p99: round(q(0.99)),
      max: round(sorted.at(-1) ?? 0),
    };
  }
}

/**
 * The bytes of one operation. Settled once when the operation ends (also on a timeout): what was
 * expected and neither verified nor wrong is lost; later updates from an abandoned operation are
 * ignored, so nothing is counted twice.
 */
export class Ledger {
  readonly stats: LoadStats;
  #expected = 0;
  #verified = 0;
  #wrong = 0;
  #settled = false;

  constructor(stats: LoadStats) {
    this.stats = stats;
  }

  expect(bytes: number): void {
    if (!this.#settled) this.#expected += bytes;
  }

  verify(bytes: number): void {
    if (this.#settled || bytes === 0) return;
    this.#verified += bytes;
    this.stats.liveVerified += bytes;
  }

  wrong(bytes: number): void {
    if (!this.#settled) this.#wrong += bytes;
  }

  settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    const stats = this.stats;
    stats.bytesExpected += this.#expected;
    stats.bytesVerified += this.#verified;
    stats.bytesCorrupt += this.#wrong;
    stats.bytesLost += Math.max(0, this.#expected - this.#verified - this.#wrong);
  }
}

export class LoadStats {
  started = 0;
  completed = 0;
  failed = 0;
  /** Verified so far, including operations still running (for the progress line). */
  liveVerified = 0;
  bytesExpected = 0;
  bytesVerified = 0;
  bytesLost = 0;
  bytesCorrupt = 0;
  readonly errors = new Map<string, number>();
  readonly firstErrors: string[] = [];
  readonly samples = new Map<OperationKind, Samples>();
  #begin = 0;
  #end: number | null = null;

  begin(): void {
    this.#begin = performance.now();
  }

  end(): void {
    this.#end = performance.now();
  }

  get elapsedMs(): number {
    return (this.#end ?? performance.now()) - this.#begin;
  }

  latency(kind: OperationKind, ms: number): void {
    let samples = this.samples.get(kind);
    if (samples === undefined) this.samples.set(kind, (samples = new Samples()));
    samples.add(ms);
  }

  fail(error: unknown): void {
    this.failed += 1;
    const code = error instanceof LoadFailure ? error.code : (errorCodeOf(error) ?? LoadErrorCodes.UNKNOWN);
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    if (this.firstErrors.length < 5) {
      this.firstErrors.push(`${code}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function summarize(flags: LoadFlags, stats: LoadStats, limit: number | null): LoadSummary {
  const seconds = stats.elapsedMs / 1000;
  const latencyMs: Record<string, LatencySummary> = {};
  for (const kind of ['spawn', 'stream', 'interactive'] as const) {
    const samples = stats.samples.get(kind);
    if (samples !== undefined)
      latencyMs[kind === 'interactive' ? 'interactiveRoundTrip' : kind] = samples.summary();
  }
  return {
    ok: stats.failed === 0 && stats.bytesLost === 0 && stats.bytesCorrupt === 0,
    scenario: flags.scenario,
    backend: flags.remote === undefined ? 'embedded' : 'remote',
    remote: flags.remote ?? null,
    processes: limit,
    concurrency: flags.concurrency,
    durationS: flags.duration ?? null,
    bytesPerStream: flags.bytes,
    linesPerPty: flags.lines,
    elapsedS: round(seconds),
    started: stats.started,
    completed: stats.completed,
    failed: stats.failed,
    startsPerSec: round(seconds > 0 ? stats.started / seconds : 0, 1),
    latencyMs,
    mbPerSec: round(seconds > 0 ? stats.bytesVerified / 1e6 / seconds : 0, 2),
    bytes: {
      expected: stats.bytesExpected,
      verified: stats.bytesVerified,
      lost: stats.bytesLost,
      corrupt: stats.bytesCorrupt,
    },
    errors: Object.fromEntries([...stats.errors].sort((a, b) => b[1] - a[1])),
    firstErrors: stats.firstErrors,
  };
}

const LATENCY_LABELS: Readonly<Record<string, string>> = {
  spawn: 'spawn latency (start→closed)',
  stream: 'stream latency (start→closed)',
  interactiveRoundTrip: 'interactive round trip',
};

export function renderSummary(summary: LoadSummary): string {
  const count = (n: number) => n.toLocaleString('en-US');
  const ms = (n: number) => `${n.toLocaleString('en-US', { maximumFractionDigits: n >= 100 ? 0 : 2 })} ms`;
  const target = summary.backend === 'remote' ? `server ${summary.remote ?? ''}` : 'embedded runtime';
  const rows: [string, string][] = [
    ['elapsed', `${summary.elapsedS.toFixed(2)} s`],
    [
      'processes',
      `${count(summary.started)} started, ${count(summary.completed)} completed, ${count(summary.failed)} failed`,
    ],
    ['starts/s', summary.startsPerSec.toFixed(1)],
  ];
  for (const [key, latency] of Object.entries(summary.latencyMs)) {
    rows.push([
      LATENCY_LABELS[key] ?? key,
      `p50 ${ms(latency.p50)}  p95 ${ms(latency.p95)}  p99 ${ms(latency.p99)}  max ${ms(latency.max)}  (${count(latency.count)})`,
    ]);
  }
  rows.push(
    ['throughput', `${summary.mbPerSec.toFixed(2)} MB/s verified`],
    [
      'bytes',
      `${count(summary.bytes.verified)} verified, ${count(summary.bytes.lost)} lost, ${count(summary.bytes.corrupt)} wrong (of ${count(summary.bytes.expected)})`,
    ],
    [
      'errors',
      Object.keys(summary.errors).length === 0
        ? 'none'
        : Object.entries(summary.errors)
            .map(([code, n]) => `${code} ×${count(n)}`)
            .join(', '),
    ],
    ['result', summary.ok ? 'ok' : 'FAILED'],
  );
  const width = Math.max(...rows.map(([label]) => label.length));
  const title =
    `execvisor load — ${summary.scenario} against the ${target}, ` +
    `${summary.processes === null ? 'unbounded count' : `${count(summary.processes)} processes`} at concurrency ${summary.concurrency}` +
    (summary.durationS === null ? '' : `, for up to ${summary.durationS} s`);
  const lines = [title, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)];
  if (summary.firstErrors.length > 0)
    lines.push('  first errors:', ...summary.firstErrors.map((e) => `    ${e}`));
  return `${lines.join('\n')}\n`;
}

export interface LoadSummary {
  readonly ok: boolean;
  readonly scenario: LoadScenario;
  readonly backend: 'embedded' | 'remote';
  readonly remote: string | null;
  readonly processes: number | null;
  readonly concurrency: number;
  readonly durationS: number | null;
  readonly bytesPerStream: number;
  readonly linesPerPty: number;
  readonly elapsedS: number;
  readonly started: number;
  readonly completed: number;
  readonly failed: number;
  readonly startsPerSec: number;
  /** start→closed of spawn and stream processes; write→echo of interactive lines. */
  readonly latencyMs: Readonly<Record<string, LatencySummary>>;
  readonly mbPerSec: number;
  readonly bytes: {
    readonly expected: number;
    readonly verified: number;
    readonly lost: number;
    readonly corrupt: number;
  };
  readonly errors: Readonly<Record<string, number>>;
  readonly firstErrors: readonly string[];
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}
