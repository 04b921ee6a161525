/**
 * The terminal side every terminal backend shares (the native one, src/spawn/native-backend.ts, and
 * node-pty's, src/spawn/pty-backend.ts): reading the master until no byte is lost, writing to it,
 * and the `SpawnedChild` a terminal answers with. The backends differ only in how the child and the
 * two descriptors come to be, and in how a window is resized.
 *
 * No loss: the kernel can report EOF on the master while the last bytes a dead child wrote are still
 * in the terminal's flip buffer (seen losing 256 B to 8 KiB of a 1 MiB burst under load), so we hold
 * a descriptor of the slave side ourselves: the master cannot hang up while we do. Once the child has
 * exited we write a random sentinel into the slave; it queues behind everything the child wrote, so
 * when it comes out of the master the child's output is complete. We strip it and let go of the
 * slave. `close` comes once the exit is known and the master has reached its end (EOF, or EIO once no
 * process holds the terminal and all was read).
 */
import { write as fsWrite } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ReadStream } from 'node:tty';
import type { TerminalSize } from '../core/types.js';
import type { SpawnHandlers, SpawnedChild } from './types.js';

/** Ctrl-D: the terminal's end-of-file character in canonical mode. */
const VEOF = Uint8Array.of(4);
/** If the sentinel has not come back by then (a terminal stopped with ^S), let go of the slave anyway. */
const DRAIN_TIMEOUT_MS = 10_000;

export interface TerminalOptions {
  /** The master descriptor (non-blocking); the terminal reads, writes and finally closes it. */
  readonly master: number;
  /** Our own descriptor of the slave side, or null if none could be had. */
  readonly slave: number | null;
  /** Closes `slave` (whoever opened it knows how). */
  readonly closeSlave: (fd: number) => void;
  readonly handlers: SpawnHandlers;
}

/** A child's terminal from the spawn on: feed it the exit with `exited()`, and answer with `child()`. */
export class Terminal {
  readonly #handlers: SpawnHandlers;
  readonly #stream: ReadStream;
  readonly #writer: FdWriter;
  readonly #closeSlave: (fd: number) => void;
  #slave: number | null;
  #drain: SentinelFilter | null = null;
  #exited = false;
  #ended = false;
  #closed = false;

  constructor(options: TerminalOptions) {
    this.#handlers = options.handlers;
    this.#slave = options.slave;
    this.#closeSlave = options.closeSlave;
    this.#stream = new ReadStream(options.master);
    this.#writer = new FdWriter(options.master);
    this.#stream.on('data', (data: Buffer) => this.#onData(data));
    // Linux reports EIO on the master once no process holds the terminal and all was read.
    this.#stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EAGAIN') return;
      this.end();
    });
    this.#stream.on('end', () => this.end());
    this.#stream.on('close', () => this.end());
  }

  /** The child exited (its `onExit` is reported): drain what it wrote, then close. */
  exited(): void {
    this.#exited = true;
    this.#startDrain();
    this.#maybeClose();
  }

  /** Stops reading: lets go of the slave and the master; `close` follows once the exit is known. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#releaseSlave();
    this.#writer.stop();
    this.#stream.destroy();
    this.#maybeClose();
  }

  /** What the backend answers the spawn with; `resize` is the backend's own. */
  child(pid: number, resize: (size: TerminalSize) => void): SpawnedChild {
    return {
      pid,
      write: (data) => (this.#ended ? Promise.resolve('stdinClosed') : this.#writer.write(data)),
      closeStdin: () => {
        if (!this.#ended) void this.#writer.write(VEOF);
      },
      resize: (size) => {
        if (!this.#ended) resize(size);
      },
      pause: () => this.#stream.pause(),
      resume: () => this.#stream.resume(),
      abandonOutput: () => this.end(),
    };
  }

  #onData(data: Buffer): void {
    const filter = this.#drain;
    if (filter === null) {
      this.#handlers.onData('pty', data);
      return;
    }
    const { before, found, after } = filter.feed(data);
    if (before.byteLength > 0) this.#handlers.onData('pty', before);
    if (!found) return;
    this.#drain = null;
    this.#releaseSlave();
    if (after.byteLength > 0) this.#handlers.onData('pty', after);
  }

  /** After the exit: push a sentinel through the terminal behind the child's last output. */
  #startDrain(): void {
    const slave = this.#slave;
    if (slave === null) return;
    const filter = new SentinelFilter();
    this.#drain = filter;
    const timer = setTimeout(() => {
      if (this.#drain === filter) {
        this.#drain = null;
        const rest = filter.flush();
        if (rest.byteLength > 0) this.#handlers.onData('pty', rest);
      }
      this.#releaseSlave();
    }, DRAIN_TIMEOUT_MS);
    timer.unref();
    filter.onFound = () => clearTimeout(timer);
    writeAll(slave, filter.token, () => {
      clearTimeout(timer);
      this.#drain = null;
      this.#releaseSlave();
    });
  }

  #releaseSlave(): void {
    if (this.#slave === null) return;
    this.#closeSlave(this.#slave);
    this.#slave = null;
  }

  #maybeClose(): void {
    if (this.#closed || !this.#exited || !this.#ended) return;
    this.#closed = true;
    this.#handlers.onClose();
  }
}

