/**
 * Loads the native spawner (`build/Release/execvisor_spawn.node`, built from `src/native/` by
 * node-gyp at `npm ci`). The same module file serves the main thread (which only asks whether it
 * loads) and every worker thread (which spawns with it); Node loads it once per thread.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's functions (src/native/*.cc). Every descriptor it returns is the caller's to close. */
export interface NativeSpawnBinding {
  readonly supported: boolean;
  readonly unsupportedReason: string;
  /**
   * clone + exec. `argv` and `env` are NUL-separated (`argc`/`envc` entries); `stdio` 0 = pipes with
   * stdin from /dev/null, 1 = pipes with a stdin pipe, 2 = the terminal whose slave is `terminalFd`.
   * `cgroupFd` is the open directory of the cgroup the child starts in (-1: ours). Returns
   * `[pid, pidfd, stdin, stdout, stderr]` (-1 where there is none).
   */
  spawn(
    file: string,
    argv: string,
    argc: number,
    env: string,
    envc: number,
    cwd: string,
    stdio: 0 | 1 | 2,
    terminalFd: number,
    extraFds: readonly number[],
    cgroupFd: number,
  ): [pid: number, pidfd: number, stdin: number, stdout: number, stderr: number];
  /**
   * A terminal with node-pty's termios and this size: the master (non-blocking), the slave for the
   * child (blocking) and a second, non-blocking open of the slave for the caller.
   */
  openTerminal(cols: number, rows: number): [master: number, slave: number, ownSlave: number];
  resizeTerminal(master: number, cols: number, rows: number): void;
  /** Calls back once the child exited (and is reaped); the watch owns the pidfd from then on. */
  watchExit(pidfd: number, pid: number, onExit: (code: number, signal: number) => void): void;
  /** A sealed memfd holding `data`, at offset 0. */
  sealedData(data: Uint8Array): number;
  /** Closes a descriptor the addon handed out (fs.closeSync warns about those in a worker). */
  closeDescriptor(fd: number): void;
  /**
   * Reads a pipe in this thread's loop, all it holds per read up to `maxReadBytes` (1 MiB at most):
   * `onRead(buffer, length)` for data (`buffer` may be longer than `length`), then `onRead(null, 0)`
   * at end of file or `onRead(null, errno)`; the reader owns the descriptor from the call on and
   * closes it at the end.
   */
  readPipe(
    fd: number,
    maxReadBytes: number,
    onRead: (buffer: Buffer | null, lengthOrErrno: number) => void,
  ): number;
  /** Stop / restart reading (flow control); no-ops once the reader has finished. */
  pauseReader(id: number): void;
  resumeReader(id: number): void;
  /** Stops reading and closes the descriptor; no-op once the reader has finished. */
  closeReader(id: number): void;
}

/** A system error from the addon, shaped like Node's. */
export interface NativeSystemError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly osMessage: string;
}

export type NativeStatus =
  | { readonly available: true; readonly binding: NativeSpawnBinding }
  | { readonly available: false; readonly reason: string };

let status: NativeStatus | undefined;

/** Whether the native spawner loads here, and the binding if it does (cached per thread). */
export function nativeSpawner(): NativeStatus {
  return (status ??= load());
}

function load(): NativeStatus {
  if (process.platform !== 'linux') {
    return {
      available: false,
      reason: `the native spawner is built for Linux only (this is ${process.platform})`,
    };
  }
  const require = createRequire(import.meta.url);
  // From src/spawn/ (tests on sources) or dist/src/spawn/ (the build): the package root is 2 or 3 up.
  const candidates = [
    '../../build/Release/execvisor_spawn.node',
    '../../../build/Release/execvisor_spawn.node',
  ];
  const errors: string[] = [];
  for (const candidate of candidates) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    try {
      const binding = require(path) as NativeSpawnBinding;
      if (!binding.supported) return { available: false, reason: binding.unsupportedReason };
      return { available: true, binding };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') {
        errors.push(`${path}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return {
    available: false,
    reason:
      errors.length > 0
        ? `the native spawner does not load (${errors.join('; ')})`
        : 'the native spawner is not built (build/Release/execvisor_spawn.node is missing: run `npm ci` or `npx node-gyp rebuild`)',
  };
}

export function isNativeSystemError(error: unknown): error is NativeSystemError {
  return (
    error instanceof Error &&
    typeof (error as Partial<NativeSystemError>).errno === 'number' &&
    typeof (error as Partial<NativeSystemError>).osMessage === 'string'
  );
}
