/**
 * Turns process events into `process/output|exited|closed` notifications for one connection.
 *
 * Backpressure: when the socket buffers more than the high-water mark, forwarding of a process
 * stops at its next output event. Once the buffer has drained to half the mark, the process is
 * followed again from its replay log, skipping what was already sent; events evicted meanwhile are
 * not sent, and the client sees the gap through `process/read` (`firstRetainedSeq`). Clients treat
 * notifications as wake-ups and `process/read` as the truth, so a gap costs nothing but latency.
 */
import { Subscription } from 'rxjs';
import type { ExecProcess, ProcessEvent } from '../runtime/types.js';
import { encodeNotification } from '../rpc/envelope.js';
import { serverNotifications } from '../rpc/methods.js';
import type { ServerLogger } from './runtime-port.js';

const DRAIN_POLL_MS = 20;

export interface ForwarderSink {
  send(text: string): void;
  /** Bytes queued on the socket and not yet written. */
  bufferedAmount(): number;
}

export class NotificationForwarder {
  readonly #sink: ForwarderSink;
  readonly #highWater: number;
  readonly #logger: ServerLogger;
  /** Highest seq sent per process; shared with the session so a resumed connection skips them. */
  readonly #forwarded: Map<string, number>;
  readonly #follows = new Map<string, Subscription>();
  readonly #paused = new Map<string, ExecProcess>();
  #drainTimer: NodeJS.Timeout | null = null;
  #disposed = false;

  constructor(sink: ForwarderSink, highWater: number, forwarded: Map<string, number>, logger: ServerLogger) {
    this.#sink = sink;
    this.#highWater = highWater;
    this.#forwarded = forwarded;
    this.#logger = logger;
  }

  follow(processId: string, process: ExecProcess): void {
    if (this.#disposed || this.#follows.has(processId) || this.#paused.has(processId)) return;
    let stopped = false;
    // Created first: events$ replays synchronously inside subscribe(), and `stop` may run there.
    const subscription = new Subscription();
    const stop = () => {
      stopped = true;
      subscription.unsubscribe();
      if (this.#follows.get(processId) === subscription) this.#follows.delete(processId);
    };
    const inner = process.events$.subscribe({
      next: (event) => {
        if (stopped || event.seq <= (this.#forwarded.get(processId) ?? 0)) return;
        if (event.type === 'output' && this.#sink.bufferedAmount() > this.#highWater) {
          stop();
          this.#pause(processId, process);
          return;
        }
        this.#sink.send(encode(processId, event));
        this.#forwarded.set(processId, event.seq);
        if (event.type === 'closed') stop();
      },
      error: (error: unknown) => {
        this.#logger.warn(`events of process ${processId} failed: ${String(error)}`);
        stop();
      },
      complete: stop,
    });
    // Adding to an already unsubscribed Subscription unsubscribes `inner` at once.
    subscription.add(inner);
    if (!stopped) this.#follows.set(processId, subscription);
  }

  dispose(): void {
    this.#disposed = true;
    for (const subscription of this.#follows.values()) subscription.unsubscribe();
    this.#follows.clear();
    this.#paused.clear();
    if (this.#drainTimer !== null) clearInterval(this.#drainTimer);
    this.#drainTimer = null;
  }

  #pause(processId: string, process: ExecProcess): void {
    this.#paused.set(processId, process);
    if (this.#drainTimer !== null) return;
    this.#logger.debug('outbound buffer above high water: pausing output notifications');
    // ws has no drain event of its own; a short poll while paused is cheap and always correct.
    this.#drainTimer = setInterval(() => {
      if (this.#sink.bufferedAmount() > this.#highWater / 2) return;
      if (this.#drainTimer !== null) clearInterval(this.#drainTimer);
      this.#drainTimer = null;
      const paused = [...this.#paused];
      this.#paused.clear();
      for (const [id, p] of paused) this.follow(id, p);
    }, DRAIN_POLL_MS);
    this.#drainTimer.unref();
  }
}

function encode(processId: string, event: ProcessEvent): string {
  switch (event.type) {
    case 'output':
      return encodeNotification(serverNotifications.output.name, {
        processId,
        seq: event.seq,
        stream: event.stream,
        chunk: Buffer.from(event.chunk.buffer, event.chunk.byteOffset, event.chunk.byteLength).toString(
          'base64',
        ),
      });
    case 'exited':
      return encodeNotification(serverNotifications.exited.name, {
        processId,
        seq: event.seq,
        exitCode: event.exitCode,
      });
    case 'closed':
      return encodeNotification(serverNotifications.closed.name, { processId, seq: event.seq });
  }
}
