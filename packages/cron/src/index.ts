/**
 * EventBridge cron expressions, evaluated in IANA time zones. Pure: no AWS, no clock.
 *
 * Shared by the product (configuration validation, the CLI's "next run", Patch-Tuesday windows)
 * and the sandbox's Scheduler, so both read a schedule the same way.
 *
 * aws-cron-parser checks field ranges and computes occurrences, but it assumes AWS has already
 * validated the shape, so the shape rules AWS enforces (six fields, exactly one of day-of-month
 * and day-of-week is '?') are checked here first. It also evaluates on UTC fields only, while a
 * schedule is about wall-clock time in its zone: searches run on "wall time" (the zone's local
 * time written as if it were UTC) and each wall time found is mapped back to an instant.
 * Daylight saving time follows
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html: a wall time the
 * spring change skips does not run; a wall time the autumn change repeats runs once (the first).
 */
import awsCronParser from 'aws-cron-parser';

/** A cron expression's fields as aws-cron-parser holds them. */
export type ParsedCron = ReturnType<typeof awsCronParser.parse>;

/** Day-of-week names in cron's order (SUN = 1). */
export const WEEKDAY_ORDER = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;
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

/** The parsed fields of a valid expression (without the `cron( )` wrapper); throws when invalid. */
export const parseCron = (expression: string): ParsedCron => {
  const problem = validateCron(expression);
  if (problem) throw new Error(problem);
  return awsCronParser.parse(expression.trim().split(/\s+/).join(' '));
};

export const isTimeZone = (zone: string): boolean => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's UTC offset at an instant, in ms (wall = instant + offset). */
export const offsetAt = (instantMs: number, zone: string): number => {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(instantMs)).map((p) => [p.type, p.value]));
  const wall = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return wall - Math.floor(instantMs / 1000) * 1000;
};

export const wallTime = (instantMs: number, zone: string): number => instantMs + offsetAt(instantMs, zone);

/** The instants a wall time names in the zone: none in a spring gap, two in an autumn overlap. */
export const instantsOf = (wallMs: number, zone: string): number[] => {
  const offsets = new Set([
    offsetAt(wallMs - 86_400_000, zone),
    offsetAt(wallMs + 86_400_000, zone),
    offsetAt(wallMs, zone),
  ]);
  return [...offsets]
    .map((offset) => wallMs - offset)
    .filter((instant) => wallTime(instant, zone) === wallMs)
    .sort((a, b) => a - b);
};

/** The first instant of a wall time (the one an autumn overlap runs), or undefined in a gap. */
export const firstInstant = (wallMs: number, zone: string): number | undefined => instantsOf(wallMs, zone)[0];

const MAX_STEPS = 1000;

/** The first cron occurrence strictly after `afterMs`, or undefined when there is none. */
export const nextCron = (parsed: ParsedCron, zone: string, afterMs: number): number | undefined => {
  let wall = wallTime(afterMs, zone);
  for (let step = 0; step < MAX_STEPS; step++) {
    const found = awsCronParser.next(parsed, new Date(wall));
    if (!found) return undefined;
    const instant = firstInstant(found.getTime(), zone);
    // The repeated hour of an autumn change: the wall time's first instant may already be past.
    if (instant !== undefined && instant > afterMs) return instant;
    wall = found.getTime();
  }
  return undefined;
};

/** The latest cron occurrence at or before `atOrBeforeMs`, or undefined. */
export const previousCron = (parsed: ParsedCron, zone: string, atOrBeforeMs: number): number | undefined => {
  let wall = Math.floor(wallTime(atOrBeforeMs, zone) / 60_000) * 60_000 + 60_000;
  for (let step = 0; step < MAX_STEPS; step++) {
    const found = awsCronParser.prev(parsed, new Date(wall));
    if (!found) return undefined;
    const instant = firstInstant(found.getTime(), zone);
    if (instant !== undefined && instant <= atOrBeforeMs) return instant;
    wall = found.getTime();
  }
  return undefined;
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
