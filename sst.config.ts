import type { SSTConfig } from 'sst';
import type { FunctionProps } from 'sst/constructs';
import rawConfig from './bakehouse.config';
import { bakehouseStacks } from './stacks';

/**
 * Every Lambda default, in one place.
 *
 * Bundling: SST v2 bundles with esbuild and, for ESM on nodejs18.x and later, marks nothing
 * external but `sharp` and `pg-native` (only nodejs16.x CJS leaves `aws-sdk` v2 to the runtime).
 * So `@aws-sdk/*` v3 is bundled, pinned by package.json, not the runtime's copy; `install: []`
 * and `external: []` say so explicitly. To use the runtime's SDK instead, set
 * `esbuild: { external: ['@aws-sdk/*'] }`.
 *
 * Source maps: `sourcemap: true` keeps the map next to the bundle (left unset, SST would strip it
 * and upload it to its bootstrap bucket through a custom resource). Node does not read it unless
 * NODE_OPTIONS=--enable-source-maps is set on the function: that turns minified stack traces into
 * TypeScript file and line, and costs about 10 ms of cold start (npm run bench), so it is off by
 * default and one environment variable away when debugging. keepNames (SST's default) keeps
 * function names in traces either way.
 *
 * `logRetention` is applied by the stack to the log group it creates for each function.
 */
export const LAMBDA_DEFAULTS = {
  runtime: 'nodejs24.x',
  architecture: 'arm_64',
  memorySize: '512 MB',
  timeout: '30 seconds',
  tracing: 'active',
  logRetention: 'one_month',
  environment: {
    POWERTOOLS_SERVICE_NAME: 'bakehouse',
  },
  nodejs: {
    format: 'esm',
    minify: true,
    sourcemap: true,
    install: [],
    esbuild: { external: [] },
  },
} satisfies FunctionProps;

export default {
  config(input) {
    return { name: 'bakehouse', region: input.region ?? 'us-east-1' };
  },
  stacks(app) {
    // A bad family fails here, with the family, the field and the fix.
    bakehouseStacks(rawConfig, LAMBDA_DEFAULTS)(app);
  },
} satisfies SSTConfig;
