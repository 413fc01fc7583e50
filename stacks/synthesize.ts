/**
 * Offline synthesis of an SST v2 app: no credentials, no network. SST only skips its
 * bootstrap lookups (which need AWS) when NODE_ENV is 'test', so this insists on it; set it
 * before anything imports `sst`.
 *
 * One app per process run: SST keeps the project and the functions it builds in module state,
 * and a second synthesis of the same app fails SST's unique-id check.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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
  const { initProject, useProject } = await import('sst/project.js');
  const { App } = await import('sst/constructs');
  const root = resolve(options.root ?? process.cwd());
  await initProject({ stage: options.stage, region: options.region, root });
  // SST's App deletes and rewrites `<out>/types` (the bindings' type declarations) as it builds,
  // and `<out>` is the project's shared `.sst`: two syntheses at once in different processes (test
  // files, npm start's child) then failed with ENOENT on .sst/types/index.ts. Offline synthesis
  // needs none of those types, so each writes them in a directory of its own.
  const project = useProject();
  const sharedOut = project.paths.out;
  const ownOut = mkdtempSync(join(tmpdir(), 'bakehouse-sst-out-'));
  project.paths.out = ownOut;
  try {
    const app = new App(
      { mode: 'deploy', name: 'bakehouse', stage: options.stage, region: options.region, account: options.account },
      { outdir: resolve(options.outdir) },
    );
    await options.configure(app);
    await app.finish();
    return { app, assembly: app.synth() };
  } finally {
    project.paths.out = sharedOut;
    rmSync(ownOut, { recursive: true, force: true });
  }
};
