/**
 * Path and access resolution (spec §4): turns a FileSystemSandboxPolicy plus the policy cwd into
 * concrete host paths: what is readable, what is writable (and what inside it stays read-only),
 * and what is hidden. Both platform backends build from this one view.
 */
import { SandboxError } from '../../errors.js';
import type { HostView } from '../types.js';
import type { FileSystemAccess, FileSystemEntry, FileSystemSandboxPolicy } from './model.js';
import { depth, isStrictlyWithin, isWithin, joinPath, normalizeAbsolute, sortByDepth } from './paths.js';

export interface ResolvedEntry {
  /** Canonical absolute path. */
  readonly path: string;
  readonly access: FileSystemAccess;
  /** The path as the entry named it (before symlinks were resolved). */
  readonly named?: string;
}

export interface WritableRoot {
  /** Canonical, existing. */
  readonly root: string;
  /**
   * Paths inside `root` that stay read-only, sorted by depth. Not canonicalized on purpose: a
   * symlink such as `.codex -> elsewhere` must be seen as the symlink so it can be pinned.
   */
  readonly readOnlySubpaths: readonly string[];
}

export interface FileSystemView {
  readonly fullRead: boolean;
  readonly fullWrite: boolean;
  /** `/` itself is readable (possibly with `none` carve-outs). */
  readonly rootReadable: boolean;
  /** A `minimal` entry grants read: add the platform's default system paths. */
  readonly platformDefaults: boolean;
  /** Canonical paths whose own access is `read`, deduplicated, entry order. */
  readonly readableRoots: readonly string[];
  /** The same roots as the entries named them (symlinks not resolved), deduplicated, entry order. */
  readonly readableNamed: readonly string[];
  /** Existing writable roots, deduplicated, entry order. */
  readonly writableRoots: readonly WritableRoot[];
  /** Canonical paths whose access is `none` (never `/`), deduplicated, entry order. */
  readonly unreadableRoots: readonly string[];
  /** The canonical policy cwd. */
  readonly policyCwd: string;
}

/** Canonicalizes the deepest existing ancestor and re-appends the rest (which may not exist yet). */
export function canonicalize(path: string, host: HostView): string {
  const missing: string[] = [];
  let current = path;
  while (current !== '/' && !host.exists(current)) {
    const slash = current.lastIndexOf('/');
    missing.unshift(current.slice(slash + 1));
    current = slash === 0 ? '/' : current.slice(0, slash);
  }
  const base = host.realpath(current);
  return missing.length === 0 ? base : joinPath(base, missing.join('/'));
}

/** The host path an entry names, or null (minimal, unknown, unset $TMPDIR, missing /tmp). */
export function resolveEntryPath(entry: FileSystemEntry, cwd: string, host: HostView): string | null {
  const path = entry.path;
  if (path.type === 'path') return path.path;
  const { value } = path;
  switch (value.kind) {
    case 'root':
      return '/';
    case 'current_working_directory':
      return cwd;
    case 'project_roots':
      return value.subpath === undefined ? cwd : joinPath(cwd, value.subpath);
    case 'tmpdir': {
      const tmpdir = host.tmpdir;
      return tmpdir !== undefined && tmpdir.startsWith('/') ? normalizeAbsolute(tmpdir) : null;
    }
    case 'slash_tmp':
      return host.isDirectory('/tmp') ? '/tmp' : null;
    case 'minimal':
    case 'unknown':
      return null;
  }
}

const RANK: Record<FileSystemAccess, number> = { read: 0, write: 1, none: 2 };

/** The longest component-prefix entry wins; on a tie none > write > read; no match → none. */
export function accessOf(path: string, entries: readonly ResolvedEntry[]): FileSystemAccess {
  let best: ResolvedEntry | null = null;
  for (const entry of entries) {
    if (!isWithin(path, entry.path)) continue;
    if (
      best === null ||
      depth(entry.path) > depth(best.path) ||
      (entry.path === best.path && RANK[entry.access] > RANK[best.access])
    ) {
      best = entry;
    }
  }
  return best === null ? 'none' : best.access;
}

function unique(paths: readonly string[]): string[] {
  return [...new Set(paths)];
}

/** The target of a `.git` file of the form `gitdir: <path>` (a worktree or submodule), if it exists. */
function gitdirTarget(root: string, host: HostView): string | null {
  const dotGit = joinPath(root, '.git');
  if (!host.isFile(dotGit)) return null;
  const match = /^gitdir:\s*(.+?)\s*$/m.exec(host.readTextFile(dotGit) ?? '');
  if (match?.[1] === undefined) return null;
  const target = match[1].startsWith('/') ? normalizeAbsolute(match[1]) : joinPath(root, match[1]);
  return host.exists(target) ? canonicalize(target, host) : null;
}

/**
 * Refuses a writable root reached through a symlink that leaves the directory holding it. A
 * sandboxed run can plant such a link in a directory it may write (`ws/build -> /outside`); a
 * later run whose writable root is named through it would otherwise write wherever it points.
 * Links that stay inside their own directory pass, and so do top-level links such as
 * `/bin -> usr/bin` (everything is inside `/`).
 */
