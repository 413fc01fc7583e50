#!/usr/bin/env node
/**
 * The `bakehouse` process: real stdio, exit code set. scripts/build-cli.ts bundles it into
 * bin/bakehouse.mjs (the package's bin, plain Node); `npm run bakehouse -- …` runs it from source.
 */
import { runProcess } from './main';

await runProcess();
