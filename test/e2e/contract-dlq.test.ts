/**
 * Malformed events end in the rejecting consumer's dead-letter queue with the reason, in the
 * sandbox provisioned from the stacks: a `Bake Requested` without `requestedBy`, and one of
 * another major version, are rejected by StartBake (InvalidBakeRequestError naming the field),
 * retried as the function's EventInvokeConfig says, and then recorded in its on-failure queue
 * (RejectedBakeRequests) as Lambda's invocation record. No bake starts. Notify, which takes the
 * same requests, reports them as rejected and never leaves them in NotifyFailed (Slack failures only).
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetFunctionEventInvokeConfigCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { ProvisionReport } from '@bakehouse/sandbox';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DetailType } from '../../functions/commons/events';
import { startProvisionedSandbox } from './support/stack';

const BUS = 'bakehouse-dev';
const START_BAKE = 'bakehouse-dev-StartBake';
const NOTIFY = 'bakehouse-dev-Notify';
const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:bakehouse-dev-bake';
/** Sandbox seconds per real second: Lambda's retries (1 and 2 sandbox minutes) take a fraction of a second. */
const SPEED = 1200;

interface InvocationRecord {
  readonly version: string;
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: string;
    readonly approximateInvokeCount: number;
  };
  readonly requestPayload: {
    readonly id: string;
    readonly 'detail-type': string;
    readonly detail: Record<string, unknown>;
  };
  readonly responseContext: {
    readonly statusCode: number;
    readonly executedVersion: string;
    readonly functionError: string;
  };
  readonly responsePayload: { readonly errorType: string; readonly errorMessage: string; readonly trace: unknown };
}

interface QueueMessage {
  readonly queueArn: string;
  readonly kind: string;
  readonly body: string;
  readonly sentAt: string;
}

let sandbox: TestSandbox;
let report: ProvisionReport;
let events: EventBridgeClient;
let lambda: LambdaClient;
let sfn: SFNClient;
let rejectedQueue: string;
let notifyFailedQueue: string;

beforeAll(async () => {
  ({ sandbox, report } = await startProvisionedSandbox(SPEED));
  events = new EventBridgeClient(sandbox.clientConfig);
  lambda = new LambdaClient(sandbox.clientConfig);
  sfn = new SFNClient(sandbox.clientConfig);
  // The queue is the one the stack configured as StartBake's on-failure destination.
  const config = await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: START_BAKE }));
  rejectedQueue = config.DestinationConfig?.OnFailure?.Destination ?? '';
  const notify = await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: NOTIFY }));
  notifyFailedQueue = notify.DestinationConfig?.OnFailure?.Destination ?? '';
}, 180_000);

afterAll(async () => {
  for (const client of [events, lambda, sfn]) client?.destroy();
  await sandbox?.stop();
});

const messagesIn = async (queueArn: string): Promise<QueueMessage[]> =>
  (await sandbox.control('GET', `/_sandbox/dlq?queue=${encodeURIComponent(queueArn)}`)).body as QueueMessage[];

