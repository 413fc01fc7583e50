import { rmSync } from 'node:fs';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateEventBusCommand,
  DeleteEventBusCommand,
  DeleteRuleCommand,
  DescribeEventBusCommand,
  DescribeRuleCommand,
  DisableRuleCommand,
  EnableRuleCommand,
  EventBridgeClient,
  ListEventBusesCommand,
  ListRulesCommand,
  ListTargetsByRuleCommand,
  PutEventsCommand,
  type PutEventsRequestEntry,
  PutPermissionCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemovePermissionCommand,
  RemoveTargetsCommand,
  TestEventPatternCommand,
} from '@aws-sdk/client-eventbridge';
import { SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_ORG_ID } from '../../src/services/events/model';
import { eventually, type FakeTargets, fakeTargets } from '../../src/testing/fake-targets';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const lambdaArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
const machineArn = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
const queueArn = (name: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;

interface LoggedEvent {
  bus: string;
  event: Record<string, unknown> & { id: string; detail: Record<string, unknown> };
  matchedRules: string[];
  deliveries: { rule: string; target: string; targetArn: string; status: string; attempts: number; error?: string }[];
  note?: string;
}

let sandbox: TestSandbox;
let targets: FakeTargets;
let events: EventBridgeClient;
let counter = 0;
/** A name no other test uses. */
const unique = (prefix: string) => `${prefix}-${++counter}`;

const clientAs = (accessKeyId: string) =>
  new EventBridgeClient({ ...sandbox.clientConfig, credentials: { accessKeyId, secretAccessKey: 'x' } });

/** The queue policy CDK writes for a rule's queue: events.amazonaws.com, for that rule only. */
const allowRuleToSend = async (queue: string, rule: string): Promise<void> => {
  const sqs = new SQSClient(sandbox.clientConfig);
  await sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${queue}`,
      Attributes: {
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: 'sqs:SendMessage',
              Resource: queueArn(queue),
              Condition: { ArnEquals: { 'aws:SourceArn': rule } },
            },
          ],
        }),
      },
    }),
  );
  sqs.destroy();
};

const entry = (overrides: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry => ({
  Source: 'bakehouse.test',
  DetailType: 'Thing Happened',
  Detail: JSON.stringify({ family: 'al2023-base' }),
  ...overrides,
});

const eventLog = async (query = ''): Promise<LoggedEvent[]> =>
  (await sandbox.control('GET', `/_sandbox/events${query}`)).body as LoggedEvent[];

const loggedEvent = async (id: string): Promise<LoggedEvent> =>
  eventually(async () => (await eventLog()).find((logged) => logged.event.id === id));

const settled = (id: string) =>
  eventually(async () => {
    const logged = (await eventLog()).find((candidate) => candidate.event.id === id);
    return logged?.deliveries.every((d) => d.status !== 'pending') ? logged : undefined;
  });

const putOne = async (overrides: Partial<PutEventsRequestEntry> = {}): Promise<string> => {
  const result = await events.send(new PutEventsCommand({ Entries: [entry(overrides)] }));
  expect(result.FailedEntryCount).toBe(0);
  return result.Entries?.[0]?.EventId as string;
};

beforeAll(async () => {
  targets = fakeTargets();
  sandbox = await startTestSandbox({ services: [targets.lambda, targets.states] });
  events = new EventBridgeClient(sandbox.clientConfig);
});

afterAll(async () => {
  events.destroy();
  await sandbox.stop();
});

describe('event buses', () => {
  it('has a default bus without creating it', async () => {
    const bus = await events.send(new DescribeEventBusCommand({}));
    expect(bus.Name).toBe('default');
    expect(bus.Arn).toBe(`arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`);
  });

  it('creates, lists, describes and deletes a custom bus', async () => {
    const name = unique('orders');
    const created = await events.send(new CreateEventBusCommand({ Name: name, Description: 'orders' }));
    expect(created.EventBusArn).toBe(`arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${name}`);
    const again = await failure(events.send(new CreateEventBusCommand({ Name: name })));
    expect(again.name).toBe('ResourceAlreadyExistsException');
    const listed = await events.send(new ListEventBusesCommand({ NamePrefix: 'orders' }));
    expect(listed.EventBuses?.map((b) => b.Name)).toContain(name);
    expect((await events.send(new DescribeEventBusCommand({ Name: name }))).Description).toBe('orders');
    await events.send(new DeleteEventBusCommand({ Name: name }));
    const gone = await failure(events.send(new DescribeEventBusCommand({ Name: name })));
    expect(gone.name).toBe('ResourceNotFoundException');
  });

  it('refuses to delete the default bus', async () => {
    const error = await failure(events.send(new DeleteEventBusCommand({ Name: 'default' })));
    expect(error.name).toBe('ValidationException');
  });
});

describe('rules and targets', () => {
  it('refuses an invalid pattern with the reason', async () => {
    const error = await failure(
      events.send(new PutRuleCommand({ Name: unique('bad'), EventPattern: JSON.stringify({ source: 'x' }) })),
    );
    expect(error.name).toBe('InvalidEventPatternException');
    expect(error.message).toMatch(/Event pattern is not valid/);
  });

  it('needs a pattern or a schedule expression', async () => {
    const error = await failure(events.send(new PutRuleCommand({ Name: unique('empty') })));
    expect(error.name).toBe('ValidationException');
  });

  it('describes, lists by prefix with pages, disables and enables rules', async () => {
    const prefix = unique('page');
    for (const suffix of ['a', 'b', 'c']) {
      await events.send(
        new PutRuleCommand({ Name: `${prefix}-${suffix}`, EventPattern: JSON.stringify({ source: ['x'] }) }),
      );
    }
    const first = await events.send(new ListRulesCommand({ NamePrefix: prefix, Limit: 2 }));
    expect(first.Rules?.map((r) => r.Name)).toEqual([`${prefix}-a`, `${prefix}-b`]);
    const second = await events.send(
      new ListRulesCommand({ NamePrefix: prefix, Limit: 2, NextToken: first.NextToken }),
    );
    expect(second.Rules?.map((r) => r.Name)).toEqual([`${prefix}-c`]);
    expect(second.NextToken).toBeUndefined();

    await events.send(new DisableRuleCommand({ Name: `${prefix}-a` }));
    expect((await events.send(new DescribeRuleCommand({ Name: `${prefix}-a` }))).State).toBe('DISABLED');
    await events.send(new EnableRuleCommand({ Name: `${prefix}-a` }));
    const described = await events.send(new DescribeRuleCommand({ Name: `${prefix}-a` }));
    expect(described).toMatchObject({
      State: 'ENABLED',
      EventBusName: 'default',
      Arn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/${prefix}-a`,
    });
    const missing = await failure(events.send(new DescribeRuleCommand({ Name: `${prefix}-zzz` })));
    expect(missing.name).toBe('ResourceNotFoundException');
  });

  it('reports bad targets one by one and refuses to delete a rule that has targets', async () => {
    const rule = unique('targets');
    await events.send(new PutRuleCommand({ Name: rule, EventPattern: JSON.stringify({ source: ['x'] }) }));
    const put = await events.send(
      new PutTargetsCommand({
        Rule: rule,
        Targets: [
          { Id: 'good', Arn: lambdaArn('fn') },
          { Id: 'both', Arn: lambdaArn('fn'), Input: '{}', InputPath: '$.detail' },
        ],
      }),
    );
    expect(put.FailedEntryCount).toBe(1);
    expect(put.FailedEntries?.[0]).toMatchObject({ TargetId: 'both', ErrorCode: 'ValidationException' });
    const listed = await events.send(new ListTargetsByRuleCommand({ Rule: rule }));
    expect(listed.Targets?.map((t) => t.Id)).toEqual(['good']);

    const refused = await failure(events.send(new DeleteRuleCommand({ Name: rule })));
    expect(refused.name).toBe('ValidationException');

    const removed = await events.send(new RemoveTargetsCommand({ Rule: rule, Ids: ['good', 'nope'] }));
    expect(removed.FailedEntryCount).toBe(1);
    expect(removed.FailedEntries?.[0]?.TargetId).toBe('nope');
    await events.send(new DeleteRuleCommand({ Name: rule }));
    expect((await failure(events.send(new DescribeRuleCommand({ Name: rule })))).name).toBe(
      'ResourceNotFoundException',
    );
  });
});

