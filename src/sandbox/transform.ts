/**
 * The sandbox transform: `argv + cwd + env + config` → what is actually spawned. Pure given the
 * HostView; every rule lives in the modules it calls, this file only wires them in spec order
 * (parse → resolve paths → choose the type → build the platform argv).
 */
import { SandboxError } from '../errors.js';
import { buildBwrapArgs, PROXY_SOCKET_NAME } from './linux/bwrap-args.js';
import { buildSeccompProgram, seccompArchOf } from './linux/seccomp-bpf.js';
import { buildSeatbeltProfile, seatbeltArgv } from './macos/seatbelt.js';
import type { SandboxLaunchConfig } from './policy/model.js';
import { parseSandboxLaunchConfig } from './policy/parse.js';
import type { FileSystemView } from './policy/resolve.js';
import { resolveFileSystem } from './policy/resolve.js';
import { selectSandbox } from './select.js';
import type { HostView, LaunchRequest, ManagedNetworkLaunch, PreparedLaunch } from './types.js';

/** The descriptor the launcher inside the sandbox reads its spec from. */
export const SPEC_FD = 3;
/** The descriptor on which the child has `/dev/null` open for `--ro-bind-data` masks. */
export const DEV_NULL_FD = 4;
/**
 * Managed network: the port the bridge listens on inside the sandbox's own network namespace
 * (127.0.0.1 and ::1), which the child's proxy variables name. Private to the namespace, so every
 * sandbox uses the same one.
 */
export const BRIDGE_PORT = 3128;

/**
 * What an enforced managed network confines when the request asked for no sandbox (none, or mode
 * `disabled`): the network only. The disk stays as open as it was.
 */
function networkOnlyConfig(base: SandboxLaunchConfig | null): SandboxLaunchConfig {
  return {
    mode: 'require',
    policy: { type: 'danger-full-access' },
    fileSystemPolicy: { kind: 'unrestricted', entries: [] },
    networkPolicy: 'restricted',
    sandboxPolicyCwd: base?.sandboxPolicyCwd ?? null,
    enforceManagedNetwork: true,
    windowsSandboxLevel: base?.windowsSandboxLevel ?? 'disabled',
    windowsSandboxPrivateDesktop: base?.windowsSandboxPrivateDesktop ?? false,
    useLegacyLandlock: base?.useLegacyLandlock ?? false,
  };
}

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
  const proxied = request.managedNetwork?.kind === 'proxied' ? request.managedNetwork : null;
  const built = buildBwrapArgs(
    view,
    {
      restrictNetwork,
      mountProc: host.canMountProc(tools.bwrapPath),
      chdir: cwd === request.cwd ? null : cwd,
      launcher: tools.launcherPath,
      specFd: SPEC_FD,
      devNullFd: DEV_NULL_FD,
      privateMounts: [
        ...(request.privateMounts ?? []),
        // The bridge's way to the proxy: the runtime's socket, beside the launcher.
        ...(proxied === null ? [] : [{ source: proxied.socketPath, name: PROXY_SOCKET_NAME }]),
      ],
    },
    host,
  );
  if (built === null) return unsandboxed(request);
  if (arch === null) {
    // Under a managed network the filter is what keeps the command off the proxy's socket.
    if (mode === 'require' || request.managedNetwork != null) {
      throw new SandboxError(
        `no seccomp filter for architecture ${host.arch} (${mode === 'require' ? 'mode is require' : 'managed network is enforced'})`,
      );
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
      seccomp:
        arch === null ? null : buildSeccompProgram({ arch, restrictNetwork, proxied: proxied !== null }),
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
  // The proxy's socket: a writable root holding it must not let the command remove it.
  if (request.managedNetwork?.kind === 'proxied') paths.push(request.managedNetwork.socketPath);
  return paths;
}

/**
 * Turns a launch request into the launch to spawn. Throws `SandboxError` for an invalid config or
 * when `require` cannot be met. The request's env goes to the program only: unchanged when the
 * program is spawned directly, inside `inner` when a wrapper is spawned.
 */
export function transformLaunch(request: LaunchRequest, host: HostView): PreparedLaunch {
  const managed: ManagedNetworkLaunch | null = request.managedNetwork ?? null;
  const asked = request.sandbox === undefined || request.sandbox === null;
  if (asked && managed === null) return unsandboxed(request);
  let config = asked ? networkOnlyConfig(null) : parseSandboxLaunchConfig(request.sandbox);
  // Managed network enforced (here or by the config's own member): the network is confined even
  // when the request asked for no sandbox, and no fallback to none is taken (see selectSandbox).
  if (managed !== null || config.enforceManagedNetwork) {
    config =
      config.mode === 'disabled' ? networkOnlyConfig(config) : { ...config, enforceManagedNetwork: true };
  }
  const view = resolveFileSystem(
    config.fileSystemPolicy,
    config.sandboxPolicyCwd ?? request.cwd,
    host,
    trustedPaths(request, host),
  );
  const { sandbox, warnings } = selectSandbox(config, view, host);
  // Managed network: the namespace has no way out but the bridge (proxied), or none at all.
  const restrictNetwork = config.networkPolicy === 'restricted' || config.enforceManagedNetwork;
  const mode = config.mode === 'require' ? 'require' : 'auto';

  switch (sandbox.type) {
    case 'none':
      return unsandboxed(request, warnings);
    case 'linux-seccomp':
      return linuxLaunch(request, view, restrictNetwork, sandbox, mode, host);
    case 'macos-seatbelt': {
      if (managed?.kind === 'proxied') {
        throw new SandboxError('the managed network proxy is enforced with the Linux sandbox only');
      }
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
