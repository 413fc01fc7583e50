/**
 * DynamoDB in the sandbox (dynalite behind the sandbox endpoint), driven through
 * @aws-sdk/client-dynamodb: conditional writes, IAM on the table ARN, injected faults, data kept
 * across a restart, TTL deletion on the sandbox clock (late, as AWS), a table provisioned from a
 * template, and a Step Functions aws-sdk task that meets a failed condition.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTagsOfResourceCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionFromAssembly } from '../../src/provision';
import { roleSession } from '../../src/testing/iam';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let box: TestSandbox;
let ddb: DynamoDBClient;

beforeAll(async () => {
  box = await startTestSandbox();
  ddb = new DynamoDBClient(box.clientConfig);
});

afterAll(async () => {
  ddb.destroy();
  await box.stop();
});

let tableCount = 0;
/** CreateTable of a table keyed by `pk` (string): it answers CREATING, as AWS does. */
const createTableCommand = (name: string) =>
  new CreateTableCommand({
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
  });
/** Items can be written once the table is ACTIVE. */
const untilActive = (client: DynamoDBClient, name: string) =>
  waitUntilTableExists({ client, maxWaitTime: 10, minDelay: 0.05, maxDelay: 0.1 }, { TableName: name });

/** A table keyed by `pk` (string), ACTIVE when this resolves. */
const createTable = async (client: DynamoDBClient = ddb, name = `locks-${++tableCount}`): Promise<string> => {
  await client.send(createTableCommand(name));
  await untilActive(client, name);
  return name;
};

/** Polls (real time) until `check` holds. */
const eventually = async <T>(check: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> => {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const advance = (box: TestSandbox, seconds: number) =>
  box.control('POST', '/_sandbox/clock', { advanceSeconds: seconds });

const sandboxNowSeconds = (box: TestSandbox): number => Math.floor(box.sandbox.clock.nowMs() / 1000);

const lockPut = (table: string, owner: string) =>
  new PutItemCommand({
    TableName: table,
    Item: { pk: { S: 'lock#al2023-base' }, owner: { S: owner } },
    ConditionExpression: 'attribute_not_exists(pk)',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });

describe('conditional writes', () => {
  it('puts an item once under attribute_not_exists; the second put fails with the holder in the error', async () => {
    // Prepare
    const table = await createTable();

    // Act
    await ddb.send(lockPut(table, 'bake-1'));
    const error = await failure(ddb.send(lockPut(table, 'bake-2')));

    // Assess
    expect(error.name).toBe('ConditionalCheckFailedException');
    expect((error as { Item?: unknown }).Item).toEqual({ pk: { S: 'lock#al2023-base' }, owner: { S: 'bake-1' } });
    const held = await ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'lock#al2023-base' } } }));
    expect(held.Item?.owner).toEqual({ S: 'bake-1' });
  });

  it('deletes an item only when its condition holds, and updates with an expression', async () => {
    // Prepare
    const table = await createTable();
    await ddb.send(lockPut(table, 'bake-1'));
    const key = { pk: { S: 'lock#al2023-base' } };

    // Act
    const refused = await failure(
      ddb.send(
        new DeleteItemCommand({
          TableName: table,
          Key: key,
          ConditionExpression: '#owner = :me',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':me': { S: 'bake-2' } },
        }),
      ),
    );
    const updated = await ddb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: key,
        UpdateExpression: 'SET step = :step',
        ConditionExpression: '#owner = :me',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':me': { S: 'bake-1' }, ':step': { S: 'StartAutomation' } },
        ReturnValues: 'ALL_NEW',
      }),
    );
    await ddb.send(
      new DeleteItemCommand({
        TableName: table,
        Key: key,
        ConditionExpression: '#owner = :me',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':me': { S: 'bake-1' } },
      }),
    );

    // Assess
    expect(refused.name).toBe('ConditionalCheckFailedException');
    expect(updated.Attributes?.step).toEqual({ S: 'StartAutomation' });
    expect((await ddb.send(new GetItemCommand({ TableName: table, Key: key }))).Item).toBeUndefined();
  });

  it('queries a partition and names tables in the sandbox account and region', async () => {
    // Prepare
    const table = await createTable();
    await ddb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'bake#1' }, n: { N: '1' } } }));

    // Act
    const queried = await ddb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: 'bake#1' } },
      }),
    );
    const described = await ddb.send(new DescribeTableCommand({ TableName: table }));

    // Assess
    expect(queried.Items).toEqual([{ pk: { S: 'bake#1' }, n: { N: '1' } }]);
    expect(described.Table).toMatchObject({
      TableStatus: 'ACTIVE',
      TableArn: `arn:aws:dynamodb:us-east-1:${box.sandbox.account}:table/${table}`,
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
    });
  });

  it('refuses items while a new table is CREATING, as AWS does, and takes them once it is ACTIVE', async () => {
    // CreateTable reference: "You can perform read and write operations only on an ACTIVE table."
    const name = `creating-${++tableCount}`;
    const created = await ddb.send(createTableCommand(name));
    expect(created.TableDescription?.TableStatus).toBe('CREATING');
    const early = await failure(ddb.send(new PutItemCommand({ TableName: name, Item: { pk: { S: 'early' } } })));
    expect(early.name).toBe('ResourceNotFoundException');

    await untilActive(ddb, name);
    await ddb.send(new PutItemCommand({ TableName: name, Item: { pk: { S: 'later' } } }));
    const read = await ddb.send(new GetItemCommand({ TableName: name, Key: { pk: { S: 'later' } } }));
    expect(read.Item).toEqual({ pk: { S: 'later' } });
  });

  it('answers a missing table with ResourceNotFoundException', async () => {
    const error = await failure(ddb.send(new GetItemCommand({ TableName: 'no-such-table', Key: { pk: { S: 'x' } } })));
    expect(error.name).toBe('ResourceNotFoundException');
  });
});

