/**
 * Issue 17: the inventory reads launch permissions (DescribeImageAttribute, one call per image,
 * no batch form) only for the images whose permissions can change the plan, named by a planner
 * pre-pass, instead of for every managed image.
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeLaunchConfigurationsCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  type Image,
} from '@aws-sdk/client-ec2';
import {
  DescribeParametersCommand,
  GetParameterHistoryCommand,
  GetParametersCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type InventoryDeps, readInventory } from '../../functions/janitor/inventory';
import type { JanitorSettings, Plan } from '../../functions/janitor/model';
import {
  imagesWhereLaunchPermissionsDecide,
  isStop,
  launchPermissionReads,
  planJanitor,
} from '../../functions/janitor/plan';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const autoScaling = mockClient(AutoScalingClient);

const ACCOUNT = '000000000000';
const OTHER = '111122223333';
const NOW = '2026-11-29T02:00:00.000Z';
const daysAgo = (days: number) => new Date(Date.parse(NOW) - days * 86_400_000);

const SETTINGS: JanitorSettings = {
  keepNewest: 0,
  minAgeDays: 7,
  recentLaunchDays: 30,
  graceDays: 7,
  maxActionsPerRun: 100,
  maxInUseShrink: 0.5,
  parameterPrefix: '/bakehouse',
};

const deps = (settings: JanitorSettings = SETTINGS): InventoryDeps => ({
  ec2: new EC2Client({ region: 'us-east-1' }),
  ssm: new SSMClient({ region: 'us-east-1' }),
  autoScaling: new AutoScalingClient({ region: 'us-east-1' }),
  account: ACCOUNT,
  parameterPrefix: '/bakehouse',
  clock: () => new Date(NOW),
  launchPermissionsFor: (world) => imagesWhereLaunchPermissionsDecide(world, settings),
});

const imageId = (n: number) => `ami-${n.toString(16).padStart(17, '0')}`;

/** A managed image of the account, created 200 days ago, launched `launchedDaysAgo` days ago. */
const managed = (n: number, launchedDaysAgo: number, over: Partial<Image> = {}): Image => ({
  ImageId: imageId(n),
  Name: `bakehouse-web-${n}`,
  OwnerId: ACCOUNT,
  CreationDate: daysAgo(200).toISOString(),
  LastLaunchedTime: daysAgo(launchedDaysAgo).toISOString(),
  State: 'available',
  DeregistrationProtection: 'disabled',
  Public: false,
  BlockDeviceMappings: [],
  Tags: [
    { Key: 'bakehouse:managed', Value: 'true' },
    { Key: 'bakehouse:family', Value: 'web' },
  ],
  ...over,
});

const plan = (result: ReturnType<typeof planJanitor>): Plan => {
  if (isStop(result)) throw new Error(`unexpected stop: ${result.stop}`);
  return result;
};

beforeEach(() => {
  for (const mock of [ec2, ssm, autoScaling]) mock.reset();
  ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: [] });
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  ec2.on(DescribeLaunchTemplatesCommand).resolves({ LaunchTemplates: [] });
  ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [] });
  ec2.on(DescribeImageAttributeCommand).resolves({ LaunchPermissions: [] });
  autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
  autoScaling.on(DescribeLaunchConfigurationsCommand).resolves({ LaunchConfigurations: [] });
  ssm.on(DescribeParametersCommand).resolves({ Parameters: [] });
  ssm.on(GetParametersCommand).resolves({ Parameters: [] });
  ssm.on(GetParameterHistoryCommand).resolves({ Parameters: [] });
});
afterEach(() => {
  for (const mock of [ec2, ssm, autoScaling]) mock.reset();
});

