/**
 * `bake`, `promote` and `revoke` wait for the outcome of their request (issue 18): what each prints
 * for the answer the bus gives, and the old behaviour when none comes in time. The bus is a
 * stand-in sandbox event log the test writes the functions' answers to when the command puts its
 * request; the AWS clients are aws-sdk-client-mock mocks.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeExecutionCommand, ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import bakehouseConfig from '../../bakehouse.config';
import { bakeCommand } from '../../cli/commands/bake';
import { promoteCommand, revokeCommand } from '../../cli/commands/promotion';
import type { CommandContext } from '../../cli/context';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { loadConfig } from '../../functions/commons/families';
import { awsError } from './support/bake-factories';

const AMI = 'ami-0123456789abcdef0';
const OTHER = 'ami-0fedcba9876543210';
const REQUEST_ID = 'req-0001';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const events = mockClient(EventBridgeClient);
const sfn = mockClient(SFNClient);
const MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:bakehouse-dev-bake';

/** The stand-in event log: what the test logs reaches the watch at its next read. */
let logged: Record<string, unknown>[] = [];
let server: Server;
let url: string;
/** What the function answers the request with, as (detail-type, detail) pairs. */
let answer: (entry: PutEventsRequestEntry) => [string, Record<string, unknown>][] = () => [];

beforeEach(async () => {
  logged = [];
  answer = () => [];
  ec2.reset();
  ssm.reset();
  events.reset();
  sfn.reset();
  sfn
    .on(ListStateMachinesCommand)
    .resolves({ stateMachines: [{ name: 'bakehouse-dev-bake', stateMachineArn: MACHINE } as never] });
  sfn.on(DescribeExecutionCommand).rejects(awsError('ExecutionDoesNotExist'));
  events.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => {
    const entry = input.Entries[0] as PutEventsRequestEntry;
    for (const [detailType, detail] of answer(entry)) {
      logged.push({ id: `answer-${logged.length}`, source: 'bakehouse', 'detail-type': detailType, time: '', detail });
    }
    return { FailedEntryCount: 0, Entries: [{ EventId: REQUEST_ID }] };
  });
  ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, State: 'available', Tags: [] }] });
  ssm.on(GetParameterCommand).rejects(awsError('ParameterNotFound'));
  let served = 0;
  server = createServer((_request, response) => {
    const fresh = logged.slice(served);
    served = logged.length;
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(fresh.map((event) => ({ event }))));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Run {
  readonly ctx: CommandContext;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

const context = (json = false): Run => {
  const out: string[] = [];
  const err: string[] = [];
  const ctx = {
    config: loadConfig(bakehouseConfig),
    stage: 'dev',
    names: {
      bus: 'bakehouse-dev',
      stateMachine: 'bakehouse-dev-bake',
      canaryStateMachine: '',
      function: (id: string) => id,
    },
    target: { endpoint: url, sandbox: true, region: 'us-east-1' },
    clients: {
      ec2: new EC2Client({}),
      ssm: new SSMClient({}),
      sfn: new SFNClient({}),
      events: new EventBridgeClient({}),
      lambda: new LambdaClient({}),
      sqs: new SQSClient({}),
    },
    io: { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, env: {} },
    user: 'alice',
    json,
    now: () => new Date('2026-12-05T22:00:00Z'),
    sleep: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
    signal: new AbortController().signal,
    pollMs: 5,
  } as unknown as CommandContext;
  return { ctx, stdout: () => out.join(''), stderr: () => err.join('') };
};

describe('revoke', () => {
  it('prints what Revoke did: the images revoked and the channels moved back, exit 0', async () => {
    // Prepare
    answer = () => [
      [
        'Revocation Completed',
        {
          requestEventId: REQUEST_ID,
          amiId: AMI,
          revoked: [AMI, OTHER],
          channelsMoved: [{ family: 'al2023-base', channel: 'stable', from: AMI, to: 'ami-0aaaaaaaaaaaaaaa1' }],
          stranded: [{ family: 'al2023-web', channel: 'stable', amiId: OTHER }],
        },
      ],
    ];
    const run = context();

    // Act
    const code = await revokeCommand(run.ctx, AMI, { reason: 'CVE', cascade: true, timeoutSeconds: 5 });

    // Assess
    expect(code).toBe(0);
    expect(run.stdout()).toBe(
      [
        `revoked ${AMI} and 1 built on it: ${OTHER}`,
        `channels moved back: al2023-base/stable ${AMI} → ami-0aaaaaaaaaaaaaaa1`,
        'stranded on a revoked image (no earlier good image): al2023-web/stable. Fix: bake or promote a good image to them',
        '',
      ].join('\n'),
    );
  });

  it("ignores another request's answer, and says the request was put when none of its own comes in time", async () => {
    // Prepare
    answer = () => [['Revocation Rejected', { requestEventId: 'someone-else', amiId: AMI, reason: 'x. Fix: y' }]];
    const run = context(true);

    // Act
    const code = await revokeCommand(run.ctx, AMI, { reason: 'CVE', cascade: false, timeoutSeconds: 1 });

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(run.stdout())).toMatchObject({
      revocation: { amiId: AMI, eventId: REQUEST_ID, outcome: 'requested' },
    });
  });
});

describe('promote', () => {
  it('prints the rejection with its fix and exits 1, without waiting for the timeout', async () => {
    // Prepare
    answer = () => [
      [
        'Promotion Rejected',
        {
          requestEventId: REQUEST_ID,
          reason: `refused to promote ${AMI} to al2023-web/stable: it belongs to family 'al2023-base'`,
          fix: "promote an image of family 'al2023-web'",
        },
      ],
    ];
    const run = context();
    const started = Date.now();

    // Act
    const code = await promoteCommand(run.ctx, 'al2023-web', 'stable', AMI, { reason: 'r', timeoutSeconds: 60 });

    // Assess
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.stderr()).toBe(
      `refused: al2023-web/stable stays at (none). refused to promote ${AMI} to al2023-web/stable: it belongs to family 'al2023-base'.\nFix: promote an image of family 'al2023-web'\n`,
    );
  });

  it('is promoted on its AMI Promoted, exit 0', async () => {
    // Prepare
    answer = () => [['AMI Promoted', { family: 'al2023-base', channel: 'stable', amiId: AMI }]];
    const run = context();

    // Act
    const code = await promoteCommand(run.ctx, 'al2023-base', 'stable', AMI, { reason: 'r', timeoutSeconds: 60 });

    // Assess
    expect(code).toBe(0);
    expect(run.stdout()).toBe(`al2023-base/stable: (none) → ${AMI}\n`);
  });

  it("is not promoted by another channel's AMI Promoted", async () => {
    // Prepare
    answer = () => [['AMI Promoted', { family: 'al2023-base', channel: 'dev', amiId: AMI }]];
    const run = context();

    // Act
    const code = await promoteCommand(run.ctx, 'al2023-base', 'stable', AMI, { reason: 'r', timeoutSeconds: 1 });

    // Assess
    expect(code).toBe(1);
    expect(run.stderr()).toContain('the channel did not move within 1s');
  });

  it('keeps the old fallback: without an answer, the channel that did not move in --timeout, exit 1', async () => {
    // Prepare
    const run = context(true);

    // Act
    const code = await promoteCommand(run.ctx, 'al2023-base', 'stable', AMI, { reason: 'r', timeoutSeconds: 1 });

    // Assess
    expect(code).toBe(1);
    expect(JSON.parse(run.stdout()).promotion).toMatchObject({
      outcome: 'refused',
      reason: expect.stringContaining('the channel did not move within 1s'),
    });
  });
});

