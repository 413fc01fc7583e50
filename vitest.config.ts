import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import rawConfig from './bakehouse.config';
import { bundleDefines, loadConfig } from './functions/commons/families';
import { LongestFirstSequencer } from './test/sequencer';

// Node's on-disk compile cache (V8 code cache, keyed by each file's contents) for the test workers
// and every process they start (the CLI, the sandbox, npm start): each of the ~200 test files runs in
// a fresh worker that loads the same SDK clients, CDK and SST modules again, and with the cache the
// second load onwards skips compiling them. Kept under node_modules so `npm ci` starts it afresh;
// a NODE_COMPILE_CACHE already set is left as it is.
process.env.NODE_COMPILE_CACHE ??= fileURLToPath(new URL('node_modules/.cache/node-compile-cache', import.meta.url));

/**
 * One run for everything (`npm test`); each project runs alone with `--project <name>`:
 * `product` (functions, stacks, state machines, CLI, and the app's tests in the sandbox) and one
 * per workspace package (`sandbox`, `cron`).
 */
export default defineConfig({
  test: {
    // Four test files at a time, also on a 2-core machine (Vitest's default there is one): much of
    // an e2e file's time goes to waiting on the sandbox's clock, the SDK's back-offs and child
    // processes, not to CPU. Measured on this 2-core machine, otherwise idle, Vitest's wall time
    // with test files sharing workers (isolate below): three at a time 235 s, four 215 s, five 203 s
    // but an e2e check of a real-time window failed (test/e2e/eventual-consistency.test.ts says
    // which; its window is now twice as long). Before the files shared workers, four gained nothing.
    // The workspace packages' configs repeat this number: Vitest holds a project left at its default
    // (one fewer than the cores, one on 2 cores) back until every other project is done and then
    // runs it one file at a time, a minute and a half of one busy core at the end of `npm test`.
    maxWorkers: 4,
    // The longest files first across all projects, not project by project (test/sequencer.ts).
    sequence: { sequencer: LongestFirstSequencer },
    projects: [
      {
        // Handlers under test see the shipped config exactly as their bundles do.
        define: bundleDefines(loadConfig(rawConfig)),
        test: {
          name: 'product',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          setupFiles: ['test/setup.ts'],
          // A worker runs one file after another instead of a fresh process per file (the setup
          // file undoes what each file stubbed): a file no longer loads the SDK clients, CDK and the
          // sandbox again. Measured on this machine (2026-12-06), in Vitest's wall time: the unit,
          // state-machine, stack and dev tests alone 54 s → 34 s, the e2e files alone 167 s → 141 s,
          // the sandbox package alone 47 s → 24 s; everything 268 s → 241 s, with 13 % less CPU.
          isolate: false,
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      'packages/*',
    ],
  },
});
