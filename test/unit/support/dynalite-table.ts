/**
 * A real DynamoDB wire implementation in the test process: dynalite (the engine the sandbox uses),
 * in memory, with the state table created as the stack declares it. Condition expressions are
 * evaluated by dynalite, not by a hand-written fake, so tests of concurrent writers prove what
 * DynamoDB's conditions decide.
 */
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { StateTableSchema } from '../../../functions/commons/state-table';

// dynalite 4 ships no types: its one export makes a Node HTTP server.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: { createTableMs?: number }) => Server;

export interface DynaliteTable {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  close(): Promise<void>;
}

export const startDynaliteTable = async (tableName = 'bakehouse-test-state'): Promise<DynaliteTable> => {
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const raw = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await raw.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: StateTableSchema.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: StateTableSchema.partitionKey, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await waitUntilTableExists({ client: raw, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { TableName: tableName });
  return {
    client: DynamoDBDocumentClient.from(raw),
    tableName,
    close: async () => {
      raw.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
