import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import type { CallbackDeps, SettleOutcome } from '../commons/automation-wait';
import { createSfnClient, createSsmClient } from '../commons/clients';
import { readEnv, STATE_TABLE_NAME_KEY } from '../commons/env';
import { bakeMetricsOf, createMetrics } from '../commons/metrics';
import { logger } from '../commons/powertools';
import { createStateTableClient } from '../commons/state-table';
import { type AutomationStatusDetail, resume } from './core';

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

type StatusEvent = EventBridgeEvent<'EC2 Automation Execution Status-change Notification', AutomationStatusDetail>;

const automationEventsHandler = async (event: StatusEvent): Promise<{ outcome: SettleOutcome }> => {
  logger.appendKeys({ automationExecutionId: event.detail.ExecutionId });
  const outcome = await resume(event.detail, deps);
  logger.info('automation status change handled', { status: event.detail.Status, outcome });
  return { outcome };
};

/** Target of the SSM automation status-change rule of the bake documents. */
export const handler = middy<StatusEvent, { outcome: SettleOutcome }>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(automationEventsHandler);
