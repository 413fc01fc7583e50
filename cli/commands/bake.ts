/**
 * `bakehouse bake <family> [--force] [--wait]`: puts `Bake Requested` and waits for its outcome,
 * watching the bus from before the request is put (outcomes.ts): `Bake Started`, `Bake Skipped` or
 * `Bake Failed` of its bake id, or StartBake's `Bake Rejected` (printed with its reason and fix
 * within seconds, exit 1). With --wait it then follows the execution and its automation's steps
 * until the bake ends. Without an answer in time it says the request was put and how to follow it.
 */
import { randomUUID } from 'node:crypto';
import { DescribeAutomationStepExecutionsCommand } from '@aws-sdk/client-ssm';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { type BakeFailed, type BakeSkipped, type BakeStarted, DetailType } from '../../functions/commons/events';
import { type CommandContext, say, sayJson } from '../context';
import { CliError } from '../errors';
import { duration } from '../format';
import {
  type BakeSummary,
  describeBake,
  executionArnOf,
  executionHistory,
  failureFromHistory,
  stateMachineArn,
} from './bakes';
import type { TailedEvent } from './events';
import { describeRejection, type Rejection, rejectionOf, watchOutcomes } from './outcomes';
import { pollUntil, putEvent, requireFamily } from './shared';

/** How long `bake` without --wait waits for its bake to start, be skipped or be refused. */
export const START_WAIT_SECONDS = 60;

export interface BakeOptions {
  readonly force: boolean;
  readonly wait: boolean;
  readonly reason: string;
  readonly idempotencyKey?: string;
  /** How long --wait follows the bake, in seconds. */
  readonly timeoutSeconds: number;
}

export interface StepView {
  readonly name: string;
  readonly status: string;
}

/** One progress line: `[3/9] InstallPackages … InProgress`. */
export const progressLine = (steps: readonly StepView[], total: number | null): string => {
  const current = steps.findLast((s) => s.status !== 'Pending') ?? steps[0];
  if (!current) return 'waiting for the automation to start';
  const index = steps.indexOf(current) + 1;
  return `[${index}/${total ?? steps.length}] ${current.name} ${current.status}`;
};

const automationSteps = async (ctx: CommandContext, automationExecutionId: string): Promise<StepView[]> => {
  const { StepExecutions = [] } = await ctx.clients.ssm.send(
    new DescribeAutomationStepExecutionsCommand({ AutomationExecutionId: automationExecutionId, MaxResults: 50 }),
  );
  return StepExecutions.map((s) => ({ name: s.StepName ?? '?', status: s.StepStatus ?? 'Pending' }));
};

export interface FollowOptions {
  /** The request's rejection, if it has come: checked until the execution exists. */
  readonly rejected?: () => Rejection | undefined;
  /** Called once the execution exists: the request was accepted, no rejection can follow. */
  readonly started?: () => void;
}

/**
 * Follows a bake; prints progress (one rewritten line on a TTY, plain lines otherwise). Resolves
 * to `{ rejected }` when the request's rejection comes before its execution.
 */
