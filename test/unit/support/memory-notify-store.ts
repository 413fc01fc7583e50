/**
 * Notify's store in memory: records with versions (a write must name the version it read, as the
 * state table's conditional write does) and the state table's lock semantics (memoryLocks).
 */
import { type NotifyState, parseState, serializeState } from '../../../functions/notify/core';
import type { NotifyStore } from '../../../functions/notify/state';
import { memoryLocks } from './memory-locks';

export interface MemoryNotifyStore extends NotifyStore {
  /** The serialized state per key, as written. */
  readonly records: Map<string, { text: string; version: number }>;
  /** The state of a key, parsed. */
  stateOf(key: string): NotifyState | undefined;
  readonly locks: ReturnType<typeof memoryLocks>;
}

export const memoryNotifyStore = (): MemoryNotifyStore => {
  const records = new Map<string, { text: string; version: number }>();
  const locks = memoryLocks();
  const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
  return {
    records,
    locks,
    stateOf: (key) => parseState(records.get(key)?.text, silent as never, key),
    lock: async (key, owner) => {
      const name = `lock#slack#${key}`;
      for (let tries = 0; ; tries += 1) {
        if ((await locks.acquire(name, owner, new Date(Date.now() + 120_000))).acquired) break;
        if (tries > 1000) throw Object.assign(new Error(`${key} stayed locked`), { name: 'NotifierBusyError' });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return { release: async () => void (await locks.release(name, owner)) };
    },
    read: async (key) => {
      const record = records.get(key);
      return { state: parseState(record?.text, silent as never, key), version: record?.version ?? 0 };
    },
    write: async (key, state, version) => {
      if ((records.get(key)?.version ?? 0) !== version) {
        throw Object.assign(new Error(`${key} changed`), { name: 'NotifierBusyError' });
      }
      records.set(key, { text: serializeState(state), version: version + 1 });
      return version + 1;
    },
  };
};
