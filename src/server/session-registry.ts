/**
 * Sessions, as upstream has them: each connection works in one runtime session (its own processId
 * namespace), and every session outlives its connection for `detachTtlMs` (its processes keep
 * running and recording output), during which any connection that knows its id may resume it. A
 * TTL of 0 closes a session with its connection.
 */
import { randomUUID } from 'node:crypto';
import { Subscription } from 'rxjs';
import { SessionAttachedError, SessionError } from '../errors.js';
import type { ExecProcess } from '../core/types.js';
import { AckBatcher } from '../process/ack-batcher.js';
import type { ServerMetrics } from './metrics.js';
import type { RuntimeSession, ServerLogger, ServerRuntime } from './runtime-port.js';

export interface SessionRecord {
  /** Unguessable: knowing it is what lets a connection take the session over. */
  readonly id: string;
  readonly runtimeSession: RuntimeSession;
  readonly detachable: boolean;
  /** The connection using it, or null while detached. */
  attachedTo: object | null;
  detachTimer: NodeJS.Timeout | null;
  /** Processes not yet closed, starting ones included: what the per-connection limit counts. */
  readonly open: Set<string>;
  /** The highest seq sent as a notification per process, so a resumed connection sends no repeats. */
  readonly forwarded: Map<string, number>;
  /** Likewise for managed-network decisions: the highest `ordinal` sent per process. */
  readonly forwardedNetwork: Map<string, number>;
  /**
   * Processes started without a client `flowControl`: the server runs them under its own flow
   * control and acknowledges their output itself (as it is sent while attached; as it arrives while
   * no connection is attached, see `ackUnattended`).
   */
  readonly autoAck: Set<string>;
  /** While detached: the subscriptions acknowledging `autoAck` processes' output as it arrives. */
  readonly unattended: Map<string, Subscription>;
  readonly unattendedAcks: AckBatcher;
}

/**
 * Nobody is attached to `record`: acknowledge `processId`'s output (what is retained, then every
 * chunk as it arrives) so the process does not stall at its high-water mark; retention and
 * eviction then apply as for any process. Stopped by `SessionRegistry.resume`.
 */
export function ackUnattended(record: SessionRecord, processId: string, process: ExecProcess): void {
  if (!record.autoAck.has(processId) || record.unattended.has(processId)) return;
  const subscription = new Subscription();
  let done = false;
  const stop = () => {
    done = true;
    subscription.unsubscribe();
    if (record.unattended.get(processId) === subscription) record.unattended.delete(processId);
  };
  subscription.add(
    process.events$.subscribe({
      next: (event) => {
        if (event.type === 'output') record.unattendedAcks.note(process, event.seq, event.chunk.byteLength);
      },
      error: stop,
      complete: stop,
    }),
  );
  if (!done) record.unattended.set(processId, subscription);
}

export class SessionRegistry {
  readonly #runtime: ServerRuntime;
  readonly #detachTtlMs: number;
  readonly #logger: ServerLogger;
  readonly #metrics: ServerMetrics;
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #closing = new Set<Promise<void>>();

  constructor(runtime: ServerRuntime, detachTtlMs: number, logger: ServerLogger, metrics: ServerMetrics) {
    this.#runtime = runtime;
    this.#detachTtlMs = detachTtlMs;
    this.#logger = logger;
    this.#metrics = metrics;
  }

  /** A fresh session attached to `owner`; it detaches when `owner` goes away (unless the TTL is 0). */
  create(owner: object): SessionRecord {
    const record: SessionRecord = {
      id: randomUUID(),
      runtimeSession: this.#runtime.session(),
      detachable: this.#detachTtlMs > 0,
      attachedTo: owner,
      detachTimer: null,
      open: new Set(),
      forwarded: new Map(),
      forwardedNetwork: new Map(),
      autoAck: new Set(),
      unattended: new Map(),
      unattendedAcks: new AckBatcher(),
    };
    this.#sessions.set(record.id, record);
    return record;
  }

  /** Attaches a detached session to `owner`; synchronous, so two resumes cannot both win. */
  resume(sessionId: string, owner: object): SessionRecord {
    const record = this.#sessions.get(sessionId);
    if (record === undefined || !record.detachable) {
      throw new SessionError(`unknown session id ${sessionId}`);
    }
    if (record.attachedTo !== null) throw new SessionAttachedError(sessionId);
    if (record.detachTimer !== null) {
      clearTimeout(record.detachTimer);
      record.detachTimer = null;
      this.#metrics.sessionsDetached -= 1;
    }
    record.attachedTo = owner;
    // The new connection's forwarder acknowledges from here on, as it sends.
    for (const subscription of record.unattended.values()) subscription.unsubscribe();
    record.unattended.clear();
    record.unattendedAcks.dispose();
    this.#logger.debug({ sessionId }, 'session resumed');
    return record;
  }

  /** The connection of `record` went away: detach it (or close it when the TTL is 0). */
  release(record: SessionRecord): void {
    record.attachedTo = null;
    // Even a session about to be closed: a process paused at its mark might not reach EOF.
    for (const processId of record.autoAck) {
      const process = record.runtimeSession.get(processId);
      if (process !== undefined) ackUnattended(record, processId, process);
    }
    if (!record.detachable || this.#detachTtlMs === 0) {
      this.#close(record);
      return;
    }
    this.#metrics.sessionsDetached += 1;
    record.detachTimer = setTimeout(() => {
      record.detachTimer = null;
      this.#metrics.sessionsDetached -= 1;
      this.#logger.info(
        { sessionId: record.id, detachTtlMs: this.#detachTtlMs },
        'detached session expired; closing it',
      );
      this.#close(record);
    }, this.#detachTtlMs);
    // A detached session must not keep a server that is otherwise done alive.
    record.detachTimer.unref();
  }

  /** Closes every session (server shutdown) and waits for their processes to be gone. */
  async closeAll(): Promise<void> {
    for (const record of [...this.#sessions.values()]) {
      if (record.detachTimer !== null) {
        clearTimeout(record.detachTimer);
        record.detachTimer = null;
        this.#metrics.sessionsDetached -= 1;
      }
      this.#close(record);
    }
    await Promise.all([...this.#closing]);
  }

  #close(record: SessionRecord): void {
    if (this.#sessions.get(record.id) !== record) return;
    this.#sessions.delete(record.id);
    const closing = record.runtimeSession.close().catch((error: unknown) => {
      this.#logger.error({ sessionId: record.id, err: error }, 'closing session failed');
    });
    this.#closing.add(closing);
    void closing.finally(() => this.#closing.delete(closing));
  }
}
