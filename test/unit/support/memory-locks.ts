/**
 * The state table's locks in memory, with the conditions functions/commons/state-table.ts writes
 * (free, expired by the caller's clock, or already the owner's; release only by the owner), and a
 * record of every turn, so a test can check that holders never overlapped.
 */
import type { Lock, LockResult, Locks, ReleaseResult } from '../../../functions/commons/state-table';

export interface MemoryLocks extends Locks {
  /** `acquire <key> <owner>` and `release <key> <owner>`, in order. */
  readonly turns: string[];
  /** The most holders one key had at once (1 when every move took its turn). */
  readonly maxConcurrentHolders: () => number;
}

export const memoryLocks = (clock: () => Date = () => new Date()): MemoryLocks => {
  const held = new Map<string, { owner: string; acquiredAt: string; expiresAt: Date }>();
  const turns: string[] = [];
  let inside = 0;
  let most = 0;
  const lockOf = (key: string): Lock | undefined => {
    const item = held.get(key);
    return item ? { key, ...item, expired: item.expiresAt.getTime() <= clock().getTime() } : undefined;
  };
  const take = (key: string, owner: string, expiresAt: Date): LockResult => {
    held.set(key, { owner, acquiredAt: clock().toISOString(), expiresAt });
    turns.push(`acquire ${key} ${owner}`);
    inside += 1;
    most = Math.max(most, inside);
    return { acquired: true, lock: lockOf(key) as Lock };
  };
  return {
    turns,
    maxConcurrentHolders: () => most,
    read: async (key) => lockOf(key),
    acquire: async (key, owner, expiresAt) => {
      // Yield first, as a network call would, so concurrent callers interleave.
      await Promise.resolve();
      const current = lockOf(key);
      if (current && !current.expired && current.owner !== owner) return { acquired: false, holder: current };
      return take(key, owner, expiresAt);
    },
    takeOver: async (key, previousOwner, newOwner, expiresAt) => {
      await Promise.resolve();
      const current = lockOf(key);
      if (current?.owner !== previousOwner) return { acquired: false, holder: current };
      return take(key, newOwner, expiresAt);
    },
    release: async (key, owner): Promise<ReleaseResult> => {
      await Promise.resolve();
      const current = lockOf(key);
      if (current?.owner !== owner) return { released: false, holder: current };
      held.delete(key);
      turns.push(`release ${key} ${owner}`);
      inside -= 1;
      return { released: true };
    },
  };
};
