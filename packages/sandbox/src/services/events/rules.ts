/**
 * Rules and their targets: PutRule, DescribeRule, ListRules, DeleteRule, EnableRule, DisableRule,
 * PutTargets, ListTargetsByRule, RemoveTargets. Patterns are validated with the sandbox's
 * pattern module, as AWS validates them (InvalidEventPatternException with its reason).
 */

import { AwsError } from '../../errors';
import {
  compact,
  type Input,
  optionalObjectList,
  optionalString,
  optionalStringList,
  requiredString,
  validationError,
} from '../../protocol/json';
import type { JsonAction, ServiceContext } from '../../service';
import { pageOfList } from './buses';
import {
  busRef,
  callerAccount,
  EventsTable,
  type InputTransformer,
  parsePattern,
  type RuleRecord,
  requireBus,
  ruleArn,
  ruleKey,
  rulesOf,
  type TargetRecord,
} from './model';

const RULE_NAME = /^[.\-_A-Za-z0-9]{1,64}$/;
const TARGET_ID = /^[.\-_A-Za-z0-9]{1,64}$/;
/** AWS: at most 5 targets per rule. */
const MAX_TARGETS = 5;

/** The caller's own bus named by EventBusName (a name or its ARN). */
const ownBusOf = (ctx: ServiceContext, input: Input) => {
  const ref = busRef(ctx, optionalString(input, 'EventBusName'));
  if (ref.account !== callerAccount(ctx) || ref.region !== ctx.region) {
    throw new AwsError(
      'AccessDeniedException',
      'Rules can only be managed on event buses of your own account and region.',
    );
  }
  return requireBus(ctx, ref);
};

const findRule = (ctx: ServiceContext, input: Input, member = 'Name'): RuleRecord => {
  const bus = ownBusOf(ctx, input);
  const name = requiredString(input, member);
  const rule = ctx.store.get<RuleRecord>(EventsTable.Rules, ruleKey(bus.account, bus.region, bus.name, name));
  if (!rule) throw new AwsError('ResourceNotFoundException', `Rule ${name} does not exist on EventBus ${bus.name}.`);
  return rule;
};

const saveRule = (ctx: ServiceContext, rule: RuleRecord): void => {
  ctx.transact((tx) => tx.put(EventsTable.Rules, ruleKey(rule.account, rule.region, rule.busName, rule.name), rule));
};

const putRule: JsonAction = (input, ctx) => {
  const name = requiredString(input, 'Name');
  if (!RULE_NAME.test(name)) {
    throw validationError(
      `1 validation error detected: Value '${name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+`,
    );
  }
  const bus = ownBusOf(ctx, input);
  const eventPattern = optionalString(input, 'EventPattern');
  const scheduleExpression = optionalString(input, 'ScheduleExpression');
  if (eventPattern === undefined && scheduleExpression === undefined) {
    throw validationError('Parameter(s) EventPattern or ScheduleExpression must be specified.');
  }
  if (eventPattern !== undefined) parsePattern(eventPattern);
  if (scheduleExpression !== undefined && bus.name !== 'default') {
    throw validationError('ScheduleExpression is supported only on the default event bus.');
  }
  const state = optionalString(input, 'State') ?? 'ENABLED';
  if (state !== 'ENABLED' && state !== 'DISABLED') {
    throw validationError(
      `1 validation error detected: Value '${state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]`,
    );
  }
  const existing = ctx.store.get<RuleRecord>(EventsTable.Rules, ruleKey(bus.account, bus.region, bus.name, name));
  const description = optionalString(input, 'Description');
  const roleArn = optionalString(input, 'RoleArn');
  const rule: RuleRecord = {
    name,
    account: bus.account,
    region: bus.region,
    busName: bus.name,
    arn: ruleArn(bus.region, bus.account, bus.name, name),
    ...(eventPattern === undefined ? {} : { eventPattern }),
    ...(scheduleExpression === undefined ? {} : { scheduleExpression }),
    state,
    ...(description === undefined ? {} : { description }),
    ...(roleArn === undefined ? {} : { roleArn }),
    createdAt: existing?.createdAt ?? ctx.clock.now().toISOString(),
    targets: existing?.targets ?? [],
  };
  saveRule(ctx, rule);
  return { RuleArn: rule.arn };
};

