/**
 * The handlers are the composition root: they read the environment once, at cold start, build
 * the clients and wire middy. Each test stubs the environment, then imports the handler module
 * afresh, so the import itself is the cold start.
 */
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import {
  GetAutomationExecutionCommand,
  GetParameterCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { lambdaContext, STATE_MACHINE_ARN } from './support/bake-factories';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const sfn = mockClient(SFNClient);
const events = mockClient(EventBridgeClient);
const stateTable = mockClient(DynamoDBDocumentClient);

const PLAN_BAKE_ENV = {
  AWS_REGION: 'eu-west-1',
  BAKE_DOCUMENT_LINUX_NAME: 'bakehouse-bake-linux',
  BAKE_DOCUMENT_LINUX_SHA256: 'a'.repeat(64),
  BAKE_DOCUMENT_WINDOWS_NAME: 'bakehouse-bake-windows',
  BAKE_DOCUMENT_WINDOWS_SHA256: 'b'.repeat(64),
  AUTOMATION_ROLE_ARN: 'arn:aws:iam::111122223333:role/bakehouse-automation',
  AUTOMATION_WAIT_SECONDS: '600',
  BUILDER_INSTANCE_PROFILE: 'bakehouse-builder',
  STATE_MACHINE_ARN,
  STATE_TABLE_NAME: 'bakehouse-test-StateTable',
} as const;

const stubEnv = (values: Record<string, string | undefined>) => {
  for (const [key, value] of Object.entries(values)) vi.stubEnv(key, value);
};

beforeEach(() => {
  vi.resetModules();
  ec2.reset();
  ssm.reset();
  sfn.reset();
  events.reset();
  stateTable.reset();
  stubEnv({ POWERTOOLS_SERVICE_NAME: 'bakehouse', POWERTOOLS_LOG_LEVEL: 'SILENT', AWS_LAMBDA_LOG_LEVEL: undefined });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('start-bake handler', () => {
  it('starts the execution of the state machine named at cold start', async () => {
    // Prepare
    stubEnv({ STATE_MACHINE_ARN, EVENT_BUS_NAME: 'bakehouse-test' });
    sfn
      .on(StartExecutionCommand)
      .resolves({ executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:bakehouse-bake:x' });
    const { handler } = await import('../../functions/start-bake/handler');
    vi.stubEnv('STATE_MACHINE_ARN', 'arn:aws:states:eu-west-1:111122223333:stateMachine:changed-after-cold-start');
    const event = {
      id: 'c0ffee00-0000-4000-8000-000000000001',
      source: 'bakehouse',
      'detail-type': 'Bake Requested',
      detail: { family: 'al2023-base', requestedBy: 'cli:alice', idempotencyKey: 'ticket-7' },
    };

    // Act
    const result = await handler(event, lambdaContext('StartBake'));

    // Assess
    expect(result.status).toBe('started');
    expect(sfn).toHaveReceivedCommandExactlyOnceWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE_ARN,
      name: bakeIdFor('al2023-base', 'ticket-7'),
    });
  });

  it('fails at cold start, naming the variable, when STATE_MACHINE_ARN is missing', async () => {
    // Prepare
    stubEnv({ STATE_MACHINE_ARN: undefined, EVENT_BUS_NAME: 'bakehouse-test' });

    // Act
    const act = import('../../functions/start-bake/handler');

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'MissingEnvironmentError',
      message: expect.stringContaining('missing environment variable(s) STATE_MACHINE_ARN. Fix: '),
    });
  });

  it('rejects an invalid Bake Requested event with a reason, starting nothing, and answers it with Bake Rejected', async () => {
    // Prepare
    stubEnv({ STATE_MACHINE_ARN, EVENT_BUS_NAME: 'bakehouse-test' });
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'rejected-1' }] });
    const { handler } = await import('../../functions/start-bake/handler');
    const event = {
      id: 'e-1',
      source: 'bakehouse',
      'detail-type': 'Bake Requested',
      detail: { family: 'al2023-base' },
    };

    // Act
    const act = handler(event, lambdaContext('StartBake'));

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'InvalidBakeRequestError',
      message: expect.stringContaining('requestedBy'),
    });
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(events).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [
        expect.objectContaining({ EventBusName: 'bakehouse-test', Source: 'bakehouse', DetailType: 'Bake Rejected' }),
      ],
    });
  });
});

