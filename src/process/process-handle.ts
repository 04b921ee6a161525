/**
 * The main-thread face of one process: its OutputLog, its state, and the control proxy to its
 * ProcessActor. Implements the public `ExecProcess`. Only the Supervisor creates and removes it.
 */
import type { Observable } from 'rxjs';
import { AbortedError, NotATtyError, UnknownProcessError } from '../errors.js';
import type { ActorEvent, ProcessControl } from '../actor/messages.js';
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
import { classifySandboxDenied, DENIAL_SCAN_BYTES } from '../network/sandbox-denied.js';
import { toNodeSignal } from '../spawn/signals.js';
import type { OutputBudget } from './output-budget.js';
import { OutputLog } from './output-log.js';

export type HandleState = 'starting' | 'running' | 'closed' | 'removed';

export interface HandleSettings {
  readonly processId: string;
  readonly tty: boolean;
  readonly retainedBytes: number;
  readonly flowControl: { readonly highWaterBytes: number; readonly lowWaterBytes: number } | null;
  readonly now: () => number;
  /** The runtime-wide output budget (absent in unit tests). */
  readonly budget?: OutputBudget | null;
}

/** How many distinct writeIds a process remembers for deduplication. */
const WRITE_IDS_REMEMBERED = 4096;
/** Managed network: denials kept for `info()`. */
const NETWORK_DENIALS_RETAINED = 64;
const DEFAULT_READ_MAX_BYTES = Number.MAX_SAFE_INTEGER;
const encoder = new TextEncoder();

export class ProcessHandle implements ExecProcess {
  readonly processId: string;
  readonly tty: boolean;
  readonly startedAtMs: number;
  readonly exited: Promise<number>;
  readonly closed: Promise<void>;
  readonly #log: OutputLog;
  readonly #flowControlled: boolean;
  #state: HandleState = 'starting';
  #pid: number | null = null;
  #threadId: number | null = null;
  #sandboxType: SandboxType = 'none';
  #control: ProcessControl | null = null;
  #resolveExited!: (code: number) => void;
  #resolveClosed!: () => void;
  #writeIds = new Set<string>();
  #onClosed: (handle: ProcessHandle) => void = () => undefined;
  /** Fallback answers of control calls still waiting for the actor (see `#call`). */
  readonly #pendingCalls = new Set<() => void>();
  #actorIsGone = false;
  // Managed network (see `recordNetworkDecision`).
  #managedNetwork = false;
  #networkDenials: NetworkPolicyDecision[] = [];
  #networkDenialsTotal = 0;
  /** `sandboxDenied` as it stands once the log is closed (nothing can change it then). */
  #finalSandboxDenied: boolean | null = null;

