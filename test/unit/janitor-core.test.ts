import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { janitorReportSchema } from '../../functions/commons/events';
import { loadConfig } from '../../functions/commons/families';
import { TokenBucket } from '../../functions/janitor/apply';
import { type JanitorDeps, MAX_PARTS, runJanitor } from '../../functions/janitor/core';
import { InventoryError } from '../../functions/janitor/errors';
import type { ParameterCoverage } from '../../functions/janitor/inventory';
import type { Plan, World } from '../../functions/janitor/model';
import { configInput, linuxFamily } from './support/bake-factories';

const ssmMock = mockClient(SSMClient);
const eventsMock = mockClient(EventBridgeClient);

const world = (): World => ({
  now: '2026-11-29T02:00:00.000Z',
  account: '000000000000',
  images: [
    {
      id: 'ami-00000000000000001',
      name: 'old',
      ownerId: '000000000000',
      creationDate: '2026-01-01T00:00:00.000Z',
      state: 'disabled',
      lastLaunchedTime: undefined,
      deprecationTime: undefined,
      deregistrationProtection: false,
      launchPermissions: [],
      snapshotIds: ['snap-00000000000000001'],
      tags: {},
    },
  ],
  snapshots: [],
  instances: [],
  launchTemplateVersions: [],
  launchConfigurations: [],
  autoScalingGroups: [],
  parameters: [],
  confirmedUnusedShares: [],
});

/** What the inventory read of Parameter Store: everything, by default. */
const coverage = (over: Partial<ParameterCoverage> = {}): ParameterCoverage => ({
  listed: 3,
  read: 3,
  secureStrings: [],
  unreadable: [],
  ...over,
});

const plan = (): Plan => ({
  actions: [
    { kind: 'image', id: 'ami-00000000000000001', family: 'f', stage: 'deregister', reason: 'unused' },
    { kind: 'snapshot', id: 'snap-00000000000000009', family: 'f', stage: 'delete-snapshot', reason: 'orphan' },
  ],
  kept: [
    { kind: 'image', id: 'ami-00000000000000002', family: 'f', reason: 'instance' },
    { kind: 'image', id: 'ami-00000000000000003', family: 'f', reason: 'newest' },
    { kind: 'image', id: 'ami-00000000000000004', family: 'f', reason: 'newest' },
  ],
  inUse: ['ami-00000000000000002', 'ami-00000000000000005'],
});

const config = () => loadConfig(configInput([linuxFamily({ name: 'al2023-base' })]));

const deps = (overrides: Partial<JanitorDeps> = {}): JanitorDeps => {
  const ssm = new SSMClient({ region: 'us-east-1' });
  const ec2 = { send: vi.fn() };
  return {
    settings: config().settings,
    readInventory: vi.fn(async () => ({
      world: world(),
      calls: { DescribeImages: 1 },
      parameters: coverage(),
      launchPermissionsRead: ['ami-00000000000000001'],
    })),
    inventoryDeps: {} as JanitorDeps['inventoryDeps'],
    plan: vi.fn(() => plan()),
    apply: vi.fn(async () => ({
      items: [
        {
          kind: 'image' as const,
          id: 'ami-00000000000000001',
          family: 'f',
          action: 'deregistered' as const,
          reason: 'unused',
        },
      ],
      errors: [],
      deregistered: ['ami-00000000000000001'],
      snapshotsDeleted: ['snap-00000000000000001'],
    })),
    applyDeps: {
      ec2,
      ssm,
      parameterPrefix: '/bakehouse',
      clock: () => new Date(),
      bucket: new TokenBucket(),
      logger: { info: vi.fn(), warn: vi.fn() },
    },
    ssm,
    events: new EventBridgeClient({ region: 'us-east-1' }),
    eventTarget: { busName: 'bakehouse-test', source: 'bakehouse' },
    clock: () => new Date('2026-11-29T02:00:00Z'),
    logger: { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() } as unknown as JanitorDeps['logger'],
    ...overrides,
  };
};

