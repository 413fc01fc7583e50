/**
 * `promote`, `rollback`, `revoke`. Promotion and revocation are asynchronous (the Promote and
 * Revoke functions validate the request): the CLI watches the bus from before it puts the event
 * (outcomes.ts) and waits for the outcome of its request: `AMI Promoted` or `Promotion Rejected`,
 * `Revocation Completed` or `Revocation Rejected`, correlated by the request's event id. A refusal
 * is printed within seconds with its reason and fix (exit 1). Without an answer, promote falls back
 * to the channel parameter (and, when it times out, the reason it can see locally), and revoke to
 * saying the request was put.
 */
import { describeImage, unfitReason } from '../../functions/commons/channels';
import { DetailType, type RevocationCompleted } from '../../functions/commons/events';
import { type CommandContext, say, sayJson } from '../context';
import { CliError } from '../errors';
import {
  describeFailedTargets,
  describeRejection,
  type FailedTarget,
  failedTargetsOf,
  type Rejection,
  rejectionOf,
  watchOutcomes,
} from './outcomes';
import { channelsOf, pollUntil, putEvent, requireAmiId, requireChannel, requireFamily } from './shared';

/** How long a promotion Promote will refuse (the image is unfit here already) waits for its answer. */
const UNFIT_WAIT_SECONDS = 10;
/**
 * How long promote waits for `AMI Promoted` once it sees the channel moved: Promote publishes it
 * right after updating the targets, and only it says whether every target followed.
 */
const ANNOUNCEMENT_GRACE_MS = 15_000;
/** How long revoke waits for Revoke's answer before it says the request was put. */
export const REVOKE_WAIT_SECONDS = 60;

export interface PromotionResult {
  readonly family: string;
  readonly channel: string;
  readonly amiId: string;
  readonly previousAmiId: string | null;
  /**
   * promoted | partial (the channel moved, some targets did not follow) | unchanged (already
   * there) | refused (the channel did not move in time).
   */
  readonly outcome: 'promoted' | 'partial' | 'unchanged' | 'refused';
  readonly reason: string | null;
  /** The targets that did not follow the channel, from AMI Promoted (partial only). */
  readonly failedTargets?: readonly FailedTarget[];
}

const requestPromotion = async (
  ctx: CommandContext,
  request: { family: string; channel: string; amiId: string; reason: string; cause?: 'rollback' },
  timeoutSeconds: number,
): Promise<PromotionResult> => {
  const channels = channelsOf(ctx);
  const before = await channels.readChannel(request.family, request.channel);
  const base = { family: request.family, channel: request.channel, amiId: request.amiId, previousAmiId: before };
  if (before === request.amiId) return { ...base, outcome: 'unchanged', reason: null };
  const watch = await watchOutcomes(ctx, timeoutSeconds);
  let answer: { readonly promoted: readonly FailedTarget[] } | { readonly rejected: Rejection } | undefined;
  let unfit: string | undefined;
  try {
    const eventId = await putEvent(ctx, DetailType.PromoteRequested, {
      version: '1.0',
      ...request,
      requestedBy: `cli:${ctx.user}`,
    });
    const promotedHere = (e: { detailType: string; detail: Record<string, unknown> }) =>
      e.detailType === DetailType.AmiPromoted &&
      e.detail.family === request.family &&
      e.detail.channel === request.channel &&
      e.detail.amiId === request.amiId;
    // An image the Promote function will refuse is known now: its answer is awaited only briefly.
    unfit = unfitReason(await describeImage(request.amiId, ctx.clients.ec2));
    const waitMs = (unfit ? Math.min(timeoutSeconds, UNFIT_WAIT_SECONDS) : timeoutSeconds) * 1000;
    const started = Date.now();
    let movedAt: number | undefined;
    answer = await pollUntil(ctx, waitMs + ANNOUNCEMENT_GRACE_MS, async () => {
      const rejected = watch.find((e) => rejectionOf(e, DetailType.PromotionRejected, { eventId }));
      if (rejected) return { rejected };
      const announced = watch.find((e) => (promotedHere(e) ? failedTargetsOf(e.detail) : undefined));
      if (announced) return { promoted: announced };
      // The channel itself: the answer when the watch saw nothing (a rule not matching yet on AWS),
      // after a grace for AMI Promoted, which alone says whether the targets followed.
      if (movedAt === undefined) {
        if ((await channels.readChannel(request.family, request.channel)) !== request.amiId) {
          return Date.now() - started > waitMs ? { timedOut: true as const } : undefined;
        }
        movedAt = Date.now();
      }
      return Date.now() - movedAt >= ANNOUNCEMENT_GRACE_MS ? { promoted: [] } : undefined;
    }).then((value) => (value && 'timedOut' in value ? undefined : value));
  } finally {
    await watch.close();
  }
  if (answer && 'promoted' in answer) {
    return answer.promoted.length > 0
      ? {
          ...base,
          outcome: 'partial',
          reason: `${answer.promoted.length} target${answer.promoted.length === 1 ? '' : 's'} did not follow the channel`,
          failedTargets: answer.promoted,
        }
      : { ...base, outcome: 'promoted', reason: null };
  }
  if (answer) return { ...base, outcome: 'refused', reason: describeRejection(answer.rejected) };
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
  } else if (result.outcome === 'partial') {
    // The channel moved (no rollback: functions/commons/promotion.ts says why), its targets did not all follow.
    say(ctx, `${result.family}/${result.channel}: ${result.previousAmiId ?? '(none)'} → ${result.amiId}`);
    ctx.io.stderr.write(
      `partial: the channel moved, but ${result.failedTargets?.length === 1 ? 'this target did not follow and still holds' : 'these targets did not follow and still hold'} the earlier image:\n${describeFailedTargets(result.failedTargets ?? [])}\n`,
    );
  } else if (result.outcome === 'unchanged') {
    say(ctx, `${result.family}/${result.channel} already points at ${result.amiId}`);
  } else
    ctx.io.stderr.write(
      `refused: ${result.family}/${result.channel} stays at ${result.previousAmiId ?? '(none)'}. ${result.reason}\n`,
    );
  // A partial move exits 1 too: not everything asked for happened, and a script must not take it for done.
  return result.outcome === 'refused' || result.outcome === 'partial' ? 1 : 0;
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
      { family: family.name, channel, amiId: target, reason: 'rollback', cause: 'rollback' },
      options.timeoutSeconds,
    ),
  );
};

