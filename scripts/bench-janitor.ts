/**
 * Janitor planner numbers for `npm run bench`: a generated account (deterministic, seeded) of
 * 100k images / 300k snapshots / 50k instances / 20k launch template versions, planned by
 * `planJanitor`. Goal: ≤ 2 s and ≤ 500 MB of heap (the world itself included).
 *
 * Also the minimum number of inventory calls that world needs at the largest page size each API
 * allows, for comparison with the calls the inventory makes (measured in the sandbox).
 *
 * Run alone: `node --expose-gc --import tsx scripts/bench-janitor.ts`.
 */
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Tag } from '../functions/commons/bake-plan';
import { PAGE_SIZE as INVENTORY_PAGE_SIZE } from '../functions/janitor/inventory';
import type {
  JanitorSettings,
  World,
  WorldAutoScalingGroup,
  WorldImage,
  WorldInstance,
  WorldLaunchConfiguration,
  WorldLaunchTemplateVersion,
  WorldParameter,
  WorldSnapshot,
} from '../functions/janitor/model';
import { imagesWhereLaunchPermissionsDecide, isStop, planJanitor } from '../functions/janitor/plan';
import { inventoryCallsAtScale } from './bench-janitor-calls';
import { benchJanitorInventory } from './bench-janitor-inventory';

export interface JanitorWorldSize {
  readonly images: number;
  readonly snapshots: number;
  readonly instances: number;
  readonly launchTemplates: number;
  readonly versionsPerTemplate: number;
  readonly families: number;
}

export const BENCH_SIZE: JanitorWorldSize = {
  images: 100_000,
  snapshots: 300_000,
  instances: 50_000,
  launchTemplates: 2_000,
  versionsPerTemplate: 10,
  families: 100,
};

const ACCOUNT = '123456789012';
const NOW = Date.parse('2026-06-01T00:00:00.000Z');
const DAY = 86_400_000;
const PREFIX = '/bakehouse';
const CHANNELS = ['candidate', 'staging', 'prod'];

export const BENCH_SETTINGS: JanitorSettings = {
  keepNewest: 3,
  minAgeDays: 7,
  recentLaunchDays: 30,
  graceDays: 7,
  maxActionsPerRun: 5_000,
  maxInUseShrink: 0.2,
  parameterPrefix: PREFIX,
};

