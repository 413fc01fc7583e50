import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, EC2Client, type Image } from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { type BakeActionPlan, type BakePlan, Tag } from '../../functions/commons/bake-plan';
import { LINUX_BAKE_PARAMETERS, WINDOWS_BAKE_PARAMETERS } from '../../functions/commons/documents';
import { type FamilyInput, loadConfig } from '../../functions/commons/families';
import { createLocks } from '../../functions/commons/state-table';
import {
  computeBakeKey,
  type DocumentRef,
  type PlanBakeDeps,
  type PlanBakeSettings,
  planBake,
} from '../../functions/plan-bake/core';
import {
  awsError,
  bakeConfig,
  childFamily,
  configInput,
  linuxFamily,
  recordingLogger,
  STATE_MACHINE_ARN,
  tagValue,
} from './support/bake-factories';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const sfn = mockClient(SFNClient);
// One document client instance, mocked: the lock module (commons/state-table.ts) runs for real over it.
const stateTableClient = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const stateTable = mockClient(stateTableClient);

const NOW = new Date('2026-01-14T09:00:00.000Z');
const BAKE_ID = 'al2023-base-0123456789abcdef0123456789abcdef';
const OTHER_BAKE_ID = 'al2023-base-fedcba9876543210fedcba9876543210';
const SOURCE_AMI = 'ami-0a1b2c3d4e5f60718';
const LINUX_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
const WINDOWS_PARAMETER = '/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base';
const LOCK = 'lock#family#al2023-base';
const STATE_TABLE = 'bakehouse-test-state';
const ACQUIRE_CONDITION = 'attribute_not_exists(#pk) OR #expiresAt <= :now OR #owner = :owner';
const TAKE_OVER_CONDITION = '#owner = :previous';
const LINUX_DOCUMENT: DocumentRef = { name: 'bakehouse-bake-linux', sha256: 'a'.repeat(64) };

const settings = (): PlanBakeSettings => ({
  region: 'eu-west-1',
  documents: { linux: { ...LINUX_DOCUMENT }, windows: { name: 'bakehouse-bake-windows', sha256: 'b'.repeat(64) } },
  automationRoleArn: 'arn:aws:iam::111122223333:role/bakehouse-automation',
  builderInstanceProfile: 'bakehouse-builder',
  automationWaitSeconds: 600,
  stateMachineArn: STATE_MACHINE_ARN,
});

const planDeps = (overrides: Partial<PlanBakeDeps> = {}): PlanBakeDeps => ({
  config: bakeConfig(),
  settings: settings(),
  ec2: new EC2Client({}),
  ssm: new SSMClient({}),
  sfn: new SFNClient({}),
  locks: createLocks({
    client: stateTableClient,
    tableName: STATE_TABLE,
    clock: () => new Date(NOW),
    logger: overrides.logger ?? recordingLogger(),
  }),
  bakedKeyImage: async () => undefined,
  clock: () => new Date(NOW),
  logger: recordingLogger(),
  ...overrides,
});

const request = (overrides: Record<string, unknown> = {}) => ({
  family: 'al2023-base',
  requestedBy: 'cli:alice',
  reason: 'unit test',
  ...overrides,
});

const RELEASE = '2023.9.20261101.0';
const image = (overrides: Partial<Image> = {}): Image => ({
  ImageId: SOURCE_AMI,
  Name: `al2023-ami-${RELEASE}-kernel-6.1-x86_64`,
  State: 'available',
  Architecture: 'x86_64',
  CreationDate: '2026-01-10T00:00:00.000Z',
  RootDeviceName: '/dev/xvda',
  BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 30 } }],
  ...overrides,
});

const asBake = (plan: BakePlan): BakeActionPlan => {
  if (plan.action !== 'bake') throw new Error(`expected a bake plan, got ${plan.action}`);
  return plan;
};

/** The happy world: parameters resolve, the source image is available, nothing is baked, the lock is free. */
const givenAWorld = (sources: Record<string, string> = { [LINUX_PARAMETER]: SOURCE_AMI }, images = [image()]) => {
  ssm.on(GetParameterCommand).rejects(awsError('ParameterNotFound'));
  for (const [Name, Value] of Object.entries(sources)) {
    ssm.on(GetParameterCommand, { Name }).resolves({ Parameter: { Name, Value } });
  }
  stateTable.on(PutCommand).resolves({});
  stateTable.on(DeleteCommand).resolves({});
  ec2.on(DescribeImagesCommand).resolves({ Images: [] });
  for (const img of images) {
    ec2.on(DescribeImagesCommand, { ImageIds: [img.ImageId as string] }).resolves({ Images: [img] });
  }
};

const lockItem = (owner: string, expiresAt: string) => ({
  pk: LOCK,
  owner,
  acquiredAt: '2026-01-14T08:00:00.000Z',
  expiresAt: Date.parse(expiresAt) / 1000,
});

/**
 * The family lock is held by `owner`: DynamoDB refuses the acquiring put (its condition is false),
 * and a consistent read finds the holder. A take-over (conditional on that holder) succeeds.
 */
const givenLockHeld = (owner: string, expiresAt: string) => {
  stateTable
    .on(PutCommand, { ConditionExpression: ACQUIRE_CONDITION })
    .rejects(awsError('ConditionalCheckFailedException'));
  stateTable.on(GetCommand, { Key: { pk: LOCK } }).resolves({ Item: lockItem(owner, expiresAt) });
};

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  sfn.reset();
  stateTable.reset();
});

