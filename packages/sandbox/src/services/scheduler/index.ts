/**
 * EventBridge Scheduler (REST-JSON, signing name `scheduler`): schedule groups and schedules that
 * fire on the SANDBOX clock into Lambda, Step Functions, EventBridge, SQS-style queues or universal
 * (`aws-sdk`) targets, with Scheduler's context placeholders substituted in `Input`, retries and a
 * dead-letter queue (targets.ts of EventBridge).
 *
 * Firing: each enabled schedule keeps its next fire time; the pump fires every schedule whose time
 * has come. When the clock jumps over several occurrences at once, only the latest one that was
 * missed fires (with that occurrence as `<aws.scheduler.scheduled-time>`), then the schedule waits
 * for its next occurrence after now. `GET /_sandbox/schedules/firings` lists every firing.
 *
 * Each firing invokes its target as the schedule's `Target.RoleArn`, assumed by
 * `scheduler.amazonaws.com` with `aws:SourceArn` = the schedule GROUP's ARN and
 * `aws:SourceAccount` (EventBridge Scheduler User Guide, "Confused deputy prevention": Scheduler
 * sets the group's ARN, not the schedule's). A role it cannot assume, or a call the role may not
 * make, is a failed firing (AccessDeniedException, not retried), sent to the DLQ when one is set.
 */
import { randomUUID } from 'node:crypto';
import { isTimeZone } from '@bakehouse/cron';
import type { Credentials } from '../../authz/identity';
import { assumeAsService, authorizeAs, RoleTrustError } from '../../authz/sessions';
import { AwsError } from '../../errors';
import { decodeOffsetToken, pageOf } from '../../pagination';
import { compact } from '../../protocol/json';
import type { HttpReply, HttpRequest, HttpRoute, RestJsonService, ServiceContext } from '../../service';
import { callerAccount } from '../events/model';
import { eventTime } from '../events/put-events';
import { deliver, TargetError } from '../events/targets';
import { type Expression, firstOccurrence, latestOccurrence, parseExpression } from './expressions';

const Table = {
  Groups: 'scheduler.groups',
  Schedules: 'scheduler.schedules',
  Firings: 'scheduler.firings',
} as const;

const DEFAULT_GROUP = 'default';
const NAME = /^[0-9a-zA-Z\-_.]{1,64}$/;
const DEFAULT_RETRY = { maximumRetryAttempts: 185, maximumEventAgeInSeconds: 86_400 };

type Json = Record<string, unknown>;

interface GroupRecord extends Json {
  readonly name: string;
  readonly account: string;
  readonly region: string;
  readonly arn: string;
  readonly createdAt: string;
  readonly lastModifiedAt: string;
}

interface ScheduleRecord extends Json {
  readonly name: string;
  readonly groupName: string;
  readonly account: string;
  readonly region: string;
  readonly arn: string;
  readonly expression: string;
  readonly timezone: string;
  readonly startDate?: string;
  readonly endDate?: string;
  readonly description?: string;
  readonly state: 'ENABLED' | 'DISABLED';
  readonly kmsKeyArn?: string;
  readonly target: Json;
  readonly flexibleTimeWindow: Json;
  readonly actionAfterCompletion: 'NONE' | 'DELETE';
  readonly createdAt: string;
  readonly lastModifiedAt: string;
  /** Sandbox ms of the next occurrence; null when it will not fire again. */
  readonly nextFireMs: number | null;
}

interface FiringRecord extends Json {
  readonly seq: number;
  readonly scheduleArn: string;
  readonly scheduledTime: string;
  readonly firedAt: string;
  readonly executionId: string;
  readonly targetArn: string;
  readonly status: 'pending' | 'delivered' | 'failed' | 'dead-lettered';
  readonly attempts: number;
  readonly error?: string;
}

const validation = (message: string): AwsError => new AwsError('ValidationException', message);
const notFound = (message: string): AwsError => new AwsError('ResourceNotFoundException', message, 404);

const groupKey = (account: string, region: string, name: string): string => `${account}:${region}:${name}`;
const scheduleKey = (account: string, region: string, group: string, name: string): string =>
  `${account}:${region}:${group}:${name}`;

