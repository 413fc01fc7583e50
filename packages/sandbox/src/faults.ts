/**
 * Injected faults: the next N calls of an action fail with an AWS error, or Run Command
 * invocations whose commands or document match some text end with a given status.
 */
import { AwsError } from './errors';

export interface ApiFault {
  readonly service: string;
  readonly action: string;
  readonly error: string;
  readonly message?: string;
  /** HTTP status; 503 for throttling codes unless given. */
  readonly status?: number;
  remaining: number;
}

export interface RunCommandFault {
  readonly match: string;
  readonly status: 'Failed' | 'TimedOut' | 'Cancelled';
  remaining: number;
}

/**
 * EC2's API token bucket for some actions (off unless asked for): `capacity` calls at once, refilled
 * at `perSecond` on real time (pacing is about wall-clock throughput), RequestLimitExceeded when empty.
 */
export interface RateLimit {
  readonly service: string;
  readonly actions: readonly string[];
  readonly capacity: number;
  readonly perSecond: number;
  tokens: number;
  last: number;
  /** Calls refused so far. */
  refused: number;
}

const THROTTLING = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException']);

export class Faults {
  private api: ApiFault[] = [];
  private runCommand: RunCommandFault[] = [];
  private rateLimit: RateLimit | undefined;

  /** Adds a fault from the control endpoint's JSON; returns a problem message when it is malformed. */
  add(input: unknown): string | undefined {
    const body = (input ?? {}) as Record<string, unknown>;
    if (body.rateLimit !== undefined) return this.addRateLimit(body.rateLimit);
    const times = body.times === undefined ? 1 : Number(body.times);
    if (!Number.isInteger(times) || times < 1) return 'times must be a positive integer';
    if (body.runCommand !== undefined) {
      const rc = body.runCommand as Record<string, unknown>;
      const status = (rc.status ?? 'Failed') as RunCommandFault['status'];
      if (typeof rc.match !== 'string' || rc.match === '') return 'runCommand.match must be a non-empty string';
      if (!['Failed', 'TimedOut', 'Cancelled'].includes(status))
        return 'runCommand.status must be Failed, TimedOut or Cancelled';
      const rcTimes = rc.times === undefined ? times : Number(rc.times);
      this.runCommand.push({ match: rc.match, status, remaining: rcTimes });
      return undefined;
    }
    for (const key of ['service', 'action', 'error'] as const) {
      if (typeof body[key] !== 'string' || body[key] === '') return `${key} must be a non-empty string`;
    }
    this.api.push({
      service: String(body.service),
      action: String(body.action),
      error: String(body.error),
      ...(typeof body.message === 'string' ? { message: body.message } : {}),
      ...(typeof body.status === 'number' ? { status: body.status } : {}),
      remaining: times,
    });
    return undefined;
  }

  /** `{"rateLimit": {}}` turns EC2's deregister/delete bucket on (100 burst, 5/s); `{"rateLimit": null}` off. */
  private addRateLimit(input: unknown): string | undefined {
    if (input === null) {
      this.rateLimit = undefined;
      return undefined;
    }
    const rl = (input ?? {}) as Record<string, unknown>;
    const capacity = rl.capacity === undefined ? 100 : Number(rl.capacity);
    const perSecond = rl.perSecond === undefined ? 5 : Number(rl.perSecond);
    const actions = rl.actions === undefined ? ['DeregisterImage', 'DeleteSnapshot'] : rl.actions;
    if (!Number.isInteger(capacity) || capacity < 1) return 'rateLimit.capacity must be a positive integer';
    if (!(perSecond > 0)) return 'rateLimit.perSecond must be a positive number';
    if (!Array.isArray(actions) || !actions.every((a) => typeof a === 'string' && a !== '')) {
      return 'rateLimit.actions must be a list of action names';
    }
    this.rateLimit = {
      service: typeof rl.service === 'string' ? rl.service : 'ec2',
      actions: actions as string[],
      capacity,
      perSecond,
      tokens: capacity,
      last: Date.now(),
      refused: 0,
    };
    return undefined;
  }

  clear(): void {
    this.api = [];
    this.runCommand = [];
    this.rateLimit = undefined;
  }

  list(): { api: readonly ApiFault[]; runCommand: readonly RunCommandFault[]; rateLimit?: RateLimit } {
    return { api: this.api, runCommand: this.runCommand, ...(this.rateLimit ? { rateLimit: this.rateLimit } : {}) };
  }

  /** Throws the injected error if a fault matches this call (and uses one of its times up). */
  check(service: string, action: string): void {
    const limit = this.rateLimit;
    if (limit && limit.service === service && limit.actions.includes(action)) {
      const now = Date.now();
      limit.tokens = Math.min(limit.capacity, limit.tokens + ((now - limit.last) / 1000) * limit.perSecond);
      limit.last = now;
      if (limit.tokens < 1) {
        limit.refused += 1;
        throw new AwsError('RequestLimitExceeded', 'Request limit exceeded.', 503);
      }
      limit.tokens -= 1;
    }
    const fault = this.api.find((f) => f.service === service && f.action === action && f.remaining > 0);
    if (!fault) return;
    fault.remaining -= 1;
    this.api = this.api.filter((f) => f.remaining > 0);
    const status = fault.status ?? (THROTTLING.has(fault.error) ? 503 : 400);
    throw new AwsError(fault.error, fault.message ?? `Injected fault: ${fault.error}`, status);
  }

  /** The status a Run Command invocation ends with, if a fault matches its document or commands. */
  runCommandOutcome(text: string): RunCommandFault['status'] | undefined {
    const fault = this.runCommand.find((f) => f.remaining > 0 && text.includes(f.match));
    if (!fault) return undefined;
    fault.remaining -= 1;
    this.runCommand = this.runCommand.filter((f) => f.remaining > 0);
    return fault.status;
  }
}
