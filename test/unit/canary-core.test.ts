/**
 * The canary function's actions (functions/canary/core.ts) over mocked AWS clients: start,
 * check, judge, finish, cleanup and cleanupStopped.
 */
import {
  AttachInstancesCommand,
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DetachInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import {
  DescribeInstancesCommand,
  EC2Client,
  type InstanceStateName,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  CANARY_FAILED_ERROR,
  CANARY_ID_TAG,
  type CanaryDeps,
  type CanaryRun,
  checkCanary,
  cleanupCanary,
  cleanupStopped,
  finishCanary,
  judgeCanaryRun,
  type SkippedCanary,
  startCanary,
} from '../../functions/canary/core';
import { MAX_QUERIES_PER_CALL } from '../../functions/canary/metrics';
import { canaryJudgedSchema, canaryStartedSchema } from '../../functions/commons/events';
import { type FamilyInput, loadConfig } from '../../functions/commons/families';
import { awsError, configInput, linuxFamily, recordingLogger } from './support/bake-factories';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const autoScaling = mockClient(AutoScalingClient);
const cloudWatch = mockClient(CloudWatchClient);
const events = mockClient(EventBridgeClient);

const CANARY_ID = 'al2023-web-canary-1';
const EXECUTION_ARN = `arn:aws:states:eu-west-1:111122223333:execution:bakehouse-test-canary:${CANARY_ID}`;
const NEW_AMI = 'ami-0aaaaaaaaaaaaaaa1';
const BASELINE_AMI = 'ami-0bbbbbbbbbbbbbbb2';
const GROUP = 'web-prod';
const NOW = new Date('2026-12-05T12:00:00.000Z');

const canaryFamily = (canary: Record<string, unknown> = {}): FamilyInput =>
  linuxFamily({
    name: 'al2023-web',
    channels: [
      { name: 'stable', promoteOn: 'tested' },
      {
        name: 'prod',
        promoteOn: 'canary',
        canary: {
          autoScalingGroup: GROUP,
          pairs: 2,
          warmupMinutes: 10,
          analysisMinutes: 30,
          intervalMinutes: 10,
          metrics: [
            { name: 'cpu', namespace: 'AWS/EC2', metricName: 'CPUUtilization', badDirection: 'increase' },
            {
              name: 'latency',
              namespace: 'Bakehouse/ExampleApp',
              metricName: 'Latency',
              badDirection: 'increase',
              critical: true,
              weight: 2,
              dimensions: { Service: 'web' },
            },
          ],
          ...canary,
        },
      },
    ],
  } as Partial<FamilyInput>);

const config = (family: FamilyInput = canaryFamily()) => loadConfig(configInput([family]));

let clock = NOW;
const deps = (family?: FamilyInput): CanaryDeps => ({
  config: config(family),
  ec2: new EC2Client({}),
  ssm: new SSMClient({}),
  autoScaling: new AutoScalingClient({}),
  cloudWatch: new CloudWatchClient({}),
  events: new EventBridgeClient({}),
  target: { busName: 'bakehouse-test', source: 'bakehouse' },
  clock: () => clock,
  logger: recordingLogger(),
});

const amiTested = (detail: Record<string, unknown> = {}) => ({
  id: 'evt-1',
  source: 'bakehouse',
  'detail-type': 'AMI Tested',
  time: NOW.toISOString(),
  detail: {
    version: '1.0',
    bakeId: 'bake-123',
    family: 'al2023-web',
    amiId: NEW_AMI,
    passed: true,
    results: [{ name: 'nginx running', passed: true }],
    testExecutionId: 'exec-1',
    ...detail,
  },
});

const startInput = (detail: Record<string, unknown> = {}) => ({
  canaryId: CANARY_ID,
  executionArn: EXECUTION_ARN,
  event: amiTested(detail),
});

const channelHolds = (amiId: string | null) =>
  amiId === null
    ? ssm.on(GetParameterCommand).rejects(awsError('ParameterNotFound'))
    : ssm.on(GetParameterCommand, { Name: '/bakehouse/al2023-web/prod' }).resolves({ Parameter: { Value: amiId } });

const groupUses = (group: Record<string, unknown>) =>
  autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
    AutoScalingGroups: [
      {
        AutoScalingGroupName: GROUP,
        MinSize: 1,
        MaxSize: 10,
        DesiredCapacity: 2,
        AvailabilityZones: ['eu-west-1a'],
        CreatedTime: NOW,
        DefaultCooldown: 300,
        HealthCheckType: 'EC2',
        VPCZoneIdentifier: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
        ...group,
      },
    ],
  });

