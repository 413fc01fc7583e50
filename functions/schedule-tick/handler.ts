import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { createEventBridgeClient } from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { readEnv } from '../commons/env';
import { logger } from '../commons/powertools';
import { type ScheduleTickInput, type ScheduleTickResult, scheduleTick } from './core';

const env = readEnv(['EVENT_BUS_NAME']);
const config = bakehouseConfig();
const deps = {
  config,
  events: createEventBridgeClient(),
  target: { busName: env.EVENT_BUS_NAME, source: config.settings.eventSource },
  logger,
};

const scheduleTickHandler = async (event: ScheduleTickInput): Promise<ScheduleTickResult> => {
  logger.appendKeys({ family: event.family, scheduledTime: event.scheduledTime });
  return scheduleTick(event, deps);
};

export const handler = middy<ScheduleTickInput, ScheduleTickResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(scheduleTickHandler);
