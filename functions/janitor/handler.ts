import type { Context } from 'aws-lambda';
import {
  createAutoScalingClient,
  createEc2Client,
  createEventBridgeClient,
  createSsmClient,
  ec2ClockOf,
} from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { eventConsumer } from '../commons/consumer';
import { readEnv, STATE_TABLE_NAME_KEY } from '../commons/env';
import { createMetrics, recordJanitorRun } from '../commons/metrics';
import { logger } from '../commons/powertools';
import { reapExpiredInstances } from '../commons/reaper';
import { createStateTableClient } from '../commons/state-table';
import { applyPlan } from './apply';
import { stateTableCheckpoint } from './checkpoint';
import { type JanitorDeps, type JanitorRunReport, runJanitor } from './core';
import { readInventory } from './inventory';
import { paceEc2Client } from './pacing';
import { planJanitor } from './plan';

const env = readEnv(['EVENT_BUS_NAME', STATE_TABLE_NAME_KEY]);
const config = bakehouseConfig();
// Every EC2 call paced at its action's refill rate, for the container's life (EC2's buckets carry over).
const ec2 = paceEc2Client(createEc2Client());
const ssm = createSsmClient();
const autoScaling = createAutoScalingClient();
const events = createEventBridgeClient();
/** Image ages and grace periods count on EC2's clock, not the container's. */
const clock = ec2ClockOf(ec2);
/** A run's parts keep their launch permission reads in the state table. */
const stateTable = createStateTableClient();
const checkpoint = stateTableCheckpoint({
  client: stateTable,
  tableName: env[STATE_TABLE_NAME_KEY],
  clock,
  logger,
});
const { parameterPrefix } = config.settings;
const metrics = createMetrics();

/** The account from the function's own ARN (arn:aws:lambda:region:ACCOUNT:function:name). */
const accountOf = (context: Context): string => context.invokedFunctionArn.split(':')[4] ?? '';

const depsFor = (account: string, context: Context): JanitorDeps => ({
  settings: config.settings,
  retention: config.families,
  readInventory,
  inventoryDeps: { ec2, ssm, autoScaling, account, parameterPrefix, clock },
  plan: planJanitor,
  apply: applyPlan,
  // No bucket of its own: the client paces DeregisterImage and DeleteSnapshot with every other call.
  // A deregistered image's inventory item (bakehouse diff) goes with it.
  applyDeps: {
    ec2,
    ssm,
    parameterPrefix,
    clock,
    logger,
    inventories: { client: stateTable, tableName: env[STATE_TABLE_NAME_KEY] },
  },
  ssm,
  events,
  eventTarget: { busName: env.EVENT_BUS_NAME, source: config.settings.eventSource },
  clock,
  logger,
  reap: (options) => reapExpiredInstances({ ec2, ssm, autoScaling, clock, logger }, options),
  // A run that cannot finish in this invocation ends before Lambda's timeout and continues in the next part.
  remainingMs: () => context.getRemainingTimeInMillis(),
  checkpoint,
});

/**
 * Nightly schedule target (no payload) and direct invoke with `{"dryRun": true|false,
 * "unreadableParameters": "stop"|"continue"}`. The run's report lists every item, so the outcome
 * line carries its summary.
 */
export const handler = eventConsumer<unknown, JanitorRunReport>(
  'janitor run',
  async function janitorRun(event, context) {
    const report = await runJanitor(event, context.awsRequestId, depsFor(accountOf(context), context));
    // Each part of a run records what it did (the dashboard sums them per period).
    recordJanitorRun(metrics, report);
    return report;
  },
  {
    outcome: ({ runId, dryRun, completed, stoppedBecause, counts, parameters, part, deferred }) => ({
      runId,
      ...(part ? { part } : {}),
      ...(deferred ? { deferred } : {}),
      dryRun,
      completed,
      stoppedBecause,
      counts,
      ...(parameters
        ? {
            parameters: {
              listed: parameters.listed,
              secureStringsSkipped: parameters.secureStringsSkippedCount,
              unreadable: parameters.unreadableCount,
            },
          }
        : {}),
    }),
  },
);
