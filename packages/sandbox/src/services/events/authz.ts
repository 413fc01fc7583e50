/**
 * Which resources and condition keys each EventBridge action authorizes (Service Authorization
 * Reference, "Actions, resources, and condition keys for Amazon EventBridge"). Actions not listed
 * are authorized as events:Action on * (ListEventBuses, ListRules, PutPermission, RemovePermission,
 * TestEventPattern: no resource types).
 *
 * - Buses are `event-bus/NAME` and rules `rule/NAME` on the default bus, `rule/BUS/NAME` on others.
 * - PutEvents is authorized once per bus its entries go to, with `events:source` and
 *   `events:detail-type` holding one value per entry ("Using IAM policy conditions in Amazon
 *   EventBridge"), against the bus policy as well as the caller's policies.
 * - A role given to a rule (`RoleArn`) or a target (`Targets[].RoleArn`) is passed to
 *   `events.amazonaws.com`: `iam:PassRole` ("Amazon EventBridge permissions").
 */
import { type AuthzCheck, passRole } from '../../authz/authorizer';
import type { ContextKeys, PolicyDocument } from '../../iam';
import type { AuthzMapper, ServiceContext } from '../../service';
import { type BusRecord, busArn, busRef, callerAccount, DEFAULT_BUS, findBus, ruleArn, SANDBOX_ORG_ID } from './model';

type Input = Record<string, unknown>;

const text = (input: Input, member: string): string | undefined => {
  const value = input[member];
  return typeof value === 'string' ? value : undefined;
};

const objects = (input: Input, member: string): Input[] => {
  const value = input[member];
  return Array.isArray(value) ? value.filter((item): item is Input => !!item && typeof item === 'object') : [];
};

const withContext = (action: string, resource: string, context: ContextKeys): AuthzCheck =>
  Object.keys(context).length > 0 ? { action, resource, context } : { action, resource };

/** The bus a request names (name or ARN); the caller's default bus when it names none. */
const busOf = (
  ctx: ServiceContext,
  nameOrArn: string | undefined,
): { region: string; account: string; name: string } => {
  try {
    return busRef(ctx, nameOrArn);
  } catch {
    // Not an event bus ARN: the action answers with its validation error after authorization.
    return { region: ctx.region, account: callerAccount(ctx), name: nameOrArn ?? DEFAULT_BUS };
  }
};

const onBus =
  (action: string): AuthzMapper<Input> =>
  (input, ctx) => {
    const ref = busOf(ctx, text(input, 'Name'));
    return [{ action, resource: busArn(ref.region, ref.account, ref.name) }];
  };

/** The rule `member` names on the bus `EventBusName` names. */
const ruleResource = (ctx: ServiceContext, input: Input, member: string): string => {
  const bus = busOf(ctx, text(input, 'EventBusName'));
  return ruleArn(bus.region, bus.account, bus.name, text(input, member) ?? '');
};

const onRule =
  (action: string, member: string): AuthzMapper<Input> =>
  (input, ctx) => [{ action, resource: ruleResource(ctx, input, member) }];

const stringsOf = (value: unknown): string[] =>
  (Array.isArray(value) ? value : [value]).filter((item): item is string => typeof item === 'string');

/** `events:source` / `events:detail-type` from the rule's pattern, and the request's tags. */
const putRule: AuthzMapper<Input> = (input, ctx) => {
  const context: Record<string, string | string[]> = {};
  const pattern = text(input, 'EventPattern');
  if (pattern !== undefined) {
    try {
      const parsed = JSON.parse(pattern) as Record<string, unknown>;
      const sources = stringsOf(parsed.source);
      const detailTypes = stringsOf(parsed['detail-type']);
      if (sources.length > 0) context['events:source'] = sources;
      if (detailTypes.length > 0) context['events:detail-type'] = detailTypes;
    } catch {
      // A malformed pattern is the action's InvalidEventPatternException to report.
    }
  }
  const tags = objects(input, 'Tags').filter((tag) => typeof tag.Key === 'string');
  for (const tag of tags) context[`aws:RequestTag/${tag.Key as string}`] = text(tag, 'Value') ?? '';
  if (tags.length > 0) context['aws:TagKeys'] = tags.map((tag) => tag.Key as string);
  const checks: AuthzCheck[] = [withContext('events:PutRule', ruleResource(ctx, input, 'Name'), context)];
  const role = text(input, 'RoleArn');
  if (role !== undefined) checks.push(passRole(role, 'events.amazonaws.com'));
  return checks;
};

