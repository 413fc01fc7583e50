/**
 * CleanUpFailedBake, the failure path of a bake: find out what failed, then leave nothing
 * behind. Stops the automation if it still runs, terminates this bake's builder instances (found
 * by tag, never by guess, plus the one its automation says it launched: a builder launched
 * moments ago may not be listed yet, EC2 being eventually consistent), discards images the failed
 * bake created, and releases the family lock if this bake holds it. Every cleanup step runs even if another fails; failures are reported,
 * not thrown, so `Bake Failed` is always published, and carries them: `cleanup.errors` (each step
 * that failed, the resource, the error) and `builderTerminated` (false: a builder may still run
 * until the reaper, functions/reaper, terminates it at its `bakehouse:expires-at`). The reason
 * names them too, for the consumers that read only the reason.
 */
import {
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  type AutomationExecution,
  GetAutomationExecutionCommand,
  type SSMClient,
  StopAutomationExecutionCommand,
} from '@aws-sdk/client-ssm';
import { isTerminal } from '../commons/automation-status';
import {
  type AutomationFailureCause,
  type BakeFailure,
  type BakeFailureInput,
  BUILDER_ROLE,
  Tag,
} from '../commons/bake-plan';
import { launchedBuilder } from '../commons/documents';
import { errorNameOf, messageOf } from '../commons/errors';
import type { CleanupError } from '../commons/events';
import { ResourceNotVisibleError, type VisibilityWait, waitForInstanceVisible } from '../commons/eventual-consistency';
import { eachPage } from '../commons/pages';
import type { LogPort } from '../commons/powertools';
import { LockNotHeldError, type Locks } from '../commons/state-table';

export interface CleanUpFailedBakeDeps {
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly logger: LogPort;
  /**
   * The family lock in the state table (commons/state-table.ts). Without it the release is reported
   * as a cleanup error, and the lock waits for the next planner, which takes it over as stale once
   * this execution has ended.
   */
  readonly locks?: Pick<Locks, 'release'>;
  /** How long to wait for a just-launched builder to become visible; eventual-consistency.ts's defaults when omitted. */
  readonly visibilityWait?: VisibilityWait;
}

const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];
const MAX_REASON = 1_000;
/** Cleanup step names, as `cleanup.errors[].step` reports them. */
export const CleanupStep = {
  StopAutomation: 'stop automation',
  TerminateBuilders: 'terminate builders',
  DiscardImages: 'discard images',
  ReleaseLock: 'release family lock',
} as const;

/** A cleanup step's failure with the resource it was acting on (known only inside the step). */
class CleanupStepError extends Error {
  constructor(
    readonly resource: string,
    cause: unknown,
  ) {
    super(messageOf(cause), { cause });
    this.name = 'CleanupStepError';
  }
}

const describeError = (error: unknown): string => {
  const inner = error instanceof CleanupStepError ? error.cause : error;
  const name = errorNameOf(inner);
  const message = messageOf(inner);
  return name && name !== 'Error' && !message.startsWith(name) ? `${name}: ${message}` : message;
};

/** The reason with the cleanup failures appended, within Bake Failed's reason limit. */
const reasonWithCleanup = (reason: string, errors: readonly CleanupError[]): string => {
  if (errors.length === 0) return reason.slice(0, MAX_REASON);
  const summary = `; cleanup failed: ${errors
    .map(({ step, resource, error }) => `${step}${resource ? ` (${resource})` : ''}: ${error}`)
    .join('; ')}`.slice(0, MAX_REASON / 2);
  return `${reason.slice(0, MAX_REASON - summary.length)}${summary}`;
};

