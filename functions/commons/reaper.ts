/**
 * The reaper: terminates Bakehouse's builder, tester, canary and baseline instances that outlived their
 * `bakehouse:expires-at` tag (written at launch by the bake and test documents: launch time plus
 * the family's builder timeout, plus margin) while nothing runs them any more. A builder stays
 * behind when both the bake document's `terminateBuilder` step and the failure path's
 * TerminateInstances failed (Bake Failed then says `cleanup.builderTerminated: false`), or when the
 * whole pipeline was stopped under it; the expiry tag was put there for this.
 *
 * The protective rules, in order (an instance is reaped only if all hold):
 * 1. it carries `bakehouse:managed=true` and `bakehouse:role` builder, tester, canary or baseline (the Describe
 *    filter; IAM allows TerminateInstances only on instances with those tags too);
 * 2. its `bakehouse:expires-at` is a valid time, and that time has passed on EC2's clock;
 * 3. the automation it names (`bakehouse:automation-execution-id` on builders,
 *    `bakehouse:test-execution-id` on testers) is not running: SSM says it ended, or no longer
 *    knows it. An automation still running owns its instance and terminates it itself.
 * Untagged or foreign instances are never listed, so never touched.
 *
 * Canary and baseline instances (issue 16: `bakehouse:role` canary or baseline, launched by the
 * canary function into an Auto Scaling group's launch template and attached to the group) have no
 * automation: past their expiry (launch + warm-up + analysis + an hour) their canary is over, so
 * they are reaped after rule 2. They are first detached from their group with
 * ShouldDecrementDesiredCapacity, so the group does not launch replacements and its desired
 * capacity returns to what it was before the canary attached them (Amazon EC2 Auto Scaling API
 * Reference, DetachInstances: "If you do not specify the option to decrement the desired capacity,
 * Amazon EC2 Auto Scaling launches instances to replace the ones that are detached"). A detach that
 * fails is reported and the instance terminated anyway: the group then replaces it with its own image,
 * which is better than a forgotten canary serving traffic.
 *
 * Dry run reports what it would terminate and terminates nothing. `reapExpiredInstances` is the
 * core the hourly schedule runs and the nightly janitor can call for its report.
 */
import {
  type AutoScalingClient,
  DescribeAutoScalingInstancesCommand,
  DetachInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetAutomationExecutionCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { TESTER_ROLE } from './ami-tests';
import { isTerminal } from './automation-status';
import { BUILDER_ROLE, Tag } from './bake-plan';
import { errorNameOf, messageOf } from './errors';
import { eachPage } from './pages';
import type { LogPort } from './powertools';

export interface ReaperDeps {
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  /** Finds the groups canary and baseline instances are in, and detaches them. */
  readonly autoScaling: Pick<AutoScalingClient, 'send'>;
  /** EC2's clock: expiry tags are compared with it. */
  readonly clock: () => Date;
  readonly logger: LogPort;
}

export interface ReaperOptions {
  readonly dryRun: boolean;
}

/** An instance the reaper terminated (or, in a dry run, would have). */
export interface ReapedInstance {
  readonly instanceId: string;
  readonly role: string;
  readonly bakeId: string | null;
  readonly family: string | null;
  readonly expiresAt: string;
  readonly executionId: string | null;
  /** The automation's status when checked; null when the instance names none or SSM no longer knows it. */
  readonly executionStatus: string | null;
}

export type KeptReason = 'no-expiry' | 'not-expired' | 'automation-running';

export interface ReaperReport {
  readonly dryRun: boolean;
  readonly checkedAt: string;
  readonly reaped: readonly ReapedInstance[];
  readonly kept: readonly { readonly instanceId: string; readonly reason: KeptReason }[];
  readonly errors: readonly { readonly instanceId: string; readonly error: string }[];
}

/** The `bakehouse:role` of the canary stage's instances (the canary function tags them so). */
export const CANARY_ROLES: readonly string[] = ['canary', 'baseline'];
/** Roles whose instances the reaper may terminate (IAM's condition names the same values). */
export const REAPED_ROLES: readonly string[] = [BUILDER_ROLE, TESTER_ROLE, ...CANARY_ROLES];
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];
const BATCH = 50;
/** DescribeAutoScalingInstances takes at most 50 instance ids (and returns at most 50 records). */
const DESCRIBE_GROUP_BATCH = 50;
/** DetachInstances takes at most 20 instances (API Reference, DetachInstances, InstanceIds). */
const DETACH_BATCH = 20;

const tagOf = (instance: Instance, key: string): string | undefined =>
  instance.Tags?.find((tag) => tag.Key === key)?.Value;

const executionOf = (instance: Instance): string | undefined =>
  tagOf(instance, Tag.AutomationExecution) ?? tagOf(instance, Tag.TestExecution);

/** The automation's status; null when SSM does not know it (ended long ago, or never started). */
const automationStatus = async (deps: ReaperDeps, executionId: string): Promise<string | null> => {
  try {
    const { AutomationExecution } = await deps.ssm.send(
      new GetAutomationExecutionCommand({ AutomationExecutionId: executionId }),
    );
    return AutomationExecution?.AutomationExecutionStatus ?? null;
  } catch (error) {
    if (errorNameOf(error) === 'AutomationExecutionNotFoundException') return null;
    throw error;
  }
};

