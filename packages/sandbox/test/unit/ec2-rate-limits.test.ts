import { describe, expect, it } from 'vitest';
import { AwsError } from '../../src/errors';
import { Faults } from '../../src/faults';
import { Ec2RateLimits, refilledTokens, requestBucketOf } from '../../src/services/ec2/rate-limits';

/** A bucket set on a real clock the test moves by hand. */
const limitsOnHandClock = () => {
  const real = { ms: 1_000_000 };
  const limits = new Ec2RateLimits({ realNow: () => real.ms });
  return { real, limits };
};

const call = (
  action: string,
  params: Record<string, string> = {},
  over: { sandboxMs?: number; region?: string; account?: string } = {},
) => ({
  action,
  params: new Map(Object.entries(params)),
  account: over.account ?? '123456789012',
  region: over.region ?? 'us-east-1',
  sandboxMs: over.sandboxMs ?? 0,
});

/** How many of `count` calls the buckets admit (the others are refused with RequestLimitExceeded). */
const admittedOf = (limits: Ec2RateLimits, count: number, make: () => ReturnType<typeof call>): number => {
  let admitted = 0;
  for (let i = 0; i < count; i++) {
    try {
      limits.admit(make());
      admitted += 1;
    } catch (error) {
      if (!(error instanceof AwsError) || error.code !== 'RequestLimitExceeded') throw error;
    }
  }
  return admitted;
};

describe('EC2 request buckets: categories of "Request throttling for the Amazon EC2 API"', () => {
  it.each([
    ['DescribeImageAttribute', {}, 'non-mutating', 100, 20],
    ['DescribeImages', {}, 'non-mutating', 100, 20],
    ['DescribeInstances', {}, 'unfiltered and unpaginated non-mutating', 50, 10],
    [
      'DescribeInstances',
      { 'Filter.1.Name': 'instance-state-name', 'Filter.1.Value.1': 'running' },
      'non-mutating',
      100,
      20,
    ],
    ['DescribeSnapshots', { MaxResults: '1000' }, 'non-mutating', 100, 20],
    ['DescribeVolumes', { NextToken: 'abc' }, 'non-mutating', 100, 20],
    ['DescribeSnapshots', { 'OwnerId.1': 'self' }, 'unfiltered and unpaginated non-mutating', 50, 10],
    ['CreateImage', {}, 'mutating', 50, 5],
    ['EnableImageDeprecation', {}, 'mutating', 50, 5],
    ['StopInstances', {}, 'mutating', 50, 5],
    ['AuthorizeSecurityGroupIngress', {}, 'resource-intensive', 50, 5],
    ['DeregisterImage', {}, 'uncategorized', 100, 5],
    ['DeleteSnapshot', {}, 'uncategorized', 100, 5],
    ['CopyImage', {}, 'uncategorized', 100, 1],
    ['CreateTags', {}, 'uncategorized', 100, 10],
    ['RunInstances', {}, 'uncategorized', 5, 2],
    ['ListImagesInRecycleBin', {}, 'non-mutating', 100, 20],
    ['ReplaceRoute', {}, 'mutating', 50, 5],
  ] as const)('%s %j: %s, %i tokens refilled %i a second', (action, params, category, capacity, perSecond) => {
    // Act
    const bucket = requestBucketOf(action, new Map(Object.entries(params)));
    // Assess
    expect(bucket.category).toBe(category);
    expect(bucket.limit).toEqual({ capacity, perSecond });
  });

  it('gives the unfiltered and unpaginated calls of an action a bucket of their own', () => {
    // Act
    const unfiltered = requestBucketOf('DescribeInstances', new Map());
    const filtered = requestBucketOf('DescribeInstances', new Map([['Filter.1.Name', 'tag:x']]));
    // Assess
    expect(unfiltered.name).not.toBe(filtered.name);
  });
});

