/**
 * SQS queue policies where AWS enforces them: EventBridge sends a rule's failed event to the
 * target's dead-letter queue, and delivers to a queue target, as `events.amazonaws.com`, which only
 * the queue's resource-based policy can allow (EventBridge User Guide, "Using dead-letter queues to
 * process undelivered events": the DLQ needs a resource-based policy; a send that fails counts in
 * `InvocationsFailedToBeSentToDlq` and the event is lost).
 */
import { EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { GetQueueAttributesCommand, SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type FakeTargets, fakeTargets } from '../../src/testing/fake-targets';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const lambdaArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
const queueArn = (name: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
const queueUrl = (name: string) => `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`;
const ruleArn = (name: string) => `arn:aws:events:${REGION}:${ACCOUNT}:rule/${name}`;

interface Delivery {
  readonly targetArn: string;
  readonly status: string;
  readonly attempts: number;
  readonly error?: string;
}
interface Logged {
  readonly event: { readonly id: string };
  readonly deliveries: readonly Delivery[];
}
interface Message {
  readonly kind: string;
  readonly body: string;
  readonly attributes: Record<string, string>;
}

let sandbox: TestSandbox;
let targets: FakeTargets;
let events: EventBridgeClient;
let sqs: SQSClient;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

/** CDK's DLQ policy: events.amazonaws.com for one rule, and enforceSSL's Deny of plain HTTP. */
const queuePolicy = (queue: string, rule: string) => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'sqs:*',
      Resource: queueArn(queue),
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    },
    {
      Sid: 'AllowEventRule',
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: queueArn(queue),
      Condition: { ArnEquals: { 'aws:SourceArn': ruleArn(rule) } },
    },
  ],
});

const setPolicy = (queue: string, policy: unknown) =>
  sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl: queueUrl(queue),
      Attributes: { Policy: typeof policy === 'string' ? policy : JSON.stringify(policy) },
    }),
  );

const messages = async (queue: string): Promise<Message[]> =>
  (await sandbox.control('GET', `/_sandbox/dlq?queue=${encodeURIComponent(queueArn(queue))}`)).body as Message[];

const settled = (id: string) =>
  eventually(async () => {
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 30 });
    const log = (await sandbox.control('GET', '/_sandbox/events')).body as Logged[];
    const logged = log.find((candidate) => candidate.event.id === id);
    return logged?.deliveries.every((d) => d.status !== 'pending') ? logged : undefined;
  });

/** A rule matching its own source, with one target; returns its source. */
const ruleWith = async (rule: string, target: Record<string, unknown>): Promise<string> => {
  const source = unique('bakehouse.sqs');
  await events.send(new PutRuleCommand({ Name: rule, EventPattern: JSON.stringify({ source: [source] }) }));
  await events.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: 't', ...target } as never] }));
  return source;
};

const put = async (source: string): Promise<string> => {
  const sent = await events.send(
    new PutEventsCommand({ Entries: [{ Source: source, DetailType: 'Thing Happened', Detail: '{}' }] }),
  );
  expect(sent.FailedEntryCount).toBe(0);
  return sent.Entries?.[0]?.EventId as string;
};

/** A Lambda target that always fails, retried once, dead-lettered into `dlq`. */
const failingTarget = (dlq: string) => {
  targets.failing.add('broken-sqs');
  return {
    Arn: lambdaArn('broken-sqs'),
    RetryPolicy: { MaximumRetryAttempts: 1, MaximumEventAgeInSeconds: 3600 },
    DeadLetterConfig: { Arn: queueArn(dlq) },
  };
};

beforeAll(async () => {
  targets = fakeTargets();
  sandbox = await startTestSandbox({ services: [targets.lambda, targets.states] });
  events = new EventBridgeClient(sandbox.clientConfig);
  sqs = new SQSClient(sandbox.clientConfig);
});

afterAll(async () => {
  events.destroy();
  sqs.destroy();
  await sandbox.stop();
});

