/**
 * What happens after `AMI Baked`, in the sandbox provisioned from the stacks and driven only
 * through AWS clients and the control endpoint: tests, promotion to channels with history, the
 * launch template a team registered, a failing check, redelivered and malformed events,
 * revocation with its cascade to a family built on the revoked image.
 */
import {
  DescribeImagesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetParameterCommand, GetParameterHistoryCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { ProvisionReport } from '@bakehouse/sandbox';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../dev/start/render';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { Tag } from '../../functions/commons/bake-plan';
import { DetailType } from '../../functions/commons/events';
import {
  createExampleLaunchTemplate,
  EXAMPLE_LAUNCH_TEMPLATE,
  eventLog,
  ofType,
  startProvisionedSandbox,
  eventWhere as waitForEvent,
} from './support/stack';

const BUS = 'bakehouse-dev';
/** The launch template bakehouse.config.ts registers on al2023-base's stable channel. */

let sandbox: TestSandbox;
let report: ProvisionReport;
let ec2: EC2Client;
let events: EventBridgeClient;
let ssm: SSMClient;

beforeAll(async () => {
  ({ sandbox, report } = await startProvisionedSandbox(1200));
  ec2 = new EC2Client(sandbox.clientConfig);
  events = new EventBridgeClient(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  await createExampleLaunchTemplate(ec2);
}, 180_000);

afterAll(async () => {
  for (const client of [ec2, events, ssm]) client?.destroy();
  await sandbox?.stop();
});

/** Waits (real time) for a logged event that `matches`. */
const eventWhere = (description: string, matches: (entry: LoggedEvent) => boolean, timeoutMs = 60_000) =>
  waitForEvent(sandbox, description, matches, timeoutMs);

const put = async (detailType: string, detail: Record<string, unknown>, source = 'cli'): Promise<void> => {
  const sent = await events.send(
    new PutEventsCommand({
      Entries: [{ EventBusName: BUS, Source: source, DetailType: detailType, Detail: JSON.stringify(detail) }],
    }),
  );
  expect(sent.FailedEntryCount).toBe(0);
};

let requests = 0;
/** Requests a bake and waits for its AMI Baked; returns the AMI id. */
const bake = async (family: string, extra: Record<string, unknown> = {}): Promise<string> => {
  requests += 1;
  const idempotencyKey = `fan-out-${requests}`;
  await put(DetailType.BakeRequested, { family, requestedBy: 'team-web', idempotencyKey, ...extra });
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

const channel = async (family: string, name: string): Promise<string | undefined> =>
  ssm
    .send(new GetParameterCommand({ Name: `/bakehouse/${family}/${name}` }))
    .then((r) => r.Parameter?.Value)
    .catch((error: Error) => {
      if (error.name === 'ParameterNotFound') return undefined;
      throw error;
    });

const tagsOf = async (amiId: string): Promise<Record<string, string | undefined>> => {
  const { Images: [image] = [] } = await ec2.send(
    new DescribeImagesCommand({ ImageIds: [amiId], IncludeDisabled: true }),
  );
  return Object.fromEntries((image?.Tags ?? []).map((t) => [t.Key, t.Value]));
};

const launchTemplate = async () => {
  const { LaunchTemplates: [template] = [] } = await ec2.send(
    new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [EXAMPLE_LAUNCH_TEMPLATE] }),
  );
  const { LaunchTemplateVersions: versions = [] } = await ec2.send(
    new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: EXAMPLE_LAUNCH_TEMPLATE }),
  );
  return { template, versions };
};

const deadLetters = async (logicalId: string): Promise<Record<string, unknown>[]> => {
  const queue = report.notEmulated.find((r) => r.logicalId.startsWith(logicalId));
  expect(queue, `queue ${logicalId} in the template`).toBeDefined();
  const { body } = await sandbox.control('GET', '/_sandbox/dlq');
  return (body as { queueArn: string; body: string }[])
    .filter((m) => m.queueArn.includes(logicalId))
    .map((m) => JSON.parse(m.body) as Record<string, unknown>);
};

let firstAmi: string;

