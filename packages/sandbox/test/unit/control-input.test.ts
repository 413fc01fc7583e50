/**
 * Bad input to the control endpoint: HTTP 400 naming the field and what it takes, and nothing
 * changed (the clock, its speed, the recorded reading, the faults read back the same).
 */
import { describe, expect, it, vi } from 'vitest';
import { SandboxClock } from '../../src/clock';
import { type ControlDeps, handleControl } from '../../src/control';
import { Faults } from '../../src/faults';
import type { Store } from '../../src/store';

const START_MS = Date.UTC(2026, 11, 5, 12, 0, 0);

const sandboxWith = () => {
  const recordClock = vi.fn();
  const deps: ControlDeps = {
    store: { recordClock, counts: () => ({}) } as unknown as Store,
    clock: new SandboxClock({ speed: 0, startMs: START_MS, realNow: () => 0 }),
    faults: new Faults(),
    services: new Map(),
  };
  const call = (method: string, path: string, body: unknown = '') =>
    handleControl(method, path, typeof body === 'string' ? body : JSON.stringify(body), deps);
  return { deps, call, recordClock };
};

const errorOf = (reply: { body: unknown }): string => (reply.body as { error: string }).error;

describe('POST /_sandbox/clock with bad input', () => {
  const refused: readonly (readonly [string, string, RegExp])[] = [
    ['an advance of 1e308 seconds', '{"advanceSeconds":1e308}', /advanceSeconds.*9999-12-31/],
    [
      'an advance past year 9999',
      JSON.stringify({ advanceSeconds: 8000 * 365 * 86_400 }),
      /advanceSeconds.*9999-12-31/,
    ],
    ['a negative advance', '{"advanceSeconds":-1}', /advanceSeconds.*0 or more/],
    ['an advance given as text', '{"advanceSeconds":"3600"}', /advanceSeconds.*number/],
    ['an advance of "NaN"', '{"advanceSeconds":"NaN"}', /advanceSeconds.*number/],
    ['an advance of "Infinity"', '{"advanceSeconds":"Infinity"}', /advanceSeconds.*number/],
    ['an advance of null', '{"advanceSeconds":null}', /advanceSeconds.*number/],
    ['an advance of true', '{"advanceSeconds":true}', /advanceSeconds.*number/],
    ['a speed of 1e308', '{"speed":1e308}', /speed.*1000000/],
    ['a negative speed', '{"speed":-1}', /speed.*0 or more/],
    ['a speed of "NaN"', '{"speed":"NaN"}', /speed.*number/],
    ['a speed given as a list', '{"speed":[600]}', /speed.*number/],
    ['a good advance with a bad speed', '{"advanceSeconds":3600,"speed":-1}', /speed/],
    ['a good speed with a bad advance', '{"speed":60,"advanceSeconds":-1}', /advanceSeconds/],
    ['an unknown field', '{"advanceSeconds":60,"setTime":"2030-01-01T00:00:00Z"}', /setTime.*advanceSeconds.*speed/],
    ['neither field', '{}', /advanceSeconds.*speed/],
    ['a body that is not an object', '[60]', /JSON object/],
    ['a body of null', 'null', /JSON object/],
    ['a body that is not JSON', 'advance 60', /JSON/],
  ];

  it.each(refused)('refuses %s with 400 and the reason, and leaves the clock as it was', (_, body, reason) => {
    // Prepare
    const { call, recordClock } = sandboxWith();
    const before = call('GET', '/_sandbox/clock').body;

    // Act
    const reply = call('POST', '/_sandbox/clock', body);

    // Assess
    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatch(reason);
    expect(call('GET', '/_sandbox/clock').body).toEqual(before);
    expect(recordClock).not.toHaveBeenCalled();
  });

  it('still moves the clock as far as the end of year 9999 and no further', () => {
    // Prepare
    const { call } = sandboxWith();
    const toEnd = (Date.UTC(9999, 11, 31, 23, 59, 59, 999) - START_MS) / 1000;

    // Act
    const reply = call('POST', '/_sandbox/clock', { advanceSeconds: toEnd });
    const further = call('POST', '/_sandbox/clock', { advanceSeconds: 1 });

    // Assess
    expect(reply).toEqual({ status: 200, body: { now: '9999-12-31T23:59:59.999Z', speed: 0 } });
    expect(further.status).toBe(400);
    expect(call('GET', '/_sandbox/clock').body).toEqual({ now: '9999-12-31T23:59:59.999Z', speed: 0 });
  });

  it('applies a good advance and speed together and records the reading', () => {
    // Prepare
    const { call, recordClock } = sandboxWith();

    // Act
    const reply = call('POST', '/_sandbox/clock', { advanceSeconds: 3600, speed: 60 });

    // Assess
    expect(reply).toEqual({ status: 200, body: { now: new Date(START_MS + 3_600_000).toISOString(), speed: 60 } });
    expect(recordClock).toHaveBeenCalledWith(START_MS + 3_600_000);
  });
});

