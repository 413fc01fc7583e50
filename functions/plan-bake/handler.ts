import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { BakePlan } from '../commons/bake-plan';
import { createEc2Client, createSfnClient, createSsmClient } from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { readEnv, readIntEnv, STATE_TABLE_NAME_KEY } from '../commons/env';
import { BakeOutcome, bakeMetricsOf, createMetrics } from '../commons/metrics';
import { logger } from '../commons/powertools';
import { createLocks, createStateTableClient, readRecord } from '../commons/state-table';
import { type PlanBakeInput, planBake } from './core';

const env = readEnv([
  'AWS_REGION',
  'BAKE_DOCUMENT_LINUX_NAME',
  'BAKE_DOCUMENT_LINUX_SHA256',
  'BAKE_DOCUMENT_WINDOWS_NAME',
  'BAKE_DOCUMENT_WINDOWS_SHA256',
  'AUTOMATION_ROLE_ARN',
  'AUTOMATION_WAIT_SECONDS',
  'BUILDER_INSTANCE_PROFILE',
  'STATE_MACHINE_ARN',
  STATE_TABLE_NAME_KEY,
]);

const clock = () => new Date();
const stateTable = { client: createStateTableClient(), tableName: env[STATE_TABLE_NAME_KEY], clock, logger };

const deps = {
  config: bakehouseConfig(),
  settings: {
    region: env.AWS_REGION,
    documents: {
      linux: { name: env.BAKE_DOCUMENT_LINUX_NAME, sha256: env.BAKE_DOCUMENT_LINUX_SHA256 },
      windows: { name: env.BAKE_DOCUMENT_WINDOWS_NAME, sha256: env.BAKE_DOCUMENT_WINDOWS_SHA256 },
    },
    automationRoleArn: env.AUTOMATION_ROLE_ARN,
    builderInstanceProfile: env.BUILDER_INSTANCE_PROFILE,
    automationWaitSeconds: readIntEnv(env.AUTOMATION_WAIT_SECONDS, 'AUTOMATION_WAIT_SECONDS'),
    stateMachineArn: env.STATE_MACHINE_ARN,
  },
  ec2: createEc2Client(),
  ssm: createSsmClient(),
  sfn: createSfnClient(),
  locks: createLocks(stateTable),
  bakedKeyImage: async (key: string) => (await readRecord<{ amiId?: string }>(stateTable, key)).current?.data.amiId,
  clock,
  logger,
};

const metrics = bakeMetricsOf(createMetrics());

const planBakeHandler = async (event: PlanBakeInput): Promise<BakePlan> => {
  logger.appendKeys({ bakeId: event.bakeId });
  const plan = await planBake(event, deps);
  logger.info('bake planned', { action: plan.action, family: plan.family, bakeKey: plan.bakeKey });
  // A skip is decided here and nowhere else: the state machine publishes `Bake Skipped` itself
  // (PublishBakeSkipped, right after this task), so this is the function that knows the outcome.
  if (plan.action === 'skip') metrics.bakeEnded(BakeOutcome.Skipped, plan.family);
  return plan;
};

export const handler = middy<PlanBakeInput, BakePlan>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(planBakeHandler);
