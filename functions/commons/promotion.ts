/**
 * One channel promotion, shared by Promote (bake, test, manual) and Revoke (moving channels back):
 * move the channel parameter, update its launch templates, refresh its Auto Scaling groups,
 * distribute the image, publish `AMI Promoted`, and tag the image with the channel.
 *
 * Every step is idempotent, and they run in an order that heals a crash on redelivery: the
 * targets always run (they change nothing when already done), and `AMI Promoted` is published
 * when the channel moved now, or when it had moved but the image does not carry the channel tag
 * yet (the tag is the last step, so its absence means the earlier run stopped before publishing).
 *
 * Moves of one channel take turns (`withChannelLock`): Promote and Revoke read the channel, decide
 * and move it while holding the channel's lock in the state table, a conditional write. Without
 * it, concurrent promotions of one channel interleaved their read and write (SSM parameters have
 * no conditional write): history versions whose "previous" was not the version before, and one
 * move announced once per concurrent request.
 */
import { randomUUID } from 'node:crypto';
import { CreateTagsCommand, DescribeImagesCommand, type EC2Client, type Image } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type AwsTag, Tag } from './bake-plan';
import { type ChannelCause, type Channels, tagOf } from './channels';
import { BakehouseError, errorNameOf, messageOf } from './errors';
import { type AmiPromoted, DetailType, EVENT_VERSION } from './events';
import type { BakehouseConfig, Family } from './families';
import { eachPage } from './pages';
import type { LogPort } from './powertools';
import type {
  Channel,
  checkLaunchTemplates,
  Distribution,
  distributeImage,
  LaunchTemplateUpdate,
  RefreshResult,
  refreshAutoScalingGroups,
  TargetDeps,
  TargetProblem,
  updateLaunchTemplates,
} from './promotion-targets';
import { type EventTarget, publishEvent } from './publish';
import { splitFix } from './rejections';
import { acquireWaiting, type Locks, lockKey } from './state-table';

/** The targets module's operations, injected so the cores are tested with fakes. */
export interface PromotionTargets {
  /** What keeps a channel's templates from moving, checked before the channel moves. */
  readonly checkLaunchTemplates: typeof checkLaunchTemplates;
  readonly updateLaunchTemplates: typeof updateLaunchTemplates;
  readonly refreshAutoScalingGroups: typeof refreshAutoScalingGroups;
  readonly distributeImage: typeof distributeImage;
}

export interface PromotionDeps {
  readonly config: BakehouseConfig;
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly channels: Channels;
  readonly targets: PromotionTargets;
  readonly targetDeps: TargetDeps;
  readonly events: Pick<EventBridgeClient, 'send'>;
  readonly eventTarget: EventTarget;
  readonly clock: () => Date;
  readonly logger: LogPort;
  /** The state table's locks: one per channel, so its moves take turns. */
  readonly locks: Pick<Locks, 'acquire' | 'release'>;
  /** Waits between tries for a busy channel (real time: a frozen sandbox clock must not hang it). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A channel another promotion held for longer than a promotion waits: Lambda retries the event. */
export class ChannelBusyError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ChannelBusyError';
  }
}

/**
 * How long a channel lock counts: longer than Revoke's timeout (5 minutes, the longer of the two
 * holders), so a holder that crashed frees the channel once its invocation surely ended.
 */
