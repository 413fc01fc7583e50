import { describe, expect, it } from 'vitest';
import {
  type Expression,
  firstOccurrence,
  latestOccurrence,
  parseExpression,
} from '../../src/services/scheduler/expressions';

const parse = (text: string): Expression => {
  const parsed = parseExpression(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
};

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
const open = { startMs: 0 };

describe('schedule expressions', () => {
  it('refuses malformed expressions', () => {
    expect(parseExpression('cron(0 9 * * * *)')).toMatch(/Invalid Schedule Expression/);
    expect(parseExpression('rate(1 minutes)')).toMatch(/Invalid Schedule Expression/);
    expect(parseExpression('rate(5 minute)')).toMatch(/Invalid Schedule Expression/);
    expect(parseExpression('at(2030-02-30T10:00:00)')).toMatch(/Invalid Schedule Expression/);
    expect(parseExpression('every day')).toMatch(/Invalid Schedule Expression/);
  });

  it('evaluates cron in the winter and summer offsets of Europe/Berlin', () => {
    const daily = parse('cron(0 9 * * ? *)');
    expect(iso(firstOccurrence(daily, 'Europe/Berlin', open, at('2030-01-15T00:00:00Z')))).toBe(
      '2030-01-15T08:00:00.000Z',
    );
    expect(iso(firstOccurrence(daily, 'Europe/Berlin', open, at('2030-07-15T00:00:00Z')))).toBe(
      '2030-07-15T07:00:00.000Z',
    );
  });

  it('moves a Berlin cron across the spring change and skips the wall time that does not exist', () => {
    // 2030-03-31: 02:00 CET becomes 03:00 CEST.
    const nine = parse('cron(0 9 * * ? *)');
    expect(iso(firstOccurrence(nine, 'Europe/Berlin', open, at('2030-03-30T09:00:00Z')))).toBe(
      '2030-03-31T07:00:00.000Z',
    );
    const twoThirty = parse('cron(30 2 * * ? *)');
    expect(iso(firstOccurrence(twoThirty, 'Europe/Berlin', open, at('2030-03-30T02:00:00Z')))).toBe(
      '2030-04-01T00:30:00.000Z',
    );
  });

  it('runs the repeated hour of the autumn change in America/New_York once', () => {
    // 2030-11-03: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
    const oneThirty = parse('cron(30 1 * * ? *)');
    const first = firstOccurrence(oneThirty, 'America/New_York', open, at('2030-11-03T00:00:00Z'));
    expect(iso(first)).toBe('2030-11-03T05:30:00.000Z');
    expect(iso(firstOccurrence(oneThirty, 'America/New_York', open, (first as number) + 1))).toBe(
      '2030-11-04T06:30:00.000Z',
    );
  });

  it('moves a New York cron across the spring change', () => {
    // 2030-03-10: 02:00 EST becomes 03:00 EDT.
    const daily = parse('cron(15 8 * * ? *)');
    expect(iso(firstOccurrence(daily, 'America/New_York', open, at('2030-03-09T14:00:00Z')))).toBe(
      '2030-03-10T12:15:00.000Z',
    );
    expect(iso(latestOccurrence(daily, 'America/New_York', open, 0, at('2030-03-10T12:14:00Z')))).toBe(
      '2030-03-09T13:15:00.000Z',
    );
  });

  it('takes the latest missed occurrence within the window', () => {
    const hourly = parse('cron(0 * * * ? *)');
    expect(iso(latestOccurrence(hourly, 'UTC', open, at('2030-01-01T00:00:00Z'), at('2030-01-03T05:59:59Z')))).toBe(
      '2030-01-03T05:00:00.000Z',
    );
    const bounded = { startMs: 0, endMs: at('2030-01-02T00:00:00Z') };
    expect(iso(latestOccurrence(hourly, 'UTC', bounded, at('2030-01-01T00:00:00Z'), at('2030-01-03T05:59:59Z')))).toBe(
      '2030-01-02T00:00:00.000Z',
    );
  });

  it('counts rate schedules from their start', () => {
    const rate = parse('rate(5 minutes)');
    const window = { startMs: at('2030-01-01T00:00:00Z') };
    expect(iso(firstOccurrence(rate, 'UTC', window, at('2029-12-01T00:00:00Z')))).toBe('2030-01-01T00:00:00.000Z');
    expect(iso(firstOccurrence(rate, 'UTC', window, at('2030-01-01T00:00:01Z')))).toBe('2030-01-01T00:05:00.000Z');
    expect(iso(latestOccurrence(rate, 'UTC', window, 0, at('2030-01-01T00:14:59Z')))).toBe('2030-01-01T00:10:00.000Z');
  });

  it('reads at() as a wall time in the zone', () => {
    const once = parse('at(2030-06-01T12:00:00)');
    expect(iso(firstOccurrence(once, 'Europe/Berlin', open, at('2030-01-01T00:00:00Z')))).toBe(
      '2030-06-01T10:00:00.000Z',
    );
    expect(firstOccurrence(once, 'Europe/Berlin', open, at('2030-06-02T00:00:00Z'))).toBeUndefined();
  });
});
