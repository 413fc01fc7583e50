/**
 * DynamoDB (JSON 1.0, `DynamoDB_20120810.<Action>`), served by dynalite (`backend.ts`) behind the
 * sandbox endpoint: the endpoint routes, injects faults and authorizes each request as every other
 * service's; the authorized request goes to dynalite as it came, and dynalite's answer, success or
 * error (`ConditionalCheckFailedException`, `ResourceNotFoundException`, `ValidationException`),
 * goes back unchanged but for table ARNs, which name the sandbox's account and the request's region.
 *
 * The sandbox answers itself what dynalite lacks: Time to Live and point-in-time recovery settings
 * (`settings.ts`), TTL's background deletion on the sandbox clock (`sweep.ts`, run by `pump`), and
 * the item a failed condition returns with `ReturnValuesOnConditionCheckFailure: ALL_OLD`.
 * Transactions, PartiQL, streams and backups are not answered (UnknownOperationException).
 *
 * One dynalite per sandbox, its LevelDB in `<state>/dynamodb`: one namespace of tables for every
 * region the sandbox is called in.
 */
import { join } from 'node:path';
import { AwsError } from '../../errors';
import type { SandboxRuntime } from '../../runtime';
import type { HttpRoute, JsonAction, JsonService, ServiceContext } from '../../service';
import { type BackendReply, type DynamoBackend, startBackend } from './backend';
import { DynamoTable, SettingsKey, type TableRecord, ttlSettings } from './model';
import {
  describeContinuousBackups,
  describeTimeToLive,
  forgetTable,
  updateContinuousBackups,
  updateTimeToLive,
} from './settings';
import { sweepExpired } from './sweep';

/** The actions dynalite 4.0.0 answers (its `index.js`), but DescribeTimeToLive, which the sandbox answers. */
const DYNALITE_ACTIONS = [
  'BatchGetItem',
  'BatchWriteItem',
  'CreateTable',
  'DeleteItem',
  'DeleteTable',
  'DescribeTable',
  'GetItem',
  'ListTables',
  'PutItem',
  'Query',
  'Scan',
  'TagResource',
  'UntagResource',
  'ListTagsOfResource',
  'UpdateItem',
  'UpdateTable',
] as const;

/** Real milliseconds between TTL sweeps: often enough for tests, rare enough to cost nothing. */
const SWEEP_INTERVAL_MS = 200;

interface Running {
  readonly backend: DynamoBackend;
  lastSweepMs: number;
  /** The sweep under way: closing waits for it, as dynalite's close does not wait for a Scan. */
  sweeping: Promise<unknown> | undefined;
}

/** One dynalite per running sandbox (a test process may run several). */
const running = new Map<SandboxRuntime, Running>();

const backendOf = (ctx: ServiceContext): DynamoBackend => {
  const entry = running.get(ctx.runtime);
  if (!entry) throw new AwsError('ServiceUnavailable', 'The sandbox DynamoDB is not running', 503);
  return entry.backend;
};

/** dynalite names tables in its own account and region; the sandbox's are the caller's. */
const TABLE_ARN = /arn:aws:dynamodb:[a-z0-9-]+:\d{12}:table\//g;

const withSandboxArns = (body: Record<string, unknown>, ctx: ServiceContext): Record<string, unknown> => {
  const text = JSON.stringify(body);
  const rewritten = text.replace(TABLE_ARN, `arn:aws:dynamodb:${ctx.region}:${ctx.account}:table/`);
  return rewritten === text ? body : (JSON.parse(rewritten) as Record<string, unknown>);
};

/** dynalite's error as the sandbox's: its `__type` (namespaced, as DynamoDB's own) and message. */
const backendError = (reply: BackendReply, fields: Record<string, unknown> = {}): AwsError => {
  const code = typeof reply.body.__type === 'string' ? reply.body.__type : 'InternalServerError';
  const message = reply.body.message ?? reply.body.Message;
  return new AwsError(code, typeof message === 'string' ? message : '', reply.status, fields);
};

const isConditionFailure = (reply: BackendReply): boolean =>
  String(reply.body.__type ?? '').endsWith('#ConditionalCheckFailedException');

/**
 * `ReturnValuesOnConditionCheckFailure: ALL_OLD` returns the item that failed the condition in the
 * error (API Reference, PutItem / UpdateItem / DeleteItem); dynalite ignores the member, so the
 * sandbox reads the item after the failure.
 */
const oldItemFields = async (
  backend: DynamoBackend,
  action: string,
  input: Record<string, unknown>,
): Promise<Record<string, unknown>> => {
  if (input.ReturnValuesOnConditionCheckFailure !== 'ALL_OLD') return {};
  let key = input.Key as Record<string, unknown> | undefined;
  if (action === 'PutItem') {
    const described = await backend.call('DescribeTable', { TableName: input.TableName });
    const schema = ((described.body.Table as { KeySchema?: { AttributeName: string }[] } | undefined)?.KeySchema ??
      []) as { AttributeName: string }[];
    const item = (input.Item ?? {}) as Record<string, unknown>;
    key = Object.fromEntries(schema.map((element) => [element.AttributeName, item[element.AttributeName]]));
  }
  if (!key) return {};
  const found = await backend.call('GetItem', { TableName: input.TableName, Key: key, ConsistentRead: true });
  return found.status === 200 && found.body.Item !== undefined ? { Item: found.body.Item } : {};
};

