import 'aws-sdk-client-mock-vitest/extend';
import { CreateTagsCommand, DescribeImagesCommand, EC2Client, type Tag as Ec2Tag } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  type AutomationExecution,
  DescribeAutomationStepExecutionsCommand,
  GetAutomationExecutionCommand,
  SSMClient,
  type StepExecution,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../functions/commons/errors';
import { loadConfig } from '../../functions/commons/families';
import { MAX_CHECK_OUTPUT, recordTestResult, type TestResultDeps } from '../../functions/test-result/core';
import { TestNotFinishedError } from '../../functions/test-result/errors';
import { configInput, linuxFamily, recordingLogger } from './support/bake-factories';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const events = mockClient(EventBridgeClient);

const AMI = 'ami-0123456789abcdef0';
const BAKE_ID = 'al2023-base-0123456789abcdef0123456789abcdef';
const EXECUTION_ID = '7d1e1f9a-2b3c-4d5e-8f90-a1b2c3d4e5f6';
const DOCUMENT = 'bakehouse-dev-test-al2023-base';

const deps = (overrides: Partial<TestResultDeps> = {}): TestResultDeps => ({
  config: loadConfig(
    configInput([
      linuxFamily({
        tests: [
          { name: 'ssm agent running', run: 'systemctl is-active amazon-ssm-agent' },
          { name: 'jq present', run: 'jq --version' },
        ],
      }),
    ]),
  ),
  ec2: new EC2Client({}),
  ssm: new SSMClient({}),
  events: new EventBridgeClient({}),
  target: { busName: 'bakehouse-dev', source: 'bakehouse' },
  clock: () => new Date('2026-02-01T11:00:00.000Z'),
  logger: recordingLogger(),
  documentPrefix: 'bakehouse-dev-test-',
  ...overrides,
});

const statusEvent = (detail: Record<string, unknown> = {}) => ({
  id: 'e-status-1',
  source: 'aws.ssm',
  'detail-type': 'EC2 Automation Execution Status-change Notification',
  time: '2026-02-01T10:55:00Z',
  detail: { ExecutionId: EXECUTION_ID, Definition: DOCUMENT, Status: 'Success', ...detail },
});

const execution = (status: string, report?: string): AutomationExecution => ({
  AutomationExecutionId: EXECUTION_ID,
  DocumentName: DOCUMENT,
  AutomationExecutionStatus: status as AutomationExecution['AutomationExecutionStatus'],
  Parameters: { AmiId: [AMI], BakeId: [BAKE_ID], Family: ['al2023-base'], InstanceType: ['m7i.large'] },
  Outputs: {
    'launchTester.InstanceId': ['i-0123456789abcdef0'],
    ...(report === undefined ? {} : { 'reportChecks.Output': [report] }),
  },
});

/** What reportChecks prints for these entries: `[step, exit code, output]`. */
const reportText = (...entries: [step: string, code: number, output: string][]): string =>
  [
    'bakehouse-checks 1',
    ...entries.flatMap(([step, code, output]) => {
      const lines = output === '' ? [] : output.split('\n');
      return [`${step} ${code} ${lines.length}`, ...lines];
    }),
  ].join('\n');
const reportStep = (output: string): StepExecution => ({
  StepName: 'reportChecks',
  Action: 'aws:runCommand',
  StepStatus: 'Success',
  Outputs: { CommandId: ['c-9'], Status: ['Success'], ResponseCode: ['0'], Output: [output] },
});

const fixedSteps = (): StepExecution[] => [
  { StepName: 'launchTester', StepStatus: 'Success' },
  { StepName: 'waitForTesterRunning', StepStatus: 'Success' },
  { StepName: 'waitForSsmAgent', StepStatus: 'Success' },
];
/** A passed check step; `output` is its own Output, which the automation does not keep. */
const passedCheck = (name: string, output = ''): StepExecution => ({
  StepName: name,
  Action: 'aws:runCommand',
  StepStatus: 'Success',
  Outputs: { CommandId: ['c-1'], Status: ['Success'], ResponseCode: ['0'], Output: [output] },
});
const failedCheck = (name: string, message: string): StepExecution => ({
  StepName: name,
  Action: 'aws:runCommand',
  StepStatus: 'Failed',
  FailureMessage: message,
});
const terminated = (name = 'terminateTester'): StepExecution => ({ StepName: name, StepStatus: 'Success' });

