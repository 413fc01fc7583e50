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
