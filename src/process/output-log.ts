/**
 * The per-process replay log, on both sides of the wire: one seq counter shared by output chunks,
 * the exit and the close; retained chunks bounded by bytes (oldest evicted first); the source of
 * both `process/read` and the `events$` observable, so the two views never disagree.
 *
 * It is fed in one of two ways:
 * - as the **source** (the runtime's ProcessHandle): `append`, `recordExit` and `recordClosed` give
 *   each event the next seq;
 * - as a **follower** of a remote source (the client's RemoteProcess, given `catchUpRead`):
 *   `receive` takes each notification at its own seq. One ahead of the next seq (a notification was
 *   dropped, or the handle was adopted after a resume) starts a catch-up: reads from the last
 *   applied seq, merged with the notifications that arrive meanwhile, in seq order and without
 *   duplicates. Seqs the source no longer retained when the catch-up read them are skipped, never
 *   invented, and counted in `lostSeqs`.
 *
 * Acknowledgement (flow control): with `flowControl`, only acknowledged output is ever evicted, and
 * `onAcknowledged` reports the acknowledged byte total whenever it grows. A follower's
 * acknowledgements may name seqs it has not received yet (the source is the truth and is ahead).
 *
 * With a `budget` (the runtime's), every retained byte counts against the runtime-wide output
 * budget: past it, reclaimable output (anything not flow-controlled, and acknowledged
 * flow-controlled output) is evicted, this log's first; unacknowledged output never is.
 *
 * Managed-network decisions ride along as `network` events without a seq of their own: each is
 * placed after the log event that preceded it (`afterSeq`), both live and on replay, so output seqs
 * stay dense and `read` never sees them. The source records one after its last event
 * (`recordNetwork`); a follower (`receiveNetwork`) after the highest seq it was notified of, and
 * holds it back until the log has applied that far. The most recent `NETWORK_EVENTS_RETAINED` are
 * kept for replay.
 */
import { Observable, Subject } from 'rxjs';
import type {
  ClosedEvent,
  ExitedEvent,
  NetworkEvent,
  NetworkPolicyDecision,
  OutputEvent,
  OutputStream,
  ProcessActivity,
  ProcessEvent,
  ReadResult,
} from '../core/types.js';
import type { OutputBudget, Reclaimable } from './output-budget.js';

export interface OutputLogOptions {
  /** Retained output bound in bytes. */
  readonly retainedBytes: number;
  /**
   * Flow control: when set, only acknowledged chunks are ever evicted, and `onAcknowledged` reports
   * the total of acknowledged bytes whenever it grows (the process actor pauses and resumes the
   * child against it, next to the child, so the bound does not wait for a round trip).
   */
  readonly flowControl?: { readonly highWaterBytes: number; readonly lowWaterBytes: number } | null;
  readonly onAcknowledged?: (acknowledgedBytes: number) => void;
  /**
   * Makes this log a follower of a remote source: how it reads what it missed (`process/read` with
   * `waitMs: 0` and without acknowledging). Acknowledgements may then lead what was received.
   */
  readonly catchUpRead?: (afterSeq: number, maxBytes: number) => Promise<ReadResult>;
  /** The runtime-wide output budget this log's bytes count against. */
  readonly budget?: OutputBudget | null;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Network decisions kept for replay per process (the oldest are dropped first). */
export const NETWORK_EVENTS_RETAINED = 256;
/** Bounds each read of a follower's catch-up. */
const CATCH_UP_READ_MAX_BYTES = 4 * 1024 * 1024;

export interface ReadSnapshot extends ReadResult {
  readonly chunks: readonly OutputEvent[];
}

export class OutputLog implements Reclaimable {
  #retainedLimit: number;
  readonly #keepUnacknowledged: boolean;
  readonly #onAcknowledged: ((acknowledgedBytes: number) => void) | undefined;
  readonly #catchUpRead: ((afterSeq: number, maxBytes: number) => Promise<ReadResult>) | undefined;
  readonly #budget: OutputBudget | null;
  readonly #subject = new Subject<ProcessActivity>();
  readonly #waiters = new Set<() => void>();

