/**
 * `bakehouse bake steps <bake-id>` and `bakehouse bake cancel <bake-id>` through `main`, against
 * mocked Step Functions, SSM, EC2, and (for cancel's watch on the bus) EventBridge and SQS.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DeleteRuleCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListStateMachinesCommand,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  type AutomationExecution,
  DescribeAutomationStepExecutionsCommand,
  GetAutomationExecutionCommand,
  SSMClient,
  type StepExecution,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { BakeSteps, CancelReport } from '../../cli/commands/bake-control';
import type { Clients } from '../../cli/context';
import { loadConfig } from '../../functions/commons/families';
import { configInput, linuxFamily } from './support/bake-factories';
import { cliRunner } from './support/cli';

const sfn = new SFNClient({ region: 'eu-west-1' });
const ssm = new SSMClient({ region: 'eu-west-1' });
const ec2 = new EC2Client({ region: 'eu-west-1' });
const events = new EventBridgeClient({ region: 'eu-west-1' });
const sqs = new SQSClient({ region: 'eu-west-1' });
const sfnMock = mockClient(sfn);
const ssmMock = mockClient(ssm);
const ec2Mock = mockClient(ec2);
const eventsMock = mockClient(events);
const sqsMock = mockClient(sqs);

const MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:bakehouse-dev-bake';
const BAKE_ID = 'al2023-base-0123456789abcdef0123456789abcdef';
const EXECUTION = `${MACHINE.replace(':stateMachine:', ':execution:')}:${BAKE_ID}`;
const AUTOMATION = '11111111-2222-3333-4444-555555555555';
const BUILDER = 'i-0b0000000000000a1';

const execution = (
  status: string,
  extra: Partial<DescribeExecutionCommandOutput> = {},
): DescribeExecutionCommandOutput => ({
  $metadata: {},
  executionArn: EXECUTION,
  stateMachineArn: MACHINE,
  name: BAKE_ID,
  status: status as DescribeExecutionCommandOutput['status'],
  startDate: new Date('2026-12-05T10:00:00Z'),
  input: JSON.stringify({ bakeId: BAKE_ID, family: 'al2023-base', requestedBy: 'cli:alice' }),
  ...extra,
});

const exited = (name: string, output: unknown): HistoryEvent => ({
  id: 1,
  timestamp: new Date('2026-12-05T10:00:01Z'),
  type: 'TaskStateExited',
  stateExitedEventDetails: { name, output: JSON.stringify(output) },
});

const step = (name: string, status: string, extra: Partial<StepExecution> = {}): StepExecution => ({
  StepName: name,
  Action: 'aws:runCommand',
  StepStatus: status as StepExecution['StepStatus'],
  ...extra,
});

const config = () => loadConfig(configInput([linuxFamily()]));

/** A running bake whose history names AUTOMATION, and SSM's record of it with these steps. */
const runningBakeWith = (steps: StepExecution[], extra: Partial<AutomationExecution> = {}) => {
  sfnMock.on(DescribeExecutionCommand).resolves(execution('RUNNING'));
  sfnMock
    .on(GetExecutionHistoryCommand)
    .resolves({ events: [exited('StartAutomation', { automation: { automationExecutionId: AUTOMATION } })] });
  ssmMock.on(GetAutomationExecutionCommand, { AutomationExecutionId: AUTOMATION }).resolves({
    AutomationExecution: {
      AutomationExecutionId: AUTOMATION,
      AutomationExecutionStatus: 'InProgress',
      StepExecutionsTruncated: false,
      StepExecutions: steps,
      ...extra,
    },
  });
};

const cli = cliRunner(
  () => ({
    config: config(),
    clients: () => ({ sfn, ssm, ec2, events, sqs }) as unknown as Clients,
    // A real (short) wait: the watch's queue is read on timers, which a loop of bare microtasks starves.
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    pollMs: 2,
  }),
  { USER: 'alice' },
);

