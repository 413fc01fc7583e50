/**
 * Promote ("the deploy Lambda"): on `AMI Baked`, `AMI Tested`, `Promote Requested` and
 * `Canary Judged` (verdict pass), moves the family's channels whose rule matches to the new AMI, with everything that follows a channel
 * (launch templates, Auto Scaling refresh, distribution, `AMI Promoted`, the channel tag).
 *
 * Everything is validated before the first write: the event against the contract, the family
 * and channel against the configuration, the image against EC2 (exists, available, this
 * family's, not revoked, not failed). A redelivered event finds every channel already at the AMI
 * and publishes nothing.
 *
 * A refusal (a malformed event, an unknown family or channel, an image that may not enter the
 * channel) is answered with `Promotion Rejected` on the bus: the request as read, the reason naming
 * the field, and the fix, so the operator who asked hears it in seconds. It is then still thrown, so
 * the event lands in the PromoteRejected queue; each of Lambda's retries publishes the same
 * `requestEventId` (Notify posts it once).
 */
import type { Image } from '@aws-sdk/client-ec2';
import { Tag } from '../commons/bake-plan';
import { describeImage, tagOf, unfitReason } from '../commons/channels';
import { parseEvent } from '../commons/contract';
import { InvalidEventError, messageOf, UnknownFamilyError } from '../commons/errors';
import { DetailType, EVENT_VERSION, type PromotionRejected } from '../commons/events';
import type { Family } from '../commons/families';
import { findFamily } from '../commons/family-lookup';
import {
  type ChannelOutcome,
  type ChannelPromotion,
  distributionOf,
  type PromotionDeps,
  promoteChannel,
  withChannelLock,
} from '../commons/promotion';
import type { Channel } from '../commons/promotion-targets';
import { publishEvent } from '../commons/publish';
import { requestDetailOf, requestEventIdOf, requestText, splitFix } from '../commons/rejections';
import { PromotionRefusedError, UnknownChannelError } from './errors';

export type PromoteDeps = PromotionDeps;

export const PROMOTE_DETAIL_TYPES = [
  DetailType.AmiBaked,
  DetailType.AmiTested,
  DetailType.PromoteRequested,
  DetailType.CanaryJudged,
] as const;

export interface PromoteResult {
  readonly family: string;
  readonly amiId: string;
  readonly channels: readonly ChannelOutcome[];
  /** Why nothing was promoted, when nothing was. */
  readonly skipped?: string;
}

interface Plan {
  readonly family: Family;
  readonly amiId: string;
  readonly channels: readonly Channel[];
  readonly cause: 'baked' | 'tested' | 'manual' | 'rollback' | 'canary';
  readonly by: string;
  /** Null for a manual promotion: the image's bake-id tag says it. */
  readonly bakeId: string | null;
  readonly manual: boolean;
}

