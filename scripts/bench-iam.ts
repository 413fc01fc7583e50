/**
 * IAM enforcement numbers for `npm run bench`: what authorization costs per request on the server
 * side (packages/sandbox/bench/authz.ts), and the wall time of `npm start` with enforcement on and
 * off (`--iam on|off`), runs alternated so that a slower or busier moment weighs on both alike.
 * Each run also gives its exit code and the denials its report counted (goal: 0; a run that fails
 * or waits out a timeout is not comparable, and says so). Goal (issue 13): ≤ 10 % on `npm start`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LeastPrivilegeReport } from '@bakehouse/sandbox';
import { authorizationBench } from '@bakehouse/sandbox/bench';
import { synthesizeForSandbox } from '../dev/synth';

const root = join(import.meta.dirname, '..');
const round = (n: number): number => Math.round(n * 10) / 10;
const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

interface StartRun {
  readonly seconds: number;
  readonly exitCode: number | null;
  readonly denials: number | undefined;
}

/** One `npm start` (the script it runs) with enforcement `iam`: wall time, exit code, denials reported. */
const npmStart = async (iam: 'on' | 'off', reportDir: string): Promise<StartRun> => {
  const report = join(reportDir, `iam-report-${iam}.json`);
  rmSync(report, { force: true });
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'dev/start/main.ts', '--iam', iam, '--report', report], {
    cwd: root,
    stdio: 'ignore',
  });
  const exitCode = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const seconds = (performance.now() - started) / 1000;
  let denials: number | undefined;
  try {
    denials = (JSON.parse(readFileSync(report, 'utf8')) as LeastPrivilegeReport).totals.denials;
  } catch {
    denials = undefined;
  }
  return { seconds: round(seconds), exitCode, denials };
};

export const iamBench = async (options: { runs?: number } = {}) => {
  const runs = options.runs ?? 3;
  const authorize = await authorizationBench();
  await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
  const reportDir = mkdtempSync(join(tmpdir(), 'bakehouse-bench-iam-'));
  try {
    const on: StartRun[] = [];
    const off: StartRun[] = [];
    for (let i = 0; i < runs; i++) {
      on.push(await npmStart('on', reportDir));
      off.push(await npmStart('off', reportDir));
    }
    const onMedian = median(on.map((run) => run.seconds));
    const offMedian = median(off.map((run) => run.seconds));
    return {
      authorize,
      npmStart: {
        enforcementOn: { secondsMedian: round(onMedian), runs: on },
        enforcementOff: { secondsMedian: round(offMedian), runs: off },
        overheadPercent: round(((onMedian - offMedian) / offMedian) * 100),
        goalOverheadPercent: 10,
        comparable: [...on, ...off].every((run) => run.exitCode === 0),
      },
    };
  } finally {
    rmSync(reportDir, { recursive: true, force: true });
  }
};

// `tsx scripts/bench-iam.ts [--runs N]`: these numbers alone, without the rest of `npm run bench`.
if (import.meta.filename === process.argv[1]) {
  const at = process.argv.indexOf('--runs');
  const runs = at > 0 ? Math.max(1, Number(process.argv[at + 1])) : 3;
  process.stdout.write(`${JSON.stringify(await iamBench({ runs }), null, 2)}\n`);
}
