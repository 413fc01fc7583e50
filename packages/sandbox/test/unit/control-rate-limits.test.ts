/**
 * `/_sandbox/ec2/rate-limits`: EC2's request buckets listed, set and their counters reset; bad
 * input answers 400 naming the field and changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { SandboxClock } from '../../src/clock';
import { type ControlDeps, handleControl } from '../../src/control';
import { Faults } from '../../src/faults';
import { ec2 } from '../../src/services/ec2';
import type { Store } from '../../src/store';

const sandboxWith = () => {
  const deps: ControlDeps = {
    store: { recordClock: () => undefined, counts: () => ({}) } as unknown as Store,
    clock: new SandboxClock({ speed: 0, startMs: 0, realNow: () => 0 }),
    faults: new Faults(),
    services: new Map([['ec2', ec2]]),
  };
  const call = (method: string, path: string, body: unknown = '') =>
    handleControl(method, path, typeof body === 'string' ? body : JSON.stringify(body), deps);
  return { deps, call };
};

const admitted = (faults: Faults, count: number): number => {
  let done = 0;
  for (let i = 0; i < count; i++) {
    try {
      faults.ec2RateLimits.admit({
        action: 'DescribeImages',
        params: new Map(),
        account: '123456789012',
        region: 'us-east-1',
        sandboxMs: 0,
      });
      done += 1;
    } catch {
      // refused
    }
  }
  return done;
};

describe('GET /_sandbox/ec2/rate-limits', () => {
  it('lists every EC2 action the sandbox implements with its category and bucket, on by default', () => {
    // Prepare
    const { call } = sandboxWith();
    // Act
    const reply = call('GET', '/_sandbox/ec2/rate-limits');
    // Assess
    const body = reply.body as { enabled: boolean; limits: Record<string, unknown> };
    expect(reply.status).toBe(200);
    expect(body.enabled).toBe(true);
    expect(Object.keys(body.limits)).toEqual(Object.keys(ec2.actions).sort());
    expect(body.limits.DescribeInstances).toEqual({
      category: 'non-mutating',
      capacity: 100,
      perSecond: 20,
      unfilteredAndUnpaginated: { capacity: 50, perSecond: 10 },
    });
    expect(body.limits.RunInstances).toEqual({
      category: 'uncategorized',
      capacity: 5,
      perSecond: 2,
      resources: { capacity: 1000, perSecond: 2 },
    });
  });
});

describe('POST /_sandbox/ec2/rate-limits and DELETE its counters', () => {
  it('turns the buckets off and resets the counters', () => {
    // Prepare
    const { call, deps } = sandboxWith();
    admitted(deps.faults, 101);
    // Act
    const off = call('POST', '/_sandbox/ec2/rate-limits', { rateLimits: 'off' });
    const reset = call('DELETE', '/_sandbox/ec2/rate-limits/counters');
    // Assess
    expect(off.status).toBe(200);
    expect((off.body as { throttled: number }).throttled).toBe(1);
    expect(admitted(deps.faults, 500)).toBe(500);
    expect(reset.body).toMatchObject({ enabled: false, admitted: 0, throttled: 0, calls: {} });
  });

  it.each([
    ['a body that is not an object', '[1]', /body must be a JSON object/],
    ['a body without rateLimits', {}, /give rateLimits/],
    ['another field', { rateLimits: 'off', speed: 1 }, /unknown field speed/],
    ['"on"', { rateLimits: 'on' }, /"off", "default" or an object/],
    [
      'an action the sandbox does not implement',
      { rateLimits: { DescribeHosts: { capacity: 1, perSecond: 1 } } },
      /DescribeHosts is not an EC2 action the sandbox implements/,
    ],
    [
      'a negative refill',
      { rateLimits: { DescribeImages: { capacity: 1, perSecond: -1 } } },
      /rateLimits\.DescribeImages\.perSecond/,
    ],
  ])('refuses %s with 400 and changes nothing', (_, body, message) => {
    // Prepare
    const { call, deps } = sandboxWith();
    // Act
    const reply = call('POST', '/_sandbox/ec2/rate-limits', body);
    // Assess
    expect(reply.status).toBe(400);
    expect((reply.body as { error: string }).error).toMatch(message);
    expect(admitted(deps.faults, 101)).toBe(100);
  });
});
