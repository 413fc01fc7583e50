/**
 * The canary stage end to end (issue 16), in the sandbox provisioned from the stacks and driven
 * only through AWS clients and the control endpoint: al2023-web's `prod` channel (promoteOn
 * canary, bakehouse.config.ts) against the example web group. Real bakes make the images; the
 * sandbox's instances report CPU, latency and error rate per minute, and a metric profile makes
 * one image's instances report a regression.
 *
 * Each canary must leave no canary or baseline instance behind, whatever its end. The operator's
 * side is the CLI: `bakehouse canary` reads a finished canary, `--abort` stops a running one.
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DeleteLaunchTemplateCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { ProvisionReport } from '@bakehouse/sandbox';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import type { LoggedEvent } from '../../dev/start/render';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { type CanaryJudged, type CanaryStarted, DetailType } from '../../functions/commons/events';
import {
  connectSlackAndLaunchTemplate,
  createExampleWebGroup,
  EXAMPLE_LAUNCH_TEMPLATE,
  EXAMPLE_WEB_GROUP,
  startProvisionedSandbox,
  eventWhere as waitForEvent,
} from './support/stack';

const BUS = 'bakehouse-dev';
const FAMILY = 'al2023-web';
const CHANNEL = 'prod';

let sandbox: TestSandbox;
let report: ProvisionReport;
let ec2: EC2Client;
let events: EventBridgeClient;
let ssm: SSMClient;
let autoscaling: AutoScalingClient;

const eventWhere = (description: string, matches: (entry: LoggedEvent) => boolean, timeoutMs = 60_000) =>
  waitForEvent(sandbox, description, matches, timeoutMs);

const put = async (detailType: string, detail: Record<string, unknown>): Promise<void> => {
  const sent = await events.send(
    new PutEventsCommand({
      Entries: [{ EventBusName: BUS, Source: 'cli', DetailType: detailType, Detail: JSON.stringify(detail) }],
    }),
  );
  expect(sent.FailedEntryCount).toBe(0);
};

let requests = 0;
/** Requests a bake and waits for its AMI Baked; returns the AMI id. */
const bake = async (family: string): Promise<string> => {
  requests += 1;
  const idempotencyKey = `canary-${requests}`;
  await put(DetailType.BakeRequested, { family, requestedBy: 'team-web', idempotencyKey, force: true });
  const bakeId = bakeIdFor(family, idempotencyKey);
  const outcome = await eventWhere(
    `the outcome of ${bakeId}`,
    (e) =>
      [DetailType.AmiBaked, DetailType.BakeFailed, DetailType.BakeSkipped].includes(
        e.event['detail-type'] as 'AMI Baked',
      ) && e.event.detail.bakeId === bakeId,
  );
  expect(outcome.event['detail-type'], JSON.stringify(outcome.event.detail)).toBe(DetailType.AmiBaked);
  return String(outcome.event.detail.amiId);
};

const judged = async (amiId: string): Promise<CanaryJudged> =>
  (
    await eventWhere(
      `the canary of ${amiId}`,
      (e) => e.event['detail-type'] === DetailType.CanaryJudged && e.event.detail.amiId === amiId,
    )
  ).event.detail as unknown as CanaryJudged;

const started = async (amiId: string): Promise<CanaryStarted> =>
  (
    await eventWhere(
      `the canary of ${amiId} starting`,
      (e) => e.event['detail-type'] === DetailType.CanaryStarted && e.event.detail.amiId === amiId,
    )
  ).event.detail as unknown as CanaryStarted;

const promotedTo = (amiId: string) =>
  eventWhere(
    `${CHANNEL} promoted to ${amiId}`,
    (e) =>
      e.event['detail-type'] === DetailType.AmiPromoted &&
      e.event.detail.amiId === amiId &&
      e.event.detail.channel === CHANNEL,
  );

const prod = async (): Promise<string | undefined> =>
  ssm
    .send(new GetParameterCommand({ Name: `/bakehouse/${FAMILY}/${CHANNEL}` }))
    .then((r) => r.Parameter?.Value)
    .catch((error: Error) => {
      if (error.name === 'ParameterNotFound') return undefined;
      throw error;
    });

/** Canary and baseline instances that are not terminated (or shutting down). */
const pairsLeft = async (): Promise<string[]> => {
  const { Reservations: reservations = [] } = await ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'tag:bakehouse:role', Values: ['canary', 'baseline'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ],
    }),
  );
  return reservations.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId as string);
};

const groupMembers = async (): Promise<string[]> => {
  const { AutoScalingGroups: [group] = [] } = await autoscaling.send(
    new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [EXAMPLE_WEB_GROUP] }),
  );
  return (group?.Instances ?? []).map((i) => i.InstanceId as string);
};

interface SlackCall {
  readonly method: string;
  readonly accepted: boolean;
  readonly payload?: Record<string, unknown>;
}

