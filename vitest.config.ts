import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    exclude: ['test/stress/**', 'node_modules/**', 'dist/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Unhandled rejections and process warnings fail the run.
    dangerouslyIgnoreUnhandledErrors: false,
    setupFiles: ['test/setup.ts'],
  },
});
