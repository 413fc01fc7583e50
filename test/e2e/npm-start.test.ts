/**
 * The two commands a new user runs first, as processes of their own: `npm start` (the whole
 * lifecycle offline, ending with a summary and exit 0, run through `npm run iam-report`, which
 * also prints that run's least-privilege report) and `npm run sandbox` (serving, now also
 * provisioned from the stacks).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { LeastPrivilegeReport } from '@bakehouse/sandbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeForSandbox } from '../../dev/synth';

const root = join(import.meta.dirname, '..', '..');
const children = new Set<ChildProcess>();
const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-npm-start-'));

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

const run = (script: string, args: string[]) => {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root });
  children.add(child);
  let output = '';
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output, stdout: () => stdout };
};

/** The exit code, or null after killing a child that ran longer than `ms`. */
const exitedWithin = async (started: ReturnType<typeof run>, ms: number): Promise<number | null> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      started.child.kill('SIGKILL');
      resolve(null);
    }, ms);
  });
  const code = await Promise.race([started.exited, late]);
  clearTimeout(timer);
  return code;
};

describe('npm start', () => {
  // The assembly is cached by a hash of its inputs; other test files may have made it. On a clean
  // clone this synthesizes (bundles every function), which is the hook's time, not the test's.
  beforeAll(async () => {
    await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
  });

  it('runs the lifecycle offline and ends with a summary and exit 0; npm run iam-report prints its report', async () => {
    // Act: through `npm run iam-report` (dev/iam-report.ts), which runs `npm start` as a child
    // (dev/start/main.ts --iam on --report FILE), passes its output on to stderr and prints the
    // report on stdout: one lifecycle run covers both commands (each run costs about a minute of
    // CPU on this machine). A run that hangs is stopped before the test's own timeout, so what it
    // printed (which scenario it waited on) is in the failure below instead of a bare timeout.
    const reportFile = join(stateDir, 'run', 'iam-report.json');
    const started = run('dev/iam-report.ts', ['--out', reportFile]);
    const code = await exitedWithin(started, 150_000);

    // Assess
    const output = started.output();
    if (code === null) throw new Error(`npm start did not end within 150 s; its last output:\n${output.slice(-6000)}`);
    expect(output).toMatch(/sandbox provisioned dev-bakehouse-BakePipeline: \d+ resources/);
    expect(output).toMatch(/ok +scheduled al2023-base +AMI Baked +ami-[0-9a-f]+/);
    expect(output).toMatch(/ok +requested windows-2022-base +AMI Baked/);
    expect(output).toMatch(/ok +unchanged al2023-base +Bake Skipped/);
    expect(output).toMatch(/ok +patch fault ubuntu-2404-base +Bake Failed at \S*patchPackages, 0 builder\(s\) left/);
    expect(output).toMatch(
      /ok +promoted stable al2023-base +AMI Promoted to stable \(tested\).*launch template bakehouse-example-web default v2/,
    );
    expect(output).toMatch(/ok +requested al2023-web +AMI Baked/);
    // The canary: one image passes and moves prod, one 50 % slower fails on latency; both scorecards shown.
    expect(output).toMatch(/ok +canary pass al2023-web +Canary Judged pass, prod moved \(canary\)/);
    expect(output).toMatch(/ok +canary fail al2023-web +Canary Judged fail, latency High, prod unchanged/);
    expect(output).toMatch(/ {7}latency +baseline +[\d.]+ +canary +[\d.]+ +\+\d+\.\d % +p [\d.]+ +High \(critical\)/);
    expect(output).toMatch(/0 canary instance\(s\) left/);
    expect(output).toMatch(/ok +janitor \(dry run\) +completed/);
    // The failed bake's alarm (its state change emitted as CloudWatch would) reaches Slack through NotifyAlarms.
    expect(output).toMatch(
      /ok +alarm bakehouse-dev-BakeExecutionsFailed +ALARM posted to Slack +→ bakehouse-dev-Notify delivered/,
    );
    expect(output).toMatch(/\| :RED_CIRCLE: ALARM: BAKEHOUSE-DEV-BAKEEXECUTIONSFAILED\n +\| A bake failed/);
    expect(output).toMatch(/\| +State OK → ALARM/);
    expect(output).toMatch(
      /Metric `AWS\/States ExecutionsFailed \(StateMachineArn=arn:aws:states:us-east-1:\d+:stateMachine:bakehouse-dev-bake\), Sum over 300s`/,
    );
    expect(output).toMatch(/Reason: Threshold Crossed/);
    expect(output).toContain('#alarmsV2:alarm/bakehouse-dev-BakeExecutionsFailed');
    expect(output).toMatch(/== Slack \([1-9]\d* message\(s\)/);
    expect(output).toMatch(/all scenarios ended as expected/);
    // EC2 answered as eventual consistency may right after creates, and every scenario still ended as expected.
    expect(output).toMatch(/new EC2 resources hidden for 60 s\)/);
    expect(output).toMatch(
      /eventual consistency: new EC2 resources hidden for 60 s; [1-9]\d* answer\(s\) as AWS may give/,
    );
    // Every call of the lifecycle passed IAM as AWS would decide it (enforcement is on by default).
    expect(output).toMatch(/IAM \(enforcement on\): .*, 0 denials/);
    expect(output).toMatch(/no denials \(goal: 0\)/);
    expect(code).toBe(0);
    // The report of that run: printed on stdout, written to --out, and the roles acted.
    const printed = JSON.parse(started.stdout()) as LeastPrivilegeReport;
    expect(JSON.parse(readFileSync(reportFile, 'utf8'))).toEqual(printed);
    expect(printed.enforcement).toBe('on');
    expect(printed.totals.rolesThatActed).toBeGreaterThan(0);
    expect(printed.totals.enforcedDenials).toBe(0);
    expect(printed.roles.some((role) => Object.keys(role.used).length > 0)).toBe(true);
    expect(output).toContain('== IAM least privilege');
    expect(output).toContain(`report: ${reportFile}`);
  }, 170_000);

  it('refuses a bad option with the reason and exit 1', async () => {
    // Act
    const started = run('dev/start/main.ts', ['--speed', 'fast']);
    const code = await started.exited;

    // Assess
    expect(started.output()).toContain("--speed 'fast' must be a positive number");
    expect(code).toBe(1);
  });
});

describe('npm run sandbox', () => {
  it('serves the sandbox provisioned from the stacks', async () => {
    // Prepare
    const assembly = await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
    const sandbox = run('dev/sandbox.ts', ['--port', '0', '--state', stateDir, '--speed', '0']);

    // Act: wait for the provisioning summary
    const deadline = Date.now() + 60_000;
    while (!/provisioned/.test(sandbox.output()) && Date.now() < deadline && sandbox.child.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const url = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(sandbox.output())?.[1] ?? '';
    const events = new EventBridgeClient({
      endpoint: url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const bus = await events.send(new DescribeEventBusCommand({ Name: 'bakehouse-dev' }));
    events.destroy();
    sandbox.child.kill('SIGTERM');
    const code = await sandbox.exited;

    // Assess
    expect(assembly.assemblyDir).toContain('.sandbox');
    expect(sandbox.output()).toMatch(/bakehouse sandbox provisioned dev-bakehouse-BakePipeline: \d+ resources/);
    expect(bus.Arn).toBe('arn:aws:events:us-east-1:000000000000:event-bus/bakehouse-dev');
    expect(code).toBe(0);
  }, 90_000);
});
