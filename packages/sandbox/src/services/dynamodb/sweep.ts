/**
 * TTL's background process on the sandbox clock: for each table with TTL enabled, scan and delete
 * the items `isDueForDeletion` says are due. Each delete is conditional on the TTL attribute still
 * holding the value scanned, so an item rewritten meanwhile (a lock renewed with a later expiry)
 * is never taken; a refused delete is simply left for the next sweep.
 */
import type { Store, Transaction } from '../../store';
import type { DynamoBackend } from './backend';
import { DynamoTable, SettingsKey, type TimeToLiveRecord, ttlSettings } from './model';
import { isDueForDeletion, type WireItem } from './ttl';

interface KeySchemaElement {
  readonly AttributeName: string;
}

const keyNames = async (backend: DynamoBackend, tableName: string): Promise<readonly string[] | undefined> => {
  const reply = await backend.call('DescribeTable', { TableName: tableName });
  if (reply.status !== 200) return undefined;
  const table = reply.body.Table as { KeySchema?: readonly KeySchemaElement[] } | undefined;
  return (table?.KeySchema ?? []).map((element) => element.AttributeName);
};

/** Deletes every due item once; resolves to how many went. */
export const sweepExpired = async (
  backend: DynamoBackend,
  store: Store,
  nowMs: number,
  transact: <R>(work: (tx: Transaction) => R) => R,
): Promise<number> => {
  const { lagSeconds } = ttlSettings(store);
  let deleted = 0;
  for (const ttl of store.table<TimeToLiveRecord>(DynamoTable.TimeToLive).values()) {
    if (!ttl.enabled) continue;
    const keys = await keyNames(backend, ttl.tableName);
    if (!keys) continue;
    let startKey: unknown;
    do {
      const page = await backend.call('Scan', {
        TableName: ttl.tableName,
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      });
      if (page.status !== 200) break;
      for (const item of (page.body.Items ?? []) as WireItem[]) {
        if (!isDueForDeletion(item, ttl.attributeName, nowMs, lagSeconds)) continue;
        const reply = await backend.call('DeleteItem', {
          TableName: ttl.tableName,
          Key: Object.fromEntries(keys.map((name) => [name, item[name]])),
          ConditionExpression: '#ttl = :expiry',
          ExpressionAttributeNames: { '#ttl': ttl.attributeName },
          ExpressionAttributeValues: { ':expiry': item[ttl.attributeName] },
        });
        if (reply.status === 200) deleted += 1;
      }
      startKey = page.body.LastEvaluatedKey;
    } while (startKey !== undefined);
  }
  if (deleted > 0) {
    transact((tx) => {
      const settings = ttlSettings(store);
      tx.put(DynamoTable.Settings, SettingsKey.Ttl, { ...settings, deleted: settings.deleted + deleted });
    });
  }
  return deleted;
};