const listCandidates = async (deps: ReaperDeps): Promise<Instance[]> => {
  const instances: Instance[] = [];
  const pages = eachPage((NextToken) =>
    deps.ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${Tag.Managed}`, Values: ['true'] },
          { Name: `tag:${Tag.Role}`, Values: [...REAPED_ROLES] },
          { Name: 'instance-state-name', Values: LIVE_STATES },
        ],
        MaxResults: 100,
        NextToken,
      }),
    ),
  );
  for await (const page of pages) {
    for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
  }
  return instances;
};

const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

const describeError = (error: unknown): string =>
  errorNameOf(error) ? `${errorNameOf(error)}: ${messageOf(error)}` : messageOf(error);

/**
 * Detaches canary and baseline instances from the groups that hold them, decrementing each group's
 * desired capacity. Instances no group holds (never attached, or detached already) are left as they
 * are. Returns the errors per instance; the caller terminates all of them regardless.
 */
const detachFromGroups = async (
  deps: ReaperDeps,
  instanceIds: readonly string[],
): Promise<{ instanceId: string; error: string }[]> => {
  const errors: { instanceId: string; error: string }[] = [];
  const groups = new Map<string, string[]>();
  for (const batch of chunks(instanceIds, DESCRIBE_GROUP_BATCH)) {
    try {
      const { AutoScalingInstances } = await deps.autoScaling.send(
        new DescribeAutoScalingInstancesCommand({ InstanceIds: batch, MaxRecords: DESCRIBE_GROUP_BATCH }),
      );
      for (const { InstanceId, AutoScalingGroupName } of AutoScalingInstances ?? []) {
        if (!InstanceId || !AutoScalingGroupName || !batch.includes(InstanceId)) continue;
        groups.set(AutoScalingGroupName, [...(groups.get(AutoScalingGroupName) ?? []), InstanceId]);
      }
    } catch (error) {
      for (const instanceId of batch) {
        errors.push({ instanceId, error: `finding its Auto Scaling group: ${describeError(error)}` });
      }
    }
  }
  for (const [group, members] of groups) {
    for (const batch of chunks(members, DETACH_BATCH)) {
      try {
        await deps.autoScaling.send(
          new DetachInstancesCommand({
            AutoScalingGroupName: group,
            InstanceIds: batch,
            ShouldDecrementDesiredCapacity: true,
          }),
        );
        deps.logger.info('detached expired canary instances from their group', { group, instanceIds: batch });
      } catch (error) {
        const message = `detaching from Auto Scaling group '${group}': ${describeError(error)}`;
        for (const instanceId of batch) errors.push({ instanceId, error: message });
      }
    }
  }
  return errors;
};

export const reapExpiredInstances = async (deps: ReaperDeps, options: ReaperOptions): Promise<ReaperReport> => {
  const now = deps.clock();
  const reapable: ReapedInstance[] = [];
  const kept: { instanceId: string; reason: KeptReason }[] = [];
  const errors: { instanceId: string; error: string }[] = [];

  for (const instance of await listCandidates(deps)) {
    const instanceId = instance.InstanceId;
    const role = tagOf(instance, Tag.Role);
    // The filter asked for these; a reaper never trusts a filter with a termination.
    if (!instanceId || tagOf(instance, Tag.Managed) !== 'true' || !role || !REAPED_ROLES.includes(role)) continue;
    const expiresAt = tagOf(instance, Tag.ExpiresAt);
    const expiry = expiresAt ? Date.parse(expiresAt) : Number.NaN;
    if (!expiresAt || Number.isNaN(expiry)) {
      kept.push({ instanceId, reason: 'no-expiry' });
      continue;
    }
    if (expiry > now.getTime()) {
      kept.push({ instanceId, reason: 'not-expired' });
      continue;
    }
    const executionId = executionOf(instance) ?? null;
    let executionStatus: string | null = null;
    if (executionId) {
      try {
        executionStatus = await automationStatus(deps, executionId);
      } catch (error) {
        errors.push({ instanceId, error: `reading automation ${executionId}: ${messageOf(error)}` });
        continue;
      }
      if (executionStatus !== null && !isTerminal(executionStatus)) {
        kept.push({ instanceId, reason: 'automation-running' });
        continue;
      }
    }
    reapable.push({
      instanceId,
      role,
      bakeId: tagOf(instance, Tag.BakeId) ?? null,
      family: tagOf(instance, Tag.Family) ?? null,
      expiresAt,
      executionId,
      executionStatus,
    });
  }

  const reaped: ReapedInstance[] = [];
  if (options.dryRun) {
    reaped.push(...reapable);
  } else {
    const canaries = reapable.filter((item) => CANARY_ROLES.includes(item.role)).map((item) => item.instanceId);
    if (canaries.length > 0) errors.push(...(await detachFromGroups(deps, canaries)));
    for (let i = 0; i < reapable.length; i += BATCH) {
      const batch = reapable.slice(i, i + BATCH);
      try {
        await deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: batch.map((item) => item.instanceId) }));
        reaped.push(...batch);
      } catch (error) {
        const message = describeError(error);
        for (const item of batch) errors.push({ instanceId: item.instanceId, error: message });
      }
    }
  }

  const report: ReaperReport = { dryRun: options.dryRun, checkedAt: now.toISOString(), reaped, kept, errors };
  if (reaped.length > 0) {
    deps.logger.warn(options.dryRun ? 'would reap expired instances (dry run)' : 'reaped expired instances', {
      reaped,
    });
  }
  if (errors.length > 0) deps.logger.error('could not reap some expired instances', { errors });
  deps.logger.info('reaper run', {
    dryRun: options.dryRun,
    reaped: reaped.length,
    kept: kept.length,
    errors: errors.length,
  });
  return report;
};
