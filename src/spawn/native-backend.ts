/**
 * The native backend (Linux): the addon in `src/native/` spawns with clone(CLONE_VM | CLONE_VFORK)
 * + exec, whose cost does not grow with this process's memory (fork's does), joins the process's
 * cgroup in the child before exec, opens terminals without forking, and reports the exit from a
 * pidfd polled in this thread's loop (no SIGCHLD race, never anyone else's child).
 *
 * This file owns every descriptor the addon hands back: the output pipes go to native readers (which
 * close them), stdin becomes a `net.Socket` (which closes it), the terminal master a `tty.ReadStream`, our own slave descriptor is closed once the output
 * has drained, and the pidfd is handed to the exit watch, which closes it after reaping the child.
 *
 * The terminal keeps the same no-loss rules as the node-pty backend, in the module both share
 * (src/spawn/terminal-drain.ts): we hold a descriptor of the slave side so the master cannot report
 * EOF early, and after the exit a sentinel written into the slave marks the end of the child's output.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { SpawnError } from '../errors.js';
import { isNativeSystemError, nativeSpawner, type NativeSpawnBinding } from './native-binding.js';
import { exitCodeOf } from './signals.js';
import { stdinPipe } from './stdin-pipe.js';
import { Terminal } from './terminal-drain.js';
import { shownProgram, type SpawnHandlers, type SpawnRequest, type SpawnedChild } from './types.js';

export interface NativeSpawnOptions {
  /** Run under a new terminal (else pipes). */
  readonly tty: boolean;
  /** The open directory of the cgroup the child starts in, or null. Stays the caller's. */
  readonly cgroupFd: number | null;
  /** The largest single read of an output pipe (1 MiB at most). */
  readonly maxReadBytes: number;
}

export function spawnNative(
  request: SpawnRequest,
  handlers: SpawnHandlers,
  options: NativeSpawnOptions,
): SpawnedChild {
  const status = nativeSpawner();
  if (!status.available)
    throw new SpawnError(`failed to spawn \`${shownProgram(request)}\`: ${status.reason}`);
  const native = status.binding;
  return options.tty
    ? spawnTerminal(native, request, handlers, options.cgroupFd)
    : spawnPipes(native, request, handlers, options.cgroupFd, options.maxReadBytes);
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
  return new SpawnError(`failed to spawn \`${shownProgram(request)}\`: ${reason}`, { cause: error });
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
    killGroup(pid);
    native.closeDescriptor(pidfd);
    throw spawnFailure(request, error);
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A child whose start failed after the spawn: killed, and reaped by an exit watch that reports nothing. */
function abandonChild(native: NativeSpawnBinding, pid: number, pidfd: number): void {
  killGroup(pid);
  try {
    native.watchExit(pidfd, pid, () => undefined);
  } catch {
    native.closeDescriptor(pidfd);
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
  let stdout: PipeReader | null = null;
  let stderr: PipeReader | null = null;
  let socket: Socket | null = null;
  try {
    stdout = read(stdoutFd, 'stdout');
    stderr = read(stderrFd, 'stderr');
    if (stdinFd >= 0) socket = new Socket({ fd: stdinFd, readable: false, writable: true });
  } catch (error) {
    // Every descriptor not yet owned by a reader or the socket is closed here; the child is killed
    // and left to an exit watch that only reaps it.
    stdout?.close();
    stderr?.close();
    if (stdout === null) native.closeDescriptor(stdoutFd);
    if (stderr === null) native.closeDescriptor(stderrFd);
    if (socket === null && stdinFd >= 0) native.closeDescriptor(stdinFd);
    abandonChild(native, pid, pidfd);
    throw spawnFailure(request, error);
  }
  const stdin = stdinPipe(socket);

  try {
    watchExit(native, request, pid, pidfd, (code) => {
      exitCode = code;
      handlers.onExit(code);
      maybeClose();
    });
  } catch (error) {
    stdout.close();
    stderr.close();
    socket?.destroy();
    throw error;
  }

  return {
    pid,
    ...stdin,
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

  const terminal = new Terminal({
    master,
    slave: ownSlave,
    closeSlave: (fd) => native.closeDescriptor(fd),
    handlers,
  });
  try {
    watchExit(native, request, pid, pidfd, (code) => {
      handlers.onExit(code);
      terminal.exited();
    });
  } catch (error) {
    terminal.end();
    throw error;
  }
  return terminal.child(pid, (size) => native.resizeTerminal(master, size.cols, size.rows));
}
