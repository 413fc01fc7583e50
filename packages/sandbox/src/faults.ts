/**
 * Injected faults: the next N calls of an action fail with an AWS error, or Run Command
 * invocations whose commands or document match some text end with a given status.
 *
 * A fault is checked whole when it is added (`Faults.add`, whoever calls it): a malformed one is
 * refused with the field and what it takes, and nothing changes.
 *
 * A Run Command fault's `match` is text in the invocation's document name or commands (a
 * substring, as `dnf` or `with-new-pkgs`): SendCommand carries no automation step name, so a fault
 * cannot name the step that sent the command; pick text only that step's commands contain.
 */
import { AwsError } from './errors';
import { isNumber, isRecord, unknownField } from './input';
import { Ec2RateLimits } from './services/ec2/rate-limits';

/** At most this many times for one fault: more is a typo, not a test. */
const MAX_TIMES = 1_000_000;

const timesProblem = (value: unknown, field: string): string | undefined =>
  Number.isInteger(value) && (value as number) >= 1 && (value as number) <= MAX_TIMES
    ? undefined
    : `${field} must be a positive integer of at most ${MAX_TIMES}`;

const API_FAULT_FIELDS = ['service', 'action', 'error', 'message', 'status', 'times'] as const;
const RUN_COMMAND_FIELDS = ['match', 'status', 'times'] as const;
const RATE_LIMIT_FIELDS = ['capacity', 'perSecond', 'actions', 'service'] as const;
const RUN_COMMAND_STATUSES = ['Failed', 'TimedOut', 'Cancelled'];
/** The most a rate limit holds or refills per second: beyond it there is no limit to speak of. */
const MAX_RATE = 1_000_000;

const runCommandProblem = (runCommand: unknown): string | undefined => {
  if (!isRecord(runCommand)) return 'runCommand must be an object such as {"match":"dnf","status":"Failed","times":1}';
  const unknown = unknownField(runCommand, RUN_COMMAND_FIELDS);
  if (unknown !== undefined) return `unknown field runCommand.${unknown}: runCommand takes match, status, times`;
  if (typeof runCommand.match !== 'string' || runCommand.match === '') {
    return 'runCommand.match must be a non-empty string';
  }
  if (runCommand.status !== undefined && !RUN_COMMAND_STATUSES.includes(runCommand.status as string)) {
    return 'runCommand.status must be Failed, TimedOut or Cancelled';
  }
  return runCommand.times === undefined ? undefined : timesProblem(runCommand.times, 'runCommand.times');
};

const rateLimitProblem = (rateLimit: unknown): string | undefined => {
  if (rateLimit === null) return undefined;
  if (!isRecord(rateLimit)) return 'rateLimit must be an object ({} for the defaults) or null to turn it off';
  const unknown = unknownField(rateLimit, RATE_LIMIT_FIELDS);
  if (unknown !== undefined)
    return `unknown field rateLimit.${unknown}: rateLimit takes ${RATE_LIMIT_FIELDS.join(', ')}`;
  const { capacity, perSecond, actions, service } = rateLimit;
  if (
    capacity !== undefined &&
    !(Number.isInteger(capacity) && (capacity as number) >= 1 && (capacity as number) <= MAX_RATE)
  ) {
    return `rateLimit.capacity must be a positive integer of at most ${MAX_RATE}`;
  }
  if (perSecond !== undefined && !(isNumber(perSecond) && perSecond > 0 && perSecond <= MAX_RATE)) {
    return `rateLimit.perSecond must be a positive number of at most ${MAX_RATE}`;
  }
  if (actions !== undefined && !(Array.isArray(actions) && actions.every((a) => typeof a === 'string' && a !== ''))) {
    return 'rateLimit.actions must be a list of action names';
  }
  if (service !== undefined && (typeof service !== 'string' || service === '')) {
    return 'rateLimit.service must be a service name such as ec2';
  }
  return undefined;
};

/**
 * What is wrong with a fault (the `POST /_sandbox/faults` body), checked whole before anything is
 * added: the field and what it takes, or undefined when it is well formed.
 */
