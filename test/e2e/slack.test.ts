/**
 * The Slack notifier in the sandbox provisioned from the stacks, its secret pointed at the
 * sandbox's Slack sink: a whole bake is one parent message updated in place with a thread of
 * replies; a 429 storm and a 500 are survived; a message over Slack's limits is cut, not refused;
 * another team's malformed request is one rejection message, and never a Slack failure (NotifyFailed).
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetFunctionEventInvokeConfigCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { type CfnTemplate, type ProvisionReport, readAssemblyStack } from '@bakehouse/sandbox';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alarmStateChangeFor } from '../../dev/start/alarm';
import { synthesizeForSandbox } from '../../dev/synth';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { DetailType } from '../../functions/commons/events';
import { details } from '../unit/support/notify-events';
import { connectSlackAndLaunchTemplate, startProvisionedSandbox } from './support/stack';

const BUS = 'bakehouse-dev';

interface SlackCall {
  readonly seq: number;
  readonly method: 'webhook' | 'chat.postMessage' | 'chat.update';
  readonly channel?: string;
  readonly ts?: string;
  readonly accepted: boolean;
  readonly outcome: string;
  readonly status: number;
  readonly payload: { text?: string; thread_ts?: string; blocks?: unknown[] } & Record<string, unknown>;
  readonly problems?: string[];
}

let sandbox: TestSandbox;
let report: ProvisionReport;
let events: EventBridgeClient;
let template: CfnTemplate;

beforeAll(async () => {
  // startProvisionedSandbox provisions with the clock still and without the schedules: at 1200x
  // the Sunday schedule bakes al2023-base in the background on a Saturday evening (UTC), and this
  // file's request was answered 'skipped (already baked)' (clean-clone run at 00:46 UTC).
  ({ sandbox, report } = await startProvisionedSandbox(1200));
  const assembly = await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
  template = readAssemblyStack(assembly.assemblyDir, report.stack).template;
  events = new EventBridgeClient(sandbox.clientConfig);
  await connectSlackAndLaunchTemplate(sandbox, report);
}, 180_000);

afterAll(async () => {
  events?.destroy();
  await sandbox?.stop();
});

const slackCalls = async (): Promise<SlackCall[]> =>
  ((await sandbox.control('GET', '/_sandbox/slack/messages')).body as { messages: SlackCall[] }).messages;

const put = async (detailType: string, detail: Record<string, unknown>, source = 'bakehouse'): Promise<void> => {
  const sent = await events.send(
    new PutEventsCommand({
      Entries: [{ EventBusName: BUS, Source: source, DetailType: detailType, Detail: JSON.stringify(detail) }],
    }),
  );
  expect(sent.FailedEntryCount).toBe(0);
};

/** Waits (real time) until `check` returns a value. */
const until = async <T>(description: string, check: (calls: SlackCall[]) => T | undefined, timeoutMs = 90_000) => {
  const deadline = Date.now() + timeoutMs;
  let calls: SlackCall[] = [];
  while (Date.now() < deadline) {
    calls = await slackCalls();
    const found = check(calls);
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(
    `${description} within ${timeoutMs} ms; Slack saw ${JSON.stringify(calls.map((c) => [c.method, c.outcome, c.payload.text]))}`,
  );
};

describe("another team's malformed Bake Requested", () => {
  it('is one message saying it was rejected and why, and leaves NotifyFailed empty', async () => {
    // Prepare
    const lambda = new LambdaClient(sandbox.clientConfig);
    const config = await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'bakehouse-dev-Notify' }));
    lambda.destroy();
    const notifyFailed = config.DestinationConfig?.OnFailure?.Destination ?? '';
    expect(notifyFailed).toMatch(/NotifyFailed/);
    const isRejection = (c: SlackCall) => String(c.payload.text).startsWith('Bake request rejected');

    // Act: no requestedBy
    await put(
      DetailType.BakeRequested,
      { version: '1.0', family: 'al2023-base', reason: 'slack e2e: malformed' },
      'team.payments',
    );
    const rejection = await until('a rejection message', (calls) => calls.find((c) => c.accepted && isRejection(c)));
    // Lambda's retries (1 and 2 sandbox minutes) would have run within this (1 s real is 20 sandbox minutes).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const queued = (await sandbox.control('GET', `/_sandbox/dlq?queue=${encodeURIComponent(notifyFailed)}`))
      .body as unknown[];

    // Assess
    expect(String(rejection.payload.text)).toContain('from team.payments');
    expect(JSON.stringify(rejection.payload.blocks)).toContain('• requestedBy: ');
    expect((await slackCalls()).filter(isRejection)).toHaveLength(1);
    expect(queued).toEqual([]);
  });
});