const launches = (ids: Record<string, string[]>) => {
  for (const [image, instanceIds] of Object.entries(ids)) {
    ec2
      .on(RunInstancesCommand, { ImageId: image })
      .resolves({ Instances: instanceIds.map((InstanceId) => ({ InstanceId })) });
  }
};

const publishedOf = (detailType: string): Record<string, unknown>[] =>
  events
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .filter((entry) => entry.DetailType === detailType)
    .map((entry) => JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>);

const run = (overrides: Partial<CanaryRun> = {}): CanaryRun => {
  const settings = config().families[0]?.channels[1]?.canary;
  if (!settings) throw new Error('fixture has no canary');
  return {
    canaryId: CANARY_ID,
    executionArn: EXECUTION_ARN,
    family: 'al2023-web',
    amiId: NEW_AMI,
    bakeId: 'bake-123',
    skip: false,
    channel: 'prod',
    baselineAmiId: BASELINE_AMI,
    autoScalingGroup: GROUP,
    instances: {
      baseline: ['i-0b0000000000000b1', 'i-0b0000000000000b2'],
      canary: ['i-0c0000000000000c1', 'i-0c0000000000000c2'],
    },
    settings,
    launchedAt: '2026-12-05T11:00:00.000Z',
    checks: 0,
    allRunning: false,
    failed: false,
    attachedAt: null,
    analysisStartsAt: null,
    analysisEndsAt: null,
    warmupSeconds: 600,
    intervalSeconds: 600,
    intervalsJudged: 0,
    decision: null,
    judgement: null,
    ...overrides,
  };
};

const ALL = ['i-0b0000000000000b1', 'i-0b0000000000000b2', 'i-0c0000000000000c1', 'i-0c0000000000000c2'];

beforeEach(() => {
  for (const client of [ec2, ssm, autoScaling, cloudWatch, events]) client.reset();
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  clock = NOW;
});

