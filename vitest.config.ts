import { defineConfig } from 'vitest/config';
import rawConfig from './bakehouse.config';
import { bundleDefines, loadConfig } from './functions/commons/families';

export default defineConfig({
  // Handlers under test see the shipped config exactly as their bundles do.
  define: bundleDefines(loadConfig(rawConfig)),
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    setupFiles: ['test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
