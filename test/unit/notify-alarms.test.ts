/**
 * CloudWatch alarms in Slack: the notifier accepts CloudWatch's own `CloudWatch Alarm State
 * Change` event (its zod schema), renders ALARM as a red message and OK after ALARM as a resolved
 * one, and says nothing for INSUFFICIENT_DATA or an OK that resolves nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../functions/commons/families';
import {
  type AlarmStateChange,
  alarmConsoleUrl,
  alarmStateChangeSchema,
  parseAlarmEvent,
} from '../../functions/notify/alarms';
import { type NotifyDeps, notify } from '../../functions/notify/core';
import { alarmMessage } from '../../functions/notify/messages';
import type { PostArguments, SlackPort } from '../../functions/notify/slack';
import { configInput, linuxFamily, recordingLogger } from './support/bake-factories';
import { type MemoryNotifyStore, memoryNotifyStore } from './support/memory-notify-store';
import { LINKS } from './support/notify-events';

const FIXTURE = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'cloudwatch', 'alarm-state-change.json'), 'utf8'),
) as AlarmStateChange;
const ALARM_NAME = 'bakehouse-dev-BakeExecutionsFailed';

/** CloudWatch's event for the failed-bake alarm, in `state` after `previous`. */
const alarmEvent = (
  state: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA' = 'ALARM',
  previous: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA' = 'OK',
  id = FIXTURE.id,
) => {
  const event = structuredClone(FIXTURE) as AlarmStateChange & { detail: Record<string, unknown> };
  return {
    ...event,
    id,
    detail: {
      ...event.detail,
      state: { ...event.detail.state, value: state },
      previousState: { ...event.detail.previousState, value: previous },
    },
  };
};

const textOf = (message: { text: string; blocks: unknown[] }): string => JSON.stringify(message);

describe('the CloudWatch Alarm State Change schema', () => {
  it("accepts CloudWatch's event as the User Guide shows it", () => {
    // Act
    const parsed = parseAlarmEvent(alarmEvent());

    // Assess
    expect(parsed.detail.alarmName).toBe(ALARM_NAME);
    expect(parsed.detail.state.value).toBe('ALARM');
    expect(parsed.detail.configuration?.metrics?.[0]?.metricStat?.metric.name).toBe('ExecutionsFailed');
  });

  it('lets through fields CloudWatch adds later, and a metric math alarm without metricStat', () => {
    // Prepare
    const event = alarmEvent() as Record<string, unknown> & { detail: Record<string, unknown> };
    event.detail = {
      ...event.detail,
      newField: { anything: true },
      configuration: { metrics: [{ id: 'e1', expression: 'm1 + m2', label: 'all errors', returnData: true }] },
    };

    // Act
    const result = alarmStateChangeSchema.safeParse(event);

    // Assess
    expect(result.success).toBe(true);
  });

  it('rejects an event without an alarm name, naming the field', () => {
    // Prepare
    const event = alarmEvent() as { detail: Record<string, unknown> };
    delete event.detail.alarmName;

    // Act and Assess
    expect(() => parseAlarmEvent(event)).toThrowError(
      /InvalidEvent|rejected CloudWatch Alarm State Change .*detail\.alarmName/,
    );
    expect(() => parseAlarmEvent(event)).toThrowError(/detail\.alarmName/);
  });

  it('rejects a state CloudWatch does not have, naming the field', () => {
    // Prepare
    const event = alarmEvent() as unknown as { detail: { state: { value: string } } };
    event.detail.state.value = 'BROKEN';

    // Act and Assess
    expect(() => parseAlarmEvent(event)).toThrowError(/detail\.state\.value/);
  });
});

describe('the alarm message', () => {
  it('is red for ALARM, with the alarm, both states, the reason, the metric and a console link', () => {
    // Act
    const message = alarmMessage(parseAlarmEvent(alarmEvent('ALARM', 'OK')));

    // Assess
    expect(message).toBeDefined();
    const text = textOf(message as NonNullable<typeof message>);
    expect(message?.blocks[0]).toMatchObject({ type: 'header' });
    expect(JSON.stringify(message?.blocks[0])).toContain(':red_circle: ALARM: bakehouse-dev-BakeExecutionsFailed');
    expect(message?.text).toContain('ALARM bakehouse-dev-BakeExecutionsFailed (OK → ALARM): A bake failed');
    expect(text).toContain('OK → ALARM');
    expect(text).toContain('Threshold Crossed: 1 out of the last 1 datapoints');
    expect(text).toContain(
      'AWS/States ExecutionsFailed (StateMachineArn=arn:aws:states:eu-west-1:111122223333:stateMachine:bakehouse-dev-bake), Sum over 300s',
    );
    expect(text).toContain(
      'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/bakehouse-dev-BakeExecutionsFailed',
    );
    // The reason data is CloudWatch's evaluation record, not for people.
    expect(text).not.toContain('recentDatapoints');
  });

  it('says resolved for OK after ALARM', () => {
    // Act
    const message = alarmMessage(parseAlarmEvent(alarmEvent('OK', 'ALARM')));

    // Assess
    expect(JSON.stringify(message?.blocks[0])).toContain(
      ':large_green_circle: Resolved: bakehouse-dev-BakeExecutionsFailed',
    );
    expect(message?.text).toBe('Resolved: bakehouse-dev-BakeExecutionsFailed is OK again (ALARM → OK)');
  });

  it.each([
    ['INSUFFICIENT_DATA', 'OK'],
    ['INSUFFICIENT_DATA', 'ALARM'],
    ['OK', 'INSUFFICIENT_DATA'],
  ] as const)('is none for %s after %s', (state, previous) => {
    expect(alarmMessage(parseAlarmEvent(alarmEvent(state, previous)))).toBeUndefined();
  });

  it('escapes the alarm name in the console link', () => {
    expect(alarmConsoleUrl('us-east-1', 'a b/c')).toBe(
      'https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/a%20b%2Fc',
    );
  });
});