const groupArn = (region: string, account: string, name: string): string =>
  `arn:aws:scheduler:${region}:${account}:schedule-group/${name}`;
const scheduleArn = (region: string, account: string, group: string, name: string): string =>
  `arn:aws:scheduler:${region}:${account}:schedule/${group}/${name}`;

const seconds = (iso: string): number => Date.parse(iso) / 1000;

const parseBody = (request: HttpRequest): Json => {
  if (request.body.trim() === '') return {};
  try {
    const body = JSON.parse(request.body) as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Json;
  } catch {
    // fall through
  }
  throw new AwsError('SerializationException', 'The request body is not a JSON object');
};

const findGroup = (ctx: ServiceContext, name: string): GroupRecord | undefined => {
  const account = callerAccount(ctx);
  const stored = ctx.store.get<GroupRecord>(Table.Groups, groupKey(account, ctx.region, name));
  if (stored || name !== DEFAULT_GROUP) return stored;
  const epoch = new Date(0).toISOString();
  return {
    name,
    account,
    region: ctx.region,
    arn: groupArn(ctx.region, account, name),
    createdAt: epoch,
    lastModifiedAt: epoch,
  };
};

const requireGroup = (ctx: ServiceContext, name: string): GroupRecord => {
  const group = findGroup(ctx, name);
  if (!group) throw notFound(`Schedule group ${name} does not exist.`);
  return group;
};

const describeGroup = (group: GroupRecord): Json => ({
  Arn: group.arn,
  Name: group.name,
  State: 'ACTIVE',
  CreationDate: seconds(group.createdAt),
  LastModificationDate: seconds(group.lastModifiedAt),
});

const nameParam = (request: HttpRequest): string => {
  const name = request.params.name ?? '';
  if (!NAME.test(name)) {
    throw validation(
      `1 validation error detected: Value '${name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$`,
    );
  }
  return name;
};

const createGroup = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const name = nameParam(request);
  if (findGroup(ctx, name)) throw new AwsError('ConflictException', `Schedule group ${name} already exists.`, 409);
  const account = callerAccount(ctx);
  const now = ctx.clock.now().toISOString();
  const group: GroupRecord = {
    name,
    account,
    region: ctx.region,
    arn: groupArn(ctx.region, account, name),
    createdAt: now,
    lastModifiedAt: now,
  };
  ctx.transact((tx) => tx.put(Table.Groups, groupKey(account, ctx.region, name), group));
  return { body: { ScheduleGroupArn: group.arn } };
};

const deleteGroup = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const name = nameParam(request);
  if (name === DEFAULT_GROUP) throw validation('You cannot delete the default schedule group.');
  const group = requireGroup(ctx, name);
  ctx.transact((tx) => {
    tx.delete(Table.Groups, groupKey(group.account, group.region, name));
    for (const [id, schedule] of ctx.store.table<ScheduleRecord>(Table.Schedules)) {
      if (schedule.account === group.account && schedule.region === group.region && schedule.groupName === name) {
        tx.delete(Table.Schedules, id);
      }
    }
  });
  return { body: {} };
};

const pageOfRequest = <T>(request: HttpRequest, items: readonly T[]): { items: T[]; nextToken: string | undefined } => {
  const max = Number(request.query.get('MaxResults') ?? 100);
  if (!Number.isInteger(max) || max < 1 || max > 100) throw validation('MaxResults must be between 1 and 100.');
  const token = request.query.get('NextToken');
  const start = token ? decodeOffsetToken(token) : 0;
  if (start === undefined) throw validation('The NextToken is not valid.');
  return pageOf(items, () => true, { offset: start, limit: max });
};

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

const listGroups = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const account = callerAccount(ctx);
  const prefix = request.query.get('NamePrefix') ?? '';
  const stored = [...ctx.store.table<GroupRecord>(Table.Groups).values()].filter(
    (g) => g.account === account && g.region === ctx.region && g.name !== DEFAULT_GROUP,
  );
  const all = [findGroup(ctx, DEFAULT_GROUP) as GroupRecord, ...stored]
    .filter((g) => g.name.startsWith(prefix))
    .sort(byName);
  const { items, nextToken } = pageOfRequest(request, all);
  return { body: compact({ ScheduleGroups: items.map(describeGroup), NextToken: nextToken }) };
};

