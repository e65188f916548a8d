import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real processes and time real faults: one file at a time, so a loaded
    // 2-core machine cannot starve one test's processes with another's.
    maxWorkers: 1,
    reporters: ['default'],
  },
});
