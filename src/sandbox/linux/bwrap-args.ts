/**
 * The bubblewrap argument list (spec §5): everything after the `bwrap` path. Mount order matters
 * because later mounts cover earlier ones: read-only base, `/dev`, writable roots each followed by
 * what stays read-only inside them, the masks over unreadable paths, and last our own files in the
 * sandbox's private directory (the launcher, the fs helper's files), which nothing may cover.
 */
import type { FileSystemView, WritableRoot } from '../policy/resolve.js';
import { ancestorsFirst, isStrictlyWithin, isWithin, pathsBetween, sortByDepth } from '../policy/paths.js';
import type { HostView, PrivateMount } from '../types.js';

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

/**
 * Our files inside the sandbox, read-only, whatever the policy shows: on the sandbox's own `/dev`
 * (a fresh tmpfs bwrap makes, never a host directory), so nothing is created on the host and no
 * policy mask can hide them.
 */
export const PRIVATE_MOUNT_DIR = '/dev/.execvisor';
/** Where the launcher is inside the sandbox: bwrap's command. */
export const LAUNCHER_IN_SANDBOX = `${PRIVATE_MOUNT_DIR}/launcher`;
/** Managed network: where the runtime proxy's Unix socket is inside the sandbox (for the bridge). */
export const PROXY_SOCKET_NAME = 'net.sock';
export const PROXY_SOCKET_IN_SANDBOX = `${PRIVATE_MOUNT_DIR}/${PROXY_SOCKET_NAME}`;

export interface BwrapOptions {
  readonly restrictNetwork: boolean;
  readonly mountProc: boolean;
  /** `--chdir` target (the canonical cwd when it differs from the requested one), or null. */
  readonly chdir: string | null;
  /** Host path of the launcher, bound read-only at `LAUNCHER_IN_SANDBOX`. */
  readonly launcher: string;
  /** Descriptor the launcher reads its spec from. */
  readonly specFd: number;
  /** Descriptor on which the child has `/dev/null` open; bwrap copies it over unreadable files. */
  readonly devNullFd: number;
  /** More host files to show under `PRIVATE_MOUNT_DIR`. */
  readonly privateMounts?: readonly PrivateMount[];
}

export interface BwrapArgs {
  readonly args: readonly string[];
  /** Whether `devNullFd` is referenced (an unreadable *file* is masked). */
  readonly usesDevNullFd: boolean;
}

function namespaceArgs(options: BwrapOptions): string[] {
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
    '--',
    // The launcher applies the seccomp filter and execs the command with the request's argv and
    // env, both read from its spec descriptor: nothing of the request is on bwrap's command line.
    LAUNCHER_IN_SANDBOX,
    '--fd',
    String(options.specFd),
  ];
}

function privateArgs(options: BwrapOptions): string[] {
  const mounts = [{ source: options.launcher, name: 'launcher' }, ...(options.privateMounts ?? [])];
  return mounts.flatMap(({ source, name }) => ['--ro-bind', source, `${PRIVATE_MOUNT_DIR}/${name}`]);
}

/**
 * Read-only binds for the paths that stay read-only inside a writable root (already sorted).
 *
 * Each directory between the root and such a path is bound onto itself first: a mount point cannot
 * be renamed or removed (EBUSY), so `mv conf conf2` cannot carry a masked or protected path out
 * from under its mount for a later run to find at another name, while the directory's contents stay
 * writable. The same for the way to every writable root nested in this one (a cwd below `/tmp`):
 * renaming one of its ancestors would carry the nested root, its protected paths and masks along,
 * and leave its old path free for the run to fill with a workspace of its own (a planted `.git`
 * hook) or a later run to find unmasked. These come first, before any mount below them exists
 * (a later bind of an ancestor would cover it).
 */