// ---------------------------------------------------------------- schedules

const toIso = (value: unknown, member: string): string | undefined => {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'number' ? value * 1000 : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw validation(`${member} is not a valid timestamp.`);
  return new Date(ms).toISOString();
};

const readTarget = (body: Json): Json => {
  const target = body.Target;
  if (!target || typeof target !== 'object' || Array.isArray(target)) throw validation('Target is required.');
  const t = target as Json;
  if (typeof t.Arn !== 'string' || !t.Arn.startsWith('arn:')) throw validation('Target.Arn is not a valid ARN.');
  if (typeof t.RoleArn !== 'string' || !t.RoleArn.startsWith('arn:'))
    throw validation('Target.RoleArn is not a valid ARN.');
  if (/^arn:aws:events:/.test(t.Arn)) {
    const parameters = t.EventBridgeParameters as Json | undefined;
    if (!parameters || typeof parameters.Source !== 'string' || typeof parameters.DetailType !== 'string') {
      throw validation('EventBridgeParameters with Source and DetailType are required for an EventBridge target.');
    }
  }
  return t;
};

/** A schedule record from a CreateSchedule / UpdateSchedule body. */
const readSchedule = (
  body: Json,
  ctx: ServiceContext,
  name: string,
  group: GroupRecord,
  createdAt: string,
): ScheduleRecord => {
  const expression = body.ScheduleExpression;
  if (typeof expression !== 'string') throw validation('ScheduleExpression is required.');
  const parsed = parseExpression(expression);
  if (typeof parsed === 'string') throw validation(parsed);
  const timezone = typeof body.ScheduleExpressionTimezone === 'string' ? body.ScheduleExpressionTimezone : 'UTC';
  if (!isTimeZone(timezone)) throw validation(`Invalid ScheduleExpressionTimezone ${timezone}.`);
  const window = body.FlexibleTimeWindow as Json | undefined;
  if (!window || (window.Mode !== 'OFF' && window.Mode !== 'FLEXIBLE')) {
    throw validation('FlexibleTimeWindow with Mode OFF or FLEXIBLE is required.');
  }
  const state = body.State ?? 'ENABLED';
  if (state !== 'ENABLED' && state !== 'DISABLED') throw validation(`Invalid State ${String(state)}.`);
  const action = body.ActionAfterCompletion ?? 'NONE';
  if (action !== 'NONE' && action !== 'DELETE') throw validation(`Invalid ActionAfterCompletion ${String(action)}.`);
  const startDate = toIso(body.StartDate, 'StartDate');
  const endDate = toIso(body.EndDate, 'EndDate');
  if (startDate && endDate && Date.parse(endDate) <= Date.parse(startDate)) {
    throw validation('The EndDate must be after the StartDate.');
  }
  const now = ctx.clock.now().toISOString();
  const record: ScheduleRecord = {
    name,
    groupName: group.name,
    account: group.account,
    region: group.region,
    arn: scheduleArn(group.region, group.account, group.name, name),
    expression,
    timezone,
    ...(startDate === undefined ? {} : { startDate }),
    ...(endDate === undefined ? {} : { endDate }),
    ...(typeof body.Description === 'string' ? { description: body.Description } : {}),
    state,
    ...(typeof body.KmsKeyArn === 'string' ? { kmsKeyArn: body.KmsKeyArn } : {}),
    target: readTarget(body),
    flexibleTimeWindow: window,
    actionAfterCompletion: action,
    createdAt,
    lastModifiedAt: now,
    nextFireMs: null,
  };
  const first = firstOccurrence(parsed, timezone, windowOf(record), ctx.clock.nowMs());
  return { ...record, nextFireMs: first ?? null };
};

const windowOf = (schedule: Pick<ScheduleRecord, 'startDate' | 'endDate' | 'createdAt' | 'lastModifiedAt'>) => ({
  startMs: Date.parse(schedule.startDate ?? schedule.lastModifiedAt),
  ...(schedule.endDate === undefined ? {} : { endMs: Date.parse(schedule.endDate) }),
});

const groupOf = (ctx: ServiceContext, name: string | null | undefined): GroupRecord =>
  requireGroup(ctx, name ?? DEFAULT_GROUP);

