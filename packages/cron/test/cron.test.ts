import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { localDate, nextCron, parseCron, previousCron, validateCron } from '../src/index';

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

describe('nextCron and previousCron', () => {
  const iso = (ms: number | undefined): string | undefined =>
    ms === undefined ? undefined : new Date(ms).toISOString();

  it('finds the next Sunday 03:00 in Berlin in winter (UTC+1) and in summer (UTC+2)', () => {
    // Arrange
    const sunday = parseCron('0 3 ? * SUN *');

    // Act
    const winter = nextCron(sunday, 'Europe/Berlin', Date.parse('2026-01-07T00:00:00Z'));
    const summer = nextCron(sunday, 'Europe/Berlin', Date.parse('2026-07-08T00:00:00Z'));

    // Assess
    expect(iso(winter)).toBe('2026-01-11T02:00:00.000Z');
    expect(iso(summer)).toBe('2026-07-12T01:00:00.000Z');
  });

  it('skips the wall time the spring change removes and runs the repeated autumn hour once', () => {
    // Arrange: 02:30 does not exist in Berlin on 2026-03-29 and happens twice on 2026-10-25.
    const daily = parseCron('30 2 * * ? *');

    // Act
    const spring = nextCron(daily, 'Europe/Berlin', Date.parse('2026-03-28T02:00:00Z'));
    const autumnFirst = nextCron(daily, 'Europe/Berlin', Date.parse('2026-10-24T23:00:00Z'));
    const afterFirst = nextCron(daily, 'Europe/Berlin', autumnFirst as number);

    // Assess
    expect(iso(spring)).toBe('2026-03-30T00:30:00.000Z');
    expect(iso(autumnFirst)).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(afterFirst)).toBe('2026-10-26T01:30:00.000Z');
  });

  it('is strictly after for next and at or before for previous', () => {
    // Arrange
    const hourly = parseCron('0 * * * ? *');
    const onTheHour = Date.parse('2026-05-01T10:00:00Z');

    // Act and assess
    expect(iso(nextCron(hourly, 'UTC', onTheHour))).toBe('2026-05-01T11:00:00.000Z');
    expect(iso(previousCron(hourly, 'UTC', onTheHour))).toBe('2026-05-01T10:00:00.000Z');
    expect(iso(previousCron(hourly, 'UTC', onTheHour - 1))).toBe('2026-05-01T09:00:00.000Z');
  });

  it('refuses to parse an expression validateCron rejects, with its reason', () => {
    expect(() => parseCron('0 3 * * SUN *')).toThrow("exactly one of day-of-month and day-of-week must be '?'");
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
