import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'cron',
    // The root config's maxWorkers (vitest.config.ts says why every project must match it).
    maxWorkers: 4,
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