describe('planBake validates the request', () => {
  it('rejects a request without requestedBy, naming the field, before calling AWS', async () => {
    // Prepare
    givenAWorld();

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: { family: 'al2023-base' } }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'InvalidBakeRequestError',
      message: expect.stringContaining('requestedBy'),
    });
    expect(ssm).not.toHaveReceivedAnyCommand();
    expect(ec2).not.toHaveReceivedAnyCommand();
  });

  it('rejects an unknown family, listing the known ones with a fix', async () => {
    // Prepare
    givenAWorld();

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request({ family: 'al2022-base' }) }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'UnknownFamilyError',
      message:
        "family: no family named 'al2022-base'. Fix: use one of al2023-base, windows-2022-base, al2023-web, rocky-9-base",
    });
  });
});

describe('planBake resolves the source image', () => {
  it('reads the SSM parameter and bakes from the image it names', async () => {
    // Prepare
    givenAWorld();

    // Act
    const plan = asBake(await planBake({ bakeId: BAKE_ID, request: request() }, planDeps()));

    // Assess
    expect(plan).toMatchObject({ sourceAmiId: SOURCE_AMI, parentFamily: null, family: 'al2023-base', os: 'linux' });
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: LINUX_PARAMETER });
    expect(ec2).toHaveReceivedCommandWith(DescribeImagesCommand, { ImageIds: [SOURCE_AMI] });
  });

  it('fails with the family, the parameter and a fix when the SSM parameter does not exist', async () => {
    // Prepare
    givenAWorld({});

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'SourceImageNotFoundError',
      message: expect.stringMatching(
        /^family 'al2023-base': source\.ssmParameter '.+' does not exist in eu-west-1\. Fix: /,
      ),
    });
  });

  it('fails when the image the parameter names is not available', async () => {
    // Prepare
    givenAWorld(undefined, [image({ State: 'deregistered' })]);

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'SourceImageNotFoundError',
      message: expect.stringMatching(
        /^family 'al2023-base': source image ami-\w+ is deregistered, not available\. Fix: /,
      ),
    });
  });

  it('fails when EC2 does not know the image the parameter names', async () => {
    // Prepare
    givenAWorld(undefined, []);
    ec2.on(DescribeImagesCommand, { ImageIds: [SOURCE_AMI] }).rejects(awsError('InvalidAMIID.NotFound'));

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'SourceImageNotFoundError',
      message: expect.stringContaining('not found'),
    });
  });

  it('lets other EC2 errors through unchanged, for the state machine to retry', async () => {
    // Prepare
    givenAWorld(undefined, []);
    ec2.on(DescribeImagesCommand, { ImageIds: [SOURCE_AMI] }).rejects(awsError('RequestLimitExceeded'));

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
  });

  it('refuses a source image of another architecture', async () => {
    // Prepare
    givenAWorld(undefined, [image({ Architecture: 'arm64' })]);

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'SourceImageNotFoundError',
      message: expect.stringMatching(/^family 'al2023-base': .* is arm64 but the family is x86_64\. Fix: /),
    });
  });

  it('takes the newest available image matching an AMI filter, across every page', async () => {
    // Prepare
    givenAWorld({});
    const filter = { Owners: ['792107900819'] };
    ec2
      .on(DescribeImagesCommand, filter)
      .resolvesOnce({
        Images: [image({ ImageId: 'ami-00000000000000001', CreationDate: '2026-01-02T00:00:00.000Z' })],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        Images: [
          image({ ImageId: 'ami-00000000000000002', CreationDate: '2026-01-05T00:00:00.000Z' }),
          image({ ImageId: 'ami-00000000000000003', CreationDate: '2026-01-09T00:00:00.000Z' }),
          image({ ImageId: 'ami-00000000000000004', CreationDate: '2026-01-07T00:00:00.000Z' }),
        ],
      });

    // Act
    const plan = await planBake({ bakeId: BAKE_ID, request: request({ family: 'rocky-9-base' }) }, planDeps());

    // Assess
    expect(plan.sourceAmiId).toBe('ami-00000000000000003');
    expect(ec2).toHaveReceivedNthCommandWith(DescribeImagesCommand, 1, {
      Owners: ['792107900819'],
      Filters: [
        { Name: 'name', Values: ['Rocky-9-EC2-Base-*'] },
        { Name: 'state', Values: ['available'] },
      ],
    });
    expect(ec2).toHaveReceivedNthCommandWith(DescribeImagesCommand, 2, {
      Owners: ['792107900819'],
      NextToken: 'page-2',
    });
  });

  it('fails with the family and a fix when the AMI filter matches nothing', async () => {
    // Prepare
    givenAWorld({});

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request({ family: 'rocky-9-base' }) }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'SourceImageNotFoundError',
      message: "family 'rocky-9-base': source.amiFilter matches no available image. Fix: check the owners and filters",
    });
  });

  it("builds on the parent family's channel and records the parent", async () => {
    // Prepare
    givenAWorld({ '/bakehouse/al2023-base/stable': SOURCE_AMI, [LINUX_PARAMETER]: SOURCE_AMI });

    // Act
    const plan = asBake(await planBake({ bakeId: BAKE_ID, request: request({ family: 'al2023-web' }) }, planDeps()));

    // Assess
    expect(plan.parentFamily).toBe('al2023-base');
    expect(tagValue(plan.imageTags, Tag.ParentFamily)).toBe('al2023-base');
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: '/bakehouse/al2023-base/stable' });
  });

  it('tells the operator to bake the parent first when its channel is empty', async () => {
    // Prepare
    givenAWorld({});

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request({ family: 'al2023-web' }) }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'SourceImageNotFoundError',
      message:
        "family 'al2023-web': its parent 'al2023-base' has no image in channel 'stable' yet. Fix: bake and promote 'al2023-base' first",
    });
  });

  it('works with any client port that has send, not only an SDK client instance', async () => {
    // Prepare
    givenAWorld({});
    ec2.on(DescribeImagesCommand, { Owners: ['792107900819'] }).resolves({ Images: [image()] });
    const client = new EC2Client({});
    const port: PlanBakeDeps['ec2'] = {
      send: (command: DescribeImagesCommand) => client.send(command),
    } as PlanBakeDeps['ec2'];

    // Act
    const plan = await planBake(
      { bakeId: BAKE_ID, request: request({ family: 'rocky-9-base' }) },
      planDeps({ ec2: port }),
    );

    // Assess
    expect(plan.sourceAmiId).toBe(SOURCE_AMI);
  });
});

