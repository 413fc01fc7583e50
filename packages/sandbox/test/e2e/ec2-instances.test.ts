import {
  CreateLaunchTemplateCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AL2023_ARM, AL2023_X86, advance, errorOf, runningInstance } from '../../src/testing/ec2';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let ec2: EC2Client;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  ec2 = new EC2Client(sandbox.clientConfig);
});
afterAll(async () => sandbox.stop());

const stateOf = async (instanceId: string) =>
  (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0]?.State
    ?.Name;

describe('EC2 instances', () => {
  it('moves pending → running → stopping → stopped → pending → running → shutting-down → terminated on the sandbox clock', async () => {
    // Prepare
    const launched = await ec2.send(
      new RunInstancesCommand({ ImageId: AL2023_X86, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
    );
    const instanceId = launched.Instances?.[0]?.InstanceId as string;
    const states: (string | undefined)[] = [launched.Instances?.[0]?.State?.Name];

    // Act
    await advance(sandbox, 31);
    states.push(await stateOf(instanceId));
    const stopping = await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    states.push(stopping.StoppingInstances?.[0]?.CurrentState?.Name);
    await advance(sandbox, 31);
    states.push(await stateOf(instanceId));
    const starting = await ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    states.push(starting.StartingInstances?.[0]?.CurrentState?.Name);
    await advance(sandbox, 31);
    states.push(await stateOf(instanceId));
    const terminating = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    states.push(terminating.TerminatingInstances?.[0]?.CurrentState?.Name);
    await advance(sandbox, 31);
    states.push(await stateOf(instanceId));
    await advance(sandbox, 3600);
    const gone = await errorOf(ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })));

    // Assess
    expect(states).toEqual([
      'pending',
      'running',
      'stopping',
      'stopped',
      'pending',
      'running',
      'shutting-down',
      'terminated',
    ]);
    expect(gone.name).toBe('InvalidInstanceID.NotFound');
  });

  it('creates root and extra volumes from the image and the request, tagged, deleted on termination', async () => {
    // Act
    const launched = await ec2.send(
      new RunInstancesCommand({
        ImageId: AL2023_X86,
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 'm7i.large',
        SubnetId: 'subnet-0123456789abcdef0',
        SecurityGroupIds: ['sg-0123456789abcdef0'],
        IamInstanceProfile: { Name: 'bakehouse-builder' },
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
        BlockDeviceMappings: [
          { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 20, VolumeType: 'gp3' } },
          { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 50, DeleteOnTermination: false } },
        ],
        TagSpecifications: [
          { ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'builder' }] },
          { ResourceType: 'volume', Tags: [{ Key: 'Name', Value: 'builder-disk' }] },
        ],
      }),
    );
    const instance = launched.Instances?.[0];
    const volumes = await ec2.send(
      new DescribeVolumesCommand({
        Filters: [{ Name: 'attachment.instance-id', Values: [instance?.InstanceId as string] }],
      }),
    );
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instance?.InstanceId as string] }));
    await advance(sandbox, 60);
    const remaining = await ec2.send(
      new DescribeVolumesCommand({
        VolumeIds: (volumes.Volumes ?? []).map((volume) => volume.VolumeId as string).slice(1),
      }),
    );

    // Assess
    expect(instance).toMatchObject({
      SubnetId: 'subnet-0123456789abcdef0',
      SecurityGroups: [{ GroupId: 'sg-0123456789abcdef0' }],
      IamInstanceProfile: { Arn: 'arn:aws:iam::000000000000:instance-profile/bakehouse-builder' },
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      Tags: [{ Key: 'Name', Value: 'builder' }],
      RootDeviceName: '/dev/xvda',
    });
    expect(volumes.Volumes?.map((volume) => [volume.Size, volume.SnapshotId, volume.Tags?.[0]?.Value])).toEqual([
      [20, 'snap-0b5eed00000000001', 'builder-disk'],
      [50, '', 'builder-disk'],
    ]);
    expect(remaining.Volumes?.map((volume) => volume.State)).toEqual(['available']);
  });

  it('returns the same reservation for a repeated ClientToken', async () => {
    // Prepare
    const request: RunInstancesCommandInput = {
      ImageId: AL2023_X86,
      MinCount: 2,
      MaxCount: 2,
      InstanceType: 't3.micro',
      ClientToken: 'bake-42',
    };

    // Act
    const first = await ec2.send(new RunInstancesCommand(request));
    const second = await ec2.send(new RunInstancesCommand(request));
    const mismatch = await errorOf(ec2.send(new RunInstancesCommand({ ...request, InstanceType: 't3.large' })));

    // Assess
    expect(second.ReservationId).toBe(first.ReservationId);
    expect(second.Instances?.map((i) => i.InstanceId)).toEqual(first.Instances?.map((i) => i.InstanceId));
    expect(first.Instances).toHaveLength(2);
    expect(mismatch.name).toBe('IdempotentParameterMismatch');
  });

  it('updates the image’s last launched time', async () => {
    // Act
    await ec2.send(
      new RunInstancesCommand({ ImageId: AL2023_ARM, MinCount: 1, MaxCount: 1, InstanceType: 't4g.small' }),
    );
    const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [AL2023_ARM] }))).Images?.[0];
    const clock = (await sandbox.control('GET', '/_sandbox/clock')).body as { now: string };

    // Assess
    expect(image?.LastLaunchedTime).toBe(clock.now);
  });

  it('filters by state, tag, tag-key and image-id and pages across reservations', async () => {
    // Prepare
    const tagged: string[] = [];
    for (let index = 0; index < 7; index += 1) {
      tagged.push(await runningInstance(sandbox, ec2, AL2023_X86, [{ Key: 'pool', Value: 'paging' }]));
    }
    await ec2.send(new StopInstancesCommand({ InstanceIds: [tagged[0] as string] }));

    // Act
    const seen: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: 'tag:pool', Values: ['paging'] },
            { Name: 'instance-state-name', Values: ['running'] },
            { Name: 'image-id', Values: [AL2023_X86] },
          ],
          MaxResults: 5,
          NextToken: nextToken,
        }),
      );
      seen.push(...(page.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId as string)));
      nextToken = page.NextToken;
    } while (nextToken);
    const byKey = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag-key', Values: ['pool'] }] }));

    // Assess
    expect(seen.sort()).toEqual(tagged.slice(1).sort());
    expect(byKey.Reservations?.flatMap((r) => r.Instances ?? [])).toHaveLength(7);
  });

  it('answers AWS errors for bad launches and ids', async () => {
    // Act
    const malformedImage = await errorOf(
      ec2.send(new RunInstancesCommand({ ImageId: 'ami-zzz', MinCount: 1, MaxCount: 1 })),
    );
    const unknownImage = await errorOf(
      ec2.send(new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 })),
    );
    const noCount = await errorOf(
      ec2.send(
        new RunInstancesCommand({ ImageId: AL2023_X86 } as unknown as {
          ImageId: string;
          MinCount: number;
          MaxCount: number;
        }),
      ),
    );
    const wrongArchitecture = await errorOf(
      ec2.send(new RunInstancesCommand({ ImageId: AL2023_ARM, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' })),
    );
    const malformedInstance = await errorOf(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-nope'] })));
    const unknownInstance = await errorOf(ec2.send(new StopInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })));

    // Assess
    expect(malformedImage).toEqual({ name: 'InvalidAMIID.Malformed', status: 400 });
    expect(unknownImage).toEqual({ name: 'InvalidAMIID.NotFound', status: 400 });
    expect(noCount).toEqual({ name: 'MissingParameter', status: 400 });
    expect(wrongArchitecture).toEqual({ name: 'InvalidParameterValue', status: 400 });
    expect(malformedInstance).toEqual({ name: 'InvalidInstanceID.Malformed', status: 400 });
    expect(unknownInstance).toEqual({ name: 'InvalidInstanceID.NotFound', status: 400 });
  });

  it('refuses to start a terminated instance', async () => {
    // Prepare
    const instanceId = await runningInstance(sandbox, ec2);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    await advance(sandbox, 60);

    // Act
    const error = await errorOf(ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] })));

    // Assess
    expect(error).toEqual({ name: 'IncorrectInstanceState', status: 400 });
  });
});

