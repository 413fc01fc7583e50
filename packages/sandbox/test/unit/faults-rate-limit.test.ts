import { describe, expect, it } from 'vitest';
import { Faults } from '../../src/faults';

describe("the sandbox's EC2 deregister/delete bucket (POST /_sandbox/faults rateLimit)", () => {
  it('is off by default', () => {
    // Prepare
    const faults = new Faults();
    // Act / Assess
    for (let i = 0; i < 500; i++) expect(() => faults.check('ec2', 'DeregisterImage')).not.toThrow();
  });

  it('answers RequestLimitExceeded once the burst is spent, for the bucket actions only', () => {
    // Prepare
    const faults = new Faults();
    expect(faults.add({ rateLimit: { capacity: 3, perSecond: 0.001 } })).toBeUndefined();
    // Act
    for (let i = 0; i < 3; i++) faults.check('ec2', 'DeleteSnapshot');
    // Assess
    expect(() => faults.check('ec2', 'DeregisterImage')).toThrow(
      expect.objectContaining({ code: 'RequestLimitExceeded' }),
    );
    expect(() => faults.check('ec2', 'DescribeImages')).not.toThrow();
    expect(faults.list().rateLimit?.refused).toBe(1);
  });

  it('is switched off with null and refuses a malformed setting', () => {
    // Prepare
    const faults = new Faults();
    faults.add({ rateLimit: { capacity: 1, perSecond: 0.001 } });
    // Act
    faults.add({ rateLimit: null });
    // Assess
    for (let i = 0; i < 5; i++) expect(() => faults.check('ec2', 'DeleteSnapshot')).not.toThrow();
    expect(faults.add({ rateLimit: { capacity: 0 } })).toContain('capacity');
  });
});
