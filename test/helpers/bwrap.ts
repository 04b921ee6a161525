import { resolveBwrap } from '../../src/sandbox/tools.js';

/**
 * Whether the server would find a bwrap (the fixed system locations or `EXECVISOR_BWRAP`). Outside
 * CI a missing bwrap skips the sandbox tests with a printed reason; under CI=true it is a failure
 * (CI installs it in .ci/run).
 */
export function bwrapAvailable(): boolean {
  const found = 'path' in resolveBwrap({ env: process.env.EXECVISOR_BWRAP });
  if (!found) {
    if (process.env.CI === 'true') throw new Error('bwrap is required under CI=true but was not found');
    console.warn('skipping sandbox tests: bwrap is not installed (apt-get install -y bubblewrap)');
  }
  return found;
}