/** A Bake Failed on the watch's queue, once. */
const bakeFailedOnTheBus = (detail: Record<string, unknown>) => {
  let delivered = false;
  sqsMock.on(ReceiveMessageCommand).callsFake(async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (delivered) return { Messages: [] };
    delivered = true;
    return {
      Messages: [
        {
          ReceiptHandle: 'r-1',
          Body: JSON.stringify({
            id: 'e-1',
            time: '2026-12-05T10:05:00Z',
            source: 'bakehouse',
            'detail-type': 'Bake Failed',
            detail: { version: '1.0', bakeId: BAKE_ID, family: 'al2023-base', ...detail },
          }),
        },
      ],
    };
  });
};

beforeEach(() => {
  for (const mock of [sfnMock, ssmMock, ec2Mock, eventsMock, sqsMock]) mock.reset();
  sfnMock.on(ListStateMachinesCommand).resolves({
    stateMachines: [
      { name: 'bakehouse-dev-bake', stateMachineArn: MACHINE, type: 'STANDARD', creationDate: new Date() },
    ],
  });
  sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
  ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  sqsMock.on(CreateQueueCommand).resolves({ QueueUrl: 'https://sqs.eu-west-1.amazonaws.com/111122223333/q' });
  sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { QueueArn: 'arn:aws:sqs:eu-west-1:111122223333:q' } });
  sqsMock.on(SetQueueAttributesCommand).resolves({});
  sqsMock.on(DeleteMessageBatchCommand).resolves({});
  sqsMock.on(DeleteQueueCommand).resolves({});
  sqsMock.on(ReceiveMessageCommand).callsFake(async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { Messages: [] };
  });
  eventsMock.on(PutRuleCommand).resolves({ RuleArn: 'arn:aws:events:eu-west-1:111122223333:rule/bakehouse-dev/t' });
  eventsMock.on(PutTargetsCommand).resolves({ FailedEntryCount: 0 });
  eventsMock.on(RemoveTargetsCommand).resolves({ FailedEntryCount: 0 });
  eventsMock.on(DeleteRuleCommand).resolves({});
});

