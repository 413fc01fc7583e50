/** Helpers the commands share: argument checks that name the fix, and putting one event. */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { familyOfBakeId } from '../../functions/commons/bake-id';
import { bindChannels, type Channels } from '../../functions/commons/channels';
import type { Family } from '../../functions/commons/families';
import { findFamily } from '../../functions/commons/family-lookup';
import type { CommandContext } from '../context';
import { CliError, UsageError } from '../errors';

/** The Source of events the CLI puts. */
export const CLI_EVENT_SOURCE = 'bakehouse.cli';

const AMI_ID = /^ami-[0-9a-f]{8,17}$/;

/**
 * Edit distance with adjacent transpositions (optimal string alignment), as commander's
 * suggestSimilar measures it for commands and options (commander does not export it).
 */
const editDistance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let beforePrevious: number[] = [];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((previous[j] as number) + 1, (row[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, (beforePrevious[j - 2] as number) + 1);
      row.push(d);
    }
    beforePrevious = previous;
    previous = row;
  }
  return previous[b.length] as number;
};

/**
 * The known names closest to `word`, by commander's rule (at most 3 edits, over 40% alike, only
 * the fewest edits), ignoring case; when none is that close, the names that contain it (`ubuntu`
 * → `ubuntu-2404-base`), since family names are long and a prefix is a common slip.
 */
export const closestNames = (word: string, known: readonly string[]): string[] => {
  const typed = word.toLowerCase();
  let best = 3;
  let similar: string[] = [];
  for (const name of known) {
    const candidate = name.toLowerCase();
    const distance = editDistance(typed, candidate);
    const length = Math.max(typed.length, candidate.length);
    if ((length - distance) / length <= 0.4) continue;
    if (distance < best) {
      best = distance;
      similar = [name];
    } else if (distance === best) similar.push(name);
  }
  if (similar.length === 0 && typed.length >= 2) similar = known.filter((name) => name.toLowerCase().includes(typed));
  return [...new Set(similar)].sort((a, b) => a.localeCompare(b));
};

/** "Did you mean x?" / "Did you mean one of x, y?" before the fix, or nothing. */
export const didYouMean = (suggestions: readonly string[]): string =>
  suggestions.length === 0 ? '' : ` Did you mean ${suggestions.length > 1 ? 'one of ' : ''}${suggestions.join(', ')}?`;

/**
 * The family a command names, from the configuration; an unknown name is a usage error (exit 2,
 * before any AWS call) naming it, the closest known names and all of them.
 */
export const requireFamily = (ctx: Pick<CommandContext, 'config'>, name: string): Family => {
  const family = findFamily(ctx.config, name);
  if (!family) {
    const known = ctx.config.families.map((f) => f.name);
    const suggestions = closestNames(name, known);
    throw new UsageError(
      `no family named '${name}'.${didYouMean(suggestions)} Fix: use one of ${known.join(', ')} (bakehouse.config.ts declares them)`,
      { family: name, suggestions, families: known },
    );
  }
  return family;
};

/** A bake id is `<family>-<32 hex>` (commons/bake-id.ts): its family must be a configured one. */
export const requireFamilyOfBakeId = (ctx: Pick<CommandContext, 'config'>, bakeId: string): void => {
  const family = familyOfBakeId(bakeId);
  if (family !== undefined) requireFamily(ctx, family);
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