describe('planBake skips what is already baked', () => {
  it('skips, without taking the lock, when an available image carries the bake key', async () => {
    // Prepare
    givenAWorld();
    const first = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());
    ssm.resetHistory();
    stateTable.resetHistory();
    ec2
      .on(DescribeImagesCommand, { Owners: ['self'] })
      .resolves({ Images: [image({ ImageId: 'ami-0baked00000000001' })] });

    // Act
    const plan = await planBake({ bakeId: OTHER_BAKE_ID, request: request() }, planDeps());

    // Assess
    expect(plan).toMatchObject({ action: 'skip', existingAmiId: 'ami-0baked00000000001', bakeKey: first.bakeKey });
    expect(ec2).toHaveReceivedCommandWith(DescribeImagesCommand, {
      Owners: ['self'],
      Filters: [
        { Name: `tag:${Tag.BakeKey}`, Values: [first.bakeKey] },
        { Name: 'state', Values: ['available'] },
      ],
    });
    expect(stateTable).not.toHaveReceivedCommand(PutCommand);
  });

  it('bakes anyway when the request forces it, without looking for a baked image', async () => {
    // Prepare
    givenAWorld();
    ec2
      .on(DescribeImagesCommand, { Owners: ['self'] })
      .resolves({ Images: [image({ ImageId: 'ami-0baked00000000001' })] });

    // Act
    const plan = await planBake({ bakeId: BAKE_ID, request: request({ force: true }) }, planDeps());

    // Assess
    expect(plan.action).toBe('bake');
    expect(ec2).not.toHaveReceivedCommandWith(DescribeImagesCommand, { Owners: ['self'] });
    expect(stateTable).toHaveReceivedCommandWith(PutCommand, { Item: expect.objectContaining({ pk: LOCK }) });
  });

  it('gives the same bake key to bakes of the same inputs at other times and with other ids', async () => {
    // Prepare
    givenAWorld();

    // Act
    const first = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());
    const later = await planBake(
      { bakeId: OTHER_BAKE_ID, request: request({ reason: 'again', requestedBy: 'team-x' }) },
      planDeps({ clock: () => new Date('2026-02-01T00:00:00Z') }),
    );

    // Assess
    expect(later.bakeKey).toBe(first.bakeKey);
    expect(first.bakeKey).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives a new bake key when upstream publishes a new source image', async () => {
    // Prepare
    givenAWorld();
    const before = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());
    givenAWorld({ [LINUX_PARAMETER]: 'ami-0ffffffffffffffff' }, [image({ ImageId: 'ami-0ffffffffffffffff' })]);

    // Act
    const after = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    expect(after.bakeKey).not.toBe(before.bakeKey);
  });

  it('gives a new bake key when the bake document changes', async () => {
    // Prepare
    givenAWorld();
    const before = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());
    const changed = {
      ...settings(),
      documents: { ...settings().documents, linux: { ...LINUX_DOCUMENT, sha256: 'c'.repeat(64) } },
    };

    // Act
    const after = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps({ settings: changed }));

    // Assess
    expect(after.bakeKey).not.toBe(before.bakeKey);
  });
});

