/**
 * The canary stage (issue 16): the actions the canary state machine
 * (state-machines/canary.asl.json) runs, one per Task, over injected clients.
 *
 * - `start`: from the `AMI Tested` event, find the family's canary channel and its current image
 *   (the baseline), read the channel's Auto Scaling group for its launch template, and launch
 *   `pairs` baseline and `pairs` canary instances from it, each side with its own image. A side
 *   that fails to launch takes the other side's instances down with it: nothing is left running.
 * - `check`: once every instance runs, attach them all to the group (they take real traffic
 *   from then on) and publish `Canary Started`.
 * - `judge`: fetch every metric for every instance since the warm-up ended, pool each side and
 *   judge them (functions/commons/canary-judge.ts). Continue until the analysis time is over, or
 *   end early when a critical metric fails on data.
 * - `cleanup`: detach (decrementing the desired capacity, so the group launches no replacements)
 *   and terminate the pairs. Never throws for an instance already gone; reports what it could not do.
 * - `finish`: publish `Canary Judged` (a skipped canary publishes verdict `skipped`).
 * - `cleanupStopped`: for an execution that was stopped, timed out or failed outside its own
 *   failure path: find the pairs by their `bakehouse:canary-id` tag, clean up, and publish
 *   `Canary Judged` (`aborted` or `error`).
 *
 * The state the machine carries between tasks is `CanaryRun`: small (no samples; Step Functions
 * limits a state's payload to 256 KiB), and every field a Choice reads is always present.
 */
import { createHash } from 'node:crypto';
import {
  AttachInstancesCommand,
  type AutoScalingClient,
  type AutoScalingGroup,
  DescribeAutoScalingGroupsCommand,
  DetachInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import {
  DescribeInstancesCommand,
  type EC2Client,
  type Tag as Ec2Tag,
  type Instance,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { Tag } from '../commons/bake-plan';
import { canaryChannelOf } from '../commons/canary-channel';
import { type CanaryScorecard, judgeCanary } from '../commons/canary-judge';
import { readChannel } from '../commons/channels';
import { parseEvent } from '../commons/contract';
import { AutoScalingGroupNotFoundError, BakehouseError, errorNameOf, messageOf } from '../commons/errors';
import {
  type CanaryJudged,
  type CanaryMetricResult,
  type CanaryStarted,
  type CanaryVerdict,
  DetailType,
  EVENT_VERSION,
} from '../commons/events';
import type { BakehouseConfig, CanarySettings } from '../commons/families';
import { findFamily } from '../commons/family-lookup';
import type { LogPort } from '../commons/powertools';
import { type EventTarget, publishEvent } from '../commons/publish';
import { fetchSamples } from './metrics';

export interface CanaryDeps {
  readonly config: BakehouseConfig;
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly autoScaling: Pick<AutoScalingClient, 'send'>;
  readonly cloudWatch: Pick<CloudWatchClient, 'send'>;
  readonly events: Pick<EventBridgeClient, 'send'>;
  readonly target: EventTarget;
  readonly clock: () => Date;
  readonly logger: Pick<LogPort, 'info' | 'warn'>;
}

// --- errors -------------------------------------------------------------------------------------

/** The channel's group launches from no launch template the pairs could use. */
export class CanaryGroupError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CanaryGroupError';
  }
}

/** A side's RunInstances failed; the other side's instances were terminated. */
export class CanaryLaunchError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CanaryLaunchError';
  }
}

// --- state --------------------------------------------------------------------------------------

export interface CanaryInstances {
  readonly baseline: readonly string[];
  readonly canary: readonly string[];
}

/** Who the canary is, as both events name it. */
export interface CanaryIdentity {
  readonly canaryId: string;
  readonly executionArn: string;
  readonly family: string;
  readonly amiId: string;
  readonly bakeId: string;
}

/** `start`'s answer when there is nothing to compare: the machine publishes it as verdict skipped. */
export interface SkippedCanary extends CanaryIdentity {
  readonly skip: true;
  readonly reason: string;
  /** Null when the family has no canary channel (then nothing is published). */
  readonly channel: string | null;
  readonly baselineAmiId: string | null;
}