describe('IAM and faults', () => {
  it('refuses PutItem to a role granted only GetItem on the table, and allows what it is granted', async () => {
    // Prepare
    const table = await createTable();
    const session = await roleSession(box, {
      roleName: 'dynamodb-reader',
      policy: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'dynamodb:GetItem',
            Resource: `arn:aws:dynamodb:us-east-1:${box.sandbox.account}:table/${table}`,
          },
        ],
      },
    });
    const reader = new DynamoDBClient(session.clientConfig);

    // Act
    const denied = await failure(reader.send(lockPut(table, 'bake-1')));
    const read = await reader.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'lock#al2023-base' } } }));
    reader.destroy();

    // Assess
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.message).toContain(
      `is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:${box.sandbox.account}:table/${table}`,
    );
    expect(read.Item).toBeUndefined();
    expect(
      (await ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'lock#al2023-base' } } }))).Item,
    ).toBeUndefined();
  });

  it('limits a role to the items whose partition key its dynamodb:LeadingKeys condition names', async () => {
    // Prepare
    const table = await createTable();
    const session = await roleSession(box, {
      roleName: 'dynamodb-locks-only',
      policy: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['dynamodb:PutItem', 'dynamodb:Query'],
            Resource: `arn:aws:dynamodb:us-east-1:${box.sandbox.account}:table/${table}`,
            Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['lock#*'] } },
          },
        ],
      },
    });
    const locks = new DynamoDBClient(session.clientConfig);
    const query = (pk: string) =>
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: pk } },
      });

    // Act
    await locks.send(lockPut(table, 'bake-1'));
    const deniedPut = await failure(
      locks.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'state#al2023-base' } } })),
    );
    const queried = await locks.send(query('lock#al2023-base'));
    const deniedQuery = await failure(locks.send(query('state#al2023-base')));
    locks.destroy();

    // Assess
    expect(deniedPut.name).toBe('AccessDeniedException');
    expect(queried.Count).toBe(1);
    expect(deniedQuery.name).toBe('AccessDeniedException');
  });

  it('fails the next PutItem with an injected ProvisionedThroughputExceededException, then succeeds', async () => {
    // Prepare
    const table = await createTable();
    await box.control('POST', '/_sandbox/faults', {
      service: 'dynamodb',
      action: 'PutItem',
      error: 'ProvisionedThroughputExceededException',
    });

    // Act
    const throttled = await failure(ddb.send(lockPut(table, 'bake-1')));
    await ddb.send(lockPut(table, 'bake-1'));

    // Assess
    expect(throttled.name).toBe('ProvisionedThroughputExceededException');
    expect((throttled as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(400);
  });
});

