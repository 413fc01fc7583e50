import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import {
  type AutomationExecution,
  DeleteParameterCommand,
  GetAutomationExecutionCommand,
  GetParameterCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { resume } from '../../functions/automation-events/core';
import { type CallbackDeps, failureOf } from '../../functions/commons/automation-wait';
import type { BakeMetricsPort } from '../../functions/commons/metrics';
import { type RegisterInput, register } from '../../functions/wait-for-automation/core';
import { awsError, recordingLogger } from './support/bake-factories';

const ssm = mockClient(SSMClient);
const sfn = mockClient(SFNClient);

const AUTOMATION_ID = '4c5a2c1e-7f3b-4d2a-9e8f-0a1b2c3d4e5f';
const CALLBACK = `/bakehouse/_callbacks/${AUTOMATION_ID}`;
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAT0k-task-token';

const callbackDeps = (overrides: Partial<CallbackDeps> = {}): CallbackDeps => ({
  ssm: new SSMClient({}),
  sfn: new SFNClient({}),
  clock: () => new Date('2026-01-14T09:42:30.000Z'),
  logger: recordingLogger(),
  parameterPrefix: '/bakehouse/_callbacks',
  ...overrides,
});

const registerInput = (overrides: Partial<RegisterInput> = {}): RegisterInput => ({
  taskToken: TOKEN,
  automationExecutionId: AUTOMATION_ID,
  bakeId: 'al2023-base-0123456789abcdef0123456789abcdef',
  family: 'al2023-base',
  bakeStartedAt: '2026-01-14T09:00:00.000Z',
  ...overrides,
});

/** What the bake's collectReport step prints (automation/bake-linux.yaml). */
const REPORT = [
  'bakehouse-report 1',
  'release-before 2023.9.20261101',
  'release-after 2023.9.20261122',
  'changes 2',
  '-openssl-libs-1:3.0.8-1.amzn2023',
  '+openssl-libs-1:3.0.15-1.amzn2023',
].join('\n');

const execution = (overrides: Partial<AutomationExecution> = {}): AutomationExecution => ({
  AutomationExecutionId: AUTOMATION_ID,
  AutomationExecutionStatus: 'Success',
  Outputs: {
    'createImage.ImageId': ['ami-0123456789abcdef0'],
    'collectReport.Output': [REPORT],
    'launchBuilder.InstanceId': ['i-0abc1234def567890'],
    'inventoryAfter.Output': ['+KB5034439'],
    'somethingElse.Output': ['not kept'],
  },
  ...overrides,
});

const givenExecution = (value: AutomationExecution) =>
  ssm
    .on(GetAutomationExecutionCommand, { AutomationExecutionId: AUTOMATION_ID })
    .resolves({ AutomationExecution: value });

const givenWaitingTask = (token = TOKEN, bakeStartedAt = '2026-01-14T09:00:00.000Z', family?: string) =>
  ssm.on(GetParameterCommand, { Name: CALLBACK }).resolves({
    Parameter: {
      Name: CALLBACK,
      Value: JSON.stringify({ taskToken: token, bakeId: 'b-1', bakeStartedAt, ...(family ? { family } : {}) }),
    },
  });

/** A bake metrics port that keeps what it was told. */
const recordingMetrics = () => {
  const ended: [string, string, number | undefined][] = [];
  const port: BakeMetricsPort = {
    bakeEnded: (outcome, family, durationSeconds) => {
      ended.push([outcome, family, durationSeconds]);
    },
  };
  return { port, ended };
};

const sentCause = () => JSON.parse(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input.cause ?? '{}');

beforeEach(() => {
  ssm.reset();
  sfn.reset();
  ssm.on(PutParameterCommand).resolves({ Version: 1 });
  ssm.on(DeleteParameterCommand).resolves({});
  ssm.on(GetParameterCommand).rejects(awsError('ParameterNotFound'));
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(SendTaskFailureCommand).resolves({});
});

describe('register', () => {
  it('stores the task token under the automation id and leaves a running automation waiting', async () => {
    // Prepare
    givenExecution(execution({ AutomationExecutionStatus: 'InProgress' }));

    // Act
    const outcome = await register(registerInput(), callbackDeps());

    // Assess
    expect(outcome).toBe('pending');
    expect(ssm).toHaveReceivedCommandExactlyOnceWith(PutParameterCommand, {
      Name: CALLBACK,
      Type: 'String',
      Overwrite: true,
      Value: JSON.stringify({
        taskToken: TOKEN,
        bakeId: registerInput().bakeId,
        bakeStartedAt: '2026-01-14T09:00:00.000Z',
        family: 'al2023-base',
      }),
    });
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(ssm).not.toHaveReceivedCommand(DeleteParameterCommand);
  });

  it('replaces the token of an earlier wait period (the fallback poll re-registers)', async () => {
    // Prepare
    givenExecution(execution({ AutomationExecutionStatus: 'InProgress' }));

    // Act
    await register(registerInput({ taskToken: 'second-token' }), callbackDeps());

    // Assess
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, {
      Overwrite: true,
      Value: expect.stringContaining('"taskToken":"second-token"'),
    });
  });

  it('settles at once when the automation already succeeded, with the image, the duration and the kept outputs', async () => {
    // Prepare
    givenExecution(execution());
    givenWaitingTask();

    // Act
    const outcome = await register(registerInput(), callbackDeps());

    // Assess
    expect(outcome).toBe('succeeded');
    const output = JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input.output ?? '{}');
    expect(output).toEqual({
      status: 'Success',
      imageId: 'ami-0123456789abcdef0',
      durationSeconds: 2550,
      outputs: {
        'createImage.ImageId': ['ami-0123456789abcdef0'],
        'collectReport.Output': [REPORT],
      },
      release: null,
    });
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: TOKEN });
    expect(ssm).toHaveReceivedCommandWith(DeleteParameterCommand, { Name: CALLBACK });
  });

  it('settles with the release plan-bake asked for and the report read on the builder', async () => {
    // Prepare
    givenExecution(
      execution({
        Parameters: { ReleaseVersion: ['latest'], ReleaseTarget: ['2023.9.20261122'], Family: ['al2023-base'] },
      }),
    );
    givenWaitingTask();

    // Act
    await register(registerInput(), callbackDeps());

    // Assess
    const output = JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input.output ?? '{}');
    expect(output.release).toEqual({
      policy: 'latest',
      target: '2023.9.20261122',
      before: '2023.9.20261101',
      after: '2023.9.20261122',
    });
  });

  it('leaves the task waiting when SSM does not know the automation yet', async () => {
    // Prepare
    ssm.on(GetAutomationExecutionCommand).rejects(awsError('AutomationExecutionNotFoundException'));

    // Act
    const outcome = await register(registerInput(), callbackDeps());

    // Assess
    expect(outcome).toBe('pending');
    expect(sfn).not.toHaveReceivedAnyCommand();
  });
});

