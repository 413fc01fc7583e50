import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  type AutomationExecution,
  GetAutomationExecutionCommand,
  GetParameterCommand,
  SSMClient,
  StopAutomationExecutionCommand,
} from '@aws-sdk/client-ssm';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  type CleanUpFailedBakeDeps,
  cleanUpFailedBake,
  describeFailure,
} from '../../functions/clean-up-failed-bake/core';
import type { BakeActionPlan, BakeFailureInput, SkipPlan } from '../../functions/commons/bake-plan';
import { createLocks } from '../../functions/commons/state-table';
import { awsError, recordingLogger } from './support/bake-factories';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
// The lock module runs for real over one mocked document client instance.
const stateTableClient = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const stateTable = mockClient(stateTableClient);

const BAKE_ID = 'al2023-base-0123456789abcdef0123456789abcdef';
const AUTOMATION_ID = '4c5a2c1e-7f3b-4d2a-9e8f-0a1b2c3d4e5f';
const LOCK = 'lock#family#al2023-base';
const OTHER_BAKE_ID = 'al2023-base-ffffffffffffffffffffffffffffffff';
const BUILDER = 'i-0b0b0b0b0b0b0b0b0';
/** Waiter timing for tests: hundredths of a second instead of seconds. */
const QUICK_WAIT = { minDelay: 0.01, maxDelay: 0.02, maxWaitTime: 5 };

/** A failed bake automation whose launch step launched `instanceId`. */
const launchedBy = (instanceId: string): AutomationExecution => ({
  AutomationExecutionStatus: 'Failed',
  StepExecutions: [{ StepName: 'launchBuilder', StepStatus: 'Success', Outputs: { InstanceId: [instanceId] } }],
});

const builderInstance = (state: 'pending' | 'running'): Instance => ({
  InstanceId: BUILDER,
  State: { Name: state },
  Tags: [
    { Key: 'bakehouse:bake-id', Value: BAKE_ID },
    { Key: 'bakehouse:role', Value: 'builder' },
  ],
});

const failDeps = (overrides: Partial<CleanUpFailedBakeDeps> = {}): CleanUpFailedBakeDeps => ({
  ec2: new EC2Client({}),
  ssm: new SSMClient({}),
  logger: recordingLogger(),
  locks: createLocks({
    client: stateTableClient,
    tableName: 'bakehouse-test-state',
    clock: () => new Date('2026-01-14T10:00:00.000Z'),
    logger: recordingLogger(),
  }),
  ...overrides,
});

const PLAN: BakeActionPlan = Object.freeze({
  action: 'bake',
  bakeId: BAKE_ID,
  family: 'al2023-base',
  os: 'linux',
  region: 'eu-west-1',
  request: { version: '1.0', family: 'al2023-base', reason: 'test', requestedBy: 'cli:alice', force: false },
  sourceAmiId: 'ami-0a1b2c3d4e5f60718',
  parentFamily: null,
  bakeKey: 'f'.repeat(64),
  plannedAt: '2026-01-14T09:00:00.000Z',
  documentName: 'bakehouse-bake-linux',
  documentParameters: {},
  clientToken: '00000000-0000-5000-8000-000000000000',
  imageName: 'bakehouse/al2023-base/20260114T090000Z-abcdef',
  imageTags: [],
  candidateParameterName: '/bakehouse/al2023-base/candidate',
  lockKey: LOCK,
  bakedKeyRecord: 'record#baked#0000000000000000000000000000000000000000000000000000000000000000',
  bakedKeyExpiresAt: '1769000000',
  maxWaits: 12,
});

const bakePlan = (): BakeActionPlan => structuredClone(PLAN);

const skipPlan = (): SkipPlan => {
  const { bakeId, family, os, region, request, sourceAmiId, parentFamily, bakeKey, plannedAt } = bakePlan();
  const base = { bakeId, family, os, region, request, sourceAmiId, parentFamily, bakeKey, plannedAt };
  return { ...base, action: 'skip', existingAmiId: 'ami-0000000000000000b' };
};

