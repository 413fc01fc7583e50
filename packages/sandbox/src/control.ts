/**
 * `/_sandbox`: the control endpoint (not AWS) for tests and demos: health, the clock, faults,
 * EC2's request buckets, a summary of the state, and events AWS itself would emit.
 *
 * `POST /_sandbox/events/emit` `{"source":"aws.cloudwatch","detailType":"CloudWatch Alarm State
 * Change","detail":{…},"resources":["arn:…"],"region":"us-east-1"}` puts an event on the region's
 * default bus as the AWS service would (`runtime.emit`): for what the sandbox does not emulate
 * (CloudWatch alarms changing state). Customers cannot put `aws.*` sources with PutEvents (the
 * sandbox refuses them as AWS does), so this is the only way in, and only for `aws.*` sources.
 *
 * Input is checked whole before anything changes: a wrong type, a value out of range or a field
 * the route does not take answers 400 with the field and what it takes, and changes nothing.
 */
import { MAX_CLOCK_MS, MAX_SPEED, type SandboxClock } from './clock';
import type { Faults } from './faults';
import { isNumber, isRecord, unknownField } from './input';
import type { SandboxRuntime } from './runtime';
import type { SandboxService } from './service';
import type { Store } from './store';

/**
 * What `GET /_sandbox/health` answers: 200 once the sandbox serves what it was started to serve
 * (its stacks provisioned, or nothing to provision), 503 while provisioning or after it failed.
 */
export type Readiness =
  | { readonly status: 'provisioning' }
  | { readonly status: 'ready'; readonly provisioned?: string }
  | { readonly status: 'failed'; readonly error: string };

export interface ControlDeps {
  readonly store: Store;
  readonly clock: SandboxClock;
  readonly faults: Faults;
  readonly services: ReadonlyMap<string, SandboxService>;
  /** Emits AWS's own events (`POST /_sandbox/events/emit`); without it the route answers 503. */
  readonly runtime?: Pick<SandboxRuntime, 'emit'>;
  /** Where provisioning is; ready when omitted. */
  readonly readiness?: () => Readiness;
}

export interface ControlReply {
  readonly status: number;
  readonly body: unknown;
}

const problem = (status: number, message: string): ControlReply => ({ status, body: { error: message } });

const parse = (body: string): { ok: true; value: unknown } | { ok: false } => {
  if (body.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch {
    return { ok: false };
  }
};

const EVENT_FIELDS = ['source', 'detailType', 'detail', 'resources', 'region'] as const;

/** `POST /_sandbox/events/emit`: an `aws.*` event on the default bus, as the service would put it. */
const emitServiceEvent = (body: string, deps: ControlDeps): ControlReply => {
  const parsed = parse(body);
  if (!parsed.ok || !isRecord(parsed.value)) return problem(400, 'body must be a JSON object');
  const unknown = unknownField(parsed.value, EVENT_FIELDS);
  if (unknown !== undefined) return problem(400, `unknown field ${unknown}: an event takes ${EVENT_FIELDS.join(', ')}`);
  const { source, detailType, detail, resources, region } = parsed.value;
  if (typeof source !== 'string' || !source.startsWith('aws.')) {
    return problem(
      400,
      'source must be an AWS service source such as aws.cloudwatch (events of your own: PutEvents on the bus)',
    );
  }
  if (typeof detailType !== 'string' || detailType.trim() === '') {
    return problem(400, "detailType must name the event, e.g. 'CloudWatch Alarm State Change'");
  }
  if (!isRecord(detail)) return problem(400, 'detail must be a JSON object');
  if (resources !== undefined && !(Array.isArray(resources) && resources.every((r) => typeof r === 'string'))) {
    return problem(400, 'resources must be a list of ARNs');
  }
  if (region !== undefined && (typeof region !== 'string' || !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region))) {
    return problem(400, 'region must be a region name such as us-east-1');
  }
  if (!deps.runtime) return problem(503, 'this sandbox cannot emit service events (no runtime)');
  deps.runtime.emit({
    source,
    detailType,
    detail,
    ...(resources === undefined ? {} : { resources: resources as string[] }),
    ...(region === undefined ? {} : { region }),
  });
  return { status: 200, body: { emitted: { source, detailType, bus: 'default', region: region ?? null } } };
};

const clockBody = (clock: SandboxClock) => ({ now: clock.now().toISOString(), speed: clock.speed });

const CLOCK_FIELDS = ['advanceSeconds', 'speed'] as const;

/**
 * `POST /_sandbox/clock`: every field checked before anything moves, so a refused request
 * changes nothing (not even half of it).
 */
