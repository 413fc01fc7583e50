/**
 * Paces every EC2 call the janitor makes at the rate EC2 refills that action's bucket, so a run at
 * 100k images is never throttled and never spends the SDK's retries on it. EC2 throttles each API
 * action with its own token bucket per account and Region (Amazon EC2 Developer Guide, "Request
 * throttling for the Amazon EC2 API": request token bucket sizes and refill rates):
 * - non-mutating actions (Describe*): 100 tokens, 20 a second. Every janitor Describe is paginated
 *   or filtered, so none falls in the smaller "unfiltered and unpaginated" bucket;
 * - mutating actions (EnableImageDeprecation, DisableImage, ...): 50 tokens, 5 a second;
 * - uncategorized ones with sizes of their own: CreateTags and DeleteTags 100 / 10, DeregisterImage
 *   and DeleteSnapshot 100 / 5.
 * The pacer lives as long as the client (the Lambda container): EC2's buckets carry over between
 * invocations too. It is an SDK middleware at the initialize step, so it runs once per command,
 * before the SDK's own retries, and reads the command name the SDK sets (not a class name, which
 * bundling may rename).
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { TokenBucket } from './apply';

export interface BucketSize {
  readonly capacity: number;
  readonly perSecond: number;
}

const NON_MUTATING: BucketSize = { capacity: 100, perSecond: 20 };
const MUTATING: BucketSize = { capacity: 50, perSecond: 5 };
const UNCATEGORIZED: Readonly<Record<string, BucketSize>> = {
  CreateTags: { capacity: 100, perSecond: 10 },
  DeleteTags: { capacity: 100, perSecond: 10 },
  DeregisterImage: { capacity: 100, perSecond: 5 },
  DeleteSnapshot: { capacity: 100, perSecond: 5 },
};

/** The bucket EC2 keeps for an action (page above). */
export const ec2BucketOf = (action: string): BucketSize =>
  UNCATEGORIZED[action] ?? (/^(Describe|Get|List|Search)/.test(action) ? NON_MUTATING : MUTATING);

export type Pacer = (action: string) => Promise<void>;

/**
 * One bucket per action, sized as EC2's (`now`/`sleep` injectable: the bench paces on the sandbox's
 * clock; by default a monotonic clock, as TokenBucket's).
 */
export const ec2Pacer = (options: { now?: () => number; sleep?: (ms: number) => Promise<void> } = {}): Pacer => {
  const buckets = new Map<string, TokenBucket>();
  return async (action) => {
    let bucket = buckets.get(action);
    if (!bucket) {
      // A second's refill kept in hand (margin): a call reaches EC2 a little after the pacer lets it
      // go, and the page does not say whether a bucket refills continuously or once a second.
      const size = ec2BucketOf(action);
      bucket = new TokenBucket({ ...size, margin: Math.max(1, size.perSecond), ...options });
      buckets.set(action, bucket);
    }
    await bucket.take();
  };
};

/** Paces every command `client` sends through `pace` (by the SDK's command name, without `Command`). */
export const paceEc2Client = <C extends Pick<EC2Client, 'middlewareStack'>>(client: C, pace: Pacer = ec2Pacer()): C => {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      await pace(String(context.commandName ?? '').replace(/Command$/, ''));
      return next(args);
    },
    { step: 'initialize', name: 'bakehouseEc2Pacing' },
  );
  return client;
};
