/**
 * EC2's request buckets through the SDK (maxAttempts 1: no retries), on a frozen sandbox clock, so
 * buckets refill on real time only ("Request throttling for the Amazon EC2 API").
 */
import { DescribeImageAttributeCommand, DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { availableImage, runningInstance } from '../../src/testing/ec2';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let ec2: EC2Client;
let imageId: string;

interface Counts {
  admitted: number;
  throttled: number;
}
interface Report {
  enabled: boolean;
  calls: Record<string, Counts>;
  limits: Record<string, { category: string; capacity: number; perSecond: number }>;
  throttled: number;
}

beforeAll(async () => {
  sandbox = await startTestSandbox();
  ec2 = new EC2Client(sandbox.clientConfig);
  imageId = await availableImage(sandbox, ec2, await runningInstance(sandbox, ec2), 'rate-limited');
});
afterAll(async () => sandbox.stop());
beforeEach(async () => {
  // Full buckets and fresh counters for each test.
  await sandbox.control('POST', '/_sandbox/ec2/rate-limits', { rateLimits: 'default' });
  await sandbox.control('DELETE', '/_sandbox/ec2/rate-limits/counters');
});

const report = async (): Promise<Report> => (await sandbox.control('GET', '/_sandbox/ec2/rate-limits')).body as Report;

const describeAttribute = () =>
  ec2.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }));

/** Sends `count` DescribeImageAttribute at once: the errors of the refused ones, and the real time taken. */
const burst = async (count: number): Promise<{ admitted: number; refused: unknown[]; seconds: number }> => {
  const started = performance.now();
  const outcomes = await Promise.allSettled(Array.from({ length: count }, describeAttribute));
  const seconds = (performance.now() - started) / 1000;
  const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
  return { admitted: count - refused.length, refused, seconds };
};

describe("EC2's request buckets (on by default)", () => {
  it('admits a burst of 100 DescribeImageAttribute and refuses the next with RequestLimitExceeded (503), DescribeImages unaffected', async () => {
    // Act
    const { admitted, refused, seconds } = await burst(130);
    const other = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    const counted = await report();

    // Assess: 100 at once, plus what 20 a second of real time refilled while the burst went out
    expect(admitted).toBeGreaterThanOrEqual(100);
    expect(admitted).toBeLessThanOrEqual(100 + Math.ceil(seconds * 20));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]).toMatchObject({
      name: 'RequestLimitExceeded',
      message: 'Request limit exceeded.',
      $metadata: { httpStatusCode: 503 },
    });
    expect(other.Images?.[0]?.ImageId).toBe(imageId);
    expect(counted.calls.DescribeImageAttribute).toEqual({ admitted, throttled: refused.length });
    expect(counted.calls.DescribeImages).toEqual({ admitted: 1, throttled: 0 });
    expect(counted.limits.DescribeImageAttribute).toMatchObject({
      category: 'non-mutating',
      capacity: 100,
      perSecond: 20,
    });
  });

  it('refills on real time while the sandbox clock is frozen, and at once when the clock is moved', async () => {
    // Prepare
    const drained = await burst(130);

    // Act
    await new Promise((resolve) => setTimeout(resolve, 250)); // 5 tokens at 20 a second
    const afterRealTime = await describeAttribute();
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 5 });
    const afterMove = await burst(100);

    // Assess
    expect(drained.refused.length).toBeGreaterThan(0);
    expect(afterRealTime.ImageId).toBe(imageId);
    expect(afterMove.admitted).toBe(100);
  });

  it("sets one action's bucket, turns the buckets off and on, and resets the counters", async () => {
    // Act
    const set = await sandbox.control('POST', '/_sandbox/ec2/rate-limits', {
      rateLimits: { DescribeImageAttribute: { capacity: 3, perSecond: 0.01 } },
    });
    const small = await burst(5);
    await sandbox.control('POST', '/_sandbox/ec2/rate-limits', { rateLimits: 'off' });
    const off = await burst(150);
    const reset = await sandbox.control('DELETE', '/_sandbox/ec2/rate-limits/counters');
    const wrong = await sandbox.control('POST', '/_sandbox/ec2/rate-limits', {
      rateLimits: { DescribeImageAttributes: { capacity: 3, perSecond: 1 } },
    });

    // Assess
    expect(set.status).toBe(200);
    expect(small.admitted).toBe(3);
    expect(off.admitted).toBe(150);
    expect((reset.body as Report).calls).toEqual({});
    expect(wrong.status).toBe(400);
    expect((wrong.body as { error: string }).error).toContain('DescribeImageAttributes is not an EC2 action');
    expect((await report()).enabled).toBe(false);
  });
});
