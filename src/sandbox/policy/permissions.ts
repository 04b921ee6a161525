/**
 * The current protocol's `sandbox`: upstream's `FileSystemSandboxContext`, a portable sandbox
 * intent built around a `PermissionProfile` (`codex-rs/file-system`, `codex-rs/protocol`):
 *
 * ```json
 * {"permissions": {"type": "managed",
 *                  "file_system": {"type": "restricted", "entries": [
 *                     {"path": {"type": "special", "value": {"kind": "root"}}, "access": "read"},
 *                     {"path": {"type": "path", "path": "file:///work"}, "access": "write"}]},
 *                  "network": "restricted"},
 *  "cwd": "file:///work", "workspaceRoots": ["file:///work"],
 *  "windowsSandboxLevel": "disabled", "windowsSandboxPrivateDesktop": false, "useLegacyLandlock": false}
 * ```
 *
 * It is parsed here into the same validated `SandboxLaunchConfig` as the seed's shape, so the one
 * transform decides for both. Translation rules (each checked against the reference binary):
 * - `disabled` → mode `disabled`; `external` → filesystem kind `external-sandbox`; `managed` →
 *   its `file_system` (`unrestricted`, or `restricted` entries) and `network`.
 * - `project_roots` (alias `current_working_directory`) names the `workspaceRoots` (each, or each
 *   joined with `subpath`), not the cwd: without workspace roots it names nothing.
 * - Access `deny` (alias `none`) is our `none`.
 * - `glob_pattern` entries that grant access are ignored (the reference grants nothing through
 *   them either); a `deny` glob is refused: we cannot enforce it, and dropping it would widen access.
 * - A profile that needs a sandbox is `require`d: a current client never gets an unsandboxed run
 *   in place of the restriction it asked for. Otherwise `auto`.
 * Paths are `file://` URIs (or native absolute paths).
 */
import { SandboxError } from '../../errors.js';
import { parseWirePath } from '../../core/path-uri.js';
import { policyNeedsSandbox } from '../select.js';
import { legacyPolicyFromSplit } from './convert.js';
import type {
  FileSystemAccess,
  FileSystemEntry,
  FileSystemPath,
  FileSystemSandboxPolicy,
  NetworkSandboxPolicy,
  SandboxLaunchConfig,
  SandboxMode,
  SandboxPolicy,
  WindowsSandboxLevel,
} from './model.js';
import { joinPath } from './paths.js';

type Json = Record<string, unknown>;

function fail(field: string, reason: string): never {
  throw new SandboxError(`${field}: ${reason}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

function object(value: unknown, field: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(field, `must be an object, got ${describe(value)}`);
  }
  return value as Json;
}

function given(obj: Json, key: string): unknown {
  const value = obj[key];
  return value === null ? undefined : value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (value === undefined) fail(field, 'is required');
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(
      field,
      `unknown variant ${describe(value)}, expected one of ${allowed.map((a) => `\`${a}\``).join(', ')}`,
    );
  }
  return value as T;
}

function flag(obj: Json, key: string, field: string): boolean {
  const value = given(obj, key);
  if (value === undefined) return false;
  if (typeof value !== 'boolean') fail(`${field}.${key}`, `must be a boolean, got ${describe(value)}`);
  return value;
}

function absolute(value: unknown, field: string): string {
  if (typeof value !== 'string') fail(field, `must be a path, got ${describe(value)}`);
  const parsed = parseWirePath(
    value,
    (text) => `must be an absolute path or a file:// URI, got ${JSON.stringify(text)}`,
  );
  if (!parsed.ok) fail(field, parsed.why);
  return parsed.path.native;
}

const NETWORK = ['restricted', 'enabled'] as const;
const ACCESS = ['read', 'write', 'deny', 'none'] as const;
const SPECIAL = [
  'root',
  'minimal',
  'project_roots',
  'current_working_directory',
  'tmpdir',
  'slash_tmp',
  'unknown',
] as const;
const WINDOWS_LEVELS = ['disabled', 'restricted-token', 'elevated'] as const;

/** Whether a `sandbox` member is of this shape (it carries a permission profile). */
export function isFileSystemSandboxContext(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'permissions' in value;
}

