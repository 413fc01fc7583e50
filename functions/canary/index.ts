/**
 * The canary function (issue 16): every Task of the canary state machine and the target of the
 * rule on its stopped executions, dispatched on `event.action`. The composition root: env read and
 * clients built once per container; the work is in core.ts.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import middy from '@middy/core';
import { createAutoScalingClient, createEc2Client, createEventBridgeClient, createSsmClient } from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { readEnv } from '../commons/env';
import { BakehouseError } from '../commons/errors';
import { logger } from '../commons/powertools';
import {
  type CanaryDeps,
  type CanaryRun,
  type CleanupInput,
  type CleanupOutput,
  type CleanupStoppedOutput,
  checkCanary,
  cleanupCanary,
  cleanupStopped,
  type ExecutionStatusChange,
  type FinishInput,
  type FinishOutput,
  finishCanary,
  judgeCanaryRun,
  type SkippedCanary,
  type StartInput,
  startCanary,
} from './core';

const env = readEnv(['EVENT_BUS_NAME']);
const config = bakehouseConfig();

const deps: CanaryDeps = {
  config,
  ec2: createEc2Client(),
  ssm: createSsmClient(),
  autoScaling: createAutoScalingClient(),
  // The same retry settings as the other clients (commons/clients.ts).
  cloudWatch: new CloudWatchClient({ retryMode: 'adaptive', maxAttempts: 8 }),
  events: createEventBridgeClient(),
  target: { busName: env.EVENT_BUS_NAME, source: process.env.EVENT_SOURCE || config.settings.eventSource },
  clock: () => new Date(),
  logger,
};

export type CanaryAction =
  | ({ readonly action: 'start' } & StartInput)
  | { readonly action: 'check'; readonly state: CanaryRun }
  | { readonly action: 'judge'; readonly state: CanaryRun }
  | ({ readonly action: 'finish' } & FinishInput)
  | ({ readonly action: 'cleanup' } & CleanupInput)
  | { readonly action: 'cleanupStopped'; readonly event: ExecutionStatusChange };

export type CanaryResult = SkippedCanary | CanaryRun | FinishOutput | CleanupOutput | CleanupStoppedOutput;

/** An event this function was not built for: a wiring mistake, not something to retry. */
export class UnknownCanaryActionError extends BakehouseError {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownCanaryActionError';
  }
}

const canaryHandler = async (event: CanaryAction): Promise<CanaryResult> => {
  switch (event.action) {
    case 'start':
      logger.appendKeys({ canaryId: event.canaryId });
      return startCanary(event, deps);
    case 'check':
      logger.appendKeys({ canaryId: event.state.canaryId });
      return checkCanary(event.state, deps);
    case 'judge':
      logger.appendKeys({ canaryId: event.state.canaryId });
      return judgeCanaryRun(event.state, deps);
    case 'finish':
      logger.appendKeys({ canaryId: event.state.canaryId });
      return finishCanary(event, deps);
    case 'cleanup':
      logger.appendKeys({ canaryId: event.canaryId });
      return cleanupCanary(event, deps);
    case 'cleanupStopped':
      logger.appendKeys({ canaryId: event.event.detail?.name });
      return cleanupStopped(event.event, deps);
    default:
      throw new UnknownCanaryActionError(
        `canary: unknown action '${String((event as { action?: unknown }).action)}'. Fix: send one of start, check, judge, finish, cleanup, cleanupStopped`,
      );
  }
};

export const handler = middy<CanaryAction, CanaryResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(canaryHandler);
