/**
 * Validation of the `sandbox` member of `process/start` (spec §1). Hand-written rather than a
 * schema library because every message must name the exact field (`sandbox.policy.type`) and the
 * leniency rules (derive what is missing) are easier to read as code than as schema transforms.
 *
 * Unknown *members* are ignored (clients may be newer than us); unknown *tags* are errors, except
 * the `unknown` special path kind, which exists for forward compatibility.
 */
import { SandboxError } from '../../errors.js';
import { fileSystemPolicyFromLegacy, legacyPolicyFromSplit, networkPolicyFromLegacy } from './convert.js';
import type {
  FileSystemAccess,
  FileSystemEntry,
  FileSystemPath,
  FileSystemPolicyKind,
  FileSystemSandboxPolicy,
  NetworkSandboxPolicy,
  ReadOnlyAccess,
  SandboxLaunchConfig,
  SandboxMode,
  SandboxPolicy,
  SpecialPath,
  WindowsSandboxLevel,
} from './model.js';
import { FULL_READ_ACCESS } from './model.js';
import { normalizeAbsolute } from './paths.js';
import { isFileSystemSandboxContext, parseFileSystemSandboxContext } from './permissions.js';

type Json = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  return typeof value === 'object' ? 'an object' : String(typeof value);
}

function fail(field: string, reason: string): never {
  throw new SandboxError(`${field}: ${reason}`);
}

function object(value: unknown, field: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(field, `must be an object, got ${describe(value)}`);
  }
  return value as Json;
}

/** Absent and null both mean "not given": hand-written configs use either. */
function given(obj: Json, key: string): unknown {
  const value = obj[key];
  return value === null ? undefined : value;
}

function bool(obj: Json, key: string, field: string): boolean {
  const value = given(obj, key);
  if (value === undefined) return false;
  if (typeof value !== 'boolean') fail(`${field}.${key}`, `must be a boolean, got ${describe(value)}`);
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string, what: string): T {
  if (value === undefined) fail(field, 'is required');
  if (typeof value !== 'string') fail(field, `must be a string, got ${describe(value)}`);
  if (!(allowed as readonly string[]).includes(value)) {
    fail(field, `unknown ${what} ${JSON.stringify(value)} (expected one of ${allowed.join(', ')})`);
  }
  return value as T;
}

function absolute(value: unknown, field: string): string {
  if (value === undefined) fail(field, 'is required');
  if (typeof value !== 'string') fail(field, `must be a string, got ${describe(value)}`);
  if (!value.startsWith('/')) fail(field, `must be an absolute path, got ${JSON.stringify(value)}`);
  return normalizeAbsolute(value);
}

function absoluteList(obj: Json, key: string, field: string): string[] {
  const value = given(obj, key);
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(`${field}.${key}`, `must be an array, got ${describe(value)}`);
  return value.map((item, i) => absolute(item, `${field}.${key}[${i}]`));
}

const MODES = ['disabled', 'auto', 'require'] as const;
const PREFERENCES = ['forbid', 'auto', 'require'] as const;
const POLICY_TYPES = ['danger-full-access', 'read-only', 'workspace-write', 'external-sandbox'] as const;
const NETWORK = ['restricted', 'enabled'] as const;
const FS_KINDS = ['restricted', 'unrestricted', 'external-sandbox'] as const;
const ACCESS = ['read', 'write', 'none'] as const;
const SPECIAL_KINDS = [
  'root',
  'minimal',
  'current_working_directory',
  'project_roots',
  'tmpdir',
  'slash_tmp',
  'unknown',
] as const;
const WINDOWS_LEVELS = ['disabled', 'restricted-token', 'elevated'] as const;

export function parseReadOnlyAccess(value: unknown, field: string): ReadOnlyAccess {
  if (value === undefined || value === null) return FULL_READ_ACCESS;
  const obj = object(value, field);
  const type = oneOf(given(obj, 'type'), ['full-access', 'restricted'] as const, `${field}.type`, 'type');
  if (type === 'full-access') return FULL_READ_ACCESS;
  const platform = given(obj, 'include_platform_defaults');
  if (platform !== undefined && typeof platform !== 'boolean') {
    fail(`${field}.include_platform_defaults`, `must be a boolean, got ${describe(platform)}`);
  }
  return {
    type: 'restricted',
    include_platform_defaults: typeof platform === 'boolean' ? platform : true,
    readable_roots: absoluteList(obj, 'readable_roots', field),
  };
}

export function parseSandboxPolicy(value: unknown, field: string): SandboxPolicy {
  const obj = object(value, field);
  const type = oneOf(given(obj, 'type'), POLICY_TYPES, `${field}.type`, 'type');
  switch (type) {
    case 'danger-full-access':
      return { type };
    case 'read-only':
      return {
        type,
        access: parseReadOnlyAccess(given(obj, 'access'), `${field}.access`),
        network_access: bool(obj, 'network_access', field),
      };
    case 'workspace-write':
      return {
        type,
        writable_roots: absoluteList(obj, 'writable_roots', field),
        read_only_access: parseReadOnlyAccess(given(obj, 'read_only_access'), `${field}.read_only_access`),
        network_access: bool(obj, 'network_access', field),
        exclude_tmpdir_env_var: bool(obj, 'exclude_tmpdir_env_var', field),
        exclude_slash_tmp: bool(obj, 'exclude_slash_tmp', field),
      };
    case 'external-sandbox': {
      const network = given(obj, 'network_access');
      return {
        type,
        network_access:
          network === undefined ? 'restricted' : oneOf(network, NETWORK, `${field}.network_access`, 'value'),
      };
    }
  }
}