export const cleanUpFailedBake = async (input: BakeFailureInput, deps: CleanUpFailedBakeDeps): Promise<BakeFailure> => {
  const { failedStep, reason } = describeFailure(input);
  const automationExecutionId = input.automation?.automationExecutionId ?? automationIdFromCause(input) ?? null;
  const family = input.plan?.family ?? requestedFamily(input.request) ?? 'unknown';
  const errors: CleanupError[] = [];
  const cleanupErrors: string[] = [];
  const attempt = async <T>(step: string, resource: string | null, work: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      const failed = {
        step,
        resource: error instanceof CleanupStepError ? error.resource : resource,
        error: describeError(error),
      };
      deps.logger.error(`cleanup step failed: ${step}`, { ...failed });
      errors.push(failed);
      cleanupErrors.push(`${step}: ${messageOf(error)}`);
      return fallback;
    }
  };

  const automation = automationExecutionId
    ? await attempt(
        CleanupStep.StopAutomation,
        automationExecutionId,
        () => stopAutomation(automationExecutionId, deps),
        undefined,
      )
    : undefined;
  const launched = launchedBuilder(automation);
  const terminatedInstanceIds = await attempt(
    CleanupStep.TerminateBuilders,
    launched ?? `instances tagged ${Tag.BakeId}=${input.bakeId}`,
    () => terminateBuilders(input.bakeId, launched, deps),
    [],
  );
  // Once the automation succeeded the image may already be in a channel: it stays (the janitor
  // owns it from here). Before that, an image of this bake was never published and goes.
  const discardedImageIds = input.automation?.result
    ? []
    : await attempt(
        CleanupStep.DiscardImages,
        `images tagged ${Tag.BakeId}=${input.bakeId}`,
        () => discardImages(input.bakeId, deps),
        [],
      );
  if (input.plan?.action === 'bake') {
    const lockKey = input.plan.lockKey;
    await attempt(CleanupStep.ReleaseLock, lockKey, () => releaseLock(lockKey, input.bakeId, deps), undefined);
  }

  const failure: BakeFailure = {
    bakeId: input.bakeId,
    family,
    failedStep,
    reason: reasonWithCleanup(reason, errors),
    automationExecutionId,
    terminatedInstanceIds,
    discardedImageIds,
    cleanupErrors,
    cleanup: {
      errors,
      builderTerminated: !errors.some(({ step }) => step === CleanupStep.TerminateBuilders),
    },
  };
  deps.logger.warn('bake failed', { ...failure });
  return failure;
};

const requestedFamily = (request: unknown): string | undefined =>
  request && typeof request === 'object' && 'family' in request && typeof request.family === 'string'
    ? request.family
    : undefined;

