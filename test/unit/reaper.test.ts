import {
  AutoScalingClient,
  DescribeAutoScalingInstancesCommand,
  DetachInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client, type Instance, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { type AutomationExecutionStatus, GetAutomationExecutionCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type ReaperDeps, reapExpiredInstances } from '../../functions/commons/reaper';
import { awsError, recordingLogger } from './support/bake-factories';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const autoScaling = mockClient(AutoScalingClient);

const NOW = new Date('2026-12-05T12:00:00.000Z');
const PAST = '2026-12-05T11:00:00Z';
const FUTURE = '2026-12-05T13:00:00Z';

interface InstanceSpec {
  readonly id: string;
  readonly role?: string;
  readonly managed?: string;
  readonly expiresAt?: string;
  readonly automation?: string;
  readonly testExecution?: string;
}

const instance = ({
  id,
  role = 'builder',
  managed = 'true',
  expiresAt = PAST,
  automation,
  testExecution,
}: InstanceSpec) =>
  ({
    InstanceId: id,
    State: { Name: 'running' },
    Tags: [
      { Key: 'bakehouse:managed', Value: managed },
      { Key: 'bakehouse:role', Value: role },
      { Key: 'bakehouse:bake-id', Value: `bake-${id}` },
      { Key: 'bakehouse:family', Value: 'al2023-base' },
      ...(expiresAt === '' ? [] : [{ Key: 'bakehouse:expires-at', Value: expiresAt }]),
      ...(automation ? [{ Key: 'bakehouse:automation-execution-id', Value: automation }] : []),
      ...(testExecution ? [{ Key: 'bakehouse:test-execution-id', Value: testExecution }] : []),
    ],
  }) satisfies Instance;

const listing = (...instances: Instance[]) =>
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: instances }] });

const automationIs = (id: string, status: string) =>
  ssm
    .on(GetAutomationExecutionCommand, { AutomationExecutionId: id })
    .resolves({ AutomationExecution: { AutomationExecutionStatus: status as AutomationExecutionStatus } });

const deps = (): ReaperDeps => ({
  ec2: new EC2Client({}),
  ssm: new SSMClient({}),
  autoScaling: new AutoScalingClient({}),
  clock: () => NOW,
  logger: recordingLogger(),
});

const terminated = (): string[] =>
  ec2.commandCalls(TerminateInstancesCommand).flatMap((call) => call.args[0].input.InstanceIds ?? []);

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  autoScaling.reset();
  autoScaling.on(DescribeAutoScalingInstancesCommand).resolves({ AutoScalingInstances: [] });
  autoScaling.on(DetachInstancesCommand).resolves({});
  ec2.on(TerminateInstancesCommand).resolves({});
  ssm.on(GetAutomationExecutionCommand).rejects(awsError('AutomationExecutionNotFoundException'));
});