const summary = (rule: RuleRecord): Record<string, unknown> =>
  compact({
    Name: rule.name,
    Arn: rule.arn,
    EventPattern: rule.eventPattern,
    ScheduleExpression: rule.scheduleExpression,
    State: rule.state,
    Description: rule.description,
    RoleArn: rule.roleArn,
    EventBusName: rule.busName,
  });

const describeRule: JsonAction = (input, ctx) => {
  const rule = findRule(ctx, input);
  return { ...summary(rule), CreatedBy: rule.account };
};

const listRules: JsonAction = (input, ctx) => {
  const bus = ownBusOf(ctx, input);
  const prefix = optionalString(input, 'NamePrefix') ?? '';
  const { items, nextToken } = pageOfList(
    input,
    rulesOf(ctx, bus).filter((rule) => rule.name.startsWith(prefix)),
  );
  return compact({ Rules: items.map(summary), NextToken: nextToken });
};

const deleteRule: JsonAction = (input, ctx) => {
  const bus = ownBusOf(ctx, input);
  const name = requiredString(input, 'Name');
  const key = ruleKey(bus.account, bus.region, bus.name, name);
  const rule = ctx.store.get<RuleRecord>(EventsTable.Rules, key);
  if (!rule) return {};
  if (rule.targets.length > 0) throw validationError("Rule can't be deleted since it has targets.");
  ctx.transact((tx) => tx.delete(EventsTable.Rules, key));
  return {};
};

const setState =
  (state: 'ENABLED' | 'DISABLED'): JsonAction =>
  (input, ctx) => {
    saveRule(ctx, { ...findRule(ctx, input), state });
    return {};
  };

interface FailedEntry {
  TargetId: string;
  ErrorCode: string;
  ErrorMessage: string;
}

const isStringMap = (value: unknown): value is Record<string, string> =>
  !!value &&
  typeof value === 'object' &&
  !Array.isArray(value) &&
  Object.values(value).every((v) => typeof v === 'string');

/** A target as stored, or why it is refused. */
const readTarget = (raw: Input): TargetRecord | string => {
  const id = raw.Id;
  const arn = raw.Arn;
  if (typeof id !== 'string' || !TARGET_ID.test(id)) return 'Parameter Id is not valid.';
  if (typeof arn !== 'string' || !arn.startsWith('arn:')) return `Parameter ${String(arn)} is not valid.`;
  const given = ['Input', 'InputPath', 'InputTransformer'].filter((m) => raw[m] !== undefined && raw[m] !== null);
  if (given.length > 1) return 'Only one of Input, InputPath, or InputTransformer can be specified.';
  const target: Record<string, unknown> = { Id: id, Arn: arn };
  if (typeof raw.RoleArn === 'string') target.RoleArn = raw.RoleArn;
  if (typeof raw.Input === 'string') {
    try {
      JSON.parse(raw.Input);
    } catch {
      return 'Parameter Input is not valid: it must be valid JSON text.';
    }
    target.Input = raw.Input;
  }
  if (typeof raw.InputPath === 'string') {
    if (!raw.InputPath.startsWith('$'))
      return 'Parameter InputPath is not valid: it must be a JSON path such as $.detail.';
    target.InputPath = raw.InputPath;
  }
  if (raw.InputTransformer !== undefined && raw.InputTransformer !== null) {
    const transformer = raw.InputTransformer as Partial<InputTransformer>;
    if (typeof transformer.InputTemplate !== 'string') return 'InputTransformer must have an InputTemplate.';
    if (transformer.InputPathsMap !== undefined && !isStringMap(transformer.InputPathsMap)) {
      return 'InputPathsMap must map variable names to JSON paths.';
    }
    const reserved = Object.keys(transformer.InputPathsMap ?? {}).find((key) => key.toLowerCase().startsWith('aws.'));
    if (reserved) return `InputTransformer variable ${reserved} is reserved.`;
    target.InputTransformer = compact({
      InputPathsMap: transformer.InputPathsMap,
      InputTemplate: transformer.InputTemplate,
    });
  }
  if (raw.RetryPolicy && typeof raw.RetryPolicy === 'object') {
    const policy = raw.RetryPolicy as Record<string, unknown>;
    const attempts = policy.MaximumRetryAttempts;
    const age = policy.MaximumEventAgeInSeconds;
    if (attempts !== undefined && (typeof attempts !== 'number' || attempts < 0 || attempts > 185)) {
      return 'MaximumRetryAttempts must be between 0 and 185.';
    }
    if (age !== undefined && (typeof age !== 'number' || age < 60 || age > 86_400)) {
      return 'MaximumEventAgeInSeconds must be between 60 and 86400.';
    }
    target.RetryPolicy = compact({ MaximumRetryAttempts: attempts, MaximumEventAgeInSeconds: age });
  }
  if (raw.DeadLetterConfig && typeof raw.DeadLetterConfig === 'object') {
    const dlq = (raw.DeadLetterConfig as Record<string, unknown>).Arn;
    if (typeof dlq !== 'string' || !/^arn:aws:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/.test(dlq)) {
      return 'DeadLetterConfig.Arn must be the ARN of an SQS queue.';
    }
    target.DeadLetterConfig = { Arn: dlq };
  }
  return target as unknown as TargetRecord;
};

