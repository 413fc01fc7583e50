/**
 * A run's parts keep their launch permission reads in the state table (checkpoint.ts), so a later
 * part reads none of them again; and the inventory takes the known ones as read.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CHUNK_READS, stateTableCheckpoint } from '../../functions/janitor/checkpoint';

const NOW = new Date('2026-11-29T02:00:00Z');
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const mock = mockClient(client);
const items = new Map<string, Record<string, unknown>>();

beforeEach(() => {
  items.clear();
  mock.reset();
  mock.on(PutCommand).callsFake(async (input: { Item: Record<string, unknown>; ConditionExpression?: string }) => {
    const key = input.Item.pk as string;
    if (input.ConditionExpression?.includes('attribute_not_exists') && items.has(key)) {
      throw Object.assign(new Error('exists'), { name: 'ConditionalCheckFailedException' });
    }
    items.set(key, input.Item);
    return {};
  });
  mock.on(GetCommand).callsFake(async (input: { Key: { pk: string } }) => ({ Item: items.get(input.Key.pk) }));
});
afterEach(() => mock.reset());

const checkpoint = () =>
  stateTableCheckpoint({
    client,
    tableName: 'state',
    clock: () => NOW,
    logger: { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() } as never,
  });
const id = (n: number) => `ami-${n.toString(16).padStart(17, '0')}`;

describe('stateTableCheckpoint', () => {
  it("gives a later part every earlier part's reads, and none of its own or later ones", async () => {
    // Prepare
    const store = checkpoint();
    await store.save(
      'run-1',
      1,
      new Map([
        [id(1), []],
        [id(2), ['111122223333']],
      ]),
    );
    await store.save('run-1', 2, new Map([[id(3), ['all']]]));
    await store.save('run-1', 3, new Map([[id(4), []]]));
    await store.save('run-2', 1, new Map([[id(9), []]]));
    // Act
    const known = await store.load('run-1', 3);
    // Assess
    expect([...known].sort()).toEqual([
      [id(1), []],
      [id(2), ['111122223333']],
      [id(3), ['all']],
    ]);
    expect(await store.load('run-1', 1)).toEqual(new Map());
  });

  it('splits a large part into records an item can hold, each with a TTL of a day', async () => {
    // Prepare
    const reads = new Map(Array.from({ length: CHUNK_READS + 5 }, (_, n) => [id(n), [] as string[]] as const));
    // Act
    await checkpoint().save('run-1', 1, reads);
    // Assess
    expect([...items.keys()].sort()).toEqual(['record#janitor-reads#run-1#1#0', 'record#janitor-reads#run-1#1#1']);
    for (const item of items.values()) {
      expect(JSON.stringify(item).length).toBeLessThan(400_000);
      expect(item.expiresAt).toBe(NOW.getTime() / 1000 + 86_400);
    }
    expect((await checkpoint().load('run-1', 2)).size).toBe(CHUNK_READS + 5);
  });
});