const publishedDetail = () =>
  JSON.parse(eventsMock.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0]?.Detail ?? '{}');

beforeEach(() => {
  ssmMock.reset();
  eventsMock.reset();
  ssmMock.on(GetParameterCommand).rejects(Object.assign(new Error('none'), { name: 'ParameterNotFound' }));
  ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
  eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
});
afterEach(() => {
  ssmMock.reset();
  eventsMock.reset();
});

describe('mode', () => {
  it('is a dry run by default: nothing applied, the plan reported as what would happen', async () => {
    // Prepare
    const d = deps();
    // Act
    const report = await runJanitor(undefined, 'run-1', d);
    // Assess
    expect(d.apply).not.toHaveBeenCalled();
    expect(report).toMatchObject({
      dryRun: true,
      completed: true,
      deregistered: ['ami-00000000000000001'],
      snapshotsDeleted: ['snap-00000000000000001', 'snap-00000000000000009'],
      kept: { instance: 1, newest: 2 },
      counts: { 'image:deregistered': 1, 'snapshot:deleted': 1, 'image:kept': 3 },
    });
    expect(janitorReportSchema.safeParse(publishedDetail()).success).toBe(true);
  });

  it('applies the plan when the payload says dryRun false', async () => {
    // Prepare
    const d = deps();
    // Act
    const report = await runJanitor({ dryRun: false }, 'run-1', d);
    // Assess
    expect(d.apply).toHaveBeenCalledOnce();
    expect(report).toMatchObject({ dryRun: false, completed: true, snapshotsDeleted: ['snap-00000000000000001'] });
  });

  it.each([[{ dryRun: 'no' }], [{ dry: true }], ['go'], [[1]]])('refuses the payload %j', async (payload) => {
    // Act / Assess
    await expect(runJanitor(payload, 'run-1', deps())).rejects.toMatchObject({ name: 'InvalidEventError' });
  });
});

describe('fail closed', () => {
  it('stops with completed false, applies nothing and keeps the state when the inventory fails', async () => {
    // Prepare
    const d = deps({
      readInventory: vi.fn(async () => {
        throw new InventoryError('DescribeSnapshots', 'RequestLimitExceeded: Rate exceeded');
      }),
    });
    // Act
    const report = await runJanitor({ dryRun: false }, 'run-1', d);
    // Assess
    expect(d.apply).not.toHaveBeenCalled();
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(0);
    expect(report).toMatchObject({ completed: false, deregistered: [], snapshotsDeleted: [] });
    expect(report.stoppedBecause).toContain('DescribeSnapshots');
    expect(publishedDetail()).toMatchObject({ completed: false });
  });

  it("passes the last run's in-use count to the planner and stops when it says so", async () => {
    // Prepare
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: '{"inUseCount":10}' } });
    const d = deps({ plan: vi.fn(() => ({ stop: 'the in-use set shrank from 10 to 2 images' })) });
    // Act
    const report = await runJanitor({ dryRun: false }, 'run-1', d);
    // Assess
    expect(d.plan).toHaveBeenCalledWith(expect.anything(), expect.anything(), { inUseCount: 10 });
    expect(d.apply).not.toHaveBeenCalled();
    expect(report).toMatchObject({ completed: false, stoppedBecause: 'the in-use set shrank from 10 to 2 images' });
  });

  it('stops when the last state cannot be read', async () => {
    // Prepare
    ssmMock.on(GetParameterCommand).rejects(Object.assign(new Error('slow'), { name: 'ThrottlingException' }));
    const d = deps();
    // Act
    const report = await runJanitor({ dryRun: false }, 'run-1', d);
    // Assess
    expect(d.apply).not.toHaveBeenCalled();
    expect(report.completed).toBe(false);
  });

  it("writes this run's in-use count after a completed run", async () => {
    // Act
    await runJanitor(undefined, 'run-1', deps());
    // Assess
    const input = ssmMock.commandCalls(PutParameterCommand)[0]?.args[0].input;
    expect(input?.Name).toBe('/bakehouse/_janitor/state');
    expect(JSON.parse(input?.Value ?? '{}')).toMatchObject({ inUseCount: 2, runId: 'run-1' });
  });
});