describe('start', () => {
  it('launches the baseline and the canary pairs from the group launch template, each with its image and the canary tags', async () => {
    // Prepare
    channelHolds(BASELINE_AMI);
    groupUses({ LaunchTemplate: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '7' } });
    launches({
      [BASELINE_AMI]: ['i-0b0000000000000b1', 'i-0b0000000000000b2'],
      [NEW_AMI]: ['i-0c0000000000000c1', 'i-0c0000000000000c2'],
    });

    // Act
    const state = await startCanary(startInput(), deps());

    // Assess
    expect(state).toMatchObject({
      skip: false,
      canaryId: CANARY_ID,
      family: 'al2023-web',
      channel: 'prod',
      amiId: NEW_AMI,
      baselineAmiId: BASELINE_AMI,
      bakeId: 'bake-123',
      autoScalingGroup: GROUP,
      instances: {
        baseline: ['i-0b0000000000000b1', 'i-0b0000000000000b2'],
        canary: ['i-0c0000000000000c1', 'i-0c0000000000000c2'],
      },
      launchedAt: NOW.toISOString(),
      warmupSeconds: 600,
      intervalSeconds: 600,
      checks: 0,
      allRunning: false,
      failed: false,
    });
    const calls = ec2.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    for (const [role, image] of [
      ['baseline', BASELINE_AMI],
      ['canary', NEW_AMI],
    ] as const) {
      const call = calls.find((c) => c.ImageId === image);
      expect(call).toMatchObject({
        MinCount: 2,
        MaxCount: 2,
        LaunchTemplate: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '7' },
        SubnetId: 'subnet-0123456789abcdef0',
      });
      const expected = [
        { Key: 'bakehouse:managed', Value: 'true' },
        { Key: 'bakehouse:role', Value: role },
        { Key: CANARY_ID_TAG, Value: CANARY_ID },
        { Key: 'bakehouse:family', Value: 'al2023-web' },
        // launch + warm-up 10 + analysis 30 + 60 minutes
        { Key: 'bakehouse:expires-at', Value: '2026-12-05T13:40:00.000Z' },
      ];
      expect(call?.TagSpecifications).toEqual([
        { ResourceType: 'instance', Tags: expected },
        { ResourceType: 'volume', Tags: expected },
      ]);
    }
  });

  it("uses the launch template of a group's mixed instances policy", async () => {
    // Prepare
    channelHolds(BASELINE_AMI);
    groupUses({
      MixedInstancesPolicy: {
        LaunchTemplate: { LaunchTemplateSpecification: { LaunchTemplateName: 'web', Version: '$Latest' } },
      },
    });
    launches({ [BASELINE_AMI]: ['i-0b0000000000000b1'], [NEW_AMI]: ['i-0c0000000000000c1'] });

    // Act
    await startCanary(startInput(), deps());

    // Assess
    expect(ec2.commandCalls(RunInstancesCommand)[0]?.args[0].input.LaunchTemplate).toEqual({
      LaunchTemplateName: 'web',
      Version: '$Latest',
    });
  });

  it('names the group and the fix when the group has no launch template, and launches nothing', async () => {
    // Prepare
    channelHolds(BASELINE_AMI);
    groupUses({ LaunchConfigurationName: 'old-style' });

    // Act
    const starting = startCanary(startInput(), deps());

    // Assess
    await expect(starting).rejects.toMatchObject({
      name: 'CanaryGroupError',
      message: expect.stringMatching(
        /group 'web-prod' launches from no launch template.*Fix: move the group to a launch template/,
      ),
    });
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it('terminates the launched side when the other side fails to launch, and throws', async () => {
    // Prepare
    channelHolds(BASELINE_AMI);
    groupUses({ LaunchTemplate: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '$Default' } });
    ec2
      .on(RunInstancesCommand, { ImageId: BASELINE_AMI })
      .resolves({ Instances: [{ InstanceId: 'i-0b0000000000000b1' }, { InstanceId: 'i-0b0000000000000b2' }] });
    ec2.on(RunInstancesCommand, { ImageId: NEW_AMI }).rejects(awsError('InsufficientInstanceCapacity', 'no capacity'));
    ec2.on(TerminateInstancesCommand).resolves({});

    // Act
    const starting = startCanary(startInput(), deps());

    // Assess
    await expect(starting).rejects.toMatchObject({
      name: 'CanaryLaunchError',
      message: expect.stringContaining(`canary (${NEW_AMI}): no capacity`),
    });
    expect(ec2.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds)).toEqual([
      ['i-0b0000000000000b1', 'i-0b0000000000000b2'],
    ]);
  });

  it.each([
    ['the tests failed', { passed: false }, BASELINE_AMI, /failed its tests/],
    ['the channel has no image yet', {}, null, /channel 'prod' has no image yet/],
    ['the channel already holds the image', {}, NEW_AMI, /already holds/],
  ])('skips when %s, launching nothing', async (_what, detail, baseline, reason) => {
    // Prepare
    channelHolds(baseline);

    // Act
    const state = (await startCanary(startInput(detail), deps())) as SkippedCanary;

    // Assess
    expect(state).toMatchObject({
      skip: true,
      channel: 'prod',
      canaryId: CANARY_ID,
      amiId: NEW_AMI,
      bakeId: 'bake-123',
    });
    expect(state.reason).toMatch(reason);
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it('skips a family without a canary channel', async () => {
    // Act
    const state = await startCanary(startInput(), deps(linuxFamily({ name: 'al2023-web' })));

    // Assess
    expect(state).toMatchObject({ skip: true, channel: null });
  });
});

const instancesIn = (states: Record<string, InstanceStateName>) =>
  ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [
      { Instances: Object.entries(states).map(([InstanceId, Name]) => ({ InstanceId, State: { Name } })) },
    ],
  });

