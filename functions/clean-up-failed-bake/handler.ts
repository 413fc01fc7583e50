import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { BakeFailure, BakeFailureInput } from '../commons/bake-plan';
import { createEc2Client, createEventBridgeClient, createSfnClient, createSsmClient } from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { readEnv, STATE_TABLE_NAME_KEY } from '../commons/env';
import { BakeOutcome, bakeMetricsOf, createMetrics } from '../commons/metrics';
import { logger } from '../commons/powertools';
import { createLocks, createStateTableClient } from '../commons/state-table';
import { cleanUpFailedBake } from './core';
import {
  cleanUpStoppedExecution,
  type ExecutionStatusChange,
  isExecutionStatusChange,
  type StoppedExecutionDeps,
  type StoppedExecutionResult,
} from './stopped-execution';

const env = readEnv(['EVENT_BUS_NAME', STATE_TABLE_NAME_KEY]);

const deps: StoppedExecutionDeps = {
  ec2: createEc2Client(),
  ssm: createSsmClient(),
  sfn: createSfnClient(),
  events: createEventBridgeClient(),
  target: { busName: env.EVENT_BUS_NAME, source: bakehouseConfig().settings.eventSource },
  locks: createLocks({
    client: createStateTableClient(),
    tableName: env[STATE_TABLE_NAME_KEY],
    clock: () => new Date(),
    logger,
  }),
  logger,
};

const metrics = bakeMetricsOf(createMetrics());

/**
 * Two callers: the bake state machine's CleanUpFailedBake task (the bake record; the machine
 * publishes `Bake Failed`), and the rule on Step Functions' status changes for executions that
 * ended outside that path (stopped-execution.ts; this function publishes `Bake Failed`).
 */
const cleanUpFailedBakeHandler = async (
  event: BakeFailureInput | ExecutionStatusChange,
): Promise<BakeFailure | StoppedExecutionResult> => {
  if (isExecutionStatusChange(event)) {
    logger.appendKeys({ executionArn: event.detail?.executionArn, bakeId: event.detail?.name });
    const result = await cleanUpStoppedExecution(event, deps);
    logger.info('stopped execution handled', { outcome: result.outcome });
    if (result.outcome === 'announced') metrics.bakeEnded(BakeOutcome.Failed, result.failure.family);
    return result;
  }
  logger.appendKeys({ bakeId: event.bakeId });
  // Every failed bake passes here, and only once: the state machine's failure path calls this
  // function before PublishBakeFailed, and a bake stopped outside that path is announced above (a
  // bake that already announced its outcome is not counted again). So this function, not the
  // machine's putEvents task, records `failed`.
  const failure = await cleanUpFailedBake(event, deps);
  metrics.bakeEnded(BakeOutcome.Failed, failure.family);
  return failure;
};

export const handler = middy<BakeFailureInput | ExecutionStatusChange, BakeFailure | StoppedExecutionResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(cleanUpFailedBakeHandler);
