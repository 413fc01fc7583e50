import {
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeTagsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableImage, errorOf, runningInstance } from '../../src/testing/ec2';
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

const snapshotOf = async (imageId: string): Promise<string> =>
  (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs
    ?.SnapshotId as string;

describe('EC2 snapshots', () => {
  it('refuses to delete a snapshot while a registered image uses it, then deletes it', async () => {
    // Prepare
    const imageId = await availableImage(sandbox, ec2, instanceId, 'in-use');
    const snapshotId = await snapshotOf(imageId);

    // Act
    const refused = await errorOf(ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })));
    await ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
    const gone = await errorOf(ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })));

    // Assess
    expect(refused).toEqual({ name: 'InvalidSnapshot.InUse', status: 400 });
    expect(gone).toEqual({ name: 'InvalidSnapshot.NotFound', status: 400 });
  });

  it('filters by description with wildcards and status, and pages with MaxResults', async () => {
    // Prepare
    const images: string[] = [];
    for (let index = 0; index < 6; index += 1)
      images.push(await availableImage(sandbox, ec2, instanceId, `snap-page-${index}`));

    // Act
    const seen: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await ec2.send(
        new DescribeSnapshotsCommand({
          OwnerIds: ['self'],
          Filters: [
            { Name: 'description', Values: [`Created by CreateImage(${instanceId}) for *`] },
            { Name: 'status', Values: ['completed'] },
          ],
          MaxResults: 5,
          NextToken: nextToken,
        }),
      );
      seen.push(...(page.Snapshots ?? []).map((snapshot) => snapshot.SnapshotId as string));
      nextToken = page.NextToken;
    } while (nextToken);

    // Assess
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(await Promise.all(images.map(snapshotOf))));
  });

  it('lists the seeded public snapshots of Amazon', async () => {
    // Act
    const amazon = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['amazon'] }));

    // Assess
    expect(amazon.Snapshots?.length).toBeGreaterThanOrEqual(5);
    expect(amazon.Snapshots?.every((snapshot) => snapshot.State === 'completed')).toBe(true);
  });

  it('answers AWS errors for malformed snapshot ids', async () => {
    // Act
    const malformed = await errorOf(ec2.send(new DeleteSnapshotCommand({ SnapshotId: 'snap-xyz' })));

    // Assess
    expect(malformed).toEqual({ name: 'InvalidSnapshotID.Malformed', status: 400 });
  });
});

describe('EC2 tags', () => {
  it('creates, describes and deletes tags on images, snapshots and instances', async () => {
    // Prepare
    const imageId = await availableImage(sandbox, ec2, instanceId, 'tagged');
    const snapshotId = await snapshotOf(imageId);

    // Act
    await ec2.send(
      new CreateTagsCommand({
        Resources: [imageId, snapshotId, instanceId],
        Tags: [
          { Key: 'stage', Value: 'candidate' },
          { Key: 'owner', Value: 'bakehouse' },
        ],
      }),
    );
    const described = await ec2.send(
      new DescribeTagsCommand({
        Filters: [
          { Name: 'key', Values: ['stage'] },
          { Name: 'resource-id', Values: [imageId, snapshotId, instanceId] },
        ],
      }),
    );
    const images = await ec2.send(
      new DescribeTagsCommand({
        Filters: [
          { Name: 'resource-type', Values: ['image'] },
          { Name: 'value', Values: ['cand*'] },
        ],
      }),
    );
    await ec2.send(
      new DeleteTagsCommand({ Resources: [imageId], Tags: [{ Key: 'stage', Value: 'other' }, { Key: 'owner' }] }),
    );
    const left = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [imageId] }] }));

    // Assess
    expect(described.Tags?.map((tag) => [tag.ResourceType, tag.ResourceId]).sort()).toEqual(
      [
        ['image', imageId],
        ['instance', instanceId],
        ['snapshot', snapshotId],
      ].sort(),
    );
    expect(images.Tags?.map((tag) => tag.ResourceId)).toContain(imageId);
    expect(left.Tags).toEqual([{ ResourceId: imageId, ResourceType: 'image', Key: 'stage', Value: 'candidate' }]);
  });

  it('refuses tags on malformed and unknown resources', async () => {
    // Act
    const malformed = await errorOf(
      ec2.send(new CreateTagsCommand({ Resources: ['bogus-123'], Tags: [{ Key: 'a', Value: 'b' }] })),
    );
    const unknown = await errorOf(
      ec2.send(new CreateTagsCommand({ Resources: ['ami-0123456789abcdef0'], Tags: [{ Key: 'a', Value: 'b' }] })),
    );
    const reserved = await errorOf(
      ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'aws:x', Value: 'b' }] })),
    );

    // Assess
    expect(malformed).toEqual({ name: 'InvalidID', status: 400 });
    expect(unknown).toEqual({ name: 'InvalidAMIID.NotFound', status: 400 });
    expect(reserved.name).toBe('InvalidParameterValue');
  });
});
