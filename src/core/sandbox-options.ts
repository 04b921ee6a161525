/**
 * The `sandbox` option as callers write it: a SandboxLaunchConfig (docs/sandbox.md), typed so a
 * misspelt member or an unknown policy type fails to compile. Every member may be left out (or
 * null); the server fills what is missing and validates the rest at run time as well, since JSON
 * from the wire carries no types. (`src/sandbox/policy/model.ts` holds the validated form.)
 */

/** How hard to try: `disabled` never sandboxes, `require` fails when no sandbox is available. */
export type SandboxModeOption = 'disabled' | 'auto' | 'require';

export type NetworkPolicyOption = 'restricted' | 'enabled';

export type ReadOnlyAccessOption =
  | { readonly type: 'full-access' }
  | {
      readonly type: 'restricted';
      readonly include_platform_defaults?: boolean | null;
      readonly readable_roots?: readonly string[] | null;
    };

/** The legacy policy: `type` tag, kebab-case variants, snake_case members. */
export type SandboxPolicyOption =
  | { readonly type: 'danger-full-access' }
  | {
      readonly type: 'read-only';
      readonly access?: ReadOnlyAccessOption | null;
      readonly network_access?: boolean | null;
    }
  | {
      readonly type: 'workspace-write';
      readonly writable_roots?: readonly string[] | null;
      readonly read_only_access?: ReadOnlyAccessOption | null;
      readonly network_access?: boolean | null;
      readonly exclude_tmpdir_env_var?: boolean | null;
      readonly exclude_slash_tmp?: boolean | null;
    }
  | { readonly type: 'external-sandbox'; readonly network_access?: NetworkPolicyOption | null };

export type SpecialPathOption =
  | {
      readonly kind: 'root' | 'minimal' | 'current_working_directory' | 'tmpdir' | 'slash_tmp' | 'unknown';
    }
  | { readonly kind: 'project_roots'; readonly subpath?: string | null };

export type FileSystemPathOption =
  | { readonly type: 'path'; readonly path: string }
  | { readonly type: 'special'; readonly value: SpecialPathOption };

export interface FileSystemPolicyOption {
  readonly kind: 'restricted' | 'unrestricted' | 'external-sandbox';
  readonly entries?:
    readonly { readonly path: FileSystemPathOption; readonly access: 'read' | 'write' | 'none' }[] | null;
}

/** A SandboxLaunchConfig (spec §1). `{}` is read-only everywhere, no network, mode `auto`. */
export interface SandboxOptions {
  readonly mode?: SandboxModeOption | null;
  /** The reference's older spelling of `mode` (`forbid` = `disabled`). */
  readonly sandboxPreference?: 'forbid' | 'auto' | 'require' | null;
  readonly policy?: SandboxPolicyOption | null;
  readonly fileSystemPolicy?: FileSystemPolicyOption | null;
  readonly networkPolicy?: NetworkPolicyOption | null;
  /** Absolute; what `current_working_directory` and the workspace mean. Default: the process cwd. */
  readonly sandboxPolicyCwd?: string | null;
  readonly enforceManagedNetwork?: boolean | null;
  readonly windowsSandboxLevel?: 'disabled' | 'restricted-token' | 'elevated' | null;
  readonly windowsSandboxPrivateDesktop?: boolean | null;
  readonly useLegacyLandlock?: boolean | null;
}
