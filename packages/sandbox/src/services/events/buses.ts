/**
 * Event buses and their resource policy: CreateEventBus, DescribeEventBus, ListEventBuses,
 * DeleteEventBus, PutPermission, RemovePermission. The `default` bus of every account and region
 * exists without being created and cannot be deleted.
 */
import { AwsError } from '../../errors';
import { decodeOffsetToken, pageOf } from '../../pagination';
import {
  compact,
  epochSeconds,
  type Input,
  optionalBoolean,
  optionalInteger,
  optionalObject,
  optionalString,
  requiredString,
  validationError,
} from '../../protocol/json';
import type { JsonAction, ServiceContext } from '../../service';
import {
  type BusRecord,
  busArn,
  busKey,
  busRef,
  callerAccount,
  DEFAULT_BUS,
  EventsTable,
  findBus,
  type PolicyStatement,
  policyDocument,
  type RuleRecord,
  requireBus,
} from './model';

const BUS_NAME = /^[/.\-_A-Za-z0-9]{1,256}$/;

const describe = (bus: BusRecord): Record<string, unknown> =>
  compact({
    Name: bus.name,
    Arn: bus.arn,
    Description: bus.description,
    Policy: policyDocument(bus),
    CreationTime: bus.name === DEFAULT_BUS ? undefined : epochSeconds(bus.createdAt),
    LastModifiedTime: bus.name === DEFAULT_BUS ? undefined : epochSeconds(bus.lastModifiedAt),
  });

const createEventBus: JsonAction = (input, ctx) => {
  const name = requiredString(input, 'Name');
  if (!BUS_NAME.test(name) || name.startsWith('aws.')) {
    throw validationError(
      `1 validation error detected: Value '${name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+`,
    );
  }
  const account = callerAccount(ctx);
  if (findBus(ctx, { account, region: ctx.region, name })) {
    throw new AwsError('ResourceAlreadyExistsException', `Event bus ${name} already exists.`);
  }
  const now = ctx.clock.now().toISOString();
  const description = optionalString(input, 'Description');
  const bus: BusRecord = {
    name,
    account,
    region: ctx.region,
    arn: busArn(ctx.region, account, name),
    ...(description === undefined ? {} : { description }),
    createdAt: now,
    lastModifiedAt: now,
    statements: [],
  };
  ctx.transact((tx) => tx.put(EventsTable.Buses, busKey(account, ctx.region, name), bus));
  return { EventBusArn: bus.arn };
};

const describeEventBus: JsonAction = (input, ctx) =>
  describe(requireBus(ctx, busRef(ctx, optionalString(input, 'Name'))));

const limitOf = (input: Input): number => {
  const limit = optionalInteger(input, 'Limit') ?? 100;
  if (limit < 1 || limit > 100) {
    throw validationError(
      `1 validation error detected: Value '${limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100`,
    );
  }
  return limit;
};

/** Offset pagination over a sorted list with EventBridge's `Limit` / `NextToken`. */
export const pageOfList = <T>(input: Input, items: readonly T[]): { items: T[]; nextToken: string | undefined } => {
  const limit = limitOf(input);
  const token = optionalString(input, 'NextToken');
  const start = token ? decodeOffsetToken(token) : 0;
  if (start === undefined) throw validationError('The NextToken provided is not valid.');
  return pageOf(items, () => true, { offset: start, limit });
};

const listEventBuses: JsonAction = (input, ctx) => {
  const account = callerAccount(ctx);
  const prefix = optionalString(input, 'NamePrefix') ?? '';
  const custom = [...ctx.store.table<BusRecord>(EventsTable.Buses).values()].filter(
    (bus) => bus.account === account && bus.region === ctx.region,
  );
  const defaultBus = findBus(ctx, { account, region: ctx.region, name: DEFAULT_BUS }) as BusRecord;
  const all = [defaultBus, ...custom.filter((bus) => bus.name !== DEFAULT_BUS)]
    .filter((bus) => bus.name.startsWith(prefix))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { items, nextToken } = pageOfList(input, all);
  return compact({ EventBuses: items.map(describe), NextToken: nextToken });
};