describe('bakehouse bake steps <bake-id>', () => {
  it("lists a running bake's steps with status, times, outputs, from the automation its history names", async () => {
    // Prepare
    runningBakeWith(
      [
        step('launchBuilder', 'Success', {
          Action: 'aws:runInstances',
          ExecutionStartTime: new Date('2026-12-05T10:00:02Z'),
          ExecutionEndTime: new Date('2026-12-05T10:00:47Z'),
          Outputs: { InstanceId: [BUILDER] },
        }),
        step('patchOs', 'InProgress', { ExecutionStartTime: new Date('2026-12-05T10:01:00Z') }),
        step('terminateBuilder', 'Pending'),
      ],
      { DocumentName: 'bakehouse-dev-bake-linux' },
    );

    // Act
    const json = await cli(['bake', 'steps', BAKE_ID, '--json']);
    const text = await cli(['bake', 'steps', BAKE_ID]);

    // Assess
    expect(json.code, json.err).toBe(0);
    const view = JSON.parse(json.out) as BakeSteps;
    expect(view.bake).toMatchObject({ bakeId: BAKE_ID, status: 'RUNNING', outcome: 'running' });
    expect(view.automation).toMatchObject({ automationExecutionId: AUTOMATION, status: 'InProgress' });
    expect(view.steps).toEqual([
      {
        name: 'launchBuilder',
        action: 'aws:runInstances',
        status: 'Success',
        startedAt: '2026-12-05T10:00:02.000Z',
        endedAt: '2026-12-05T10:00:47.000Z',
        durationSeconds: 45,
        outputs: { InstanceId: [BUILDER] },
        response: null,
        failureMessage: null,
      },
      expect.objectContaining({ name: 'patchOs', status: 'InProgress', endedAt: null, durationSeconds: null }),
      expect.objectContaining({ name: 'terminateBuilder', status: 'Pending', startedAt: null }),
    ]);
    expect(view.note).toBeNull();
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`automation ${AUTOMATION}: InProgress`);
    expect(text.out).toMatch(/launchBuilder\s+aws:runInstances\s+Success/);
    expect(text.out).toContain(`1 launchBuilder output: InstanceId=${BUILDER}`);
    expect(text.out).toMatch(/45s/);
  });

  it("shows the inventory step's output as what it is, not kilobytes of base64 (the --json keeps it whole)", async () => {
    // Prepare: captureInventory's output is the compressed package list (functions/commons/inventory.ts)
    const encoded = 'H4sIAAAAAAAAA'.padEnd(2_400, 'q');
    const output = `bakehouse-inventory 1\nos linux\npackages 412 gzip-base64\n${encoded}\nend`;
    runningBakeWith([
      step('captureInventory', 'Success', {
        Outputs: { CommandId: ['c0ffee00-0000-4000-8000-000000000001'], Output: [output] },
      }),
    ]);

    // Act
    const text = await cli(['bake', 'steps', BAKE_ID]);
    const json = await cli(['bake', 'steps', BAKE_ID, '--json']);

    // Assess
    expect(text.code, text.err).toBe(0);
    expect(text.out).not.toContain(encoded.slice(0, 100));
    expect(text.out).toContain(
      `1 captureInventory output: CommandId=c0ffee00-0000-4000-8000-000000000001 Output=<the image's package inventory, ${output.length} characters, which bakehouse diff reads>`,
    );
    expect((JSON.parse(json.out) as BakeSteps).steps[0]?.outputs.Output).toEqual([output]);
  });

  it("prints a failed bake's failing step with its whole failure message", async () => {
    // Prepare: the failure path's record names the automation
    const message = `Step fails when it is Poll action status for completion. Command failed: dnf exited 1 (${'x'.repeat(200)})`;
    sfnMock.on(DescribeExecutionCommand).resolves(execution('FAILED', { stopDate: new Date('2026-12-05T10:09:00Z') }));
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        exited('CleanUpFailedBake', {
          failed: { failedStep: 'WaitForAutomation/patchOs', automationExecutionId: AUTOMATION },
        }),
      ],
    });
    ssmMock.on(GetAutomationExecutionCommand).resolves({
      AutomationExecution: {
        AutomationExecutionStatus: 'Failed',
        FailureMessage: 'Step patchOs failed',
        StepExecutions: [
          step('launchBuilder', 'Success'),
          step('patchOs', 'Failed', { FailureMessage: message }),
          step('terminateBuilder', 'Success'),
        ],
      },
    });

    // Act
    const run = await cli(['bake', 'steps', BAKE_ID]);

    // Assess
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain(`bake ${BAKE_ID}: failed (FAILED)`);
    expect(run.out).toContain(`2 patchOs failed: ${message}`);
    expect(run.out).not.toContain('automation failed:');
  });

  it('reads every step with DescribeAutomationStepExecutions when GetAutomationExecution truncates them', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolves(
      execution('SUCCEEDED', {
        output: JSON.stringify({
          automation: { automationExecutionId: AUTOMATION, result: { imageId: 'ami-0a0a0a0a0a0a0a0a1' } },
        }),
      }),
    );
    ssmMock.on(GetAutomationExecutionCommand).resolves({
      AutomationExecution: {
        AutomationExecutionStatus: 'Success',
        StepExecutionsTruncated: true,
        StepExecutions: [step('launchBuilder', 'Success')],
      },
    });
    ssmMock
      .on(DescribeAutomationStepExecutionsCommand)
      .resolvesOnce({ StepExecutions: [step('launchBuilder', 'Success'), step('patchOs', 'Success')], NextToken: 't2' })
      .resolves({
        StepExecutions: [step('createImage', 'Success', { Outputs: { ImageId: ['ami-0a0a0a0a0a0a0a0a1'] } })],
      });

    // Act
    const run = await cli(['bake', 'steps', BAKE_ID, '--json']);

    // Assess
    expect(run.code, run.err).toBe(0);
    expect((JSON.parse(run.out) as BakeSteps).steps.map((s) => s.name)).toEqual([
      'launchBuilder',
      'patchOs',
      'createImage',
    ]);
    expect(ssmMock).toHaveReceivedCommandWith(DescribeAutomationStepExecutionsCommand, {
      AutomationExecutionId: AUTOMATION,
      NextToken: 't2',
    });
  });

  it('says a bake that has not reached its automation yet has no steps', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolves(execution('RUNNING'));

    // Act
    const run = await cli(['bake', 'steps', BAKE_ID]);
    const json = await cli(['bake', 'steps', BAKE_ID, '--json']);

    // Assess
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain('has not reached its automation yet');
    expect(JSON.parse(json.out)).toMatchObject({ automation: null, steps: [] });
    expect(ssmMock).not.toHaveReceivedCommand(GetAutomationExecutionCommand);
  });

  it('refuses a malformed or unknown bake id with a usage error naming the id form', async () => {
    // Prepare
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(Object.assign(new Error('Execution Does Not Exist'), { name: 'ExecutionDoesNotExist' }));

    // Act
    const malformed = await cli(['bake', 'steps', 'al2023-base-123']);
    const unknown = await cli(['bake', 'steps', BAKE_ID]);

    // Assess
    expect(malformed.code).toBe(2);
    expect(malformed.err).toContain("'al2023-base-123' is not a bake id");
    expect(malformed.err).toContain('<family>-<32 hex>');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain(`no bake ${BAKE_ID} in stage 'dev'`);
    expect(unknown.err).toContain('<family>-<32 hex>');
  });
});

