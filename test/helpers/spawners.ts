/** The spawners a test runs with: both on Linux (where the native one must load), node elsewhere. */
export const SPAWNERS: readonly ('native' | 'node')[] =
  process.platform === 'linux' ? ['native', 'node'] : ['node'];