/** mulberry32: small, fast, deterministic. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const hex = (prefix: string, n: number) => `${prefix}-${n.toString(16).padStart(17, '0')}`;
const iso = (t: number) => new Date(t).toISOString();

/** The same world for the same size, every time. */
export const generateJanitorWorld = (size: JanitorWorldSize = BENCH_SIZE, seed = 7): World => {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const daysAgo = (max: number) => NOW - Math.floor(rnd() * max * DAY);
  const imageIds: string[] = [];
  const images: WorldImage[] = [];
  const snapshots: WorldSnapshot[] = [];
  const attachedPerImage = Math.min(2, Math.floor(size.snapshots / Math.max(1, size.images)));
  for (let i = 0; i < size.images; i++) {
    const id = hex('ami', i);
    imageIds.push(id);
    const created = daysAgo(3 * 365);
    const family = `fam-${i % size.families}`;
    const tags: Record<string, string> = {};
    if (rnd() < 0.95) tags[Tag.Managed] = 'true';
    tags[Tag.Family] = family;
    if (rnd() < 0.01) tags[Tag.Keep] = 'true';
    const r = rnd();
    if (r < 0.2) {
      tags[Tag.JanitorStage] = r < 0.07 ? 'marked' : r < 0.14 ? 'deprecated' : 'disabled';
      tags[Tag.JanitorSince] = iso(daysAgo(20));
    }
    const snapshotIds: string[] = [];
    for (let s = 0; s < attachedPerImage; s++) {
      const sid = hex('snap', snapshots.length);
      snapshotIds.push(sid);
      snapshots.push({
        id: sid,
        ownerId: ACCOUNT,
        startTime: iso(created),
        description: `Created by CreateImage(i-0123456789abcdef0) for ${id} from vol-0123456789abcdef0`,
        tags: {},
      });
    }
    images.push({
      id,
      name: `bakehouse-${family}-${i}`,
      ownerId: rnd() < 0.02 ? '210987654321' : ACCOUNT,
      creationDate: iso(created),
      state: tags[Tag.JanitorStage] === 'disabled' ? 'disabled' : 'available',
      lastLaunchedTime: rnd() < 0.3 ? undefined : iso(daysAgo(3 * 365)),
      deprecationTime: undefined,
      deregistrationProtection: rnd() < 0.01,
      launchPermissions: rnd() < 0.05 ? ['210987654321'] : [],
      snapshotIds,
      tags,
    });
  }
  // The rest: orphans of images long gone (half tagged managed) and snapshots Bakehouse never made.
  for (let n = snapshots.length; n < size.snapshots; n++) {
    const orphan = rnd() < 0.5;
    snapshots.push({
      id: hex('snap', n),
      ownerId: ACCOUNT,
      startTime: iso(daysAgo(3 * 365)),
      description: orphan ? `Created by CreateImage(i-0123456789abcdef0) for ${hex('ami', size.images + n)}` : 'backup',
      tags: orphan && rnd() < 0.5 ? { [Tag.Managed]: 'true' } : {},
    });
  }
  const instances: WorldInstance[] = Array.from({ length: size.instances }, (_, n) => ({
    id: hex('i', n),
    imageId: pick(imageIds),
    state: pick(['running', 'running', 'stopped', 'pending']),
  }));
  const parameters: WorldParameter[] = [];
  for (let f = 0; f < size.families; f++) {
    for (const channel of CHANNELS) {
      const history = Array.from({ length: 5 }, () => pick(imageIds));
      parameters.push({ name: `${PREFIX}/fam-${f}/${channel}`, value: pick(imageIds), history });
    }
  }
  for (let n = 0; n < 300; n++) parameters.push({ name: `/team-${n % 10}/ami-${n}`, value: pick(imageIds) });
  const launchTemplateVersions: WorldLaunchTemplateVersion[] = [];
  for (let t = 0; t < size.launchTemplates; t++) {
    for (let v = 1; v <= size.versionsPerTemplate; v++) {
      const ssm = rnd() < 0.1;
      launchTemplateVersions.push({
        templateId: hex('lt', t),
        templateName: `template-${t}`,
        version: v,
        imageId: ssm ? `resolve:ssm:${pick(parameters).name}` : pick(imageIds),
      });
    }
  }
  const launchConfigurations: WorldLaunchConfiguration[] = Array.from({ length: 1_000 }, (_, n) => ({
    name: `lc-${n}`,
    imageId: pick(imageIds),
  }));
  const autoScalingGroups: WorldAutoScalingGroup[] = Array.from({ length: 2_000 }, (_, n) => ({
    name: `asg-${n}`,
    launchTemplates: Array.from({ length: 1 + (n % 3) }, (_, k) =>
      k === 0 ? { id: hex('lt', (n + k) % size.launchTemplates), version: '$Latest' } : { name: `template-${n + k}` },
    ),
    launchConfigurationName: n % 10 === 0 ? `lc-${n % 1_000}` : undefined,
  }));
  return {
    now: iso(NOW),
    account: ACCOUNT,
    images,
    snapshots,
    instances,
    launchTemplateVersions,
    launchConfigurations,
    autoScalingGroups,
    parameters,
    confirmedUnusedShares: [],
  };
};

/** Largest page each API allows (AWS API references): the inventory's own, cited there. */
export const PAGE_SIZE = INVENTORY_PAGE_SIZE;

const pages = (items: number, size: number) => Math.max(1, Math.ceil(items / size));

/**
 * The fewest inventory calls this world needs at the largest pages: one listing per API (at least
 * one page each), template versions per template (all versions need the template named), channel
 * histories per channel, and launch permissions (DescribeImageAttribute has no batch form) for the
 * images whose permissions decide the plan (plan.ts `imagesWhereLaunchPermissionsDecide`: no other
 * rule protects them), as the inventory reads them. `launchPermissionsEveryManagedImage`: what
 * reading them for every managed image took (the inventory before issue 17).
 */