const automationFailed = (overrides: Partial<BakeFailureInput> = {}): BakeFailureInput => ({
  bakeId: BAKE_ID,
  request: { family: 'al2023-base', requestedBy: 'cli:alice' },
  plan: bakePlan(),
  automation: { automationExecutionId: AUTOMATION_ID },
  failure: {
    WaitForAutomation: {
      Error: 'AutomationFailed',
      Cause: JSON.stringify({
        automationExecutionId: AUTOMATION_ID,
        status: 'Failed',
        failedStep: 'patch',
        reason: 'dnf exited 1',
      }),
    },
  },
  ...overrides,
});

/**
 * The family lock's holder: this bake's delete (conditional on the owner) succeeds; another's loses
 * its condition and a consistent read finds the holder.
 */
const lockHeldBy = (bakeId: string) => {
  if (bakeId === BAKE_ID) {
    stateTable.on(DeleteCommand).resolves({});
    return;
  }
  stateTable.on(DeleteCommand).rejects(awsError('ConditionalCheckFailedException'));
  stateTable.on(GetCommand, { Key: { pk: LOCK } }).resolves({
    Item: { pk: LOCK, owner: bakeId, acquiredAt: '2026-01-14T09:30:00.000Z', expiresAt: 1768390200 },
  });
};

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  ec2.on(DescribeImagesCommand).resolves({ Images: [] });
  ec2.on(TerminateInstancesCommand).resolves({});
  ec2.on(DeregisterImageCommand).resolves({});
  ssm.on(GetAutomationExecutionCommand).resolves({ AutomationExecution: { AutomationExecutionStatus: 'Failed' } });
  ssm.on(StopAutomationExecutionCommand).resolves({});
  ssm.on(GetParameterCommand).rejects(awsError('ParameterNotFound'));
  stateTable.reset();
  // No lock at all unless a test says who holds it: the conditional delete finds nothing.
  stateTable.on(DeleteCommand).rejects(awsError('ConditionalCheckFailedException'));
  stateTable.on(GetCommand).resolves({});
});

describe('describeFailure', () => {
  it("names the automation's failed step under the state that waited on it", () => {
    // Act
    const failure = describeFailure(automationFailed());

    // Assess
    expect(failure).toEqual({ failedStep: 'WaitForAutomation/patch', reason: 'AutomationFailed: dnf exited 1' });
  });

  it('still describes a failure whose record is null, naming the state', () => {
    // Act
    const failure = describeFailure({
      bakeId: BAKE_ID,
      failure: { TagAmi: null as unknown as { Error?: string } },
    });

    // Assess
    expect(failure).toEqual({ failedStep: 'TagAmi', reason: 'Error: no cause given' });
  });

  it('names only the state when the automation cause has no step', () => {
    // Prepare
    const cause = JSON.stringify({
      automationExecutionId: AUTOMATION_ID,
      status: 'Success',
      failedStep: null,
      reason: 'no image',
    });

    // Act
    const failure = describeFailure({
      bakeId: BAKE_ID,
      failure: { WaitForAutomation: { Error: 'AutomationFailed', Cause: cause } },
    });

    // Assess
    expect(failure).toEqual({ failedStep: 'WaitForAutomation', reason: 'AutomationFailed: no image' });
  });

  it("reads a Lambda error's message out of its JSON cause", () => {
    // Prepare
    const cause = JSON.stringify({
      errorType: 'SourceImageNotFoundError',
      errorMessage: 'family x: no image',
      trace: [],
    });

    // Act
    const failure = describeFailure({
      bakeId: BAKE_ID,
      failure: { PlanBake: { Error: 'SourceImageNotFoundError', Cause: cause } },
    });

    // Assess
    expect(failure).toEqual({ failedStep: 'PlanBake', reason: 'SourceImageNotFoundError: family x: no image' });
  });

  it('keeps a plain-text cause as it is', () => {
    // Act
    const failure = describeFailure({
      bakeId: BAKE_ID,
      failure: { StartAutomation: { Error: 'States.TaskFailed', Cause: 'Access denied' } },
    });

    // Assess
    expect(failure).toEqual({ failedStep: 'StartAutomation', reason: 'States.TaskFailed: Access denied' });
  });

  it('says so when it knows nothing about the failure', () => {
    // Act
    const failure = describeFailure({ bakeId: BAKE_ID, failure: null });

    // Assess
    expect(failure).toEqual({ failedStep: 'Unknown', reason: 'Error: no cause given' });
  });
});

