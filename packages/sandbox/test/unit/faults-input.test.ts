/**
 * Faults.add checks a fault whole, whoever calls it (the control endpoint, a test, a tool): a
 * malformed one is refused with the field and what it takes, and no fault changes.
 */
import { describe, expect, it } from 'vitest';
import { Faults } from '../../src/faults';

describe('Faults.add with a malformed fault', () => {
  const refused: readonly (readonly [string, unknown, RegExp])[] = [
    ['times of 1e308', { service: 'ec2', action: 'RunInstances', error: 'Boom', times: 1e308 }, /times.*1000000/],
    ['times given as text', { service: 'ec2', action: 'RunInstances', error: 'Boom', times: '3' }, /times/],
    ['a status of 200', { service: 'ec2', action: 'RunInstances', error: 'Boom', status: 200 }, /status.*400.*599/],
    ['a message that is not text', { service: 'ec2', action: 'RunInstances', error: 'Boom', message: 42 }, /message/],
    ['an unknown field', { service: 'ec2', action: 'RunInstances', error: 'Boom', delay: 5 }, /unknown field delay/],
    ['runCommand times of 0', { runCommand: { match: 'dnf', times: 0 } }, /runCommand\.times/],
    ['runCommand that is not an object', { runCommand: 'dnf' }, /runCommand must be an object/],
    ['an unknown runCommand field', { runCommand: { match: 'dnf', exitCode: 1 } }, /runCommand\.exitCode/],
    ['rateLimit capacity of 1e9', { rateLimit: { capacity: 1e9 } }, /rateLimit\.capacity/],
    ['rateLimit perSecond of Infinity', { rateLimit: { perSecond: Number.POSITIVE_INFINITY } }, /perSecond/],
    ['rateLimit service of 5', { rateLimit: { service: 5 } }, /rateLimit\.service/],
    ['rateLimit with another fault', { rateLimit: {}, service: 'ec2' }, /rateLimit.*alone.*service/],
    ['a fault that is a list', [{ service: 'ec2' }], /JSON object/],
    ['a fault of null', null, /JSON object/],
  ];

  it.each(refused)('refuses %s, naming the field, and changes no fault', (_, input, reason) => {
    // Prepare
    const faults = new Faults();
    faults.add({ service: 'ec2', action: 'DescribeImages', error: 'Boom', times: 2 });
    const before = structuredClone(faults.list());

    // Act
    const problem = faults.add(input);

    // Assess
    expect(problem).toMatch(reason);
    expect(faults.list()).toEqual(before);
  });

  it('adds a well-formed fault of each kind', () => {
    // Prepare
    const faults = new Faults();

    // Act
    const problems = [
      faults.add({ service: 'ec2', action: 'DeregisterImage', error: 'RequestLimitExceeded', times: 3 }),
      faults.add({ runCommand: { match: 'dnf', status: 'TimedOut' }, times: 2 }),
      faults.add({ rateLimit: { capacity: 10, perSecond: 1 } }),
    ];

    // Assess
    expect(problems).toEqual([undefined, undefined, undefined]);
    expect(faults.list()).toMatchObject({
      api: [{ service: 'ec2', action: 'DeregisterImage', error: 'RequestLimitExceeded', remaining: 3 }],
      runCommand: [{ match: 'dnf', status: 'TimedOut', remaining: 2 }],
      rateLimit: { capacity: 10, perSecond: 1, service: 'ec2' },
    });
  });
});
