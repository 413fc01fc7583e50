import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createLocks,
  epochSeconds,
  lockKey,
  readRecord,
  type StateTableDeps,
  writeRecord,
} from '../../functions/commons/state-table';
import { awsError, recordingLogger } from './support/bake-factories';
import { type DynaliteTable, startDynaliteTable } from './support/dynalite-table';

const TABLE = 'bakehouse-test-state';
const KEY = lockKey('family', 'al2023-base');
const NOW = new Date('2026-01-14T09:00:00.000Z');
const LATER = new Date('2026-01-14T11:30:00.000Z');
const NOW_SECONDS = NOW.getTime() / 1000;

// The instance, not the class, is mocked: the dynalite tests below use real clients.
const docClient = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const dynamo = mockClient(docClient);

const mockDeps = (overrides: Partial<StateTableDeps> = {}): StateTableDeps => ({
  client: docClient,
  tableName: TABLE,
  clock: () => new Date(NOW),
  logger: recordingLogger(),
  ...overrides,
});

const heldItem = (owner: string, expiresAt: Date) => ({
  pk: KEY,
  owner,
  acquiredAt: '2026-01-14T08:00:00.000Z',
  expiresAt: epochSeconds(expiresAt),
});

beforeEach(() => {
  dynamo.reset();
});

describe('lock keys', () => {
  it('names the scope and the thing locked', () => {
    expect(lockKey('family', 'al2023-base')).toBe('lock#family#al2023-base');
    expect(lockKey('channel', 'al2023-base/prod')).toBe('lock#channel#al2023-base/prod');
  });
});

describe('acquire', () => {
  it('is one conditional PutItem: free, expired by the caller’s clock, or already ours', async () => {
    // Prepare
    dynamo.on(PutCommand).resolves({});

    // Act
    const result = await createLocks(mockDeps()).acquire(KEY, 'bake-a', LATER);

    // Assess
    expect(result).toMatchObject({ acquired: true, lock: { key: KEY, owner: 'bake-a', expiresAt: LATER } });
    expect(dynamo).toHaveReceivedCommandExactlyOnceWith(PutCommand, {
      TableName: TABLE,
      Item: { pk: KEY, owner: 'bake-a', acquiredAt: NOW.toISOString(), expiresAt: epochSeconds(LATER) },
      ConditionExpression: 'attribute_not_exists(#pk) OR #expiresAt <= :now OR #owner = :owner',
      ExpressionAttributeNames: { '#pk': 'pk', '#expiresAt': 'expiresAt', '#owner': 'owner' },
      ExpressionAttributeValues: { ':now': NOW_SECONDS, ':owner': 'bake-a' },
    });
  });

  it('reports the holder, read consistently, when the condition fails', async () => {
    // Prepare
    dynamo.on(PutCommand).rejects(awsError('ConditionalCheckFailedException'));
    dynamo.on(GetCommand).resolves({ Item: heldItem('bake-b', LATER) });

    // Act
    const result = await createLocks(mockDeps()).acquire(KEY, 'bake-a', LATER);

    // Assess
    expect(result).toEqual({
      acquired: false,
      holder: { key: KEY, owner: 'bake-b', acquiredAt: '2026-01-14T08:00:00.000Z', expiresAt: LATER, expired: false },
    });
    expect(dynamo).toHaveReceivedCommandWith(GetCommand, { TableName: TABLE, Key: { pk: KEY }, ConsistentRead: true });
  });

  it('reports no holder when the item was gone by the time it was read (never a take-over)', async () => {
    // Prepare
    dynamo.on(PutCommand).rejects(awsError('ConditionalCheckFailedException'));
    dynamo.on(GetCommand).resolves({});

    // Act
    const result = await createLocks(mockDeps()).acquire(KEY, 'bake-a', LATER);

    // Assess
    expect(result).toEqual({ acquired: false, holder: undefined });
    expect(dynamo).toHaveReceivedCommandTimes(PutCommand, 1);
  });

  it('lets any other DynamoDB error through', async () => {
    // Prepare
    dynamo.on(PutCommand).rejects(awsError('ProvisionedThroughputExceededException'));

    // Act
    const act = createLocks(mockDeps()).acquire(KEY, 'bake-a', LATER);

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
  });
});