function parseSpecialPath(value: unknown, field: string): SpecialPath {
  const obj = object(value, field);
  const kind = oneOf(given(obj, 'kind'), SPECIAL_KINDS, `${field}.kind`, 'kind');
  if (kind !== 'project_roots') return { kind };
  const subpath = given(obj, 'subpath');
  if (subpath === undefined) return { kind };
  if (typeof subpath !== 'string') fail(`${field}.subpath`, `must be a string, got ${describe(subpath)}`);
  // A subpath is relative to the project root by definition; `..` would let it name anything.
  if (subpath.startsWith('/') || subpath.split('/').includes('..')) {
    fail(`${field}.subpath`, `must be a relative path inside the project, got ${JSON.stringify(subpath)}`);
  }
  return { kind, subpath };
}

function parseFileSystemPath(value: unknown, field: string): FileSystemPath {
  const obj = object(value, field);
  const type = oneOf(given(obj, 'type'), ['path', 'special'] as const, `${field}.type`, 'type');
  if (type === 'path') return { type, path: absolute(given(obj, 'path'), `${field}.path`) };
  return { type, value: parseSpecialPath(given(obj, 'value'), `${field}.value`) };
}

export function parseFileSystemPolicy(value: unknown, field: string): FileSystemSandboxPolicy {
  const obj = object(value, field);
  const kind: FileSystemPolicyKind = oneOf(given(obj, 'kind'), FS_KINDS, `${field}.kind`, 'kind');
  const rawEntries = given(obj, 'entries');
  if (rawEntries === undefined) return { kind, entries: [] };
  if (!Array.isArray(rawEntries)) fail(`${field}.entries`, `must be an array, got ${describe(rawEntries)}`);
  const entries = rawEntries.map((raw, i): FileSystemEntry => {
    const entryField = `${field}.entries[${i}]`;
    const entry = object(raw, entryField);
    return {
      path: parseFileSystemPath(given(entry, 'path'), `${entryField}.path`),
      access: oneOf<FileSystemAccess>(given(entry, 'access'), ACCESS, `${entryField}.access`, 'access'),
    };
  });
  return { kind, entries };
}

function parseMode(obj: Json, field: string): SandboxMode {
  const mode = given(obj, 'mode');
  if (mode !== undefined) return oneOf(mode, MODES, `${field}.mode`, 'mode');
  const preference = given(obj, 'sandboxPreference');
  if (preference === undefined) return 'auto';
  const value = oneOf(preference, PREFERENCES, `${field}.sandboxPreference`, 'preference');
  return value === 'forbid' ? 'disabled' : value;
}

const DEFAULT_FILE_SYSTEM_POLICY: FileSystemSandboxPolicy = Object.freeze({
  kind: 'restricted',
  entries: Object.freeze([{ path: { type: 'special', value: { kind: 'root' } }, access: 'read' }]),
}) as FileSystemSandboxPolicy;

/**
 * Validates a SandboxLaunchConfig and fills what a hand-written config may leave out (spec §1).
 * Throws `SandboxError` naming the offending field; never falls back silently.
 */
export function parseSandboxLaunchConfig(value: unknown, field = 'sandbox'): SandboxLaunchConfig {
  // The current protocol's shape (a permission profile) has its own parser into the same model.
  if (isFileSystemSandboxContext(value)) return parseFileSystemSandboxContext(value, field);
  const obj = object(value, field);
  const mode = parseMode(obj, field);

  const rawPolicy = given(obj, 'policy');
  const givenPolicy = rawPolicy === undefined ? null : parseSandboxPolicy(rawPolicy, `${field}.policy`);
  const rawFs = given(obj, 'fileSystemPolicy');
  const rawNetwork = given(obj, 'networkPolicy');
  const rawCwd = given(obj, 'sandboxPolicyCwd');
  const sandboxPolicyCwd = rawCwd === undefined ? null : absolute(rawCwd, `${field}.sandboxPolicyCwd`);

  const fileSystemPolicy =
    rawFs !== undefined
      ? parseFileSystemPolicy(rawFs, `${field}.fileSystemPolicy`)
      : givenPolicy !== null
        ? fileSystemPolicyFromLegacy(givenPolicy)
        : DEFAULT_FILE_SYSTEM_POLICY;
  const networkPolicy: NetworkSandboxPolicy =
    rawNetwork !== undefined
      ? oneOf(rawNetwork, NETWORK, `${field}.networkPolicy`, 'value')
      : givenPolicy !== null
        ? networkPolicyFromLegacy(givenPolicy)
        : 'restricted';

  let policy = givenPolicy;
  if (policy === null) {
    try {
      policy = legacyPolicyFromSplit(fileSystemPolicy, networkPolicy, sandboxPolicyCwd);
    } catch (error) {
      // Only the split policies are enforced; a legacy view is a convenience, not a requirement.
      if (!(error instanceof SandboxError)) throw error;
    }
  }

  const windowsLevel = given(obj, 'windowsSandboxLevel');
  return {
    mode,
    policy,
    fileSystemPolicy,
    networkPolicy,
    sandboxPolicyCwd,
    enforceManagedNetwork: bool(obj, 'enforceManagedNetwork', field),
    windowsSandboxLevel:
      windowsLevel === undefined
        ? 'disabled'
        : oneOf<WindowsSandboxLevel>(windowsLevel, WINDOWS_LEVELS, `${field}.windowsSandboxLevel`, 'level'),
    windowsSandboxPrivateDesktop: bool(obj, 'windowsSandboxPrivateDesktop', field),
    useLegacyLandlock: bool(obj, 'useLegacyLandlock', field),
  };
}