describe('planBake takes the family lock', () => {
  it('takes the lock with one conditional put, valid for the bake timeout plus a grace period', async () => {
    // Prepare
    givenAWorld();

    // Act
    const plan = asBake(await planBake({ bakeId: BAKE_ID, request: request() }, planDeps()));

    // Assess
    expect(plan.lockKey).toBe(LOCK);
    expect(stateTable).toHaveReceivedCommandExactlyOnceWith(PutCommand, {
      TableName: STATE_TABLE,
      Item: {
        pk: LOCK,
        owner: BAKE_ID,
        acquiredAt: '2026-01-14T09:00:00.000Z',
        expiresAt: Date.parse('2026-01-14T11:30:00.000Z') / 1000, // 120 minutes + 30 minutes grace
      },
      ConditionExpression: ACQUIRE_CONDITION,
    });
    expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
  });

  it('carries on when this bake already holds the lock (PlanBake retried): the condition lets its owner in', async () => {
    // Prepare
    givenAWorld();

    // Act
    const plan = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    expect(plan.action).toBe('bake');
    expect(stateTable).toHaveReceivedCommandWith(PutCommand, {
      ExpressionAttributeValues: expect.objectContaining({ ':owner': BAKE_ID }),
    });
    expect(sfn).not.toHaveReceivedAnyCommand();
  });

  it('waits for another bake whose execution still runs', async () => {
    // Prepare
    givenAWorld();
    givenLockHeld(OTHER_BAKE_ID, '2026-01-14T11:00:00.000Z');
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'FamilyBusyError',
      message: expect.stringContaining(`family 'al2023-base' is being baked by ${OTHER_BAKE_ID}`),
    });
    expect(sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, {
      executionArn: `arn:aws:states:eu-west-1:111122223333:execution:bakehouse-bake:${OTHER_BAKE_ID}`,
    });
    expect(stateTable).not.toHaveReceivedCommandWith(PutCommand, { ConditionExpression: TAKE_OVER_CONDITION });
  });

  it('takes over an expired lock, conditional on its holder, without asking Step Functions', async () => {
    // Prepare
    givenAWorld();
    givenLockHeld(OTHER_BAKE_ID, '2026-01-14T08:59:59.000Z');

    // Act
    const plan = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    expect(plan.action).toBe('bake');
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(stateTable).toHaveReceivedCommandWith(PutCommand, {
      Item: expect.objectContaining({ pk: LOCK, owner: BAKE_ID }),
      ConditionExpression: TAKE_OVER_CONDITION,
      ExpressionAttributeValues: { ':previous': OTHER_BAKE_ID },
    });
  });

  it.each([
    ['SUCCEEDED', { status: 'SUCCEEDED' }],
    ['FAILED', { status: 'FAILED' }],
    ['ABORTED', { status: 'ABORTED' }],
  ])('takes over an unexpired lock whose execution has %s', async (_status, execution) => {
    // Prepare
    givenAWorld();
    givenLockHeld(OTHER_BAKE_ID, '2026-01-14T11:00:00.000Z');
    sfn.on(DescribeExecutionCommand).resolves(execution as { status: 'SUCCEEDED' });
    const logger = recordingLogger();

    // Act
    await planBake({ bakeId: BAKE_ID, request: request() }, planDeps({ logger }));

    // Assess
    expect(stateTable).toHaveReceivedCommandWith(PutCommand, {
      ConditionExpression: TAKE_OVER_CONDITION,
      ExpressionAttributeValues: { ':previous': OTHER_BAKE_ID },
    });
    expect(logger.warn).toHaveBeenCalledWith(
      'taking over a stale family lock',
      expect.objectContaining({ family: 'al2023-base' }),
    );
  });

  it('takes over a lock whose execution does not exist', async () => {
    // Prepare
    givenAWorld();
    givenLockHeld(OTHER_BAKE_ID, '2026-01-14T11:00:00.000Z');
    sfn.on(DescribeExecutionCommand).rejects(awsError('ExecutionDoesNotExist'));

    // Act
    await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    expect(stateTable).toHaveReceivedCommandWith(PutCommand, { ConditionExpression: TAKE_OVER_CONDITION });
  });

  it('waits when another planner took the stale lock over first', async () => {
    // Prepare
    givenAWorld();
    givenLockHeld(OTHER_BAKE_ID, '2026-01-14T08:59:59.000Z');
    stateTable
      .on(PutCommand, { ConditionExpression: TAKE_OVER_CONDITION })
      .rejects(awsError('ConditionalCheckFailedException'));

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'FamilyBusyError', message: expect.stringContaining('first') });
  });

  it('tries again, never taking over, when the lock vanished between the failed put and the read', async () => {
    // Prepare
    givenAWorld();
    stateTable
      .on(PutCommand, { ConditionExpression: ACQUIRE_CONDITION })
      .rejectsOnce(awsError('ConditionalCheckFailedException'))
      .resolves({});
    stateTable.on(GetCommand).resolves({});

    // Act
    const plan = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    expect(plan.action).toBe('bake');
    expect(stateTable).toHaveReceivedCommandTimes(PutCommand, 2);
    expect(stateTable).not.toHaveReceivedCommandWith(PutCommand, { ConditionExpression: TAKE_OVER_CONDITION });
  });

  it('waits when the lock keeps vanishing and reappearing', async () => {
    // Prepare
    givenAWorld();
    stateTable
      .on(PutCommand, { ConditionExpression: ACQUIRE_CONDITION })
      .rejects(awsError('ConditionalCheckFailedException'));
    stateTable.on(GetCommand).resolves({});

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'FamilyBusyError' });
    expect(stateTable).toHaveReceivedCommandTimes(PutCommand, 3);
  });

  it('lets an unexpected Step Functions error through instead of guessing', async () => {
    // Prepare
    givenAWorld();
    givenLockHeld(OTHER_BAKE_ID, '2026-01-14T11:00:00.000Z');
    sfn.on(DescribeExecutionCommand).rejects(awsError('AccessDeniedException'));

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(stateTable).not.toHaveReceivedCommandWith(PutCommand, { ConditionExpression: TAKE_OVER_CONDITION });
  });

  it('lets an unexpected DynamoDB error on the lock through', async () => {
    // Prepare
    givenAWorld();
    stateTable.on(PutCommand).rejects(awsError('ProvisionedThroughputExceededException'));

    // Act
    const act = planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
  });
});

