/**
 * `bakehouse canary` against the sandbox provisioned from the stacks (issue 16): the CLI reads a
 * real canary execution of `bakehouse-dev-canary` (the history shapes of state-machines/canary.asl.json),
 * and `--abort` stops a running one and returns once the stopped-canary rule has terminated its
 * pairs. Real bakes of al2023-web make the images; only AWS clients, the CLI and the control
 * endpoint are used.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
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
  startProvisionedSandbox,
  eventWhere as waitForEvent,
} from './support/stack';

const BUS = 'bakehouse-dev';
const FAMILY = 'al2023-web';
/** Sandbox seconds per real second while canaries run to their end (40 sandbox minutes ≈ 2 s). */
const FAST = 1200;

let sandbox: TestSandbox;
let report: ProvisionReport;
let ec2: EC2Client;
let events: EventBridgeClient;
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
const bake = async (family: string): Promise<string> => {
  requests += 1;
  const idempotencyKey = `canary-cli-${requests}`;
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

const detailOf = async <T>(detailType: string, amiId: string): Promise<T> =>
  (
    await eventWhere(
      `${detailType} of ${amiId}`,
      (e) => e.event['detail-type'] === detailType && e.event.detail.amiId === amiId,
    )
  ).event.detail as unknown as T;

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

const liveInstancesOf = async (canaryId: string): Promise<string[]> => {
  const { Reservations = [] } = await ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'tag:bakehouse:canary-id', Values: [canaryId] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
    }),
  );
  return Reservations.flatMap((r) => r.Instances ?? []).map((i) => String(i.InstanceId));
};

beforeAll(async () => {
  ({ sandbox, report } = await startProvisionedSandbox(FAST));
  ec2 = new EC2Client(sandbox.clientConfig);
  events = new EventBridgeClient(sandbox.clientConfig);
  autoscaling = new AutoScalingClient(sandbox.clientConfig);
  await connectSlackAndLaunchTemplate(sandbox, report);
  await createExampleWebGroup(autoscaling);
  const base = await bake('al2023-base');
  await eventWhere(
    'al2023-base promoted to stable',
    (e) =>
      e.event['detail-type'] === DetailType.AmiPromoted &&
      e.event.detail.amiId === base &&
      e.event.detail.channel === 'stable',
  );
  // The first image has no baseline (its canary is skipped); seed prod with it.
  const first = await bake(FAMILY);
  await detailOf<CanaryJudged>(DetailType.CanaryJudged, first);
  await put(DetailType.PromoteRequested, {
    version: '1.0',
    family: FAMILY,
    channel: 'prod',
    amiId: first,
    reason: 'seed prod',
    requestedBy: 'cli:test',
  });
  await eventWhere(
    'prod seeded',
    (e) => e.event['detail-type'] === DetailType.AmiPromoted && e.event.detail.amiId === first,
  );
}, 180_000);

afterAll(async () => {
  for (const client of [ec2, events, autoscaling]) client?.destroy();
  await sandbox?.stop();
});

describe('bakehouse canary against the sandbox', () => {
  it('shows a finished canary with its verdict, images and the scorecard of every metric', async () => {
    // Prepare
    const image = await bake(FAMILY);
    const judged = await detailOf<CanaryJudged>(DetailType.CanaryJudged, image);

    // Act
    const { code, json, err } = await cli(['canary', FAMILY]);

    // Assess
    expect(code, err).toBe(0);
    const canary = json.canary as Record<string, unknown>;
    expect(canary).toMatchObject({
      canaryId: judged.canaryId,
      status: 'SUCCEEDED',
      verdict: judged.verdict,
      channel: 'prod',
      amiId: image,
      baselineAmiId: judged.baselineAmiId,
      intervalsJudged: judged.intervalsJudged,
    });
    const scorecard = canary.scorecard as { score: number; metrics: { name: string }[] };
    expect(scorecard.score).toBe(judged.score);
    expect(scorecard.metrics.map((m) => m.name).sort()).toEqual(['cpu', 'errors', 'latency']);
  }, 120_000);

  it('--abort stops the running canary, waits until its pairs are terminated, and exits 0', async () => {
    // Prepare: once the pairs run, ten sandbox seconds per second, so the canary is still warming
    // up (10 sandbox minutes) while the CLI stops it and waits
    const image = await bake(FAMILY);
    const start = await detailOf<CanaryStarted>(DetailType.CanaryStarted, image);
    await sandbox.control('POST', '/_sandbox/clock', { speed: 10 });
    let result: Awaited<ReturnType<typeof cli>>;
    try {
      expect(await liveInstancesOf(start.canaryId)).toHaveLength(4);

      // Act
      result = await cli(['canary', FAMILY, '--abort', '--timeout', '60']);
    } finally {
      await sandbox.control('POST', '/_sandbox/clock', { speed: FAST });
    }

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.json).toMatchObject({
      aborted: true,
      canary: { canaryId: start.canaryId, status: 'ABORTED', verdict: 'aborted' },
    });
    expect(await liveInstancesOf(start.canaryId)).toEqual([]);
    const judged = await detailOf<CanaryJudged>(DetailType.CanaryJudged, start.amiId);
    expect(judged.verdict).toBe('aborted');
  }, 120_000);
});