describe('EC2 request bucket maths', () => {
  it('refills by the larger of the real and the sandbox time elapsed, up to the capacity', () => {
    // Prepare
    const limit = { capacity: 100, perSecond: 20 };
    const state = { tokens: 0, realMs: 0, sandboxMs: 0 };
    // Act / Assess
    expect(refilledTokens(state, limit, { realMs: 1000, sandboxMs: 0 })).toBe(20); // frozen clock: real time
    expect(refilledTokens(state, limit, { realMs: 100, sandboxMs: 2000 })).toBe(40); // fast clock: sandbox time
    expect(refilledTokens(state, limit, { realMs: 10, sandboxMs: 3_600_000 })).toBe(100); // a move: full
    expect(refilledTokens({ ...state, tokens: 99 }, limit, { realMs: 1000, sandboxMs: 1000 })).toBe(100);
  });

  it('admits a burst of 100 DescribeImageAttribute, refuses the 101st with RequestLimitExceeded (503), other actions unaffected', () => {
    // Prepare
    const { limits } = limitsOnHandClock();
    // Act
    const admitted = admittedOf(limits, 100, () => call('DescribeImageAttribute'));
    let refused: unknown;
    try {
      limits.admit(call('DescribeImageAttribute'));
    } catch (error) {
      refused = error;
    }
    // Assess
    expect(admitted).toBe(100);
    expect(refused).toBeInstanceOf(AwsError);
    expect(refused).toMatchObject({ code: 'RequestLimitExceeded', status: 503, message: 'Request limit exceeded.' });
    expect(admittedOf(limits, 100, () => call('DescribeImages'))).toBe(100);
    expect(limits.report([]).calls).toEqual({
      DescribeImageAttribute: { admitted: 100, throttled: 1 },
      DescribeImages: { admitted: 100, throttled: 0 },
    });
  });

  it('refills 20 a second of real time while the sandbox clock is frozen', () => {
    // Prepare
    const { real, limits } = limitsOnHandClock();
    admittedOf(limits, 100, () => call('DescribeImageAttribute'));
    // Act
    real.ms += 1000;
    const admitted = admittedOf(limits, 30, () => call('DescribeImageAttribute'));
    // Assess
    expect(admitted).toBe(20);
  });

  it('refills on sandbox time when the clock runs faster than real time, and all at once when it is moved', () => {
    // Prepare
    const { real, limits } = limitsOnHandClock();
    admittedOf(limits, 100, () => call('DescribeImageAttribute', {}, { sandboxMs: 0 }));
    // Act: 50 ms of real time is 2.5 s on a clock at 50x
    real.ms += 50;
    const fast = admittedOf(limits, 100, () => call('DescribeImageAttribute', {}, { sandboxMs: 2500 }));
    const moved = admittedOf(limits, 200, () => call('DescribeImageAttribute', {}, { sandboxMs: 3_602_500 }));
    // Assess
    expect(fast).toBe(50);
    expect(moved).toBe(100);
  });

  it('keeps a bucket per account, per region and per action', () => {
    // Prepare
    const { limits } = limitsOnHandClock();
    // Act
    const first = admittedOf(limits, 60, () => call('CreateImage'));
    const otherRegion = admittedOf(limits, 60, () => call('CreateImage', {}, { region: 'eu-west-1' }));
    const otherAccount = admittedOf(limits, 60, () => call('CreateImage', {}, { account: '210987654321' }));
    const otherAction = admittedOf(limits, 60, () => call('DeleteLaunchTemplate'));
    // Assess
    expect([first, otherRegion, otherAccount, otherAction]).toEqual([50, 50, 50, 50]);
  });

  it('draws unfiltered DescribeInstances from the smaller bucket and leaves the filtered one full', () => {
    // Prepare
    const { limits } = limitsOnHandClock();
    // Act
    const unfiltered = admittedOf(limits, 60, () => call('DescribeInstances', { 'InstanceId.1': 'i-1' }));
    const filtered = admittedOf(limits, 120, () => call('DescribeInstances', { MaxResults: '5' }));
    // Assess
    expect([unfiltered, filtered]).toEqual([50, 100]);
  });

  it('takes RunInstances resource tokens by the instances launched (1000, refilled 2 a second)', () => {
    // Prepare: a request bucket large enough that only the resource bucket can refuse
    const { real, limits } = limitsOnHandClock();
    expect(limits.configure({ RunInstances: { capacity: 100, perSecond: 100 } })).toBeUndefined();
    const launch = (count: number) => call('RunInstances', { MinCount: '1', MaxCount: String(count) });
    // Act
    const first = admittedOf(limits, 1, () => launch(600));
    const second = admittedOf(limits, 1, () => launch(600));
    const small = admittedOf(limits, 1, () => launch(400));
    real.ms += 1000;
    const afterSecond = admittedOf(limits, 3, () => launch(1));
    // Assess
    expect([first, second, small, afterSecond]).toEqual([1, 0, 1, 2]);
  });

  it('takes TerminateInstances resource tokens by the instances named', () => {
    // Prepare
    const { limits } = limitsOnHandClock();
    const ids = (count: number) =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [`InstanceId.${i + 1}`, `i-${i}`]));
    // Act
    const admitted = admittedOf(limits, 3, () => call('TerminateInstances', ids(400)));
    // Assess
    expect(admitted).toBe(2);
  });
});

