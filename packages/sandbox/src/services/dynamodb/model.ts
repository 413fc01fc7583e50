/**
 * What the sandbox keeps of DynamoDB itself, beside dynalite's data: the settings dynalite does not
 * implement (Time to Live, point-in-time recovery), the TTL sweep's lag, and the marker that says
 * the LevelDB directory belongs to this store (a store started afresh or reset has none, and the
 * directory is emptied with it).
 */
import type { Store } from '../../store';
import { DEFAULT_TTL_LAG_SECONDS } from './ttl';

export const DynamoTable = {
  Tables: 'dynamodb.tables',
  TimeToLive: 'dynamodb.timeToLive',
  ContinuousBackups: 'dynamodb.continuousBackups',
  Settings: 'dynamodb.settings',
} as const;

/** `dynamodb.settings` keys. */
export const SettingsKey = { Backend: 'backend', Ttl: 'ttl' } as const;

/**
 * A table's partition key, recorded from CreateTable and DescribeTable answers: authorization reads
 * it (synchronously, before dynalite is asked) to set `dynamodb:LeadingKeys`.
 */
export interface TableRecord extends Record<string, unknown> {
  readonly tableName: string;
  readonly partitionKey: string;
}

export const partitionKeyOf = (store: Store, tableName: unknown): string | undefined =>
  typeof tableName === 'string' ? store.get<TableRecord>(DynamoTable.Tables, tableName)?.partitionKey : undefined;

/** A table's TTL as UpdateTimeToLive set it (dynalite's DescribeTimeToLive always answers DISABLED). */
export interface TimeToLiveRecord extends Record<string, unknown> {
  readonly tableName: string;
  readonly attributeName: string;
  readonly enabled: boolean;
  /** Sandbox clock (ms) of the last UpdateTimeToLive: another within the hour is refused. */
  readonly updatedMs: number;
}

/** A table's point-in-time recovery as UpdateContinuousBackups set it. */
export interface ContinuousBackupsRecord extends Record<string, unknown> {
  readonly tableName: string;
  readonly enabled: boolean;
  readonly recoveryPeriodInDays: number;
  /** Sandbox clock (ms) when recovery was turned on: the earliest restorable time. */
  readonly enabledMs: number;
}

export interface TtlSettingsRecord extends Record<string, unknown> {
  readonly lagSeconds: number;
  /** Items the sweep deleted since the state directory was created. */
  readonly deleted: number;
}

export const ttlSettings = (store: Store): TtlSettingsRecord =>
  store.get<TtlSettingsRecord>(DynamoTable.Settings, SettingsKey.Ttl) ?? {
    lagSeconds: DEFAULT_TTL_LAG_SECONDS,
    deleted: 0,
  };

/** `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`, the ARN IAM authorizes item and table actions on. */
export const tableArn = (region: string, account: string, tableName: string): string =>
  `arn:aws:dynamodb:${region}:${account}:table/${tableName}`;
