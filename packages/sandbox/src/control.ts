/**
 * `/_sandbox`: the control endpoint (not AWS) for tests and demos: health, the clock, faults,
 * and a summary of the state.
 */
import type { SandboxClock } from './clock';
import type { Faults } from './faults';
import type { SandboxService } from './service';
import type { Store } from './store';

export interface ControlDeps {
  readonly store: Store;
  readonly clock: SandboxClock;
  readonly faults: Faults;
  readonly services: ReadonlyMap<string, SandboxService>;
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
    case 'GET /_sandbox/state':
      return { status: 200, body: { clock: clockBody(deps.clock), counts: deps.store.counts() } };
    default:
      return problem(404, `no control route ${route}; see packages/sandbox/README.md`);
  }
};
