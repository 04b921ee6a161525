/**
 * An in-memory HostView for the sandbox unit tests: a file tree with directories, files and
 * symlinks, resolved the way the kernel would.
 */
import { posix } from 'node:path';
import type { HostView } from '../../../src/sandbox/types.js';

type Node =
  | { readonly kind: 'dir' }
  | { readonly kind: 'file'; readonly content: string }
  | { readonly kind: 'symlink'; readonly target: string };

export interface FakeHostOptions {
  readonly platform?: NodeJS.Platform;
  readonly arch?: string;
  readonly tmpdir?: string;
  /** Paths ending in `/` or valued `'dir'` are directories; other strings and `{file}` files; `{link}` symlinks. */
  readonly tree?: Record<string, string | { file: string } | { link: string }>;
  readonly bwrap?: string | null;
  readonly launcher?: string | null;
  readonly canMountProc?: boolean;
}

export interface FakeHost extends HostView {
  readonly procProbes: string[];
}

export function fakeHost(options: FakeHostOptions = {}): FakeHost {
  const nodes = new Map<string, Node>([['/', { kind: 'dir' }]]);
  const addDirs = (path: string): void => {
    let current = path;
    while (current !== '/') {
      if (!nodes.has(current)) nodes.set(current, { kind: 'dir' });
      current = posix.dirname(current);
    }
  };
  for (const [rawPath, spec] of Object.entries(options.tree ?? {})) {
    const path = rawPath.length > 1 && rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath;
    addDirs(posix.dirname(path));
    if (spec === 'dir' || rawPath.endsWith('/')) addDirs(path);
    else if (typeof spec === 'string') nodes.set(path, { kind: 'file', content: spec });
    else if ('file' in spec) nodes.set(path, { kind: 'file', content: spec.file });
    else nodes.set(path, { kind: 'symlink', target: spec.link });
  }

  /** Follows symlinks in every component; null if something is missing. */
  const resolve = (path: string, hops = 0): string | null => {
    if (hops > 40) return null;
    const parts = path.split('/').filter((p) => p !== '');
    let current = '/';
    for (let i = 0; i < parts.length; i++) {
      const next = posix.join(current, parts[i]!);
      const node = nodes.get(next);
      if (node === undefined) return null;
      if (node.kind === 'symlink') {
        const target = posix.resolve(current, node.target);
        const rest = parts.slice(i + 1).join('/');
        return resolve(rest === '' ? target : posix.join(target, rest), hops + 1);
      }
      current = next;
    }
    return current;
  };
  const nodeAt = (path: string): Node | undefined => {
    const real = resolve(path);
    return real === null ? undefined : nodes.get(real);
  };

  const procProbes: string[] = [];
  const bwrap = options.bwrap === undefined ? '/usr/bin/bwrap' : options.bwrap;
  const launcher = options.launcher === undefined ? '/opt/execvisor/execvisor-launcher' : options.launcher;
  return {
    platform: options.platform ?? 'linux',
    arch: options.arch ?? 'x64',
    tmpdir: options.tmpdir,
    exists: (path) => nodeAt(path) !== undefined,
    isDirectory: (path) => nodeAt(path)?.kind === 'dir',
    isFile: (path) => nodeAt(path)?.kind === 'file',
    isSymlink: (path) => {
      const parent = resolve(posix.dirname(path));
      return parent !== null && nodes.get(posix.join(parent, posix.basename(path)))?.kind === 'symlink';
    },
    realpath: (path) => {
      const real = resolve(path);
      if (real === null) throw new Error(`ENOENT: ${path}`);
      return real;
    },
    readTextFile: (path) => {
      const node = nodeAt(path);
      return node?.kind === 'file' ? node.content : undefined;
    },
    bwrap: bwrap === null ? { error: 'bwrap not found (looked in /usr/bin/bwrap)' } : { path: bwrap },
    launcher: launcher === null ? { error: 'execvisor-launcher is not built' } : { path: launcher },
    canMountProc: (path) => {
      procProbes.push(path);
      return options.canMountProc ?? true;
    },
    procProbes,
  };
}