describe('bakehouse bake cancel <bake-id>', () => {
  it('stops the execution naming who cancelled, waits for the clean-up and reports it', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolvesOnce(execution('RUNNING')).resolves(execution('ABORTED'));
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolves({ events: [exited('StartAutomation', { automation: { automationExecutionId: AUTOMATION } })] });
    sfnMock.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    ssmMock
      .on(GetAutomationExecutionCommand)
      .resolvesOnce({ AutomationExecution: { AutomationExecutionStatus: 'InProgress' } })
      .resolves({ AutomationExecution: { AutomationExecutionStatus: 'Cancelled' } });
    const instance = (state: string) => ({
      Reservations: [{ Instances: [{ InstanceId: BUILDER, State: { Name: state as never } }] }],
    });
    ec2Mock.on(DescribeInstancesCommand).resolvesOnce(instance('running')).resolves(instance('shutting-down'));
    bakeFailedOnTheBus({
      reason:
        'ExecutionAborted: the execution was stopped (StopExecution) in state WaitForAutomation: cancelled by cli:alice',
      automationExecutionId: AUTOMATION,
      cleanup: { errors: [], builderTerminated: true },
    });

    // Act
    const run = await cli(['bake', 'cancel', BAKE_ID, '--json', '--timeout', '20']);

    // Assess
    expect(run.code, run.err).toBe(0);
    expect(sfnMock).toHaveReceivedCommandWith(StopExecutionCommand, {
      executionArn: EXECUTION,
      cause: 'cancelled by cli:alice',
    });
    const { cancel } = JSON.parse(run.out) as { cancel: CancelReport };
    expect(cancel).toMatchObject({
      bakeId: BAKE_ID,
      status: 'ABORTED',
      cancelledBy: 'cli:alice',
      automation: { automationExecutionId: AUTOMATION, status: 'Cancelled' },
      builders: [{ instanceId: BUILDER, state: 'shutting-down' }],
      cleanup: { errors: [], builderTerminated: true },
      clean: true,
    });
    // The watch's rule and queue are removed.
    expect(eventsMock).toHaveReceivedCommand(DeleteRuleCommand);
    expect(sqsMock).toHaveReceivedCommand(DeleteQueueCommand);
  });

  it('prints what was cleaned up as text', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolvesOnce(execution('RUNNING')).resolves(execution('ABORTED'));
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolves({ events: [exited('StartAutomation', { automation: { automationExecutionId: AUTOMATION } })] });
    ssmMock
      .on(GetAutomationExecutionCommand)
      .resolves({ AutomationExecution: { AutomationExecutionStatus: 'Cancelled' } });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ InstanceId: BUILDER, State: { Name: 'terminated' } }] }] });
    bakeFailedOnTheBus({ reason: 'stopped', cleanup: { errors: [], builderTerminated: true } });

    // Act
    const run = await cli(['bake', 'cancel', BAKE_ID, '--timeout', '20']);

    // Assess
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain(`cancelled bake ${BAKE_ID} (cli:alice): execution ABORTED`);
    expect(run.out).toContain(`automation ${AUTOMATION}: Cancelled`);
    expect(run.out).toContain(`builders: ${BUILDER} (terminated)`);
    expect(run.out).toContain('clean-up: Bake Failed published, no clean-up errors');
  });

  it('refuses a bake that already ended, naming its outcome and the fix, without stopping anything', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolves(
      execution('SUCCEEDED', {
        stopDate: new Date('2026-12-05T10:20:00Z'),
        output: JSON.stringify({
          automation: { automationExecutionId: AUTOMATION, result: { imageId: 'ami-0a0a0a0a0a0a0a0a1' } },
        }),
      }),
    );

    // Act
    const run = await cli(['bake', 'cancel', BAKE_ID]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.err).toContain(`bake ${BAKE_ID} already ended (baked, SUCCEEDED`);
    expect(run.err).toContain('nothing to cancel. Fix:');
    expect(run.err).toContain('bakehouse revoke ami-0a0a0a0a0a0a0a0a1');
    expect(sfnMock).not.toHaveReceivedCommand(StopExecutionCommand);
  });

  it('says so when the bake ended between the look and the stop', async () => {
    // Prepare
    sfnMock
      .on(DescribeExecutionCommand)
      .resolvesOnce(execution('RUNNING'))
      .resolves(execution('FAILED', { stopDate: new Date('2026-12-05T10:20:00Z'), cause: 'BakeFailed' }));

    // Act
    const run = await cli(['bake', 'cancel', BAKE_ID]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.err).toContain('already ended (failed, FAILED');
    expect(run.err).toContain(`bakehouse bake steps ${BAKE_ID}`);
  });

  it('fails after --timeout naming the builder still running and the automation still going', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolvesOnce(execution('RUNNING')).resolves(execution('ABORTED'));
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolves({ events: [exited('StartAutomation', { automation: { automationExecutionId: AUTOMATION } })] });
    ssmMock
      .on(GetAutomationExecutionCommand)
      .resolves({ AutomationExecution: { AutomationExecutionStatus: 'InProgress' } });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ InstanceId: BUILDER, State: { Name: 'running' } }] }] });

    // Act
    const run = await cli(['bake', 'cancel', BAKE_ID, '--timeout', '1']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.err).toContain('its clean-up has not finished after 1s');
    expect(run.err).toContain(`automation ${AUTOMATION} is InProgress`);
    expect(run.err).toContain(`builder ${BUILDER} is running`);
    expect(run.err).toContain('Fix:');
  });

  it('fails naming the clean-up errors Bake Failed reports', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolvesOnce(execution('RUNNING')).resolves(execution('ABORTED'));
    bakeFailedOnTheBus({
      reason: 'stopped',
      cleanup: {
        errors: [{ step: 'release family lock', resource: 'family#al2023-base', error: 'LockNotHeldError: held by x' }],
        builderTerminated: true,
      },
    });

    // Act
    const run = await cli(['bake', 'cancel', BAKE_ID, '--timeout', '20', '--json']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.err).toContain('release family lock (family#al2023-base): LockNotHeldError: held by x');
    expect(JSON.parse(run.out)).toMatchObject({
      exitCode: 1,
      cancel: { clean: false, automation: null, builders: [] },
    });
  });

  it('refuses an unknown bake id with a usage error naming the id form, stopping nothing', async () => {
    // Prepare
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(Object.assign(new Error('Execution Does Not Exist'), { name: 'ExecutionDoesNotExist' }));

    // Act
    const unknown = await cli(['bake', 'cancel', BAKE_ID]);
    const malformed = await cli(['bake', 'cancel', 'ami-0123']);

    // Assess
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('<family>-<32 hex>');
    expect(malformed.code).toBe(2);
    expect(malformed.err).toContain("'ami-0123' is not a bake id");
    expect(sfnMock).not.toHaveReceivedCommand(StopExecutionCommand);
  });
});