describe('check', () => {
  it('waits while an instance is pending: no attach, no event', async () => {
    // Prepare
    instancesIn({
      [ALL[0] as string]: 'running',
      [ALL[1] as string]: 'pending',
      [ALL[2] as string]: 'running',
      [ALL[3] as string]: 'running',
    });

    // Act
    const state = await checkCanary(run(), deps());

    // Assess
    expect(state).toMatchObject({ checks: 1, allRunning: false, failed: false, attachedAt: null });
    expect(autoScaling.commandCalls(AttachInstancesCommand)).toHaveLength(0);
    expect(events.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('treats instances EC2 does not show yet as not running', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));

    // Act
    const state = await checkCanary(run({ checks: 2 }), deps());

    // Assess
    expect(state).toMatchObject({ checks: 3, allRunning: false, failed: false });
  });

  it('reports a stopped or terminated instance as failed', async () => {
    // Prepare
    instancesIn({
      [ALL[0] as string]: 'running',
      [ALL[1] as string]: 'terminated',
      [ALL[2] as string]: 'running',
      [ALL[3] as string]: 'running',
    });

    // Act
    const state = await checkCanary(run(), deps());

    // Assess
    expect(state).toMatchObject({ failed: true, allRunning: false });
    expect(autoScaling.commandCalls(AttachInstancesCommand)).toHaveLength(0);
  });

  it('attaches all running instances to the group, publishes Canary Started, and times the analysis from the attach', async () => {
    // Prepare
    instancesIn(Object.fromEntries(ALL.map((id) => [id, 'running' as const])));
    autoScaling.on(AttachInstancesCommand).resolves({});

    // Act
    const state = await checkCanary(run(), deps());

    // Assess
    expect(autoScaling.commandCalls(AttachInstancesCommand).map((c) => c.args[0].input)).toEqual([
      { AutoScalingGroupName: GROUP, InstanceIds: ALL },
    ]);
    expect(state).toMatchObject({
      allRunning: true,
      attachedAt: NOW.toISOString(),
      analysisStartsAt: '2026-12-05T12:10:00.000Z',
      analysisEndsAt: '2026-12-05T12:40:00.000Z',
    });
    const [started] = publishedOf('Canary Started');
    expect(canaryStartedSchema.safeParse(started).success).toBe(true);
    expect(started).toMatchObject({
      canaryId: CANARY_ID,
      executionArn: EXECUTION_ARN,
      channel: 'prod',
      amiId: NEW_AMI,
      baselineAmiId: BASELINE_AMI,
      pairs: 2,
      instances: { baseline: ALL.slice(0, 2), canary: ALL.slice(2) },
      warmupMinutes: 10,
      analysisMinutes: 30,
      intervalMinutes: 10,
    });
  });
});

/** CloudWatch answering with `values(query)` for each query, in two pages to exercise NextToken. */
const metricsAre = (values: (query: MetricDataQuery) => number[]) =>
  cloudWatch
    .on(GetMetricDataCommand)
    .callsFake((input: { MetricDataQueries: MetricDataQuery[]; NextToken?: string }) => {
      const first = input.NextToken === undefined;
      return {
        MetricDataResults: input.MetricDataQueries.map((q) => {
          const all = values(q);
          const half = Math.ceil(all.length / 2);
          return { Id: q.Id, Values: first ? all.slice(0, half) : all.slice(half) };
        }),
        ...(first ? { NextToken: 'page-2' } : {}),
      };
    });

const sideOf = (q: MetricDataQuery) => (q.Id?.includes('_b') ? 'baseline' : 'canary');
const metricOf = (q: MetricDataQuery) => q.MetricStat?.Metric?.MetricName;
const around = (center: number, n = 10) => Array.from({ length: n }, (_, i) => center + ((i * 7) % 5) - 2);

const attached = (overrides: Partial<CanaryRun> = {}) =>
  run({
    allRunning: true,
    attachedAt: '2026-12-05T11:50:00.000Z',
    analysisStartsAt: '2026-12-05T12:00:00.000Z',
    analysisEndsAt: '2026-12-05T12:30:00.000Z',
    ...overrides,
  });

