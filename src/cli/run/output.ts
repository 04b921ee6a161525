/**
 * The output side of `execvisor run`: the child's output copied to this process's stdout and
 * stderr with backpressure from end to end, and a closed reader handled as a shell would.
 *
 * The child runs under flow control and this loop reads its log: each `read()` acknowledges what
 * it returns, and the next read waits until neither stream holds more than a small backlog the OS
 * has not taken. So at most the flow-control window, one read and the backlogs are ever held here,
 * and a child faster than our reader is paused by its own full pipe, as it would be in a shell
 * pipeline. Once stdout or stderr fails with EPIPE (the reader is gone), the loop keeps reading
 * the log (so the child is never left paused) but discards what it reads.
 */
import type { Writable } from 'node:stream';
import type { ExecProcess, FlowControl, OutputStream, ReadResult } from '../../core/types.js';

/** The window the child may run ahead of what this process has written out. */
export const RUN_FLOW_CONTROL: FlowControl = Object.freeze({
  highWaterBytes: 4 * 1024 * 1024,
  lowWaterBytes: 1024 * 1024,
});
/** Bytes taken by one read: what this process holds at most beyond the window. */
const READ_MAX_BYTES = 1024 * 1024;
/** What a stream may hold that the OS has not taken yet before the next read waits for it. */
const BACKLOG_BYTES = 1024 * 1024;
/** A read waits this long for output before it asks again (any output answers it at once). */
const READ_WAIT_MS = 60_000;

/** stdout and stderr, with the first write error (EPIPE or another) remembered. */
export class OutputSink {
  readonly #stdout: Writable;
  readonly #stderr: Writable;
  #error: NodeJS.ErrnoException | null = null;
  #onError: (error: NodeJS.ErrnoException) => void = () => undefined;

  constructor(stdout: Writable, stderr: Writable) {
    this.#stdout = stdout;
    this.#stderr = stderr;
    const fail = (error: NodeJS.ErrnoException) => {
      if (this.#error !== null) return;
      this.#error = error;
      this.#onError(error);
    };
    // Without a listener an EPIPE would be thrown as an uncaught exception.
    stdout.on('error', fail);
    stderr.on('error', fail);
  }

  /** The first write error, once there was one. */
  get error(): NodeJS.ErrnoException | null {
    return this.#error;
  }

  /** Called once, at the first write error. */
  set onError(listener: (error: NodeJS.ErrnoException) => void) {
    this.#onError = listener;
  }

  /** Hands a chunk to its stream (which queues it while the OS cannot take it yet). */
  write(stream: OutputStream, chunk: Uint8Array): void {
    if (this.#error !== null) return;
    (stream === 'stderr' ? this.#stderr : this.#stdout).write(chunk);
  }

  /**
   * Resolves once neither stream holds more than `BACKLOG_BYTES` not yet taken by the OS. The
   * streams wait apart: a stdout nobody reads does not hold back what goes to stderr.
   */
  async settle(): Promise<void> {
    for (const destination of [this.#stdout, this.#stderr]) {
      while (this.#error === null && !destination.destroyed && destination.writableLength > BACKLOG_BYTES) {
        await new Promise<void>((resolve) => {
          const done = () => {
            destination.off('drain', done);
            destination.off('error', done);
            destination.off('close', done);
            resolve();
          };
          destination.on('drain', done);
          destination.on('error', done);
          destination.on('close', done);
        });
      }
    }
  }
}

/**
 * Copies the child's output to `sink` until the child has closed; resolves with the last read,
 * which carries the exit code and any failure.
 */
export async function pumpOutput(child: ExecProcess, sink: OutputSink): Promise<ReadResult> {
  let afterSeq = 0;
  for (;;) {
    const result = await child.read({ afterSeq, maxBytes: READ_MAX_BYTES, waitMs: READ_WAIT_MS });
    for (const { stream, chunk } of result.chunks) sink.write(stream, chunk);
    await sink.settle();
    afterSeq = result.nextSeq - 1;
    if (result.closed && (result.chunks.length === 0 || result.failure !== null)) return result;
  }
}
