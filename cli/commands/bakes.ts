/**
 * Bakes as Step Functions sees them: one execution of `bakehouse-<stage>-bake` per bake, named by
 * the bake id. `status`, `history` and `bake --wait` read them here.
 */
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  ListStateMachinesCommand,
} from '@aws-sdk/client-sfn';
import { BAKE_ID, familyOfBakeId } from '../../functions/commons/bake-id';
import { eachPage } from '../../functions/commons/pages';
import { type CommandContext, say, sayJson } from '../context';
import { CliError, UsageError } from '../errors';
import { duration, localTime, orDash, table, truncate } from '../format';

export type BakeOutcome = 'running' | 'baked' | 'skipped' | 'failed' | 'aborted' | 'timed-out';

/** One bake, the shape `status --json` and `history --json` print. */
export interface BakeSummary {
  readonly bakeId: string;
  readonly family: string | null;
  /** Step Functions' status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED. */
  readonly status: string;
  readonly outcome: BakeOutcome;
  /** The new AMI (baked), or the existing one (skipped). */
  readonly amiId: string | null;
  readonly requestedBy: string | null;
  readonly startedAt: string | null;
  readonly stoppedAt: string | null;
  readonly durationSeconds: number | null;
  readonly failedStep: string | null;
  readonly reason: string | null;
  readonly automationExecutionId: string | null;
  readonly executionArn: string;
}

const parse = (text: string | undefined): Record<string, unknown> => {
  if (!text) return {};
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};
const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const at = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};

/** The ARN of `bakehouse-<stage>-bake` (looked up once per run). */
export const stateMachineArn = async (ctx: CommandContext): Promise<string> => {
  const cached = arnCache.get(ctx);
  if (cached) return cached;
  for await (const page of eachPage((nextToken) =>
    ctx.clients.sfn.send(new ListStateMachinesCommand({ maxResults: 100, nextToken })).then((r) => ({
      ...r,
      NextToken: r.nextToken,
    })),
  )) {
    const found = page.stateMachines?.find((m) => m.name === ctx.names.stateMachine);
    if (found?.stateMachineArn) {
      arnCache.set(ctx, found.stateMachineArn);
      return found.stateMachineArn;
    }
  }
  throw new CliError(
    `the state machine ${ctx.names.stateMachine} does not exist. Fix: deploy stage '${ctx.stage}' (npx sst deploy --stage ${ctx.stage}), pass the right --stage, or provision the sandbox (npm start)`,
  );
};
const arnCache = new WeakMap<CommandContext, string>();

export const executionArnOf = (machineArn: string, bakeId: string): string =>
  `${machineArn.replace(':stateMachine:', ':execution:')}:${bakeId}`;

/** The history's record of a failure: the step and the automation, read from CleanUpFailedBake. */
export const failureFromHistory = (
  events: readonly HistoryEvent[],
): { failedStep: string | null; automationExecutionId: string | null } => {
  let failedStep: string | null = null;
  let automationExecutionId: string | null = null;
  for (const event of events) {
    const exited = event.stateExitedEventDetails;
    if (!exited) continue;
    const output = parse(exited.output);
    const automation = str(at(output.automation).automationExecutionId);
    if (automation) automationExecutionId = automation;
    const failed = at(output.failed);
    if (str(failed.failedStep)) failedStep = str(failed.failedStep);
    if (str(failed.automationExecutionId)) automationExecutionId = str(failed.automationExecutionId);
  }
  return { failedStep, automationExecutionId };
};

export const executionHistory = async (ctx: CommandContext, executionArn: string): Promise<HistoryEvent[]> => {
  const events: HistoryEvent[] = [];
  for await (const page of eachPage((nextToken) =>
    ctx.clients.sfn
      .send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }))
      .then((r) => ({ ...r, NextToken: r.nextToken })),
  )) {
    events.push(...(page.events ?? []));
  }
  return events;
};

const OUTCOME_OF_STATUS: Record<string, BakeOutcome> = {
  RUNNING: 'running',
  PENDING_REDRIVE: 'running',
  FAILED: 'failed',
  TIMED_OUT: 'timed-out',
  ABORTED: 'aborted',
};

/** A bake's summary from DescribeExecution (and, for a failure, its history). */
export const summarize = (
  execution: DescribeExecutionCommandOutput,
  failure: { failedStep: string | null; automationExecutionId: string | null } | undefined,
): BakeSummary => {
  const input = parse(execution.input);
  const output = parse(execution.output);
  const plan = at(output.plan);
  const skipped = plan.action === 'skip';
  const status = execution.status ?? 'UNKNOWN';
  const outcome: BakeOutcome =
    status === 'SUCCEEDED' ? (skipped ? 'skipped' : 'baked') : (OUTCOME_OF_STATUS[status] ?? 'failed');
  const started = execution.startDate ? new Date(execution.startDate) : null;
  const stopped = execution.stopDate ? new Date(execution.stopDate) : null;
  const automation = at(output.automation);
  return {
    bakeId: execution.name ?? execution.executionArn?.split(':').pop() ?? '',
    family: str(input.family) ?? str(plan.family),
    status,
    outcome,
    amiId: skipped ? str(plan.existingAmiId) : str(at(automation.result).imageId),
    requestedBy: str(input.requestedBy),
    startedAt: started?.toISOString() ?? null,
    stoppedAt: stopped?.toISOString() ?? null,
    durationSeconds: started && stopped ? Math.round((stopped.getTime() - started.getTime()) / 1000) : null,
    failedStep: failure?.failedStep ?? null,
    reason: outcome === 'baked' || outcome === 'skipped' || outcome === 'running' ? null : (execution.cause ?? null),
    automationExecutionId: str(automation.automationExecutionId) ?? failure?.automationExecutionId ?? null,
    executionArn: execution.executionArn ?? '',
  };
};