export const CHANNEL_LOCK_SECONDS = 6 * 60;
/** How long a promotion waits for a channel another one is moving, before it gives up and is retried. */
export const CHANNEL_WAIT_MS = 60_000;
const CHANNEL_POLL_MS = 200;

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work` holding the channel's lock, and gives it back after (also when `work` throws).
 * Waits (real time) while another promotion holds it; after `CHANNEL_WAIT_MS` throws
 * `ChannelBusyError`, which fails the invocation so Lambda retries the event.
 */
export const withChannelLock = async <R>(
  family: string,
  channel: string,
  deps: Pick<PromotionDeps, 'locks' | 'clock' | 'logger' | 'sleep'>,
  work: () => Promise<R>,
): Promise<R> => {
  const key = lockKey('channel', `${family}/${channel}`);
  const owner = randomUUID();
  await acquireWaiting(deps.locks, key, owner, {
    lockMs: CHANNEL_LOCK_SECONDS * 1000,
    waitMs: CHANNEL_WAIT_MS,
    pollMs: CHANNEL_POLL_MS,
    clock: deps.clock,
    sleep: deps.sleep ?? realSleep,
    busy: (holder) =>
      new ChannelBusyError(
        `channel ${family}/${channel} is being moved by another promotion (held since ${holder?.acquiredAt ?? 'unknown'}) for longer than ${CHANNEL_WAIT_MS / 1000}s; the event is retried`,
      ),
  });
  try {
    return await work();
  } finally {
    await deps.locks.release(key, owner);
  }
};

export interface ChannelPromotion {
  readonly family: Family;
  readonly channel: Channel;
  /** The image as DescribeImages returned it (its tags tell whether an earlier run finished). */
  readonly image: Image & { readonly ImageId: string };
  readonly cause: ChannelCause;
  readonly by: string;
  readonly bakeId: string | null;
}

export interface ChannelOutcome {
  readonly family: string;
  readonly channel: string;
  readonly amiId: string;
  readonly previousAmiId: string | null;
  /** The channel parameter was written by this call. */
  readonly changed: boolean;
  /** `AMI Promoted` was published by this call. */
  readonly published: boolean;
}

export const channelTagKey = (channel: string): string => `${Tag.ChannelPrefix}${channel}`;

/** Runs `work` once, however often the result is asked for (distribution: once per AMI). */
export const once = <T>(work: () => Promise<T>): (() => Promise<T>) => {
  let result: Promise<T> | undefined;
  return () => {
    result ??= work();
    return result;
  };
};

/** Copies and shares of the image, as the family's distribution says (nothing to do: no call). */
export const distributionOf = (
  family: Family,
  image: ChannelPromotion['image'],
  deps: PromotionDeps,
): (() => Promise<Distribution>) =>
  once(async () => {
    if (family.distribution.regions.length === 0 && family.distribution.accounts.length === 0) {
      return { regions: [], accounts: [] };
    }
    const tags: AwsTag[] = (image.Tags ?? []).flatMap((t) =>
      t.Key !== undefined && t.Value !== undefined ? [{ Key: t.Key, Value: t.Value }] : [],
    );
    return deps.targets.distributeImage(
      family,
      { amiId: image.ImageId, name: image.Name ?? image.ImageId, tags },
      deps.targetDeps,
    );
  });

/** The newest image of a family that can still be launched (revoked ones are disabled), or undefined. */
export const newestImageOf = async (family: string, ec2: Pick<EC2Client, 'send'>): Promise<Image | undefined> => {
  let newest: Image | undefined;
  const pages = eachPage((NextToken) =>
    ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: [
          { Name: `tag:${Tag.Family}`, Values: [family] },
          { Name: `tag:${Tag.Managed}`, Values: ['true'] },
        ],
        MaxResults: 100,
        NextToken,
      }),
    ),
  );
  for await (const page of pages) {
    for (const image of page.Images ?? []) {
      if ((image.CreationDate ?? '') > (newest?.CreationDate ?? '')) newest = image;
    }
  }
  return newest;
};

/**
 * Families built on `<family>/<channel>` whose newest image was built from another AMI than
 * `amiId` (or that have no image yet): they need a bake.
 */
export const outdatedChildren = async (
  config: BakehouseConfig,
  family: string,
  channel: string,
  amiId: string,
  ec2: Pick<EC2Client, 'send'>,
): Promise<AmiPromoted['outdatedChildren']> => {
  const children = config.families.filter(
    (f) => 'family' in f.source && f.source.family === family && f.source.channel === channel,
  );
  const outdated: AmiPromoted['outdatedChildren'] = [];
  for (const child of children) {
    const newest = await newestImageOf(child.name, ec2);
    if (!newest) {
      outdated.push({ family: child.name, amiId: null });
    } else if (tagOf(newest, Tag.SourceAmi) !== amiId) {
      outdated.push({ family: child.name, amiId: newest.ImageId ?? null });
    }
  }
  return outdated;
};

/** A target that failed after the channel moved, as `AMI Promoted` lists it: the reason, and how to finish by hand. */
const failedTarget = (
  kind: TargetProblem['kind'],
  target: string,
  error: unknown,
  amiId: string,
  channel: string,
): TargetProblem => {
  const { reason } = splitFix(messageOf(error), '');
  // An AWS error's code says what EC2 refused (InvalidLaunchTemplateId.NotFound); our own errors say it in words.
  const name = error instanceof BakehouseError ? undefined : errorNameOf(error);
  const why = name && !reason.includes(name) ? `${name}: ${reason}` : reason;
  const fix =
    kind === 'launchTemplate'
      ? `the template still launches its earlier image. Recreate it (tagged ${Tag.LaunchTemplate}=${target} when named) or remove it from the launchTemplates of channel '${channel}', then give it a version with the image: aws ec2 create-launch-template-version --launch-template-${/^lt-/.test(target) ? 'id' : 'name'} ${target} --source-version '$Latest' --launch-template-data '{"ImageId":"${amiId}"}'`
      : `the group still runs its earlier image. Check the group exists, then start the refresh: aws autoscaling start-instance-refresh --auto-scaling-group-name ${target}`;
  return { kind, target, reason: why, fix };
};

/**
 * Runs one target's update per configured target, so one failing does not stop the others; a
 * failure is kept as a `TargetProblem` for `AMI Promoted` instead of thrown. The channel has moved
 * by then and the targets were checked just before it did (Promote's pre-check), so what fails
 * here is a race (the template deleted in between) or a throttle that outlasted the SDK's
 * retries; throwing would leave the channel moved and announce nothing on the last try.
 */
const eachTarget = async <T, R>(
  items: readonly T[],
  kind: TargetProblem['kind'],
  nameOf: (item: T) => string,
  update: (item: T) => Promise<R[]>,
  context: {
    readonly amiId: string;
    readonly channel: string;
    readonly failed: TargetProblem[];
    readonly logger: LogPort;
  },
): Promise<R[]> => {
  const done: R[] = [];
  for (const item of items) {
    try {
      done.push(...(await update(item)));
    } catch (error) {
      const problem = failedTarget(kind, nameOf(item), error, context.amiId, context.channel);
      context.logger.error('a target did not follow the channel', { ...problem, amiId: context.amiId });
      context.failed.push(problem);
    }
  }
  return done;
};

/**
 * Moves one channel to the image and everything that follows it; see the module comment.
 *
 * A target that fails after the move does not move the channel back: the image passed every
 * check and the channel parameter is what launches resolve (resolve:ssm:), so it holds what was
 * asked; the targets that did follow (other templates, groups, copies) would disagree with a
 * channel moved back, a second move would be one more write that can fail, and for Revoke moving
 * back would put a revoked image in the channel again. Instead `AMI Promoted` lists the failed
 * targets with the reason and the fix (`failedTargets`), and Slack and the CLI show the move as
 * partial.
 */
export const promoteChannel = async (
  promotion: ChannelPromotion,
  distribution: () => Promise<Distribution>,
  deps: PromotionDeps,
): Promise<ChannelOutcome> => {
  const { family, channel, image, cause, by, bakeId } = promotion;
  const amiId = image.ImageId;
  const move = await deps.channels.moveChannel({
    family: family.name,
    channel: channel.name,
    amiId,
    by,
    cause,
    bakeId,
  });
  const failed: TargetProblem[] = [];
  const context = { amiId, channel: channel.name, failed, logger: deps.logger };
  const launchTemplates: LaunchTemplateUpdate[] = await eachTarget(
    channel.launchTemplates,
    'launchTemplate',
    (t) => t.template,
    (t) => deps.targets.updateLaunchTemplates([t], amiId, deps.targetDeps),
    context,
  );
  const autoScalingGroups: RefreshResult[] = await eachTarget(
    channel.autoScalingGroups,
    'autoScalingGroup',
    (g) => g.name,
    (g) => deps.targets.refreshAutoScalingGroups([g], amiId, deps.targetDeps),
    context,
  );
  const base = { family: family.name, channel: channel.name, amiId, changed: move.changed };

  const finished = !move.changed && tagOf(image, channelTagKey(channel.name)) !== undefined;
  if (finished) {
    deps.logger.info('channel already points at the image; nothing to publish', {
      family: family.name,
      channel: channel.name,
      amiId,
    });
    return { ...base, previousAmiId: null, published: false };
  }

  let previousAmiId = move.previousAmiId;
  if (!move.changed) {
    // An earlier run moved the channel and stopped before publishing: its record names the previous AMI.
    const [latest] = await deps.channels.channelHistory(family.name, channel.name);
    previousAmiId = latest?.amiId === amiId ? latest.previousAmiId : null;
    deps.logger.warn('channel had moved without AMI Promoted; publishing it now', {
      family: family.name,
      channel: channel.name,
      amiId,
    });
  }
  const copies = await distribution();
  const detail: AmiPromoted = {
    version: EVENT_VERSION,
    bakeId,
    family: family.name,
    amiId,
    channel: channel.name,
    previousAmiId,
    cause,
    promotedBy: by,
    targets: {
      parameter: deps.channels.parameterName(family.name, channel.name),
      launchTemplates: launchTemplates.map(({ id, version, isDefault }) => ({ id, version, isDefault })),
      autoScalingGroups: autoScalingGroups.map(({ name, instanceRefreshId }) => ({ name, instanceRefreshId })),
      regions: copies.regions.map(({ region, amiId: copy }) => ({ region, amiId: copy })),
      accounts: [...copies.accounts],
    },
    outdatedChildren: await outdatedChildren(deps.config, family.name, channel.name, amiId, deps.ec2),
    ...(failed.length > 0 ? { failedTargets: failed } : {}),
  };
  await publishEvent(deps.events, deps.eventTarget, DetailType.AmiPromoted, detail);
  await deps.ec2.send(
    new CreateTagsCommand({
      Resources: [amiId],
      Tags: [{ Key: channelTagKey(channel.name), Value: deps.clock().toISOString() }],
    }),
  );
  deps.logger.info('promoted', { ...detail });
  return { ...base, previousAmiId, published: true };
};