const given = (status: string, steps: StepExecution[], tags: Ec2Tag[] = [], report?: string) => {
  ssm
    .on(GetAutomationExecutionCommand, { AutomationExecutionId: EXECUTION_ID })
    .resolves({ AutomationExecution: execution(status, report) });
  ssm.on(DescribeAutomationStepExecutionsCommand).resolves({ StepExecutions: steps });
  ec2.on(DescribeImagesCommand, { ImageIds: [AMI] }).resolves({
    Images: [
      {
        ImageId: AMI,
        Tags: [
          { Key: 'bakehouse:managed', Value: 'true' },
          { Key: 'bakehouse:tested', Value: 'running' },
          { Key: 'bakehouse:test-execution-id', Value: EXECUTION_ID },
          ...tags,
        ].filter((tag, i, all) => all.findLastIndex((t) => t.Key === tag.Key) === i),
      },
    ],
  });
};

const published = () =>
  events.commandCalls(PutEventsCommand).map((call) => {
    const entry = call.args[0].input.Entries?.[0];
    return { detailType: entry?.DetailType, detail: JSON.parse(entry?.Detail ?? '{}') };
  });
const tagsWritten = () => ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Tags);

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  events.reset();
  ec2.on(CreateTagsCommand).resolves({});
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'ev-tested' }] });
});

