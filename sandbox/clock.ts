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
  }

  advance(seconds: number): void {
    this.anchorSandboxMs = this.nowMs() + seconds * 1000;
    this.anchorRealMs = this.realNow();
  }
}
