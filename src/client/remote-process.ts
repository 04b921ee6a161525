/**
 * A process on a remote exec server, behind the same `ExecProcess` interface as a local one.
 *
 * Notifications are the data path: each handle keeps a client-side log (bounded like the server's
 * retention) fed by `process/output|exited|closed` notifications in seq order, and `events$`
 * replays that log and then follows it live, as the in-process runtime does. `process/read` only
 * fills gaps: for a handle adopted after a resume (its earlier output was never notified to this
 * client), and after a seq jump (notifications dropped, a resumed connection). Notifications that
 * arrive during such a catch-up are buffered and applied in seq order without duplicates. Output
 * the server evicted before the catch-up could read it is skipped, not invented: `lostSeqs` counts
 * the seqs skipped that way. Explicit `read()` calls always go to the server.
 *
 * Flow control: for a process started with `flowControl` (and for an adopted one, whose settings
 * are unknown) the handle acknowledges output once `events$` has delivered it to a subscriber
 * (`process/ack`, batched), as the server-side reads did before; explicit `read()`s acknowledge
 * what they return on the server.
 */
import { Observable, Subject } from 'rxjs';
import { AbortedError, TransportError } from '../errors.js';
import type {
  ClosedEvent,
  ExecProcess,
  ExitedEvent,
  OutputEvent,
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
} from '../core/types.js';
import { requestMethods, type NotificationParams } from '../rpc/methods.js';
import type { WireReadResult } from '../rpc/wire-types.js';
import type { RpcPeer } from './rpc-peer.js';

/** Bounds each read of a catch-up. */
const CATCH_UP_READ_MAX_BYTES = 4 * 1024 * 1024;
/** Acknowledge delivered output at once when this much is waiting; otherwise on setImmediate. */
const ACK_BATCH_BYTES = 256 * 1024;
/** Default bound of the client-side log of each handle (the server's default retention). */
export const DEFAULT_CLIENT_RETAINED_BYTES = 1024 * 1024;

export interface RemoteProcessInit {
  readonly processId: string;
  readonly tty: boolean;
  readonly sandboxType: SandboxType;
  readonly pid: number | null;
  readonly startedAtMs: number;
  /** Bytes of output the client-side log keeps for `events$` replay. */
  readonly retainedBytes?: number;
  /** Acknowledge output delivered through `events$` (the process is flow-controlled, or may be). */
  readonly ackDelivered?: boolean;
  /** Keep output nobody acknowledged in the client-side log (the process is flow-controlled). */
  readonly keepUnacknowledged?: boolean;
  /** Fetch what is retained with `process/read` at once (a handle adopted after a resume). */
  readonly catchUp?: boolean;
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

/** `promise`, or an `AbortedError` as soon as `signal` aborts (the promise is then ignored). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError('read', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class RemoteProcess implements ExecProcess {
  readonly processId: string;
  readonly tty: boolean;
  readonly sandboxType: SandboxType;
  readonly events$: Observable<ProcessEvent>;
  readonly #peer: RpcPeer;
  readonly #startedAtMs: number;
  readonly #retainedLimit: number;
  readonly #ackDelivered: boolean;
  readonly #keepUnacknowledged: boolean;
  #pid: number | null;
  #exitCode: number | null = null;
  #closed = false;
  #failure: string | null = null;
  readonly #exited = deferred<number>();
  readonly #closedDeferred = deferred<void>();

  // ---- the client-side log: retained output in #chunks[#head..], the exit and the close ----------
  #chunks: OutputEvent[] = [];
  #head = 0;
  #retainedBytes = 0;
  #exitedEvent: ExitedEvent | null = null;
  #closedEvent: ClosedEvent | null = null;
  readonly #live = new Subject<ProcessEvent>();
  /** Every seq up to this one has been applied to the log (or skipped as lost). */
  #cursor = 0;
  /** Notifications ahead of the cursor: out of order, or arrived during a catch-up. */
  readonly #pending = new Map<number, ProcessEvent>();
  #catchingUp = false;
  #lostSeqs = 0;
  /** Highest seq any notification carried. */
  #notifiedSeq = 0;

