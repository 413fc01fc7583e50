/**
 * `bakehouse overview`: the fleet at a glance. Per family: the last bake (outcome, age, who asked
 * and why), each channel's AMI with its age and state (revoked, disabled, gone, or stranded: a
 * channel still on a revoked image, which a revocation leaves when there is no earlier good image
 * to move it back to), and the next scheduled run; then the dead letters per queue (requests a
 * function refused or could not take, events no target took).
 *
 * Times are on the deployment's clock: the sandbox's own clock (`GET /_sandbox/clock`, which runs
 * fast and can be moved) when the target is the sandbox, the host's otherwise.
 *
 * Dead letters: on AWS, the stage's queues (SST names a stack `<stage>-bakehouse-<Stack>` and
 * CloudFormation names each queue after its stack, so `ListQueues` with that prefix finds them)
 * with `ApproximateNumberOfMessages` (SQS API Reference, GetQueueAttributes); the sandbox models no
 * SQS queues and keeps what reaches them in `GET /_sandbox/dlq`.
 *
 * Dashboard: the stage's CloudWatch dashboard, `bakehouse-<stage>` (stacks/dashboard.ts, named by
 * functions/commons/stage-names.ts `bakehouseNames`), linked in the console of the clients'
 * region; the sandbox provisions no dashboard (packages/sandbox: not emulated), so there is no link there.
 * Dashboards are global to the account ("AWS::CloudWatch::Dashboard", CloudFormation Template
 * Reference); the console page's region is only where the console opens, and the widgets name the
 * stack's region themselves.
 */
import { DescribeImagesCommand, type Image } from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, type ExecutionListItem } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { familyOfBakeId } from '../../functions/commons/bake-id';
import { Tag } from '../../functions/commons/bake-plan';
import { tagOf } from '../../functions/commons/channels';
import type { Family } from '../../functions/commons/families';
import { CANDIDATE_CHANNEL } from '../../functions/commons/family-lookup';
import { eachPage } from '../../functions/commons/pages';
import { nextRun } from '../../functions/commons/schedule';
import { type CommandContext, say, sayJson } from '../context';
import { CliError } from '../errors';
import { orDash, table } from '../format';
import { type BakeOutcome, executionPages, stateMachineArn, summarize } from './bakes';
import { channelsOf } from './shared';

/** What a channel points at, as the overview judges it. */
export type ChannelState = 'ok' | 'revoked' | 'stranded' | 'disabled' | 'gone' | 'empty';

export interface ChannelOverview {
  readonly channel: string;
  readonly amiId: string | null;
  readonly state: ChannelState;
  /** The image's creation time (ISO 8601), when it exists. */
  readonly createdAt: string | null;
  /** Seconds from the image's creation to the deployment's now. */
  readonly ageSeconds: number | null;
  readonly revokedReason: string | null;
}

export interface LastBake {
  readonly bakeId: string;
  readonly outcome: BakeOutcome;
  readonly startedAt: string | null;
  readonly ageSeconds: number | null;
  readonly requestedBy: string | null;
  /** Why it was asked for (`bake --reason`, the schedule's own reason). */
  readonly requestReason: string | null;
  /** Why it failed, when it did. */
  readonly failure: string | null;
  readonly amiId: string | null;
}

export interface FamilyOverview {
  readonly name: string;
  readonly os: 'linux' | 'windows';
  readonly lastBake: LastBake | null;
  readonly channels: readonly ChannelOverview[];
  /** ISO 8601 of the next scheduled run after the deployment's now; null: on request or on a parent. */
  readonly nextRun: string | null;
}

export interface DeadLetters {
  /** The queue's name. */
  readonly queue: string;
  readonly messages: number;
}

export interface DashboardLink {
  readonly name: string;
  /** Its page in the CloudWatch console; null in the sandbox, which has no dashboards. */
  readonly url: string | null;
}

export interface Overview {
  /** The deployment's now (ISO 8601) and whose clock it is. */
  readonly now: string;
  readonly clock: 'sandbox' | 'host';
  readonly families: readonly FamilyOverview[];
  /** Queues holding messages; empty queues are left out. */
  readonly deadLetters: readonly DeadLetters[];
  readonly dashboard: DashboardLink;
}