describe('PutEvents', () => {
  it('refuses more than 10 entries as a whole', async () => {
    const error = await failure(
      events.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry()) })),
    );
    expect(error.name).toBe('ValidationException');
  });

  it('reports each invalid entry as AWS does and accepts the valid ones', async () => {
    const result = await events.send(
      new PutEventsCommand({
        Entries: [
          entry(),
          entry({ Source: undefined }),
          entry({ DetailType: undefined }),
          entry({ Detail: undefined }),
          entry({ Detail: '{not json' }),
          entry({ Detail: '[1,2]' }),
          entry({ Source: 'aws.ec2' }),
        ],
      }),
    );
    expect(result.FailedEntryCount).toBe(6);
    const [ok, ...failed] = result.Entries ?? [];
    expect(ok?.EventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(failed.map((e) => e.ErrorCode)).toEqual([
      'InvalidArgument',
      'InvalidArgument',
      'InvalidArgument',
      'MalformedDetail',
      'MalformedDetail',
      'NotAuthorizedForSourceException',
    ]);
    expect(failed[0]?.ErrorMessage).toBe('Parameter Source is not valid. Reason: Source is a required argument.');
  });

  it('refuses entries over 256 KB in all', async () => {
    const big = JSON.stringify({ blob: 'x'.repeat(200 * 1024) });
    const error = await failure(
      events.send(new PutEventsCommand({ Entries: [entry({ Detail: big }), entry({ Detail: big })] })),
    );
    expect(error.name).toBe('ValidationException');
  });

  it('accepts an event for a bus that does not exist, as AWS does, and logs that it was dropped', async () => {
    const id = await putOne({ EventBusName: unique('nowhere') });
    const logged = await loggedEvent(id);
    expect(logged.note).toMatch(/does not exist/);
    expect(logged.deliveries).toEqual([]);
  });

  it('stamps the envelope with the caller account, the region and the sandbox time', async () => {
    const id = await putOne({ Resources: ['arn:aws:ec2:us-east-1::image/ami-1'] });
    const logged = await loggedEvent(id);
    expect(logged.event).toMatchObject({
      version: '0',
      source: 'bakehouse.test',
      'detail-type': 'Thing Happened',
      account: ACCOUNT,
      region: REGION,
      resources: ['arn:aws:ec2:us-east-1::image/ami-1'],
      detail: { family: 'al2023-base' },
    });
    const clock = (await sandbox.control('GET', '/_sandbox/clock')).body as { now: string };
    expect(Date.parse(logged.event.time as string)).toBeLessThanOrEqual(Date.parse(clock.now));
  });
});

