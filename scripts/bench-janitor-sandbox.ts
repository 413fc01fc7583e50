/**
 * The janitor at 100k images against the sandbox, at EC2's default request buckets (issue 17): the
 * bench's generated world (scripts/bench-janitor.ts: 100k images, 300k snapshots, 50k instances,
 * 20k template versions, channels and team parameters) is written straight into an in-process
 * sandbox's store, then the real `runJanitor` (inventory, plan, apply, report) runs against it over
 * the AWS wire, part after part, as the bus would run them, until a part names no next part.
 *
 * One clock: the sandbox runs `speed` times faster than real time; its buckets refill on its clock,
 * the janitor paces its EC2 calls on it (pacing.ts) and each part gets Lambda's 15 minutes of it
 * (`remainingMs`). What runs on real time is the CPU: each request's handling, in this process,
 * counts `speed` times over in sandbox seconds, so `sandboxSeconds` is an upper bound of the time
 * on AWS, and `pacedSeconds` (time spent waiting for tokens) the part the buckets impose.
 *
 * Reported: API calls per action against the least the world needs, sandbox and real seconds, the
 * parts (invocations) needed, RequestLimitExceeded answers the sandbox gave (goal 0: the janitor
 * paces itself), and whether the run's actions, over all its parts, are the planner's: the plan of
 * the world as the inventory reads it, with launch permissions read where they decide (equal to
 * reading them all: janitor-plan.test.ts), at the run's cap.
 *
 * Auto Scaling groups and launch configurations are not seeded (their records are many fields for
 * two listings of 20 and 10 pages); every other part of the world is.
 *
 * Run alone: `node --import tsx scripts/bench-janitor-sandbox.ts [--speed N] [--images N] [--cap N]`
 * (the cap defaults to the bench's 5,000; the shipped default is 200).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import { startSandbox } from '@bakehouse/sandbox';
import rawConfig from '../bakehouse.config';
import { Tag } from '../functions/commons/bake-plan';
import { loadConfig } from '../functions/commons/families';
import { applyPlan } from '../functions/janitor/apply';
import type { Checkpoint } from '../functions/janitor/checkpoint';
import { type JanitorDeps, type JanitorRunReport, runJanitor } from '../functions/janitor/core';
import { readInventory } from '../functions/janitor/inventory';
import type { PlannedAction, World } from '../functions/janitor/model';
import { ec2Pacer, paceEc2Client } from '../functions/janitor/pacing';
import { imagesWhereLaunchPermissionsDecide, isStop, planJanitor } from '../functions/janitor/plan';
import { Ec2Table, launchTemplateVersionKey } from '../packages/sandbox/src/services/ec2/model';
import { PARAMETERS_TABLE } from '../packages/sandbox/src/services/ssm/parameters';
import { BENCH_SETTINGS, BENCH_SIZE, generateJanitorWorld } from './bench-janitor';

export interface JanitorSandboxBench {
  readonly world: {
    readonly images: number;
    readonly snapshots: number;
    readonly instances: number;
    readonly templateVersions: number;
    readonly parameters: number;
  };
  readonly speed: number;
  readonly cap: number;
  readonly seedSeconds: number;
  /** Per part: sandbox seconds, EC2 calls by action, launch permissions read, what it deferred. */
  readonly parts: readonly {
    readonly part: number;
    readonly sandboxSeconds: number;
    readonly calls: Readonly<Record<string, number>>;
    readonly launchPermissionsRead: number;
    readonly deferred: JanitorRunReport['deferred'] | null;
  }[];
  readonly invocations: number;
  readonly sandboxSeconds: number;
  /** Sandbox seconds calls waited for tokens, summed over the calls in flight at once (4 at a time). */
  readonly pacedSeconds: number;
  readonly realSeconds: number;
  /** The least calls the inventory needs at the largest pages (one part), for the listings. */
  readonly minimumListingCalls: Readonly<Record<string, number>>;
  /** RequestLimitExceeded answers per action over the run (goal 0), and calls the buckets admitted. */
  readonly throttled: Readonly<Record<string, number>>;
  readonly throttledTotal: number;
  readonly admittedTotal: number;
  readonly actionsTaken: number;
  readonly plannerActions: number;
  readonly outcomeEqualsPlanner: boolean;
  readonly errors: number;
}

const seconds = (ms: number) => Math.round(ms / 10) / 100;

