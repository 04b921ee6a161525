/**
 * A SandboxLaunchConfig from command-line flags (`execvisor run --sandbox …`), in its wire form so
 * it can be sent to a remote server as is.
 */
import { SandboxError } from '../errors.js';
import { parseSandboxLaunchConfig } from './policy/parse.js';

export interface SandboxFlags {
  readonly policy: 'read-only' | 'workspace-write';
  /** Extra writable roots (absolute); workspace-write only. */
  readonly writableRoots: readonly string[];
  readonly network: boolean;
  /** Default `require`: someone who asked for a sandbox on the command line wants one or an error. */
  readonly mode?: 'auto' | 'require';
}

/** The JSON a client sends as `sandbox` (see docs/sandbox.md). */
export interface SandboxLaunchConfigJson {
  readonly mode: 'auto' | 'require';
  readonly policy:
    | { readonly type: 'read-only'; readonly network_access: boolean }
    | {
        readonly type: 'workspace-write';
        readonly writable_roots: readonly string[];
        readonly network_access: boolean;
        readonly exclude_tmpdir_env_var: boolean;
        readonly exclude_slash_tmp: boolean;
      };
}

export function sandboxConfigFromFlags(flags: SandboxFlags): SandboxLaunchConfigJson {
  if (flags.policy === 'read-only' && flags.writableRoots.length > 0) {
    throw new SandboxError('--writable-root needs the workspace-write policy');
  }
  const config: SandboxLaunchConfigJson = {
    mode: flags.mode ?? 'require',
    policy:
      flags.policy === 'read-only'
        ? { type: 'read-only', network_access: flags.network }
        : {
            type: 'workspace-write',
            writable_roots: [...flags.writableRoots],
            network_access: flags.network,
            exclude_tmpdir_env_var: false,
            exclude_slash_tmp: false,
          },
  };
  // Same validation as the server applies, so a bad flag fails before anything is sent.
  parseSandboxLaunchConfig(config, '--sandbox');
  return config;
}
