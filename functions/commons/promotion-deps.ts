/** The clients and settings a promotion needs in Lambda, built once per container (Promote and Revoke). */
import { bindChannels } from './channels';
import { createEc2Client, createEventBridgeClient, createSsmClient } from './clients';
import { bakehouseConfig } from './config';
import { readEnv, STATE_TABLE_NAME_KEY } from './env';
import { logger } from './powertools';
import type { PromotionDeps } from './promotion';
import {
  checkLaunchTemplates,
  createTargetDeps,
  distributeImage,
  refreshAutoScalingGroups,
  updateLaunchTemplates,
} from './promotion-targets';
import { createLocks, createStateTableClient } from './state-table';

export const createPromotionDeps = (): PromotionDeps => {
  const env = readEnv(['EVENT_BUS_NAME', 'AWS_REGION', STATE_TABLE_NAME_KEY]);
  const config = bakehouseConfig();
  const ec2 = createEc2Client();
  return {
    config,
    ec2,
    channels: bindChannels({ ssm: createSsmClient(), ec2, parameterPrefix: config.settings.parameterPrefix }),
    targets: { checkLaunchTemplates, updateLaunchTemplates, refreshAutoScalingGroups, distributeImage },
    targetDeps: createTargetDeps({ homeRegion: env.AWS_REGION, logger }),
    events: createEventBridgeClient(),
    eventTarget: { busName: env.EVENT_BUS_NAME, source: config.settings.eventSource },
    clock: () => new Date(),
    logger,
    locks: createLocks({
      client: createStateTableClient(),
      tableName: env[STATE_TABLE_NAME_KEY],
      clock: () => new Date(),
      logger,
    }),
  };
};