function protectArgs(root: WritableRoot, host: HostView, nested: readonly WritableRoot[]): string[] {
  const args: string[] = [];
  const pinned = new Set<string>();
  for (const inner of nested) {
    for (const dir of pathsBetween(root.root, inner.root).slice(0, -1)) {
      if (pinned.has(dir) || !host.isDirectory(dir) || host.isSymlink(dir)) continue;
      if (root.readOnlySubpaths.some((other) => isWithin(dir, other))) continue;
      pinned.add(dir);
      args.push('--bind', dir, dir);
    }
  }
  for (const path of root.readOnlySubpaths) {
    const steps = pathsBetween(root.root, path);
    const symlinkAt = steps.findIndex((step) => host.isSymlink(step));
    const missingAt = steps.findIndex((step) => !host.exists(step));
    // Pin the real directories on the way (not the path itself, which gets its own mount below).
    const stop = Math.min(...[symlinkAt, missingAt, steps.length - 1].filter((i) => i >= 0));
    for (const dir of steps.slice(0, stop)) {
      // Inside another read-only path: that one's own mount already holds it (and a writable
      // bind here would undo it).
      if (pinned.has(dir) || !host.isDirectory(dir)) continue;
      if (root.readOnlySubpaths.some((other) => isWithin(dir, other))) continue;
      pinned.add(dir);
      args.push('--bind', dir, dir);
    }
    // A symlink inside the writable root could be re-pointed to dodge the bind: pin the link.
    if (symlinkAt >= 0 && (missingAt < 0 || symlinkAt < missingAt)) {
      args.push('--ro-bind', '/dev/null', steps[symlinkAt]!);
      continue;
    }
    if (host.exists(path)) {
      args.push('--ro-bind', path, path);
      continue;
    }
    // Occupying the first missing component stops the sandboxed process from creating the path. An
    // empty read-only directory rather than a file: bwrap leaves its mount point behind on the host,
    // and git does not show an empty directory in `git status`.
    const missing = steps[missingAt];
    if (missing !== undefined) args.push('--tmpfs', missing, '--remount-ro', missing);
  }
  return args;
}

/** `nested`: the writable roots strictly inside this one (bound after it), whose way is pinned. */
function rootArgs(root: WritableRoot, host: HostView, nested: readonly WritableRoot[] = []): string[] {
  const args = ['--bind', root.root, root.root];
  // `/dev` is always the sandbox's own (and holds PRIVATE_MOUNT_DIR): a writable `/` does not
  // hand it the host's devices.
  if (isWithin('/dev', root.root)) args.push('--dev', '/dev');
  return [...args, ...protectArgs(root, host, nested)];
}

/** The symlinks on the way to `path` (each with its canonical target), outermost first. */
function symlinksOnTheWay(path: string, host: HostView): { link: string; target: string }[] {
  const links: { link: string; target: string }[] = [];
  let current = '/';
  for (const part of path.split('/').filter((p) => p !== '')) {
    const next = current === '/' ? `/${part}` : `${current}/${part}`;
    if (host.isSymlink(next) && host.exists(next)) {
      const target = host.realpath(next);
      links.push({ link: next, target });
      current = target;
    } else {
      current = next;
    }
  }
  return links;
}

function readArgs(view: FileSystemView, host: HostView): string[] {
  if (view.rootReadable) return ['--ro-bind', '/', '/', '--dev', '/dev'];
  const named = [...view.readableNamed, ...(view.platformDefaults ? LINUX_PLATFORM_DEFAULTS : [])].filter(
    (root) => host.exists(root),
  );
  // Bind each root at its canonical path, and recreate the symlinks by which the policy named it
  // (merged-/usr hosts: `/bin -> usr/bin`), so both spellings work inside.
  const binds = [...new Set([...view.readableRoots, ...named.map((root) => host.realpath(root))])]
    .filter((root, _, all) => host.exists(root) && !all.some((outer) => isStrictlyWithin(root, outer)))
    .sort();
  const links = new Map<string, string>();
  for (const root of named) {
    for (const { link, target } of symlinksOnTheWay(root, host)) {
      // A link inside a bound directory is already there, as the host has it.
      if (!binds.some((bound) => isStrictlyWithin(link, bound))) links.set(link, target);
    }
  }
  // `--dev /dev` must follow any bind that covers /dev and precede any bind below it.
  const coveringDev = binds.filter((root) => isWithin('/dev', root));
  const rest = binds.filter((root) => !isWithin('/dev', root));
  return [
    '--tmpfs',
    '/',
    ...coveringDev.flatMap((root) => ['--ro-bind', root, root]),
    '--dev',
    '/dev',
    ...rest.flatMap((root) => ['--ro-bind', root, root]),
    ...sortByDepth([...links], ([link]) => link).flatMap(([link, target]) => ['--symlink', target, link]),
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
  options: BwrapOptions,
  host: HostView,
): BwrapArgs | null {
  if (view.fullWrite) {
    // Nothing to confine on disk; with network on there is nothing to confine at all.
    if (!options.restrictNetwork) return null;
    return {
      args: [
        '--new-session',
        '--die-with-parent',
        '--bind',
        '/',
        '/',
        '--dev',
        '/dev',
        ...privateArgs(options),
        ...namespaceArgs(options),
      ],
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
  const bound = roots.filter((root) => !underMask(root));
  for (const root of bound) {
    const nested = bound.filter((inner) => isStrictlyWithin(inner.root, root.root));
    args.push(...rootArgs(root, host, nested));
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

  args.push(...privateArgs(options), ...namespaceArgs(options));
  return { args, usesDevNullFd };
}
