import { defineConfig } from 'vitest/config';

// The stress, fault and hostile-input tier (test/stress). Files run one at a time: they measure
// file descriptors, zombies and heap of their own process and load both cores of a small machine.
export default defineConfig({
  test: {
    pool: 'forks',
    poolOptions: {
      // global.gc for the leak checks.
      forks: { execArgv: ['--expose-gc'] },
    },
    fileParallelism: false,
    include: ['test/stress/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // Unhandled rejections and process warnings fail the run.
    dangerouslyIgnoreUnhandledErrors: false,
    setupFiles: ['test/setup.ts'],
  },
});
