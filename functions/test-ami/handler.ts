import type { EventBridgeEvent } from 'aws-lambda';
import { createEc2Client, createEventBridgeClient, createSsmClient } from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { eventConsumer } from '../commons/consumer';
import { readEnv } from '../commons/env';
import { logger } from '../commons/powertools';
import { type TestAmiDeps, type TestAmiResult, testAmi } from './core';

const env = readEnv(['EVENT_BUS_NAME', 'TEST_DOCUMENT_PREFIX', 'TEST_AUTOMATION_ROLE_ARN', 'TESTER_INSTANCE_PROFILE']);
const config = bakehouseConfig();

const deps: TestAmiDeps = {
  config,
  ec2: createEc2Client(),
  ssm: createSsmClient(),
  events: createEventBridgeClient(),
  target: { busName: env.EVENT_BUS_NAME, source: config.settings.eventSource },
  clock: () => new Date(),
  logger,
  documentPrefix: env.TEST_DOCUMENT_PREFIX,
  automationRoleArn: env.TEST_AUTOMATION_ROLE_ARN,
  instanceProfileName: env.TESTER_INSTANCE_PROFILE,
};

type AmiBakedEvent = EventBridgeEvent<'AMI Baked', unknown>;

/** Target of the `AMI Baked` rule on the Bakehouse bus. */
export const handler = eventConsumer<AmiBakedEvent, TestAmiResult>('AMI Baked', (event) => testAmi(event, deps));
