/**
 * `bakehouse bake <family> [--force] [--wait]`: puts `Bake Requested`; with --wait follows the
 * execution and its automation's steps until the bake ends.
 */
import { randomUUID } from 'node:crypto';
import { DescribeAutomationStepExecutionsCommand } from '@aws-sdk/client-ssm';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { DetailType } from '../../functions/commons/events';
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
import { putEvent, requireFamily } from './shared';

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

/** Follows a bake; prints progress (one rewritten line on a TTY, plain lines otherwise). */
export const followBake = async (
  ctx: CommandContext,
  executionArn: string,
  timeoutSeconds: number,
): Promise<BakeSummary> => {
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
  try {
    for (;;) {
      const bake = await describeBake(ctx, executionArn);
      if (bake && bake.status !== 'RUNNING') return bake;
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
  await putEvent(ctx, DetailType.BakeRequested, {
    version: '1.0',
    family: family.name,
    reason: options.reason,
    requestedBy,
    idempotencyKey,
    force: options.force,
  });
  const request = { bakeId, family: family.name, requestedBy, idempotencyKey, force: options.force };
  if (!options.wait) {
    if (ctx.json) sayJson(ctx, { request });
    else say(ctx, `requested bake ${bakeId} of ${family.name}. Follow it: bakehouse status ${bakeId}`);
    return 0;
  }
  if (!ctx.json) say(ctx, `requested bake ${bakeId} of ${family.name}`);
  const executionArn = executionArnOf(await stateMachineArn(ctx), bakeId);
  const bake = await followBake(ctx, executionArn, options.timeoutSeconds);
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
