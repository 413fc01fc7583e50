/**
 * Events onto buses: PutEvents (entry validation and per-entry failures as AWS reports them),
 * AWS-emitted service events, bus-to-bus forwarding, and rule matching with asynchronous
 * delivery to each matching rule's targets. Every accepted event is kept in `events.log`.
 */
import { randomUUID } from 'node:crypto';
import { AccessDeniedError, DENIAL_STYLES } from '../../authz/authorizer';
import type { Credentials } from '../../authz/identity';
import { assumeAsService, authorizeAs, RoleTrustError } from '../../authz/sessions';
import { type Input, optionalObjectList, requiredString, validationError } from '../../protocol/json';
import type { ServiceEvent } from '../../runtime';
import type { JsonAction, ServiceContext } from '../../service';
import { FUNCTIONS_TABLE, type FunctionRecord, functionPolicy, serviceMayInvoke } from '../lambda/model';
import {
  type BusRecord,
  type BusRef,
  busArn,
  busRef,
  callerAccount,
  DEFAULT_BUS,
  DEFAULT_RETRY,
  type DeliveryRecord,
  type EventEnvelope,
  EventsTable,
  findBus,
  type LogRecord,
  MAX_ENTRIES,
  MAX_ENTRIES_BYTES,
  mayPutEvents,
  parsePattern,
  type RuleRecord,
  rulesOf,
  type TargetRecord,
} from './model';
import { matchesPattern } from './pattern';
import { deliver, permitServiceSend, TargetError } from './targets';
import { targetInput } from './transform';

/** A forwarded event passes through at most this many buses (guards against bus loops). */
const MAX_HOPS = 5;

export const eventTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const logId = (seq: number): string => String(seq).padStart(10, '0');

/**
 * Puts `event` on `bus` (undefined: a bus that does not exist — AWS accepts such events and drops
 * them; the log keeps them with a note), matches it against the bus's enabled rules and starts one
 * delivery per target of every matching rule.
 */
export const ingest = (
  ctx: ServiceContext,
  bus: BusRecord | undefined,
  ref: BusRef,
  event: EventEnvelope,
  hops = 0,
): void => {
  const rules = bus ? rulesOf(ctx, bus).filter((rule) => rule.state === 'ENABLED' && matches(rule, event)) : [];
  const deliveries: DeliveryRecord[] = rules.flatMap((rule) =>
    rule.targets.map((target) => ({
      rule: rule.arn,
      target: target.Id,
      targetArn: target.Arn,
      status: 'pending' as const,
      attempts: 0,
    })),
  );
  const ingestedAt = ctx.clock.now().toISOString();
  let seq = 0;
  ctx.transact((tx) => {
    seq = ctx.store.table(EventsTable.Log).size + 1;
    tx.put<LogRecord>(EventsTable.Log, logId(seq), {
      seq,
      bus: bus?.arn ?? busArn(ref.region, ref.account, ref.name),
      event,
      ingestedAt,
      matchedRules: rules.map((rule) => rule.arn),
      deliveries,
      ...(bus ? {} : { note: `Event bus ${ref.name} does not exist; AWS accepts the event and drops it.` }),
    });
  });
  for (const rule of rules) {
    for (const target of rule.targets) {
      ctx.runtime.spawn(`events: delivery of ${event.id} to ${target.Arn}`, () =>
        deliverToTarget(ctx.runtime.context(rule.region), seq, rule, target, event, ingestedAt, hops),
      );
    }
  }
};

const matches = (rule: RuleRecord, event: EventEnvelope): boolean => {
  if (rule.eventPattern === undefined) return false;
  try {
    return matchesPattern(JSON.parse(rule.eventPattern) as object, event);
  } catch {
    return false;
  }
};

const updateDelivery = (ctx: ServiceContext, seq: number, rule: string, target: string, change: DeliveryRecord) => {
  ctx.transact((tx) => {
    const record = tx.get<LogRecord>(EventsTable.Log, logId(seq));
    if (!record) return;
    tx.put<LogRecord>(EventsTable.Log, logId(seq), {
      ...record,
      deliveries: record.deliveries.map((d) => (d.rule === rule && d.target === target ? change : d)),
    });
  });
};

