/**
 * `bakehouse bake cancel`, `bakehouse bake steps` and `bakehouse channel history` against the
 * stacks provisioned in the sandbox, in process through `main`: a bake cancelled while its
 * automation runs ends ABORTED with its automation Cancelled and no builder running (the stack's
 * stopped-bake clean-up, waited for by the CLI); the steps of that bake and of one that baked; the
 * moves of a channel, newest first, with who moved it and why.
 */
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetAutomationExecutionCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BakeSteps, CancelReport } from '../../cli/commands/bake-control';
import type { ChannelHistory } from '../../cli/commands/channel-history';
import { Tag } from '../../functions/commons/bake-plan';
import { sandboxCli } from './support/cli';
import { startProvisionedSandbox } from './support/stack';

const FAMILY = 'ubuntu-2404-base';
const EXECUTIONS = 'arn:aws:states:us-east-1:000000000000:execution:bakehouse-dev-bake';

let sandbox: TestSandbox;
let ec2: EC2Client;
let sfn: SFNClient;
let ssm: SSMClient;

beforeAll(async () => {
  ({ sandbox } = await startProvisionedSandbox(1200));
  ec2 = new EC2Client(sandbox.clientConfig);
  sfn = new SFNClient(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  // The schedules are gone (startProvisionedSandbox): the only bakes here are the ones asked for.
}, 180_000);

afterAll(async () => {
  for (const client of [ec2, sfn, ssm]) client?.destroy();
  await sandbox?.stop();
});

const cli = sandboxCli(() => sandbox.sandbox.url, { USER: 'alice' });

/** Waits (real time) until `check` returns a value. */
const until = async <T>(description: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await check();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${description}: not within ${timeoutMs} ms`);
};

const buildersOf = async (bakeId: string): Promise<Instance[]> => {
  const { Reservations = [] } = await ec2.send(
    new DescribeInstancesCommand({ Filters: [{ Name: `tag:${Tag.BakeId}`, Values: [bakeId] }] }),
  );
  return Reservations.flatMap((reservation) => reservation.Instances ?? []);
};

/** Starts a bake through the CLI; resolves to its bake id once it has started. */
const startBake = async (reason: string): Promise<string> => {
  const run = await cli(['bake', FAMILY, '--force', '--reason', reason, '--json']);
  expect(run.code, run.stderr).toBe(0);
  const started = JSON.parse(run.stdout) as { request: { bakeId: string }; outcome: string };
  expect(started.outcome).toBe('started');
  return started.request.bakeId;
};

let cancelledBakeId: string;

describe('bakehouse bake cancel <bake-id>', () => {
  it('stops a bake while its automation runs: ABORTED, automation Cancelled, no builder running', async () => {
    // Prepare: the automation runs and its builder is up
    const bakeId = await startBake('to be cancelled');
    cancelledBakeId = bakeId;
    await until('a running builder', async () =>
      (await buildersOf(bakeId)).find((instance) => instance.State?.Name === 'running'),
    );

    // Act
    const run = await cli(['bake', 'cancel', bakeId, '--json', '--timeout', '120']);

    // Assess
    expect(run.code, run.stderr).toBe(0);
    const { cancel } = JSON.parse(run.stdout) as { cancel: CancelReport };
    expect(cancel).toMatchObject({ bakeId, status: 'ABORTED', cancelledBy: 'cli:alice', clean: true });
    expect(cancel.cleanup).toMatchObject({ errors: [], builderTerminated: true });
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: `${EXECUTIONS}:${bakeId}` }));
    expect(execution.status).toBe('ABORTED');
    expect(execution.cause).toBe('cancelled by cli:alice');
    const automationId = cancel.automation?.automationExecutionId as string;
    const { AutomationExecution } = await ssm.send(
      new GetAutomationExecutionCommand({ AutomationExecutionId: automationId }),
    );
    expect(AutomationExecution?.AutomationExecutionStatus).toBe('Cancelled');
    const builders = await buildersOf(bakeId);
    expect(builders.length).toBeGreaterThan(0);
    expect(builders.filter((i) => ['pending', 'running', 'stopping', 'stopped'].includes(i.State?.Name ?? ''))).toEqual(
      [],
    );
    expect(cancel.builders.map((b) => b.instanceId).sort()).toEqual(builders.map((i) => i.InstanceId).sort());
  }, 180_000);

  it('refuses to cancel a bake that already ended, with the fix, and an unknown id as a usage error', async () => {
    // Act
    const again = await cli(['bake', 'cancel', cancelledBakeId]);
    const unknown = await cli(['bake', 'cancel', `${FAMILY}-${'0'.repeat(32)}`]);

    // Assess
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`bake ${cancelledBakeId} already ended (aborted, ABORTED`);
    expect(again.stderr).toContain(`Fix: see what it did with \`bakehouse bake steps ${cancelledBakeId}\``);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('<family>-<32 hex>');
  });
});

