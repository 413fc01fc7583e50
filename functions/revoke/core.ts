/**
 * Revoke: on `AMI Revoked`, marks the image revoked (tags), disables it (EC2 DisableImage, so
 * nobody new launches it), and moves every channel of its family that points at it back to the
 * newest earlier image that is still good, with the launch templates and groups that follow the
 * channel and an `AMI Promoted` (cause `revocation`) per moved channel. With `cascade`, images
 * built on it (tag `bakehouse:source-ami`), and theirs, are revoked the same way.
 *
 * Validated before the first write: the event, the image (exists, `bakehouse:managed=true`) and
 * the descendants to revoke. Idempotent: an image already revoked is not tagged or disabled again,
 * but its family's channels are checked, so a redelivery finishes what a crash left.
 *
 * The outcome is an event of its own, so Slack and other teams hear what happened, not what was
 * asked: `Revocation Completed` (the images revoked, the channels moved and stranded) once the work
 * is done, or `Revocation Rejected` (the reason, with the field and the fix) when the request is
 * refused. A refusal is still thrown afterwards, so the request lands in the RevokeRejected queue;
 * Lambda's async retries repeat it, and each try publishes the same `requestEventId`, by which
 * consumers (Notify) announce it once.
 */
import { CreateTagsCommand, DescribeImagesCommand, DisableImageCommand, type Image } from '@aws-sdk/client-ec2';
import { Tag } from '../commons/bake-plan';
import { describeImage, tagOf } from '../commons/channels';
import { type IncomingEvent, parseEvent } from '../commons/contract';
import { ImageNotFoundError, InvalidEventError, messageOf } from '../commons/errors';
import { DetailType, EVENT_VERSION, type RevocationCompleted, type RevocationRejected } from '../commons/events';
import { findFamily } from '../commons/family-lookup';
import { eachPage } from '../commons/pages';
import { distributionOf, type PromotionDeps, promoteChannel, withChannelLock } from '../commons/promotion';
import { publishEvent } from '../commons/publish';
import { UnmanagedImageError } from './errors';

export type RevokeDeps = PromotionDeps;

export interface MovedChannel {
  readonly family: string;
  readonly channel: string;
  readonly from: string;
  readonly to: string;
}

export interface StrandedChannel {
  readonly family: string;
  readonly channel: string;
  /** The revoked (disabled) image the channel still points at: no earlier good image exists. */
  readonly amiId: string;
}

export interface RevokeSummary {
  /** Every image this event revoked or found revoked, the named one first. */
  readonly revoked: readonly string[];
  readonly channelsMoved: readonly MovedChannel[];
  readonly stranded: readonly StrandedChannel[];
}

/** EC2 takes tag values of at most 256 characters. */
const MAX_TAG_VALUE = 256;
const clip = (text: string): string => (text.length > MAX_TAG_VALUE ? `${text.slice(0, MAX_TAG_VALUE - 1)}…` : text);
/** DescribeImages takes at most 200 values per filter. */
const FILTER_VALUES = 200;

interface Revocation {
  readonly image: Image & { readonly ImageId: string };
  readonly reason: string;
}

/** Images built on any of `parents` (their `bakehouse:source-ami`), disabled ones included. */
const childrenOf = async (parents: readonly string[], deps: RevokeDeps): Promise<Image[]> => {
  const found: Image[] = [];
  for (let i = 0; i < parents.length; i += FILTER_VALUES) {
    const pages = eachPage((NextToken) =>
      deps.ec2.send(
        new DescribeImagesCommand({
          Owners: ['self'],
          IncludeDisabled: true,
          Filters: [
            { Name: `tag:${Tag.SourceAmi}`, Values: parents.slice(i, i + FILTER_VALUES) },
            { Name: `tag:${Tag.Managed}`, Values: ['true'] },
          ],
          MaxResults: 100,
          NextToken,
        }),
      ),
    );
    for await (const page of pages) found.push(...(page.Images ?? []));
  }
  return found;
};

