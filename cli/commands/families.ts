/** `bakehouse families [family]`: the configured families (or one), their schedules with the next run, channel AMIs. */
import type { Family } from '../../functions/commons/families';
import { CANDIDATE_CHANNEL } from '../../functions/commons/family-lookup';
import { compileSchedule, nextRun } from '../../functions/commons/schedule';
import { type CommandContext, say, sayJson } from '../context';
import { localTime, orDash, table } from '../format';
import { channelsOf, requireFamily } from './shared';

export interface FamilyView {
  readonly name: string;
  readonly os: 'linux' | 'windows';
  readonly description: string | null;
  /** The family this one is built on, or null. */
  readonly parent: { readonly family: string; readonly channel: string } | null;
  readonly schedule: {
    readonly expression: string;
    readonly timezone: string;
    readonly description: string;
    /** ISO 8601 (UTC) of the next due run, or null when none is found within two years. */
    readonly nextRun: string | null;
  } | null;
  /** Channel name → AMI id (null when never written); `candidate` is the newest bake. */
  readonly channels: Record<string, string | null>;
}

export const familyViews = async (
  ctx: CommandContext,
  families: readonly Family[] = ctx.config.families,
): Promise<FamilyView[]> => {
  const channels = channelsOf(ctx);
  const now = ctx.now();
  return Promise.all(
    families.map(async (family): Promise<FamilyView> => {
      const names = [CANDIDATE_CHANNEL, ...family.channels.map((c) => c.name)];
      const amis = await Promise.all(names.map((c) => channels.readChannel(family.name, c)));
      const compiled = family.schedule ? compileSchedule(family.schedule) : undefined;
      const next = nextRun(family, now);
      return {
        name: family.name,
        os: family.os,
        description: family.description || null,
        parent: 'family' in family.source ? { family: family.source.family, channel: family.source.channel } : null,
        schedule: compiled
          ? {
              expression: compiled.expression,
              timezone: compiled.timezone,
              description: compiled.description,
              nextRun: next ? next.toISOString() : null,
            }
          : null,
        channels: Object.fromEntries(names.map((c, i) => [c, amis[i] ?? null])),
      };
    }),
  );
};

export const renderFamilies = (views: readonly FamilyView[], timeZone?: string): string =>
  table(views, [
    { header: 'FAMILY', value: (v) => v.name },
    { header: 'OS', value: (v) => v.os },
    {
      header: 'SCHEDULE',
      value: (v) => v.schedule?.description ?? (v.parent ? `on ${v.parent.family}/${v.parent.channel}` : 'on request'),
    },
    { header: 'NEXT RUN (LOCAL)', value: (v) => localTime(v.schedule?.nextRun, timeZone) },
    {
      header: 'CHANNELS',
      value: (v) =>
        Object.entries(v.channels)
          .map(([c, ami]) => `${c}=${orDash(ami)}`)
          .join(' '),
    },
  ]);

export const familiesCommand = async (ctx: CommandContext, familyName?: string): Promise<number> => {
  // One family when named: an unknown name fails with the closest ones before any AWS call.
  const views = await familyViews(ctx, familyName === undefined ? undefined : [requireFamily(ctx, familyName)]);
  if (ctx.json) sayJson(ctx, { families: views });
  else say(ctx, renderFamilies(views));
  return 0;
};
