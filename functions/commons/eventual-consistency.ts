/**
 * EC2 is eventually consistent: for a while after RunInstances or CreateImage / CopyImage, a call
 * that names the new resource by id may answer InvalidInstanceID.NotFound / InvalidAMIID.NotFound
 * although it exists ("Eventual consistency in the Amazon EC2 API",
 * https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html: confirm the resource
 * with Describe, with exponential backoff, before acting on it).
 *
 * These helpers do that with the SDK's own waiters: `waitUntilImageExists` and
 * `waitUntilInstanceExists` poll DescribeImages / DescribeInstances by id, retry on the NotFound
 * code (and on an empty answer), back off exponentially with jitter, and give up after
 * `maxWaitTime`. They resolve once the resource is visible; they throw
 * `ResourceNotVisibleError` when it never became visible in time.
 */
import { type EC2Client, waitUntilImageExists, waitUntilInstanceExists } from '@aws-sdk/client-ec2';

/** Waiter timing, in seconds (the SDK's WaiterConfiguration). */
export interface VisibilityWait {
  readonly minDelay: number;
  readonly maxDelay: number;
  readonly maxWaitTime: number;
}

/** Propagation usually takes seconds; a minute bounds the wait well inside the functions' timeouts (2 and 5 minutes). */
export const DEFAULT_VISIBILITY_WAIT: VisibilityWait = { minDelay: 2, maxDelay: 15, maxWaitTime: 60 };

/** The codes EC2 answers for an id it does not know (yet). */
export const NOT_FOUND_CODES: readonly string[] = ['InvalidInstanceID.NotFound', 'InvalidAMIID.NotFound'];

export class ResourceNotVisibleError extends Error {
  constructor(
    readonly resourceId: string,
    waitedSeconds: number,
    options?: ErrorOptions,
  ) {
    super(`${resourceId} was still unknown to EC2 after ${waitedSeconds} seconds`, options);
    this.name = 'ResourceNotVisibleError';
  }
}

type Ec2Port = Pick<EC2Client, 'send'>;

/**
 * The waiters are typed for a full EC2Client but only call `send`; the narrow port the functions
 * pass around is enough.
 */
const asWaiterClient = (ec2: Ec2Port): EC2Client => ec2 as EC2Client;

const waited = async (resourceId: string, wait: VisibilityWait, run: () => Promise<unknown>): Promise<void> => {
  try {
    await run();
  } catch (error) {
    throw new ResourceNotVisibleError(resourceId, wait.maxWaitTime, { cause: error });
  }
};

/** Resolves once DescribeImages knows `imageId` (any state). */
export const waitForImageVisible = (
  ec2: Ec2Port,
  imageId: string,
  wait: VisibilityWait = DEFAULT_VISIBILITY_WAIT,
): Promise<void> =>
  waited(imageId, wait, () => waitUntilImageExists({ client: asWaiterClient(ec2), ...wait }, { ImageIds: [imageId] }));

/** Resolves once DescribeInstances knows `instanceId` (any state). */
export const waitForInstanceVisible = (
  ec2: Ec2Port,
  instanceId: string,
  wait: VisibilityWait = DEFAULT_VISIBILITY_WAIT,
): Promise<void> =>
  waited(instanceId, wait, () =>
    waitUntilInstanceExists({ client: asWaiterClient(ec2), ...wait }, { InstanceIds: [instanceId] }),
  );
