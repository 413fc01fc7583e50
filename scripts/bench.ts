/**
 * `npm run bench`: the numbers Bakehouse tracks, as JSON on stdout.
 *
 * - transitions of a successful bake and of a skipped bake, counted from the real state machine
 *   definition run by aws-local-stepfunctions (Step Functions bills per transition);
 * - per function: size and cold import time (median of fresh Node processes, with the function's
 *   own environment and NODE_OPTIONS) of the bundle SST builds for deployment, taken from an
 *   offline synth; and, to keep the bundling decision measured, the same handler built with the
 *   AWS SDK left external, as it would be when using the copy the Lambda runtime provides.
 *
 * - the sandbox: start-up time, DescribeImages throughput with 10k images, memory with 100k images.
 * - the canary judge: 20 metrics × 1,440 points a side (scripts/bench-canary.ts).
 * - the janitor against the sandbox at EC2's default request buckets, 10k images: parts, calls,
 *   throttled answers, outcome against the planner (scripts/bench-janitor-sandbox.ts).
 * - the bundled CLI's `--help` start-up (scripts/bench-cli.ts).
 * - the first `npm start` with no cache at all, and cached runs (scripts/bench-first-run.ts).
 * - IAM enforcement: authorization per request (median, p99) for a role session, and `npm start`'s
 *   wall time with enforcement on and off (scripts/bench-iam.ts).
 *
 * Options: --runs N (fresh processes per bundle, default 9), --out FILE (also write the JSON there).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sandboxBench } from '@bakehouse/sandbox/bench';
import { StateMachine } from 'aws-local-stepfunctions';
import { build } from 'esbuild';
import rawConfig from '../bakehouse.config';
import { bundleDefines, loadConfig } from '../functions/commons/families';
import { BAKE_SUBSTITUTIONS, BakeState, loadBakeDefinitionForLocalEngine } from '../state-machines/bake';
import { bakeMachineFixtures } from '../test/fixtures/bake-machine';
import { canaryBench } from './bench-canary';
import { benchCliStartup } from './bench-cli';
import { firstRunBench } from './bench-first-run';
import { iamBench } from './bench-iam';
import { janitorBench } from './bench-janitor';
import { benchJanitorApply } from './bench-janitor-apply';
import { benchJanitorSandbox } from './bench-janitor-sandbox';
import { startBench } from './bench-start';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '9' }, out: { type: 'string' } },
});
const runs = Math.max(3, Number(values.runs));

interface DeployedFunction {
  readonly id: string;
  readonly handler: string;
  /** The built handler module inside the synthesized asset. */
  readonly file: string;
  /** The function's environment; values CloudFormation resolves at deploy get a stand-in. */
  readonly env: Record<string, string>;
}

/** Synthesizes offline (as `npm run synth`) and finds every Bakehouse function's built bundle. */
const deployedFunctions = (outDir: string): DeployedFunction[] => {
  const synth = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), ['scripts/synth.ts', '--out', outDir], {
    cwd: root,
    encoding: 'utf8',
  });
  if (synth.status !== 0) throw new Error(`synth failed: ${synth.stderr}`);
  const functions: DeployedFunction[] = [];
  for (const templatePath of synth.stdout.split('\n').filter((line) => line.endsWith('.json'))) {
    const template = JSON.parse(readFileSync(templatePath, 'utf8')) as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    };
    for (const [id, resource] of Object.entries(template.Resources)) {
      const props = resource.Properties ?? {};
      const handler = String(props.Handler ?? '');
      if (resource.Type !== 'AWS::Lambda::Function' || !handler.startsWith('functions/')) continue;
      const key = String((props.Code as { S3Key?: string } | undefined)?.S3Key ?? '').replace(/\.zip$/, '');
      const variables = (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      const env = Object.fromEntries(
        Object.entries(variables).map(([k, v]) => [k, typeof v === 'string' ? v : `resolved-at-deploy-${k}`]),
      );
      if ('AUTOMATION_WAIT_SECONDS' in env && !/^\d+$/.test(env.AUTOMATION_WAIT_SECONDS ?? '')) {
        env.AUTOMATION_WAIT_SECONDS = '600';
      }
      functions.push({
        id,
        handler,
        file: join(dirname(templatePath), `asset.${key}`, handler.replace(/\.[A-Za-z]+$/, '.mjs')),
        env,
      });
    }
  }
  if (functions.length === 0) throw new Error('the synthesized templates hold no Bakehouse function');
  return functions.sort((a, b) => a.handler.localeCompare(b.handler));
};

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** The comparison build: the stack's bundling options, with the SDK left to the runtime. */
const bundleWithRuntimeSdk = async (entry: string, outfile: string): Promise<number> => {
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
    external: ['@aws-sdk/*', '@smithy/*'],
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
      ...env,
    },
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`importing ${file} failed: ${child.stderr}`);
  return Number(child.stdout);
};

const measure = (file: string, env: Record<string, string>) => {
  const samples = Array.from({ length: runs }, () => coldImport(file, env));
  return { coldImportMsMedian: round(median(samples)), coldImportMsRuns: samples.map((sample) => round(sample)) };
};

const measureFunctions = async () => {
  const outDir = join(root, '.build', 'bench');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const results = [];
  for (const fn of deployedFunctions(join(outDir, 'cdk.out'))) {
    const entry = fn.handler.replace(/\.[A-Za-z]+$/, '.ts');
    const comparison = join(outDir, 'runtime-sdk', fn.id, 'index.mjs');
    const mapFile = `${fn.file}.map`;
    results.push({
      function: fn.id.replace(/[0-9A-F]{8}$/, ''),
      handler: fn.handler,
      deployed: {
        bundleBytes: statSync(fn.file).size,
        sourceMapBytes: existsSync(mapFile) ? statSync(mapFile).size : 0,
        ...measure(fn.file, fn.env),
        // What turning on readable stack traces (NODE_OPTIONS=--enable-source-maps) costs.
        withSourceMapsColdImportMsMedian: measure(fn.file, { ...fn.env, NODE_OPTIONS: '--enable-source-maps' })
          .coldImportMsMedian,
      },
      sdkFromRuntime: {
        bundleBytes: await bundleWithRuntimeSdk(entry, comparison),
        ...measure(comparison, fn.env),
      },
    });
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
  const sandbox = await sandboxBench();
  const start = await startBench();
  const iam = await iamBench();
  const report = {
    node: process.versions.node,
    runsPerBundle: runs,
    stateMachine: {
      successfulBake: { transitions: bake.transitions, goal: 15, states: bake.states },
      skippedBake: { transitions: skip.transitions, states: skip.states },
      firstState: BakeState.PlanBake,
    },
    functions,
    sandbox,
    start,
    iam,
    janitor: {
      plan: await janitorBench(),
      apply: await benchJanitorApply({ images: 150 }),
      // 10k images at the shipped cap: the one-invocation goal; 100k: scripts/bench-janitor-sandbox.ts alone.
      sandbox: await benchJanitorSandbox({ images: 10_000, speed: 5, cap: 200 }),
    },
    cli: await benchCliStartup({ runs: Math.max(20, runs) }),
    firstRun: await firstRunBench({ runs: 3 }),
    canary: canaryBench(),
  };
  const json = JSON.stringify(report, null, 2);
  if (values.out) writeFileSync(values.out, `${json}\n`);
  process.stdout.write(`${json}\n`);
};

await main();
