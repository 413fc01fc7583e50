import { defineConfig } from 'vitest/config';
import rawConfig from './bakehouse.config';
import { bundleDefines, loadConfig } from './functions/commons/families';

/**
 * One run for everything (`npm test`); each project runs alone with `--project <name>`:
 * `product` (functions, stacks, state machines, CLI, and the app's tests in the sandbox) and one
 * per workspace package (`sandbox`, `cron`).
 */
export default defineConfig({
  test: {
    projects: [
      {
        // Handlers under test see the shipped config exactly as their bundles do.
        define: bundleDefines(loadConfig(rawConfig)),
        test: {
          name: 'product',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          setupFiles: ['test/setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      'packages/*',
    ],
  },
});
