/**
 * `npm start` numbers for `npm run bench`: the whole offline lifecycle as a user runs it (a
 * process of its own, the assembly cached as after the first run), provisioning on its own, and
 * Lambda invocations of a real bundle in the sandbox (the first starts a worker, later ones reuse
 * it). Goal: the whole `npm start` run in 20 s or less on this 2-core machine.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { provisionFromAssembly, startSandbox } from '@bakehouse/sandbox';
import { synthesizeForSandbox } from '../dev/synth';

const root = join(import.meta.dirname, '..');
const round = (n: number): number => Math.round(n * 10) / 10;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Wall time of one `npm start` (the script it runs), failing when the run fails. */
const npmStartSeconds = async (): Promise<number> => {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'dev/start/main.ts'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`npm start failed (exit ${code}):\n${output.slice(-2000)}`);
  return (performance.now() - started) / 1000;
};

const provisionAndInvoke = async (assemblyDir: string) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-bench-provision-'));
  const sandbox = await startSandbox({ port: 0, stateDir, speed: 0, assetsDir: assemblyDir });
  try {
    const started = performance.now();
    const report = await provisionFromAssembly({ sandbox, assemblyDir });
    const provisionMs = performance.now() - started;
    const lambda = new LambdaClient({
      endpoint: sandbox.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    });
    // ScheduleTick answers "not due" for a family at a time its schedule does not fire: no side effects.
    const payload = new TextEncoder().encode(
      JSON.stringify({ family: 'al2023-base', scheduledTime: '2026-12-01T12:00:00Z' }),
    );
    const invokeMs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      const out = await lambda.send(
        new InvokeCommand({ FunctionName: 'bakehouse-dev-ScheduleTick', Payload: payload }),
      );
      if (out.FunctionError) throw new Error(`ScheduleTick failed: ${new TextDecoder().decode(out.Payload)}`);
      invokeMs.push(performance.now() - t);
    }
    lambda.destroy();
    return {
      provisionMs: round(provisionMs),
      resources: report.created.length,
      lambdaInvoke: { firstMs: round(invokeMs[0] as number), warmMsMedian: round(median(invokeMs.slice(1))) },
    };
  } finally {
    await sandbox.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
};

export const startBench = async () => {
  const synthStarted = performance.now();
  const assembly = await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
  const synthMs = performance.now() - synthStarted;
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await npmStartSeconds());
  return {
    synth: { ms: round(synthMs), cached: assembly.cached },
    npmStart: { secondsMedian: round(median(runs)), secondsRuns: runs.map(round), goalSeconds: 20 },
    ...(await provisionAndInvoke(assembly.assemblyDir)),
  };
};
