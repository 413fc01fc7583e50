/**
 * Issue 15: a sandbox killed in the middle of a bake and started again on the same state
 * directory. Nothing in flight survives a restart: the sandbox fails the bake's execution
 * (Sandbox.Restarted) and its automation, and Step Functions' status change on the default bus
 * runs the failure path as it would on AWS (stacks/stopped-bakes.ts): Bake Failed is published, the
 * builder terminated, the family lock released, and Notify given Bake Failed for the bake's Slack message.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ListSecretsCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../dev/start/render';
import { synthesizeForSandbox } from '../../dev/synth';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { Tag } from '../../functions/commons/bake-plan';
import { DetailType } from '../../functions/commons/events';
import { deleteSchedules } from './support/stack';

const root = join(import.meta.dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-crash-restart-'));
const children = new Set<ChildProcess>();
const BUS = 'bakehouse-dev';
const FAMILY = 'al2023-base';
const EXECUTIONS = 'arn:aws:states:us-east-1:000000000000:execution:bakehouse-dev-bake';
const LIVE = ['pending', 'running', 'stopping', 'stopped'];

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

interface Running {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<unknown>;
  output(): string;
}

/** Waits (real time) until `check` returns a value. */
const until = async <T>(description: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await check().catch(() => undefined);
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${description}: not within ${timeoutMs} ms`);
};

/** `npm run sandbox` on the test's state directory, provisioned from the stacks, once healthy. */
const startSandbox = async (port = '0'): Promise<Running> => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'dev/sandbox.ts', '--port', port, '--state', stateDir, '--speed', '1200'],
    { cwd: root },
  );
  children.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const url = await until('the ready line', async () => /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1]);
  let health = '';
  await until(
    'health ready',
    async () => {
      const answer = await fetch(`${url}/_sandbox/health`);
      health = await answer.text();
      return answer.status === 200 ? true : undefined;
    },
    300_000,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}: health ${health.slice(0, 500)}; output ${output.slice(-1000)}`);
  });
  return { child, url, exited, output: () => output };
};

const clientConfig = (url: string) => ({
  endpoint: url,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});

const control = async (url: string, path: string): Promise<unknown> => (await fetch(`${url}${path}`)).json();

const eventLog = async (url: string): Promise<LoggedEvent[]> =>
  (await control(url, '/_sandbox/events')) as LoggedEvent[];

const eventOf = (url: string, type: string, bakeId: string): Promise<LoggedEvent> =>
  until(
    `${type} of ${bakeId}`,
    async () =>
      (await eventLog(url)).find(
        (entry) => entry.event['detail-type'] === type && entry.event.detail.bakeId === bakeId,
      ),
    90_000,
  );

interface SlackCall {
  readonly accepted: boolean;
  readonly payload: { text?: string; thread_ts?: string } & Record<string, unknown>;
}

/** The bake's parent message as Slack shows it (posted by Notify on Bake Requested). */
const parentOf = async (url: string, bakeId: string): Promise<SlackCall | undefined> =>
  ((await control(url, '/_sandbox/slack/messages')) as { messages: SlackCall[] }).messages.find(
    (call) => call.accepted && !call.payload.thread_ts && JSON.stringify(call.payload).includes(bakeId),
  );

