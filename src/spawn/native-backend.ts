/**
 * The native backend (Linux): the addon in `src/native/` spawns with clone(CLONE_VM | CLONE_VFORK)
 * + exec, whose cost does not grow with this process's memory (fork's does), joins the process's
 * cgroup in the child before exec, opens terminals without forking, and reports the exit from a
 * pidfd polled in this thread's loop (no SIGCHLD race, never anyone else's child).
 *
 * This file owns every descriptor the addon hands back: pipe ends become `net.Socket`s (which close
 * them), the terminal master a `tty.ReadStream`, our own slave descriptor is closed once the output
 * has drained, and the pidfd is handed to the exit watch, which closes it after reaping the child.
 *
 * The terminal keeps the no-loss rules of the node-pty backend (src/spawn/pty-backend.ts): we hold a
 * descriptor of the slave side so the master cannot report EOF early, and after the exit a sentinel
 * written into the slave marks the end of the child's output.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { ReadStream } from 'node:tty';
import { SpawnError } from '../errors.js';
import type { TerminalSize } from '../core/types.js';
import { isNativeSystemError, nativeSpawner, type NativeSpawnBinding } from './native-binding.js';
import { writeBounded } from './pipe-backend.js';
import { FdWriter, SentinelFilter, writeAll } from './pty-backend.js';
import { exitCodeOf } from './signals.js';
import type { SpawnHandlers, SpawnRequest, SpawnedChild } from './types.js';

export interface NativeSpawnOptions {
  /** Run under a new terminal (else pipes). */
  readonly tty: boolean;
  /** The open directory of the cgroup the child starts in, or null. Stays the caller's. */
  readonly cgroupFd: number | null;
  /** The largest single read of an output pipe (1 MiB at most). */
  readonly maxReadBytes: number;
}

/** Ctrl-D: the terminal's end-of-file character in canonical mode. */
const VEOF = Uint8Array.of(4);
/** If the sentinel has not come back by then (a terminal stopped with ^S), let go of the slave anyway. */
const DRAIN_TIMEOUT_MS = 10_000;

export function spawnNative(
  request: SpawnRequest,
  handlers: SpawnHandlers,
  options: NativeSpawnOptions,
): SpawnedChild {
  const status = nativeSpawner();
  if (!status.available) throw new SpawnError(`failed to spawn \`${program(request)}\`: ${status.reason}`);
  const native = status.binding;
  return options.tty
    ? spawnTerminal(native, request, handlers, options.cgroupFd)
    : spawnPipes(native, request, handlers, options.cgroupFd, options.maxReadBytes);
}

/** The user's program as the error names it. */
function program(request: SpawnRequest): string {
  return request.argv[0] ?? request.file;
}

/**
 * `failed to spawn \`prog\`: <OS reason> (os error N)`, as the reference server words it, whatever
 * step failed (exec, a pipe, the terminal); the two steps whose reason would mislead without
 * context say what they were.
 */
function spawnFailure(request: SpawnRequest, error: unknown): SpawnError {
  if (error instanceof SpawnError) return error;
  let reason: string;
  if (isNativeSystemError(error)) {
    const context =
      error.syscall === 'chdir'
        ? `cwd \`${request.cwd}\`: `
        : error.syscall === 'write cgroup.procs' || error.syscall === 'clone3'
          ? 'starting it in its cgroup: '
          : '';
    reason = `${context}${error.osMessage} (os error ${error.errno})`;
  } else {
    reason = error instanceof Error ? error.message : String(error);
  }
  return new SpawnError(`failed to spawn \`${program(request)}\`: ${reason}`, { cause: error });
}

/** Runs the addon's spawn with the request's argv, env, cwd and extra descriptors. */
function nativeSpawn(
  native: NativeSpawnBinding,
  request: SpawnRequest,
  stdio: 0 | 1 | 2,
  terminalFd: number,
  cgroupFd: number | null,
): [pid: number, pidfd: number, stdin: number, stdout: number, stderr: number] {
  // Files are opened through fs (and closed through it); data descriptors come from the addon.
  const extra: { fd: number; native: boolean }[] = [];
  try {
    for (const item of request.extraFds) {
      extra.push(
        item.kind === 'file'
          ? { fd: openSync(item.path, constants.O_RDONLY), native: false }
          : { fd: native.sealedData(item.data), native: true },
      );
    }
    let env = '';
    let envc = 0;
    for (const key in request.env) {
      env += envc === 0 ? `${key}=${request.env[key]}` : `\0${key}=${request.env[key]}`;
      envc++;
    }
    return native.spawn(
      request.file,
      request.argv.join('\0'),
      request.argv.length,
      env,
      envc,
      request.cwd,
      stdio,
      terminalFd,
      extra.map((item) => item.fd),
      cgroupFd ?? -1,
    );
  } catch (error) {
    throw spawnFailure(request, error);
  } finally {
    // The child has its own copies (or never started).
    for (const item of extra) {
      if (item.native) native.closeDescriptor(item.fd);
      else closeSync(item.fd);
    }
  }
}

/**
 * Watches the exit; if the watch cannot be set up the child is killed (it could never be reaped
 * otherwise) and the start fails.
 */
function watchExit(
  native: NativeSpawnBinding,
  request: SpawnRequest,
  pid: number,
  pidfd: number,
  onExit: (exitCode: number) => void,
): void {
  try {
    native.watchExit(pidfd, pid, (code, signal) => onExit(exitCodeOf(code, signal === 0 ? null : signal)));
  } catch (error) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
    native.closeDescriptor(pidfd);
    throw spawnFailure(request, error);
  }
}

