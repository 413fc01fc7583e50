/**
 * EC2's API request throttling, on by default: every EC2 action the sandbox implements draws from
 * its own token bucket, one per account, per region and per action, and an empty bucket answers
 * `RequestLimitExceeded` as EC2 does.
 *
 * From "Request throttling for the Amazon EC2 API" (Amazon EC2 Developer Guide,
 * https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html; the EC2 API Reference's
 * "Request throttling" page, .../AWSEC2/latest/APIReference/throttling.html, is the same text):
 * - Request rate limiting: "each API is evaluated individually"; each request takes one token from
 *   the API's bucket; a bucket below its maximum gets its refill rate back every second, and never
 *   holds more than its maximum. Throttling is per account, per Region.
 * - Categories (bucket maximum capacity / refill rate per second):
 *   - non-mutating: the Describe*, List*, Search* and Get* actions in no other category: 100 / 20;
 *   - unfiltered and unpaginated non-mutating: DescribeInstances, DescribeInstanceStatus,
 *     DescribeNetworkInterfaces, DescribeSecurityGroups, DescribeSnapshots,
 *     DescribeSpotInstanceRequests, DescribeVolumes "when requested without specifying either
 *     pagination or a filter" use "a smaller token bucket": 50 / 10;
 *   - mutating: every other action not resource-intensive or uncategorized: 50 / 5;
 *   - resource-intensive: the nine actions of {@link RESOURCE_INTENSIVE}: 50 / 5;
 *   - uncategorized: actions with sizes of their own ({@link UNCATEGORIZED});
 *   - console non-mutating (100 / 10): calls from the EC2 console; the sandbox has no console.
 * - Resource rate limiting: RunInstances, TerminateInstances, StartInstances and StopInstances also
 *   have a resource bucket that "depletes based on the number of resources that are impacted by the
 *   request" (RunInstances 1000 / 2, TerminateInstances 1000 / 20, StartInstances 1000 / 2,
 *   StopInstances 1000 / 20), and a request is limited when either bucket cannot serve it.
 *
 * What the page does not say, and what the sandbox does:
 * - Whether naming resource ids (InstanceId.N, SnapshotId.N, OwnerId.N) counts as a filter. It
 *   names only pagination and filters (its link is to `--filters`), so a call counts as filtered
 *   when it gives `Filter.N`, and paginated when it gives `MaxResults` or `NextToken`; ids alone
 *   draw from the smaller bucket.
 * - Whether a refused request still takes a token, or a request refused by its resource bucket a
 *   request token: the sandbox takes nothing from either bucket for a refused request.
 * - Whether a request denied by IAM takes a token: the sandbox counts a call once it is authorized
 *   (the buckets wrap the actions, which run after authorization).
 * - Whether a DryRun request takes a token: the sandbox counts it as any other call.
 * - Whether a resource bucket launches part of a request: the sandbox refuses the whole request
 *   (for RunInstances it counts MaxCount, the most the request can launch).
 * - The HTTP status: the page names only the error code; EC2 answers RequestLimitExceeded with
 *   503 and "Request limit exceeded." (the SDKs treat it as a throttling error and retry it).
 *
 * Time: a bucket refills by the larger of the real time and the sandbox time elapsed since its
 * last refill. The sandbox has one clock, so a sandbox running 50 times faster than real time
 * refills 50 times faster (a long janitor run on a fast clock is paced as it would be on AWS in
 * sandbox time), and a clock moved forward refills at once; but a frozen clock (speed 0) still
 * refills on real time, because the SDK's retry back-off waits real time (on sandbox time alone a
 * test at speed 0 would stay throttled for ever).
 */
import { AwsError } from '../../errors';
import { isNumber, isRecord, unknownField } from '../../input';
import type { QueryParams } from '../../protocol/query';
import type { QueryAction } from '../../service';

export interface BucketLimit {
  /** Bucket maximum capacity: the burst. */
  readonly capacity: number;
  /** Bucket refill rate: tokens back per second. */
  readonly perSecond: number;
}

