/**
 * `npm run bench`: the numbers Bakehouse tracks, as JSON on stdout.
 *
 * - transitions of a successful bake and of a skipped bake, counted from the real state machine
 *   definition run by aws-local-stepfunctions (Step Functions bills per transition);
 * - per function: bundle size and cold import time (median of fresh Node processes) of the bundle
 *   built the way the stack builds it (esbuild, ESM, minified, SDK bundled), and the same with the
 *   AWS SDK left to the Lambda runtime, to keep the bundling decision measured.
 *
 * Options: --runs N (fresh processes per bundle, default 9), --out FILE (also write the JSON there).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { StateMachine } from 'aws-local-stepfunctions';
import { build } from 'esbuild';
import rawConfig from '../bakehouse.config';
import { bundleDefines, loadConfig } from '../functions/commons/families';
import { BAKE_SUBSTITUTIONS, BakeState, loadBakeDefinitionForLocalEngine } from '../state-machines/bake';
import { bakeMachineFixtures } from '../test/fixtures/bake-machine';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '9' }, out: { type: 'string' } },
});
const runs = Math.max(3, Number(values.runs));

/** Every deployed handler, with the environment its module reads at import. */
const FUNCTIONS = [
  { name: 'schedule-tick', entry: 'functions/schedule-tick/handler.ts', env: { EVENT_BUS_NAME: 'bus' } },
  {
    name: 'start-bake',
    entry: 'functions/start-bake/handler.ts',
    env: { STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:bake' },
  },
  {
    name: 'plan-bake',
    entry: 'functions/plan-bake/handler.ts',
    env: {
      BAKE_DOCUMENT_LINUX_NAME: 'bake-linux',
      BAKE_DOCUMENT_LINUX_SHA256: 'a'.repeat(64),
      BAKE_DOCUMENT_WINDOWS_NAME: 'bake-windows',
      BAKE_DOCUMENT_WINDOWS_SHA256: 'b'.repeat(64),
      AUTOMATION_ROLE_ARN: 'arn:aws:iam::000000000000:role/automation',
      AUTOMATION_WAIT_SECONDS: '600',
      BUILDER_INSTANCE_PROFILE: 'builder',
      STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:bake',
    },
  },
  {
    name: 'automation-callback',
    entry: 'functions/automation-callback/handler.ts',
    env: { CALLBACK_PARAMETER_PREFIX: '/bakehouse/_callbacks' },
  },
  { name: 'fail-bake', entry: 'functions/fail-bake/handler.ts', env: {} },
] as const;

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

const bundle = async (entry: string, outfile: string, sdkExternal: boolean): Promise<number> => {
  await build({
    entryPoints: [join(root, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    keepNames: true,
    mainFields: ['module', 'main'],
    external: sdkExternal ? ['@aws-sdk/*', '@smithy/*'] : [],
    define: bundleDefines(loadConfig(rawConfig)),
    banner: {
      js: "import { createRequire as topLevelCreateRequire } from 'module';const require = topLevelCreateRequire(import.meta.url);",
    },
    logLevel: 'silent',
  });
  return statSync(outfile).size;
};

/** Milliseconds to import the bundle in a fresh process, as a Lambda cold start does (init only). */
const coldImport = (file: string, env: Record<string, string>): number => {
  const probe = `const t=performance.now();await import(${JSON.stringify(`file://${file}`)});process.stdout.write(String(performance.now()-t));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', probe], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      POWERTOOLS_SERVICE_NAME: 'bakehouse',
      ...env,
    },
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`importing ${file} failed: ${child.stderr}`);
  return Number(child.stdout);
};

const measureFunctions = async () => {
  const outDir = join(root, '.build', 'bench');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const results = [];
  for (const fn of FUNCTIONS) {
    const variants: Record<string, { bundleBytes: number; coldImportMsMedian: number; coldImportMsRuns: number[] }> =
      {};
    for (const [variant, sdkExternal] of [
      ['sdkBundled', false],
      ['sdkFromRuntime', true],
    ] as const) {
      const outfile = join(outDir, variant, fn.name, 'index.mjs');
      const bundleBytes = await bundle(fn.entry, outfile, sdkExternal);
      const samples = Array.from({ length: runs }, () => coldImport(outfile, fn.env));
      variants[variant] = {
        bundleBytes,
        coldImportMsMedian: round(median(samples)),
        coldImportMsRuns: samples.map((s) => round(s)),
      };
    }
    results.push({ function: fn.name, ...variants });
  }
  return results;
};

const countTransitions = async (scenario: 'bake' | 'skip'): Promise<{ transitions: number; states: string[] }> => {
  const fixtures = bakeMachineFixtures();
  const substitutions = Object.fromEntries(BAKE_SUBSTITUTIONS.map((key) => [key, fixtures.substitutions[key]]));
  const definition = loadBakeDefinitionForLocalEngine(
    substitutions as Parameters<typeof loadBakeDefinitionForLocalEngine>[0],
  );
  const machine = new StateMachine(definition, {
    validationOptions: { checkArn: false, checkPaths: false },
  });
  const execution = machine.run(fixtures.request, {
    overrides: { taskResourceLocalHandlers: fixtures.successHandlers(scenario) },
    context: fixtures.context,
  });
  const states: string[] = [];
  for await (const event of execution.eventLogs) {
    if (event.type === 'StateEntered') states.push(event.state.name);
  }
  await execution.result;
  return { transitions: states.length, states };
};

const main = async () => {
  const bake = await countTransitions('bake');
  const skip = await countTransitions('skip');
  const functions = await measureFunctions();
  const report = {
    node: process.versions.node,
    runsPerBundle: runs,
    stateMachine: {
      successfulBake: { transitions: bake.transitions, goal: 15, states: bake.states },
      skippedBake: { transitions: skip.transitions, states: skip.states },
      firstState: BakeState.PlanBake,
    },
    functions,
  };
  const json = JSON.stringify(report, null, 2);
  if (values.out) writeFileSync(values.out, `${json}\n`);
  process.stdout.write(`${json}\n`);
};

await main();
