/**
 * The inventory's EC2 reads are paced per action at the rate EC2 refills its non-mutating buckets
 * (100 tokens, 20 a second), on an injected clock.
 */
import { describe, expect, it } from 'vitest';
import { EC2_INVENTORY_ACTIONS, ec2InventoryPacer } from '../../functions/janitor/pacing';

/** A clock that only moves when the pacer sleeps. */
const virtualClock = () => {
  let now = 0;
  return {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
    },
    elapsed: () => now,
  };
};

describe('ec2InventoryPacer', () => {
  it('lets a burst of 99 through at once, then paces at 20 a second', async () => {
    // Prepare
    const clock = virtualClock();
    const pace = ec2InventoryPacer(clock);
    // Act
    for (let n = 0; n < 99; n++) await pace('DescribeImageAttribute');
    const burst = clock.elapsed();
    for (let n = 0; n < 200; n++) await pace('DescribeImageAttribute');
    // Assess: the burst is free (one token kept in hand); 200 more take 10 s at 20 a second.
    expect(burst).toBe(0);
    expect(clock.elapsed()).toBeGreaterThanOrEqual(10_000);
    expect(clock.elapsed()).toBeLessThan(10_200);
  });

  it('keeps a bucket per action, as EC2 does', async () => {
    // Prepare
    const clock = virtualClock();
    const pace = ec2InventoryPacer(clock);
    for (let n = 0; n < 99; n++) await pace('DescribeImageAttribute');
    // Act
    for (const action of EC2_INVENTORY_ACTIONS.filter((a) => a !== 'DescribeImageAttribute')) await pace(action);
    // Assess
    expect(clock.elapsed()).toBe(0);
  });

  it('does not pace calls to other services', async () => {
    const clock = virtualClock();
    const pace = ec2InventoryPacer(clock);
    for (let n = 0; n < 500; n++) await pace('GetParameters');
    expect(clock.elapsed()).toBe(0);
  });
});
