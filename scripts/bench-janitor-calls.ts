/**
 * The janitor inventory's API calls at the bench's 100k-image world, counted by running the real
 * `readInventory` against in-memory EC2, Auto Scaling and SSM clients that answer from the world
 * (pages as the APIs page: at most the MaxResults asked, a NextToken while more remain). No HTTP,
 * no sandbox: the counts are the inventory's, the answers are the world's.
 *
 * Two runs: launch permissions for every managed image (the inventory before issue 17, and still
 * its behaviour with no pre-pass), and only where they decide (`imagesWhereLaunchPermissionsDecide`,
 * what the janitor run does). Both worlds are planned, and the plans must be equal: the two-phase
 * read keeps what the full read keeps.
 *
 * Run alone: `node --import tsx scripts/bench-janitor-calls.ts`.
 */

import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { Image } from '@aws-sdk/client-ec2';
import { type InventoryDeps, readInventory } from '../functions/janitor/inventory';
import type { JanitorSettings, World } from '../functions/janitor/model';
import {
  imagesWhereLaunchPermissionsDecide,
  isStop,
  launchPermissionReads,
  planJanitor,
} from '../functions/janitor/plan';
import { BENCH_SETTINGS, generateJanitorWorld } from './bench-janitor';

/**
 * EC2's documented request-rate bucket for a non-mutating action such as DescribeImageAttribute:
 * 100 tokens, refilled at 20 a second (Amazon EC2 Developer Guide, "Request throttling for the
 * Amazon EC2 API", request token bucket sizes and refill rates).
 */
const NON_MUTATING = { capacity: 100, refillPerSecond: 20 } as const;

/** Seconds a run of `calls` of one non-mutating action needs at least, starting from a full bucket. */
export const secondsAtRefill = (calls: number): number =>
  Math.max(0, Math.ceil((calls - NON_MUTATING.capacity) / NON_MUTATING.refillPerSecond));

const tags = (t: Readonly<Record<string, string>>) => Object.entries(t).map(([Key, Value]) => ({ Key, Value }));

/** One page of `items` from the offset in `token`, at most `max` long (a missing max: everything). */
const page = <T>(items: readonly T[], token: string | undefined, max: number | undefined) => {
  const from = token ? Number(token) : 0;
  const to = max === undefined ? items.length : Math.min(items.length, from + max);
  return { items: items.slice(from, to), next: to < items.length ? String(to) : undefined };
};

type Input = Record<string, unknown> & { NextToken?: string; MaxResults?: number; MaxRecords?: number };

