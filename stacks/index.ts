/**
 * The Bakehouse app: which stacks it has, over one configuration and the defaults every function
 * starts from. The one entry point `sst.config.ts`, `npm run synth` and the stack tests share, so
 * what is tested is what deploys.
 *
 * The configuration is validated once, when `bakehouseStacks` is called (createBakePipeline),
 * before SST does any work: a bad family throws `ConfigError` with the family, the field and the
 * fix, and the stacks are built from the validated result.
 */
import type { App, FunctionProps } from 'sst/constructs';
import { createBakePipeline } from './bake-pipeline';

export const bakehouseStacks = (input: unknown, lambdaDefaults: FunctionProps): ((app: App) => void) => {
  const pipeline = createBakePipeline(input, { lambdaDefaults });
  return function addBakehouseStacks(app) {
    app.stack(pipeline);
  };
};