/** Writes `world` into the sandbox's store, every date moved by `shiftMs` (the world is planned for its own `now`). */
const seed = (sandbox: Awaited<ReturnType<typeof startSandbox>>, world: World, shiftMs: number): void => {
  const at = (iso: string | undefined) =>
    iso === undefined ? undefined : new Date(Date.parse(iso) + shiftMs).toISOString();
  const now = sandbox.clock.nowMs();
  const batches = <T>(
    items: readonly T[],
    put: (tx: Parameters<Parameters<typeof sandbox.store.transact>[1]>[0], item: T) => void,
  ) => {
    for (let from = 0; from < items.length; from += 2000) {
      sandbox.store.transact(now, (tx) => {
        for (const item of items.slice(from, from + 2000)) put(tx, item);
      });
    }
  };
  const snapshotImage = new Map<string, string>();
  for (const image of world.images) for (const s of image.snapshotIds) snapshotImage.set(s, image.id);
  batches(world.images, (tx, image) => {
    const tags = { ...image.tags };
    if (tags[Tag.JanitorSince]) tags[Tag.JanitorSince] = at(tags[Tag.JanitorSince]) as string;
    tx.put(Ec2Table.Images, image.id, {
      imageId: image.id,
      ownerId: image.ownerId,
      name: image.name,
      state: image.state,
      creationDate: at(image.creationDate),
      architecture: 'x86_64',
      platformDetails: 'Linux/UNIX',
      rootDeviceName: '/dev/xvda',
      rootDeviceType: 'ebs',
      virtualizationType: 'hvm',
      enaSupport: true,
      blockDeviceMappings: image.snapshotIds.map((snapshotId, n) => ({
        deviceName: n === 0 ? '/dev/xvda' : `/dev/xvd${String.fromCharCode(98 + n)}`,
        ebs: { snapshotId, volumeSize: 8, volumeType: 'gp3', deleteOnTermination: true, encrypted: false },
      })),
      isPublic: image.launchPermissions.includes('all'),
      launchPermissions: image.launchPermissions.filter((p) => p !== 'all'),
      deregistrationProtection: image.deregistrationProtection ? 'enabled' : 'disabled',
      ...(image.lastLaunchedTime ? { lastLaunchedTime: at(image.lastLaunchedTime) } : {}),
      tags,
    });
  });
  batches(world.snapshots, (tx, snapshot) => {
    tx.put(Ec2Table.Snapshots, snapshot.id, {
      snapshotId: snapshot.id,
      ownerId: snapshot.ownerId,
      volumeId: 'vol-0123456789abcdef0',
      volumeSize: 8,
      state: 'completed',
      startTime: at(snapshot.startTime),
      progress: '100%',
      description: snapshot.description,
      encrypted: false,
      tags: { ...snapshot.tags },
    });
  });
  batches(world.instances, (tx, instance) => {
    tx.put(Ec2Table.Instances, instance.id, {
      instanceId: instance.id,
      reservationId: `r-${instance.id.slice(2)}`,
      imageId: instance.imageId,
      instanceType: 't3.micro',
      state: instance.state,
      launchTime: new Date(now - 86_400_000).toISOString(),
      securityGroupIds: [],
      architecture: 'x86_64',
      rootDeviceName: '/dev/xvda',
      metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled' },
      volumes: [],
      privateIpAddress: '10.0.0.10',
      tags: {},
    });
  });
  const templates = new Map<string, { name: string; versions: number }>();
  for (const v of world.launchTemplateVersions) {
    const t = templates.get(v.templateId) ?? { name: v.templateName, versions: 0 };
    t.versions = Math.max(t.versions, v.version);
    templates.set(v.templateId, t);
  }
  batches([...templates], (tx, [id, t]) => {
    tx.put(Ec2Table.LaunchTemplates, id, {
      launchTemplateId: id,
      launchTemplateName: t.name,
      createTime: new Date(now - 86_400_000).toISOString(),
      createdBy: `arn:aws:iam::${world.account}:root`,
      defaultVersionNumber: 1,
      latestVersionNumber: t.versions,
      tags: {},
    });
  });
  batches(world.launchTemplateVersions, (tx, v) => {
    tx.put(Ec2Table.LaunchTemplateVersions, launchTemplateVersionKey(v.templateId, v.version), {
      launchTemplateId: v.templateId,
      versionNumber: v.version,
      createTime: new Date(now - 86_400_000).toISOString(),
      data: v.imageId === undefined ? {} : { imageId: v.imageId },
    });
  });
  batches(world.parameters, (tx, p) => {
    const values = [...[...(p.history ?? [])].reverse(), p.value];
    const versions = values.map((value, n) => ({
      version: n + 1,
      value,
      type: 'String',
      dataType: 'text',
      tier: 'Standard',
      lastModifiedDate: new Date(now - (values.length - n) * 86_400_000).toISOString(),
      lastModifiedUser: `arn:aws:iam::${world.account}:root`,
    }));
    tx.put(PARAMETERS_TABLE, p.name, { name: p.name, ...versions[versions.length - 1], tags: {}, history: versions });
  });
};