describe('after AMI Baked', () => {
  it('tests the image, promotes it to dev on AMI Baked and to stable on AMI Tested, and moves the launch template', async () => {
    // Act
    firstAmi = await bake('al2023-base');
    const tested = await eventWhere('AMI Tested', ofType(DetailType.AmiTested, { amiId: firstAmi }));
    const dev = await eventWhere(
      'promoted to dev',
      ofType(DetailType.AmiPromoted, { amiId: firstAmi, channel: 'dev' }),
    );
    const stable = await eventWhere(
      'promoted to stable',
      ofType(DetailType.AmiPromoted, { amiId: firstAmi, channel: 'stable' }),
    );

    // Assess
    expect(tested.event.detail).toMatchObject({ passed: true, family: 'al2023-base' });
    expect((tested.event.detail.results as { name: string; passed: boolean }[]).map((r) => r.passed)).not.toContain(
      false,
    );
    expect(dev.event.detail).toMatchObject({ cause: 'baked', previousAmiId: null });
    expect(stable.event.detail).toMatchObject({ cause: 'tested', previousAmiId: null });
    expect(await channel('al2023-base', 'dev')).toBe(firstAmi);
    expect(await channel('al2023-base', 'stable')).toBe(firstAmi);
    expect((await tagsOf(firstAmi))[Tag.Tested]).toBe('passed');
    const { template, versions } = await launchTemplate();
    expect(template?.DefaultVersionNumber).toBe(2);
    expect(versions.find((v) => v.VersionNumber === 2)?.LaunchTemplateData?.ImageId).toBe(firstAmi);
    const history = await ssm.send(new GetParameterHistoryCommand({ Name: '/bakehouse/al2023-base/stable' }));
    expect(history.Parameters?.at(-1)?.Description).toContain('tested');
  }, 90_000);

  it('changes nothing twice when the AMI Tested event is delivered again', async () => {
    // Prepare
    const tested = await eventWhere('AMI Tested', ofType(DetailType.AmiTested, { amiId: firstAmi }));
    const promotedBefore = (await eventLog(sandbox)).filter(ofType(DetailType.AmiPromoted, { amiId: firstAmi })).length;
    const historyBefore = await ssm.send(new GetParameterHistoryCommand({ Name: '/bakehouse/al2023-base/stable' }));

    // Act
    await put(DetailType.AmiTested, tested.event.detail, 'bakehouse');
    await eventWhere(
      'the redelivered AMI Tested',
      (e) => e.event.id !== tested.event.id && ofType(DetailType.AmiTested, { amiId: firstAmi })(e),
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));

    // Assess
    expect((await eventLog(sandbox)).filter(ofType(DetailType.AmiPromoted, { amiId: firstAmi }))).toHaveLength(
      promotedBefore,
    );
    const historyAfter = await ssm.send(new GetParameterHistoryCommand({ Name: '/bakehouse/al2023-base/stable' }));
    expect(historyAfter.Parameters).toHaveLength(historyBefore.Parameters?.length ?? -1);
    expect((await launchTemplate()).versions).toHaveLength(2);
  });

  it('does not promote an image whose check fails, and says which check in AMI Tested', async () => {
    // Prepare: the ubuntu family's "unattended upgrades installed" check fails
    await sandbox.control('POST', '/_sandbox/faults', {
      runCommand: { match: 'dpkg -s unattended-upgrades', status: 'Failed' },
      times: 1,
    });

    // Act
    const amiId = await bake('ubuntu-2404-base');
    const tested = await eventWhere('AMI Tested', ofType(DetailType.AmiTested, { amiId }));
    await eventWhere('promoted to dev', ofType(DetailType.AmiPromoted, { amiId, channel: 'dev' }));
    await new Promise((resolve) => setTimeout(resolve, 1500));

    // Assess
    expect(tested.event.detail.passed).toBe(false);
    const results = tested.event.detail.results as { name: string; passed: boolean; output?: string }[];
    expect(results.find((r) => r.name === 'unattended upgrades installed')).toMatchObject({ passed: false });
    expect(results.find((r) => r.name === 'ssm agent running')).toMatchObject({ passed: true });
    expect((await tagsOf(amiId))[Tag.Tested]).toBe('failed');
    expect(await channel('ubuntu-2404-base', 'dev')).toBe(amiId);
    expect(await channel('ubuntu-2404-base', 'stable')).toBeUndefined();
    expect((await eventLog(sandbox)).filter(ofType(DetailType.AmiPromoted, { amiId, channel: 'stable' }))).toEqual([]);
  });

  it('sends a malformed event to the dead-letter queue with the field that is wrong, after doing nothing', async () => {
    // Act
    await put(
      DetailType.AmiTested,
      { version: '1.0', bakeId: 'b-1', family: 'al2023-base', passed: true, results: [], testExecutionId: null },
      'bakehouse',
    );
    const deadline = Date.now() + 30_000;
    let letters: Record<string, unknown>[] = [];
    while (Date.now() < deadline && letters.length === 0) {
      letters = await deadLetters('PromoteRejected');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    // Assess
    expect(letters).toHaveLength(1);
    expect(letters[0]?.responsePayload).toMatchObject({ errorType: 'InvalidEventError' });
    expect(String((letters[0]?.responsePayload as { errorMessage?: string } | undefined)?.errorMessage)).toMatch(
      /amiId/,
    );
    expect(await channel('al2023-base', 'stable')).toBe(firstAmi);
  });

  it('revokes an image with its descendants: disabled, channels moved back, children revoked and reported', async () => {
    // Prepare: a second al2023-base image reaches stable, and al2023-web is built on it
    const secondAmi = await bake('al2023-base', { force: true });
    const promoted = await eventWhere(
      'second image promoted to stable',
      ofType(DetailType.AmiPromoted, { amiId: secondAmi, channel: 'stable' }),
    );
    const childAmi = await bake('al2023-web');
    expect((await tagsOf(childAmi))[Tag.SourceAmi]).toBe(secondAmi);

    // Act
    await put(DetailType.AmiRevoked, {
      amiId: secondAmi,
      reason: 'CVE-2026-0001 in the base image',
      requestedBy: 'team-security',
      cascade: true,
    });
    const movedBack = await eventWhere(
      'stable moved back',
      ofType(DetailType.AmiPromoted, { amiId: firstAmi, channel: 'stable', cause: 'revocation' }),
    );
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await tagsOf(childAmi))[Tag.Revoked] !== 'true') {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    // Assess
    expect(promoted.event.detail.previousAmiId).toBe(firstAmi);
    expect(promoted.event.detail.outdatedChildren).toEqual([{ family: 'al2023-web', amiId: null }]);
    expect(movedBack.event.detail.previousAmiId).toBe(secondAmi);
    expect(await channel('al2023-base', 'stable')).toBe(firstAmi);
    expect(await channel('al2023-base', 'dev')).toBe(firstAmi);
    const revoked = await tagsOf(secondAmi);
    expect(revoked[Tag.Revoked]).toBe('true');
    expect(revoked[Tag.RevokedBy]).toBe('team-security');
    const { Images: [disabled] = [] } = await ec2.send(
      new DescribeImagesCommand({ ImageIds: [secondAmi], IncludeDisabled: true }),
    );
    expect(disabled?.State).toBe('disabled');
    expect((await tagsOf(childAmi))[Tag.Revoked]).toBe('true');
    const completed = await eventWhere(
      'the revocation outcome',
      ofType(DetailType.RevocationCompleted, { amiId: secondAmi }),
    );
    expect(completed.event.detail).toMatchObject({
      family: 'al2023-base',
      requestedBy: 'team-security',
      cascade: true,
      revoked: [secondAmi, childAmi],
    });
    expect(completed.event.detail.channelsMoved).toEqual(
      expect.arrayContaining([{ family: 'al2023-base', channel: 'stable', from: secondAmi, to: firstAmi }]),
    );
  }, 120_000);

  it('answers a revocation of an image that does not exist with Revocation Rejected, revoking nothing', async () => {
    // Act
    const unknown = 'ami-0000000000000dead';
    await put(DetailType.AmiRevoked, { amiId: unknown, reason: 'typo', requestedBy: 'cli:alice' });
    const rejected = await eventWhere('the refusal', ofType(DetailType.RevocationRejected, { amiId: unknown }));

    // Assess
    expect(rejected.event.detail).toMatchObject({
      requestedBy: 'cli:alice',
      reason: expect.stringContaining('no image'),
    });
    expect(await channel('al2023-base', 'stable')).toBe(firstAmi);
  });
});