describe('bakehouse bake steps <bake-id>', () => {
  it("shows the cancelled bake's steps: the ones that ran and where it was cancelled", async () => {
    // Act
    const run = await cli(['bake', 'steps', cancelledBakeId, '--json']);

    // Assess
    expect(run.code, run.stderr).toBe(0);
    const view = JSON.parse(run.stdout) as BakeSteps;
    expect(view.bake).toMatchObject({ bakeId: cancelledBakeId, outcome: 'aborted' });
    expect(view.automation?.status).toBe('Cancelled');
    const launch = view.steps.find((s) => s.name === 'launchBuilder');
    expect(launch?.status).toBe('Success');
    expect(launch?.outputs.InstanceId?.[0]).toMatch(/^i-/);
    expect(launch?.startedAt).not.toBeNull();
    expect(view.steps.some((s) => s.status === 'Cancelled')).toBe(true);
  });

  it("shows a baked bake's steps, every one Success, with the image it made", async () => {
    // Prepare
    const baked = await cli(['bake', FAMILY, '--force', '--wait', '--json', '--reason', 'steps e2e']);
    expect(baked.code, baked.stderr).toBe(0);
    const { bake } = JSON.parse(baked.stdout) as { bake: { bakeId: string; amiId: string } };

    // Act
    const json = await cli(['bake', 'steps', bake.bakeId, '--json']);
    const text = await cli(['bake', 'steps', bake.bakeId]);

    // Assess
    expect(json.code, json.stderr).toBe(0);
    const view = JSON.parse(json.stdout) as BakeSteps;
    expect(view.automation?.status).toBe('Success');
    expect(view.steps.length).toBeGreaterThan(3);
    expect(view.steps.every((s) => s.status === 'Success' && s.endedAt !== null)).toBe(true);
    expect(JSON.stringify(view.steps.map((s) => s.outputs))).toContain(bake.amiId);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/launchBuilder\s+aws:executeAwsApi\s+Success/);
    expect(text.stdout).toContain(bake.amiId);
  }, 180_000);
});

describe('bakehouse channel history <family> <channel>', () => {
  it('lists the moves of a channel newest first, with who moved it and why', async () => {
    // Act: dev moved when the bake above baked; stable once its tests passed
    // (Promote moves the channels after AMI Baked: it may not have yet when `bake --wait` ends.)
    const dev = await until('dev moved by the bake', async () => {
      const run = await cli(['channel', 'history', FAMILY, 'dev', '--json']);
      const history = (JSON.parse(run.stdout) as { history: ChannelHistory }).history;
      return history.moves.length > 0 ? history : undefined;
    });
    const amiId = dev.moves[0]?.toAmiId as string;
    const stable = await until('stable moved to the tested image', async () => {
      const run = await cli(['channel', 'history', FAMILY, 'stable', '--json']);
      const history = (JSON.parse(run.stdout) as { history: ChannelHistory }).history;
      return history.moves[0]?.toAmiId === amiId ? history : undefined;
    });
    const text = await cli(['channel', 'history', FAMILY, 'stable']);

    // Assess
    expect(dev).toMatchObject({
      family: FAMILY,
      channel: 'dev',
      parameter: `/bakehouse/${FAMILY}/dev`,
      truncated: false,
    });
    expect(dev.moves).toHaveLength(1);
    expect(dev.moves[0]).toMatchObject({ cause: 'baked', by: 'bakehouse:baked', fromAmiId: null, current: true });
    expect(dev.moves[0]?.bakeId).toMatch(new RegExp(`^${FAMILY}-[0-9a-f]{32}$`));
    expect(stable.moves[0]).toMatchObject({ cause: 'tested', by: 'bakehouse:tested', toAmiId: amiId, current: true });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`channel ${FAMILY}/stable (/bakehouse/${FAMILY}/stable), newest first:`);
    expect(text.stdout).toMatch(new RegExp(`${amiId} \\(current\\)\\s+bakehouse:tested\\s+tested`));
  }, 120_000);

  it('refuses an unknown channel with a usage error', async () => {
    const run = await cli(['channel', 'history', FAMILY, 'prod']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`family '${FAMILY}' has no channel 'prod'`);
  });
});