const parseJson = (text: string | undefined): unknown => {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

const isAutomationCause = (value: unknown): value is AutomationFailureCause =>
  !!value && typeof value === 'object' && 'automationExecutionId' in value && 'reason' in value;

const automationIdFromCause = (input: BakeFailureInput): string | undefined => {
  const record = Object.values(input.failure ?? {})[0];
  const cause = parseJson(record?.Cause);
  return isAutomationCause(cause) && cause.automationExecutionId ? cause.automationExecutionId : undefined;
};

/** Names the failed step: the automation's step when the automation failed, else the state. */
export const describeFailure = (input: BakeFailureInput): { failedStep: string; reason: string } => {
  const [stateName, found] = Object.entries(input.failure ?? {})[0] ?? ['Unknown', {}];
  // A malformed record must not stop `Bake Failed` from being published.
  const record: { Error?: string; Cause?: string } = found && typeof found === 'object' ? found : {};
  const error = record.Error ?? 'Error';
  const cause = parseJson(record.Cause);
  if (isAutomationCause(cause)) {
    return {
      failedStep: cause.failedStep ? `${stateName}/${cause.failedStep}` : stateName,
      reason: `${error}: ${cause.reason}`,
    };
  }
  // Lambda errors arrive as {"errorType","errorMessage","trace"}; service errors as text.
  const message =
    cause && typeof cause === 'object' && 'errorMessage' in cause && typeof cause.errorMessage === 'string'
      ? cause.errorMessage
      : (record.Cause ?? 'no cause given');
  return { failedStep: stateName, reason: `${error}: ${message}` };
};

/** Stops the automation if it still runs; resolves to the execution as it was found (undefined if unknown). */
const stopAutomation = async (id: string, deps: CleanUpFailedBakeDeps): Promise<AutomationExecution | undefined> => {
  try {
    const { AutomationExecution } = await deps.ssm.send(
      new GetAutomationExecutionCommand({ AutomationExecutionId: id }),
    );
    if (isTerminal(AutomationExecution?.AutomationExecutionStatus)) return AutomationExecution;
    await deps.ssm.send(new StopAutomationExecutionCommand({ AutomationExecutionId: id, Type: 'Cancel' }));
    deps.logger.info('stopped automation', { automationExecutionId: id });
    return AutomationExecution;
  } catch (error) {
    if (errorNameOf(error) === 'AutomationExecutionNotFoundException') return undefined;
    throw error;
  }
};

const tagOf = (instance: Instance, key: string): string | undefined =>
  instance.Tags?.find((tag) => tag.Key === key)?.Value;

/**
 * The builder the automation named, when the tag search did not list it: right after
 * RunInstances, EC2 may leave a new instance out of filtered Describe calls and answer
 * InvalidInstanceID.NotFound by id (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
 * Waits (SDK waitUntilInstanceExists, bounded) until EC2 knows it, then takes it only if it is
 * this bake's builder and still live: only what Bakehouse tagged is ever terminated.
 */
const launchedLiveBuilder = async (
  bakeId: string,
  instanceId: string,
  deps: CleanUpFailedBakeDeps,
): Promise<string | undefined> => {
  try {
    await waitForInstanceVisible(deps.ec2, instanceId, deps.visibilityWait);
  } catch (error) {
    if (!(error instanceof ResourceNotVisibleError)) throw error;
    // Long gone (terminated instances drop out of Describe after about an hour) or never launched.
    deps.logger.warn('the builder the automation launched is unknown to EC2; nothing to terminate', { instanceId });
    return undefined;
  }
  const { Reservations = [] } = await deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = Reservations.flatMap((reservation) => reservation.Instances ?? [])[0];
  if (!instance) return undefined;
  const ours = tagOf(instance, Tag.BakeId) === bakeId && tagOf(instance, Tag.Role) === BUILDER_ROLE;
  const live = LIVE_STATES.includes(instance.State?.Name ?? '');
  return ours && live ? instanceId : undefined;
};

const terminateBuilders = async (
  bakeId: string,
  launched: string | undefined,
  deps: CleanUpFailedBakeDeps,
): Promise<string[]> => {
  const ids: string[] = [];
  const pages = eachPage((NextToken) =>
    deps.ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${Tag.BakeId}`, Values: [bakeId] },
          { Name: `tag:${Tag.Role}`, Values: [BUILDER_ROLE] },
          { Name: 'instance-state-name', Values: LIVE_STATES },
        ],
        MaxResults: 100,
        NextToken,
      }),
    ),
  );
  for await (const page of pages) {
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) {
        if (instance.InstanceId) ids.push(instance.InstanceId);
      }
    }
  }
  if (launched !== undefined && !ids.includes(launched)) {
    const builder = await launchedLiveBuilder(bakeId, launched, deps);
    if (builder) ids.push(builder);
  }
  for (let i = 0; i < ids.length; i += 50) {
    const batch = ids.slice(i, i + 50);
    try {
      await deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: batch }));
    } catch (error) {
      throw new CleanupStepError(batch.join(','), error);
    }
  }
  if (ids.length > 0) deps.logger.info('terminated builder instances', { instanceIds: ids });
  return ids;
};

const discardImages = async (bakeId: string, deps: CleanUpFailedBakeDeps): Promise<string[]> => {
  const ids: string[] = [];
  const pages = eachPage((NextToken) =>
    deps.ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        IncludeDeprecated: true,
        IncludeDisabled: true,
        Filters: [
          { Name: `tag:${Tag.BakeId}`, Values: [bakeId] },
          { Name: `tag:${Tag.Managed}`, Values: ['true'] },
        ],
        MaxResults: 100,
        NextToken,
      }),
    ),
  );
  for await (const page of pages) {
    for (const image of page.Images ?? []) {
      if (image.ImageId) ids.push(image.ImageId);
    }
  }
  for (const imageId of ids) {
    await deps.ec2.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }));
  }
  if (ids.length > 0) deps.logger.info('discarded images of the failed bake', { imageIds: ids });
  return ids;
};

/**
 * Deletes the family lock only while this bake owns it (a DeleteItem conditional on the owner). A
 * lock that is gone was released already, or expired and deleted: nothing to do. A lock another
 * bake holds means a planner took it over as stale while this bake still ran: not ours to delete,
 * and worth reporting (the cleanup error names the holder).
 */
const releaseLock = async (key: string, bakeId: string, deps: CleanUpFailedBakeDeps): Promise<void> => {
  if (!deps.locks) {
    throw new LockNotHeldError(
      `no state table to release ${key} in. Fix: deploy through the Bakehouse stack, which sets STATE_TABLE_NAME`,
    );
  }
  const result = await deps.locks.release(key, bakeId);
  if (result.released || result.holder === undefined) return;
  throw new LockNotHeldError(
    `${key} is held by ${result.holder.owner} (since ${result.holder.acquiredAt}), not by this bake: it was taken over as stale, and is left to its holder`,
  );
};