describe('takeOver', () => {
  it('is a PutItem conditional on the previous holder', async () => {
    // Prepare
    dynamo.on(PutCommand).resolves({});

    // Act
    const result = await createLocks(mockDeps()).takeOver(KEY, 'bake-b', 'bake-a', LATER);

    // Assess
    expect(result).toMatchObject({ acquired: true, lock: { owner: 'bake-a' } });
    expect(dynamo).toHaveReceivedCommandExactlyOnceWith(PutCommand, {
      Item: expect.objectContaining({ pk: KEY, owner: 'bake-a' }),
      ConditionExpression: '#owner = :previous',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':previous': 'bake-b' },
    });
  });

  it('loses to another taker and reports who won', async () => {
    // Prepare
    dynamo.on(PutCommand).rejects(awsError('ConditionalCheckFailedException'));
    dynamo.on(GetCommand).resolves({ Item: heldItem('bake-c', LATER) });

    // Act
    const result = await createLocks(mockDeps()).takeOver(KEY, 'bake-b', 'bake-a', LATER);

    // Assess
    expect(result).toMatchObject({ acquired: false, holder: { owner: 'bake-c' } });
  });
});

describe('release', () => {
  it('is a DeleteItem conditional on the owner', async () => {
    // Prepare
    dynamo.on(DeleteCommand).resolves({});

    // Act
    const result = await createLocks(mockDeps()).release(KEY, 'bake-a');

    // Assess
    expect(result).toEqual({ released: true });
    expect(dynamo).toHaveReceivedCommandExactlyOnceWith(DeleteCommand, {
      TableName: TABLE,
      Key: { pk: KEY },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': 'bake-a' },
    });
  });

  it('logs and returns the holder when someone else holds the lock, deleting nothing', async () => {
    // Prepare
    const logger = recordingLogger();
    dynamo.on(DeleteCommand).rejects(awsError('ConditionalCheckFailedException'));
    dynamo.on(GetCommand).resolves({ Item: heldItem('bake-b', LATER) });

    // Act
    const result = await createLocks(mockDeps({ logger })).release(KEY, 'bake-a');

    // Assess
    expect(result).toMatchObject({ released: false, holder: { owner: 'bake-b' } });
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringContaining('lost its condition'),
      expect.objectContaining({ key: KEY, owner: 'bake-a', holder: expect.objectContaining({ owner: 'bake-b' }) }),
    );
  });

  it('lets any other DynamoDB error through', async () => {
    // Prepare
    dynamo.on(DeleteCommand).rejects(awsError('InternalServerError'));

    // Act
    const act = createLocks(mockDeps()).release(KEY, 'bake-a');

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'InternalServerError' });
  });
});

describe('read', () => {
  it('says a lock whose expiry passed is expired, even while TTL has not deleted it', async () => {
    // Prepare
    dynamo.on(GetCommand).resolves({ Item: heldItem('bake-b', new Date(NOW.getTime() - 1000)) });

    // Act
    const lock = await createLocks(mockDeps()).read(KEY);

    // Assess
    expect(lock).toMatchObject({ owner: 'bake-b', expired: true });
  });
});

// --- against dynalite: DynamoDB's own condition evaluation -------------------------------------------