describe('the report', () => {
  it('cuts the event at 500 items and returns them all', async () => {
    // Prepare
    const many: Plan = {
      ...plan(),
      kept: Array.from({ length: 600 }, (_, i) => ({
        kind: 'image' as const,
        id: `ami-${String(i).padStart(17, '0')}`,
        family: 'f',
        reason: 'newest',
      })),
    };
    // Act
    const report = await runJanitor(undefined, 'run-1', deps({ plan: vi.fn(() => many) }));
    // Assess
    expect(report.items).toHaveLength(602);
    expect(publishedDetail().items).toHaveLength(500);
    expect(publishedDetail().itemsTruncated).toBe(true);
  });
});

describe('the reaper, in the nightly report', () => {
  const reaped = {
    dryRun: false,
    checkedAt: '2026-11-29T02:00:00.000Z',
    reaped: [
      {
        instanceId: 'i-0123456789abcdef0',
        role: 'builder',
        bakeId: 'al2023-base-0123',
        family: 'al2023-base',
        expiresAt: '2026-11-29T01:00:00Z',
        executionId: 'exec-1',
        executionStatus: 'Failed',
      },
    ],
    kept: [{ instanceId: 'i-0fedcba9876543210', reason: 'automation-running' as const }],
    errors: [{ instanceId: 'i-0aaaaaaaaaaaaaaaa', error: 'UnauthorizedOperation' }],
  };

  it("reaps with the run's dry-run setting and reports what it terminated, kept and could not", async () => {
    // Prepare
    const reap = vi.fn(async () => reaped);

    // Act
    const report = await runJanitor({ dryRun: false }, 'run-1', deps({ reap }));

    // Assess
    expect(reap).toHaveBeenCalledWith({ dryRun: false });
    expect(report.reaper).toEqual({
      reaped: [
        {
          instanceId: 'i-0123456789abcdef0',
          role: 'builder',
          bakeId: 'al2023-base-0123',
          family: 'al2023-base',
          expiresAt: '2026-11-29T01:00:00Z',
        },
      ],
      reapedCount: 1,
      keptCount: 1,
      errors: [{ instanceId: 'i-0aaaaaaaaaaaaaaaa', error: 'UnauthorizedOperation' }],
    });
    expect(report.errors).toContainEqual({ resource: 'i-0aaaaaaaaaaaaaaaa', error: 'reap: UnauthorizedOperation' });
    expect(publishedDetail().reaper).toMatchObject({ reapedCount: 1 });
  });

  it('still reaps when the image plan stops (an expired builder is no image in use)', async () => {
    // Prepare
    const reap = vi.fn(async () => ({ ...reaped, dryRun: true }));
    const d = deps({
      reap,
      readInventory: vi.fn(async () => {
        throw new InventoryError('DescribeSnapshots', 'RequestLimitExceeded: Rate exceeded');
      }),
    });

    // Act
    const report = await runJanitor({}, 'run-2', d);

    // Assess: the default dry run reaches the reaper too
    expect(report.completed).toBe(false);
    expect(reap).toHaveBeenCalledWith({ dryRun: true });
    expect(report.reaper?.reapedCount).toBe(1);
  });

  it('reports a reaper that failed as an error, and the run goes on', async () => {
    // Act
    const report = await runJanitor(
      { dryRun: false },
      'run-3',
      deps({
        reap: vi.fn(async () => {
          throw new Error('DescribeInstances: RequestLimitExceeded');
        }),
      }),
    );

    // Assess
    expect(report.completed).toBe(true);
    expect(report.reaper).toBeUndefined();
    expect(report.errors).toContainEqual({ resource: 'reaper', error: 'DescribeInstances: RequestLimitExceeded' });
  });
});

