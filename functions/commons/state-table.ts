/**
 * The state table: the one DynamoDB table for Bakehouse state that needs compare-and-swap. SSM
 * parameters have no conditional write (PutParameter's only guard is `Overwrite=false`, and taking
 * over a stale lock needs an overwrite that nothing can make conditional), so two planners could
 * both take one family lock. Every write here is one conditional request instead
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html):
 * of two concurrent writers with the same condition, exactly one wins, and the loser gets
 * `ConditionalCheckFailedException` (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html#API_PutItem_Errors).
 *
 * Items: partition key `pk` (a string such as `lock#family#al2023-base`), and `expiresAt`, epoch
 * seconds, the table's TTL attribute. TTL deletes expired items only in the background, typically
 * within a few days (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html),
 * and until then they show up in reads and conditions
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ttl-expired-items.html): so the
 * code never trusts TTL to end a lock. Every condition compares `expiresAt` with the caller's
 * clock (`now`), and `read` reports whether the item it found has expired.
 *
 * Locks: `acquire` (free, expired, or already ours), `takeOver` (only from the holder the caller
 * judged stale), `release` (only our own). Keys are `lock#<scope>#<name>` (`lockKey`): one family
 * for PlanBake, one channel for Promote. `IAM` grants are scoped with `dynamodb:LeadingKeys` to a
 * key prefix (`lockKeyPattern`), so a function can touch only the locks of its scope.
 *
 * Records (`readRecord`, `writeRecord`): a small JSON document per key with a TTL and a version
 * compared on every write, for state such as Notify's per-bake Slack thread.
 *
 * Images (`imageKey`): what is kept about one image, such as the package inventory its bake
 * captured (`image#<ami-id>#inventory`), written whole by one PutItem.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { BakehouseError, errorNameOf } from './errors';
import type { LogPort } from './powertools';

/** The table's partition key and TTL attribute (stacks/pipeline-context.ts builds the table with them). */
export const StateTableSchema = { partitionKey: 'pk', ttlAttribute: 'expiresAt' } as const;

/** What a lock protects: a family's bakes, a channel's moves (`<family>/<channel>`), or one Slack message's state. */
export type LockScope = 'family' | 'channel' | 'slack';

export const lockKey = (scope: LockScope, name: string): string => `lock#${scope}#${name}`;

/** The `dynamodb:LeadingKeys` pattern that covers every lock of a scope (IAM StringLike). */
export const lockKeyPattern = (scope: LockScope): string => `lock#${scope}#*`;

/** The key of a record (`record#<kind>#<id>`, for example `record#slack#<bakeId>`). */
export const recordKey = (kind: string, id: string): string => `record#${kind}#${id}`;

export const recordKeyPattern = (kind: string): string => `record#${kind}#*`;

/** What the table keeps about one image, beside its tags: its package inventory (functions/commons/inventory.ts). */
export type ImageAspect = 'inventory';

/**
 * The key of what is kept about one image (`image#<ami-id>#<aspect>`). Not a record: no version,
 * no TTL. It lives as long as the image is of interest, and a repeated write of the same image
 * writes the same item.
 */
export const imageKey = (amiId: string, aspect: ImageAspect): string => `image#${amiId}#${aspect}`;

/** The `dynamodb:LeadingKeys` pattern of one aspect of every image (IAM StringLike). */
export const imageKeyPattern = (aspect: ImageAspect): string => `image#*#${aspect}`;

/** The document client for the state table; build it once per container (handler.ts), as clients.ts does. */
export const createStateTableClient = (): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(new DynamoDBClient({ retryMode: 'adaptive', maxAttempts: 8 }));

/** The error the SDK throws when a condition is false. */
const CONDITION_FAILED = 'ConditionalCheckFailedException';

export interface StateTableDeps {
  readonly client: Pick<DynamoDBDocumentClient, 'send'>;
  readonly tableName: string;
  readonly clock: () => Date;
  readonly logger: LogPort;
}