describe('a whole bake in Slack', () => {
  it('is one parent message, updated in place, with a thread of replies', async () => {
    // Act
    await put(
      DetailType.BakeRequested,
      { family: 'al2023-base', requestedBy: 'team-web', idempotencyKey: 'slack-e2e-1' },
      'cli',
    );
    const bakeId = bakeIdFor('al2023-base', 'slack-e2e-1');
    const calls = await until('the stable promotion in the thread and the parent promoted', (all) => {
      const mine = all.filter((c) => JSON.stringify(c.payload).includes(bakeId) || c.payload.thread_ts);
      const parent = mine.find((c) => c.method === 'chat.postMessage' && !c.payload.thread_ts && c.accepted);
      if (!parent?.ts) return undefined;
      const thread = all.filter((c) => c.payload.thread_ts === parent.ts && c.accepted);
      const updates = all.filter((c) => c.method === 'chat.update' && c.ts === parent.ts && c.accepted);
      const done =
        thread.some((c) => String(c.payload.text).includes('stable now points at')) &&
        updates.some((c) => String(c.payload.text).includes('promoted'));
      return done ? { parent, thread, updates, mine } : undefined;
    });

    // Assess
    const parents = calls.mine.filter((c) => c.method === 'chat.postMessage' && !c.payload.thread_ts);
    expect(parents).toHaveLength(1);
    expect(calls.parent.channel).toMatch(/^C/);
    expect(calls.updates.length).toBeGreaterThanOrEqual(4);
    expect(calls.updates.every((u) => u.channel === calls.parent.channel)).toBe(true);
    const replies = calls.thread.map((c) => String(c.payload.text));
    for (const expected of [
      'requested by team-web',
      'started',
      'baked',
      'passed its tests',
      'dev now points at',
      'stable now points at',
    ]) {
      expect(
        replies.some((r) => r.includes(expected)),
        `a reply saying '${expected}' in ${replies.join(' | ')}`,
      ).toBe(true);
    }
  }, 150_000);
});

describe('Slack failing', () => {
  const janitor = (runId: string) => ({ ...details.janitor(), runId });
  const janitorPost = (runId: string) => (all: SlackCall[]) =>
    all.filter((c) => JSON.stringify(c.payload).includes(runId));

  it('survives a 429 storm: the message arrives after Retry-After', async () => {
    // Prepare
    await sandbox.control('POST', '/_sandbox/slack/faults', { status: 429, retryAfter: 1, times: 3 });

    // Act
    await put(DetailType.JanitorReport, janitor('e2e-storm-429'));

    // Assess
    const calls = await until('the janitor report accepted after the 429s', (all) => {
      const mine = janitorPost('e2e-storm-429')(all);
      return mine.some((c) => c.accepted) ? mine : undefined;
    });
    expect(calls.filter((c) => c.status === 429).length).toBeGreaterThanOrEqual(1);
    expect(calls.filter((c) => c.accepted)).toHaveLength(1);
  }, 60_000);

  it('survives a 500: the message arrives after the retry', async () => {
    // Prepare
    await sandbox.control('POST', '/_sandbox/slack/faults', { status: 500, times: 2 });

    // Act
    await put(DetailType.JanitorReport, janitor('e2e-storm-500'));

    // Assess
    const calls = await until('the janitor report accepted after the 500s', (all) => {
      const mine = janitorPost('e2e-storm-500')(all);
      return mine.some((c) => c.accepted) ? mine : undefined;
    });
    expect(calls.filter((c) => c.status === 500).length).toBeGreaterThanOrEqual(1);
    expect(calls.filter((c) => c.accepted)).toHaveLength(1);
  }, 60_000);
});

