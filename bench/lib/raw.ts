/**
 * The baselines: what an embedder would write without execvisor, in the benchmark's own event loop.
 * Pipes: `child_process.spawn` with the runtime's spawn options (own process group, stdin ignored
 * or piped, stdout and stderr piped). Ptys: node-pty's public `spawn`, bytes not decoded.
 */
import { spawn } from 'node:child_process';
import pty from 'node-pty';
import { killGroup, trackGroup } from './cleanup.js';
import { childCwd, childEnv } from './backend.js';

export interface RawPipeChild {
  readonly pid: number;
  readonly closed: Promise<number>;
  write(data: string): void;
  kill(): void;
}

export interface RawPipeOptions {
  readonly pipeStdin?: boolean;
  readonly onData?: (chunk: Buffer) => void;
}

export function rawSpawnPipe(argv: readonly string[], options: RawPipeOptions = {}): RawPipeChild {
  const [file, ...args] = argv;
  const child = spawn(file!, args, {
    cwd: childCwd(),
    env: childEnv(),
    detached: true,
    stdio: [options.pipeStdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`raw spawn of ${file} failed`);
  const untrack = trackGroup(pid);
  const onData = options.onData;
  if (onData !== undefined) {
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  } else {
    // Drain like the runtime does, without looking at the bytes.
    child.stdout!.resume();
    child.stderr!.resume();
  }
  const closed = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      untrack();
      resolve(code ?? (signal === null ? -1 : 128));
    });
  });
  child.stdin?.on('error', () => undefined);
  return {
    pid,
    closed,
    write: (data) => void child.stdin?.write(data),
    kill: () => killGroup(pid),
  };
}

export interface RawPtyChild {
  readonly pid: number;
  /** Resolves with the exit code when node-pty reports the exit. */
  readonly exited: Promise<number>;
  write(data: string): void;
  kill(): void;
}

/**
 * node-pty used directly. `encoding: null` makes `onData` deliver Buffers (the typings say string).
 * node-pty owns the master fd in this thread, exactly as an embedder without execvisor would.
 */
export function rawSpawnPty(argv: readonly string[], onData: (chunk: Buffer) => void): RawPtyChild {
  const [file, ...args] = argv;
  const term = pty.spawn(file!, args, {
    name: 'xterm',
    cols: 80,
    rows: 24,
    cwd: childCwd(),
    env: childEnv(),
    encoding: null,
  });
  const untrack = trackGroup(term.pid);
  term.onData((data: string | Buffer) => onData(typeof data === 'string' ? Buffer.from(data) : data));
  const exited = new Promise<number>((resolve) => {
    term.onExit(({ exitCode }) => {
      untrack();
      resolve(exitCode);
    });
  });
  return {
    pid: term.pid,
    exited,
    write: (data) => term.write(data),
    kill: () => {
      killGroup(term.pid);
      try {
        term.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    },
  };
}
