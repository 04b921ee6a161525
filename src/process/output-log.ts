/**
 * The per-process log on the main thread: one seq counter shared by output chunks, the exit and
 * the close; retained chunks bounded by bytes (oldest evicted first); the source of both
 * `process/read` and the `events$` observable, so the two views never disagree.
 */
import { Observable, Subject } from 'rxjs';
import type {
  ClosedEvent,
  ExitedEvent,
  OutputEvent,
  OutputStream,
  ProcessEvent,
  ReadResult,
} from '../core/types.js';

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
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ReadSnapshot extends ReadResult {
  readonly chunks: readonly OutputEvent[];
}

export class OutputLog {
  readonly #retainedLimit: number;
  readonly #flow: { readonly highWaterBytes: number; readonly lowWaterBytes: number } | null;
  readonly #onAcknowledged: ((acknowledgedBytes: number) => void) | undefined;
  readonly #subject = new Subject<ProcessEvent>();
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

  constructor(options: OutputLogOptions) {
    this.#retainedLimit = options.retainedBytes;
    this.#flow = options.flowControl ?? null;
    this.#onAcknowledged = options.onAcknowledged;
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

  append(stream: OutputStream, chunk: Uint8Array): OutputEvent | undefined {
    if (this.#closed !== null || chunk.byteLength === 0) return undefined;
    const event: OutputEvent = { type: 'output', seq: this.#nextSeq++, stream, chunk };
    this.#chunks.push(event);
    this.#retainedBytes += chunk.byteLength;
    this.#appendedBytes += chunk.byteLength;
    this.#evict();
    this.#subject.next(event);
    this.#wake();
    return event;
  }

  recordExit(exitCode: number): void {
    if (this.#exited !== null || this.#closed !== null) return;
    this.#exited = { type: 'exited', seq: this.#nextSeq++, exitCode };
    this.#subject.next(this.#exited);
    this.#wake();
  }

  /** Records the close (and an exit first, if none was recorded). Nothing follows it. */
  recordClosed(): void {
    if (this.#closed !== null) return;
    if (this.#exited === null) this.recordExit(-1);
    this.#closed = { type: 'closed', seq: this.#nextSeq++ };
    this.#subject.next(this.#closed);
    this.#subject.complete();
    this.#wake();
  }

  setFailure(failure: string): void {
    if (this.#failure === null) this.#failure = failure;
    this.#wake();
  }

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
    this.#ackedSeq = Math.min(seq, this.#nextSeq - 1);
    this.#evict();
    if (this.#flow !== null && this.#ackedBytes > before && this.#closed === null) {
      this.#onAcknowledged?.(this.#ackedBytes);
    }
  }

  get unacknowledgedBytes(): number {
    return this.#appendedBytes - this.#ackedBytes;
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

  /** Every retained event in seq order, then live events; completes after `closed`. */
  readonly events$: Observable<ProcessEvent> = new Observable<ProcessEvent>((subscriber) => {
    // Replay and subscribe in one synchronous step: nothing can be appended in between.
    const exited = this.#exited;
    let exitedSent = exited === null;
    // A snapshot: a subscriber that acknowledges during the replay may evict and compact the log.
    const retained = this.#chunks.slice(this.#head);
    for (const chunk of retained) {
      if (subscriber.closed) return undefined;
      if (!exitedSent && exited!.seq < chunk.seq) {
        subscriber.next(exited!);
        exitedSent = true;
      }
      subscriber.next(chunk);
    }
    if (!exitedSent) subscriber.next(exited!);
    if (this.#closed !== null) {
      subscriber.next(this.#closed);
      subscriber.complete();
      return undefined;
    }
    const subscription = this.#subject.subscribe(subscriber);
    return () => subscription.unsubscribe();
  });

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

  #evict(): void {
    const chunks = this.#chunks;
    while (this.#retainedBytes > this.#retainedLimit && this.#head < chunks.length) {
      const oldest = chunks[this.#head]!;
      // A flow-controlled process never drops what its consumer has not acknowledged.
      if (this.#flow !== null && oldest.seq > this.#ackedSeq) break;
      this.#retainedBytes -= oldest.chunk.byteLength;
      this.#evictedThrough = oldest.seq;
      chunks[this.#head] = undefined as unknown as OutputEvent;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > chunks.length) {
      this.#chunks = chunks.slice(this.#head);
      this.#head = 0;
    }
  }

  #wake(): void {
    if (this.#waiters.size === 0) return;
    for (const waiter of [...this.#waiters]) waiter();
  }
}