  // ---- acknowledgements of delivered output (flow control) ---------------------------------------
  #ackedSeq = 0;
  #ackSeq = 0;
  #ackBytes = 0;
  #ackTimer: NodeJS.Immediate | null = null;

  constructor(peer: RpcPeer, init: RemoteProcessInit) {
    this.#peer = peer;
    this.processId = init.processId;
    this.tty = init.tty;
    this.sandboxType = init.sandboxType;
    this.#pid = init.pid;
    this.#startedAtMs = init.startedAtMs;
    this.#retainedLimit = init.retainedBytes ?? DEFAULT_CLIENT_RETAINED_BYTES;
    this.#ackDelivered = init.ackDelivered ?? false;
    this.#keepUnacknowledged = init.keepUnacknowledged ?? false;
    this.events$ = new Observable<ProcessEvent>((subscriber) => {
      // Replay and subscribe in one synchronous step: nothing can be applied in between.
      const exited = this.#exitedEvent;
      let exitedSent = exited === null;
      let last: OutputEvent | null = null;
      for (let index = this.#head; index < this.#chunks.length; index++) {
        const chunk = this.#chunks[index]!;
        if (!exitedSent && exited!.seq < chunk.seq) {
          subscriber.next(exited!);
          exitedSent = true;
        }
        subscriber.next(chunk);
        last = chunk;
      }
      if (!exitedSent) subscriber.next(exited!);
      if (last !== null) this.#delivered(last.seq, 0);
      if (this.#closedEvent !== null) {
        subscriber.next(this.#closedEvent);
        subscriber.complete();
        return undefined;
      }
      if (this.#failure !== null) {
        subscriber.error(new TransportError(this.#failure));
        return undefined;
      }
      const subscription = this.#live.subscribe(subscriber);
      return () => subscription.unsubscribe();
    });
    if (init.catchUp === true) void this.#catchUp();
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

  /**
   * Seqs `events$` skipped because the server no longer retained them when this client caught up
   * (evicted output; possibly the exit, whose seq is then approximated). 0 unless output was lost.
   */
  get lostSeqs(): number {
    return this.#lostSeqs;
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
    const signal = options.signal ?? null;
    if (signal?.aborted) throw new AbortedError('read', { cause: signal.reason });
    if (this.#failure === null) {
      try {
        const acknowledge = options.acknowledge !== false;
        // A wait given up cannot be withdrawn from the server: a read that may be abandoned does not
        // acknowledge there, and what it returns is acknowledged once it is taken.
        const call = this.#peer.call(requestMethods.read, {
          processId: this.processId,
          afterSeq: options.afterSeq ?? null,
          maxBytes: options.maxBytes ?? null,
          waitMs: options.waitMs ?? null,
          ...(acknowledge && signal === null ? {} : { acknowledge: false }),
        });
        const wire = signal === null ? await call : await untilAborted(call, signal);
        const result = this.#absorb(wire, acknowledge && signal === null);
        if (acknowledge && signal !== null && wire.chunks.length > 0) {
          this.ack(wire.nextSeq - 1).catch(() => undefined);
        }
        return result;
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
    this.#noteAcked(seq);
  }

  // ---- fed by the client ---------------------------------------------------------------------

  /** @internal */
  noteOutput(params: NotificationParams<'output'>): void {
    this.#feed({
      type: 'output',
      seq: params.seq,
      stream: params.stream,
      chunk: Buffer.from(params.chunk, 'base64'),
    });
  }

  /** @internal */
  noteExited(params: NotificationParams<'exited'>): void {
    this.#feed({ type: 'exited', seq: params.seq, exitCode: params.exitCode });
  }

  /** @internal */
  noteClosed(params: NotificationParams<'closed'>): void {
    this.#feed({ type: 'closed', seq: params.seq });
  }

  /** @internal The transport is gone: every waiter learns it now. */
  fail(message: string): void {
    if (this.#failure !== null || this.#closedEvent !== null) return;
    this.#failure = message;
    // (No effect on a promise that already settled.)
    this.#exited.reject(new TransportError(message));
    this.#closedDeferred.reject(new TransportError(message));
    this.#pending.clear();
    this.#live.error(new TransportError(message));
    if (this.#ackTimer !== null) clearImmediate(this.#ackTimer);
    this.#ackTimer = null;
  }

  // ---- the log -------------------------------------------------------------------------------

  /** A notification: applied now if it is the next seq, else buffered (and a gap is filled). */
  #feed(event: ProcessEvent): void {
    if (event.seq > this.#notifiedSeq) this.#notifiedSeq = event.seq;
    if (event.seq <= this.#cursor || this.#closedEvent !== null) return;
    if (this.#catchingUp || event.seq !== this.#cursor + 1) {
      this.#pending.set(event.seq, event);
      if (!this.#catchingUp) void this.#catchUp();
      return;
    }
    this.#apply(event);
    if (this.#pending.size > 0) this.#drainPending();
  }

  #drainPending(): void {
    for (let next = this.#pending.get(this.#cursor + 1); next !== undefined;) {
      this.#pending.delete(next.seq);
      this.#apply(next);
      next = this.#pending.get(this.#cursor + 1);
    }
    for (const seq of this.#pending.keys()) if (seq <= this.#cursor) this.#pending.delete(seq);
  }

  /** Appends one event (seq above the cursor) to the log and hands it to live subscribers. */
  #apply(event: ProcessEvent): void {
    if (event.seq <= this.#cursor || this.#closedEvent !== null) return;
    switch (event.type) {
      case 'output':
        this.#lostSeqs += event.seq - this.#cursor - 1;
        this.#cursor = event.seq;
        this.#chunks.push(event);
        this.#retainedBytes += event.chunk.byteLength;
        this.#evict();
        this.#live.next(event);
        if (this.#live.observed) this.#delivered(event.seq, event.chunk.byteLength);
        return;
      case 'exited':
        if (this.#exitedEvent !== null) return;
        this.#lostSeqs += event.seq - this.#cursor - 1;
        this.#cursor = event.seq;
        this.#exitedEvent = event;
        this.#recordExit(event.exitCode);
        this.#live.next(event);
        return;
      case 'closed':
        if (this.#exitedEvent === null) {
          // The exit's own seq was never learnt (lost with a connection, or evicted): it is taken
          // to come right before the close.
          const exited: ExitedEvent = { type: 'exited', seq: event.seq - 1, exitCode: this.#exitCode ?? -1 };
          if (exited.seq > this.#cursor) {
            this.#lostSeqs += exited.seq - this.#cursor - 1;
            this.#cursor = exited.seq;
          }
          this.#exitedEvent = exited;
          this.#recordExit(exited.exitCode);
          this.#live.next(exited);
        }
        this.#lostSeqs += event.seq - this.#cursor - 1;
        this.#cursor = event.seq;
        this.#closedEvent = event;
        this.#pending.clear();
        this.#recordClosed();
        this.#live.next(event);
        this.#live.complete();
        this.#flushAck();
        return;
    }
  }

  /**
   * Fills the gap below the lowest buffered notification (or, for an adopted handle, everything
   * retained) with `process/read`s from the cursor, applying read chunks and buffered
   * notifications together in seq order. Ends once a read finds nothing newer, or the
   * notifications connect to the cursor again.
   */
  async #catchUp(): Promise<void> {
    if (this.#catchingUp) return;
    this.#catchingUp = true;
    try {
      while (this.#closedEvent === null && this.#failure === null) {
        const result = await this.read({
          afterSeq: this.#cursor,
          maxBytes: CATCH_UP_READ_MAX_BYTES,
          waitMs: 0,
          // Filling the client's log is not consumption: only the consumer acknowledges.
          acknowledge: false,
        });
        if (this.#failure !== null || this.#closedEvent !== null) return;
        const atEnd = result.chunks.length === 0;
        this.#applyWindow(result, atEnd);
        this.#drainPending();
        if (atEnd) break;
        if (this.#pending.size === 0 && this.#notifiedSeq > 0 && this.#notifiedSeq <= this.#cursor) break;
      }
    } catch (error) {
      // The process is gone on the server (removed after its retention): nothing more will come.
      if (this.#closedEvent === null && this.#failure === null) {
        this.#live.error(error);
      }
      return;
    } finally {
      this.#catchingUp = false;
    }
    // Anything still buffered is past a gap nothing can fill any more: apply it, counting the gap.
    if (this.#pending.size > 0 && this.#closedEvent === null && this.#failure === null) {
      for (const seq of [...this.#pending.keys()].sort((a, b) => a - b)) {
        const event = this.#pending.get(seq);
        this.#pending.delete(seq);
        if (event !== undefined) this.#apply(event);
      }
    }
  }

  /** One read answer merged with the buffered notifications it covers, applied in seq order. */
  #applyWindow(result: ReadResult, atEnd: boolean): void {
    const cursor = this.#cursor;
    const windowEnd = result.nextSeq - 1;
    const window = new Map<number, ProcessEvent>();
    for (const c of result.chunks) {
      if (c.seq > cursor) window.set(c.seq, { type: 'output', seq: c.seq, stream: c.stream, chunk: c.chunk });
    }
    let closedKnown = false;
    let exitKnown = this.#exitedEvent !== null;
    for (const [seq, event] of this.#pending) {
      if (event.type === 'closed') closedKnown = true;
      if (event.type === 'exited') exitKnown = true;
      if (seq <= windowEnd) window.set(seq, event);
    }
    // A read answer carries no seq for the exit and the close: infer them from the window.
    // With nothing returned the window reaches the process's next seq, so its last seq is the close.
    if (atEnd && result.closed && !closedKnown && windowEnd > cursor) {
      window.set(windowEnd, { type: 'closed', seq: windowEnd });
    }
    // A retained seq in the window that is no output chunk is the exit (the close is the last seq).
    if (result.exited && result.exitCode !== null && !exitKnown) {
      for (let seq = Math.max(cursor + 1, result.firstRetainedSeq); seq <= windowEnd; seq++) {
        if (!window.has(seq)) {
          window.set(seq, { type: 'exited', seq, exitCode: result.exitCode });
          break;
        }
      }
    }
    for (const seq of [...window.keys()].sort((a, b) => a - b)) {
      this.#pending.delete(seq);
      this.#apply(window.get(seq)!);
    }
  }

  #evict(): void {
    const chunks = this.#chunks;
    while (this.#retainedBytes > this.#retainedLimit && this.#head < chunks.length) {
      const oldest = chunks[this.#head]!;
      // Output not yet acknowledged stays: the server keeps it too, nobody has consumed it.
      if (this.#keepUnacknowledged && oldest.seq > this.#ackedSeq) break;
      this.#retainedBytes -= oldest.chunk.byteLength;
      chunks[this.#head] = undefined as unknown as OutputEvent;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > chunks.length) {
      this.#chunks = chunks.slice(this.#head);
      this.#head = 0;
    }
  }

  // ---- acknowledgements ----------------------------------------------------------------------

  /** Output up to `seq` reached an events$ subscriber: acknowledge it (batched). */
  #delivered(seq: number, bytes: number): void {
    if (!this.#ackDelivered || seq <= this.#ackSeq) return;
    this.#ackSeq = seq;
    this.#ackBytes += bytes;
    if (this.#ackBytes >= ACK_BATCH_BYTES) {
      this.#flushAck();
      return;
    }
    this.#ackTimer ??= setImmediate(() => {
      this.#ackTimer = null;
      this.#flushAck();
    });
  }

  #flushAck(): void {
    if (this.#ackTimer !== null) clearImmediate(this.#ackTimer);
    this.#ackTimer = null;
    const seq = this.#ackSeq;
    this.#ackBytes = 0;
    if (seq <= this.#ackedSeq || this.#failure !== null || this.#closed) return;
    this.#noteAcked(seq);
    this.#peer.call(requestMethods.ack, { processId: this.processId, seq }).catch(() => undefined);
  }

  #noteAcked(seq: number): void {
    if (seq <= this.#ackedSeq) return;
    this.#ackedSeq = seq;
    this.#evict();
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

  #absorb(wire: WireReadResult, acknowledged: boolean): ReadResult {
    if (wire.exited && wire.exitCode !== null) this.#recordExit(wire.exitCode);
    if (wire.closed) this.#recordClosed();
    // Reads acknowledge what they return on the server.
    if (acknowledged && wire.chunks.length > 0) this.#noteAcked(wire.nextSeq - 1);
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
}
