/**
 * The clock's parameters in shared memory (SandboxClock.shared), as a Lambda worker reads them
 * (services/lambda/worker.mjs): [sequence, sandbox anchor, real anchor, speed], kept current.
 */
import { describe, expect, it } from 'vitest';
import { SandboxClock, SHARED_CLOCK_SLOTS } from '../../src/clock';

/** Reads the shared parameters as the worker does and computes sandbox time at `realMs`. */
const readShared = (shared: SharedArrayBuffer, realMs: number) => {
  const slots = new BigInt64Array(shared);
  const sequence = Atomics.load(slots, 0);
  const values = new Float64Array(new BigInt64Array([slots[1] ?? 0n, slots[2] ?? 0n, slots[3] ?? 0n]).buffer);
  const [anchorSandboxMs = 0, anchorRealMs = 0, speed = 0] = values;
  return { sequence, speed, nowMs: anchorSandboxMs + (realMs - anchorRealMs) * speed };
};

describe('SandboxClock.shared', () => {
  it('holds the parameters from which a reader computes the same time as the clock', () => {
    // Prepare
    let real = 1_000_000;
    const clock = new SandboxClock({ speed: 60, startMs: Date.UTC(2027, 2, 1), realNow: () => real });

    // Act
    real += 1500;

    // Assess
    expect(new BigInt64Array(clock.shared)).toHaveLength(SHARED_CLOCK_SLOTS);
    expect(readShared(clock.shared, real)).toMatchObject({ speed: 60, nowMs: clock.nowMs() });
    expect(readShared(clock.shared, real).sequence % 2n).toBe(0n);
  });

  it('is kept current when the clock moves or changes speed', () => {
    // Prepare
    let real = 5_000;
    const clock = new SandboxClock({ speed: 0, startMs: Date.UTC(2027, 2, 1), realNow: () => real });
    const before = readShared(clock.shared, real).sequence;

    // Act
    clock.advance(86_400);
    real += 200;
    clock.setSpeed(3600);
    real += 1000;

    // Assess
    const read = readShared(clock.shared, real);
    expect(read).toMatchObject({ speed: 3600, nowMs: clock.nowMs() });
    expect(read.nowMs).toBe(Date.UTC(2027, 2, 2) + 3_600_000);
    expect(read.sequence).toBe(before + 4n);
  });
});
