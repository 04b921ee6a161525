/**
 * The real HostView: the few host facts the transform reads, from the filesystem and the server's
 * own environment. Everything here is synchronous because the transform is a plain function.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { delimiter } from 'node:path';
import { isWithin, joinPath, normalizeAbsolute } from './policy/paths.js';
import type { HostView } from './types.js';

function stat(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function canonicalOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

export interface NodeHostViewOptions {
  /** Defaults to `process.env.PATH` (the server's PATH; the child's env.PATH plays no part). */
  readonly path?: string | undefined;
  readonly tmpdir?: string | undefined;
}

/**
 * `bwrap` on the server's PATH that is not inside `avoidDir` (the launch cwd: a workspace must not
 * be able to supply its own "bwrap"). Relative PATH entries are skipped for the same reason.
 */
export function findBwrapOnPath(
  pathVar: string | undefined,
  avoidDir: string,
): { path: string } | { error: string } {
  const avoid = canonicalOrSelf(avoidDir);
  let skipped: string | null = null;
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (!dir.startsWith('/')) continue;
    const candidate = joinPath(dir, 'bwrap');
    if (!stat(candidate)?.isFile()) continue;
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    if (isWithin(normalizeAbsolute(dir), avoidDir) || isWithin(canonicalOrSelf(candidate), avoid)) {
      skipped = candidate;
      continue;
    }
    return { path: candidate };
  }
  return {
    error:
      skipped === null
        ? 'bwrap not found on PATH'
        : `bwrap not found on PATH outside the working directory (ignored ${skipped})`,
  };
}

const procProbe = new Map<string, boolean>();

/**
 * Whether bwrap can mount a fresh /proc here. Some container runtimes forbid it; bwrap then fails
 * with "Can't mount proc on /newroot/proc". Probed once per bwrap path and cached.
 */
export function probeCanMountProc(bwrapPath: string): boolean {
  const known = procProbe.get(bwrapPath);
  if (known !== undefined) return known;
  const result = spawnSync(
    bwrapPath,
    [
      '--ro-bind',
      '/',
      '/',
      '--dev',
      '/dev',
      '--unshare-user',
      '--unshare-pid',
      '--proc',
      '/proc',
      '--',
      '/bin/true',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 10_000 },
  );
  const stderr = typeof result.stderr === 'string' ? result.stderr : '';
  const canMount = !(stderr.includes("Can't mount proc") && stderr.includes('/newroot/proc'));
  procProbe.set(bwrapPath, canMount);
  return canMount;
}

export function nodeHostView(options: NodeHostViewOptions = {}): HostView {
  const pathVar = 'path' in options ? options.path : process.env.PATH;
  const tmpdir = 'tmpdir' in options ? options.tmpdir : process.env.TMPDIR;
  return {
    platform: process.platform,
    arch: process.arch,
    tmpdir: tmpdir === '' ? undefined : tmpdir,
    exists: (path) => stat(path) !== undefined,
    isDirectory: (path) => stat(path)?.isDirectory() ?? false,
    isFile: (path) => stat(path)?.isFile() ?? false,
    isSymlink: (path) => {
      try {
        return lstatSync(path).isSymbolicLink();
      } catch {
        return false;
      }
    },
    realpath: (path) => realpathSync(path),
    readTextFile: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    findBwrap: (avoidDir) => findBwrapOnPath(pathVar, avoidDir),
    canMountProc: probeCanMountProc,
  };
}
