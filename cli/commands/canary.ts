/**
 * `bakehouse canary <family> [--abort]`: the family's running (or latest) canary, one execution of
 * `bakehouse-<stage>-canary` (stacks/canary.ts), with its status, images, instances and scorecard;
 * `--abort` stops it and waits until its instances are gone.
 *
 * An execution's input is the `AMI Tested` event that started it, so its family is
 * `input.detail.family`. ListExecutions returns no input: executions are described newest first
 * until one of the family turns up (running ones first). The scorecard is read from the execution
 * history: the last state output that carries the canary's run (`canaryId`, `instances`,
 * `judgement`: functions/canary/core.ts `CanaryRun`) and the verdict the machine finished with.
 *
 * `--abort` calls StopExecution (the execution ends ABORTED; Step Functions runs no Catch for it).
 * The CanaryExecutionStopped rule then runs the canary function's cleanupStopped, which detaches and
 * terminates the instances tagged `bakehouse:canary-id` = the execution name and publishes
 * `Canary Judged` verdict aborted. The CLI waits for that by watching those instances.
 */

import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type ExecutionListItem,
  type HistoryEvent,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { canaryChannelOf } from '../../functions/commons/canary-channel';
import type { CanaryMetricResult } from '../../functions/commons/events';
import { eachPage } from '../../functions/commons/pages';
import { type CommandContext, say, sayJson } from '../context';
import { CliError, UsageError } from '../errors';
import { localTime, orDash, table } from '../format';
import { executionHistory } from './bakes';
import { requireFamily } from './shared';

/**
 * The tag that ties instances to their canary (the execution name): functions/canary/core.ts
 * `CANARY_ID_TAG` (not imported: the CLI does not load a function's folder and its clients).
 */
const CANARY_ID_TAG = 'bakehouse:canary-id';
/** How many of the newest executions are looked at for the family's canary. */
const SCAN_LIMIT = 100;
/** Instance states that still count as there (EC2 User Guide, "Instance state changes"). */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];

/** One canary, the shape `canary --json` prints. */
export interface CanarySummary {
  readonly canaryId: string;
  readonly executionArn: string;
  readonly family: string;
  readonly channel: string | null;
  /** Step Functions' status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED. */
  readonly status: string;
  /** The verdict the canary finished with; null while it runs or when it ended without one. */
  readonly verdict: string | null;
  /** The canary image and the baseline (the channel's image when the canary started). */
  readonly amiId: string | null;
  readonly baselineAmiId: string | null;
  readonly bakeId: string | null;
  readonly autoScalingGroup: string | null;
  readonly instances: { readonly baseline: readonly string[]; readonly canary: readonly string[] };
  readonly intervalsJudged: number;
  /** The latest scorecard (the final one once it is judged); null before the first judgement. */
  readonly scorecard: {
    readonly score: number;
    readonly verdict: string;
    readonly failedCritical: readonly string[];
    readonly metrics: readonly CanaryMetricResult[];
  } | null;
  readonly startedAt: string | null;
  readonly stoppedAt: string | null;
  /** Why it failed or was stopped (Step Functions' cause). */
  readonly cause: string | null;
}

const parse = (text: string | undefined): unknown => {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};
const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/** The first object (depth-first, a few levels down) that satisfies `test`: the ASL may nest the run. */
const findObject = (
  value: unknown,
  test: (o: Record<string, unknown>) => boolean,
  depth = 4,
): Record<string, unknown> | undefined => {
  if (!isObject(value)) return undefined;
  if (test(value)) return value;
  if (depth === 0) return undefined;
  for (const child of Object.values(value)) {
    const found = findObject(child, test, depth - 1);
    if (found) return found;
  }
  return undefined;
};

const isRun = (o: Record<string, unknown>): boolean =>
  typeof o.canaryId === 'string' && isObject(o.instances) && 'judgement' in o;
const isFinish = (o: Record<string, unknown>): boolean =>
  typeof o.verdict === 'string' && typeof o.published === 'boolean';

