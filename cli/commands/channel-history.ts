/**
 * `bakehouse channel history <family> <channel>`: every move of a channel, newest first: when, from
 * which AMI to which, who moved it and why (the cause: baked, tested, manual, rollback, revocation,
 * canary).
 *
 * Nothing new is stored for it: the channel is one SSM parameter, and its version history is the
 * channel's history (DESIGN.md, "Where state lives"). functions/commons/channels.ts writes every
 * move with a compact JSON description `{ami, by, cause, bakeId, prev}` and reads it back with
 * `channelHistory`: GetParameterHistory, paginated
 * (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameterHistory.html:
 * every version with its Value, Version, LastModifiedDate, LastModifiedUser, Description). A
 * version Bakehouse did not write (a hand edit in the console) has no record: its `by` is the IAM
 * identity SSM recorded (LastModifiedUser), its cause `unknown`, and it moved from the version
 * before. Parameter Store keeps the 100 newest versions of a parameter and deletes the oldest on
 * the next write ("Working with parameter versions in Parameter Store",
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-versions.html), so
 * the history reaches back at most 100 moves.
 */
import type { ChannelEntry } from '../../functions/commons/channels';
import { type CommandContext, say, sayJson } from '../context';
import { localTime, orDash, table } from '../format';
import { channelsOf, requireChannel, requireFamily } from './shared';

/** Parameter Store keeps this many versions of a parameter (see the header). */
export const KEPT_VERSIONS = 100;

/** One move, the shape `channel history --json` prints. */
export interface ChannelMove {
  /** The parameter version the move wrote. */
  readonly version: number;
  /** When (ISO 8601). */
  readonly at: string;
  /** The AMI the channel held before; null for the channel's first version. */
  readonly fromAmiId: string | null;
  readonly toAmiId: string;
  /** Who moved it (`cli:<user>`, `schedule`, a team, or the IAM identity of a hand edit). */
  readonly by: string;
  /** Why: baked, tested, manual, rollback, revocation, canary; unknown for a hand edit. */
  readonly cause: string;
  /** The bake that made the AMI, when the move recorded one. */
  readonly bakeId: string | null;
  /** Whether the channel points here now (the newest version). */
  readonly current: boolean;
}

export interface ChannelHistory {
  readonly family: string;
  readonly channel: string;
  readonly parameter: string;
  /** Newest first. */
  readonly moves: readonly ChannelMove[];
  /** True when Parameter Store may have dropped older versions (it holds KEPT_VERSIONS). */
  readonly truncated: boolean;
}

export const movesOf = (entries: readonly ChannelEntry[]): ChannelMove[] =>
  entries.map((entry, i) => ({
    version: entry.version,
    at: entry.at,
    fromAmiId: entry.previousAmiId,
    toAmiId: entry.amiId,
    by: entry.by,
    cause: entry.cause,
    bakeId: entry.bakeId,
    current: i === 0,
  }));

export const renderChannelHistory = (history: ChannelHistory): string => {
  const name = `${history.family}/${history.channel}`;
  if (history.moves.length === 0) {
    return `channel ${name} has never been moved (no parameter ${history.parameter} yet): a bake, test or promotion moves it`;
  }
  const lines = [
    `channel ${name} (${history.parameter}), newest first:`,
    table(history.moves, [
      { header: 'WHEN (LOCAL)', value: (m) => localTime(m.at) },
      { header: 'VERSION', value: (m) => String(m.version), align: 'right' },
      { header: 'FROM', value: (m) => orDash(m.fromAmiId) },
      { header: 'TO', value: (m) => `${m.toAmiId}${m.current ? ' (current)' : ''}` },
      { header: 'BY', value: (m) => m.by },
      { header: 'WHY', value: (m) => m.cause },
      { header: 'BAKE', value: (m) => orDash(m.bakeId) },
    ]),
  ];
  if (history.truncated) {
    lines.push(
      `(Parameter Store keeps the ${KEPT_VERSIONS} newest versions of a parameter: older moves are no longer recorded)`,
    );
  }
  return lines.join('\n');
};

export const channelHistoryCommand = async (
  ctx: CommandContext,
  familyName: string,
  channelName: string,
): Promise<number> => {
  const family = requireFamily(ctx, familyName);
  requireChannel(family, channelName);
  const channels = channelsOf(ctx);
  const entries = await channels.channelHistory(family.name, channelName);
  const history: ChannelHistory = {
    family: family.name,
    channel: channelName,
    parameter: channels.parameterName(family.name, channelName),
    moves: movesOf(entries),
    // The oldest version kept is not version 1: older ones were deleted.
    truncated: entries.length > 0 && (entries.at(-1)?.version ?? 1) > 1,
  };
  if (ctx.json) sayJson(ctx, { history });
  else say(ctx, renderChannelHistory(history));
  return 0;
};
