import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/commons/families';
import { type ScheduleTickDeps, scheduleTick } from '../../functions/schedule-tick/core';
import { childFamily, configInput, linuxFamily, recordingLogger, windowsFamily } from './support/bake-factories';

const events = mockClient(EventBridgeClient);

const tickDeps = (overrides: Partial<ScheduleTickDeps> = {}): ScheduleTickDeps => ({
  config: loadConfig(configInput([linuxFamily(), windowsFamily(), childFamily('al2023-base')])),
  events: new EventBridgeClient({}),
  target: { busName: 'bakehouse-bus', source: 'bakehouse' },
  logger: recordingLogger(),
  ...overrides,
});

beforeEach(() => {
  events.reset();
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-1' }] });
});

describe('scheduleTick', () => {
  it('puts a Bake Requested event for a cron family on every firing', async () => {
    // Prepare
    const scheduledTime = '2026-01-11T02:00:00Z';

    // Act
    const result = await scheduleTick({ family: 'al2023-base', scheduledTime }, tickDeps());

    // Assess
    expect(result).toEqual({
      status: 'requested',
      eventId: 'evt-1',
      idempotencyKey: 'schedule:al2023-base:2026-01-11T02:00:00.000Z',
    });
    const entry = events.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(entry).toMatchObject({ EventBusName: 'bakehouse-bus', Source: 'bakehouse', DetailType: 'Bake Requested' });
    expect(JSON.parse(entry?.Detail ?? '{}')).toEqual({
      version: '1.0',
      family: 'al2023-base',
      reason: 'scheduled: cron 0 3 ? * SUN * (Europe/Berlin)',
      requestedBy: 'bakehouse:schedule',
      idempotencyKey: 'schedule:al2023-base:2026-01-11T02:00:00.000Z',
      force: false,
    });
  });

  it('requests the Windows bake on the Wednesday after Patch Tuesday, New York time', async () => {
    // Prepare: Wednesday 14 January 2026, 04:00 in New York.
    const scheduledTime = '2026-01-14T09:00:00Z';

    // Act
    const result = await scheduleTick({ family: 'windows-2022-base', scheduledTime }, tickDeps());

    // Assess
    expect(result.status).toBe('requested');
    expect(events).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [expect.objectContaining({ Detail: expect.stringContaining('second TUE + 1 day of the month') })],
    });
  });

  it('lets the other Wednesdays pass without an event', async () => {
    // Prepare: Wednesday 7 January 2026, 04:00 in New York, the week before Patch Tuesday.
    const scheduledTime = '2026-01-07T09:00:00Z';
    const logger = recordingLogger();

    // Act
    const result = await scheduleTick({ family: 'windows-2022-base', scheduledTime }, tickDeps({ logger }));

    // Assess
    expect(result).toEqual({
      status: 'not-due',
      reason: 'not due: second TUE + 1 day of the month at 04:00 (America/New_York)',
    });
    expect(events).not.toHaveReceivedAnyCommand();
    expect(logger.info).toHaveBeenCalledWith('schedule fired outside its calendar window', expect.anything());
  });

  it('gives a retried firing the same idempotency key', async () => {
    // Prepare
    const input = { family: 'al2023-base', scheduledTime: '2026-01-11T02:00:00Z' };

    // Act
    const first = await scheduleTick(input, tickDeps());
    const retried = await scheduleTick(structuredClone(input), tickDeps());

    // Assess
    expect(first.status === 'requested' && retried.status === 'requested').toBe(true);
    expect(retried).toEqual(first);
  });

  it.each([
    ['an unknown family', 'al2022-base'],
    ['a family without a schedule', 'al2023-web'],
  ])('refuses %s and tells the operator to redeploy', async (_what, family) => {
    // Act
    const act = scheduleTick({ family, scheduledTime: '2026-01-11T02:00:00Z' }, tickDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'UnknownFamilyError',
      message: expect.stringMatching(new RegExp(`^schedule fired for '${family}', .*Fix: redeploy`)),
    });
    expect(events).not.toHaveReceivedAnyCommand();
  });

  it('refuses a scheduled time that is not a time', async () => {
    // Act
    const act = scheduleTick({ family: 'al2023-base', scheduledTime: 'next sunday' }, tickDeps());

    // Assess
    await expect(act).rejects.toThrow("scheduledTime 'next sunday' is not an ISO 8601 time");
  });

  it('fails when EventBridge does not take the event, so Scheduler retries the firing', async () => {
    // Prepare
    events
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }] });

    // Act
    const act = scheduleTick({ family: 'al2023-base', scheduledTime: '2026-01-11T02:00:00Z' }, tickDeps());

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'PublishError',
      message: "could not put 'Bake Requested' on bakehouse-bus: InternalFailure try again",
    });
  });
});
