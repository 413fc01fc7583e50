/**
 * The SDK clients of a target, built on first use. Apart from context.ts because loading the six
 * clients takes about a second: `main` imports this module when a command runs, never for `--help`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Clients, Target } from './context';

type ClientConfig = {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  maxAttempts: number;
};

/** The SDK options for a target: the sandbox takes any credentials, AWS the standard chain. */
export const clientConfig = (target: Target): ClientConfig => ({
  maxAttempts: target.sandbox ? 2 : 5,
  ...(target.endpoint === undefined ? {} : { endpoint: target.endpoint }),
  ...(target.region === undefined ? {} : { region: target.region }),
  ...(target.sandbox ? { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } } : {}),
});

/** Clients built on first use (a command builds only what it calls), destroyed by `close`. */
export const lazyClients = (target: Target): Clients & { close(): void } => {
  const config = clientConfig(target);
  const built = new Map<string, { destroy(): void }>();
  const get = <T extends { destroy(): void }>(key: string, make: () => T): T => {
    let client = built.get(key) as T | undefined;
    if (!client) {
      client = make();
      built.set(key, client);
    }
    return client;
  };
  return {
    get ec2() {
      return get('ec2', () => new EC2Client(config));
    },
    get ssm() {
      return get('ssm', () => new SSMClient(config));
    },
    get sfn() {
      return get('sfn', () => new SFNClient(config));
    },
    get events() {
      return get('events', () => new EventBridgeClient(config));
    },
    get lambda() {
      return get('lambda', () => new LambdaClient(config));
    },
    get sqs() {
      return get('sqs', () => new SQSClient(config));
    },
    get dynamodb() {
      return get('dynamodb', () => new DynamoDBClient(config));
    },
    close() {
      for (const client of built.values()) client.destroy();
      built.clear();
    },
  };
};
