import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  type AutomationExecution,
  CreateDocumentCommand,
  DescribeAutomationExecutionsCommand,
  DescribeAutomationStepExecutionsCommand,
  GetAutomationExecutionCommand,
  GetCommandInvocationCommand,
  SSMClient,
  StartAutomationExecutionCommand,
  StopAutomationExecutionCommand,
  UpdateDocumentCommand,
} from '@aws-sdk/client-ssm';
import type { ServiceEvent } from '@bakehouse/sandbox';
import { matchesPattern } from '@bakehouse/sandbox';
import { failure, startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadBakeDocument } from '../../automation/documents';
import { type AutomationStatusDetail, resume } from '../../functions/automation-events/core';
import { TERMINAL_STATUSES } from '../../functions/commons/automation-status';
import { failureOf } from '../../functions/commons/automation-wait';
import { SSM_AUTOMATION_STATUS_DETAIL_TYPE, SSM_EVENT_SOURCE } from '../../functions/commons/events';
import { INVENTORY_STEP, packagesOfRecord, parseInventoryOutput } from '../../functions/commons/inventory';

const AL2023_AMI = 'ami-0b5eed00000000001';
const WINDOWS_AMI = 'ami-0b5eed00000000004';
const TERMINAL = ['Success', 'Failed', 'TimedOut', 'Cancelled', 'CompletedWithFailure'];
const fixture = (name: string): string => readFileSync(join('test/fixtures/automation', name), 'utf8');

let sandbox: TestSandbox;
let ssm: SSMClient;
let ec2: EC2Client;
const events: ServiceEvent[] = [];

const setSpeed = (speed: number) => sandbox.control('POST', '/_sandbox/clock', { speed });
const advance = (seconds: number) => sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: seconds });

const createAutomationDocument = (name: string, content: string) =>
  ssm.send(
    new CreateDocumentCommand({ Name: name, Content: content, DocumentType: 'Automation', DocumentFormat: 'YAML' }),
  );

const start = async (documentName: string, parameters: Record<string, string[]> = {}): Promise<string> => {
  const started = await ssm.send(
    new StartAutomationExecutionCommand({ DocumentName: documentName, Parameters: parameters }),
  );
  return started.AutomationExecutionId ?? '';
};

const execution = async (id: string): Promise<AutomationExecution> =>
  (await ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: id }))).AutomationExecution ?? {};

