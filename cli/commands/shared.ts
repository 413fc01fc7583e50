/** Helpers the commands share: argument checks that name the fix, and putting one event. */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { bindChannels, type Channels } from '../../functions/commons/channels';
import type { Family } from '../../functions/commons/families';
import { findFamily } from '../../functions/commons/family-lookup';
import type { CommandContext } from '../context';
import { CliError, UsageError } from '../errors';

/** The Source of events the CLI puts. */
export const CLI_EVENT_SOURCE = 'bakehouse.cli';

const AMI_ID = /^ami-[0-9a-f]{8,17}$/;

export const requireFamily = (ctx: Pick<CommandContext, 'config'>, name: string): Family => {
  const family = findFamily(ctx.config, name);
  if (!family) {
    const known = ctx.config.families.map((f) => f.name);
    throw new UsageError(`no family named '${name}'. Fix: use one of ${known.join(', ')}`, { families: known });
  }
  return family;
};

export const requireChannel = (family: Family, channel: string): void => {
  if (!family.channels.some((c) => c.name === channel)) {
    const known = family.channels.map((c) => c.name);
    throw new UsageError(
      `family '${family.name}' has no channel '${channel}'. Fix: use one of ${known.join(', ')} (bakehouse.config.ts declares them)`,
      { channels: known },
    );
  }
};

export const requireAmiId = (amiId: string): string => {
  if (!AMI_ID.test(amiId)) {
    throw new UsageError(`'${amiId}' is not an AMI id. Fix: give one such as ami-0123456789abcdef0`);
  }
  return amiId;
};

export const channelsOf = (ctx: Pick<CommandContext, 'config' | 'clients'>): Channels =>
  bindChannels({ ssm: ctx.clients.ssm, ec2: ctx.clients.ec2, parameterPrefix: ctx.config.settings.parameterPrefix });

/** Puts one event on the Bakehouse bus; a rejected entry is an error naming EventBridge's reason. */
export const putEvent = async (
  ctx: Pick<CommandContext, 'clients' | 'names'>,
  detailType: string,
  detail: Record<string, unknown>,
): Promise<string | undefined> => {
  const result = await ctx.clients.events.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: ctx.names.bus,
          Source: CLI_EVENT_SOURCE,
          DetailType: detailType,
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  );
  const entry = result.Entries?.[0];
  if ((result.FailedEntryCount ?? 0) > 0 || entry?.ErrorCode) {
    throw new CliError(
      `EventBridge did not accept the ${detailType} event on ${ctx.names.bus}: ${entry?.ErrorCode ?? 'error'} ${entry?.ErrorMessage ?? ''}`.trim(),
    );
  }
  return entry?.EventId;
};

/** Polls `check` every `ctx.pollMs` until it returns a value or `timeoutMs` passes (then undefined). */
export const pollUntil = async <T>(
  ctx: Pick<CommandContext, 'sleep' | 'pollMs' | 'signal'>,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T | undefined> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline || ctx.signal.aborted) return undefined;
    await ctx.sleep(ctx.pollMs);
  }
};