const moveClock = (body: string, deps: ControlDeps): ControlReply => {
  const parsed = parse(body);
  if (!parsed.ok || !isRecord(parsed.value)) {
    return problem(400, 'body must be a JSON object, e.g. {"advanceSeconds": 3600}');
  }
  const input = parsed.value;
  const unknown = unknownField(input, CLOCK_FIELDS);
  if (unknown !== undefined) {
    return problem(400, `unknown field ${unknown}: POST /_sandbox/clock takes advanceSeconds and/or speed`);
  }
  const { advanceSeconds, speed } = input;
  if (advanceSeconds === undefined && speed === undefined) {
    return problem(400, 'give advanceSeconds (a number of seconds, 0 or more) and/or speed (0 or more)');
  }
  if (advanceSeconds !== undefined) {
    if (!isNumber(advanceSeconds) || advanceSeconds < 0) {
      return problem(400, 'advanceSeconds must be a number of seconds, 0 or more');
    }
    const latest = new Date(MAX_CLOCK_MS).toISOString();
    if (advanceSeconds > deps.clock.secondsUntilEnd()) {
      return problem(
        400,
        `advanceSeconds ${advanceSeconds} would move the clock past ${latest}, the latest it reads: at most ${Math.floor(deps.clock.secondsUntilEnd())} from now`,
      );
    }
  }
  if (speed !== undefined && !(isNumber(speed) && speed >= 0 && speed <= MAX_SPEED)) {
    return problem(
      400,
      `speed must be a number, 0 or more and at most ${MAX_SPEED} (sandbox seconds per real second; 0 freezes the clock)`,
    );
  }
  if (isNumber(advanceSeconds)) deps.clock.advance(advanceSeconds);
  if (isNumber(speed)) deps.clock.setSpeed(speed);
  deps.store.recordClock(deps.clock.nowMs());
  return { status: 200, body: clockBody(deps.clock) };
};

const addFault = (body: string, deps: ControlDeps): ControlReply => {
  const parsed = parse(body);
  if (!parsed.ok || !isRecord(parsed.value)) {
    return problem(400, 'body must be a JSON object, e.g. {"service":"ec2","action":"RunInstances","error":"Boom"}');
  }
  // Faults.add checks the fault whole and changes nothing when it refuses it.
  const error = deps.faults.add(parsed.value);
  return error ? problem(400, error) : { status: 200, body: deps.faults.list() };
};

/** The EC2 actions the sandbox implements (their buckets are listed and may be set). */
const ec2Actions = (deps: ControlDeps): readonly string[] => {
  const ec2 = deps.services.get('ec2');
  return ec2 && 'actions' in ec2 ? Object.keys(ec2.actions).sort() : [];
};

const rateLimitsBody = (deps: ControlDeps) => deps.faults.ec2RateLimits.report(ec2Actions(deps));

/**
 * `POST /_sandbox/ec2/rate-limits` `{"rateLimits": "off" | "default" | {Action: {capacity, perSecond}}}`:
 * EC2's request buckets (`services/ec2/rate-limits.ts`), checked whole before anything changes.
 */
const setRateLimits = (body: string, deps: ControlDeps): ControlReply => {
  const parsed = parse(body);
  if (!parsed.ok || !isRecord(parsed.value)) {
    return problem(400, 'body must be a JSON object, e.g. {"rateLimits": "off"}');
  }
  const unknown = unknownField(parsed.value, ['rateLimits']);
  if (unknown !== undefined || !('rateLimits' in parsed.value)) {
    return problem(
      400,
      `${unknown === undefined ? 'give rateLimits' : `unknown field ${unknown}`}: POST /_sandbox/ec2/rate-limits takes rateLimits ("off", "default" or {"DescribeImageAttribute":{"capacity":100,"perSecond":20}})`,
    );
  }
  const error = deps.faults.ec2RateLimits.configure(parsed.value.rateLimits, ec2Actions(deps));
  return error ? problem(400, error) : { status: 200, body: rateLimitsBody(deps) };
};

const health = (deps: ControlDeps): ControlReply => {
  const readiness = deps.readiness?.() ?? { status: 'ready' };
  const services = [...deps.services.keys()];
  return { status: readiness.status === 'ready' ? 200 : 503, body: { ...readiness, services } };
};

export const handleControl = (method: string, path: string, body: string, deps: ControlDeps): ControlReply => {
  const route = `${method} ${path.replace(/\/+$/, '')}`;
  switch (route) {
    case 'GET /_sandbox/health':
      return health(deps);
    case 'GET /_sandbox/clock':
      return { status: 200, body: clockBody(deps.clock) };
    case 'POST /_sandbox/clock':
      return moveClock(body, deps);
    case 'GET /_sandbox/faults':
      return { status: 200, body: deps.faults.list() };
    case 'POST /_sandbox/faults':
      return addFault(body, deps);
    case 'DELETE /_sandbox/faults':
      deps.faults.clear();
      return { status: 200, body: deps.faults.list() };
    case 'GET /_sandbox/ec2/rate-limits':
      return { status: 200, body: rateLimitsBody(deps) };
    case 'POST /_sandbox/ec2/rate-limits':
      return setRateLimits(body, deps);
    case 'DELETE /_sandbox/ec2/rate-limits/counters':
      deps.faults.ec2RateLimits.resetCounters();
      return { status: 200, body: rateLimitsBody(deps) };
    case 'POST /_sandbox/events/emit':
      return emitServiceEvent(body, deps);
    case 'GET /_sandbox/state':
      return { status: 200, body: { clock: clockBody(deps.clock), counts: deps.store.counts() } };
    default:
      return problem(404, `no control route ${route}; see packages/sandbox/README.md`);
  }
};