/** The scorecard as the state and `Canary Judged` carry it. */
export interface CanaryJudgement {
  readonly score: number;
  readonly verdict: 'pass' | 'marginal' | 'fail';
  readonly failedCritical: readonly string[];
  readonly metrics: readonly CanaryMetricResult[];
}

export interface CanaryRun extends CanaryIdentity {
  readonly skip: false;
  readonly channel: string;
  readonly baselineAmiId: string;
  readonly autoScalingGroup: string;
  readonly instances: CanaryInstances;
  readonly settings: CanarySettings;
  readonly launchedAt: string;
  /** How many times `check` ran; the machine gives up after a bounded number. */
  readonly checks: number;
  readonly allRunning: boolean;
  /** An instance stopped or terminated before the pairs ran. */
  readonly failed: boolean;
  readonly attachedAt: string | null;
  readonly analysisStartsAt: string | null;
  readonly analysisEndsAt: string | null;
  /** The Wait states' SecondsPath values. */
  readonly warmupSeconds: number;
  readonly intervalSeconds: number;
  readonly intervalsJudged: number;
  readonly decision: 'continue' | 'end' | null;
  readonly judgement: CanaryJudgement | null;
}

export interface CleanupResult {
  readonly errors: readonly string[];
  readonly instancesTerminated: number;
}

/** Step Functions' error record, as a Catch writes it. */
export interface ErrorRecord {
  readonly Error: string;
  readonly Cause?: string;
}

export interface StartInput {
  readonly canaryId: string;
  readonly executionArn: string;
  /** The `AMI Tested` event as the rule delivers it (the execution's input). */
  readonly event: unknown;
}

export interface CleanupInput {
  readonly canaryId: string;
  readonly executionArn: string;
  /** The execution's input (the AMI Tested event): who the canary is when `state` does not say. */
  readonly input?: unknown;
  /** The machine's state: a `CanaryRun`, a `SkippedCanary`, or the input itself after an early error. */
  readonly state?: unknown;
  /** Set on the failure path (from a Catch): cleanup then publishes `Canary Judged` verdict error. */
  readonly error?: ErrorRecord;
}

export interface CleanupOutput extends CleanupResult {
  /** The verdict published (only on the failure path). */
  readonly published?: CanaryVerdict;
}

// --- helpers ------------------------------------------------------------------------------------

const MINUTE = 60_000;
const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * A RunInstances client token per canary and side: a Lambda retried by Step Functions after a
 * timeout gets the instances it launched the first time instead of launching more (Amazon EC2
 * Developer Guide, "Ensuring idempotency in Amazon EC2 API requests",
 * https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html; RunInstances'
 * ClientToken takes at most 64 ASCII characters).
 */
const clientToken = (canaryId: string, role: 'baseline' | 'canary'): string =>
  createHash('sha256').update(`${canaryId}\n${role}`).digest('hex').slice(0, 64);

/** The group's launch template, as RunInstances takes it. */
const launchTemplateOf = (group: AutoScalingGroup, name: string) => {
  const spec = group.LaunchTemplate ?? group.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification;
  if (!spec || (!spec.LaunchTemplateId && !spec.LaunchTemplateName)) {
    throw new CanaryGroupError(
      `canary: Auto Scaling group '${name}' launches from no launch template (a launch configuration, or none), and the canary launches its pairs from the group's launch template. Fix: move the group to a launch template (LaunchTemplate or MixedInstancesPolicy), or set canary.autoScalingGroup to a group that uses one`,
    );
  }
  return {
    ...(spec.LaunchTemplateId
      ? { LaunchTemplateId: spec.LaunchTemplateId }
      : { LaunchTemplateName: spec.LaunchTemplateName }),
    // The version the group launches: '$Default', '$Latest' or a number; RunInstances takes each.
    Version: spec.Version ?? '$Default',
  };
};

