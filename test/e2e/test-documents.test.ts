/**
 * The rendered test documents, alone, in the sandbox: created with CreateDocument from the YAML
 * the stack deploys, started on a seeded image, driven only through AWS APIs and the sandbox's
 * control endpoint. A Run Command fault matching one check's command fails that check only; every
 * path ends with the tester terminated. The results TestResult would publish are built from the
 * sandbox's own answers: pass and fail from the check steps, output from the one report
 * (`reportChecks.Output`), which the sandbox's Linux guests print for real.
 */
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Instance,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  type AutomationExecution,
  CreateDocumentCommand,
  DescribeAutomationStepExecutionsCommand,
  GetAutomationExecutionCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
  StartAutomationExecutionCommand,
  type StepExecution,
  StopAutomationExecutionCommand,
} from '@aws-sdk/client-ssm';
import { eventually, startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RenderedTestDocument, renderTestDocument } from '../../automation/test-documents';
import shippedConfig from '../../bakehouse.config';
import { parseCheckReport, REPORT_OUTPUT, REPORT_STEP } from '../../functions/commons/ami-tests';
import { type Family, loadConfig } from '../../functions/commons/families';
import { buildResults } from '../../functions/test-result/core';

const AL2023_AMI = 'ami-0b5eed00000000001';
const WINDOWS_AMI = 'ami-0b5eed00000000004';
const TERMINAL = ['Success', 'Failed', 'TimedOut', 'Cancelled', 'CompletedWithFailure'];
/** An AL2023 image as al2023-base's bake leaves it (jq installed), made in beforeAll. */
let bakedAl2023 = '';
const STAGE = 'e2e';

const config = loadConfig(shippedConfig);
const familyNamed = (name: string): Family => {
  const family = config.families.find((f) => f.name === name);
  if (!family) throw new Error(`no family ${name}`);
  return family;
};
const linux = familyNamed('al2023-base');
const windows = familyNamed('windows-2022-base');

let sandbox: TestSandbox;
let ssm: SSMClient;
let ec2: EC2Client;
const documents = new Map<string, RenderedTestDocument>();

const setSpeed = (speed: number) => sandbox.control('POST', '/_sandbox/clock', { speed });
const injectRunCommandFault = (match: string) =>
  sandbox.control('POST', '/_sandbox/faults', { runCommand: { match, status: 'Failed', times: 1 } });

const parameters = (family: Family, amiId: string): Record<string, string[]> => ({
  AutomationAssumeRole: ['arn:aws:iam::000000000000:role/bakehouse-e2e-TestAutomationRole'],
  AmiId: [amiId],
  InstanceType: [family.builder.instanceType],
  SubnetId: [family.builder.subnetId],
  SecurityGroupIds: [...family.builder.securityGroupIds],
  InstanceProfileName: ['bakehouse-builder'],
  BakeId: [`${family.name}-0123456789abcdef`],
  Family: [family.name],
  TesterExpiresAt: ['2026-12-31T00:00:00Z'],
});

const start = async (family: Family, amiId: string): Promise<string> => {
  const document = documents.get(family.name);
  if (!document) throw new Error(`no document for ${family.name}`);
  const started = await ssm.send(
    new StartAutomationExecutionCommand({ DocumentName: document.name, Parameters: parameters(family, amiId) }),
  );
  return started.AutomationExecutionId ?? '';
};

const execution = async (id: string): Promise<AutomationExecution> =>
  (await ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: id }))).AutomationExecution ?? {};

