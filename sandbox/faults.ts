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

const THROTTLING = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException']);

export class Faults {
  private api: ApiFault[] = [];
  private runCommand: RunCommandFault[] = [];

  /** Adds a fault from the control endpoint's JSON; returns a problem message when it is malformed. */
  add(input: unknown): string | undefined {
    const body = (input ?? {}) as Record<string, unknown>;
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

  clear(): void {
    this.api = [];
    this.runCommand = [];
  }

  list(): { api: readonly ApiFault[]; runCommand: readonly RunCommandFault[] } {
    return { api: this.api, runCommand: this.runCommand };
  }

  /** Throws the injected error if a fault matches this call (and uses one of its times up). */
  check(service: string, action: string): void {
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
