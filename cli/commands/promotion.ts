/**
 * `promote`, `rollback`, `revoke`. Promotion is asynchronous (the Promote function validates the
 * request): the CLI puts the event, then watches the channel parameter for a bounded time. A
 * refusal leaves the channel where it was; the CLI then names the reason it can see (the image is
 * revoked, failed its tests, is not available) or says it does not know.
 */
import { describeImage, unfitReason } from '../../functions/commons/channels';
import { DetailType } from '../../functions/commons/events';
import { type CommandContext, say, sayJson } from '../context';
import { CliError } from '../errors';
import { channelsOf, pollUntil, putEvent, requireAmiId, requireChannel, requireFamily } from './shared';

export interface PromotionResult {
  readonly family: string;
  readonly channel: string;
  readonly amiId: string;
  readonly previousAmiId: string | null;
  /** promoted | unchanged (already there) | refused (the channel did not move in time). */
  readonly outcome: 'promoted' | 'unchanged' | 'refused';
  readonly reason: string | null;
}

const requestPromotion = async (
  ctx: CommandContext,
  request: { family: string; channel: string; amiId: string; reason: string },
  timeoutSeconds: number,
): Promise<PromotionResult> => {
  const channels = channelsOf(ctx);
  const before = await channels.readChannel(request.family, request.channel);
  const base = { family: request.family, channel: request.channel, amiId: request.amiId, previousAmiId: before };
  if (before === request.amiId) return { ...base, outcome: 'unchanged', reason: null };
  await putEvent(ctx, DetailType.PromoteRequested, {
    version: '1.0',
    ...request,
    requestedBy: `cli:${ctx.user}`,
  });
  // An image the Promote function will refuse is known now: wait only briefly for it.
  const unfit = unfitReason(await describeImage(request.amiId, ctx.clients.ec2));
  const waitMs = (unfit ? Math.min(timeoutSeconds, 3) : timeoutSeconds) * 1000;
  const moved = await pollUntil(ctx, waitMs, async () =>
    (await channels.readChannel(request.family, request.channel)) === request.amiId ? true : undefined,
  );
  if (moved) return { ...base, outcome: 'promoted', reason: null };
  return {
    ...base,
    outcome: 'refused',
    reason: unfit
      ? `Promote refuses ${request.amiId}: ${unfit}`
      : `the channel did not move within ${timeoutSeconds}s (the Promote function refused the request or is behind). Fix: look at the PromoteRejected dead-letter queue or the Promote function's logs`,
  };
};

const report = (ctx: CommandContext, result: PromotionResult): number => {
  if (ctx.json) sayJson(ctx, { promotion: result });
  else if (result.outcome === 'promoted') {
    say(ctx, `${result.family}/${result.channel}: ${result.previousAmiId ?? '(none)'} → ${result.amiId}`);
  } else if (result.outcome === 'unchanged') {
    say(ctx, `${result.family}/${result.channel} already points at ${result.amiId}`);
  } else
    ctx.io.stderr.write(
      `refused: ${result.family}/${result.channel} stays at ${result.previousAmiId ?? '(none)'}. ${result.reason}\n`,
    );
  return result.outcome === 'refused' ? 1 : 0;
};

export const promoteCommand = async (
  ctx: CommandContext,
  familyName: string,
  channel: string,
  amiIdArg: string,
  options: { reason: string; timeoutSeconds: number },
): Promise<number> => {
  const family = requireFamily(ctx, familyName);
  requireChannel(family, channel);
  const amiId = requireAmiId(amiIdArg);
  return report(
    ctx,
    await requestPromotion(
      ctx,
      { family: family.name, channel, amiId, reason: options.reason },
      options.timeoutSeconds,
    ),
  );
};

export const rollbackCommand = async (
  ctx: CommandContext,
  familyName: string,
  channel: string,
  options: { timeoutSeconds: number },
): Promise<number> => {
  const family = requireFamily(ctx, familyName);
  requireChannel(family, channel);
  const target = await channelsOf(ctx).previousGood(family.name, channel);
  if (!target) {
    throw new CliError(
      `${family.name}/${channel} has no earlier AMI that can be launched again (none, or all revoked, failed or gone). Fix: promote one explicitly with \`bakehouse promote\``,
    );
  }
  return report(
    ctx,
    await requestPromotion(
      ctx,
      { family: family.name, channel, amiId: target, reason: 'rollback' },
      options.timeoutSeconds,
    ),
  );
};

export const revokeCommand = async (
  ctx: CommandContext,
  amiIdArg: string,
  options: { reason: string; cascade: boolean },
): Promise<number> => {
  const amiId = requireAmiId(amiIdArg);
  const requestedBy = `cli:${ctx.user}`;
  const eventId = await putEvent(ctx, DetailType.AmiRevoked, {
    version: '1.0',
    amiId,
    reason: options.reason,
    requestedBy,
    cascade: options.cascade,
  });
  const revocation = { amiId, reason: options.reason, cascade: options.cascade, requestedBy, eventId: eventId ?? null };
  if (ctx.json) sayJson(ctx, { revocation });
  else {
    say(
      ctx,
      `requested revocation of ${amiId}${options.cascade ? ' and every image built on it' : ''}. See it: bakehouse lineage ${amiId}`,
    );
  }
  return 0;
};
