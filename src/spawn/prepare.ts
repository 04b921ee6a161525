/**
 * Turns an actor launch into a spawn request: checks the cwd, finds the program, applies the
 * sandbox transform and, for a sandboxed launch, encodes the spec the launcher inside the sandbox
 * reads (the request's argv with its arg0, its env, the seccomp program, the managed-network
 * bridge) onto descriptor 3.
 *
 * Managed network: the child's proxy variables (`applyProxyEnv`) are laid over the request's env,
 * here and not in the sandbox transform (which never changes an env): for a proxied launch they
 * name the bridge inside the sandbox, for an advisory one the lease's port on the host.
 */
import { applyProxyEnv } from '../network/env.js';
import {
  BRIDGE_PORT,
  nodeHostView,
  PROXY_SOCKET_IN_SANDBOX,
  SPEC_FD,
  transformLaunch,
} from '../sandbox/index.js';
import type { ManagedNetworkLaunch } from '../sandbox/types.js';
import type { SandboxTools } from '../sandbox/tools.js';
import type { HostView } from '../sandbox/types.js';
import type { ActorLaunch, ActorNetwork } from '../actor/messages.js';
import type { SandboxType } from '../core/types.js';
import { EmptyArgvError, SandboxError } from '../errors.js';
import { encodeLaunchSpec } from './launch-spec.js';
import { checkCwd, resolveProgram } from './resolve-program.js';
import type { ExtraFd, SpawnRequest } from './types.js';

export interface PrepareDeps {
  readonly host?: HostView;
}

export interface PreparedSpawn {
  readonly request: SpawnRequest;
  readonly sandboxType: SandboxType;
  readonly warnings: readonly string[];
}

/** One HostView per set of tools (a worker serves one runtime, so in practice one). */
const hosts = new Map<string, HostView>();

export function hostFor(tools: SandboxTools | undefined): HostView {
  const key = JSON.stringify(tools ?? null);
  let host = hosts.get(key);
  if (host === undefined) {
    host = nodeHostView({ tools });
    hosts.set(key, host);
  }
  return host;
}

export function prepareSpawn(launch: ActorLaunch, deps?: PrepareDeps): PreparedSpawn {
  const [program, ...args] = launch.argv;
  if (program === undefined) throw new EmptyArgvError();
  checkCwd(launch.cwd);
  const file = resolveProgram(program, launch.cwd, launch.env);
  const arg0 = launch.arg0 ?? program;
  const network = launch.network ?? null;
  const env = childEnv(launch.env, network);

  const host = deps?.host ?? hostFor(launch.sandboxTools);
  const prepared = transformLaunch(
    {
      argv: [file, ...args],
      cwd: launch.cwd,
      env,
      sandbox: launch.sandbox,
      managedNetwork: managedLaunch(network),
    },
    host,
  );
  if (network?.kind === 'proxied' && prepared.inner === null) {
    // The transform confines a managed launch or refuses it; a bridge needs our launcher inside.
    throw new SandboxError('the managed network proxy needs the Linux sandbox');
  }
  const wrapper = prepared.argv[0];
  if (wrapper === undefined) throw new EmptyArgvError();
  const base = {
    cwd: launch.cwd,
    pipeStdin: launch.pipeStdin,
    size: launch.size,
    command: program,
  };
  const result = (request: SpawnRequest): PreparedSpawn => ({
    request,
    sandboxType: prepared.sandboxType,
    warnings: prepared.warnings,
  });

  if (prepared.inner !== null) {
    // bwrap → the launcher inside (spec on descriptor 3) → the program with its argv and env.
    const spec = encodeLaunchSpec({
      program: prepared.inner.program,
      argv: [arg0, ...prepared.inner.argv.slice(1)],
      env: prepared.inner.env,
      seccomp: prepared.inner.seccomp,
      bridge:
        network?.kind === 'proxied'
          ? { port: BRIDGE_PORT, token: network.token, socketPath: PROXY_SOCKET_IN_SANDBOX }
          : null,
    });
    return result({
      ...base,
      file: wrapper,
      argv: prepared.argv,
      env: prepared.env,
      extraFds: descriptors({ kind: 'data', data: spec }, prepared.inheritFds ?? []),
    });
  }
  if (wrapper === file) {
    // Unwrapped: each backend sets argv[0] itself (the terminal one through the launcher).
    return result({ ...base, file, argv: [arg0, ...args], env, extraFds: [] });
  }
  if (arg0 === file) {
    return result({ ...base, file: wrapper, argv: prepared.argv, env: prepared.env, extraFds: [] });
  }
  // Wrapped without a launcher of its own (sandbox-exec): a custom arg0 goes through the launcher
  // inside the wrapper, which also takes the env off the wrapper's command line.
  if ('error' in host.launcher) throw new SandboxError(`arg0 under a sandbox needs ${host.launcher.error}`);
  const separator = prepared.argv.indexOf('--');
  const spec = encodeLaunchSpec({ program: file, argv: [arg0, ...args], env });
  return result({
    ...base,
    file: wrapper,
    argv: [...prepared.argv.slice(0, separator + 1), host.launcher.path, '--fd', String(SPEC_FD)],
    env: {},
    extraFds: [{ kind: 'data', data: spec }],
  });
}

/** The request's env, with the proxy variables over it when the launch has a proxy. */
function childEnv(env: Readonly<Record<string, string>>, network: ActorNetwork | null) {
  if (network === null || network.kind === 'blocked') return env;
  const options = { socks5: network.socks5, allowLocalBinding: network.allowLocalBinding };
  return applyProxyEnv(env, network.kind === 'proxied' ? BRIDGE_PORT : network.port, options);
}

function managedLaunch(network: ActorNetwork | null): ManagedNetworkLaunch | null {
  if (network === null || network.kind === 'advisory') return null;
  return network.kind === 'blocked'
    ? { kind: 'blocked' }
    : { kind: 'proxied', socketPath: network.socketPath };
}

/** Descriptors 3, 4, …: the spec on 3, then the files the wrapper reads (gaps filled with /dev/null). */
/**
 * The descriptors from 3 on for a sandboxed launch: the launch spec at `SPEC_FD` (when there is an
 * inner launch), the files bwrap inherits at their numbers, `/dev/null` in any gap.
 */
export function descriptors(spec: ExtraFd | null, files: readonly { fd: number; path: string }[]): ExtraFd[] {
  const byFd = new Map<number, ExtraFd>(spec === null ? [] : [[SPEC_FD, spec]]);
  for (const { fd, path } of files) byFd.set(fd, { kind: 'file', path });
  const out: ExtraFd[] = [];
  for (let fd = 3; fd <= Math.max(...byFd.keys()); fd++)
    out.push(byFd.get(fd) ?? { kind: 'file', path: '/dev/null' });
  return out;
}
