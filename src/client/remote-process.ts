/**
 * A process on a remote exec server, behind the same `ExecProcess` interface as a local one.
 *
 * `process/read` is the source of truth: each `events$` subscriber runs its own read loop from
 * seq 1, so it replays whatever the server retains and misses nothing even when notifications were
 * dropped (backpressure, reconnect). A loop long-polls unless a notification already announced
 * something newer; notifications are also the source of the exact seq of `exited`/`closed`, which a
 * read result does not carry (without them those seqs are inferred from gaps between output seqs).
 */
import { Observable, type Subscriber } from 'rxjs';
import { TransportError } from '../errors.js';
import type {
  ExecProcess,
  ProcessEvent,
  ProcessInfo,
  ReadOptions,
  ReadResult,
  SandboxType,
  SignalName,
  TerminalSize,
  TerminateOptions,
  WriteOptions,
  WriteStatus,
} from '../runtime/types.js';
import { requestMethods, type NotificationParams } from '../rpc/methods.js';
import type { WireReadResult } from '../rpc/wire-types.js';
import type { RpcPeer } from './rpc-peer.js';

/** How long one read of an events$ loop waits server-side when nothing is known to be new. */
const LONG_POLL_MS = 15_000;
/** Bounds each read answer of an events$ loop. */
const LOOP_READ_MAX_BYTES = 4 * 1024 * 1024;

export interface RemoteProcessInit {
  readonly processId: string;
  readonly tty: boolean;
  readonly sandboxType: SandboxType;
  readonly pid: number | null;
  readonly startedAtMs: number;
}

