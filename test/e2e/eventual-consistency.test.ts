/**
 * The lifecycle with EC2's eventual consistency on (issue 14): for a while after RunInstances and
 * CreateImage, Describe by id answers InvalidInstanceID.NotFound / InvalidAMIID.NotFound and
 * Describe with filters leaves the new resource out, as AWS may
 * (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). The bake and test
 * documents and the functions must still bake, test and promote. The sandbox records every answer
 * it changed, so each test also proves a Describe of the resource it just created did miss.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import {
  CreateImageCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DescribeAutomationExecutionsCommand,
  DescribeAutomationStepExecutionsCommand,
  GetAutomationExecutionCommand,
  GetParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import type { HiddenAnswer } from '@bakehouse/sandbox';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../dev/start/render';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { Tag } from '../../functions/commons/bake-plan';
import { DetailType } from '../../functions/commons/events';
import { loadConfig } from '../../functions/commons/families';
import { createTargetDeps, distributeImage } from '../../functions/commons/promotion-targets';
import { configInput, linuxFamily, recordingLogger, withCustomerKey } from '../unit/support/bake-factories';
import {
  createExampleLaunchTemplate,
  ofType,
  startProvisionedSandbox,
  eventWhere as waitForEvent,
} from './support/stack';

const BUS = 'bakehouse-dev';
/**
 * Sandbox seconds per real second: a quarter of the lifecycle tests' 1200x, so that the window
 * below is a real second. At 1200x (a quarter of a second) a full run with three test files at a
 * time on two cores once took longer than that from CreateImage to the first DescribeImages, and at
 * 600x (half a second) so did a run with five at a time: the test's check that the window bit
 * failed although Bakehouse did everything right.
 */
const SPEED = 300;
/**
 * Sandbox seconds a new instance or image stays hidden: a real second at 300x, many times the
 * real time between a create and the first Describe after it (even on a busy machine), so that
 * Describe always misses; still well inside the documents' wait-step timeouts (900 s and more).
 */
const HIDE_SECONDS = 300;
const COPY_REGION = 'eu-west-1';
const COPY_KEY = `arn:aws:kms:${COPY_REGION}:000000000000:key/11111111-2222-4333-8444-555555555555`;
const TEAM_ACCOUNT = '444455556666';
const AL2023_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
const OUTCOMES: readonly string[] = [DetailType.AmiBaked, DetailType.BakeFailed, DetailType.BakeSkipped];

let sandbox: TestSandbox;
let ec2: EC2Client;
let events: EventBridgeClient;
let ssm: SSMClient;

beforeAll(async () => {
  ({ sandbox } = await startProvisionedSandbox(SPEED, { eventualConsistency: { hideSeconds: HIDE_SECONDS } }));
  ec2 = new EC2Client(sandbox.clientConfig);
  events = new EventBridgeClient(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  await createExampleLaunchTemplate(ec2);
}, 180_000);

afterAll(async () => {
  for (const client of [ec2, events, ssm]) client?.destroy();
  await sandbox?.stop();
});

/** Retries `work` (real time) until it succeeds, for at most `timeoutMs`. */
const eventually = async <T>(work: () => Promise<T>, timeoutMs = 10_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
};

/** Waits (real time) for a logged event that `matches`. */
const eventWhere = (description: string, matches: (entry: LoggedEvent) => boolean, timeoutMs = 90_000) =>
  waitForEvent(sandbox, description, matches, timeoutMs);

let requests = 0;
/** Requests a bake and waits for its outcome event. */
const bake = async (family: string): Promise<LoggedEvent> => {
  requests += 1;
  const idempotencyKey = `eventual-consistency-${requests}`;
  const sent = await events.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: BUS,
          Source: 'team.web',
          DetailType: DetailType.BakeRequested,
          Detail: JSON.stringify({ family, requestedBy: 'team-web', reason: 'eventual consistency', idempotencyKey }),
        },
      ],
    }),
  );
  expect(sent.FailedEntryCount).toBe(0);
  const bakeId = bakeIdFor(family, idempotencyKey);
  return eventWhere(
    `the outcome of ${bakeId}`,
    (e) => OUTCOMES.includes(e.event['detail-type']) && e.event.detail.bakeId === bakeId,
  );
};

const channel = async (family: string, name: string): Promise<string | undefined> =>
  ssm
    .send(new GetParameterCommand({ Name: `/bakehouse/${family}/${name}` }))
    .then((r) => r.Parameter?.Value)
    .catch((error: Error) => {
      if (error.name === 'ParameterNotFound') return undefined;
      throw error;
    });

