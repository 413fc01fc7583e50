import { describe, expect, it } from 'vitest';
import { SandboxClock } from '../../src/clock';

const settled = async (promise: Promise<unknown>, withinMs: number): Promise<boolean> => {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((resolve) => setTimeout(resolve, withinMs));
  return done;
};

describe('SandboxClock.sleepUntil', () => {
  it('resolves after the sandbox time has passed at the clock speed', async () => {
    // Prepare: 1000 sandbox seconds per real second, so 30 sandbox seconds take ~30 ms
    const clock = new SandboxClock({ speed: 1000 });
    const start = clock.nowMs();

    // Act
    await clock.sleep(30);

    // Assess
    expect(clock.nowMs() - start).toBeGreaterThanOrEqual(30_000);
  });

  it('waits for a move while the clock is frozen, and wakes at once when moved past the target', async () => {
    // Prepare
    const clock = new SandboxClock({ speed: 0 });
    const sleeping = clock.sleep(3600);

    // Act + Assess
    expect(await settled(sleeping, 50)).toBe(false);
    clock.advance(1800);
    expect(await settled(sleeping, 20)).toBe(false);
    clock.advance(1800);
    expect(await settled(sleeping, 20)).toBe(true);
  });

  it('re-reads the clock when its speed changes', async () => {
    // Prepare: at speed 1 this sleep would take an hour of real time
    const clock = new SandboxClock({ speed: 1 });
    const sleeping = clock.sleep(3600);

    // Act
    clock.setSpeed(1_000_000);

    // Assess
    expect(await settled(sleeping, 50)).toBe(true);
  });

  it('rejects with the abort reason when the signal aborts', async () => {
    // Prepare
    const clock = new SandboxClock({ speed: 0 });
    const controller = new AbortController();
    const sleeping = clock.sleep(60, controller.signal);

    // Act
    controller.abort(new Error('execution stopped'));

    // Assess
    await expect(sleeping).rejects.toThrow('execution stopped');
  });

  it('resolves at once for a time already passed', async () => {
    // Prepare
    const clock = new SandboxClock({ speed: 0 });

    // Act + Assess
    expect(await settled(clock.sleepUntil(clock.nowMs() - 1), 5)).toBe(true);
  });
});

describe('SandboxClock range', () => {
  const END_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

  it('refuses a move past the end of year 9999, a negative one or a non-finite one, and stays put', () => {
    // Prepare
    const clock = new SandboxClock({ speed: 0, startMs: Date.UTC(2026, 0, 1), realNow: () => 0 });
    const before = clock.nowMs();

    // Act + Assess
    for (const seconds of [1e308, Number.POSITIVE_INFINITY, Number.NaN, -1, clock.secondsUntilEnd() + 1]) {
      expect(() => clock.advance(seconds)).toThrow(RangeError);
    }
    expect(clock.nowMs()).toBe(before);
  });

  it('refuses a speed out of range and keeps the one it had', () => {
    // Prepare
    const clock = new SandboxClock({ speed: 600 });

    // Act + Assess
    for (const speed of [1e308, Number.NaN, -1]) expect(() => clock.setSpeed(speed)).toThrow(RangeError);
    expect(() => new SandboxClock({ speed: Number.NaN })).toThrow(RangeError);
    expect(clock.speed).toBe(600);
  });

  it('stops at the end of year 9999 when running fast, and still reads a valid date', () => {
    // Prepare: real time jumps 10 years' worth at the fastest speed
    let real = 0;
    const clock = new SandboxClock({ speed: 1_000_000, startMs: END_MS - 1000, realNow: () => real });

    // Act
    real = 10 * 365 * 86_400_000;

    // Assess
    expect(clock.nowMs()).toBe(END_MS);
    expect(clock.now().toISOString()).toBe('9999-12-31T23:59:59.999Z');
  });
});
