/**
 * Exactly one bake per bake key (issue 15), in the sandbox provisioned from the synthesized
 * stacks: concurrent requests for a key never baked give one automation and one image, every
 * other request is skipped with the image that bake made; and a stale family lock (its holder's
 * execution does not run) is taken over by one of several concurrent planners only. Driven only
 * through AWS clients and the control endpoint.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DescribeAutomationExecutionsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ProvisionReport } from '@bakehouse/sandbox';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../dev/start/render';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { Tag } from '../../functions/commons/bake-plan';
import { DetailType } from '../../functions/commons/events';
import { epochSeconds, lockKey, recordKey } from '../../functions/commons/state-table';
import { eventLog, startProvisionedSandbox } from './support/stack';

const BUS = 'bakehouse-dev';
const OUTCOMES: readonly string[] = [DetailType.AmiBaked, DetailType.BakeFailed, DetailType.BakeSkipped];
/**
 * Sandbox seconds per real second. Lower than the lifecycle test's: the requests that wait for the
 * family lock retry on the sandbox clock (PlanBake's FamilyBusyError retrier, about two and a half
 * sandbox hours in all), and must outlast the one bake that holds it.
 */
const SPEED = 60;

let sandbox: TestSandbox;
let report: ProvisionReport;
let ec2: EC2Client;
let events: EventBridgeClient;
let ssm: SSMClient;
let raw: DynamoDBClient;
let dynamo: DynamoDBDocumentClient;

