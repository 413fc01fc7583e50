/**
 * What a sandbox run with the real schedules bakes on schedule, and from when: the same whatever
 * the day the run starts.
 *
 * A sandbox clock that starts at the host's time made `npm start` and the e2e files that keep the
 * schedules depend on the time of week: started on a Sunday between the two Sunday-morning
 * schedules (03:00 and 03:30 Europe/Berlin), the run baked only ubuntu-2404-base on schedule and
 * requested al2023-base; started in the days before the second Tuesday + 1, moving the clock to
 * Sunday fired windows-2022-base's monthly schedule in the background, and the run's own
 * windows-2022-base request was answered Bake Skipped (both seen on Sunday 6 December 2026, 02:08
 * UTC). So such runs move the sandbox's clock, before anything is provisioned, to the next Saturday
 * 12:00 UTC: from there the shipped schedules fire in the same order every time.
 */

const DAY_MS = 24 * 3600_000;
const SATURDAY = 6;

/** Families whose schedules fire within this long after the first one bake on schedule together. */
export const SCHEDULED_TOGETHER_MS = 2 * 3600_000;

/** The next Saturday 12:00 UTC at or after `nowMs`: where a sandbox run with the schedules starts. */
export const runStartMs = (nowMs: number): number => {
  const now = new Date(nowMs);
  const noonToday = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 12);
  const start = noonToday + ((SATURDAY - now.getUTCDay() + 7) % 7) * DAY_MS;
  return start >= nowMs ? start : start + 7 * DAY_MS;
};

/** Moves a (still) sandbox clock to the run's start: call it before anything is provisioned. */
export const moveToRunStart = (clock: { nowMs(): number; advance(seconds: number): void }): void => {
  const now = clock.nowMs();
  clock.advance((runStartMs(now) - now) / 1000);
};

/** A family's next due firing after the run's start. */
export interface Firing {
  readonly family: string;
  readonly timezone: string;
  readonly atMs: number;
}

export interface ScheduledScenario {
  /** The first firing: where the run moves the clock. */
  readonly first: Firing;
  /** Families that bake on schedule (due within {@link SCHEDULED_TOGETHER_MS} of the first). */
  readonly scheduled: readonly string[];
  /** The other scheduled families, which the run requests with events instead. */
  readonly requested: readonly string[];
}

/** Which families bake on schedule, and which are requested, given each one's next firing. */
export const scheduledScenario = (firings: readonly Firing[]): ScheduledScenario => {
  const sorted = [...firings].sort((a, b) => a.atMs - b.atMs);
  const first = sorted[0];
  if (!first) throw new Error('no family has a schedule: nothing to bake on schedule');
  const scheduled = sorted.filter((f) => f.atMs - first.atMs <= SCHEDULED_TOGETHER_MS).map((f) => f.family);
  return { first, scheduled, requested: sorted.map((f) => f.family).filter((family) => !scheduled.includes(family)) };
};
