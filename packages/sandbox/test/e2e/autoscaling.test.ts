import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  type CreateAutoScalingGroupCommandInput,
  CreateLaunchConfigurationCommand,
  DeleteAutoScalingGroupCommand,
  DeleteLaunchConfigurationCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeInstanceRefreshesCommand,
  DescribeLaunchConfigurationsCommand,
  StartInstanceRefreshCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AL2023_X86, advance, errorOf } from '../../src/testing/ec2';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

// The SDK names modelled Auto Scaling errors by their shape (`AlreadyExistsFault` for the wire code `AlreadyExists`).
let sandbox: TestSandbox;
let autoscaling: AutoScalingClient;
let ec2: EC2Client;
let templateId: string;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  autoscaling = new AutoScalingClient(sandbox.clientConfig);
  ec2 = new EC2Client(sandbox.clientConfig);
  const created = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'asg-template',
      LaunchTemplateData: { ImageId: AL2023_X86, InstanceType: 't3.micro' },
    }),
  );
  templateId = created.LaunchTemplate?.LaunchTemplateId as string;
});
afterAll(async () => sandbox.stop());

const groupInput = (name: string): CreateAutoScalingGroupCommandInput => ({
  AutoScalingGroupName: name,
  MinSize: 0,
  MaxSize: 4,
  DesiredCapacity: 2,
  VPCZoneIdentifier: 'subnet-0123456789abcdef0,subnet-0123456789abcdef1',
  LaunchTemplate: { LaunchTemplateId: templateId, Version: '$Latest' },
});

const createLaunchConfiguration = (name: string) =>
  autoscaling.send(
    new CreateLaunchConfigurationCommand({
      LaunchConfigurationName: name,
      ImageId: AL2023_X86,
      InstanceType: 't3.micro',
      SecurityGroups: ['sg-0123456789abcdef0'],
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 16, VolumeType: 'gp3' } }],
      MetadataOptions: { HttpTokens: 'required' },
    }),
  );

const describeGroup = async (name: string) =>
  (await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })))
    .AutoScalingGroups?.[0];

