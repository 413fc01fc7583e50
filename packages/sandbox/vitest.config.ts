import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'sandbox',
    // As many files at a time as the root config runs (vitest.config.ts at the repository root):
    // a project left at Vitest's default (one fewer than the cores, so one on a 2-core machine) is
    // held back until every other project's files are done and then runs one file at a time, which
    // was a minute and a half of one busy core at the end of each `npm test`.
    maxWorkers: 3,
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
