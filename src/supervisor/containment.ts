/**
 * The runtime's containment: where each process's whole tree is kept so that terminate, closing a
 * session, shutting down and even a SIGKILL of this process (through the orphan reaper) reach every
 * descendant, including background jobs whose parent exited and double-forked `setsid` daemons.
 *
 * - `cgroup` (Linux, cgroup v2, where this process may create cgroups under its own): the tree
 *   described in src/spawn/cgroup.ts. A process's cgroup is made by its actor; this class makes the
 *   runtime's and the sessions' cgroups, kills and removes them.
 * - `process-group`, the fallback: every process leads its own process group (and session), which
 *   terminate kills, together with anything that still holds the process's output open; a
 *   descendant that left the group and closed its output is out of reach (docs/operations.md).
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import type { Logger } from '../core/logger.js';
import { isPopulated, killCgroup, ownCgroupDir, removeCgroupTree } from '../spawn/cgroup.js';

export type ContainmentKind = 'cgroup' | 'process-group';

/** How often a release checks whether the killed processes have left their cgroup. */
const RELEASE_POLL_MS = 5;
let runtimeCounter = 0;

export class Containment {
  readonly kind: ContainmentKind;
  /** The runtime's cgroup (kind `cgroup`), or null. */
  readonly runtimeDir: string | null;
  readonly #logger: Logger;
  #nextSession = 1;

  private constructor(kind: ContainmentKind, runtimeDir: string | null, logger: Logger) {
    this.kind = kind;
    this.runtimeDir = runtimeDir;
    this.#logger = logger;
  }

  /** Decides the containment for a runtime and logs which one is in use (and why, for the fallback). */
  static create(requested: ContainmentKind | 'auto', logger: Logger): Containment {
    if (requested === 'process-group') {
      logger.info({ containment: 'process-group' }, 'containment: process groups (as configured)');
      return new Containment('process-group', null, logger);
    }
    const made = makeRuntimeCgroup();
    if ('dir' in made) {
      logger.info(
        { containment: 'cgroup', cgroup: made.dir },
        'containment: cgroup v2, one cgroup per process',
      );
      return new Containment('cgroup', made.dir, logger);
    }
    if (requested === 'cgroup') {
      throw new InvalidArgumentError(`containment "cgroup" is not available here: ${made.error}`);
    }
    logger.warn(
      { containment: 'process-group', reason: made.error },
      'containment: process groups only, no cgroup; a descendant that leaves its process group and ' +
        'closes its output survives terminate (docs/operations.md)',
    );
    return new Containment('process-group', null, logger);
  }

  /** A new session's cgroup, or null (kind `process-group`, or it could not be made: logged). */
  openSession(): string | null {
    if (this.runtimeDir === null) return null;
    const dir = join(this.runtimeDir, `s${this.#nextSession++}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (error) {
      this.#logger.error({ cgroup: dir, err: error }, 'containment: could not create the session cgroup');
      return null;
    }
  }

  /** Kills everything in `dir` and below (a process, a session or the runtime). */
  kill(dir: string): void {
    try {
      killCgroup(dir);
    } catch (error) {
      this.#logger.error({ cgroup: dir, err: error }, 'containment: could not kill a cgroup');
    }
  }

  /**
   * Kills everything in `dir` and below, waits (up to `timeoutMs`) for it to be empty, and removes
   * it. Returns whether it is gone.
   */
  async release(dir: string, timeoutMs: number): Promise<boolean> {
    this.kill(dir);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (!isPopulated(dir) && removeCgroupTree(dir)) return true;
      } catch (error) {
        this.#logger.error({ cgroup: dir, err: error }, 'containment: could not remove a cgroup');
        return false;
      }
      if (Date.now() >= deadline) {
        this.#logger.warn(
          { cgroup: dir, timeoutMs },
          'containment: a cgroup still has processes after it was killed',
        );
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, RELEASE_POLL_MS));
    }
  }
}

/** Creates this runtime's cgroup under our own, or says why it cannot. */
function makeRuntimeCgroup(): { readonly dir: string } | { readonly error: string } {
  if (process.platform !== 'linux')
    return { error: `cgroups are a Linux feature (this is ${process.platform})` };
  let own;
  try {
    own = ownCgroupDir(
      readFileSync('/proc/self/mountinfo', 'utf8'),
      readFileSync('/proc/self/cgroup', 'utf8'),
    );
  } catch (error) {
    return { error: `cannot read /proc: ${String(error)}` };
  }
  if ('error' in own) return own;
  if (!existsSync(join(own.dir, 'cgroup.procs'))) return { error: `${own.dir} is not a cgroup v2 directory` };
  removeStaleRuntimes(own.dir);
  let dir: string;
  for (;;) {
    dir = join(own.dir, `execvisor-${process.pid}-${++runtimeCounter}`);
    try {
      mkdirSync(dir);
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      return { error: `cannot create a cgroup under ${own.dir}: ${code ?? String(error)}` };
    }
  }
  try {
    // cgroup.kill needs Linux 5.14; moving a process between cgroups needs write access to the
    // cgroup.procs of both and of their common ancestor (our own).
    accessSync(join(dir, 'cgroup.kill'), constants.W_OK);
    accessSync(join(dir, 'cgroup.procs'), constants.W_OK);
    accessSync(join(own.dir, 'cgroup.procs'), constants.W_OK);
  } catch (error) {
    removeCgroupTree(dir);
    const code = (error as NodeJS.ErrnoException).code;
    return {
      error:
        code === 'ENOENT'
          ? 'cgroup.kill is missing (Linux 5.14 or later is needed)'
          : `cannot move processes between cgroups under ${own.dir}: ${code ?? String(error)}`,
    };
  }
  return { dir };
}

/**
 * Runtime cgroups left by a process that no longer exists (killed together with its orphan reaper)
 * are removed when empty. One that still holds processes is left alone: it may belong to a server
 * with the same pid in another pid namespace.
 */
function removeStaleRuntimes(ownDir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(ownDir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const match = /^execvisor-(\d+)-\d+$/.exec(entry);
    if (match === null || Number(match[1]) === process.pid || pidExists(Number(match[1]))) continue;
    try {
      const dir = join(ownDir, entry);
      if (!isPopulated(dir)) removeCgroupTree(dir);
    } catch {
      // someone else's, or busy: leave it
    }
  }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
