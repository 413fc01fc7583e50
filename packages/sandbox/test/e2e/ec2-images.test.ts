import { rmSync } from 'node:fs';
import {
  CopyImageCommand,
  CreateImageCommand,
  DeregisterImageCommand,
  DescribeImageAttributeCommand,
  DescribeImageReferencesCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DisableImageCommand,
  DisableImageDeprecationCommand,
  DisableImageDeregistrationProtectionCommand,
  EC2Client,
  EnableImageCommand,
  EnableImageDeprecationCommand,
  EnableImageDeregistrationProtectionCommand,
  ModifyImageAttributeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AL2023_X86, advance, availableImage, errorOf, runningInstance } from '../../src/testing/ec2';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let ec2: EC2Client;
let instanceId: string;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  ec2 = new EC2Client(sandbox.clientConfig);
  instanceId = await runningInstance(sandbox, ec2);
});
afterAll(async () => sandbox.stop());

const describeOne = async (imageId: string) =>
  (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];

describe('EC2 image lifecycle', () => {
  it('images a stopped instance: pending, then available, found by owner, tag and name; deregistered with its snapshots', async () => {
    // Prepare
    const source = await runningInstance(sandbox, ec2);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [source] }));
    await advance(sandbox, 60);

    // Act
    const created = await ec2.send(
      new CreateImageCommand({
        InstanceId: source,
        Name: 'bakehouse-web-2026-11-22',
        Description: 'web tier',
        TagSpecifications: [
          { ResourceType: 'image', Tags: [{ Key: 'bakehouse:family', Value: 'web' }] },
          { ResourceType: 'snapshot', Tags: [{ Key: 'bakehouse:family', Value: 'web' }] },
        ],
      }),
    );
    const imageId = created.ImageId as string;
    const pending = await describeOne(imageId);
    await advance(sandbox, 600);
    const found = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: [
          { Name: 'tag:bakehouse:family', Values: ['web'] },
          { Name: 'name', Values: ['bakehouse-web-2026-??-*'] },
        ],
      }),
    );
    const snapshotIds = (found.Images?.[0]?.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId as string);
    const snapshots = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds }));
    const deregistered = await ec2.send(
      new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }),
    );
    const afterwards = await ec2.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [{ Name: 'tag:bakehouse:family', Values: ['web'] }],
      }),
    );

    // Assess
    expect(imageId).toMatch(/^ami-[0-9a-f]{17}$/);
    expect(pending?.State).toBe('pending');
    expect(found.Images?.map((image) => image.ImageId)).toEqual([imageId]);
    expect(found.Images?.[0]).toMatchObject({
      State: 'available',
      Description: 'web tier',
      SourceInstanceId: source,
      DeregistrationProtection: 'disabled',
      RootDeviceName: '/dev/xvda',
      Tags: [{ Key: 'bakehouse:family', Value: 'web' }],
    });
    expect(snapshots.Snapshots?.[0]).toMatchObject({
      State: 'completed',
      Description: expect.stringMatching(
        new RegExp(`^Created by CreateImage\\(${source}\\) for ${imageId} from vol-[0-9a-f]{17}$`),
      ),
      Tags: [{ Key: 'bakehouse:family', Value: 'web' }],
    });
    expect(deregistered.DeleteSnapshotResults).toEqual([{ SnapshotId: snapshotIds[0], ReturnCode: 'success' }]);
    expect(afterwards.Snapshots).toEqual([]);
    expect(await errorOf(ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })))).toEqual({
      name: 'InvalidAMIID.NotFound',
      status: 400,
    });
  });

  it('refuses a second image with the same name', async () => {
    // Prepare
    await availableImage(sandbox, ec2, instanceId, 'duplicate-name');

    // Act
    const error = await errorOf(ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'duplicate-name' })));

    // Assess
    expect(error).toEqual({ name: 'InvalidAMIName.Duplicate', status: 400 });
  });

  it('copies an image with its tags into a new pending image with new snapshots', async () => {
    // Prepare
    const source = await availableImage(sandbox, ec2, instanceId, 'copy-source', [{ Key: 'team', Value: 'bake' }]);

    // Act
    const copy = await ec2.send(
      new CopyImageCommand({
        SourceImageId: source,
        SourceRegion: 'us-east-1',
        Name: 'copy-target',
        Encrypted: true,
        CopyImageTags: true,
      }),
    );
    const described = await describeOne(copy.ImageId as string);

    // Assess
    expect(described).toMatchObject({
      State: 'pending',
      SourceImageId: source,
      Tags: [{ Key: 'team', Value: 'bake' }],
      BlockDeviceMappings: [{ Ebs: { Encrypted: true } }],
    });
    expect(described?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId).not.toBe(
      (await describeOne(source))?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId,
    );
  });
});