const slackCalls = async (): Promise<SlackCall[]> => {
  const { body } = await sandbox.control('GET', '/_sandbox/slack/messages');
  return Array.isArray(body) ? (body as SlackCall[]) : ((body as { messages?: SlackCall[] }).messages ?? []);
};

const slackTexts = async (): Promise<string> => JSON.stringify(await slackCalls());

/** Accepted thread replies whose text or blocks name `amiId` and say `what`. */
const repliesAbout = async (amiId: string, what: string): Promise<number> =>
  (await slackCalls()).filter((call) => {
    const content = JSON.stringify(call.payload ?? {});
    return (
      call.accepted &&
      call.method === 'chat.postMessage' &&
      typeof call.payload?.thread_ts === 'string' &&
      content.includes(what) &&
      content.includes(amiId)
    );
  }).length;

/** The replies about `amiId` saying `what`, once at least one is there and 2 s passed without another. */
const settledReplies = async (amiId: string, what: string): Promise<number> => {
  const deadline = Date.now() + 20_000;
  let count = await repliesAbout(amiId, what);
  while (count === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    count = await repliesAbout(amiId, what);
  }
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  return repliesAbout(amiId, what);
};

/** `bakehouse <args> --json` against the sandbox, as an operator runs it. */
const cli = async (args: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    [...args, '--sandbox', sandbox.sandbox.url, '--json'],
    {
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => err.push(t) },
      env: { BAKEHOUSE_USER: 'cli:alice' },
    },
    { pollMs: 100 },
  );
  return { code, json: out.length > 0 ? (JSON.parse(out.join('')) as Record<string, unknown>) : {}, err: err.join('') };
};

let firstWeb: string;