describe('SSM parameters the janitor cannot read', () => {
  const denied = [
    { name: '/team/secret/ami', error: 'AccessDeniedException: not authorized to perform ssm:GetParameters' },
    { name: '/team/gone', error: 'InvalidParameters: SSM could not read it (changed since it was listed?)' },
  ];
  const withUnreadable = (over: Partial<JanitorDeps> = {}) =>
    deps({
      readInventory: vi.fn(async () => ({
        world: world(),
        calls: {},
        parameters: coverage({ unreadable: denied }),
        launchPermissionsRead: ['ami-00000000000000001'],
      })),
      ...over,
    });

  it('stop the run by default: nothing planned or applied, each named, with the fix', async () => {
    // Prepare
    const d = withUnreadable();
    // Act
    const report = await runJanitor({ dryRun: false }, 'run-1', d);
    // Assess
    expect(d.plan).not.toHaveBeenCalled();
    expect(d.apply).not.toHaveBeenCalled();
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(0);
    expect(report).toMatchObject({ completed: false, deregistered: [], snapshotsDeleted: [], items: [] });
    expect(report.stoppedBecause).toContain('/team/secret/ami (AccessDeniedException)');
    expect(report.stoppedBecause).toContain('/team/gone (InvalidParameters)');
    expect(report.stoppedBecause).toMatch(/Fix: grant the janitor role ssm:GetParameters on them/);
    expect(report.stoppedBecause).toContain("settings.janitor.unreadableParameters to 'continue'");
    expect(report.errors).toEqual(denied.map((u) => ({ resource: u.name, error: u.error })));
    expect(report.parameters).toMatchObject({ unreadable: denied, unreadableCount: 2, unreadableMode: 'stop' });
    expect(publishedDetail()).toMatchObject({ completed: false, parameters: { unreadableCount: 2 } });
    // The contract knows the field (a consumer parsing the event keeps it).
    expect(janitorReportSchema.parse(publishedDetail()).parameters).toMatchObject({
      unreadable: denied,
      unreadableMode: 'stop',
    });
  });

  it("run without them when settings.janitor.unreadableParameters is 'continue', still naming them", async () => {
    // Prepare
    const settings = loadConfig({
      ...configInput([linuxFamily({ name: 'al2023-base' })]),
      settings: { janitor: { unreadableParameters: 'continue' } },
    }).settings;
    const d = withUnreadable({ settings });
    // Act
    const report = await runJanitor({ dryRun: false }, 'run-1', d);
    // Assess
    expect(d.apply).toHaveBeenCalledOnce();
    expect(report).toMatchObject({ completed: true, stoppedBecause: null });
    expect(report.errors).toEqual(denied.map((u) => ({ resource: u.name, error: u.error })));
    expect(publishedDetail().parameters).toMatchObject({ unreadable: denied, unreadableMode: 'continue' });
  });

  it('run without them for one invoke with {"unreadableParameters": "continue"}', async () => {
    // Prepare
    const d = withUnreadable();
    // Act
    const report = await runJanitor({ dryRun: true, unreadableParameters: 'continue' }, 'run-1', d);
    // Assess
    expect(report).toMatchObject({ completed: true, parameters: { unreadableMode: 'continue' } });
  });

  it('refuses an unknown mode in the payload', async () => {
    // Act / Assess
    await expect(runJanitor({ unreadableParameters: 'skip' }, 'run-1', deps())).rejects.toMatchObject({
      name: 'InvalidEventError',
      message: expect.stringContaining("unreadableParameters: must be 'stop' or 'continue'"),
    });
  });

  it('defaults to stop in the configuration, and refuses another value naming the field and the fix', () => {
    // Act
    const byDefault = config().settings.janitor.unreadableParameters;
    const wrong = () =>
      loadConfig({
        ...configInput([linuxFamily({ name: 'al2023-base' })]),
        settings: { janitor: { unreadableParameters: 'skip' } },
      });
    // Assess
    expect(byDefault).toBe('stop');
    expect(wrong).toThrow(/settings\.janitor\.unreadableParameters: Fix: use 'stop' .* or 'continue'/);
  });
});

