import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real processes; two cores cannot run many files at once reliably.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
