import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'sandbox',
    // The root config's maxWorkers (vitest.config.ts says why every project must match it).
    maxWorkers: 4,
    // As the root config: a worker runs file after file (vitest.config.ts says why), and each
    // file's setup undoes what it stubbed.
    isolate: false,
    setupFiles: ['test/setup.ts'],
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
