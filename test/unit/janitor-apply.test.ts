import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DisableImageCommand,
  DisableImageDeprecationCommand,
  EC2Client,
  EnableImageCommand,
  EnableImageDeprecationCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DeleteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ApplyDeps, applyPlan, NOT_STARTED, TokenBucket } from '../../functions/janitor/apply';
import type { PlannedAction } from '../../functions/janitor/model';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const NOW = new Date('2026-11-29T02:00:30Z');
const AMI = 'ami-00000000000000001';

const deps = (bucket = new TokenBucket()): ApplyDeps => ({
  ec2: new EC2Client({ region: 'us-east-1' }),
  ssm: new SSMClient({ region: 'us-east-1' }),
  parameterPrefix: '/bakehouse',
  clock: () => NOW,
  bucket,
  logger: { info: () => undefined, warn: () => undefined },
});

const image = (overrides: Partial<Image> = {}): Image => ({
  ImageId: AMI,
  State: 'available',
  DeregistrationProtection: 'disabled',
  BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-00000000000000001' } }],
  Tags: [
    { Key: 'bakehouse:managed', Value: 'true' },
    { Key: 'bakehouse:family', Value: 'al2023-base' },
    { Key: 'bakehouse:janitor-stage', Value: 'marked' },
  ],
  ...overrides,
});

const action = (stage: PlannedAction['stage'], id = AMI, kind: PlannedAction['kind'] = 'image'): PlannedAction => ({
  kind,
  id,
  family: 'al2023-base',
  stage,
  reason: 'unused',
});

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  ec2.on(DescribeImagesCommand).resolves({ Images: [image()] });
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [] });
  ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });
  ec2.on(DeregisterImageCommand).resolves({
    DeleteSnapshotResults: [{ SnapshotId: 'snap-00000000000000001', ReturnCode: 'success' }],
  });
});
afterEach(() => {
  ec2.reset();
  ssm.reset();
});

