/**
 * The bubblewrap argument list (spec §5): everything after the `bwrap` path. Mount order matters
 * because later mounts cover earlier ones: read-only base, `/dev`, writable roots each followed by
 * what stays read-only inside them, then the masks over unreadable paths.
 */
import type { FileSystemView, WritableRoot } from '../policy/resolve.js';
import { ancestorsFirst, isStrictlyWithin, isWithin, pathsBetween } from '../policy/paths.js';
import type { HostView } from '../types.js';

/** System paths a `minimal` read entry adds on Linux (those that exist). */
export const LINUX_PLATFORM_DEFAULTS: readonly string[] = [
  '/bin',
  '/sbin',
  '/usr',
  '/etc',
  '/lib',
  '/lib64',
  '/nix/store',
  '/run/current-system/sw',
];

export interface BwrapOptions {
  readonly restrictNetwork: boolean;
  readonly mountProc: boolean;
  /** `--chdir` target (the canonical cwd when it differs from the requested one), or null. */
  readonly chdir: string | null;
  /** Descriptor carrying the seccomp program, or null for none. */
  readonly seccompFd: number | null;
  /** Descriptor on which the child has `/dev/null` open; bwrap copies it over unreadable files. */
  readonly devNullFd: number;
}

export interface BwrapArgs {
  readonly args: readonly string[];
  /** Whether `devNullFd` is referenced (an unreadable *file* is masked). */
  readonly usesDevNullFd: boolean;
}

function namespaceArgs(options: BwrapOptions, command: readonly string[]): string[] {
  return [
    '--unshare-user',
    '--unshare-pid',
    // A server running as root would otherwise leave the child every capability inside its
    // namespaces, enough to unmount the read-only binds that protect .git and the host.
    '--cap-drop',
    'ALL',
    ...(options.restrictNetwork ? ['--unshare-net'] : []),
    ...(options.mountProc ? ['--proc', '/proc'] : []),
    ...(options.chdir !== null ? ['--chdir', options.chdir] : []),
    ...(options.seccompFd !== null ? ['--seccomp', String(options.seccompFd)] : []),
    '--',
    ...command,
  ];
}

/** Read-only binds for the paths that stay read-only inside a writable root (already sorted). */
function protectArgs(root: WritableRoot, host: HostView): string[] {
  const args: string[] = [];
  for (const path of root.readOnlySubpaths) {
    const steps = pathsBetween(root.root, path);
    // A symlink inside the writable root could be re-pointed to dodge the bind: pin the link.
    const symlink = steps.find((step) => host.isSymlink(step));
    if (symlink !== undefined) {
      args.push('--ro-bind', '/dev/null', symlink);
      continue;
    }
    if (host.exists(path)) {
      args.push('--ro-bind', path, path);
      continue;
    }
    // Occupying the first missing component stops the sandboxed process from creating the path.
    const missing = steps.find((step) => !host.exists(step));
    if (missing !== undefined) args.push('--ro-bind', '/dev/null', missing);
  }
  return args;
}

function rootArgs(root: WritableRoot, host: HostView): string[] {
  return ['--bind', root.root, root.root, ...protectArgs(root, host)];
}

function readArgs(view: FileSystemView, host: HostView): string[] {
  if (view.rootReadable) return ['--ro-bind', '/', '/', '--dev', '/dev'];
  const roots = [...view.readableRoots, ...(view.platformDefaults ? LINUX_PLATFORM_DEFAULTS : [])];
  const existing = [...new Set(roots)].filter((root) => host.exists(root)).sort();
  // `--dev /dev` must follow any bind that covers /dev and precede any bind below it.
  const coveringDev = existing.filter((root) => isWithin('/dev', root));
  const rest = existing.filter((root) => !isWithin('/dev', root));
  return [
    '--tmpfs',
    '/',
    ...coveringDev.flatMap((root) => ['--ro-bind', root, root]),
    '--dev',
    '/dev',
    ...rest.flatMap((root) => ['--ro-bind', root, root]),
  ];
}

function isVisible(path: string, view: FileSystemView): boolean {
  if (view.rootReadable) return true;
  return (
    view.readableRoots.some((root) => isWithin(path, root)) ||
    view.writableRoots.some((root) => isWithin(path, root.root))
  );
}

export function buildBwrapArgs(
  view: FileSystemView,
  command: readonly string[],
  options: BwrapOptions,
  host: HostView,
): BwrapArgs | null {
  if (view.fullWrite) {
    // Nothing to confine on disk; with network on there is nothing to confine at all.
    if (!options.restrictNetwork) return null;
    return {
      args: ['--new-session', '--die-with-parent', '--bind', '/', '/', ...namespaceArgs(options, command)],
      usesDevNullFd: false,
    };
  }

  const unreadable = view.unreadableRoots.filter(
    (path) => isVisible(path, view) && !view.unreadableRoots.some((outer) => isStrictlyWithin(path, outer)),
  );
  const roots = ancestorsFirst(view.writableRoots, (root) => root.root);
  const underMask = (root: WritableRoot): boolean =>
    unreadable.some((mask) => isStrictlyWithin(root.root, mask));

  const args = ['--new-session', '--die-with-parent', ...readArgs(view, host)];
  for (const root of roots) {
    if (!underMask(root)) args.push(...rootArgs(root, host));
  }

  let usesDevNullFd = false;
  for (const mask of unreadable) {
    if (host.isDirectory(mask)) {
      const inner = roots.filter((root) => isStrictlyWithin(root.root, mask));
      if (inner.length === 0) {
        args.push('--perms', '000', '--tmpfs', mask, '--remount-ro', mask);
        continue;
      }
      // Traversable but not listable, so the writable roots below stay reachable by path.
      args.push('--perms', '111', '--tmpfs', mask);
      const made = new Set<string>();
      for (const root of inner) {
        for (const dir of pathsBetween(mask, root.root)) {
          if (made.has(dir)) continue;
          made.add(dir);
          // The root itself is a mount point, covered by its bind; only the way there is masked.
          args.push(...(dir === root.root ? ['--dir', dir] : ['--perms', '111', '--dir', dir]));
        }
      }
      args.push('--remount-ro', mask);
      for (const root of inner) args.push(...rootArgs(root, host));
    } else if (host.exists(mask)) {
      args.push('--perms', '000', '--ro-bind-data', String(options.devNullFd), mask);
      usesDevNullFd = true;
    }
  }

  args.push(...namespaceArgs(options, command));
  return { args, usesDevNullFd };
}