/** The canary state machine's ARN, or an error naming the fix. */
export const canaryStateMachineArn = async (ctx: CommandContext): Promise<string> => {
  for await (const page of eachPage((nextToken) =>
    ctx.clients.sfn
      .send(new ListStateMachinesCommand({ maxResults: 100, nextToken }))
      .then((r) => ({ ...r, NextToken: r.nextToken })),
  )) {
    const found = page.stateMachines?.find((m) => m.name === ctx.names.canaryStateMachine);
    if (found?.stateMachineArn) return found.stateMachineArn;
  }
  throw new CliError(
    `the canary state machine ${ctx.names.canaryStateMachine} does not exist. Fix: deploy stage '${ctx.stage}' with a canary channel (npx sst deploy --stage ${ctx.stage}), pass the right --stage, or provision the sandbox (npm start)`,
  );
};

const familyOfInput = (execution: DescribeExecutionCommandOutput): string | null => {
  const input = parse(execution.input);
  return isObject(input) && isObject(input.detail) ? str(input.detail.family) : null;
};

/** The newest execution of the family among `statusFilter`'s (all when undefined). */
const newestOfFamily = async (
  ctx: CommandContext,
  machineArn: string,
  family: string,
  statusFilter: 'RUNNING' | undefined,
): Promise<DescribeExecutionCommandOutput | undefined> => {
  const listed: ExecutionListItem[] = [];
  for await (const page of eachPage((nextToken) =>
    ctx.clients.sfn
      .send(
        new ListExecutionsCommand({
          stateMachineArn: machineArn,
          maxResults: 100,
          nextToken,
          ...(statusFilter ? { statusFilter } : {}),
        }),
      )
      .then((r) => ({ ...r, NextToken: r.nextToken })),
  )) {
    listed.push(...(page.executions ?? []));
    if (listed.length >= SCAN_LIMIT) break;
  }
  const newestFirst = listed
    .filter((e) => e.executionArn)
    .sort((a, b) => new Date(b.startDate ?? 0).getTime() - new Date(a.startDate ?? 0).getTime())
    .slice(0, SCAN_LIMIT);
  for (const item of newestFirst) {
    const execution = await ctx.clients.sfn.send(new DescribeExecutionCommand({ executionArn: item.executionArn }));
    if (familyOfInput(execution) === family) return execution;
  }
  return undefined;
};

/**
 * The verdict its `Canary Judged` carried: a finished execution's from its PublishCanaryJudged
 * output; an ABORTED one was published `aborted` by cleanupStopped; every other end (the machine's
 * own CanaryFailed after CleanupAfterError, TIMED_OUT, another failure) was published `error`.
 */
const verdictOf = (status: string, finish: Record<string, unknown> | undefined): string | null => {
  if (status === 'RUNNING' || status === 'PENDING_REDRIVE') return null;
  if (status === 'SUCCEEDED') return str(finish?.verdict);
  return status === 'ABORTED' ? 'aborted' : 'error';
};

/** What the execution and its history say about the canary. */
export const summarizeCanary = (
  execution: DescribeExecutionCommandOutput,
  history: readonly HistoryEvent[],
  family: string,
): CanarySummary => {
  const input = parse(execution.input);
  const detail = isObject(input) && isObject(input.detail) ? input.detail : {};
  let run: Record<string, unknown> | undefined;
  let finish: Record<string, unknown> | undefined;
  const outputs = [
    ...history.map((e) => e.stateExitedEventDetails?.output ?? e.taskSucceededEventDetails?.output),
    execution.output,
  ];
  for (const text of outputs) {
    const value = parse(text);
    const foundRun = findObject(value, isRun);
    if (foundRun) run = foundRun;
    const foundFinish = findObject(value, isFinish);
    if (foundFinish) finish = foundFinish;
  }
  const judgement = run && isObject(run.judgement) ? run.judgement : undefined;
  const instances = run && isObject(run.instances) ? run.instances : {};
  const started = execution.startDate ? new Date(execution.startDate) : null;
  const stopped = execution.stopDate ? new Date(execution.stopDate) : null;
  const status = execution.status ?? 'UNKNOWN';
  return {
    canaryId: execution.name ?? execution.executionArn?.split(':').pop() ?? '',
    executionArn: execution.executionArn ?? '',
    family,
    channel: str(run?.channel),
    status,
    verdict: verdictOf(status, finish),
    amiId: str(run?.amiId) ?? str(detail.amiId),
    baselineAmiId: str(run?.baselineAmiId),
    bakeId: str(run?.bakeId) ?? str(detail.bakeId),
    autoScalingGroup: str(run?.autoScalingGroup),
    instances: { baseline: strings(instances.baseline), canary: strings(instances.canary) },
    intervalsJudged: typeof run?.intervalsJudged === 'number' ? run.intervalsJudged : 0,
    scorecard:
      judgement && typeof judgement.score === 'number'
        ? {
            score: judgement.score,
            verdict: str(judgement.verdict) ?? 'unknown',
            failedCritical: strings(judgement.failedCritical),
            metrics: Array.isArray(judgement.metrics) ? (judgement.metrics as CanaryMetricResult[]) : [],
          }
        : null,
    startedAt: started?.toISOString() ?? null,
    stoppedAt: stopped?.toISOString() ?? null,
    cause: status === 'SUCCEEDED' || status === 'RUNNING' ? null : (execution.cause ?? execution.error ?? null),
  };
};