describe('bake without --wait', () => {
  const options = { force: false, wait: false, reason: 'r', idempotencyKey: 'key-1', timeoutSeconds: 1 };
  const bakeId = bakeIdFor('al2023-base', 'key-1');

  it('returns once its bake started, naming the automation', async () => {
    // Prepare
    answer = () => [
      ['Bake Started', { bakeId, family: 'al2023-base', sourceAmiId: OTHER, automationExecutionId: 'auto-1' }],
    ];
    const run = context();

    // Act
    const code = await bakeCommand(run.ctx, 'al2023-base', { ...options, timeoutSeconds: 60 });

    // Assess
    expect(code).toBe(0);
    expect(run.stdout()).toBe(
      `bake ${bakeId} of al2023-base started from ${OTHER} (automation auto-1). Follow it: bakehouse status ${bakeId}\n`,
    );
  });

  it('prints a Bake Rejected of its bake id with the fix, exit 1', async () => {
    // Prepare
    answer = () => [['Bake Rejected', { requestEventId: 'x', bakeId, reason: 'family: no family', fix: 'use one' }]];
    const run = context(true);

    // Act
    const code = await bakeCommand(run.ctx, 'al2023-base', { ...options, timeoutSeconds: 60 });

    // Assess
    expect(code).toBe(1);
    expect(JSON.parse(run.stdout())).toMatchObject({
      outcome: 'rejected',
      rejection: { reason: 'family: no family', fix: 'use one' },
    });
  });

  it('says at once that a bake exists under a repeated idempotency key: no second bake starts, and none is waited for', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: `${MACHINE.replace(':stateMachine:', ':execution:')}:${bakeId}`,
      name: bakeId,
      status: 'SUCCEEDED',
      input: JSON.stringify({ family: 'al2023-base', requestedBy: 'cli:alice' }),
      output: JSON.stringify({ plan: { action: 'bake' }, automation: { result: { imageId: OTHER } } }),
      startDate: new Date('2026-12-05T21:00:00Z'),
      stopDate: new Date('2026-12-05T21:10:00Z'),
    } as never);
    const run = context();
    const started = Date.now();

    // Act
    const code = await bakeCommand(run.ctx, 'al2023-base', { ...options, timeoutSeconds: 60 });

    // Assess
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.stdout()).toBe(
      `bake ${bakeId} of al2023-base already exists under this idempotency key (baked): no second bake starts. Follow it: bakehouse status ${bakeId}\n`,
    );
    expect(events).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('says the request was put, as before, when no answer comes in time', async () => {
    // Prepare
    const run = context();

    // Act
    const code = await bakeCommand(run.ctx, 'al2023-base', options);

    // Assess
    expect(code).toBe(0);
    expect(run.stdout()).toBe(`requested bake ${bakeId} of al2023-base. Follow it: bakehouse status ${bakeId}\n`);
  });
});
