/**
 * The shipped CLI's start-up for `npm run bench`: wall time of `node bin/bakehouse.mjs --help` in
 * fresh processes, as a user types it (plain Node, no tsx). Goal (issue 17): median ≤ 150 ms on
 * this 2-core machine. Runs alternate with an empty Node process (`node -e ''`), so that a busy
 * moment weighs on both alike: on a machine busy with other work the wall times grow, and the
 * difference of each pair (`helpOverNodeMsMedian`) is the CLI's own share.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_CHUNKS, CLI_ENTRY, ROOT } from './build-cli';

export interface CliStartupBench {
  /** Median wall time of `node bin/bakehouse.mjs --help`, spawn to exit. */
  readonly helpStartupMsMedian: number;
  readonly helpStartupMsP90: number;
  /** Median wall time of `node -e ''` over the same moments: Node's own start-up here. */
  readonly nodeStartupMsMedian: number;
  /** Median of each run's `--help` minus the empty process next to it: the CLI's own share. */
  readonly helpOverNodeMsMedian: number;
  readonly runs: number;
  /** The committed bundle: bin/bakehouse.mjs and every chunk in bin/chunks/. */
  readonly bundleBytes: number;
  readonly goalMs: 150;
}

const round = (n: number): number => Math.round(n * 10) / 10;
/** The value at quantile q (0..1) of a sorted copy, nearest rank. */
const quantile = (xs: readonly number[], q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
};

/** Milliseconds from spawn to exit of `node <args>`; fails when the process does. */
const timeNode = (args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> =>
  new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else reject(new Error(`node ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
    });
  });

const bundleBytes = (): number =>
  [CLI_ENTRY, ...readdirSync(join(ROOT, CLI_CHUNKS)).map((name) => `${CLI_CHUNKS}/${name}`)].reduce(
    (sum, path) => sum + statSync(join(ROOT, path)).size,
    0,
  );

/** `runs` fresh `--help` processes (after two warm-ups, which fill the file cache), one at a time. */
export const benchCliStartup = async (options: { runs?: number } = {}): Promise<CliStartupBench> => {
  const runs = Math.max(1, options.runs ?? 20);
  // The user's environment, without a loader a parent process may have put in NODE_OPTIONS.
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const help = [CLI_ENTRY, '--help'];
  const empty = ['-e', ''];
  for (let i = 0; i < 2; i++) {
    await timeNode(help, env);
    await timeNode(empty, env);
  }
  const helpMs: number[] = [];
  const nodeMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    helpMs.push(await timeNode(help, env));
    nodeMs.push(await timeNode(empty, env));
  }
  return {
    helpStartupMsMedian: round(quantile(helpMs, 0.5)),
    helpStartupMsP90: round(quantile(helpMs, 0.9)),
    nodeStartupMsMedian: round(quantile(nodeMs, 0.5)),
    helpOverNodeMsMedian: round(
      quantile(
        helpMs.map((ms, i) => ms - (nodeMs[i] as number)),
        0.5,
      ),
    ),
    runs,
    bundleBytes: bundleBytes(),
    goalMs: 150,
  };
};

// `tsx scripts/bench-cli.ts [--runs N]`: these numbers alone, without the rest of `npm run bench`.
if (import.meta.filename === process.argv[1]) {
  const at = process.argv.indexOf('--runs');
  const runs = at > 0 ? Math.max(1, Number(process.argv[at + 1])) : 20;
  process.stdout.write(`${JSON.stringify(await benchCliStartup({ runs }), null, 2)}\n`);
}