const figure = (value: number | null): string => (value === null ? '–' : String(Number(value.toPrecision(4))));
const changePercent = (change: number | null): string =>
  change === null ? '–' : `${change >= 1 ? '+' : ''}${((change - 1) * 100).toFixed(1)}%`;
const pValueText = (p: number | null): string => (p === null ? '–' : p < 0.001 ? '<0.001' : p.toFixed(3));

export const renderCanary = (canary: CanarySummary): string => {
  const lines: [string, string][] = [
    ['canary', canary.canaryId],
    ['family', `${canary.family}${canary.channel ? ` (channel ${canary.channel})` : ''}`],
    ['status', `${canary.status}${canary.verdict ? `, verdict ${canary.verdict}` : ''}`],
    ['canary ami', orDash(canary.amiId)],
    ['baseline ami', orDash(canary.baselineAmiId)],
    ['bake', orDash(canary.bakeId)],
    ['group', orDash(canary.autoScalingGroup)],
    ['canaries', canary.instances.canary.join(', ') || '-'],
    ['baselines', canary.instances.baseline.join(', ') || '-'],
    ['started', localTime(canary.startedAt)],
    ['stopped', localTime(canary.stoppedAt)],
  ];
  if (canary.cause) lines.push(['cause', canary.cause]);
  const head = lines.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join('\n');
  if (!canary.scorecard) return `${head}\n\nno scorecard yet (judged intervals: ${canary.intervalsJudged})`;
  const card = canary.scorecard;
  const rows = table(card.metrics, [
    { header: 'METRIC', value: (m) => `${m.name}${m.critical ? ' *' : ''}` },
    { header: 'BASELINE', value: (m) => figure(m.baselineMedian), align: 'right' },
    { header: 'CANARY', value: (m) => figure(m.canaryMedian), align: 'right' },
    { header: 'CHANGE', value: (m) => changePercent(m.change), align: 'right' },
    { header: 'P-VALUE', value: (m) => pValueText(m.pValue), align: 'right' },
    { header: 'CLASS', value: (m) => m.classification },
  ]);
  const critical = card.failedCritical.length > 0 ? `\ncritical metrics failed: ${card.failedCritical.join(', ')}` : '';
  return `${head}\n\nscore ${card.score}/100 (${card.verdict}) after ${canary.intervalsJudged} interval(s)${critical}\n${rows}\n* critical`;
};

