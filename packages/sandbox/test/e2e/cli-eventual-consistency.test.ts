/**
 * `--eventual-consistency SECONDS` on the sandbox command: a new instance is unknown to
 * DescribeInstances by id for that long (the clock is frozen here, so for the whole test); a value
 * that is not a number of seconds is refused with the usage.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-cli-consistency-'));
const started = new Set<ChildProcessWithoutNullStreams>();
afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

const sandboxProcess = (...args: string[]) => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts', '--port', '0', '--state', stateDir, '--speed', '0', '--no-provision', ...args],
    { cwd: root, env: { ...process.env, BAKEHOUSE_SANDBOX_EVENTUAL_CONSISTENCY: '' } },
  );
  started.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${stdout}${stderr}`)), 20_000);
    child.stdout.on('data', () => {
      const match = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`exited: ${stdout}${stderr}`));
    });
  });
  // A process refused at start never gets ready; a test that waits for its exit instead must not
  // leave this rejection unhandled.
  ready.catch(() => undefined);
  return { child, ready, exited, output: () => ({ stdout, stderr }) };
};

describe('sandbox command --eventual-consistency', () => {
  it('hides a new instance from DescribeInstances by id, and says so on the ready line', async () => {
    // Prepare
    const running = sandboxProcess('--eventual-consistency', '30');
    const url = await running.ready;
    const ec2 = new EC2Client({
      endpoint: url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });

    // Act
    const launched = await ec2.send(
      new RunInstancesCommand({ ImageId: 'ami-0b5eed00000000001', MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
    );
    const instanceId = launched.Instances?.[0]?.InstanceId ?? '';
    const answer = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })).then(
      () => 'found',
      (error: Error) => error.name,
    );
    ec2.destroy();
    running.child.kill('SIGTERM');
    await running.exited;

    // Assess
    expect(answer).toBe('InvalidInstanceID.NotFound');
    expect(running.output().stdout).toContain('new EC2 resources hidden for 30 s');
  });

  it('refuses a negative number of seconds with the usage', async () => {
    // Act
    const running = sandboxProcess('--eventual-consistency=-5');
    const code = await running.exited;

    // Assess
    expect(code).toBe(1);
    expect(running.output().stderr).toContain("--eventual-consistency '-5' must be a number of sandbox seconds");
    expect(running.output().stderr).toContain('[--eventual-consistency SECONDS]');
  });
});
