/**
 * `/_sandbox`: the control endpoint (not AWS) for tests and demos: health, the clock, faults,
 * a summary of the state, and events AWS itself would emit.
 *
 * `POST /_sandbox/events/emit` `{"source":"aws.cloudwatch","detailType":"CloudWatch Alarm State
 * Change","detail":{…},"resources":["arn:…"],"region":"us-east-1"}` puts an event on the region's
 * default bus as the AWS service would (`runtime.emit`): for what the sandbox does not emulate
 * (CloudWatch alarms changing state). Customers cannot put `aws.*` sources with PutEvents (the
 * sandbox refuses them as AWS does), so this is the only way in, and only for `aws.*` sources.
 */
import type { SandboxClock } from './clock';
import type { Faults } from './faults';
import type { SandboxRuntime } from './runtime';
import type { SandboxService } from './service';
import type { Store } from './store';

export interface ControlDeps {
  readonly store: Store;
  readonly clock: SandboxClock;
  readonly faults: Faults;
  readonly services: ReadonlyMap<string, SandboxService>;
  /** Emits AWS's own events (`POST /_sandbox/events/emit`); without it the route answers 503. */
  readonly runtime?: Pick<SandboxRuntime, 'emit'>;
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

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `POST /_sandbox/events/emit`: an `aws.*` event on the default bus, as the service would put it. */
const emitServiceEvent = (body: string, deps: ControlDeps): ControlReply => {
  const parsed = parse(body);
  if (!parsed.ok || !isRecord(parsed.value)) return problem(400, 'body must be a JSON object');
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

export const handleControl = (method: string, path: string, body: string, deps: ControlDeps): ControlReply => {
  const route = `${method} ${path.replace(/\/+$/, '')}`;
  switch (route) {
    case 'GET /_sandbox/health':
      return { status: 200, body: { status: 'ready', services: [...deps.services.keys()] } };
    case 'GET /_sandbox/clock':
      return { status: 200, body: clockBody(deps.clock) };
    case 'POST /_sandbox/clock': {
      const parsed = parse(body);
      if (!parsed.ok) return problem(400, 'body must be JSON, e.g. {"advanceSeconds": 3600}');
      const input = parsed.value as { advanceSeconds?: unknown; speed?: unknown };
      if (input.advanceSeconds === undefined && input.speed === undefined) {
        return problem(400, 'give advanceSeconds (a positive number) and/or speed (0 or more)');
      }
      if (input.advanceSeconds !== undefined) {
        const seconds = Number(input.advanceSeconds);
        if (!Number.isFinite(seconds) || seconds < 0)
          return problem(400, 'advanceSeconds must be a number of 0 or more');
        deps.clock.advance(seconds);
      }
      if (input.speed !== undefined) {
        const speed = Number(input.speed);
        if (!Number.isFinite(speed) || speed < 0) return problem(400, 'speed must be a number of 0 or more');
        deps.clock.setSpeed(speed);
      }
      deps.store.recordClock(deps.clock.nowMs());
      return { status: 200, body: clockBody(deps.clock) };
    }
    case 'GET /_sandbox/faults':
      return { status: 200, body: deps.faults.list() };
    case 'POST /_sandbox/faults': {
      const parsed = parse(body);
      if (!parsed.ok) return problem(400, 'body must be JSON');
      const error = deps.faults.add(parsed.value);
      return error ? problem(400, error) : { status: 200, body: deps.faults.list() };
    }
    case 'DELETE /_sandbox/faults':
      deps.faults.clear();
      return { status: 200, body: deps.faults.list() };
    case 'POST /_sandbox/events/emit':
      return emitServiceEvent(body, deps);
    case 'GET /_sandbox/state':
      return { status: 200, body: { clock: clockBody(deps.clock), counts: deps.store.counts() } };
    default:
      return problem(404, `no control route ${route}; see packages/sandbox/README.md`);
  }
};
