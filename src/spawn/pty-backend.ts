/**
 * Terminal backend on node-pty's native `fork`/`resize`, driven directly instead of through the
 * `UnixTerminal` wrapper, for three reasons:
 * - the wrapper adds `PWD` and `TERM` to the environment, while ours must be exactly the caller's;
 * - after the child exits it destroys the master stream 200 ms later even if unread output remains
 *   (microsoft/node-pty's "data after exit" workaround, `DESTROY_SOCKET_TIMEOUT_MS`), which loses the
 *   tail of a large or paused stream and whatever a background child writes later;
 * - it reports exit only after that close, so we could not record the exit when the OS reports it.
 * Here the exit is recorded when the native waitpid reports it, and `close` comes only once the
 * master reads EOF: every process holding the terminal has gone and every byte was read.
 *
 * The kernel can report EOF on the master while the last bytes a dead child wrote are still in the
 * terminal's flip buffer (seen losing 256 B to 8 KiB of a 1 MiB burst under load), so we hold a
 * descriptor of the slave side ourselves: the master cannot hang up while we do. Once the child has
 * exited we write a random sentinel into the slave; it queues behind everything the child wrote, so
 * when it comes out of the master the child's output is complete. We strip it and let go of the slave.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { closeSync, constants, openSync, write as fsWrite } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ReadStream } from 'node:tty';
import { SpawnError } from '../errors.js';
import type { TerminalSize } from '../core/types.js';
import { resolveLauncher } from '../sandbox/tools.js';
import type { ResolvedTool } from '../sandbox/types.js';
import { openDataFile, type DataFile } from './data-file.js';
import { encodeLaunchSpec } from './launch-spec.js';
import { osErrorText } from './resolve-program.js';
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

function loadNative(shown: string): { module: NativePty; helperPath: string } {
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
  throw new SpawnError(
    `failed to spawn \`${shown}\`: node-pty's native module could not be loaded (${osErrorText(lastError)})`,
    {
      cause: lastError,
    },
  );
}

/** Ctrl-D: the terminal's end-of-file character in canonical mode. */
const VEOF = Uint8Array.of(4);
/** If the sentinel has not come back by then (a terminal stopped with ^S), let go of the slave anyway. */
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * node-pty's fork always passes the program as argv[0] and passes no descriptor but the terminal.
 * When the request needs either (a custom argv[0]; a sandbox's spec and /dev/null descriptors), the
 * launcher runs first, as a plain exec step: it reads its spec from a path (node-pty cannot hand it
 * a descriptor), opens the descriptors the request names onto 3, 4, … and execs the request's
 * program with exactly its argv and env. The launcher itself gets an empty environment (it is
 * static C and reads nothing from it), so no program of ours runs with the request's env.
 */
interface PtyExec {
  readonly file: string;
  readonly args: string[];
  readonly env: string[];
  /** Data files to let go of once the child has exited. */
  readonly files: DataFile[];
}

let launcher: ResolvedTool | undefined;

function ptyExec(request: SpawnRequest, shown: string): PtyExec {
  const env = Object.entries(request.env).map(([key, value]) => `${key}=${value}`);
  if (request.argv[0] === request.file && request.extraFds.length === 0) {
    return { file: request.file, args: request.argv.slice(1), env, files: [] };
  }
  launcher ??= resolveLauncher();
  if ('error' in launcher) throw new SpawnError(`failed to spawn \`${shown}\`: ${launcher.error}`);
  const files: DataFile[] = [];
  try {
    const opens = request.extraFds.map((extra) => {
      if (extra.kind === 'file') return extra.path;
      const file = openDataFile(extra.data);
      files.push(file);
      return file.path;
    });
    const spec = openDataFile(
      encodeLaunchSpec({ program: request.file, argv: request.argv, env: request.env, opens }),
    );
    files.push(spec);
    return { file: launcher.path, args: ['--path', spec.path], env: [], files };
  } catch (error) {
    for (const file of files) file.close();
    throw new SpawnError(`failed to spawn \`${shown}\`: ${osErrorText(error)}`, { cause: error });
  }
}

export function spawnPty(request: SpawnRequest, handlers: SpawnHandlers): SpawnedChild {
  const shown = request.command ?? request.argv[0] ?? request.file;
  const native = loadNative(shown);
  const exec = ptyExec(request, shown);
  const releaseFiles = () => {
    for (const file of exec.files) file.close();
  };
  let exitCode: number | null = null;
  let streamEnded = false;
  let closed = false;
  const maybeClose = () => {
    if (closed || exitCode === null || !streamEnded) return;
    closed = true;
    handlers.onClose();
  };

  let term: { fd: number; pid: number; pty: string };
  try {
    term = native.module.fork(
      exec.file,
      exec.args,
      exec.env,
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
          releaseFiles();
          exitCode = exitCodeOf(code, signal);
          handlers.onExit(exitCode);
          startDrain();
          maybeClose();
        });
      },
    );
  } catch (error) {
    releaseFiles();
    throw new SpawnError(`failed to spawn \`${shown}\`: ${osErrorText(error)}`, { cause: error });
  }

  const { fd, pid } = term;
  const master = new ReadStream(fd);
  let slave = openSlave(term.pty);
  let drain: SentinelFilter | null = null;
  const releaseSlave = () => {
    if (slave === null) return;
    closeSync(slave);
    slave = null;
  };
  // After the exit: push a sentinel through the terminal behind the child's last output.
  const startDrain = () => {
    if (slave === null) return;
    const filter = new SentinelFilter();
    drain = filter;
    const timer = setTimeout(() => {
      if (drain === filter) {
        drain = null;
        const rest = filter.flush();
        if (rest.byteLength > 0) handlers.onData('pty', rest);
      }
      releaseSlave();
    }, DRAIN_TIMEOUT_MS);
    timer.unref();
    filter.onFound = () => clearTimeout(timer);
    writeAll(slave, filter.token, () => {
      clearTimeout(timer);
      drain = null;
      releaseSlave();
    });
  };
  const endStream = () => {
    if (streamEnded) return;
    streamEnded = true;
    releaseSlave();
    writer.stop();
    master.destroy();
    maybeClose();
  };
  master.on('data', (data: Buffer) => {
    const filter = drain;
    if (filter === null) {
      handlers.onData('pty', data);
      return;
    }
    const { before, found, after } = filter.feed(data);
    if (before.byteLength > 0) handlers.onData('pty', before);
    if (!found) return;
    drain = null;
    releaseSlave();
    if (after.byteLength > 0) handlers.onData('pty', after);
  });
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
    abandonOutput() {
      endStream();
    },
  };
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

/** Our own descriptor of the slave side (not our controlling terminal), or null if it cannot be had. */
function openSlave(path: string): number | null {
  try {
    return openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch {
    return null;
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
