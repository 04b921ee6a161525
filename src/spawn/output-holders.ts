/**
 * The fallback containment's reach beyond the process group (no cgroup): a descendant that left the
 * group with `setsid` cannot be signalled through it, but if it still holds the child's output
 * open it can be found by that. `outputLinks` reads what the child's output descriptors point to
 * right after the spawn (`pipe:[inode]`, `/dev/pts/N`); `killOutputHolders` finds every process
 * with one of them open in /proc and SIGKILLs it. A descendant that closed or redirected its
 * output is out of reach: docs/operations.md says so.
 */
import { readdirSync, readlinkSync } from 'node:fs';

/** Where the child's output descriptors lead (fd 1 and 2 for pipes; fd 0 for a terminal). */
export function outputLinks(pid: number, tty: boolean): string[] {
  const links: string[] = [];
  for (const fd of tty ? [0] : [1, 2]) {
    try {
      links.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // The child already exited or closed it.
    }
  }
  return links;
}

/** SIGKILLs every other process holding one of `links` open; returns how many it signalled. */
export function killOutputHolders(links: readonly string[]): number {
  if (links.length === 0) return 0;
  const wanted = new Set(links);
  let killed = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const entry of pids) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone, or not ours to look at
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!wanted.has(target)) continue;
      try {
        process.kill(Number(entry), 'SIGKILL');
        killed++;
      } catch {
        // exited meanwhile, or not ours to signal
      }
      break;
    }
  }
  return killed;
}