const createSchedule = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const name = nameParam(request);
  const body = parseBody(request);
  const group = groupOf(ctx, typeof body.GroupName === 'string' ? body.GroupName : undefined);
  const key = scheduleKey(group.account, group.region, group.name, name);
  if (ctx.store.get(Table.Schedules, key))
    throw new AwsError('ConflictException', `Schedule ${name} already exists.`, 409);
  const schedule = readSchedule(body, ctx, name, group, ctx.clock.now().toISOString());
  ctx.transact((tx) => tx.put(Table.Schedules, key, schedule));
  return { body: { ScheduleArn: schedule.arn } };
};

const findSchedule = (ctx: ServiceContext, name: string, groupName: string | null | undefined): ScheduleRecord => {
  const group = groupOf(ctx, groupName);
  const schedule = ctx.store.get<ScheduleRecord>(
    Table.Schedules,
    scheduleKey(group.account, group.region, group.name, name),
  );
  if (!schedule) throw notFound(`Schedule ${name} does not exist.`);
  return schedule;
};

const updateSchedule = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const name = nameParam(request);
  const body = parseBody(request);
  const existing = findSchedule(ctx, name, typeof body.GroupName === 'string' ? body.GroupName : undefined);
  const group = groupOf(ctx, existing.groupName);
  const schedule = readSchedule(body, ctx, name, group, existing.createdAt);
  ctx.transact((tx) => tx.put(Table.Schedules, scheduleKey(group.account, group.region, group.name, name), schedule));
  return { body: { ScheduleArn: schedule.arn } };
};

const describeSchedule = (schedule: ScheduleRecord): Json =>
  compact({
    Arn: schedule.arn,
    GroupName: schedule.groupName,
    Name: schedule.name,
    ScheduleExpression: schedule.expression,
    ScheduleExpressionTimezone: schedule.timezone,
    StartDate: schedule.startDate === undefined ? undefined : seconds(schedule.startDate),
    EndDate: schedule.endDate === undefined ? undefined : seconds(schedule.endDate),
    Description: schedule.description,
    State: schedule.state,
    KmsKeyArn: schedule.kmsKeyArn,
    CreationDate: seconds(schedule.createdAt),
    LastModificationDate: seconds(schedule.lastModifiedAt),
    Target: schedule.target,
    FlexibleTimeWindow: schedule.flexibleTimeWindow,
    ActionAfterCompletion: schedule.actionAfterCompletion,
  });

const getSchedule = (request: HttpRequest, ctx: ServiceContext): HttpReply => ({
  body: describeSchedule(findSchedule(ctx, nameParam(request), request.query.get('groupName'))),
});

const deleteSchedule = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const schedule = findSchedule(ctx, nameParam(request), request.query.get('groupName'));
  ctx.transact((tx) =>
    tx.delete(Table.Schedules, scheduleKey(schedule.account, schedule.region, schedule.groupName, schedule.name)),
  );
  return { body: {} };
};

const listSchedules = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const account = callerAccount(ctx);
  const group = request.query.get('ScheduleGroup');
  const prefix = request.query.get('NamePrefix') ?? '';
  const state = request.query.get('State');
  if (state !== null && state !== 'ENABLED' && state !== 'DISABLED') throw validation(`Invalid State ${state}.`);
  const all = [...ctx.store.table<ScheduleRecord>(Table.Schedules).values()]
    .filter(
      (s) =>
        s.account === account &&
        s.region === ctx.region &&
        (group === null || s.groupName === group) &&
        s.name.startsWith(prefix) &&
        (state === null || s.state === state),
    )
    .sort((a, b) => byName({ name: `${a.groupName}/${a.name}` }, { name: `${b.groupName}/${b.name}` }));
  const { items, nextToken } = pageOfRequest(request, all);
  return {
    body: compact({
      Schedules: items.map((s) => ({
        Arn: s.arn,
        Name: s.name,
        GroupName: s.groupName,
        State: s.state,
        CreationDate: seconds(s.createdAt),
        LastModificationDate: seconds(s.lastModifiedAt),
        Target: { Arn: s.target.Arn },
      })),
      NextToken: nextToken,
    }),
  };
};

// ---------------------------------------------------------------- firing