describe('cleanUpFailedBake', () => {
  it('returns the failure for the Bake Failed event', async () => {
    // Prepare
    lockHeldBy(BAKE_ID);

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess
    expect(failure).toEqual({
      bakeId: BAKE_ID,
      family: 'al2023-base',
      failedStep: 'WaitForAutomation/patch',
      reason: 'AutomationFailed: dnf exited 1',
      automationExecutionId: AUTOMATION_ID,
      terminatedInstanceIds: [],
      discardedImageIds: [],
      cleanupErrors: [],
      cleanup: { errors: [], builderTerminated: true },
    });
  });

  it('stops an automation that is still running', async () => {
    // Prepare
    ssm
      .on(GetAutomationExecutionCommand)
      .resolves({ AutomationExecution: { AutomationExecutionStatus: 'InProgress' } });

    // Act
    await cleanUpFailedBake(
      automationFailed({ failure: { WaitForAutomation: { Error: 'States.Timeout' } } }),
      failDeps(),
    );

    // Assess
    expect(ssm).toHaveReceivedCommandWith(StopAutomationExecutionCommand, {
      AutomationExecutionId: AUTOMATION_ID,
      Type: 'Cancel',
    });
  });

  it('leaves a finished automation alone', async () => {
    // Act
    await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess
    expect(ssm).toHaveReceivedCommandWith(GetAutomationExecutionCommand, { AutomationExecutionId: AUTOMATION_ID });
    expect(ssm).not.toHaveReceivedCommand(StopAutomationExecutionCommand);
  });

  it('finds the automation id in the failure cause when the state machine did not record it', async () => {
    // Act
    const failure = await cleanUpFailedBake(automationFailed({ automation: null }), failDeps());

    // Assess
    expect(failure.automationExecutionId).toBe(AUTOMATION_ID);
    expect(ssm).toHaveReceivedCommandWith(GetAutomationExecutionCommand, { AutomationExecutionId: AUTOMATION_ID });
  });

  it('does not touch SSM Automation when no automation was started', async () => {
    // Prepare
    const input = automationFailed({
      automation: null,
      failure: { StartAutomation: { Error: 'InvalidDocument', Cause: 'bad document' } },
    });

    // Act
    const failure = await cleanUpFailedBake(input, failDeps());

    // Assess
    expect(failure.automationExecutionId).toBeNull();
    expect(ssm).not.toHaveReceivedCommand(GetAutomationExecutionCommand);
  });

  it("terminates this bake's builders, found by tag across every page", async () => {
    // Prepare
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: 'i-0000000000000001' }] }], NextToken: 'p2' })
      .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: 'i-0000000000000002' }, {}] }] });

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess
    expect(failure.terminatedInstanceIds).toEqual(['i-0000000000000001', 'i-0000000000000002']);
    expect(ec2).toHaveReceivedNthCommandWith(DescribeInstancesCommand, 1, {
      Filters: [
        { Name: 'tag:bakehouse:bake-id', Values: [BAKE_ID] },
        { Name: 'tag:bakehouse:role', Values: ['builder'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
    });
    expect(ec2).toHaveReceivedNthCommandWith(DescribeInstancesCommand, 2, { NextToken: 'p2' });
    expect(ec2).toHaveReceivedCommandExactlyOnceWith(TerminateInstancesCommand, {
      InstanceIds: ['i-0000000000000001', 'i-0000000000000002'],
    });
  });

  it('terminates the builder its automation launched although the tag search does not list it yet (eventual consistency)', async () => {
    // Prepare: the automation names its builder; EC2 leaves it out of the filtered search and
    // answers NotFound by id twice before it knows it, as it may right after RunInstances.
    ssm.on(GetAutomationExecutionCommand).resolves({ AutomationExecution: launchedBy(BUILDER) });
    let byId = 0;
    ec2.on(DescribeInstancesCommand, { InstanceIds: [BUILDER] }).callsFake(() => {
      byId += 1;
      if (byId <= 2) throw awsError('InvalidInstanceID.NotFound', `The instance ID '${BUILDER}' does not exist`);
      return { Reservations: [{ Instances: [builderInstance('pending')] }] };
    });

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps({ visibilityWait: QUICK_WAIT }));

    // Assess
    expect(failure.terminatedInstanceIds).toEqual([BUILDER]);
    expect(failure.cleanupErrors).toEqual([]);
    expect(byId).toBeGreaterThanOrEqual(3);
    expect(ec2).toHaveReceivedCommandExactlyOnceWith(TerminateInstancesCommand, { InstanceIds: [BUILDER] });
  });

  it("does not terminate an instance the automation names when it is not this bake's live builder", async () => {
    // Prepare
    ssm.on(GetAutomationExecutionCommand).resolves({ AutomationExecution: launchedBy(BUILDER) });
    ec2.on(DescribeInstancesCommand, { InstanceIds: [BUILDER] }).resolves({
      Reservations: [
        { Instances: [{ ...builderInstance('running'), Tags: [{ Key: 'bakehouse:bake-id', Value: 'other' }] }] },
      ],
    });

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps({ visibilityWait: QUICK_WAIT }));

    // Assess
    expect(failure.terminatedInstanceIds).toEqual([]);
    expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
  });

  it('gives up on a named builder EC2 never knows, without an error (long gone), and still cleans up the rest', async () => {
    // Prepare
    ssm.on(GetAutomationExecutionCommand).resolves({ AutomationExecution: launchedBy(BUILDER) });
    ec2.on(DescribeInstancesCommand, { InstanceIds: [BUILDER] }).rejects(awsError('InvalidInstanceID.NotFound'));
    const logger = recordingLogger();

    // Act
    const failure = await cleanUpFailedBake(
      automationFailed(),
      failDeps({ logger, visibilityWait: { minDelay: 0.01, maxDelay: 0.02, maxWaitTime: 0.1 } }),
    );

    // Assess
    expect(failure.terminatedInstanceIds).toEqual([]);
    expect(failure.cleanupErrors).toEqual([]);
    expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(ec2).toHaveReceivedCommand(DescribeImagesCommand);
  });

  it('terminates many builders in batches of 50', async () => {
    // Prepare
    const instances = Array.from({ length: 120 }, (_, i) => ({ InstanceId: `i-${String(i).padStart(17, '0')}` }));
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: instances }] });

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess
    expect(failure.terminatedInstanceIds).toHaveLength(120);
    const batches = ec2.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds?.length);
    expect(batches).toEqual([50, 50, 20]);
  });

  it("discards the failed bake's images and their snapshots", async () => {
    // Prepare
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-0000000000000000a' }] });

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess
    expect(failure.discardedImageIds).toEqual(['ami-0000000000000000a']);
    expect(ec2).toHaveReceivedCommandWith(DescribeImagesCommand, {
      Owners: ['self'],
      Filters: [
        { Name: 'tag:bakehouse:bake-id', Values: [BAKE_ID] },
        { Name: 'tag:bakehouse:managed', Values: ['true'] },
      ],
    });
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, {
      ImageId: 'ami-0000000000000000a',
      DeleteAssociatedSnapshots: true,
    });
  });

  it('keeps the image once the automation succeeded: it may already be in a channel', async () => {
    // Prepare
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-0000000000000000a' }] });
    const result = { status: 'Success' as const, imageId: 'ami-0000000000000000a', durationSeconds: 900, outputs: {} };
    const input = automationFailed({
      automation: { automationExecutionId: AUTOMATION_ID, result },
      failure: { PublishAmiBaked: { Error: 'EventBridge.InternalException', Cause: 'try again' } },
    });

    // Act
    const failure = await cleanUpFailedBake(input, failDeps());

    // Assess
    expect(failure.discardedImageIds).toEqual([]);
    expect(ec2).not.toHaveReceivedCommand(DescribeImagesCommand);
    expect(ec2).not.toHaveReceivedCommand(DeregisterImageCommand);
  });

  it('releases the family lock this bake holds', async () => {
    // Prepare
    lockHeldBy(BAKE_ID);

    // Act
    await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess: deleted only on the condition that this bake owns it
    expect(stateTable).toHaveReceivedCommandExactlyOnceWith(DeleteCommand, {
      TableName: 'bakehouse-test-state',
      Key: { pk: LOCK },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeValues: { ':owner': BAKE_ID },
    });
  });

  it('leaves a lock another bake has taken over, and reports who holds it', async () => {
    // Prepare
    lockHeldBy(OTHER_BAKE_ID);

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess: the conditional delete lost, nothing else was deleted, and the report names the holder
    expect(stateTable).toHaveReceivedCommandTimes(DeleteCommand, 1);
    expect(failure.cleanupErrors).toEqual([
      expect.stringMatching(new RegExp(`^release family lock: ${LOCK} is held by ${OTHER_BAKE_ID} .*not by this bake`)),
    ]);
  });

  it('is content when the lock is already gone', async () => {
    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess
    expect(stateTable).toHaveReceivedCommandWith(GetCommand, { Key: { pk: LOCK }, ConsistentRead: true });
    expect(failure.cleanupErrors).toEqual([]);
  });

  it('reports, naming the fix, that it had no state table to release the lock in', async () => {
    // Act
    const failure = await cleanUpFailedBake(automationFailed(), { ...failDeps(), locks: undefined } as never);

    // Assess
    expect(failure.cleanupErrors).toEqual([expect.stringContaining('STATE_TABLE_NAME')]);
  });

  it('touches no lock for a skip plan, which never took one', async () => {
    // Prepare
    const input = automationFailed({
      plan: skipPlan(),
      automation: null,
      failure: { PublishBakeSkipped: { Error: 'X' } },
    });

    // Act
    await cleanUpFailedBake(input, failDeps());

    // Assess
    expect(stateTable).not.toHaveReceivedAnyCommand();
  });

  it('attempts every cleanup step when one fails, and reports the failure instead of throwing', async () => {
    // Prepare
    lockHeldBy(BAKE_ID);
    ssm.on(GetAutomationExecutionCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    ec2.on(DescribeInstancesCommand).rejects(awsError('UnauthorizedOperation', 'not allowed to describe instances'));
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-0000000000000000a' }] });
    const logger = recordingLogger();

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps({ logger }));

    // Assess
    expect(failure.cleanupErrors).toEqual([
      'stop automation: Rate exceeded',
      'terminate builders: not allowed to describe instances',
    ]);
    expect(failure.terminatedInstanceIds).toEqual([]);
    expect(failure.discardedImageIds).toEqual(['ami-0000000000000000a']);
    expect(stateTable).toHaveReceivedCommandWith(DeleteCommand, { Key: { pk: LOCK } });
    expect(logger.error).toHaveBeenCalledTimes(2);
  });

  it('treats an automation SSM no longer knows as stopped', async () => {
    // Prepare
    ssm.on(GetAutomationExecutionCommand).rejects(awsError('AutomationExecutionNotFoundException'));

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess
    expect(failure.cleanupErrors).toEqual([]);
  });

  it('reports a lock it could not release', async () => {
    // Prepare
    lockHeldBy(BAKE_ID);
    stateTable.on(DeleteCommand).rejects(awsError('AccessDeniedException', 'no dynamodb:DeleteItem'));

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess
    expect(failure.cleanupErrors).toEqual(['release family lock: no dynamodb:DeleteItem']);
  });

  it('names the family from the request when planning never finished, and cleans up by bake id', async () => {
    // Prepare
    ec2
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0000000000000009' }] }] });
    const input: BakeFailureInput = {
      bakeId: BAKE_ID,
      request: { family: 'windows-2022-base' },
      failure: { PlanBake: { Error: 'FamilyBusyError', Cause: 'busy' } },
    };

    // Act
    const failure = await cleanUpFailedBake(input, failDeps());

    // Assess
    expect(failure.family).toBe('windows-2022-base');
    expect(failure.terminatedInstanceIds).toEqual(['i-0000000000000009']);
  });

  it("calls the family 'unknown' when nothing names it", async () => {
    // Act
    const failure = await cleanUpFailedBake({ bakeId: BAKE_ID, request: 'garbage' }, failDeps());

    // Assess
    expect(failure.family).toBe('unknown');
  });

  it('cuts a very long reason to 1000 characters', async () => {
    // Prepare
    const input = automationFailed({ failure: { PlanBake: { Error: 'E', Cause: 'x'.repeat(5_000) } } });

    // Act
    const failure = await cleanUpFailedBake(input, failDeps());

    // Assess
    expect(failure.reason).toHaveLength(1_000);
    expect(failure.reason.startsWith('E: xxx')).toBe(true);
  });
});

