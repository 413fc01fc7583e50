/**
 * `bakehouse events tail`: follows the events on the Bakehouse bus until interrupted (or --for).
 * Sandbox: polls the sandbox's event log (`GET /_sandbox/events?bus=&since=`). AWS: creates a
 * temporary SQS queue and a rule on the bus that targets it, reads the queue, and removes both on
 * exit or SIGINT.
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteRuleCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
} from '@aws-sdk/client-sqs';
import type { CommandContext } from '../context';
import { CliError } from '../errors';

/** One event as `events tail --json` prints it: one JSON object per line. */
export interface TailedEvent {
  readonly id: string;
  readonly time: string;
  readonly source: string;
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
}

const SUMMARY = ['family', 'bakeId', 'amiId', 'channel', 'failedStep', 'reason', 'passed', 'dryRun', 'runId'] as const;

export const renderEvent = (event: TailedEvent): string => {
  const fields = SUMMARY.filter((k) => event.detail[k] !== undefined && event.detail[k] !== null)
    .map((k) => `${k}=${typeof event.detail[k] === 'string' ? event.detail[k] : JSON.stringify(event.detail[k])}`)
    .join(' ');
  return `${event.time}  ${event.detailType.padEnd(16)}  ${fields}`.trimEnd();
};

const toTailed = (raw: Record<string, unknown>): TailedEvent => ({
  id: String(raw.id ?? ''),
  time: String(raw.time ?? ''),
  source: String(raw.source ?? ''),
  detailType: String(raw['detail-type'] ?? ''),
  detail: (raw.detail ?? {}) as Record<string, unknown>,
});

export interface TailOptions {
  /** Stop after this many seconds (undefined: until SIGINT). */
  readonly forSeconds?: number;
  /** Sandbox only: print the events already logged first. */
  readonly all: boolean;
  /** Each event to this instead of stdout, and no "watching" line: a command's outcome watch (outcomes.ts). */
  readonly onEvent?: (event: TailedEvent) => void;
  /** Called once the tail watches: every event put from then on reaches it. */
  readonly onReady?: () => void;
}

const emit = (ctx: CommandContext, event: TailedEvent, options?: TailOptions) => {
  if (options?.onEvent) options.onEvent(event);
  else ctx.io.stdout.write(`${ctx.json ? JSON.stringify(event) : renderEvent(event)}\n`);
};

const until = (ctx: CommandContext, options: TailOptions): (() => boolean) => {
  const deadline = options.forSeconds === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.forSeconds * 1000;
  return () => ctx.signal.aborted || Date.now() >= deadline;
};

/**
 * The line on stderr that says what the tail watches (bus, target, since when): an idle tail
 * prints no event for a long time, and a silent terminal looks hung. stderr, so --json's stdout
 * stays one event per line.
 */
const sayWatching = (ctx: CommandContext, where: string, since: string, how = ' (Ctrl-C stops)'): void => {
  ctx.io.stderr.write(`watching bus ${ctx.names.bus} ${where} for ${since}${how}\n`);
};

const tailSandbox = async (ctx: CommandContext, endpoint: string, options: TailOptions): Promise<void> => {
  const done = until(ctx, options);
  if (!options.onEvent)
    sayWatching(
      ctx,
      `on the sandbox at ${endpoint}`,
      options.all ? 'every event it logged, then new ones' : `events from ${ctx.now().toISOString()} on`,
    );
  const read = async (since: string | undefined): Promise<{ event: Record<string, unknown> }[]> => {
    const url = new URL('/_sandbox/events', endpoint);
    url.searchParams.set('bus', ctx.names.bus);
    if (since) url.searchParams.set('since', since);
    const response = await fetch(url);
    if (!response.ok) throw new CliError(`the sandbox answered ${response.status} for its event log at ${url}`);
    return (await response.json()) as { event: Record<string, unknown> }[];
  };
  const first = await read(undefined);
  if (options.all) for (const entry of first) emit(ctx, toTailed(entry.event), options);
  let since = first.at(-1)?.event.id as string | undefined;
  options.onReady?.();
  while (!done()) {
    await ctx.sleep(ctx.pollMs);
    const entries = await read(since);
    for (const entry of entries) emit(ctx, toTailed(entry.event), options);
    since = (entries.at(-1)?.event.id as string | undefined) ?? since;
  }
};

/** AWS: a temporary queue and rule, removed however the tail ends. */
export const tailAws = async (ctx: CommandContext, options: TailOptions): Promise<void> => {
  const done = until(ctx, options);
  const name = `bakehouse-cli-tail-${randomUUID().slice(0, 8)}`;
  const { events, sqs } = ctx.clients;
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const { QueueUrl: queueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: { MessageRetentionPeriod: '3600', SqsManagedSseEnabled: 'true' },
      }),
    );
    if (!queueUrl) throw new CliError('SQS created no queue URL');
    cleanups.push(() => sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const queueArn = Attributes?.QueueArn;
    if (!queueArn) throw new CliError('SQS returned no queue ARN');
    const { RuleArn: ruleArn } = await events.send(
      new PutRuleCommand({
        Name: name,
        EventBusName: ctx.names.bus,
        EventPattern: JSON.stringify({ source: [{ prefix: '' }] }),
        State: 'ENABLED',
        Description: 'Temporary: bakehouse events tail (removed when the tail ends)',
      }),
    );
    cleanups.unshift(() => events.send(new DeleteRuleCommand({ Name: name, EventBusName: ctx.names.bus })));
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queueUrl,
        Attributes: {
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { Service: 'events.amazonaws.com' },
                Action: 'sqs:SendMessage',
                Resource: queueArn,
                Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
              },
            ],
          }),
        },
      }),
    );
    await events.send(
      new PutTargetsCommand({ Rule: name, EventBusName: ctx.names.bus, Targets: [{ Id: 'tail', Arn: queueArn }] }),
    );
    cleanups.unshift(() =>
      events.send(new RemoveTargetsCommand({ Rule: name, EventBusName: ctx.names.bus, Ids: ['tail'] })),
    );
    options.onReady?.();
    if (!options.onEvent)
      sayWatching(
        ctx,
        `on AWS (${ctx.target.region ?? 'the default region'})`,
        `events from ${ctx.now().toISOString()} on`,
        `, through rule and queue ${name} (Ctrl-C stops and removes them)`,
      );
    while (!done()) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: options.forSeconds === undefined ? 10 : 1,
        }),
      );
      for (const message of Messages) {
        try {
          emit(ctx, toTailed(JSON.parse(message.Body ?? '{}') as Record<string, unknown>), options);
        } catch {
          ctx.io.stderr.write(`skipped a message that is not an event: ${(message.Body ?? '').slice(0, 120)}\n`);
        }
      }
      if (Messages.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
    }
  } finally {
    for (const cleanup of cleanups) {
      try {
        await cleanup();
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        ctx.io.stderr.write(`could not remove ${name}: ${reason}. Fix: delete it by hand\n`);
      }
    }
  }
};

export const eventsTailCommand = async (ctx: CommandContext, options: TailOptions): Promise<number> => {
  if (ctx.target.sandbox && ctx.target.endpoint) await tailSandbox(ctx, ctx.target.endpoint, options);
  else await tailAws(ctx, options);
  return 0;
};
