import { validateCron } from '@bakehouse/cron';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WEEKDAYS, type Weekday } from '../../functions/commons/families';
import { compileSchedule, isDue } from '../../functions/commons/schedule';

const TIME_ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'America/St_Johns',
  'Asia/Kathmandu',
  'Asia/Tokyo',
  'Australia/Sydney',
  'Pacific/Kiritimati',
  'Pacific/Pago_Pago',
] as const;

// --- an independent calendar, built only on Date's UTC methods and Intl offsets -------------------

const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();
const weekdayOf = (year: number, month: number, day: number): number =>
  new Date(Date.UTC(year, month - 1, day)).getUTCDay();

/** The offset of `timezone` from UTC at `instantMs`, in ms, read from Intl's wall-clock fields. */
const offsetAt = (timezone: string, instantMs: number): number => {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  }).formatToParts(new Date(instantMs));
  const n = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return (
    Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute')) - Math.floor(instantMs / 60_000) * 60_000
  );
};

/** The instant at which the wall clock in `timezone` reads the given local date and time. */
const wallClock = (timezone: string, year: number, month: number, day: number, hour: number, minute: number): Date => {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  const first = wall - offsetAt(timezone, wall);
  return new Date(wall - offsetAt(timezone, first));
};

/** "The nth weekday of the month, plus offsetDays", counted out day by day. */
const bruteForceDay = (year: number, month: number, weekday: Weekday, nth: number, offsetDays: number): number => {
  const wanted = WEEKDAYS.indexOf(weekday);
  const matches: number[] = [];
  for (let day = 1; day <= daysInMonth(year, month); day += 1) {
    if (weekdayOf(year, month, day) === wanted) matches.push(day);
  }
  const nthDay = matches[nth - 1];
  if (nthDay === undefined) throw new Error('a month always has four of each weekday');
  return nthDay + offsetDays;
};

const nthWeekdayRule = fc
  .record({
    weekday: fc.constantFrom(...WEEKDAYS),
    nth: fc.integer({ min: 1, max: 4 }),
    offsetDays: fc.integer({ min: 0, max: 14 }),
  })
  .filter((r) => r.nth * 7 + r.offsetDays <= 28);

describe('compileSchedule', () => {
  it('wraps a cron in cron( ) with single spaces, always due, in its time zone', () => {
    // Act
    const compiled = compileSchedule({ cron: ' 0  3 ? * SUN *', timezone: 'Europe/Berlin' });

    // Assess
    expect(compiled.expression).toBe('cron(0 3 ? * SUN *)');
    expect(compiled.timezone).toBe('Europe/Berlin');
    expect(compiled.dayOfMonthWindow).toBeUndefined();
  });

  it('turns "second Tuesday + 1 day" into Wednesdays between the 9th and the 15th', () => {
    // Act
    const compiled = compileSchedule({
      nthWeekday: { weekday: 'TUE', nth: 2, offsetDays: 1 },
      at: '04:05',
      timezone: 'America/New_York',
    });

    // Assess
    expect(compiled).toEqual({
      expression: 'cron(5 4 ? * WED *)',
      timezone: 'America/New_York',
      dayOfMonthWindow: { from: 9, to: 15 },
      description: 'second TUE + 1 day of the month at 04:05 (America/New_York)',
    });
  });

  it('wraps the weekday past Saturday', () => {
    // Act
    const compiled = compileSchedule({
      nthWeekday: { weekday: 'SAT', nth: 1, offsetDays: 2 },
      at: '23:59',
      timezone: 'UTC',
    });

    // Assess
    expect(compiled.expression).toBe('cron(59 23 ? * MON *)');
    expect(compiled.description).toBe('first SAT + 2 days of the month at 23:59 (UTC)');
  });

  it('compiles every nthWeekday rule to a cron that validateCron accepts', () => {
    fc.assert(
      fc.property(nthWeekdayRule, fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), (rule, h, m) => {
        // Prepare
        const at = `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;

        // Act
        const { expression } = compileSchedule({ nthWeekday: rule, at, timezone: 'UTC' });

        // Assess
        expect(expression).toMatch(/^cron\(.*\)$/);
        expect(validateCron(expression.slice(5, -1))).toBeUndefined();
        expect(expression).toBe(
          `cron(${m} ${h} ? * ${WEEKDAYS[(WEEKDAYS.indexOf(rule.weekday) + rule.offsetDays) % 7]} *)`,
        );
      }),
    );
  });
});

describe('isDue', () => {
  it('is always due for a plain cron schedule', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
        (instant) => {
          // Prepare
          const compiled = compileSchedule({ cron: '0 3 ? * SUN *', timezone: 'Asia/Tokyo' });

          // Act
          const due = isDue(compiled, instant);

          // Assess
          expect(due).toBe(true);
        },
      ),
    );
  });

  it('lets through the Wednesday after Patch Tuesday and no other Wednesday (January 2026)', () => {
    // Prepare
    const compiled = compileSchedule({
      nthWeekday: { weekday: 'TUE', nth: 2, offsetDays: 1 },
      at: '04:00',
      timezone: 'UTC',
    });
    const wednesdays = [7, 14, 21, 28].map((day) => new Date(Date.UTC(2026, 0, day, 4)));

    // Act
    const due = wednesdays.map((instant) => isDue(compiled, instant));

    // Assess
    expect(due).toEqual([false, true, false, false]);
  });

  it("judges the day in the schedule's time zone, not in UTC", () => {
    // Prepare: 02:00 UTC on the 16th is still the 15th, 21:00, in New York.
    const window = { from: 9, to: 15 };
    const instant = new Date('2026-01-16T02:00:00Z');

    // Act
    const inNewYork = isDue({ timezone: 'America/New_York', dayOfMonthWindow: window }, instant);
    const inUtc = isDue({ timezone: 'UTC', dayOfMonthWindow: window }, instant);

    // Assess
    expect(inNewYork).toBe(true);
    expect(inUtc).toBe(false);
  });

  it('lets through exactly one firing a month: the nth weekday plus the offset, counted out by hand', () => {
    fc.assert(
      fc.property(
        nthWeekdayRule,
        fc.constantFrom(...TIME_ZONES),
        fc.integer({ min: 1990, max: 2090 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 22 }),
        (rule, timezone, year, month, hour) => {
          // Prepare
          const compiled = compileSchedule({ nthWeekday: rule, at: `${String(hour).padStart(2, '0')}:30`, timezone });
          const target = (WEEKDAYS.indexOf(rule.weekday) + rule.offsetDays) % 7;
          const firings: number[] = [];
          for (let day = 1; day <= daysInMonth(year, month); day += 1) {
            if (weekdayOf(year, month, day) === target) firings.push(day);
          }

          // Act
          const dueDays = firings.filter((day) => isDue(compiled, wallClock(timezone, year, month, day, hour, 30)));

          // Assess
          expect(dueDays).toEqual([bruteForceDay(year, month, rule.weekday, rule.nth, rule.offsetDays)]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