describe('resume', () => {
  it.each([
    ['InProgress', 'InProgress'],
    ['Waiting', 'Waiting'],
    ['no status', undefined],
  ])('does nothing for a status change to %s', async (_what, Status) => {
    // Prepare
    const detail = Status === undefined ? { ExecutionId: AUTOMATION_ID } : { ExecutionId: AUTOMATION_ID, Status };

    // Act
    const outcome = await resume(detail, callbackDeps());

    // Assess
    expect(outcome).toBe('pending');
    expect(ssm).not.toHaveReceivedAnyCommand();
    expect(sfn).not.toHaveReceivedAnyCommand();
  });

  it('does nothing for an event without an execution id', async () => {
    // Act
    const outcome = await resume({ Status: 'Success' }, callbackDeps());

    // Assess
    expect(outcome).toBe('pending');
    expect(ssm).not.toHaveReceivedAnyCommand();
  });

  it('ignores automations no bake waits on', async () => {
    // Prepare
    givenExecution(execution({ AutomationExecutionStatus: 'Failed' }));

    // Act
    const outcome = await resume({ ExecutionId: AUTOMATION_ID, Status: 'Failed' }, callbackDeps());

    // Assess
    expect(outcome).toBe('unknown-automation');
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(ssm).not.toHaveReceivedCommand(DeleteParameterCommand);
  });

  it('trusts the automation record over the event when they disagree', async () => {
    // Prepare: the event says Success, but SSM still reports the automation running.
    givenExecution(execution({ AutomationExecutionStatus: 'InProgress' }));
    givenWaitingTask();

    // Act
    const outcome = await resume({ ExecutionId: AUTOMATION_ID, Status: 'Success' }, callbackDeps());

    // Assess
    expect(outcome).toBe('pending');
    expect(sfn).not.toHaveReceivedAnyCommand();
  });

  it('fails the task with the failed step and its message when the automation failed', async () => {
    // Prepare
    givenExecution(
      execution({
        AutomationExecutionStatus: 'Failed',
        Outputs: {},
        StepExecutions: [
          { StepName: 'launchBuilder', StepStatus: 'Success' },
          { StepName: 'patch', StepStatus: 'Failed', FailureMessage: 'dnf exited 1' },
          { StepName: 'createImage', StepStatus: 'Cancelled' },
        ],
      }),
    );
    givenWaitingTask();

    // Act
    const outcome = await resume({ ExecutionId: AUTOMATION_ID, Status: 'Failed' }, callbackDeps());

    // Assess
    expect(outcome).toBe('failed');
    expect(sfn).toHaveReceivedCommandWith(SendTaskFailureCommand, { taskToken: TOKEN, error: 'AutomationFailed' });
    expect(sentCause()).toEqual({
      automationExecutionId: AUTOMATION_ID,
      status: 'Failed',
      failedStep: 'patch',
      reason: 'dnf exited 1',
    });
    expect(ssm).toHaveReceivedCommandWith(DeleteParameterCommand, { Name: CALLBACK });
  });

  it.each([
    ['Cancelled', 'AutomationCancelled'],
    ['TimedOut', 'AutomationTimedOut'],
    ['CompletedWithFailure', 'AutomationFailed'],
    ['Rejected', 'AutomationFailed'],
  ])('fails the task for status %s with error %s', async (status, error) => {
    // Prepare
    givenExecution(execution({ AutomationExecutionStatus: status as 'Failed', Outputs: {} }));
    givenWaitingTask();

    // Act
    const outcome = await resume({ ExecutionId: AUTOMATION_ID, Status: status }, callbackDeps());

    // Assess
    expect(outcome).toBe('failed');
    expect(sfn).toHaveReceivedCommandExactlyOnceWith(SendTaskFailureCommand, { taskToken: TOKEN, error });
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });

  it('fails the task when the automation succeeded without reporting an image', async () => {
    // Prepare
    givenExecution(execution({ Outputs: { 'createImage.ImageId': ['{{ createImage.ImageId }}'] } }));
    givenWaitingTask();

    // Act
    const outcome = await resume({ ExecutionId: AUTOMATION_ID, Status: 'Success' }, callbackDeps());

    // Assess
    expect(outcome).toBe('failed');
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
    expect(sentCause()).toMatchObject({
      status: 'Success',
      failedStep: null,
      reason: 'the automation succeeded but reported no image id',
    });
  });

  it('cuts long step outputs down so the task result stays small', async () => {
    // Prepare
    givenExecution(
      execution({
        Outputs: { 'createImage.ImageId': ['ami-0123456789abcdef0'], 'collectReport.Output': ['x'.repeat(20_000)] },
      }),
    );
    givenWaitingTask();

    // Act
    await resume({ ExecutionId: AUTOMATION_ID, Status: 'Success' }, callbackDeps());

    // Assess
    const output = JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input.output ?? '{}');
    expect(output.outputs['collectReport.Output'][0]).toBe(`${'x'.repeat(8_000)}…`);
  });

  it('reports a duration of 0 when the bake start time is unreadable', async () => {
    // Prepare
    givenExecution(execution());
    givenWaitingTask(TOKEN, 'not a time');

    // Act
    await resume({ ExecutionId: AUTOMATION_ID, Status: 'Success' }, callbackDeps());

    // Assess
    const output = JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input.output ?? '{}');
    expect(output.durationSeconds).toBe(0);
  });

  it.each(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken'])(
    'treats %s as a task already settled and clears the stale token',
    async (name) => {
      // Prepare
      givenExecution(execution());
      givenWaitingTask();
      sfn.on(SendTaskSuccessCommand).rejects(awsError(name));

      // Act
      const outcome = await resume({ ExecutionId: AUTOMATION_ID, Status: 'Success' }, callbackDeps());

      // Assess
      expect(outcome).toBe('already-settled');
      expect(ssm).toHaveReceivedCommandWith(DeleteParameterCommand, { Name: CALLBACK });
    },
  );

  it('keeps the token and fails, for EventBridge to retry, when Step Functions errs otherwise', async () => {
    // Prepare
    givenExecution(execution({ AutomationExecutionStatus: 'Failed' }));
    givenWaitingTask();
    sfn.on(SendTaskFailureCommand).rejects(awsError('ThrottlingException'));

    // Act
    const act = resume({ ExecutionId: AUTOMATION_ID, Status: 'Failed' }, callbackDeps());

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(ssm).not.toHaveReceivedCommand(DeleteParameterCommand);
  });

  it('settles even when another invocation already removed the token parameter', async () => {
    // Prepare
    givenExecution(execution());
    givenWaitingTask();
    ssm.on(DeleteParameterCommand).rejects(awsError('ParameterNotFound'));

    // Act
    const outcome = await resume({ ExecutionId: AUTOMATION_ID, Status: 'Success' }, callbackDeps());

    // Assess
    expect(outcome).toBe('succeeded');
  });
});