/** Polls (real time) until the execution satisfies `done`. */
const waitFor = async (
  id: string,
  done: (e: AutomationExecution) => boolean = (e) => TERMINAL.includes(e.AutomationExecutionStatus ?? ''),
): Promise<AutomationExecution> => {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const current = await execution(id);
    if (done(current)) return current;
    if (Date.now() > deadline) throw new Error(`automation ${id} stuck: ${JSON.stringify(current).slice(0, 3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const stepsOf = async (id: string): Promise<StepExecution[]> =>
  (await ssm.send(new DescribeAutomationStepExecutionsCommand({ AutomationExecutionId: id }))).StepExecutions ?? [];
const statusOf = (steps: readonly StepExecution[]) =>
  Object.fromEntries(steps.map((s) => [s.StepName ?? '', s.StepStatus ?? '']));

const tester = async (done: AutomationExecution): Promise<Instance> => {
  const instanceId = done.Outputs?.['launchTester.InstanceId']?.[0] ?? '';
  const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = described.Reservations?.[0]?.Instances?.[0];
  if (!instance) throw new Error(`no tester ${instanceId}`);
  return instance;
};

/**
 * The sandbox runs Linux scripts in guests, so checks see what the image holds: al2023-base's
 * "jq present" fails on the stock AMI, which has no jq. Its bake installs jq; this does the same on
 * an instance of the stock AMI through Run Command and images it.
 */
const imageWithJq = async (): Promise<string> => {
  const launched = await ec2.send(
    new RunInstancesCommand({
      ImageId: AL2023_AMI,
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      IamInstanceProfile: { Name: 'bakehouse-builder' },
    }),
  );
  const instanceId = launched.Instances?.[0]?.InstanceId ?? '';
  await eventually(async () => {
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return described.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running' ? true : undefined;
  }, 20_000);
  const sent = await ssm.send(
    new SendCommandCommand({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [instanceId],
      Parameters: { commands: ['dnf -y install jq'] },
    }),
  );
  const commandId = sent.Command?.CommandId ?? '';
  const status = await eventually(async () => {
    const invocation = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
    );
    return ['Pending', 'InProgress', 'Delayed'].includes(invocation.Status ?? '') ? undefined : invocation.Status;
  }, 30_000);
  if (status !== 'Success') throw new Error(`installing jq on ${instanceId} ended ${status}`);
  const image = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'al2023-with-jq' }));
  const imageId = image.ImageId ?? '';
  await eventually(async () => {
    const described = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    return described.Images?.[0]?.State === 'available' ? true : undefined;
  }, 20_000);
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  return imageId;
};

beforeAll(async () => {
  sandbox = await startTestSandbox();
  ssm = new SSMClient(sandbox.clientConfig);
  ec2 = new EC2Client(sandbox.clientConfig);
  await setSpeed(600);
  bakedAl2023 = await imageWithJq();
  for (const family of [linux, windows]) {
    const rendered = renderTestDocument(family, family.os, STAGE);
    documents.set(family.name, rendered);
    await ssm.send(
      new CreateDocumentCommand({
        Name: rendered.name,
        Content: rendered.content,
        DocumentType: 'Automation',
        DocumentFormat: 'YAML',
      }),
    );
  }
});
afterAll(async () => sandbox.stop());
beforeEach(async () => {
  await sandbox.control('DELETE', '/_sandbox/faults');
  await setSpeed(600);
});

describe.each([
  { family: linux, amiId: () => bakedAl2023, faulty: 'jq present', match: 'jq --version' },
  { family: windows, amiId: () => WINDOWS_AMI, faulty: '7zip installed', match: '7-Zip' },
])('the $family.os test document ($family.name)', ({ family, amiId: imageOf, faulty, match }) => {
  const checks = () => documents.get(family.name)?.checks ?? [];

  it('passes every check, each as its own step, and terminates the tester', async () => {
    // Act
    const id = await start(family, imageOf());
    const done = await waitFor(id);
    const steps = await stepsOf(id);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Success');
    expect(steps.map((s) => s.StepName)).toEqual([
      'launchTester',
      'waitForTesterRunning',
      'waitForSsmAgent',
      ...checks().map((c) => c.stepName),
      REPORT_STEP,
      'terminateTester',
    ]);
    expect(buildResults(done, steps, checks())).toEqual(
      checks().map((c) => ({ name: c.name, passed: true, output: expect.any(String) })),
    );
    const instance = await tester(done);
    expect(instance.State?.Name).toBe('terminated');
    expect(instance.ImageId).toBe(imageOf());
    expect(instance.MetadataOptions?.HttpTokens).toBe('required');
    expect(instance.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'bakehouse:role', Value: 'tester' },
        { Key: 'bakehouse:managed', Value: 'true' },
        { Key: 'bakehouse:family', Value: family.name },
        { Key: 'bakehouse:test-execution-id', Value: id },
      ]),
    );
  });

  it(`fails only the check whose command fails (${faulty}), runs the others, fails the automation, terminates the tester`, async () => {
    // Prepare
    await injectRunCommandFault(match);
    const failing = checks().find((c) => c.name === faulty);
    expect(failing).toBeDefined();

    // Act
    const id = await start(family, imageOf());
    const done = await waitFor(id);
    const steps = await stepsOf(id);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Failed');
    const status = statusOf(steps);
    for (const check of checks()) {
      expect(status[check.stepName]).toBe(check.name === faulty ? 'Failed' : 'Success');
    }
    expect(status[REPORT_STEP]).toBe('Success');
    expect(status.terminateTester).toBe('Success');
    const results = buildResults(done, steps, checks());
    expect(results.filter((r) => !r.passed)).toEqual([
      { name: faulty, passed: false, output: expect.stringContaining('ended Failed') },
    ]);
    expect(results).toHaveLength(checks().length);
    expect((await tester(done)).State?.Name).toBe('terminated');
  });
});

describe('checks run on the image as it is', () => {
  it("fails al2023-base's jq check on the stock AMI, which has no jq, with the check's own output from the report", async () => {
    // Act
    const id = await start(linux, AL2023_AMI);
    const done = await waitFor(id);
    const steps = await stepsOf(id);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Failed');
    expect(statusOf(steps)[REPORT_STEP]).toBe('Success');
    const checks = documents.get(linux.name)?.checks ?? [];
    const results = buildResults(done, steps, checks);
    expect(results.filter((r) => !r.passed).map((r) => r.name)).toEqual(['jq present']);
    const jq = results.find((r) => r.name === 'jq present');
    expect(jq?.output).toMatch(/jq: (command )?not found\ncheck failed with exit code 127$/);
    const report = parseCheckReport(done.Outputs?.[REPORT_OUTPUT]?.[0]);
    const stepName = checks.find((c) => c.name === 'jq present')?.stepName ?? '';
    expect(report?.checks.get(stepName)).toEqual({ stepName, exitCode: 127, output: jq?.output });
    expect(report?.checks.size).toBe(checks.length);
    expect((await tester(done)).State?.Name).toBe('terminated');
  });

  it('fails a check that asks for a reboot (exit 194) with exit 1, its own code in the report, and still reports the others', async () => {
    // Prepare
    const family = {
      name: 'al2023-reboot',
      tests: [
        { name: 'wants a reboot', run: 'echo "please reboot me"\nexit 194' },
        { name: 'os release', run: '. /etc/os-release\necho "$ID"' },
      ],
    };
    const rendered = renderTestDocument(family, 'linux', STAGE);
    await ssm.send(
      new CreateDocumentCommand({
        Name: rendered.name,
        Content: rendered.content,
        DocumentType: 'Automation',
        DocumentFormat: 'YAML',
      }),
    );
    const started = await ssm.send(
      new StartAutomationExecutionCommand({
        DocumentName: rendered.name,
        Parameters: { ...parameters(linux, AL2023_AMI), Family: [family.name] },
      }),
    );
    const id = started.AutomationExecutionId ?? '';

    // Act
    const done = await waitFor(id);
    const steps = await stepsOf(id);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Failed');
    const reboot = steps.find((s) => s.StepName === 'checkWantsAReboot');
    expect(reboot?.StepStatus).toBe('Failed');
    expect(reboot?.FailureMessage).toContain('with response code 1.');
    const report = parseCheckReport(done.Outputs?.[REPORT_OUTPUT]?.[0]);
    expect(report?.checks.get('checkWantsAReboot')).toEqual({
      stepName: 'checkWantsAReboot',
      exitCode: 194,
      output: 'please reboot me\ncheck failed with exit code 194',
    });
    expect(buildResults(done, steps, rendered.checks)).toEqual([
      { name: 'wants a reboot', passed: false, output: 'please reboot me\ncheck failed with exit code 194' },
      { name: 'os release', passed: true, output: 'amzn' },
    ]);
    expect((await tester(done)).State?.Name).toBe('terminated');
  });
});

describe('a cancelled test', () => {
  it('terminates the tester through the onCancel step and ends Cancelled', async () => {
    // Prepare: the clock is frozen and moved a second at a time until the automation is in a check.
    await setSpeed(0);
    const id = await start(linux, AL2023_AMI);
    const first = documents.get(linux.name)?.checks[0]?.stepName ?? '';
    const deadline = Date.now() + 20_000;
    while ((await execution(id)).CurrentStepName !== first) {
      if (Date.now() > deadline) throw new Error(`automation ${id} never reached ${first}`);
      await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 1 });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }

    // Act
    await ssm.send(new StopAutomationExecutionCommand({ AutomationExecutionId: id, Type: 'Cancel' }));
    await setSpeed(600);
    const done = await waitFor(id);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Cancelled');
    expect(statusOf(await stepsOf(id)).terminateTesterOnCancel).toBe('Success');
    expect((await tester(done)).State?.Name).toBe('terminated');
  });
});