const deliverToTarget = async (
  ctx: ServiceContext,
  seq: number,
  rule: RuleRecord,
  target: TargetRecord,
  event: EventEnvelope,
  ingestedAt: string,
  hops: number,
): Promise<void> => {
  const payload = targetInput(target, event, { ruleArn: rule.arn, ruleName: rule.name, ingestionTime: ingestedAt });
  await deliver(ctx, {
    targetArn: target.Arn,
    payload: () => payload,
    retry: {
      maximumRetryAttempts: target.RetryPolicy?.MaximumRetryAttempts ?? DEFAULT_RETRY.maximumRetryAttempts,
      maximumEventAgeInSeconds: target.RetryPolicy?.MaximumEventAgeInSeconds ?? DEFAULT_RETRY.maximumEventAgeInSeconds,
    },
    ...(target.DeadLetterConfig?.Arn ? { deadLetterArn: target.DeadLetterConfig.Arn } : {}),
    sinceMs: Date.parse(ingestedAt),
    deadLetterAttributes: { RULE_ARN: rule.arn, TARGET_ARN: target.Arn },
    invoke: {
      putOnBus: (arn, _payload, credentials) => forward(ctx, rule, arn, event, hops, credentials),
      queueAttributes: { RULE_ARN: rule.arn },
      permitQueue: (queueArn) => permitRuleQueue(ctx, rule, queueArn),
    },
    permitDeadLetter: (queueArn) => permitRuleQueue(ctx, rule, queueArn),
    ...(target.RoleArn ? { credentials: () => ruleTargetCredentials(ctx, rule, target.RoleArn as string) } : {}),
    permit: () => permitLambdaTarget(ctx, rule, target.Arn),
    progress: (status, attempts, error) =>
      updateDelivery(ctx, seq, rule.arn, target.Id, {
        rule: rule.arn,
        target: target.Id,
        targetArn: target.Arn,
        status,
        attempts,
        ...(error === undefined ? {} : { error }),
      }),
  });
};

export const EVENTS_PRINCIPAL = 'events.amazonaws.com';

/**
 * The session of a rule target's `RoleArn`: assumed by `events.amazonaws.com` with
 * `aws:SourceArn` = the rule's ARN and `aws:SourceAccount` = its account (EventBridge User Guide,
 * "Using IAM roles for targets" / confused deputy prevention). A refused trust fails the delivery.
 */
const ruleTargetCredentials = (ctx: ServiceContext, rule: RuleRecord, roleArn: string): Credentials => {
  try {
    return assumeAsService(ctx, {
      roleArn,
      service: EVENTS_PRINCIPAL,
      sessionName: rule.name,
      context: { 'aws:SourceArn': rule.arn, 'aws:SourceAccount': rule.account },
    });
  } catch (error) {
    if (error instanceof RoleTrustError) throw new TargetError('AccessDeniedException', error.message);
    throw error;
  }
};

/**
 * A rule invokes a Lambda function as `events.amazonaws.com`, which only the function's
 * resource-based policy can allow (its `AddPermission` statements, usually with `SourceArn` = the
 * rule's ARN: EventBridge User Guide, "Using resource-based policies for Amazon EventBridge",
 * Lambda permissions). A function the sandbox does not hold is left to Invoke to refuse.
 */
const permitLambdaTarget = (ctx: ServiceContext, rule: RuleRecord, targetArn: string): void => {
  const match = /^arn:aws[a-z-]*:lambda:([^:]+):(\d{12}):function:([^:]+)(?::[^:]+)?$/.exec(targetArn);
  if (!match) return;
  const record = ctx.store.get<FunctionRecord>(FUNCTIONS_TABLE, `${match[1]}/${match[3]}`);
  if (!record || record.arn.split(':')[4] !== match[2]) return;
  const context = { 'aws:SourceArn': rule.arn, 'aws:SourceAccount': rule.account };
  const evaluation = serviceMayInvoke(record, EVENTS_PRINCIPAL, rule.account, context);
  if (evaluation.decision === 'Allow') return;
  const check = {
    action: 'lambda:InvokeFunction',
    resource: record.arn,
    context,
    resourcePolicy: functionPolicy(record),
  };
  const principal = { type: 'Service' as const, arn: EVENTS_PRINCIPAL, account: rule.account };
  const denial = new AccessDeniedError({ check, principal, evaluation }, DENIAL_STYLES['rest-json']);
  ctx.authorizer.usage.denied(rule.arn, {
    action: check.action,
    resource: check.resource,
    reason: `${EVENTS_PRINCIPAL}: ${evaluation.reason}`,
    atMs: ctx.clock.nowMs(),
    enforced: ctx.authorizer.enabled,
  });
  if (ctx.authorizer.enabled) throw new TargetError(denial.code, denial.message);
};

