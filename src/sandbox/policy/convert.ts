/**
 * Conversions between the legacy policy and the split (filesystem + network) policies (spec §2).
 * The split policies are what gets enforced; the legacy form is derived for callers that want it.
 */
import { SandboxError } from '../../errors.js';
import type {
  FileSystemEntry,
  FileSystemSandboxPolicy,
  NetworkSandboxPolicy,
  ReadOnlyAccess,
  SandboxPolicy,
} from './model.js';
import { absolutePath, FULL_READ_ACCESS, special } from './model.js';
import { joinPath } from './paths.js';

function readEntries(access: ReadOnlyAccess): FileSystemEntry[] {
  if (access.type === 'full-access') return [{ path: special('root'), access: 'read' }];
  return [
    { path: special('current_working_directory'), access: 'read' },
    ...(access.include_platform_defaults ? [{ path: special('minimal'), access: 'read' as const }] : []),
    ...access.readable_roots.map((root) => ({ path: absolutePath(root), access: 'read' as const })),
  ];
}

export function fileSystemPolicyFromLegacy(policy: SandboxPolicy): FileSystemSandboxPolicy {
  switch (policy.type) {
    case 'danger-full-access':
      return { kind: 'unrestricted', entries: [] };
    case 'external-sandbox':
      return { kind: 'external-sandbox', entries: [] };
    case 'read-only':
      return { kind: 'restricted', entries: readEntries(policy.access) };
    case 'workspace-write':
      // This order is the order of writable roots at launch (cwd, /tmp, $TMPDIR, extras).
      return {
        kind: 'restricted',
        entries: [
          ...readEntries(policy.read_only_access),
          { path: special('current_working_directory'), access: 'write' },
          ...(policy.exclude_slash_tmp ? [] : [{ path: special('slash_tmp'), access: 'write' as const }]),
          ...(policy.exclude_tmpdir_env_var ? [] : [{ path: special('tmpdir'), access: 'write' as const }]),
          ...policy.writable_roots.map((root) => ({ path: absolutePath(root), access: 'write' as const })),
        ],
      };
  }
}

export function networkPolicyFromLegacy(policy: SandboxPolicy): NetworkSandboxPolicy {
  switch (policy.type) {
    case 'danger-full-access':
      return 'enabled';
    case 'external-sandbox':
      return policy.network_access;
    case 'read-only':
    case 'workspace-write':
      return policy.network_access ? 'enabled' : 'restricted';
  }
}

function isRootEntry(entry: FileSystemEntry): boolean {
  return (
    (entry.path.type === 'special' && entry.path.value.kind === 'root') ||
    (entry.path.type === 'path' && entry.path.path === '/')
  );
}

/**
 * Whether an entry names the policy cwd. Without a known cwd only the special forms can; with one,
 * an absolute path equal to it does too.
 */
function namesCwd(entry: FileSystemEntry, cwd: string | null): boolean {
  const path = entry.path;
  if (path.type === 'path') return cwd !== null && path.path === cwd;
  const { value } = path;
  return (
    value.kind === 'current_working_directory' ||
    (value.kind === 'project_roots' && value.subpath === undefined)
  );
}

/**
 * Split → legacy (spec §2). Lossy by nature: `none` entries have no legacy spelling and are
 * dropped. Throws when the split policy writes somewhere but not to the workspace, which the
 * legacy model cannot say.
 */
export function legacyPolicyFromSplit(
  fs: FileSystemSandboxPolicy,
  network: NetworkSandboxPolicy,
  cwd: string | null,
): SandboxPolicy {
  const networkOn = network === 'enabled';
  if (fs.kind === 'external-sandbox') return { type: 'external-sandbox', network_access: network };
  const rootWrite =
    fs.kind === 'unrestricted' || fs.entries.some((e) => e.access === 'write' && isRootEntry(e));
  if (rootWrite) {
    return networkOn ? { type: 'danger-full-access' } : { type: 'external-sandbox', network_access: network };
  }

  const reads = fs.entries.filter((e) => e.access === 'read');
  const access: ReadOnlyAccess = reads.some(isRootEntry)
    ? FULL_READ_ACCESS
    : {
        type: 'restricted',
        include_platform_defaults: reads.some(
          (e) => e.path.type === 'special' && e.path.value.kind === 'minimal',
        ),
        readable_roots: reads.flatMap((e) =>
          e.path.type === 'path' && !namesCwd(e, cwd) ? [e.path.path] : [],
        ),
      };

  const writes = fs.entries.filter((e) => e.access === 'write');
  if (writes.length === 0) return { type: 'read-only', access, network_access: networkOn };
  if (!writes.some((e) => namesCwd(e, cwd))) {
    throw new SandboxError('permissions profile requests filesystem writes outside the workspace root');
  }

  const writableRoots: string[] = [];
  let slashTmp = false;
  let tmpdir = false;
  for (const entry of writes) {
    if (namesCwd(entry, cwd)) continue;
    const path = entry.path;
    if (path.type === 'path') {
      writableRoots.push(path.path);
      continue;
    }
    const { value } = path;
    if (value.kind === 'slash_tmp') slashTmp = true;
    else if (value.kind === 'tmpdir') tmpdir = true;
    else if (value.kind === 'project_roots' && value.subpath !== undefined) {
      if (cwd === null) {
        throw new SandboxError(
          'permissions profile requests writes to a project subpath but sandboxPolicyCwd is not set',
        );
      }
      writableRoots.push(joinPath(cwd, value.subpath));
    }
    // `minimal` and `unknown` resolve to nothing, so a write to them grants nothing.
  }
  return {
    type: 'workspace-write',
    writable_roots: writableRoots,
    read_only_access: access,
    network_access: networkOn,
    exclude_tmpdir_env_var: !tmpdir,
    exclude_slash_tmp: !slashTmp,
  };
}
