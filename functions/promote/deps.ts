/** The clients and settings a promotion needs in Lambda, built once per container (Promote and Revoke). */
import { bindChannels } from '../commons/channels';
import { createEc2Client, createEventBridgeClient, createSsmClient } from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { readEnv } from '../commons/env';
import { logger } from '../commons/powertools';
import type { PromotionDeps } from './apply';
import { createTargetDeps, distributeImage, refreshAutoScalingGroups, updateLaunchTemplates } from './targets';

export const createPromotionDeps = (): PromotionDeps => {
  const env = readEnv(['EVENT_BUS_NAME', 'AWS_REGION']);
  const config = bakehouseConfig();
  const ec2 = createEc2Client();
  return {
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
};