/** In-memory clients answering the inventory's calls from `world`. */
const clientsOf = (world: World) => {
  const own = world.images.filter((i) => i.ownerId === world.account);
  const images: Image[] = own.map((i) => ({
    ImageId: i.id,
    Name: i.name,
    OwnerId: i.ownerId,
    CreationDate: i.creationDate,
    State: i.state as Image['State'],
    LastLaunchedTime: i.lastLaunchedTime,
    DeprecationTime: i.deprecationTime,
    DeregistrationProtection: i.deregistrationProtection ? 'enabled' : 'disabled',
    Public: i.launchPermissions.includes('all'),
    BlockDeviceMappings: i.snapshotIds.map((SnapshotId) => ({ DeviceName: '/dev/xvda', Ebs: { SnapshotId } })),
    Tags: tags(i.tags),
  }));
  const byId = new Map(world.images.map((i) => [i.id, i]));
  const snapshots = world.snapshots.map((s) => ({
    SnapshotId: s.id,
    OwnerId: s.ownerId,
    StartTime: new Date(s.startTime),
    Description: s.description,
    Tags: tags(s.tags),
  }));
  const instances = world.instances.map((i) => ({ InstanceId: i.id, ImageId: i.imageId, State: { Name: i.state } }));
  const templates = [...new Map(world.launchTemplateVersions.map((v) => [v.templateId, v.templateName]))].map(
    ([LaunchTemplateId, LaunchTemplateName]) => ({ LaunchTemplateId, LaunchTemplateName }),
  );
  const versions = new Map<string, object[]>();
  for (const v of world.launchTemplateVersions) {
    const list = versions.get(v.templateId) ?? [];
    list.push({
      LaunchTemplateId: v.templateId,
      LaunchTemplateName: v.templateName,
      VersionNumber: v.version,
      LaunchTemplateData: { ImageId: v.imageId },
    });
    versions.set(v.templateId, list);
  }
  const parameters = new Map(world.parameters.map((p) => [p.name, p]));
  const groups = world.autoScalingGroups.map((g) => ({
    AutoScalingGroupName: g.name,
    LaunchTemplate: g.launchTemplates[0]
      ? {
          LaunchTemplateId: g.launchTemplates[0].id,
          LaunchTemplateName: g.launchTemplates[0].name,
          Version: g.launchTemplates[0].version,
        }
      : undefined,
    MixedInstancesPolicy:
      g.launchTemplates.length > 1
        ? {
            LaunchTemplate: {
              Overrides: g.launchTemplates.slice(1).map((t) => ({
                LaunchTemplateSpecification: { LaunchTemplateId: t.id, LaunchTemplateName: t.name, Version: t.version },
              })),
            },
          }
        : undefined,
    LaunchConfigurationName: g.launchConfigurationName,
  }));
  const configurations = world.launchConfigurations.map((c) => ({
    LaunchConfigurationName: c.name,
    ImageId: c.imageId,
  }));

  const ec2 = async (command: { constructor: { name: string }; input: Input }): Promise<unknown> => {
    const { input } = command;
    switch (command.constructor.name) {
      case 'DescribeImagesCommand': {
        const p = page(images, input.NextToken, input.MaxResults);
        return { Images: p.items, NextToken: p.next };
      }
      case 'DescribeImageAttributeCommand': {
        const image = byId.get(String(input.ImageId));
        return {
          ImageId: input.ImageId,
          LaunchPermissions: (image?.launchPermissions ?? []).map((p) =>
            p === 'all' ? { Group: 'all' } : { UserId: p },
          ),
        };
      }
      case 'DescribeSnapshotsCommand': {
        const p = page(snapshots, input.NextToken, input.MaxResults);
        return { Snapshots: p.items, NextToken: p.next };
      }
      case 'DescribeInstancesCommand': {
        const p = page(instances, input.NextToken, input.MaxResults);
        return { Reservations: [{ Instances: p.items }], NextToken: p.next };
      }
      case 'DescribeLaunchTemplatesCommand': {
        const p = page(templates, input.NextToken, input.MaxResults);
        return { LaunchTemplates: p.items, NextToken: p.next };
      }
      case 'DescribeLaunchTemplateVersionsCommand': {
        const p = page(versions.get(String(input.LaunchTemplateId)) ?? [], input.NextToken, input.MaxResults);
        return { LaunchTemplateVersions: p.items, NextToken: p.next };
      }
      default:
        throw new Error(`the bench's EC2 does not answer ${command.constructor.name}`);
    }
  };
  const autoScaling = async (command: { constructor: { name: string }; input: Input }): Promise<unknown> => {
    const { input } = command;
    if (command.constructor.name === 'DescribeAutoScalingGroupsCommand') {
      const p = page(groups, input.NextToken, input.MaxRecords);
      return { AutoScalingGroups: p.items, NextToken: p.next };
    }
    if (command.constructor.name === 'DescribeLaunchConfigurationsCommand') {
      const p = page(configurations, input.NextToken, input.MaxRecords);
      return { LaunchConfigurations: p.items, NextToken: p.next };
    }
    throw new Error(`the bench's Auto Scaling does not answer ${command.constructor.name}`);
  };
  const names = [...parameters.keys()];
  const ssm = async (command: { constructor: { name: string }; input: Input }): Promise<unknown> => {
    const { input } = command;
    switch (command.constructor.name) {
      case 'DescribeParametersCommand': {
        const p = page(names, input.NextToken, input.MaxResults);
        return { Parameters: p.items.map((Name) => ({ Name, Type: 'String' })), NextToken: p.next };
      }
      case 'GetParametersCommand': {
        const asked = (input.Names as string[]) ?? [];
        return {
          Parameters: asked.flatMap((Name) => {
            const p = parameters.get(Name);
            return p ? [{ Name, Type: 'String', Value: p.value }] : [];
          }),
          InvalidParameters: asked.filter((Name) => !parameters.has(Name)),
        };
      }
      case 'GetParameterHistoryCommand': {
        const p = parameters.get(String(input.Name));
        // Oldest first, the current value last (SSM's order); the world holds history newest first.
        const values = p ? [...(p.history ?? [])].reverse().concat(p.value) : [];
        const all = values.map((Value, n) => ({ Name: input.Name, Type: 'String', Value, Version: n + 1 }));
        const pg = page(all, input.NextToken, input.MaxResults);
        return { Parameters: pg.items, NextToken: pg.next };
      }
      default:
        throw new Error(`the bench's SSM does not answer ${command.constructor.name}`);
    }
  };
  return { ec2, autoScaling, ssm };
};