export type Ec2ActionCategory =
  | 'non-mutating'
  | 'unfiltered and unpaginated non-mutating'
  | 'mutating'
  | 'resource-intensive'
  | 'uncategorized';

/** The page's "Request token bucket sizes and refill rates" by category. */
export const CATEGORY_LIMITS: Readonly<Record<Exclude<Ec2ActionCategory, 'uncategorized'>, BucketLimit>> = {
  'non-mutating': { capacity: 100, perSecond: 20 },
  'unfiltered and unpaginated non-mutating': { capacity: 50, perSecond: 10 },
  mutating: { capacity: 50, perSecond: 5 },
  'resource-intensive': { capacity: 50, perSecond: 5 },
};

/** Non-mutating actions with a smaller bucket for calls with neither pagination nor a filter. */
export const UNFILTERED_AND_UNPAGINATED: ReadonlySet<string> = new Set([
  'DescribeInstances',
  'DescribeInstanceStatus',
  'DescribeNetworkInterfaces',
  'DescribeSecurityGroups',
  'DescribeSnapshots',
  'DescribeSpotInstanceRequests',
  'DescribeVolumes',
]);

export const RESOURCE_INTENSIVE: ReadonlySet<string> = new Set([
  'AcceptVpcPeeringConnection',
  'AuthorizeSecurityGroupIngress',
  'CancelSpotInstanceRequests',
  'CreateKeyPair',
  'CreateVpcPeeringConnection',
  'DeleteVpcPeeringConnection',
  'RejectVpcPeeringConnection',
  'RevokeSecurityGroupIngress',
  'RequestSpotInstances',
]);

const limit = (capacity: number, perSecond: number): BucketLimit => ({ capacity, perSecond });

/**
 * The page's "Uncategorized actions" table, for the actions of the resources the sandbox models
 * (images, snapshots, volumes, instances, launch templates, tags, network interfaces, instance
 * profiles). The table lists more (VPC endpoints, NAT gateways, Verified Access, BYOIP, Capacity
 * Blocks…); an action missing here falls in its category, so add its row when the sandbox gains it.
 */
export const UNCATEGORIZED: Readonly<Record<string, BucketLimit>> = {
  AssociateIamInstanceProfile: limit(100, 5),
  CopyImage: limit(100, 1),
  CreateLaunchTemplateVersion: limit(100, 5),
  CreateNetworkInterface: limit(100, 5),
  CreateRestoreImageTask: limit(50, 0.1),
  CreateSnapshot: limit(100, 5),
  CreateSnapshots: limit(100, 5),
  CreateStoreImageTask: limit(50, 0.1),
  CreateTags: limit(100, 10),
  CreateVolume: limit(100, 5),
  DeleteNetworkInterface: limit(100, 5),
  DeleteSnapshot: limit(100, 5),
  DeleteTags: limit(100, 10),
  DeleteVolume: limit(100, 5),
  DeregisterImage: limit(100, 5),
  DescribeInstanceTopology: limit(1, 1),
  DescribeStoreImageTasks: limit(50, 0.5),
  DisableFastLaunch: limit(5, 2),
  DisableImageBlockPublicAccess: limit(1, 0.1),
  DisableSnapshotBlockPublicAccess: limit(1, 0.1),
  DisassociateIamInstanceProfile: limit(100, 5),
  EnableFastLaunch: limit(5, 2),
  EnableImageBlockPublicAccess: limit(1, 0.1),
  EnableSnapshotBlockPublicAccess: limit(1, 0.1),
  ModifyImageAttribute: limit(100, 5),
  ModifyInstanceMetadataDefaults: limit(2, 2),
  ModifyInstanceMetadataOptions: limit(100, 5),
  ModifyLaunchTemplate: limit(100, 5),
  ModifyNetworkInterfaceAttribute: limit(100, 5),
  ModifySnapshotAttribute: limit(100, 5),
  RunInstances: limit(5, 2),
  StartInstances: limit(5, 2),
  TerminateInstances: limit(100, 5),
};