describe('bus policies', () => {
  it('refuses another account until a statement allows it, by account or by organization', async () => {
    const bus = unique('shared');
    const { EventBusArn } = await events.send(new CreateEventBusCommand({ Name: bus }));
    const other = clientAs('111111111111');
    const third = clientAs('222222222222');
    const send = async (client: EventBridgeClient) =>
      (await client.send(new PutEventsCommand({ Entries: [entry({ EventBusName: EventBusArn })] }))).Entries?.[0];
    try {
      expect((await send(other))?.ErrorCode).toBe('AccessDeniedException');

      await events.send(
        new PutPermissionCommand({
          EventBusName: bus,
          StatementId: 'one',
          Principal: '111111111111',
          Action: 'events:PutEvents',
        }),
      );
      expect((await send(other))?.EventId).toBeDefined();
      expect((await send(third))?.ErrorCode).toBe('AccessDeniedException');

      await events.send(
        new PutPermissionCommand({
          EventBusName: bus,
          StatementId: 'org',
          Principal: '*',
          Action: 'events:PutEvents',
          Condition: { Type: 'StringEquals', Key: 'aws:PrincipalOrgID', Value: SANDBOX_ORG_ID },
        }),
      );
      expect((await send(third))?.EventId).toBeDefined();
      const policy = JSON.parse((await events.send(new DescribeEventBusCommand({ Name: bus }))).Policy ?? '{}');
      expect(policy.Statement.map((s: { Sid: string }) => s.Sid)).toEqual(['one', 'org']);

      await events.send(new RemovePermissionCommand({ EventBusName: bus, StatementId: 'org' }));
      expect((await send(third))?.ErrorCode).toBe('AccessDeniedException');
      const missing = await failure(
        events.send(new RemovePermissionCommand({ EventBusName: bus, StatementId: 'org' })),
      );
      expect(missing.name).toBe('ResourceNotFoundException');
    } finally {
      other.destroy();
      third.destroy();
    }
  });

  it('does not let another organization in through an organization statement', async () => {
    const bus = unique('org-only');
    const { EventBusArn } = await events.send(new CreateEventBusCommand({ Name: bus }));
    await events.send(
      new PutPermissionCommand({
        EventBusName: bus,
        StatementId: 'org',
        Principal: '*',
        Action: 'events:PutEvents',
        Condition: { Type: 'StringEquals', Key: 'aws:PrincipalOrgID', Value: 'o-someoneelse' },
      }),
    );
    const other = clientAs('333333333333');
    try {
      const result = await other.send(new PutEventsCommand({ Entries: [entry({ EventBusName: EventBusArn })] }));
      expect(result.Entries?.[0]?.ErrorCode).toBe('AccessDeniedException');
    } finally {
      other.destroy();
    }
  });
  it("lets another account put only the events the policy's conditions admit (events:detail-type, events:source)", async () => {
    // Prepare: the shape of Bakehouse's bus policy, as a whole document (PutPermission Policy)
    const bus = unique('conditioned');
    const { EventBusArn } = await events.send(new CreateEventBusCommand({ Name: bus }));
    await events.send(
      new PutPermissionCommand({
        EventBusName: bus,
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'BakeRequestsOnly',
              Effect: 'Allow',
              Principal: { AWS: 'arn:aws:iam::444444444444:root' },
              Action: 'events:PutEvents',
              Resource: EventBusArn,
              Condition: {
                StringEquals: { 'events:detail-type': 'Bake Requested' },
                StringLike: { 'events:source': 'team.*' },
              },
            },
          ],
        }),
      }),
    );
    const partner = clientAs('444444444444');
    const put = async (fields: Record<string, string>) =>
      (
        await partner.send(
          new PutEventsCommand({ Entries: [entry({ EventBusName: EventBusArn, Source: 'team.web', ...fields })] }),
        )
      ).Entries?.[0];

    try {
      // Act
      const admitted = await put({ DetailType: 'Bake Requested' });
      const otherType = await put({ DetailType: 'Promote Requested' });
      const otherSource = await put({ DetailType: 'Bake Requested', Source: 'bakehouse' });

      // Assess
      expect(admitted?.EventId).toBeDefined();
      expect(otherType?.ErrorCode).toBe('AccessDeniedException');
      expect(otherSource?.ErrorCode).toBe('AccessDeniedException');
    } finally {
      partner.destroy();
    }
  });
});