describe('DescribeImages', () => {
  it('pages through every image exactly once with MaxResults 5', async () => {
    // Prepare
    const created: string[] = [];
    for (let index = 0; index < 25; index += 1) {
      const image = await ec2.send(
        new CreateImageCommand({
          InstanceId: instanceId,
          Name: `paged-${index}`,
          TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'batch', Value: 'paged' }] }],
        }),
      );
      created.push(image.ImageId as string);
    }

    // Act
    const seen: string[] = [];
    const pageSizes: number[] = [];
    let nextToken: string | undefined;
    do {
      const page = await ec2.send(
        new DescribeImagesCommand({
          Owners: ['self'],
          Filters: [{ Name: 'tag:batch', Values: ['paged'] }],
          MaxResults: 5,
          NextToken: nextToken,
        }),
      );
      pageSizes.push(page.Images?.length ?? 0);
      seen.push(...(page.Images ?? []).map((image) => image.ImageId as string));
      nextToken = page.NextToken;
    } while (nextToken);

    // Assess
    expect(pageSizes).toEqual([5, 5, 5, 5, 5]);
    expect(seen.sort()).toEqual([...created].sort());
  });

  it('filters the seeded public images by owner alias, platform, architecture and is-public', async () => {
    // Act
    const windows = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['amazon'],
        Filters: [
          { Name: 'platform', Values: ['windows'] },
          { Name: 'name', Values: ['Windows_Server-2022-English-Full-Base-*'] },
        ],
      }),
    );
    const arm = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['amazon'],
        Filters: [
          { Name: 'architecture', Values: ['arm64'] },
          { Name: 'is-public', Values: ['true'] },
        ],
      }),
    );

    // Assess
    expect(windows.Images?.map((image) => image.Name)).toEqual(['Windows_Server-2022-English-Full-Base-2026.11.12']);
    expect(windows.Images?.[0]).toMatchObject({
      ImageOwnerAlias: 'amazon',
      Platform: 'windows',
      RootDeviceName: '/dev/sda1',
    });
    expect(arm.Images?.map((image) => image.Name)).toEqual(['al2023-ami-2023.9.20261101.0-kernel-6.1-arm64']);
  });

  it('hides deprecated public images unless IncludeDeprecated or named by id', async () => {
    // Prepare
    const filter = [{ Name: 'name', Values: ['al2023-ami-2023.*-x86_64'] }];

    // Act
    const byDefault = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: filter }));
    const included = await ec2.send(
      new DescribeImagesCommand({ Owners: ['amazon'], Filters: filter, IncludeDeprecated: true }),
    );
    const byId = await describeOne('ami-0b5eed00000000006');

    // Assess
    expect(byDefault.Images?.map((image) => image.ImageId)).toEqual([AL2023_X86]);
    expect(included.Images?.map((image) => image.ImageId).sort()).toEqual([AL2023_X86, 'ami-0b5eed00000000006']);
    expect(byId?.DeprecationTime).toBe('2025-07-05T20:11:00.000Z');
  });

  it('sets and clears a deprecation time on an owned image', async () => {
    // Prepare
    const imageId = await availableImage(sandbox, ec2, instanceId, 'to-deprecate');
    const now = Date.parse(((await sandbox.control('GET', '/_sandbox/clock')).body as { now: string }).now);

    // Act
    await ec2.send(new EnableImageDeprecationCommand({ ImageId: imageId, DeprecateAt: new Date(now + 3_600_000) }));
    const deprecated = await describeOne(imageId);
    await ec2.send(new DisableImageDeprecationCommand({ ImageId: imageId }));
    const restored = await describeOne(imageId);

    // Assess
    expect(deprecated?.DeprecationTime).toBe(
      new Date(Math.round((now + 3_600_000) / 60_000) * 60_000).toISOString().replace('.000Z', 'Z'),
    );
    expect(restored?.DeprecationTime).toBeUndefined();
  });

  it('answers AWS error codes for malformed and unknown ids, bad MaxResults and ids with MaxResults', async () => {
    // Act
    const malformed = await errorOf(ec2.send(new DescribeImagesCommand({ ImageIds: ['ami-zzz'] })));
    const unknown = await errorOf(ec2.send(new DescribeImagesCommand({ ImageIds: ['ami-0123456789abcdef0'] })));
    const tooSmall = await errorOf(ec2.send(new DescribeImagesCommand({ MaxResults: 2 })));
    const combined = await errorOf(ec2.send(new DescribeImagesCommand({ ImageIds: [AL2023_X86], MaxResults: 5 })));
    const badFilter = await errorOf(
      ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'colour', Values: ['blue'] }] })),
    );
    const badOwner = await errorOf(ec2.send(new DescribeImagesCommand({ Owners: ['someone'] })));

    // Assess
    expect(malformed).toEqual({ name: 'InvalidAMIID.Malformed', status: 400 });
    expect(unknown).toEqual({ name: 'InvalidAMIID.NotFound', status: 400 });
    expect(tooSmall).toEqual({ name: 'InvalidParameterValue', status: 400 });
    expect(combined).toEqual({ name: 'InvalidParameterCombination', status: 400 });
    expect(badFilter).toEqual({ name: 'InvalidParameterValue', status: 400 });
    expect(badOwner).toEqual({ name: 'InvalidUserID.Malformed', status: 400 });
  });

  it('answers MissingParameter and an unknown action as AWS does', async () => {
    // Act
    const missing = await errorOf(
      ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: undefined as unknown as string })),
    );
    const response = await fetch(sandbox.sandbox.url, {
      method: 'POST',
      headers: {
        authorization:
          'AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'Action=FlyToTheMoon&Version=2016-11-15',
    });

    // Assess
    expect(missing).toEqual({ name: 'MissingParameter', status: 400 });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('<Code>InvalidAction</Code>');
  });
});

