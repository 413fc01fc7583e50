/**
 * AttachInstances and DetachInstances keep a group's instance list true: running instances join
 * (desired capacity grows by as many), detached ones leave (desired capacity shrinks when asked),
 * terminated ones are gone, and an instance not in the group is refused as AWS refuses it.
 */
import {
  AttachInstancesCommand,
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  DetachInstancesCommand,
  type DetachInstancesCommandInput,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AL2023_X86, advance, runningInstance } from '../../src/testing/ec2';
import { roleSession } from '../../src/testing/iam';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let autoscaling: AutoScalingClient;
let ec2: EC2Client;
let templateId: string;
let groups = 0;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  autoscaling = new AutoScalingClient(sandbox.clientConfig);
  ec2 = new EC2Client(sandbox.clientConfig);
  const created = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'attach-template',
      LaunchTemplateData: { ImageId: AL2023_X86, InstanceType: 't3.micro' },
    }),
  );
  templateId = created.LaunchTemplate?.LaunchTemplateId as string;
});
afterAll(async () => sandbox.stop());

const newGroup = async (minSize = 0, desired = 0): Promise<string> => {
  groups += 1;
  const name = `attach-group-${groups}`;
  await autoscaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      MinSize: minSize,
      MaxSize: 10,
      DesiredCapacity: desired,
      VPCZoneIdentifier: 'subnet-0123456789abcdef0',
      LaunchTemplate: { LaunchTemplateId: templateId, Version: '$Latest' },
    }),
  );
  return name;
};

const groupOf = async (name: string) => {
  const group = (await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })))
    .AutoScalingGroups?.[0];
  return {
    desired: group?.DesiredCapacity,
    instances: (group?.Instances ?? []).map((i) => i.InstanceId).sort(),
  };
};

/** The Auto Scaling error a call failed with: its code and message. */
const failure = async (call: Promise<unknown>): Promise<{ name: string; message: string }> => {
  try {
    await call;
  } catch (error) {
    return { name: (error as Error).name, message: (error as Error).message };
  }
  throw new Error('expected the call to fail');
};

describe('AttachInstances', () => {
  it('puts running instances in the group and grows its desired capacity by as many', async () => {
    // Prepare
    const group = await newGroup(0, 1);
    const [a, b] = [await runningInstance(sandbox, ec2), await runningInstance(sandbox, ec2)];

    // Act
    await autoscaling.send(new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [a, b] }));

    // Assess
    expect(await groupOf(group)).toEqual({ desired: 3, instances: [a, b].sort() });
  });

  it('refuses an instance that is not running yet, changing nothing', async () => {
    // Prepare
    const group = await newGroup();
    const pending = (
      await ec2.send(
        new RunInstancesCommand({ ImageId: AL2023_X86, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
      )
    ).Instances?.[0]?.InstanceId as string;

    // Act
    const refused = await failure(
      autoscaling.send(new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [pending] })),
    );

    // Assess
    expect(refused.name).toBe('ValidationError');
    expect(refused.message).toMatch(/only running instances can be attached/);
    expect(await groupOf(group)).toEqual({ desired: 0, instances: [] });
  });
});