describe('SQS queue policies', () => {
  it('keeps the policy SetQueueAttributes gives a queue and answers it in GetQueueAttributes', async () => {
    // Prepare
    const queue = unique('kept');
    const policy = queuePolicy(queue, 'some-rule');

    // Act
    await setPolicy(queue, policy);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl(queue), AttributeNames: ['Policy', 'QueueArn'] }),
    );

    // Assess
    expect(JSON.parse(Attributes?.Policy ?? '{}')).toEqual(policy);
    expect(Attributes?.QueueArn).toBe(queueArn(queue));
  });

  it('dead-letters a failed event when the DLQ policy allows events.amazonaws.com for the rule', async () => {
    // Prepare
    const rule = unique('dlq-allowed');
    const dlq = unique('dlq-allowed-q');
    await setPolicy(dlq, queuePolicy(dlq, rule));
    const source = await ruleWith(rule, failingTarget(dlq));

    // Act
    const id = await put(source);
    const logged = await settled(id);

    // Assess
    expect(logged.deliveries[0]?.status).toBe('dead-lettered');
    const dead = (await messages(dlq)).find((message) => JSON.parse(message.body).id === id);
    expect(dead?.kind).toBe('dead-letter');
    expect(dead?.attributes.RULE_ARN).toBe(ruleArn(rule));
  });

  it('does not dead-letter when the DLQ policy names another rule, and the delivery says why', async () => {
    // Prepare
    const rule = unique('dlq-refused');
    const dlq = unique('dlq-refused-q');
    await setPolicy(dlq, queuePolicy(dlq, 'another-rule'));
    const source = await ruleWith(rule, failingTarget(dlq));

    // Act
    const id = await put(source);
    const logged = await settled(id);

    // Assess
    expect(logged.deliveries[0]?.status).toBe('failed');
    expect(logged.deliveries[0]?.error).toContain('ServiceException');
    expect(logged.deliveries[0]?.error).toContain(
      `not sent to the dead-letter queue ${queueArn(dlq)} (InvocationsFailedToBeSentToDlq): User: events.amazonaws.com is not authorized to perform: sqs:SendMessage on resource: ${queueArn(dlq)} because no resource-based policy allows the sqs:SendMessage action`,
    );
    expect(await messages(dlq)).toEqual([]);
  });

  it('does not dead-letter into a queue without a policy', async () => {
    // Prepare
    const rule = unique('dlq-bare');
    const dlq = unique('dlq-bare-q');
    const source = await ruleWith(rule, failingTarget(dlq));

    // Act
    const id = await put(source);
    const logged = await settled(id);

    // Assess
    expect(logged.deliveries[0]?.status).toBe('failed');
    expect(logged.deliveries[0]?.error).toMatch(/InvocationsFailedToBeSentToDlq/);
    expect(await messages(dlq)).toEqual([]);
  });

  it("delivers to a queue target despite the policy's Deny of insecure transport (services call over TLS)", async () => {
    // Prepare
    const rule = unique('queue-target');
    const queue = unique('queue-target-q');
    await setPolicy(queue, queuePolicy(queue, rule));
    const source = await ruleWith(rule, { Arn: queueArn(queue) });

    // Act
    const id = await put(source);
    const logged = await settled(id);

    // Assess
    expect(logged.deliveries[0]?.status).toBe('delivered');
    expect((await messages(queue)).map((m) => [m.kind, JSON.parse(m.body).id])).toContainEqual(['target', id]);
  });

  it('refuses a queue target whose policy no longer allows the rule (the policy removed)', async () => {
    // Prepare
    const rule = unique('queue-removed');
    const queue = unique('queue-removed-q');
    await setPolicy(queue, queuePolicy(queue, rule));
    await setPolicy(queue, '');
    const source = await ruleWith(rule, { Arn: queueArn(queue) });

    // Act
    const id = await put(source);
    const logged = await settled(id);

    // Assess
    expect(logged.deliveries[0]?.status).toBe('failed');
    expect(logged.deliveries[0]?.error).toMatch(
      /AccessDeniedException: User: events.amazonaws.com is not authorized to perform: sqs:SendMessage/,
    );
    expect(await messages(queue)).toEqual([]);
  });
});