describe('Auto Scaling groups', () => {
  it('describes a group on a launch configuration with the configuration it names', async () => {
    // Prepare
    await createLaunchConfiguration('lc-basic');

    // Act
    await autoscaling.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: 'asg-lc',
        LaunchConfigurationName: 'lc-basic',
        MinSize: 1,
        MaxSize: 2,
        AvailabilityZones: ['us-east-1a'],
        Tags: [{ Key: 'team', Value: 'bakehouse', PropagateAtLaunch: true }],
      }),
    );
    const configs = await autoscaling.send(
      new DescribeLaunchConfigurationsCommand({ LaunchConfigurationNames: ['lc-basic'] }),
    );

    // Assess
    expect(await describeGroup('asg-lc')).toMatchObject({
      LaunchConfigurationName: 'lc-basic',
      MinSize: 1,
      MaxSize: 2,
      DesiredCapacity: 1,
      AvailabilityZones: ['us-east-1a'],
      Tags: [
        {
          ResourceId: 'asg-lc',
          ResourceType: 'auto-scaling-group',
          Key: 'team',
          Value: 'bakehouse',
          PropagateAtLaunch: true,
        },
      ],
    });
    expect(configs.LaunchConfigurations?.[0]).toMatchObject({
      ImageId: AL2023_X86,
      InstanceType: 't3.micro',
      SecurityGroups: ['sg-0123456789abcdef0'],
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 16, VolumeType: 'gp3' } }],
      MetadataOptions: { HttpTokens: 'required' },
    });
  });

  it('describes a group on a launch template with its id, name and version', async () => {
    // Act
    await autoscaling.send(new CreateAutoScalingGroupCommand(groupInput('asg-lt')));

    // Assess
    const group = await describeGroup('asg-lt');
    expect(group?.LaunchTemplate).toEqual({
      LaunchTemplateId: templateId,
      LaunchTemplateName: 'asg-template',
      Version: '$Latest',
    });
    expect(group?.VPCZoneIdentifier).toBe('subnet-0123456789abcdef0,subnet-0123456789abcdef1');
    expect(group?.LaunchConfigurationName).toBeUndefined();
  });

  it('describes a group with a mixed instances policy, its overrides and distribution defaults', async () => {
    // Prepare
    const { LaunchTemplate: _unused, ...input } = groupInput('asg-mixed');

    // Act
    await autoscaling.send(
      new CreateAutoScalingGroupCommand({
        ...input,
        MixedInstancesPolicy: {
          LaunchTemplate: {
            LaunchTemplateSpecification: { LaunchTemplateName: 'asg-template' },
            Overrides: [
              { InstanceType: 't3.large' },
              {
                InstanceType: 'm7i.large',
                LaunchTemplateSpecification: { LaunchTemplateId: templateId, Version: '1' },
              },
            ],
          },
        },
      }),
    );

    // Assess
    expect((await describeGroup('asg-mixed'))?.MixedInstancesPolicy).toEqual({
      LaunchTemplate: {
        LaunchTemplateSpecification: {
          LaunchTemplateId: templateId,
          LaunchTemplateName: 'asg-template',
          Version: '$Default',
        },
        Overrides: [
          { InstanceType: 't3.large' },
          {
            InstanceType: 'm7i.large',
            LaunchTemplateSpecification: {
              LaunchTemplateId: templateId,
              LaunchTemplateName: 'asg-template',
              Version: '1',
            },
          },
        ],
      },
      InstancesDistribution: {
        OnDemandAllocationStrategy: 'prioritized',
        OnDemandBaseCapacity: 0,
        OnDemandPercentageAboveBaseCapacity: 100,
        SpotAllocationStrategy: 'lowest-price',
      },
    });
  });

  it('refuses a duplicate group name and invalid sizes and launch sources', async () => {
    // Prepare
    await autoscaling.send(new CreateAutoScalingGroupCommand(groupInput('asg-dup')));

    // Act
    const duplicate = await errorOf(autoscaling.send(new CreateAutoScalingGroupCommand(groupInput('asg-dup'))));
    const badSizes = await errorOf(
      autoscaling.send(new CreateAutoScalingGroupCommand({ ...groupInput('asg-bad'), MinSize: 3, MaxSize: 2 })),
    );
    const noSource = await errorOf(
      autoscaling.send(new CreateAutoScalingGroupCommand({ ...groupInput('asg-bad'), LaunchTemplate: undefined })),
    );
    const unknownTemplate = await errorOf(
      autoscaling.send(
        new CreateAutoScalingGroupCommand({
          ...groupInput('asg-bad'),
          LaunchTemplate: { LaunchTemplateName: 'no-such-template' },
        }),
      ),
    );

    // Assess
    expect(duplicate).toEqual({ name: 'AlreadyExistsFault', status: 400 });
    expect(badSizes).toEqual({ name: 'ValidationError', status: 400 });
    expect(noSource).toEqual({ name: 'ValidationError', status: 400 });
    expect(unknownTemplate).toEqual({ name: 'ValidationError', status: 400 });
  });

  it('pages DescribeAutoScalingGroups with MaxRecords and NextToken', async () => {
    // Prepare
    for (const index of [1, 2, 3, 4, 5]) {
      await autoscaling.send(new CreateAutoScalingGroupCommand(groupInput(`asg-page-${index}`)));
    }
    const names = [1, 2, 3, 4, 5].map((index) => `asg-page-${index}`);
    const seen: string[] = [];
    let token: string | undefined;

    // Act
    do {
      const page = await autoscaling.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: names, MaxRecords: 2, NextToken: token }),
      );
      expect(page.AutoScalingGroups?.length).toBeLessThanOrEqual(2);
      seen.push(...(page.AutoScalingGroups ?? []).map((group) => group.AutoScalingGroupName as string));
      token = page.NextToken;
    } while (token);
    const tooMany = await errorOf(autoscaling.send(new DescribeAutoScalingGroupsCommand({ MaxRecords: 101 })));

    // Assess
    expect(seen).toEqual(names);
    expect(tooMany).toEqual({ name: 'ValidationError', status: 400 });
  });

  it('updates sizes and switches the launch source', async () => {
    // Prepare
    await createLaunchConfiguration('lc-switch');
    await autoscaling.send(new CreateAutoScalingGroupCommand(groupInput('asg-update')));

    // Act
    await autoscaling.send(
      new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: 'asg-update',
        MaxSize: 1,
        LaunchConfigurationName: 'lc-switch',
      }),
    );

    // Assess
    const group = await describeGroup('asg-update');
    expect(group).toMatchObject({ MaxSize: 1, DesiredCapacity: 1, LaunchConfigurationName: 'lc-switch' });
    expect(group?.LaunchTemplate).toBeUndefined();
  });

  it('keeps a launch configuration while a group uses it, and deletes a group with capacity only when forced', async () => {
    // Prepare
    await createLaunchConfiguration('lc-in-use');
    await autoscaling.send(
      new CreateAutoScalingGroupCommand({
        ...groupInput('asg-uses-lc'),
        LaunchTemplate: undefined,
        LaunchConfigurationName: 'lc-in-use',
      }),
    );

    // Act
    const inUse = await errorOf(
      autoscaling.send(new DeleteLaunchConfigurationCommand({ LaunchConfigurationName: 'lc-in-use' })),
    );
    const notForced = await errorOf(
      autoscaling.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: 'asg-uses-lc' })),
    );
    await autoscaling.send(
      new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: 'asg-uses-lc', ForceDelete: true }),
    );
    await autoscaling.send(new DeleteLaunchConfigurationCommand({ LaunchConfigurationName: 'lc-in-use' }));

    // Assess
    expect(inUse).toEqual({ name: 'ResourceInUseFault', status: 400 });
    expect(notForced).toEqual({ name: 'ResourceInUseFault', status: 400 });
    expect(await describeGroup('asg-uses-lc')).toBeUndefined();
    const left = await autoscaling.send(
      new DescribeLaunchConfigurationsCommand({ LaunchConfigurationNames: ['lc-in-use'] }),
    );
    expect(left.LaunchConfigurations).toEqual([]);
  });
});

