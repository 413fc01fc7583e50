import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { createAutoScalingClient, createEc2Client, createSsmClient, ec2ClockOf } from '../commons/clients';
import { logger } from '../commons/powertools';
import { type ReaperDeps, type ReaperReport, reapExpiredInstances } from '../commons/reaper';

const ec2 = createEc2Client();
const deps: ReaperDeps = {
  ec2,
  ssm: createSsmClient(),
  autoScaling: createAutoScalingClient(),
  clock: ec2ClockOf(ec2),
  logger,
};

/** The hourly schedule sends no payload; a direct invoke may send `{"dryRun": true}`. */
export interface ReaperInput {
  readonly dryRun?: boolean;
}

const reaperHandler = async (event: ReaperInput | null | undefined): Promise<ReaperReport> =>
  reapExpiredInstances(deps, { dryRun: event?.dryRun === true });

export const handler = middy<ReaperInput | null | undefined, ReaperReport>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(reaperHandler);
