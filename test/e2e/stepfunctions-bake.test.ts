/**
 * The real bake state machine in the sandbox: state-machines/bake.asl.json loaded with
 * loadBakeDefinition (as deployed, substitutions and all), created through CreateStateMachine and
 * run by the sandbox. The Lambda functions are fakes returning canned plans and failures; events go
 * to a recording EventBridge. Paths: already baked (skip), a plan that fails (cleanup, Bake
 * Failed, execution failed with the bake's reason), and a bake whose automation (a fake SSM that
 * only starts it) calls back after one wait period timed out on the sandbox clock.
 */
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
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
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  failure,
  fakeEventBridge,
  fakeLambda,
  fakeSsm,
  startTestSandbox,
  type TestSandbox,
} from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DetailType } from '../../functions/commons/events';
import { BAKE_FAILED_ERROR, BakeState, type CleanUpTaskInput, loadBakeDefinition } from '../../state-machines/bake';
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
  skipPlan,
} from '../fixtures/state-machines/bake-machine';

const ROLE_ARN = 'arn:aws:iam::000000000000:role/sfn-test';

const lambda = fakeLambda();
const events = fakeEventBridge();
let box: TestSandbox;
let sfn: SFNClient;
let stateMachineArn: string;

beforeAll(async () => {
  box = await startTestSandbox({ services: [lambda.service, events.service] });
  sfn = new SFNClient(box.clientConfig);
  const definition = JSON.stringify(loadBakeDefinition(bakeSubstitutions()));
  const created = await sfn.send(new CreateStateMachineCommand({ name: 'bake', definition, roleArn: ROLE_ARN }));
  stateMachineArn = created.stateMachineArn ?? '';
  lambda.functions.set('bakehouse-clean-up-failed-bake', (payload) => ({
    payload: bakeFailureFor(payload as unknown as CleanUpTaskInput),
  }));
});

afterAll(async () => {
  sfn.destroy();
  await box.stop();
});

const runToTheEnd = async (name: string): Promise<DescribeExecutionCommandOutput> => {
  const started = await sfn.send(
    new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(bakeRequest()) }),
  );
  const executionArn = started.executionArn ?? '';
  const deadline = Date.now() + 10_000;
  for (;;) {
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (execution.status !== 'RUNNING') return execution;
    if (Date.now() > deadline) throw new Error(`${name} is still running`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const enteredStates = async (executionArn: string): Promise<string[]> => {
  const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
  return (history.events ?? []).flatMap((event) =>
    event.stateEnteredEventDetails?.name ? [event.stateEnteredEventDetails.name] : [],
  );
};

describe('the bake state machine in the sandbox', () => {
  it('skips a bake whose key already produced an image and publishes Bake Skipped', async () => {
    lambda.functions.set('bakehouse-plan-bake', () => ({ payload: asJson(skipPlan({ bakeId: BAKE_ID })) }));
    const execution = await runToTheEnd(BAKE_ID);

    expect(execution.status).toBe('SUCCEEDED');
    expect(lambda.invocations.find((call) => call.name === 'bakehouse-plan-bake')?.payload).toEqual({
      bakeId: BAKE_ID,
      request: bakeRequest(),
    });
    const published = events.entries.filter((entry) => entry.DetailType === DetailType.BakeSkipped);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ EventBusName: 'bakehouse-test', Source: 'bakehouse' });
    expect(JSON.parse(published[0]?.Detail ?? '')).toMatchObject({
      version: '1.0',
      bakeId: BAKE_ID,
      family: FAMILY,
      amiId: skipPlan().existingAmiId,
    });
    expect(await enteredStates(execution.executionArn ?? '')).toEqual([
      BakeState.PlanBake,
      BakeState.IsAlreadyBaked,
      BakeState.PublishBakeSkipped,
    ]);
  });

  it('cleans up after a plan that fails, publishes Bake Failed and fails with the reason', async () => {
    lambda.functions.set('bakehouse-plan-bake', () => ({
      errorType: 'NoSuchFamilyError',
      errorMessage: `no family named ${FAMILY}`,
    }));
    const execution = await runToTheEnd('failing-bake');

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe(BAKE_FAILED_ERROR);
    expect(execution.cause).toBe(`NoSuchFamilyError: no family named ${FAMILY}`);
    const cleanup = lambda.invocations.filter((call) => call.name === 'bakehouse-clean-up-failed-bake').at(-1)?.payload;
    expect(cleanup).toMatchObject({
      bakeId: 'failing-bake',
      request: bakeRequest(),
      plan: null,
      automation: null,
      failure: { PlanBake: { Error: 'NoSuchFamilyError' } },
    });
    const failed = events.entries.filter((entry) => entry.DetailType === DetailType.BakeFailed);
    expect(failed).toHaveLength(1);
    expect(JSON.parse(failed[0]?.Detail ?? '')).toMatchObject({
      bakeId: 'failing-bake',
      family: FAMILY,
      failedStep: BakeState.PlanBake,
      reason: `NoSuchFamilyError: no family named ${FAMILY}`,
      automationExecutionId: null,
    });
    expect(await enteredStates(execution.executionArn ?? '')).toEqual([
      BakeState.PlanBake,
      BakeState.PrepareCleanUpWithoutPlan,
      BakeState.CleanUpFailedBake,
      BakeState.PublishBakeFailed,
      BakeState.BakeFailed,
    ]);
  });
});

