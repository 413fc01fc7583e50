/**
 * Which resources DynamoDB actions authorize (Service Authorization Reference, "Actions, resources,
 * and condition keys for Amazon DynamoDB"): item, table, TTL and backup actions on the table
 * (`arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}`); Query and Scan with an
 * IndexName on the index (`…:table/${TableName}/index/${IndexName}`), which a grant on the table
 * alone does not cover; batch actions on each table they name; tagging on the ARN given.
 * ListTables supports no resource-level permissions and is authorized on `*` (no mapper).
 * Item actions carry the condition keys of `condition-keys.ts` (`dynamodb:LeadingKeys`, …).
 */
import type { AuthzCheck } from '../../authz/authorizer';
import type { ContextKeys } from '../../iam/types';
import type { AuthzMapper, ServiceContext } from '../../service';
import { batchLeadingKeys, leadingKeys, requestKeys } from './condition-keys';
import { partitionKeyOf, tableArn } from './model';

type Input = Record<string, unknown>;

const arnOf = (ctx: ServiceContext, tableName: unknown): string =>
  // No name: the action answers with its validation error after authorization.
  typeof tableName === 'string' && tableName !== '' ? tableArn(ctx.region, ctx.account, tableName) : '*';

const onTable =
  (action: string): AuthzMapper<Input> =>
  (input, ctx) => [{ action: `dynamodb:${action}`, resource: arnOf(ctx, input.TableName) }];

/** The request's condition keys: its own members, and the partition key values it touches. */
const itemContext = (action: string, input: Input, ctx: ServiceContext): ContextKeys => {
  const keys = leadingKeys(action, input, partitionKeyOf(ctx.store, input.TableName));
  return { ...requestKeys(input), ...(keys ? { 'dynamodb:LeadingKeys': keys } : {}) };
};

const onItem =
  (action: string): AuthzMapper<Input> =>
  (input, ctx) => [
    { action: `dynamodb:${action}`, resource: arnOf(ctx, input.TableName), context: itemContext(action, input, ctx) },
  ];

const onTableOrIndex =
  (action: string): AuthzMapper<Input> =>
  (input, ctx) => {
    const table = arnOf(ctx, input.TableName);
    const index = typeof input.IndexName === 'string' && table !== '*' ? `${table}/index/${input.IndexName}` : table;
    return [{ action: `dynamodb:${action}`, resource: index, context: itemContext(action, input, ctx) }];
  };

const onEachTable =
  (action: string): AuthzMapper<Input> =>
  (input, ctx) => {
    const requests = input.RequestItems;
    const names = requests && typeof requests === 'object' ? Object.keys(requests) : [];
    return names.length === 0
      ? [{ action: `dynamodb:${action}`, resource: '*' }]
      : names.map((name): AuthzCheck => {
          const keys = batchLeadingKeys((requests as Input)[name], partitionKeyOf(ctx.store, name));
          return {
            action: `dynamodb:${action}`,
            resource: arnOf(ctx, name),
            context: { ...requestKeys(input), ...(keys.length > 0 ? { 'dynamodb:LeadingKeys': keys } : {}) },
          };
        });
  };

const onResourceArn =
  (action: string): AuthzMapper<Input> =>
  (input) => [
    { action: `dynamodb:${action}`, resource: typeof input.ResourceArn === 'string' ? input.ResourceArn : '*' },
  ];

const TABLE_ACTIONS = [
  'CreateTable',
  'DeleteTable',
  'DescribeTable',
  'UpdateTable',
  'DescribeTimeToLive',
  'UpdateTimeToLive',
  'DescribeContinuousBackups',
  'UpdateContinuousBackups',
] as const;

export const dynamodbAuthz: Readonly<Record<string, AuthzMapper<Input>>> = {
  ...Object.fromEntries(TABLE_ACTIONS.map((action) => [action, onTable(action)])),
  GetItem: onItem('GetItem'),
  PutItem: onItem('PutItem'),
  UpdateItem: onItem('UpdateItem'),
  DeleteItem: onItem('DeleteItem'),
  Query: onTableOrIndex('Query'),
  Scan: onTableOrIndex('Scan'),
  BatchGetItem: onEachTable('BatchGetItem'),
  BatchWriteItem: onEachTable('BatchWriteItem'),
  TagResource: onResourceArn('TagResource'),
  UntagResource: onResourceArn('UntagResource'),
  ListTagsOfResource: onResourceArn('ListTagsOfResource'),
};