/** Keeps the partition key of a table CreateTable or DescribeTable described (see `TableRecord`). */
const rememberKeys = (ctx: ServiceContext, body: Record<string, unknown>): void => {
  const table = (body.TableDescription ?? body.Table) as
    | { TableName?: string; KeySchema?: { AttributeName: string; KeyType: string }[] }
    | undefined;
  const partitionKey = table?.KeySchema?.find((element) => element.KeyType === 'HASH')?.AttributeName;
  if (!table?.TableName || partitionKey === undefined) return;
  const tableName = table.TableName;
  if (ctx.store.get<TableRecord>(DynamoTable.Tables, tableName)?.partitionKey === partitionKey) return;
  ctx.transact((tx) => tx.put<TableRecord>(DynamoTable.Tables, tableName, { tableName, partitionKey }));
};

const forward =
  (action: string): JsonAction =>
  async (input, ctx) => {
    const backend = backendOf(ctx);
    const reply = await backend.call(action, input);
    if (reply.status !== 200) {
      const fields = isConditionFailure(reply) ? await oldItemFields(backend, action, input) : {};
      throw backendError(reply, fields);
    }
    if (action === 'DeleteTable' && typeof input.TableName === 'string') forgetTable(ctx, input.TableName);
    if (action === 'CreateTable' || action === 'DescribeTable') rememberKeys(ctx, reply.body);
    return withSandboxArns(reply.body, ctx);
  };

/** `GET /_sandbox/dynamodb/ttl`: the sweep's lag and what it deleted; `PUT` with `{"lagSeconds": n}` sets the lag. */
const ttlRoutes: readonly HttpRoute[] = [
  {
    method: 'GET',
    path: /\/_sandbox\/dynamodb\/ttl/,
    action: 'SandboxDynamoDbTtl',
    handle: (_request, ctx) => ({ body: ttlSettings(ctx.store) }),
  },
  {
    method: 'PUT',
    path: /\/_sandbox\/dynamodb\/ttl/,
    action: 'SandboxDynamoDbTtl',
    handle: (request, ctx) => {
      let body: unknown;
      try {
        body = JSON.parse(request.body || '{}');
      } catch {
        body = undefined;
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        return { status: 400, body: { error: 'the body must be a JSON object: {"lagSeconds": <seconds, 0 or more>}' } };
      }
      const unknown = Object.keys(body).find((field) => field !== 'lagSeconds');
      if (unknown !== undefined) {
        return {
          status: 400,
          body: { error: `unknown field ${unknown}: PUT /_sandbox/dynamodb/ttl takes lagSeconds` },
        };
      }
      const lagSeconds = (body as { lagSeconds?: unknown }).lagSeconds;
      if (typeof lagSeconds !== 'number' || !Number.isFinite(lagSeconds) || lagSeconds < 0) {
        return { status: 400, body: { error: 'lagSeconds must be a number of sandbox seconds, 0 or more' } };
      }
      const settings = { ...ttlSettings(ctx.store), lagSeconds };
      ctx.transact((tx) => tx.put(DynamoTable.Settings, SettingsKey.Ttl, settings));
      return { body: settings };
    },
  },
];

export const dynamodb: JsonService = {
  protocol: 'json',
  jsonVersion: '1.0',
  signingName: 'dynamodb',
  targetPrefix: 'DynamoDB_20120810',
  actions: {
    ...Object.fromEntries(DYNALITE_ACTIONS.map((action) => [action, forward(action)])),
    DescribeTimeToLive: describeTimeToLive(backendOf),
    UpdateTimeToLive: updateTimeToLive(backendOf),
    DescribeContinuousBackups: describeContinuousBackups(backendOf),
    UpdateContinuousBackups: updateContinuousBackups(backendOf),
  },
  unsignedRoutes: ttlRoutes,
  start: async (ctx) => {
    // The LevelDB directory belongs to the store that marked it: a new or reset store empties it,
    // so `--reset` forgets tables and items with everything else.
    const marked = ctx.store.get(DynamoTable.Settings, SettingsKey.Backend) !== undefined;
    const backend = await startBackend({ path: join(ctx.store.dir, 'dynamodb'), wipe: !marked });
    if (!marked) ctx.transact((tx) => tx.put(DynamoTable.Settings, SettingsKey.Backend, { engine: 'dynalite' }));
    running.set(ctx.runtime, { backend, lastSweepMs: 0, sweeping: undefined });
    // Partition keys of tables the store has no record of (data kept from an older sandbox).
    let start: unknown;
    do {
      const page = await backend.call('ListTables', start === undefined ? {} : { ExclusiveStartTableName: start });
      for (const name of (page.body.TableNames ?? []) as string[]) {
        if (ctx.store.get(DynamoTable.Tables, name)) continue;
        const described = await backend.call('DescribeTable', { TableName: name });
        if (described.status === 200) rememberKeys(ctx, described.body);
      }
      start = page.body.LastEvaluatedTableName;
    } while (start !== undefined);
  },
  pump: async (ctx) => {
    const entry = running.get(ctx.runtime);
    if (!entry || ctx.runtime.isClosed || Date.now() - entry.lastSweepMs < SWEEP_INTERVAL_MS) return;
    entry.lastSweepMs = Date.now();
    const sweep = sweepExpired(entry.backend, ctx.store, ctx.clock.nowMs(), ctx.transact);
    entry.sweeping = sweep.catch(() => undefined);
    try {
      await sweep;
    } finally {
      entry.sweeping = undefined;
    }
  },
  stop: async () => {
    // `stop` has no context: close the dynalite of every sandbox that is closing.
    for (const [runtime, entry] of [...running]) {
      if (!runtime.isClosed) continue;
      running.delete(runtime);
      await entry.sweeping;
      await entry.backend.close();
    }
  },
};