describe('durability', () => {
  it('keeps tables and items across a restart on the same state directory, and forgets them on reset', async () => {
    // Prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-dynamodb-'));
    try {
      const first = await startTestSandbox({ stateDir });
      const client = new DynamoDBClient(first.clientConfig);
      await createTable(client, 'durable');
      await client.send(lockPut('durable', 'bake-1'));
      client.destroy();
      await first.stop();

      // Act
      const second = await startTestSandbox({ stateDir });
      const again = new DynamoDBClient(second.clientConfig);
      const kept = await again.send(
        new GetItemCommand({ TableName: 'durable', Key: { pk: { S: 'lock#al2023-base' } } }),
      );
      again.destroy();
      await second.stop();
      const third = await startTestSandbox({ stateDir, reset: true });
      const fresh = new DynamoDBClient(third.clientConfig);
      const gone = await failure(fresh.send(new DescribeTableCommand({ TableName: 'durable' })));
      fresh.destroy();
      await third.stop();

      // Assess
      expect(kept.Item?.owner).toEqual({ S: 'bake-1' });
      expect(gone.name).toBe('ResourceNotFoundException');
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('time to live', () => {
  it('keeps an expired item readable until the sweep lag has passed on the sandbox clock, then deletes it', async () => {
    // Prepare
    const table = await createTable();
    await ddb.send(
      new UpdateTimeToLiveCommand({
        TableName: table,
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      }),
    );
    const lag = (await box.control('GET', '/_sandbox/dynamodb/ttl')).body as { lagSeconds: number };
    const expiresAt = sandboxNowSeconds(box) + 60;
    const key = (pk: string) => ({ pk: { S: pk } });
    await ddb.send(
      new PutItemCommand({ TableName: table, Item: { ...key('expiring'), expiresAt: { N: `${expiresAt}` } } }),
    );
    await ddb.send(new PutItemCommand({ TableName: table, Item: { ...key('no-ttl') } }));
    await ddb.send(new PutItemCommand({ TableName: table, Item: { ...key('string-ttl'), expiresAt: { S: '1' } } }));
    const get = (pk: string) => ddb.send(new GetItemCommand({ TableName: table, Key: key(pk) }));

    // Act
    await advance(box, 61);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const justExpired = await get('expiring');
    await advance(box, lag.lagSeconds);
    await eventually(async () => ((await get('expiring')).Item === undefined ? true : undefined), 'the TTL sweep');

    // Assess
    expect(lag.lagSeconds).toBeGreaterThan(0);
    expect(justExpired.Item?.expiresAt).toEqual({ N: `${expiresAt}` });
    expect((await get('no-ttl')).Item).toBeDefined();
    expect((await get('string-ttl')).Item).toBeDefined();
    const described = await ddb.send(new DescribeTimeToLiveCommand({ TableName: table }));
    expect(described.TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
  });

  it('takes a new sweep lag from the control endpoint, and refuses one that is not 0 or more seconds', async () => {
    // Act
    const refused = await box.control('PUT', '/_sandbox/dynamodb/ttl', { lagSeconds: -1 });
    const unknown = await box.control('PUT', '/_sandbox/dynamodb/ttl', { lag: 5 });
    const set = await box.control('PUT', '/_sandbox/dynamodb/ttl', { lagSeconds: 3600 });
    const read = await box.control('GET', '/_sandbox/dynamodb/ttl');
    await box.control('PUT', '/_sandbox/dynamodb/ttl', { lagSeconds: 300 });

    // Assess
    expect(refused.status).toBe(400);
    expect(unknown).toMatchObject({ status: 400, body: { error: expect.stringContaining('unknown field lag') } });
    expect(set.status).toBe(200);
    expect(read.body).toMatchObject({ lagSeconds: 3600 });
  });

  it('refuses a second UpdateTimeToLive within the hour', async () => {
    // Prepare
    const table = await createTable();
    const enable = new UpdateTimeToLiveCommand({
      TableName: table,
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    await ddb.send(enable);

    // Act
    const error = await failure(
      ddb.send(
        new UpdateTimeToLiveCommand({
          TableName: table,
          TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: false },
        }),
      ),
    );

    // Assess
    expect(error.name).toBe('ValidationException');
  });
});

describe('provisioning', () => {
  it('creates an AWS::DynamoDB::Table from a template: ACTIVE, TTL and point-in-time recovery on, tagged', async () => {
    // Prepare
    const assemblyDir = mkdtempSync(join(tmpdir(), 'bakehouse-dynamodb-assembly-'));
    const template = {
      Resources: {
        StateTable: {
          Type: 'AWS::DynamoDB::Table',
          DeletionPolicy: 'Retain',
          UpdateReplacePolicy: 'Retain',
          Properties: {
            KeySchema: [
              { AttributeName: 'pk', KeyType: 'HASH' },
              { AttributeName: 'sk', KeyType: 'RANGE' },
            ],
            AttributeDefinitions: [
              { AttributeName: 'pk', AttributeType: 'S' },
              { AttributeName: 'sk', AttributeType: 'S' },
            ],
            BillingMode: 'PAY_PER_REQUEST',
            TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            SSESpecification: { SSEEnabled: true },
            Tags: [{ Key: 'app', Value: 'bakehouse' }],
          },
        },
      },
    };
    writeFileSync(join(assemblyDir, 'Test.template.json'), JSON.stringify(template));
    writeFileSync(
      join(assemblyDir, 'manifest.json'),
      JSON.stringify({
        artifacts: {
          Test: { type: 'aws:cloudformation:stack', properties: { templateFile: 'Test.template.json' } },
        },
      }),
    );

    try {
      // Act
      const report = await provisionFromAssembly({ sandbox: { url: box.sandbox.url }, assemblyDir });
      const again = await provisionFromAssembly({ sandbox: { url: box.sandbox.url }, assemblyDir });

      // Assess
      expect(report.failed).toEqual([]);
      const created = report.created.find((resource) => resource.logicalId === 'StateTable');
      expect(created).toMatchObject({ outcome: 'created', physicalId: expect.stringMatching(/^Test-StateTable-/) });
      const name = created?.physicalId as string;
      expect(created?.arn).toBe(`arn:aws:dynamodb:us-east-1:${box.sandbox.account}:table/${name}`);
      expect(again.created.find((resource) => resource.logicalId === 'StateTable')?.outcome).toBe('unchanged');
      const described = await ddb.send(new DescribeTableCommand({ TableName: name }));
      expect(described.Table?.TableStatus).toBe('ACTIVE');
      const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: name }));
      expect(ttl.TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
      const backups = await ddb.send(new DescribeContinuousBackupsCommand({ TableName: name }));
      expect(backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus).toBe(
        'ENABLED',
      );
      const tags = await ddb.send(new ListTagsOfResourceCommand({ ResourceArn: described.Table?.TableArn }));
      expect(tags.Tags).toEqual([{ Key: 'app', Value: 'bakehouse' }]);
    } finally {
      rmSync(assemblyDir, { recursive: true, force: true });
    }
  });
});

describe('Step Functions aws-sdk integration', () => {
  it('deletes an item with a condition, and catches a failed one as DynamoDb.ConditionalCheckFailedException', async () => {
    // Prepare
    const table = await createTable();
    await ddb.send(lockPut(table, 'bake-1'));
    const sfn = new SFNClient(box.clientConfig);
    const release = (owner: string) => ({
      Type: 'Task',
      Resource: 'arn:aws:states:::aws-sdk:dynamodb:deleteItem',
      Parameters: {
        TableName: table,
        Key: { pk: { S: 'lock#al2023-base' } },
        ConditionExpression: '#owner = :me',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':me': { S: owner } },
      },
      ResultPath: null,
    });
    const definition = {
      StartAt: 'ReleaseOthers',
      States: {
        ReleaseOthers: {
          ...release('bake-2'),
          Catch: [
            { ErrorEquals: ['DynamoDb.ConditionalCheckFailedException'], ResultPath: '$.refused', Next: 'ReleaseMine' },
          ],
          Next: 'ReleaseMine',
        },
        ReleaseMine: { ...release('bake-1'), End: true },
      },
    };
    const iam = new IAMClient(box.clientConfig);
    const role = await iam.send(
      new CreateRoleCommand({
        RoleName: 'sfn-dynamodb',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'states.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'sfn-dynamodb',
        PolicyName: 'release',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'dynamodb:DeleteItem',
              Resource: `arn:aws:dynamodb:us-east-1:${box.sandbox.account}:table/${table}`,
            },
          ],
        }),
      }),
    );
    iam.destroy();
    const machine = await sfn.send(
      new CreateStateMachineCommand({
        name: 'release-lock',
        definition: JSON.stringify(definition),
        roleArn: role.Role?.Arn,
      }),
    );

    // Act
    const started = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machine.stateMachineArn, input: '{}' }),
    );
    const execution = await eventually(async () => {
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
      return described.status === 'RUNNING' ? undefined : described;
    }, 'the execution to end');
    sfn.destroy();

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? '{}').refused).toMatchObject({
      Error: 'DynamoDb.ConditionalCheckFailedException',
    });
    expect(
      (await ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'lock#al2023-base' } } }))).Item,
    ).toBeUndefined();
  });
});
