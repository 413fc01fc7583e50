/**
 * The sandbox as an operator runs it: its own process, one ready line, clean shutdown on
 * SIGTERM, state that survives a restart and a SIGKILL; and a second, independent AWS client
 * (the AWS CLI) using it unchanged.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-sandbox-process-'));
const started = new Set<ChildProcessWithoutNullStreams>();
afterAll(() => {
  // A failed test must not leave a sandbox running.
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly readyLine: string;
}

/** Starts `src/main.ts` in a node process of its own and waits for its ready line. */
const startProcess = (...args: string[]): Promise<Running> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', '--port', '0', '--state', stateDir, '--speed', '0', '--no-provision', ...args],
      { cwd: root },
    );
    started.add(child);
    let output = '';
    const timer = setTimeout(() => reject(new Error(`sandbox did not start: ${output}`)), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] as string, readyLine: output.trim() });
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sandbox exited with ${code}: ${output}`));
    });
  });

const exitOf = (child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: string | null }> =>
  new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

const clientConfig = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1,
});

const clockOf = async (url: string): Promise<number> => {
  const response = await fetch(`${url}/_sandbox/clock`);
  return Date.parse(((await response.json()) as { now: string }).now);
};

describe('the sandbox process', () => {
  let movedTo = 0;

  it('prints one line with its endpoint when ready and answers health checks', async () => {
    // Act
    const running = await startProcess('--reset');
    const health = await fetch(`${running.url}/_sandbox/health`);

    // Assess
    expect(running.readyLine.split('\n')).toHaveLength(1);
    expect(health.status).toBe(200);
    const exit = exitOf(running.child);
    running.child.kill('SIGTERM');
    expect(await exit).toEqual({ code: 0, signal: null });
  });

  it('keeps its state across a clean restart', async () => {
    // Prepare
    const first = await startProcess();
    await fetch(`${first.url}/_sandbox/clock`, {
      method: 'POST',
      body: JSON.stringify({ advanceSeconds: 30 * 86_400 }),
    });
    movedTo = await clockOf(first.url);
    const exit = exitOf(first.child);
    first.child.kill('SIGTERM');
    await exit;

    // Act
    const second = await startProcess();
    const now = await clockOf(second.url);

    // Assess
    expect(now).toBeGreaterThanOrEqual(movedTo);
    const secondExit = exitOf(second.child);
    second.child.kill('SIGTERM');
    await secondExit;
  });

  it('loses nothing it acknowledged when killed with SIGKILL', async () => {
    // Prepare: a parameter, a tagged instance and a clock move, each acknowledged, then SIGKILL
    const first = await startProcess();
    const ssm = new SSMClient(clientConfig(first.url));
    const ec2 = new EC2Client(clientConfig(first.url));
    await ssm.send(new PutParameterCommand({ Name: '/kill/test', Value: 'survives', Type: 'String' }));
    const [seeded] = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], MaxResults: 5 }))).Images ?? [];
    const launched = await ec2.send(
      new RunInstancesCommand({
        ImageId: String(seeded?.ImageId),
        MinCount: 1,
        MaxCount: 1,
        InstanceType: seeded?.Architecture === 'arm64' ? 'm7g.large' : 'm7i.large',
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'kept', Value: 'yes' }] }],
      }),
    );
    const instanceId = String(launched.Instances?.[0]?.InstanceId);
    await fetch(`${first.url}/_sandbox/clock`, { method: 'POST', body: JSON.stringify({ advanceSeconds: 86_400 }) });
    const acknowledged = await clockOf(first.url);
    const exit = exitOf(first.child);
    first.child.kill('SIGKILL');
    expect((await exit).signal).toBe('SIGKILL');

    // Act
    const second = await startProcess();
    const now = await clockOf(second.url);
    const parameter = await new SSMClient(clientConfig(second.url)).send(
      new GetParameterCommand({ Name: '/kill/test' }),
    );
    const found = await new EC2Client(clientConfig(second.url)).send(
      new DescribeInstancesCommand({ InstanceIds: [instanceId] }),
    );

    // Assess
    expect(now).toBeGreaterThanOrEqual(acknowledged);
    expect(parameter.Parameter?.Value).toBe('survives');
    expect(found.Reservations?.[0]?.Instances?.[0]?.Tags).toEqual([{ Key: 'kept', Value: 'yes' }]);
    const secondExit = exitOf(second.child);
    second.child.kill('SIGTERM');
    await secondExit;
  });

  it('serves the AWS CLI, an independent client, unchanged', async () => {
    // Prepare
    const running = await startProcess();

    const aws = (...args: string[]): unknown =>
      JSON.parse(
        execFileSync('aws', [...args, '--endpoint-url', running.url, '--region', 'us-east-1', '--output', 'json'], {
          env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_PAGER: '' },
          encoding: 'utf8',
        }),
      );

    // Act
    const identity = aws('sts', 'get-caller-identity');
    const parameter = aws(
      'ssm',
      'get-parameter',
      '--name',
      '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
    ) as { Parameter: { Value: string } };
    const images = aws('ec2', 'describe-images', '--image-ids', parameter.Parameter.Value) as {
      Images: { ImageId: string; State: string; OwnerId: string }[];
    };

    // Assess: STS (query), SSM (JSON 1.1) and EC2 (EC2 query, XML) all parse in the CLI
    expect(identity).toMatchObject({ Account: '000000000000' });
    expect(parameter.Parameter.Value).toMatch(/^ami-[0-9a-f]{17}$/);
    expect(images.Images).toEqual([
      expect.objectContaining({ ImageId: parameter.Parameter.Value, State: 'available' }),
    ]);
    const exit = exitOf(running.child);
    running.child.kill('SIGTERM');
    await exit;
  });
});
