/**
 * Offline synthesis of an SST v2 app: no credentials, no network. SST only skips its
 * bootstrap lookups (which need AWS) when NODE_ENV is 'test', so this insists on it; set it
 * before anything imports `sst`.
 *
 * One app per process run: SST keeps the project and the functions it builds in module state,
 * and a second synthesis of the same app fails SST's unique-id check.
 */
import { resolve } from 'node:path';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { App } from 'sst/constructs';

export interface OfflineSynthOptions {
  readonly stage: string;
  readonly region: string;
  readonly account: string;
  /** The cloud assembly directory. */
  readonly outdir: string;
  /** Adds the stacks (and anything else, such as cdk-nag) to the app. */
  readonly configure: (app: App) => void | Promise<void>;
  /** Where sst.config.ts is; default the working directory. */
  readonly root?: string;
}

export interface OfflineSynthResult {
  readonly app: App;
  readonly assembly: CloudAssembly;
}

export const synthesizeOffline = async (options: OfflineSynthOptions): Promise<OfflineSynthResult> => {
  if (process.env.NODE_ENV !== 'test') {
    throw new Error(
      "offline synthesis needs NODE_ENV=test (SST otherwise looks up its bootstrap stack in AWS); set it before importing 'sst'",
    );
  }
  const { initProject } = await import('sst/project.js');
  const { App } = await import('sst/constructs');
  const root = resolve(options.root ?? process.cwd());
  await initProject({ stage: options.stage, region: options.region, root });
  const app = new App(
    { mode: 'deploy', name: 'bakehouse', stage: options.stage, region: options.region, account: options.account },
    { outdir: resolve(options.outdir) },
  );
  await options.configure(app);
  await app.finish();
  return { app, assembly: app.synth() };
};
