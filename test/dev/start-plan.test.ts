/**
 * What `npm start` and the e2e files that keep the schedules bake on schedule (dev/start/plan.ts):
 * the same whatever the day and hour the run starts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import rawConfig from '../../bakehouse.config';
import { type Firing, moveToRunStart, runStartMs, scheduledScenario } from '../../dev/start/plan';
import { loadConfig } from '../../functions/commons/families';
import { nextRun } from '../../functions/commons/schedule';

const DAY_MS = 24 * 3600_000;
const config = loadConfig(rawConfig);

/** Each scheduled family's next due firing after `fromMs`, as the Scheduler and ScheduleTick have it. */
const firingsAfter = (fromMs: number): Firing[] =>
  config.families.flatMap((family) => {
    const next = nextRun(family, new Date(fromMs));
    if (!family.schedule) return [];
    if (!next) throw new Error(`${family.name} is never due`);
    return [{ family: family.name, timezone: family.schedule.timezone, atMs: next.getTime() }];
  });

describe('runStartMs', () => {
  it('is the next Saturday 12:00 UTC, at or after now and less than a week later', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2032, 0, 1) }), (nowMs) => {
        const start = runStartMs(nowMs);
        const at = new Date(start);
        expect(at.getUTCDay()).toBe(6);
        expect([at.getUTCHours(), at.getUTCMinutes(), at.getUTCSeconds(), at.getUTCMilliseconds()]).toEqual([
          12, 0, 0, 0,
        ]);
        expect(start).toBeGreaterThanOrEqual(nowMs);
        expect(start - nowMs).toBeLessThan(7 * DAY_MS);
      }),
      { numRuns: 500 },
    );
  });

  it('is now itself at Saturday 12:00 UTC sharp', () => {
    const saturdayNoon = Date.UTC(2026, 11, 5, 12);
    expect(runStartMs(saturdayNoon)).toBe(saturdayNoon);
    expect(runStartMs(saturdayNoon + 1)).toBe(saturdayNoon + 7 * DAY_MS);
  });
});

describe('moveToRunStart', () => {
  it('moves a clock forward to runStartMs of its own time', () => {
    // Prepare
    let nowMs = Date.parse('2026-12-06T02:08:18Z');
    const clock = { nowMs: () => nowMs, advance: (seconds: number) => (nowMs += seconds * 1000) };
    // Act
    moveToRunStart(clock);
    // Assess
    expect(new Date(nowMs).toISOString()).toBe('2026-12-12T12:00:00.000Z');
  });
});

describe('the scheduled scenario of the shipped families', () => {
  it('bakes al2023-base and ubuntu-2404-base on schedule and requests windows-2022-base, whenever the run starts', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2032, 0, 1) }), (nowMs) => {
        const scenario = scheduledScenario(firingsAfter(runStartMs(nowMs)));
        expect(scenario.first.family).toBe('al2023-base');
        expect(scenario.scheduled).toEqual(['al2023-base', 'ubuntu-2404-base']);
        expect(scenario.requested).toEqual(['windows-2022-base']);
      }),
      { numRuns: 300 },
    );
  });

  it('would have depended on the day had the run started at the host time (Sunday 6 December 2026, 02:08 UTC)', () => {
    // Between the two Sunday-morning schedules, the host's time put al2023-base a week away.
    const sunday = Date.parse('2026-12-06T02:08:18Z');
    expect(scheduledScenario(firingsAfter(sunday)).scheduled).toEqual(['ubuntu-2404-base']);
    expect(scheduledScenario(firingsAfter(runStartMs(sunday))).scheduled).toEqual(['al2023-base', 'ubuntu-2404-base']);
  });

  it('refuses a configuration with no schedule at all, naming why', () => {
    expect(() => scheduledScenario([])).toThrow('no family has a schedule');
  });
});