describe('schedule-tick handler', () => {
  it('puts Bake Requested on the bus named at cold start, with the configured source', async () => {
    // Prepare
    stubEnv({ EVENT_BUS_NAME: 'bakehouse-bus' });
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-1' }] });
    const { handler } = await import('../../functions/schedule-tick/handler');

    // Act
    const result = await handler(
      { family: 'al2023-base', scheduledTime: '2026-01-11T02:00:00Z' },
      lambdaContext('ScheduleTick'),
    );

    // Assess
    expect(result).toMatchObject({ status: 'requested', eventId: 'evt-1' });
    expect(events).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [
        expect.objectContaining({ EventBusName: 'bakehouse-bus', Source: 'bakehouse', DetailType: 'Bake Requested' }),
      ],
    });
  });

  it('fails at cold start, naming the variable, when EVENT_BUS_NAME is missing', async () => {
    // Prepare
    stubEnv({ EVENT_BUS_NAME: undefined });

    // Act
    const act = import('../../functions/schedule-tick/handler');

    // Assess
    await expect(act).rejects.toThrow(/missing environment variable\(s\) EVENT_BUS_NAME\. Fix: /);
  });
});

describe('plan-bake handler', () => {
  it('plans a bake of a shipped family with the documents and role from the environment', async () => {
    // Prepare
    stubEnv(PLAN_BAKE_ENV);
    const parameter = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
    ssm.on(GetParameterCommand, { Name: parameter }).resolves({ Parameter: { Value: 'ami-0a1b2c3d4e5f60718' } });
    stateTable.on(PutCommand).resolves({}).on(GetCommand).resolves({});
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-0a1b2c3d4e5f60718'] }).resolves({
      Images: [
        {
          ImageId: 'ami-0a1b2c3d4e5f60718',
          Name: 'al2023-ami-2023.9.20261101.0-kernel-6.1-x86_64',
          State: 'available',
          Architecture: 'x86_64',
        },
      ],
    });
    const { handler } = await import('../../functions/plan-bake/handler');
    const bakeId = bakeIdFor('al2023-base', 'ticket-7');

    // Act
    const plan = await handler(
      { bakeId, request: { family: 'al2023-base', requestedBy: 'cli:alice' } },
      lambdaContext('PlanBake'),
    );

    // Assess
    expect(plan).toMatchObject({
      action: 'bake',
      region: 'eu-west-1',
      documentName: 'bakehouse-bake-linux',
      maxWaits: 12,
      documentParameters: expect.objectContaining({
        AutomationAssumeRole: ['arn:aws:iam::111122223333:role/bakehouse-automation'],
        IamInstanceProfileName: ['bakehouse-builder'],
        ReleaseVersion: ['latest'],
      }),
      release: { policy: 'latest', target: '2023.9.20261101' },
    });
    expect(stateTable).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'bakehouse-test-StateTable',
      Item: expect.objectContaining({ pk: 'lock#family#al2023-base', owner: bakeId }),
    });
  });

  it('names every missing variable at once', async () => {
    // Prepare
    stubEnv({ ...PLAN_BAKE_ENV, AUTOMATION_ROLE_ARN: undefined, BUILDER_INSTANCE_PROFILE: undefined });

    // Act
    const act = import('../../functions/plan-bake/handler');

    // Assess
    await expect(act).rejects.toThrow(
      'missing environment variable(s) AUTOMATION_ROLE_ARN, BUILDER_INSTANCE_PROFILE. Fix: deploy through the Bakehouse stack, which sets them',
    );
  });

  it('refuses a wait period that is not a positive whole number of seconds', async () => {
    // Prepare
    stubEnv({ ...PLAN_BAKE_ENV, AUTOMATION_WAIT_SECONDS: '10m' });

    // Act
    const act = import('../../functions/plan-bake/handler');

    // Assess
    await expect(act).rejects.toThrow("AUTOMATION_WAIT_SECONDS must be a positive integer, got '10m'");
  });
});