describe('recordTestResult: an ended test automation', () => {
  it('publishes AMI Tested passed with one result per check, in the order of the config', async () => {
    // Prepare: the report lists the checks in another order than the config.
    const report = reportText(['checkJqPresent', 0, 'jq-1.7.1'], ['checkSsmAgentRunning', 0, 'active']);
    given(
      'Success',
      [
        ...fixedSteps(),
        passedCheck('checkSsmAgentRunning'),
        passedCheck('checkJqPresent'),
        reportStep(report),
        terminated(),
      ],
      [],
      report,
    );

    // Act
    const outcome = await recordTestResult(statusEvent(), deps());

    // Assess
    expect(outcome).toEqual({ outcome: 'recorded', passed: true, eventId: 'ev-tested' });
    expect(published()).toEqual([
      {
        detailType: 'AMI Tested',
        detail: {
          version: '1.0',
          bakeId: BAKE_ID,
          family: 'al2023-base',
          amiId: AMI,
          passed: true,
          results: [
            { name: 'ssm agent running', passed: true, output: 'active' },
            { name: 'jq present', passed: true, output: 'jq-1.7.1' },
          ],
          testExecutionId: EXECUTION_ID,
        },
      },
    ]);
  });

  it('tags the result before publishing and tested-at after it', async () => {
    // Prepare
    given('Success', [
      ...fixedSteps(),
      passedCheck('checkSsmAgentRunning', 'active'),
      passedCheck('checkJqPresent', 'jq'),
      terminated(),
    ]);

    // Act
    await recordTestResult(statusEvent(), deps());

    // Assess
    expect(tagsWritten()).toEqual([
      [
        { Key: 'bakehouse:tested', Value: 'passed' },
        { Key: 'bakehouse:test-execution-id', Value: EXECUTION_ID },
      ],
      [{ Key: 'bakehouse:tested-at', Value: '2026-02-01T11:00:00.000Z' }],
    ]);
    const [result, testedAt] = ec2.commandCalls(CreateTagsCommand);
    const publish = events.commandCalls(PutEventsCommand)[0]!;
    expect(result!.calledBefore(publish)).toBe(true);
    expect(publish.calledBefore(testedAt!)).toBe(true);
  });

  it('marks the image failed and names the failed check with its reported output, the others passing', async () => {
    // Prepare
    const report = reportText(
      ['checkSsmAgentRunning', 3, 'inactive\ncheck failed with exit code 3'],
      ['checkJqPresent', 0, 'jq-1.7.1'],
    );
    given(
      'Failed',
      [
        ...fixedSteps(),
        failedCheck(
          'checkSsmAgentRunning',
          'Step fails when it is Poll action status for commandId c-2. Command failed.',
        ),
        passedCheck('checkJqPresent'),
        reportStep(report),
        terminated(),
      ],
      [],
      report,
    );

    // Act
    const outcome = await recordTestResult(statusEvent({ Status: 'Failed' }), deps());

    // Assess
    expect(outcome).toMatchObject({ outcome: 'recorded', passed: false });
    expect(published()[0]?.detail).toMatchObject({
      passed: false,
      results: [
        { name: 'ssm agent running', passed: false, output: 'inactive\ncheck failed with exit code 3' },
        { name: 'jq present', passed: true, output: 'jq-1.7.1' },
      ],
    });
    expect(tagsWritten()[0]).toContainEqual({ Key: 'bakehouse:tested', Value: 'failed' });
  });

  it('takes pass and fail from the step statuses, not from the report', async () => {
    // Prepare: a report that disagrees with the steps (a step that timed out after recording).
    const report = reportText(['checkSsmAgentRunning', 0, 'active'], ['checkJqPresent', 5, 'no jq']);
    given(
      'Failed',
      [
        ...fixedSteps(),
        { StepName: 'checkSsmAgentRunning', StepStatus: 'TimedOut', FailureMessage: 'Step timed out' },
        passedCheck('checkJqPresent'),
        reportStep(report),
        terminated(),
      ],
      [],
      report,
    );

    // Act
    await recordTestResult(statusEvent({ Status: 'Failed' }), deps());

    // Assess
    expect(published()[0]?.detail.results).toEqual([
      { name: 'ssm agent running', passed: false, output: 'active' },
      { name: 'jq present', passed: true, output: 'no jq' },
    ]);
  });

  it("never reads a check step's own Output, only the report's", async () => {
    // Prepare
    const report = reportText(['checkSsmAgentRunning', 0, 'active'], ['checkJqPresent', 0, 'jq-1.7.1']);
    given(
      'Success',
      [
        ...fixedSteps(),
        passedCheck('checkSsmAgentRunning', 'from the step'),
        passedCheck('checkJqPresent', 'from the step'),
        reportStep(report),
        terminated(),
      ],
      [],
      report,
    );

    // Act
    await recordTestResult(statusEvent(), deps());

    // Assess
    expect(published()[0]?.detail.results.map((r: { output: string }) => r.output)).toEqual(['active', 'jq-1.7.1']);
  });

  it('reads the report from the reportChecks step when the execution does not list it', async () => {
    // Prepare
    const report = reportText(['checkSsmAgentRunning', 0, 'active'], ['checkJqPresent', 0, 'jq-1.7.1']);
    given('Success', [
      ...fixedSteps(),
      passedCheck('checkSsmAgentRunning'),
      passedCheck('checkJqPresent'),
      reportStep(report),
      terminated(),
    ]);

    // Act
    await recordTestResult(statusEvent(), deps());

    // Assess
    expect(published()[0]?.detail.results.map((r: { output: string }) => r.output)).toEqual(['active', 'jq-1.7.1']);
  });

  it('falls back to the step status and FailureMessage when there is no report (the tester died)', async () => {
    // Prepare
    given('Failed', [
      ...fixedSteps(),
      passedCheck('checkSsmAgentRunning', 'from the step'),
      failedCheck('checkJqPresent', 'Step fails when it is Poll action status for commandId c-2. Command failed.'),
      {
        ...reportStep(''),
        StepStatus: 'Failed',
        Outputs: {},
        FailureMessage: 'Instances [i-0abc] not in a valid state',
      },
      terminated(),
    ]);

    // Act
    await recordTestResult(statusEvent({ Status: 'Failed' }), deps());

    // Assess
    expect(published()[0]?.detail.results).toEqual([
      { name: 'ssm agent running', passed: true, output: '' },
      {
        name: 'jq present',
        passed: false,
        output: 'Failed: Step fails when it is Poll action status for commandId c-2. Command failed.',
      },
    ]);
  });

  it('falls back to the step for a check the report left out ("more")', async () => {
    // Prepare
    const report = `${reportText(['checkSsmAgentRunning', 0, 'active'])}\nmore 1`;
    given(
      'Failed',
      [
        ...fixedSteps(),
        passedCheck('checkSsmAgentRunning'),
        failedCheck('checkJqPresent', 'Command failed.'),
        reportStep(report),
        terminated(),
      ],
      [],
      report,
    );

    // Act
    await recordTestResult(statusEvent({ Status: 'Failed' }), deps());

    // Assess
    expect(published()[0]?.detail.results).toEqual([
      { name: 'ssm agent running', passed: true, output: 'active' },
      { name: 'jq present', passed: false, output: 'Failed: Command failed.' },
    ]);
  });

  it('fails every check that never ran, saying where the automation stopped', async () => {
    // Prepare
    given('Failed', [
      { StepName: 'launchTester', StepStatus: 'Success' },
      { StepName: 'waitForTesterRunning', StepStatus: 'Success' },
      { StepName: 'waitForSsmAgent', StepStatus: 'TimedOut', FailureMessage: 'Step timed out while step is verifying' },
      terminated('terminateTesterOnFailure'),
    ]);

    // Act
    await recordTestResult(statusEvent({ Status: 'Failed' }), deps());

    // Assess
    const why =
      'did not run: the automation stopped at waitForSsmAgent (TimedOut): Step timed out while step is verifying';
    expect(published()[0]?.detail).toMatchObject({
      passed: false,
      results: [
        { name: 'ssm agent running', passed: false, output: why },
        { name: 'jq present', passed: false, output: why },
      ],
    });
  });

  it('does not pass a cancelled automation even if the checks that ran passed', async () => {
    // Prepare
    given('Cancelled', [
      ...fixedSteps(),
      passedCheck('checkSsmAgentRunning', 'active'),
      { StepName: 'checkJqPresent', StepStatus: 'Cancelled' },
      terminated('terminateTesterOnCancel'),
    ]);

    // Act
    const outcome = await recordTestResult(statusEvent({ Status: 'Cancelled' }), deps());

    // Assess
    expect(outcome).toMatchObject({ passed: false });
    expect(published()[0]?.detail.results).toEqual([
      { name: 'ssm agent running', passed: true, output: '' },
      { name: 'jq present', passed: false, output: 'Cancelled: step checkJqPresent ended Cancelled' },
    ]);
  });

  it('trims long reported output to its end, where a failing script says why', async () => {
    // Prepare
    const report = reportText(['checkSsmAgentRunning', 0, `${'x'.repeat(5000)}\nthe end`], ['checkJqPresent', 0, 'ok']);
    given(
      'Success',
      [
        ...fixedSteps(),
        passedCheck('checkSsmAgentRunning'),
        passedCheck('checkJqPresent'),
        reportStep(report),
        terminated(),
      ],
      [],
      report,
    );

    // Act
    await recordTestResult(statusEvent(), deps());

    // Assess
    const output: string = published()[0]?.detail.results[0].output;
    expect(output).toHaveLength(MAX_CHECK_OUTPUT);
    expect(output.startsWith('…x')).toBe(true);
    expect(output.endsWith('x\nthe end')).toBe(true);
  });

  it('trims a long failure message', async () => {
    // Prepare
    given('Failed', [
      ...fixedSteps(),
      failedCheck('checkSsmAgentRunning', 'y'.repeat(5000)),
      passedCheck('checkJqPresent'),
      terminated(),
    ]);

    // Act
    await recordTestResult(statusEvent({ Status: 'Failed' }), deps());

    // Assess
    const output: string = published()[0]?.detail.results[0].output;
    expect(output).toHaveLength(MAX_CHECK_OUTPUT);
    expect(output.endsWith('…')).toBe(true);
  });

  it('reads every page of step executions, and reports a check step the config no longer has', async () => {
    // Prepare
    given('Success', []);
    ssm
      .on(DescribeAutomationStepExecutionsCommand)
      .resolvesOnce({
        StepExecutions: [...fixedSteps(), passedCheck('checkSsmAgentRunning', 'active')],
        NextToken: 't2',
      })
      .resolvesOnce({
        StepExecutions: [passedCheck('checkJqPresent', 'jq'), passedCheck('checkRemovedCheck', 'yes'), terminated()],
      });

    // Act
    await recordTestResult(statusEvent(), deps());

    // Assess
    expect(ssm).toHaveReceivedCommandTimes(DescribeAutomationStepExecutionsCommand, 2);
    expect(ssm).toHaveReceivedNthCommandWith(DescribeAutomationStepExecutionsCommand, 2, {
      AutomationExecutionId: EXECUTION_ID,
      NextToken: 't2',
    });
    expect(published()[0]?.detail.results.map((r: { name: string }) => r.name)).toEqual([
      'ssm agent running',
      'jq present',
      'checkRemovedCheck',
    ]);
  });
});

