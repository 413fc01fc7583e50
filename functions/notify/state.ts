/**
 * Where Notify keeps each message's state (`{channel, ts, seen, state}`) and takes turns on it:
 * the state table (functions/commons/state-table.ts). One record per bake or message of its own,
 * `record#slack#<key>`, which expires after `STATE_DAYS` (DynamoDB's TTL deletes it some time
 * later; an expired record reads as absent), so nothing needs pruning; and one lock,
 * `lock#slack#<key>`, a conditional write, so two events of one bake never both post a parent.
 *
 * This replaced SSM parameters under `<prefix>/_slack/`: nobody pruned them, and their lock was
 * taken over by delete-then-create, which two invocations could both win.
 */
import type { LogPort } from '../commons/powertools';
import {
  acquireWaiting,
  createLocks,
  lockKey,
  readRecord,
  recordKey,
  type StateTableDeps,
  writeRecord,
} from '../commons/state-table';
import { type NotifyState, parseState, serializeState } from './core';
import { NotifierBusyError } from './errors';

/** How long a message's state is kept: a bake's last event comes within days of its first. */
export const STATE_DAYS = 30;
/** How long a lock counts: longer than the function's timeout, so a crashed holder frees it. */
const LOCK_SECONDS = 120;
/** How long an invocation waits for another of the same bake, before it fails and Lambda retries. */
const LOCK_WAIT_MS = 30_000;
const LOCK_POLL_MS = 250;

export interface NotifyStore {
  /** Takes the key's lock for `owner` (the invocation), waiting while another holds it. */
  lock(key: string, owner: string): Promise<{ release(): Promise<void> }>;
  /** The state and the version a write must name (0: none yet). */
  read(key: string): Promise<{ readonly state: NotifyState | undefined; readonly version: number }>;
  /** Writes the state if it is still at `version`; returns the new version. */
  write(key: string, state: NotifyState, version: number): Promise<number>;
}

export interface StateTableStoreDeps extends StateTableDeps {
  readonly logger: LogPort;
  /** Real time: a frozen sandbox clock must not make a wait endless. */
  readonly sleep: (ms: number) => Promise<void>;
}

export const stateTableStore = (deps: StateTableStoreDeps): NotifyStore => {
  const locks = createLocks(deps);
  return {
    lock: async (key, owner) => {
      const name = lockKey('slack', key);
      await acquireWaiting(locks, name, owner, {
        lockMs: LOCK_SECONDS * 1000,
        waitMs: LOCK_WAIT_MS,
        pollMs: LOCK_POLL_MS,
        clock: deps.clock,
        sleep: deps.sleep,
        busy: (holder) =>
          new NotifierBusyError(
            `another notification of ${key} held its state for ${LOCK_WAIT_MS / 1000}s (since ${holder?.acquiredAt ?? 'unknown'}); the event is retried`,
          ),
      });
      return {
        release: async () => {
          try {
            await locks.release(name, owner);
          } catch (error) {
            // An unreleased lock expires; a notification never fails for it.
            deps.logger.warn('could not release the notifier lock', { key, error: String(error) });
          }
        },
      };
    },
    read: async (key) => {
      const { current, staleVersion } = await readRecord<string>(deps, recordKey('slack', key));
      return { state: parseState(current?.data, deps.logger, key), version: current?.version ?? staleVersion };
    },
    write: async (key, state, version) => {
      const expiresAt = new Date(deps.clock().getTime() + STATE_DAYS * 86_400_000);
      if (!(await writeRecord(deps, recordKey('slack', key), serializeState(state), version, expiresAt))) {
        // Only a writer without the lock could get here: fail, and the retry reads what it wrote.
        throw new NotifierBusyError(`the Slack state of ${key} changed while this notification held its lock`);
      }
      return version + 1;
    },
  };
};