const secondsBetween = (from: string | null | undefined, now: Date): number | null => {
  if (!from) return null;
  const ms = now.getTime() - Date.parse(from);
  return Number.isFinite(ms) ? Math.max(0, Math.round(ms / 1000)) : null;
};

/**
 * A channel's state from the image it names. A revoked image on a channel other than the
 * candidate is `stranded`: Revoke moves every channel off a revoked image when there is an earlier
 * good one (functions/revoke/core.ts), so one still there had none.
 */
export const channelOverview = (
  channel: string,
  amiId: string | null,
  image: Image | undefined,
  now: Date,
): ChannelOverview => {
  const empty = { channel, amiId, createdAt: null, ageSeconds: null, revokedReason: null };
  if (amiId === null) return { ...empty, state: 'empty' };
  if (!image) return { ...empty, state: 'gone' };
  const revoked = tagOf(image, Tag.Revoked) === 'true';
  const state: ChannelState = revoked
    ? channel === CANDIDATE_CHANNEL
      ? 'revoked'
      : 'stranded'
    : image.State === 'disabled'
      ? 'disabled'
      : 'ok';
  return {
    channel,
    amiId,
    state,
    createdAt: image.CreationDate ?? null,
    ageSeconds: secondsBetween(image.CreationDate, now),
    revokedReason: revoked ? (tagOf(image, Tag.RevokedReason) ?? null) : null,
  };
};

/** The newest execution of each family among `executions` (any order). */
export const newestPerFamily = (
  executions: readonly ExecutionListItem[],
  families: readonly string[],
): Map<string, ExecutionListItem> => {
  const newest = new Map<string, ExecutionListItem>();
  for (const execution of executions) {
    const family = familyOfBakeId(execution.name ?? '');
    if (family === undefined || !families.includes(family)) continue;
    const seen = newest.get(family);
    if (!seen || new Date(execution.startDate ?? 0) > new Date(seen.startDate ?? 0)) newest.set(family, execution);
  }
  return newest;
};

/** How many executions the overview reads to find each family's last bake (newest first). */
const EXECUTIONS_READ = 1_000;

const lastBakes = async (ctx: CommandContext, now: Date): Promise<Map<string, LastBake>> => {
  const machine = await stateMachineArn(ctx);
  const listed: ExecutionListItem[] = [];
  const names = ctx.config.families.map((f) => f.name);
  for await (const page of executionPages(ctx, machine, 1000)) {
    listed.push(...(page.executions ?? []));
    // Step Functions lists the newest first; once every family has one, older pages add nothing.
    if (listed.length >= EXECUTIONS_READ || newestPerFamily(listed, names).size === names.length) break;
  }
  const newest = newestPerFamily(listed, names);
  const bakes = await Promise.all(
    [...newest].map(async ([family, item]): Promise<[string, LastBake]> => {
      const execution = await ctx.clients.sfn.send(new DescribeExecutionCommand({ executionArn: item.executionArn }));
      const summary = summarize(execution, undefined);
      let requestReason: string | null = null;
      try {
        const reason = (JSON.parse(execution.input ?? '{}') as { reason?: unknown }).reason;
        requestReason = typeof reason === 'string' && reason !== '' ? reason : null;
      } catch {
        requestReason = null;
      }
      return [
        family,
        {
          bakeId: summary.bakeId,
          outcome: summary.outcome,
          startedAt: summary.startedAt,
          ageSeconds: secondsBetween(summary.startedAt, now),
          requestedBy: summary.requestedBy,
          requestReason,
          failure: summary.reason,
          amiId: summary.amiId,
        },
      ];
    }),
  );
  return new Map(bakes);
};