/** The image and, with cascade, its descendants, generation by generation; each once, even in a cycle. */
const revocationsOf = async (
  root: Revocation,
  cascade: boolean,
  rootReason: string,
  deps: RevokeDeps,
): Promise<Revocation[]> => {
  const all: Revocation[] = [root];
  if (!cascade) return all;
  const seen = new Set([root.image.ImageId]);
  let generation = [root.image.ImageId];
  while (generation.length > 0) {
    const next: string[] = [];
    for (const child of await childrenOf(generation, deps)) {
      const id = child.ImageId;
      if (!id || seen.has(id)) continue;
      seen.add(id);
      const parent = tagOf(child, Tag.SourceAmi) ?? '';
      all.push({ image: { ...child, ImageId: id }, reason: clip(`parent ${parent} revoked: ${rootReason}`) });
      next.push(id);
    }
    generation = next;
  }
  return all;
};

/** A refusal: the request is bad and a retry cannot fix it. Anything else (throttling, 5xx) is retried. */
const isRefusal = (error: unknown): boolean =>
  error instanceof InvalidEventError || error instanceof ImageNotFoundError || error instanceof UnmanagedImageError;

/** What a refused request named, as far as it can be read (the detail may be malformed). */
const rejectionOf = (event: unknown, error: unknown): RevocationRejected => {
  const envelope = (event ?? {}) as IncomingEvent;
  const detail = (typeof envelope.detail === 'object' && envelope.detail !== null ? envelope.detail : {}) as Record<
    string,
    unknown
  >;
  const text = (value: unknown, max: number): string | null =>
    typeof value === 'string' && value.length > 0 ? value.slice(0, max) : null;
  return {
    version: EVENT_VERSION,
    requestEventId: envelope.id || '(no id)',
    amiId: text(detail.amiId, 64),
    requestedBy: text(detail.requestedBy, 256),
    reason: messageOf(error).slice(0, 1000),
  };
};

export const revoke = async (event: unknown, deps: RevokeDeps): Promise<RevokeSummary> => {
  try {
    return await revokeRequested(event, deps);
  } catch (error) {
    if (isRefusal(error)) {
      // Published before the error is thrown again; if publishing fails, that error is what
      // Lambda retries, and the next try refuses (and publishes) the same way.
      await publishEvent(deps.events, deps.eventTarget, DetailType.RevocationRejected, rejectionOf(event, error));
    }
    throw error;
  }
};

const revokeRequested = async (event: unknown, deps: RevokeDeps): Promise<RevokeSummary> => {
  const { id: eventId, detail } = parseEvent(event, [DetailType.AmiRevoked]);
  const image = await describeImage(detail.amiId, deps.ec2);
  if (!image?.ImageId) {
    throw new ImageNotFoundError(
      `rejected AMI Revoked ${eventId}: amiId: no image ${detail.amiId} in this account and region (deregistered, or never existed). Fix: name an existing Bakehouse image`,
    );
  }
  if (tagOf(image, Tag.Managed) !== 'true') {
    throw new UnmanagedImageError(
      `rejected AMI Revoked ${eventId}: amiId: ${detail.amiId} is not a Bakehouse image (no ${Tag.Managed}=true tag). Fix: revoke it by hand; Bakehouse only revokes what it made`,
    );
  }
  const reason = clip(detail.reason);
  const revocations = await revocationsOf(
    { image: { ...image, ImageId: image.ImageId }, reason },
    detail.cascade,
    reason,
    deps,
  );
  const excluded = new Set(revocations.map((r) => r.image.ImageId));
  deps.logger.info('revoking', { amiId: detail.amiId, images: [...excluded], requestedBy: detail.requestedBy });

  const channelsMoved: MovedChannel[] = [];
  const stranded: StrandedChannel[] = [];
  // Every image is disabled before any channel moves, so the children a moved channel reports as
  // outdated are judged on the images still launchable.
  for (const revocation of revocations) await markRevoked(revocation, detail.requestedBy, deps);
  for (const revocation of revocations) {
    const outcome = await moveChannelsOff(revocation.image, excluded, detail.requestedBy, deps);
    channelsMoved.push(...outcome.moved);
    stranded.push(...outcome.stranded);
  }
  for (const channel of stranded) {
    deps.logger.error('channel stranded on a revoked image: no earlier good image to move it back to', {
      ...channel,
    });
  }
  const summary: RevokeSummary = { revoked: [...excluded], channelsMoved, stranded };
  deps.logger.info('revoked', { ...summary });
  const completed: RevocationCompleted = {
    version: EVENT_VERSION,
    requestEventId: eventId || '(no id)',
    amiId: detail.amiId,
    family: tagOf(image, Tag.Family) ?? null,
    reason,
    requestedBy: clip(detail.requestedBy),
    cascade: detail.cascade,
    revoked: [...summary.revoked],
    channelsMoved: [...summary.channelsMoved],
    stranded: [...summary.stranded],
  };
  await publishEvent(deps.events, deps.eventTarget, DetailType.RevocationCompleted, completed);
  return summary;
};

