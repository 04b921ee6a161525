/**
 * Coalesces a process's output into one transferred buffer per batch: flushed when it reaches
 * `batchBytes` or at the end of the current turn of the event loop (setImmediate runs right after
 * the poll phase that delivered the reads). Segments keep arrival order across streams.
 */
import type { OutputStream } from '../runtime/types.js';

export type BatchSink = (data: Uint8Array, segments: (readonly [OutputStream, number])[]) => void;

export class OutputBatcher {
  readonly #limit: number;
  readonly #sink: BatchSink;
  #parts: Buffer[] = [];
  #segments: [OutputStream, number][] = [];
  #bytes = 0;
  #scheduled: NodeJS.Immediate | null = null;

  constructor(batchBytes: number, sink: BatchSink) {
    this.#limit = batchBytes;
    this.#sink = sink;
  }

  push(stream: OutputStream, data: Buffer): void {
    const size = data.byteLength;
    if (size === 0) return;
    const last = this.#segments[this.#segments.length - 1];
    if (last !== undefined && last[0] === stream) last[1] += size;
    else this.#segments.push([stream, size]);
    this.#parts.push(data);
    this.#bytes += size;
    if (this.#bytes >= this.#limit) this.flush();
    else this.#scheduled ??= setImmediate(() => this.flush());
  }

  flush(): void {
    if (this.#scheduled !== null) {
      clearImmediate(this.#scheduled);
      this.#scheduled = null;
    }
    if (this.#bytes === 0) return;
    const parts = this.#parts;
    const only = parts.length === 1 ? parts[0]! : undefined;
    let data: Uint8Array;
    if (only !== undefined && only.byteOffset === 0 && only.byteLength === only.buffer.byteLength) {
      // A read buffer that owns its whole ArrayBuffer is transferred as it is: no copy.
      data = new Uint8Array(only.buffer, 0, only.byteLength);
    } else {
      data = Buffer.concat(parts, this.#bytes);
      if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = new Uint8Array(data);
    }
    const segments = this.#segments;
    this.#parts = [];
    this.#segments = [];
    this.#bytes = 0;
    this.#sink(data, segments);
  }

  dispose(): void {
    if (this.#scheduled !== null) clearImmediate(this.#scheduled);
    this.#scheduled = null;
  }
}