/** The channels an event moves, by the family's `promoteOn` rules (a manual request names its own). */
const planOf = (event: ReturnType<typeof parseEvent<(typeof PROMOTE_DETAIL_TYPES)[number]>>, deps: PromoteDeps) => {
  const { detail } = event;
  const family = findFamily(deps.config, detail.family);
  if (!family) {
    throw new UnknownFamilyError(
      `rejected ${event.detailType} ${event.id}: family: no family named '${detail.family}'. Fix: use one of ${deps.config.families.map((f) => f.name).join(', ')}`,
    );
  }
  if (event.detailType === DetailType.PromoteRequested && 'requestedBy' in detail) {
    const channel = family.channels.find((c) => c.name === detail.channel);
    if (!channel) {
      throw new UnknownChannelError(
        `rejected Promote Requested ${event.id}: channel: family '${family.name}' has no channel '${detail.channel}'. Fix: use one of ${family.channels.map((c) => c.name).join(', ')}`,
      );
    }
    const plan: Plan = {
      family,
      amiId: detail.amiId,
      channels: [channel],
      cause: detail.cause ?? 'manual',
      by: detail.requestedBy,
      bakeId: null,
      manual: true,
    };
    return { plan };
  }
  if (event.detailType === DetailType.CanaryJudged && 'verdict' in detail) {
    // A canary moves the one channel it ran for, and only on pass; like AMI Baked and AMI Tested
    // it is automatic, so the never-backwards rule below applies.
    if (detail.verdict !== 'pass') {
      return { skipped: `canary ${detail.canaryId} judged ${detail.verdict}: promoted nowhere`, family };
    }
    const channel = family.channels.find((c) => c.name === detail.channel);
    if (!channel) {
      throw new UnknownChannelError(
        `rejected Canary Judged ${event.id}: channel: family '${family.name}' has no channel '${detail.channel}'. Fix: use one of ${family.channels.map((c) => c.name).join(', ')}`,
      );
    }
    if (channel.promoteOn !== 'canary') {
      // The configuration changed while the canary ran: its verdict no longer decides this channel.
      return {
        skipped: `channel '${channel.name}' of family '${family.name}' is promoted on '${channel.promoteOn}', not 'canary': the canary's pass moves nothing`,
        family,
      };
    }
    const plan: Plan = {
      family,
      amiId: detail.amiId,
      channels: [channel],
      cause: 'canary',
      by: 'bakehouse:canary',
      bakeId: detail.bakeId,
      manual: false,
    };
    return { plan };
  }
  if (event.detailType === DetailType.AmiTested && 'passed' in detail && !detail.passed) {
    const failed = detail.results.filter((r) => !r.passed).map((r) => r.name);
    return { skipped: `tests failed (${failed.join(', ') || 'no check passed'}): promoted nowhere`, family };
  }
  const cause = event.detailType === DetailType.AmiBaked ? 'baked' : 'tested';
  const bakeId = 'bakeId' in detail ? detail.bakeId : null;
  const plan: Plan = {
    family,
    amiId: detail.amiId,
    channels: family.channels.filter((c) => c.promoteOn === cause),
    cause,
    by: `bakehouse:${cause}`,
    bakeId,
    manual: false,
  };
  return { plan };
};

interface Refusal {
  readonly reason: string;
  readonly fix: string;
}

/** Why the image may not enter the family's channels, and what to do instead; or undefined. */
const refusal = (image: Image | undefined, family: Family): Refusal | undefined => {
  const images = `bakehouse images ${family.name} lists its images`;
  const unfit = unfitReason(image);
  if (unfit) {
    if (!image) return { reason: unfit, fix: `name an image that exists in this account and region (${images})` };
    if (tagOf(image, Tag.Revoked) === 'true') {
      return { reason: unfit, fix: `promote another image of '${family.name}' (${images}): a revoked image stays out` };
    }
    if (image.State === 'pending') return { reason: unfit, fix: 'wait until the image is available, then ask again' };
    return {
      reason: unfit,
      fix: `promote an image of '${family.name}' that is available and passed its tests (${images}), or bake one: bakehouse bake ${family.name}`,
    };
  }
  const owner = tagOf(image, Tag.Family);
  if (owner !== family.name) {
    return {
      reason: `it belongs to ${owner ? `family '${owner}'` : 'no Bakehouse family'}`,
      fix: `promote an image of family '${family.name}' (${images})${owner ? `, or this image to a channel of '${owner}'` : ''}`,
    };
  }
  return undefined;
};

/** A refusal: the event is bad or may not be carried out, and a retry cannot change that. */
const isRefusal = (error: unknown): boolean =>
  error instanceof InvalidEventError ||
  error instanceof UnknownFamilyError ||
  error instanceof UnknownChannelError ||
  error instanceof PromotionRefusedError;

/** What the refused event named, as far as it can be read (the detail may be malformed). */
export const promotionRejectionOf = (event: unknown, error: unknown): PromotionRejected => {
  const envelope = (event ?? {}) as { readonly 'detail-type'?: unknown };
  const detail = requestDetailOf(event);
  const { reason, fix } = splitFix(
    messageOf(error),
    'correct the event (its shape is in schemas/events) and send it again',
  );
  // The event's own bake (AMI Baked, AMI Tested, Canary Judged), else the image's (a manual request).
  const bakeId = requestText(detail.bakeId, 300) ?? (error instanceof PromotionRefusedError ? error.bakeId : null);
  return {
    version: EVENT_VERSION,
    requestEventId: requestEventIdOf(event),
    requestDetailType: requestText(envelope['detail-type'], 256) ?? '(no detail-type)',
    family: requestText(detail.family, 256),
    channel: requestText(detail.channel, 64),
    amiId: requestText(detail.amiId, 64),
    requestedBy: requestText(detail.requestedBy, 256),
    bakeId,
    reason,
    fix,
  };
};