export interface Lock {
  readonly key: string;
  /** Who holds it: for a family lock, the bake id (the execution's name). */
  readonly owner: string;
  /** When the holder took it (ISO 8601). */
  readonly acquiredAt: string;
  /** When it stops counting, whatever TTL has or has not deleted yet. */
  readonly expiresAt: Date;
  /** Whether `expiresAt` had passed by the caller's clock when it was read. */
  readonly expired: boolean;
}

export type LockResult =
  | { readonly acquired: true; readonly lock: Lock }
  /** `holder` is what a consistent read found right after: undefined when the item was gone by then. */
  | { readonly acquired: false; readonly holder: Lock | undefined };

export type ReleaseResult =
  | { readonly released: true }
  /** The condition was lost: `holder` holds it now (someone took it over), or no one does. */
  | { readonly released: false; readonly holder: Lock | undefined };

export interface Locks {
  /** Takes `key` when no one holds it, its holder's expiry has passed by our clock, or `owner` already holds it. */
  acquire(key: string, owner: string, expiresAt: Date): Promise<LockResult>;
  /** Takes `key` from `previousOwner`, and only from it: of several takers, one wins. */
  takeOver(key: string, previousOwner: string, newOwner: string, expiresAt: Date): Promise<LockResult>;
  /** Gives `key` back if `owner` holds it; a lost condition is logged and returned, never thrown. */
  release(key: string, owner: string): Promise<ReleaseResult>;
  /** The lock as a strongly consistent read finds it. */
  read(key: string): Promise<Lock | undefined>;
}

/** A release that found someone else holding the lock; callers that must report it throw this. */
export class LockNotHeldError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LockNotHeldError';
  }
}

/** Epoch seconds, rounded up: a lock never ends before the time asked for. */
export const epochSeconds = (date: Date): number => Math.ceil(date.getTime() / 1000);

/** Epoch seconds of now, rounded down: `expiresAt <= now` holds only once the expiry has passed. */
const nowSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);

interface LockItem {
  readonly pk: string;
  readonly owner: string;
  readonly acquiredAt: string;
  readonly expiresAt: number;
}

const isConditionFailure = (error: unknown): boolean => errorNameOf(error) === CONDITION_FAILED;

export const createLocks = (deps: StateTableDeps): Locks => {
  const { client, tableName, clock, logger } = deps;

  const read = async (key: string): Promise<Lock | undefined> => {
    // Strongly consistent: the lock was just written by someone else, and an eventually consistent
    // read may miss it (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html).
    const { Item } = await client.send(
      new GetCommand({ TableName: tableName, Key: { pk: key }, ConsistentRead: true }),
    );
    return Item === undefined ? undefined : lockOf(Item as Partial<LockItem>, key, clock());
  };

  const put = async (key: string, owner: string, expiresAt: Date, condition: Condition): Promise<LockResult> => {
    const now = clock();
    const item: LockItem = { pk: key, owner, acquiredAt: now.toISOString(), expiresAt: epochSeconds(expiresAt) };
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: condition.expression,
          ExpressionAttributeNames: condition.names,
          ExpressionAttributeValues: condition.values(now),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return { acquired: false, holder: await read(key) };
    }
    return { acquired: true, lock: lockOf(item, key, now) };
  };

  return {
    read,
    acquire: (key, owner, expiresAt) =>
      put(key, owner, expiresAt, {
        // `owner` and `expiresAt` go through names: OWNER is a reserved word
        // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html).
        expression: 'attribute_not_exists(#pk) OR #expiresAt <= :now OR #owner = :owner',
        names: { '#pk': 'pk', '#expiresAt': 'expiresAt', '#owner': 'owner' },
        values: (now) => ({ ':now': nowSeconds(now), ':owner': owner }),
      }),
    takeOver: (key, previousOwner, newOwner, expiresAt) =>
      put(key, newOwner, expiresAt, {
        expression: '#owner = :previous',
        names: { '#owner': 'owner' },
        values: () => ({ ':previous': previousOwner }),
      }),
    release: async (key, owner) => {
      try {
        await client.send(
          new DeleteCommand({
            TableName: tableName,
            Key: { pk: key },
            ConditionExpression: '#owner = :owner',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':owner': owner },
          }),
        );
        return { released: true };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const holder = await read(key);
      logger.warn('lock release lost its condition: this owner no longer held it', {
        key,
        owner,
        holder: holder ? { owner: holder.owner, acquiredAt: holder.acquiredAt } : 'nobody',
      });
      return { released: false, holder };
    },
  };
};

