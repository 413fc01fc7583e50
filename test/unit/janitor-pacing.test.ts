/**
 * Every EC2 call the janitor makes is paced per action at the rate EC2 refills that action's
 * bucket (non-mutating 100/20, mutating 50/5, CreateTags 100/10, DeregisterImage 100/5), on an
 * injected clock.
 */
import { CreateTagsCommand, DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { ec2BucketOf, ec2Pacer, paceEc2Client } from '../../functions/janitor/pacing';

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

describe('ec2Pacer', () => {
  it('lets a non-mutating burst of 80 through at once (a second kept in hand), then paces at 20 a second', async () => {
    // Prepare
    const clock = virtualClock();
    const pace = ec2Pacer(clock);
    // Act
    for (let n = 0; n < 80; n++) await pace('DescribeImageAttribute');
    const burst = clock.elapsed();
    for (let n = 0; n < 200; n++) await pace('DescribeImageAttribute');
    // Assess: the burst is free; 200 more take 10 s at 20 a second.
    expect(burst).toBe(0);
    expect(clock.elapsed()).toBeGreaterThanOrEqual(10_000);
    expect(clock.elapsed()).toBeLessThan(10_200);
  });

  it('paces a mutating action at 5 a second after a burst of 45', async () => {
    const clock = virtualClock();
    const pace = ec2Pacer(clock);
    for (let n = 0; n < 45 + 50; n++) await pace('EnableImageDeprecation');
    expect(clock.elapsed()).toBeGreaterThanOrEqual(10_000);
    expect(clock.elapsed()).toBeLessThan(10_400);
  });

  it('keeps a bucket per action, as EC2 does', async () => {
    const clock = virtualClock();
    const pace = ec2Pacer(clock);
    for (let n = 0; n < 80; n++) await pace('DescribeImageAttribute');
    for (const action of ['DescribeImages', 'DescribeSnapshots', 'CreateTags', 'DeregisterImage']) await pace(action);
    expect(clock.elapsed()).toBe(0);
  });

  it.each([
    ['DescribeImageAttribute', 100, 20],
    ['DescribeLaunchTemplateVersions', 100, 20],
    ['EnableImageDeprecation', 50, 5],
    ['DisableImage', 50, 5],
    ['CreateTags', 100, 10],
    ['DeleteTags', 100, 10],
    ['DeregisterImage', 100, 5],
    ['DeleteSnapshot', 100, 5],
  ])('sizes %s as EC2 does: %i tokens, %i a second', (action, capacity, perSecond) => {
    expect(ec2BucketOf(action)).toEqual({ capacity, perSecond });
  });
});

describe('paceEc2Client', () => {
  it('paces every command the client sends, by its action', async () => {
    // Prepare
    // A client that answers every command at the build step, with no request sent: the pacer at
    // the initialize step runs first, as in a real send (aws-sdk-client-mock would bypass it).
    const client = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    client.middlewareStack.add(() => async () => ({ output: { $metadata: {} }, response: {} }), { step: 'build' });
    const paced: string[] = [];
    paceEc2Client(client, async (action) => void paced.push(action));
    // Act
    await client.send(new DescribeImagesCommand({ Owners: ['self'] }));
    await client.send(new CreateTagsCommand({ Resources: ['ami-1'], Tags: [] }));
    // Assess
    expect(paced).toEqual(['DescribeImages', 'CreateTags']);
  });
});