describe('judge', () => {
  it('queries every metric for every instance with its dimensions plus InstanceId, and pools each side over pages', async () => {
    // Prepare
    metricsAre((q) => (metricOf(q) === 'Latency' ? around(120) : around(35)));
    clock = new Date('2026-12-05T12:10:00.000Z');

    // Act
    const state = await judgeCanaryRun(attached(), deps());

    // Assess
    const first = cloudWatch.commandCalls(GetMetricDataCommand)[0]?.args[0].input;
    expect(first?.StartTime).toEqual(new Date('2026-12-05T12:00:00.000Z'));
    expect(first?.EndTime).toEqual(clock);
    expect(first?.MetricDataQueries).toHaveLength(8);
    const latencyCanary = first?.MetricDataQueries?.find((q) => metricOf(q) === 'Latency' && q.Id === 'm1_c1');
    expect(latencyCanary?.MetricStat).toEqual({
      Metric: {
        Namespace: 'Bakehouse/ExampleApp',
        MetricName: 'Latency',
        Dimensions: [
          { Name: 'Service', Value: 'web' },
          { Name: 'InstanceId', Value: 'i-0c0000000000000c2' },
        ],
      },
      Period: 60,
      Stat: 'Average',
    });
    expect(cloudWatch.commandCalls(GetMetricDataCommand)).toHaveLength(2);
    expect(state.judgement?.metrics.map((m) => [m.name, m.baselineCount, m.canaryCount, m.passed])).toEqual([
      ['cpu', 20, 20, true],
      ['latency', 20, 20, true],
    ]);
    expect(state).toMatchObject({ intervalsJudged: 1, decision: 'continue' });
    expect(state.judgement).toMatchObject({ verdict: 'pass', score: 100 });
    expect(JSON.stringify(state)).not.toContain('"method"');
  });

  it('ends early when a critical metric fails on data', async () => {
    // Prepare
    metricsAre((q) => (metricOf(q) === 'Latency' ? around(sideOf(q) === 'canary' ? 240 : 120) : around(35)));
    clock = new Date('2026-12-05T12:10:00.000Z');

    // Act
    const state = await judgeCanaryRun(attached(), deps());

    // Assess
    expect(state.decision).toBe('end');
    expect(state.judgement).toMatchObject({ verdict: 'fail', score: 0, failedCritical: ['latency'] });
  });

  it('continues while a critical metric has no data yet, and fails it at the end', async () => {
    // Prepare
    metricsAre((q) => (metricOf(q) === 'Latency' ? [] : around(35)));
    clock = new Date('2026-12-05T12:10:00.000Z');

    // Act
    const early = await judgeCanaryRun(attached(), deps());
    clock = new Date('2026-12-05T12:30:00.000Z');
    const last = await judgeCanaryRun(attached({ intervalsJudged: 2 }), deps());

    // Assess
    expect(early.decision).toBe('continue');
    expect(early.judgement?.metrics.find((m) => m.name === 'latency')?.classification).toBe('NoData');
    expect(last).toMatchObject({ decision: 'end', intervalsJudged: 3 });
    expect(last.judgement).toMatchObject({ verdict: 'fail', failedCritical: ['latency'] });
  });

  it('leaves a non-critical metric without data out of the score', async () => {
    // Prepare
    metricsAre((q) => (metricOf(q) === 'Latency' ? around(120) : []));
    clock = new Date('2026-12-05T12:30:00.000Z');

    // Act
    const state = await judgeCanaryRun(attached({ intervalsJudged: 2 }), deps());

    // Assess
    expect(state.judgement).toMatchObject({ verdict: 'pass', score: 100, failedCritical: [] });
    expect(state.judgement?.metrics.find((m) => m.name === 'cpu')?.classification).toBe('NoData');
  });

  it(`asks at most ${MAX_QUERIES_PER_CALL} queries per call`, async () => {
    // Prepare: 26 metrics × 20 instances = 520 queries.
    const metrics = Array.from({ length: 26 }, (_, i) => ({
      name: `m${i}`,
      namespace: 'AWS/EC2',
      metricName: 'CPUUtilization',
      badDirection: 'increase',
    }));
    const many = deps(canaryFamily({ pairs: 10, metrics }));
    const settings = many.config.families[0]?.channels[1]?.canary;
    const ids = (p: string) => Array.from({ length: 10 }, (_, i) => `i-0${p}00000000000${String(i).padStart(3, '0')}`);
    metricsAre(() => around(35, 2));
    clock = new Date('2026-12-05T12:10:00.000Z');

    // Act
    await judgeCanaryRun(
      attached({ ...(settings ? { settings } : {}), instances: { baseline: ids('b'), canary: ids('c') } }),
      many,
    );

    // Assess
    const sizes = cloudWatch.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input.MetricDataQueries?.length);
    expect(sizes).toEqual([500, 500, 20, 20]);
  });
});

