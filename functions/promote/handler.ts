import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { bindChannels } from '../commons/channels';
import { createEc2Client, createEventBridgeClient, createSsmClient } from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { readEnv } from '../commons/env';
import { errorNameOf, messageOf } from '../commons/errors';
import { logger } from '../commons/powertools';
import { type PromoteDeps, type PromoteResult, promote } from './core';
import { createTargetDeps, distributeImage, refreshAutoScalingGroups, updateLaunchTemplates } from './targets';

const env = readEnv(['EVENT_BUS_NAME', 'AWS_REGION']);
const config = bakehouseConfig();
const ec2 = createEc2Client();

const deps: PromoteDeps = {
  config,
  ec2,
  channels: bindChannels({ ssm: createSsmClient(), ec2, parameterPrefix: config.settings.parameterPrefix }),
  targets: { updateLaunchTemplates, refreshAutoScalingGroups, distributeImage },
  targetDeps: createTargetDeps({ homeRegion: env.AWS_REGION, logger }),
  events: createEventBridgeClient(),
  eventTarget: { busName: env.EVENT_BUS_NAME, source: config.settings.eventSource },
  clock: () => new Date(),
  logger,
};

interface IncomingEvent {
  readonly id?: string;
  readonly source?: string;
  readonly 'detail-type'?: string;
}

const promoteHandler = async (event: IncomingEvent): Promise<PromoteResult> => {
  logger.appendKeys({ eventId: event.id, source: event.source, detailType: event['detail-type'] });
  try {
    return await promote(event, deps);
  } catch (error) {
    // One line with the reason; the async on-failure destination (DLQ) keeps the event and the error.
    logger.error('event not processed', { error: errorNameOf(error), reason: messageOf(error) });
    throw error;
  }
};

/** Target of the AMI Baked, AMI Tested and Promote Requested rules on the Bakehouse bus. */
export const handler = middy<IncomingEvent, PromoteResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(promoteHandler);