export const minimumDescribeCalls = (world: World, settings: JanitorSettings) => {
  const prefix = `${settings.parameterPrefix}/`;
  const versionsPerTemplate = new Map<string, number>();
  for (const v of world.launchTemplateVersions) {
    versionsPerTemplate.set(v.templateId, (versionsPerTemplate.get(v.templateId) ?? 0) + 1);
  }
  let versionPages = 0;
  for (const n of versionsPerTemplate.values()) versionPages += pages(n, PAGE_SIZE.DescribeLaunchTemplateVersions);
  const underPrefix = world.parameters.filter((p) => p.name.startsWith(prefix));
  let historyPages = 0;
  for (const p of underPrefix) historyPages += pages((p.history?.length ?? 0) + 1, PAGE_SIZE.GetParameterHistory);
  const managed = world.images.filter((i) => i.ownerId === world.account && i.tags[Tag.Managed] === 'true');
  const undecided = imagesWhereLaunchPermissionsDecide(world, settings).length;
  const calls = {
    DescribeImages: pages(world.images.length, PAGE_SIZE.DescribeImages),
    DescribeSnapshots: pages(world.snapshots.length, PAGE_SIZE.DescribeSnapshots),
    DescribeInstances: pages(world.instances.length, PAGE_SIZE.DescribeInstances),
    DescribeLaunchTemplates: pages(versionsPerTemplate.size, PAGE_SIZE.DescribeLaunchTemplates),
    DescribeLaunchTemplateVersions: versionPages,
    DescribeAutoScalingGroups: pages(world.autoScalingGroups.length, PAGE_SIZE.DescribeAutoScalingGroups),
    DescribeLaunchConfigurations: pages(world.launchConfigurations.length, PAGE_SIZE.DescribeLaunchConfigurations),
    DescribeParameters: pages(world.parameters.length, PAGE_SIZE.DescribeParameters),
    // Every parameter of the account is listed and read (the world holds only those with an id).
    GetParameters: Math.ceil(world.parameters.length / PAGE_SIZE.GetParameters),
    GetParameterHistory: historyPages,
    DescribeImageAttribute: undecided,
  };
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  return {
    pageSizes: PAGE_SIZE,
    calls,
    total,
    withoutLaunchPermissions: total - calls.DescribeImageAttribute,
    launchPermissionsEveryManagedImage: managed.length,
  };
};

const mb = (bytes: number) => Math.round(bytes / 1024 / 102.4) / 10;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

export const janitorBench = async (size: JanitorWorldSize = BENCH_SIZE) => {
  gc();
  const baseline = process.memoryUsage().heapUsed;
  const world = generateJanitorWorld(size);
  gc();
  const worldHeap = process.memoryUsage().heapUsed - baseline;
  const times: number[] = [];
  let peakHeap = 0;
  let summary: Record<string, number> = {};
  let inUse = 0;
  for (let run = 0; run < 3; run++) {
    gc();
    const started = performance.now();
    const result = planJanitor(world, BENCH_SETTINGS, { inUseCount: 1 });
    times.push(performance.now() - started);
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed - baseline);
    if (isStop(result)) throw new Error(`the bench world stopped the planner: ${result.stop}`);
    summary = {};
    for (const a of result.actions) summary[a.stage] = (summary[a.stage] ?? 0) + 1;
    for (const k of result.kept) summary[`kept:${k.reason}`] = (summary[`kept:${k.reason}`] ?? 0) + 1;
    inUse = result.inUse.length;
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    world: {
      images: world.images.length,
      snapshots: world.snapshots.length,
      instances: world.instances.length,
      launchTemplateVersions: world.launchTemplateVersions.length,
      launchConfigurations: world.launchConfigurations.length,
      autoScalingGroups: world.autoScalingGroups.length,
      parameters: world.parameters.length,
    },
    plan: {
      msFirst: Math.round(times[0] as number),
      msMedian: Math.round(sorted[1] as number),
      goalMs: 2_000,
      heapMbWorld: mb(worldHeap),
      heapMbPeakWithPlan: mb(peakHeap),
      goalHeapMb: 500,
      measuredWithGc: typeof (globalThis as { gc?: unknown }).gc === 'function',
      /** Times on a busy machine read high: the 1-minute load average when measured. */
      loadAverage1m: Math.round((loadavg()[0] ?? 0) * 10) / 10,
      inUse,
      outcome: summary,
    },
    describeCallsMinimum: minimumDescribeCalls(world, BENCH_SETTINGS),
    /** The real inventory's calls at this world (in-memory AWS), before and after issue 17. */
    inventoryCallsAtScale: await inventoryCallsAtScale(world, BENCH_SETTINGS),
    /** The inventory over the AWS wire (a sandbox) with 10,000 SSM parameters of every kind. */
    inventory: await benchJanitorInventory({ parameters: 10_000 }),
  };
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await janitorBench(), null, 2)}\n`);
}