/** The page's "Resource token bucket sizes and refill rates". */
export const RESOURCE_LIMITS: Readonly<Record<string, BucketLimit>> = {
  RunInstances: limit(1000, 2),
  TerminateInstances: limit(1000, 20),
  StartInstances: limit(1000, 2),
  StopInstances: limit(1000, 20),
};

const NON_MUTATING = /^(Describe|List|Search|Get)[A-Z]/;

const hasPrefix = (params: QueryParams, prefix: string): boolean => {
  for (const key of params.keys()) if (key.startsWith(prefix)) return true;
  return false;
};

/** Pagination (`MaxResults`, `NextToken`) or a filter (`Filter.N`), as the page means them. */
const filteredOrPaginated = (params: QueryParams): boolean =>
  params.has('MaxResults') || params.has('NextToken') || hasPrefix(params, 'Filter.');

export interface RequestBucket {
  /** The bucket's name within its account and region: the action, or the action's smaller bucket. */
  readonly name: string;
  readonly category: Ec2ActionCategory;
  /** The documented size (before any override). */
  readonly limit: BucketLimit;
}

/** The request bucket a call of `action` with `params` draws from, with its documented size. */
export const requestBucketOf = (action: string, params: QueryParams): RequestBucket => {
  const own = UNCATEGORIZED[action];
  if (own) return { name: action, category: 'uncategorized', limit: own };
  if (RESOURCE_INTENSIVE.has(action)) {
    return { name: action, category: 'resource-intensive', limit: CATEGORY_LIMITS['resource-intensive'] };
  }
  if (UNFILTERED_AND_UNPAGINATED.has(action) && !filteredOrPaginated(params)) {
    const category = 'unfiltered and unpaginated non-mutating';
    return { name: `${action} (${category})`, category, limit: CATEGORY_LIMITS[category] };
  }
  const category = NON_MUTATING.test(action) ? 'non-mutating' : 'mutating';
  return { name: action, category, limit: CATEGORY_LIMITS[category] };
};

const countOf = (params: QueryParams, prefix: string): number => {
  let count = 0;
  for (const key of params.keys()) if (key.startsWith(prefix)) count += 1;
  return count;
};

/** Resource tokens a call takes: RunInstances its MaxCount, the others the instances named. */
export const resourceCostOf = (action: string, params: QueryParams): number => {
  if (!RESOURCE_LIMITS[action]) return 0;
  if (action === 'RunInstances') {
    const maxCount = Number(params.get('MaxCount'));
    return Number.isInteger(maxCount) && maxCount > 0 ? maxCount : 1;
  }
  return countOf(params, 'InstanceId.');
};

export interface BucketState {
  tokens: number;
  /** Real and sandbox time of the last refill (ms). */
  realMs: number;
  sandboxMs: number;
}

export interface Instant {
  readonly realMs: number;
  readonly sandboxMs: number;
}

/**
 * The tokens a bucket holds at `now`: refilled by the larger of the real and the sandbox time
 * elapsed since its last refill (see the module comment), never above its capacity.
 */
export const refilledTokens = (state: BucketState, bucket: BucketLimit, now: Instant): number => {
  const elapsedMs = Math.max(now.realMs - state.realMs, now.sandboxMs - state.sandboxMs, 0);
  return Math.min(bucket.capacity, state.tokens + (elapsedMs / 1000) * bucket.perSecond);
};

export interface Ec2Call {
  readonly action: string;
  readonly params: QueryParams;
  readonly account: string;
  readonly region: string;
  /** The sandbox clock's reading (ms). */
  readonly sandboxMs: number;
}

export interface CallCounts {
  admitted: number;
  throttled: number;
}

