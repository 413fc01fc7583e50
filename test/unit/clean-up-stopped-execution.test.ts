import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import {
  GetAutomationExecutionCommand,
  GetParameterCommand,
  SSMClient,
  StopAutomationExecutionCommand,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  cleanUpStoppedExecution,
  type ExecutionStatusChange,
  OWN_FAILURE_ERROR,
  PUBLISHING_STATES,
  type StoppedExecutionDeps,
} from '../../functions/clean-up-failed-bake/stopped-execution';
import { BAKE_FAILED_ERROR, BakeState } from '../../state-machines/bake';
import { awsError, recordingLogger } from './support/bake-factories';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const sfn = mockClient(SFNClient);
const events = mockClient(EventBridgeClient);

const BAKE_ID = 'al2023-base-0123456789abcdef0123456789abcdef';
const EXECUTION_ARN = `arn:aws:states:eu-west-1:111122223333:execution:bakehouse-bake:${BAKE_ID}`;
const AUTOMATION_ID = '4c5a2c1e-7f3b-4d2a-9e8f-0a1b2c3d4e5f';
const BUILDER = 'i-0b0b0b0b0b0b0b0b0';
const REQUEST = { version: '1.0', family: 'al2023-base', reason: 'test', requestedBy: 'cli:alice' };

const statusChange = (status: string, overrides: Partial<NonNullable<ExecutionStatusChange['detail']>> = {}) => ({
  version: '0',
  source: 'aws.states',
  'detail-type': 'Step Functions Execution Status Change',
  detail: {
    executionArn: EXECUTION_ARN,
    name: BAKE_ID,
    status,
    input: JSON.stringify(REQUEST),
    error: null,
    cause: null,
    ...overrides,
  },
});

/** The bake record a state after PlanBake receives. */
const record = () => ({
  plan: {
    action: 'bake',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    // The family lock's name, before and after it moved to the state table.
    lockParameterName: '/bakehouse/_locks/al2023-base',
    lockKey: 'lock#family#al2023-base',
  },
  automation: { automationExecutionId: AUTOMATION_ID, waits: 0, waitSeconds: 600 },
});

const entered = (id: number, name: string, input: unknown): HistoryEvent => ({
  id,
  timestamp: new Date(),
  type: 'TaskStateEntered',
  stateEnteredEventDetails: { name, input: JSON.stringify(input) },
});

const exited = (id: number, name: string): HistoryEvent => ({
  id,
  timestamp: new Date(),
  type: 'TaskStateExited',
  stateExitedEventDetails: { name, output: '{}' },
});

/** History newest first, as GetExecutionHistory answers with reverseOrder. */
const historyNewestFirst = (...eventsNewestFirst: HistoryEvent[]) =>
  sfn.on(GetExecutionHistoryCommand).resolves({ events: eventsNewestFirst });

const builder = (): Instance => ({
  InstanceId: BUILDER,
  State: { Name: 'running' },
  Tags: [
    { Key: 'bakehouse:bake-id', Value: BAKE_ID },
    { Key: 'bakehouse:role', Value: 'builder' },
  ],
});

/**
 * A family lock that releases: the failure path's own lock release is tested with it
 * (clean-up-failed-bake.test.ts); here it only must not fail.
 */
const releasingLock = {
  locks: { release: async () => ({ released: true }) },
} as unknown as Partial<StoppedExecutionDeps>;

const deps = (): StoppedExecutionDeps => ({
  ...releasingLock,
  ec2: new EC2Client({}),
  ssm: new SSMClient({}),
  sfn: new SFNClient({}),
  events: new EventBridgeClient({}),
  target: { busName: 'bakehouse-bus', source: 'bakehouse' },
  logger: recordingLogger(),
});

const publishedDetails = (): Record<string, unknown>[] =>
  events.commandCalls(PutEventsCommand).map((call) => JSON.parse(call.args[0].input.Entries?.[0]?.Detail ?? '{}'));

beforeEach(() => {
  for (const mock of [ec2, ssm, sfn, events]) mock.reset();
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [builder()] }] });
  ec2.on(DescribeImagesCommand).resolves({ Images: [] });
  ec2.on(TerminateInstancesCommand).resolves({});
  ssm.on(GetAutomationExecutionCommand).resolves({ AutomationExecution: { AutomationExecutionStatus: 'InProgress' } });
  ssm.on(StopAutomationExecutionCommand).resolves({});
  ssm.on(GetParameterCommand).rejects(awsError('ParameterNotFound'));
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
});

