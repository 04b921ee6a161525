/**
 * Choosing the sandbox type (spec §3): one place decides, from the mode, what the policy needs and
 * what this host offers.
 */
import { SandboxError } from '../errors.js';
import type { FileSystemView } from './policy/resolve.js';
import type { FileSystemSandboxPolicy, NetworkSandboxPolicy, SandboxLaunchConfig } from './policy/model.js';
import type { HostView } from './types.js';

export const SEATBELT_PATH = '/usr/bin/sandbox-exec';

export type PlatformSandbox =
  | { readonly type: 'linux-seccomp'; readonly bwrapPath: string; readonly launcherPath: string }
  | { readonly type: 'macos-seatbelt' }
  | { readonly type: 'none'; readonly why: string };

/**
 * Whether the policy asks for anything a plain spawn would not give. Full-disk-write with network
 * on needs nothing; a `none` carve-out under a writable `/` does.
 */
export function policyNeedsSandbox(
  fs: FileSystemSandboxPolicy,
  fullWrite: boolean,
  network: NetworkSandboxPolicy,
  enforceManagedNetwork: boolean,
): boolean {
  if (enforceManagedNetwork) return true;
  if (network === 'restricted') return fs.kind !== 'external-sandbox';
  return fs.kind === 'restricted' && !fullWrite;
}

/** The sandbox this host can offer, or why there is none. */
export function platformSandbox(config: SandboxLaunchConfig, host: HostView): PlatformSandbox {
  switch (host.platform) {
    case 'linux': {
      // Both resolved once at runtime start; nothing in the request takes part.
      if ('error' in host.bwrap) return { type: 'none', why: host.bwrap.error };
      if ('error' in host.launcher) return { type: 'none', why: host.launcher.error };
      return { type: 'linux-seccomp', bwrapPath: host.bwrap.path, launcherPath: host.launcher.path };
    }
    case 'darwin':
      return host.exists(SEATBELT_PATH)
        ? { type: 'macos-seatbelt' }
        : { type: 'none', why: `${SEATBELT_PATH} not found` };
    case 'win32':
      return {
        type: 'none',
        why:
          config.windowsSandboxLevel === 'disabled'
            ? 'windowsSandboxLevel is disabled'
            : 'the Windows restricted-token sandbox is not supported by this server',
      };
    default:
      return { type: 'none', why: `no sandbox is implemented for platform ${host.platform}` };
  }
}

export interface Selection {
  readonly sandbox: PlatformSandbox;
  readonly warnings: readonly string[];
}

/** Applies the mode (disabled / auto / require). Throws the `require` error. */
export function selectSandbox(
  config: SandboxLaunchConfig,
  view: Pick<FileSystemView, 'fullWrite'>,
  host: HostView,
): Selection {
  if (config.mode === 'disabled') return { sandbox: { type: 'none', why: 'mode is disabled' }, warnings: [] };
  const needed = policyNeedsSandbox(
    config.fileSystemPolicy,
    view.fullWrite,
    config.networkPolicy,
    config.enforceManagedNetwork,
  );
  if (config.mode === 'auto' && !needed) {
    return { sandbox: { type: 'none', why: 'the policy needs no sandbox' }, warnings: [] };
  }
  const sandbox = platformSandbox(config, host);
  if (sandbox.type === 'none') {
    // Managed network fails closed: an unconfined process could ignore the proxy.
    if (config.enforceManagedNetwork) {
      throw new SandboxError(
        `managed network is enforced but no sandbox is available on this host: ${sandbox.why}`,
      );
    }
    if (config.mode === 'require')
      throw new SandboxError(`no sandbox is available on this host: ${sandbox.why}`);
    // `auto` tells the truth (sandboxType "none") rather than failing; the log says why.
    return { sandbox, warnings: [`running without a sandbox: ${sandbox.why}`] };
  }
  return { sandbox, warnings: [] };
}
