/**
 * The table settings dynalite does not implement, answered by the sandbox and kept in its store:
 * Time to Live (UpdateTimeToLive, DescribeTimeToLive; dynalite's own DescribeTimeToLive always says
 * DISABLED) and point-in-time recovery (UpdateContinuousBackups, DescribeContinuousBackups).
 *
 * Both take effect at once (AWS passes through ENABLING for up to an hour); what stays as AWS has
 * it is the API's refusals: a second UpdateTimeToLive within the hour, enabling TTL that is already
 * enabled or disabling it when it is not (API Reference, UpdateTimeToLive), and a recovery period
 * outside 1 to 35 days (API Reference, PointInTimeRecoverySpecification).
 */
import { AwsError } from '../../errors';
import { type Input, optionalInteger, requiredString, validationError } from '../../protocol/json';
import type { JsonAction, ServiceContext } from '../../service';
import type { DynamoBackend } from './backend';
import { type ContinuousBackupsRecord, DynamoTable, type TimeToLiveRecord } from './model';

const HOUR_MS = 60 * 60 * 1000;
/** LatestRestorableDateTime "is typically 5 minutes before the current time" (API Reference, PointInTimeRecoveryDescription). */
const RESTORE_LAG_MS = 5 * 60 * 1000;

const specification = (input: Input, member: string): Input => {
  const value = input[member];
  if (value === undefined || value === null) {
    throw validationError(
      `1 validation error detected: Value null at '${member.charAt(0).toLowerCase()}${member.slice(1)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new AwsError('SerializationException', `Member ${member} must be a structure`);
  }
  return value as Input;
};

const requiredBoolean = (input: Input, member: string, where: string): boolean => {
  const value = input[member];
  if (typeof value !== 'boolean') throw validationError(`${where}.${member} must be true or false`);
  return value;
};

export type BackendOf = (ctx: ServiceContext) => DynamoBackend;

/** Throws dynalite's answer (ResourceNotFoundException) when the table does not exist. */
const requireTable = async (backend: DynamoBackend, tableName: string): Promise<void> => {
  const reply = await backend.call('DescribeTable', { TableName: tableName });
  if (reply.status !== 200) {
    const code = String(reply.body.__type ?? 'ResourceNotFoundException');
    throw new AwsError(code, String(reply.body.message ?? reply.body.Message ?? ''), reply.status);
  }
};

export const describeTimeToLive =
  (backendOf: BackendOf): JsonAction =>
  async (input, ctx) => {
    const tableName = requiredString(input, 'TableName');
    await requireTable(backendOf(ctx), tableName);
    const record = ctx.store.get<TimeToLiveRecord>(DynamoTable.TimeToLive, tableName);
    return {
      TimeToLiveDescription:
        record?.enabled === true
          ? { TimeToLiveStatus: 'ENABLED', AttributeName: record.attributeName }
          : { TimeToLiveStatus: 'DISABLED' },
    };
  };

export const updateTimeToLive =
  (backendOf: BackendOf): JsonAction =>
  async (input, ctx) => {
    const tableName = requiredString(input, 'TableName');
    const spec = specification(input, 'TimeToLiveSpecification');
    const attributeName = requiredString(spec, 'AttributeName');
    if (attributeName.length < 1 || attributeName.length > 255) {
      throw validationError('TimeToLiveSpecification.AttributeName must be 1 to 255 characters long');
    }
    const enabled = requiredBoolean(spec, 'Enabled', 'TimeToLiveSpecification');
    await requireTable(backendOf(ctx), tableName);
    const nowMs = ctx.clock.nowMs();
    const current = ctx.store.get<TimeToLiveRecord>(DynamoTable.TimeToLive, tableName);
    if (current && nowMs - current.updatedMs < HOUR_MS) {
      throw validationError('Time to live has been modified multiple times within a fixed interval');
    }
    if (enabled && current?.enabled) throw validationError('TimeToLive is already enabled');
    if (!enabled && !current?.enabled) throw validationError('TimeToLive is already disabled');
    ctx.transact((tx) =>
      tx.put<TimeToLiveRecord>(DynamoTable.TimeToLive, tableName, {
        tableName,
        attributeName,
        enabled,
        updatedMs: nowMs,
      }),
    );
    return { TimeToLiveSpecification: { AttributeName: attributeName, Enabled: enabled } };
  };

const backupsDescription = (record: ContinuousBackupsRecord | undefined, nowMs: number): Record<string, unknown> => ({
  ContinuousBackupsDescription: {
    // Continuous backups (the base of point-in-time recovery) are on for every table.
    ContinuousBackupsStatus: 'ENABLED',
    PointInTimeRecoveryDescription: record?.enabled
      ? {
          PointInTimeRecoveryStatus: 'ENABLED',
          RecoveryPeriodInDays: record.recoveryPeriodInDays,
          EarliestRestorableDateTime: record.enabledMs / 1000,
          LatestRestorableDateTime: Math.max(record.enabledMs, nowMs - RESTORE_LAG_MS) / 1000,
        }
      : { PointInTimeRecoveryStatus: 'DISABLED' },
  },
});

/** Continuous-backup actions name a missing table with TableNotFoundException (API Reference). */
const requireBackupTable = async (backend: DynamoBackend, tableName: string): Promise<void> => {
  const reply = await backend.call('DescribeTable', { TableName: tableName });
  if (reply.status !== 200) throw new AwsError('TableNotFoundException', `Table not found: ${tableName}`);
};

export const describeContinuousBackups =
  (backendOf: BackendOf): JsonAction =>
  async (input, ctx) => {
    const tableName = requiredString(input, 'TableName');
    await requireBackupTable(backendOf(ctx), tableName);
    return backupsDescription(
      ctx.store.get<ContinuousBackupsRecord>(DynamoTable.ContinuousBackups, tableName),
      ctx.clock.nowMs(),
    );
  };

export const updateContinuousBackups =
  (backendOf: BackendOf): JsonAction =>
  async (input, ctx) => {
    const tableName = requiredString(input, 'TableName');
    const spec = specification(input, 'PointInTimeRecoverySpecification');
    const enabled = requiredBoolean(spec, 'PointInTimeRecoveryEnabled', 'PointInTimeRecoverySpecification');
    const days = optionalInteger(spec, 'RecoveryPeriodInDays') ?? 35;
    if (days < 1 || days > 35) {
      throw validationError('PointInTimeRecoverySpecification.RecoveryPeriodInDays must be between 1 and 35');
    }
    await requireBackupTable(backendOf(ctx), tableName);
    const nowMs = ctx.clock.nowMs();
    const current = ctx.store.get<ContinuousBackupsRecord>(DynamoTable.ContinuousBackups, tableName);
    const record: ContinuousBackupsRecord = {
      tableName,
      enabled,
      recoveryPeriodInDays: days,
      enabledMs: enabled && current?.enabled ? current.enabledMs : nowMs,
    };
    ctx.transact((tx) => tx.put<ContinuousBackupsRecord>(DynamoTable.ContinuousBackups, tableName, record));
    return backupsDescription(record, nowMs);
  };

/** A deleted table's settings go with it (a table created later under the name starts afresh). */
export const forgetTable = (ctx: ServiceContext, tableName: string): void =>
  ctx.transact((tx) => {
    tx.delete(DynamoTable.Tables, tableName);
    tx.delete(DynamoTable.TimeToLive, tableName);
    tx.delete(DynamoTable.ContinuousBackups, tableName);
  });
