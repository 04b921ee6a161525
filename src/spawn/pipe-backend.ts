/**
 * Pipes backend: `child_process.spawn` in a new session and process group (`detached`), stdin from
 * /dev/null unless piped, stdout and stderr as separate streams.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { SpawnError } from '../errors.js';
import { openExtraStdio, type ExtraStdio } from './extra-fds.js';
import { osErrorText } from './resolve-program.js';
import { exitCodeOf } from './signals.js';
import type { SpawnHandlers, SpawnRequest, SpawnedChild } from './types.js';

/** Past this many queued stdin bytes a write waits for the pipe to drain before it is answered. */
const STDIN_QUEUE_BYTES = 1 << 20;

export async function spawnPipes(request: SpawnRequest, handlers: SpawnHandlers): Promise<SpawnedChild> {
  const shown = request.command ?? request.argv[0] ?? request.file;
  const failed = (error: unknown) =>
    new SpawnError(`failed to spawn \`${shown}\`: ${osErrorText(error)}`, { cause: error });
  let child: ChildProcess;
  let extra: ExtraStdio | undefined;
  try {
    extra = openExtraStdio(request.extraFds);
    child = spawn(request.file, request.argv.slice(1), {
      argv0: request.argv[0] ?? request.file,
      cwd: request.cwd,
      env: { ...request.env },
      detached: true,
      stdio: [request.pipeStdin ? 'pipe' : 'ignore', 'pipe', 'pipe', ...extra.stdio],
      windowsHide: true,
    });
  } catch (error) {
    throw failed(error);
  } finally {
    extra?.close();
  }
  if (child.pid === undefined) {
    // EMFILE, ENFILE, EAGAIN, EACCES, ENOENT: libuv reports them synchronously, but Node hands them
    // on as an 'error' event on the next tick. Wait for it, to say which it was.
    const error = await new Promise<unknown>((resolve) => child.once('error', resolve));
    throw failed(error);
  }
  extra.feed(child);
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