/** The instance a successful `stepName` of automation `executionId` launched. */
const launchedBy = async (executionId: string, stepName: string): Promise<string> => {
  const { StepExecutions = [] } = await ssm.send(
    new DescribeAutomationStepExecutionsCommand({ AutomationExecutionId: executionId }),
  );
  const step = StepExecutions.find((s) => s.StepName === stepName && s.StepStatus === 'Success');
  const instanceId = step?.Outputs?.InstanceId?.[0];
  if (!instanceId) throw new Error(`automation ${executionId} has no successful ${stepName}`);
  return instanceId;
};

/** The bake's builder: launched by its bake automation (named in Bake Started). */
const builderOf = async (bakeId: string): Promise<string> => {
  const started = await eventWhere('Bake Started', ofType(DetailType.BakeStarted, { bakeId }));
  return launchedBy(String(started.event.detail.automationExecutionId), 'launchBuilder');
};

/** The bake's tester: launched by the test automation started with its bake id. */
const testerOf = async (bakeId: string): Promise<string> => {
  const { AutomationExecutionMetadataList = [] } = await ssm.send(
    new DescribeAutomationExecutionsCommand({
      Filters: [{ Key: 'DocumentNamePrefix', Values: ['bakehouse-dev-test'] }],
    }),
  );
  for (const { AutomationExecutionId: id = '' } of AutomationExecutionMetadataList) {
    const { AutomationExecution } = await ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: id }));
    if (AutomationExecution?.Parameters?.BakeId?.[0] === bakeId) return launchedBy(id, 'launchTester');
  }
  throw new Error(`no test automation for ${bakeId}`);
};

const liveInstances = async (): Promise<string[]> => {
  const { Reservations = [] } = await ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: `tag:${Tag.Managed}`, Values: ['true'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
    }),
  );
  return Reservations.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId ?? '');
};

/** The answers the sandbox changed for `ids` (any of them). */
const missesFor = (ids: readonly string[]): HiddenAnswer[] =>
  sandbox.sandbox.hiddenByConsistency().filter((answer) => answer.ids.some((id) => ids.includes(id)));

/**
 * Whether a Describe (`action`) of one of `ids` missed: answered `notFound` by id, or left the
 * resource out of a filtered answer (the documents may wait either way).
 */
const describeMissed = (ids: readonly string[], action: string, notFound: string): boolean =>
  missesFor(ids).some((answer) => answer.action === action && [notFound, 'absent'].includes(answer.answer));

/** For a failure message: what the sandbox hid. */
const hiddenSoFar = (): string => JSON.stringify(sandbox.sandbox.hiddenByConsistency().slice(-40));