describe('planBake decides "already baked" while it holds the lock (issue 15)', () => {
  it('skips and gives the lock back when the bake that held the lock baked this key meanwhile', async () => {
    // Prepare: nothing baked at the first look; the previous holder tagged its image before releasing.
    givenAWorld();
    ec2
      .on(DescribeImagesCommand, { Owners: ['self'] })
      .resolvesOnce({ Images: [] })
      .resolves({ Images: [image({ ImageId: 'ami-0baked00000000001' })] });

    // Act
    const plan = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess
    expect(plan).toMatchObject({ action: 'skip', existingAmiId: 'ami-0baked00000000001' });
    expect(stateTable).toHaveReceivedCommandWith(PutCommand, { Item: expect.objectContaining({ owner: BAKE_ID }) });
    expect(stateTable).toHaveReceivedCommandExactlyOnceWith(DeleteCommand, {
      TableName: STATE_TABLE,
      Key: { pk: LOCK },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeValues: { ':owner': BAKE_ID },
    });
  });

  it('looks for the baked image only after the lock is held', async () => {
    // Prepare
    givenAWorld();
    const order: string[] = [];
    ec2.on(DescribeImagesCommand, { Owners: ['self'] }).callsFake(() => {
      order.push('look');
      return { Images: [] };
    });
    stateTable.on(PutCommand).callsFake(() => {
      order.push('lock');
      return {};
    });

    // Act
    await planBake({ bakeId: BAKE_ID, request: request() }, planDeps());

    // Assess: the first look only lets a baked key skip early; the look that decides follows the lock.
    expect(order).toEqual(['look', 'lock', 'look']);
  });

  it('still skips when the lock was taken over before it could give it back (the release is only logged)', async () => {
    // Prepare
    givenAWorld();
    const logger = recordingLogger();
    ec2
      .on(DescribeImagesCommand, { Owners: ['self'] })
      .resolvesOnce({ Images: [] })
      .resolves({ Images: [image({ ImageId: 'ami-0baked00000000001' })] });
    stateTable.on(DeleteCommand).rejects(awsError('ConditionalCheckFailedException'));
    stateTable.on(GetCommand).resolves({ Item: lockItem(OTHER_BAKE_ID, '2026-01-14T11:00:00.000Z') });

    // Act
    const plan = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps({ logger }));

    // Assess
    expect(plan.action).toBe('skip');
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('lost its condition'), expect.anything());
  });

  it("skips on the state table's record of the key, though EC2's tag filter does not show the new image yet", async () => {
    // Prepare: the previous holder recorded the key (RecordBakedKey); its image's tag is not visible yet
    givenAWorld();
    const recorded: string[] = [];
    ec2.on(DescribeImagesCommand, { Owners: ['self'] }).resolves({ Images: [] });
    ec2
      .on(DescribeImagesCommand, { ImageIds: ['ami-0ba0ed00000000001'] })
      .resolves({ Images: [image({ ImageId: 'ami-0ba0ed00000000001', State: 'available' })] });
    const bakedKeyImage = async (key: string) => {
      recorded.push(key);
      return 'ami-0ba0ed00000000001';
    };

    // Act
    const plan = await planBake({ bakeId: BAKE_ID, request: request() }, planDeps({ bakedKeyImage }));

    // Assess
    expect(plan).toMatchObject({ action: 'skip', existingAmiId: 'ami-0ba0ed00000000001' });
    expect(recorded).toEqual([`record#baked#${plan.bakeKey}`]);
    expect(stateTable).toHaveReceivedCommandWith(DeleteCommand, { Key: { pk: LOCK } });
  });

  it('bakes when the record names an image that is gone, and plans the record its own bake will write', async () => {
    // Prepare: the recorded image was deregistered since
    givenAWorld();
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-0gone000000000001'] }).rejects(awsError('InvalidAMIID.NotFound'));

    // Act
    const plan = asBake(
      await planBake(
        { bakeId: BAKE_ID, request: request() },
        planDeps({ bakedKeyImage: async () => 'ami-0gone000000000001' }),
      ),
    );

    // Assess
    expect(plan.action).toBe('bake');
    expect(plan.bakedKeyRecord).toBe(`record#baked#${plan.bakeKey}`);
    expect(Number(plan.bakedKeyExpiresAt)).toBe(NOW.getTime() / 1000 + 7 * 86_400);
  });

  it('keeps the lock when the request forces a bake, looking for no baked image at all', async () => {
    // Prepare
    givenAWorld();
    ec2
      .on(DescribeImagesCommand, { Owners: ['self'] })
      .resolves({ Images: [image({ ImageId: 'ami-0baked00000000001' })] });

    // Act
    const plan = await planBake({ bakeId: BAKE_ID, request: request({ force: true }) }, planDeps());

    // Assess
    expect(plan.action).toBe('bake');
    expect(stateTable).not.toHaveReceivedCommand(DeleteCommand);
  });
});