describe('image states and protections', () => {
  it('refuses launches from a disabled image and hides it unless IncludeDisabled', async () => {
    // Prepare
    const imageId = await availableImage(sandbox, ec2, instanceId, 'to-disable');

    // Act
    await ec2.send(new DisableImageCommand({ ImageId: imageId }));
    const launch = await errorOf(
      ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' })),
    );
    const hidden = await ec2.send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'image-id', Values: [imageId] }] }),
    );
    const shown = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        IncludeDisabled: true,
        Filters: [{ Name: 'image-id', Values: [imageId] }],
      }),
    );
    await ec2.send(new EnableImageCommand({ ImageId: imageId }));
    const enabled = await describeOne(imageId);

    // Assess
    expect(launch).toEqual({ name: 'InvalidAMIID.Unavailable', status: 400 });
    expect(hidden.Images).toEqual([]);
    expect(shown.Images?.[0]?.State).toBe('disabled');
    expect(enabled?.State).toBe('available');
  });

  it('refuses to deregister a protected image until protection is disabled', async () => {
    // Prepare
    const imageId = await availableImage(sandbox, ec2, instanceId, 'protected');
    await ec2.send(new EnableImageDeregistrationProtectionCommand({ ImageId: imageId }));

    // Act
    const described = await describeOne(imageId);
    const refused = await errorOf(ec2.send(new DeregisterImageCommand({ ImageId: imageId })));
    await ec2.send(new DisableImageDeregistrationProtectionCommand({ ImageId: imageId }));
    const deregistered = await ec2.send(new DeregisterImageCommand({ ImageId: imageId }));

    // Assess
    expect(described?.DeregistrationProtection).toBe('enabled-without-cooldown');
    expect(refused).toEqual({ name: 'OperationNotPermitted', status: 400 });
    expect(deregistered.Return).toBe(true);
  });

  it('keeps protecting for 24 hours after disabling protection enabled with cooldown', async () => {
    // Prepare
    const imageId = await availableImage(sandbox, ec2, instanceId, 'protected-cooldown');
    await ec2.send(new EnableImageDeregistrationProtectionCommand({ ImageId: imageId, WithCooldown: true }));
    await ec2.send(new DisableImageDeregistrationProtectionCommand({ ImageId: imageId }));

    // Act
    const during = await errorOf(ec2.send(new DeregisterImageCommand({ ImageId: imageId })));
    await advance(sandbox, 24 * 3600 + 1);
    const after = await errorOf(ec2.send(new DeregisterImageCommand({ ImageId: imageId })));

    // Assess
    expect(during.name).toBe('OperationNotPermitted');
    expect(after.name).toBe('no error');
  });

  it('adds and removes launch permissions and reports them', async () => {
    // Prepare
    const imageId = await availableImage(sandbox, ec2, instanceId, 'shared');

    // Act
    await ec2.send(
      new ModifyImageAttributeCommand({
        ImageId: imageId,
        LaunchPermission: { Add: [{ UserId: '111122223333' }, { Group: 'all' }] },
      }),
    );
    const shared = await ec2.send(
      new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }),
    );
    const publicImage = await describeOne(imageId);
    await ec2.send(
      new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Remove: [{ Group: 'all' }] } }),
    );
    const executable = await ec2.send(
      new DescribeImagesCommand({ ExecutableUsers: ['111122223333'], Owners: ['self'] }),
    );
    const bad = await errorOf(
      ec2.send(new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Add: [{ UserId: 'bob' }] } })),
    );

    // Assess
    expect(shared.LaunchPermissions).toEqual([{ Group: 'all' }, { UserId: '111122223333' }]);
    expect(publicImage?.Public).toBe(true);
    expect(executable.Images?.map((image) => image.ImageId)).toContain(imageId);
    expect((await describeOne(imageId))?.Public).toBe(false);
    expect(bad.name).toBe('InvalidAMIAttributeItemValue');
  });

  it('records the last launch time on the image RunInstances used', async () => {
    // Prepare
    const imageId = await availableImage(sandbox, ec2, instanceId, 'launched');
    const before = await ec2.send(
      new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'lastLaunchedTime' }),
    );

    // Act
    await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }));
    const after = await ec2.send(
      new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'lastLaunchedTime' }),
    );
    const clock = (await sandbox.control('GET', '/_sandbox/clock')).body as { now: string };

    // Assess
    expect(before.LastLaunchedTime?.Value).toBeUndefined();
    expect(after.LastLaunchedTime?.Value).toBe(clock.now);
    expect((await describeOne(imageId))?.LastLaunchedTime).toBe(clock.now);
  });

  it('lists the instances that reference an image', async () => {
    // Prepare
    const imageId = await availableImage(sandbox, ec2, instanceId, 'referenced');
    const launched = await ec2.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
    );

    // Act
    const references = await ec2.send(new DescribeImageReferencesCommand({ ImageIds: [imageId] }));

    // Assess
    expect(references.ImageReferences).toEqual([
      {
        ImageId: imageId,
        ResourceType: 'ec2:Instance',
        Arn: `arn:aws:ec2:us-east-1:000000000000:instance/${launched.Instances?.[0]?.InstanceId}`,
      },
    ]);
  });
});

describe('images across a restart', () => {
  it('keeps a pending image and makes it available after the restart', async () => {
    // Prepare
    const first = await startTestSandbox();
    const firstEc2 = new EC2Client(first.clientConfig);
    const source = await runningInstance(first, firstEc2);
    const created = await firstEc2.send(new CreateImageCommand({ InstanceId: source, Name: 'survives-restart' }));
    await first.sandbox.close();
    const second = await startTestSandbox({ stateDir: first.stateDir });
    const secondEc2 = new EC2Client(second.clientConfig);

    // Act
    const pending = (await secondEc2.send(new DescribeImagesCommand({ ImageIds: [created.ImageId as string] })))
      .Images?.[0];
    await advance(second, 600);
    const available = (await secondEc2.send(new DescribeImagesCommand({ ImageIds: [created.ImageId as string] })))
      .Images?.[0];
    await second.stop();
    rmSync(first.stateDir, { recursive: true, force: true });

    // Assess
    expect(pending?.State).toBe('pending');
    expect(available?.State).toBe('available');
  });
});