describe('stages', () => {
  it('marks with the stage and the time it began', async () => {
    // Act
    const outcome = await applyPlan({ actions: [action('mark')] }, deps());
    // Assess
    expect(ec2.commandCalls(CreateTagsCommand)[0]?.args[0].input).toEqual({
      Resources: [AMI],
      Tags: [
        { Key: 'bakehouse:janitor-stage', Value: 'marked' },
        { Key: 'bakehouse:janitor-since', Value: NOW.toISOString() },
      ],
    });
    expect(outcome.items).toEqual([
      { kind: 'image', id: AMI, family: 'al2023-base', action: 'marked', reason: 'unused' },
    ]);
  });

  it('deprecates an unused image at a whole minute at least a minute ahead (EC2 takes only future times)', async () => {
    // Act
    await applyPlan({ actions: [action('deprecate')] }, deps());
    // Assess: 02:00:30 → 02:02:00; 02:01:00 would be 30 s ahead, within the error of a clock learned from EC2
    expect(ec2.commandCalls(EnableImageDeprecationCommand)[0]?.args[0].input).toEqual({
      ImageId: AMI,
      DeprecateAt: new Date('2026-11-29T02:02:00Z'),
    });
    expect(ec2.commandCalls(CreateTagsCommand)[0]?.args[0].input.Tags?.[0]).toEqual({
      Key: 'bakehouse:janitor-stage',
      Value: 'deprecated',
    });
  });

  it('disables an unused image', async () => {
    // Act
    const outcome = await applyPlan({ actions: [action('disable')] }, deps());
    // Assess
    expect(ec2.commandCalls(DisableImageCommand)).toHaveLength(1);
    expect(outcome.items[0]?.action).toBe('disabled');
  });

  it('tags the snapshots managed, then deregisters with them and reports what went', async () => {
    // Act
    const outcome = await applyPlan({ actions: [action('deregister')] }, deps());
    // Assess
    expect(ec2.commandCalls(CreateTagsCommand)[0]?.args[0].input).toEqual({
      Resources: ['snap-00000000000000001'],
      Tags: [
        { Key: 'bakehouse:managed', Value: 'true' },
        { Key: 'bakehouse:family', Value: 'al2023-base' },
      ],
    });
    expect(ec2.commandCalls(DeregisterImageCommand)[0]?.args[0].input).toEqual({
      ImageId: AMI,
      DeleteAssociatedSnapshots: true,
    });
    expect(outcome.deregistered).toEqual([AMI]);
    expect(outcome.snapshotsDeleted).toEqual(['snap-00000000000000001']);
  });

  it("deletes a deregistered image's inventory from the state table, and only after the image is gone", async () => {
    // Prepare
    const table = mockClient(DynamoDBDocumentClient);
    table.on(DeleteCommand).resolves({});
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    // Act
    const outcome = await applyPlan(
      { actions: [action('deregister'), action('mark', 'ami-00000000000000002')] },
      { ...deps(), inventories: { client, tableName: 'state' } },
    );
    // Assess: the deregistered image's item only, never the marked one's
    expect(table.commandCalls(DeleteCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: 'state', Key: { pk: `image#${AMI}#inventory` } },
    ]);
    expect(outcome.deregistered).toEqual([AMI]);
    table.restore();
  });

  it('keeps a deregistration whose inventory item could not be deleted: a warning, not an error', async () => {
    // Prepare
    const table = mockClient(DynamoDBDocumentClient);
    table.on(DeleteCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    const warnings: unknown[] = [];
    // Act
    const outcome = await applyPlan(
      { actions: [action('deregister')] },
      {
        ...deps(),
        inventories: { client, tableName: 'state' },
        logger: { info: () => undefined, warn: (...args: unknown[]) => warnings.push(args) },
      },
    );
    // Assess
    expect(outcome.deregistered).toEqual([AMI]);
    expect(outcome.errors).toEqual([]);
    expect(JSON.stringify(warnings)).toContain(`image#${AMI}#inventory`);
    table.restore();
  });

  it('deletes no inventory when EC2 refuses the deregistration', async () => {
    // Prepare
    const table = mockClient(DynamoDBDocumentClient);
    ec2.on(DeregisterImageCommand).rejects(Object.assign(new Error('protected'), { name: 'InvalidParameterValue' }));
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    // Act
    await applyPlan({ actions: [action('deregister')] }, { ...deps(), inventories: { client, tableName: 'state' } });
    // Assess
    expect(table.commandCalls(DeleteCommand)).toHaveLength(0);
    table.restore();
  });

  it('reports a snapshot EC2 could not delete with the image as an error', async () => {
    // Prepare
    ec2.on(DeregisterImageCommand).resolves({
      DeleteSnapshotResults: [{ SnapshotId: 'snap-00000000000000001', ReturnCode: 'client-error' }],
    });
    // Act
    const outcome = await applyPlan({ actions: [action('deregister')] }, deps());
    // Assess
    expect(outcome.snapshotsDeleted).toEqual([]);
    expect(outcome.errors).toEqual([
      { resource: 'snap-00000000000000001', error: `not deleted with ${AMI}: client-error` },
    ]);
  });

  it('unmarks: enables, clears the deprecation and removes the janitor tags', async () => {
    // Prepare
    ec2.on(DescribeImagesCommand).resolves({ Images: [image({ State: 'disabled', DeprecationTime: '2026-11-20' })] });
    // Act
    await applyPlan({ actions: [action('unmark')] }, deps());
    // Assess
    expect(ec2.commandCalls(EnableImageCommand)).toHaveLength(1);
    expect(ec2.commandCalls(DisableImageDeprecationCommand)).toHaveLength(1);
    expect(ec2.commandCalls(DeleteTagsCommand)[0]?.args[0].input).toEqual({
      Resources: [AMI],
      Tags: [{ Key: 'bakehouse:janitor-stage' }, { Key: 'bakehouse:janitor-since' }],
    });
  });
});

describe('the re-check before each destructive step', () => {
  it.each([
    [
      'an instance',
      () => ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-1' }] }] }),
      'instance',
    ],
    [
      'a launch template',
      () => ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [{ VersionNumber: 4 }] }),
      'launch-template',
    ],
    [
      'a channel',
      () =>
        ssm
          .on(GetParametersByPathCommand)
          .resolves({ Parameters: [{ Name: '/bakehouse/al2023-base/stable', Value: AMI }] }),
      'channel',
    ],
    [
      'a keep tag',
      () =>
        ec2.on(DescribeImagesCommand).resolves({
          Images: [
            image({ State: 'disabled', Tags: [...(image().Tags ?? []), { Key: 'bakehouse:keep', Value: 'true' }] }),
          ],
        }),
      'keep-tag',
    ],
  ])('unmarks and re-enables an image back in use by %s instead of deregistering it', async (_, arrange, reason) => {
    // Prepare
    arrange();
    // Act
    const outcome = await applyPlan({ actions: [action('deregister')] }, deps());
    // Assess
    expect(ec2.commandCalls(DeregisterImageCommand)).toHaveLength(0);
    expect(ec2.commandCalls(DeleteTagsCommand)).toHaveLength(1);
    expect(outcome.items[0]).toMatchObject({ action: 'unmarked', reason: `back in use (${reason})` });
  });

  it('looks for instances of the image in every live state', async () => {
    // Act
    await applyPlan({ actions: [action('disable')] }, deps());
    // Assess
    expect(ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters).toEqual([
      { Name: 'image-id', Values: [AMI] },
      { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] },
    ]);
  });

  it('keeps an orphan snapshot that a registered image uses again', async () => {
    // Act
    const outcome = await applyPlan(
      { actions: [action('delete-snapshot', 'snap-00000000000000009', 'snapshot')] },
      deps(),
    );
    // Assess
    expect(ec2.commandCalls(DeleteSnapshotCommand)).toHaveLength(0);
    expect(outcome.items[0]?.action).toBe('kept');
  });

  it('deletes an orphan snapshot no image uses', async () => {
    // Prepare
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    // Act
    const outcome = await applyPlan(
      { actions: [action('delete-snapshot', 'snap-00000000000000009', 'snapshot')] },
      deps(),
    );
    // Assess
    expect(ec2.commandCalls(DeleteSnapshotCommand)[0]?.args[0].input).toEqual({ SnapshotId: 'snap-00000000000000009' });
    expect(outcome.snapshotsDeleted).toEqual(['snap-00000000000000009']);
  });
});

