/**
 * EventBridge Scheduler's schedule expressions — `cron(…)`, `rate(…)`, `at(…)` — evaluated in the
 * schedule's IANA time zone. Pure.
 *
 * Cron occurrences and the time-zone arithmetic (daylight saving time as
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html describes it) come
 * from @bakehouse/cron, the library the product reads its schedules with. Rate schedules count
 * fixed durations from their StartDate (or creation) and ignore the zone; `at(…)` is a wall time
 * in the zone.
 */
import {
  firstInstant,
  instantsOf,
  nextCron,
  type ParsedCron,
  parseCron,
  previousCron,
  validateCron,
} from '@bakehouse/cron';

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
    return { kind: 'cron', parsed: parseCron(fields) };
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