describe('an oversize message', () => {
  it('is cut to Slack limits and accepted, not refused', async () => {
    // Prepare: a failure whose reason alone is 100,000 characters
    const bakeId = 'al2023-base-ffffffffffffffffffffffffffffffff';
    const reason = `AutomationFailed: ${'dnf: cannot download metadata; '.repeat(3300)}`;

    // Act
    await put(DetailType.BakeFailed, { ...details.failed(), bakeId, reason });

    // Assess
    const calls = await until(
      'the failure and its reply',
      (all) => {
        const parent = all.find(
          (c) => c.method === 'chat.postMessage' && JSON.stringify(c.payload).includes(bakeId) && c.accepted,
        );
        const reply = parent && all.find((c) => c.payload.thread_ts === parent.ts);
        return reply ? { parent, reply, all } : undefined;
      },
      45_000,
    ).catch(async (error: Error) => {
      const logs = await sandbox.control('GET', '/_sandbox/lambda/logs?function=bakehouse-dev-Notify');
      throw new Error(`${error.message}\n${JSON.stringify(logs.body).slice(-3000)}`);
    });
    expect(calls.reply.accepted, JSON.stringify(calls.reply.problems)).toBe(true);
    expect(JSON.stringify(calls.reply.payload)).toContain('more characters');
    expect(calls.all.filter((c) => c.outcome === 'invalid_blocks')).toEqual([]);
    const parents = calls.all.filter(
      (c) => c.method === 'chat.postMessage' && !c.payload.thread_ts && JSON.stringify(c.payload).includes(bakeId),
    );
    expect(parents).toHaveLength(1);
  }, 60_000);
});

describe('a Bakehouse alarm in Slack', () => {
  /** CloudWatch's event for the template's alarm `name` (alarms are not emulated: it is emitted as AWS would). */
  const emitAlarm = async (alarmName: string, state: 'ALARM' | 'OK', previousState: 'ALARM' | 'OK', reason: string) => {
    const event = alarmStateChangeFor({
      template,
      alarmName,
      account: '000000000000',
      region: 'us-east-1',
      physicalIds: Object.fromEntries(report.created.map((r) => [r.logicalId, r.physicalId])),
      state,
      previousState,
      reason,
      time: new Date(),
    });
    const reply = await sandbox.control('POST', '/_sandbox/events/emit', event);
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  };

  it('posts ALARM for a Bakehouse alarm through the NotifyAlarms rule on the default bus, then its resolution', async () => {
    // Act
    await emitAlarm('bakehouse-dev-NotifyFailedQueueNotEmpty', 'ALARM', 'OK', 'Threshold Crossed: e2e alarm');

    // Assess
    const alarm = await until('the ALARM message', (all) =>
      all.find((c) => c.accepted && String(c.payload.text).startsWith('ALARM bakehouse-dev-NotifyFailedQueueNotEmpty')),
    );
    expect(alarm.method).toBe('chat.postMessage');
    expect(alarm.payload.thread_ts).toBeUndefined();
    const blocks = JSON.stringify(alarm.payload.blocks);
    expect(blocks).toContain(':red_circle: ALARM: bakehouse-dev-NotifyFailedQueueNotEmpty');
    expect(blocks).toContain('Threshold Crossed: e2e alarm');
    expect(blocks).toContain('AWS/SQS ApproximateNumberOfMessagesVisible (QueueName=');
    expect(blocks).toContain('#alarmsV2:alarm/bakehouse-dev-NotifyFailedQueueNotEmpty');

    // Act: the alarm is OK again
    await emitAlarm('bakehouse-dev-NotifyFailedQueueNotEmpty', 'OK', 'ALARM', 'Threshold Crossed: back to 0');

    // Assess
    await until('the resolved message', (all) =>
      all.find(
        (c) => c.accepted && String(c.payload.text).startsWith('Resolved: bakehouse-dev-NotifyFailedQueueNotEmpty'),
      ),
    );
  }, 60_000);

  it("leaves another stack's alarm to its owners: no rule takes it", async () => {
    // Prepare: an alarm of the template, renamed as another stage's would be
    const event = alarmStateChangeFor({
      template,
      alarmName: 'bakehouse-dev-BakeExecutionsFailed',
      account: '000000000000',
      region: 'us-east-1',
      reason: 'Threshold Crossed: another stage',
      time: new Date(),
    });
    const foreign = { ...event, detail: { ...event.detail, alarmName: 'bakehouse-dev-alice-BakeExecutionsFailed' } };

    // Act
    const reply = await sandbox.control('POST', '/_sandbox/events/emit', foreign);

    // Assess
    expect(reply.status).toBe(200);
    type Logged = { event: { detail: { alarmName?: string } }; matchedRules: string[] };
    const body = (await sandbox.control('GET', '/_sandbox/events?bus=default')).body as Logged[] | { events: Logged[] };
    const log = Array.isArray(body) ? body : body.events;
    const entry = log.find((e) => e.event.detail.alarmName === 'bakehouse-dev-alice-BakeExecutionsFailed');
    expect(entry?.matchedRules).toEqual([]);
  });
});