  // Retained chunks live in #chunks[#head..]; the consumed prefix is compacted lazily.
  #chunks: OutputEvent[] = [];
  #head = 0;
  #retainedBytes = 0;
  #nextSeq = 1;
  #evictedThrough = 0;
  #exited: ExitedEvent | null = null;
  #closed: ClosedEvent | null = null;
  #failure: string | null = null;
  // Flow control accounting: bytes appended in total, and bytes acknowledged (a prefix by seq).
  #appendedBytes = 0;
  #ackedBytes = 0;
  #ackedSeq = 0;
  /** Dropped by its owner: holds nothing and takes nothing any more. */
  #discarded = false;
  /** Listed with the budget as holding reclaimable output. */
  #listed = false;
  /** Network events kept for replay, in order (afterSeq never decreases). */
  #network: NetworkEvent[] = [];
  #networkOrdinal = 0;
  /** Follower: network events placed after a seq not applied yet. */
  #networkPending: NetworkEvent[] = [];

  // ---- follower state ----
  /** Notifications ahead of the next seq: out of order, or arrived during a catch-up. */
  readonly #pending = new Map<number, ProcessEvent>();
  #catchingUp = false;
  #lostSeqs = 0;
  /** Highest seq any notification carried. */
  #notifiedSeq = 0;
  /** An exit code learnt without its event (from a read answer), for an exit the close implies. */
  #exitCodeHint: number | null = null;

  constructor(options: OutputLogOptions) {
    this.#retainedLimit = options.retainedBytes;
    this.#keepUnacknowledged = options.flowControl != null;
    this.#onAcknowledged = options.onAcknowledged;
    this.#catchUpRead = options.catchUpRead;
    this.#budget = options.budget ?? null;
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }
  get exitCode(): number | null {
    return this.#exited?.exitCode ?? null;
  }
  get isExited(): boolean {
    return this.#exited !== null;
  }
  get isClosed(): boolean {
    return this.#closed !== null;
  }
  get failure(): string | null {
    return this.#failure;
  }
  get retainedBytes(): number {
    return this.#retainedBytes;
  }
  get firstRetainedSeq(): number {
    return this.#evictedThrough + 1;
  }
  /** Follower: seqs skipped because the source no longer retained them when they were caught up. */
  get lostSeqs(): number {
    return this.#lostSeqs;
  }
  get unacknowledgedBytes(): number {
    return this.#appendedBytes - this.#ackedBytes;
  }

  // ---- the source's side ------------------------------------------------------------------------