export const followBake = async (
  ctx: CommandContext,
  executionArn: string,
  timeoutSeconds: number,
  follow: FollowOptions = {},
): Promise<BakeSummary | { readonly rejected: Rejection }> => {
  const tty = ctx.io.stderr.isTTY === true && !ctx.json;
  const seen = new Map<string, string>();
  let automationId: string | null = null;
  let lastLine = '';
  const show = (line: string) => {
    if (ctx.json || line === lastLine) return;
    lastLine = line;
    // Progress goes to stderr: stdout stays the result, so `bake --wait > out` keeps only that.
    ctx.io.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
  const deadline = Date.now() + timeoutSeconds * 1000;
  let accepted = false;
  try {
    for (;;) {
      const bake = await describeBake(ctx, executionArn);
      if (bake && !accepted) {
        accepted = true;
        follow.started?.();
      }
      if (bake && bake.status !== 'RUNNING') return bake;
      if (!bake) {
        const rejected = follow.rejected?.();
        if (rejected) return { rejected };
      }
      if (bake) {
        if (!automationId) {
          automationId = failureFromHistory(await executionHistory(ctx, executionArn)).automationExecutionId;
          if (automationId) show(`automation ${automationId} started`);
        }
        if (automationId) {
          const steps = await automationSteps(ctx, automationId);
          if (tty) show(progressLine(steps, steps.length));
          else {
            for (const step of steps) {
              if (step.status === 'Pending' || seen.get(step.name) === step.status) continue;
              seen.set(step.name, step.status);
              show(`step ${step.name}: ${step.status}`);
            }
          }
        } else show('planning the bake');
      } else show('waiting for the bake to start');
      if (Date.now() >= deadline) {
        throw new CliError(
          `the bake is still running after ${timeoutSeconds}s. Fix: follow it with \`bakehouse status ${executionArn.split(':').pop()}\``,
        );
      }
      if (ctx.signal.aborted) throw new CliError('interrupted; the bake goes on', { exitCode: 130 });
      await ctx.sleep(ctx.pollMs);
    }
  } finally {
    if (tty && lastLine) ctx.io.stderr.write('\n');
  }
};

export const bakeCommand = async (ctx: CommandContext, familyName: string, options: BakeOptions): Promise<number> => {
  const family = requireFamily(ctx, familyName);
  const idempotencyKey =
    options.idempotencyKey ?? `cli:${ctx.user}:${ctx.now().toISOString()}:${randomUUID().slice(0, 8)}`;
  const bakeId = bakeIdFor(family.name, idempotencyKey);
  const requestedBy = `cli:${ctx.user}`;
  const request = { bakeId, family: family.name, requestedBy, idempotencyKey, force: options.force };
  const waitSeconds = options.wait ? options.timeoutSeconds : Math.min(options.timeoutSeconds, START_WAIT_SECONDS);
  // The same idempotency key never starts a second bake: StartBake answers a repeat with no event,
  // so a bake that existed under the key before the request is its answer. Only a key the operator
  // gave can repeat (the default one is new every time); --wait follows that bake as it is.
  const existing =
    options.idempotencyKey && !options.wait
      ? await describeBake(ctx, executionArnOf(await stateMachineArn(ctx), bakeId))
      : undefined;
  const watch = await watchOutcomes(ctx, waitSeconds);
  try {
    const eventId = await putEvent(ctx, DetailType.BakeRequested, {
      version: '1.0',
      family: family.name,
      reason: options.reason,
      requestedBy,
      idempotencyKey,
      force: options.force,
    });
    const correlation = { eventId, bakeId };
    if (!options.wait) {
      if (existing) return reportExisting(ctx, request, existing);
      const answer = await pollUntil(ctx, waitSeconds * 1000, async () =>
        watch.find((e) => bakeAnswerOf(e, correlation)),
      );
      return reportStart(ctx, request, answer);
    }
    if (!ctx.json) say(ctx, `requested bake ${bakeId} of ${family.name}`);
    const executionArn = executionArnOf(await stateMachineArn(ctx), bakeId);
    const followed = await followBake(ctx, executionArn, options.timeoutSeconds, {
      rejected: () => watch.find((e) => rejectionOf(e, DetailType.BakeRejected, correlation)),
      // Accepted: the watch has done its work (on AWS its rule and queue go now, not in hours).
      started: () => void watch.close(),
    });
    if ('rejected' in followed) return reportStart(ctx, request, followed);
    return reportBake(ctx, request, followed);
  } finally {
    await watch.close();
  }
};

type BakeAnswer =
  | { readonly rejected: Rejection }
  | { readonly started: BakeStarted }
  | { readonly skipped: BakeSkipped }
  | { readonly failed: BakeFailed };

/** The answer to the request in `event`: its rejection, or the first event of its bake. */
const bakeAnswerOf = (
  event: TailedEvent,
  request: { readonly eventId: string | undefined; readonly bakeId: string },
): BakeAnswer | undefined => {
  const rejected = rejectionOf(event, DetailType.BakeRejected, request);
  if (rejected) return { rejected };
  if (event.detail.bakeId !== request.bakeId) return undefined;
  const detail = event.detail as never;
  if (event.detailType === DetailType.BakeStarted) return { started: detail };
  if (event.detailType === DetailType.BakeSkipped) return { skipped: detail };
  if (event.detailType === DetailType.BakeFailed) return { failed: detail };
  return undefined;
};

interface BakeRequestView {
  readonly bakeId: string;
  readonly family: string;
}

/** `bake` without --wait (and a rejection with it): what became of the request. */
const reportStart = (ctx: CommandContext, request: BakeRequestView, answer: BakeAnswer | undefined): number => {
  const follow = `Follow it: bakehouse status ${request.bakeId}`;
  if (!answer) {
    if (ctx.json) sayJson(ctx, { request, outcome: 'requested' });
    else say(ctx, `requested bake ${request.bakeId} of ${request.family}. ${follow}`);
    return 0;
  }
  if ('rejected' in answer) {
    const { reason, fix } = answer.rejected;
    if (ctx.json) sayJson(ctx, { request, outcome: 'rejected', rejection: { reason, fix } });
    else {
      ctx.io.stderr.write(
        `rejected: bake ${request.bakeId} of ${request.family} did not start: ${describeRejection(answer.rejected)}\n`,
      );
    }
    return 1;
  }
  if ('failed' in answer) {
    if (ctx.json) sayJson(ctx, { request, outcome: 'failed', detail: answer.failed });
    else {
      ctx.io.stderr.write(
        `bake failed: step ${answer.failed.failedStep ?? '(unknown)'}: ${answer.failed.reason || 'no reason given'}\n`,
      );
    }
    return 1;
  }
  if ('skipped' in answer) {
    if (ctx.json) sayJson(ctx, { request, outcome: 'skipped', detail: answer.skipped });
    else say(ctx, `skipped: ${answer.skipped.amiId} was already baked from the same source (bake ${request.bakeId})`);
    return 0;
  }
  if (ctx.json) sayJson(ctx, { request, outcome: 'started', detail: answer.started });
  else {
    say(
      ctx,
      `bake ${request.bakeId} of ${request.family} started from ${answer.started.sourceAmiId} (automation ${answer.started.automationExecutionId}). ${follow}`,
    );
  }
  return 0;
};

/** `bake` without --wait of a key that already has a bake: that bake, as it stands. */
const reportExisting = (ctx: CommandContext, request: BakeRequestView, bake: BakeSummary): number => {
  if (ctx.json) sayJson(ctx, { request, outcome: 'duplicate', bake });
  else {
    say(
      ctx,
      `bake ${request.bakeId} of ${request.family} already exists under this idempotency key (${bake.outcome}): no second bake starts. Follow it: bakehouse status ${request.bakeId}`,
    );
  }
  return 0;
};

/** `bake --wait`: the finished bake. */
const reportBake = (ctx: CommandContext, request: BakeRequestView, bake: BakeSummary): number => {
  const ok = bake.outcome === 'baked' || bake.outcome === 'skipped';
  if (ctx.json) sayJson(ctx, { request, bake });
  else if (bake.outcome === 'baked') say(ctx, `baked ${bake.amiId} in ${duration(bake.durationSeconds)}`);
  else if (bake.outcome === 'skipped') say(ctx, `skipped: ${bake.amiId} was already baked from the same source`);
  else {
    ctx.io.stderr.write(
      `bake ${bake.outcome}: step ${bake.failedStep ?? '(unknown)'}: ${bake.reason ?? 'no reason given'}\n`,
    );
  }
  return ok ? 0 : 1;
};