describe('reapExpiredInstances', () => {
  it('lists only managed builders, testers, canaries and baselines that are not terminated', async () => {
    // Prepare
    listing();

    // Act
    await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(ec2).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        { Name: 'tag:bakehouse:managed', Values: ['true'] },
        { Name: 'tag:bakehouse:role', Values: ['builder', 'tester', 'canary', 'baseline'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ],
    });
  });

  it('terminates an expired builder whose automation ended, and reports it', async () => {
    // Prepare
    listing(instance({ id: 'i-0000000000000000a', automation: 'auto-1' }));
    automationIs('auto-1', 'Failed');

    // Act
    const report = await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(terminated()).toEqual(['i-0000000000000000a']);
    expect(report.reaped).toEqual([
      {
        instanceId: 'i-0000000000000000a',
        role: 'builder',
        bakeId: 'bake-i-0000000000000000a',
        family: 'al2023-base',
        expiresAt: PAST,
        executionId: 'auto-1',
        executionStatus: 'Failed',
      },
    ]);
    expect(report).toMatchObject({ dryRun: false, checkedAt: NOW.toISOString(), kept: [], errors: [] });
  });

  it('terminates an expired tester whose test automation SSM no longer knows', async () => {
    // Prepare
    listing(instance({ id: 'i-0000000000000000b', role: 'tester', testExecution: 'test-1' }));

    // Act
    const report = await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(terminated()).toEqual(['i-0000000000000000b']);
    expect(report.reaped[0]).toMatchObject({ role: 'tester', executionId: 'test-1', executionStatus: null });
  });

  it('keeps instances not yet expired, without an expiry, or whose automation still runs', async () => {
    // Prepare
    listing(
      instance({ id: 'i-0000000000000000c', expiresAt: FUTURE }),
      instance({ id: 'i-0000000000000000d', expiresAt: '' }),
      instance({ id: 'i-0000000000000000e', expiresAt: 'soon' }),
      instance({ id: 'i-0000000000000000f', automation: 'auto-2' }),
    );
    automationIs('auto-2', 'InProgress');

    // Act
    const report = await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(report.kept).toEqual([
      { instanceId: 'i-0000000000000000c', reason: 'not-expired' },
      { instanceId: 'i-0000000000000000d', reason: 'no-expiry' },
      { instanceId: 'i-0000000000000000e', reason: 'no-expiry' },
      { instanceId: 'i-0000000000000000f', reason: 'automation-running' },
    ]);
  });

  it('never terminates an instance without the managed tag or with another role, whatever the filter returned', async () => {
    // Prepare
    listing(
      instance({ id: 'i-00000000000000010', managed: 'false' }),
      instance({ id: 'i-00000000000000011', role: 'web' }),
    );

    // Act
    const report = await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(report.reaped).toEqual([]);
  });

  it('terminates nothing in a dry run and reports what it would reap', async () => {
    // Prepare
    listing(instance({ id: 'i-00000000000000012' }));

    // Act
    const report = await reapExpiredInstances(deps(), { dryRun: true });

    // Assess
    expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(report.dryRun).toBe(true);
    expect(report.reaped.map((item) => item.instanceId)).toEqual(['i-00000000000000012']);
  });

  it('reports a termination EC2 refused, and an automation it could not read, instead of throwing', async () => {
    // Prepare
    listing(instance({ id: 'i-00000000000000013' }), instance({ id: 'i-00000000000000014', automation: 'auto-3' }));
    ssm
      .on(GetAutomationExecutionCommand, { AutomationExecutionId: 'auto-3' })
      .rejects(awsError('ThrottlingException', 'slow down'));
    ec2.on(TerminateInstancesCommand).rejects(awsError('UnauthorizedOperation', 'denied'));

    // Act
    const report = await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(report.reaped).toEqual([]);
    expect(report.errors).toEqual([
      { instanceId: 'i-00000000000000014', error: 'reading automation auto-3: slow down' },
      { instanceId: 'i-00000000000000013', error: 'UnauthorizedOperation: denied' },
    ]);
  });
});