  append(stream: OutputStream, chunk: Uint8Array): OutputEvent | undefined {
    if (chunk.byteLength === 0) return undefined;
    if (this.#closed !== null || this.#discarded) {
      // Flow-controlled bytes were counted as unacknowledged when the worker sent them.
      if (this.#keepUnacknowledged) this.#budget?.releaseUnacknowledged(chunk.byteLength);
      return undefined;
    }
    const event: OutputEvent = { type: 'output', seq: this.#nextSeq, stream, chunk };
    this.#pushOutput(event);
    return event;
  }

  /** Records the exit; `sandboxDenied` (when given) travels with the event. */
  recordExit(exitCode: number, sandboxDenied?: boolean): void {
    if (this.#exited !== null || this.#closed !== null) return;
    this.#pushExit({
      type: 'exited',
      seq: this.#nextSeq,
      exitCode,
      ...(sandboxDenied === undefined ? {} : { sandboxDenied }),
    });
  }

  /** A managed-network decision, placed after the last event recorded; none once closed. */
  recordNetwork(decision: NetworkPolicyDecision): NetworkEvent | undefined {
    if (this.#closed !== null || this.#discarded) return undefined;
    const event = this.#networkEvent(this.#nextSeq - 1, decision);
    this.#emitNetwork(event);
    return event;
  }

  /** The output retained now, its last `maxBytes` at most, as text (for classifying a failure). */
  tail(maxBytes: number): string {
    const parts: Uint8Array[] = [];
    let bytes = 0;
    for (let index = this.#chunks.length - 1; index >= this.#head && bytes < maxBytes; index--) {
      const chunk = this.#chunks[index]!.chunk;
      const take = Math.min(chunk.byteLength, maxBytes - bytes);
      parts.unshift(chunk.subarray(chunk.byteLength - take));
      bytes += take;
    }
    return Buffer.concat(parts, bytes).toString('utf8');
  }

  /** Records the close (and an exit first, if none was recorded). Nothing follows it. */
  recordClosed(): void {
    if (this.#closed !== null) return;
    if (this.#exited === null) this.recordExit(-1);
    this.#pushClosed({ type: 'closed', seq: this.#nextSeq });
  }

  setFailure(failure: string): void {
    if (this.#failure === null) this.#failure = failure;
    this.#wake();
  }

  /**
   * The owner is done with this log (the process was removed): everything it holds leaves the
   * budget, unacknowledged output included, and anything appended later is dropped.
   */
  discard(): void {
    if (this.#discarded) return;
    this.#discarded = true;
    this.#network = [];
    this.#networkPending = [];
    this.#evictDownTo(0, true);
    if (this.#keepUnacknowledged) {
      this.#budget?.releaseUnacknowledged(this.unacknowledgedBytes);
      this.#ackedBytes = this.#appendedBytes;
    }
    this.#updateReclaimable();
  }

  // ---- the follower's side ----------------------------------------------------------------------

  /**
   * A notification from the source: applied now if it carries the next seq, else kept until the
   * gap before it is filled by a catch-up.
   */
  receive(event: ProcessEvent): void {
    if (event.seq > this.#notifiedSeq) this.#notifiedSeq = event.seq;
    if (event.seq < this.#nextSeq || this.#closed !== null || this.#failure !== null) return;
    if (this.#catchingUp || event.seq !== this.#nextSeq) {
      this.#pending.set(event.seq, event);
      if (!this.#catchingUp) void this.catchUp();
      return;
    }
    this.#insert(event);
    if (this.#pending.size > 0) this.#drainPending();
  }

  /**
   * Follower: a network decision notified by the source, placed after the highest seq notified so
   * far (the source sends events in order); held until the log has applied that seq.
   */
  receiveNetwork(decision: NetworkPolicyDecision): void {
    if (this.#closed !== null || this.#failure !== null) return;
    const event = this.#networkEvent(Math.max(this.#notifiedSeq, this.#nextSeq - 1), decision);
    if (event.afterSeq < this.#nextSeq && this.#networkPending.length === 0) this.#emitNetwork(event);
    else this.#networkPending.push(event);
  }

  /** The exit code is known (from a read answer) although its event has not arrived. */
  noteExitCode(exitCode: number): void {
    this.#exitCodeHint ??= exitCode;
  }

  /**
   * Follower: fills the gap below the lowest kept notification (or, for an adopted handle,
   * everything retained) with reads from the last applied seq, applying read chunks and kept
   * notifications together in seq order. Ends once a read finds nothing newer, or the
   * notifications connect to what was applied again.
   */
  async catchUp(): Promise<void> {
    const read = this.#catchUpRead;
    if (read === undefined || this.#catchingUp) return;
    this.#catchingUp = true;
    try {
      while (this.#closed === null && this.#failure === null) {
        const result = await read(this.#nextSeq - 1, CATCH_UP_READ_MAX_BYTES);
        if (this.#failure !== null || this.#closed !== null) return;
        const atEnd = result.chunks.length === 0;
        this.#applyWindow(result, atEnd);
        this.#drainPending();
        if (atEnd) break;
        if (this.#pending.size === 0 && this.#notifiedSeq > 0 && this.#notifiedSeq < this.#nextSeq) break;
      }
    } catch (error) {
      // The process is gone on the source (removed after its retention): nothing more will come.
      if (this.#closed === null && this.#failure === null) this.#subject.error(error);
      return;
    } finally {
      this.#catchingUp = false;
    }
    // Anything still kept is past a gap nothing can fill any more: apply it, counting the gap.
    if (this.#pending.size > 0 && this.#closed === null && this.#failure === null) {
      for (const seq of [...this.#pending.keys()].sort((a, b) => a - b)) {
        const event = this.#pending.get(seq);
        this.#pending.delete(seq);
        if (event !== undefined) this.#insert(event);
      }
    }
  }

  /** The source is out of reach for good: `events$` fails with `error` and nothing more is taken. */
  abort(error: Error): void {
    if (this.#failure !== null || this.#closed !== null) return;
    this.#failure = error.message;
    this.#pending.clear();
    this.#networkPending = [];
    this.#subject.error(error);
    this.#wake();
  }

  #drainPending(): void {
    for (let next = this.#pending.get(this.#nextSeq); next !== undefined;) {
      this.#pending.delete(next.seq);
      this.#insert(next);
      next = this.#pending.get(this.#nextSeq);
    }
    for (const seq of this.#pending.keys()) if (seq < this.#nextSeq) this.#pending.delete(seq);
  }

  /** Applies one event at its own seq (at or past the next seq); skipped seqs count as lost. */
  #insert(event: ProcessEvent): void {
    if (event.seq < this.#nextSeq || this.#closed !== null) return;
    switch (event.type) {
      case 'output':
        this.#lostSeqs += event.seq - this.#nextSeq;
        this.#pushOutput(event);
        return;
      case 'exited':
        if (this.#exited !== null) return;
        this.#lostSeqs += event.seq - this.#nextSeq;
        this.#pushExit(event);
        return;
      case 'closed':
        if (this.#exited === null) {
          // The exit's own seq was never learnt (lost with a connection, or evicted): it is taken
          // to come right before the close.
          const seq = event.seq - 1;
          const exitCode = this.#exitCodeHint ?? -1;
          if (seq >= this.#nextSeq) {
            this.#lostSeqs += seq - this.#nextSeq;
            this.#pushExit({ type: 'exited', seq, exitCode });
          } else {
            this.#exited = { type: 'exited', seq, exitCode };
            this.#subject.next(this.#exited);
          }
        }
        this.#lostSeqs += event.seq - this.#nextSeq;
        this.#pending.clear();
        this.#pushClosed(event);
        return;
    }
  }

  /** One read answer merged with the kept notifications it covers, applied in seq order. */
  #applyWindow(result: ReadResult, atEnd: boolean): void {
    const cursor = this.#nextSeq - 1;
    const windowEnd = result.nextSeq - 1;
    const window = new Map<number, ProcessEvent>();
    for (const c of result.chunks) {
      if (c.seq > cursor) window.set(c.seq, { type: 'output', seq: c.seq, stream: c.stream, chunk: c.chunk });
    }
    let closedKnown = false;
    let exitKnown = this.#exited !== null;
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
      this.#insert(window.get(seq)!);
    }
  }

  // ---- both sides -------------------------------------------------------------------------------

  /** Acknowledge output up to and including `seq` (flow control). */
  ack(seq: number): void {
    if (seq <= this.#ackedSeq) return;
    const before = this.#ackedBytes;
    const chunks = this.#chunks;
    // Walk the unacknowledged retained chunks; with flow control nothing unacknowledged is evicted.
    let index = this.#indexAfter(this.#ackedSeq);
    while (index < chunks.length) {
      const chunk = chunks[index]!;
      if (chunk.seq > seq) break;
      this.#ackedBytes += chunk.chunk.byteLength;
      index++;
    }
    // A source never takes an ack ahead of its output (that would wave future output through); a
    // follower does: its source has that output, and acknowledged it.
    this.#ackedSeq = this.#catchUpRead !== undefined ? seq : Math.min(seq, this.#nextSeq - 1);
    const acknowledged = this.#ackedBytes - before;
    if (acknowledged > 0 && this.#keepUnacknowledged && this.#budget !== null) {
      this.#budget.releaseUnacknowledged(acknowledged);
      this.#updateReclaimable();
    }
    this.#evict();
    if (this.#keepUnacknowledged && acknowledged > 0 && this.#closed === null) {
      this.#onAcknowledged?.(this.#ackedBytes);
    }
  }

  /** The read algorithm of the protocol (§4 `process/read`), without the wait. */
  read(afterSeq: number, maxBytes: number): ReadSnapshot {
    const chunks = this.#chunks;
    const taken: OutputEvent[] = [];
    let bytes = 0;
    for (let index = this.#indexAfter(afterSeq); index < chunks.length; index++) {
      const chunk = chunks[index]!;
      const size = chunk.chunk.byteLength;
      if (taken.length > 0 && bytes + size > maxBytes) break;
      taken.push(chunk);
      bytes += size;
    }
    const last = taken[taken.length - 1];
    return {
      chunks: taken,
      nextSeq: last === undefined ? this.#nextSeq : last.seq + 1,
      exited: this.#exited !== null,
      exitCode: this.#exited?.exitCode ?? null,
      closed: this.#closed !== null,
      failure: this.#failure,
      firstRetainedSeq: this.firstRetainedSeq,
    };
  }

  /** Whether a read after `afterSeq` has something to answer at once. */
  hasNews(afterSeq: number): boolean {
    if (this.#closed !== null || this.#failure !== null) return true;
    if (this.#exited !== null && this.#exited.seq > afterSeq) return true;
    return this.#indexAfter(afterSeq) < this.#chunks.length;
  }

  /** Resolves on the next append, exit, close or failure, after `waitMs`, or once `signal` aborts. */
  waitForChange(waitMs: number, signal?: AbortSignal | null): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      // Node cuts longer delays to 1 ms; 2^31-1 ms is 24 days, as good as forever for a long-poll.
      const timer = setTimeout(done, Math.min(Math.max(waitMs, 0), MAX_TIMER_MS));
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Every retained event in seq order, then live events; completes after `closed` (fails, for a
   * follower whose source was lost).
   */
  readonly events$: Observable<ProcessActivity> = new Observable<ProcessActivity>((subscriber) => {
    // Replay and subscribe in one synchronous step: nothing can be appended in between.
    const exited = this.#exited;
    let exitedSent = exited === null;
    // Snapshots: a subscriber that acknowledges during the replay may evict and compact the log.
    const retained = this.#chunks.slice(this.#head);
    const network = [...this.#network];
    let networkSent = 0;
    /** Network events that happened before the log event `seq`. */
    const networkBefore = (seq: number) => {
      while (networkSent < network.length && network[networkSent]!.afterSeq < seq) {
        if (subscriber.closed) return;
        subscriber.next(network[networkSent++]!);
      }
    };
    const next = (event: ProcessEvent) => {
      networkBefore(event.seq);
      if (!subscriber.closed) subscriber.next(event);
    };
    for (const chunk of retained) {
      if (subscriber.closed) return undefined;
      if (!exitedSent && exited!.seq < chunk.seq) {
        next(exited!);
        exitedSent = true;
      }
      next(chunk);
    }
    if (!exitedSent) next(exited!);
    if (this.#closed !== null) {
      next(this.#closed);
      if (!subscriber.closed) subscriber.complete();
      return undefined;
    }
    networkBefore(Number.POSITIVE_INFINITY);
    if (subscriber.closed) return undefined;
    // (A subject that failed fails every later subscriber at once.)
    const subscription = this.#subject.subscribe(subscriber);
    return () => subscription.unsubscribe();
  });

  /** Budget pressure (`Reclaimable`): evicts reclaimable output, oldest first; returns bytes freed. */
  reclaim(bytes: number): number {
    const before = this.#retainedBytes;
    this.#evictDownTo(Math.max(0, before - bytes), false);
    return before - this.#retainedBytes;
  }

  // ---- internals --------------------------------------------------------------------------------

  #networkEvent(afterSeq: number, decision: NetworkPolicyDecision): NetworkEvent {
    return { type: 'network', afterSeq, ordinal: ++this.#networkOrdinal, decision };
  }

  #emitNetwork(event: NetworkEvent): void {
    this.#network.push(event);
    if (this.#network.length > NETWORK_EVENTS_RETAINED)
      this.#network = this.#network.slice(-NETWORK_EVENTS_RETAINED);
    this.#subject.next(event);
  }

  /** Follower: emits the held network events the log has now reached (all of them with `all`). */
  #releaseNetwork(all = false): void {
    const pending = this.#networkPending;
    let released = 0;
    while (released < pending.length && (all || pending[released]!.afterSeq < this.#nextSeq)) {
      this.#emitNetwork(pending[released++]!);
    }
    if (released > 0) this.#networkPending = pending.slice(released);
  }

  #pushOutput(event: OutputEvent): void {
    const size = event.chunk.byteLength;
    this.#nextSeq = event.seq + 1;
    this.#chunks.push(event);
    this.#retainedBytes += size;
    this.#appendedBytes += size;
    const budget = this.#budget;
    if (budget === null) {
      this.#evict();
    } else {
      const over = budget.retain(size);
      this.#evict();
      // (Unacknowledged output is not reclaimable: a flow-controlled append changes nothing there.)
      if (!this.#listed && !this.#keepUnacknowledged) this.#updateReclaimable();
      if (over && budget.excessBytes > 0) this.#relieve(budget, size);
    }
    this.#subject.next(event);
    if (this.#networkPending.length > 0) this.#releaseNetwork();
    this.#wake();
  }

  #pushExit(event: ExitedEvent): void {
    this.#nextSeq = event.seq + 1;
    this.#exited = event;
    this.#subject.next(event);
    if (this.#networkPending.length > 0) this.#releaseNetwork();
    this.#wake();
  }

  #pushClosed(event: ClosedEvent): void {
    // Whatever is still held came before the close (nothing is recorded after it).
    if (this.#networkPending.length > 0) this.#releaseNetwork(true);
    this.#nextSeq = event.seq + 1;
    this.#closed = event;
    this.#subject.next(event);
    this.#subject.complete();
    this.#wake();
  }

  #updateReclaimable(): void {
    const listed = !this.#discarded && this.#reclaimableBytes() > 0;
    if (listed === this.#listed) return;
    this.#listed = listed;
    this.#budget!.markReclaimable(this, listed);
  }

  #reclaimableBytes(): number {
    return this.#keepUnacknowledged
      ? this.#retainedBytes - (this.#appendedBytes - this.#ackedBytes)
      : this.#retainedBytes;
  }

  #indexAfter(afterSeq: number): number {
    // Binary search for the first retained chunk with seq > afterSeq.
    const chunks = this.#chunks;
    let low = this.#head;
    let high = chunks.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (chunks[mid]!.seq <= afterSeq) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /**
   * Changes the retention bound (bytes of output kept for replay); a lower one evicts at once what
   * is over it. The client raises it while the output that led a start answer waits for the caller.
   */
  setRetainedLimit(bytes: number): void {
    this.#retainedLimit = bytes;
    this.#evict();
  }

  #evict(): void {
    if (this.#retainedBytes > this.#retainedLimit) this.#evictDownTo(this.#retainedLimit, false);
  }

  /**
   * Evicts the oldest chunks while more than `target` bytes are retained, leaving at least
   * `spareBytes` of the newest. A flow-controlled log never drops what its consumer has not
   * acknowledged, unless `all` (the log is discarded).
   */
  #evictDownTo(target: number, all: boolean, spareBytes = 0): void {
    const chunks = this.#chunks;
    const keep = this.#keepUnacknowledged && !all;
    const floor = Math.max(target, spareBytes);
    let freed = 0;
    while (this.#retainedBytes > floor && this.#head < chunks.length) {
      const oldest = chunks[this.#head]!;
      if (keep && oldest.seq > this.#ackedSeq) break;
      this.#retainedBytes -= oldest.chunk.byteLength;
      freed += oldest.chunk.byteLength;
      this.#evictedThrough = oldest.seq;
      chunks[this.#head] = undefined as unknown as OutputEvent;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > chunks.length) {
      this.#chunks = chunks.slice(this.#head);
      this.#head = 0;
    }
    if (this.#budget !== null && freed > 0) {
      this.#budget.free(freed);
      // Without flow control whatever is left is reclaimable: listed it stays, unless emptied.
      if (keep || this.#retainedBytes === 0 || !this.#listed) this.#updateReclaimable();
    }
  }

  /**
   * Over the budget: this log's own older reclaimable output goes first, then other logs', then,
   * if nothing else is left, the chunk just appended (live subscribers have it all the same).
   */
  #relieve(budget: OutputBudget, newestBytes: number): void {
    this.#evictDownTo(this.#retainedBytes - budget.excessBytes, false, newestBytes);
    if (budget.excessBytes > 0) budget.relieve(this);
    if (budget.excessBytes > 0) this.reclaim(budget.excessBytes);
  }

  #wake(): void {
    if (this.#waiters.size === 0) return;
    for (const waiter of [...this.#waiters]) waiter();
  }
}