/** Waits (real time) for the invocation record of the event with `eventId` in `queueArn`. */
const recordOf = async (
  queueArn: string,
  eventId: string,
  timeoutMs = 60_000,
): Promise<[QueueMessage, InvocationRecord]> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const message of await messagesIn(queueArn)) {
      const record = JSON.parse(message.body) as InvocationRecord;
      if (record.requestPayload?.id === eventId) return [message, record];
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no record of event ${eventId} in ${queueArn} within ${timeoutMs} ms`);
};

const putBakeRequest = async (detail: Record<string, unknown>): Promise<string> => {
  const sent = await events.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: BUS,
          Source: 'team.payments',
          DetailType: DetailType.BakeRequested,
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  );
  expect(sent.FailedEntryCount).toBe(0);
  const id = sent.Entries?.[0]?.EventId;
  if (!id) throw new Error('PutEvents returned no event id');
  return id;
};

/** The inputs of every execution of the bake state machine. */
const executionInputs = async (): Promise<string[]> => {
  const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE }));
  return Promise.all(
    executions.map(
      async (e) => (await sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }))).input ?? '',
    ),
  );
};

describe('the public contract in the sandbox', () => {
  it('is provisioned: schema registry and schemas are listed as not emulated, nothing unsupported', () => {
    // Act
    const skipped = report.notEmulated.map((r) => r.type);

    // Assess
    expect(report.failed).toEqual([]);
    expect(report.unsupported).toEqual([]);
    expect(skipped.filter((t) => t === 'AWS::EventSchemas::Registry')).toHaveLength(1);
    expect(skipped.filter((t) => t === 'AWS::EventSchemas::Schema').length).toBeGreaterThanOrEqual(10);
  });

  it("routes StartBake's failures to the RejectedBakeRequests queue", () => {
    // Assess
    expect(rejectedQueue).toMatch(/^arn:aws:sqs:us-east-1:000000000000:.*RejectedBakeRequests/);
  });

  it("routes Notify's failures to the NotifyFailed queue", () => {
    // Assess
    expect(notifyFailedQueue).toMatch(/^arn:aws:sqs:us-east-1:000000000000:.*NotifyFailed/);
  });
});

describe.each([
  {
    name: 'without requestedBy',
    detail: { version: '1.0', family: 'al2023-base', reason: 'contract-dlq: no requestedBy' },
    field: 'requestedBy:',
  },
  {
    name: 'of major version 2',
    detail: { version: '2.0', family: 'al2023-base', reason: 'contract-dlq: v2', requestedBy: 'team-payments' },
    field: 'version:',
  },
])('a Bake Requested $name', ({ detail, field }) => {
  let eventId: string;
  let message: QueueMessage;
  let record: InvocationRecord;

  beforeAll(async () => {
    eventId = await putBakeRequest(detail);
    [message, record] = await recordOf(rejectedQueue, eventId);
  }, 90_000);

  it('ends in the RejectedBakeRequests queue as the on-failure record, after the retries', () => {
    // Assess
    expect(message).toMatchObject({ queueArn: rejectedQueue, kind: 'lambda-destination' });
    expect(record).toMatchObject({
      version: '1.0',
      requestContext: {
        functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${START_BAKE}:$LATEST`,
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
      },
      requestPayload: { id: eventId, 'detail-type': DetailType.BakeRequested, detail },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    });
    expect(Date.parse(record.timestamp)).not.toBeNaN();
  });

  it('carries InvalidBakeRequestError and a message naming the field', () => {
    // Assess
    expect(record.responsePayload.errorType).toBe('InvalidBakeRequestError');
    expect(record.responsePayload.errorMessage).toContain('rejected Bake Requested');
    expect(record.responsePayload.errorMessage).toContain(field);
    expect(Array.isArray(record.responsePayload.trace)).toBe(true);
  });

  it('is recorded once, and started no bake', async () => {
    // Act
    const records = (await messagesIn(rejectedQueue)).filter(
      (m) => (JSON.parse(m.body) as InvocationRecord).requestPayload.id === eventId,
    );
    const inputs = await executionInputs();

    // Assess
    expect(records).toHaveLength(1);
    expect(inputs.filter((input) => input.includes(String(detail.reason)))).toEqual([]);
  });

  it('stays out of NotifyFailed, the queue of Slack delivery failures: Notify reports it, it does not fail on it', async () => {
    // Act: Notify takes the same event with the same retries as StartBake; give it as long again
    // (1 s real is 20 sandbox minutes) to record a failure, were there one.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const records = (await messagesIn(notifyFailedQueue)).filter(
      (m) => (JSON.parse(m.body) as InvocationRecord).requestPayload.id === eventId,
    );

    // Assess
    expect(records).toEqual([]);
  });
});

describe("the bus policy, for another team's account", () => {
  /** The account bakehouse.config.ts lets request bakes (settings.bakeRequestAccounts). */
  const TEAM_ACCOUNT = '111122223333';
  const BUS_ARN = `arn:aws:events:us-east-1:000000000000:event-bus/${BUS}`;

  const putAs = async (account: string, detailType: string) => {
    const client = new EventBridgeClient({
      ...sandbox.clientConfig,
      credentials: { accessKeyId: account, secretAccessKey: 'test' },
    });
    try {
      const sent = await client.send(
        new PutEventsCommand({
          Entries: [{ EventBusName: BUS_ARN, Source: 'team.payments', DetailType: detailType, Detail: '{}' }],
        }),
      );
      return sent.Entries?.[0];
    } finally {
      client.destroy();
    }
  };

  it('admits only Bake Requested from a listed account, as the policy says', async () => {
    // Act
    const bake = await putAs(TEAM_ACCOUNT, DetailType.BakeRequested);
    const promote = await putAs(TEAM_ACCOUNT, DetailType.PromoteRequested);
    const revoke = await putAs(TEAM_ACCOUNT, DetailType.AmiRevoked);
    const unlisted = await putAs('999988887777', DetailType.BakeRequested);

    // Assess
    expect(bake?.EventId).toBeDefined();
    expect(promote?.ErrorCode).toBe('AccessDeniedException');
    expect(revoke?.ErrorCode).toBe('AccessDeniedException');
    expect(unlisted?.ErrorCode).toBe('AccessDeniedException');
  });
});
