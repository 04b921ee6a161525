/**
 * The server's metrics and the text of `GET /metrics`, with prom-client: a registry per server
 * (tests and embedders run several in one process) plus one process-wide registry with prom-client's
 * default process, heap, GC and event-loop metrics. Process counts come from the runtime's own
 * stats at scrape time, so the two views never disagree. Names are checked against the
 * OpenMetrics family rules in test/integration/metrics.test.ts (a gauge `x` beside a counter
 * `x_total` is one family there, which is why the open-connection gauge is not
 * `execvisor_connections`).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { requestMethodsByName } from '../rpc/methods.js';
import type { ServerHealth } from './health.js';
import type { RuntimeStats } from './runtime-port.js';

/** The content type of the text `render()` returns (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Request latency buckets (seconds): sub-millisecond answers up to long-poll reads. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Start latency buckets (seconds): a spawn takes about a millisecond, a sandboxed one a few more. */
const START_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

let processRegistry: Registry | null = null;

/** prom-client's default metrics, collected once per process however many servers run in it. */
function defaultMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class ServerMetrics {
  connectionsOpen = 0;
  connectionsTotal = 0;
  sessionsDetached = 0;
  readonly #registry = new Registry();
  readonly #all: Registry;
  readonly #errors: Counter<'code' | 'rpc_code'>;
  readonly #requests: Histogram<'method'>;
  readonly #starts: Histogram;
  readonly #requestSeries = new Map<string, Histogram.Internal<'method'>>();

  /** `stats` (and `health`, when given) are read at every scrape. */
  constructor(stats: () => RuntimeStats, health?: Pick<ServerHealth, 'draining' | 'capacity'>) {
    const registers = [this.#registry];
    // Counters mirror totals kept elsewhere: each scrape adds what is new since the last one.
    const counter = (name: string, help: string, read: () => number) => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const value = read();
          if (value > seen) this.inc(value - seen);
          seen = Math.max(seen, value);
        },
      });
    };
    const gauge = (name: string, help: string, read: () => number) => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('execvisor_live_processes', 'Processes started and not yet closed.', () => stats().liveProcesses);
    counter(
      'execvisor_process_starts_total',
      'Process starts, failed ones included.',
      () => stats().startsTotal,
    );
    counter(
      'execvisor_process_start_failures_total',
      'Starts that failed.',
      () => stats().startFailuresTotal,
    );
    counter('execvisor_process_exits_total', 'Processes that exited and closed.', () => stats().exitsTotal);
    counter('execvisor_output_bytes_total', 'Output bytes recorded.', () => stats().outputBytesTotal);
    counter(
      'execvisor_worker_failures_total',
      'Processes failed because their worker thread died.',
      () => stats().workerFailuresTotal ?? 0,
    );
    if (health !== undefined) {
      gauge('execvisor_max_processes', 'The limit on live processes (--max-processes).', () => {
        return health.capacity().maxProcesses ?? Number.NaN;
      });
      gauge('execvisor_ready', '1 while GET /readyz answers 200: the server takes new processes.', () =>
        health.capacity().accepting ? 1 : 0,
      );
      gauge('execvisor_draining', '1 from the start of a drain (serve --drain-ms, SIGTERM) on.', () =>
        health.draining ? 1 : 0,
      );
    }
    const seenDecisions = new Map<string, number>();
    new Counter({
      name: 'execvisor_network_decisions_total',
      help: 'Managed-network decisions (the proxy, and http/request under a policy) by decision and reason.',
      labelNames: ['decision', 'reason'],
      registers,
      collect() {
        for (const { decision, reason, count } of stats().networkDecisions ?? []) {
          const key = `${decision} ${reason}`;
          const seen = seenDecisions.get(key) ?? 0;
          if (count > seen) this.inc({ decision, reason }, count - seen);
          seenDecisions.set(key, Math.max(seen, count));
        }
      },
    });
    gauge('execvisor_open_connections', 'Open WebSocket connections.', () => this.connectionsOpen);
    counter('execvisor_connections_total', 'WebSocket connections accepted.', () => this.connectionsTotal);
    gauge('execvisor_sessions_detached', 'Sessions waiting to be resumed.', () => this.sessionsDetached);
    this.#errors = new Counter({
      name: 'execvisor_rpc_errors_total',
      help: 'Error answers by ExecError code and JSON-RPC code.',
      labelNames: ['code', 'rpc_code'],
      registers,
    });
    this.#requests = new Histogram({
      name: 'execvisor_rpc_request_duration_seconds',
      help: 'Time from a request to its answer, by method (long-poll reads included).',
      labelNames: ['method'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.#starts = new Histogram({
      name: 'execvisor_process_start_duration_seconds',
      help: 'Time from a process/start request to the spawned process, for starts that succeeded.',
      buckets: START_BUCKETS,
      registers,
    });
    this.#all = Registry.merge([this.#registry, defaultMetrics()]);
  }

  /** Counts one error answer by its ExecError code and JSON-RPC code. */
  recordError(code: string, rpcCode: number): void {
    this.#errors.inc({ code, rpc_code: String(rpcCode) });
  }

  /**
   * Starts timing one request; call the result with whether it succeeded once it is answered.
   * Methods outside the table are counted as `unknown`, so a client cannot grow the label set.
   */
  timeRequest(method: string): (succeeded: boolean) => void {
    const started = process.hrtime.bigint();
    const label = requestMethodsByName.has(method) ? method : 'unknown';
    let series = this.#requestSeries.get(label);
    if (series === undefined) {
      // A bound child per method: observing through it skips hashing the labels every time.
      series = this.#requests.labels({ method: label });
      this.#requestSeries.set(label, series);
    }
    const observed = series;
    return (succeeded) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      observed.observe(seconds);
      if (succeeded && label === 'process/start') this.#starts.observe(seconds);
    };
  }

  /** The Prometheus text of this server's metrics and the process-wide default ones. */
  render(): Promise<string> {
    return this.#all.metrics();
  }
}
