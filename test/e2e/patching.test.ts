/**
 * Linux patching that patches (issue 14), in the sandbox provisioned from the stacks with guests
 * on: the builders' Run Command scripts run for real in bubblewrap guests over package-manager
 * stand-ins that behave as the distributions do. Amazon Linux 2023 is locked to the release of its
 * image (the sandbox's AL2023 repository has the seeded images' release and a newer one), and
 * Ubuntu holds the dpkg lock while cloud-init runs after boot.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  type AutomationExecution,
  GetAutomationExecutionCommand,
  SSMClient,
  StartAutomationExecutionCommand,
} from '@aws-sdk/client-ssm';
import type { ProvisionReport } from '@bakehouse/sandbox';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../dev/start/render';
import { failureOf } from '../../functions/commons/automation-wait';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { BAKE_DOCUMENT_OUTPUTS, bakeReportOf, releaseOfAutomation } from '../../functions/commons/documents';
import { DetailType } from '../../functions/commons/events';
import { sandboxCli } from './support/cli';
import { connectSlackAndLaunchTemplate, eventLog, startProvisionedSandbox } from './support/stack';

const BUS = 'bakehouse-dev';
const OUTCOMES: readonly string[] = [DetailType.AmiBaked, DetailType.BakeFailed, DetailType.BakeSkipped];
/** Sandbox seconds per real second: a bake takes a few real seconds. */
const SPEED = 1200;
/** The release of the seeded AL2023 images, and the newer one the sandbox repository also has. */
const SEEDED_RELEASE = /^2023\.9\.20261101(\.\d+)?$/;
const NEWER_RELEASE = /^2023\.9\.20261122(\.\d+)?$/;

interface SlackCall {
  readonly method: string;
  readonly payload: { text?: string; blocks?: unknown[] } & Record<string, unknown>;
}

const savedGuests = process.env.BAKEHOUSE_SANDBOX_GUESTS;
let sandbox: TestSandbox;
let report: ProvisionReport;
let events: EventBridgeClient;
let ssm: SSMClient;
let lambda: LambdaClient;

beforeAll(async () => {
  process.env.BAKEHOUSE_SANDBOX_GUESTS = 'on';
  ({ sandbox, report } = await startProvisionedSandbox(SPEED));
  events = new EventBridgeClient(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  lambda = new LambdaClient(sandbox.clientConfig);
  await connectSlackAndLaunchTemplate(sandbox, report);
}, 180_000);

afterAll(async () => {
  events?.destroy();
  ssm?.destroy();
  lambda?.destroy();
  await sandbox?.stop();
  if (savedGuests === undefined) delete process.env.BAKEHOUSE_SANDBOX_GUESTS;
  else process.env.BAKEHOUSE_SANDBOX_GUESTS = savedGuests;
});

let requests = 0;
/** Puts one Bake Requested; resolves to the bake id StartBake derives. */
const requestBake = async (family: string): Promise<string> => {
  requests += 1;
  const idempotencyKey = `patching-test-${requests}`;
  const sent = await events.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: BUS,
          Source: 'team.platform',
          DetailType: DetailType.BakeRequested,
          Detail: JSON.stringify({ family, requestedBy: 'team-platform', reason: 'patching test', idempotencyKey }),
        },
      ],
    }),
  );
  expect(sent.FailedEntryCount).toBe(0);
  return bakeIdFor(family, idempotencyKey);
};