describe('EC2 request bucket control (POST /_sandbox/ec2/rate-limits)', () => {
  it('is on by default and turned off with "off", back on with "default" (buckets full again)', () => {
    // Prepare
    const { limits } = limitsOnHandClock();
    admittedOf(limits, 100, () => call('DescribeImages'));
    // Act
    expect(limits.configure('off')).toBeUndefined();
    const off = admittedOf(limits, 500, () => call('DescribeImages'));
    expect(limits.configure('default')).toBeUndefined();
    const on = admittedOf(limits, 500, () => call('DescribeImages'));
    // Assess
    expect([off, on]).toEqual([500, 100]);
    expect(limits.report([]).enabled).toBe(true);
  });

  it("sets one action's bucket and keeps the others at their defaults", () => {
    // Prepare
    const { limits } = limitsOnHandClock();
    // Act
    expect(limits.configure({ DescribeImageAttribute: { capacity: 3, perSecond: 0.5 } })).toBeUndefined();
    // Assess
    expect(admittedOf(limits, 10, () => call('DescribeImageAttribute'))).toBe(3);
    expect(admittedOf(limits, 200, () => call('DescribeImages'))).toBe(100);
    expect(limits.report(['DescribeImageAttribute']).limits.DescribeImageAttribute).toMatchObject({
      capacity: 3,
      perSecond: 0.5,
    });
  });

  it('refuses an action the sandbox does not implement when given the ones it does', () => {
    // Prepare
    const { limits } = limitsOnHandClock();
    // Act
    const problem = limits.configure({ DescribeImageAtribute: { capacity: 1, perSecond: 1 } }, [
      'DescribeImageAttribute',
    ]);
    // Assess
    expect(problem).toBe(
      'rateLimits.DescribeImageAtribute is not an EC2 action the sandbox implements; it implements DescribeImageAttribute',
    );
  });

  it('resets the counters', () => {
    // Prepare
    const { limits } = limitsOnHandClock();
    admittedOf(limits, 101, () => call('DescribeImages'));
    // Act
    limits.resetCounters();
    // Assess
    expect(limits.report([])).toMatchObject({ calls: {}, admitted: 0, throttled: 0 });
  });

  it.each([
    ['a number', 5, /"off", "default" or an object/],
    ['an action without a bucket', { DescribeImages: 5 }, /DescribeImages must be an object such as \{"capacity"/],
    ['a capacity of 0', { DescribeImages: { capacity: 0, perSecond: 1 } }, /DescribeImages\.capacity/],
    [
      'a perSecond of Infinity',
      { DescribeImages: { capacity: 1, perSecond: Number.POSITIVE_INFINITY } },
      /DescribeImages\.perSecond/,
    ],
    ['an unknown field', { DescribeImages: { capacity: 1, perSecond: 1, burst: 2 } }, /DescribeImages\.burst/],
    ['a lower-case action', { describeImages: { capacity: 1, perSecond: 1 } }, /describeImages.*EC2 action name/],
  ])('refuses %s, naming the field, and changes nothing', (_, input, message) => {
    // Prepare
    const { limits } = limitsOnHandClock();
    // Act
    const problem = limits.configure(input);
    // Assess
    expect(problem).toMatch(message);
    expect(admittedOf(limits, 101, () => call('DescribeImages'))).toBe(100);
  });
});

describe('Faults and the EC2 buckets', () => {
  it('hold one set of EC2 buckets per sandbox, on by default', () => {
    // Prepare
    const faults = new Faults();
    // Act
    const admitted = admittedOf(faults.ec2RateLimits, 101, () => call('DescribeImages'));
    // Assess
    expect(admitted).toBeLessThan(101);
  });
});