describe('DetachInstances', () => {
  it('takes instances out of the group and lowers its desired capacity when asked', async () => {
    // Prepare
    const group = await newGroup();
    const [a, b] = [await runningInstance(sandbox, ec2), await runningInstance(sandbox, ec2)];
    await autoscaling.send(new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [a, b] }));

    // Act
    const detached = await autoscaling.send(
      new DetachInstancesCommand({
        AutoScalingGroupName: group,
        InstanceIds: [a],
        ShouldDecrementDesiredCapacity: true,
      }),
    );

    // Assess
    expect(await groupOf(group)).toEqual({ desired: 1, instances: [b] });
    expect(detached.Activities?.map((activity) => activity.Description)).toEqual([`Detaching EC2 instance: ${a}`]);
  });

  it('keeps the desired capacity when not asked to lower it', async () => {
    // Prepare
    const group = await newGroup();
    const a = await runningInstance(sandbox, ec2);
    await autoscaling.send(new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [a] }));

    // Act
    await autoscaling.send(
      new DetachInstancesCommand({
        AutoScalingGroupName: group,
        InstanceIds: [a],
        ShouldDecrementDesiredCapacity: false,
      }),
    );

    // Assess
    expect(await groupOf(group)).toEqual({ desired: 1, instances: [] });
  });

  it('refuses an instance that is not in the group as AWS does, changing nothing', async () => {
    // Prepare
    const group = await newGroup();
    const member = await runningInstance(sandbox, ec2);
    const outsider = await runningInstance(sandbox, ec2);
    await autoscaling.send(new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [member] }));

    // Act
    const refused = await failure(
      autoscaling.send(
        new DetachInstancesCommand({
          AutoScalingGroupName: group,
          InstanceIds: [member, outsider],
          ShouldDecrementDesiredCapacity: true,
        }),
      ),
    );

    // Assess
    expect(refused).toEqual({
      name: 'ValidationError',
      message: `The instance ${outsider} is not part of Auto Scaling group ${group}.`,
    });
    expect(await groupOf(group)).toEqual({ desired: 1, instances: [member] });
  });

  it('treats a terminated instance as gone from the group', async () => {
    // Prepare
    const group = await newGroup();
    const a = await runningInstance(sandbox, ec2);
    await autoscaling.send(new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [a] }));
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a] }));
    await advance(sandbox, 60);

    // Act
    const refused = await failure(
      autoscaling.send(
        new DetachInstancesCommand({
          AutoScalingGroupName: group,
          InstanceIds: [a],
          ShouldDecrementDesiredCapacity: true,
        }),
      ),
    );

    // Assess
    expect(refused.message).toBe(`The instance ${a} is not part of Auto Scaling group ${group}.`);
    expect((await groupOf(group)).instances).toEqual([]);
  });

  it('requires ShouldDecrementDesiredCapacity and refuses to go below the minimum size', async () => {
    // Prepare: two instances attached, then the minimum raised to two
    const group = await newGroup();
    const [a, b] = [await runningInstance(sandbox, ec2), await runningInstance(sandbox, ec2)];
    await autoscaling.send(new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [a, b] }));
    await autoscaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: group, MinSize: 2 }));

    // Act
    const missing = await failure(
      autoscaling.send(
        new DetachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [a] } as DetachInstancesCommandInput),
      ),
    );
    const belowMin = await failure(
      autoscaling.send(
        new DetachInstancesCommand({
          AutoScalingGroupName: group,
          InstanceIds: [a],
          ShouldDecrementDesiredCapacity: true,
        }),
      ),
    );

    // Assess
    expect(missing.name).toBe('ValidationError');
    expect(missing.message).toMatch(/shouldDecrementDesiredCapacity/);
    expect(belowMin.message).toMatch(/below minSize/);
    expect(await groupOf(group)).toEqual({ desired: 2, instances: [a, b].sort() });
  });

  it('is authorized on the group: a role granted DetachInstances on another group is refused', async () => {
    // Prepare
    const group = await newGroup();
    const a = await runningInstance(sandbox, ec2);
    await autoscaling.send(new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [a] }));
    const session = await roleSession(sandbox, {
      roleName: 'detacher',
      policy: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'autoscaling:DetachInstances',
            Resource: 'arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/some-other-group',
          },
        ],
      },
    });
    const detacher = new AutoScalingClient(session.clientConfig);

    // Act
    const refused = await failure(
      detacher.send(
        new DetachInstancesCommand({
          AutoScalingGroupName: group,
          InstanceIds: [a],
          ShouldDecrementDesiredCapacity: true,
        }),
      ),
    );

    // Assess
    expect(refused.name).toBe('AccessDenied');
    expect(await groupOf(group)).toEqual({ desired: 1, instances: [a] });
  });
});

describe('DescribeAutoScalingInstances', () => {
  it('names the group of each attached instance, ignores ids in no group, and pages by 50 at most', async () => {
    // Prepare
    const group = await newGroup();
    const member = await runningInstance(sandbox, ec2);
    const loose = await runningInstance(sandbox, ec2);
    await autoscaling.send(new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [member] }));

    // Act
    const described = await autoscaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [member, loose] }));
    const tooMany = await failure(autoscaling.send(new DescribeAutoScalingInstancesCommand({ MaxRecords: 51 })));

    // Assess
    expect(described.AutoScalingInstances).toEqual([
      expect.objectContaining({ InstanceId: member, AutoScalingGroupName: group, LifecycleState: 'InService' }),
    ]);
    expect(tooMany.name).toBe('ValidationError');
  });
});