describe('TestEventPattern', () => {
  const event = JSON.stringify({
    id: '1',
    account: ACCOUNT,
    source: 'bakehouse',
    time: '2026-01-01T00:00:00Z',
    region: REGION,
    resources: [],
    'detail-type': 'AMI Baked',
    detail: { family: 'al2023-base' },
  });

  it('answers whether the event matches', async () => {
    const yes = await events.send(
      new TestEventPatternCommand({
        Event: event,
        EventPattern: JSON.stringify({ detail: { family: [{ prefix: 'al2023' }] } }),
      }),
    );
    expect(yes.Result).toBe(true);
    const no = await events.send(
      new TestEventPatternCommand({ Event: event, EventPattern: JSON.stringify({ source: ['aws.ec2'] }) }),
    );
    expect(no.Result).toBe(false);
  });

  it('refuses an invalid pattern and an event without its envelope', async () => {
    const badPattern = await failure(
      events.send(
        new TestEventPatternCommand({ Event: event, EventPattern: JSON.stringify({ source: [{ nope: 1 }] }) }),
      ),
    );
    expect(badPattern.name).toBe('InvalidEventPatternException');
    const badEvent = await failure(
      events.send(
        new TestEventPatternCommand({ Event: '{"detail":{}}', EventPattern: JSON.stringify({ source: ['x'] }) }),
      ),
    );
    expect(badEvent.name).toBe('ValidationException');
  });
});