describe('launch permissions, read only where they decide', () => {
  it('calls DescribeImageAttribute only for the few images that would be acted on, among 2,000 managed ones', async () => {
    // Prepare: 2,000 managed images launched last week (in use), 3 unused ones, 1 public unused one.
    const inUse = Array.from({ length: 2_000 }, (_, n) => managed(n, 3));
    const unused = [managed(5_000, 100), managed(5_001, 150), managed(5_002, 180)];
    const pub = managed(5_003, 120, { Public: true });
    const images = [...inUse.slice(0, 1_000), ...unused, pub, ...inUse.slice(1_000)];
    ec2
      .on(DescribeImagesCommand)
      .resolvesOnce({ Images: images.slice(0, 1_000), NextToken: 'p2' })
      .resolvesOnce({ Images: images.slice(1_000, 2_000), NextToken: 'p3' })
      .resolvesOnce({ Images: images.slice(2_000) });
    // Act
    const inventory = await readInventory(deps());
    // Assess
    const asked = ec2.commandCalls(DescribeImageAttributeCommand).map((c) => c.args[0].input.ImageId);
    expect(asked.sort()).toEqual(unused.map((i) => i.ImageId).sort());
    expect(inventory.calls.DescribeImageAttribute).toBe(3);
    expect([...inventory.launchPermissionsRead].sort()).toEqual(unused.map((i) => i.ImageId).sort());
    // The public image is known shared from DescribeImages alone.
    expect(inventory.world.images.find((i) => i.id === pub.ImageId)?.launchPermissions).toEqual(['all']);
    const p = plan(planJanitor(inventory.world, SETTINGS));
    expect(p.actions.map((a) => a.id).sort()).toEqual(unused.map((i) => i.ImageId).sort());
    expect(p.kept.find((k) => k.id === pub.ImageId)?.reason).toBe('shared');
  });

  it('keeps a candidate shared with another account, and marks the unshared one', async () => {
    // Prepare
    const shared = managed(1, 100);
    const alone = managed(2, 100);
    ec2.on(DescribeImagesCommand).resolves({ Images: [managed(0, 1), shared, alone] });
    ec2
      .on(DescribeImageAttributeCommand, { ImageId: shared.ImageId, Attribute: 'launchPermission' })
      .resolves({ LaunchPermissions: [{ UserId: OTHER }] });
    // Act
    const inventory = await readInventory(deps());
    const p = plan(planJanitor(inventory.world, SETTINGS));
    // Assess
    expect(inventory.calls.DescribeImageAttribute).toBe(2);
    expect(p.kept.find((k) => k.id === shared.ImageId)?.reason).toBe('shared');
    expect(p.actions.find((a) => a.id === shared.ImageId)).toBeUndefined();
    expect(p.actions.find((a) => a.id === alone.ImageId)?.stage).toBe('mark');
  });

  it('reads every image the cap holds back too: a share can let the cap admit another', async () => {
    // Prepare: a cap of 1 over 3 unused images; the oldest is shared.
    const images = [managed(1, 100, { CreationDate: daysAgo(300).toISOString() }), managed(2, 100), managed(3, 100)];
    ec2.on(DescribeImagesCommand).resolves({ Images: images });
    ec2
      .on(DescribeImageAttributeCommand, { ImageId: imageId(1), Attribute: 'launchPermission' })
      .resolves({ LaunchPermissions: [{ UserId: OTHER }] });
    const settings = { ...SETTINGS, maxActionsPerRun: 1 };
    // Act
    const inventory = await readInventory(deps(settings));
    const p = plan(planJanitor(inventory.world, settings));
    // Assess
    expect(inventory.calls.DescribeImageAttribute).toBe(3);
    expect(p.kept.find((k) => k.id === imageId(1))?.reason).toBe('shared');
    expect(p.actions).toHaveLength(1);
  });

  it('plans the pre-pass and the plan on one clock reading: a later one could age an unread image into an action', async () => {
    // Prepare: the clock moves a day per reading; an image 6.5 days old, minAgeDays 7.
    let ticks = 0;
    const young = managed(1, 100, { CreationDate: daysAgo(6.5).toISOString() });
    ec2.on(DescribeImagesCommand).resolves({ Images: [young] });
    // Act
    const inventory = await readInventory({
      ...deps(),
      clock: () => new Date(Date.parse(NOW) + 86_400_000 * ticks++),
    });
    // Assess: not read (too young at the pre-pass), and still too young in the world planned.
    expect(inventory.calls.DescribeImageAttribute ?? 0).toBe(0);
    expect(plan(planJanitor(inventory.world, SETTINGS)).kept[0]?.reason).toBe('too-young');
  });

  it('asks every listing for the largest page its API allows', async () => {
    // Prepare: one template, one channel with history, so that every call is made.
    ec2.on(DescribeImagesCommand).resolves({ Images: [managed(1, 100)] });
    ec2.on(DescribeLaunchTemplatesCommand).resolves({ LaunchTemplates: [{ LaunchTemplateId: 'lt-1' }] });
    ssm.on(DescribeParametersCommand).resolves({ Parameters: [{ Name: '/bakehouse/web/prod', Type: 'String' }] });
    ssm
      .on(GetParametersCommand)
      .resolves({ Parameters: [{ Name: '/bakehouse/web/prod', Type: 'String', Value: imageId(1) }] });
    // Act
    await readInventory(deps());
    // Assess: the documented maximums (EC2, Auto Scaling and SSM API references).
    const first = <I>(calls: { args: [{ input: I }] }[]) => calls[0]?.args[0].input;
    expect(first(ec2.commandCalls(DescribeImagesCommand))?.MaxResults).toBe(1000);
    expect(first(ec2.commandCalls(DescribeSnapshotsCommand))?.MaxResults).toBe(1000);
    expect(first(ec2.commandCalls(DescribeInstancesCommand))?.MaxResults).toBe(1000);
    expect(first(ec2.commandCalls(DescribeLaunchTemplatesCommand))?.MaxResults).toBe(200);
    expect(first(ec2.commandCalls(DescribeLaunchTemplateVersionsCommand))?.MaxResults).toBe(200);
    expect(first(autoScaling.commandCalls(DescribeAutoScalingGroupsCommand))?.MaxRecords).toBe(100);
    expect(first(autoScaling.commandCalls(DescribeLaunchConfigurationsCommand))?.MaxRecords).toBe(100);
    expect(first(ssm.commandCalls(DescribeParametersCommand))?.MaxResults).toBe(50);
    expect(first(ssm.commandCalls(GetParameterHistoryCommand))?.MaxResults).toBe(50);
  });
});

