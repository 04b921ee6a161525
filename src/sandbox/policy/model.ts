/**
 * The sandbox policy model, as clients spell it on the wire (docs/sandbox.md, spec §1). These are the
 * *validated* shapes: `parseSandboxLaunchConfig()` produces them from untrusted JSON.
 */

/** How hard to try: `disabled` never sandboxes, `require` fails when no sandbox is available. */
export type SandboxMode = 'disabled' | 'auto' | 'require';

export type NetworkSandboxPolicy = 'restricted' | 'enabled';

export type FileSystemAccess = 'read' | 'write' | 'none';

export type ReadOnlyAccess =
  | { readonly type: 'full-access' }
  | {
      readonly type: 'restricted';
      readonly include_platform_defaults: boolean;
      readonly readable_roots: readonly string[];
    };

/** The legacy policy (tag `type`, kebab-case variants, snake_case fields). */
export type SandboxPolicy =
  | { readonly type: 'danger-full-access' }
  | { readonly type: 'read-only'; readonly access: ReadOnlyAccess; readonly network_access: boolean }
  | {
      readonly type: 'workspace-write';
      readonly writable_roots: readonly string[];
      readonly read_only_access: ReadOnlyAccess;
      readonly network_access: boolean;
      readonly exclude_tmpdir_env_var: boolean;
      readonly exclude_slash_tmp: boolean;
    }
  | { readonly type: 'external-sandbox'; readonly network_access: NetworkSandboxPolicy };

export type SpecialPathKind =
  'root' | 'minimal' | 'current_working_directory' | 'project_roots' | 'tmpdir' | 'slash_tmp' | 'unknown';

export type SpecialPath =
  | { readonly kind: Exclude<SpecialPathKind, 'project_roots'> }
  | { readonly kind: 'project_roots'; readonly subpath?: string };

export type FileSystemPath =
  | { readonly type: 'path'; readonly path: string }
  | { readonly type: 'special'; readonly value: SpecialPath };

export interface FileSystemEntry {
  readonly path: FileSystemPath;
  readonly access: FileSystemAccess;
}

export type FileSystemPolicyKind = 'restricted' | 'unrestricted' | 'external-sandbox';

export interface FileSystemSandboxPolicy {
  readonly kind: FileSystemPolicyKind;
  /** Meaningful for `restricted` only. */
  readonly entries: readonly FileSystemEntry[];
}

export type WindowsSandboxLevel = 'disabled' | 'restricted-token' | 'elevated';

/**
 * A validated SandboxLaunchConfig. `policy` is null when the client sent only the split policies
 * and they cannot be expressed as a legacy policy (writes outside the workspace): the split
 * policies are what is enforced, so that is not an error. `sandboxPolicyCwd` is null when absent
 * (it then defaults to the process cwd, known only at launch).
 */
export interface SandboxLaunchConfig {
  readonly mode: SandboxMode;
  readonly policy: SandboxPolicy | null;
  readonly fileSystemPolicy: FileSystemSandboxPolicy;
  readonly networkPolicy: NetworkSandboxPolicy;
  readonly sandboxPolicyCwd: string | null;
  readonly enforceManagedNetwork: boolean;
  readonly windowsSandboxLevel: WindowsSandboxLevel;
  readonly windowsSandboxPrivateDesktop: boolean;
  readonly useLegacyLandlock: boolean;
}

export const FULL_READ_ACCESS: ReadOnlyAccess = Object.freeze({ type: 'full-access' });

export function special(kind: Exclude<SpecialPathKind, 'project_roots'>): FileSystemPath {
  return { type: 'special', value: { kind } };
}

export function absolutePath(path: string): FileSystemPath {
  return { type: 'path', path };
}