/** The instances of a canary that are not terminated yet. */
const liveInstances = async (ctx: CommandContext, canaryId: string): Promise<string[]> => {
  const ids: string[] = [];
  for await (const page of eachPage((NextToken) =>
    ctx.clients.ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${CANARY_ID_TAG}`, Values: [canaryId] },
          { Name: 'instance-state-name', Values: LIVE_STATES },
        ],
        MaxResults: 100,
        NextToken,
      }),
    ),
  )) {
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) if (instance.InstanceId) ids.push(instance.InstanceId);
    }
  }
  return ids;
};

export interface CanaryOptions {
  readonly abort: boolean;
  /** How long --abort waits for the instances to be terminated. */
  readonly timeoutSeconds: number;
}

export const canaryCommand = async (
  ctx: CommandContext,
  familyName: string,
  options: CanaryOptions,
): Promise<number> => {
  const family = requireFamily(ctx, familyName);
  const channel = canaryChannelOf(family);
  if (!channel) {
    throw new UsageError(
      `family '${family.name}' has no canary channel, so no canary runs for it. Fix: give one of its channels promoteOn 'canary' and a canary block in bakehouse.config.ts, or pick a family that has one (${
        ctx.config.families
          .filter((f) => canaryChannelOf(f))
          .map((f) => f.name)
          .join(', ') || 'none has'
      })`,
    );
  }
  const machineArn = await canaryStateMachineArn(ctx);
  const execution =
    (await newestOfFamily(ctx, machineArn, family.name, 'RUNNING')) ??
    (await newestOfFamily(ctx, machineArn, family.name, undefined));
  if (!execution?.executionArn) {
    throw new CliError(
      `no canary of family '${family.name}' has run in stage '${ctx.stage}'. A canary starts when a bake of it passes its tests (AMI Tested) and channel '${channel.channel}' already has an image. Fix: bake it with \`bakehouse bake ${family.name}\` (or check --stage)`,
    );
  }
  const summarize = async (current: DescribeExecutionCommandOutput) =>
    summarizeCanary(current, await executionHistory(ctx, current.executionArn ?? ''), family.name);
  const canary = await summarize(execution);
  if (!options.abort) {
    if (ctx.json) sayJson(ctx, { canary });
    else say(ctx, renderCanary(canary));
    return 0;
  }

  if (canary.status !== 'RUNNING') {
    throw new CliError(
      `no canary of family '${family.name}' is running: the latest, ${canary.canaryId}, ended ${canary.status}${canary.verdict ? ` (verdict ${canary.verdict})` : ''}. Nothing to abort. Fix: run \`bakehouse canary ${family.name}\` to see it`,
    );
  }
  // StopExecution: the execution ends ABORTED; the stopped-canary rule cleans up
  // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html).
  await ctx.clients.sfn.send(
    new StopExecutionCommand({
      executionArn: canary.executionArn,
      error: 'CanaryAborted',
      cause: `aborted by ${ctx.user} with bakehouse canary --abort`,
    }),
  );
  if (!ctx.json) say(ctx, `stopped canary ${canary.canaryId}; waiting for its instances to be terminated…`);
  const deadline = ctx.now().getTime() + options.timeoutSeconds * 1000;
  let left = await liveInstances(ctx, canary.canaryId);
  while (left.length > 0) {
    if (ctx.signal.aborted) throw new CliError('interrupted while waiting for the canary instances', { exitCode: 130 });
    if (ctx.now().getTime() >= deadline) {
      throw new CliError(
        `canary ${canary.canaryId} is stopped, but ${left.length} of its instance(s) are still there after ${options.timeoutSeconds}s: ${left.join(', ')}. Fix: check the CanaryExecutionStopped rule and the Canary function's logs and its StoppedCanaries dead-letter queue; the hourly reaper terminates them once they expire`,
        { details: { canaryId: canary.canaryId, instances: left } },
      );
    }
    await ctx.sleep(ctx.pollMs);
    left = await liveInstances(ctx, canary.canaryId);
  }
  const after = await ctx.clients.sfn.send(new DescribeExecutionCommand({ executionArn: canary.executionArn }));
  const aborted = { ...(await summarize(after)), verdict: 'aborted' };
  const terminated = [...canary.instances.baseline, ...canary.instances.canary];
  if (ctx.json) sayJson(ctx, { canary: aborted, aborted: true, instancesTerminated: terminated });
  else
    say(
      ctx,
      `canary ${canary.canaryId} aborted by ${ctx.user}; its instances are terminated${terminated.length > 0 ? `: ${terminated.join(', ')}` : ''}`,
    );
  return 0;
};