describe('launch permissions within the cap and the time', () => {
  const unused = Array.from({ length: 10 }, (_, n) =>
    managed(n + 1, 100, { CreationDate: daysAgo(300 - n).toISOString() }),
  );

  it('stops reading once the cap is filled: the oldest first, a shared one not counted', async () => {
    // Prepare: cap 2; the oldest of ten unused images is shared.
    ec2.on(DescribeImagesCommand).resolves({ Images: unused });
    ec2
      .on(DescribeImageAttributeCommand, { ImageId: imageId(1), Attribute: 'launchPermission' })
      .resolves({ LaunchPermissions: [{ UserId: OTHER }] });
    const settings = { ...SETTINGS, maxActionsPerRun: 2 };
    // Act
    const inventory = await readInventory({
      ...deps(settings),
      concurrency: 1,
      launchPermissionsFor: (world) => launchPermissionReads(world, settings),
    });
    // Assess: three read (the shared one and two that fill the cap), none deferred.
    expect(ec2.commandCalls(DescribeImageAttributeCommand).map((c) => c.args[0].input.ImageId)).toEqual([
      imageId(1),
      imageId(2),
      imageId(3),
    ]);
    expect(inventory.launchPermissionsDeferred).toEqual([]);
    const p = plan(planJanitor(inventory.world, settings));
    expect(p.actions.map((a) => a.id)).toEqual([imageId(2), imageId(3)]);
    expect(p.kept.find((k) => k.id === imageId(1))?.reason).toBe('shared');
    expect(p.kept.filter((k) => k.reason === 'cap')).toHaveLength(7);
  });

  it('when the time runs out, reads no further and marks the rest unread: the plan keeps them', async () => {
    // Prepare: no time left: only the first batch of three, which every part reads.
    ec2.on(DescribeImagesCommand).resolves({ Images: unused });
    // Act
    const inventory = await readInventory({
      ...deps(),
      concurrency: 3,
      launchPermissionsFor: (world) => launchPermissionReads(world, SETTINGS),
      keepReading: () => false,
    });
    // Assess
    expect(inventory.calls.DescribeImageAttribute).toBe(3);
    expect(inventory.launchPermissionsDeferred).toEqual(unused.slice(3).map((i) => i.ImageId));
    const p = plan(planJanitor(inventory.world, SETTINGS));
    expect(p.actions.map((a) => a.id)).toEqual([imageId(1), imageId(2), imageId(3)]);
    expect(p.kept.filter((k) => k.reason === 'deferred').map((k) => k.id)).toEqual(
      unused.slice(3).map((i) => i.ImageId),
    );
  });

  it("takes an earlier part's reads as read and reads on from where they end", async () => {
    // Prepare: the first three images' permissions known; the oldest of them shared.
    ec2.on(DescribeImagesCommand).resolves({ Images: unused });
    const known = new Map<string, readonly string[]>([
      [imageId(1), [OTHER]],
      [imageId(2), []],
      [imageId(3), []],
    ]);
    // Act
    const inventory = await readInventory({
      ...deps(),
      concurrency: 3,
      launchPermissionsFor: (world) => launchPermissionReads(world, SETTINGS),
      keepReading: () => false,
      knownLaunchPermissions: known,
    });
    // Assess: one batch read, the next three; the known ones count as read for the plan.
    expect(ec2.commandCalls(DescribeImageAttributeCommand).map((c) => c.args[0].input.ImageId)).toEqual([
      imageId(4),
      imageId(5),
      imageId(6),
    ]);
    expect(inventory.launchPermissionsKnown).toEqual([imageId(1), imageId(2), imageId(3)]);
    expect([...(inventory.launchPermissionsByImage?.keys() ?? [])]).toEqual([imageId(4), imageId(5), imageId(6)]);
    const p = plan(planJanitor(inventory.world, SETTINGS));
    expect(p.kept.find((k) => k.id === imageId(1))?.reason).toBe('shared');
    expect(p.actions.map((a) => a.id)).toEqual([imageId(2), imageId(3), imageId(4), imageId(5), imageId(6)]);
  });
});