export function checkWritableRootPath(named: string, host: HostView): void {
  let current = '/';
  for (const part of named.split('/').filter((p) => p !== '')) {
    const next = joinPath(current, part);
    if (!host.isSymlink(next)) {
      current = next;
      continue;
    }
    if (!host.exists(next)) return; // a dangling link: the root is missing and skipped
    const target = host.realpath(next);
    if (!isWithin(target, current)) {
      throw new SandboxError(
        `writable root ${named} goes through the symlink ${next} -> ${target}, which leaves ${current}; ` +
          'name the real path instead',
      );
    }
    current = target;
  }
}

export function resolveFileSystem(
  fs: FileSystemSandboxPolicy,
  policyCwd: string,
  host: HostView,
  /**
   * Host executables the launch depends on (bwrap, the launcher, the fs helper's files): inside a
   * writable root they stay read-only, as protected subpaths do.
   */
  trusted: readonly string[] = [],
): FileSystemView {
  const cwd = canonicalize(policyCwd, host);
  if (fs.kind !== 'restricted') {
    return {
      fullRead: true,
      fullWrite: true,
      rootReadable: true,
      platformDefaults: false,
      readableRoots: [],
      readableNamed: [],
      writableRoots: [],
      unreadableRoots: [],
      policyCwd: cwd,
    };
  }

  // Entries are named against the cwd as given, so a symlink on the way stays visible to the check.
  const namedCwd = normalizeAbsolute(policyCwd);
  const resolved: ResolvedEntry[] = [];
  for (const entry of fs.entries) {
    const named = resolveEntryPath(entry, namedCwd, host);
    if (named !== null) resolved.push({ path: canonicalize(named, host), access: entry.access, named });
  }
  // An entry only counts for what it actually grants after ties (e.g. `/a:write` + `/a:none`).
  const effective = resolved.filter((entry) => accessOf(entry.path, resolved) === entry.access);

  const rootAccess = accessOf(
    '/',
    resolved.filter((entry) => entry.path === '/'),
  );
  const rootReadable = rootAccess !== 'none' && resolved.some((entry) => entry.path === '/');
  const unreadableRoots = unique(
    effective.filter((entry) => entry.access === 'none' && entry.path !== '/').map((entry) => entry.path),
  );
  const fullRead = rootReadable && unreadableRoots.length === 0;
  const fullWrite =
    rootAccess === 'write' && resolved.every((entry) => entry.path === '/' || entry.access === 'write');

  const writableEntries = effective.filter((e) => e.access === 'write' && host.exists(e.path));
  for (const entry of writableEntries) checkWritableRootPath(entry.named ?? entry.path, host);
  const writable = unique(writableEntries.map((e) => e.path));
  const protectedCandidates: string[] = [];
  for (const root of writable) {
    const target = gitdirTarget(root, host);
    if (target !== null) protectedCandidates.push(target);
    const dotGit = joinPath(root, '.git');
    if (host.exists(dotGit) || host.isSymlink(dotGit)) protectedCandidates.push(dotGit);
    const agents = joinPath(root, '.agents');
    if (host.isDirectory(agents)) protectedCandidates.push(agents);
    const codex = joinPath(root, '.codex');
    // At the workspace root `.codex` is protected even when missing, so it cannot be created.
    if (host.isDirectory(codex) || root === cwd) protectedCandidates.push(codex);
    for (const entry of effective) {
      if (entry.access !== 'write' && isStrictlyWithin(entry.path, root))
        protectedCandidates.push(entry.path);
    }
  }
  for (const path of trusted) {
    if (host.exists(path)) protectedCandidates.push(host.realpath(path));
  }
  // Each protected path belongs to the deepest writable root holding it: that root's bind is the
  // last one covering it, so the read-only bind must come after that one.
  const byRoot = new Map<string, string[]>(writable.map((root) => [root, []]));
  for (const path of unique(protectedCandidates)) {
    let owner: string | null = null;
    for (const root of writable) {
      if (isStrictlyWithin(path, root) && (owner === null || depth(root) > depth(owner))) owner = root;
    }
    if (owner !== null) byRoot.get(owner)?.push(path);
  }

  return {
    fullRead,
    fullWrite,
    rootReadable,
    platformDefaults: fs.entries.some(
      (e) => e.path.type === 'special' && e.path.value.kind === 'minimal' && e.access !== 'none',
    ),
    readableRoots: unique(effective.filter((e) => e.access === 'read').map((e) => e.path)),
    readableNamed: unique(effective.filter((e) => e.access === 'read').map((e) => e.named ?? e.path)),
    writableRoots: writable.map((root) => ({
      root,
      readOnlySubpaths: sortByDepth(byRoot.get(root) ?? [], (p) => p),
    })),
    unreadableRoots,
    policyCwd: cwd,
  };
}