describe('planBake fills in the bake', () => {
  it('plans a Linux bake with every document parameter the family implies', async () => {
    // Prepare
    givenAWorld();

    // Act
    const plan = asBake(await planBake({ bakeId: BAKE_ID, request: request() }, planDeps()));

    // Assess
    expect(plan.documentName).toBe('bakehouse-bake-linux');
    expect(plan.documentParameters).toEqual({
      AutomationAssumeRole: ['arn:aws:iam::111122223333:role/bakehouse-automation'],
      SourceAmiId: [SOURCE_AMI],
      InstanceType: ['m7i.large'],
      SubnetId: ['subnet-0123456789abcdef0'],
      SecurityGroupIds: ['sg-0123456789abcdef0'],
      IamInstanceProfileName: ['bakehouse-builder'],
      RootDeviceName: ['/dev/xvda'],
      VolumeSize: ['30'],
      Encrypted: ['true'],
      KmsKeyId: ['alias/aws/ebs'],
      HttpTokens: ['required'],
      BakeId: [BAKE_ID],
      Family: ['al2023-base'],
      BuilderExpiresAt: ['2026-01-14T15:00:00.000Z'],
      ImageName: [plan.imageName],
      ImageDescription: [`al2023-base baked by Bakehouse from ${SOURCE_AMI}`],
      InstallScript: ['# bakehouse step: enable agents\nsystemctl enable x'],
      ExcludePackages: ['kernel-livepatch*'],
      SecurityOnly: ['false'],
      InstallPackages: ['jq amazon-cloudwatch-agent'],
      ReleaseVersion: ['latest'],
      ReleaseTarget: ['2023.9.20261101'],
    });
    expect(plan.imageName).toMatch(/^bakehouse\/al2023-base\/20260114T090000Z-[0-9a-f]{6}$/);
  });

  it('only passes parameters the Linux document declares', async () => {
    // Prepare
    givenAWorld();

    // Act
    const plan = asBake(await planBake({ bakeId: BAKE_ID, request: request() }, planDeps()));

    // Assess
    for (const key of Object.keys(plan.documentParameters)) expect(LINUX_BAKE_PARAMETERS).toContain(key);
  });

  it('plans a Windows bake with its update and chocolatey parameters', async () => {
    // Prepare
    givenAWorld({ [WINDOWS_PARAMETER]: SOURCE_AMI }, [
      image({
        RootDeviceName: '/dev/sda1',
        BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 30 } }],
      }),
    ]);

    // Act
    const plan = asBake(
      await planBake({ bakeId: BAKE_ID, request: request({ family: 'windows-2022-base' }) }, planDeps()),
    );

    // Assess
    expect(plan.documentName).toBe('bakehouse-bake-windows');
    expect(plan.documentParameters).toMatchObject({
      RootDeviceName: ['/dev/sda1'],
      UpdateCategories: ['CriticalUpdates,SecurityUpdates,UpdateRollups'],
      UpdateSeverityLevels: ['Critical,Important'],
      IncludeKbs: ['KB5034439'],
      ChocolateySource: ['https://feed.example.internal/chocolatey'],
      ChocolateyPackages: ['7zip git'],
    });
    expect(plan.documentParameters).not.toHaveProperty('ExcludeKbs');
    for (const key of Object.keys(plan.documentParameters)) expect(WINDOWS_BAKE_PARAMETERS).toContain(key);
  });

  it("prefers the family's volume size, then the source image's, then the OS default", async () => {
    // Prepare
    const sized = loadConfig(configInput([linuxFamily({ builder: { ...linuxFamily().builder, volumeSizeGiB: 64 } })]));
    givenAWorld(undefined, [image()]);
    const withFamilySize = asBake(await planBake({ bakeId: BAKE_ID, request: request() }, planDeps({ config: sized })));
    givenAWorld(undefined, [image({ BlockDeviceMappings: [] })]);

    // Act
    const withDefault = asBake(await planBake({ bakeId: BAKE_ID, request: request() }, planDeps()));

    // Assess
    expect(withFamilySize.documentParameters.VolumeSize).toEqual(['64']);
    expect(withDefault.documentParameters.VolumeSize).toEqual(['8']);
  });

  it("uses the family's own instance profile and IMDS setting when it sets them", async () => {
    // Prepare
    const builder = {
      ...linuxFamily().builder,
      instanceProfile: 'team-builder',
      instanceRoleArn: 'arn:aws:iam::111122223333:role/team-builder-role',
      requireImdsv2: false,
    };
    const config = loadConfig(configInput([linuxFamily({ builder })]));
    givenAWorld();

    // Act
    const plan = asBake(await planBake({ bakeId: BAKE_ID, request: request() }, planDeps({ config })));

    // Assess
    expect(plan.documentParameters).toMatchObject({
      IamInstanceProfileName: ['team-builder'],
      HttpTokens: ['optional'],
      Encrypted: ['true'],
    });
  });

  it('derives a UUID-shaped client token from the bake id alone', async () => {
    // Prepare
    givenAWorld();

    // Act
    const first = asBake(await planBake({ bakeId: BAKE_ID, request: request() }, planDeps()));
    const retried = asBake(
      await planBake(
        { bakeId: BAKE_ID, request: request() },
        planDeps({ clock: () => new Date('2026-01-14T09:05:00Z') }),
      ),
    );
    const other = asBake(await planBake({ bakeId: OTHER_BAKE_ID, request: request() }, planDeps()));

    // Assess
    expect(first.clientToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(retried.clientToken).toBe(first.clientToken);
    expect(other.clientToken).not.toBe(first.clientToken);
  });

  it('tags the image with its lineage, its bake key and the family tags', async () => {
    // Prepare
    const config = loadConfig(configInput([linuxFamily({ tags: { 'cost-center': 'platform' } })]));
    givenAWorld();

    // Act
    const plan = asBake(await planBake({ bakeId: BAKE_ID, request: request() }, planDeps({ config })));

    // Assess
    expect(plan.imageTags).toEqual(
      expect.arrayContaining([
        { Key: 'cost-center', Value: 'platform' },
        { Key: 'Name', Value: plan.imageName },
        { Key: Tag.Managed, Value: 'true' },
        { Key: Tag.Family, Value: 'al2023-base' },
        { Key: Tag.BakeId, Value: BAKE_ID },
        { Key: Tag.BakeKey, Value: plan.bakeKey },
        { Key: Tag.SourceAmi, Value: SOURCE_AMI },
        { Key: Tag.Os, Value: 'linux' },
        { Key: Tag.RequestedBy, Value: 'cli:alice' },
      ]),
    );
    expect(tagValue(plan.imageTags, Tag.ParentFamily)).toBeUndefined();
  });

  it('never lets a family tag repeat or override a tag Bakehouse writes', async () => {
    // Prepare
    const tags = { Name: 'my-name', [Tag.Managed]: 'false', [Tag.BakeKey]: 'forged', team: 'web' };
    const config = loadConfig(configInput([linuxFamily({ tags })]));
    givenAWorld();

    // Act
    const plan = asBake(await planBake({ bakeId: BAKE_ID, request: request() }, planDeps({ config })));

    // Assess
    const keys = plan.imageTags.map((t) => t.Key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(tagValue(plan.imageTags, 'Name')).toBe(plan.imageName);
    expect(tagValue(plan.imageTags, Tag.Managed)).toBe('true');
    expect(tagValue(plan.imageTags, Tag.BakeKey)).toBe(plan.bakeKey);
    expect(tagValue(plan.imageTags, 'team')).toBe('web');
  });

  it('names the candidate channel and allows as many waits as the bake timeout needs', async () => {
    // Prepare
    givenAWorld({ [WINDOWS_PARAMETER]: SOURCE_AMI });

    // Act
    const plan = asBake(
      await planBake(
        { bakeId: BAKE_ID, request: request({ family: 'windows-2022-base' }) },
        planDeps({ settings: { ...settings(), automationWaitSeconds: 900 } }),
      ),
    );

    // Assess
    expect(plan.candidateParameterName).toBe('/bakehouse/windows-2022-base/candidate');
    expect(plan.maxWaits).toBe(16); // 240 minutes / 15 minutes
  });

  it('allows at least one wait even when one wait outlasts the bake timeout', async () => {
    // Prepare
    givenAWorld();

    // Act
    const plan = asBake(
      await planBake(
        { bakeId: BAKE_ID, request: request() },
        planDeps({ settings: { ...settings(), automationWaitSeconds: 86_400 } }),
      ),
    );

    // Assess
    expect(plan.maxWaits).toBe(1);
  });

  it('echoes the validated request, with its defaults, and when it planned', async () => {
    // Prepare
    givenAWorld();

    // Act
    const plan = await planBake(
      { bakeId: BAKE_ID, request: { family: 'al2023-base', requestedBy: 'cli:bob' } },
      planDeps(),
    );

    // Assess
    expect(plan.request).toEqual({
      version: '1.0',
      family: 'al2023-base',
      requestedBy: 'cli:bob',
      reason: 'requested',
      force: false,
    });
    expect(plan.plannedAt).toBe('2026-01-14T09:00:00.000Z');
    expect(plan.region).toBe('eu-west-1');
  });
});

