/**
 * Server counters and the Prometheus text rendering of `GET /metrics`. Process counts come from
 * the runtime's own stats so the two views never disagree.
 */
import type { RuntimeStats } from './runtime-port.js';

export class ServerMetrics {
  connectionsOpen = 0;
  connectionsTotal = 0;
  sessionsDetached = 0;
  readonly #errors = new Map<string, number>();

  /** Counts one error answer by its ExecError code and JSON-RPC code. */
  recordError(code: string, rpcCode: number): void {
    const key = `${code}\u0000${rpcCode}`;
    this.#errors.set(key, (this.#errors.get(key) ?? 0) + 1);
  }

  render(stats: RuntimeStats): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    metric('execvisor_live_processes', 'gauge', 'Processes not yet closed.', stats.liveProcesses);
    metric('execvisor_process_starts_total', 'counter', 'Processes started.', stats.startsTotal);
    metric(
      'execvisor_process_start_failures_total',
      'counter',
      'Starts that failed.',
      stats.startFailuresTotal,
    );
    metric('execvisor_process_exits_total', 'counter', 'Processes that exited.', stats.exitsTotal);
    metric('execvisor_output_bytes_total', 'counter', 'Output bytes recorded.', stats.outputBytesTotal);
    metric('execvisor_connections', 'gauge', 'Open WebSocket connections.', this.connectionsOpen);
    metric(
      'execvisor_connections_total',
      'counter',
      'WebSocket connections accepted.',
      this.connectionsTotal,
    );
    metric('execvisor_sessions_detached', 'gauge', 'Sessions waiting to be resumed.', this.sessionsDetached);
    lines.push(
      '# HELP execvisor_rpc_errors_total Error answers by ExecError code and JSON-RPC code.',
      '# TYPE execvisor_rpc_errors_total counter',
    );
    for (const [key, value] of [...this.#errors].sort(([a], [b]) => a.localeCompare(b))) {
      const [code, rpcCode] = key.split('\u0000');
      lines.push(`execvisor_rpc_errors_total{code="${code}",rpc_code="${rpcCode}"} ${value}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