const describeGroup = async (deps: CanaryDeps, name: string): Promise<AutoScalingGroup> => {
  const { AutoScalingGroups } = await deps.autoScaling.send(
    new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }),
  );
  const group = AutoScalingGroups?.find((g) => g.AutoScalingGroupName === name);
  if (!group) {
    throw new AutoScalingGroupNotFoundError(
      `canary: Auto Scaling group '${name}' does not exist (or this role may not describe it). Fix: create it, or set canary.autoScalingGroup to an existing group`,
    );
  }
  return group;
};

const instancesOf = (
  reservations: readonly { readonly Instances?: Instance[] | undefined }[] | undefined,
): Instance[] => (reservations ?? []).flatMap((r) => r.Instances ?? []);

const allIds = (instances: CanaryInstances): string[] => [...instances.baseline, ...instances.canary];

// --- start --------------------------------------------------------------------------------------

export const startCanary = async (input: StartInput, deps: CanaryDeps): Promise<SkippedCanary | CanaryRun> => {
  const { detail } = parseEvent(input.event, [DetailType.AmiTested]);
  const identity: CanaryIdentity = {
    canaryId: input.canaryId,
    executionArn: input.executionArn,
    family: detail.family,
    amiId: detail.amiId,
    bakeId: detail.bakeId,
  };
  const skip = (reason: string, channel: string | null, baselineAmiId: string | null = null): SkippedCanary => {
    deps.logger.info('canary skipped', { family: detail.family, reason });
    return { ...identity, skip: true, reason, channel, baselineAmiId };
  };
  const family = findFamily(deps.config, detail.family);
  if (!family) return skip(`family '${detail.family}' is not configured here`, null);
  const found = canaryChannelOf(family);
  if (!found) return skip(`family '${family.name}' has no channel promoted on 'canary'`, null);
  const { channel, canary: settings } = found;
  if (!detail.passed) return skip(`${detail.amiId} failed its tests, so it is not compared`, channel);
  const baselineAmiId = await readChannel(family.name, channel, {
    ssm: deps.ssm,
    ec2: deps.ec2,
    parameterPrefix: deps.config.settings.parameterPrefix,
  });
  if (baselineAmiId === null) {
    return skip(
      `channel '${channel}' has no image yet, so there is no baseline to compare ${detail.amiId} with; promote a first image with \`bakehouse promote\``,
      channel,
    );
  }
  if (baselineAmiId === detail.amiId) {
    return skip(`channel '${channel}' already holds ${detail.amiId}`, channel, baselineAmiId);
  }

  const group = await describeGroup(deps, settings.autoScalingGroup);
  const launchTemplate = launchTemplateOf(group, settings.autoScalingGroup);
  // The pairs must be in one of the group's Availability Zones to be attached (EC2 Auto Scaling
  // User Guide, "Detach or attach instances",
  // https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-detach-attach-instances.html);
  // a group's template usually names no subnet, so both sides launch in the group's first subnet.
  const subnetId = group.VPCZoneIdentifier?.split(',')
    .map((s) => s.trim())
    .find((s) => s.length > 0);
  const launchedAtMs = deps.clock().getTime();
  const expiresAt = iso(launchedAtMs + (settings.warmupMinutes + settings.analysisMinutes + 60) * MINUTE);

  const launch = async (role: 'baseline' | 'canary', imageId: string): Promise<string[]> => {
    const tags: Ec2Tag[] = [
      { Key: Tag.Managed, Value: 'true' },
      { Key: Tag.Role, Value: role },
      { Key: CANARY_ID_TAG, Value: input.canaryId },
      { Key: Tag.Family, Value: family.name },
      { Key: Tag.ExpiresAt, Value: expiresAt },
    ];
    // Parameters given with a launch template override the template's (EC2 API Reference,
    // "RunInstances", LaunchTemplate; EC2 User Guide, "Launch EC2 instances using a launch
    // template"): ImageId replaces the template's image, everything else is the group's.
    const { Instances } = await deps.ec2.send(
      new RunInstancesCommand({
        MinCount: settings.pairs,
        MaxCount: settings.pairs,
        LaunchTemplate: launchTemplate,
        ImageId: imageId,
        ...(subnetId === undefined ? {} : { SubnetId: subnetId }),
        ClientToken: clientToken(input.canaryId, role),
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
        ],
      }),
    );
    return (Instances ?? []).map((i) => i.InstanceId).filter((id): id is string => typeof id === 'string');
  };
  const [baseline, canary] = await Promise.allSettled([
    launch('baseline', baselineAmiId),
    launch('canary', detail.amiId),
  ]);
  if (baseline.status === 'rejected' || canary.status === 'rejected') {
    const launched = [baseline, canary].flatMap((side) => (side.status === 'fulfilled' ? side.value : []));
    if (launched.length > 0) {
      await deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: launched }));
    }
    const failed = [
      ...(baseline.status === 'rejected' ? [`baseline (${baselineAmiId}): ${messageOf(baseline.reason)}`] : []),
      ...(canary.status === 'rejected' ? [`canary (${detail.amiId}): ${messageOf(canary.reason)}`] : []),
    ];
    throw new CanaryLaunchError(
      `canary: could not launch from the launch template of group '${settings.autoScalingGroup}': ${failed.join('; ')}${launched.length > 0 ? `; terminated the other side's ${launched.join(', ')}` : ''}. Fix: check that the template launches with these images in the group's subnet`,
      { cause: baseline.status === 'rejected' ? baseline.reason : (canary as PromiseRejectedResult).reason },
    );
  }
  deps.logger.info('canary launched', { baseline: baseline.value, canary: canary.value });
  return {
    ...identity,
    skip: false,
    channel,
    baselineAmiId,
    autoScalingGroup: settings.autoScalingGroup,
    instances: { baseline: baseline.value, canary: canary.value },
    settings,
    launchedAt: iso(launchedAtMs),
    checks: 0,
    allRunning: false,
    failed: false,
    attachedAt: null,
    analysisStartsAt: null,
    analysisEndsAt: null,
    warmupSeconds: settings.warmupMinutes * 60,
    intervalSeconds: settings.intervalMinutes * 60,
    intervalsJudged: 0,
    decision: null,
    judgement: null,
  };
};

/** The error the canary machine's own failure path fails the execution with (its Fail state). */
export const CANARY_FAILED_ERROR = 'CanaryFailed';

/** The tag that ties instances to their canary (the execution name); cleanupStopped finds them by it. */
export const CANARY_ID_TAG = 'bakehouse:canary-id';

// --- check --------------------------------------------------------------------------------------

const GONE = new Set(['shutting-down', 'terminated', 'stopping', 'stopped']);

export const checkCanary = async (state: CanaryRun, deps: CanaryDeps): Promise<CanaryRun> => {
  const ids = allIds(state.instances);
  let instances: Instance[] = [];
  try {
    const { Reservations } = await deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
    instances = instancesOf(Reservations);
  } catch (error) {
    // New instances may not be visible yet (EC2's eventual consistency): not running yet.
    if (errorNameOf(error) !== 'InvalidInstanceID.NotFound') throw error;
  }
  const stateOf = new Map(instances.map((i) => [i.InstanceId, i.State?.Name]));
  const failed = ids.some((id) => GONE.has(stateOf.get(id) ?? ''));
  const allRunning = !failed && ids.every((id) => stateOf.get(id) === 'running');
  const checked = { ...state, checks: state.checks + 1, failed, allRunning };
  if (!allRunning) return checked;

  // AttachInstances takes running instances only (EC2 Auto Scaling User Guide, "Detach or attach
  // instances"), at most 20 at a time (API Reference, "AttachInstances"): pairs ≤ 10 keeps one call.
  // It raises the desired capacity by as many, and fails when that passes the group's maximum.
  await deps.autoScaling.send(
    new AttachInstancesCommand({ AutoScalingGroupName: state.autoScalingGroup, InstanceIds: ids }),
  );
  const attachedAtMs = deps.clock().getTime();
  const analysisStartsAtMs = attachedAtMs + state.settings.warmupMinutes * MINUTE;
  const attached: CanaryRun = {
    ...checked,
    attachedAt: iso(attachedAtMs),
    analysisStartsAt: iso(analysisStartsAtMs),
    analysisEndsAt: iso(analysisStartsAtMs + state.settings.analysisMinutes * MINUTE),
  };
  const started: CanaryStarted = {
    version: EVENT_VERSION,
    canaryId: state.canaryId,
    executionArn: state.executionArn,
    family: state.family,
    channel: state.channel,
    amiId: state.amiId,
    baselineAmiId: state.baselineAmiId,
    bakeId: state.bakeId,
    autoScalingGroup: state.autoScalingGroup,
    pairs: state.settings.pairs,
    instances: { baseline: [...state.instances.baseline], canary: [...state.instances.canary] },
    warmupMinutes: state.settings.warmupMinutes,
    analysisMinutes: state.settings.analysisMinutes,
    intervalMinutes: state.settings.intervalMinutes,
  };
  await publishEvent(deps.events, deps.target, DetailType.CanaryStarted, started);
  return attached;
};

// --- judge --------------------------------------------------------------------------------------

/** The scorecard without the judge's `method` (the event's metric shape). */
const judgementOf = (scorecard: CanaryScorecard): CanaryJudgement => ({
  score: scorecard.score,
  verdict: scorecard.verdict,
  failedCritical: [...scorecard.failedCritical],
  metrics: scorecard.metrics.map(({ method: _method, ...metric }) => metric),
});

export const judgeCanaryRun = async (state: CanaryRun, deps: CanaryDeps): Promise<CanaryRun> => {
  const now = deps.clock();
  const start = new Date(state.analysisStartsAt ?? state.attachedAt ?? state.launchedAt);
  const samples = await fetchSamples(deps.cloudWatch, state.settings.metrics, state.instances, {
    start,
    end: now.getTime() > start.getTime() ? now : new Date(start.getTime() + MINUTE),
  });
  const scorecard = judgeCanary({ metrics: state.settings.metrics, thresholds: state.settings.thresholds }, samples);
  const intervalsJudged = state.intervalsJudged + 1;
  const planned = Math.ceil(state.settings.analysisMinutes / state.settings.intervalMinutes);
  const timeIsUp =
    intervalsJudged >= planned || (state.analysisEndsAt !== null && now.getTime() >= Date.parse(state.analysisEndsAt));
  // A critical metric that fails on data ends the canary now; one without data yet may only be
  // late (CloudWatch publishes with a delay), so it fails the canary only at the end.
  const criticalFailed = scorecard.metrics.some((m) => m.critical && !m.passed && m.classification !== 'NoData');
  const decision = timeIsUp || criticalFailed ? 'end' : 'continue';
  deps.logger.info('canary judged', { intervalsJudged, score: scorecard.score, verdict: scorecard.verdict, decision });
  return { ...state, intervalsJudged, decision, judgement: judgementOf(scorecard) };
};

// --- finish -------------------------------------------------------------------------------------

const round = (score: number): string => String(Math.round(score * 10) / 10);

/** One sentence: why the judged canary got its verdict. */
export const reasonOf = (state: CanaryRun, judgement: CanaryJudgement): string => {
  const { pass, marginal } = state.settings.thresholds;
  const after = `after ${state.intervalsJudged} interval${state.intervalsJudged === 1 ? '' : 's'}`;
  if (judgement.failedCritical.length > 0) {
    return `critical metric${judgement.failedCritical.length === 1 ? '' : 's'} ${judgement.failedCritical.join(', ')} failed or had no data ${after}, so the score is 0.`;
  }
  if (judgement.verdict === 'pass')
    return `score ${round(judgement.score)} reached the pass threshold ${pass} ${after}.`;
  if (judgement.verdict === 'marginal') {
    return `score ${round(judgement.score)} is below the pass threshold ${pass} but reached the marginal threshold ${marginal} ${after}; the channel stays.`;
  }
  return `score ${round(judgement.score)} is below the marginal threshold ${marginal} ${after}.`;
};

const NO_CLEANUP: CleanupResult = { errors: [], instancesTerminated: 0 };

export interface FinishInput {
  readonly state: (CanaryRun & { readonly cleanup?: CleanupResult }) | SkippedCanary;
}

export interface FinishOutput {
  readonly verdict: CanaryVerdict;
  readonly published: boolean;
}

export const finishCanary = async ({ state }: FinishInput, deps: CanaryDeps): Promise<FinishOutput> => {
  if (state.skip) {
    if (state.channel === null) return { verdict: 'skipped', published: false };
    await publishJudged(deps, {
      ...identityOf(state),
      channel: state.channel,
      baselineAmiId: state.baselineAmiId,
      verdict: 'skipped',
      score: null,
      reason: state.reason,
      intervalsJudged: 0,
      failedCritical: [],
      metrics: [],
      cleanup: { errors: [], instancesTerminated: 0 },
    });
    return { verdict: 'skipped', published: true };
  }
  const judgement = state.judgement;
  if (!judgement) throw new BakehouseError(`canary ${state.canaryId}: finish before any judgement`);
  const cleanup = state.cleanup ?? NO_CLEANUP;
  await publishJudged(deps, {
    ...identityOf(state),
    channel: state.channel,
    baselineAmiId: state.baselineAmiId,
    verdict: judgement.verdict,
    score: judgement.score,
    reason: reasonOf(state, judgement),
    intervalsJudged: state.intervalsJudged,
    failedCritical: [...judgement.failedCritical],
    metrics: [...judgement.metrics],
    cleanup: { errors: [...cleanup.errors], instancesTerminated: cleanup.instancesTerminated },
  });
  return { verdict: judgement.verdict, published: true };
};

const identityOf = (state: CanaryIdentity): CanaryIdentity => ({
  canaryId: state.canaryId,
  executionArn: state.executionArn,
  family: state.family,
  amiId: state.amiId,
  bakeId: state.bakeId,
});

type JudgedDetail = Omit<CanaryJudged, 'version'>;

const publishJudged = async (deps: CanaryDeps, detail: JudgedDetail): Promise<void> => {
  const event: CanaryJudged = { version: EVENT_VERSION, ...detail };
  await publishEvent(deps.events, deps.target, DetailType.CanaryJudged, event);
  deps.logger.info('canary verdict published', { verdict: detail.verdict, score: detail.score });
};

// --- cleanup ------------------------------------------------------------------------------------

/**
 * What Auto Scaling answers for an instance that is not (or no longer) in the group: a
 * ValidationError "The instance i-… is not part of Auto Scaling group …" (as reported against
 * DetachInstances in reproio/ecs_deploy#56 and ansible-collections/community.aws#933; the API
 * reference lists no specific error). An instance that is in the group but not InService or Standby
 * ("… is not in InService or Standby") cannot be detached: that is reported, not tolerated.
 */
const NOT_IN_GROUP = /is not part of Auto Scaling group/i;

/** The pairs still there: not terminated, tagged with this canary's id. */
const findByCanaryId = async (deps: CanaryDeps, canaryId: string): Promise<Instance[]> => {
  const { Reservations } = await deps.ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: `tag:${CANARY_ID_TAG}`, Values: [canaryId] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
    }),
  );
  return instancesOf(Reservations);
};

/**
 * Detaches `ids` from the group, decrementing its desired capacity so it launches no replacement
 * (API Reference, "DetachInstances", ShouldDecrementDesiredCapacity; at most 20 ids a call), then
 * terminates them. An instance that never joined the group or is already gone is no error.
 */
export const detachAndTerminate = async (
  deps: CanaryDeps,
  group: string | null,
  ids: readonly string[],
): Promise<CleanupResult> => {
  const errors: string[] = [];
  if (ids.length === 0) return { errors, instancesTerminated: 0 };
  if (group !== null) {
    const detach = (instanceIds: string[]) =>
      deps.autoScaling.send(
        new DetachInstancesCommand({
          AutoScalingGroupName: group,
          InstanceIds: instanceIds,
          ShouldDecrementDesiredCapacity: true,
        }),
      );
    try {
      await detach([...ids]);
    } catch (error) {
      // One instance outside the group fails the whole call: detach one by one then.
      for (const id of ids) {
        try {
          await detach([id]);
        } catch (single) {
          if (errorNameOf(single) === 'ValidationError' && NOT_IN_GROUP.test(messageOf(single))) continue;
          errors.push(
            `could not detach ${id} from '${group}' (${errorNameOf(single) ?? 'Error'}: ${messageOf(single)}); the group's desired capacity may stay raised by one after it is terminated`,
          );
        }
      }
      deps.logger.warn('canary detach fell back to one by one', { reason: messageOf(error) });
    }
  }
  let instancesTerminated = 0;
  const terminate = async (instanceIds: string[]) => {
    const { TerminatingInstances } = await deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: instanceIds }));
    instancesTerminated += (TerminatingInstances ?? []).filter((i) => i.PreviousState?.Name !== 'terminated').length;
  };
  try {
    await terminate([...ids]);
  } catch (error) {
    if (errorNameOf(error) !== 'InvalidInstanceID.NotFound') {
      errors.push(`could not terminate ${ids.join(', ')} (${errorNameOf(error) ?? 'Error'}: ${messageOf(error)})`);
    } else {
      // Some are gone already: the rest one by one.
      for (const id of ids) {
        try {
          await terminate([id]);
        } catch (single) {
          if (errorNameOf(single) === 'InvalidInstanceID.NotFound') continue;
          errors.push(`could not terminate ${id} (${errorNameOf(single) ?? 'Error'}: ${messageOf(single)})`);
        }
      }
    }
  }
  return { errors, instancesTerminated };
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** Who the canary is, from its state or, after an early error, from the execution's input. */
const identityFrom = (
  canaryId: string,
  executionArn: string,
  state: unknown,
  input: unknown,
): CanaryIdentity | undefined => {
  if (isObject(state) && typeof state.family === 'string' && typeof state.amiId === 'string') {
    return {
      canaryId,
      executionArn,
      family: state.family,
      amiId: state.amiId,
      bakeId: String(state.bakeId ?? ''),
    };
  }
  const detail = isObject(input) && isObject(input.detail) ? input.detail : undefined;
  if (detail && typeof detail.family === 'string' && typeof detail.amiId === 'string') {
    return {
      canaryId,
      executionArn,
      family: detail.family,
      amiId: detail.amiId,
      bakeId: String(detail.bakeId ?? ''),
    };
  }
  return undefined;
};