describe('finish', () => {
  it('publishes Canary Judged with the verdict, score, reason and scorecard', async () => {
    // Prepare
    metricsAre((q) => (metricOf(q) === 'Latency' ? around(120) : around(35)));
    clock = new Date('2026-12-05T12:30:00.000Z');
    const judged = await judgeCanaryRun(attached({ intervalsJudged: 2 }), deps());

    // Act
    const result = await finishCanary(
      { state: { ...judged, cleanup: { errors: [], instancesTerminated: 4 } } },
      deps(),
    );

    // Assess
    expect(result).toEqual({ verdict: 'pass', published: true });
    const [event] = publishedOf('Canary Judged');
    expect(canaryJudgedSchema.safeParse(event).success).toBe(true);
    expect(event).toMatchObject({
      canaryId: CANARY_ID,
      channel: 'prod',
      amiId: NEW_AMI,
      baselineAmiId: BASELINE_AMI,
      verdict: 'pass',
      score: 100,
      intervalsJudged: 3,
      failedCritical: [],
      cleanup: { errors: [], instancesTerminated: 4 },
    });
    expect(event?.reason).toMatch(/reached the pass threshold 75 after 3 intervals/);
    expect(event?.metrics).toHaveLength(2);
  });

  it('publishes a skipped canary as verdict skipped with its reason', async () => {
    // Prepare
    const skipped: SkippedCanary = {
      skip: true,
      canaryId: CANARY_ID,
      executionArn: EXECUTION_ARN,
      family: 'al2023-web',
      amiId: NEW_AMI,
      bakeId: 'bake-123',
      channel: 'prod',
      baselineAmiId: null,
      reason: "channel 'prod' has no image yet",
    };

    // Act
    await finishCanary({ state: skipped }, deps());

    // Assess
    const [event] = publishedOf('Canary Judged');
    expect(canaryJudgedSchema.safeParse(event).success).toBe(true);
    expect(event).toMatchObject({
      verdict: 'skipped',
      score: null,
      metrics: [],
      reason: "channel 'prod' has no image yet",
    });
  });
});

describe('cleanup', () => {
  beforeEach(() => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2.on(TerminateInstancesCommand).callsFake((input: { InstanceIds: string[] }) => ({
      TerminatingInstances: input.InstanceIds.map((InstanceId) => ({ InstanceId, PreviousState: { Name: 'running' } })),
    }));
  });

  it('detaches the pairs decrementing the desired capacity, then terminates them', async () => {
    // Prepare
    autoScaling.on(DetachInstancesCommand).resolves({});

    // Act
    const result = await cleanupCanary({ canaryId: CANARY_ID, executionArn: EXECUTION_ARN, state: attached() }, deps());

    // Assess
    expect(result).toEqual({ errors: [], instancesTerminated: 4 });
    expect(autoScaling.commandCalls(DetachInstancesCommand).map((c) => c.args[0].input)).toEqual([
      { AutoScalingGroupName: GROUP, InstanceIds: ALL, ShouldDecrementDesiredCapacity: true },
    ]);
    expect(ec2.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds)).toEqual([ALL]);
    expect(events.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('tolerates instances that are not in the group', async () => {
    // Prepare
    autoScaling
      .on(DetachInstancesCommand)
      .rejects(
        awsError('ValidationError', 'The instance i-0b0000000000000b1 is not part of Auto Scaling group web-prod.'),
      );

    // Act
    const result = await cleanupCanary({ canaryId: CANARY_ID, executionArn: EXECUTION_ARN, state: attached() }, deps());

    // Assess
    expect(result).toEqual({ errors: [], instancesTerminated: 4 });
    expect(autoScaling.commandCalls(DetachInstancesCommand)).toHaveLength(5);
  });

  it('reports an instance the group cannot detach yet (not InService), and still terminates it', async () => {
    // Prepare
    autoScaling
      .on(DetachInstancesCommand)
      .rejects(awsError('ValidationError', `The instance ${ALL[0]} is not in InService or Standby.`));

    // Act
    const result = await cleanupCanary({ canaryId: CANARY_ID, executionArn: EXECUTION_ARN, state: attached() }, deps());

    // Assess
    expect(result.instancesTerminated).toBe(4);
    expect(result.errors).toHaveLength(4);
    expect(result.errors[0]).toMatch(new RegExp(`could not detach ${ALL[0]} from 'web-prod' \\(ValidationError`));
  });

  it('tolerates instances that are already gone and reports other failures without throwing', async () => {
    // Prepare
    autoScaling.on(DetachInstancesCommand).resolves({});
    ec2.on(TerminateInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));
    ec2
      .on(TerminateInstancesCommand, { InstanceIds: [ALL[3] as string] })
      .rejects(awsError('UnauthorizedOperation', 'denied'));

    // Act
    const result = await cleanupCanary({ canaryId: CANARY_ID, executionArn: EXECUTION_ARN, state: attached() }, deps());

    // Assess
    expect(result.instancesTerminated).toBe(0);
    expect(result.errors).toEqual([
      expect.stringContaining(`could not terminate ${ALL[3]} (UnauthorizedOperation: denied)`),
    ]);
  });

  it('finds by tag what an early failure launched, and publishes Canary Judged verdict error with the reason', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [{ InstanceId: 'i-0b0000000000000b1', State: { Name: 'running' } }] }],
    });
    autoScaling
      .on(DetachInstancesCommand)
      .rejects(
        awsError('ValidationError', 'The instance i-0b0000000000000b1 is not part of Auto Scaling group web-prod.'),
      );
    const input = amiTested();

    // Act
    const result = await cleanupCanary(
      {
        canaryId: CANARY_ID,
        executionArn: EXECUTION_ARN,
        input,
        state: { ...input, error: {} },
        error: { Error: 'CanaryLaunchError', Cause: JSON.stringify({ errorMessage: 'canary: could not launch' }) },
      },
      deps(),
    );

    // Assess
    expect(ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters).toContainEqual({
      Name: `tag:${CANARY_ID_TAG}`,
      Values: [CANARY_ID],
    });
    expect(result).toMatchObject({ instancesTerminated: 1, published: 'error' });
    const [event] = publishedOf('Canary Judged');
    expect(canaryJudgedSchema.safeParse(event).success).toBe(true);
    expect(event).toMatchObject({
      verdict: 'error',
      channel: 'prod',
      baselineAmiId: null,
      score: null,
      reason: 'the canary failed: CanaryLaunchError: canary: could not launch',
      cleanup: { errors: [], instancesTerminated: 1 },
    });
  });
});