/** One profile entry as zero or more model entries (a project root per workspace root). */
function entriesOf(raw: unknown, field: string, workspaceRoots: readonly string[]): FileSystemEntry[] {
  const entry = object(raw, field);
  const rawAccess = oneOf(given(entry, 'access'), ACCESS, `${field}.access`);
  const access: FileSystemAccess = rawAccess === 'deny' ? 'none' : rawAccess;
  const path = object(given(entry, 'path'), `${field}.path`);
  const type = oneOf(given(path, 'type'), ['path', 'special', 'glob_pattern'] as const, `${field}.path.type`);
  const at = (paths: readonly FileSystemPath[]) => paths.map((p): FileSystemEntry => ({ path: p, access }));
  switch (type) {
    case 'path':
      return at([{ type: 'path', path: absolute(given(path, 'path'), `${field}.path.path`) }]);
    case 'glob_pattern':
      if (access === 'none') {
        fail(`${field}.path`, 'glob_pattern entries with access `deny` are not supported by this server');
      }
      return [];
    case 'special': {
      const value = object(given(path, 'value'), `${field}.path.value`);
      const kind = oneOf(given(value, 'kind'), SPECIAL, `${field}.path.value.kind`);
      if (kind === 'project_roots' || kind === 'current_working_directory') {
        const subpath = given(value, 'subpath');
        if (subpath !== undefined && typeof subpath !== 'string') {
          fail(`${field}.path.value.subpath`, `must be a string, got ${describe(subpath)}`);
        }
        if (typeof subpath === 'string' && (subpath.startsWith('/') || subpath.split('/').includes('..'))) {
          fail(
            `${field}.path.value.subpath`,
            `must be a relative path inside the project, got ${JSON.stringify(subpath)}`,
          );
        }
        return at(
          workspaceRoots.map((root): FileSystemPath => ({
            type: 'path',
            path: typeof subpath === 'string' && subpath !== '' ? joinPath(root, subpath) : root,
          })),
        );
      }
      return at([{ type: 'special', value: { kind } }]);
    }
  }
}

function fileSystemOf(
  profile: Json,
  field: string,
  workspaceRoots: readonly string[],
): {
  readonly policy: FileSystemSandboxPolicy;
  readonly network: NetworkSandboxPolicy;
  readonly mode: SandboxMode | null;
} {
  const type = oneOf(given(profile, 'type'), ['managed', 'disabled', 'external'] as const, `${field}.type`);
  if (type === 'disabled')
    return { policy: { kind: 'unrestricted', entries: [] }, network: 'enabled', mode: 'disabled' };
  const network = oneOf(given(profile, 'network'), NETWORK, `${field}.network`);
  if (type === 'external') return { policy: { kind: 'external-sandbox', entries: [] }, network, mode: null };
  const fs = object(given(profile, 'file_system'), `${field}.file_system`);
  const kind = oneOf(given(fs, 'type'), ['restricted', 'unrestricted'] as const, `${field}.file_system.type`);
  if (kind === 'unrestricted') return { policy: { kind: 'unrestricted', entries: [] }, network, mode: null };
  const rawEntries = given(fs, 'entries') ?? [];
  if (!Array.isArray(rawEntries))
    fail(`${field}.file_system.entries`, `must be an array, got ${describe(rawEntries)}`);
  const entries = rawEntries.flatMap((raw, i) =>
    entriesOf(raw, `${field}.file_system.entries[${i}]`, workspaceRoots),
  );
  return { policy: { kind: 'restricted', entries }, network, mode: null };
}

/** Full write access without any narrowing entry: a plain spawn gives the same. */
function grantsFullWrite(policy: FileSystemSandboxPolicy): boolean {
  if (policy.kind !== 'restricted') return true;
  const rootWrite = policy.entries.some(
    (e) => e.path.type === 'special' && e.path.value.kind === 'root' && e.access === 'write',
  );
  return rootWrite && policy.entries.every((e) => e.access === 'write');
}

/**
 * Validates a `FileSystemSandboxContext` into the validated model. Throws `SandboxError` naming the
 * offending field; never falls back silently.
 */
export function parseFileSystemSandboxContext(value: unknown, field = 'sandbox'): SandboxLaunchConfig {
  const obj = object(value, field);
  const rawRoots = given(obj, 'workspaceRoots') ?? [];
  if (!Array.isArray(rawRoots))
    fail(`${field}.workspaceRoots`, `must be an array, got ${describe(rawRoots)}`);
  const workspaceRoots = rawRoots.map((root, i) => absolute(root, `${field}.workspaceRoots[${i}]`));
  const rawCwd = given(obj, 'cwd');
  const sandboxPolicyCwd = rawCwd === undefined ? null : absolute(rawCwd, `${field}.cwd`);
  const permissions = object(given(obj, 'permissions'), `${field}.permissions`);
  const {
    policy: fileSystemPolicy,
    network: networkPolicy,
    mode: fixedMode,
  } = fileSystemOf(permissions, `${field}.permissions`, workspaceRoots);
  const mode: SandboxMode =
    fixedMode ??
    (policyNeedsSandbox(fileSystemPolicy, grantsFullWrite(fileSystemPolicy), networkPolicy, false)
      ? 'require'
      : 'auto');

  let policy: SandboxPolicy | null = null;
  try {
    policy = legacyPolicyFromSplit(fileSystemPolicy, networkPolicy, sandboxPolicyCwd);
  } catch (error) {
    // Only the split policies are enforced; a legacy view is a convenience, not a requirement.
    if (!(error instanceof SandboxError)) throw error;
  }
  const level = given(obj, 'windowsSandboxLevel');
  return {
    mode,
    policy,
    fileSystemPolicy,
    networkPolicy,
    sandboxPolicyCwd,
    enforceManagedNetwork: false,
    windowsSandboxLevel:
      level === undefined
        ? 'disabled'
        : oneOf<WindowsSandboxLevel>(level, WINDOWS_LEVELS, `${field}.windowsSandboxLevel`),
    windowsSandboxPrivateDesktop: flag(obj, 'windowsSandboxPrivateDesktop', field),
    useLegacyLandlock: flag(obj, 'useLegacyLandlock', field),
  };
}
