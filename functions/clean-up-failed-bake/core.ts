/**
 * CleanUpFailedBake, the failure path of a bake: find out what failed, then leave nothing
 * behind. Stops the automation if it still runs, terminates this bake's builder instances (found
 * by tag, never by guess), discards images the failed bake created, and releases the family lock
 * if this bake holds it. Every cleanup step runs even if another fails; failures are reported,
 * not thrown, so `Bake Failed` is always published.
 */
import {
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  type EC2Client,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  DeleteParameterCommand,
  GetAutomationExecutionCommand,
  GetParameterCommand,
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
import { errorNameOf, messageOf } from '../commons/errors';
import { eachPage } from '../commons/pages';
import type { LogPort } from '../commons/powertools';

export interface CleanUpFailedBakeDeps {
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly logger: LogPort;
}

const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];
const MAX_REASON = 1_000;

export const cleanUpFailedBake = async (input: BakeFailureInput, deps: CleanUpFailedBakeDeps): Promise<BakeFailure> => {
  const { failedStep, reason } = describeFailure(input);
  const automationExecutionId = input.automation?.automationExecutionId ?? automationIdFromCause(input) ?? null;
  const family = input.plan?.family ?? requestedFamily(input.request) ?? 'unknown';
  const cleanupErrors: string[] = [];
  const attempt = async <T>(what: string, work: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      deps.logger.error(`cleanup step failed: ${what}`, { error: messageOf(error) });
      cleanupErrors.push(`${what}: ${messageOf(error)}`);
      return fallback;
    }
  };

  if (automationExecutionId) {
    await attempt('stop automation', () => stopAutomation(automationExecutionId, deps), undefined);
  }
  const terminatedInstanceIds = await attempt('terminate builders', () => terminateBuilders(input.bakeId, deps), []);
  // Once the automation succeeded the image may already be in a channel: it stays (the janitor
  // owns it from here). Before that, an image of this bake was never published and goes.
  const discardedImageIds = input.automation?.result
    ? []
    : await attempt('discard images', () => discardImages(input.bakeId, deps), []);
  if (input.plan?.action === 'bake') {
    const lockName = input.plan.lockParameterName;
    await attempt('release family lock', () => releaseLock(lockName, input.bakeId, deps), undefined);
  }

  const failure: BakeFailure = {
    bakeId: input.bakeId,
    family,
    failedStep,
    reason: reason.slice(0, MAX_REASON),
    automationExecutionId,
    terminatedInstanceIds,
    discardedImageIds,
    cleanupErrors,
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

const stopAutomation = async (id: string, deps: CleanUpFailedBakeDeps): Promise<void> => {
  try {
    const { AutomationExecution } = await deps.ssm.send(
      new GetAutomationExecutionCommand({ AutomationExecutionId: id }),
    );
    if (isTerminal(AutomationExecution?.AutomationExecutionStatus)) return;
    await deps.ssm.send(new StopAutomationExecutionCommand({ AutomationExecutionId: id, Type: 'Cancel' }));
    deps.logger.info('stopped automation', { automationExecutionId: id });
  } catch (error) {
    if (errorNameOf(error) === 'AutomationExecutionNotFoundException') return;
    throw error;
  }
};

const terminateBuilders = async (bakeId: string, deps: CleanUpFailedBakeDeps): Promise<string[]> => {
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
  for (let i = 0; i < ids.length; i += 50) {
    await deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids.slice(i, i + 50) }));
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

const releaseLock = async (name: string, bakeId: string, deps: CleanUpFailedBakeDeps): Promise<void> => {
  let holder: string | undefined;
  try {
    const { Parameter } = await deps.ssm.send(new GetParameterCommand({ Name: name }));
    holder = (parseJson(Parameter?.Value) as { bakeId?: string } | undefined)?.bakeId;
  } catch (error) {
    if (errorNameOf(error) === 'ParameterNotFound') return;
    throw error;
  }
  if (holder !== bakeId) return; // another bake took it over; not ours to release
  await deps.ssm.send(new DeleteParameterCommand({ Name: name }));
};