/**
 * Ordered writes to the non-blocking master descriptor. `tty.WriteStream` would hide EAGAIN and
 * block; this queue retries on EAGAIN at the next turn of the loop instead.
 */
export class FdWriter {
  readonly #fd: number;
  readonly #queue: {
    data: Uint8Array;
    offset: number;
    done: (status: 'accepted' | 'stdinClosed') => void;
  }[] = [];
  #stopped = false;
  #busy = false;

  constructor(fd: number) {
    this.#fd = fd;
  }

  write(data: Uint8Array): Promise<'accepted' | 'stdinClosed'> {
    if (this.#stopped) return Promise.resolve('stdinClosed');
    if (data.byteLength === 0) return Promise.resolve('accepted');
    return new Promise((done) => {
      this.#queue.push({ data, offset: 0, done });
      if (!this.#busy) this.#next();
    });
  }

  /**
   * No more writes: queued ones answer `stdinClosed`. One already handed to the kernel answers when
   * it completes: the child may well have read it (a ^D that made it exit) before the stream ended.
   */
  stop(): void {
    this.#stopped = true;
    for (const item of this.#queue.splice(this.#busy ? 1 : 0)) item.done('stdinClosed');
  }

  #next(): void {
    const item = this.#queue[0];
    if (item === undefined || this.#stopped) {
      for (const left of this.#queue.splice(0)) left.done('stdinClosed');
      this.#busy = false;
      return;
    }
    this.#busy = true;
    fsWrite(this.#fd, item.data, item.offset, item.data.byteLength - item.offset, null, (error, written) => {
      if (error) {
        if (error.code === 'EAGAIN' && !this.#stopped) {
          setImmediate(() => this.#next());
          return;
        }
        this.#queue.shift();
        item.done('stdinClosed');
        this.stop();
        this.#next();
        return;
      }
      item.offset += written;
      if (item.offset >= item.data.byteLength) {
        this.#queue.shift();
        item.done('accepted');
      }
      this.#next();
    });
  }
}

/** Writes all of `data` to a non-blocking descriptor, retrying on EAGAIN; `onError` if it cannot. */
export function writeAll(fd: number, data: Uint8Array, onError: () => void, offset = 0): void {
  fsWrite(fd, data, offset, data.byteLength - offset, null, (error, written) => {
    if (error) {
      if (error.code === 'EAGAIN') setTimeout(() => writeAll(fd, data, onError, offset), 5).unref();
      else onError();
      return;
    }
    if (offset + written < data.byteLength) writeAll(fd, data, onError, offset + written);
  });
}

/**
 * Finds a random token in a byte stream that may split it across chunks, and removes it. Uppercase
 * letters and digits only: terminal output processing (ONLCR, OLCUC, tabs) leaves them alone.
 */
export class SentinelFilter {
  readonly token: Buffer = Buffer.from(`EXECVISOR${randomBytes(12).toString('hex').toUpperCase()}`);
  onFound: () => void = () => undefined;
  #pending: Buffer = Buffer.alloc(0);

  feed(data: Buffer): { before: Buffer; found: boolean; after: Buffer } {
    const combined = this.#pending.byteLength > 0 ? Buffer.concat([this.#pending, data]) : data;
    const at = combined.indexOf(this.token);
    if (at >= 0) {
      this.#pending = Buffer.alloc(0);
      this.onFound();
      return {
        before: combined.subarray(0, at),
        found: true,
        after: combined.subarray(at + this.token.byteLength),
      };
    }
    // Keep the longest tail that could be the start of the token.
    let keep = Math.min(this.token.byteLength - 1, combined.byteLength);
    while (keep > 0 && !combined.subarray(combined.byteLength - keep).equals(this.token.subarray(0, keep)))
      keep--;
    this.#pending = Buffer.from(combined.subarray(combined.byteLength - keep));
    return { before: combined.subarray(0, combined.byteLength - keep), found: false, after: Buffer.alloc(0) };
  }

  /** What is held back as a possible partial token. */
  flush(): Buffer {
    const rest = this.#pending;
    this.#pending = Buffer.alloc(0);
    return rest;
  }
}
