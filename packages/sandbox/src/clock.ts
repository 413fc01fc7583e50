/**
 * The sandbox's own clock. It runs `speed` times faster than real time (0 freezes it), can be
 * moved forward, and never runs backwards, not even across a restart (the store keeps its
 * reading).
 */
export class SandboxClock {
  private anchorSandboxMs: number;
  private anchorRealMs: number;
  private currentSpeed: number;

  constructor(options: { speed: number; startMs?: number; realNow?: () => number }) {
    this.realNow = options.realNow ?? Date.now;
    this.currentSpeed = options.speed;
    this.anchorRealMs = this.realNow();
    this.anchorSandboxMs = Math.max(options.startMs ?? 0, this.anchorRealMs);
  }

  private readonly realNow: () => number;

  nowMs(): number {
    return this.anchorSandboxMs + (this.realNow() - this.anchorRealMs) * this.currentSpeed;
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  get speed(): number {
    return this.currentSpeed;
  }

  setSpeed(speed: number): void {
    this.anchorSandboxMs = this.nowMs();
    this.anchorRealMs = this.realNow();
    this.currentSpeed = speed;
    this.wake();
  }

  advance(seconds: number): void {
    this.anchorSandboxMs = this.nowMs() + seconds * 1000;
    this.anchorRealMs = this.realNow();
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
