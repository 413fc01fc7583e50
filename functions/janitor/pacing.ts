/**
 * Paces the inventory's EC2 reads at the rate EC2 refills their buckets. EC2 throttles each API
 * action with its own token bucket per account and Region; the janitor's reads are all
 * non-mutating, paginated actions, whose bucket holds 100 tokens and refills 20 a second (Amazon
 * EC2 Developer Guide, "Request throttling for the Amazon EC2 API": request token bucket sizes
 * and refill rates). Waiting for a token before each call keeps a run at 100k images under that
 * rate instead of being throttled and spending the SDK's retries; other actions pass unpaced.
 */
import { TokenBucket } from './apply';

/** The EC2 actions the inventory calls (every one of them non-mutating and paginated or targeted). */
export const EC2_INVENTORY_ACTIONS = [
  'DescribeImages',
  'DescribeImageAttribute',
  'DescribeSnapshots',
  'DescribeInstances',
  'DescribeLaunchTemplates',
  'DescribeLaunchTemplateVersions',
] as const;

/** EC2's bucket for a non-mutating action (page above). */
export const NON_MUTATING_BUCKET = { capacity: 100, perSecond: 20 } as const;

/**
 * A pacer with one bucket per action, as EC2 keeps them. `now`/`sleep` are injectable (the bench
 * paces on the sandbox's clock); by default a monotonic clock, as TokenBucket's.
 */
export const ec2InventoryPacer = (
  options: { now?: () => number; sleep?: (ms: number) => Promise<void> } = {},
): ((action: string) => Promise<void>) => {
  const buckets = new Map<string, TokenBucket>();
  for (const action of EC2_INVENTORY_ACTIONS)
    buckets.set(action, new TokenBucket({ ...NON_MUTATING_BUCKET, ...options }));
  return async (action) => {
    await buckets.get(action)?.take();
  };
};