describe('planBake targets an Amazon Linux 2023 release', () => {
  const PARENT_AMI = 'ami-0fedcba9876543210';
  const NEWER_AMI = 'ami-0123456789abcdef1';
  const NEWER_RELEASE = '2023.9.20261122.0';
  const parentImage = () => image({ ImageId: PARENT_AMI, Name: 'bakehouse/al2023-base/20261102T030000Z-abc123' });
  const newerAl2023 = () => image({ ImageId: NEWER_AMI, Name: `al2023-ami-${NEWER_RELEASE}-kernel-6.1-x86_64` });

  const planOf = async (family: string, deps: PlanBakeDeps = planDeps()) =>
    asBake(await planBake({ bakeId: BAKE_ID, request: request({ family }) }, deps));

  it("upgrades an AL2023 family to latest, targeting the release in the newest AL2023 AMI's name", async () => {
    // Prepare
    givenAWorld();

    // Act
    const plan = await planOf('al2023-base');

    // Assess
    expect(plan.release).toEqual({ policy: 'latest', target: '2023.9.20261101' });
    expect(plan.documentParameters.ReleaseVersion).toEqual(['latest']);
  });

  it("targets the newest AL2023 release for a child family, whatever its parent's release", async () => {
    // Prepare
    givenAWorld({ '/bakehouse/al2023-base/stable': PARENT_AMI, [LINUX_PARAMETER]: NEWER_AMI }, [
      parentImage(),
      newerAl2023(),
    ]);

    // Act
    const plan = await planOf('al2023-web');

    // Assess
    expect(plan.release).toEqual({ policy: 'latest', target: '2023.9.20261122' });
    expect(plan.documentParameters.ReleaseVersion).toEqual(['latest']);
    expect(plan.documentParameters.ReleaseTarget).toEqual(['2023.9.20261122']);
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: LINUX_PARAMETER });
  });

  it('gives a child family a new bake key when a new release comes out, and the same key while none does', async () => {
    // Prepare
    givenAWorld({ '/bakehouse/al2023-base/stable': PARENT_AMI, [LINUX_PARAMETER]: SOURCE_AMI }, [
      parentImage(),
      image(),
      newerAl2023(),
    ]);
    const first = await planOf('al2023-web');
    const again = await planOf('al2023-web');
    ssm.on(GetParameterCommand, { Name: LINUX_PARAMETER }).resolves({
      Parameter: { Name: LINUX_PARAMETER, Value: NEWER_AMI },
    });

    // Act
    const afterRelease = await planOf('al2023-web');

    // Assess
    expect(again.bakeKey).toBe(first.bakeKey);
    expect(afterRelease.sourceAmiId).toBe(first.sourceAmiId);
    expect(afterRelease.bakeKey).not.toBe(first.bakeKey);
  });

  it('targets a pinned release as given, without looking up the newest', async () => {
    // Prepare
    const family = { ...childFamily('al2023-base', 'stable', 'al2023-pinned'), patch: { release: NEWER_RELEASE } };
    const config = loadConfig(configInput([linuxFamily(), family as FamilyInput]));
    givenAWorld({ '/bakehouse/al2023-base/stable': PARENT_AMI }, [parentImage()]);

    // Act
    const plan = await planOf('al2023-pinned', planDeps({ config }));

    // Assess
    // the AMI build suffix (.0) is not part of the release dnf takes
    expect(plan.release).toEqual({ policy: 'pinned', target: '2023.9.20261122' });
    expect(plan.documentParameters.ReleaseVersion).toEqual(['2023.9.20261122']);
    expect(plan.documentParameters.ReleaseTarget).toEqual(['2023.9.20261122']);
    expect(ssm).not.toHaveReceivedCommandWith(GetParameterCommand, { Name: LINUX_PARAMETER });
  });

  it('targets no release for a family whose lineage is not AL2023', async () => {
    // Prepare
    stateTable.on(PutCommand).resolves({});
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    ec2
      .on(DescribeImagesCommand, { Owners: ['792107900819'] })
      .resolves({ Images: [image({ Name: 'Rocky-9-EC2-Base-9.6-20261101.0.x86_64' })] });

    // Act
    const plan = await planOf('rocky-9-base');

    // Assess
    expect(plan.release).toBeNull();
    expect(plan.documentParameters.ReleaseVersion).toBeUndefined();
    expect(plan.documentParameters.ReleaseTarget).toBeUndefined();
  });

  it('fails with a fix when the newest AL2023 release cannot be read', async () => {
    // Prepare
    givenAWorld({ '/bakehouse/al2023-base/stable': PARENT_AMI, [LINUX_PARAMETER]: NEWER_AMI }, [
      parentImage(),
      image({ ImageId: NEWER_AMI, Name: 'some-other-name' }),
    ]);

    // Act
    const act = planOf('al2023-web');

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'SourceImageNotFoundError',
      message: expect.stringContaining("Fix: pin patch.release to a release version such as '2023.9.20261122.0'"),
    });
  });
});

