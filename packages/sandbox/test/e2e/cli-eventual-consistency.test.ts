/**
 * `--eventual-consistency SECONDS` on the sandbox command: a new instance is unknown to
 * DescribeInstances by id for that long (the clock is frozen here, so for the whole test); a value
 * that is not a number of seconds is refused with the usage.
 */
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { sandboxProcesses } from '../support/sandbox-process';

const sandboxProcess = sandboxProcesses('cli-consistency', { BAKEHOUSE_SANDBOX_EVENTUAL_CONSISTENCY: '' });

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