const key = (a: PlannedAction) => `${a.kind} ${a.id} ${a.stage}`;

/** The run's checkpoint (checkpoint.ts) in memory: the state table's is tested end to end. */
const memoryCheckpoint = (): Checkpoint => {
  const parts = new Map<string, Map<string, readonly string[]>>();
  return {
    load: async (run, part) => {
      const known = new Map<string, readonly string[]>();
      for (let earlier = 1; earlier < part; earlier++) {
        for (const [id, shares] of parts.get(`${run}#${earlier}`) ?? []) known.set(id, shares);
      }
      return known;
    },
    save: async (run, part, reads) => {
      parts.set(`${run}#${part}`, new Map(reads));
    },
  };
};

export const benchJanitorSandbox = async (
  options: { speed?: number; images?: number; cap?: number } = {},
): Promise<JanitorSandboxBench> => {
  const speed = options.speed ?? 20;
  const scale = (options.images ?? BENCH_SIZE.images) / BENCH_SIZE.images;
  const size = {
    ...BENCH_SIZE,
    images: Math.round(BENCH_SIZE.images * scale),
    snapshots: Math.round(BENCH_SIZE.snapshots * scale),
    instances: Math.round(BENCH_SIZE.instances * scale),
    launchTemplates: Math.max(1, Math.round(BENCH_SIZE.launchTemplates * scale)),
  };
  const generated = generateJanitorWorld(size);
  const world: World = { ...generated, autoScalingGroups: [], launchConfigurations: [] };
  const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-bench-janitor-sandbox-'));
  const sandbox = await startSandbox({ port: 0, speed: 0, stateDir, account: world.account, iam: 'off' });
  const config = {
    endpoint: sandbox.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 8,
    retryMode: 'adaptive',
  } as const;
  const ec2 = new EC2Client(config);
  const ssm = new SSMClient(config);
  const autoScaling = new AutoScalingClient(config);
  const events = new EventBridgeClient(config);
  const control = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${sandbox.url}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    return (await response.json()) as Record<string, unknown>;
  };
  try {
    const seeding = performance.now();
    seed(sandbox, world, sandbox.clock.nowMs() - Date.parse(world.now));
    const seedSeconds = seconds(performance.now() - seeding);
    const settings = {
      ...BENCH_SETTINGS,
      parameterPrefix: '/bakehouse',
      maxActionsPerRun: options.cap ?? BENCH_SETTINGS.maxActionsPerRun,
    };
    const clock = () => sandbox.clock.now();
    const inventoryDeps = { ec2, ssm, autoScaling, account: world.account, parameterPrefix: '/bakehouse', clock };

    // The planner's outcome, read with the buckets off (the reference is not what is measured).
    await control('POST', '/_sandbox/ec2/rate-limits', { rateLimits: 'off' });
    const reference = await readInventory({
      ...inventoryDeps,
      concurrency: 16,
      launchPermissionsFor: (listed) => imagesWhereLaunchPermissionsDecide(listed, settings),
    });
    const planned = planJanitor(reference.world, settings);
    if (isStop(planned)) throw new Error(`the planner stopped: ${planned.stop}`);
    const expected = new Set(planned.actions.filter((a) => a.stage !== 'unmark').map(key));

    // The run: default buckets, the clock at `speed`, every EC2 call paced on it.
    await control('POST', '/_sandbox/ec2/rate-limits', { rateLimits: 'default' });
    await control('DELETE', '/_sandbox/ec2/rate-limits/counters');
    sandbox.clock.setSpeed(speed);
    let pacedMs = 0;
    const sleep = async (ms: number) => {
      pacedMs += ms;
      await new Promise((resolve) => setTimeout(resolve, ms / speed));
    };
    const paced = paceEc2Client(new EC2Client(config), ec2Pacer({ now: () => sandbox.clock.nowMs(), sleep }));
    const janitorSettings = loadConfig(rawConfig).settings;
    const deps = (partStart: number): JanitorDeps => ({
      settings: {
        parameterPrefix: '/bakehouse',
        janitor: {
          ...janitorSettings.janitor,
          ...settings,
          dryRun: false,
          unreadableParameters: 'stop',
        },
      },
      readInventory,
      inventoryDeps: { ...inventoryDeps, ec2: paced },
      plan: planJanitor,
      apply: applyPlan,
      applyDeps: {
        ec2: paced,
        ssm,
        parameterPrefix: '/bakehouse',
        clock,
        logger: { info: () => undefined, warn: () => undefined },
      },
      ssm,
      events,
      eventTarget: { busName: 'default', source: 'bakehouse' },
      clock,
      logger: {
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      } as unknown as JanitorDeps['logger'],
      remainingMs: () => 900_000 - (sandbox.clock.nowMs() - partStart),
      checkpoint,
    });
    const checkpoint = memoryCheckpoint();
    const parts: JanitorSandboxBench['parts'][number][] = [];
    const taken = new Set<string>();
    let errors = 0;
    const started = performance.now();
    const runStart = sandbox.clock.nowMs();
    let payload: Record<string, unknown> = { dryRun: false };
    for (let part = 1; ; part++) {
      const partStart = sandbox.clock.nowMs();
      const report = await runJanitor(payload, `bench-part-${part}`, deps(partStart));
      if (!report.completed) throw new Error(`part ${part} stopped: ${report.stoppedBecause}`);
      errors += report.errors.length;
      for (const item of report.items) {
        if (item.action === 'kept' || item.action === 'unmarked' || item.action === 'failed') continue;
        const stage = {
          marked: 'mark',
          deprecated: 'deprecate',
          disabled: 'disable',
          deregistered: 'deregister',
          deleted: 'delete-snapshot',
        }[item.action];
        taken.add(`${item.kind} ${item.id} ${stage}`);
      }
      parts.push({
        part,
        sandboxSeconds: seconds(sandbox.clock.nowMs() - partStart),
        calls: report.inventoryCalls,
        launchPermissionsRead: report.counts.launchPermissionsRead ?? 0,
        deferred: report.deferred ?? null,
      });
      const next = report.deferred?.nextPart;
      if (next === undefined) break;
      payload = {
        dryRun: false,
        continueRun: report.part?.of,
        part: next,
        actionsDone: report.deferred?.actionsDone ?? 0,
      };
    }
    const realSeconds = seconds(performance.now() - started);
    const sandboxSeconds = seconds(sandbox.clock.nowMs() - runStart);
    const limits = (await control('GET', '/_sandbox/ec2/rate-limits')) as {
      calls: Record<string, { admitted: number; throttled: number }>;
      admitted: number;
      throttled: number;
    };
    const throttled = Object.fromEntries(
      Object.entries(limits.calls)
        .filter(([, c]) => c.throttled > 0)
        .map(([action, c]) => [action, c.throttled]),
    );
    const versionsPerTemplate = new Map<string, number>();
    for (const v of world.launchTemplateVersions)
      versionsPerTemplate.set(v.templateId, (versionsPerTemplate.get(v.templateId) ?? 0) + 1);
    const pages = (n: number, size: number) => Math.max(1, Math.ceil(n / size));
    return {
      world: {
        images: world.images.length,
        snapshots: world.snapshots.length,
        instances: world.instances.length,
        templateVersions: world.launchTemplateVersions.length,
        parameters: world.parameters.length,
      },
      speed,
      cap: settings.maxActionsPerRun,
      seedSeconds,
      parts,
      invocations: parts.length,
      sandboxSeconds,
      pacedSeconds: seconds(pacedMs),
      realSeconds,
      minimumListingCalls: {
        DescribeImages: pages(world.images.filter((i) => i.ownerId === world.account).length, 1000),
        DescribeSnapshots: pages(world.snapshots.length, 1000),
        DescribeInstances: pages(world.instances.length, 1000),
        DescribeLaunchTemplates: pages(versionsPerTemplate.size, 200),
        DescribeLaunchTemplateVersions: [...versionsPerTemplate.values()].reduce((n, v) => n + pages(v, 200), 0),
      },
      throttled,
      throttledTotal: limits.throttled,
      admittedTotal: limits.admitted,
      actionsTaken: taken.size,
      plannerActions: expected.size,
      outcomeEqualsPlanner: taken.size === expected.size && [...expected].every((k) => taken.has(k)),
      errors,
    };
  } finally {
    for (const client of [ec2, ssm, autoScaling, events]) client.destroy();
    await sandbox.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { speed: { type: 'string' }, images: { type: 'string' }, cap: { type: 'string' } },
  });
  const result = await benchJanitorSandbox({
    ...(values.cap ? { cap: Number(values.cap) } : {}),
    ...(values.speed ? { speed: Number(values.speed) } : {}),
    ...(values.images ? { images: Number(values.images) } : {}),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