/** Tags the image revoked and disables it; an image already revoked or disabled is left as it is. */
const markRevoked = async ({ image, reason }: Revocation, requestedBy: string, deps: RevokeDeps): Promise<void> => {
  const amiId = image.ImageId;
  if (tagOf(image, Tag.Revoked) === 'true') {
    deps.logger.info('image already revoked', { amiId, reason: tagOf(image, Tag.RevokedReason) });
  } else {
    await deps.ec2.send(
      new CreateTagsCommand({
        Resources: [amiId],
        Tags: [
          { Key: Tag.Revoked, Value: 'true' },
          { Key: Tag.RevokedReason, Value: reason },
          { Key: Tag.RevokedBy, Value: clip(requestedBy) },
        ],
      }),
    );
  }
  if (image.State === 'available') {
    await deps.ec2.send(new DisableImageCommand({ ImageId: amiId }));
    deps.logger.info('image disabled', { amiId });
  } else if (image.State !== 'disabled') {
    // DisableImage only takes available images; a pending or failed one cannot be launched anyway.
    deps.logger.warn('image not disabled: it is not available', { amiId, state: image.State });
  }
};

const moveChannelsOff = async (
  image: Revocation['image'],
  excluded: ReadonlySet<string>,
  requestedBy: string,
  deps: RevokeDeps,
): Promise<{ moved: MovedChannel[]; stranded: StrandedChannel[] }> => {
  const moved: MovedChannel[] = [];
  const stranded: StrandedChannel[] = [];
  const amiId = image.ImageId;
  const familyName = tagOf(image, Tag.Family);
  const family = familyName ? findFamily(deps.config, familyName) : undefined;
  if (!family) {
    deps.logger.warn('revoked image of no configured family: no channels to check', { amiId, family: familyName });
    return { moved, stranded };
  }
  for (const channel of family.channels) {
    // Under the channel's lock, so a promotion cannot move it between our read and our move.
    await withChannelLock(family.name, channel.name, deps, async () => {
      if ((await deps.channels.readChannel(family.name, channel.name)) !== amiId) return;
      const target = await deps.channels.previousGood(family.name, channel.name, { exclude: excluded });
      const targetImage = target ? await describeImage(target, deps.ec2) : undefined;
      if (!target || !targetImage?.ImageId) {
        stranded.push({ family: family.name, channel: channel.name, amiId });
        return;
      }
      const good = { ...targetImage, ImageId: targetImage.ImageId };
      await promoteChannel(
        {
          family,
          channel,
          image: good,
          cause: 'revocation',
          by: requestedBy,
          bakeId: tagOf(good, Tag.BakeId) ?? null,
        },
        distributionOf(family, good, deps),
        deps,
      );
      moved.push({ family: family.name, channel: channel.name, from: amiId, to: target });
    });
  }
  return { moved, stranded };
};
