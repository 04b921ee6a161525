/**
 * Turns process events into `process/output|exited|closed` notifications for one connection, and
 * managed-network decisions into `network/policyDecision` notifications (params: the decision
 * record, as the reference sends it), in the order they happened among the others. A decision has
 * no seq: repeats after a pause or a resume are recognized by its `ordinal` instead.
 *
 * Backpressure: when the socket buffers more than the high-water mark, forwarding of a process
 * stops at its next output event. Once the buffer has drained to half the mark, the process is
 * followed again from its replay log, skipping what was already sent.
 *
 * Nothing is lost to that pause for a process the server flow-controls on the client's behalf (the
 * client started it without `flowControl`; `autoAck` names those): each output chunk is
 * acknowledged only once its notification was handed to an uncongested socket. While forwarding is
 * paused nothing is acknowledged, so the process stops at its high-water mark and its
 * unacknowledged output stays in the log (flow-controlled output is never evicted) until the
 * forwarder resumes from it. A process whose client asked for `flowControl` is acknowledged by that
 * client only (`process/ack`, `process/read`).
 */
import { Subscription } from 'rxjs';
import type { ExecProcess, ProcessEvent } from '../core/types.js';
import { encodeNotification } from '../rpc/envelope.js';
import { encodeOutputFrame } from '../rpc/output-frame.js';
import { returnFrame, takeFrame } from './frame-pool.js';
import { serverNotifications } from '../rpc/methods.js';
import { AckBatcher } from '../process/ack-batcher.js';
import type { ServerLogger } from './runtime-port.js';
import type { MessageTransport } from './transport/types.js';

const DRAIN_POLL_MS = 10;
/**
 * Output the server acknowledges on a client's behalf is acknowledged per MiB sent (or at the end
 * of the turn): each acknowledgement is a message to the process's worker, and output notifications
 * carry hundreds of KiB each. Well under the server's flow-control window (4 MiB by default); a
 * smaller window is still acknowledged at the end of every turn.
 */
const AUTO_ACK_BATCH_BYTES = 1024 * 1024;

/** What the forwarder needs of a transport (see `MessageTransport`). */
export type ForwarderSink = Pick<MessageTransport, 'send' | 'releasesMessages' | 'bufferedAmount'>;

export class NotificationForwarder {
  readonly #sink: ForwarderSink;
  readonly #highWater: number;
  readonly #logger: ServerLogger;
  /** Highest seq sent per process; shared with the session so a resumed connection skips them. */
  readonly #forwarded: Map<string, number>;
  /** Processes whose output the server acknowledges as it is sent (shared with the session). */
  readonly #autoAck: ReadonlySet<string>;
  /** Highest network-decision ordinal sent per process (shared with the session). */
  readonly #forwardedNetwork: Map<string, number>;
  readonly #acks = new AckBatcher(AUTO_ACK_BATCH_BYTES);
  readonly #follows = new Map<string, Subscription>();
  readonly #paused = new Map<string, ExecProcess>();
  #drainTimer: NodeJS.Timeout | null = null;
  #disposed = false;

  constructor(
    sink: ForwarderSink,
    highWater: number,
    forwarded: Map<string, number>,
    autoAck: ReadonlySet<string>,
    logger: ServerLogger,
    forwardedNetwork: Map<string, number>,
  ) {
    this.#sink = sink;
    this.#highWater = highWater;
    this.#forwarded = forwarded;
    this.#autoAck = autoAck;
    this.#logger = logger;
    this.#forwardedNetwork = forwardedNetwork;
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
        if (stopped) return;
        if (event.type === 'network') {
          // Small and rare: sent even while the socket is congested, never twice.
          if (event.ordinal <= (this.#forwardedNetwork.get(processId) ?? 0)) return;
          this.#sink.send(encodeNotification(serverNotifications.policyDecision.name, event.decision));
          this.#forwardedNetwork.set(processId, event.ordinal);
          return;
        }
        if (event.seq <= (this.#forwarded.get(processId) ?? 0)) return;
        if (event.type === 'output' && this.#sink.bufferedAmount() > this.#highWater) {
          stop();
          this.#pause(processId, process);
          return;
        }
        if (event.type === 'output') {
          // A carrier that says when it is done with a frame gets one from the pool, back on release.
          const pooled = this.#sink.releasesMessages;
          const frame = encodeOutputFrame(
            processId,
            event.seq,
            event.stream,
            event.chunk,
            pooled ? takeFrame : undefined,
          );
          const released = () => {
            returnFrame(frame);
            this.#resumeIfDrained();
          };
          this.#sink.send(frame, pooled ? released : undefined);
        } else {
          this.#sink.send(encode(processId, event));
        }
        this.#forwarded.set(processId, event.seq);
        if (event.type === 'output' && this.#autoAck.has(processId)) {
          this.#acks.note(process, event.seq, event.chunk.byteLength);
        }
        if (event.type === 'closed') stop();
      },
      error: (error: unknown) => {
        this.#logger.warn({ processId, err: error }, 'process events failed');
        stop();
      },
      complete: stop,
    });
    // Adding to an already unsubscribed Subscription unsubscribes `inner` at once.
    subscription.add(inner);
    if (!stopped) this.#follows.set(processId, subscription);
  }

  /** The connection is gone: what was sent is acknowledged, nothing more is sent. */
  dispose(): void {
    this.#disposed = true;
    for (const subscription of this.#follows.values()) subscription.unsubscribe();
    this.#follows.clear();
    this.#paused.clear();
    this.#acks.dispose();
    if (this.#drainTimer !== null) clearInterval(this.#drainTimer);
    this.#drainTimer = null;
  }

  #pause(processId: string, process: ExecProcess): void {
    this.#paused.set(processId, process);
    if (this.#drainTimer !== null) return;
    this.#logger.debug({}, 'outbound buffer above high water: pausing output notifications');
    // ws has no drain event of its own: each written output frame checks (see `follow`), and a
    // short poll while paused covers a carrier that does not report writes.
    this.#drainTimer = setInterval(() => this.#resumeIfDrained(), DRAIN_POLL_MS);
    this.#drainTimer.unref();
  }

  /** While paused: once the socket has drained to half the mark, follow the paused processes again. */
  #resumeIfDrained(): void {
    if (this.#drainTimer === null || this.#disposed) return;
    if (this.#sink.bufferedAmount() > this.#highWater / 2) return;
    clearInterval(this.#drainTimer);
    this.#drainTimer = null;
    const paused = [...this.#paused];
    this.#paused.clear();
    for (const [id, p] of paused) this.follow(id, p);
  }
}

function encode(processId: string, event: Exclude<ProcessEvent, { type: 'output' | 'network' }>): string {
  switch (event.type) {
    case 'exited':
      return encodeNotification(serverNotifications.exited.name, {
        processId,
        seq: event.seq,
        exitCode: event.exitCode,
        sandboxDenied: event.sandboxDenied ?? false,
      });
    case 'closed':
      return encodeNotification(serverNotifications.closed.name, { processId, seq: event.seq });
  }
}
