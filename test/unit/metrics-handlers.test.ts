/**
 * The bake outcome metrics as the deployed handlers write them (functions/commons/metrics.ts): the
 * handler module imported afresh with its environment (the import is the cold start, as in
 * handlers.test.ts), its EMF read back from stdout (support/emf.ts).
 */
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { lambdaContext, STATE_MACHINE_ARN } from './support/bake-factories';
import { captureEmf } from './support/emf';

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

const SOURCE = 'ami-0a1b2c3d4e5f60718';
const BAKED = 'ami-0baked00000000001';

/** A shipped Linux family's source image resolves; `baked` is an image of ours carrying any bake key. */
const givenSource = (baked: boolean) => {
  ssm
    .on(GetParameterCommand, { Name: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' })
    .resolves({ Parameter: { Value: SOURCE } });
  stateTable.on(PutCommand).resolves({}).on(GetCommand).resolves({});
  ec2.on(DescribeImagesCommand).resolves({ Images: [] });
  ec2.on(DescribeImagesCommand, { ImageIds: [SOURCE] }).resolves({
    Images: [
      {
        ImageId: SOURCE,
        Name: 'al2023-ami-2023.9.20261101.0-kernel-6.1-x86_64',
        State: 'available',
        Architecture: 'x86_64',
      },
    ],
  });
  if (baked) {
    ec2.on(DescribeImagesCommand, { Owners: ['self'] }).resolves({
      Images: [{ ImageId: BAKED, State: 'available', CreationDate: '2026-01-10T00:00:00.000Z' }],
    });
  }
};

beforeEach(() => {
  vi.resetModules();
  ec2.reset();
  ssm.reset();
  sfn.reset();
  events.reset();
  stateTable.reset();
  stubEnv({
    POWERTOOLS_SERVICE_NAME: 'bakehouse',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    AWS_LAMBDA_LOG_LEVEL: undefined,
    POWERTOOLS_DEV: undefined,
    POWERTOOLS_METRICS_DISABLED: undefined,
    POWERTOOLS_METRICS_NAMESPACE: undefined,
  });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('PlanBake', () => {
  it('records a skipped bake of the family when the bake key is already baked', async () => {
    // Prepare
    stubEnv(PLAN_BAKE_ENV);
    givenSource(true);
    const { handler } = await import('../../functions/plan-bake/handler');

    // Act
    let action: string | undefined;
    const emitted = await captureEmf(async () => {
      const plan = await handler(
        { bakeId: bakeIdFor('al2023-base', 'ticket-7'), request: { family: 'al2023-base', requestedBy: 'cli:alice' } },
        lambdaContext('PlanBake'),
      );
      action = plan.action;
    });

    // Assess
    expect(action).toBe('skip');
    expect(emitted.map((m) => [m.namespace, m.name, m.value, m.dimensions])).toEqual([
      ['Bakehouse', 'Bakes', 1, { Family: 'al2023-base', Outcome: 'skipped' }],
    ]);
  });

  it('records nothing for a bake it plans (its outcome is not known yet)', async () => {
    // Prepare
    stubEnv(PLAN_BAKE_ENV);
    givenSource(false);
    const { handler } = await import('../../functions/plan-bake/handler');

    // Act
    const emitted = await captureEmf(() =>
      handler(
        { bakeId: bakeIdFor('al2023-base', 'ticket-7'), request: { family: 'al2023-base', requestedBy: 'cli:alice' } },
        lambdaContext('PlanBake'),
      ),
    );

    // Assess
    expect(emitted).toEqual([]);
  });
});

describe('CleanUpFailedBake', () => {
  it("records a failed bake of the family on the state machine's failure path", async () => {
    // Prepare
    stubEnv({ EVENT_BUS_NAME: 'bakehouse-bus', STATE_TABLE_NAME: 'bakehouse-test-StateTable' });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    const { handler } = await import('../../functions/clean-up-failed-bake/handler');

    // Act
    const emitted = await captureEmf(() =>
      handler(
        {
          bakeId: 'b-1',
          request: { family: 'al2023-base' },
          failure: { PlanBake: { Error: 'FamilyBusyError', Cause: 'busy' } },
        },
        lambdaContext('CleanUpFailedBake'),
      ),
    );

    // Assess
    expect(emitted.map((m) => [m.namespace, m.name, m.value, m.dimensions])).toEqual([
      ['Bakehouse', 'Bakes', 1, { Family: 'al2023-base', Outcome: 'failed' }],
    ]);
  });

  it('records nothing for a status change that needs no cleanup (the execution succeeded)', async () => {
    // Prepare
    stubEnv({ EVENT_BUS_NAME: 'bakehouse-bus', STATE_TABLE_NAME: 'bakehouse-test-StateTable' });
    const { handler } = await import('../../functions/clean-up-failed-bake/handler');

    // Act
    const emitted = await captureEmf(() =>
      handler(
        {
          source: 'aws.states',
          'detail-type': 'Step Functions Execution Status Change',
          detail: { executionArn: `${STATE_MACHINE_ARN}:b-1`, name: 'b-1', status: 'SUCCEEDED' },
        } as never,
        lambdaContext('CleanUpFailedBake'),
      ),
    );

    // Assess
    expect(emitted).toEqual([]);
  });
});
