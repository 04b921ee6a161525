/**
 * A process on a remote exec server, behind the same `ExecProcess` interface as a local one: an
 * adapter between the wire and an `OutputLog` (the runtime's own replay log, here as a follower).
 *
 * Wire in: `process/output|exited|closed` notifications go to the log's `receive`, which applies
 * them in seq order and fills any gap (a handle adopted after a resume, a dropped notification)
 * with `process/read`s that do not acknowledge. Log out: `events$` replays that log and then
 * follows it live, as the in-process runtime does. Explicit `read()` calls always go to the
 * server, the truth; `lostSeqs` counts what a catch-up found evicted on the server.
 *
 * Managed network: `network/policyDecision` notifications become `network` events on `events$`
 * (placed after the output notified before them) and the denials among them `info().networkDenials`.
 *
 * Flow control: for a process started with `flowControl` (and for an adopted one, whose settings
 * are unknown) the handle acknowledges output once `events$` has delivered it to a subscriber
 * (`process/ack`, batched); explicit `read()`s acknowledge what they return on the server.
 *
 * Calls go through a `ProcessLink`: the connection, or a client that re-establishes it. While the
 * link is reconnecting, a call cut by the disconnect waits for the outcome and is made again on the
 * new connection (a resumed session) when a repeat is harmless: reads, writes (each carries a
 * `writeId`, which the server does not write twice), `closeStdin`, `resize`, `terminate`, `ack`;
 * not `signal`, which would deliver twice. Only once the link gave up does the handle fail.
 */