describe('EC2 instances from a launch template', () => {
  it("launches with the template version's image and type, and the request's own values over them", async () => {
    // Prepare
    const created = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'instances-from-template',
        LaunchTemplateData: { ImageId: AL2023_X86, InstanceType: 'c7i.large' },
      }),
    );
    const id = created.LaunchTemplate?.LaunchTemplateId as string;

    // Act
    const fromTemplate = await ec2.send(
      new RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateId: id } }),
    );
    const overridden = await ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        ImageId: AL2023_ARM,
        InstanceType: 'm7g.large',
        LaunchTemplate: { LaunchTemplateName: 'instances-from-template', Version: '$Latest' },
      }),
    );

    // Assess
    expect(fromTemplate.Instances?.[0]).toMatchObject({ ImageId: AL2023_X86, InstanceType: 'c7i.large' });
    expect(overridden.Instances?.[0]).toMatchObject({ ImageId: AL2023_ARM, InstanceType: 'm7g.large' });
  });

  it('refuses an unknown template or version as EC2 does, launching nothing', async () => {
    // Prepare
    const before = (await ec2.send(new DescribeInstancesCommand({}))).Reservations?.length ?? 0;
    const launch = (template: RunInstancesCommandInput['LaunchTemplate']) =>
      errorOf(
        ec2.send(new RunInstancesCommand({ ImageId: AL2023_X86, MinCount: 1, MaxCount: 1, LaunchTemplate: template })),
      );

    // Act
    const byName = await launch({ LaunchTemplateName: 'no-such-template' });
    const byId = await launch({ LaunchTemplateId: 'lt-0123456789abcdef0' });
    const version = await launch({ LaunchTemplateName: 'instances-from-template', Version: '9' });

    // Assess
    expect(byName.name).toBe('InvalidLaunchTemplateName.NotFoundException');
    expect(byId.name).toBe('InvalidLaunchTemplateId.NotFound');
    expect(version.name).toBe('InvalidLaunchTemplateId.VersionNotFound');
    expect((await ec2.send(new DescribeInstancesCommand({}))).Reservations?.length ?? 0).toBe(before);
  });
});
