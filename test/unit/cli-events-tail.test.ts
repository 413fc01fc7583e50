import {
  DeleteRuleCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { tailAws } from '../../cli/commands/events';
import type { Clients, CommandContext } from '../../cli/context';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/111122223333/tail';
const QUEUE_ARN = 'arn:aws:sqs:us-east-1:111122223333:tail';
const RULE_ARN = 'arn:aws:events:us-east-1:111122223333:rule/bakehouse-dev/tail';

const events = new EventBridgeClient({ region: 'us-east-1' });
const sqs = new SQSClient({ region: 'us-east-1' });
const eventsMock = mockClient(events);
const sqsMock = mockClient(sqs);

const context = (controller: AbortController) => {
  const out: string[] = [];
  const ctx = {
    names: { bus: 'bakehouse-dev', stateMachine: 'bakehouse-dev-bake', function: (id: string) => id },
    target: { endpoint: undefined, sandbox: false, region: 'us-east-1' },
    clients: { events, sqs } as unknown as Clients,
    io: { stdout: { write: (t: string) => out.push(t) }, stderr: { write: () => true }, env: {} },
    now: () => new Date('2026-11-29T10:00:00Z'),
    json: true,
    signal: controller.signal,
    pollMs: 1,
    sleep: async () => {},
  } as unknown as CommandContext;
  return { ctx, out };
};

const eventBody = (detailType: string) =>
  JSON.stringify({
    id: 'e1',
    time: '2026-11-29T10:00:00Z',
    source: 'bakehouse',
    'detail-type': detailType,
    detail: { family: 'f' },
  });

beforeEach(() => {
  eventsMock.reset();
  sqsMock.reset();
  sqsMock.on(CreateQueueCommand).resolves({ QueueUrl: QUEUE_URL });
  sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { QueueArn: QUEUE_ARN } });
  eventsMock.on(PutRuleCommand).resolves({ RuleArn: RULE_ARN });
});

describe('events tail on AWS', () => {
  it('creates a rule and a queue only the rule may send to, prints what arrives, and removes both at the end', async () => {
    // Prepare
    const controller = new AbortController();
    const { ctx, out } = context(controller);
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [{ Body: eventBody('AMI Baked'), ReceiptHandle: 'r1' }] })
      .callsFake(async () => {
        controller.abort();
        return { Messages: [] };
      });

    // Act
    await tailAws(ctx, { all: false });

    // Assess
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { id: 'e1', time: '2026-11-29T10:00:00Z', source: 'bakehouse', detailType: 'AMI Baked', detail: { family: 'f' } },
    ]);
    expect(eventsMock).toHaveReceivedCommandWith(PutRuleCommand, {
      EventBusName: 'bakehouse-dev',
      EventPattern: JSON.stringify({ source: [{ prefix: '' }] }),
    });
    const policy = JSON.parse(
      sqsMock.commandCalls(SetQueueAttributesCommand)[0]?.args[0].input.Attributes?.Policy ?? '{}',
    );
    expect(policy.Statement[0]).toMatchObject({
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: QUEUE_ARN,
      Condition: { ArnEquals: { 'aws:SourceArn': RULE_ARN } },
    });
    expect(eventsMock).toHaveReceivedCommandWith(PutTargetsCommand, { Targets: [{ Id: 'tail', Arn: QUEUE_ARN }] });
    expect(sqsMock).toHaveReceivedCommandWith(DeleteMessageBatchCommand, {
      Entries: [{ Id: '0', ReceiptHandle: 'r1' }],
    });
    expect(eventsMock).toHaveReceivedCommandTimes(RemoveTargetsCommand, 1);
    expect(eventsMock).toHaveReceivedCommandTimes(DeleteRuleCommand, 1);
    expect(sqsMock).toHaveReceivedCommandWith(DeleteQueueCommand, { QueueUrl: QUEUE_URL });
  });

  it('removes the queue and the rule when reading fails', async () => {
    // Prepare
    const { ctx } = context(new AbortController());
    sqsMock.on(ReceiveMessageCommand).rejects(new Error('boom'));

    // Act
    const outcome = await tailAws(ctx, { all: false }).catch((error: Error) => error.message);

    // Assess
    expect(outcome).toBe('boom');
    expect(eventsMock).toHaveReceivedCommandTimes(RemoveTargetsCommand, 1);
    expect(eventsMock).toHaveReceivedCommandTimes(DeleteRuleCommand, 1);
    expect(sqsMock).toHaveReceivedCommandTimes(DeleteQueueCommand, 1);
  });

  it('removes the queue when the rule cannot be created, and creates no target', async () => {
    const { ctx } = context(new AbortController());
    eventsMock.on(PutRuleCommand).rejects(new Error('denied'));
    await expect(tailAws(ctx, { all: false })).rejects.toThrow('denied');
    expect(sqsMock).toHaveReceivedCommandTimes(DeleteQueueCommand, 1);
    expect(eventsMock).not.toHaveReceivedCommand(PutTargetsCommand);
    expect(eventsMock).not.toHaveReceivedCommand(DeleteRuleCommand);
  });
});
