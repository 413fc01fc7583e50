/**
 * The sandbox's own clock. It runs `speed` times faster than real time (0 freezes it), can be
 * moved forward, and never runs backwards, not even across a restart (the store keeps its
 * reading). It reads no later than the end of year 9999 (AWS's timestamps have four-digit years,
 * and a Date past it prints as +010000-…): a move past it or a speed out of range is refused.
 */

/** The latest the clock reads: 9999-12-31T23:59:59.999Z. */
export const MAX_CLOCK_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** The fastest the clock runs: a real second is 11.6 sandbox days. */
export const MAX_SPEED = 1_000_000;

/**
 * The clock's parameters in shared memory, for Lambda workers (`services/lambda/worker.mjs`) to
 * compute sandbox time from real time at each `Date.now()` without a message round trip (a worker
 * busy in a handler, or in a synchronous loop, still sees a move at once). Layout: a BigInt64Array
 * of [sequence, sandbox anchor ms, real anchor ms, speed], the last three as float64 bits. The one
 * writer makes the sequence odd while it writes; a reader retries until it reads the same even
 * sequence before and after (a seqlock), so it never mixes an old anchor with a new speed.
 */
export const SHARED_CLOCK_SLOTS = 4;

const float64 = new Float64Array(1);
const bits = new BigInt64Array(float64.buffer);
const toBits = (value: number): bigint => {
  float64[0] = value;
  return bits[0] as bigint;
};

const checkSpeed = (speed: number): number => {
  if (!(Number.isFinite(speed) && speed >= 0 && speed <= MAX_SPEED)) {
    throw new RangeError(`the clock's speed must be a number from 0 to ${MAX_SPEED}, not ${speed}`);
  }
  return speed;
};

export class SandboxClock {
  private anchorSandboxMs: number;
  private anchorRealMs: number;
  private currentSpeed: number;

  constructor(options: { speed: number; startMs?: number; realNow?: () => number }) {
    this.realNow = options.realNow ?? Date.now;
    this.currentSpeed = checkSpeed(options.speed);
    this.anchorRealMs = this.realNow();
    this.anchorSandboxMs = Math.min(Math.max(options.startMs ?? 0, this.anchorRealMs), MAX_CLOCK_MS);
    this.publish();
  }

  private readonly realNow: () => number;

  /**
   * The clock's parameters in shared memory (layout at {@link SHARED_CLOCK_SLOTS}), kept current
   * on every move and change of speed. Its real anchor is `realNow`'s: readers use `Date.now()`,
   * so share it only from a clock on real time (the default).
   */
  readonly shared = new SharedArrayBuffer(SHARED_CLOCK_SLOTS * BigInt64Array.BYTES_PER_ELEMENT);

  private publish(): void {
    const slots = new BigInt64Array(this.shared);
    Atomics.add(slots, 0, 1n);
    Atomics.store(slots, 1, toBits(this.anchorSandboxMs));
    Atomics.store(slots, 2, toBits(this.anchorRealMs));
    Atomics.store(slots, 3, toBits(this.currentSpeed));
    Atomics.add(slots, 0, 1n);
  }

  nowMs(): number {
    return Math.min(this.anchorSandboxMs + (this.realNow() - this.anchorRealMs) * this.currentSpeed, MAX_CLOCK_MS);
  }

  /** How far the clock can still be moved forward: up to {@link MAX_CLOCK_MS}. */
  secondsUntilEnd(): number {
    return (MAX_CLOCK_MS - this.nowMs()) / 1000;
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  get speed(): number {
    return this.currentSpeed;
  }

  setSpeed(speed: number): void {
    checkSpeed(speed);
    this.anchorSandboxMs = this.nowMs();
    this.anchorRealMs = this.realNow();
    this.currentSpeed = speed;
    this.publish();
    this.wake();
  }

  advance(seconds: number): void {
    if (!(Number.isFinite(seconds) && seconds >= 0 && seconds <= this.secondsUntilEnd())) {
      throw new RangeError(
        `the clock moves forward by 0 to ${this.secondsUntilEnd()} seconds (up to the end of year 9999), not ${seconds}`,
      );
    }
    this.anchorSandboxMs = this.nowMs() + seconds * 1000;
    this.anchorRealMs = this.realNow();
    this.publish();
    this.wake();
  }

  private readonly sleepers = new Set<() => void>();

  /** Re-arms every pending `sleepUntil` (the clock moved or changed speed). */
  private wake(): void {
    for (const sleeper of [...this.sleepers]) sleeper();
  }

  /**
   * Resolves once the sandbox clock reads `targetMs` or later: after (target − now) / speed real
   * milliseconds, or at once when the clock is moved past it. With the clock frozen it waits for
   * a move. Rejects with the signal's reason when `signal` aborts.
   */
  sleepUntil(targetMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (error?: unknown) => {
        if (timer) clearTimeout(timer);
        this.sleepers.delete(arm);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onAbort = () => finish(signal?.reason ?? new Error('aborted'));
      const arm = () => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        const remaining = targetMs - this.nowMs();
        if (remaining <= 0) return finish();
        // Speed 0: sleep until the clock is moved (wake re-arms).
        if (this.currentSpeed > 0) {
          // Timers are capped so a very long sleep still re-reads the clock now and then.
          timer = setTimeout(arm, Math.min(Math.ceil(remaining / this.currentSpeed), 60_000));
          timer.unref?.();
        }
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.add(arm);
      arm();
    });
  }

  /** `sleepUntil(now + seconds)`. */
  sleep(seconds: number, signal?: AbortSignal): Promise<void> {
    return this.sleepUntil(this.nowMs() + seconds * 1000, signal);
  }
}
