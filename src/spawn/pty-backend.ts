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
 * The no-loss rules (our own slave descriptor, the sentinel after the exit) are the shared
 * terminal's: src/spawn/terminal-drain.ts.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { closeSync, constants, openSync } from 'node:fs';
import { SpawnError } from '../errors.js';
import { resolveLauncher } from '../sandbox/tools.js';
import type { ResolvedTool } from '../sandbox/types.js';
import { openDataFile, type DataFile } from './data-file.js';
import { encodeLaunchSpec } from './launch-spec.js';
import { osErrorText } from './resolve-program.js';
import { exitCodeOf } from './signals.js';
import { Terminal } from './terminal-drain.js';
import { shownProgram, type SpawnHandlers, type SpawnRequest, type SpawnedChild } from './types.js';

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
  const shown = shownProgram(request);
  const native = loadNative(shown);
  const exec = ptyExec(request, shown);
  const releaseFiles = () => {
    for (const file of exec.files) file.close();
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
        // (The terminal below exists by then: the callback runs on a later turn of the loop.)
        setImmediate(() => {
          releaseFiles();
          handlers.onExit(exitCodeOf(code, signal));
          terminal.exited();
        });
      },
    );
  } catch (error) {
    releaseFiles();
    throw new SpawnError(`failed to spawn \`${shown}\`: ${osErrorText(error)}`, { cause: error });
  }

  const { fd, pid } = term;
  const terminal = new Terminal({ master: fd, slave: openSlave(term.pty), closeSlave: closeSync, handlers });
  return terminal.child(pid, (size) => native.module.resize(fd, size.cols, size.rows));
}

/** Our own descriptor of the slave side (not our controlling terminal), or null if it cannot be had. */
function openSlave(path: string): number | null {
  try {
    return openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
}
