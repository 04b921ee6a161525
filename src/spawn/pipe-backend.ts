/**
 * Pipes backend: `child_process.spawn` in a new session and process group (`detached`), stdin from
 * /dev/null unless piped, stdout and stderr as separate streams.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { InternalError, SpawnError } from '../errors.js';
import { osErrorText } from './resolve-program.js';
import { exitCodeOf } from './signals.js';
import type { SpawnHandlers, SpawnRequest, SpawnedChild } from './types.js';

/** Past this many queued stdin bytes a write waits for the pipe to drain before it is answered. */
const STDIN_QUEUE_BYTES = 1 << 20;

export function spawnPipes(request: SpawnRequest, handlers: SpawnHandlers): SpawnedChild {
  const extraFds: number[] = [];
  let child: ChildProcess;
  try {
    for (const extra of request.extraFds) {
      if (extra.kind !== 'file') throw new InternalError('inherited data descriptors are not supported yet');
      extraFds.push(openSync(extra.path, 'r'));
    }
    child = spawn(request.file, request.argv.slice(1), {
      argv0: request.argv[0] ?? request.file,
      cwd: request.cwd,
      env: { ...request.env },
      detached: true,
      stdio: [request.pipeStdin ? 'pipe' : 'ignore', 'pipe', 'pipe', ...extraFds],
      windowsHide: true,
    });
  } catch (error) {
    throw new SpawnError(`failed to spawn \`${request.argv[0]}\`: ${osErrorText(error)}`, { cause: error });
  } finally {
    for (const fd of extraFds) closeSync(fd);
  }
  if (child.pid === undefined) {
    // libuv reports spawn failures synchronously; Node emits them as an 'error' event next tick.
    child.once('error', () => undefined);
    throw new SpawnError(`failed to spawn \`${request.argv[0]}\`: could not start the process`);
  }
  const pid = child.pid;
  const stdin = child.stdin;
  let stdinOpen = stdin !== null;
  stdin?.on('error', () => {
    // EPIPE once the child closed its stdin: later writes report stdinClosed.
    stdinOpen = false;
  });
  stdin?.on('close', () => {
    stdinOpen = false;
  });
  child.stdout!.on('data', (data: Buffer) => handlers.onData('stdout', data));
  child.stderr!.on('data', (data: Buffer) => handlers.onData('stderr', data));
  child.on('exit', (code, signal) => handlers.onExit(exitCodeOf(code, signal)));
  // 'close' fires once the exit is known and stdout and stderr have both ended.
  child.on('close', () => handlers.onClose());
  child.on('error', () => undefined);

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
      child.stdout!.pause();
      child.stderr!.pause();
    },
    resume() {
      child.stdout!.resume();
      child.stderr!.resume();
    },
    abandonOutput() {
      // 'close' follows once both streams are closed (the exit is known by then).
      child.stdout!.destroy();
      child.stderr!.destroy();
    },
  };
}

export function writeBounded(stdin: Writable, data: Uint8Array): Promise<'accepted' | 'stdinClosed'> {
  stdin.write(data);
  if (stdin.writableLength <= STDIN_QUEUE_BYTES) return Promise.resolve('accepted');
  return new Promise((resolve) => {
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resolve('accepted');
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  });
}