/** PutTargets: the rule with `events:TargetArn` (each target's ARN), and each target's role passed. */
const putTargets: AuthzMapper<Input> = (input, ctx) => {
  const targets = objects(input, 'Targets');
  const targetArns = targets.flatMap((target) => stringsOf(target.Arn));
  const checks: AuthzCheck[] = [
    withContext(
      'events:PutTargets',
      ruleResource(ctx, input, 'Rule'),
      targetArns.length > 0 ? { 'events:TargetArn': targetArns } : {},
    ),
  ];
  for (const role of new Set(targets.flatMap((target) => stringsOf(target.RoleArn))))
    checks.push(passRole(role, 'events.amazonaws.com'));
  return checks;
};

/** One document per stored statement list: the evaluator compiles a document once, by identity. */
const busPolicies = new WeakMap<BusRecord['statements'], PolicyDocument>();
const busPolicy = (bus: BusRecord): PolicyDocument | undefined => {
  if (bus.statements.length === 0) return undefined;
  let document = busPolicies.get(bus.statements);
  if (!document) {
    document = { Version: '2012-10-17', Statement: bus.statements };
    busPolicies.set(bus.statements, document);
  }
  return document;
};

/**
 * PutEvents: one check per bus the entries go to. The bus policy takes part (within the account it
 * can allow on its own; across accounts both it and the caller's policies must allow), and the
 * caller is in the sandbox's organization (`aws:PrincipalOrgID`), as the entry-level check assumes.
 */
const putEvents: AuthzMapper<Input> = (input, ctx) => {
  const byBus = new Map<string, { bus?: BusRecord; sources: Set<string>; detailTypes: Set<string> }>();
  for (const entry of objects(input, 'Entries')) {
    const ref = busOf(ctx, text(entry, 'EventBusName'));
    const arn = busArn(ref.region, ref.account, ref.name);
    let group = byBus.get(arn);
    if (!group) {
      const bus = findBus(ctx, ref);
      group = { ...(bus ? { bus } : {}), sources: new Set(), detailTypes: new Set() };
      byBus.set(arn, group);
    }
    const source = text(entry, 'Source');
    const detailType = text(entry, 'DetailType');
    if (source) group.sources.add(source);
    if (detailType) group.detailTypes.add(detailType);
  }
  return [...byBus].map(([arn, { bus, sources, detailTypes }]): AuthzCheck => {
    const context: Record<string, string | string[]> = { 'aws:PrincipalOrgID': SANDBOX_ORG_ID };
    if (sources.size > 0) context['events:source'] = [...sources];
    if (detailTypes.size > 0) context['events:detail-type'] = [...detailTypes];
    const policy = bus ? busPolicy(bus) : undefined;
    return { action: 'events:PutEvents', resource: arn, context, ...(policy ? { resourcePolicy: policy } : {}) };
  });
};

export const eventsAuthz: Readonly<Record<string, AuthzMapper<Input>>> = {
  CreateEventBus: onBus('events:CreateEventBus'),
  DescribeEventBus: onBus('events:DescribeEventBus'),
  DeleteEventBus: onBus('events:DeleteEventBus'),
  PutRule: putRule,
  DescribeRule: onRule('events:DescribeRule', 'Name'),
  DeleteRule: onRule('events:DeleteRule', 'Name'),
  EnableRule: onRule('events:EnableRule', 'Name'),
  DisableRule: onRule('events:DisableRule', 'Name'),
  PutTargets: putTargets,
  ListTargetsByRule: onRule('events:ListTargetsByRule', 'Rule'),
  RemoveTargets: onRule('events:RemoveTargets', 'Rule'),
  PutEvents: putEvents,
};