export interface InventoryCallsAtScale {
  readonly images: number;
  readonly managedImages: number;
  /** Calls per action with launch permissions read for every managed image. */
  readonly everyManagedImage: Readonly<Record<string, number>>;
  /** Calls per action with launch permissions read only where they decide. */
  readonly whereTheyDecide: Readonly<Record<string, number>>;
  /**
   * DescribeImageAttribute calls as the janitor makes them: where they decide, in the order the cap
   * admits images, no further than the cap needs (plan.ts `launchPermissionReads`), at the bench's
   * cap and at the default cap of 200.
   */
  readonly inCapOrder: {
    readonly cap: number;
    readonly calls: number;
    readonly seconds: number;
    readonly actionsEqual: boolean;
  }[];
  /** DescribeImageAttribute's least time at EC2's non-mutating bucket (100 tokens, 20 a second). */
  readonly describeImageAttributeSeconds: { readonly everyManagedImage: number; readonly whereTheyDecide: number };
  /** The plans of the two worlds are equal (the two-phase read keeps what the full read keeps). */
  readonly plansEqual: boolean;
  readonly seconds: number;
}

export const inventoryCallsAtScale = async (
  world: World = generateJanitorWorld(),
  settings: JanitorSettings = BENCH_SETTINGS,
): Promise<InventoryCallsAtScale> => {
  const started = performance.now();
  const clients = clientsOf(world);
  const deps: InventoryDeps = {
    ec2: { send: clients.ec2 as unknown as InventoryDeps['ec2']['send'] },
    autoScaling: { send: clients.autoScaling as unknown as InventoryDeps['autoScaling']['send'] },
    ssm: { send: clients.ssm as unknown as InventoryDeps['ssm']['send'] },
    account: world.account,
    parameterPrefix: settings.parameterPrefix,
    clock: () => new Date(world.now),
    concurrency: 16,
  };
  const full = await readInventory(deps);
  const twoPhase = await readInventory({
    ...deps,
    launchPermissionsFor: (listed) => imagesWhereLaunchPermissionsDecide(listed, settings),
  });
  const fullPlan = planJanitor(full.world, settings);
  const plansEqual = isDeepStrictEqual(fullPlan, planJanitor(twoPhase.world, settings));
  const inCapOrder = [];
  for (const cap of [settings.maxActionsPerRun, 200]) {
    const capped = { ...settings, maxActionsPerRun: cap };
    const read = await readInventory({
      ...deps,
      launchPermissionsFor: (listed) => launchPermissionReads(listed, capped),
    });
    const reference = planJanitor(full.world, capped);
    const planned = planJanitor(read.world, capped);
    const calls = read.calls.DescribeImageAttribute ?? 0;
    inCapOrder.push({
      cap,
      calls,
      seconds: secondsAtRefill(calls),
      actionsEqual: !isStop(reference) && !isStop(planned) && isDeepStrictEqual(reference.actions, planned.actions),
    });
  }
  return {
    images: full.world.images.length,
    managedImages: full.launchPermissionsRead.length,
    everyManagedImage: full.calls,
    whereTheyDecide: twoPhase.calls,
    inCapOrder,
    describeImageAttributeSeconds: {
      everyManagedImage: secondsAtRefill(full.calls.DescribeImageAttribute ?? 0),
      whereTheyDecide: secondsAtRefill(twoPhase.calls.DescribeImageAttribute ?? 0),
    },
    plansEqual,
    seconds: Math.round((performance.now() - started) / 10) / 100,
  };
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await inventoryCallsAtScale(), null, 2)}\n`);
}