export interface RateLimitsReport {
  readonly enabled: boolean;
  /** Limits set with the control endpoint, over the documented ones. */
  readonly overrides: Readonly<Record<string, BucketLimit>>;
  /** Each action asked about: its category and the request bucket it draws from (filtered calls). */
  readonly limits: Readonly<
    Record<
      string,
      BucketLimit & {
        category: Ec2ActionCategory;
        unfilteredAndUnpaginated?: BucketLimit;
        resources?: BucketLimit;
      }
    >
  >;
  /** Per action, calls admitted and calls refused (throttled) since start or the last reset. */
  readonly calls: Readonly<Record<string, CallCounts>>;
  readonly admitted: number;
  readonly throttled: number;
}

const MAX_RATE = 1_000_000;
const LIMIT_FIELDS = ['capacity', 'perSecond'] as const;
const ACTION_NAME = /^[A-Z][A-Za-z0-9]+$/;

const limitProblem = (action: string, value: unknown): string | undefined => {
  if (!isRecord(value)) return `rateLimits.${action} must be an object such as {"capacity":100,"perSecond":20}`;
  const unknown = unknownField(value, LIMIT_FIELDS);
  if (unknown !== undefined)
    return `unknown field rateLimits.${action}.${unknown}: a bucket takes capacity and perSecond`;
  const { capacity, perSecond } = value;
  if (!(Number.isInteger(capacity) && (capacity as number) >= 1 && (capacity as number) <= MAX_RATE)) {
    return `rateLimits.${action}.capacity must be a positive integer of at most ${MAX_RATE} (the burst)`;
  }
  if (!(isNumber(perSecond) && perSecond > 0 && perSecond <= MAX_RATE)) {
    return `rateLimits.${action}.perSecond must be a positive number of at most ${MAX_RATE} (tokens back per second)`;
  }
  return undefined;
};

const throttled = (): AwsError => new AwsError('RequestLimitExceeded', 'Request limit exceeded.', 503);

/**
 * The buckets of one sandbox (all accounts and regions), their settings and their counters.
 * Buckets live in memory only: a restart starts them full, as a quiet minute would.
 */
export class Ec2RateLimits {
  private enabled = true;
  private overrides = new Map<string, BucketLimit>();
  private buckets = new Map<string, BucketState>();
  private counts = new Map<string, CallCounts>();
  private readonly realNow: () => number;

  constructor(options: { realNow?: () => number } = {}) {
    this.realNow = options.realNow ?? Date.now;
  }

  /** The limit a bucket of `action` has now: an override, else the documented one. */
  private limitOf(action: string, documented: BucketLimit): BucketLimit {
    return this.overrides.get(action) ?? documented;
  }

  private counted(action: string): CallCounts {
    let counts = this.counts.get(action);
    if (!counts) {
      counts = { admitted: 0, throttled: 0 };
      this.counts.set(action, counts);
    }
    return counts;
  }

  /** The bucket's state at `now`, refilled (created full the first time). */
  private stateAt(key: string, bucket: BucketLimit, now: Instant): BucketState {
    const state = this.buckets.get(key);
    if (!state) {
      const fresh = { tokens: bucket.capacity, ...now };
      this.buckets.set(key, fresh);
      return fresh;
    }
    state.tokens = refilledTokens(state, bucket, now);
    state.realMs = now.realMs;
    state.sandboxMs = now.sandboxMs;
    return state;
  }

  /**
   * Takes the call's tokens, or throws `RequestLimitExceeded` (503) and takes none when its request
   * bucket (or its resource bucket) cannot serve it. Counts the call either way.
   */
  admit(call: Ec2Call): void {
    const counts = this.counted(call.action);
    if (!this.enabled) {
      counts.admitted += 1;
      return;
    }
    const now = { realMs: this.realNow(), sandboxMs: call.sandboxMs };
    const scope = `${call.account}/${call.region}/`;
    const request = requestBucketOf(call.action, call.params);
    const requestState = this.stateAt(scope + request.name, this.limitOf(call.action, request.limit), now);
    const resourceLimit = RESOURCE_LIMITS[call.action];
    const cost = resourceCostOf(call.action, call.params);
    const resourceState =
      resourceLimit && cost > 0 ? this.stateAt(`${scope}${call.action} (resources)`, resourceLimit, now) : undefined;
    if (requestState.tokens < 1 || (resourceState !== undefined && resourceState.tokens < cost)) {
      counts.throttled += 1;
      throw throttled();
    }
    requestState.tokens -= 1;
    if (resourceState) resourceState.tokens -= cost;
    counts.admitted += 1;
  }