describe('errors and pacing', () => {
  it("reports one item's error and goes on with the others", async () => {
    // Prepare
    ec2
      .on(DisableImageCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded' }))
      .resolves({});
    // Act
    const outcome = await applyPlan(
      { actions: [action('disable'), action('disable', 'ami-00000000000000002')] },
      { ...deps(), concurrency: 1 },
    );
    // Assess
    expect(outcome.items.map((i) => i.action)).toEqual(['failed', 'disabled']);
    expect(outcome.errors).toEqual([{ resource: AMI, error: 'disable: RequestLimitExceeded: Rate exceeded' }]);
  });

  it('lets 99 calls through at once (one token kept for jitter), then 5 per second', async () => {
    // Prepare
    let now = 0;
    const slept: number[] = [];
    const bucket = new TokenBucket({
      now: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    });
    // Act
    for (let i = 0; i < 99; i++) await bucket.take();
    const burstEnded = now;
    for (let i = 0; i < 10; i++) await bucket.take();
    // Assess
    expect(burstEnded).toBe(0);
    expect(now).toBe(2000);
    expect(slept).toHaveLength(10);
  });

  it('refills on real elapsed time, not on Date, which may jump (or, in the sandbox, run 1,200 times fast)', async () => {
    // Prepare: the burst spent; Date jumps an hour on its own while the bucket waits
    vi.useFakeTimers({ toFake: ['Date'] });
    const slept: number[] = [];
    const bucket = new TokenBucket({
      sleep: async (ms) => {
        slept.push(ms);
        vi.setSystemTime(Date.now() + 3_600_000);
        await new Promise((resolve) => setTimeout(resolve, 5));
      },
    });

    // Act
    try {
      for (let i = 0; i < 99; i++) await bucket.take();
      await bucket.take();
      await bucket.take();
    } finally {
      vi.useRealTimers();
    }

    // Assess: it still had to wait for each token after the burst (an hour of Date would have refilled it all)
    expect(slept.length).toBeGreaterThanOrEqual(2);
  });
});

describe('the time budget', () => {
  it('starts no action once the time is up, finishes the one under way, and counts the rest', async () => {
    // Prepare: time for two actions to start (one at a time).
    let started = 0;
    const budgeted: ApplyDeps = { ...deps(), concurrency: 1, keepApplying: () => started++ < 2 };
    const ids = ['ami-0000000000000000a', 'ami-0000000000000000b', 'ami-0000000000000000c', 'ami-0000000000000000d'];
    // Act
    const outcome = await applyPlan({ actions: ids.map((id) => action('mark', id)) }, budgeted);
    // Assess
    expect(outcome.items.map((i) => i.action)).toEqual(['marked', 'marked', 'kept', 'kept']);
    expect(outcome.items[2]?.reason).toBe(NOT_STARTED);
    expect(outcome.notStarted).toBe(2);
    expect(ec2.commandCalls(CreateTagsCommand).map((c) => c.args[0].input.Resources)).toEqual([[ids[0]], [ids[1]]]);
  });

  it('never leaves a deregistration half done: once started, its snapshots go with it', async () => {
    // Prepare: the budget turns false while the deregistration is under way.
    let open = true;
    ec2.on(DeregisterImageCommand).callsFake(async () => {
      open = false;
      return { DeleteSnapshotResults: [{ SnapshotId: 'snap-00000000000000001', ReturnCode: 'success' }] };
    });
    // Act
    const outcome = await applyPlan(
      {
        actions: [
          { ...action('deregister'), snapshotIds: ['snap-00000000000000001'] },
          action('mark', 'ami-0000000000000000e'),
        ],
      },
      { ...deps(), concurrency: 1, keepApplying: () => open },
    );
    // Assess
    expect(outcome.deregistered).toEqual([AMI]);
    expect(outcome.snapshotsDeleted).toEqual(['snap-00000000000000001']);
    expect(outcome.items.map((i) => i.action)).toEqual(['deregistered', 'kept']);
    expect(outcome.notStarted).toBe(1);
  });
});