const substitute = (input: string, values: Record<string, string>): string =>
  input.replace(/<aws\.scheduler\.([a-z-]+)>/g, (placeholder, name: string) => values[name] ?? placeholder);

const firingId = (seq: number): string => String(seq).padStart(10, '0');

const updateFiring = (ctx: ServiceContext, seq: number, change: Partial<FiringRecord>): void => {
  ctx.transact((tx) => {
    const record = tx.get<FiringRecord>(Table.Firings, firingId(seq));
    if (record) tx.put<FiringRecord>(Table.Firings, firingId(seq), { ...record, ...change });
  });
};

export const SCHEDULER_PRINCIPAL = 'scheduler.amazonaws.com';

/** The session a schedule's target is invoked as (see the module comment). */
const scheduleCredentials = (ctx: ServiceContext, schedule: ScheduleRecord): Credentials => {
  const roleArn = String(schedule.target.RoleArn);
  try {
    return assumeAsService(ctx, {
      roleArn,
      service: SCHEDULER_PRINCIPAL,
      sessionName: schedule.name,
      context: {
        'aws:SourceArn': groupArn(schedule.region, schedule.account, schedule.groupName),
        'aws:SourceAccount': schedule.account,
      },
    });
  } catch (error) {
    if (error instanceof RoleTrustError) throw new TargetError('AccessDeniedException', error.message);
    throw error;
  }
};

/**
 * Scheduler sends a failed firing to its dead-letter queue as the schedule's execution role, which
 * needs `sqs:SendMessage` on the queue (EventBridge Scheduler User Guide, "Configuring a
 * dead-letter queue"). When the role cannot be assumed at all the guide does not say what happens;
 * the sandbox still dead-letters then, so the refusal stays visible.
 */
const permitScheduleDeadLetter = (ctx: ServiceContext, schedule: ScheduleRecord, queueArn: string): void => {
  let credentials: Credentials;
  try {
    credentials = scheduleCredentials(ctx, schedule);
  } catch {
    return;
  }
  authorizeAs(ctx, credentials, [{ action: 'sqs:SendMessage', resource: queueArn }]);
};

const fire = (ctx: ServiceContext, schedule: ScheduleRecord, scheduledMs: number): void => {
  const executionId = randomUUID();
  const target = schedule.target;
  const targetArn = String(target.Arn);
  const scheduledTime = eventTime(scheduledMs);
  let seq = 0;
  ctx.transact((tx) => {
    seq = ctx.store.table(Table.Firings).size + 1;
    tx.put<FiringRecord>(Table.Firings, firingId(seq), {
      seq,
      scheduleArn: schedule.arn,
      scheduledTime,
      firedAt: ctx.clock.now().toISOString(),
      executionId,
      targetArn,
      status: 'pending',
      attempts: 0,
    });
  });
  const retry = (target.RetryPolicy ?? {}) as Json;
  const deadLetterArn = (target.DeadLetterConfig as Json | undefined)?.Arn;
  const eventBridge = target.EventBridgeParameters as { Source: string; DetailType: string } | undefined;
  const input = typeof target.Input === 'string' ? target.Input : '{}';
  const background = ctx.runtime.context(schedule.region);
  ctx.runtime.spawn(`scheduler: ${schedule.arn} at ${scheduledTime}`, async () => {
    await deliver(background, {
      targetArn,
      payload: (attempt) =>
        substitute(input, {
          'scheduled-time': scheduledTime,
          'execution-id': executionId,
          'attempt-number': String(attempt),
          'schedule-arn': schedule.arn,
        }),
      retry: {
        maximumRetryAttempts:
          typeof retry.MaximumRetryAttempts === 'number'
            ? retry.MaximumRetryAttempts
            : DEFAULT_RETRY.maximumRetryAttempts,
        maximumEventAgeInSeconds:
          typeof retry.MaximumEventAgeInSeconds === 'number'
            ? retry.MaximumEventAgeInSeconds
            : DEFAULT_RETRY.maximumEventAgeInSeconds,
      },
      ...(typeof deadLetterArn === 'string' ? { deadLetterArn } : {}),
      sinceMs: scheduledMs,
      credentials: () => scheduleCredentials(background, schedule),
      permitDeadLetter: (queueArn) => permitScheduleDeadLetter(background, schedule, queueArn),
      deadLetterAttributes: { EXECUTION_ID: executionId, SCHEDULE_ARN: schedule.arn, TARGET_ARN: targetArn },
      invoke: {
        ...(eventBridge ? { eventBridge } : {}),
        queueAttributes: { SCHEDULE_ARN: schedule.arn, EXECUTION_ID: executionId },
      },
      progress: (status, attempts, error) =>
        updateFiring(background, seq, { status, attempts, ...(error === undefined ? {} : { error }) }),
    });
  });
};