const stringIds = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/** The instances the state knows of: `instances` of a CanaryRun. */
const knownInstances = (state: unknown): string[] => {
  if (!isObject(state) || !isObject(state.instances)) return [];
  return [...stringIds(state.instances.baseline), ...stringIds(state.instances.canary)];
};

const errorReason = (error: ErrorRecord): string => {
  let cause = error.Cause ?? '';
  // A Lambda error's Cause is JSON with errorMessage; show the message.
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') cause = parsed.errorMessage;
  } catch {
    // not JSON: the cause as it is
  }
  const text = `${error.Error}${cause ? `: ${cause}` : ''}`;
  return text.length > 600 ? `${text.slice(0, 599)}…` : text;
};

export const cleanupCanary = async (input: CleanupInput, deps: CanaryDeps): Promise<CleanupOutput> => {
  const identity = identityFrom(input.canaryId, input.executionArn, input.state, input.input);
  const family = identity ? findFamily(deps.config, identity.family) : undefined;
  const found = family ? canaryChannelOf(family) : undefined;
  const group =
    isObject(input.state) && typeof input.state.autoScalingGroup === 'string'
      ? input.state.autoScalingGroup
      : (found?.canary.autoScalingGroup ?? null);
  const errors: string[] = [];
  // The tag finds what an early failure launched before the state knew of it.
  let tagged: Instance[] = [];
  try {
    tagged = await findByCanaryId(deps, input.canaryId);
  } catch (error) {
    errors.push(`could not list the canary's instances by tag (${messageOf(error)})`);
  }
  const ids = [...new Set([...knownInstances(input.state), ...tagged.map((i) => i.InstanceId ?? '')])].filter(
    (id) => id !== '',
  );
  const result = await detachAndTerminate(deps, group, ids);
  const cleanup: CleanupResult = {
    errors: [...errors, ...result.errors],
    instancesTerminated: result.instancesTerminated,
  };
  if (!input.error) return cleanup;

  const channel =
    (isObject(input.state) && typeof input.state.channel === 'string' ? input.state.channel : undefined) ??
    found?.channel;
  if (!identity || !channel) {
    deps.logger.warn('canary failed before it knew its family and channel: no Canary Judged', {
      error: input.error.Error,
    });
    return cleanup;
  }
  const baselineAmiId =
    isObject(input.state) && typeof input.state.baselineAmiId === 'string' ? input.state.baselineAmiId : null;
  const judgement = isObject(input.state) && isObject(input.state.judgement) ? input.state.judgement : undefined;
  await publishJudged(deps, {
    ...identity,
    channel,
    baselineAmiId,
    verdict: 'error',
    score: null,
    reason: `the canary failed: ${errorReason(input.error)}`,
    intervalsJudged:
      isObject(input.state) && typeof input.state.intervalsJudged === 'number' ? input.state.intervalsJudged : 0,
    failedCritical: judgement ? stringIds(judgement.failedCritical) : [],
    metrics: [],
    cleanup: { errors: [...cleanup.errors], instancesTerminated: cleanup.instancesTerminated },
  });
  return { ...cleanup, published: 'error' };
};