  constructor(settings: HandleSettings) {
    this.processId = settings.processId;
    this.tty = settings.tty;
    this.startedAtMs = settings.now();
    this.#flowControlled = settings.flowControl !== null;
    this.#log = new OutputLog({
      retainedBytes: settings.retainedBytes,
      flowControl: settings.flowControl,
      budget: settings.budget ?? null,
      onAcknowledged: (bytes) => {
        this.#liveControl()
          ?.acknowledge(bytes)
          .catch(() => undefined);
      },
    });
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve));
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  get pid(): number | null {
    return this.#pid;
  }
  get sandboxType(): SandboxType {
    return this.#sandboxType;
  }
  get state(): HandleState {
    return this.#state;
  }
  get threadId(): number | null {
    return this.#threadId;
  }
  get log(): OutputLog {
    return this.#log;
  }
  /**
   * The log's events (seq'd), with the process's managed-network decisions interleaved where they
   * happened (no seq of their own; see `OutputLog`).
   */
  get events$(): Observable<ProcessActivity> {
    return this.#log.events$;
  }

  /** Managed network: the denials in total (`info()` keeps only the most recent). */
  get networkDenialsTotal(): number {
    return this.#networkDenialsTotal;
  }

  // ---- Supervisor side ----------------------------------------------------------------------

  /** The actor spawned the process. */
  markRunning(
    pid: number,
    sandboxType: SandboxType,
    threadId: number,
    control: ProcessControl,
    onClosed: (handle: ProcessHandle) => void,
  ): void {
    this.#pid = pid;
    this.#sandboxType = sandboxType;
    this.#threadId = threadId;
    this.#control = control;
    this.#onClosed = onClosed;
    if (this.#state === 'starting') this.#state = 'running';
  }

  /** Applies an event from the actor (after 'spawned'). */
  applyEvent(event: ActorEvent): void {
    switch (event.type) {
      case 'output': {
        const { data, segments } = event;
        let offset = 0;
        for (const [stream, length] of segments) {
          this.#log.append(stream, data.subarray(offset, offset + length));
          offset += length;
        }
        return;
      }
      case 'exited':
        this.#recordExit(event.exitCode);
        return;
      case 'closed':
        this.#recordClosed();
        return;
      default:
        return;
    }
  }

  /** The process runs behind the managed-network proxy: `info()` reports its denials. */
  useManagedNetwork(): void {
    this.#managedNetwork = true;
  }

  /**
   * A decision of the managed-network proxy for this process: kept for `info()` when a denial, and
   * on `events$` (placed after the current last log event) unless the log is already closed.
   */
  recordNetworkDecision(decision: NetworkPolicyDecision): void {
    if (this.#state === 'removed') return;
    this.#managedNetwork = true;
    if (decision.decision === 'deny') {
      this.#networkDenialsTotal++;
      this.#networkDenials.push(decision);
      if (this.#networkDenials.length > NETWORK_DENIALS_RETAINED) {
        this.#networkDenials = this.#networkDenials.slice(-NETWORK_DENIALS_RETAINED);
      }
    }
    this.#log.recordNetwork(decision);
  }

  /**
   * Whether the process failed because its sandbox (or the managed-network proxy) refused
   * something: see `classifySandboxDenied`. False while it runs; from the output retained now until
   * it closed, fixed from then on.
   */
  get sandboxDenied(): boolean {
    if (this.#finalSandboxDenied !== null) return this.#finalSandboxDenied;
    const exitCode = this.#log.exitCode;
    return exitCode === null ? false : this.#classify(exitCode);
  }

  #classify(exitCode: number): boolean {
    return classifySandboxDenied({
      sandboxType: this.#sandboxType,
      managedNetwork: this.#managedNetwork,
      exitCode,
      proxyDenials: this.#networkDenialsTotal,
      outputTail: () => this.#log.tail(DENIAL_SCAN_BYTES),
    });
  }

  /** The worker that owned the process died: record the failure, the exit and the close. */
  fail(failure: string, exitCode: number): void {
    this.actorGone();
    if (this.#log.isClosed) return;
    this.#log.setFailure(failure);
    this.#recordExit(exitCode);
    this.#recordClosed();
  }

  /** The actor's worker is gone: no answer to a control call will come now. */
  actorGone(): void {
    if (this.#actorIsGone) return;
    this.#actorIsGone = true;
    const pending = [...this.#pendingCalls];
    this.#pendingCalls.clear();
    for (const fallback of pending) fallback();
  }

  markRemoved(): void {
    this.#state = 'removed';
    this.#control = null;
    // Nobody can read it any more: its output leaves the runtime's budget.
    this.#log.discard();
    // Forgotten: nothing may wait on its actor any more.
    this.actorGone();
  }

  #recordExit(exitCode: number): void {
    if (this.#log.isExited) return;
    this.#log.recordExit(exitCode, this.#classify(exitCode));
    this.#resolveExited(exitCode);
  }

  #recordClosed(): void {
    if (this.#log.isClosed) return;
    this.#finalSandboxDenied = this.#classify(this.#log.exitCode ?? -1);
    this.#log.recordClosed();
    this.#resolveExited(this.#log.exitCode ?? -1);
    if (this.#state !== 'removed') this.#state = 'closed';
    this.#control = null;
    this.#resolveClosed();
    this.#onClosed(this);
  }

  #liveControl(): ProcessControl | null {
    return this.#state === 'running' ? this.#control : null;
  }

  // ---- Public API ---------------------------------------------------------------------------

  async read(options: ReadOptions = {}): Promise<ReadResult> {
    this.#assertKnown();
    const afterSeq = options.afterSeq ?? 0;
    const maxBytes = options.maxBytes ?? DEFAULT_READ_MAX_BYTES;
    const waitMs = options.waitMs ?? 0;
    const signal = options.signal ?? null;
    if (signal?.aborted) throw new AbortedError('read', { cause: signal.reason });
    if (waitMs > 0 && !this.#log.hasNews(afterSeq)) await this.#log.waitForChange(waitMs, signal);
    if (signal?.aborted) throw new AbortedError('read', { cause: signal.reason });
    const result = this.#log.read(afterSeq, maxBytes);
    // Flow control: what a read returned counts as delivered and acknowledged.
    if (this.#flowControlled && options.acknowledge !== false && result.chunks.length > 0) {
      this.#log.ack(result.nextSeq - 1);
    }
    return { ...result, sandboxDenied: this.sandboxDenied };
  }

  async write(data: Uint8Array | string, options: WriteOptions = {}): Promise<WriteStatus> {
    if (this.#state === 'removed') return 'unknownProcess';
    if (this.#state === 'starting') return 'starting';
    const writeId = options.writeId;
    if (writeId != null) {
      if (this.#writeIds.has(writeId)) return 'accepted';
      this.#rememberWriteId(writeId);
    }
    const control = this.#liveControl();
    if (control === null) return 'stdinClosed';
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    return this.#call(() => control.write(bytes), 'stdinClosed');
  }

  async closeStdin(): Promise<void> {
    this.#assertKnown();
    const control = this.#liveControl();
    if (control !== null) await this.#call(() => control.closeStdin(), undefined);
  }

  async resize(size: TerminalSize): Promise<void> {
    this.#assertKnown();
    if (!this.tty) throw new NotATtyError(this.processId);
    const control = this.#liveControl();
    if (control !== null)
      await this.#call(() => control.resize({ rows: size.rows, cols: size.cols }), undefined);
  }

  async signal(signal: SignalName): Promise<void> {
    this.#assertKnown();
    const nodeSignal = toNodeSignal(signal);
    const control = this.#liveControl();
    if (control !== null) await this.#call(() => control.signal(nodeSignal), false);
  }

  async terminate(options: TerminateOptions = {}): Promise<boolean> {
    const control = this.#liveControl();
    if (control === null) return false;
    return this.#call(() => control.terminate(options.graceMs ?? null), false);
  }

  async ack(seq: number): Promise<void> {
    this.#assertKnown();
    this.#log.ack(seq);
    return Promise.resolve();
  }

  info(): ProcessInfo {
    return {
      processId: this.processId,
      pid: this.#pid,
      tty: this.tty,
      sandboxType: this.#sandboxType,
      exited: this.#log.isExited,
      exitCode: this.#log.exitCode,
      closed: this.#log.isClosed,
      startedAtMs: this.startedAtMs,
      ...(this.#managedNetwork ? { networkDenials: [...this.#networkDenials] } : {}),
    };
  }

  #assertKnown(): void {
    if (this.#state === 'removed') throw new UnknownProcessError(this.processId);
  }

  #rememberWriteId(writeId: string): void {
    if (this.#writeIds.size >= WRITE_IDS_REMEMBERED) {
      const oldest = this.#writeIds.values().next().value;
      if (oldest !== undefined) this.#writeIds.delete(oldest);
    }
    this.#writeIds.add(writeId);
  }

  /**
   * A control call answered by the actor, or `fallback` once its worker is gone: a comlink call on a
   * dead thread's port would never settle. (A worker answers calls for finished actors itself.) Not
   * the `closed` event: it travels on the event port and can overtake the answer to a write the
   * child already took.
   */
  #call<T>(call: () => Promise<T>, fallback: T): Promise<T> {
    if (this.#actorIsGone) return Promise.resolve(fallback);
    // No reaction is left on any long-lived promise: a settled call takes its fallback out again
    // (chaining onto a promise that lives as long as the worker kept every handle alive).
    return new Promise<T>((resolve) => {
      const onGone = () => resolve(fallback);
      this.#pendingCalls.add(onGone);
      call()
        .then(resolve, () => resolve(fallback))
        .finally(() => this.#pendingCalls.delete(onGone));
    });
  }
}