  /**
   * `"off"`, `"default"`, or `{Action: {capacity, perSecond}}` (over the current settings). Every
   * form starts the buckets full again. A malformed setting is refused whole: the returned problem
   * names the field, and nothing changes. `known`, when given, are the actions a name must be one of.
   */
  configure(input: unknown, known?: readonly string[]): string | undefined {
    if (input === 'off' || input === 'default') {
      this.enabled = input === 'default';
      this.overrides.clear();
      this.buckets.clear();
      return undefined;
    }
    if (!isRecord(input)) {
      return 'rateLimits must be "off", "default" or an object of buckets by EC2 action, e.g. {"DescribeImageAttribute":{"capacity":100,"perSecond":20}}';
    }
    for (const [action, value] of Object.entries(input)) {
      if (!ACTION_NAME.test(action)) {
        return `rateLimits.${action} must be an EC2 action name as the API spells it, e.g. DescribeImageAttribute`;
      }
      if (known && !known.includes(action)) {
        return `rateLimits.${action} is not an EC2 action the sandbox implements; it implements ${known.join(', ')}`;
      }
      const problem = limitProblem(action, value);
      if (problem) return problem;
    }
    for (const [action, value] of Object.entries(input)) {
      const { capacity, perSecond } = value as Record<string, number>;
      this.overrides.set(action, { capacity: capacity as number, perSecond: perSecond as number });
    }
    this.enabled = true;
    this.buckets.clear();
    return undefined;
  }

  resetCounters(): void {
    this.counts.clear();
  }

  /** Settings and counters; `actions` are the actions whose limits to list (the implemented ones). */
  report(actions: readonly string[]): RateLimitsReport {
    const limits: Record<string, RateLimitsReport['limits'][string]> = {};
    for (const action of actions) {
      const filtered = requestBucketOf(action, new Map([['MaxResults', '1000']]));
      const unfiltered = requestBucketOf(action, new Map());
      const resources = RESOURCE_LIMITS[action];
      limits[action] = {
        category: filtered.category,
        ...this.limitOf(action, filtered.limit),
        ...(unfiltered.name === filtered.name
          ? {}
          : { unfilteredAndUnpaginated: this.limitOf(action, unfiltered.limit) }),
        ...(resources ? { resources } : {}),
      };
    }
    const calls = Object.fromEntries([...this.counts].map(([action, counts]) => [action, { ...counts }]));
    const sum = (field: keyof CallCounts) => [...this.counts.values()].reduce((total, c) => total + c[field], 0);
    return {
      enabled: this.enabled,
      overrides: Object.fromEntries(this.overrides),
      limits,
      calls,
      admitted: sum('admitted'),
      throttled: sum('throttled'),
    };
  }
}

/**
 * The EC2 actions, each drawing from its bucket first (the sandbox's buckets: `ctx.faults`). The
 * account is the caller's (a role session in another account has that account's buckets).
 */
export const withRateLimits = (actions: Readonly<Record<string, QueryAction>>): Readonly<Record<string, QueryAction>> =>
  Object.fromEntries(
    Object.entries(actions).map(([action, run]): [string, QueryAction] => [
      action,
      (params, ctx) => {
        ctx.faults.ec2RateLimits.admit({
          action,
          params,
          account: ctx.caller.principal.account,
          region: ctx.region,
          sandboxMs: ctx.clock.nowMs(),
        });
        return run(params, ctx);
      },
    ]),
  );
