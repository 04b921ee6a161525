/**
 * cgroup v2 containment: every process runs in a cgroup of its own, so its whole tree (background
 * jobs, double-forked `setsid` daemons, anything that left the process group) can be killed at once
 * with `cgroup.kill` and found by membership rather than by parentage.
 *
 * Layout, under the server's own cgroup (found from /proc/self/cgroup and the cgroup2 mount in
 * /proc/self/mountinfo, which is `/sys/fs/cgroup` on a pure v2 host and `/sys/fs/cgroup/unified` on a
 * hybrid one):
 *
 *     <own cgroup>/execvisor-<pid>-<n>/      one per runtime (the orphan reaper kills it whole)
 *                                s<k>/       one per session (closing the session kills it whole)
 *                                  p<id>/    one per process (terminate kills it whole)
 *
 * Processes live only in the leaves and no controller is ever enabled, so the "no internal
 * processes" rule of cgroup v2 never applies. This file has the pure lookup and the per-directory
 * operations; `src/supervisor/containment.ts` decides and keeps the runtime's tree.
 */
import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** The cgroup2 mount point and its root, from the text of /proc/self/mountinfo. */
export function cgroup2Mounts(mountinfo: string): { mountPoint: string; root: string }[] {
  const mounts: { mountPoint: string; root: string }[] = [];
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mount-point options [optional fields…] - fstype source super-options
    const separator = line.indexOf(' - ');
    if (separator < 0) continue;
    const fsType = line.slice(separator + 3).split(' ')[0];
    if (fsType !== 'cgroup2') continue;
    const fields = line.slice(0, separator).split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    mounts.push({ mountPoint: unescapeMountField(mountPoint), root: unescapeMountField(root) });
  }
  return mounts;
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** This process's cgroup v2 path (the `0::/…` line of /proc/self/cgroup), or null if it has none. */
export function unifiedCgroupPath(procCgroup: string): string | null {
  for (const line of procCgroup.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3).trim();
  }
  return null;
}

/**
 * The directory of this process's own cgroup, given the texts of /proc/self/mountinfo and
 * /proc/self/cgroup, or why there is none.
 */
export function ownCgroupDir(
  mountinfo: string,
  procCgroup: string,
): { readonly dir: string } | { readonly error: string } {
  const path = unifiedCgroupPath(procCgroup);
  if (path === null) return { error: 'this process is in no cgroup v2 hierarchy (/proc/self/cgroup)' };
  const mounts = cgroup2Mounts(mountinfo);
  if (mounts.length === 0) return { error: 'no cgroup2 file system is mounted (/proc/self/mountinfo)' };
  for (const { mountPoint, root } of mounts) {
    // The path is relative to the cgroup namespace root; a mount may expose only a subtree of it.
    if (root === '/') return { dir: withoutTrailingSlash(join(mountPoint, path)) };
    if (path === root || path.startsWith(`${root}/`)) {
      return { dir: withoutTrailingSlash(join(mountPoint, path.slice(root.length))) };
    }
  }
  return { error: `this process's cgroup ${path} is not under any cgroup2 mount` };
}

function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** Writes "1" to `cgroup.kill`: SIGKILL to every process in the cgroup and below. False if gone. */
export function killCgroup(dir: string): boolean {
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Whether any process is in the cgroup or below it (`populated` of cgroup.events). */
export function isPopulated(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Removes the cgroup and every cgroup below it, deepest first. True when it is gone; false when some
 * cgroup still has processes (EBUSY) and stays.
 */
export function removeCgroupTree(dir: string): boolean {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
  let gone = true;
  for (const entry of entries) {
    if (entry.isDirectory() && !removeCgroupTree(join(dir, entry.name))) gone = false;
  }
  return gone && removeCgroup(dir);
}

/** rmdir of one (empty of children) cgroup: true when gone, false while processes are in it. */
export function removeCgroup(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'EBUSY' || code === 'ENOTEMPTY') return false;
    throw error;
  }
}

/** The cgroup of one process, made by the actor that starts it (worker side). */
export class ProcessCgroup {
  readonly dir: string;
  #dirFd: number | null;

  private constructor(dir: string, dirFd: number) {
    this.dir = dir;
    this.#dirFd = dirFd;
  }

  /** Creates the cgroup and opens its directory (the native child is created in it). */
  static create(dir: string): ProcessCgroup {
    mkdirSync(dir);
    try {
      return new ProcessCgroup(dir, openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY));
    } catch (error) {
      removeCgroup(dir);
      throw error;
    }
  }

  /** The open directory (close-on-exec), for clone3(CLONE_INTO_CGROUP) or a child's own join. */
  get dirFd(): number | null {
    return this.#dirFd;
  }

  /**
   * Moves a process that is already running into the cgroup, and then whatever it has forked so far
   * (the node spawner's way: its child runs before it can be moved). A descendant that already left
   * (a double fork finished in that instant) is out of reach: docs/operations.md.
   */
  join(pid: number): void {
    if (this.#dirFd === null) throw new Error('the cgroup is already sealed');
    writeFileSync(join(this.dir, 'cgroup.procs'), String(pid));
    for (const child of childrenOf(pid)) {
      try {
        this.join(child);
      } catch {
        // exited meanwhile
      }
    }
  }

  /** No more joins: closes the directory. */
  seal(): void {
    if (this.#dirFd === null) return;
    closeSync(this.#dirFd);
    this.#dirFd = null;
  }

  kill(): boolean {
    return killCgroup(this.dir);
  }

  /** Removes the cgroup if no process is left in it; false while one is. */
  remove(): boolean {
    this.seal();
    return removeCgroup(this.dir);
  }

  /**
   * Removes the cgroup now or, while processes are still in it (a killed descendant still exiting,
   * or one left running that closed its output), later: a sweep retries until it is empty or gone
   * (its session's cgroup is removed whole when the session closes).
   */
  removeWhenEmpty(): void {
    if (this.remove()) return;
    lingering.add(this.dir);
    sweeper ??= setInterval(sweepLingering, SWEEP_INTERVAL_MS);
    sweeper.unref();
  }
}

/** The children of every thread of `pid` (/proc/<pid>/task/<tid>/children). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const task of tasks) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ')) {
        if (child.trim() !== '') found.push(Number(child));
      }
    } catch {
      // exited meanwhile, or a kernel without CONFIG_PROC_CHILDREN
    }
  }
  return found;
}

const SWEEP_INTERVAL_MS = 2_000;
const lingering = new Set<string>();
let sweeper: NodeJS.Timeout | undefined;

function sweepLingering(): void {
  for (const dir of lingering) {
    let gone: boolean;
    try {
      gone = removeCgroup(dir);
    } catch {
      gone = true; // not ours to remove after all: stop trying
    }
    if (gone) lingering.delete(dir);
  }
  if (lingering.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}