/**
 * The newer image the channel holds, if any: an automatic promotion does not move it back.
 * EventBridge does not deliver in order and a retried test or invocation can arrive late, so
 * `AMI Tested` of an older bake may come after a newer bake's. "Newer" is the images'
 * CreationDate; an operator's Promote Requested moves a channel anywhere on purpose (rollback),
 * so it skips this check. Read while holding the channel's lock, so no move slips in between.
 */
const newerImageHeld = async (
  plan: Plan,
  channel: Channel,
  image: Image & { readonly ImageId: string },
  deps: PromoteDeps,
): Promise<string | undefined> => {
  const held = await deps.channels.readChannel(plan.family.name, channel.name);
  if (held === null || held === image.ImageId) return undefined;
  const current = await describeImage(held, deps.ec2);
  const newer =
    current !== undefined &&
    tagOf(current, Tag.Family) === plan.family.name &&
    unfitReason(current) === undefined &&
    (current.CreationDate ?? '') > (image.CreationDate ?? '');
  if (!newer) return undefined;
  deps.logger.warn('channel holds a newer image; not moving it back', {
    family: plan.family.name,
    channel: channel.name,
    amiId: image.ImageId,
    heldAmiId: held,
  });
  return held;
};

/**
 * Refuses the whole promotion, before any channel moves, when a launch template a channel names
 * cannot be moved (it does not exist, or Promote may not create a version on it: see
 * `checkLaunchTemplates`). Without it the channel moved and the template failed after, so the
 * channel and its targets disagreed and nothing was announced. One issue per template, each with
 * its fix, in the `<reason>. Fix: <fix>; …` form Promotion Rejected splits.
 */
const refuseUnmovableTargets = async (
  plan: Plan,
  amiId: string,
  bakeId: string | null,
  deps: PromoteDeps,
): Promise<void> => {
  const issues: string[] = [];
  for (const channel of plan.channels) {
    if (channel.launchTemplates.length === 0) continue;
    for (const problem of await deps.targets.checkLaunchTemplates(channel.launchTemplates, deps.targetDeps)) {
      issues.push(
        `${problem.reason} (channels[].launchTemplates of ${plan.family.name}/${channel.name}). Fix: ${problem.fix}`,
      );
    }
  }
  if (issues.length === 0) return;
  const channels = plan.channels.map((c) => `${plan.family.name}/${c.name}`).join(', ');
  throw new PromotionRefusedError(
    `refused to promote ${amiId} to ${channels}: no channel moved, as a launch template it names cannot follow: ${issues.join('; ')}`,
    { bakeId },
  );
};

export const promote = async (event: unknown, deps: PromoteDeps): Promise<PromoteResult> => {
  try {
    return await promoteEvent(event, deps);
  } catch (error) {
    if (isRefusal(error)) {
      // Published before the error is thrown again; if publishing fails, that error is what
      // Lambda retries, and the next try refuses (and publishes) the same way.
      await publishEvent(
        deps.events,
        deps.eventTarget,
        DetailType.PromotionRejected,
        promotionRejectionOf(event, error),
      );
    }
    throw error;
  }
};

