import { accessSync, constants, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { ownCgroupDir } from '../../src/spawn/cgroup.js';

let available: boolean | undefined;

/**
 * Whether this process may make cgroup v2 cgroups under its own and kill them (what the runtime's
 * `containment: 'cgroup'` needs: root, or a delegated cgroup). Outside CI a missing cgroup skips the
 * cgroup tests with a printed reason; under CI=true it is a failure (CI runs as root on a host with
 * cgroup v2, like the development machines).
 */
export function cgroupAvailable(): boolean {
  if (available !== undefined) return available;
  let reason: string | null = null;
  if (process.platform !== 'linux') {
    reason = 'cgroups are a Linux feature';
  } else {
    const own = ownCgroupDir(
      readFileSync('/proc/self/mountinfo', 'utf8'),
      readFileSync('/proc/self/cgroup', 'utf8'),
    );
    if ('error' in own) {
      reason = own.error;
    } else {
      const probe = join(own.dir, `execvisor-test-probe-${process.pid}`);
      try {
        mkdirSync(probe);
        try {
          accessSync(join(probe, 'cgroup.kill'), constants.W_OK);
        } finally {
          rmdirSync(probe);
        }
      } catch (error) {
        reason = `cannot make a killable cgroup under ${own.dir}: ${String(error)}`;
      }
    }
  }
  available = reason === null;
  if (!available) {
    if (process.env.CI === 'true') throw new Error(`cgroup v2 is required under CI=true: ${reason}`);
    console.warn(`skipping cgroup containment tests: ${reason}`);
  }
  return available;
}
