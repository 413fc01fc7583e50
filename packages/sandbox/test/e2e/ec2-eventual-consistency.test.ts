/**
 * EC2's eventual consistency after creates (`eventualConsistency: { hideSeconds }`): new instances
 * and images are unknown to Describe by id, absent from Describe with filters, and refused by
 * TerminateInstances and CreateTags, for that long on the sandbox clock; off by default.
 */
import {
  CopyImageCommand,
  CreateImageCommand,
  CreateTagsCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  ModifyImageAttributeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AL2023_X86, advance, runningInstance } from '../../src/testing/ec2';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const HIDE_SECONDS = 30;
const ABSENT_IMAGE = 'ami-0123456789abcdef0';
const RUN_TAG = { Key: 'suite', Value: 'eventual-consistency' };

let sandbox: TestSandbox;
let ec2: EC2Client;
let plain: TestSandbox;
let plainEc2: EC2Client;

beforeAll(async () => {
  // speed 0: the sandbox clock moves only when a test moves it.
  sandbox = await startTestSandbox({ eventualConsistency: { hideSeconds: HIDE_SECONDS } });
  ec2 = new EC2Client(sandbox.clientConfig);
  plain = await startTestSandbox();
  plainEc2 = new EC2Client(plain.clientConfig);
});
afterAll(async () => {
  ec2?.destroy();
  plainEc2?.destroy();
  await sandbox?.stop();
  await plain?.stop();
});

/** The AWS error (code and message) a call failed with. */
const rejection = async (call: Promise<unknown>): Promise<{ name: string; message: string }> => {
  try {
    await call;
  } catch (error) {
    const { name, message } = error as Error;
    return { name, message };
  }
  throw new Error('expected the call to fail');
};

const launch = async (client: EC2Client): Promise<string> => {
  const reservation = await client.send(
    new RunInstancesCommand({
      ImageId: AL2023_X86,
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 't3.micro',
      TagSpecifications: [{ ResourceType: 'instance', Tags: [RUN_TAG] }],
    }),
  );
  return reservation.Instances?.[0]?.InstanceId as string;
};

const idsByTag = async (client: EC2Client): Promise<string[]> => {
  const { Reservations = [] } = await client.send(
    new DescribeInstancesCommand({ Filters: [{ Name: `tag:${RUN_TAG.Key}`, Values: [RUN_TAG.Value] }] }),
  );
  return Reservations.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId ?? '');
};

describe('eventual consistency after RunInstances', () => {
  it('answers InvalidInstanceID.NotFound in AWS wording for a new instance named by id, then shows it once the window passes', async () => {
    // Prepare
    const instanceId = await launch(ec2);

    // Act
    const early = await rejection(ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })));
    await advance(sandbox, HIDE_SECONDS);
    const later = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));

    // Assess
    expect(early).toEqual({
      name: 'InvalidInstanceID.NotFound',
      message: `The instance ID '${instanceId}' does not exist`,
    });
    expect(later.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(instanceId);
    expect(sandbox.sandbox.hiddenByConsistency()).toContainEqual(
      expect.objectContaining({ action: 'DescribeInstances', ids: [instanceId], answer: 'InvalidInstanceID.NotFound' }),
    );
  });

  it('names every id it does not know, hidden or absent, in one plural message', async () => {
    // Prepare
    const instanceId = await launch(ec2);
    const absent = 'i-0123456789abcdef0';

    // Act
    const error = await rejection(ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId, absent] })));

    // Assess
    expect(error).toEqual({
      name: 'InvalidInstanceID.NotFound',
      message: `The instance IDs '${instanceId}, ${absent}' do not exist`,
    });
    await advance(sandbox, HIDE_SECONDS);
  });

  it('leaves a new instance out of a Describe with filters only, and lists it after the window', async () => {
    // Prepare
    const before = await idsByTag(ec2);
    const instanceId = await launch(ec2);

    // Act
    const during = await idsByTag(ec2);
    await advance(sandbox, HIDE_SECONDS);
    const after = await idsByTag(ec2);

    // Assess
    expect(during).toEqual(before);
    expect(after).toEqual([...before, instanceId]);
  });

  it('refuses TerminateInstances and CreateTags on a new instance with NotFound, and the instance keeps running', async () => {
    // Prepare
    const instanceId = await launch(ec2);

    // Act
    const terminate = await rejection(ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })));
    const tag = await rejection(
      ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'k', Value: 'v' }] })),
    );
    await advance(sandbox, HIDE_SECONDS + 60);
    const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));

    // Assess
    expect(terminate.name).toBe('InvalidInstanceID.NotFound');
    expect(tag).toEqual({
      name: 'InvalidInstanceID.NotFound',
      message: `The instance ID '${instanceId}' does not exist`,
    });
    expect(Reservations[0]?.Instances?.[0]?.State?.Name).toBe('running');
    expect(Reservations[0]?.Instances?.[0]?.Tags ?? []).not.toContainEqual({ Key: 'k', Value: 'v' });
  });
});