describe('cleanUpFailedBake reports what it could not clean up (Bake Failed cleanup)', () => {
  it('names each failed step, its resource and the error, and says the builder was not terminated', async () => {
    // Prepare
    lockHeldBy(BAKE_ID);
    ssm.on(GetAutomationExecutionCommand).resolves({ AutomationExecution: launchedBy(BUILDER) });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [builderInstance('running')] }] });
    ec2.on(TerminateInstancesCommand).rejects(awsError('UnauthorizedOperation', 'not allowed to terminate'));
    stateTable.on(DeleteCommand).rejects(awsError('AccessDeniedException', 'no dynamodb:DeleteItem'));

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess
    expect(failure.cleanup).toEqual({
      errors: [
        { step: 'terminate builders', resource: BUILDER, error: 'UnauthorizedOperation: not allowed to terminate' },
        { step: 'release family lock', resource: LOCK, error: 'AccessDeniedException: no dynamodb:DeleteItem' },
      ],
      builderTerminated: false,
    });
    expect(failure.terminatedInstanceIds).toEqual([]);
    expect(failure.reason).toContain('AutomationFailed: dnf exited 1; cleanup failed: terminate builders (');
    expect(failure.reason).toContain(`${BUILDER}): UnauthorizedOperation: not allowed to terminate`);
  });

  it('reports an empty cleanup with the builder terminated when every step succeeded', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [builderInstance('running')] }] });

    // Act
    const failure = await cleanUpFailedBake(automationFailed(), failDeps());

    // Assess
    expect(failure.cleanup).toEqual({ errors: [], builderTerminated: true });
    expect(failure.reason).toBe('AutomationFailed: dnf exited 1');
  });

  it('keeps the bake reason first and within 1000 characters when cleanup errors are appended', async () => {
    // Prepare
    const input = automationFailed({ failure: { PlanBake: { Error: 'E', Cause: 'x'.repeat(5_000) } } });
    ec2.on(DescribeInstancesCommand).rejects(awsError('UnauthorizedOperation', 'no describe'));

    // Act
    const failure = await cleanUpFailedBake(input, failDeps());

    // Assess
    expect(failure.reason.length).toBeLessThanOrEqual(1_000);
    expect(failure.reason.startsWith('E: xxx')).toBe(true);
    expect(failure.reason).toContain('; cleanup failed: terminate builders');
  });
});