// --- cleanupStopped -----------------------------------------------------------------------------

/** The Step Functions "Execution Status Change" event's detail, the fields used here. */
export interface ExecutionStatusChange {
  readonly detail?: {
    readonly executionArn?: string;
    readonly name?: string;
    readonly status?: string;
    /** The execution's input, as JSON text. */
    readonly input?: string | null;
    readonly error?: string | null;
    readonly cause?: string | null;
  };
}

export interface CleanupStoppedOutput extends CleanupResult {
  readonly verdict: CanaryVerdict | null;
}

export const cleanupStopped = async (event: ExecutionStatusChange, deps: CanaryDeps): Promise<CleanupStoppedOutput> => {
  const detail = event.detail ?? {};
  const canaryId = detail.name;
  if (!canaryId) throw new BakehouseError('canary: the execution status change names no execution (detail.name)');
  const executionArn = detail.executionArn ?? '';
  let input: unknown;
  try {
    input = detail.input ? JSON.parse(detail.input) : undefined;
  } catch {
    input = undefined;
  }
  const identity = identityFrom(canaryId, executionArn, undefined, input);
  const family = identity ? findFamily(deps.config, identity.family) : undefined;
  const found = family ? canaryChannelOf(family) : undefined;
  const tagged = await findByCanaryId(deps, canaryId);
  const baselineAmiId =
    tagged.find((i) => i.Tags?.some((t) => t.Key === Tag.Role && t.Value === 'baseline'))?.ImageId ?? null;
  const cleanup = await detachAndTerminate(
    deps,
    found?.canary.autoScalingGroup ?? null,
    tagged.map((i) => i.InstanceId ?? '').filter((id) => id !== ''),
  );
  if (!identity || !found) {
    deps.logger.warn('stopped canary of no configured canary channel: no Canary Judged', { canaryId });
    return { ...cleanup, verdict: null };
  }
  const status = detail.status ?? 'FAILED';
  if (status === 'FAILED' && detail.error === CANARY_FAILED_ERROR) {
    // The machine's own failure path ended it: it cleaned up and published verdict error already.
    return { ...cleanup, verdict: null };
  }
  const verdict: CanaryVerdict = status === 'ABORTED' ? 'aborted' : 'error';
  const reason =
    status === 'ABORTED'
      ? 'the canary execution was stopped (ABORTED) before it was judged.'
      : status === 'TIMED_OUT'
        ? 'the canary execution timed out before it was judged.'
        : `the canary execution failed${detail.error ? `: ${errorReason({ Error: detail.error, Cause: detail.cause ?? '' })}` : '.'}`;
  await publishJudged(deps, {
    ...identity,
    channel: found.channel,
    baselineAmiId,
    verdict,
    score: null,
    reason,
    intervalsJudged: 0,
    failedCritical: [],
    metrics: [],
    cleanup: { errors: [...cleanup.errors], instancesTerminated: cleanup.instancesTerminated },
  });
  return { ...cleanup, verdict };
};