describe('recordTestResult: redelivery and strays', () => {
  it('publishes nothing new when the result of this execution is already recorded', async () => {
    // Prepare
    given(
      'Failed',
      [...fixedSteps(), failedCheck('checkJqPresent', 'no jq'), terminated()],
      [
        { Key: 'bakehouse:tested', Value: 'failed' },
        { Key: 'bakehouse:tested-at', Value: '2026-02-01T10:58:00.000Z' },
      ],
    );

    // Act
    const outcome = await recordTestResult(statusEvent({ Status: 'Failed' }), deps());

    // Assess
    expect(outcome).toEqual({ outcome: 'already-recorded', tested: 'failed' });
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('publishes again when the result was tagged but tested-at is missing (the publish was lost)', async () => {
    // Prepare
    given(
      'Success',
      [...fixedSteps(), passedCheck('checkSsmAgentRunning', 'a'), passedCheck('checkJqPresent', 'b')],
      [{ Key: 'bakehouse:tested', Value: 'passed' }],
    );

    // Act
    const outcome = await recordTestResult(statusEvent(), deps());

    // Assess
    expect(outcome).toMatchObject({ outcome: 'recorded', passed: true });
    expect(events).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('ignores an execution other than the one the image records', async () => {
    // Prepare
    given('Success', fixedSteps(), [{ Key: 'bakehouse:test-execution-id', Value: 'another-execution' }]);

    // Act
    const outcome = await recordTestResult(statusEvent(), deps());

    // Assess
    expect(outcome).toEqual({ outcome: 'superseded', currentExecutionId: 'another-execution' });
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('publishes nothing for an image that is gone', async () => {
    // Prepare
    given('Success', fixedSteps());
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });

    // Act
    const outcome = await recordTestResult(statusEvent(), deps());

    // Assess
    expect(outcome).toEqual({ outcome: 'image-gone', amiId: AMI });
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('throws TestNotFinishedError, writing nothing, when the execution has not ended yet', async () => {
    // Prepare
    given('InProgress', fixedSteps());

    // Act
    const error = await recordTestResult(statusEvent(), deps()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(TestNotFinishedError);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
  });
});

describe('recordTestResult: rejected events', () => {
  it.each([
    ['no ExecutionId', statusEvent({ ExecutionId: undefined }), 'detail.ExecutionId: must be a non-empty string'],
    ['a bake document', statusEvent({ Definition: 'bakehouse-dev-bake-linux' }), 'detail.Definition:'],
    ['a status that is not final', statusEvent({ Status: 'InProgress' }), "detail.Status: 'InProgress'"],
    ['another source', { ...statusEvent(), source: 'bakehouse' }, "source: expected 'aws.ssm'"],
  ])('rejects an event with %s, naming the field, logged once, before any call', async (_what, event, field) => {
    // Prepare
    const logger = recordingLogger();

    // Act
    const error = await recordTestResult(event, deps({ logger })).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toContain(field);
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(ssm).not.toHaveReceivedCommand(GetAutomationExecutionCommand);
    expect(ec2).not.toHaveReceivedAnyCommand();
    expect(events).not.toHaveReceivedAnyCommand();
  });
});