describe('delivery', () => {
  it('delivers a transformed event to a Lambda target and the matched part to a state machine', async () => {
    const rule = unique('deliver');
    const source = unique('bakehouse.delivery');
    const { RuleArn } = await events.send(
      new PutRuleCommand({ Name: rule, EventPattern: JSON.stringify({ source: [source] }) }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: rule,
        Targets: [
          {
            Id: 'fn',
            Arn: lambdaArn('on-thing'),
            InputTransformer: {
              InputPathsMap: { family: '$.detail.family', size: '$.detail.size' },
              InputTemplate:
                '{"family": <family>, "size": <size>, "text": "family <family> of <size> GB", "rule": <aws.events.rule-name>}',
            },
          },
          { Id: 'machine', Arn: machineArn('bake'), InputPath: '$.detail' },
        ],
      }),
    );
    const id = await putOne({ Source: source, Detail: JSON.stringify({ family: 'al2023-base', size: 8 }) });

    const logged = await settled(id);

    expect(logged.matchedRules).toEqual([RuleArn]);
    expect(logged.deliveries.map((d) => [d.target, d.status, d.attempts])).toEqual([
      ['fn', 'delivered', 1],
      ['machine', 'delivered', 1],
    ]);
    const invocation = targets.invocations.find((i) => i.functionName === 'on-thing');
    expect(JSON.parse(invocation?.payload ?? 'null')).toEqual({
      family: 'al2023-base',
      size: 8,
      text: 'family al2023-base of 8 GB',
      rule,
    });
    const execution = targets.executions.find((e) => e.stateMachineArn === machineArn('bake'));
    expect(JSON.parse(String(execution?.input))).toEqual({ family: 'al2023-base', size: 8 });
  });

  it('passes the whole event by default and a constant Input when given', async () => {
    const rule = unique('whole');
    const source = unique('bakehouse.whole');
    await events.send(new PutRuleCommand({ Name: rule, EventPattern: JSON.stringify({ source: [source] }) }));
    await events.send(
      new PutTargetsCommand({
        Rule: rule,
        Targets: [
          { Id: 'whole', Arn: lambdaArn('whole-event') },
          { Id: 'constant', Arn: lambdaArn('constant'), Input: '{"fixed":true}' },
        ],
      }),
    );
    const id = await putOne({ Source: source });
    await settled(id);
    const whole = targets.invocations.find((i) => i.functionName === 'whole-event');
    expect(JSON.parse(whole?.payload ?? '{}')).toMatchObject({ id, source, 'detail-type': 'Thing Happened' });
    expect(targets.invocations.find((i) => i.functionName === 'constant')?.payload).toBe('{"fixed":true}');
  });

  it('does not deliver to the targets of a disabled rule', async () => {
    const rule = unique('disabled');
    const source = unique('bakehouse.disabled');
    await events.send(
      new PutRuleCommand({ Name: rule, State: 'DISABLED', EventPattern: JSON.stringify({ source: [source] }) }),
    );
    await events.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: 'fn', Arn: lambdaArn('never') }] }));
    const id = await putOne({ Source: source });
    const logged = await loggedEvent(id);
    expect(logged.matchedRules).toEqual([]);
    expect(targets.invocations.some((i) => i.functionName === 'never')).toBe(false);
  });

  it('forwards an event from one bus to another, where that bus’s rules deliver it', async () => {
    const bus = unique('downstream');
    const { EventBusArn } = await events.send(new CreateEventBusCommand({ Name: bus }));
    const source = unique('bakehouse.forward');
    const forwarding = unique('to-bus');
    await events.send(new PutRuleCommand({ Name: forwarding, EventPattern: JSON.stringify({ source: [source] }) }));
    await events.send(new PutTargetsCommand({ Rule: forwarding, Targets: [{ Id: 'bus', Arn: EventBusArn }] }));
    const downstream = unique('on-downstream');
    await events.send(
      new PutRuleCommand({ Name: downstream, EventBusName: bus, EventPattern: JSON.stringify({ source: [source] }) }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: downstream,
        EventBusName: bus,
        Targets: [{ Id: 'fn', Arn: lambdaArn('downstream') }],
      }),
    );

    const id = await putOne({ Source: source });

    const onBus = await eventually(async () =>
      (await eventLog(`?bus=${bus}`)).find(
        (logged) => logged.event.id === id && logged.deliveries[0]?.status === 'delivered',
      ),
    );
    expect(onBus.bus).toBe(EventBusArn);
    expect(JSON.parse(targets.invocations.find((i) => i.functionName === 'downstream')?.payload ?? '{}').id).toBe(id);
  });

  it('retries a failing target, then sends the event to its dead-letter queue', async () => {
    const rule = unique('retry');
    const source = unique('bakehouse.retry');
    const { RuleArn } = await events.send(
      new PutRuleCommand({ Name: rule, EventPattern: JSON.stringify({ source: [source] }) }),
    );
    targets.failing.add('broken');
    await allowRuleToSend('dlq', RuleArn as string);
    await events.send(
      new PutTargetsCommand({
        Rule: rule,
        Targets: [
          {
            Id: 'broken',
            Arn: lambdaArn('broken'),
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
            DeadLetterConfig: { Arn: queueArn('dlq') },
          },
        ],
      }),
    );
    const id = await putOne({ Source: source });

    const logged = await eventually(async () => {
      await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 30 });
      const found = (await eventLog()).find((candidate) => candidate.event.id === id);
      return found?.deliveries[0]?.status === 'dead-lettered' ? found : undefined;
    });

    expect(logged.deliveries[0]).toMatchObject({ attempts: 3, error: expect.stringMatching(/ServiceException/) });
    expect(targets.invocations.filter((i) => i.functionName === 'broken')).toHaveLength(3);
    const dlq = (await sandbox.control('GET', `/_sandbox/dlq?queue=${encodeURIComponent(queueArn('dlq'))}`)).body as {
      body: string;
      kind: string;
      attributes: Record<string, string>;
    }[];
    const record = dlq.find((message) => JSON.parse(message.body).id === id);
    expect(record?.kind).toBe('dead-letter');
    expect(record?.attributes).toMatchObject({
      ERROR_CODE: 'ServiceException',
      RULE_ARN: RuleArn,
      TARGET_ARN: lambdaArn('broken'),
      RETRY_ATTEMPTS: '2',
    });
  });

  it('records messages for queue targets', async () => {
    const rule = unique('queue');
    const source = unique('bakehouse.queue');
    const { RuleArn } = await events.send(
      new PutRuleCommand({ Name: rule, EventPattern: JSON.stringify({ source: [source] }) }),
    );
    await allowRuleToSend('inbox', RuleArn as string);
    await events.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: 'q', Arn: queueArn('inbox') }] }));
    const id = await putOne({ Source: source });
    await settled(id);
    const messages = (await sandbox.control('GET', `/_sandbox/dlq?queue=${encodeURIComponent(queueArn('inbox'))}`))
      .body as { body: string; kind: string }[];
    expect(messages.map((m) => [m.kind, JSON.parse(m.body).id])).toContainEqual(['target', id]);
  });
});

