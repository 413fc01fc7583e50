import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { createSfnClient, createSsmClient } from '../commons/clients';
import { readEnv } from '../commons/env';
import { logger } from '../commons/powertools';
import {
  type AutomationStatusDetail,
  type CallbackDeps,
  type RegisterInput,
  register as registerWait,
  resume as resumeWait,
  type SettleOutcome,
} from './core';

const env = readEnv(['CALLBACK_PARAMETER_PREFIX']);

const deps: CallbackDeps = {
  ssm: createSsmClient(),
  sfn: createSfnClient(),
  clock: () => new Date(),
  logger,
  parameterPrefix: env.CALLBACK_PARAMETER_PREFIX,
};

const registerHandler = async (event: RegisterInput): Promise<{ outcome: SettleOutcome }> => {
  logger.appendKeys({ bakeId: event.bakeId, automationExecutionId: event.automationExecutionId });
  const outcome = await registerWait(event, deps);
  logger.info('waiting on automation', { outcome });
  return { outcome };
};

type StatusEvent = EventBridgeEvent<'EC2 Automation Execution Status-change Notification', AutomationStatusDetail>;

const resumeHandler = async (event: StatusEvent): Promise<{ outcome: SettleOutcome }> => {
  logger.appendKeys({ automationExecutionId: event.detail.ExecutionId });
  const outcome = await resumeWait(event.detail, deps);
  logger.info('automation status change handled', { status: event.detail.Status, outcome });
  return { outcome };
};

/** `.waitForTaskToken` task of the bake state machine. */
export const register = middy<RegisterInput, { outcome: SettleOutcome }>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(registerHandler);

/** Target of the SSM automation status-change rule. */
export const resume = middy<StatusEvent, { outcome: SettleOutcome }>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(resumeHandler);