/** The images the channels name, in one DescribeImages (disabled ones included). */
const imagesById = async (ctx: CommandContext, amiIds: readonly string[]): Promise<Map<string, Image>> => {
  const unique = [...new Set(amiIds)];
  if (unique.length === 0) return new Map();
  const images: Image[] = [];
  // Ids that no longer exist make DescribeImages with ImageIds fail as a whole; a filter on
  // image-id answers the ones that do (EC2 API Reference, DescribeImages).
  for await (const page of eachPage((NextToken) =>
    ctx.clients.ec2.send(
      new DescribeImagesCommand({
        Filters: [{ Name: 'image-id', Values: unique }],
        IncludeDeprecated: true,
        IncludeDisabled: true,
        ...(NextToken ? { NextToken } : {}),
      }),
    ),
  )) {
    images.push(...(page.Images ?? []));
  }
  return new Map(images.filter((i) => i.ImageId).map((i) => [i.ImageId as string, i]));
};

/** The sandbox's clock, or the host's. */
const deploymentNow = async (ctx: CommandContext): Promise<{ now: Date; clock: 'sandbox' | 'host' }> => {
  if (!ctx.target.sandbox || ctx.target.endpoint === undefined) return { now: ctx.now(), clock: 'host' };
  const response = await fetch(new URL('/_sandbox/clock', ctx.target.endpoint), { signal: ctx.signal });
  if (!response.ok) throw new CliError(`the sandbox's clock answered ${response.status}`);
  const body = (await response.json()) as { now?: unknown };
  const now = typeof body.now === 'string' ? new Date(body.now) : new Date(Number.NaN);
  if (Number.isNaN(now.getTime())) throw new CliError(`the sandbox's clock answered no time: ${JSON.stringify(body)}`);
  return { now, clock: 'sandbox' };
};

const deadLettersInSandbox = async (ctx: CommandContext): Promise<DeadLetters[]> => {
  const response = await fetch(new URL('/_sandbox/dlq', ctx.target.endpoint), { signal: ctx.signal });
  if (!response.ok) throw new CliError(`the sandbox's dead letters answered ${response.status}`);
  const counts = new Map<string, number>();
  for (const message of (await response.json()) as { queueArn?: unknown }[]) {
    const queue = typeof message.queueArn === 'string' ? (message.queueArn.split(':').pop() ?? '') : '';
    counts.set(queue, (counts.get(queue) ?? 0) + 1);
  }
  return [...counts].map(([queue, messages]) => ({ queue, messages }));
};

export const deadLettersOnAws = async (ctx: CommandContext): Promise<DeadLetters[]> => {
  const urls: string[] = [];
  for await (const page of eachPage((NextToken) =>
    ctx.clients.sqs.send(
      new ListQueuesCommand({
        QueueNamePrefix: `${ctx.stage}-bakehouse-`,
        MaxResults: 1000,
        ...(NextToken ? { NextToken } : {}),
      }),
    ),
  )) {
    urls.push(...(page.QueueUrls ?? []));
  }
  return Promise.all(
    urls.map(async (url) => {
      const { Attributes } = await ctx.clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      return { queue: url.split('/').pop() ?? url, messages: Number(Attributes?.ApproximateNumberOfMessages ?? 0) };
    }),
  );
};

/** The stage's dashboard, and its console page in the region the CLI's clients use. */
export const dashboardOf = async (ctx: CommandContext): Promise<DashboardLink> => {
  const name = ctx.names.dashboard;
  if (ctx.target.sandbox) return { name, url: null };
  const region = await ctx.clients.sqs.config.region();
  return {
    name,
    url: `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${encodeURIComponent(name)}`,
  };
};

