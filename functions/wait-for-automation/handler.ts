import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { CallbackDeps, SettleOutcome } from '../commons/automation-wait';
import { createSfnClient, createSsmClient } from '../commons/clients';
import { readEnv, STATE_TABLE_NAME_KEY } from '../commons/env';
import { bakeMetricsOf, createMetrics } from '../commons/metrics';
import { logger } from '../commons/powertools';
import { createStateTableClient } from '../commons/state-table';
import { type RegisterInput, register } from './core';

const env = readEnv(['CALLBACK_PARAMETER_PREFIX', STATE_TABLE_NAME_KEY]);

const deps: CallbackDeps = {
  ssm: createSsmClient(),
  sfn: createSfnClient(),
  clock: () => new Date(),
  logger,
  parameterPrefix: env.CALLBACK_PARAMETER_PREFIX,
  metrics: bakeMetricsOf(createMetrics()),
  // Each baked image's inventory is recorded here (`bakehouse diff` reads it).
  inventories: { client: createStateTableClient(), tableName: env[STATE_TABLE_NAME_KEY] },
};

const waitForAutomationHandler = async (event: RegisterInput): Promise<{ outcome: SettleOutcome }> => {
  logger.appendKeys({ bakeId: event.bakeId, automationExecutionId: event.automationExecutionId });
  const outcome = await register(event, deps);
  logger.info('waiting on automation', { outcome });
  return { outcome };
};

/** The WaitForAutomation task of the bake state machine (`.waitForTaskToken`). */
export const handler = middy<RegisterInput, { outcome: SettleOutcome }>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(waitForAutomationHandler);
