/**
 * Turns an actor launch into a spawn request: checks the cwd, finds the program, applies the
 * sandbox transform, and routes through the exec shim only where a backend cannot set argv[0] or
 * pass extra descriptors itself.
 */
import { transformLaunch, nodeHostView, seccompProgramPath } from '../sandbox/index.js';
import type { HostView, PreparedLaunch } from '../sandbox/types.js';
import type { ActorLaunch } from '../actor/messages.js';
import type { SandboxType } from '../core/types.js';
import { EmptyArgvError } from '../errors.js';
import { checkCwd, resolveProgram } from './resolve-program.js';
import { shimArgv } from './exec-shim.js';
import type { ExtraFd, SpawnRequest } from './types.js';

export interface PrepareDeps {
  readonly host?: HostView;
  /** The backend sets argv[0] and passes extra descriptors under a terminal itself: no shim. */
  readonly directTerminal?: boolean;
}

export interface PreparedSpawn {
  readonly request: SpawnRequest;
  readonly sandboxType: SandboxType;
  readonly warnings: readonly string[];
}

let defaultHost: HostView | undefined;

export function prepareSpawn(launch: ActorLaunch, deps?: PrepareDeps): PreparedSpawn {
  const [program, ...args] = launch.argv;
  if (program === undefined) throw new EmptyArgvError();
  checkCwd(launch.cwd);
  const file = resolveProgram(program, launch.cwd, launch.env);
  const arg0 = launch.arg0 ?? program;

  const host = deps?.host ?? (defaultHost ??= nodeHostView());
  const prepared = transformLaunch(
    { argv: [file, ...args], cwd: launch.cwd, env: launch.env, sandbox: launch.sandbox },
    host,
  );
  const wrapper = prepared.argv[0];
  if (wrapper === undefined) throw new EmptyArgvError();
  const base = { cwd: launch.cwd, env: launch.env, pipeStdin: launch.pipeStdin, size: launch.size };
  const extraFds = extraDescriptors(prepared);
  const shimTerminal = launch.tty && deps?.directTerminal !== true;

  let request: SpawnRequest;
  if (wrapper === file) {
    // Unwrapped: pipes set argv[0] natively; the terminal backend needs the shim for a custom arg0.
    request =
      shimTerminal && arg0 !== file
        ? shimRequest(base, file, [arg0, ...args], [])
        : { ...base, file, argv: [arg0, ...args], extraFds: [] };
  } else {
    // Wrapped (bwrap / sandbox-exec): the wrapper execs the program with argv[0] = its path, so a
    // custom arg0 goes through the shim inside the wrapper.
    const argv = arg0 !== file ? shimInner(prepared.argv, file, arg0) : [...prepared.argv];
    request =
      shimTerminal && extraFds.length > 0
        ? shimRequest(base, wrapper, argv, extraFds)
        : {
            ...base,
            file: wrapper,
            argv,
            extraFds: extraFds.map((path): ExtraFd => ({ kind: 'file', path })),
          };
  }
  return { request, sandboxType: prepared.sandboxType, warnings: prepared.warnings };
}

/** The files for descriptors 3, 4, … that the wrapped launch reads (gaps filled with /dev/null). */
function extraDescriptors(prepared: PreparedLaunch): string[] {
  const byFd = new Map<number, string>();
  if (prepared.seccomp !== null) byFd.set(prepared.seccomp.fd, seccompProgramPath(prepared.seccomp.program));
  for (const { fd, path } of prepared.inheritFds ?? []) byFd.set(fd, path);
  if (byFd.size === 0) return [];
  const highest = Math.max(...byFd.keys());
  const paths: string[] = [];
  for (let fd = 3; fd <= highest; fd++) paths.push(byFd.get(fd) ?? '/dev/null');
  return paths;
}

function shimRequest(
  base: Omit<SpawnRequest, 'file' | 'argv' | 'extraFds'>,
  file: string,
  argv: readonly string[],
  extraFds: readonly string[],
): SpawnRequest {
  const shim = shimArgv(file, argv[0] ?? file, argv.slice(1), extraFds);
  return { ...base, file: shim[0]!, argv: shim, extraFds: [] };
}

/** Replaces the `file args…` after the wrapper's own `--` with the shim that sets argv[0]. */
function shimInner(wrapperArgv: readonly string[], file: string, arg0: string): string[] {
  // The first `--` is the wrapper's: the command's own arguments may contain another.
  const separator = wrapperArgv.indexOf('--');
  const tail = wrapperArgv.slice(separator + 1);
  if (separator < 0 || tail[0] !== file) return [...wrapperArgv];
  return [...wrapperArgv.slice(0, separator + 1), ...shimArgv(file, arg0, tail.slice(1), [])];
}
