/**
 * `events tail` says on stderr what it watches (issue 18): the bus, the target and since when, so
 * an idle tail is not a silent terminal. stdout keeps only the events (--json stays parseable).
 */
import { EventBridgeClient, PutRuleCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { eventsTailCommand } from '../../cli/commands/events';
import type { Clients, CommandContext, Target } from '../../cli/context';

const NOW = new Date('2026-12-05T22:00:00.000Z');

const context = (target: Target, json: boolean) => {
  const out: string[] = [];
  const err: string[] = [];
  const events = new EventBridgeClient({ region: 'us-east-1' });
  const sqs = new SQSClient({ region: 'us-east-1' });
  // The first wait between polls (or the first read of the queue) ends the tail.
  const controller = new AbortController();
  const ctx = {
    names: { bus: 'bakehouse-dev', stateMachine: 'bakehouse-dev-bake', function: (id: string) => id },
    target,
    clients: { events, sqs } as unknown as Clients,
    io: { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, env: {} },
    json,
    now: () => NOW,
    signal: controller.signal,
    pollMs: 1,
    sleep: async () => controller.abort(),
  } as unknown as CommandContext;
  return { ctx, out, err, events, sqs, stop: () => controller.abort() };
};

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('events tail on the sandbox', () => {
  it.each([false, true])('names the bus, the sandbox and the start time on stderr (json %s)', async (json) => {
    // Prepare: an event log with nothing new.
    const fetched: string[] = [];
    vi.stubGlobal('fetch', async (url: URL) => {
      fetched.push(String(url));
      return new Response('[]', { status: 200 });
    });
    const { ctx, out, err } = context({ endpoint: 'http://127.0.0.1:4690', sandbox: true, region: 'us-east-1' }, json);

    // Act
    await eventsTailCommand(ctx, { all: false, forSeconds: 60 });

    // Assess
    expect(err.join('')).toBe(
      'watching bus bakehouse-dev on the sandbox at http://127.0.0.1:4690 for events from 2026-12-05T22:00:00.000Z on (Ctrl-C stops)\n',
    );
    expect(out).toEqual([]);
    expect(fetched[0]).toBe('http://127.0.0.1:4690/_sandbox/events?bus=bakehouse-dev');
  });

  it('with --all says it starts from the first event the sandbox logged', async () => {
    vi.stubGlobal('fetch', async () => new Response('[]', { status: 200 }));
    const { ctx, err } = context({ endpoint: 'http://127.0.0.1:4690', sandbox: true, region: 'us-east-1' }, false);
    await eventsTailCommand(ctx, { all: true, forSeconds: 60 });
    expect(err.join('')).toContain('for every event it logged, then new ones');
  });
});

describe('events tail on AWS', () => {
  it('names the bus, the region, the rule and queue, and the start time on stderr, also with --json', async () => {
    const { ctx, err, events, sqs, stop } = context({ endpoint: undefined, sandbox: false, region: 'eu-west-1' }, true);
    const eventsMock = mockClient(events);
    const sqsMock = mockClient(sqs);
    sqsMock.on(CreateQueueCommand).resolves({ QueueUrl: 'https://sqs/q' });
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { QueueArn: 'arn:aws:sqs:eu-west-1:1:q' } });
    sqsMock.on(ReceiveMessageCommand).callsFake(async () => {
      stop();
      return { Messages: [] };
    });
    eventsMock.on(PutRuleCommand).resolves({ RuleArn: 'arn:aws:events:eu-west-1:1:rule/r' });

    await eventsTailCommand(ctx, { all: false, forSeconds: 60 });

    expect(err.join('')).toMatch(
      /^watching bus bakehouse-dev on AWS \(eu-west-1\) for events from 2026-12-05T22:00:00\.000Z on, through rule and queue bakehouse-cli-tail-[0-9a-f]{8} \(Ctrl-C stops and removes them\)\n$/,
    );
  });
});