describe('SecureString parameters', () => {
  it('are skipped and named (at most 100 in the event), counted in full, and do not stop the run', async () => {
    // Prepare
    const secureStrings = Array.from({ length: 150 }, (_, i) => `/team/secret-${String(i).padStart(3, '0')}`);
    const d = deps({
      readInventory: vi.fn(async () => ({
        world: world(),
        calls: {},
        parameters: coverage({ secureStrings }),
        launchPermissionsRead: ['ami-00000000000000001'],
      })),
    });
    // Act
    const report = await runJanitor(undefined, 'run-1', d);
    // Assess
    expect(report.completed).toBe(true);
    expect(report.parameters).toMatchObject({ secureStringsSkipped: secureStrings, secureStringsSkippedCount: 150 });
    expect(publishedDetail().parameters.secureStringsSkipped).toEqual(secureStrings.slice(0, 100));
    expect(publishedDetail().parameters.secureStringsSkippedCount).toBe(150);
  });
});

describe('kept items', () => {
  it('name the parameter that holds the image, and are counted by rule', async () => {
    // Prepare
    const named: Plan = {
      ...plan(),
      kept: [
        { kind: 'image', id: 'ami-00000000000000002', family: 'f', reason: 'parameter', by: '/team/web/ami-id' },
        { kind: 'image', id: 'ami-00000000000000003', family: 'f', reason: 'parameter', by: '/team/api/config' },
      ],
    };
    // Act
    const report = await runJanitor(undefined, 'run-1', deps({ plan: vi.fn(() => named) }));
    // Assess
    expect(report.items.filter((i) => i.action === 'kept').map((i) => i.reason)).toEqual([
      'parameter /team/web/ami-id',
      'parameter /team/api/config',
    ]);
    expect(report.kept).toEqual({ parameter: 2 });
  });
});

describe('launch permissions, read only where they decide', () => {
  it('hands the inventory the pre-pass bound to the run settings, and reports how many it read', async () => {
    // Prepare: the pre-pass the run hands over names the unused managed image of this world (the
    // oldest of four: the settings keep the newest 3).
    const base = world().images[0] as World['images'][number];
    const image = (n: number, created: string) => ({
      ...base,
      id: `ami-0000000000000000${n}`,
      state: 'available',
      creationDate: created,
      tags: { 'bakehouse:managed': 'true' },
    });
    const images = [
      image(1, '2026-01-01T00:00:00.000Z'),
      ...[2, 3, 4].map((n) => image(n, '2026-06-01T00:00:00.000Z')),
    ];
    const seen: string[][] = [];
    const d = deps({
      readInventory: vi.fn(async (inventoryDeps) => {
        const reads = inventoryDeps.launchPermissionsFor?.({ ...world(), images });
        seen.push(reads === undefined ? [] : 'order' in reads ? [...reads.order] : [...reads]);
        return { world: world(), calls: {}, parameters: coverage(), launchPermissionsRead: ['ami-00000000000000001'] };
      }),
    });
    // Act
    const report = await runJanitor(undefined, 'run-1', d);
    // Assess
    expect(seen).toEqual([['ami-00000000000000001']]);
    expect(report.counts.launchPermissionsRead).toBe(1);
    expect(publishedDetail().counts.launchPermissionsRead).toBe(1);
    expect(janitorReportSchema.safeParse(publishedDetail()).success).toBe(true);
  });

  it('stops before changing anything when the plan would act on an image whose permissions were not read', async () => {
    // Prepare: the plan deregisters ami-…1, but the inventory read no launch permission.
    const d = deps({
      readInventory: vi.fn(async () => ({
        world: world(),
        calls: {},
        parameters: coverage(),
        launchPermissionsRead: [],
      })),
    });
    // Act
    const report = await runJanitor({ dryRun: false }, 'run-1', d);
    // Assess
    expect(d.apply).not.toHaveBeenCalled();
    expect(report.completed).toBe(false);
    expect(report.stoppedBecause).toContain('ami-00000000000000001');
    expect(report.stoppedBecause).toContain('launch permissions were not read');
    expect(report.counts.launchPermissionsRead).toBe(0);
  });
});