describe('computeBakeKey', () => {
  const PER_BAKE = ['AutomationAssumeRole', 'BakeId', 'BuilderExpiresAt', 'ImageName', 'ImageDescription'] as const;
  const parameterName = fc
    .stringMatching(/^[A-Z][A-Za-z]{0,15}$/)
    .filter((k) => !(PER_BAKE as readonly string[]).includes(k));
  const parameters = fc.dictionary(parameterName, fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }), {
    minKeys: 1,
    maxKeys: 12,
  });
  const amiId = fc.stringMatching(/^ami-[0-9a-f]{17}$/);
  const sha = fc.stringMatching(/^[0-9a-f]{64}$/);

  it('does not depend on the order of the parameters', () => {
    fc.assert(
      fc.property(
        amiId,
        parameters.chain((p) =>
          fc.tuple(fc.constant(p), fc.shuffledSubarray(Object.entries(p), { minLength: Object.keys(p).length })),
        ),
        (ami, [original, shuffled]) => {
          // Act
          const a = computeBakeKey(ami, LINUX_DOCUMENT, original);
          const b = computeBakeKey(ami, LINUX_DOCUMENT, Object.fromEntries(shuffled));

          // Assess
          expect(b).toBe(a);
        },
      ),
    );
  });

  it('changes with the source image', () => {
    fc.assert(
      fc.property(amiId, amiId, parameters, (a, b, p) => {
        fc.pre(a !== b);

        // Act / Assess
        expect(computeBakeKey(a, LINUX_DOCUMENT, p)).not.toBe(computeBakeKey(b, LINUX_DOCUMENT, p));
      }),
    );
  });

  it("changes with the document's content hash", () => {
    fc.assert(
      fc.property(amiId, sha, sha, parameters, (ami, x, y, p) => {
        fc.pre(x !== y);

        // Act / Assess
        expect(computeBakeKey(ami, { ...LINUX_DOCUMENT, sha256: x }, p)).not.toBe(
          computeBakeKey(ami, { ...LINUX_DOCUMENT, sha256: y }, p),
        );
      }),
    );
  });

  it('changes with any parameter that shapes the image', () => {
    fc.assert(
      fc.property(amiId, parameters, fc.string({ minLength: 1, maxLength: 12 }), (ami, p, extra) => {
        // Prepare
        const [key, values] = Object.entries(p)[0] ?? ['InstallPackages', []];
        const changed = { ...p, [key]: [...values, extra] };

        // Act / Assess
        expect(computeBakeKey(ami, LINUX_DOCUMENT, changed)).not.toBe(computeBakeKey(ami, LINUX_DOCUMENT, p));
      }),
    );
  });

  it('ignores the values that differ on every bake: bake id, image name, expiry, role, description', () => {
    fc.assert(
      fc.property(
        amiId,
        parameters,
        fc.record(
          Object.fromEntries(PER_BAKE.map((k) => [k, fc.array(fc.string(), { maxLength: 2 })])) as Record<
            (typeof PER_BAKE)[number],
            fc.Arbitrary<string[]>
          >,
        ),
        (ami, p, perBake) => {
          // Act
          const plain = computeBakeKey(ami, LINUX_DOCUMENT, p);
          const withPerBake = computeBakeKey(ami, LINUX_DOCUMENT, { ...p, ...perBake });

          // Assess
          expect(withPerBake).toBe(plain);
        },
      ),
    );
  });
});