const putTargets: JsonAction = (input, ctx) => {
  const rule = findRule(ctx, input, 'Rule');
  const raws = optionalObjectList(input, 'Targets');
  if (!raws || raws.length === 0) {
    throw validationError(
      "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null",
    );
  }
  const failed: FailedEntry[] = [];
  const targets = new Map(rule.targets.map((target) => [target.Id, target]));
  for (const raw of raws) {
    const target = readTarget(raw);
    if (typeof target === 'string') {
      failed.push({ TargetId: String(raw.Id ?? ''), ErrorCode: 'ValidationException', ErrorMessage: target });
      continue;
    }
    if (!targets.has(target.Id) && targets.size >= MAX_TARGETS) {
      throw new AwsError(
        'LimitExceededException',
        `The requested resource exceeds the maximum number allowed: a rule has at most ${MAX_TARGETS} targets.`,
      );
    }
    targets.set(target.Id, target);
  }
  saveRule(ctx, { ...rule, targets: [...targets.values()] });
  return { FailedEntryCount: failed.length, FailedEntries: failed };
};

const listTargetsByRule: JsonAction = (input, ctx) => {
  const rule = findRule(ctx, input, 'Rule');
  const { items, nextToken } = pageOfList(input, rule.targets);
  return compact({ Targets: items, NextToken: nextToken });
};

const removeTargets: JsonAction = (input, ctx) => {
  const rule = findRule(ctx, input, 'Rule');
  const ids = optionalStringList(input, 'Ids') ?? [];
  if (ids.length === 0) {
    throw validationError(
      "1 validation error detected: Value null at 'ids' failed to satisfy constraint: Member must not be null",
    );
  }
  const known = new Set(rule.targets.map((target) => target.Id));
  const failed: FailedEntry[] = ids
    .filter((id) => !known.has(id))
    .map((id) => ({
      TargetId: id,
      ErrorCode: 'ResourceNotFoundException',
      ErrorMessage: `Target ${id} does not exist on rule ${rule.name}.`,
    }));
  const removing = new Set(ids);
  saveRule(ctx, { ...rule, targets: rule.targets.filter((target) => !removing.has(target.Id)) });
  return { FailedEntryCount: failed.length, FailedEntries: failed };
};

export const ruleActions = {
  PutRule: putRule,
  DescribeRule: describeRule,
  ListRules: listRules,
  DeleteRule: deleteRule,
  EnableRule: setState('ENABLED'),
  DisableRule: setState('DISABLED'),
  PutTargets: putTargets,
  ListTargetsByRule: listTargetsByRule,
  RemoveTargets: removeTargets,
} satisfies Record<string, JsonAction>;