/**
 * A rule sends to a queue (a target without a role, or the target's dead-letter queue) as
 * `events.amazonaws.com` with `aws:SourceArn` = the rule's ARN: only the queue's policy can allow it.
 */
const permitRuleQueue = (ctx: ServiceContext, rule: RuleRecord, queueArn: string): void =>
  permitServiceSend(
    ctx,
    {
      service: EVENTS_PRINCIPAL,
      account: rule.account,
      on: rule.arn,
      context: { 'aws:SourceArn': rule.arn, 'aws:SourceAccount': rule.account },
    },
    queueArn,
  );

/**
 * Bus-to-bus: the envelope travels unchanged. With the target's role, the role must be allowed
 * `events:PutEvents` on the bus; without one, the target bus's policy must allow the rule's account.
 */
const forward = (
  ctx: ServiceContext,
  rule: RuleRecord,
  arn: string,
  event: EventEnvelope,
  hops: number,
  credentials?: Credentials,
): void => {
  const ref = busRef(ctx, arn);
  const bus = findBus(ctx, ref);
  if (!bus) throw new TargetError('ResourceNotFoundException', `Event bus ${ref.name} does not exist.`);
  if (credentials) {
    authorizeAs(ctx, credentials, [{ action: 'events:PutEvents', resource: bus.arn }]);
  } else if (!mayPutEvents(bus, rule.account, { source: event.source, detailType: event['detail-type'] })) {
    throw new TargetError(
      'AccessDeniedException',
      `User: arn:aws:iam::${rule.account}:root is not authorized to perform: events:PutEvents on resource: ${bus.arn}`,
    );
  }
  if (hops + 1 > MAX_HOPS) throw new TargetError('InvalidTarget', `The event already passed through ${MAX_HOPS} buses`);
  ingest(ctx, bus, ref, event, hops + 1);
};

/** AWS-emitted events (`runtime.emit`): the default bus of the region, owned by the sandbox account. */
export const serviceEventSink = (serviceEvent: ServiceEvent, ctx: ServiceContext): void => {
  const region = serviceEvent.region ?? ctx.region;
  const ref = { account: ctx.account, region, name: DEFAULT_BUS };
  ingest(ctx, findBus(ctx, ref), ref, {
    version: '0',
    id: randomUUID(),
    'detail-type': serviceEvent.detailType,
    source: serviceEvent.source,
    account: ctx.account,
    time: eventTime(ctx.clock.nowMs()),
    region,
    resources: [...(serviceEvent.resources ?? [])],
    detail: serviceEvent.detail,
  });
};