/** Deletes a custom bus and the rules on it; a bus that does not exist is no error (as AWS). */
const deleteEventBus: JsonAction = (input, ctx) => {
  const name = requiredString(input, 'Name');
  if (name === DEFAULT_BUS) throw validationError('Cannot delete event bus default.');
  const account = callerAccount(ctx);
  ctx.transact((tx) => {
    tx.delete(EventsTable.Buses, busKey(account, ctx.region, name));
    for (const [id, rule] of ctx.store.table<RuleRecord>(EventsTable.Rules)) {
      if (rule.account === account && rule.region === ctx.region && rule.busName === name)
        tx.delete(EventsTable.Rules, id);
    }
  });
  return {};
};

const storeBus = (ctx: ServiceContext, bus: BusRecord): void => {
  ctx.transact((tx) =>
    tx.put<BusRecord>(EventsTable.Buses, busKey(bus.account, bus.region, bus.name), {
      ...bus,
      lastModifiedAt: ctx.clock.now().toISOString(),
    }),
  );
};

const ownBus = (ctx: ServiceContext, input: Input): BusRecord =>
  requireBus(ctx, {
    account: callerAccount(ctx),
    region: ctx.region,
    name: optionalString(input, 'EventBusName') ?? DEFAULT_BUS,
  });

/**
 * PutPermission with Action/Principal/StatementId (and an optional Condition on
 * aws:PrincipalOrgID), or with a whole Policy document whose statements replace the old ones.
 */
const putPermission: JsonAction = (input, ctx) => {
  const bus = ownBus(ctx, input);
  const policy = optionalString(input, 'Policy');
  if (policy !== undefined) {
    let document: { Statement?: unknown };
    try {
      document = JSON.parse(policy) as { Statement?: unknown };
    } catch {
      throw new AwsError('MalformedPolicyDocumentException', 'The policy document is not valid JSON.');
    }
    const statements = Array.isArray(document.Statement) ? document.Statement : [document.Statement];
    if (statements.some((s) => !s || typeof s !== 'object')) {
      throw new AwsError('MalformedPolicyDocumentException', 'The policy document has no valid Statement.');
    }
    storeBus(ctx, { ...bus, statements: statements as PolicyStatement[] });
    return {};
  }
  const action = optionalString(input, 'Action') ?? 'events:PutEvents';
  const principal = requiredString(input, 'Principal');
  const statementId = requiredString(input, 'StatementId');
  if (principal !== '*' && !/^\d{12}$/.test(principal)) {
    throw validationError('Parameter Principal is not valid: give a 12-digit account id or *.');
  }
  const condition = optionalObject(input, 'Condition');
  let conditionBlock: PolicyStatement['Condition'];
  if (condition) {
    const type = requiredString(condition, 'Type');
    const key = requiredString(condition, 'Key');
    const value = requiredString(condition, 'Value');
    if (type !== 'StringEquals' || key !== 'aws:PrincipalOrgID') {
      throw validationError('Condition must be of Type StringEquals with Key aws:PrincipalOrgID.');
    }
    conditionBlock = { StringEquals: { [key]: value } };
  }
  const statement: PolicyStatement = {
    Sid: statementId,
    Effect: 'Allow',
    Principal: principal === '*' ? '*' : { AWS: `arn:aws:iam::${principal}:root` },
    Action: action,
    Resource: bus.arn,
    ...(conditionBlock ? { Condition: conditionBlock } : {}),
  };
  storeBus(ctx, { ...bus, statements: [...bus.statements.filter((s) => s.Sid !== statementId), statement] });
  return {};
};

const removePermission: JsonAction = (input, ctx) => {
  const bus = ownBus(ctx, input);
  if (optionalBoolean(input, 'RemoveAllPermissions')) {
    storeBus(ctx, { ...bus, statements: [] });
    return {};
  }
  const statementId = requiredString(input, 'StatementId');
  if (!bus.statements.some((s) => s.Sid === statementId)) {
    throw new AwsError('ResourceNotFoundException', 'Statement with the provided id does not exist.');
  }
  storeBus(ctx, { ...bus, statements: bus.statements.filter((s) => s.Sid !== statementId) });
  return {};
};

export const busActions = {
  CreateEventBus: createEventBus,
  DescribeEventBus: describeEventBus,
  ListEventBuses: listEventBuses,
  DeleteEventBus: deleteEventBus,
  PutPermission: putPermission,
  RemovePermission: removePermission,
} satisfies Record<string, JsonAction>;
