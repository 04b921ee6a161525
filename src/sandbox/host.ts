/**
 * The real HostView: the few host facts the transform reads, from the filesystem and the server's
 * own environment. Everything here is synchronous because the transform is a plain function.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { resolveSandboxTools, type SandboxTools } from './tools.js';
import type { HostView } from './types.js';

/**
 * The transform looks up a few dozen paths on every start, many of them missing (`.codex`,
 * `.agents`, masks): a missing one is answered without an exception, which would cost a stack trace.
 */
function stat(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

export interface NodeHostViewOptions {
  /** The executables the runtime resolved at start; default: resolved here, from the defaults. */
  readonly tools?: SandboxTools | undefined;
  readonly tmpdir?: string | undefined;
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
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 10_000, env: {} },
  );
  const stderr = typeof result.stderr === 'string' ? result.stderr : '';
  const canMount = !(stderr.includes("Can't mount proc") && stderr.includes('/newroot/proc'));
  procProbe.set(bwrapPath, canMount);
  return canMount;
}

let defaultTools: SandboxTools | undefined;

export function nodeHostView(options: NodeHostViewOptions = {}): HostView {
  const tools = options.tools ?? (defaultTools ??= resolveSandboxTools({ env: process.env.EXECVISOR_BWRAP }));
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
        return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
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
    bwrap: tools.bwrap,
    launcher: tools.launcher,
    canMountProc: probeCanMountProc,
  };
}
