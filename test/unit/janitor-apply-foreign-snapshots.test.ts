/**
 * The janitor's role tags a snapshot only when it is Bakehouse's already (`bakehouse:managed=true`,
 * stacks/janitor.ts): EC2 refuses the tag on any other with UnauthorizedOperation. Bakehouse's own
 * snapshots carry the tag from CreateImage and CopyImage; a snapshot under a managed image that
 * does not (an image tagged managed by hand, say) is left alone and reported, and does not block
 * retiring the image.
 */
import {
  CreateTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  type Image,
} from '@aws-sdk/client-ec2';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApplyDeps, applyPlan, TokenBucket } from '../../functions/janitor/apply';
import type { PlannedAction } from '../../functions/janitor/model';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const AMI = 'ami-00000000000000001';
const OURS = 'snap-00000000000000001';
const FOREIGN = 'snap-00000000000000002';

const deps = (): ApplyDeps => ({
  ec2: new EC2Client({ region: 'us-east-1' }),
  ssm: new SSMClient({ region: 'us-east-1' }),
  parameterPrefix: '/bakehouse',
  clock: () => new Date('2026-12-05T02:00:30Z'),
  bucket: new TokenBucket(),
  logger: { info: () => undefined, warn: () => undefined },
});

const image = (): Image => ({
  ImageId: AMI,
  State: 'disabled',
  DeregistrationProtection: 'disabled',
  BlockDeviceMappings: [
    { DeviceName: '/dev/xvda', Ebs: { SnapshotId: OURS } },
    { DeviceName: '/dev/xvdb', Ebs: { SnapshotId: FOREIGN } },
  ],
  Tags: [
    { Key: 'bakehouse:managed', Value: 'true' },
    { Key: 'bakehouse:family', Value: 'al2023-base' },
  ],
});

const deregister: PlannedAction = {
  kind: 'image',
  id: AMI,
  family: 'al2023-base',
  stage: 'deregister',
  reason: 'unused',
};

const refused = (): Error =>
  Object.assign(new Error('You are not authorized to perform this operation.'), { name: 'UnauthorizedOperation' });

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  ec2.on(DescribeImagesCommand).resolves({ Images: [image()] });
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [] });
  ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });
  ec2.on(DeregisterImageCommand).resolves({});
});
afterEach(() => {
  ec2.reset();
  ssm.reset();
});

describe('deregistering a managed image with a snapshot that is not managed', () => {
  beforeEach(() => {
    // Prepare: EC2 refuses the whole call when one snapshot is refused, and that one alone
    ec2.on(CreateTagsCommand).resolves({});
    ec2.on(CreateTagsCommand, { Resources: [OURS, FOREIGN] }).rejects(refused());
    ec2.on(CreateTagsCommand, { Resources: [FOREIGN] }).rejects(refused());
  });

  it('tags the managed snapshot, leaves the other untagged, and still deregisters the image', async () => {
    // Act
    const outcome = await applyPlan({ actions: [deregister] }, deps());

    // Assess
    const tagged = ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Resources);
    expect(tagged).toEqual([[OURS, FOREIGN], [OURS], [FOREIGN]]);
    expect(outcome.deregistered).toEqual([AMI]);
    expect(outcome.items).toEqual([
      { kind: 'image', id: AMI, family: 'al2023-base', action: 'deregistered', reason: 'unused' },
    ]);
  });

  it('keeps EC2 from deleting any snapshot with the image: the managed one is an orphan the next run deletes', async () => {
    // Act
    const outcome = await applyPlan({ actions: [deregister] }, deps());

    // Assess
    expect(ec2.commandCalls(DeregisterImageCommand)[0]?.args[0].input).toEqual({
      ImageId: AMI,
      DeleteAssociatedSnapshots: false,
    });
    expect(outcome.snapshotsDeleted).toEqual([]);
  });

  it('reports the snapshot it left alone', async () => {
    // Act
    const outcome = await applyPlan({ actions: [deregister] }, deps());

    // Assess
    expect(outcome.errors).toEqual([
      {
        resource: FOREIGN,
        error: `not tagged bakehouse:managed=true, so not Bakehouse's: left in place with ${AMI} deregistered (delete it by hand if it is yours)`,
      },
    ]);
  });
});

describe('a tagging failure that is not a refusal', () => {
  it('fails the item and deregisters nothing', async () => {
    // Prepare
    ec2.on(CreateTagsCommand).rejects(Object.assign(new Error('slow down'), { name: 'RequestLimitExceeded' }));

    // Act
    const outcome = await applyPlan({ actions: [deregister] }, deps());

    // Assess
    expect(ec2.commandCalls(DeregisterImageCommand)).toHaveLength(0);
    expect(outcome.items[0]?.action).toBe('failed');
  });
});
