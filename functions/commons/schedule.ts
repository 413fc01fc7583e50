/**
 * Family schedules, in the form EventBridge Scheduler runs them.
 *
 * aws-cron-parser checks field ranges and computes occurrences, but it assumes AWS has already
 * validated the shape, so the shape rules AWS enforces (six fields, exactly one of
 * day-of-month and day-of-week is '?') are checked here first.
 */
import awsCronParser from 'aws-cron-parser';
import type { Weekday } from './families';

const WEEKDAY_ORDER = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;
const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] as const;

/**
 * The tokens each field may hold. aws-cron-parser reads a token with parseInt and lets NaN
 * through, so 'SUNDAY', 'x' or '1,,2' would pass its range checks and fail only at deploy.
 */
const listOf = (value: string): string => {
  const item = `(?:\\*|${value}(?:-${value})?)(?:/\\d{1,4})?`;
  return `${item}(?:,${item})*`;
};
const NUMBER = '\\d{1,4}';
const MONTH = `(?:${NUMBER}|${MONTH_NAMES.join('|')})`;
const WEEKDAY = `(?:${NUMBER}|${WEEKDAY_ORDER.join('|')})`;
const FIELD_SHAPES: readonly (readonly [string, RegExp])[] = [
  ['minutes', new RegExp(`^${listOf(NUMBER)}$`)],
  ['hours', new RegExp(`^${listOf(NUMBER)}$`)],
  ['day-of-month', new RegExp(`^(?:\\?|L|${NUMBER}W|${listOf(NUMBER)})$`)],
  ['month', new RegExp(`^${listOf(MONTH)}$`, 'i')],
  ['day-of-week', new RegExp(`^(?:\\?|L|${WEEKDAY}L|${WEEKDAY}#[1-5]|${listOf(WEEKDAY)})$`, 'i')],
  ['year', new RegExp(`^${listOf(NUMBER)}$`)],
];

/** Returns why an EventBridge cron expression is invalid, or undefined when it is valid. */
export const validateCron = (expression: string): string | undefined => {
  const fields = expression.trim().split(/\s+/);
  const example =
    "Fix: write six fields 'minutes hours day-of-month month day-of-week year', for example '0 3 ? * SUN *'";
  if (expression.startsWith('cron(')) {
    return `'${expression}': give the expression without the cron( ) wrapper. ${example}`;
  }
  if (fields.length !== 6) {
    return `'${expression}' has ${fields.length} fields; EventBridge cron needs 6. ${example}`;
  }
  const [, , dayOfMonth, , dayOfWeek] = fields;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    return `'${expression}': exactly one of day-of-month and day-of-week must be '?'. ${example}`;
  }
  const malformed = FIELD_SHAPES.findIndex(([, shape], i) => !shape.test(fields[i] ?? ''));
  if (malformed >= 0) {
    return `'${expression}': the ${FIELD_SHAPES[malformed]?.[0]} field '${fields[malformed]}' is not valid there. ${example}`;
  }
  try {
    awsCronParser.parse(fields.join(' '));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `'${expression}' is not a valid EventBridge cron expression (${reason}). ${example}`;
  }
  return undefined;
};

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

/** The calendar date of an instant in a time zone, as `{ year, month, day }`. */
export const localDate = (instant: Date, timezone: string): { year: number; month: number; day: number } => {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(instant);
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  return { year: get('year'), month: get('month'), day: get('day') };
};

/** Whether a firing at `instant` is a due bake for this compiled schedule. */
export const isDue = (compiled: Pick<CompiledSchedule, 'dayOfMonthWindow' | 'timezone'>, instant: Date): boolean => {
  if (!compiled.dayOfMonthWindow) return true;
  const { day } = localDate(instant, compiled.timezone);
  return day >= compiled.dayOfMonthWindow.from && day <= compiled.dayOfMonthWindow.to;
};
