import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    /*
     * fuse-native aborts inside worker_threads, and the end-to-end tests
     * spawn the daemon as a child process anyway: keep the forks pool.
     */
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    /* End-to-end files each mount their own kernel; two cores, so two at once. */
    maxWorkers: 2,
  },
});
