/**
 * The sandbox DynamoDB's pure parts: which items TTL deletes and when, which resource each action
 * is authorized on, and what an AWS::DynamoDB::Table provisions (name, Ref, Arn, calls).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planResource } from '../../src/provision/plan';
import { TemplateResolver } from '../../src/provision/resolver';
import type { ServiceContext } from '../../src/service';
import { dynamodbAuthz } from '../../src/services/dynamodb/authz';
import { startBackend } from '../../src/services/dynamodb/backend';
import { batchLeadingKeys, leadingKeys } from '../../src/services/dynamodb/condition-keys';
import { expiryOf, isDueForDeletion } from '../../src/services/dynamodb/ttl';

const NOW_MS = Date.UTC(2026, 11, 5, 12, 0, 0);
const NOW_S = NOW_MS / 1000;
const LAG = 300;

describe('dynamodb TTL rules', () => {
  it('reads the expiry only from a Number attribute', () => {
    expect(expiryOf({ expiresAt: { N: '1700000000' } }, 'expiresAt')).toBe(1_700_000_000);
    expect(expiryOf({ expiresAt: { S: '1700000000' } }, 'expiresAt')).toBeUndefined();
    expect(expiryOf({ other: { N: '1' } }, 'expiresAt')).toBeUndefined();
    expect(expiryOf({ expiresAt: { N: 'not-a-number' } }, 'expiresAt')).toBeUndefined();
  });

  it('deletes an expired item only once the lag has passed after its expiry', () => {
    const item = (seconds: number) => ({ expiresAt: { N: String(seconds) } });
    expect(isDueForDeletion(item(NOW_S + 10), 'expiresAt', NOW_MS, LAG)).toBe(false);
    expect(isDueForDeletion(item(NOW_S - 1), 'expiresAt', NOW_MS, LAG)).toBe(false);
    expect(isDueForDeletion(item(NOW_S - LAG), 'expiresAt', NOW_MS, LAG)).toBe(true);
    expect(isDueForDeletion(item(NOW_S - 1), 'expiresAt', NOW_MS, 0)).toBe(true);
  });

  it('never deletes an item whose expiry is more than five years in the past', () => {
    const sixYears = 6 * 365 * 24 * 3600;
    expect(isDueForDeletion({ expiresAt: { N: String(NOW_S - sixYears) } }, 'expiresAt', NOW_MS, LAG)).toBe(false);
  });

  it('never deletes an item that is not yet expired, whatever the lag', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 100_000 }), (ahead, lag) => {
        expect(isDueForDeletion({ t: { N: String(NOW_S + ahead) } }, 't', NOW_MS, lag)).toBe(false);
      }),
    );
  });
});

describe('dynamodb authorization', () => {
  const ctx = {
    region: 'eu-west-1',
    account: '123456789012',
    store: { get: () => undefined },
  } as unknown as ServiceContext;
  const table = 'arn:aws:dynamodb:eu-west-1:123456789012:table/locks';

  it('authorizes item actions on the table ARN', () => {
    expect(dynamodbAuthz.PutItem?.({ TableName: 'locks' }, ctx)).toEqual([
      { action: 'dynamodb:PutItem', resource: table, context: {} },
    ]);
  });

  it('authorizes a Query on an index on the index ARN', () => {
    expect(dynamodbAuthz.Query?.({ TableName: 'locks', IndexName: 'byFamily' }, ctx)).toEqual([
      { action: 'dynamodb:Query', resource: `${table}/index/byFamily`, context: {} },
    ]);
  });

  it('authorizes a batch on every table it names', () => {
    expect(dynamodbAuthz.BatchWriteItem?.({ RequestItems: { locks: [], state: [] } }, ctx)).toEqual([
      { action: 'dynamodb:BatchWriteItem', resource: table, context: {} },
      {
        action: 'dynamodb:BatchWriteItem',
        resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/state',
        context: {},
      },
    ]);
  });
});

describe('dynamodb:LeadingKeys', () => {
  it('is the partition key value of an item action', () => {
    expect(leadingKeys('GetItem', { Key: { pk: { S: 'lock#a' }, sk: { S: 'x' } } }, 'pk')).toEqual(['lock#a']);
    expect(leadingKeys('PutItem', { Item: { pk: { N: '7' } } }, 'pk')).toEqual(['7']);
    expect(leadingKeys('Scan', {}, 'pk')).toBeUndefined();
    expect(leadingKeys('GetItem', { Key: { pk: { S: 'a' } } }, undefined)).toBeUndefined();
  });

  it("is the value a Query's key condition sets the partition key to, by name or placeholder", () => {
    const query = {
      KeyConditionExpression: 'begins_with(sk, :prefix) AND #p = :family',
      ExpressionAttributeNames: { '#p': 'pk' },
      ExpressionAttributeValues: { ':family': { S: 'lock#al2023' }, ':prefix': { S: 'v' } },
    };
    expect(leadingKeys('Query', query, 'pk')).toEqual(['lock#al2023']);
    expect(
      leadingKeys(
        'Query',
        { KeyConditionExpression: ':v = pk', ExpressionAttributeValues: { ':v': { S: 'state#1' } } },
        'pk',
      ),
    ).toEqual(['state#1']);
    expect(
      leadingKeys(
        'Query',
        { KeyConditions: { pk: { AttributeValueList: [{ S: 'old' }], ComparisonOperator: 'EQ' } } },
        'pk',
      ),
    ).toEqual(['old']);
  });

  it('is every key a batch touches on a table', () => {
    expect(
      batchLeadingKeys(
        [{ PutRequest: { Item: { pk: { S: 'a' } } } }, { DeleteRequest: { Key: { pk: { S: 'b' } } } }],
        'pk',
      ),
    ).toEqual(['a', 'b']);
    expect(batchLeadingKeys({ Keys: [{ pk: { S: 'a' } }, { pk: { S: 'a' } }] }, 'pk')).toEqual(['a']);
  });
});

describe('dynamodb provisioning plan', () => {
  const resolver = new TemplateResolver(
    {
      Resources: {
        State: {
          Type: 'AWS::DynamoDB::Table',
          Properties: {
            KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
            BillingMode: 'PAY_PER_REQUEST',
            TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: 'true' },
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: '7' },
          },
        },
      },
    },
    { account: '123456789012', region: 'eu-west-1', stackName: 'dev-bakehouse-State' },
  );

  it('names a table without TableName after the stack, and resolves Ref to the name and Arn to its ARN', () => {
    const name = resolver.resolve({ Ref: 'State' });
    expect(name).toMatch(/^dev-bakehouse-State-State-[A-Z0-9]{12}$/);
    expect(resolver.resolve({ 'Fn::GetAtt': ['State', 'Arn'] })).toBe(
      `arn:aws:dynamodb:eu-west-1:123456789012:table/${name}`,
    );
  });

  it('creates the table, then turns TTL and point-in-time recovery on', () => {
    const planned = planResource(resolver, '/nowhere', 'State');
    expect(planned.calls.map((call) => call.action)).toEqual([
      'CreateTable',
      'UpdateTimeToLive',
      'UpdateContinuousBackups',
    ]);
    expect(planned.calls[1]?.input).toMatchObject({
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    expect(planned.calls[2]?.input).toMatchObject({
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 7 },
    });
  });
});

describe('dynamodb backend', () => {
  it('refuses a LevelDB another sandbox holds, naming the fix, and opens it once that one has stopped', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'bakehouse-dynalite-'));
    const path = join(dir, 'dynamodb');
    const first = await startBackend({ path });
    try {
      // Act
      const refused = await startBackend({ path }).then(
        () => undefined,
        (error: unknown) => error,
      );
      await first.close();
      const second = await startBackend({ path });
      const listed = await second.call('ListTables', {});
      await second.close();

      // Assess
      expect((refused as Error).message).toContain('in use by another running sandbox');
      expect(listed).toEqual({ status: 200, body: { TableNames: [] } });
    } finally {
      await first.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
