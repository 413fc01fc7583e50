/**
 * EC2 throttles TagAmi, and the bake still ends with AMI Baked: the real bake state machine
 * (state-machines/bake.asl.json as deployed) run by the sandbox, its TagAmi calling the sandbox's
 * EC2 through the aws-sdk integration, CreateTags refused with RequestLimitExceeded by the sandbox's
 * fault injection. EC2 models no errors, so the integration reports the throttle as
 * Ec2.Ec2Exception with the code in the Cause (as AWS does); only a retrier on that name catches it.
 * The plan and wait functions are fakes, SSM only starts the automation, events go to a recording
 * EventBridge. The sandbox clock is frozen: the test moves it on so the retry pauses pass.
 */
import { CreateImageCommand, DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { fakeEventBridge, fakeLambda, fakeSsm, startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DetailType } from '../../functions/commons/events';
import { BakeState, type CleanUpTaskInput, loadBakeDefinition } from '../../state-machines/bake';
import {
  AUTOMATION_EXECUTION_ID,
  actionPlan,
  asJson,
  automationResult,
  BAKE_ID,
  bakeFailureFor,
  bakeRequest,
  bakeSubstitutions,
  FAMILY,
} from '../fixtures/state-machines/bake-machine';

const ROLE_ARN = 'arn:aws:iam::000000000000:role/sfn-test';
/** More throttles in a row than a short retry budget (three) survives, fewer than TagAmi's. */
const THROTTLES = 4;

const ssm = fakeSsm(AUTOMATION_EXECUTION_ID);
const lambda = fakeLambda();
const events = fakeEventBridge();
const tokens: string[] = [];
let sandbox: TestSandbox;
let sfn: SFNClient;
let ec2: EC2Client;

beforeAll(async () => {
  sandbox = await startTestSandbox({ services: [ssm.service, lambda.service, events.service] });
  sfn = new SFNClient(sandbox.clientConfig);
  ec2 = new EC2Client(sandbox.clientConfig);
  lambda.functions.set('bakehouse-plan-bake', () => ({ payload: asJson(actionPlan()) }));
  lambda.functions.set('bakehouse-wait-for-automation', (payload) => {
    tokens.push((payload as { taskToken: string }).taskToken);
    return { payload: { registered: true } };
  });
  lambda.functions.set('bakehouse-clean-up-failed-bake', (payload) => ({
    payload: bakeFailureFor(payload as unknown as CleanUpTaskInput),
  }));
});

afterAll(async () => {
  sfn.destroy();
  ec2.destroy();
  await sandbox.stop();
});

/** An image of our own, as the automation would have made it. */
const bakedImage = async (): Promise<string> => {
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
  const source = images.Images?.find((image) => image.Architecture === 'x86_64')?.ImageId;
  const run = await ec2.send(
    new RunInstancesCommand({ ImageId: source, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 60 });
  const image = await ec2.send(
    new CreateImageCommand({ InstanceId: run.Instances?.[0]?.InstanceId, Name: 'baked-by-the-test' }),
  );
  return image.ImageId ?? '';
};

const waitUntil = async <T>(check: () => Promise<T | undefined> | T | undefined): Promise<T> => {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** Moves the frozen sandbox clock on (so retry pauses end) until the execution is over. */
const runOut = (executionArn: string): Promise<DescribeExecutionCommandOutput> =>
  waitUntil(async () => {
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== 'RUNNING') return described;
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 30 });
    return undefined;
  });

describe('a bake whose TagAmi EC2 throttles', () => {
  it(`retries CreateTags refused ${THROTTLES} times with RequestLimitExceeded and ends with AMI Baked`, async () => {
    // Prepare
    const imageId = await bakedImage();
    const definition = JSON.stringify(loadBakeDefinition(bakeSubstitutions()));
    const created = await sfn.send(new CreateStateMachineCommand({ name: 'bake', definition, roleArn: ROLE_ARN }));
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: created.stateMachineArn,
        name: BAKE_ID,
        input: JSON.stringify(bakeRequest()),
      }),
    );
    const executionArn = started.executionArn ?? '';
    const token = await waitUntil(() => tokens[0]);
    const injected = await sandbox.control('POST', '/_sandbox/faults', {
      service: 'ec2',
      action: 'CreateTags',
      error: 'RequestLimitExceeded',
      message: 'Request limit exceeded.',
      times: THROTTLES,
    });
    expect(injected.status).toBeLessThan(300);

    // Act
    await sfn.send(
      new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(automationResult({ imageId })) }),
    );
    const execution = await runOut(executionArn);

    // Assess: the throttles reached TagAmi as AWS reports them, and the bake went on
    const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    const failedCalls = (history.events ?? []).filter(
      (event) => event.type === 'TaskFailed' && event.taskFailedEventDetails?.resourceType === 'aws-sdk:ec2',
    );
    expect(failedCalls).toHaveLength(THROTTLES);
    for (const event of failedCalls) {
      expect(event.taskFailedEventDetails).toMatchObject({
        resourceType: 'aws-sdk:ec2',
        error: 'Ec2.Ec2Exception',
        cause: expect.stringContaining('Error Code: RequestLimitExceeded'),
      });
    }
    expect(((await sandbox.control('GET', '/_sandbox/faults')).body as { api: unknown[] }).api).toEqual([]);
    expect(execution.status).toBe('SUCCEEDED');
    const tagged = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    expect(tagged.Images?.[0]?.Tags).toEqual(expect.arrayContaining([...actionPlan().imageTags]));
    // The family lock is released in the state table (DynamoDB), no longer an SSM parameter.
    expect(ssm.calls.map((call) => call.action)).toEqual(['StartAutomationExecution', 'PutParameter']);
    expect(lambda.invocations.filter((call) => call.name === 'bakehouse-clean-up-failed-bake')).toEqual([]);
    const published = events.entries.map((entry) => entry.DetailType);
    expect(published).toEqual([DetailType.BakeStarted, DetailType.AmiBaked]);
    const baked = events.entries.find((entry) => entry.DetailType === DetailType.AmiBaked);
    expect(JSON.parse(baked?.Detail ?? '')).toMatchObject({ bakeId: BAKE_ID, amiId: imageId, family: FAMILY });
    const entered = (history.events ?? []).flatMap((event) =>
      event.stateEnteredEventDetails?.name ? [event.stateEnteredEventDetails.name] : [],
    );
    expect(entered.slice(-5)).toEqual([
      BakeState.TagAmi,
      BakeState.WriteCandidateChannel,
      BakeState.RecordBakedKey,
      BakeState.ReleaseFamilyLock,
      BakeState.PublishAmiBaked,
    ]);
  });
});