function spawnPipes(
  native: NativeSpawnBinding,
  request: SpawnRequest,
  handlers: SpawnHandlers,
  cgroupFd: number | null,
  maxReadBytes: number,
): SpawnedChild {
  const [pid, pidfd, stdinFd, stdoutFd, stderrFd] = nativeSpawn(
    native,
    request,
    request.pipeStdin ? 1 : 0,
    -1,
    cgroupFd,
  );
  let exitCode: number | null = null;
  let openStreams = 2;
  let closed = false;
  const maybeClose = () => {
    if (closed || exitCode === null || openStreams > 0) return;
    closed = true;
    handlers.onClose();
  };
  const streamEnded = () => {
    openStreams--;
    maybeClose();
  };
  // The output pipes are read natively (src/native/pipe-reader.cc): all a pipe holds per read.
  const read = (fd: number, stream: 'stdout' | 'stderr') =>
    new PipeReader(native, fd, maxReadBytes, (data) => handlers.onData(stream, data), streamEnded);
  const stdout = read(stdoutFd, 'stdout');
  const stderr = read(stderrFd, 'stderr');
  const stdin = stdinFd >= 0 ? new Socket({ fd: stdinFd, readable: false, writable: true }) : null;
  let stdinOpen = stdin !== null;
  stdin?.on('error', () => {
    // EPIPE once the child closed its stdin: later writes report stdinClosed.
    stdinOpen = false;
  });
  stdin?.on('close', () => {
    stdinOpen = false;
  });

  try {
    watchExit(native, request, pid, pidfd, (code) => {
      exitCode = code;
      handlers.onExit(code);
      maybeClose();
    });
  } catch (error) {
    stdout.close();
    stderr.close();
    stdin?.destroy();
    throw error;
  }

  return {
    pid,
    write(data) {
      if (stdin === null || !stdinOpen || stdin.writableEnded) return Promise.resolve('stdinClosed');
      return writeBounded(stdin, data);
    },
    closeStdin() {
      if (stdin !== null && !stdin.writableEnded) stdin.end();
    },
    resize() {
      // Pipes have no terminal; the caller rejects resize before it gets here.
    },
    pause() {
      stdout.pause();
      stderr.pause();
    },
    resume() {
      stdout.resume();
      stderr.resume();
    },
    abandonOutput() {
      stdout.close();
      stderr.close();
    },
  };
}

/** One output pipe, read by the addon; `onEnd` once, at end of file, a read error or `close()`. */
class PipeReader {
  readonly #native: NativeSpawnBinding;
  #id: number | null;
  readonly #onEnd: () => void;

  constructor(
    native: NativeSpawnBinding,
    fd: number,
    maxReadBytes: number,
    onData: (data: Buffer) => void,
    onEnd: () => void,
  ) {
    this.#native = native;
    this.#onEnd = onEnd;
    // A read error ends the stream as end of file does: the child's output is over either way.
    this.#id = native.readPipe(fd, maxReadBytes, (buffer, length) => {
      if (buffer !== null) onData(length === buffer.byteLength ? buffer : buffer.subarray(0, length));
      else this.#end();
    });
  }

  pause(): void {
    if (this.#id !== null) this.#native.pauseReader(this.#id);
  }

  resume(): void {
    if (this.#id !== null) this.#native.resumeReader(this.#id);
  }

  close(): void {
    if (this.#id === null) return;
    this.#native.closeReader(this.#id);
    this.#end();
  }

  #end(): void {
    if (this.#id === null) return;
    this.#id = null;
    this.#onEnd();
  }
}

function spawnTerminal(
  native: NativeSpawnBinding,
  request: SpawnRequest,
  handlers: SpawnHandlers,
  cgroupFd: number | null,
): SpawnedChild {
  let master: number, childSlave: number, ownSlave: number;
  try {
    [master, childSlave, ownSlave] = native.openTerminal(request.size.cols, request.size.rows);
  } catch (error) {
    throw spawnFailure(request, error);
  }
  let pid: number, pidfd: number;
  try {
    [pid, pidfd] = nativeSpawn(native, request, 2, childSlave, cgroupFd);
  } catch (error) {
    native.closeDescriptor(master);
    native.closeDescriptor(ownSlave);
    throw error;
  } finally {
    // The child has it as its stdin, stdout and stderr.
    native.closeDescriptor(childSlave);
  }

  let exitCode: number | null = null;
  let streamEnded = false;
  let closed = false;
  const maybeClose = () => {
    if (closed || exitCode === null || !streamEnded) return;
    closed = true;
    handlers.onClose();
  };
  const stream = new ReadStream(master);
  const writer = new FdWriter(master);
  let slave: number | null = ownSlave;
  let drain: SentinelFilter | null = null;
  const releaseSlave = () => {
    if (slave === null) return;
    native.closeDescriptor(slave);
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
    stream.destroy();
    maybeClose();
  };
  stream.on('data', (data: Buffer) => {
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
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EAGAIN') return;
    endStream();
  });
  stream.on('end', endStream);
  stream.on('close', endStream);

  try {
    watchExit(native, request, pid, pidfd, (code) => {
      exitCode = code;
      handlers.onExit(code);
      startDrain();
      maybeClose();
    });
  } catch (error) {
    releaseSlave();
    stream.destroy();
    throw error;
  }

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
      if (!streamEnded) native.resizeTerminal(master, size.cols, size.rows);
    },
    pause() {
      stream.pause();
    },
    resume() {
      stream.resume();
    },
    abandonOutput() {
      endStream();
    },
  };
}
