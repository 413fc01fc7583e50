import 'aws-sdk-client-mock-vitest/extend';
import { CreateTagsCommand, DescribeImagesCommand, EC2Client, type Tag as Ec2Tag } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SSMClient, StartAutomationExecutionCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ImageNotFoundError, InvalidEventError, UnknownFamilyError } from '../../functions/commons/errors';
import { loadConfig } from '../../functions/commons/families';
import { type TestAmiDeps, testAmi, testClientToken } from '../../functions/test-ami/core';
import { awsError, configInput, linuxFamily, recordingLogger, windowsFamily } from './support/bake-factories';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const events = mockClient(EventBridgeClient);

const AMI = 'ami-0123456789abcdef0';
const BAKE_ID = 'al2023-base-0123456789abcdef0123456789abcdef';
const EXECUTION_ID = '7d1e1f9a-2b3c-4d5e-8f90-a1b2c3d4e5f6';
const ROLE_ARN = 'arn:aws:iam::111122223333:role/bakehouse-dev-TestAutomationRole';

const config = () =>
  loadConfig(
    configInput([
      linuxFamily({
        tests: [
          { name: 'ssm agent running', run: 'systemctl is-active amazon-ssm-agent' },
          { name: 'jq present', run: 'jq --version' },
        ],
      }),
      linuxFamily({
        name: 'al2023-custom',
        tests: [{ name: 'ok', run: 'true' }],
        builder: {
          instanceType: 't3.small',
          subnetId: 'subnet-0aaaaaaaaaaaaaaaa',
          securityGroupIds: ['sg-0aaaaaaaaaaaaaaaa', 'sg-0bbbbbbbbbbbbbbbb'],
          instanceProfile: 'team-profile',
          instanceRoleArn: 'arn:aws:iam::111122223333:role/team-profile-role',
        },
      }),
      linuxFamily({ name: 'al2023-untested', tests: [] }),
      windowsFamily({ tests: [{ name: 'agent', run: "(Get-Service AmazonSSMAgent).Status -eq 'Running'" }] }),
    ]),
  );

const deps = (overrides: Partial<TestAmiDeps> = {}): TestAmiDeps => ({
  config: config(),
  ec2: new EC2Client({}),
  ssm: new SSMClient({}),
  events: new EventBridgeClient({}),
  target: { busName: 'bakehouse-dev', source: 'bakehouse' },
  clock: () => new Date('2026-02-01T10:00:00.000Z'),
  logger: recordingLogger(),
  documentPrefix: 'bakehouse-dev-test-',
  automationRoleArn: ROLE_ARN,
  instanceProfileName: 'bakehouse-builder-profile',
  ...overrides,
});

const bakedDetail = (overrides: Record<string, unknown> = {}) => ({
  version: '1.0',
  bakeId: BAKE_ID,
  family: 'al2023-base',
  os: 'linux',
  amiId: AMI,
  region: 'eu-west-1',
  name: 'al2023-base-20260201-0900',
  sourceAmiId: 'ami-0fedcba9876543210',
  bakeKey: 'k'.repeat(64),
  parentFamily: null,
  durationSeconds: 1800,
  automationExecutionId: 'a-1',
  ...overrides,
});

const amiBaked = (detail: Record<string, unknown> = bakedDetail()) => ({
  id: 'e-0001',
  source: 'bakehouse',
  'detail-type': 'AMI Baked',
  time: '2026-02-01T09:30:00Z',
  detail: structuredClone(detail),
});

const imageTags = (family = 'al2023-base', extra: Ec2Tag[] = []): Ec2Tag[] => [
  { Key: 'bakehouse:managed', Value: 'true' },
  { Key: 'bakehouse:family', Value: family },
  { Key: 'bakehouse:bake-id', Value: BAKE_ID },
  ...extra,
];

const givenImage = (tags: Ec2Tag[] = imageTags()) =>
  ec2
    .on(DescribeImagesCommand, { ImageIds: [AMI] })
    .resolves({ Images: [{ ImageId: AMI, State: 'available', Tags: tags }] });

const tagsWritten = () => ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Tags);

const expectNoSideEffects = () => {
  expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  expect(ssm).not.toHaveReceivedCommand(StartAutomationExecutionCommand);
  expect(events).not.toHaveReceivedCommand(PutEventsCommand);
};

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  events.reset();
  ec2.on(CreateTagsCommand).resolves({});
  ssm.on(StartAutomationExecutionCommand).resolves({ AutomationExecutionId: EXECUTION_ID });
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'ev-1' }] });
});

