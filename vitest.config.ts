import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    /*
     * The end-to-end tests spawn the daemon as a child process and drive
     * it with child processes: the forks pool keeps each file in its own
     * process, so a mount's cleanup hooks run even if another file crashes.
     */
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    /* End-to-end files each mount their own kernel; two cores, so two at once. */
    maxWorkers: 2,
  },
});