beforeAll(async () => {
  ({ sandbox, report } = await startProvisionedSandbox(SPEED));
  ec2 = new EC2Client(sandbox.clientConfig);
  events = new EventBridgeClient(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  raw = new DynamoDBClient(sandbox.clientConfig);
  dynamo = DynamoDBDocumentClient.from(raw);
}, 300_000);

afterAll(async () => {
  // The document client's destroy does nothing: the client it wraps holds the sockets.
  for (const client of [ec2, events, ssm, raw]) client?.destroy();
  // The stacks' roles were refused nothing (startProvisionedSandbox's stop checks this after the
  // gap check, so a gap error would hide it).
  const denials = (sandbox?.sandbox.authorizer.usage.snapshot() ?? []).flatMap(({ roleArn, denials }) =>
    denials.map((d) => `${roleArn}: ${d.action} on ${d.resource} (${d.reason})`),
  );
  await sandbox?.stop();
  if (denials.length > 0) throw new Error(`the stacks' roles were refused: ${denials.join('; ')}`);
});

const stateTableName = (): string => {
  const table = report.created.find((r) => r.type === 'AWS::DynamoDB::Table');
  if (!table) throw new Error('the stacks declare no state table');
  return table.physicalId;
};

/**
 * Puts `copies` Bake Requested events at once, each its own PutEvents call and none with an
 * idempotency key: StartBake names each bake after its event id (`event:<id>`), so each is a
 * bake of its own. Resolves to the bake ids.
 */
const requestBakes = async (family: string, copies: number): Promise<string[]> => {
  const entry = {
    EventBusName: BUS,
    Source: 'team.payments',
    DetailType: DetailType.BakeRequested,
    Detail: JSON.stringify({ family, requestedBy: 'team-payments', reason: 'concurrent bakes test' }),
  };
  const sent = await Promise.all(
    Array.from({ length: copies }, () => events.send(new PutEventsCommand({ Entries: [entry] }))),
  );
  expect(sent.map((s) => s.FailedEntryCount)).toEqual(Array(copies).fill(0));
  return sent.map((s) => bakeIdFor(family, `event:${s.Entries?.[0]?.EventId ?? ''}`));
};

/** Waits (real time) until every bake in `bakeIds` has an outcome; returns them by bake id. */
const outcomesOf = async (bakeIds: readonly string[], timeoutMs = 240_000): Promise<Map<string, LoggedEvent>> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = new Map<string, LoggedEvent>();
    for (const entry of await eventLog(sandbox)) {
      const bakeId = String(entry.event.detail.bakeId);
      if (OUTCOMES.includes(entry.event['detail-type']) && bakeIds.includes(bakeId) && !found.has(bakeId)) {
        found.set(bakeId, entry);
      }
    }
    if (found.size === bakeIds.length) return found;
    if (Date.now() > deadline) {
      throw new Error(`only ${found.size} of ${bakeIds.length} bakes had an outcome within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
};

/** The bake events of `family` logged after `mark` entries, by type. */
const familyEvents = async (family: string, mark: number, type: string): Promise<LoggedEvent[]> =>
  (await eventLog(sandbox))
    .slice(mark)
    .filter((e) => e.event['detail-type'] === type && e.event.detail.family === family);

const imagesWithBakeKey = async (bakeKey: string): Promise<string[]> => {
  const { Images = [] } = await ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: `tag:${Tag.BakeKey}`, Values: [bakeKey] }] }),
  );
  return Images.map((image) => image.ImageId ?? '');
};

const automationCount = async (): Promise<number> => {
  const { AutomationExecutionMetadataList = [] } = await ssm.send(
    new DescribeAutomationExecutionsCommand({
      Filters: [{ Key: 'DocumentNamePrefix', Values: ['bakehouse-dev-bake'] }],
    }),
  );
  return AutomationExecutionMetadataList.length;
};

/**
 * Every request ended: one baked, every other skipped with the image that bake made. Returns the
 * baked image.
 */
const expectOneBakeTheRestSkipped = (outcomes: Map<string, LoggedEvent>): { amiId: string; bakeKey: string } => {
  const byType = (type: string) => [...outcomes.values()].filter((e) => e.event['detail-type'] === type);
  const [baked, ...more] = byType(DetailType.AmiBaked);
  expect(more, 'more than one AMI Baked').toEqual([]);
  expect(byType(DetailType.BakeFailed).map((e) => e.event.detail.reason)).toEqual([]);
  const amiId = String(baked?.event.detail.amiId);
  const bakeKey = String(baked?.event.detail.bakeKey);
  const skipped = byType(DetailType.BakeSkipped);
  expect(skipped).toHaveLength(outcomes.size - 1);
  for (const skip of skipped) {
    expect(skip.event.detail).toMatchObject({ amiId, bakeKey });
  }
  return { amiId, bakeKey };
};

describe('one bake per bake key in the sandbox', () => {
  it('bakes a never-baked key once for 20 concurrent requests without an idempotency key, skipping the others', async () => {
    // Prepare
    const family = 'al2023-base';
    const mark = (await eventLog(sandbox)).length;
    const automationsBefore = await automationCount();

    // Act
    const bakeIds = await requestBakes(family, 20);
    const outcomes = await outcomesOf(bakeIds);

    // Assess: one automation, one image, one Bake Started; nineteen skips naming that image
    expect(new Set(bakeIds).size).toBe(20);
    const { amiId, bakeKey } = expectOneBakeTheRestSkipped(outcomes);
    expect(await imagesWithBakeKey(bakeKey)).toEqual([amiId]);
    expect(await automationCount()).toBe(automationsBefore + 1);
    expect(await familyEvents(family, mark, DetailType.BakeStarted)).toHaveLength(1);
    // The lock is released: no bake of the family holds it any more.
    const lock = await dynamo.send(
      new GetCommand({ TableName: stateTableName(), Key: { pk: lockKey('family', family) }, ConsistentRead: true }),
    );
    expect(lock.Item).toBeUndefined();
    // The bake recorded its key as baked, with its image, for the planners that came after it.
    const record = await dynamo.send(
      new GetCommand({ TableName: stateTableName(), Key: { pk: recordKey('baked', bakeKey) }, ConsistentRead: true }),
    );
    expect(record.Item).toMatchObject({ data: { amiId }, version: 1, expiresAt: expect.any(Number) });
  }, 300_000);

  it('lets exactly one of several concurrent planners take over a stale lock (its holder no longer runs)', async () => {
    // Prepare: a family lock left by a bake whose execution does not exist, valid for another day
    const family = 'ubuntu-2404-base';
    const key = lockKey('family', family);
    const deadBake = bakeIdFor(family, 'a-bake-that-died');
    const clock = (await sandbox.control('GET', '/_sandbox/clock')).body as { now: string };
    await dynamo.send(
      new PutCommand({
        TableName: stateTableName(),
        Item: {
          pk: key,
          owner: deadBake,
          acquiredAt: clock.now,
          expiresAt: epochSeconds(new Date(Date.parse(clock.now) + 86_400_000)),
        },
      }),
    );
    const mark = (await eventLog(sandbox)).length;
    const automationsBefore = await automationCount();

    // Act
    const bakeIds = await requestBakes(family, 6);
    const outcomes = await outcomesOf(bakeIds);

    // Assess: the stale lock went to one planner, which baked; the others waited for it and skipped
    const { amiId, bakeKey } = expectOneBakeTheRestSkipped(outcomes);
    expect(await imagesWithBakeKey(bakeKey)).toEqual([amiId]);
    expect(await automationCount()).toBe(automationsBefore + 1);
    expect(await familyEvents(family, mark, DetailType.BakeStarted)).toHaveLength(1);
    const lock = await dynamo.send(
      new GetCommand({ TableName: stateTableName(), Key: { pk: key }, ConsistentRead: true }),
    );
    expect(lock.Item).toBeUndefined();
  }, 300_000);
});
