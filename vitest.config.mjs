import { defineConfig } from 'vitest/config';

const shared = {
  // Native addons and worker threads do not mix: each test file gets a process.
  pool: 'forks',
  testTimeout: 120_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'default', include: ['test/**/*.test.ts'] } },
      {
        // The copy tests again with io_uring forced off, as on a kernel or in a
        // container that refuses it: 'auto' must fall back to pread/pwrite.
        test: {
          ...shared,
          name: 'no-io_uring',
          include: ['test/copy.test.ts', 'test/cancel.test.ts', 'test/fallback.test.ts', 'test/blockdev.test.ts'],
          env: { BLOCKCOPY_DISABLE_IO_URING: '1' },
        },
      },
    ],
  },
});
