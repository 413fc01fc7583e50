import {
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  CreateScheduleGroupCommand,
  DeleteScheduleCommand,
  DeleteScheduleGroupCommand,
  GetScheduleCommand,
  GetScheduleGroupCommand,
  ListScheduleGroupsCommand,
  ListSchedulesCommand,
  SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, type FakeTargets, fakeTargets } from '../../src/testing/fake-targets';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/scheduler`;
const lambdaArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
const queueArn = (name: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;

interface Firing {
  scheduleArn: string;
  scheduledTime: string;
  executionId: string;
  targetArn: string;
  status: string;
  attempts: number;
  error?: string;
}

let sandbox: TestSandbox;
let targets: FakeTargets;
let scheduler: SchedulerClient;

const schedule = (overrides: Partial<CreateScheduleCommandInput> = {}): CreateScheduleCommandInput => ({
  Name: 'nightly',
  ScheduleExpression: 'cron(30 9 * * ? *)',
  ScheduleExpressionTimezone: 'America/New_York',
  FlexibleTimeWindow: { Mode: 'OFF' },
  Target: { Arn: lambdaArn('tick'), RoleArn: ROLE, Input: '{}' },
  ...overrides,
});

const firings = async (): Promise<Firing[]> =>
  (await sandbox.control('GET', '/_sandbox/schedules/firings')).body as Firing[];

/** Moves the sandbox clock to an instant (forward only). */
const clockTo = async (iso: string): Promise<void> => {
  const { now } = (await sandbox.control('GET', '/_sandbox/clock')).body as { now: string };
  const seconds = (Date.parse(iso) - Date.parse(now)) / 1000;
  if (seconds < 0) throw new Error(`the clock is already past ${iso}`);
  await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: seconds });
};

const firingCount = (count: number) =>
  eventually(async () => {
    const found = await firings();
    return found.length >= count && found.every((f) => f.status !== 'pending') ? found : undefined;
  });

/** Waits a few pump rounds, then returns the firings (for asserting that nothing fired). */
const quietFirings = async (): Promise<Firing[]> => {
  await new Promise((resolve) => setTimeout(resolve, 150));
  return firings();
};

beforeEach(async () => {
  targets = fakeTargets();
  sandbox = await startTestSandbox({ services: [targets.lambda, targets.states] });
  scheduler = new SchedulerClient(sandbox.clientConfig);
});

afterEach(async () => {
  scheduler.destroy();
  await sandbox.stop();
});

describe('schedule groups', () => {
  it('has a default group and creates, lists, gets and deletes others', async () => {
    const { ScheduleGroupArn } = await scheduler.send(new CreateScheduleGroupCommand({ Name: 'bakes' }));
    expect(ScheduleGroupArn).toBe(`arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/bakes`);
    expect((await failure(scheduler.send(new CreateScheduleGroupCommand({ Name: 'bakes' })))).name).toBe(
      'ConflictException',
    );
    const groups = await scheduler.send(new ListScheduleGroupsCommand({}));
    expect(groups.ScheduleGroups?.map((g) => g.Name)).toEqual(['bakes', 'default']);
    expect((await scheduler.send(new GetScheduleGroupCommand({ Name: 'bakes' }))).State).toBe('ACTIVE');
    await scheduler.send(new DeleteScheduleGroupCommand({ Name: 'bakes' }));
    expect((await failure(scheduler.send(new GetScheduleGroupCommand({ Name: 'bakes' })))).name).toBe(
      'ResourceNotFoundException',
    );
  });
});

describe('schedules', () => {
  it('creates, gets, updates, lists and deletes a schedule', async () => {
    await scheduler.send(new CreateScheduleGroupCommand({ Name: 'bakes' }));
    const { ScheduleArn } = await scheduler.send(new CreateScheduleCommand(schedule({ GroupName: 'bakes' })));
    expect(ScheduleArn).toBe(`arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/bakes/nightly`);
    const conflict = await failure(scheduler.send(new CreateScheduleCommand(schedule({ GroupName: 'bakes' }))));
    expect(conflict.name).toBe('ConflictException');

    const got = await scheduler.send(new GetScheduleCommand({ Name: 'nightly', GroupName: 'bakes' }));
    expect(got).toMatchObject({
      Name: 'nightly',
      GroupName: 'bakes',
      State: 'ENABLED',
      ScheduleExpressionTimezone: 'America/New_York',
      Target: { Arn: lambdaArn('tick'), RoleArn: ROLE },
    });
    expect(got.CreationDate).toBeInstanceOf(Date);

    await scheduler.send(
      new UpdateScheduleCommand(schedule({ GroupName: 'bakes', State: 'DISABLED', Description: 'paused' })),
    );
    expect((await scheduler.send(new GetScheduleCommand({ Name: 'nightly', GroupName: 'bakes' }))).State).toBe(
      'DISABLED',
    );

    await scheduler.send(new CreateScheduleCommand(schedule({ Name: 'other' })));
    const inBakes = await scheduler.send(new ListSchedulesCommand({ GroupName: 'bakes' }));
    expect(inBakes.Schedules?.map((s) => s.Name)).toEqual(['nightly']);
    const disabled = await scheduler.send(new ListSchedulesCommand({ State: 'DISABLED' }));
    expect(disabled.Schedules?.map((s) => s.Name)).toEqual(['nightly']);
    const page = await scheduler.send(new ListSchedulesCommand({ MaxResults: 1 }));
    expect(page.Schedules).toHaveLength(1);
    const rest = await scheduler.send(new ListSchedulesCommand({ MaxResults: 1, NextToken: page.NextToken }));
    expect(rest.Schedules).toHaveLength(1);
    expect(rest.NextToken).toBeUndefined();

    await scheduler.send(new DeleteScheduleCommand({ Name: 'nightly', GroupName: 'bakes' }));
    const gone = await failure(scheduler.send(new GetScheduleCommand({ Name: 'nightly', GroupName: 'bakes' })));
    expect(gone.name).toBe('ResourceNotFoundException');
  });

  it('refuses a malformed expression or time zone', async () => {
    const badCron = await failure(
      scheduler.send(new CreateScheduleCommand(schedule({ ScheduleExpression: 'cron(0 9 * * * *)' }))),
    );
    expect(badCron.name).toBe('ValidationException');
    const badZone = await failure(
      scheduler.send(new CreateScheduleCommand(schedule({ ScheduleExpressionTimezone: 'Mars/Olympus' }))),
    );
    expect(badZone.name).toBe('ValidationException');
  });
});

describe('firing on the sandbox clock', () => {
  it('fires a New York cron at its local time in summer and winter, and only the latest missed occurrence', async () => {
    await scheduler.send(new CreateScheduleCommand(schedule()));

    await clockTo('2030-07-01T13:29:00Z');
    const missed = await firingCount(1);
    expect(missed.map((f) => f.scheduledTime)).toEqual(['2030-06-30T13:30:00Z']);

    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 60 });
    const summer = await firingCount(2);
    expect(summer[1]?.scheduledTime).toBe('2030-07-01T13:30:00Z');

    await clockTo('2031-01-10T14:29:00Z');
    await firingCount(3);
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 60 });
    const winter = await firingCount(4);
    expect(winter.map((f) => f.scheduledTime).slice(2)).toEqual(['2031-01-09T14:30:00Z', '2031-01-10T14:30:00Z']);
    expect(targets.invocations.filter((i) => i.functionName === 'tick')).toHaveLength(4);
  });

  it('skips a Berlin wall time that the spring change removes', async () => {
    // 2031-03-30: 02:00 CET becomes 03:00 CEST, so 02:30 does not happen that day.
    await scheduler.send(
      new CreateScheduleCommand(
        schedule({ ScheduleExpression: 'cron(30 2 * * ? *)', ScheduleExpressionTimezone: 'Europe/Berlin' }),
      ),
    );
    await clockTo('2031-03-29T01:31:00Z');
    expect((await firingCount(1)).map((f) => f.scheduledTime)).toEqual(['2031-03-29T01:30:00Z']);

    await clockTo('2031-03-31T00:29:00Z');
    expect(await quietFirings()).toHaveLength(1);
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 60 });
    expect((await firingCount(2)).map((f) => f.scheduledTime)).toEqual([
      '2031-03-29T01:30:00Z',
      '2031-03-31T00:30:00Z',
    ]);
  });

  it('substitutes the context placeholders in the Input', async () => {
    const { ScheduleArn } = await scheduler.send(
      new CreateScheduleCommand(
        schedule({
          ScheduleExpression: 'at(2030-05-01T08:00:00)',
          ScheduleExpressionTimezone: 'Europe/Berlin',
          Target: {
            Arn: lambdaArn('with-context'),
            RoleArn: ROLE,
            Input:
              '{"at":"<aws.scheduler.scheduled-time>","execution":"<aws.scheduler.execution-id>","attempt":"<aws.scheduler.attempt-number>","schedule":"<aws.scheduler.schedule-arn>"}',
          },
        }),
      ),
    );
    await clockTo('2030-05-01T06:00:00Z');
    const [firing] = await firingCount(1);

    const payload = JSON.parse(targets.invocations.find((i) => i.functionName === 'with-context')?.payload ?? '{}');
    expect(payload).toEqual({
      at: '2030-05-01T06:00:00Z',
      execution: firing?.executionId,
      attempt: '1',
      schedule: ScheduleArn,
    });
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 86_400 });
    expect(await quietFirings()).toHaveLength(1);
  });

  it('does not fire a DISABLED schedule, and fires a rate schedule at once when enabled', async () => {
    await scheduler.send(
      new CreateScheduleCommand(
        schedule({ Name: 'every-5', ScheduleExpression: 'rate(5 minutes)', State: 'DISABLED' }),
      ),
    );
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 900 });
    expect(await quietFirings()).toHaveLength(0);

    await scheduler.send(
      new UpdateScheduleCommand(schedule({ Name: 'every-5', ScheduleExpression: 'rate(5 minutes)' })),
    );
    await firingCount(1);
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 300 });
    expect(await firingCount(2)).toHaveLength(2);
  });

  it('puts an event on a bus for an EventBridge target', async () => {
    await scheduler.send(
      new CreateScheduleCommand(
        schedule({
          ScheduleExpression: 'at(2030-02-01T00:00:00)',
          ScheduleExpressionTimezone: 'UTC',
          Target: {
            Arn: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`,
            RoleArn: ROLE,
            Input: '{"family":"al2023-base","at":"<aws.scheduler.scheduled-time>"}',
            EventBridgeParameters: { Source: 'bakehouse.schedule', DetailType: 'Bake Due' },
          },
        }),
      ),
    );
    await clockTo('2030-02-01T00:00:30Z');
    await firingCount(1);
    const log = (await sandbox.control('GET', '/_sandbox/events')).body as { event: Record<string, unknown> }[];
    const event = log.find((logged) => logged.event.source === 'bakehouse.schedule')?.event;
    expect(event).toMatchObject({
      'detail-type': 'Bake Due',
      detail: { family: 'al2023-base', at: '2030-02-01T00:00:00Z' },
    });
  });

  it('retries a failing target, then sends the payload to the dead-letter queue', async () => {
    targets.failing.add('flaky');
    const { ScheduleArn } = await scheduler.send(
      new CreateScheduleCommand(
        schedule({
          ScheduleExpression: 'at(2030-03-01T00:00:00)',
          ScheduleExpressionTimezone: 'UTC',
          Target: {
            Arn: lambdaArn('flaky'),
            RoleArn: ROLE,
            Input: '{"attempt":"<aws.scheduler.attempt-number>"}',
            RetryPolicy: { MaximumRetryAttempts: 1, MaximumEventAgeInSeconds: 3600 },
            DeadLetterConfig: { Arn: queueArn('schedule-dlq') },
          },
        }),
      ),
    );
    await clockTo('2030-03-01T00:00:00Z');
    const [firing] = await eventually(async () => {
      await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 5 });
      const found = await firings();
      return found[0]?.status === 'dead-lettered' ? found : undefined;
    });

    expect(firing?.attempts).toBe(2);
    expect(
      targets.invocations.filter((i) => i.functionName === 'flaky').map((i) => JSON.parse(i.payload).attempt),
    ).toEqual(['1', '2']);
    const dlq = (await sandbox.control('GET', '/_sandbox/dlq')).body as {
      queueArn: string;
      body: string;
      attributes: Record<string, string>;
    }[];
    expect(dlq).toHaveLength(1);
    expect(dlq[0]).toMatchObject({
      queueArn: queueArn('schedule-dlq'),
      body: '{"attempt":"2"}',
      attributes: {
        ERROR_CODE: 'ServiceException',
        SCHEDULE_ARN: ScheduleArn,
        TARGET_ARN: lambdaArn('flaky'),
        EXECUTION_ID: firing?.executionId,
        RETRY_ATTEMPTS: '1',
      },
    });
  });
});
