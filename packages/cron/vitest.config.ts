import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'cron',
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