describe('events AWS emits', () => {
  it('puts service events on the default bus, where rules route them', async () => {
    const rule = unique('ssm-status');
    await events.send(
      new PutRuleCommand({
        Name: rule,
        EventPattern: JSON.stringify({ source: ['aws.ssm'], detail: { Status: ['Success'] } }),
      }),
    );
    await events.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: 'fn', Arn: lambdaArn('on-ssm') }] }));

    sandbox.sandbox.runtime.emit({
      source: 'aws.ssm',
      detailType: 'EC2 Automation Execution Status-change Notification',
      detail: { ExecutionId: 'exec-1', Status: 'Success' },
    });

    const invocation = await eventually(() => targets.invocations.find((i) => i.functionName === 'on-ssm'));
    expect(JSON.parse(invocation.payload)).toMatchObject({
      source: 'aws.ssm',
      account: ACCOUNT,
      region: REGION,
      detail: { ExecutionId: 'exec-1', Status: 'Success' },
    });
  });

  it('emits EC2 instance state changes as the instance moves along the clock', async () => {
    const ec2 = new EC2Client(sandbox.clientConfig);
    try {
      const image = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images?.find(
        (candidate) => candidate.Architecture === 'x86_64',
      );
      const run = await ec2.send(
        new RunInstancesCommand({ ImageId: image?.ImageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
      );
      const instanceId = run.Instances?.[0]?.InstanceId as string;

      await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 31 });
      await events.send(new ListEventBusesCommand({}));

      const states = await eventually(async () => {
        const found = (await eventLog('?bus=default'))
          .filter((logged) => logged.event.source === 'aws.ec2' && logged.event.detail['instance-id'] === instanceId)
          .map((logged) => logged.event.detail.state);
        return found.length >= 2 ? found : undefined;
      });
      expect(states).toEqual(['pending', 'running']);
      const logged = (await eventLog()).find((l) => l.event.detail['instance-id'] === instanceId);
      expect(logged?.event['detail-type']).toBe('EC2 Instance State-change Notification');
      expect(logged?.event.resources).toEqual([`arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${instanceId}`]);
    } finally {
      ec2.destroy();
    }
  });

  it('lists events after a given one with ?since=', async () => {
    const first = await putOne();
    const second = await putOne();
    const after = await eventLog(`?since=${first}`);
    expect(after.map((logged) => logged.event.id)).toContain(second);
    expect(after.map((logged) => logged.event.id)).not.toContain(first);
  });
});