describe('locks on a real DynamoDB wire (dynalite)', () => {
  let table: DynaliteTable;
  let now = new Date(NOW);
  const deps = (): StateTableDeps => ({
    client: table.client,
    tableName: table.tableName,
    clock: () => new Date(now),
    logger: recordingLogger(),
  });

  beforeAll(async () => {
    table = await startDynaliteTable();
  });
  afterAll(async () => {
    await table.close();
  });

  it('lets exactly one of many concurrent acquirers win a free, an expired or a held lock (none for held)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 12 }),
        fc.constantFrom('free', 'expired', 'held'),
        fc.integer({ min: 0, max: 1_000_000 }),
        async (contenders, state, salt) => {
          // Prepare
          now = new Date(NOW);
          const key = lockKey('family', `f-${salt}-${state}-${contenders}-${Math.random()}`);
          const locks = createLocks(deps());
          if (state !== 'free') {
            const expiry = state === 'expired' ? new Date(NOW.getTime() - 1000) : LATER;
            await table.client.send(
              new PutCommand({
                TableName: table.tableName,
                Item: { pk: key, owner: 'old', acquiredAt: '', expiresAt: epochSeconds(expiry) },
              }),
            );
          }

          // Act
          const results = await Promise.all(
            Array.from({ length: contenders }, (_, i) => locks.acquire(key, `bake-${i}`, LATER)),
          );

          // Assess
          const winners = results.filter((r) => r.acquired);
          expect(winners).toHaveLength(state === 'held' ? 0 : 1);
          const holder = await locks.read(key);
          expect(holder?.owner).toBe(state === 'held' ? 'old' : winners[0]?.acquired && winners[0].lock.owner);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('lets exactly one of many concurrent takers take a stale lock over', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 12 }), async (takers) => {
        // Prepare
        const key = lockKey('family', `takeover-${takers}-${Math.random()}`);
        const locks = createLocks(deps());
        await locks.acquire(key, 'dead-bake', LATER);

        // Act
        const results = await Promise.all(
          Array.from({ length: takers }, (_, i) => locks.takeOver(key, 'dead-bake', `bake-${i}`, LATER)),
        );

        // Assess
        const winners = results.flatMap((r) => (r.acquired ? [r.lock.owner] : []));
        expect(winners).toHaveLength(1);
        expect((await locks.read(key))?.owner).toBe(winners[0]);
        for (const r of results) if (!r.acquired) expect(r.holder?.owner).toBe(winners[0]);
      }),
      { numRuns: 20 },
    );
  });

  it('treats a lock as free once the caller’s clock passes its expiry, though TTL never deleted it', async () => {
    // Prepare
    now = new Date(NOW);
    const locks = createLocks(deps());
    const key = lockKey('family', 'ttl-lag');
    await locks.acquire(key, 'bake-a', new Date(NOW.getTime() + 60_000));

    // Act
    const early = await locks.acquire(key, 'bake-b', LATER);
    now = new Date(NOW.getTime() + 60_000);
    const late = await locks.acquire(key, 'bake-b', LATER);

    // Assess
    expect(early).toMatchObject({ acquired: false, holder: { owner: 'bake-a', expired: false } });
    expect(late).toMatchObject({ acquired: true, lock: { owner: 'bake-b' } });
  });

  it('re-acquires a lock its owner already holds (a retried planner)', async () => {
    now = new Date(NOW);
    const locks = createLocks(deps());
    const key = lockKey('family', 'retried');
    await locks.acquire(key, 'bake-a', LATER);
    expect(await locks.acquire(key, 'bake-a', LATER)).toMatchObject({ acquired: true });
  });

  it('releases only its own lock', async () => {
    // Prepare
    now = new Date(NOW);
    const locks = createLocks(deps());
    const key = lockKey('channel', 'al2023-base/prod');
    await locks.acquire(key, 'bake-a', LATER);

    // Act
    const foreign = await locks.release(key, 'bake-b');
    const own = await locks.release(key, 'bake-a');
    const again = await locks.release(key, 'bake-a');

    // Assess
    expect(foreign).toMatchObject({ released: false, holder: { owner: 'bake-a' } });
    expect(own).toEqual({ released: true });
    expect(again).toEqual({ released: false, holder: undefined });
    expect(await locks.read(key)).toBeUndefined();
  });

  it('writes records only at the version read, and reads an expired record as absent', async () => {
    // Prepare
    now = new Date(NOW);
    const key = 'record#slack#bake-1';

    // Act
    const first = await writeRecord(deps(), key, { ts: '1' }, 0, LATER);
    const duplicateFirst = await writeRecord(deps(), key, { ts: '2' }, 0, LATER);
    const read1 = await readRecord<{ ts: string }>(deps(), key);
    const second = await writeRecord(deps(), key, { ts: '3' }, 1, new Date(NOW.getTime() + 1000));
    const staleWriter = await writeRecord(deps(), key, { ts: '4' }, 1, LATER);
    now = new Date(NOW.getTime() + 1000);
    const expired = await readRecord(deps(), key);
    const afresh = await writeRecord(deps(), key, { ts: '5' }, expired.staleVersion, LATER);

    // Assess
    expect([first, duplicateFirst, second, staleWriter, afresh]).toEqual([true, false, true, false, true]);
    expect(read1.current).toMatchObject({ data: { ts: '1' }, version: 1 });
    expect(expired).toEqual({ current: undefined, staleVersion: 2 });
    expect((await readRecord<{ ts: string }>(deps(), key)).current?.data).toEqual({ ts: '5' });
  });
});