describe('a run longer than its invocation: parts', () => {
  const deferredInventory = vi.fn(async (inventoryDeps: Parameters<JanitorDeps['readInventory']>[0]) => ({
    world: world(),
    calls: {},
    parameters: coverage(),
    launchPermissionsRead: ['ami-00000000000000001'],
    // The inventory stops reading once the run's budget says so.
    launchPermissionsDeferred: inventoryDeps.keepReading?.() === false ? ['ami-0000000000000000a'] : [],
  }));

  it('hands the inventory and the apply the time budget, with their reserves', async () => {
    // Prepare: 4 minutes left: under the read reserve, over the apply reserve.
    let remaining = 4 * 60_000;
    const applyDeps: Parameters<JanitorDeps['apply']>[1][] = [];
    const d = deps({
      remainingMs: () => remaining,
      readInventory: deferredInventory,
      apply: vi.fn(async (_plan, applied) => {
        applyDeps.push(applied);
        return { items: [], errors: [], deregistered: [], snapshotsDeleted: [], notStarted: 3 };
      }),
    });
    // Act
    const report = await runJanitor({ dryRun: false }, 'run-1', d);
    // Assess
    expect(applyDeps[0]?.keepApplying?.()).toBe(true);
    remaining = 59_000;
    expect(applyDeps[0]?.keepApplying?.()).toBe(false);
    expect(report.part).toEqual({ of: 'run-1', number: 1 });
    // The plan's two capped actions, three of them not started: none taken.
    expect(report.deferred).toEqual({ launchPermissionsUnread: 1, actionsNotStarted: 3, actionsDone: 0, nextPart: 2 });
    expect(janitorReportSchema.safeParse(publishedDetail()).success).toBe(true);
    expect(publishedDetail().deferred?.nextPart).toBe(2);
  });

  it('names no next part for a dry run, nor after the last part; a later part carries the first part id', async () => {
    const d = deps({ remainingMs: () => 60_001, readInventory: deferredInventory });
    const dry = await runJanitor({ dryRun: true }, 'run-1', d);
    expect(dry.deferred).toEqual({ launchPermissionsUnread: 1, actionsNotStarted: 0, actionsDone: 0 });
    const last = await runJanitor({ dryRun: false, continueRun: 'run-0', part: MAX_PARTS }, 'run-8', d);
    expect(last.part).toEqual({ of: 'run-0', number: MAX_PARTS });
    expect(last.deferred?.nextPart).toBeUndefined();
    const middle = await runJanitor({ dryRun: false, continueRun: 'run-0', part: 3 }, 'run-3', d);
    expect(middle.deferred?.nextPart).toBe(4);
  });

  it('reports no part for a run that finished in its invocation, and the part for a later one that did', async () => {
    const d = deps({ remainingMs: () => 14 * 60_000 });
    expect((await runJanitor(undefined, 'run-1', d)).part).toBeUndefined();
    const later = await runJanitor({ continueRun: 'run-0', part: 2 }, 'run-2', d);
    expect(later.part).toEqual({ of: 'run-0', number: 2 });
    expect(later.deferred).toBeUndefined();
  });

  it.each([
    [{ continueRun: 'run-0' }, 'continueRun and part go together'],
    [{ part: 2 }, 'continueRun and part go together'],
    [{ continueRun: '', part: 2 }, 'continueRun: must be the run id'],
    [{ continueRun: 'run-0', part: 1 }, `part: must be an integer from 2 to ${MAX_PARTS}`],
    [{ continueRun: 'run-0', part: MAX_PARTS + 1 }, `part: must be an integer from 2 to ${MAX_PARTS}`],
    [{ actionsDone: 3 }, 'actionsDone: a whole number ≥ 0, only with continueRun and part'],
    [{ continueRun: 'run-0', part: 2, actionsDone: -1 }, 'actionsDone: a whole number ≥ 0'],
  ])('refuses the continuation %j, naming the field', async (payload, message) => {
    await expect(runJanitor(payload, 'run-1', deps())).rejects.toThrow(message);
  });

  it('gives a later part what the earlier parts left of the cap, and counts what it took', async () => {
    // Prepare: a cap of 200 (the shipped default), 150 taken by the earlier parts.
    const seen: number[] = [];
    const d = deps({
      remainingMs: () => 4 * 60_000,
      readInventory: deferredInventory,
      plan: vi.fn((_world, settings) => {
        seen.push(settings.maxActionsPerRun);
        return plan();
      }),
      apply: vi.fn(async () => ({ items: [], errors: [], deregistered: [], snapshotsDeleted: [], notStarted: 1 })),
    });
    // Act
    const report = await runJanitor({ dryRun: false, continueRun: 'run-0', part: 2, actionsDone: 150 }, 'run-2', d);
    // Assess: 50 left; of the plan's two capped actions one started.
    expect(seen).toEqual([50]);
    expect(report.deferred).toMatchObject({ actionsDone: 151, nextPart: 3 });
  });

  it('names no next part after a part that read nothing and started nothing, and says why', async () => {
    // Prepare: the listing took the time: no permission read, every action not started.
    const d = deps({
      remainingMs: () => 30_000,
      readInventory: vi.fn(async () => ({
        world: world(),
        calls: {},
        parameters: coverage(),
        launchPermissionsRead: [],
        launchPermissionsDeferred: ['ami-0000000000000000a'],
      })),
      plan: vi.fn(() => ({ ...plan(), actions: plan().actions.filter((a) => a.kind === 'snapshot') })),
      apply: vi.fn(async () => ({ items: [], errors: [], deregistered: [], snapshotsDeleted: [], notStarted: 1 })),
    });
    // Act
    const report = await runJanitor({ dryRun: false }, 'run-1', d);
    // Assess
    expect(report.deferred).toEqual({ launchPermissionsUnread: 1, actionsNotStarted: 1, actionsDone: 0 });
    expect(report.errors.map((e) => e.error).join()).toContain('another part would do the same, so none follows');
  });

  it("starts a later part from the earlier parts' reads, and keeps a deferring part's own", async () => {
    // Prepare
    const earlier = new Map<string, readonly string[]>([['ami-0000000000000000b', []]]);
    const checkpoint = { load: vi.fn(async () => earlier), save: vi.fn(async () => undefined) };
    const handed: unknown[] = [];
    const d = deps({
      remainingMs: () => 4 * 60_000,
      checkpoint,
      readInventory: vi.fn(async (inventoryDeps) => {
        handed.push(inventoryDeps.knownLaunchPermissions);
        return {
          world: world(),
          calls: {},
          parameters: coverage(),
          launchPermissionsRead: ['ami-00000000000000001'],
          launchPermissionsDeferred: ['ami-0000000000000000a'],
          launchPermissionsByImage: new Map([['ami-00000000000000001', []]]),
        };
      }),
    });
    // Act
    await runJanitor({ dryRun: false, continueRun: 'run-0', part: 3, actionsDone: 0 }, 'run-3', d);
    // Assess
    expect(checkpoint.load).toHaveBeenCalledWith('run-0', 3);
    expect(handed).toEqual([earlier]);
    expect(checkpoint.save).toHaveBeenCalledWith('run-0', 3, new Map([['ami-00000000000000001', []]]));
  });
});