interface Condition {
  readonly expression: string;
  readonly names: Record<string, string>;
  readonly values: (now: Date) => Record<string, string | number>;
}

const lockOf = (item: Partial<LockItem>, key: string, now: Date): Lock => {
  const seconds = typeof item.expiresAt === 'number' ? item.expiresAt : 0;
  return {
    key,
    owner: typeof item.owner === 'string' ? item.owner : '',
    acquiredAt: typeof item.acquiredAt === 'string' ? item.acquiredAt : '',
    expiresAt: new Date(seconds * 1000),
    expired: seconds <= nowSeconds(now),
  };
};

export interface WaitOptions {
  /** How long the lock counts once taken (on the caller's clock, as every condition is). */
  readonly lockMs: number;
  /** How long to wait for a holder, in real time, before `busy` is thrown. */
  readonly waitMs: number;
  readonly pollMs: number;
  readonly clock: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  /** The error that says who held it too long (Lambda retries the event). */
  readonly busy: (holder: Lock | undefined) => Error;
}

/**
 * Takes `key` for `owner`, waiting while another holds it. The wait counts real time
 * (`performance.now`): `Date` may jump, and in the sandbox it follows the accelerated clock, which
 * would end the wait at once (or, frozen, never).
 */
export const acquireWaiting = async (
  locks: Pick<Locks, 'acquire'>,
  key: string,
  owner: string,
  options: WaitOptions,
): Promise<void> => {
  const started = performance.now();
  for (;;) {
    const expiresAt = new Date(options.clock().getTime() + options.lockMs);
    const taken = await locks.acquire(key, owner, expiresAt);
    if (taken.acquired) return;
    if (performance.now() - started >= options.waitMs) throw options.busy(taken.holder);
    await options.sleep(options.pollMs);
  }
};

// --- records: versioned state with a TTL ------------------------------------------------------------

export interface StoredRecord<T> {
  readonly key: string;
  readonly data: T;
  /** 1 after the first write; a write must name the version it read. */
  readonly version: number;
  readonly expiresAt: Date;
}

/**
 * Reads a record; an expired one (TTL may not have deleted it yet) reads as absent, so a writer
 * starts it afresh with `expectedVersion` set to the version it found (`staleVersion`).
 */
export const readRecord = async <T>(
  deps: StateTableDeps,
  key: string,
): Promise<{ readonly current: StoredRecord<T> | undefined; readonly staleVersion: number }> => {
  const { Item } = await deps.client.send(
    new GetCommand({ TableName: deps.tableName, Key: { pk: key }, ConsistentRead: true }),
  );
  if (Item === undefined) return { current: undefined, staleVersion: 0 };
  const version = typeof Item.version === 'number' ? Item.version : 0;
  const seconds = typeof Item.expiresAt === 'number' ? Item.expiresAt : 0;
  if (seconds <= nowSeconds(deps.clock())) return { current: undefined, staleVersion: version };
  return {
    current: { key, data: Item.data as T, version, expiresAt: new Date(seconds * 1000) },
    staleVersion: version,
  };
};

/**
 * Writes a record if it is still at `expectedVersion` (0: no record yet). Returns false when
 * someone else wrote it first: read it again and retry on what they wrote.
 */
export const writeRecord = async <T>(
  deps: StateTableDeps,
  key: string,
  data: T,
  expectedVersion: number,
  expiresAt: Date,
): Promise<boolean> => {
  try {
    await deps.client.send(
      new PutCommand({
        TableName: deps.tableName,
        Item: { pk: key, data, version: expectedVersion + 1, expiresAt: epochSeconds(expiresAt) },
        ConditionExpression: expectedVersion === 0 ? 'attribute_not_exists(#pk)' : '#version = :expected',
        ExpressionAttributeNames: expectedVersion === 0 ? { '#pk': 'pk' } : { '#version': 'version' },
        ...(expectedVersion === 0 ? {} : { ExpressionAttributeValues: { ':expected': expectedVersion } }),
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
};