describe('canary and baseline instances', () => {
  const canary = (id: string, role: 'canary' | 'baseline', expiresAt = PAST) =>
    ({
      InstanceId: id,
      State: { Name: 'running' },
      Tags: [
        { Key: 'bakehouse:managed', Value: 'true' },
        { Key: 'bakehouse:role', Value: role },
        { Key: 'bakehouse:canary-id', Value: 'canary-1' },
        { Key: 'bakehouse:family', Value: 'al2023-web' },
        { Key: 'bakehouse:expires-at', Value: expiresAt },
      ],
    }) satisfies Instance;
  const inGroup = (...pairs: [string, string][]) =>
    autoScaling.on(DescribeAutoScalingInstancesCommand).resolves({
      AutoScalingInstances: pairs.map(([InstanceId, AutoScalingGroupName]) => ({
        InstanceId,
        AutoScalingGroupName,
        AvailabilityZone: 'eu-west-1a',
        LifecycleState: 'InService',
        HealthStatus: 'HEALTHY',
        ProtectedFromScaleIn: false,
      })),
    });

  it('detaches expired ones from their group, decrementing its desired capacity, then terminates them', async () => {
    // Prepare
    listing(canary('i-0000000000000c001', 'canary'), canary('i-0000000000000b001', 'baseline'));
    inGroup(['i-0000000000000c001', 'web-prod'], ['i-0000000000000b001', 'web-prod']);

    // Act
    const report = await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(autoScaling).toHaveReceivedCommandWith(DescribeAutoScalingInstancesCommand, {
      InstanceIds: ['i-0000000000000c001', 'i-0000000000000b001'],
    });
    expect(autoScaling).toHaveReceivedCommandWith(DetachInstancesCommand, {
      AutoScalingGroupName: 'web-prod',
      InstanceIds: ['i-0000000000000c001', 'i-0000000000000b001'],
      ShouldDecrementDesiredCapacity: true,
    });
    expect(terminated()).toEqual(['i-0000000000000c001', 'i-0000000000000b001']);
    expect(report.reaped.map((r) => [r.instanceId, r.role, r.executionId])).toEqual([
      ['i-0000000000000c001', 'canary', null],
      ['i-0000000000000b001', 'baseline', null],
    ]);
    expect(report.errors).toEqual([]);
  });

  it('detaches before it terminates', async () => {
    // Prepare
    const order: string[] = [];
    listing(canary('i-0000000000000c002', 'canary'));
    inGroup(['i-0000000000000c002', 'web-prod']);
    autoScaling.on(DetachInstancesCommand).callsFake(() => {
      order.push('detach');
      return {};
    });
    ec2.on(TerminateInstancesCommand).callsFake(() => {
      order.push('terminate');
      return {};
    });

    // Act
    await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(order).toEqual(['detach', 'terminate']);
  });

  it('terminates one no group holds without detaching, and detaches from each group its own', async () => {
    // Prepare
    listing(
      canary('i-0000000000000c003', 'canary'),
      canary('i-0000000000000c004', 'canary'),
      canary('i-0000000000000b003', 'baseline'),
    );
    inGroup(['i-0000000000000c003', 'web-a'], ['i-0000000000000b003', 'web-b']);

    // Act
    await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(autoScaling).toHaveReceivedCommandTimes(DetachInstancesCommand, 2);
    expect(autoScaling).toHaveReceivedCommandWith(DetachInstancesCommand, {
      AutoScalingGroupName: 'web-a',
      InstanceIds: ['i-0000000000000c003'],
    });
    expect(autoScaling).toHaveReceivedCommandWith(DetachInstancesCommand, {
      AutoScalingGroupName: 'web-b',
      InstanceIds: ['i-0000000000000b003'],
    });
    expect(terminated().sort()).toEqual(['i-0000000000000b003', 'i-0000000000000c003', 'i-0000000000000c004']);
  });

  it('keeps canaries that have not expired, and asks Auto Scaling nothing about builders', async () => {
    // Prepare
    listing(canary('i-0000000000000c005', 'canary', FUTURE), instance({ id: 'i-00000000000000015' }));

    // Act
    const report = await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(autoScaling).not.toHaveReceivedCommand(DescribeAutoScalingInstancesCommand);
    expect(autoScaling).not.toHaveReceivedCommand(DetachInstancesCommand);
    expect(terminated()).toEqual(['i-00000000000000015']);
    expect(report.kept).toEqual([{ instanceId: 'i-0000000000000c005', reason: 'not-expired' }]);
  });

  it('detaches and terminates nothing in a dry run', async () => {
    // Prepare
    listing(canary('i-0000000000000c006', 'canary'));
    inGroup(['i-0000000000000c006', 'web-prod']);

    // Act
    const report = await reapExpiredInstances(deps(), { dryRun: true });

    // Assess
    expect(autoScaling).not.toHaveReceivedCommand(DetachInstancesCommand);
    expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(report.reaped.map((r) => r.instanceId)).toEqual(['i-0000000000000c006']);
  });

  it('still terminates when the detach fails, and reports the detach error (the group then replaces the instance)', async () => {
    // Prepare
    listing(canary('i-0000000000000c007', 'canary'));
    inGroup(['i-0000000000000c007', 'web-prod']);
    autoScaling.on(DetachInstancesCommand).rejects(awsError('ValidationError', 'below the minimum size'));

    // Act
    const report = await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    expect(terminated()).toEqual(['i-0000000000000c007']);
    expect(report.reaped.map((r) => r.instanceId)).toEqual(['i-0000000000000c007']);
    expect(report.errors).toEqual([
      {
        instanceId: 'i-0000000000000c007',
        error: "detaching from Auto Scaling group 'web-prod': ValidationError: below the minimum size",
      },
    ]);
  });

  it('detaches at most 20 instances per call (the API limit)', async () => {
    // Prepare
    const ids = Array.from({ length: 25 }, (_, i) => `i-0000000000000d${String(i).padStart(3, '0')}`);
    listing(...ids.map((id) => canary(id, 'canary')));
    inGroup(...ids.map((id): [string, string] => [id, 'web-prod']));

    // Act
    await reapExpiredInstances(deps(), { dryRun: false });

    // Assess
    const batches = autoScaling.commandCalls(DetachInstancesCommand).map((c) => c.args[0].input.InstanceIds?.length);
    expect(batches).toEqual([20, 5]);
  });
});