describe('testAmi: a family with tests', () => {
  it("starts the family's test document on the image with its builder settings and a token from the bake", async () => {
    // Prepare
    givenImage();

    // Act
    const result = await testAmi(amiBaked(), deps());

    // Assess
    expect(result).toEqual({ outcome: 'started', executionId: EXECUTION_ID });
    expect(ssm).toHaveReceivedCommandTimes(StartAutomationExecutionCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(StartAutomationExecutionCommand, {
      DocumentName: 'bakehouse-dev-test-al2023-base',
      ClientToken: testClientToken(BAKE_ID, AMI),
      Parameters: {
        AutomationAssumeRole: [ROLE_ARN],
        AmiId: [AMI],
        InstanceType: ['m7i.large'],
        SubnetId: ['subnet-0123456789abcdef0'],
        SecurityGroupIds: ['sg-0123456789abcdef0'],
        InstanceProfileName: ['bakehouse-builder-profile'],
        BakeId: [BAKE_ID],
        Family: ['al2023-base'],
        // The event's time plus the builder expiry (6 h by default): a redelivery sends the same.
        TesterExpiresAt: ['2026-02-01T15:30:00Z'],
      },
      Tags: expect.arrayContaining([
        { Key: 'bakehouse:role', Value: 'tester' },
        { Key: 'bakehouse:bake-id', Value: BAKE_ID },
      ]),
    });
  });

  it('marks the image tested=running with the execution, after the automation started', async () => {
    // Prepare
    givenImage();

    // Act
    await testAmi(amiBaked(), deps());

    // Assess
    expect(tagsWritten()).toEqual([
      [
        { Key: 'bakehouse:tested', Value: 'running' },
        { Key: 'bakehouse:test-execution-id', Value: EXECUTION_ID },
      ],
    ]);
    const started = ssm.commandCalls(StartAutomationExecutionCommand)[0]!;
    const tagged = ec2.commandCalls(CreateTagsCommand)[0]!;
    expect(started.calledBefore(tagged)).toBe(true);
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it("launches the tester with the family's own subnet, security groups and instance profile", async () => {
    // Prepare
    givenImage(imageTags('al2023-custom'));

    // Act
    await testAmi(amiBaked(bakedDetail({ family: 'al2023-custom' })), deps());

    // Assess
    expect(ssm).toHaveReceivedCommandWith(StartAutomationExecutionCommand, {
      DocumentName: 'bakehouse-dev-test-al2023-custom',
      Parameters: expect.objectContaining({
        InstanceType: ['t3.small'],
        SubnetId: ['subnet-0aaaaaaaaaaaaaaaa'],
        SecurityGroupIds: ['sg-0aaaaaaaaaaaaaaaa', 'sg-0bbbbbbbbbbbbbbbb'],
        InstanceProfileName: ['team-profile'],
      }),
    });
  });

  it('sends the same start twice when the first reply was lost, so SSM returns the same execution', async () => {
    // Prepare: the first tag write fails, so the image still shows no test when the event comes again.
    givenImage();
    ec2.on(CreateTagsCommand).rejectsOnce(awsError('RequestLimitExceeded')).resolves({});

    // Act
    await expect(testAmi(amiBaked(), deps())).rejects.toThrow('RequestLimitExceeded');
    await testAmi(amiBaked(), deps());

    // Assess
    const [first, second] = ssm.commandCalls(StartAutomationExecutionCommand).map((call) => call.args[0].input);
    expect(second).toEqual(first);
    expect(first?.ClientToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(testClientToken('another-bake', AMI)).not.toBe(first?.ClientToken);
  });

  it.each([
    ['under test', [{ Key: 'bakehouse:tested', Value: 'running' }]],
    [
      'tested',
      [
        { Key: 'bakehouse:tested', Value: 'failed' },
        { Key: 'bakehouse:tested-at', Value: '2026-02-01T10:30:00.000Z' },
      ],
    ],
  ])('does nothing for a redelivered event when the image is already %s', async (_state, extra) => {
    // Prepare
    givenImage(imageTags('al2023-base', [...extra, { Key: 'bakehouse:test-execution-id', Value: EXECUTION_ID }]));

    // Act
    const result = await testAmi(amiBaked(), deps());

    // Assess
    expect(result).toMatchObject({ outcome: 'already-handled', executionId: EXECUTION_ID });
    expectNoSideEffects();
  });
});

describe('testAmi: a family without tests', () => {
  const untested = () => amiBaked(bakedDetail({ family: 'al2023-untested' }));

  it('publishes AMI Tested passed with no results at once, and starts nothing', async () => {
    // Prepare
    givenImage(imageTags('al2023-untested'));

    // Act
    const result = await testAmi(untested(), deps());

    // Assess
    expect(result).toEqual({ outcome: 'passed-without-tests', eventId: 'ev-1' });
    expect(ssm).not.toHaveReceivedCommand(StartAutomationExecutionCommand);
    const entry = events.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(entry).toMatchObject({ EventBusName: 'bakehouse-dev', Source: 'bakehouse', DetailType: 'AMI Tested' });
    expect(JSON.parse(entry?.Detail ?? '{}')).toEqual({
      version: '1.0',
      bakeId: BAKE_ID,
      family: 'al2023-untested',
      amiId: AMI,
      passed: true,
      results: [],
      testExecutionId: null,
    });
  });

  it('tags tested=passed before publishing and tested-at after', async () => {
    // Prepare
    givenImage(imageTags('al2023-untested'));

    // Act
    await testAmi(untested(), deps());

    // Assess
    expect(tagsWritten()).toEqual([
      [{ Key: 'bakehouse:tested', Value: 'passed' }],
      [{ Key: 'bakehouse:tested-at', Value: '2026-02-01T10:00:00.000Z' }],
    ]);
    const [passedTag, testedAt] = ec2.commandCalls(CreateTagsCommand);
    const published = events.commandCalls(PutEventsCommand)[0]!;
    expect(passedTag!.calledBefore(published)).toBe(true);
    expect(published.calledBefore(testedAt!)).toBe(true);
  });

  it('publishes again when a previous attempt tagged the image but lost the publish', async () => {
    // Prepare
    givenImage(imageTags('al2023-untested', [{ Key: 'bakehouse:tested', Value: 'passed' }]));

    // Act
    await testAmi(untested(), deps());

    // Assess
    expect(events).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(tagsWritten()).toEqual([[{ Key: 'bakehouse:tested-at', Value: '2026-02-01T10:00:00.000Z' }]]);
  });

  it('does nothing for a redelivered event once the result was published', async () => {
    // Prepare
    givenImage(
      imageTags('al2023-untested', [
        { Key: 'bakehouse:tested', Value: 'passed' },
        { Key: 'bakehouse:tested-at', Value: '2026-02-01T09:59:00.000Z' },
      ]),
    );

    // Act
    const result = await testAmi(untested(), deps());

    // Assess
    expect(result).toMatchObject({ outcome: 'already-handled', tested: 'passed' });
    expectNoSideEffects();
  });
});

describe('testAmi: rejected events', () => {
  it.each([
    ['a missing amiId', bakedDetail({ amiId: undefined }), 'amiId'],
    ['a malformed amiId', bakedDetail({ amiId: 'ami-zzz' }), 'amiId'],
    ['another major version', bakedDetail({ version: '2.0' }), 'version'],
    ['a missing bakeId', bakedDetail({ bakeId: undefined }), 'bakeId'],
  ])(
    'rejects %s with InvalidEventError naming the field, logged once, before any call',
    async (_what, detail, field) => {
      // Prepare
      const logger = recordingLogger();

      // Act
      const error = await testAmi(amiBaked(detail), deps({ logger })).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(InvalidEventError);
      expect((error as Error).message).toContain(`${field}:`);
      expect(logger.error).toHaveBeenCalledTimes(1);
      expect(logger.error).toHaveBeenCalledWith('rejected event', { reason: (error as Error).message });
      expect(ec2).not.toHaveReceivedCommand(DescribeImagesCommand);
      expectNoSideEffects();
    },
  );

  it('rejects another detail-type naming it', async () => {
    // Act
    const error = await testAmi({ ...amiBaked(), 'detail-type': 'AMI Promoted' }, deps()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toContain("detail-type: this consumer takes 'AMI Baked'");
    expectNoSideEffects();
  });

  it('rejects a family this deployment does not have, before reading the image', async () => {
    // Prepare
    const logger = recordingLogger();

    // Act
    const error = await testAmi(amiBaked(bakedDetail({ family: 'gone-family' })), deps({ logger })).catch(
      (e: unknown) => e,
    );

    // Assess
    expect(error).toBeInstanceOf(UnknownFamilyError);
    expect((error as Error).message).toContain("family: 'gone-family'");
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(ec2).not.toHaveReceivedCommand(DescribeImagesCommand);
    expectNoSideEffects();
  });

  it.each([
    ['not managed by Bakehouse', [{ Key: 'Name', Value: 'hand-made' }]],
    ['of another family', imageTags('ubuntu-2404-base')],
  ])('rejects an image %s naming amiId, and writes nothing', async (_what, tags) => {
    // Prepare
    givenImage(tags);

    // Act
    const error = await testAmi(amiBaked(), deps()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toContain(`amiId: ${AMI} is not a Bakehouse image of family 'al2023-base'`);
    expectNoSideEffects();
  });

  it('fails with ImageNotFoundError (retried by Lambda) when the image is not visible, and writes nothing', async () => {
    // Prepare
    ec2.on(DescribeImagesCommand).rejects(awsError('InvalidAMIID.NotFound'));

    // Act
    const error = await testAmi(amiBaked(), deps()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ImageNotFoundError);
    expectNoSideEffects();
  });
});