describe('restarts', () => {
  it('marks deliveries still retrying when the sandbox stopped as failed, with the reason', async () => {
    // Prepare
    const local = fakeTargets();
    local.failing.add('down');
    const first = await startTestSandbox({ services: [local.lambda] });
    const client = new EventBridgeClient(first.clientConfig);
    await client.send(
      new PutRuleCommand({ Name: 'r', EventPattern: JSON.stringify({ source: ['bakehouse.restart'] }) }),
    );
    await client.send(new PutTargetsCommand({ Rule: 'r', Targets: [{ Id: 'fn', Arn: lambdaArn('down') }] }));
    const put = await client.send(new PutEventsCommand({ Entries: [entry({ Source: 'bakehouse.restart' })] }));
    const id = put.Entries?.[0]?.EventId as string;
    await eventually(() => (local.invocations.length > 0 ? true : undefined));
    client.destroy();
    await first.sandbox.close();

    // Act
    const second = await startTestSandbox({ stateDir: first.stateDir, services: [local.lambda] });
    try {
      const log = (await second.control('GET', '/_sandbox/events')).body as LoggedEvent[];

      // Assess
      expect(log.find((logged) => logged.event.id === id)?.deliveries[0]).toMatchObject({
        status: 'failed',
        error: 'the sandbox stopped before the delivery finished',
      });
    } finally {
      await second.sandbox.close();
      rmSync(first.stateDir, { recursive: true, force: true });
    }
  });
});
