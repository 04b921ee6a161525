import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Whether bwrap is on PATH. Outside CI a missing bwrap skips the sandbox tests with a printed reason;
 * under CI=true it is a failure (CI installs it in .ci/run).
 */
export function bwrapAvailable(): boolean {
  const found = (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, 'bwrap'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found) {
    if (process.env.CI === 'true') throw new Error('bwrap is required under CI=true but is not on PATH');
    console.warn('skipping sandbox tests: bwrap is not on PATH (apt-get install -y bubblewrap)');
  }
  return found;
}
