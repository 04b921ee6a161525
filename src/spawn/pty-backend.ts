/**
 * Terminal backend on node-pty's native `fork`/`resize`, driven directly instead of through the
 * `UnixTerminal` wrapper, for three reasons:
 * - the wrapper adds `PWD` and `TERM` to the environment, while ours must be exactly the caller's;
 * - after the child exits it destroys the master stream 200 ms later even if unread output remains
 *   (microsoft/node-pty's "data after exit" workaround, `DESTROY_SOCKET_TIMEOUT_MS`), which loses the
 *   tail of a large or paused stream and whatever a background child writes later;
 * - it reports exit only after that close, so we could not record the exit when the OS reports it.
 * Here the exit is recorded when the native waitpid reports it, and `close` comes only once the
 * master reads EIO: every process holding the terminal has gone and every byte was read.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { write as fsWrite } from 'node:fs';
import { ReadStream } from 'node:tty';
import { SpawnError } from '../errors.js';
import type { TerminalSize } from '../runtime/types.js';
import { exitCodeOf } from './signals.js';
import type { SpawnHandlers, SpawnRequest, SpawnedChild } from './types.js';

interface NativePty {
  fork(
    file: string,
    args: string[],
    env: string[],
    cwd: string,
    cols: number,
    rows: number,
    uid: number,
    gid: number,
    utf8: boolean,
    helperPath: string,
    onExit: (code: number, signal: number) => void,
  ): { fd: number; pid: number; pty: string };
  resize(fd: number, cols: number, rows: number): void;
}

let nativeModule: { module: NativePty; helperPath: string } | undefined;

function loadNative(): { module: NativePty; helperPath: string } {
  if (nativeModule !== undefined) return nativeModule;
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('node-pty/package.json'));
  const dirs = ['build/Release', 'build/Debug', `prebuilds/${process.platform}-${process.arch}`];
  let lastError: unknown;
  for (const dir of dirs) {
    try {
      const module = require(join(root, dir, 'pty.node')) as NativePty;
      nativeModule = { module, helperPath: join(root, dir, 'spawn-helper') };
      return nativeModule;
    } catch (error) {
      lastError = error;
    }
  }
  throw new SpawnError(`node-pty's native module could not be loaded (${String(lastError)})`, {
    cause: lastError,
  });
}

/** Ctrl-D: the terminal's end-of-file character in canonical mode. */
const VEOF = Uint8Array.of(4);

export function spawnPty(request: SpawnRequest, handlers: SpawnHandlers): SpawnedChild {
  const native = loadNative();
  const env = Object.entries(request.env).map(([key, value]) => `${key}=${value}`);
  let exitCode: number | null = null;
  let streamEnded = false;
  let closed = false;
  const maybeClose = () => {
    if (closed || exitCode === null || !streamEnded) return;
    closed = true;
    handlers.onClose();
  };

  let term: { fd: number; pid: number };
  try {
    // The native fork execs argv[0] = file; a different argv[0] comes through the exec shim.
    term = native.module.fork(
      request.file,
      request.argv.slice(1),
      env,
      request.cwd,
      request.size.cols,
      request.size.rows,
      -1,
      -1,
      true,
      native.helperPath,
      (code, signal) => {
        // Leave the native callback at once: if this worker thread is terminated while JS runs
        // inside it, node-pty's callback wrapper aborts the whole process (napi_define_properties).
        // Work done here (posting closed) can make the supervisor stop the pool, so defer it all.
        setImmediate(() => {
          exitCode = exitCodeOf(code, signal);
          handlers.onExit(exitCode);
          maybeClose();
        });
      },
    );
  } catch (error) {
    throw new SpawnError(`failed to spawn \`${request.argv[0]}\`: ${String(error)}`, { cause: error });
  }

  const { fd, pid } = term;
  const master = new ReadStream(fd);
  const endStream = () => {
    if (streamEnded) return;
    streamEnded = true;
    writer.stop();
    master.destroy();
    maybeClose();
  };
  master.on('data', (data: Buffer) => handlers.onData('pty', data));
  // Linux reports EIO on the master once no process holds the terminal and all was read.
  master.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EAGAIN') return;
    endStream();
  });
  master.on('end', endStream);
  master.on('close', endStream);

  const writer = new FdWriter(fd);
  return {
    pid,
    write(data) {
      if (streamEnded) return Promise.resolve('stdinClosed');
      return writer.write(data);
    },
    closeStdin() {
      if (!streamEnded) void writer.write(VEOF);
    },
    resize(size: TerminalSize) {
      if (!streamEnded) native.module.resize(fd, size.cols, size.rows);
    },
    pause() {
      master.pause();
    },
    resume() {
      master.resume();
    },
  };
}

/**
 * Ordered writes to the non-blocking master descriptor. `tty.WriteStream` would hide EAGAIN and
 * block; this queue retries on EAGAIN at the next turn of the loop instead.
 */
class FdWriter {
  readonly #fd: number;
  readonly #queue: { data: Uint8Array; offset: number; done: (status: 'accepted' | 'stdinClosed') => void }[] =
    [];
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

  stop(): void {
    this.#stopped = true;
    for (const item of this.#queue.splice(0)) item.done('stdinClosed');
  }

  #next(): void {
    const item = this.#queue[0];
    if (item === undefined || this.#stopped) {
      this.#busy = false;
      return;
    }
    this.#busy = true;
    fsWrite(this.#fd, item.data, item.offset, item.data.byteLength - item.offset, null, (error, written) => {
      if (this.#stopped) return;
      if (error) {
        if (error.code === 'EAGAIN') {
          setImmediate(() => this.#next());
          return;
        }
        this.stop();
        this.#busy = false;
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
