/**
 * An instance acts as its instance profile's role: its SSM Agent registers (and the instance
 * becomes a managed node that takes commands) only when the role trusts EC2 and grants the agent's
 * calls, as AmazonSSMManagedInstanceCore does.
 */
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { DescribeInstanceInformationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AL2023_X86, advance } from '../../src/testing/ec2';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let iam: IAMClient;
let ec2: EC2Client;
let ssm: SSMClient;

const trustEc2 = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});
const trustLambda = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/** A profile named `name` holding a role with `trust` and, if asked, AmazonSSMManagedInstanceCore. */
const profile = async (name: string, trust: string, ssmCore: boolean): Promise<void> => {
  await iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust }));
  if (ssmCore) {
    await iam.send(
      new AttachRolePolicyCommand({
        RoleName: name,
        PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
      }),
    );
  }
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
};

const launchWith = async (profileName: string): Promise<string> => {
  const launched = await ec2.send(
    new RunInstancesCommand({
      ImageId: AL2023_X86,
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      IamInstanceProfile: { Name: profileName },
    }),
  );
  return launched.Instances?.[0]?.InstanceId as string;
};

const managedIds = async (): Promise<string[]> =>
  ((await ssm.send(new DescribeInstanceInformationCommand({}))).InstanceInformationList ?? []).map(
    (info) => info.InstanceId as string,
  );

let withCore: string;
let withoutCore: string;
let untrusted: string;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  iam = new IAMClient(sandbox.clientConfig);
  ec2 = new EC2Client(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  await profile('with-core', trustEc2, true);
  await profile('without-core', trustEc2, false);
  await profile('not-for-ec2', trustLambda, true);
  withCore = await launchWith('with-core');
  withoutCore = await launchWith('without-core');
  untrusted = await launchWith('not-for-ec2');
  await advance(sandbox, 120);
});
afterAll(async () => {
  for (const client of [iam, ec2, ssm]) client.destroy();
  await sandbox.stop();
});

describe('an instance as its instance profile role', () => {
  it('is a managed node when the role trusts EC2 and carries AmazonSSMManagedInstanceCore', async () => {
    // Assess
    expect(await managedIds()).toContain(withCore);
  });

  it('never registers when the role does not grant the SSM Agent its calls', async () => {
    // Assess
    expect(await managedIds()).not.toContain(withoutCore);
  });

  it('never registers when the role does not trust EC2', async () => {
    // Assess
    expect(await managedIds()).not.toContain(untrusted);
  });

  it('refuses a command to an instance that never registered, as Run Command does (InvalidInstanceId)', async () => {
    // Act
    const error = await failure(
      ssm.send(
        new SendCommandCommand({
          DocumentName: 'AWS-RunShellScript',
          InstanceIds: [withoutCore],
          Parameters: { commands: ['true'] },
        }),
      ),
    );

    // Assess
    expect(error.name).toBe('InvalidInstanceId');
  });
});