type RevokeAnswer = { readonly completed: RevocationCompleted } | { readonly rejected: Rejection };

/** What Revoke did, in lines: the images, the channels moved back, and those left on a revoked image. */
const revokedLines = (done: RevocationCompleted): string[] => {
  const others = done.revoked.filter((id) => id !== done.amiId);
  const lines = [
    `revoked ${done.amiId}${others.length > 0 ? ` and ${others.length} built on it: ${others.join(', ')}` : ''}`,
  ];
  lines.push(
    done.channelsMoved.length > 0
      ? `channels moved back: ${done.channelsMoved.map((m) => `${m.family}/${m.channel} ${m.from} → ${m.to}`).join(', ')}`
      : 'channels moved back: none held it',
  );
  if (done.stranded.length > 0) {
    lines.push(
      `stranded on a revoked image (no earlier good image): ${done.stranded.map((s) => `${s.family}/${s.channel}`).join(', ')}. Fix: bake or promote a good image to them`,
    );
  }
  return lines;
};

export const revokeCommand = async (
  ctx: CommandContext,
  amiIdArg: string,
  options: { reason: string; cascade: boolean; timeoutSeconds?: number },
): Promise<number> => {
  const amiId = requireAmiId(amiIdArg);
  const requestedBy = `cli:${ctx.user}`;
  const timeoutSeconds = options.timeoutSeconds ?? REVOKE_WAIT_SECONDS;
  const watch = await watchOutcomes(ctx, timeoutSeconds);
  let eventId: string | undefined;
  let answer: RevokeAnswer | undefined;
  try {
    eventId = await putEvent(ctx, DetailType.AmiRevoked, {
      version: '1.0',
      amiId,
      reason: options.reason,
      requestedBy,
      cascade: options.cascade,
    });
    const request = { eventId };
    answer = await pollUntil(ctx, timeoutSeconds * 1000, async () =>
      watch.find<RevokeAnswer>((e) => {
        const rejected = rejectionOf(e, DetailType.RevocationRejected, request);
        if (rejected) return { rejected };
        return e.detailType === DetailType.RevocationCompleted && e.detail.requestEventId === eventId
          ? { completed: e.detail as unknown as RevocationCompleted }
          : undefined;
      }),
    );
  } finally {
    await watch.close();
  }
  const outcome = !answer ? 'requested' : 'completed' in answer ? 'revoked' : 'refused';
  const revocation = {
    amiId,
    reason: options.reason,
    cascade: options.cascade,
    requestedBy,
    eventId: eventId ?? null,
    outcome,
    ...(answer && 'completed' in answer ? { completed: answer.completed } : {}),
    ...(answer && 'rejected' in answer
      ? { rejection: { reason: answer.rejected.reason, fix: answer.rejected.fix } }
      : {}),
  };
  if (ctx.json) sayJson(ctx, { revocation });
  else if (answer && 'completed' in answer) say(ctx, revokedLines(answer.completed).join('\n'));
  else if (answer)
    ctx.io.stderr.write(`refused: Revoke did not revoke ${amiId}: ${describeRejection(answer.rejected)}\n`);
  else {
    say(
      ctx,
      `requested revocation of ${amiId}${options.cascade ? ' and every image built on it' : ''} (no answer from Revoke within ${timeoutSeconds}s). See it: bakehouse lineage ${amiId}`,
    );
  }
  return outcome === 'refused' ? 1 : 0;
};