interface ResultEntry {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

const entrySize = (entry: Input): number => {
  let size = entry.Time === undefined || entry.Time === null ? 0 : 14;
  for (const member of ['Source', 'DetailType', 'Detail']) {
    const value = entry[member];
    if (typeof value === 'string') size += Buffer.byteLength(value, 'utf8');
  }
  const resources = entry.Resources;
  if (Array.isArray(resources)) {
    for (const resource of resources) if (typeof resource === 'string') size += Buffer.byteLength(resource, 'utf8');
  }
  return size;
};

const required = (member: string): ResultEntry => ({
  ErrorCode: 'InvalidArgument',
  ErrorMessage: `Parameter ${member} is not valid. Reason: ${member} is a required argument.`,
});

export const putEvents: JsonAction = (input, ctx) => {
  const entries = optionalObjectList(input, 'Entries');
  if (!entries || entries.length === 0) {
    throw validationError(
      "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null",
    );
  }
  if (entries.length > MAX_ENTRIES) {
    throw validationError(
      `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ENTRIES}`,
    );
  }
  if (entries.reduce((total, entry) => total + entrySize(entry), 0) > MAX_ENTRIES_BYTES) {
    throw validationError('Total size of the entries in the request is over the limit.');
  }
  const caller = callerAccount(ctx);
  const results = entries.map((entry): ResultEntry => putEntry(ctx, caller, entry));
  return { FailedEntryCount: results.filter((r) => r.ErrorCode !== undefined).length, Entries: results };
};

const putEntry = (ctx: ServiceContext, caller: string, entry: Input): ResultEntry => {
  const source = typeof entry.Source === 'string' ? entry.Source : '';
  const detailType = typeof entry.DetailType === 'string' ? entry.DetailType : '';
  const detailText = typeof entry.Detail === 'string' ? entry.Detail : '';
  if (source === '') return required('Source');
  if (detailType === '') return required('DetailType');
  if (detailText === '') return required('Detail');
  let detail: unknown;
  try {
    detail = JSON.parse(detailText);
  } catch {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  if (!detail || typeof detail !== 'object' || Array.isArray(detail)) {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  if (source.startsWith('aws.')) {
    return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
  }
  let ref: BusRef;
  try {
    ref = busRef(ctx, typeof entry.EventBusName === 'string' ? entry.EventBusName : undefined);
  } catch (error) {
    return { ErrorCode: 'InvalidArgument', ErrorMessage: (error as Error).message };
  }
  const bus = findBus(ctx, ref);
  if (bus && !mayPutEvents(bus, caller, { source, detailType })) {
    return {
      ErrorCode: 'AccessDeniedException',
      ErrorMessage: `User: arn:aws:iam::${caller}:root is not authorized to perform: events:PutEvents on resource: ${bus.arn} because no resource-based policy allows the events:PutEvents action`,
    };
  }
  const resources = Array.isArray(entry.Resources) ? entry.Resources.filter((r) => typeof r === 'string') : [];
  const time = typeof entry.Time === 'number' ? entry.Time * 1000 : ctx.clock.nowMs();
  const id = randomUUID();
  ingest(ctx, bus, ref, {
    version: '0',
    id,
    'detail-type': detailType,
    source,
    account: caller,
    time: eventTime(time),
    region: ref.region,
    resources,
    detail: detail as Record<string, unknown>,
  });
  return { EventId: id };
};

const EVENT_FIELDS = ['id', 'account', 'source', 'time', 'region', 'detail-type'] as const;

export const testEventPattern: JsonAction = (input) => {
  const patternText = requiredString(input, 'EventPattern');
  const eventText = requiredString(input, 'Event');
  const pattern = parsePattern(patternText);
  let event: unknown;
  try {
    event = JSON.parse(eventText);
  } catch {
    throw validationError('Parameter Event is not valid.');
  }
  if (!event || typeof event !== 'object' || Array.isArray(event))
    throw validationError('Parameter Event is not valid.');
  const missing = EVENT_FIELDS.filter((field) => typeof (event as Record<string, unknown>)[field] !== 'string');
  if (missing.length > 0) {
    throw validationError(`Parameter Event is not valid. Reason: the event has no ${missing.join(', ')}.`);
  }
  return { Result: matchesPattern(pattern as object, event as object) };
};

/** Exported for the unsigned routes: events oldest first, optionally of one bus and after one event. */
export const eventLog = (ctx: ServiceContext, bus: string | null, since: string | null): unknown[] => {
  const records = [...ctx.store.table<LogRecord>(EventsTable.Log).values()].sort((a, b) => a.seq - b.seq);
  let start = 0;
  if (since) {
    const index = records.findIndex((record) => record.event.id === since);
    start = index >= 0 ? index + 1 : records.length;
  }
  return records
    .slice(start)
    .filter((record) => !bus || record.bus === bus || record.bus.endsWith(`:event-bus/${bus}`))
    .map(({ seq: _seq, ...rest }) => rest);
};