// --- the notifier -----------------------------------------------------------------------------

let store: MemoryNotifyStore;

beforeEach(() => {
  store = memoryNotifyStore();
});

const fakeSlack = () => {
  const posts: PostArguments[] = [];
  const port: SlackPort = {
    mode: 'web-api',
    post: vi.fn(async (message: PostArguments) => {
      posts.push(message);
      return { channel: 'C0BAKEHOUSE', ts: `1700000000.${String(posts.length).padStart(6, '0')}` };
    }),
    update: vi.fn(async () => undefined),
  };
  return { port, posts };
};

const deps = (slack: SlackPort): NotifyDeps => {
  const input = configInput([linuxFamily()]);
  return {
    config: loadConfig({ ...input, settings: { ...input.settings, slack: { channel: '#bakehouse-alerts' } } }),
    store,
    slack: async () => slack,
    links: LINKS,
    clock: () => new Date('2026-01-14T09:05:00Z'),
    sleep: async () => undefined,
    logger: recordingLogger(),
    metrics: { count: vi.fn() },
    owner: 'request-1',
  };
};

describe('notify, for a Bakehouse alarm', () => {
  it('posts the ALARM message of its own to the default channel', async () => {
    // Prepare
    const slack = fakeSlack();

    // Act
    const result = await notify(alarmEvent('ALARM', 'OK'), deps(slack.port));

    // Assess
    expect(result).toMatchObject({ outcome: 'sent', messages: 1, key: `alarm-${ALARM_NAME}` });
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]?.channel).toBe('#bakehouse-alerts');
    expect(slack.posts[0]?.threadTs).toBeUndefined();
    expect(slack.posts[0]?.text).toContain(`ALARM ${ALARM_NAME}`);
    expect(store.records.has(`alarm-${ALARM_NAME}`)).toBe(true);
  });

  it('posts a redelivered state change once', async () => {
    // Prepare
    const slack = fakeSlack();
    const d = deps(slack.port);

    // Act
    await notify(alarmEvent('ALARM', 'OK', 'same-event'), d);
    const again = await notify(alarmEvent('ALARM', 'OK', 'same-event'), d);

    // Assess
    expect(again.outcome).toBe('duplicate');
    expect(slack.posts).toHaveLength(1);
  });

  it('posts ALARM, then the resolved message when the alarm is OK again', async () => {
    // Prepare
    const slack = fakeSlack();
    const d = deps(slack.port);

    // Act
    await notify(alarmEvent('ALARM', 'OK', 'first'), d);
    await notify(alarmEvent('OK', 'ALARM', 'second'), d);

    // Assess
    expect(slack.posts.map((p) => p.text)).toEqual([
      `ALARM ${ALARM_NAME} (OK → ALARM): A bake failed`,
      `Resolved: ${ALARM_NAME} is OK again (ALARM → OK)`,
    ]);
  });

  it('ignores INSUFFICIENT_DATA without asking Slack, and says so', async () => {
    // Prepare
    const slack = fakeSlack();
    const d = deps(slack.port);

    // Act
    const result = await notify(alarmEvent('INSUFFICIENT_DATA', 'OK'), d);

    // Assess
    expect(result).toEqual({ outcome: 'ignored', messages: 0 });
    expect(slack.posts).toHaveLength(0);
    expect(d.logger.info).toHaveBeenCalledWith(
      expect.stringContaining('not news'),
      expect.objectContaining({ alarmName: ALARM_NAME, state: 'INSUFFICIENT_DATA' }),
    );
  });

  it('reports a CloudWatch event it cannot read as rejected, naming the field, instead of failing', async () => {
    // Prepare
    const slack = fakeSlack();
    const event = alarmEvent() as { detail: Record<string, unknown> };
    delete event.detail.state;

    // Act
    const result = await notify(event, deps(slack.port));

    // Assess: one message, no retry (a retry cannot fix it), and no contract schema file to point at
    expect(result.outcome).toBe('rejected');
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]?.text).toMatch(/^CloudWatch Alarm State Change event rejected/);
    const blocks = JSON.stringify(slack.posts[0]?.blocks);
    expect(blocks).toContain('detail.state');
    expect(blocks).not.toContain('schemas/events/');
  });
});
