/**
 * Turns an actor launch into a spawn request: checks the cwd, finds the program, applies the
 * sandbox transform, and routes through the exec shim only where a backend cannot set argv[0] or
 * pass descriptor 3 itself.
 */
import { transformLaunch, nodeHostView, seccompProgramPath } from '../sandbox/index.js';
import type { HostView } from '../sandbox/types.js';
import type { ActorLaunch } from '../protocol/process-actor.js';
import type { SandboxType } from '../runtime/types.js';
import { EmptyArgvError } from '../errors.js';
import { checkCwd, resolveProgram } from './resolve-program.js';
import { shimArgv } from './exec-shim.js';
import type { SpawnRequest } from './types.js';

export interface PrepareDeps {
  readonly host?: HostView;
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
  const wrapped = prepared.argv[0];
  if (wrapped === undefined) throw new EmptyArgvError();
  const sandboxed = wrapped !== file;
  const fd3Path = prepared.seccomp === null ? null : seccompProgramPath(prepared.seccomp.program);

  let request: SpawnRequest;
  if (!sandboxed) {
    // Unwrapped: pipes set argv[0] natively; the terminal backend needs the shim for a custom arg0.
    const argv = [arg0, ...args];
    request =
      launch.tty && arg0 !== file
        ? shimRequest(launch, file, argv, null)
        : { ...base(launch), file, argv, fd3Path: null };
  } else {
    // Wrapped (bwrap / sandbox-exec): the wrapper execs the program with argv[0] = its path, so a
    // custom arg0 goes through the shim inside the wrapper.
    const inner = arg0 !== file ? shimInner(prepared.argv, file, arg0) : prepared.argv;
    if (launch.tty && fd3Path !== null) {
      request = shimRequest(launch, wrapped, inner, fd3Path);
    } else {
      request = { ...base(launch), file: wrapped, argv: inner, fd3Path };
    }
  }
  return { request, sandboxType: prepared.sandboxType, warnings: prepared.warnings };
}

function base(launch: ActorLaunch) {
  return { cwd: launch.cwd, env: launch.env, pipeStdin: launch.pipeStdin, size: launch.size };
}

function shimRequest(
  launch: ActorLaunch,
  file: string,
  argv: readonly string[],
  fd3Path: string | null,
): SpawnRequest {
  const shim = shimArgv(file, argv[0] ?? file, argv.slice(1), fd3Path);
  return { ...base(launch), file: shim[0]!, argv: shim, fd3Path: null };
}

/** Replaces the trailing `file args…` of a wrapper argv with the shim that sets argv[0]. */
function shimInner(wrapperArgv: readonly string[], file: string, arg0: string): string[] {
  const separator = wrapperArgv.lastIndexOf('--');
  const tail = wrapperArgv.slice(separator + 1);
  if (separator < 0 || tail[0] !== file) return [...wrapperArgv];
  return [...wrapperArgv.slice(0, separator + 1), ...shimArgv(file, arg0, tail.slice(1), null)];
}
