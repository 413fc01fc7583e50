/**
 * Family schedules, in the form EventBridge Scheduler runs them. Cron validation and time-zone
 * arithmetic come from @bakehouse/cron, which the sandbox's Scheduler uses too.
 */
import { localDate, nextCron, parseCron, WEEKDAY_ORDER } from '@bakehouse/cron';
import type { Weekday } from './families';

/** What the stack gives EventBridge Scheduler, and what schedule-tick checks on each firing. */
export interface CompiledSchedule {
  /** `cron(...)` for Scheduler's ScheduleExpression. */
  readonly expression: string;
  readonly timezone: string;
  /** Set when only some firings are due: the day-of-month window (inclusive) in `timezone`. */
  readonly dayOfMonthWindow?: { readonly from: number; readonly to: number };
  /** Human wording for the CLI, Slack and the console description. */
  readonly description: string;
}

export type ScheduleInput =
  | { readonly cron: string; readonly timezone: string }
  | {
      readonly nthWeekday: { readonly weekday: Weekday; readonly nth: number; readonly offsetDays: number };
      readonly at: string;
      readonly timezone: string;
    };

const ordinal = (n: number): string => ['first', 'second', 'third', 'fourth'][n - 1] ?? `${n}th`;

export const compileSchedule = (schedule: ScheduleInput): CompiledSchedule => {
  if ('cron' in schedule) {
    return {
      expression: `cron(${schedule.cron.trim().split(/\s+/).join(' ')})`,
      timezone: schedule.timezone,
      description: `cron ${schedule.cron} (${schedule.timezone})`,
    };
  }
  const { weekday, nth, offsetDays } = schedule.nthWeekday;
  const [hours, minutes] = schedule.at.split(':').map(Number);
  const target = WEEKDAY_ORDER[(WEEKDAY_ORDER.indexOf(weekday) + offsetDays) % 7];
  // The nth weekday falls on day 7(n-1)+1 .. 7n; shifted by the offset, the window holds each
  // weekday exactly once, so firing on the target weekday and keeping the one in the window is exact.
  const from = 7 * (nth - 1) + 1 + offsetDays;
  const to = 7 * nth + offsetDays;
  const offset = offsetDays === 0 ? '' : ` + ${offsetDays} day${offsetDays === 1 ? '' : 's'}`;
  return {
    expression: `cron(${minutes} ${hours} ? * ${target} *)`,
    timezone: schedule.timezone,
    dayOfMonthWindow: { from, to },
    description: `${ordinal(nth)} ${weekday}${offset} of the month at ${schedule.at} (${schedule.timezone})`,
  };
};

/** Whether a firing at `instant` is a due bake for this compiled schedule. */
export const isDue = (compiled: Pick<CompiledSchedule, 'dayOfMonthWindow' | 'timezone'>, instant: Date): boolean => {
  if (!compiled.dayOfMonthWindow) return true;
  const { day } = localDate(instant, compiled.timezone);
  return day >= compiled.dayOfMonthWindow.from && day <= compiled.dayOfMonthWindow.to;
};

/** The next firing that is due (Patch-Tuesday style schedules fire weekly and keep one a month). */
export const nextRun = (family: { readonly schedule?: ScheduleInput | undefined }, after: Date): Date | null => {
  if (!family.schedule) return null;
  const compiled = compileSchedule(family.schedule);
  const fields = /^cron\((.*)\)$/.exec(compiled.expression)?.[1];
  if (!fields) return null;
  const parsed = parseCron(fields);
  let from = after.getTime();
  for (let i = 0; i < 200; i++) {
    const next = nextCron(parsed, compiled.timezone, from);
    if (next === undefined) return null;
    if (isDue(compiled, new Date(next))) return new Date(next);
    from = next;
  }
  return null;
};