type Deferred<T> = { promise: Promise<T>; resolve(value: T): void; reject(error: Error): void };

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A transport failure rejects these; nobody has to be listening for that to be fine.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export class RemoteProcess implements ExecProcess {
  readonly processId: string;
  readonly tty: boolean;
  readonly sandboxType: SandboxType;
  readonly events$: Observable<ProcessEvent>;
  readonly #peer: RpcPeer;
  readonly #startedAtMs: number;
  #pid: number | null;
  #exitCode: number | null = null;
  #closed = false;
  #failure: string | null = null;
  #exitedSeq: number | null = null;
  #closedSeq: number | null = null;
  /** Highest seq any notification announced. */
  #announcedSeq = 0;
  readonly #exited = deferred<number>();
  readonly #closedDeferred = deferred<void>();

  constructor(peer: RpcPeer, init: RemoteProcessInit) {
    this.#peer = peer;
    this.processId = init.processId;
    this.tty = init.tty;
    this.sandboxType = init.sandboxType;
    this.#pid = init.pid;
    this.#startedAtMs = init.startedAtMs;
    this.events$ = new Observable<ProcessEvent>((subscriber) => {
      const loop = { cancelled: false };
      void this.#runEvents(subscriber, loop);
      return () => {
        loop.cancelled = true;
      };
    });
  }

  get pid(): number | null {
    return this.#pid;
  }

  get exited(): Promise<number> {
    return this.#exited.promise;
  }

  get closed(): Promise<void> {
    return this.#closedDeferred.promise;
  }

  info(): ProcessInfo {
    return {
      processId: this.processId,
      pid: this.#pid,
      tty: this.tty,
      sandboxType: this.sandboxType,
      exited: this.#exitCode !== null,
      exitCode: this.#exitCode,
      closed: this.#closed,
      startedAtMs: this.#startedAtMs,
    };
  }

  /** Never rejects for a lost transport: it answers with `failure` set and `closed: true`. */
  async read(options: ReadOptions = {}): Promise<ReadResult> {
    if (this.#failure === null) {
      try {
        const wire = await this.#peer.call(requestMethods.read, {
          processId: this.processId,
          afterSeq: options.afterSeq ?? null,
          maxBytes: options.maxBytes ?? null,
          waitMs: options.waitMs ?? null,
        });
        return this.#absorb(wire);
      } catch (error) {
        if (!(error instanceof TransportError)) throw error;
      }
    }
    const next = (options.afterSeq ?? 0) + 1;
    return {
      chunks: [],
      nextSeq: next,
      exited: this.#exitCode !== null,
      exitCode: this.#exitCode,
      closed: true,
      failure: this.#failure,
      firstRetainedSeq: next,
    };
  }

  async write(data: Uint8Array | string, options: WriteOptions = {}): Promise<WriteStatus> {
    const bytes =
      typeof data === 'string'
        ? Buffer.from(data, 'utf8')
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const result = await this.#peer.call(requestMethods.write, {
      processId: this.processId,
      chunk: bytes.toString('base64'),
      writeId: options.writeId ?? null,
    });
    return result.status;
  }

  async closeStdin(): Promise<void> {
    await this.#peer.call(requestMethods.closeStdin, { processId: this.processId });
  }

  async resize(size: TerminalSize): Promise<void> {
    await this.#peer.call(requestMethods.resize, {
      processId: this.processId,
      rows: size.rows,
      cols: size.cols,
    });
  }

  async signal(signal: SignalName): Promise<void> {
    await this.#peer.call(requestMethods.signal, { processId: this.processId, signal });
  }

  async terminate(options: TerminateOptions = {}): Promise<boolean> {
    const result = await this.#peer.call(requestMethods.terminate, {
      processId: this.processId,
      graceMs: options.graceMs ?? null,
    });
    return result.running;
  }

  async ack(seq: number): Promise<void> {
    await this.#peer.call(requestMethods.ack, { processId: this.processId, seq });
  }

  // ---- fed by the client ---------------------------------------------------------------------

  /** @internal */
  noteOutput(params: NotificationParams<'output'>): void {
    this.#announce(params.seq);
  }

  /** @internal */
  noteExited(params: NotificationParams<'exited'>): void {
    this.#exitedSeq = params.seq;
    this.#recordExit(params.exitCode);
    this.#announce(params.seq);
  }

  /** @internal */
  noteClosed(params: NotificationParams<'closed'>): void {
    this.#closedSeq = params.seq;
    this.#recordClosed();
    this.#announce(params.seq);
  }

  /** @internal The transport is gone: every waiter learns it now. */
  fail(message: string): void {
    if (this.#failure !== null || this.#closed) return;
    this.#failure = message;
    this.#exited.reject(new TransportError(message));
    this.#closedDeferred.reject(new TransportError(message));
  }

  // ---- internals -----------------------------------------------------------------------------

  #announce(seq: number): void {
    if (seq > this.#announcedSeq) this.#announcedSeq = seq;
  }

  #recordExit(exitCode: number): void {
    if (this.#exitCode !== null) return;
    this.#exitCode = exitCode;
    this.#exited.resolve(exitCode);
  }

  #recordClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedDeferred.resolve();
  }

  #absorb(wire: WireReadResult): ReadResult {
    if (wire.exited && wire.exitCode !== null) this.#recordExit(wire.exitCode);
    if (wire.closed) this.#recordClosed();
    return {
      chunks: wire.chunks.map((c) => ({
        seq: c.seq,
        stream: c.stream,
        chunk: Buffer.from(c.chunk, 'base64'),
      })),
      nextSeq: wire.nextSeq,
      exited: wire.exited,
      exitCode: wire.exitCode,
      closed: wire.closed,
      failure: wire.failure,
      firstRetainedSeq: wire.firstRetainedSeq,
    };
  }

  /** One subscriber's read loop: emits events in seq order, completes after `closed`. */
  async #runEvents(subscriber: Subscriber<ProcessEvent>, loop: { cancelled: boolean }): Promise<void> {
    let cursor = 0;
    let exitEmitted = false;
    try {
      while (!loop.cancelled) {
        const known = this.#announcedSeq > cursor;
        const result = await this.read({
          afterSeq: cursor,
          maxBytes: LOOP_READ_MAX_BYTES,
          waitMs: known ? 0 : LONG_POLL_MS,
        });
        if (loop.cancelled) return;
        if (result.failure !== null && this.#failure !== null) {
          subscriber.error(new TransportError(this.#failure));
          return;
        }
        const windowEnd = result.nextSeq - 1;
        this.#inferEventSeqs(cursor, result);
        const events: ProcessEvent[] = result.chunks.map((c) => ({
          type: 'output',
          seq: c.seq,
          stream: c.stream,
          chunk: c.chunk,
        }));
        const drained = result.closed && result.chunks.length === 0;
        if (!exitEmitted && result.exited && result.exitCode !== null) {
          const seq = this.#exitedSeq ?? (drained ? (this.#closedSeq ?? windowEnd) - 1 : null);
          if (seq !== null && (seq <= windowEnd || drained)) {
            events.push({ type: 'exited', seq, exitCode: result.exitCode });
            events.sort((a, b) => a.seq - b.seq);
            exitEmitted = true;
          }
        }
        for (const event of events) subscriber.next(event);
        cursor = Math.max(cursor, windowEnd);
        if (drained) {
          subscriber.next({ type: 'closed', seq: this.#closedSeq ?? windowEnd });
          subscriber.complete();
          return;
        }
      }
    } catch (error) {
      if (!loop.cancelled) subscriber.error(error);
    }
  }

  /**
   * Seqs in (cursor, nextSeq) that are neither returned chunks nor evicted belong to `exited` or
   * `closed`. With nothing returned the window reaches the process's next seq, so its last seq is
   * `closed` once the process is closed.
   */
  #inferEventSeqs(cursor: number, result: ReadResult): void {
    if (this.#exitedSeq !== null && (this.#closedSeq !== null || !result.closed)) return;
    const taken = new Set(result.chunks.map((c) => c.seq));
    const gaps: number[] = [];
    for (
      let seq = Math.max(cursor + 1, result.firstRetainedSeq);
      seq < result.nextSeq && gaps.length < 3;
      seq++
    ) {
      if (!taken.has(seq)) gaps.push(seq);
    }
    if (result.closed && result.chunks.length === 0 && this.#closedSeq === null) {
      this.#closedSeq = result.nextSeq - 1;
    }
    const exitCandidates = gaps.filter((seq) => seq !== this.#closedSeq);
    if (result.exited && this.#exitedSeq === null && exitCandidates.length > 0) {
      this.#exitedSeq = exitCandidates[0]!;
    }
  }
}