import { randomUUID } from 'node:crypto';
import { type Observable, tap } from 'rxjs';
import { AbortedError, TransportError } from '../errors.js';
import type {
  ExecProcess,
  NetworkPolicyDecision,
  ProcessActivity,
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
import { AckBatcher } from '../process/ack-batcher.js';
import { OutputLog } from '../process/output-log.js';
import {
  requestMethods,
  type AnyRequestMethod,
  type NotificationParams,
  type ParamsIn,
  type ResultOf,
} from '../rpc/methods.js';
import type { WireReadResult } from '../rpc/wire-types.js';

/** What a handle calls its server through (an `RpcPeer` is one). */
export interface ProcessLink {
  call<M extends AnyRequestMethod>(method: M, params: ParamsIn<M>): Promise<ResultOf<M>>;
  /**
   * While the connection is being re-established: settles with true once the session was resumed
   * on a new connection, false once the link gave up. Null (or absent) otherwise.
   */
  readonly reconnecting?: Promise<boolean> | null;
  /** The link re-establishes a lost connection: writes then carry a `writeId`, so a repeat is harmless. */
  readonly resumable?: boolean;
}

/** Default bound of the client-side log of each handle (the server's default retention). */
export const DEFAULT_CLIENT_RETAINED_BYTES = 1024 * 1024;

export interface RemoteProcessInit {
  readonly processId: string;
  /** The server hosting it, as the client was given it (`ws://…`, `stdio:…`). */
  readonly server?: string;
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

/** Denials kept for `info().networkDenials` (the server keeps as many). */
const NETWORK_DENIALS_RETAINED = 64;

/** The flag `OutputLog` reads to keep unacknowledged output; its marks matter to the actor only. */
const KEEP_UNACKNOWLEDGED = { highWaterBytes: 0, lowWaterBytes: 0 };

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
  /** The URL of the server that hosts this process. */
  readonly server: string;
  readonly tty: boolean;
  readonly sandboxType: SandboxType;
  readonly events$: Observable<ProcessActivity>;
  readonly exited: Promise<number>;
  readonly closed: Promise<void>;
  readonly #link: ProcessLink;
  readonly #startedAtMs: number;
  readonly #log: OutputLog;
  /** Bytes of output the log keeps for replay (see `holdLeadingOutput`). */
  readonly #retainedBytes: number;
  #pid: number | null;
  #exitCode: number | null = null;
  #closed = false;
  #networkDenials: NetworkPolicyDecision[] | null = null;
  #settleExit!: (exitCode: number) => void;
  #settleClose!: () => void;
  #fail!: (error: Error) => void;

  constructor(link: ProcessLink, init: RemoteProcessInit) {
    this.#link = link;
    this.processId = init.processId;
    this.server = init.server ?? '';
    this.tty = init.tty;
    this.sandboxType = init.sandboxType;
    this.#pid = init.pid;
    this.#startedAtMs = init.startedAtMs;
    this.#retainedBytes = init.retainedBytes ?? DEFAULT_CLIENT_RETAINED_BYTES;
    this.#log = new OutputLog({
      retainedBytes: this.#retainedBytes,
      flowControl: init.keepUnacknowledged === true ? KEEP_UNACKNOWLEDGED : null,
      // Filling the client's log is not consumption: only the consumer acknowledges.
      catchUpRead: (afterSeq, maxBytes) => this.read({ afterSeq, maxBytes, waitMs: 0, acknowledge: false }),
    });
    let failExited!: (error: Error) => void;
    let failClosed!: (error: Error) => void;
    this.exited = new Promise<number>((resolve, reject) => {
      this.#settleExit = resolve;
      failExited = reject;
    });
    this.closed = new Promise<void>((resolve, reject) => {
      this.#settleClose = resolve;
      failClosed = reject;
    });
    this.#fail = (error) => {
      failExited(error);
      failClosed(error);
    };
    // A transport failure rejects these; nobody has to be listening for that to be fine.
    this.exited.catch(() => undefined);
    this.closed.catch(() => undefined);
    this.#log.events$.subscribe({
      next: (event) => {
        if (event.type === 'exited') this.#recordExit(event.exitCode);
        else if (event.type === 'closed') this.#recordClosed();
      },
      // The log failed (the transport was lost, or a catch-up found the process gone on the
      // server): `exited` and `closed` must not wait for ever.
      error: (error: unknown) =>
        this.#fail(error instanceof Error ? error : new TransportError(String(error))),
    });
    const acks = init.ackDelivered === true ? new AckBatcher() : null;
    this.events$ =
      acks === null
        ? this.#log.events$
        : this.#log.events$.pipe(
            tap((event) => {
              if (event.type === 'output' && !this.#closed)
                acks.note(this, event.seq, event.chunk.byteLength);
            }),
          );
    if (init.catchUp === true) void this.#log.catchUp();
  }

  get pid(): number | null {
    return this.#pid;
  }

  /**
   * Seqs `events$` skipped because the server no longer retained them when this client caught up
   * (evicted output; possibly the exit, whose seq is then approximated). 0 unless output was lost.
   */
  get lostSeqs(): number {
    return this.#log.lostSeqs;
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
      ...(this.#networkDenials === null ? {} : { networkDenials: [...this.#networkDenials] }),
    };
  }

  /** Never rejects for a lost transport: it answers with `failure` set and `closed: true`. */
  async read(options: ReadOptions = {}): Promise<ReadResult> {
    const signal = options.signal ?? null;
    if (signal?.aborted) throw new AbortedError('read', { cause: signal.reason });
    while (this.#log.failure === null) {
      try {
        const acknowledge = options.acknowledge !== false;
        // A wait given up cannot be withdrawn from the server: a read that may be abandoned does not
        // acknowledge there, and what it returns is acknowledged once it is taken.
        const call = this.#link.call(requestMethods.read, {
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
        // Cut by a disconnect: asked again once the session is resumed, else answered as lost.
        const reconnecting = this.#link.reconnecting ?? null;
        if (reconnecting === null || !(await reconnecting)) break;
      }
    }
    const next = (options.afterSeq ?? 0) + 1;
    return {
      chunks: [],
      nextSeq: next,
      exited: this.#exitCode !== null,
      exitCode: this.#exitCode,
      closed: true,
      failure: this.#log.failure,
      firstRetainedSeq: next,
      sandboxDenied: false,
    };
  }

  async write(data: Uint8Array | string, options: WriteOptions = {}): Promise<WriteStatus> {
    const bytes =
      typeof data === 'string'
        ? Buffer.from(data, 'utf8')
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const params = {
      processId: this.processId,
      chunk: bytes.toString('base64'),
      writeId: options.writeId ?? (this.#link.resumable === true ? randomUUID() : null),
    };
    const result = await this.#again(() => this.#link.call(requestMethods.write, params));
    return result.status;
  }

  async closeStdin(): Promise<void> {
    await this.#again(() => this.#link.call(requestMethods.closeStdin, { processId: this.processId }));
  }

  async resize(size: TerminalSize): Promise<void> {
    const params = { processId: this.processId, rows: size.rows, cols: size.cols };
    await this.#again(() => this.#link.call(requestMethods.resize, params));
  }

  async signal(signal: SignalName): Promise<void> {
    await this.#link.call(requestMethods.signal, { processId: this.processId, signal });
  }

  async terminate(options: TerminateOptions = {}): Promise<boolean> {
    const params = { processId: this.processId, graceMs: options.graceMs ?? null };
    const result = await this.#again(() => this.#link.call(requestMethods.terminate, params));
    return result.running;
  }

  async ack(seq: number): Promise<void> {
    await this.#again(() => this.#link.call(requestMethods.ack, { processId: this.processId, seq }));
    this.#log.ack(seq);
  }

  /** `send`, made again after a disconnect once the session is resumed (for calls a repeat cannot harm). */
  async #again<T>(send: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await send();
      } catch (error) {
        const reconnecting = error instanceof TransportError ? (this.#link.reconnecting ?? null) : null;
        if (reconnecting === null || !(await reconnecting)) throw error;
      }
    }
  }

  // ---- fed by the client ---------------------------------------------------------------------

  /**
   * @internal Output that reached the client before its start answer (a server may send it first,
   * up to its flow-control window: more than the log retains) is kept whole until the caller who
   * started the process has had its turn to subscribe to `events$`; then the usual bound applies.
   */
  holdLeadingOutput(bytes: number): void {
    if (bytes <= this.#retainedBytes) return;
    this.#log.setRetainedLimit(bytes);
    setImmediate(() => this.#log.setRetainedLimit(this.#retainedBytes));
  }

  /** @internal `bytes`: the chunk already decoded (then `params.chunk` is not read). */
  noteOutput(params: NotificationParams<'output'>, bytes?: Uint8Array): void {
    this.#log.receive({
      type: 'output',
      seq: params.seq,
      stream: params.stream,
      chunk: bytes ?? Buffer.from(params.chunk, 'base64'),
    });
  }

  /** @internal */
  noteExited(params: NotificationParams<'exited'>): void {
    this.#log.receive({
      type: 'exited',
      seq: params.seq,
      exitCode: params.exitCode,
      ...(params.sandboxDenied === undefined ? {} : { sandboxDenied: params.sandboxDenied }),
    });
  }

  /** @internal A managed-network decision of this process. */
  noteNetworkDecision(decision: NetworkPolicyDecision): void {
    if (decision.decision === 'deny') {
      this.#networkDenials ??= [];
      this.#networkDenials.push(decision);
      if (this.#networkDenials.length > NETWORK_DENIALS_RETAINED) this.#networkDenials.shift();
    } else {
      this.#networkDenials ??= [];
    }
    this.#log.receiveNetwork(decision);
  }

  /** @internal */
  noteClosed(params: NotificationParams<'closed'>): void {
    this.#log.receive({ type: 'closed', seq: params.seq });
  }

  /**
   * @internal The session was resumed on a new connection: fetch what was sent while the old one
   * was going down (the notifications that follow fill the rest).
   */
  resumed(): void {
    if (this.#log.failure === null && !this.#log.isClosed) void this.#log.catchUp();
  }

  /** @internal The transport is gone: every waiter learns it now. */
  fail(message: string): void {
    if (this.#log.failure !== null || this.#log.isClosed) return;
    const error = new TransportError(message);
    // (No effect on a promise that already settled.)
    this.#fail(error);
    this.#log.abort(error);
  }

  #recordExit(exitCode: number): void {
    if (this.#exitCode !== null) return;
    this.#exitCode = exitCode;
    this.#log.noteExitCode(exitCode);
    this.#settleExit(exitCode);
  }

  #recordClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#settleClose();
  }

  #absorb(wire: WireReadResult, acknowledged: boolean): ReadResult {
    if (wire.exited && wire.exitCode !== null) this.#recordExit(wire.exitCode);
    if (wire.closed) this.#recordClosed();
    // Reads acknowledge what they return on the server.
    if (acknowledged && wire.chunks.length > 0) this.#log.ack(wire.nextSeq - 1);
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
      // Older servers and the reference before it had the member leave it out.
      sandboxDenied: wire.sandboxDenied ?? false,
    };
  }
}
