/**
 * The whole bake lifecycle in the sandbox, provisioned from the synthesized stacks and driven only
 * through AWS clients and the control endpoint: the real schedules, rules, state machine,
 * automation documents and Lambda bundles.
 */
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, type Image } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DescribeAutomationExecutionsCommand, GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { firstOccurrence, type ProvisionReport, parseExpression } from '@bakehouse/sandbox';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../dev/start/render';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { Tag } from '../../functions/commons/bake-plan';
import { DetailType } from '../../functions/commons/events';
import { createExampleLaunchTemplate, eventLog, startProvisionedSandbox } from './support/stack';

const BUS = 'bakehouse-dev';
const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:bakehouse-dev-bake';
const OUTCOMES: readonly string[] = [DetailType.AmiBaked, DetailType.BakeFailed, DetailType.BakeSkipped];
/** Sandbox seconds per real second: a bake takes a few real seconds. */
const SPEED = 1200;

let sandbox: TestSandbox;
let report: ProvisionReport;
let ec2: EC2Client;
let events: EventBridgeClient;
let ssm: SSMClient;
let sfn: SFNClient;
let scheduler: SchedulerClient;

beforeAll(async () => {
  ({ sandbox, report } = await startProvisionedSandbox(SPEED, { schedules: 'keep' }));
  ec2 = new EC2Client(sandbox.clientConfig);
  events = new EventBridgeClient(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  sfn = new SFNClient(sandbox.clientConfig);
  scheduler = new SchedulerClient(sandbox.clientConfig);
  await createExampleLaunchTemplate(ec2);
}, 180_000);

afterAll(async () => {
  for (const client of [ec2, events, ssm, sfn, scheduler]) client?.destroy();
  await sandbox?.stop();
});

/** Waits (real time) for the first outcome event logged after `mark` entries that `matches`. */
const outcomeWhere = async (
  description: string,
  mark: number,
  matches: (entry: LoggedEvent) => boolean,
  timeoutMs = 60_000,
): Promise<LoggedEvent> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = (await eventLog(sandbox))
      .slice(mark)
      .find((e) => OUTCOMES.includes(e.event['detail-type']) && matches(e));
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no outcome for ${description} within ${timeoutMs} ms`);
};

/** The outcome of the bake `bakeId`. */
const outcomeOf = (bakeId: string): Promise<LoggedEvent> =>
  outcomeWhere(bakeId, 0, (e) => e.event.detail.bakeId === bakeId);

let requests = 0;
/** Puts `copies` identical Bake Requested events; resolves to the bake id StartBake derives. */
const requestBake = async (detail: Record<string, unknown>, copies = 1): Promise<string> => {
  requests += 1;
  const idempotencyKey = String(detail.idempotencyKey ?? `lifecycle-test-${requests}`);
  const entry = {
    EventBusName: BUS,
    Source: 'team.payments',
    DetailType: DetailType.BakeRequested,
    Detail: JSON.stringify({ requestedBy: 'team-payments', reason: 'lifecycle test', ...detail, idempotencyKey }),
  };
  const sent = await Promise.all(
    Array.from({ length: copies }, () => events.send(new PutEventsCommand({ Entries: [entry] }))),
  );
  expect(sent.map((s) => s.FailedEntryCount)).toEqual(Array(copies).fill(0));
  return bakeIdFor(String(detail.family), idempotencyKey);
};

const imageOf = async (amiId: string): Promise<Image & { tags: Record<string, string | undefined> }> => {
  const { Images: [image] = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [amiId] }));
  if (!image) throw new Error(`no image ${amiId}`);
  return { ...image, tags: Object.fromEntries((image.Tags ?? []).map((t) => [t.Key, t.Value])) };
};

const publicImage = async (parameter: string): Promise<string> =>
  (await ssm.send(new GetParameterCommand({ Name: parameter }))).Parameter?.Value ?? '';

const liveBuilders = async (): Promise<string[]> => {
  const { Reservations = [] } = await ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: `tag:${Tag.Role}`, Values: ['builder'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
    }),
  );
  return Reservations.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId ?? '');
};

const BAKE_EVENTS: readonly string[] = [DetailType.BakeStarted, ...OUTCOMES];

/** The bake's own event types (not the fan-out after it) for one bake id, oldest first. */
const typesFor = (log: readonly LoggedEvent[], bakeId: string): string[] =>
  log
    .filter((e) => e.event.detail.bakeId === bakeId && BAKE_EVENTS.includes(e.event['detail-type']))
    .map((e) => e.event['detail-type']);

describe('the bake lifecycle in the sandbox', () => {
  it('is provisioned from the stacks with nothing failed or unsupported', () => {
    // Assess
    expect(report.failed).toEqual([]);
    expect(report.unsupported).toEqual([]);
  });

  it('bakes on schedule when the clock reaches the schedule time: available AMI, lineage tags, candidate, events in order', async () => {
    // Prepare: the next time al2023-base's schedule fires, read back from the Scheduler
    const schedule = await scheduler.send(
      new GetScheduleCommand({
        Name: 'al2023-base',
        GroupName: report.created.find((r) => r.type === 'AWS::Scheduler::ScheduleGroup')?.physicalId,
      }),
    );
    const expression = parseExpression(schedule.ScheduleExpression ?? '');
    if (typeof expression === 'string') throw new Error(expression);
    const clock = (await sandbox.control('GET', '/_sandbox/clock')).body as { now: string };
    const nowMs = Date.parse(clock.now);
    const fireMs = firstOccurrence(expression, schedule.ScheduleExpressionTimezone ?? 'UTC', { startMs: 0 }, nowMs + 1);
    if (fireMs === undefined) throw new Error('the schedule never fires');
    const mark = (await eventLog(sandbox)).length;
    const sourceAmi = await publicImage('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64');

    // Act: move the clock to the schedule time (ubuntu-2404-base's schedule fires half an hour later)
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: Math.ceil((fireMs - nowMs) / 1000) });
    const outcome = await outcomeWhere('al2023-base', mark, (e) => e.event.detail.family === 'al2023-base');
    const ubuntu = await outcomeWhere('ubuntu-2404-base', mark, (e) => e.event.detail.family === 'ubuntu-2404-base');

    // Assess
    expect(outcome.event['detail-type']).toBe(DetailType.AmiBaked);
    expect(ubuntu.event['detail-type']).toBe(DetailType.AmiBaked);
    const amiId = String(outcome.event.detail.amiId);
    const bakeId = String(outcome.event.detail.bakeId);
    const image = await imageOf(amiId);
    expect(image.State).toBe('available');
    expect(image.tags).toMatchObject({
      [Tag.Managed]: 'true',
      [Tag.Family]: 'al2023-base',
      [Tag.BakeId]: bakeId,
      [Tag.SourceAmi]: sourceAmi,
      [Tag.BakeKey]: outcome.event.detail.bakeKey,
    });
    expect(await publicImage('/bakehouse/al2023-base/candidate')).toBe(amiId);
    const log = await eventLog(sandbox);
    const requested = log
      .slice(mark)
      .find((e) => e.event['detail-type'] === DetailType.BakeRequested && e.event.detail.family === 'al2023-base');
    expect(requested?.event.detail.requestedBy).toMatch(/schedule/);
    expect(typesFor(log, bakeId)).toEqual([DetailType.BakeStarted, DetailType.AmiBaked]);
    const started = log.find((e) => e.event.detail.bakeId === bakeId);
    const automationDone = log.findIndex(
      (e) =>
        e.event['detail-type'] === 'EC2 Automation Execution Status-change Notification' &&
        e.event.detail.ExecutionId === started?.event.detail.automationExecutionId &&
        e.event.detail.Status === 'Success',
    );
    const position = (entry: LoggedEvent | undefined) => log.findIndex((e) => e.event.id === entry?.event.id);
    expect(position(requested)).toBeGreaterThanOrEqual(0);
    expect(automationDone).toBeGreaterThan(position(requested));
    expect(automationDone).toBeLessThan(position(outcome));
    expect(log[automationDone]?.deliveries.map((d) => d.status)).toEqual(['delivered']);
    expect(await liveBuilders()).toEqual([]);
  });

  it('bakes on a Bake Requested event from another team', async () => {
    // Act
    const outcome = await outcomeOf(await requestBake({ family: 'windows-2022-base' }));

    // Assess
    expect(outcome.event['detail-type']).toBe(DetailType.AmiBaked);
    const image = await imageOf(String(outcome.event.detail.amiId));
    expect(image.State).toBe('available');
    expect(image.tags[Tag.SourceAmi]).toBe(
      await publicImage('/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base'),
    );
    expect(await publicImage('/bakehouse/windows-2022-base/candidate')).toBe(outcome.event.detail.amiId);
    expect(typesFor(await eventLog(sandbox), String(outcome.event.detail.bakeId))).toEqual([
      DetailType.BakeStarted,
      DetailType.AmiBaked,
    ]);
    expect(await liveBuilders()).toEqual([]);
  });

  it('skips a bake when nothing changed, starting no automation', async () => {
    // Prepare
    const before = await ssm.send(
      new DescribeAutomationExecutionsCommand({
        Filters: [{ Key: 'DocumentNamePrefix', Values: ['bakehouse-dev-bake'] }],
      }),
    );

    // Act
    const outcome = await outcomeOf(await requestBake({ family: 'al2023-base' }));

    // Assess
    expect(outcome.event['detail-type']).toBe(DetailType.BakeSkipped);
    expect(outcome.event.detail.amiId).toBe(await publicImage('/bakehouse/al2023-base/candidate'));
    const after = await ssm.send(
      new DescribeAutomationExecutionsCommand({
        Filters: [{ Key: 'DocumentNamePrefix', Values: ['bakehouse-dev-bake'] }],
      }),
    );
    expect(after.AutomationExecutionMetadataList?.length).toBe(before.AutomationExecutionMetadataList?.length);
  });

  it('starts one execution for five identical requests sent at once', async () => {
    // Prepare
    const mark = (await eventLog(sandbox)).length;

    // Act
    const bakeId = await requestBake({ family: 'ubuntu-2404-base', idempotencyKey: 'change-4711', force: true }, 5);
    const outcome = await outcomeOf(bakeId);

    // Assess
    expect(outcome.event['detail-type']).toBe(DetailType.AmiBaked);
    const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE }));
    expect(executions.filter((e) => e.name === bakeId)).toHaveLength(1);
    const log = await eventLog(sandbox);
    expect(
      log
        .slice(mark)
        .filter(
          (e) => e.event['detail-type'] === DetailType.BakeRequested && e.event.detail.idempotencyKey === 'change-4711',
        ),
    ).toHaveLength(5);
    expect(typesFor(log, bakeId)).toEqual([DetailType.BakeStarted, DetailType.AmiBaked]);
  });

  it('fails a bake whose patch step fails, naming the step, with no builder left running', async () => {
    // Prepare
    await sandbox.control('POST', '/_sandbox/faults', {
      runCommand: { match: 'security_only=', status: 'Failed' },
      times: 1,
    });

    // Act
    const outcome = await outcomeOf(await requestBake({ family: 'al2023-base', force: true }));

    // Assess
    expect(outcome.event['detail-type']).toBe(DetailType.BakeFailed);
    expect(outcome.event.detail.failedStep).toMatch(/patchPackages/);
    expect(outcome.event.detail.reason).toMatch(/Failed/);
    expect(await liveBuilders()).toEqual([]);
    const { Images = [] } = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: [{ Name: `tag:${Tag.BakeId}`, Values: [String(outcome.event.detail.bakeId)] }],
      }),
    );
    expect(Images).toEqual([]);
  });
});