describe('the baked outcome metric', () => {
  it('records a baked bake of its family, with the seconds from the execution start, when the wait settles with an image', async () => {
    // Prepare
    givenExecution(execution());
    givenWaitingTask(TOKEN, '2026-01-14T09:00:00.000Z', 'al2023-base');
    const metrics = recordingMetrics();

    // Act
    const outcome = await resume(
      { ExecutionId: AUTOMATION_ID, Status: 'Success' },
      callbackDeps({ metrics: metrics.port }),
    );

    // Assess
    expect(outcome).toBe('succeeded');
    expect(metrics.ended).toEqual([['baked', 'al2023-base', 2550]]);
  });

  it('records nothing when another invocation settled the task already', async () => {
    // Prepare
    givenExecution(execution());
    givenWaitingTask(TOKEN, '2026-01-14T09:00:00.000Z', 'al2023-base');
    sfn.on(SendTaskSuccessCommand).rejects(awsError('TaskTimedOut'));
    const metrics = recordingMetrics();

    // Act
    const outcome = await resume(
      { ExecutionId: AUTOMATION_ID, Status: 'Success' },
      callbackDeps({ metrics: metrics.port }),
    );

    // Assess
    expect(outcome).toBe('already-settled');
    expect(metrics.ended).toEqual([]);
  });

  it('records nothing for a failed automation (CleanUpFailedBake records the failed bake)', async () => {
    // Prepare
    givenExecution(execution({ AutomationExecutionStatus: 'Failed' }));
    givenWaitingTask(TOKEN, '2026-01-14T09:00:00.000Z', 'al2023-base');
    const metrics = recordingMetrics();

    // Act
    const outcome = await resume(
      { ExecutionId: AUTOMATION_ID, Status: 'Failed' },
      callbackDeps({ metrics: metrics.port }),
    );

    // Assess
    expect(outcome).toBe('failed');
    expect(metrics.ended).toEqual([]);
  });

  it('keeps the family with the waiting task, so the settling function knows it', async () => {
    // Prepare
    givenExecution(execution({ AutomationExecutionStatus: 'InProgress' }));

    // Act
    await register(registerInput({ family: 'windows-2022' }), callbackDeps());

    // Assess
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, {
      Value: expect.stringContaining('"family":"windows-2022"'),
    });
  });
});

describe('failureOf', () => {
  it('names the first step that did not succeed, and its failure type when it has no message', () => {
    // Act
    const failure = failureOf({
      AutomationExecutionStatus: 'TimedOut',
      StepExecutions: [
        { StepName: 'launchBuilder', StepStatus: 'Success' },
        { StepName: 'waitForAgent', StepStatus: 'TimedOut', FailureDetails: { FailureType: 'Verification' } },
      ],
    });

    // Assess
    expect(failure).toEqual({ failedStep: 'waitForAgent', reason: 'Verification' });
  });

  it("falls back to the automation's own message and current step", () => {
    // Act
    const failure = failureOf({
      AutomationExecutionStatus: 'Failed',
      FailureMessage: 'role cannot be assumed',
      CurrentStepName: 'launchBuilder',
    });

    // Assess
    expect(failure).toEqual({ failedStep: 'launchBuilder', reason: 'role cannot be assumed' });
  });

  it('says how the automation ended when nothing else is known', () => {
    // Act
    const failure = failureOf({ AutomationExecutionStatus: 'Cancelled' });

    // Assess
    expect(failure).toEqual({ failedStep: null, reason: 'automation ended Cancelled' });
  });
});