describe('wait-for-automation and automation-events handlers', () => {
  it('wait-for-automation stores the token under CALLBACK_PARAMETER_PREFIX', async () => {
    // Prepare
    stubEnv({ CALLBACK_PARAMETER_PREFIX: '/bakehouse/_callbacks', STATE_TABLE_NAME: 'bakehouse-test-StateTable' });
    ssm.on(PutParameterCommand).resolves({ Version: 1 });
    ssm
      .on(GetAutomationExecutionCommand)
      .resolves({ AutomationExecution: { AutomationExecutionStatus: 'InProgress' } });
    const { handler } = await import('../../functions/wait-for-automation/handler');

    // Act
    const result = await handler(
      { taskToken: 't', automationExecutionId: 'auto-1', bakeId: 'b-1', bakeStartedAt: '2026-01-14T09:00:00Z' },
      lambdaContext('WaitForAutomation'),
    );

    // Assess
    expect(result).toEqual({ outcome: 'pending' });
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, { Name: '/bakehouse/_callbacks/auto-1' });
  });

  it('automation-events reads the detail of the SSM status-change event', async () => {
    // Prepare
    stubEnv({ CALLBACK_PARAMETER_PREFIX: '/bakehouse/_callbacks', STATE_TABLE_NAME: 'bakehouse-test-StateTable' });
    const { handler } = await import('../../functions/automation-events/handler');
    const event = {
      version: '0',
      id: 'e-1',
      'detail-type': 'EC2 Automation Execution Status-change Notification' as const,
      source: 'aws.ssm',
      account: '111122223333',
      time: '2026-01-14T09:40:00Z',
      region: 'eu-west-1',
      resources: [],
      detail: { ExecutionId: 'auto-1', Status: 'InProgress' },
    };

    // Act
    const result = await handler(event, lambdaContext('AutomationEvents'));

    // Assess
    expect(result).toEqual({ outcome: 'pending' });
    expect(ssm).not.toHaveReceivedAnyCommand();
  });

  it.each([
    ['wait-for-automation', () => import('../../functions/wait-for-automation/handler')],
    ['automation-events', () => import('../../functions/automation-events/handler')],
  ])('%s fails at cold start when STATE_TABLE_NAME (where inventories go) is missing', async (_name, load) => {
    // Prepare
    stubEnv({ CALLBACK_PARAMETER_PREFIX: '/bakehouse/_callbacks', STATE_TABLE_NAME: undefined });

    // Act
    const act = load();

    // Assess
    await expect(act).rejects.toThrow(/STATE_TABLE_NAME/);
  });

  it('fails at cold start when CALLBACK_PARAMETER_PREFIX is missing', async () => {
    // Prepare
    stubEnv({ CALLBACK_PARAMETER_PREFIX: undefined });

    // Act
    const act = import('../../functions/wait-for-automation/handler');

    // Assess
    await expect(act).rejects.toThrow(/CALLBACK_PARAMETER_PREFIX/);
  });
});

describe('clean-up-failed-bake handler', () => {
  it('reads EVENT_BUS_NAME (for stopped executions) and STATE_TABLE_NAME (the lock) and reports the failure', async () => {
    // Prepare
    stubEnv({ EVENT_BUS_NAME: 'bakehouse-bus', STATE_TABLE_NAME: 'bakehouse-test-StateTable' });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    const { handler } = await import('../../functions/clean-up-failed-bake/handler');

    // Act
    const failure = await handler(
      {
        bakeId: 'b-1',
        request: { family: 'al2023-base' },
        failure: { PlanBake: { Error: 'FamilyBusyError', Cause: 'busy' } },
      },
      lambdaContext('CleanUpFailedBake'),
    );

    // Assess
    expect(failure).toMatchObject({ bakeId: 'b-1', family: 'al2023-base', failedStep: 'PlanBake', cleanupErrors: [] });
  });

  it("releases the failed bake's family lock in the state table the environment names", async () => {
    // Prepare
    stubEnv({ EVENT_BUS_NAME: 'bakehouse-bus', STATE_TABLE_NAME: 'bakehouse-test-StateTable' });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    stateTable.on(DeleteCommand).resolves({});
    const { handler } = await import('../../functions/clean-up-failed-bake/handler');

    // Act
    const failure = await handler(
      {
        bakeId: 'b-1',
        request: { family: 'al2023-base' },
        plan: { action: 'bake', family: 'al2023-base', lockKey: 'lock#family#al2023-base' } as never,
        failure: { StartAutomation: { Error: 'Ssm.SsmException', Cause: 'boom' } },
      },
      lambdaContext('CleanUpFailedBake'),
    );

    // Assess
    expect(failure).toMatchObject({ cleanupErrors: [] });
    expect(stateTable).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: 'bakehouse-test-StateTable',
      Key: { pk: 'lock#family#al2023-base' },
      ExpressionAttributeValues: { ':owner': 'b-1' },
    });
  });
});
