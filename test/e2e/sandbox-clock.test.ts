/**
 * The stacks in a sandbox whose clock is far from real time (months ahead, as after `advance`
 * through a retention period): the functions run on the sandbox clock, so what they date agrees
 * with what the sandbox's AWS dates. A bake's builder expires in the sandbox's future and its AMI
 * Baked duration is the sandbox time the bake took; the janitor deprecates on a running clock,
 * where EC2 judges "the deprecation time must be in the future" on the sandbox clock.
 */
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Image,
  type Instance,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { AL2023_X86, advance, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { Tag } from '../../functions/commons/bake-plan';
import { DetailType } from '../../functions/commons/events';
import type { JanitorRunReport } from '../../functions/janitor/core';
import { createExampleLaunchTemplate, eventWhere, ofType, startProvisionedSandbox } from './support/stack';

/** Where the clock is moved first: months from the machine's clock. */
const FAR = Date.parse('2027-03-01T00:00:00Z');
const DAY = 86_400;
const JANITOR = 'bakehouse-dev-Janitor';
const FAMILY = 'clock-e2e';
/** Sandbox seconds per real second while a bake runs: it takes a few real seconds. */
const BAKE_SPEED = 1200;
/**
 * The clock's speed while the janitor deprecates. Not the sandbox command's default (600): there the
 * janitor's one second of margin (functions/janitor/apply.ts, on a clock learned from EC2's
 * second-granular Date) is under two real milliseconds of request time, so a deprecation now and
 * then lands in EC2's past; 60 keeps that out of this test.
 */
const RUNNING_SPEED = 60;

let sandbox: TestSandbox;
let ec2: EC2Client;
let events: EventBridgeClient;
let lambda: LambdaClient;

const clockNow = async (): Promise<number> =>
  Date.parse(((await sandbox.control('GET', '/_sandbox/clock')).body as { now: string }).now);
const setSpeed = async (speed: number): Promise<void> => {
  expect((await sandbox.control('POST', '/_sandbox/clock', { speed })).status).toBe(200);
};
const tagsOf = (resource: Image | Instance): Record<string, string | undefined> =>
  Object.fromEntries((resource.Tags ?? []).map((t) => [t.Key, t.Value]));

const invokeJanitor = async (): Promise<JanitorRunReport> => {
  const output = await lambda.send(
    new InvokeCommand({ FunctionName: JANITOR, Payload: new TextEncoder().encode(JSON.stringify({ dryRun: false })) }),
  );
  const body = JSON.parse(new TextDecoder().decode(output.Payload));
  if (output.FunctionError) throw new Error(`the janitor failed: ${JSON.stringify(body)}`);
  return body as JanitorRunReport;
};
const imageById = async (id: string): Promise<Image | undefined> =>
  (await ec2.send(new DescribeImagesCommand({ ImageIds: [id], IncludeDeprecated: true, IncludeDisabled: true })))
    .Images?.[0];

beforeAll(async () => {
  ({ sandbox } = await startProvisionedSandbox(0, { schedules: 'keep' }));
  ec2 = new EC2Client(sandbox.clientConfig);
  events = new EventBridgeClient(sandbox.clientConfig);
  lambda = new LambdaClient(sandbox.clientConfig);
  await createExampleLaunchTemplate(ec2);
  // Moving the clock by months would fire the family bakes and the nightly janitor in the
  // background: this test drives one bake and the janitor itself.
  const scheduler = new SchedulerClient(sandbox.clientConfig);
  await scheduler.send(new DeleteScheduleCommand({ Name: JANITOR, GroupName: 'default' }));
  for (const family of ['al2023-base', 'ubuntu-2404-base', 'windows-2022-base']) {
    await scheduler.send(new DeleteScheduleCommand({ Name: family, GroupName: 'bakehouse-dev' }));
  }
  scheduler.destroy();
  await advance(sandbox, (FAR - (await clockNow())) / 1000);
}, 300_000);

afterAll(async () => {
  for (const client of [ec2, events, lambda]) client?.destroy();
  await sandbox?.stop();
});

describe('the stacks on a sandbox clock months from real time', () => {
  it("bakes with the builder expiring in the sandbox's future and the bake's duration on the sandbox clock", async () => {
    // Prepare
    const idempotencyKey = 'sandbox-clock-test';
    const bakeId = bakeIdFor('al2023-base', idempotencyKey);
    await setSpeed(BAKE_SPEED);

    try {
      // Act
      const sent = await events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: 'bakehouse-dev',
              Source: 'team.payments',
              DetailType: DetailType.BakeRequested,
              Detail: JSON.stringify({
                family: 'al2023-base',
                requestedBy: 'team-payments',
                reason: 'sandbox clock test',
                idempotencyKey,
              }),
            },
          ],
        }),
      );
      expect(sent.FailedEntryCount).toBe(0);
      // The builder, read while it runs (terminated ones leave DescribeInstances an hour later).
      let builder: Instance | undefined;
      for (let i = 0; i < 600 && !builder; i++) {
        const { Reservations = [] } = await ec2.send(
          new DescribeInstancesCommand({ Filters: [{ Name: `tag:${Tag.BakeId}`, Values: [bakeId] }] }),
        );
        builder = Reservations.flatMap((r) => r.Instances ?? [])[0];
        if (!builder) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const outcomes: readonly string[] = [DetailType.AmiBaked, DetailType.BakeFailed, DetailType.BakeSkipped];
      const baked = await eventWhere(
        sandbox,
        `the outcome of ${bakeId}`,
        (e) => outcomes.includes(e.event['detail-type']) && e.event.detail.bakeId === bakeId,
        // A bake takes a few real seconds, many more on a loaded machine.
        150_000,
      );
      const requested = await eventWhere(
        sandbox,
        'Bake Requested',
        ofType(DetailType.BakeRequested, { idempotencyKey }),
      );

      // Assess: the builder launched after FAR, on the sandbox clock, and expires after its launch
      expect({ outcome: baked.event['detail-type'], reason: baked.event.detail.reason }).toEqual({
        outcome: DetailType.AmiBaked,
        reason: undefined,
      });
      const launchedMs = builder?.LaunchTime?.getTime() ?? Number.NaN;
      const expiresMs = Date.parse(tagsOf(builder ?? {})[Tag.ExpiresAt] ?? '');
      expect(launchedMs).toBeGreaterThanOrEqual(FAR);
      expect(expiresMs).toBeGreaterThan(launchedMs);
      expect(expiresMs - launchedMs).toBeLessThan(2 * DAY * 1000);
      // The bake took sandbox time (the Slack message's Duration), no more than request to outcome
      const span = (Date.parse(baked.event.time) - Date.parse(requested.event.time)) / 1000;
      const duration = Number(baked.event.detail.durationSeconds);
      expect(duration).toBeGreaterThan(0);
      expect(duration).toBeLessThanOrEqual(span + 60);
    } finally {
      await setSpeed(0);
    }
  }, 240_000);

  it('deprecates an unused image on a running clock: EC2 takes the time the janitor chose', async () => {
    // Prepare: an old unused image of a family with three newer ones (those are kept), marked
    const { Instances = [] } = await ec2.send(
      new RunInstancesCommand({ ImageId: AL2023_X86, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
    );
    const instance = Instances[0]?.InstanceId as string;
    await advance(sandbox, 60);
    const create = async (name: string): Promise<string> => {
      const tags = [
        { Key: Tag.Managed, Value: 'true' },
        { Key: Tag.Family, Value: FAMILY },
      ];
      const created = await ec2.send(
        new CreateImageCommand({
          InstanceId: instance,
          Name: name,
          TagSpecifications: [
            { ResourceType: 'image', Tags: tags },
            { ResourceType: 'snapshot', Tags: tags },
          ],
        }),
      );
      return created.ImageId as string;
    };
    const old = await create('clock-e2e-old');
    await advance(sandbox, 120 * DAY);
    for (const name of ['clock-e2e-new1', 'clock-e2e-new2', 'clock-e2e-new3']) {
      await create(name);
      await advance(sandbox, 3600);
    }
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instance] }));
    await advance(sandbox, 600);
    await invokeJanitor();
    expect(tagsOf((await imageById(old)) ?? {})[Tag.JanitorStage]).toBe('marked');
    await advance(sandbox, 7 * DAY + 3600);
    await setSpeed(RUNNING_SPEED);

    try {
      // Act
      const report = await invokeJanitor();

      // Assess
      expect(report.errors).toEqual([]);
      expect(report.items.find((i) => i.id === old)).toMatchObject({ action: 'deprecated' });
      const image = await imageById(old);
      expect(tagsOf(image ?? {})[Tag.JanitorStage]).toBe('deprecated');
      expect(Date.parse(image?.DeprecationTime ?? '')).toBeGreaterThan(FAR);
    } finally {
      await setSpeed(0);
    }
  }, 120_000);
});