beforeAll(async () => {
  ({ sandbox, report } = await startProvisionedSandbox(1200));
  ec2 = new EC2Client(sandbox.clientConfig);
  events = new EventBridgeClient(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  autoscaling = new AutoScalingClient(sandbox.clientConfig);
  await connectSlackAndLaunchTemplate(sandbox, report);
  await createExampleWebGroup(autoscaling);
  // al2023-web is built on al2023-base's stable channel: bake the base and wait for stable.
  const base = await bake('al2023-base');
  await eventWhere(
    'al2023-base promoted to stable',
    (e) =>
      e.event['detail-type'] === DetailType.AmiPromoted &&
      e.event.detail.amiId === base &&
      e.event.detail.channel === 'stable',
  );
  firstWeb = await bake(FAMILY);
}, 180_000);

afterAll(async () => {
  for (const client of [ec2, events, ssm, autoscaling]) client?.destroy();
  await sandbox?.stop();
});

describe('the canary stage', () => {
  it('skips the first image, which has no baseline, and launches nothing', async () => {
    // Act
    const first = await judged(firstWeb);

    // Assess
    expect(first).toMatchObject({ verdict: 'skipped', channel: CHANNEL, baselineAmiId: null, score: null });
    expect(first.reason).toMatch(/prod/);
    expect(await prod()).toBeUndefined();
    expect(await pairsLeft()).toEqual([]);
  });

  it('promotes prod when the new image holds up against the current one', async () => {
    // Prepare: an operator seeds prod with the first image
    await put(DetailType.PromoteRequested, {
      version: '1.0',
      family: FAMILY,
      channel: CHANNEL,
      amiId: firstWeb,
      reason: 'seed prod',
      requestedBy: 'cli:test',
    });
    await promotedTo(firstWeb);

    // Act
    const healthy = await bake(FAMILY);
    const start = await started(healthy);
    const membersDuring = await groupMembers();
    const result = await judged(healthy);
    const promotion = await promotedTo(healthy);

    // Assess
    expect(start).toMatchObject({ baselineAmiId: firstWeb, autoScalingGroup: EXAMPLE_WEB_GROUP, pairs: 2 });
    expect(start.instances.baseline).toHaveLength(2);
    expect(start.instances.canary).toHaveLength(2);
    expect(membersDuring.length).toBeGreaterThan(0);
    expect(result.verdict, result.reason).toBe('pass');
    expect(result.score).toBeGreaterThanOrEqual(75);
    expect(result.metrics.map((m) => m.name).sort()).toEqual(['cpu', 'errors', 'latency']);
    for (const metric of result.metrics) {
      expect(metric.baselineCount).toBeGreaterThan(0);
      expect(metric.canaryCount).toBeGreaterThan(0);
    }
    expect(promotion.event.detail.cause).toBe('canary');
    expect(await prod()).toBe(healthy);
    expect(await pairsLeft()).toEqual([]);
    expect(await groupMembers()).toEqual([]);
    expect(result.cleanup).toMatchObject({ errors: [], instancesTerminated: 4 });
  }, 120_000);

  it('bakehouse canary shows the finished canary with its verdict, images and every metric', async () => {
    // Prepare: the canary the test above ran is the family's latest
    const latest = (await prod()) as string;
    const judgedLatest = await judged(latest);

    // Act
    const { code, json, err } = await cli(['canary', FAMILY]);

    // Assess
    expect(code, err).toBe(0);
    const canary = json.canary as Record<string, unknown>;
    expect(canary).toMatchObject({
      canaryId: judgedLatest.canaryId,
      status: 'SUCCEEDED',
      verdict: 'pass',
      channel: CHANNEL,
      amiId: latest,
      baselineAmiId: judgedLatest.baselineAmiId,
      intervalsJudged: judgedLatest.intervalsJudged,
    });
    const scorecard = canary.scorecard as { score: number; metrics: { name: string }[] };
    expect(scorecard.score).toBe(judgedLatest.score);
    expect(scorecard.metrics.map((m) => m.name).sort()).toEqual(['cpu', 'errors', 'latency']);
  });

  it('fails an image whose instances are 50 % slower, names latency, and leaves prod', async () => {
    // Prepare
    const before = await prod();

    // Act: the profile is set as soon as the image exists, before any judgement reads metrics
    const slower = await bake(FAMILY);
    await sandbox.control('POST', '/_sandbox/metrics/profiles', { imageId: slower, metric: 'Latency', factor: 1.5 });
    const result = await judged(slower);
    await sandbox.control('DELETE', '/_sandbox/metrics/profiles');

    // Assess
    expect(result.verdict, result.reason).toBe('fail');
    expect(result.score).toBe(0);
    expect(result.failedCritical).toContain('latency');
    const latency = result.metrics.find((m) => m.name === 'latency');
    expect(latency?.classification).toBe('High');
    expect(latency?.change).toBeGreaterThan(1.3);
    expect(await prod()).toBe(before);
    expect(await pairsLeft()).toEqual([]);
    expect(await groupMembers()).toEqual([]);
    const slack = await slackTexts();
    expect(slack).toContain(slower);
    expect(slack).toMatch(/latency/);
    // Each outcome once in the bake's thread, however the events and invocations interleave
    // (Notify posts moments after the event; a second post would come with a retry, seconds later)
    expect(await settledReplies(slower, 'Canary started')).toBe(1);
    expect(await settledReplies(slower, 'Canary fail')).toBe(1);
  }, 120_000);

  it('bakehouse canary --abort stops the running canary, waits until its pairs are terminated, and exits 0', async () => {
    // Prepare: from the image's AMI Baked on, 60 sandbox seconds a second. Its tests and the
    // canary's 10-minute warm-up then last over 10 s of real time, so the canary is still warming
    // up while the operator stops it and the CLI waits, even on a busy machine (at 1200x the
    // warm-up is half a second)
    const before = await prod();
    let result: Awaited<ReturnType<typeof cli>>;
    let start: CanaryStarted;
    let image: string;
    try {
      image = await bake(FAMILY);
      await sandbox.control('POST', '/_sandbox/clock', { speed: 60 });
      start = await started(image);
      expect(await pairsLeft()).toHaveLength(4);

      // Act
      result = await cli(['canary', FAMILY, '--abort', '--timeout', '60']);
    } finally {
      await sandbox.control('POST', '/_sandbox/clock', { speed: 1200 });
    }
    const outcome = await judged(image);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.json).toMatchObject({
      aborted: true,
      canary: { canaryId: start.canaryId, status: 'ABORTED', verdict: 'aborted' },
    });
    expect(outcome.verdict, outcome.reason).toBe('aborted');
    expect(await prod()).toBe(before);
    expect(await pairsLeft()).toEqual([]);
    expect(await groupMembers()).toEqual([]);
  }, 120_000);

  it('ends with an error and terminates the pairs it launched when they cannot join the group', async () => {
    // Prepare: the group's team capped it at one instance, fewer than the canary's four
    const before = await prod();
    await autoscaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: EXAMPLE_WEB_GROUP, MaxSize: 1 }));

    // Act
    const image = await bake(FAMILY);
    const result = await judged(image);
    await autoscaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: EXAMPLE_WEB_GROUP, MaxSize: 10 }));

    // Assess
    expect(result.verdict).toBe('error');
    expect(result.reason).toMatch(/max size/i);
    expect(result.cleanup).toMatchObject({ errors: [], instancesTerminated: 4 });
    expect(await prod()).toBe(before);
    expect(await pairsLeft()).toEqual([]);
    expect(await groupMembers()).toEqual([]);
  }, 120_000);

  it("ends with an error and launches nothing when the group's launch template is gone", async () => {
    // Prepare: the team deleted the template its group launches from
    const before = await prod();
    await ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateName: EXAMPLE_LAUNCH_TEMPLATE }));

    // Act
    const image = await bake(FAMILY);
    const result = await judged(image);

    // Assess
    expect(result.verdict).toBe('error');
    expect(result.reason).toMatch(/could not launch/);
    expect(result.reason).toMatch(/does not exist/);
    expect(result.cleanup.instancesTerminated).toBe(0);
    expect(await prod()).toBe(before);
    expect(await pairsLeft()).toEqual([]);
    expect(await groupMembers()).toEqual([]);
  }, 120_000);
});
