import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { janitorReportSchema } from '../../functions/commons/events';
import { loadConfig } from '../../functions/commons/families';
import { TokenBucket } from '../../functions/janitor/apply';
import { type JanitorDeps, runJanitor } from '../../functions/janitor/core';
import { InventoryError } from '../../functions/janitor/errors';
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
    readInventory: vi.fn(async () => ({ world: world(), calls: { DescribeImages: 1 } })),
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
