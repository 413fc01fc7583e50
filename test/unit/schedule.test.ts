import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WEEKDAYS, type Weekday } from '../../functions/commons/families';
import { compileSchedule, isDue, localDate, validateCron } from '../../functions/commons/schedule';

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

describe('validateCron', () => {
  it.each([
    '0 3 ? * SUN *',
    '30 4 ? * MON-FRI *',
    '0/15 * ? * * *',
    '0 3 L * ? *',
    '0 3 15W * ? *',
    '0 3 1,15 * ? *',
    '0 4 ? * TUE#2 *',
    '0 4 ? * 3#2 *',
    '0 4 ? * 6L *',
    '0 4 ? * TUE#5 *',
    '0 3 ? JAN-JUN,DEC SAT 2027-2030',
    '  0   3 ?  * SUN *  ',
  ])('accepts %j', (expression) => {
    // Act
    const problem = validateCron(expression);

    // Assess
    expect(problem).toBeUndefined();
  });

  it.each([
    ['cron(0 3 ? * SUN *)', 'without the cron( ) wrapper'],
    ['0 3 ? * SUN', 'has 5 fields'],
    ['0 3 * * SUN *', "exactly one of day-of-month and day-of-week must be '?'"],
    ['0 3 ? * ? *', "exactly one of day-of-month and day-of-week must be '?'"],
    ['61 3 ? * SUN *', 'number 61 is not between 0 and 59'],
    ['0 24 ? * SUN *', 'number 24 is not between 0 and 23'],
    ['0 3 32 * ? *', 'number 32 is not between 1 and 31'],
    ['0 3 ? 13 SUN *', 'number 13 is not between 1 and 12'],
    ['0 3 ? * SUN 1969', 'number 1969 is not between 1970 and 2199'],
    ['0 3 ? * SUNDAY *', "the day-of-week field 'SUNDAY' is not valid there"],
    ['0 3 ? * TUE#6 *', "the day-of-week field 'TUE#6' is not valid there"],
    ['0 3 ? JANUARY SUN *', "the month field 'JANUARY' is not valid there"],
    ['x 3 ? * SUN *', "the minutes field 'x' is not valid there"],
    ['0 3,,4 ? * SUN *', "the hours field '3,,4' is not valid there"],
    ['0 3 1W,2 * ? *', "the day-of-month field '1W,2' is not valid there"],
  ])('explains what is wrong with %j, and how to fix it', (expression, reason) => {
    // Act
    const problem = validateCron(expression);

    // Assess
    expect(problem).toContain(`'${expression}'`);
    expect(problem).toContain(reason);
    expect(problem).toContain("Fix: write six fields 'minutes hours day-of-month month day-of-week year'");
  });
});

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

describe('localDate', () => {
  it('gives the calendar date in the time zone', () => {
    // Act
    const date = localDate(new Date('2026-03-01T01:30:00Z'), 'America/Los_Angeles');

    // Assess
    expect(date).toEqual({ year: 2026, month: 2, day: 28 });
  });

  it('agrees with the UTC calendar for UTC, at every instant', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1970-01-01'), max: new Date('2199-12-31'), noInvalidDate: true }),
        (instant) => {
          // Act
          const date = localDate(instant, 'UTC');

          // Assess
          expect(date).toEqual({
            year: instant.getUTCFullYear(),
            month: instant.getUTCMonth() + 1,
            day: instant.getUTCDate(),
          });
        },
      ),
    );
  });
});