describe('cleanupStopped', () => {
  const statusChange = (status: string, extra: Record<string, unknown> = {}) => ({
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    detail: { executionArn: EXECUTION_ARN, name: CANARY_ID, status, input: JSON.stringify(amiTested()), ...extra },
  });

  beforeEach(() => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-0b0000000000000b1',
              ImageId: BASELINE_AMI,
              Tags: [{ Key: 'bakehouse:role', Value: 'baseline' }],
            },
            { InstanceId: 'i-0c0000000000000c1', ImageId: NEW_AMI, Tags: [{ Key: 'bakehouse:role', Value: 'canary' }] },
          ],
        },
      ],
    });
    autoScaling.on(DetachInstancesCommand).resolves({});
    ec2.on(TerminateInstancesCommand).callsFake((input: { InstanceIds: string[] }) => ({
      TerminatingInstances: input.InstanceIds.map((InstanceId) => ({ InstanceId, PreviousState: { Name: 'running' } })),
    }));
  });

  it.each([
    ['ABORTED', 'aborted', /stopped \(ABORTED\)/],
    ['TIMED_OUT', 'error', /timed out/],
    ['FAILED', 'error', /failed: States.Runtime/],
  ])('cleans up an execution %s and publishes verdict %s', async (status, verdict, reason) => {
    // Act
    const result = await cleanupStopped(statusChange(status, { error: 'States.Runtime', cause: 'bad path' }), deps());

    // Assess
    expect(result).toEqual({ errors: [], instancesTerminated: 2, verdict });
    expect(autoScaling.commandCalls(DetachInstancesCommand)[0]?.args[0].input).toEqual({
      AutoScalingGroupName: GROUP,
      InstanceIds: ['i-0b0000000000000b1', 'i-0c0000000000000c1'],
      ShouldDecrementDesiredCapacity: true,
    });
    const [event] = publishedOf('Canary Judged');
    expect(canaryJudgedSchema.safeParse(event).success).toBe(true);
    expect(event).toMatchObject({ verdict, canaryId: CANARY_ID, baselineAmiId: BASELINE_AMI, channel: 'prod' });
    expect(event?.reason).toMatch(reason);
  });

  it("publishes nothing for the machine's own failure path, which published already", async () => {
    // Act
    const result = await cleanupStopped(statusChange('FAILED', { error: CANARY_FAILED_ERROR }), deps());

    // Assess
    expect(result.verdict).toBeNull();
    expect(events.commandCalls(PutEventsCommand)).toHaveLength(0);
  });
});
