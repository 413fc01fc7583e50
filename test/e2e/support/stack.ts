/**
 * The full stack in a test sandbox: the cloud assembly synthesized (or reused from its cache) for
 * the sandbox account, a sandbox started on it and provisioned from it, and the sandbox's event log.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AutoScalingClient, CreateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DeleteScheduleCommand, SchedulerClient, type SchedulerClientConfig } from '@aws-sdk/client-scheduler';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type ProvisionReport, provisionFromAssembly } from '@bakehouse/sandbox';
import { startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import rawConfig from '../../../bakehouse.config';
import { moveToRunStart } from '../../../dev/start/plan';
import type { LoggedEvent } from '../../../dev/start/render';
import { synthesizeForSandbox } from '../../../dev/synth';
import { Tag } from '../../../functions/commons/bake-plan';

/** The launch template bakehouse.config.ts registers on al2023-base's stable channel. */
export const EXAMPLE_LAUNCH_TEMPLATE = 'bakehouse-example-web';

/**
 * Creates the example launch template as its owning team would: tagged with the name the
 * configuration uses (`bakehouse:launch-template`), without which Promote and Revoke may not touch it.
 */
export const createExampleLaunchTemplate = async (ec2: Pick<EC2Client, 'send'>): Promise<void> => {
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: EXAMPLE_LAUNCH_TEMPLATE,
      LaunchTemplateData: { ImageId: 'ami-0b5eed00000000001', InstanceType: 'm7i.large' },
      TagSpecifications: [
        { ResourceType: 'launch-template', Tags: [{ Key: Tag.LaunchTemplate, Value: EXAMPLE_LAUNCH_TEMPLATE }] },
      ],
    }),
  );
};

/** The Auto Scaling group bakehouse.config.ts names for al2023-web's prod canary. */
export const EXAMPLE_WEB_GROUP = 'bakehouse-example-web';

/**
 * Creates the example web group as the team that runs it would: from the example launch template
 * (create that first), empty, so the only members are the canary's pairs while a canary runs.
 */
export const createExampleWebGroup = async (autoscaling: Pick<AutoScalingClient, 'send'>): Promise<void> => {
  await autoscaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: EXAMPLE_WEB_GROUP,
      LaunchTemplate: { LaunchTemplateName: EXAMPLE_LAUNCH_TEMPLATE, Version: '$Default' },
      MinSize: 0,
      MaxSize: 10,
      DesiredCapacity: 0,
      AvailabilityZones: ['us-east-1a'],
    }),
  );
};

/** A CloudFormation template's JSON, for a test to change before provisioning. */
export interface TemplateJson {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> } & Record<string, unknown>>;
}

export interface ProvisionOptions {
  /**
   * Changes the stack's template before provisioning (a mutation test removes one statement or
   * one permission): the assembly is copied to a temporary directory, its assets linked, so the
   * cached assembly is never changed.
   */
  readonly mutate?: (template: TemplateJson) => void;
  /** EC2's eventual consistency after creates (the sandbox option); off when omitted. */
  readonly eventualConsistency?: { readonly hideSeconds: number };
  /**
   * `keep` leaves the family bake schedules and the nightly janitor's in place, for a file about
   * schedules. By default they are deleted once provisioned (`deleteSchedules`): at 1200x a day
   * passes in 72 s, so on a Saturday evening (UTC) the Sunday schedules would bake al2023-base
   * and ubuntu-2404-base in the background of a file's own bakes (seen in CI tonight: a request
   * answered Bake Skipped, a family lock busy, a builder more than the file made).
   */
  readonly schedules?: 'keep';
}

const mutatedCopy = (assemblyDir: string, mutate: (template: TemplateJson) => void): string => {
  const copy = mkdtempSync(join(tmpdir(), 'bakehouse-mutant-'));
  for (const entry of readdirSync(assemblyDir)) {
    const from = join(assemblyDir, entry);
    if (entry.startsWith('asset.')) symlinkSync(from, join(copy, entry));
    else if (entry.endsWith('.template.json')) {
      const template = JSON.parse(readFileSync(from, 'utf8')) as TemplateJson;
      mutate(template);
      writeFileSync(join(copy, entry), JSON.stringify(template));
    } else copyFileSync(from, join(copy, entry));
  }
  return copy;
};