describe('eventual consistency after CreateImage and CopyImage', () => {
  it('answers InvalidAMIID.NotFound for a new image by id, leaves it out by filter, and shows it after the window', async () => {
    // Prepare
    const instanceId = await runningInstance(sandbox, ec2);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    await advance(sandbox, 60);

    // Act
    const { ImageId: imageId = '' } = await ec2.send(
      new CreateImageCommand({ InstanceId: instanceId, Name: 'consistency-create' }),
    );
    const byId = await rejection(ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })));
    const byName = await ec2.send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['consistency-create'] }] }),
    );
    await advance(sandbox, HIDE_SECONDS);
    const later = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));

    // Assess
    expect(byId).toEqual({ name: 'InvalidAMIID.NotFound', message: `The image id '[${imageId}]' does not exist` });
    expect(byName.Images).toEqual([]);
    expect(later.Images?.map((image) => image.ImageId)).toEqual([imageId]);
  });

  it('hides a copy as it hides a new image (Describe, CreateTags, image attributes), with the plural wording for several ids', async () => {
    // Prepare
    const instanceId = await runningInstance(sandbox, ec2);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    await advance(sandbox, 60);
    const { ImageId: sourceId = '' } = await ec2.send(
      new CreateImageCommand({ InstanceId: instanceId, Name: 'consistency-source' }),
    );
    await advance(sandbox, 600);

    // Act
    const { ImageId: copyId = '' } = await ec2.send(
      new CopyImageCommand({ SourceImageId: sourceId, SourceRegion: 'us-east-1', Name: 'consistency-copy' }),
    );
    const both = await rejection(ec2.send(new DescribeImagesCommand({ ImageIds: [sourceId, copyId] })));
    const withAbsent = await rejection(ec2.send(new DescribeImagesCommand({ ImageIds: [copyId, ABSENT_IMAGE] })));
    const tag = await rejection(
      ec2.send(new CreateTagsCommand({ Resources: [copyId], Tags: [{ Key: 'k', Value: 'v' }] })),
    );
    const attribute = await rejection(
      ec2.send(new DescribeImageAttributeCommand({ ImageId: copyId, Attribute: 'launchPermission' })),
    );
    const share = await rejection(
      ec2.send(
        new ModifyImageAttributeCommand({ ImageId: copyId, LaunchPermission: { Add: [{ UserId: '111122223333' }] } }),
      ),
    );
    await advance(sandbox, HIDE_SECONDS);
    const later = await ec2.send(new DescribeImagesCommand({ ImageIds: [sourceId, copyId] }));
    const sharedLater = await ec2.send(
      new ModifyImageAttributeCommand({ ImageId: copyId, LaunchPermission: { Add: [{ UserId: '111122223333' }] } }),
    );

    // Assess: the source, long propagated, is known; only the copy is not.
    expect(both).toEqual({ name: 'InvalidAMIID.NotFound', message: `The image id '[${copyId}]' does not exist` });
    expect(withAbsent).toEqual({
      name: 'InvalidAMIID.NotFound',
      message: `The image ids '[${copyId}, ${ABSENT_IMAGE}]' do not exist`,
    });
    expect(tag.name).toBe('InvalidAMIID.NotFound');
    expect(attribute).toEqual({ name: 'InvalidAMIID.NotFound', message: `The image id '[${copyId}]' does not exist` });
    expect(share.name).toBe('InvalidAMIID.NotFound');
    expect(sharedLater.$metadata.httpStatusCode).toBe(200);
    expect(later.Images?.map((image) => image.ImageId).sort()).toEqual([sourceId, copyId].sort());
  });
});

describe('eventual consistency is off by default', () => {
  it('shows a new instance and image at once to Describe by id and by filter', async () => {
    // Prepare
    const instanceId = await launch(plainEc2);

    // Act
    const byId = await plainEc2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const byTag = await idsByTag(plainEc2);

    // Assess
    expect(byId.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(instanceId);
    expect(byTag).toContain(instanceId);
    expect(plain.sandbox.hiddenByConsistency()).toEqual([]);
  });
});

describe('the option is checked at start', () => {
  it('refuses a negative window', async () => {
    // Act
    const error = await rejection(startTestSandbox({ eventualConsistency: { hideSeconds: -1 } }));

    // Assess
    expect(error.message).toMatch(/hideSeconds must be a number of 0 or more/);
  });
});