/** Fires every enabled schedule whose time has come (only the latest missed occurrence of each). */
const pump = (ctx: ServiceContext): void => {
  const now = ctx.clock.nowMs();
  const due = [...ctx.store.table<ScheduleRecord>(Table.Schedules).entries()].filter(
    ([, s]) => s.state === 'ENABLED' && s.nextFireMs !== null && s.nextFireMs <= now,
  );
  for (const [key, schedule] of due) {
    const expression = parseExpression(schedule.expression) as Expression;
    const window = windowOf(schedule);
    const occurrence =
      latestOccurrence(expression, schedule.timezone, window, schedule.nextFireMs as number, now) ??
      (schedule.nextFireMs as number);
    const next = firstOccurrence(expression, schedule.timezone, window, Math.floor(now / 1000) * 1000 + 1000);
    const finished = next === undefined;
    ctx.transact((tx) => {
      if (finished && schedule.actionAfterCompletion === 'DELETE') tx.delete(Table.Schedules, key);
      else tx.put<ScheduleRecord>(Table.Schedules, key, { ...schedule, nextFireMs: next ?? null });
    });
    fire(ctx, schedule, occurrence);
  }
};

const RESTART_REASON = 'the sandbox stopped before the delivery finished';

const start = (ctx: ServiceContext): void => {
  const stale = [...ctx.store.table<FiringRecord>(Table.Firings).entries()].filter(([, f]) => f.status === 'pending');
  if (stale.length === 0) return;
  ctx.transact((tx) => {
    for (const [id, firing] of stale)
      tx.put<FiringRecord>(Table.Firings, id, { ...firing, status: 'failed', error: RESTART_REASON });
  });
};

const firingsRoute: HttpRoute = {
  method: 'GET',
  path: /\/_sandbox\/schedules\/firings/,
  action: 'SandboxScheduleFirings',
  handle: (request, ctx) => {
    const schedule = request.query.get('schedule');
    const firings = [...ctx.store.table<FiringRecord>(Table.Firings).values()]
      .filter((f) => !schedule || f.scheduleArn === schedule || f.scheduleArn.endsWith(`/${schedule}`))
      .sort((a, b) => a.seq - b.seq)
      .map(({ seq: _seq, ...rest }) => rest);
    return { body: firings };
  },
};

const route = (
  method: HttpRoute['method'],
  path: RegExp,
  action: string,
  handle: (request: HttpRequest, ctx: ServiceContext) => HttpReply,
): HttpRoute => ({ method, path, action, handle });

const SCHEDULE = /\/schedules\/(?<name>[^/]+)/;
const GROUP = /\/schedule-groups\/(?<name>[^/]+)/;

export const scheduler: RestJsonService = {
  protocol: 'rest-json',
  signingName: 'scheduler',
  routes: [
    route('POST', SCHEDULE, 'CreateSchedule', createSchedule),
    route('PUT', SCHEDULE, 'UpdateSchedule', updateSchedule),
    route('GET', SCHEDULE, 'GetSchedule', getSchedule),
    route('DELETE', SCHEDULE, 'DeleteSchedule', deleteSchedule),
    route('GET', /\/schedules/, 'ListSchedules', listSchedules),
    route('POST', GROUP, 'CreateScheduleGroup', createGroup),
    route('GET', GROUP, 'GetScheduleGroup', (request, ctx) => ({
      body: describeGroup(requireGroup(ctx, nameParam(request))),
    })),
    route('DELETE', GROUP, 'DeleteScheduleGroup', deleteGroup),
    route('GET', /\/schedule-groups/, 'ListScheduleGroups', listGroups),
  ],
  unsignedRoutes: [firingsRoute],
  pump,
  start,
};
