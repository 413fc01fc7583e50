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
    // Two test files at a time, also on a 2-core machine (Vitest's default there is one): most of
    // the time goes to e2e files waiting on the sandbox's clock, the SDK's back-offs and child
    // processes, not to CPU. Measured on this 2-core machine: 163 files in 8 min 6 s, against
    // about 16 min one at a time; every file passed.
    maxWorkers: 2,
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