describe('POST /_sandbox/faults with bad input', () => {
  const refused: readonly (readonly [string, unknown, RegExp])[] = [
    ['times of 1e308', { service: 'ec2', action: 'RunInstances', error: 'Boom', times: 1e308 }, /times.*1000000/],
    ['times of -1', { service: 'ec2', action: 'RunInstances', error: 'Boom', times: -1 }, /times.*positive integer/],
    ['times given as text', { service: 'ec2', action: 'RunInstances', error: 'Boom', times: '3' }, /times/],
    [
      'a status that is no HTTP error',
      { service: 'ec2', action: 'RunInstances', error: 'Boom', status: 1e308 },
      /status.*400.*599/,
    ],
    ['a message that is not text', { service: 'ec2', action: 'RunInstances', error: 'Boom', message: 42 }, /message/],
    ['a missing action', { service: 'ec2', error: 'Boom' }, /action/],
    ['an unknown field', { service: 'ec2', action: 'RunInstances', error: 'Boom', delay: 5 }, /delay/],
    ['runCommand times of "NaN"', { runCommand: { match: 'dnf', times: 'NaN' } }, /runCommand\.times/],
    ['runCommand times of 0', { runCommand: { match: 'dnf', times: 0 } }, /runCommand\.times/],
    ['runCommand that is not an object', { runCommand: 'dnf' }, /runCommand/],
    ['an unknown runCommand field', { runCommand: { match: 'dnf', exitCode: 1 } }, /runCommand.*exitCode/],
    ['rateLimit perSecond of 1e308', { rateLimit: { perSecond: 1e308 } }, /rateLimit\.perSecond/],
    ['rateLimit capacity of -1', { rateLimit: { capacity: -1 } }, /rateLimit\.capacity/],
    ['rateLimit service of 5', { rateLimit: { service: 5 } }, /rateLimit\.service/],
    ['an unknown rateLimit field', { rateLimit: { burst: 5 } }, /rateLimit.*burst/],
    ['rateLimit with another fault', { rateLimit: {}, times: 2 }, /rateLimit.*times/],
    ['a body that is a list', [{ service: 'ec2' }], /JSON object/],
    ['a body of null', null, /JSON object/],
  ];

  it.each(refused)('refuses %s with 400 and the reason, and adds no fault', (_, body, reason) => {
    // Prepare
    const { call } = sandboxWith();
    const before = structuredClone(call('GET', '/_sandbox/faults').body);

    // Act
    const reply = call('POST', '/_sandbox/faults', body);

    // Assess
    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatch(reason);
    expect(call('GET', '/_sandbox/faults').body).toEqual(before);
  });

  it('adds a well-formed fault of each kind', () => {
    // Prepare
    const { call } = sandboxWith();

    // Act
    const api = call('POST', '/_sandbox/faults', {
      service: 'ec2',
      action: 'DeregisterImage',
      error: 'RequestLimitExceeded',
      message: 'slow down',
      status: 503,
      times: 3,
    });
    const runCommand = call('POST', '/_sandbox/faults', { runCommand: { match: 'dnf', status: 'TimedOut', times: 2 } });
    const rateLimit = call('POST', '/_sandbox/faults', { rateLimit: { capacity: 10, perSecond: 1 } });

    // Assess
    expect([api.status, runCommand.status, rateLimit.status]).toEqual([200, 200, 200]);
    expect(call('GET', '/_sandbox/faults').body).toMatchObject({
      api: [{ service: 'ec2', action: 'DeregisterImage', error: 'RequestLimitExceeded', status: 503, remaining: 3 }],
      runCommand: [{ match: 'dnf', status: 'TimedOut', remaining: 2 }],
      rateLimit: { capacity: 10, perSecond: 1 },
    });
  });
});

describe('POST /_sandbox/events/emit with bad input', () => {
  it('refuses an unknown field with 400 naming it, and emits nothing', () => {
    // Prepare
    const emit = vi.fn();
    const { deps } = sandboxWith();
    const body = {
      source: 'aws.cloudwatch',
      detailType: 'CloudWatch Alarm State Change',
      detail: {},
      detailtype: 'typo',
    };

    // Act
    const reply = handleControl('POST', '/_sandbox/events/emit', JSON.stringify(body), { ...deps, runtime: { emit } });

    // Assess
    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatch(/detailtype.*source, detailType, detail, resources, region/);
    expect(emit).not.toHaveBeenCalled();
  });
});