/** Waits (real time) for the outcome of the bake `bakeId`. */
const outcomeOf = async (bakeId: string, timeoutMs = 90_000): Promise<LoggedEvent> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = (await eventLog(sandbox)).find(
      (e) => OUTCOMES.includes(e.event['detail-type']) && e.event.detail.bakeId === bakeId,
    );
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no outcome for bake ${bakeId} within ${timeoutMs} ms`);
};

const automationOf = async (id: string): Promise<AutomationExecution> =>
  (await ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: id }))).AutomationExecution ?? {};

const baked = async (family: string): Promise<{ bakeId: string; detail: Record<string, unknown> }> => {
  const bakeId = await requestBake(family);
  const outcome = await outcomeOf(bakeId);
  const detail = outcome.event.detail as Record<string, unknown>;
  expect(outcome.event['detail-type'], JSON.stringify(detail).slice(0, 2000)).toBe(DetailType.AmiBaked);
  return { bakeId, detail };
};

/** Starts the bake document by hand with `parameters`; resolves to the ended automation. */
const automationRun = async (documentName: string | undefined, parameters: Record<string, string[]>) => {
  const started = await ssm.send(
    new StartAutomationExecutionCommand({ DocumentName: documentName, Parameters: parameters }),
  );
  const id = started.AutomationExecutionId ?? '';
  const deadline = Date.now() + 60_000;
  let done = await automationOf(id);
  while (!['Success', 'Failed', 'Cancelled', 'TimedOut'].includes(done.AutomationExecutionStatus ?? '')) {
    if (Date.now() > deadline) throw new Error(`automation ${id} did not end`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    done = await automationOf(id);
  }
  return done;
};

/** `bakehouse <args>` in process, against this sandbox. */
/** The real bin/bakehouse.mjs, as an operator runs it: a process of its own. */
const realBin = async (args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['bin/bakehouse.mjs', ...args, '--sandbox', sandbox.sandbox.url],
      { env: { PATH: process.env.PATH ?? '' } },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
};

const cli = sandboxCli(() => sandbox.sandbox.url);

describe('patching Linux families in the sandbox', () => {
  let al2023: { bakeId: string; detail: Record<string, unknown> };

  it('is provisioned from the stacks with nothing failed or unsupported', () => {
    // Assess
    expect(report.failed).toEqual([]);
    expect(report.unsupported).toEqual([]);
  });

  it("moves al2023-base from the seeded image's release to the newest, and AMI Baked says so", async () => {
    // Act
    al2023 = await baked('al2023-base');

    // Assess
    const outputs = al2023.detail.outputs as Record<string, unknown>;
    const bakeReport = bakeReportOf(outputs);
    expect(bakeReport, JSON.stringify(outputs)).toBeDefined();
    expect(bakeReport?.releaseBefore).toMatch(SEEDED_RELEASE);
    expect(bakeReport?.releaseAfter).toMatch(NEWER_RELEASE);
    expect(bakeReport?.changes).toContainEqual(expect.stringMatching(/^\+system-release-2023\.9\.20261122/));
    expect(Object.keys(outputs)).not.toContain('inventoryBefore.Output');
    // The automation's own record holds what AMI Baked's release field carries: the policy, the
    // target plan-bake resolved (the newest AL2023 AMI's release) and the releases read on the builder.
    const automation = await automationOf(String(al2023.detail.automationExecutionId));
    expect(releaseOfAutomation(automation)).toEqual({
      policy: 'latest',
      target: expect.stringMatching(SEEDED_RELEASE),
      before: expect.stringMatching(SEEDED_RELEASE),
      after: expect.stringMatching(NEWER_RELEASE),
    });
    // AMI Baked carries that release itself.
    expect(al2023.detail.release).toEqual({
      policy: 'latest',
      target: expect.stringMatching(SEEDED_RELEASE),
      before: expect.stringMatching(SEEDED_RELEASE),
      after: expect.stringMatching(NEWER_RELEASE),
    });
    expect(al2023.detail.release).toEqual(releaseOfAutomation(automation));
  });

  it('tells Slack the release moved', async () => {
    // Prepare
    const deadline = Date.now() + 30_000;
    let texts: string[] = [];

    // Act
    while (Date.now() < deadline) {
      const calls = ((await sandbox.control('GET', '/_sandbox/slack/messages')).body as { messages: SlackCall[] })
        .messages;
      texts = calls.map((c) => JSON.stringify(c.payload));
      if (texts.some((t) => t.includes('→ 2023.9.20261122'))) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    // Assess
    expect(texts.join('\n')).toMatch(/2023\.9\.20261101(\.\d+)? → 2023\.9\.20261122/);
  });

  it('bakes Ubuntu although cloud-init still holds the dpkg lock when patching starts', async () => {
    // Prepare: a slow clock until the patch step has started, so it starts inside the boot window
    // (cloud-init holds the lock for the first 75 sandbox seconds: 15 s of real time at 5x, room
    // for the steps before it on a busy machine running two test files); then full speed again.
    await sandbox.control('POST', '/_sandbox/clock', { speed: 5 });
    const bakeId = await requestBake('ubuntu-2404-base');
    const deadline = Date.now() + 60_000;
    let automationId = '';
    let patchStarted: AutomationExecution | undefined;
    while (!patchStarted) {
      if (Date.now() > deadline) throw new Error('the Ubuntu bake never reached patchPackages');
      automationId ||= String(
        (await eventLog(sandbox)).find(
          (e) => e.event['detail-type'] === DetailType.BakeStarted && e.event.detail.bakeId === bakeId,
        )?.event.detail.automationExecutionId ?? '',
      );
      if (automationId) {
        const current = await automationOf(automationId);
        if (current.StepExecutions?.some((s) => s.StepName === 'patchPackages')) patchStarted = current;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await sandbox.control('POST', '/_sandbox/clock', { speed: SPEED });

    // Act
    const outcome = await outcomeOf(bakeId);

    // Assess: apt ran while the boot lock was still held, and the bake waited for it
    const detail = outcome.event.detail as Record<string, unknown>;
    expect(outcome.event['detail-type'], JSON.stringify(detail).slice(0, 2000)).toBe(DetailType.AmiBaked);
    const startOf = (name: string) =>
      patchStarted?.StepExecutions?.find((s) => s.StepName === name)?.ExecutionStartTime?.getTime() ?? Number.NaN;
    expect((startOf('patchPackages') - startOf('launchBuilder')) / 1000).toBeLessThan(75);
    const bakeReport = bakeReportOf(detail.outputs as Record<string, unknown>);
    expect(bakeReport?.releaseBefore).toBeNull();
    expect(bakeReport?.releaseAfter).toBeNull();
  }, 90_000);

  it('fails a bake whose install script has a syntax error at runInstallScript, naming the script', async () => {
    // Prepare: the al2023-base bake's own parameters, with an install script that does not parse
    const previous = await automationOf(String(al2023.detail.automationExecutionId));
    const parameters = { ...(previous.Parameters ?? {}) };
    parameters.InstallScript = ['# bakehouse step: broken\necho started\nif then fi'];
    parameters.BakeId = ['patching-syntax-error'];
    parameters.ImageName = [`bakehouse/al2023-base/syntax-error-${Date.now()}`];

    // Act
    const done = await automationRun(previous.DocumentName, parameters);

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Failed');
    const failure = failureOf(done);
    expect(failure.failedStep).toBe('runInstallScript');
    expect(failure.reason).toContain('the install script (install.scripts) has a syntax error');
    expect(done.Outputs?.[BAKE_DOCUMENT_OUTPUTS.imageId]?.[0] ?? '').not.toMatch(/^ami-/);
  });

  it('bakehouse diff shows the release move and the package upgrades between an image of the seeded release and the newest', async () => {
    // Prepare: the stock configuration bakes al2023-base to the newest release only, and the sandbox
    // repository has two. So the older image is the same document pinned to the seeded release, as
    // a family pinned to it bakes; its wait is handed to the deployed WaitForAutomation as the state
    // machine hands it over, with a task token no execution holds: the inventory is recorded
    // before the task is settled, and settling then finds no task.
    const previous = await automationOf(String(al2023.detail.automationExecutionId));
    const seeded = String((al2023.detail.release as { before: string }).before);
    const pinned = await automationRun(previous.DocumentName, {
      ...(previous.Parameters ?? {}),
      ReleaseVersion: [seeded],
      ReleaseTarget: [seeded],
      BakeId: ['patching-pinned-release'],
      ImageName: [`bakehouse/al2023-base/pinned-${Date.now()}`],
    });
    expect(pinned.AutomationExecutionStatus, pinned.FailureMessage).toBe('Success');
    const older = pinned.Outputs?.[BAKE_DOCUMENT_OUTPUTS.imageId]?.[0] ?? '';
    const invoked = await lambda.send(
      new InvokeCommand({
        FunctionName: 'bakehouse-dev-WaitForAutomation',
        Payload: JSON.stringify({
          taskToken: 'no-execution-holds-this-token',
          automationExecutionId: pinned.AutomationExecutionId,
          bakeId: 'patching-pinned-release',
          family: 'al2023-base',
          bakeStartedAt: new Date().toISOString(),
        }),
      }),
    );
    expect(invoked.FunctionError, Buffer.from(invoked.Payload ?? []).toString()).toBeUndefined();
    expect(JSON.parse(Buffer.from(invoked.Payload ?? []).toString())).toEqual({ outcome: 'already-settled' });

    // Act: the pinned image against the pipeline's bake, named by the family's candidate channel
    // (the text through the real bin, as an operator runs it)
    const text = await realBin(['diff', older, 'al2023-base:candidate']);
    const json = await cli(['diff', older, 'al2023-base:candidate', '--json']);
    const same = await cli(['diff', 'al2023-base:candidate', 'al2023-base:candidate']);
    const source = String(al2023.detail.sourceAmiId);
    const notBaked = await realBin(['diff', source, 'al2023-base:candidate']);

    // Assess
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^release: 2023\.9\.20261101(\.\d+)? → 2023\.9\.20261122(\.\d+)?$/m);
    expect(text.stdout).toMatch(/^ {2}glibc +2\.34-196\.amzn2023\.0\.1\.\w+ → 2\.34-196\.amzn2023\.0\.2\.\w+$/m);
    const diff = JSON.parse(json.stdout);
    expect(diff.from).toMatchObject({
      imageId: older,
      family: 'al2023-base',
      os: 'linux',
      release: expect.stringMatching(SEEDED_RELEASE),
    });
    expect(diff.to).toMatchObject({
      ref: 'al2023-base:candidate',
      family: 'al2023-base',
      release: expect.stringMatching(NEWER_RELEASE),
    });
    expect(diff.to.bakeId).toBe(al2023.bakeId);
    // What the catalog's newer release changed (packages/sandbox/src/guest/catalog.ts AL2023_UPDATES)
    const upgraded = (diff.packages.upgraded as { name: string }[]).map((c) => c.name);
    expect(upgraded).toEqual(
      expect.arrayContaining(['system-release', 'glibc', 'openssl-libs', 'openssh-server', 'curl-minimal', 'tzdata']),
    );
    expect(diff.packages.upgraded).toContainEqual({
      name: 'openssl-libs',
      from: [expect.stringMatching(/^3\.2\.2-1\.amzn2023\.0\.2\./)],
      to: [expect.stringMatching(/^3\.2\.2-1\.amzn2023\.0\.3\./)],
    });
    expect(diff.packages.downgraded).toEqual([]);
    expect(diff.packages.removed).toEqual([]);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('no differences: the same release and packages');
    // The public image the bake started from: no bake captured it, and the error says so and what to do.
    expect(notBaked.code).toBe(1);
    expect(notBaked.stdout).toBe('');
    expect(notBaked.stderr).toContain(`${source} is not a Bakehouse image`);
    expect(notBaked.stderr).toContain('Fix: compare images Bakehouse baked');
  });
});