describe('the lifecycle with EC2 eventual consistency on', () => {
  it('answers InvalidInstanceID.NotFound to a Describe by id of an instance launched moments ago', async () => {
    // Prepare
    const source = (await ssm.send(new GetParameterCommand({ Name: AL2023_PARAMETER }))).Parameter?.Value;
    const launched = await ec2.send(
      new RunInstancesCommand({ ImageId: source, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
    );
    const instanceId = launched.Instances?.[0]?.InstanceId ?? '';

    // Act
    const answer = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })).then(
      () => 'found',
      (error: Error) => `${error.name}: ${error.message}`,
    );

    // Assess
    expect(answer).toBe(`InvalidInstanceID.NotFound: The instance ID '${instanceId}' does not exist`);
    expect(describeMissed([instanceId], 'DescribeInstances', 'InvalidInstanceID.NotFound')).toBe(true);
    await eventually(() => ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })));
  });

  it('bakes, tests and promotes a Linux image although each new builder, tester and image was first unknown to Describe', async () => {
    // Act
    const outcome = await bake('al2023-base');
    expect(outcome.event['detail-type'], JSON.stringify(outcome.event.detail)).toBe(DetailType.AmiBaked);
    const amiId = String(outcome.event.detail.amiId);
    const bakeId = String(outcome.event.detail.bakeId);
    const tested = await eventWhere('AMI Tested', ofType(DetailType.AmiTested, { amiId }));
    const stable = await eventWhere('promoted to stable', ofType(DetailType.AmiPromoted, { amiId, channel: 'stable' }));

    // Assess: the whole flow succeeded
    expect(tested.event.detail).toMatchObject({ passed: true, family: 'al2023-base' });
    expect(stable.event.detail).toMatchObject({ cause: 'tested' });
    expect(await channel('al2023-base', 'candidate')).toBe(amiId);
    expect(await channel('al2023-base', 'stable')).toBe(amiId);
    // ... and the window really bit: the first Describe of the builder and of the image missed
    const builder = await builderOf(bakeId);
    expect(describeMissed([builder], 'DescribeInstances', 'InvalidInstanceID.NotFound'), hiddenSoFar()).toBe(true);
    expect(describeMissed([amiId], 'DescribeImages', 'InvalidAMIID.NotFound'), hiddenSoFar()).toBe(true);
    // ... and the tester launched from the new image too
    const tester = await testerOf(bakeId);
    expect(describeMissed([tester], 'DescribeInstances', 'InvalidInstanceID.NotFound'), hiddenSoFar()).toBe(true);
    expect(await liveInstances()).toEqual([]);
  });

  it('bakes a Windows image although its new builder and image were first unknown to Describe', async () => {
    // Act
    const outcome = await bake('windows-2022-base');

    // Assess
    expect(outcome.event['detail-type'], JSON.stringify(outcome.event.detail)).toBe(DetailType.AmiBaked);
    const amiId = String(outcome.event.detail.amiId);
    const builder = await builderOf(String(outcome.event.detail.bakeId));
    expect(describeMissed([builder], 'DescribeInstances', 'InvalidInstanceID.NotFound'), hiddenSoFar()).toBe(true);
    expect(describeMissed([amiId], 'DescribeImages', 'InvalidAMIID.NotFound'), hiddenSoFar()).toBe(true);
    expect(await channel('windows-2022-base', 'candidate')).toBe(amiId);
  });
});

describe('distribution with EC2 eventual consistency on', () => {
  it('copies an image to another region and shares the copy, waiting until EC2 knows the copy', async () => {
    // Prepare: an available image of our own, from a stopped instance
    const source = (await ssm.send(new GetParameterCommand({ Name: AL2023_PARAMETER }))).Parameter?.Value;
    const launched = await ec2.send(
      new RunInstancesCommand({ ImageId: source, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
    );
    const instanceId = launched.Instances?.[0]?.InstanceId ?? '';
    await eventually(() => ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] })));
    const { ImageId: amiId = '' } = await eventually(() =>
      ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'bakehouse/consistency/distributed' })),
    );
    await eventually(async () => {
      const { Images: [found] = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [amiId] }));
      if (found?.State !== 'available') throw new Error(`image ${amiId} is ${found?.State}`);
    });
    const family = loadConfig(
      configInput([
        withCustomerKey(
          linuxFamily({
            distribution: {
              regions: [{ region: COPY_REGION, kmsKeyId: COPY_KEY }],
              accounts: [{ account: TEAM_ACCOUNT }],
            },
          }),
        ),
      ]),
    ).families[0];
    if (!family) throw new Error('no family');
    const deps = createTargetDeps({
      homeRegion: 'us-east-1',
      logger: recordingLogger(),
      clients: {
        ec2In: (region) => new EC2Client({ ...sandbox.clientConfig, region }),
        autoScaling: new AutoScalingClient(sandbox.clientConfig),
        sts: new STSClient(sandbox.clientConfig),
      },
      // Real seconds: a quarter of one is the whole window here.
      visibilityWait: { minDelay: 0.1, maxDelay: 1, maxWaitTime: 30 },
    });

    // Act
    const distributed = await distributeImage(
      family,
      { amiId, name: 'bakehouse/consistency/distributed', tags: [] },
      deps,
    );

    // Assess: shared in the copy's region, and the copy was unknown when distribution first looked
    const copyId = distributed.regions[0]?.amiId ?? '';
    expect(distributed.regions).toEqual([{ region: COPY_REGION, amiId: expect.stringMatching(/^ami-/) }]);
    const copyClient = new EC2Client({ ...sandbox.clientConfig, region: COPY_REGION });
    const permissions = await copyClient.send(
      new DescribeImageAttributeCommand({ ImageId: copyId, Attribute: 'launchPermission' }),
    );
    copyClient.destroy();
    expect(permissions.LaunchPermissions).toEqual([{ UserId: TEAM_ACCOUNT }]);
    expect(describeMissed([copyId], 'DescribeImages', 'InvalidAMIID.NotFound'), hiddenSoFar()).toBe(true);
    await eventually(() => ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })));
  });
});
