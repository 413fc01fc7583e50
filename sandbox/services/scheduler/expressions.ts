/**
 * EventBridge Scheduler's schedule expressions — `cron(…)`, `rate(…)`, `at(…)` — evaluated in the
 * schedule's IANA time zone. Pure.
 *
 * aws-cron-parser evaluates a cron expression on UTC fields only. A cron schedule is about wall-clock
 * time in its zone, so the search runs on "wall time" (the zone's local time written as if it were
 * UTC) and each wall time found is mapped back to an instant. Daylight saving time follows
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html: a wall time the
 * spring change skips does not run; a wall time the autumn change repeats runs once (the first).
 * Rate schedules count fixed durations from their StartDate (or creation) and ignore the zone;
 * `at(…)` is a wall time in the zone.
 */
import awsCronParser from 'aws-cron-parser';
import { validateCron } from '../../../functions/commons/schedule';

type ParsedCron = ReturnType<typeof awsCronParser.parse>;

export type Expression =
  | { readonly kind: 'cron'; readonly parsed: ParsedCron }
  | { readonly kind: 'rate'; readonly periodMs: number }
  | { readonly kind: 'at'; readonly wallMs: number };

const UNITS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The parsed expression, or why it is not valid. */
export const parseExpression = (text: string): Expression | string => {
  const cron = /^cron\((.*)\)$/.exec(text.trim());
  if (cron) {
    const fields = (cron[1] as string).trim();
    const problem = validateCron(fields);
    if (problem) return `Invalid Schedule Expression ${text}.`;
    return { kind: 'cron', parsed: awsCronParser.parse(fields.split(/\s+/).join(' ')) };
  }
  const rate = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(text.trim());
  if (rate) {
    const value = Number(rate[1]);
    const unit = (rate[2] as string).replace(/s$/, '');
    if (value < 1 || (value === 1) !== ((rate[2] as string) === unit)) return `Invalid Schedule Expression ${text}.`;
    return { kind: 'rate', periodMs: value * (UNITS[unit] as number) };
  }
  const at = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/.exec(text.trim());
  if (at) {
    const [, y, mo, d, h, mi, s] = at.map(Number) as number[];
    const wallMs = Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
    if (Number.isNaN(wallMs) || new Date(wallMs).getUTCDate() !== d) return `Invalid Schedule Expression ${text}.`;
    return { kind: 'at', wallMs };
  }
  return `Invalid Schedule Expression ${text}.`;
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
const firstInstant = (wallMs: number, zone: string): number | undefined => instantsOf(wallMs, zone)[0];

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

export interface Window {
  /** Rate schedules count from here; nothing fires before it. */
  readonly startMs: number;
  readonly endMs?: number;
}

/** The first occurrence at or after `fromMs` (inclusive) within the window. */
export const firstOccurrence = (
  expression: Expression,
  zone: string,
  window: Window,
  fromMs: number,
): number | undefined => {
  const from = Math.max(fromMs, window.startMs);
  let found: number | undefined;
  switch (expression.kind) {
    case 'cron':
      found = nextCron(expression.parsed, zone, from - 1);
      break;
    case 'rate': {
      const periods = Math.ceil((from - window.startMs) / expression.periodMs);
      found = window.startMs + periods * expression.periodMs;
      break;
    }
    case 'at': {
      const instant = firstInstant(expression.wallMs, zone) ?? instantsOf(expression.wallMs + 3_600_000, zone)[0];
      found = instant !== undefined && instant >= from ? instant : undefined;
      break;
    }
  }
  return found !== undefined && (window.endMs === undefined || found <= window.endMs) ? found : undefined;
};

/** The latest occurrence in [fromMs, nowMs] within the window: what fires when the clock jumped. */
export const latestOccurrence = (
  expression: Expression,
  zone: string,
  window: Window,
  fromMs: number,
  nowMs: number,
): number | undefined => {
  const until = window.endMs === undefined ? nowMs : Math.min(nowMs, window.endMs);
  const from = Math.max(fromMs, window.startMs);
  if (until < from) return undefined;
  let found: number | undefined;
  switch (expression.kind) {
    case 'cron':
      found = previousCron(expression.parsed, zone, until);
      break;
    case 'rate':
      found = window.startMs + Math.floor((until - window.startMs) / expression.periodMs) * expression.periodMs;
      break;
    case 'at':
      found = firstOccurrence(expression, zone, { startMs: -Infinity }, -Infinity);
      break;
  }
  return found !== undefined && found >= from && found <= until ? found : undefined;
};