describe('a whole bake in the sandbox, with a fake SSM', () => {
  const ssm = fakeSsm(AUTOMATION_EXECUTION_ID);
  const bakeLambda = fakeLambda();
  const bakeEvents = fakeEventBridge();
  const tokens: string[] = [];
  let sandbox: TestSandbox;
  let client: SFNClient;
  let ec2: EC2Client;
  let raw: DynamoDBClient;
  let dynamo: DynamoDBDocumentClient;
  const table = bakeSubstitutions().StateTableName;
  const lockKey = actionPlan().lockKey;

  beforeAll(async () => {
    sandbox = await startTestSandbox({ services: [ssm.service, bakeLambda.service, bakeEvents.service] });
    client = new SFNClient(sandbox.clientConfig);
    ec2 = new EC2Client(sandbox.clientConfig);
    raw = new DynamoDBClient(sandbox.clientConfig);
    dynamo = DynamoDBDocumentClient.from(raw);
    await dynamo.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    // CreateTable answers CREATING, as AWS does, and a PutItem before the table is ACTIVE fails
    // with ResourceNotFoundException.
    await waitUntilTableExists({ client: raw, maxWaitTime: 10, minDelay: 0.05, maxDelay: 0.1 }, { TableName: table });
    // The lock PlanBake (a fake here) would have taken for this bake.
    await dynamo.send(
      new PutCommand({
        TableName: table,
        Item: { pk: lockKey, owner: BAKE_ID, acquiredAt: '2026-11-22T03:00:00.000Z', expiresAt: 4102444800 },
      }),
    );
    bakeLambda.functions.set('bakehouse-plan-bake', () => ({ payload: asJson(actionPlan()) }));
    bakeLambda.functions.set('bakehouse-wait-for-automation', (payload) => {
      tokens.push((payload as { taskToken: string }).taskToken);
      return { payload: { registered: true } };
    });
  });

  afterAll(async () => {
    client.destroy();
    ec2.destroy();
    raw.destroy(); // the document client's destroy does nothing: the client it wraps holds the sockets
    await sandbox.stop();
  });

  /** An image of our own, as the automation would have made it. */
  const bakedImage = async (): Promise<string> => {
    const images = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
    const source = images.Images?.find((image) => image.Architecture === 'x86_64')?.ImageId;
    const run = await ec2.send(
      new RunInstancesCommand({ ImageId: source, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
    );
    const instanceId = run.Instances?.[0]?.InstanceId;
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 60 });
    const image = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'baked-by-the-test' }));
    return image.ImageId ?? '';
  };

  const waitUntil = async <T>(check: () => Promise<T | undefined> | T | undefined): Promise<T> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  it('re-registers after a wait period times out (TimeoutSecondsPath) and finishes on the callback', async () => {
    const imageId = await bakedImage();
    const definition = JSON.stringify(loadBakeDefinition(bakeSubstitutions()));
    const created = await client.send(new CreateStateMachineCommand({ name: 'bake', definition, roleArn: ROLE_ARN }));
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: created.stateMachineArn,
        name: BAKE_ID,
        input: JSON.stringify(bakeRequest()),
      }),
    );
    const executionArn = started.executionArn ?? '';
    const firstToken = await waitUntil(() => tokens[0]);
    expect(ssm.calls[0]).toMatchObject({
      action: 'StartAutomationExecution',
      input: { DocumentName: actionPlan().documentName, ClientToken: actionPlan().clientToken },
    });

    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 600 });
    const secondToken = await waitUntil(() => tokens[1]);
    expect(secondToken).not.toBe(firstToken);
    expect((await failure(client.send(new SendTaskSuccessCommand({ taskToken: firstToken, output: '{}' })))).name).toBe(
      'TaskTimedOut',
    );

    await client.send(
      new SendTaskSuccessCommand({ taskToken: secondToken, output: JSON.stringify(automationResult({ imageId })) }),
    );
    const execution = await waitUntil(async () => {
      const described = await client.send(new DescribeExecutionCommand({ executionArn }));
      return described.status === 'RUNNING' ? undefined : described;
    });

    expect(execution.status).toBe('SUCCEEDED');
    const output = JSON.parse(execution.output ?? '');
    expect(output.automation).toMatchObject({
      automationExecutionId: AUTOMATION_EXECUTION_ID,
      waits: 1,
      waitSeconds: 600,
    });
    const tagged = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    expect(tagged.Images?.[0]?.Tags).toEqual(expect.arrayContaining([...actionPlan().imageTags]));
    expect(ssm.calls.map((call) => call.action)).toEqual(['StartAutomationExecution', 'PutParameter']);
    // ReleaseFamilyLock deleted this execution's own lock from the state table.
    expect(output).not.toHaveProperty('lockRelease');
    expect(
      (await dynamo.send(new GetCommand({ TableName: table, Key: { pk: lockKey }, ConsistentRead: true }))).Item,
    ).toBeUndefined();
    const baked = bakeEvents.entries.find((entry) => entry.DetailType === DetailType.AmiBaked);
    expect(JSON.parse(baked?.Detail ?? '')).toMatchObject({ bakeId: BAKE_ID, amiId: imageId, family: FAMILY });
    const history = await client.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    const timedOut = (history.events ?? []).filter((event) => event.type === 'TaskTimedOut');
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]?.taskTimedOutEventDetails).toMatchObject({ error: 'States.Timeout', resourceType: 'lambda' });
  });
});