export const startProvisionedSandbox = async (
  speed: number,
  options: ProvisionOptions = {},
): Promise<{ sandbox: TestSandbox; report: ProvisionReport }> => {
  const assembly = await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
  const assemblyDir = options.mutate ? mutatedCopy(assembly.assemblyDir, options.mutate) : assembly.assemblyDir;
  // The clock stands still while the stacks are provisioned, then runs at `speed`: a schedule
  // firing half-way would deliver events to rules whose targets' permissions are not provisioned
  // yet (a clean-clone run saw Notify refused to events.amazonaws.com that way).
  const sandbox = await startTestSandbox({
    speed: 0,
    assetsDir: assemblyDir,
    ...(options.eventualConsistency ? { eventualConsistency: options.eventualConsistency } : {}),
  });
  // Every file starts on the next Saturday 12:00 UTC, as npm start does (dev/start/plan.ts): what
  // the schedules fire, and when, is then the same whatever day the tests run.
  moveToRunStart(sandbox.sandbox.clock);
  const report = await provisionFromAssembly({ sandbox: sandbox.sandbox, assemblyDir });
  if (options.schedules !== 'keep') await deleteSchedules(sandbox);
  sandbox.sandbox.clock.setSpeed(speed);
  if (options.mutate) {
    // The mutated copy goes with the sandbox that runs it.
    const stopMutant = sandbox.stop;
    const stop = async () => {
      await stopMutant();
      rmSync(assemblyDir, { recursive: true, force: true });
    };
    return { sandbox: { ...sandbox, stop }, report };
  }
  // The stacks as synthesized must never be refused: any denial the sandbox recorded for one of
  // their roles fails the test file (mutation tests change the template and expect refusals).
  const stop = sandbox.stop;
  return {
    sandbox: {
      ...sandbox,
      stop: async () => {
        const denials = sandbox.sandbox.authorizer.usage
          .snapshot()
          .flatMap(({ roleArn, denials }) =>
            denials.map((d) => `${roleArn}: ${d.action} on ${d.resource} (${d.reason})`),
          );
        await stop();
        if (denials.length > 0)
          throw new Error(`the stacks' roles were refused ${denials.length} time(s): ${denials.join('; ')}`);
      },
    },
    report,
  };
};

/**
 * The log read so far, per sandbox: entries up to the first one with a delivery still pending
 * never change again (a delivery's end, delivered, failed or dead-lettered, is final), so each
 * read fetches only what follows them (`?since=`). Reading the whole log every 100 ms, as
 * `eventWhere` polls, cost a busy e2e file seconds of serializing and parsing (--cpu-prof).
 */
const settledLogs = new WeakMap<TestSandbox, LoggedEvent[]>();

/** Every event the sandbox's buses received, in order, with where each went. */
export const eventLog = async (sandbox: TestSandbox): Promise<LoggedEvent[]> => {
  const settled = settledLogs.get(sandbox) ?? [];
  const last = settled.at(-1);
  const path = last ? `/_sandbox/events?since=${encodeURIComponent(last.event.id)}` : '/_sandbox/events';
  const fresh = (await sandbox.control('GET', path)).body as LoggedEvent[];
  const log = [...settled, ...fresh];
  const firstOpen = log.findIndex((entry) => entry.deliveries.some((delivery) => delivery.status === 'pending'));
  settledLogs.set(sandbox, firstOpen < 0 ? log : log.slice(0, firstOpen));
  return log;
};

/**
 * Makes the provisioned stack post to Slack in the sandbox (its Slack sink) and gives it the
 * example web launch template stable promotes to: what a test of the whole lifecycle needs first.
 */
export const connectSlackAndLaunchTemplate = async (sandbox: TestSandbox, report: ProvisionReport): Promise<void> => {
  const secret = report.created.find((r) => r.type === 'AWS::SecretsManager::Secret');
  if (!secret) throw new Error('the stacks declare no Slack secret');
  const secrets = new SecretsManagerClient(sandbox.clientConfig);
  const ec2 = new EC2Client(sandbox.clientConfig);
  try {
    await secrets.send(
      new PutSecretValueCommand({
        SecretId: secret.physicalId,
        SecretString: JSON.stringify({ botToken: 'xoxb-sandbox', apiUrl: `${sandbox.sandbox.url}/api/` }),
      }),
    );
    await createExampleLaunchTemplate(ec2);
  } finally {
    secrets.destroy();
    ec2.destroy();
  }
};

/** Waits (real time) for an event in the sandbox's log that `matches`; fails naming `description`. */
export const eventWhere = async (
  sandbox: TestSandbox,
  description: string,
  matches: (entry: LoggedEvent) => boolean,
  timeoutMs = 60_000,
): Promise<LoggedEvent> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = (await eventLog(sandbox)).find(matches);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no event within ${timeoutMs} ms: ${description}`);
};

/** Matches an event of `type` whose detail has each of `detail`'s values. */
export const ofType =
  (type: string, detail: Record<string, unknown>) =>
  (entry: LoggedEvent): boolean =>
    entry.event['detail-type'] === type && Object.entries(detail).every(([k, v]) => entry.event.detail[k] === v);

/**
 * Deletes the family bake schedules and the nightly janitor's: a file that bakes on request at a
 * fast clock (1200x passes a day in 72 s) would otherwise see the Sunday schedules fire during
 * its own bakes on a Saturday evening (UTC) and find its request skipped or its history longer.
 */
export const deleteSchedules = async (sandbox: { readonly clientConfig: SchedulerClientConfig }): Promise<void> => {
  const scheduler = new SchedulerClient(sandbox.clientConfig);
  try {
    await scheduler.send(new DeleteScheduleCommand({ Name: 'bakehouse-dev-Janitor', GroupName: 'default' }));
    for (const family of rawConfig.families.filter((f) => 'schedule' in f && f.schedule)) {
      await scheduler.send(new DeleteScheduleCommand({ Name: family.name, GroupName: 'bakehouse-dev' }));
    }
  } finally {
    scheduler.destroy();
  }
};
