/**
 * The first `npm start` on a fresh clone, and the runs after it (issue 17), for `npm run bench`:
 *
 * - firstRunSeconds: Bakehouse's start-up on a copy of the project with no cache at all (no
 *   `.sandbox` assembly, no `.sst` bundles, an empty temporary directory, so tsx compiles every
 *   file again): from the process starting to the sandbox provisioned (synthesis, sandbox start,
 *   provisioning). Goal 15 s on a 2-core machine.
 * - cachedRunSeconds: the same start-up in the runs after it (median). Goal 8 s.
 * - lifecycleSeconds: what comes after the start-up in the first run: the sandbox running the
 *   lifecycle's scenarios, the summary and the IAM report, to the process's exit.
 * - synthFirstSeconds / synthCachedSeconds: `npm run synth` on its own, with no bundle cache and
 *   with the bundles of the run before (the assembly is always written again).
 *
 * The copy holds the project's files as they are in the working tree (tracked and untracked, not
 * ignored), with node_modules linked: what `npm ci` would give, without the network.
 *
 *   node --import tsx scripts/bench-first-run.ts [--runs 2]
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const round = (n: number): number => Math.round(n * 10) / 10;
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export interface FirstRunBench {
  readonly firstRunSeconds: number;
  readonly cachedRunSeconds: number;
  readonly synthFirstSeconds: number;
  readonly synthCachedSeconds: number;
  readonly lifecycleSeconds: number;
  /** Every cached run's start-up, and the goals. */
  readonly cachedRunsSeconds: readonly number[];
  readonly goals: { readonly firstRunSeconds: 15; readonly cachedRunSeconds: 8 };
}

/** A copy of the working tree (tracked and untracked files, not ignored ones), node_modules linked. */
const copyProject = (): string => {
  const copy = mkdtempSync(join(tmpdir(), 'bakehouse-first-run-'));
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
    .split('\0')
    .filter((file) => file && !file.split('/').includes('node_modules'));
  for (const file of files) {
    try {
      mkdirSync(dirname(join(copy, file)), { recursive: true });
      cpSync(join(ROOT, file), join(copy, file));
    } catch {
      // Deleted in the working tree but still in the index.
    }
  }
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
  return copy;
};

/** Runs a command in the copy; resolves with when each matching line appeared and when it ended. */
const timed = (
  cwd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  mark: RegExp,
): Promise<{ markSeconds: number; endSeconds: number }> =>
  new Promise((done, fail) => {
    const started = performance.now();
    let markSeconds: number | undefined;
    let output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      if (markSeconds === undefined && mark.test(output)) markSeconds = (performance.now() - started) / 1000;
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('error', fail);
    child.on('close', (code) => {
      const endSeconds = (performance.now() - started) / 1000;
      if (code !== 0 || markSeconds === undefined)
        fail(new Error(`${args.join(' ')} failed (exit ${code}):\n${output.slice(-3000)}`));
      else done({ markSeconds, endSeconds });
    });
  });

export const firstRunBench = async (options: { runs?: number } = {}): Promise<FirstRunBench> => {
  const runs = options.runs ?? 2;
  const copy = copyProject();
  const temporaries: string[] = [];
  /** An empty temporary directory: no tsx cache, as on a machine that never ran the project. */
  const freshTmp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'bakehouse-first-run-tmp-'));
    temporaries.push(dir);
    return dir;
  };
  const envWith = (tmp: string): NodeJS.ProcessEnv => ({ ...process.env, TMPDIR: tmp, NODE_ENV: undefined });
  const provisioned = /sandbox provisioned /;
  const start = (tmp: string) =>
    timed(copy, ['dev/start/main.ts', '--report', join(tmp, 'iam-report.json')], envWith(tmp), provisioned);
  const synth = (tmp: string) =>
    timed(copy, ['scripts/synth.ts', '--out', join(tmp, 'cdk.out')], envWith(tmp), /synthesized \d+ stack/);
  try {
    const synthFirst = await synth(freshTmp());
    rmSync(join(copy, '.sst'), { recursive: true, force: true });
    rmSync(join(copy, '.sandbox'), { recursive: true, force: true });
    const startTmp = freshTmp();
    const first = await start(startTmp);
    const cached: number[] = [];
    for (let i = 0; i < runs; i++) cached.push((await start(startTmp)).markSeconds);
    const synthCached = await synth(startTmp);
    return {
      firstRunSeconds: round(first.markSeconds),
      cachedRunSeconds: round(median(cached)),
      synthFirstSeconds: round(synthFirst.endSeconds),
      synthCachedSeconds: round(synthCached.endSeconds),
      lifecycleSeconds: round(first.endSeconds - first.markSeconds),
      cachedRunsSeconds: cached.map(round),
      goals: { firstRunSeconds: 15, cachedRunSeconds: 8 },
    };
  } finally {
    rmSync(copy, { recursive: true, force: true });
    for (const dir of temporaries) rmSync(dir, { recursive: true, force: true });
  }
};

if (import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '2' } } });
  console.log(JSON.stringify(await firstRunBench({ runs: Number(values.runs) }), null, 2));
}
