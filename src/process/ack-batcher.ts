/**
 * Acknowledgements of delivered output, coalesced per process and sent once a batch of bytes is
 * reached or on the next turn of the event loop, so a stream of small chunks does not cost one
 * acknowledgement per chunk. The server uses it for processes it flow-controls on a client's behalf
 * (acknowledging what left in notifications), the client for what `events$` delivered.
 */
import type { ExecProcess } from '../core/types.js';

/** Acknowledge at once when this many bytes are waiting; otherwise on the next setImmediate. */
const ACK_BATCH_BYTES = 256 * 1024;

interface PendingAck {
  seq: number;
  bytes: number;
}

export class AckBatcher {
  readonly #pending = new Map<ExecProcess, PendingAck>();
  #scheduled: NodeJS.Immediate | null = null;
  #microtask = false;
  readonly #batchBytes: number;

  /** `batchBytes`: acknowledge at once when this many bytes of one process wait (default 256 KiB). */
  constructor(batchBytes = ACK_BATCH_BYTES) {
    this.#batchBytes = batchBytes;
  }

  /** Output up to and including `seq` (`bytes` more of it) may be acknowledged. */
  note(process: ExecProcess, seq: number, bytes: number): void {
    let entry = this.#pending.get(process);
    if (entry === undefined) {
      entry = { seq, bytes: 0 };
      this.#pending.set(process, entry);
    }
    entry.seq = Math.max(entry.seq, seq);
    entry.bytes += bytes;
    // Never synchronously: `note` runs inside an events$ subscriber, possibly in the middle of the
    // log's replay loop, and an ack may evict (and compact) the very array that loop walks.
    if (entry.bytes >= this.#batchBytes) {
      if (!this.#microtask) {
        this.#microtask = true;
        queueMicrotask(() => {
          this.#microtask = false;
          this.#flushFull();
        });
      }
      return;
    }
    this.#scheduled ??= setImmediate(() => {
      this.#scheduled = null;
      this.flush();
    });
  }

  /** Sends the acknowledgements that reached a full batch. */
  #flushFull(): void {
    for (const [process, entry] of [...this.#pending]) {
      if (entry.bytes < this.#batchBytes) continue;
      this.#pending.delete(process);
      ackQuietly(process, entry.seq);
    }
  }

  /** Sends every pending acknowledgement now. */
  flush(): void {
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const [process, entry] of pending) ackQuietly(process, entry.seq);
  }

  dispose(): void {
    if (this.#scheduled !== null) clearImmediate(this.#scheduled);
    this.#scheduled = null;
    this.flush();
  }
}

/** A process removed meanwhile answers with an error that nobody needs. */
function ackQuietly(process: ExecProcess, seq: number): void {
  process.ack(seq).catch(() => undefined);
}
