/**
 * Issue 15, "Builders left behind", on the stacks provisioned in the sandbox:
 * - a bake whose execution is stopped (StopExecution) while its automation runs: the automation is
 *   stopped, the builder terminated, the family lock released (the next bake of the family plans
 *   at once, without FamilyBusyError) and `Bake Failed` published once, with the reason;
 * - a bake whose builder both the document's terminate step and the failure path fail to
 *   terminate: `Bake Failed` says so, and the hourly reaper terminates the builder once its
 *   `bakehouse:expires-at` has passed on the sandbox clock.
 */
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetExecutionHistoryCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { GetAutomationExecutionCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { Tag } from '../../functions/commons/bake-plan';
import { DetailType } from '../../functions/commons/events';
import { eventLog, eventWhere, ofType, startProvisionedSandbox } from './support/stack';

const BUS = 'bakehouse-dev';
const EXECUTIONS = 'arn:aws:states:us-east-1:000000000000:execution:bakehouse-dev-bake';
const FAMILY = 'al2023-base';
/** Sandbox seconds per real second. */
const SPEED = 1200;

let sandbox: TestSandbox;
let ec2: EC2Client;
let events: EventBridgeClient;
let ssm: SSMClient;
let sfn: SFNClient;

beforeAll(async () => {
  ({ sandbox } = await startProvisionedSandbox(SPEED));
  ec2 = new EC2Client(sandbox.clientConfig);
  events = new EventBridgeClient(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  sfn = new SFNClient(sandbox.clientConfig);
}, 180_000);

afterAll(async () => {
  for (const client of [ec2, events, ssm, sfn]) client?.destroy();
  await sandbox?.stop();
});

const requestBake = async (idempotencyKey: string): Promise<string> => {
  const sent = await events.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: BUS,
          Source: 'team.payments',
          DetailType: DetailType.BakeRequested,
          Detail: JSON.stringify({
            family: FAMILY,
            requestedBy: 'team-payments',
            reason: 'stopped-bake test',
            force: true,
            idempotencyKey,
          }),
        },
      ],
    }),
  );
  expect(sent.FailedEntryCount).toBe(0);
  return bakeIdFor(FAMILY, idempotencyKey);
};

/** Waits (real time) until `check` returns a value. */
const until = async <T>(description: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await check();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${description}: not within ${timeoutMs} ms`);
};

const buildersOf = async (bakeId: string): Promise<Instance[]> => {
  const { Reservations = [] } = await ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: `tag:${Tag.BakeId}`, Values: [bakeId] },
        { Name: `tag:${Tag.Role}`, Values: ['builder'] },
      ],
    }),
  );
  return Reservations.flatMap((reservation) => reservation.Instances ?? []);
};

const liveBuilderOf = (bakeId: string): Promise<Instance> =>
  until(`a running builder of ${bakeId}`, async () =>
    (await buildersOf(bakeId)).find((instance) => instance.State?.Name === 'running'),
  );

const allTerminated = (bakeId: string): Promise<true> =>
  until(`every builder of ${bakeId} terminated`, async () => {
    const builders = await buildersOf(bakeId);
    return builders.length > 0 && builders.every((i) => ['shutting-down', 'terminated'].includes(i.State?.Name ?? ''))
      ? true
      : undefined;
  });

const bakeFailedOf = async (bakeId: string) =>
  (await eventLog(sandbox)).filter(ofType(DetailType.BakeFailed, { bakeId }));

describe('a bake whose execution is stopped mid-bake', () => {
  it('stops the automation, terminates the builder, releases the lock and says Bake Failed once', async () => {
    // Prepare
    const bakeId = await requestBake('stopped-bake-1');
    const started = await eventWhere(sandbox, 'Bake Started', ofType(DetailType.BakeStarted, { bakeId }));
    const automationExecutionId = String(started.event.detail.automationExecutionId);
    await liveBuilderOf(bakeId);

    // Act
    await sfn.send(
      new StopExecutionCommand({ executionArn: `${EXECUTIONS}:${bakeId}`, error: 'Operator', cause: 'e2e stop' }),
    );

    // Assess
    const failed = await eventWhere(sandbox, 'Bake Failed', ofType(DetailType.BakeFailed, { bakeId }));
    expect(failed.event.detail).toMatchObject({ family: FAMILY, automationExecutionId });
    expect(String(failed.event.detail.reason)).toContain('the execution was stopped (StopExecution)');
    expect(String(failed.event.detail.reason)).toContain('e2e stop');
    expect(failed.event.detail.cleanup).toEqual({ errors: [], builderTerminated: true });
    const automation = await until('the automation stopped', async () => {
      const { AutomationExecution } = await ssm.send(
        new GetAutomationExecutionCommand({ AutomationExecutionId: automationExecutionId }),
      );
      const status = AutomationExecution?.AutomationExecutionStatus;
      return status && !['Pending', 'InProgress', 'Waiting', 'Cancelling'].includes(status) ? status : undefined;
    });
    expect(automation).toBe('Cancelled');
    await allTerminated(bakeId);

    // The lock is free: the next bake of the family plans at once (no FamilyBusyError retry).
    const next = await requestBake('stopped-bake-2');
    await eventWhere(sandbox, 'the next Bake Started', ofType(DetailType.BakeStarted, { bakeId: next }));
    const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn: `${EXECUTIONS}:${next}` }));
    expect(JSON.stringify(history.events ?? [])).not.toContain('FamilyBusyError');
    await sfn.send(new StopExecutionCommand({ executionArn: `${EXECUTIONS}:${next}` }));
    await eventWhere(sandbox, 'the next Bake Failed', ofType(DetailType.BakeFailed, { bakeId: next }));

    // Once: a while later there is still one Bake Failed.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await bakeFailedOf(bakeId)).toHaveLength(1);
  }, 180_000);
});

describe('a builder nothing could terminate', () => {
  it('is named in Bake Failed, and reaped once it expires', async () => {
    // Prepare: the patch fails; every TerminateInstances fails until the faults are cleared.
    await sandbox.control('POST', '/_sandbox/faults', {
      runCommand: { match: 'security_only=', status: 'Failed' },
      times: 1,
    });
    await sandbox.control('POST', '/_sandbox/faults', {
      service: 'ec2',
      action: 'TerminateInstances',
      error: 'UnauthorizedOperation',
      message: 'injected: not allowed to terminate',
      status: 403,
      times: 100,
    });

    // Act
    const bakeId = await requestBake('unterminated-builder-1');
    const failed = await eventWhere(sandbox, 'Bake Failed', ofType(DetailType.BakeFailed, { bakeId }), 120_000);
    await sandbox.control('DELETE', '/_sandbox/faults');

    // Assess: Bake Failed names the builder the cleanup could not terminate.
    const builder = await liveBuilderOf(bakeId);
    expect(String(failed.event.detail.reason)).toContain(`cleanup failed: terminate builders (${builder.InstanceId})`);
    expect(String(failed.event.detail.reason)).toContain('UnauthorizedOperation');
    const expiresAt = builder.Tags?.find((tag) => tag.Key === Tag.ExpiresAt)?.Value ?? '';
    expect(Date.parse(expiresAt)).not.toBeNaN();

    // Act: the sandbox clock passes the expiry; the hourly reaper runs within the next hour.
    const now = Date.parse(String(((await sandbox.control('GET', '/_sandbox/clock')).body as { now: string }).now));
    const advanceSeconds = Math.ceil((Date.parse(expiresAt) - now) / 1000) + 60;
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds });

    // Assess
    await allTerminated(bakeId);
  }, 240_000);
});