export const overviewOf = async (ctx: CommandContext): Promise<Overview> => {
  const { now, clock } = await deploymentNow(ctx);
  const channels = channelsOf(ctx);
  const families = ctx.config.families;
  const names = (family: Family) => [CANDIDATE_CHANNEL, ...family.channels.map((c) => c.name)];
  const [pointers, bakes, deadLetters, dashboard] = await Promise.all([
    Promise.all(
      families.map((family) =>
        Promise.all(names(family).map(async (c) => [c, (await channels.readChannel(family.name, c)) ?? null] as const)),
      ),
    ),
    lastBakes(ctx, now),
    ctx.target.sandbox ? deadLettersInSandbox(ctx) : deadLettersOnAws(ctx),
    dashboardOf(ctx),
  ]);
  const images = await imagesById(
    ctx,
    pointers.flat().flatMap(([, ami]) => (ami ? [ami] : [])),
  );
  return {
    now: now.toISOString(),
    clock,
    families: families.map((family, index) => ({
      name: family.name,
      os: family.os,
      lastBake: bakes.get(family.name) ?? null,
      channels: (pointers[index] ?? []).map(([channel, ami]) =>
        channelOverview(channel, ami, ami ? images.get(ami) : undefined, now),
      ),
      nextRun: nextRun(family, now)?.toISOString() ?? null,
    })),
    deadLetters: deadLetters.filter((d) => d.messages > 0).sort((a, b) => a.queue.localeCompare(b.queue)),
    dashboard,
  };
};

/** An age at a glance: `40s`, `12m`, `5h`, `3d` (whole units, rounded down). */
export const ageText = (seconds: number | null): string => {
  if (seconds === null) return '?';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 2 * 86_400) return `${Math.floor(seconds / 3_600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
};

const age = (seconds: number | null): string => (seconds === null ? '-' : `${ageText(seconds)} ago`);

const channelCell = (c: ChannelOverview): string => {
  if (c.state === 'empty') return `${c.channel}=-`;
  const flag = c.state === 'ok' ? '' : ` ${c.state.toUpperCase()}`;
  return `${c.channel}=${c.amiId} (${ageText(c.ageSeconds)}${flag})`;
};

export const renderOverview = (overview: Overview): string => {
  const lines = [`Bakehouse at ${overview.now} (${overview.clock} clock)`, ''];
  lines.push(
    table(overview.families, [
      { header: 'FAMILY', value: (f) => f.name },
      {
        header: 'LAST BAKE',
        value: (f) => (f.lastBake ? `${f.lastBake.outcome} ${age(f.lastBake.ageSeconds)}` : 'never'),
      },
      {
        header: 'ASKED BY',
        value: (f) =>
          f.lastBake
            ? `${orDash(f.lastBake.requestedBy)}${f.lastBake.requestReason ? `: ${f.lastBake.requestReason}` : ''}`
            : '-',
      },
      { header: 'NEXT RUN', value: (f) => orDash(f.nextRun) },
      { header: 'CHANNELS (AMI, AGE)', value: (f) => f.channels.map(channelCell).join('  ') },
    ]),
  );
  const attention = overview.families.flatMap((f) => [
    ...(f.lastBake?.failure ? [`${f.name}: last bake ${f.lastBake.outcome}: ${f.lastBake.failure}`] : []),
    ...f.channels
      .filter((c) => c.state === 'stranded')
      .map(
        (c) =>
          `${f.name}/${c.channel}: stranded on revoked ${c.amiId}${c.revokedReason ? ` (${c.revokedReason})` : ''}. Fix: bake a new image and promote it (bakehouse bake ${f.name})`,
      ),
    ...f.channels
      .filter((c) => c.state === 'gone' || c.state === 'disabled')
      .map((c) => `${f.name}/${c.channel}: ${c.amiId} is ${c.state === 'gone' ? 'gone' : 'disabled'}`),
  ]);
  if (attention.length > 0) lines.push('', 'Needs attention:', ...attention.map((a) => `  ${a}`));
  lines.push(
    '',
    overview.deadLetters.length === 0
      ? 'Dead letters: none'
      : `Dead letters:\n${overview.deadLetters.map((d) => `  ${d.queue}: ${d.messages}`).join('\n')}`,
    overview.dashboard.url
      ? `Dashboard: ${overview.dashboard.url}`
      : `Dashboard: none (the sandbox has no CloudWatch dashboards; ${overview.dashboard.name} is on AWS)`,
  );
  return lines.join('\n');
};

export const overviewCommand = async (ctx: CommandContext): Promise<number> => {
  const overview = await overviewOf(ctx);
  if (ctx.json) sayJson(ctx, overview);
  else say(ctx, renderOverview(overview));
  return 0;
};
