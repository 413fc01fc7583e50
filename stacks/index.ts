/**
 * The Bakehouse app: which stacks it has and the defaults every function starts from. The one
 * entry point `sst.config.ts`, `npm run synth` and the stack tests share, so what is tested is
 * what deploys.
 */
import type { App, FunctionProps } from 'sst/constructs';
import { type BakehouseConfig, bundleDefines, type ConfigInput, loadConfig } from '../functions/commons/families';
import { createBakePipeline } from './bake-pipeline';

export const addBakehouseStacks = (
  app: App,
  config: ConfigInput | BakehouseConfig,
  lambdaDefaults: FunctionProps,
): void => {
  // Validated once, here; functions receive the result as data (commons/config.ts), so they
  // never parse the config at cold start and cannot run with one that failed validation.
  const validated = loadConfig(config);
  // Each function gets a log group of its own from the stack (no LogRetention custom resource,
  // a role that writes only there), so the retention default goes to the stack, not to SST.
  const { logRetention, ...functionDefaults } = lambdaDefaults;
  app.setDefaultFunctionProps({
    ...functionDefaults,
    nodejs: {
      ...functionDefaults.nodejs,
      esbuild: { ...functionDefaults.nodejs?.esbuild, define: bundleDefines(validated) },
    },
  });
  app.stack(createBakePipeline(validated, logRetention ? { logRetention } : {}));
};