export const faultProblem = (input: unknown): string | undefined => {
  if (!isRecord(input)) {
    return 'a fault must be a JSON object, e.g. {"service":"ec2","action":"RunInstances","error":"Boom"}';
  }
  if ('rateLimit' in input) {
    const other = unknownField(input, ['rateLimit']);
    if (other !== undefined) return `rateLimit is a fault of its own: give it alone, without ${other}`;
    return rateLimitProblem(input.rateLimit);
  }
  if (input.times !== undefined) {
    const problemOfTimes = timesProblem(input.times, 'times');
    if (problemOfTimes) return problemOfTimes;
  }
  if ('runCommand' in input) {
    const other = unknownField(input, ['runCommand', 'times']);
    if (other !== undefined) return `unknown field ${other}: a runCommand fault takes runCommand and times`;
    return runCommandProblem(input.runCommand);
  }
  const unknown = unknownField(input, API_FAULT_FIELDS);
  if (unknown !== undefined) {
    return `unknown field ${unknown}: an API fault takes ${API_FAULT_FIELDS.join(', ')} (or give runCommand or rateLimit)`;
  }
  for (const key of ['service', 'action', 'error'] as const) {
    if (typeof input[key] !== 'string' || input[key] === '') return `${key} must be a non-empty string`;
  }
  if (input.message !== undefined && typeof input.message !== 'string') return 'message must be text';
  const { status } = input;
  if (status !== undefined && !(Number.isInteger(status) && (status as number) >= 400 && (status as number) <= 599)) {
    return 'status must be an HTTP error status, an integer from 400 to 599';
  }
  return undefined;
};

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
 * A token bucket of its own for some actions (off unless asked for): `capacity` calls at once,
 * refilled at `perSecond` on real time, RequestLimitExceeded when empty. It came before EC2's
 * documented buckets ({@link Faults.ec2RateLimits}, on by default) and is kept for its callers
 * (the janitor apply bench): a call of its actions must get past it and then EC2's own bucket.
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
  /**
   * EC2's documented request buckets (`services/ec2/rate-limits.ts`), on by default; the EC2
   * actions draw from them. Not a fault: `clear` leaves them as they are (`/_sandbox/ec2/rate-limits`
   * sets them).
   */
  readonly ec2RateLimits = new Ec2RateLimits();

  /**
   * Adds a fault (the control endpoint's JSON). A malformed one is refused whole: the returned
   * problem names the field and what it takes, and no fault changes.
   */
  add(input: unknown): string | undefined {
    const problem = faultProblem(input);
    if (problem !== undefined) return problem;
    const body = input as Record<string, unknown>;
    if ('rateLimit' in body) {
      this.setRateLimit(body.rateLimit as Record<string, unknown> | null);
      return undefined;
    }
    const times = body.times === undefined ? 1 : (body.times as number);
    if (body.runCommand !== undefined) {
      const rc = body.runCommand as Record<string, unknown>;
      this.runCommand.push({
        match: rc.match as string,
        status: (rc.status ?? 'Failed') as RunCommandFault['status'],
        remaining: rc.times === undefined ? times : (rc.times as number),
      });
      return undefined;
    }
    this.api.push({
      service: body.service as string,
      action: body.action as string,
      error: body.error as string,
      ...(typeof body.message === 'string' ? { message: body.message } : {}),
      ...(typeof body.status === 'number' ? { status: body.status } : {}),
      remaining: times,
    });
    return undefined;
  }

  /** `{"rateLimit": {}}` turns EC2's deregister/delete bucket on (100 burst, 5/s); `{"rateLimit": null}` off. */
  private setRateLimit(input: Record<string, unknown> | null): void {
    if (input === null) {
      this.rateLimit = undefined;
      return;
    }
    const capacity = (input.capacity as number | undefined) ?? 100;
    this.rateLimit = {
      service: (input.service as string | undefined) ?? 'ec2',
      actions: (input.actions as string[] | undefined) ?? ['DeregisterImage', 'DeleteSnapshot'],
      capacity,
      perSecond: (input.perSecond as number | undefined) ?? 5,
      tokens: capacity,
      last: Date.now(),
      refused: 0,
    };
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
