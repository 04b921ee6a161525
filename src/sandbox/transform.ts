/**
 * The sandbox transform: `argv + cwd + env + config` → what is actually spawned. Pure given the
 * HostView; every rule lives in the modules it calls, this file only wires them in spec order
 * (parse → resolve paths → choose the type → build the platform argv).
 */
import { SandboxError } from '../errors.js';
import { buildBwrapArgs } from './linux/bwrap-args.js';
import { buildSeccompProgram, seccompArchOf } from './linux/seccomp-bpf.js';
import { buildSeatbeltProfile, seatbeltArgv } from './macos/seatbelt.js';
import { parseSandboxLaunchConfig } from './policy/parse.js';
import type { FileSystemView } from './policy/resolve.js';
import { resolveFileSystem } from './policy/resolve.js';
import { selectSandbox } from './select.js';
import type { HostView, LaunchRequest, PreparedLaunch } from './types.js';

/** The descriptor the launcher inside the sandbox reads its spec from. */
export const SPEC_FD = 3;
/** The descriptor on which the child has `/dev/null` open for `--ro-bind-data` masks. */
export const DEV_NULL_FD = 4;

function unsandboxed(request: LaunchRequest, warnings: readonly string[] = []): PreparedLaunch {
  return { argv: request.argv, env: request.env, sandboxType: 'none', inner: null, warnings };
}

function canonicalCwd(cwd: string, host: HostView): string {
  return host.exists(cwd) ? host.realpath(cwd) : cwd;
}

function linuxLaunch(
  request: LaunchRequest,
  view: FileSystemView,
  restrictNetwork: boolean,
  tools: { readonly bwrapPath: string; readonly launcherPath: string },
  mode: 'auto' | 'require',
  host: HostView,
): PreparedLaunch {
  const warnings: string[] = [];
  const arch = seccompArchOf(host.arch);
  const cwd = canonicalCwd(request.cwd, host);
  const built = buildBwrapArgs(
    view,
    {
      restrictNetwork,
      mountProc: host.canMountProc(tools.bwrapPath),
      chdir: cwd === request.cwd ? null : cwd,
      launcher: tools.launcherPath,
      specFd: SPEC_FD,
      devNullFd: DEV_NULL_FD,
      privateMounts: request.privateMounts ?? [],
    },
    host,
  );
  if (built === null) return unsandboxed(request);
  if (arch === null) {
    if (mode === 'require') {
      throw new SandboxError(`no seccomp filter for architecture ${host.arch} (mode is require)`);
    }
    warnings.push(`no seccomp filter for architecture ${host.arch}: running under bubblewrap alone`);
  }
  const [program] = request.argv;
  if (program === undefined) throw new SandboxError('the command is empty');
  return {
    argv: [tools.bwrapPath, ...built.args],
    // bwrap runs with an environment of ours (none): the request's reaches only the program.
    env: {},
    sandboxType: 'linux-seccomp',
    inner: {
      program,
      argv: request.argv,
      env: request.env,
      seccomp: arch === null ? null : buildSeccompProgram({ arch, restrictNetwork }),
    },
    warnings,
    ...(built.usesDevNullFd ? { inheritFds: [{ fd: DEV_NULL_FD, path: '/dev/null' }] } : {}),
  };
}

/** Host executables a launch depends on: inside a writable root they must stay read-only. */
function trustedPaths(request: LaunchRequest, host: HostView): string[] {
  const paths: string[] = [];
  if ('path' in host.bwrap) paths.push(host.bwrap.path);
  if ('path' in host.launcher) paths.push(host.launcher.path);
  for (const mount of request.privateMounts ?? []) paths.push(mount.source);
  return paths;
}

/**
 * Turns a launch request into the launch to spawn. Throws `SandboxError` for an invalid config or
 * when `require` cannot be met. The request's env goes to the program only: unchanged when the
 * program is spawned directly, inside `inner` when a wrapper is spawned.
 */
export function transformLaunch(request: LaunchRequest, host: HostView): PreparedLaunch {
  if (request.sandbox === undefined || request.sandbox === null) return unsandboxed(request);
  const config = parseSandboxLaunchConfig(request.sandbox);
  const view = resolveFileSystem(
    config.fileSystemPolicy,
    config.sandboxPolicyCwd ?? request.cwd,
    host,
    trustedPaths(request, host),
  );
  const { sandbox, warnings } = selectSandbox(config, view, host);
  // With managed network enforced but no proxy in this server, fail closed: no network at all.
  const restrictNetwork = config.networkPolicy === 'restricted' || config.enforceManagedNetwork;
  const mode = config.mode === 'require' ? 'require' : 'auto';

  switch (sandbox.type) {
    case 'none':
      return unsandboxed(request, warnings);
    case 'linux-seccomp':
      return linuxLaunch(request, view, restrictNetwork, sandbox, mode, host);
    case 'macos-seatbelt': {
      if (view.fullWrite && !restrictNetwork) return unsandboxed(request);
      const profile = buildSeatbeltProfile(view, { restrictNetwork });
      return {
        argv: seatbeltArgv(profile, request.argv),
        env: request.env,
        sandboxType: 'macos-seatbelt',
        inner: null,
        warnings: [],
      };
    }
  }
}