/** The bake's summary, or undefined when Step Functions has no such execution (yet). */
export const describeBake = async (ctx: CommandContext, executionArn: string): Promise<BakeSummary | undefined> => {
  let execution: DescribeExecutionCommandOutput;
  try {
    execution = await ctx.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    if ((error as { name?: string }).name === 'ExecutionDoesNotExist') return undefined;
    throw error;
  }
  const failed = execution.status !== 'SUCCEEDED' && execution.status !== 'RUNNING';
  return summarize(execution, failed ? failureFromHistory(await executionHistory(ctx, executionArn)) : undefined);
};

export const renderBake = (bake: BakeSummary): string => {
  const lines: [string, string][] = [
    ['bake', bake.bakeId],
    ['family', orDash(bake.family)],
    ['outcome', `${bake.outcome} (${bake.status})`],
    ['ami', orDash(bake.amiId)],
    ['requested by', orDash(bake.requestedBy)],
    ['started', localTime(bake.startedAt)],
    ['stopped', localTime(bake.stoppedAt)],
    ['duration', duration(bake.durationSeconds)],
    ['automation', orDash(bake.automationExecutionId)],
  ];
  if (bake.failedStep || bake.reason) {
    lines.push(['failed step', orDash(bake.failedStep)], ['reason', orDash(bake.reason)]);
  }
  return lines.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join('\n');
};

export const renderBakes = (bakes: readonly BakeSummary[]): string =>
  bakes.length === 0
    ? 'no bakes yet'
    : table(bakes, [
        { header: 'BAKE', value: (b) => b.bakeId },
        { header: 'OUTCOME', value: (b) => b.outcome },
        { header: 'AMI', value: (b) => orDash(b.amiId) },
        { header: 'STARTED (LOCAL)', value: (b) => localTime(b.startedAt) },
        { header: 'DURATION', value: (b) => duration(b.durationSeconds), align: 'right' },
        {
          header: 'DETAIL',
          value: (b) => truncate(b.failedStep ? `${b.failedStep}: ${b.reason}` : (b.reason ?? ''), 60),
        },
      ]);

/**
 * The bake state machine's executions, a page at a time (Step Functions lists the newest first);
 * the caller stops reading when it has what it needs.
 */
export const executionPages = (ctx: CommandContext, machine: string, pageSize: number) =>
  eachPage((nextToken) =>
    ctx.clients.sfn
      .send(new ListExecutionsCommand({ stateMachineArn: machine, maxResults: pageSize, nextToken }))
      .then((r) => ({ ...r, NextToken: r.nextToken })),
  );

/** Recent executions, newest first, optionally of one family only. */
const recentBakes = async (ctx: CommandContext, family: string | undefined, limit: number): Promise<BakeSummary[]> => {
  const machine = await stateMachineArn(ctx);
  const arns: string[] = [];
  for await (const page of executionPages(ctx, machine, 100)) {
    const executions = [...(page.executions ?? [])].sort(
      (a, b) => new Date(b.startDate ?? 0).getTime() - new Date(a.startDate ?? 0).getTime(),
    );
    for (const execution of executions) {
      const bakeFamily = familyOfBakeId(execution.name ?? '');
      if (family !== undefined && bakeFamily !== family) continue;
      if (execution.executionArn) arns.push(execution.executionArn);
      if (arns.length >= limit) break;
    }
    if (arns.length >= limit) break;
  }
  const bakes = await Promise.all(arns.map((arn) => describeBake(ctx, arn)));
  return bakes
    .filter((b): b is BakeSummary => b !== undefined)
    .sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''));
};

export const statusCommand = async (
  ctx: CommandContext,
  bakeId: string | undefined,
  options: { limit: number },
): Promise<number> => {
  if (bakeId === undefined) {
    const bakes = await recentBakes(ctx, undefined, options.limit);
    if (ctx.json) sayJson(ctx, { bakes });
    else say(ctx, renderBakes(bakes));
    return 0;
  }
  if (!BAKE_ID.test(bakeId)) {
    throw new UsageError(
      `'${bakeId}' is not a bake id. Fix: give one as \`bakehouse bake\` or \`bakehouse history <family>\` print it (<family>-<32 hex>)`,
    );
  }
  const bake = await describeBake(ctx, executionArnOf(await stateMachineArn(ctx), bakeId));
  if (!bake) {
    throw new CliError(
      `no bake ${bakeId} in stage '${ctx.stage}'. Fix: list recent ones with \`bakehouse status\` (or check --stage)`,
    );
  }
  if (ctx.json) sayJson(ctx, { bake });
  else say(ctx, renderBake(bake));
  return 0;
};

export const historyCommand = async (
  ctx: CommandContext,
  family: string,
  options: { limit: number },
): Promise<number> => {
  const bakes = await recentBakes(ctx, family, options.limit);
  if (ctx.json) sayJson(ctx, { family, bakes });
  else say(ctx, renderBakes(bakes));
  return 0;
};
