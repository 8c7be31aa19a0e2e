import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons and worker threads do not mix: each test file gets a process.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
