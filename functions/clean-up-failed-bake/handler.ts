import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { BakeFailure, BakeFailureInput } from '../commons/bake-plan';
import { createEc2Client, createSsmClient } from '../commons/clients';
import { logger } from '../commons/powertools';
import { cleanUpFailedBake } from './core';

const deps = { ec2: createEc2Client(), ssm: createSsmClient(), logger };

const cleanUpFailedBakeHandler = async (event: BakeFailureInput): Promise<BakeFailure> => {
  logger.appendKeys({ bakeId: event.bakeId });
  return cleanUpFailedBake(event, deps);
};

export const handler = middy<BakeFailureInput, BakeFailure>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(cleanUpFailedBakeHandler);
