import type { EventBridgeEvent } from 'aws-lambda';
import { createEc2Client, createEventBridgeClient, createSsmClient } from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { eventConsumer } from '../commons/consumer';
import { readEnv } from '../commons/env';
import { logger } from '../commons/powertools';
import { recordTestResult, type TestResultDeps, type TestResultOutcome } from './core';

const env = readEnv(['EVENT_BUS_NAME', 'TEST_DOCUMENT_PREFIX']);
const config = bakehouseConfig();

const deps: TestResultDeps = {
  config,
  ec2: createEc2Client(),
  ssm: createSsmClient(),
  events: createEventBridgeClient(),
  target: { busName: env.EVENT_BUS_NAME, source: config.settings.eventSource },
  clock: () => new Date(),
  logger,
  documentPrefix: env.TEST_DOCUMENT_PREFIX,
};

type StatusEvent = EventBridgeEvent<'EC2 Automation Execution Status-change Notification', unknown>;

/** Target of the rule on SSM's status-change events of the test automations (default bus). */
export const handler = eventConsumer<StatusEvent, TestResultOutcome>('test automation status change', (event) =>
  recordTestResult(event, deps),
);
