/**
 * Notify's state in the state table (functions/notify/state.ts), over a mocked DynamoDB document
 * client: the record's key, version condition and TTL, the lock's turns, and what a lost
 * condition does.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type NotifyState, serializeState } from '../../functions/notify/core';
import { STATE_DAYS, stateTableStore } from '../../functions/notify/state';
import { awsError, recordingLogger } from './support/bake-factories';

const dynamo = mockClient(DynamoDBDocumentClient);
const NOW = new Date('2026-01-14T09:00:00Z');
const STATE: NotifyState = {
  channel: 'C0BAKEHOUSE',
  ts: '1700000000.000001',
  seen: ['e-1'],
  state: { status: 'posted' },
};

const store = (sleeps: number[] = []) =>
  stateTableStore({
    client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
    tableName: 'bakehouse-dev-state',
    clock: () => NOW,
    logger: recordingLogger(),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });

beforeEach(() => dynamo.reset());

describe('the Slack state record', () => {
  it('is written once as new (attribute_not_exists), kept 30 days, then by version', async () => {
    // Prepare
    dynamo.on(PutCommand).resolves({});

    // Act
    const first = await store().write('bake-1', STATE, 0);
    const second = await store().write('bake-1', STATE, first);

    // Assess
    expect([first, second]).toEqual([1, 2]);
    const [create, update] = dynamo.commandCalls(PutCommand).map((c) => c.args[0].input);
    expect(create).toMatchObject({
      TableName: 'bakehouse-dev-state',
      Item: {
        pk: 'record#slack#bake-1',
        data: serializeState(STATE),
        version: 1,
        expiresAt: NOW.getTime() / 1000 + STATE_DAYS * 86_400,
      },
      ConditionExpression: 'attribute_not_exists(#pk)',
    });
    expect(update).toMatchObject({
      ConditionExpression: '#version = :expected',
      ExpressionAttributeValues: { ':expected': 1 },
    });
  });

  it('fails the notification (for Lambda to retry) when someone else wrote it first', async () => {
    // Prepare
    dynamo.on(PutCommand).rejects(awsError('ConditionalCheckFailedException'));

    // Act & Assess
    await expect(store().write('bake-1', STATE, 3)).rejects.toMatchObject({ name: 'NotifierBusyError' });
  });

  it('reads an expired record as absent, with the version a new write must name', async () => {
    // Prepare: TTL has not deleted it yet
    dynamo.on(GetCommand).resolves({
      Item: { pk: 'record#slack#bake-1', data: serializeState(STATE), version: 4, expiresAt: NOW.getTime() / 1000 - 1 },
    });

    // Act
    const read = await store().read('bake-1');

    // Assess
    expect(read).toEqual({ state: undefined, version: 4 });
  });

  it('reads a live record back', async () => {
    // Prepare
    dynamo.on(GetCommand).resolves({
      Item: {
        pk: 'record#slack#bake-1',
        data: serializeState(STATE),
        version: 2,
        expiresAt: NOW.getTime() / 1000 + 60,
      },
    });

    // Act & Assess
    expect(await store().read('bake-1')).toEqual({ state: STATE, version: 2 });
  });
});

describe('the lock', () => {
  it('waits while another invocation holds it, then takes it, and gives it back by owner', async () => {
    // Prepare: two conditional failures, then free
    const holder = { pk: 'lock#slack#bake-1', owner: 'other', acquiredAt: NOW.toISOString(), expiresAt: 1 };
    dynamo
      .on(PutCommand)
      .rejectsOnce(awsError('ConditionalCheckFailedException'))
      .rejectsOnce(awsError('ConditionalCheckFailedException'))
      .resolves({});
    dynamo.on(GetCommand).resolves({ Item: holder });
    dynamo.on(DeleteCommand).resolves({});
    const sleeps: number[] = [];

    // Act
    const held = await store(sleeps).lock('bake-1', 'request-1');
    await held.release();

    // Assess
    expect(sleeps).toHaveLength(2);
    expect(dynamo.commandCalls(PutCommand).at(-1)?.args[0].input).toMatchObject({
      Item: { pk: 'lock#slack#bake-1', owner: 'request-1' },
    });
    expect(dynamo.commandCalls(DeleteCommand)[0]?.args[0].input).toMatchObject({
      Key: { pk: 'lock#slack#bake-1' },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeValues: { ':owner': 'request-1' },
    });
  });
});