const promoteEvent = async (event: unknown, deps: PromoteDeps): Promise<PromoteResult> => {
  const parsed = parseEvent(event, PROMOTE_DETAIL_TYPES);
  const planned = planOf(parsed, deps);
  const amiId = parsed.detail.amiId;
  if (!planned.plan) {
    deps.logger.info('promoting nothing', { family: planned.family.name, amiId, reason: planned.skipped });
    return { family: planned.family.name, amiId, channels: [], skipped: planned.skipped };
  }
  const { plan } = planned;
  if (plan.channels.length === 0) {
    const skipped = `no channel of family '${plan.family.name}' is promoted on '${plan.cause}'`;
    deps.logger.info('promoting nothing', { family: plan.family.name, amiId, reason: skipped });
    return { family: plan.family.name, amiId, channels: [], skipped };
  }

  const image = await describeImage(amiId, deps.ec2);
  const refused = refusal(image, plan.family);
  if (refused || !image?.ImageId) {
    const why = refused ?? { reason: 'it does not exist', fix: 'name an image that exists in this account and region' };
    const message = `refused to promote ${amiId} to ${plan.channels.map((c) => `${plan.family.name}/${c.name}`).join(', ')}: ${why.reason}`;
    // A manual request is a bad request; an automatic one is an event the image has outlived
    // (a bake redelivered after its tests failed): nothing to do, nothing to retry.
    if (plan.manual || !image || tagOf(image, Tag.Family) !== plan.family.name) {
      const ownBake =
        image && tagOf(image, Tag.Family) === plan.family.name ? (tagOf(image, Tag.BakeId) ?? null) : null;
      throw new PromotionRefusedError(`${message}. Fix: ${why.fix}`, { bakeId: ownBake });
    }
    deps.logger.warn(message, { eventId: parsed.id });
    return { family: plan.family.name, amiId, channels: [], skipped: message };
  }
  const described = { ...image, ImageId: image.ImageId };
  const bakeId = plan.bakeId ?? tagOf(image, Tag.BakeId) ?? null;
  const distribution = distributionOf(plan.family, described, deps);
  await refuseUnmovableTargets(plan, amiId, bakeId, deps);

  const outcomes: ChannelOutcome[] = [];
  /** The newer images the channels left alone hold, and why others were refused while waiting. */
  const held: string[] = [];
  const refusedNow: string[] = [];
  const fixes: string[] = [];
  for (const channel of plan.channels) {
    await withChannelLock(plan.family.name, channel.name, deps, async () => {
      // Read again under the lock: a promotion or revocation that held it may have changed the
      // image (revoked it, or tagged it with this channel: that move is done and announced).
      const now = await describeImage(amiId, deps.ec2);
      const refusedWhileWaiting = refusal(now, plan.family);
      if (refusedWhileWaiting || !now?.ImageId) {
        const reason = `${plan.family.name}/${channel.name}: ${refusedWhileWaiting?.reason ?? 'it no longer exists'}`;
        if (refusedWhileWaiting) fixes.push(refusedWhileWaiting.fix);
        deps.logger.warn('not promoting: the image changed while the channel was busy', { amiId, reason });
        refusedNow.push(reason);
        return;
      }
      const image = { ...now, ImageId: now.ImageId };
      const newer = plan.manual ? undefined : await newerImageHeld(plan, channel, image, deps);
      if (newer) {
        held.push(newer);
        return;
      }
      const promotion: ChannelPromotion = {
        family: plan.family,
        channel,
        image,
        cause: plan.cause,
        by: plan.by,
        bakeId,
      };
      outcomes.push(await promoteChannel(promotion, distribution, deps));
    });
  }
  if (outcomes.length === 0) {
    const skipped =
      held.length > 0
        ? `not promoting ${amiId} to ${plan.channels.map((c) => `${plan.family.name}/${c.name}`).join(', ')}: the ${plan.channels.length === 1 ? 'channel holds' : 'channels hold'} ${[...new Set(held)].join(', ')}, ${held.length === 1 ? 'a newer image' : 'newer images'} of the family`
        : `not promoting ${amiId}: ${refusedNow.join('; ')}`;
    if (plan.manual && refusedNow.length > 0) {
      const fix = [...new Set(fixes)].join('; ') || 'name an image that exists in this account and region';
      throw new PromotionRefusedError(`refused to promote ${amiId} to ${refusedNow.join(', ')}. Fix: ${fix}`, {
        bakeId: tagOf(image, Tag.BakeId) ?? null,
      });
    }
    return { family: plan.family.name, amiId, channels: [], skipped };
  }
  if (outcomes.every((o) => !o.published)) {
    deps.logger.info('redelivered event: every channel already points at the image', {
      family: plan.family.name,
      amiId,
      eventId: parsed.id,
    });
  }
  return { family: plan.family.name, amiId, channels: outcomes };
};
