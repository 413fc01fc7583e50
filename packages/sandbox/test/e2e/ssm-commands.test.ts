import { EC2Client, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  GetParameterCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let ssm: SSMClient;
let ec2: EC2Client;
let managedId: string;
let unmanagedId: string;

const launch = async (withProfile: boolean): Promise<string> => {
  const image = await ssm.send(
    new GetParameterCommand({ Name: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' }),
  );
  const launched = await ec2.send(
    new RunInstancesCommand({
      ImageId: image.Parameter?.Value,
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      ...(withProfile ? { IamInstanceProfile: { Name: 'bakehouse-builder' } } : {}),
    }),
  );
  return launched.Instances?.[0]?.InstanceId ?? '';
};

const advance = (seconds: number) => sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: seconds });

const runShell = (commands: string[], instanceId = managedId) =>
  ssm.send(
    new SendCommandCommand({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [instanceId],
      Parameters: { commands },
    }),
  );

// Run Command's bookkeeping (states, listing, filters, documents) on a frozen clock: guests off, so
// invocations move by the clock alone; ssm-guests.test.ts runs scripts in guests.
const savedGuests = process.env.BAKEHOUSE_SANDBOX_GUESTS;

beforeAll(async () => {
  process.env.BAKEHOUSE_SANDBOX_GUESTS = 'off';
  sandbox = await startTestSandbox();
  ssm = new SSMClient(sandbox.clientConfig);
  ec2 = new EC2Client(sandbox.clientConfig);
  managedId = await launch(true);
  unmanagedId = await launch(false);
  await advance(120);
});
afterAll(async () => {
  if (savedGuests === undefined) delete process.env.BAKEHOUSE_SANDBOX_GUESTS;
  else process.env.BAKEHOUSE_SANDBOX_GUESTS = savedGuests;
  await sandbox.stop();
});

describe('managed instances', () => {
  it('lists a running instance launched with an instance profile as Online, and not one without', async () => {
    // Act
    const info = await ssm.send(new DescribeInstanceInformationCommand({}));

    // Assess
    const ids = info.InstanceInformationList?.map((i) => i.InstanceId);
    expect(ids).toContain(managedId);
    expect(ids).not.toContain(unmanagedId);
    expect(info.InstanceInformationList?.find((i) => i.InstanceId === managedId)).toMatchObject({
      PingStatus: 'Online',
      PlatformType: 'Linux',
      ResourceType: 'EC2Instance',
    });
  });

  it('filters managed instances by InstanceIds and PingStatus', async () => {
    // Act
    const online = await ssm.send(
      new DescribeInstanceInformationCommand({
        Filters: [
          { Key: 'InstanceIds', Values: [managedId] },
          { Key: 'PingStatus', Values: ['Online'] },
        ],
      }),
    );
    const lost = await ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'PingStatus', Values: ['ConnectionLost'] }] }),
    );

    // Assess
    expect(online.InstanceInformationList?.map((i) => i.InstanceId)).toEqual([managedId]);
    expect(lost.InstanceInformationList).toEqual([]);
  });

  it('refuses a MaxResults below 5 for DescribeInstanceInformation', async () => {
    // Act
    const error = await failure(ssm.send(new DescribeInstanceInformationCommand({ MaxResults: 1 })));

    // Assess
    expect(error.name).toBe('ValidationException');
  });
});

describe('Run Command', () => {
  it('sends a command as Pending, then finishes it with Success and recorded output on the sandbox clock', async () => {
    // Act
    const sent = await runShell(['dnf -y update', 'echo done']);
    const commandId = sent.Command?.CommandId ?? '';
    await advance(10);
    const invocation = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: managedId }));

    // Assess
    expect(sent.Command).toMatchObject({
      Status: 'Pending',
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [managedId],
    });
    expect(invocation).toMatchObject({ Status: 'Success', ResponseCode: 0, PluginName: 'aws:runShellScript' });
    expect(invocation.StandardOutputContent).toContain('AWS-RunShellScript');
    expect(invocation.StandardOutputContent).toContain('2 command(s)');
  });

  it('shows an invocation InProgress before it finishes', async () => {
    // Act
    const sent = await runShell(['sleep 1']);
    await advance(2);
    const invocation = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: managedId }),
    );
    await advance(10);

    // Assess
    expect(invocation.Status).toBe('InProgress');
  });

  it('ends a matching invocation Failed when a Run Command fault is injected', async () => {
    // Prepare
    await sandbox.control('POST', '/_sandbox/faults', {
      runCommand: { match: 'cfn-signal', status: 'Failed', times: 1 },
    });

    // Act
    const sent = await runShell(['yum install x', 'cfn-signal --exit-code 0']);
    await advance(10);
    const invocation = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: managedId }),
    );
    const listed = await ssm.send(new ListCommandsCommand({ CommandId: sent.Command?.CommandId }));

    // Assess
    expect(invocation).toMatchObject({ Status: 'Failed', ResponseCode: 1 });
    expect(invocation.StandardErrorContent).toContain('injected');
    expect(listed.Commands?.[0]).toMatchObject({ Status: 'Failed', ErrorCount: 1, CompletedCount: 1 });
  });

  it('lists invocations with plugin details when asked', async () => {
    // Prepare
    const sent = await runShell(['uptime']);
    await advance(10);

    // Act
    const listed = await ssm.send(
      new ListCommandInvocationsCommand({ CommandId: sent.Command?.CommandId, Details: true }),
    );

    // Assess
    expect(listed.CommandInvocations).toHaveLength(1);
    expect(listed.CommandInvocations?.[0]).toMatchObject({ InstanceId: managedId, Status: 'Success' });
    expect(listed.CommandInvocations?.[0]?.CommandPlugins?.[0]).toMatchObject({
      Name: 'aws:runShellScript',
      ResponseCode: 0,
    });
  });

  it('refuses an instance that is not managed (InvalidInstanceId)', async () => {
    // Act
    const error = await failure(runShell(['echo'], unmanagedId));

    // Assess
    expect(error.name).toBe('InvalidInstanceId');
  });

  it('refuses a document that does not exist (InvalidDocument)', async () => {
    // Act
    const error = await failure(
      ssm.send(new SendCommandCommand({ DocumentName: 'No-Such-Document', InstanceIds: [managedId] })),
    );

    // Assess
    expect(error.name).toBe('InvalidDocument');
  });

  it('answers InvocationDoesNotExist for an unknown command', async () => {
    // Act
    const error = await failure(
      ssm.send(
        new GetCommandInvocationCommand({ CommandId: '00000000-0000-4000-8000-000000000000', InstanceId: managedId }),
      ),
    );

    // Assess
    expect(error.name).toBe('InvocationDoesNotExist');
  });

  it('reports a stopped managed instance as ConnectionLost and refuses commands to it', async () => {
    // Prepare
    await ec2.send(new StopInstancesCommand({ InstanceIds: [managedId] }));
    await advance(300);

    // Act
    const info = await ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [managedId] }] }),
    );
    const error = await failure(runShell(['echo']));

    // Assess
    expect(info.InstanceInformationList?.[0]?.PingStatus).toBe('ConnectionLost');
    expect(error.name).toBe('InvalidInstanceId');
  });
});
