/**
 * Pipes backend: `child_process.spawn` in a new session and process group (`detached`), stdin from
 * /dev/null unless piped, stdout and stderr as separate streams.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { SpawnError } from '../errors.js';
import { openExtraStdio, type ExtraStdio } from './extra-fds.js';
import { osErrorText } from './resolve-program.js';
import { exitCodeOf } from './signals.js';
import { stdinPipe } from './stdin-pipe.js';
import { shownProgram, type SpawnHandlers, type SpawnRequest, type SpawnedChild } from './types.js';

export async function spawnPipes(request: SpawnRequest, handlers: SpawnHandlers): Promise<SpawnedChild> {
  const shown = shownProgram(request);
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
  const stdin = stdinPipe(child.stdin);
  child.stdout!.on('data', (data: Buffer) => handlers.onData('stdout', data));
  child.stderr!.on('data', (data: Buffer) => handlers.onData('stderr', data));
  child.on('exit', (code, signal) => handlers.onExit(exitCodeOf(code, signal)));
  // 'close' fires once the exit is known and stdout and stderr have both ended.
  child.on('close', () => handlers.onClose());
  child.on('error', () => undefined);

  return {
    pid,
    ...stdin,
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
