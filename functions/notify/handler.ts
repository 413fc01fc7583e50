import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createSecretsManagerClient } from '../commons/clients';
import { bakehouseConfig } from '../commons/config';
import { eventConsumer } from '../commons/consumer';
import type { IncomingEvent } from '../commons/contract';
import { readEnv, STATE_TABLE_NAME_KEY } from '../commons/env';
import { logger } from '../commons/powertools';
import { createStateTableClient } from '../commons/state-table';
import { type NotifyDeps, type NotifyResult, notify } from './core';
import { cachedSecret, parseSlackSecret, redact, type SlackPort, slackPortFor } from './slack';
import { stateTableStore } from './state';

const env = readEnv(['SLACK_SECRET_ID', 'STATE_MACHINE_ARN', 'AWS_REGION', STATE_TABLE_NAME_KEY]);
const config = bakehouseConfig();
const secrets = createSecretsManagerClient();
const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Bakehouse' });

/** The secret, read at most every 5 minutes per container; its value is never logged. */
const readSecret = cachedSecret(
  async () => (await secrets.send(new GetSecretValueCommand({ SecretId: env.SLACK_SECRET_ID }))).SecretString,
  { ttlMs: 5 * 60_000, clock: () => new Date() },
);

/** One Slack client per secret value (a rotated token gets a new client). */
let port: { text: string; port: SlackPort } | undefined;
const slack = async (): Promise<SlackPort | undefined> => {
  const text = await readSecret();
  if (!text) return undefined;
  if (port?.text === text) return port.port;
  const secret = parseSlackSecret(text);
  if (!secret) return undefined;
  port = { text, port: slackPortFor(secret) };
  return port.port;
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const baseDeps: Omit<NotifyDeps, 'owner'> = {
  config,
  store: stateTableStore({
    client: createStateTableClient(),
    tableName: env[STATE_TABLE_NAME_KEY],
    clock: () => new Date(),
    logger,
    sleep,
  }),
  slack,
  links: { region: env.AWS_REGION, stateMachineArn: env.STATE_MACHINE_ARN },
  clock: () => new Date(),
  sleep,
  logger,
  metrics: { count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value) },
};

/** Target of the Notify rules on the Bakehouse bus; a rejection's reason is logged without the secret. */
export const handler = eventConsumer<IncomingEvent, NotifyResult>(
  'notification event',
  (event, context) => notify(event, { ...baseDeps, owner: context.awsRequestId }),
  { redact },
).use(logMetrics(metrics));