describe('cleanUpStoppedExecution', () => {
  it('names the states and the error the bake state machine uses', () => {
    // Assess
    expect(OWN_FAILURE_ERROR).toBe(BAKE_FAILED_ERROR);
    expect(Object.keys(PUBLISHING_STATES)).toEqual([BakeState.PublishBakeFailed, BakeState.PublishAmiBaked]);
  });

  it('stops the automation, terminates the builder and publishes Bake Failed once for a stopped execution', async () => {
    // Prepare
    historyNewestFirst(
      { id: 9, timestamp: new Date(), type: 'ExecutionAborted' },
      entered(8, BakeState.WaitForAutomation, record()),
      exited(7, BakeState.PublishBakeStarted),
    );

    // Act
    const result = await cleanUpStoppedExecution(
      statusChange('ABORTED', { error: 'Operator', cause: 'stopped by alice' }),
      deps(),
    );

    // Assess
    expect(result.outcome).toBe('announced');
    expect(sfn).toHaveReceivedCommandWith(GetExecutionHistoryCommand, {
      executionArn: EXECUTION_ARN,
      reverseOrder: true,
    });
    expect(ssm).toHaveReceivedCommandWith(StopAutomationExecutionCommand, { AutomationExecutionId: AUTOMATION_ID });
    expect(ec2).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: [BUILDER] });
    expect(events).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(events).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [
        expect.objectContaining({ EventBusName: 'bakehouse-bus', Source: 'bakehouse', DetailType: 'Bake Failed' }),
      ],
    });
    expect(publishedDetails()[0]).toEqual({
      version: '1.0',
      bakeId: BAKE_ID,
      family: 'al2023-base',
      failedStep: BakeState.WaitForAutomation,
      reason: `Operator: the execution was stopped (StopExecution) in state ${BakeState.WaitForAutomation}: stopped by alice`,
      automationExecutionId: AUTOMATION_ID,
      cleanup: { errors: [], builderTerminated: true },
    });
  });

  it('says a timed-out execution outlived TimeoutSeconds, and names the family from the request before planning', async () => {
    // Prepare
    historyNewestFirst(entered(2, BakeState.PlanBake, REQUEST));

    // Act
    const result = await cleanUpStoppedExecution(statusChange('TIMED_OUT'), deps());

    // Assess
    expect(result.outcome).toBe('announced');
    expect(ssm).not.toHaveReceivedCommand(StopAutomationExecutionCommand);
    expect(publishedDetails()[0]).toMatchObject({
      family: 'al2023-base',
      failedStep: BakeState.PlanBake,
      reason: `States.Timeout: the execution ran longer than the state machine's TimeoutSeconds in state ${BakeState.PlanBake}`,
      automationExecutionId: null,
    });
  });

  it('keeps the original failure when the execution stopped inside its own failure path', async () => {
    // Prepare
    const failure = { WaitForAutomation: { Error: 'AutomationFailed', Cause: 'patch failed' } };
    historyNewestFirst(entered(12, BakeState.CleanUpFailedBake, { ...record(), failure }));

    // Act
    await cleanUpStoppedExecution(statusChange('FAILED', { error: 'Sandbox.Restarted', cause: 'restart' }), deps());

    // Assess
    expect(publishedDetails()[0]).toMatchObject({
      failedStep: 'WaitForAutomation',
      reason: 'AutomationFailed: patch failed',
    });
  });

  it.each([
    ['FAILED', OWN_FAILURE_ERROR],
    ['SUCCEEDED', null],
    ['RUNNING', null],
  ])('leaves a %s execution (error %s) alone: its own paths handled it', async (status, error) => {
    // Act
    const result = await cleanUpStoppedExecution(statusChange(status, { error }), deps());

    // Assess
    expect(result.outcome).toBe('ignored');
    expect(sfn).not.toHaveReceivedCommand(GetExecutionHistoryCommand);
    expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it.each([
    [BakeState.PublishBakeFailed, 'Bake Failed'],
    [BakeState.PublishAmiBaked, 'AMI Baked'],
  ])('does not announce a bake twice: %s already exited', async (state, detailType) => {
    // Prepare
    historyNewestFirst(
      { id: 20, timestamp: new Date(), type: 'ExecutionAborted' },
      entered(19, BakeState.BakeFailed, {}),
      exited(18, state),
      entered(17, state, record()),
    );

    // Act
    const result = await cleanUpStoppedExecution(statusChange('ABORTED'), deps());

    // Assess
    expect(result).toEqual({ outcome: 'already-announced', detailType });
    expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('carries the cleanup errors in the Bake Failed it publishes', async () => {
    // Prepare
    historyNewestFirst(entered(8, BakeState.WaitForAutomation, record()));
    ec2.on(TerminateInstancesCommand).rejects(awsError('UnauthorizedOperation', 'denied'));

    // Act
    await cleanUpStoppedExecution(statusChange('ABORTED'), deps());

    // Assess
    expect(publishedDetails()[0]?.cleanup).toEqual({
      errors: [{ step: 'terminate builders', resource: BUILDER, error: 'UnauthorizedOperation: denied' }],
      builderTerminated: false,
    });
  });

  it('fails (so the event is retried) when Bake Failed cannot be published', async () => {
    // Prepare
    historyNewestFirst(entered(8, BakeState.WaitForAutomation, record()));
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] });

    // Act
    const act = cleanUpStoppedExecution(statusChange('ABORTED'), deps());

    // Assess
    await expect(act).rejects.toThrow(/could not put 'Bake Failed'/);
  });
});
