import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { createEventBridgeClient, createSfnClient } from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { readEnv } from '../commons/env';
import { logger } from '../commons/powertools';
import { type BakeRequestedEvent, type StartBakeResult, startBake } from './core';

const env = readEnv(['STATE_MACHINE_ARN', 'EVENT_BUS_NAME']);
const config = bakehouseConfig();
const deps = {
  config,
  sfn: createSfnClient(),
  stateMachineArn: env.STATE_MACHINE_ARN,
  logger,
  events: createEventBridgeClient(),
  eventTarget: { busName: env.EVENT_BUS_NAME, source: config.settings.eventSource },
};

const startBakeHandler = async (event: BakeRequestedEvent): Promise<StartBakeResult> => {
  logger.appendKeys({ eventId: event.id, source: event.source });
  return startBake(event, deps);
};

export const handler = middy<BakeRequestedEvent, StartBakeResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(startBakeHandler);