/** Polls (real time) until the execution satisfies `done`. */
const waitFor = async (
  id: string,
  done: (execution: AutomationExecution) => boolean = (e) => TERMINAL.includes(e.AutomationExecutionStatus ?? ''),
): Promise<AutomationExecution> => {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const current = await execution(id);
    if (done(current)) return current;
    if (Date.now() > deadline)
      throw new Error(`automation ${id} stuck: ${JSON.stringify(current, null, 1).slice(0, 3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const stepNames = (execution: AutomationExecution) => execution.StepExecutions?.map((step) => step.StepName);
const step = (execution: AutomationExecution, name: string) =>
  execution.StepExecutions?.find((candidate) => candidate.StepName === name);

const instanceState = async (instanceId: string): Promise<string | undefined> => {
  const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return described.Reservations?.[0]?.Instances?.[0]?.State?.Name;
};

const bakeParameters = (overrides: Record<string, string[]> = {}): Record<string, string[]> => ({
  AutomationAssumeRole: ['arn:aws:iam::000000000000:role/bakehouse-automation'],
  SourceAmiId: [AL2023_AMI],
  InstanceType: ['t3.micro'],
  SubnetId: ['subnet-0123456789abcdef0'],
  SecurityGroupIds: ['sg-0123456789abcdef0'],
  IamInstanceProfileName: ['bakehouse-builder'],
  RootDeviceName: ['/dev/xvda'],
  VolumeSize: ['8'],
  BakeId: ['bake-0001'],
  Family: ['al2023-base'],
  BuilderExpiresAt: ['2026-12-31T00:00:00Z'],
  ImageName: [`al2023-base-${Math.random().toString(36).slice(2, 10)}`],
  ...overrides,
});

beforeAll(async () => {
  sandbox = await startTestSandbox();
  sandbox.sandbox.runtime.onServiceEvent((event) => events.push(event));
  ssm = new SSMClient(sandbox.clientConfig);
  ec2 = new EC2Client(sandbox.clientConfig);
  await createAutomationDocument('bake-linux', loadBakeDocument('linux').content);
  await createAutomationDocument('bake-windows', loadBakeDocument('windows').content);
  await createAutomationDocument('update-linux-ami', fixture('update-linux-ami.yaml'));
  await createAutomationDocument('flow', fixture('flow.yaml'));
});
afterAll(async () => sandbox.stop());
beforeEach(async () => {
  await sandbox.control('DELETE', '/_sandbox/faults');
  await setSpeed(0);
});

describe('the bake documents', () => {
  it('bakes a Linux image end to end: launch, patch, stop, image, terminate, with the outputs the callback reads', async () => {
    // Prepare
    await setSpeed(600);

    // Act
    const id = await start('bake-linux', bakeParameters());
    const done = await waitFor(id);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Success');
    expect(stepNames(done)).toEqual([
      'launchBuilder',
      'waitForBuilderRunning',
      'waitForSsmAgent',
      'runPreScript',
      'inventoryBefore',
      'patchPackages',
      'installPackages',
      'runInstallScript',
      'collectReport',
      'captureInventory',
      'runPostScript',
      'cleanupBuilder',
      'stopBuilder',
      'createImage',
      'waitForImage',
      'assertImageAvailable',
      'terminateBuilder',
    ]);
    const imageId = done.Outputs?.['createImage.ImageId']?.[0] ?? '';
    expect(imageId).toMatch(/^ami-[0-9a-f]+$/);
    // The one Run Command output the automation keeps: the bake report (release, package changes).
    expect(done.Outputs?.['collectReport.Output']?.[0]).toMatch(
      /^bakehouse-report 1\nrelease-before \S+\nrelease-after \S+\nchanges \d+/,
    );
    const images = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    expect(images.Images?.[0]?.State).toBe('available');
    expect(images.Images?.[0]?.Tags).toContainEqual({ Key: 'bakehouse:automation-execution-id', Value: id });
    const builder = done.Outputs?.['launchBuilder.InstanceId']?.[0] ?? '';
    // The whole package list is not among the outputs; it is in captureInventory's command output,
    // which GetCommandInvocation returns in full (the guest ran the script for real).
    const commandId = step(done, INVENTORY_STEP)?.Outputs?.CommandId?.[0] ?? '';
    const invocation = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: builder }));
    const inventory = parseInventoryOutput(invocation.StandardOutputContent ?? '');
    expect(inventory.ok, JSON.stringify(inventory)).toBe(true);
    const packages = inventory.ok ? packagesOfRecord(inventory.inventory) : undefined;
    expect(inventory.ok && inventory.inventory.release).toMatch(/^2023\.9\.\d{8}/);
    expect(packages?.get('system-release')).toEqual([expect.stringMatching(/^2023\.9\.\d{8}/)]);
    expect(await instanceState(builder)).toBe('terminated');
    expect(step(done, 'launchBuilder')?.Inputs?.ClientToken).toBe(JSON.stringify(id));
  });

  it('bakes a Windows image end to end from the seeded Windows Server image', async () => {
    // Prepare
    await setSpeed(600);

    // Act
    const id = await start(
      'bake-windows',
      bakeParameters({
        SourceAmiId: [WINDOWS_AMI],
        RootDeviceName: ['/dev/sda1'],
        VolumeSize: ['30'],
        Family: ['windows-2022-base'],
      }),
    );
    // Run Command runs no script in the sandbox; a command that shuts the guest down (sysprep
    // --shutdown) stops the instance when it succeeds, as the guest would.
    const done = await waitFor(id);

    // Assess
    expect(done.FailureMessage).toBeUndefined();
    expect(done.AutomationExecutionStatus).toBe('Success');
    expect(step(done, 'runSysprep')?.StepStatus).toBe('Success');
    expect(done.Outputs?.['createImage.ImageId']?.[0]).toMatch(/^ami-/);
    expect(await instanceState(done.Outputs?.['launchBuilder.InstanceId']?.[0] ?? '')).toBe('terminated');
  });

  it('ends Failed naming the patch step when its Run Command fails, and terminates the builder', async () => {
    // Prepare
    // Matches the patch step's command only (its apt branch's upgrade): no other step says with-new-pkgs.
    await sandbox.control('POST', '/_sandbox/faults', {
      runCommand: { match: 'with-new-pkgs', status: 'Failed', times: 1 },
    });
    await setSpeed(600);

    // Act
    const id = await start('bake-linux', bakeParameters());
    const done = await waitFor(id);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Failed');
    const patch = step(done, 'patchPackages');
    expect(patch?.StepStatus).toBe('Failed');
    expect(patch?.FailureMessage).toContain('ended Failed');
    expect(done.FailureMessage).toContain('patchPackages');
    expect(failureOf(done).failedStep).toBe('patchPackages');
    expect(stepNames(done)?.slice(-2)).toEqual(['patchPackages', 'terminateBuilderOnFailure']);
    expect(step(done, 'terminateBuilderOnFailure')?.StepStatus).toBe('Success');
    expect(done.Outputs?.['createImage.ImageId']).toEqual([
      'No output available yet because the step is not successfully executed',
    ]);
    const builder = step(done, 'launchBuilder')?.Outputs?.InstanceId?.[0] ?? '';
    expect(await instanceState(builder)).toBe('terminated');
  });

  it('cancels a bake: the running step is Cancelled, its onCancel step terminates the builder, the execution ends Cancelled', async () => {
    // Prepare: frozen clock, the builder stays pending while waitForBuilderRunning polls
    const id = await start('bake-linux', bakeParameters());
    await waitFor(id, (e) => step(e, 'waitForBuilderRunning')?.StepStatus === 'InProgress');

    // Act
    await ssm.send(new StopAutomationExecutionCommand({ AutomationExecutionId: id, Type: 'Cancel' }));
    await setSpeed(600);
    const done = await waitFor(id);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Cancelled');
    expect(step(done, 'waitForBuilderRunning')?.StepStatus).toBe('Cancelled');
    expect(step(done, 'terminateBuilderOnCancel')?.StepStatus).toBe('Success');
    expect(await instanceState(step(done, 'launchBuilder')?.Outputs?.InstanceId?.[0] ?? '')).toBe('terminated');
    const statuses = events
      .filter(
        (e) => e.detailType === 'EC2 Automation Execution Status-change Notification' && e.detail.ExecutionId === id,
      )
      .map((e) => e.detail.Status);
    expect(statuses).toEqual(['InProgress', 'Cancelling', 'Cancelled']);
  });
});

describe('an UpdateLinuxAmi-style document', () => {
  it('runs aws:runInstances, aws:runCommand, aws:changeInstanceState, aws:createImage and aws:createTags', async () => {
    // Prepare
    await setSpeed(600);

    // Act
    const id = await start('update-linux-ami', {
      SourceAmiId: [AL2023_AMI],
      IamInstanceProfileName: ['worker'],
    });
    const done = await waitFor(id);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Success');
    expect(done.Parameters?.TargetAmiName?.[0]).toMatch(
      new RegExp(`^UpdatedLinux_from_${AL2023_AMI}_on_\\d{4}-\\d{2}-\\d{2}_\\d{2}\\.\\d{2}\\.\\d{2}$`),
    );
    const imageId = done.Outputs?.['createImage.ImageId']?.[0] ?? '';
    const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
    expect(image?.Name).toBe(done.Parameters?.TargetAmiName?.[0]);
    expect(image?.Description).toBe(`Updated from ${AL2023_AMI} by ${id}`);
    expect(image?.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'SourceAmi', Value: AL2023_AMI },
        { Key: 'Account', Value: '000000000000' },
      ]),
    );
    const instanceId = step(done, 'launchInstance')?.Outputs?.InstanceIds?.[0] ?? '';
    expect(await instanceState(instanceId)).toBe('terminated');
    expect(step(done, 'createImage')?.Outputs?.ImageState).toEqual(['available']);
    expect(step(done, 'updateOSSoftware')?.Outputs?.Status).toEqual(['Success']);
  });

  it('aborts at the failed update step and ends Failed without running the rest', async () => {
    // Prepare
    await sandbox.control('POST', '/_sandbox/faults', { runCommand: { match: 'dnf', status: 'TimedOut', times: 1 } });
    await setSpeed(600);

    // Act
    const id = await start('update-linux-ami', { SourceAmiId: [AL2023_AMI], IamInstanceProfileName: ['worker'] });
    const done = await waitFor(id);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Failed');
    expect(stepNames(done)).toEqual(['launchInstance', 'updateOSSoftware']);
    expect(step(done, 'updateOSSoftware')?.FailureDetails?.FailureType).toBe('Action');
  });
});

describe('flow control', () => {
  it('onFailure Continue goes on to the next step, and the critical failure still fails the execution', async () => {
    await setSpeed(600);
    const done = await waitFor(await start('flow', { Route: ['continue'] }));
    expect(stepNames(done)).toEqual(['route', 'failAndContinue', 'done']);
    expect(step(done, 'failAndContinue')?.StepStatus).toBe('Failed');
    expect(step(done, 'failAndContinue')?.FailureMessage).toContain('expected one of [pending]');
    expect(done.AutomationExecutionStatus).toBe('Failed');
  });

  it('onFailure step:X jumps to that step, skipping the ones between, and its selector outputs reach the execution', async () => {
    const done = await waitFor(await start('flow', { Route: ['goto'] }));
    expect(stepNames(done)).toEqual(['route', 'failAndGoto', 'recover']);
    expect(done.AutomationExecutionStatus).toBe('Failed');
    expect(done.Outputs?.['recover.State']).toEqual(['available']);
    expect(done.Outputs?.['recover.Names']?.[0]).toMatch(/^al2023-ami-/);
  });

  it('a step with isCritical false that fails ends the execution CompletedWithFailure', async () => {
    await setSpeed(600);
    const done = await waitFor(await start('flow', { Route: ['noncritical'] }));
    expect(step(done, 'failNonCritical')?.IsCritical).toBe(false);
    expect(done.AutomationExecutionStatus).toBe('CompletedWithFailure');
  });

  it('retries a failing step up to maxAttempts', async () => {
    // Prepare
    await sandbox.control('POST', '/_sandbox/faults', {
      service: 'ec2',
      action: 'DescribeImages',
      error: 'InternalError',
      status: 500,
      times: 2,
    });
    await setSpeed(600);

    // Act
    const done = await waitFor(await start('flow', { Route: ['retry'] }));

    // Assess
    expect(step(done, 'retried')?.StepStatus).toBe('Success');
    expect(step(done, 'retried')?.MaxAttempts).toBe(3);
    expect(done.AutomationExecutionStatus).toBe('Success');
  });

  it('fails a step after its last attempt and reports the AWS error', async () => {
    // Prepare
    await sandbox.control('POST', '/_sandbox/faults', {
      service: 'ec2',
      action: 'DescribeImages',
      error: 'InternalError',
      status: 500,
      times: 3,
    });

    // Act
    const done = await waitFor(await start('flow', { Route: ['retry'] }));

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Failed');
    expect(step(done, 'retried')?.FailureMessage).toContain('ec2 DescribeImages failed: InternalError');
  });

  it('times a step out after timeoutSeconds of sandbox time', async () => {
    // Act
    const id = await start('flow', { Route: ['timeout'] });
    await waitFor(id, (e) => step(e, 'slow')?.StepStatus === 'InProgress');
    await advance(59);
    const before = await execution(id);
    await advance(2);
    const done = await waitFor(id);

    // Assess
    expect(step(before, 'slow')?.StepStatus).toBe('InProgress');
    expect(step(done, 'slow')?.StepStatus).toBe('TimedOut');
    expect(done.AutomationExecutionStatus).toBe('TimedOut');
  });

  it('aws:sleep waits on the sandbox clock, not real time', async () => {
    // Act
    const id = await start('flow', { Route: ['sleep'] });
    await waitFor(id, (e) => step(e, 'nap')?.StepStatus === 'InProgress');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const frozen = await execution(id);
    await advance(29 * 60);
    const almost = await execution(id);
    await advance(61);
    await waitFor(id, (e) => step(e, 'nap')?.StepStatus === 'Success');
    await advance(2);
    const done = await waitFor(id);

    // Assess
    expect(step(frozen, 'nap')?.StepStatus).toBe('InProgress');
    expect(step(almost, 'nap')?.StepStatus).toBe('InProgress');
    expect(done.AutomationExecutionStatus).toBe('Success');
    const nap = step(done, 'nap');
    const took = (nap?.ExecutionEndTime?.getTime() ?? 0) - (nap?.ExecutionStartTime?.getTime() ?? 0);
    expect(took).toBeGreaterThanOrEqual(30 * 60 * 1000);
  });

  it('branches with And, NumericGreater and Not Contains on typed parameters', async () => {
    await setSpeed(600);
    const done = await waitFor(await start('flow', { Route: ['numbers'] }));
    expect(stepNames(done)).toEqual(['route', 'numbers', 'done']);
    const other = await waitFor(await start('flow', { Route: ['numbers'], Names: ['gamma'] }));
    expect(stepNames(other)).toEqual(['route', 'done']);
  });

  it('fails a step whose action the sandbox does not run, naming the action', async () => {
    const done = await waitFor(await start('flow', { Route: ['unsupported'] }));
    expect(done.AutomationExecutionStatus).toBe('Failed');
    expect(step(done, 'unknownAction')?.FailureMessage).toContain('aws:approve');
    expect(done.FailureMessage).toContain('unknownAction');
  });

  it('fails aws:invokeLambdaFunction clearly when the function cannot be invoked', async () => {
    const done = await waitFor(await start('flow', { Route: ['lambda'] }));
    expect(done.AutomationExecutionStatus).toBe('Failed');
    expect(step(done, 'invoke')?.FailureMessage).toContain('aws:invokeLambdaFunction could not invoke bakehouse-test');
    expect(step(done, 'invoke')?.Inputs?.InputPayload).toContain('"execution"');
  });

  it('records aws:executeScript without running it and says so', async () => {
    await setSpeed(600);
    const done = await waitFor(await start('flow', { Route: ['script'] }));
    expect(done.AutomationExecutionStatus).toBe('Success');
    expect(step(done, 'script')?.Response).toContain('not run by the sandbox');
    expect(step(done, 'script')?.Outputs).toBeUndefined();
  });
});

describe('the API', () => {
  it('refuses bad parameters with InvalidAutomationExecutionParametersException', async () => {
    const cases: Record<string, string[]>[] = [
      {},
      { Route: ['nowhere'] },
      { Route: ['sleep'], Count: ['three'] },
      { Route: ['sleep'], Unknown: ['x'] },
      { Route: ['sleep', 'goto'] },
    ];
    for (const parameters of cases) {
      const error = await failure(start('flow', parameters));
      expect(error.name).toBe('InvalidAutomationExecutionParametersException');
    }
    const pattern = await failure(start('bake-linux', bakeParameters({ SourceAmiId: ['latest'] })));
    expect(pattern.message).toContain('allowed pattern');
  });

  it('answers AutomationDefinitionNotFoundException and AutomationDefinitionVersionNotFoundException', async () => {
    expect((await failure(start('no-such-document'))).name).toBe('AutomationDefinitionNotFoundException');
    expect((await failure(start('AWS-RunShellScript'))).name).toBe('AutomationDefinitionNotFoundException');
    const version = await failure(
      ssm.send(new StartAutomationExecutionCommand({ DocumentName: 'flow', DocumentVersion: '9' })),
    );
    expect(version.name).toBe('AutomationDefinitionVersionNotFoundException');
  });

  it('runs the default version unless asked for $LATEST', async () => {
    // Prepare
    await setSpeed(600);
    await ssm.send(
      new UpdateDocumentCommand({
        Name: 'flow',
        Content: fixture('flow.yaml').replace('Duration: PT1S\n    isEnd: true', 'Duration: PT2S\n    isEnd: true'),
        DocumentVersion: '$LATEST',
        DocumentFormat: 'YAML',
      }),
    );

    // Act
    const byDefault = await waitFor(await start('flow', { Route: ['script'] }));
    const latest = await ssm.send(
      new StartAutomationExecutionCommand({
        DocumentName: 'flow',
        DocumentVersion: '$LATEST',
        Parameters: { Route: ['script'] },
      }),
    );

    // Assess
    expect(byDefault.DocumentVersion).toBe('1');
    expect((await waitFor(latest.AutomationExecutionId ?? '')).DocumentVersion).toBe('2');
  });

  it('answers AutomationExecutionNotFoundException for an unknown execution', async () => {
    const id = '00000000-0000-0000-0000-000000000000';
    expect((await failure(execution(id))).name).toBe('AutomationExecutionNotFoundException');
    expect((await failure(ssm.send(new StopAutomationExecutionCommand({ AutomationExecutionId: id })))).name).toBe(
      'AutomationExecutionNotFoundException',
    );
  });

  it('refuses to stop a finished execution with InvalidAutomationStatusUpdateException', async () => {
    await setSpeed(600);
    const id = await start('flow', { Route: ['script'] });
    await waitFor(id);
    const error = await failure(ssm.send(new StopAutomationExecutionCommand({ AutomationExecutionId: id })));
    expect(error.name).toBe('InvalidAutomationStatusUpdateException');
  });

  it('describes executions by filter, newest first, in pages', async () => {
    // Prepare
    const ids = [await start('flow', { Route: ['sleep'] }), await start('flow', { Route: ['sleep'] })];
    await advance(1);
    const third = await start('flow', { Route: ['sleep'] });

    // Act
    const running = await ssm.send(
      new DescribeAutomationExecutionsCommand({
        Filters: [
          { Key: 'DocumentNamePrefix', Values: ['fl'] },
          { Key: 'ExecutionStatus', Values: ['InProgress'] },
        ],
        MaxResults: 2,
      }),
    );
    const byId = await ssm.send(
      new DescribeAutomationExecutionsCommand({ Filters: [{ Key: 'ExecutionId', Values: [ids[0] ?? ''] }] }),
    );
    const badKey = await failure(
      ssm.send(new DescribeAutomationExecutionsCommand({ Filters: [{ Key: 'Nope' as never, Values: ['x'] }] })),
    );
    const badStatus = await failure(
      ssm.send(new DescribeAutomationExecutionsCommand({ Filters: [{ Key: 'ExecutionStatus', Values: ['Sleepy'] }] })),
    );

    // Assess
    expect(running.AutomationExecutionMetadataList?.[0]?.AutomationExecutionId).toBe(third);
    expect(running.AutomationExecutionMetadataList).toHaveLength(2);
    expect(running.NextToken).toBeDefined();
    const next = await ssm.send(
      new DescribeAutomationExecutionsCommand({
        Filters: [{ Key: 'ExecutionStatus', Values: ['InProgress'] }],
        MaxResults: 2,
        NextToken: running.NextToken,
      }),
    );
    expect(next.AutomationExecutionMetadataList?.length).toBeGreaterThan(0);
    expect(byId.AutomationExecutionMetadataList?.map((m) => m.AutomationExecutionId)).toEqual([ids[0]]);
    expect(byId.AutomationExecutionMetadataList?.[0]?.CurrentStepName).toBe('nap');
    expect(badKey.name).toBe('InvalidFilterKey');
    expect(badStatus.name).toBe('InvalidFilterValue');
    for (const id of [...ids, third]) await ssm.send(new StopAutomationExecutionCommand({ AutomationExecutionId: id }));
  });

  it('describes step executions with filters, ReverseOrder and pages', async () => {
    // Prepare
    await setSpeed(600);
    const id = await start('flow', { Route: ['goto'] });
    await waitFor(id);

    // Act
    const all = await ssm.send(new DescribeAutomationStepExecutionsCommand({ AutomationExecutionId: id }));
    const reversed = await ssm.send(
      new DescribeAutomationStepExecutionsCommand({ AutomationExecutionId: id, ReverseOrder: true, MaxResults: 1 }),
    );
    const failed = await ssm.send(
      new DescribeAutomationStepExecutionsCommand({
        AutomationExecutionId: id,
        Filters: [{ Key: 'StepExecutionStatus', Values: ['Failed'] }],
      }),
    );
    const byName = await ssm.send(
      new DescribeAutomationStepExecutionsCommand({
        AutomationExecutionId: id,
        Filters: [{ Key: 'StepName', Values: ['route'] }],
      }),
    );

    // Assess
    expect(all.StepExecutions?.map((s) => s.StepName)).toEqual(['route', 'failAndGoto', 'recover']);
    expect(reversed.StepExecutions?.map((s) => s.StepName)).toEqual(['recover']);
    expect(reversed.NextToken).toBeDefined();
    expect(failed.StepExecutions?.map((s) => s.StepName)).toEqual(['failAndGoto']);
    expect(failed.StepExecutions?.[0]?.FailureDetails?.FailureType).toBe('Verification');
    expect(byName.StepExecutions?.[0]?.ValidNextSteps).toContain('numbers');
  });
});

describe('status-change events', () => {
  it('emits the execution status-change event with the detail Bakehouse rule and callback read', async () => {
    // Prepare
    await setSpeed(600);

    // Act
    const id = await start('flow', { Route: ['goto'] });
    await waitFor(id);

    // Assess
    const mine = events.filter((e) => e.detail.ExecutionId === id);
    const executionEvents = mine.filter((e) => e.detailType === 'EC2 Automation Execution Status-change Notification');
    expect(executionEvents.map((e) => e.detail.Status)).toEqual(['InProgress', 'Failed']);
    const last = executionEvents.at(-1);
    expect(last?.source).toBe('aws.ssm');
    expect(last?.detail).toMatchObject({
      ExecutionId: id,
      Definition: 'flow',
      DefinitionVersion: 1,
      Status: 'Failed',
      ExecutedBy: expect.stringContaining('arn:aws:sts::000000000000:'),
    });
    expect(last?.detail.StartTime).toMatch(/^[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} [AP]M$/);
    expect(last?.detail.EndTime).toMatch(/[AP]M$/);
    expect(typeof last?.detail.Time).toBe('number');
    expect(last?.resources).toContain(`arn:aws:ssm:us-east-1:000000000000:automation-execution/${id}`);
    // Bakehouse's AutomationStatusChanged rule matches the terminal event only, and the callback settles on it.
    const rule = {
      source: [SSM_EVENT_SOURCE],
      'detail-type': [SSM_AUTOMATION_STATUS_DETAIL_TYPE],
      detail: { Definition: ['flow'], Status: [...TERMINAL_STATUSES] },
    };
    const envelope = (event: ServiceEvent) => ({
      source: event.source,
      'detail-type': event.detailType,
      detail: event.detail,
    });
    expect(executionEvents.map((e) => matchesPattern(rule, envelope(e)))).toEqual([false, true]);
    const deps = {
      ssm,
      sfn: { send: async () => ({}) },
      clock: () => new Date(),
      logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      parameterPrefix: '/bakehouse/_callbacks',
    };
    expect(await resume(executionEvents[0]?.detail as AutomationStatusDetail, deps as never)).toBe('pending');
    expect(await resume(last?.detail as AutomationStatusDetail, deps as never)).toBe('unknown-automation');
    const stepEvents = mine.filter((e) => e.detailType === 'EC2 Automation Step Status-change Notification');
    expect(stepEvents.map((e) => `${e.detail.StepName}:${e.detail.Status}`)).toEqual([
      'route:InProgress',
      'route:Success',
      'failAndGoto:InProgress',
      'failAndGoto:Failed',
      'recover:InProgress',
      'recover:Success',
    ]);
  });
});

describe('restarts', () => {
  it('marks executions left InProgress by a previous process Failed, saying the sandbox restarted', async () => {
    // Prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-automation-'));
    const first = await startTestSandbox({ stateDir });
    const firstSsm = new SSMClient(first.clientConfig);
    await firstSsm.send(
      new CreateDocumentCommand({
        Name: 'flow',
        Content: fixture('flow.yaml'),
        DocumentType: 'Automation',
        DocumentFormat: 'YAML',
      }),
    );
    const started = await firstSsm.send(
      new StartAutomationExecutionCommand({ DocumentName: 'flow', Parameters: { Route: ['sleep'] } }),
    );
    const id = started.AutomationExecutionId ?? '';
    await first.stop();

    // Act
    const second = await startTestSandbox({ stateDir });
    try {
      const got = await new SSMClient(second.clientConfig).send(
        new GetAutomationExecutionCommand({ AutomationExecutionId: id }),
      );

      // Assess
      expect(got.AutomationExecution?.AutomationExecutionStatus).toBe('Failed');
      expect(got.AutomationExecution?.FailureMessage).toContain('sandbox restarted');
      expect(got.AutomationExecution?.StepExecutions?.find((s) => s.StepName === 'nap')?.StepStatus).toBe('Failed');
    } finally {
      await second.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