const requestBake = async (events: EventBridgeClient, idempotencyKey: string): Promise<string> => {
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
            reason: 'crash-restart test',
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

const buildersOf = async (ec2: EC2Client, bakeId: string): Promise<Instance[]> => {
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

describe('a sandbox killed mid-bake and restarted on its state', () => {
  it('fails the bake through its failure path: Bake Failed, builder terminated, lock released, Slack says failed', async () => {
    // Prepare
    await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
    const first = await startSandbox();
    const secrets = new SecretsManagerClient(clientConfig(first.url));
    const { SecretList = [] } = await secrets.send(new ListSecretsCommand({}));
    const slackSecret = SecretList.find((secret) => /slack/i.test(secret.Name ?? ''));
    expect(slackSecret?.ARN).toBeDefined();
    await secrets.send(
      new PutSecretValueCommand({
        SecretId: slackSecret?.ARN,
        SecretString: JSON.stringify({ botToken: 'xoxb-sandbox', apiUrl: `${first.url}/api/` }),
      }),
    );
    secrets.destroy();
    const firstEvents = new EventBridgeClient(clientConfig(first.url));
    const firstEc2 = new EC2Client(clientConfig(first.url));
    // Only this file's bakes: at 1200x the Sunday schedules would otherwise bake al2023-base in
    // the background on a Saturday evening (UTC) and hold its lock when crash-restart-2 plans.
    await deleteSchedules({ clientConfig: clientConfig(first.url) });
    const bakeId = await requestBake(firstEvents, 'crash-restart-1');
    await eventOf(first.url, DetailType.BakeStarted, bakeId);
    await until('a running builder', async () =>
      (await buildersOf(firstEc2, bakeId)).find((instance) => instance.State?.Name === 'running'),
    );
    await until('Slack showing the bake', () => parentOf(first.url, bakeId));
    firstEvents.destroy();
    firstEc2.destroy();

    // Act: kill it while the automation runs, and start it again on the same state
    first.child.kill('SIGKILL');
    await first.exited;
    // On the same port: Slack's URL (in the secret) does not move when AWS restarts, nor here.
    const second = await startSandbox(new URL(first.url).port);
    const events = new EventBridgeClient(clientConfig(second.url));
    const ec2 = new EC2Client(clientConfig(second.url));
    const sfn = new SFNClient(clientConfig(second.url));
    try {
      // Assess
      // Once seen (a run with three e2e files at a time on two cores, not reproduced since): no Bake
      // Failed within 90 s. The failure then says what the restarted sandbox did with the bake's
      // events, and where each went.
      const failed = await eventOf(second.url, DetailType.BakeFailed, bakeId).catch(async (error: unknown) => {
        const related = (await eventLog(second.url)).filter((entry) => JSON.stringify(entry.event).includes(bakeId));
        const seen = related.map(
          (entry) =>
            `${entry.event['detail-type']} → ${entry.deliveries.map((d) => `${d.targetArn.split(':').pop()}: ${d.status}`).join(', ') || 'no target'}`,
        );
        throw new Error(`${String(error)}; the bake's events after the restart: ${seen.join('; ') || 'none'}`);
      });
      expect(String(failed.event.detail.reason)).toContain('Sandbox.Restarted');
      // Terminated instances drop out of Describe after a sandbox hour (3 real seconds at this
      // speed), so the check is that none of the bake's builders is live any more.
      let seen: Instance[] = [];
      await until('no live builder of the bake', async () => {
        seen = await buildersOf(ec2, bakeId);
        return seen.every((i) => !LIVE.includes(i.State?.Name ?? '')) ? true : undefined;
      }).catch((error: unknown) => {
        throw new Error(`${String(error)}; builders ${JSON.stringify(seen.map((i) => [i.InstanceId, i.State?.Name]))}`);
      });
      // Slack: Notify (the rule's target on the Bakehouse bus) is given the bake's Bake Failed, which
      // moves the bake's message on from 'baking'.
      const delivered = await until('Bake Failed delivered to Notify', async () => {
        const logged = (await eventLog(second.url)).find((entry) => entry.event.id === failed.event.id);
        return logged?.deliveries.find((d) => /Notify/.test(d.targetArn) && d.status === 'delivered');
      });
      expect(delivered.targetArn).toMatch(/bakehouse-dev-Notify/);
      const shown = await until('Slack showing the bake failed', async () =>
        ((await control(second.url, '/_sandbox/slack/messages')) as { messages: SlackCall[] }).messages.find(
          (call) =>
            call.accepted &&
            !call.payload.thread_ts &&
            JSON.stringify(call.payload).includes(bakeId) &&
            /failed/i.test(String(call.payload.text)),
        ),
      );
      expect(String(shown.payload.text)).toMatch(/failed/i);
      // The lock is free: the next bake of the family plans at once (no FamilyBusyError retry).
      const next = await requestBake(events, 'crash-restart-2');
      await eventOf(second.url, DetailType.BakeStarted, next);
      const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn: `${EXECUTIONS}:${next}` }));
      expect(JSON.stringify(history.events ?? [])).not.toContain('FamilyBusyError');
    } finally {
      for (const client of [events, ec2, sfn]) client.destroy();
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 580_000);
});