describe('Auto Scaling instance refreshes', () => {
  it('moves a refresh Pending → InProgress → Successful on the sandbox clock and applies its desired configuration', async () => {
    // Prepare
    await autoscaling.send(new CreateAutoScalingGroupCommand(groupInput('asg-refresh')));

    // Act
    const started = await autoscaling.send(
      new StartInstanceRefreshCommand({
        AutoScalingGroupName: 'asg-refresh',
        Preferences: { MinHealthyPercentage: 50, InstanceWarmup: 60 },
        DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: templateId, Version: '1' } },
      }),
    );
    const statusNow = async () =>
      (await autoscaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: 'asg-refresh' })))
        .InstanceRefreshes?.[0];
    const pending = await statusNow();
    await advance(sandbox, 90);
    const inProgress = await statusNow();
    await advance(sandbox, 3600);
    const done = await statusNow();

    // Assess
    expect(started.InstanceRefreshId).toMatch(/^[0-9a-f-]{36}$/);
    expect(pending).toMatchObject({
      InstanceRefreshId: started.InstanceRefreshId,
      Status: 'Pending',
      PercentageComplete: 0,
    });
    expect(inProgress?.Status).toBe('InProgress');
    expect(inProgress?.PercentageComplete).toBeGreaterThan(0);
    expect(inProgress?.PercentageComplete).toBeLessThan(100);
    expect(done).toMatchObject({ Status: 'Successful', PercentageComplete: 100 });
    expect(done?.EndTime).toBeInstanceOf(Date);
    expect((await describeGroup('asg-refresh'))?.LaunchTemplate?.Version).toBe('1');
  });

  it('allows one active refresh per group', async () => {
    // Prepare
    await autoscaling.send(new CreateAutoScalingGroupCommand(groupInput('asg-one-refresh')));
    await autoscaling.send(new StartInstanceRefreshCommand({ AutoScalingGroupName: 'asg-one-refresh' }));

    // Act
    const second = await errorOf(
      autoscaling.send(new StartInstanceRefreshCommand({ AutoScalingGroupName: 'asg-one-refresh' })),
    );

    // Assess
    expect(second).toEqual({ name: 'InstanceRefreshInProgressFault', status: 400 });
  });
});
