/**
 * The DynamoDB condition keys a request sets, for policies that limit access to some items
 * (Developer Guide, "Using IAM policy conditions for fine-grained access control"):
 *
 * - `dynamodb:LeadingKeys`: the partition key values the request touches (multivalued): the key
 *   of GetItem, DeleteItem and UpdateItem, the item of PutItem, the equality on the partition key
 *   in a Query's KeyConditionExpression (or legacy KeyConditions), each key of a batch on one table.
 *   A Scan sets none. A policy with `ForAllValues:StringLike` on it is satisfied by a request that
 *   sets none, as AWS evaluates it.
 * - `dynamodb:ReturnValues`, `dynamodb:Select`, `dynamodb:ReturnConsumedCapacity`: the request's
 *   members of those names, when set.
 *
 * `dynamodb:Attributes` (the attribute names a request reads or writes) is not set.
 */
import type { ContextKeys } from '../../iam/types';

type Input = Readonly<Record<string, unknown>>;

/** `{S: 'a'}`, `{N: '1'}`, `{B: 'base64'}` → its text; undefined for any other type. */
const scalarText = (value: unknown): string | undefined => {
  if (typeof value !== 'object' || value === null) return undefined;
  const typed = value as { S?: unknown; N?: unknown; B?: unknown };
  const text = typed.S ?? typed.N ?? typed.B;
  return typeof text === 'string' ? text : undefined;
};

const keyValue = (record: unknown, partitionKey: string): string | undefined =>
  typeof record === 'object' && record !== null
    ? scalarText((record as Record<string, unknown>)[partitionKey])
    : undefined;

/** The value a Query's key condition sets the partition key equal to. */
const queryPartitionValue = (input: Input, partitionKey: string): string | undefined => {
  const legacy = (input.KeyConditions as Record<string, { AttributeValueList?: unknown[] }> | undefined)?.[
    partitionKey
  ];
  if (legacy) return scalarText(legacy.AttributeValueList?.[0]);
  const expression = input.KeyConditionExpression;
  if (typeof expression !== 'string') return undefined;
  const names = (input.ExpressionAttributeNames ?? {}) as Record<string, string>;
  const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
  const isPartitionKey = (token: string): boolean => (names[token] ?? token) === partitionKey;
  for (const match of expression.matchAll(/([#:]?[\w.]+)\s*=\s*([#:]?[\w.]+)/g)) {
    const [, left = '', right = ''] = match;
    if (isPartitionKey(left) && right.startsWith(':')) return scalarText(values[right]);
    if (isPartitionKey(right) && left.startsWith(':')) return scalarText(values[left]);
  }
  return undefined;
};

/** The partition key values `action` touches on one table, or undefined when it names none. */
export const leadingKeys = (
  action: string,
  input: Input,
  partitionKey: string | undefined,
): readonly string[] | undefined => {
  if (partitionKey === undefined) return undefined;
  const one = (value: string | undefined) => (value === undefined ? undefined : [value]);
  switch (action) {
    case 'GetItem':
    case 'DeleteItem':
    case 'UpdateItem':
      return one(keyValue(input.Key, partitionKey));
    case 'PutItem':
      return one(keyValue(input.Item, partitionKey));
    case 'Query':
      return one(queryPartitionValue(input, partitionKey));
    default:
      return undefined;
  }
};

/** The keys a batch's requests on one table touch: BatchGetItem's `Keys`, BatchWriteItem's puts and deletes. */
export const batchLeadingKeys = (tableRequests: unknown, partitionKey: string | undefined): readonly string[] => {
  if (partitionKey === undefined) return [];
  const records: unknown[] = Array.isArray(tableRequests)
    ? tableRequests.map((request: { PutRequest?: { Item?: unknown }; DeleteRequest?: { Key?: unknown } }) =>
        request?.PutRequest ? request.PutRequest.Item : request?.DeleteRequest?.Key,
      )
    : (((tableRequests as { Keys?: unknown[] } | undefined)?.Keys ?? []) as unknown[]);
  return [...new Set(records.map((record) => keyValue(record, partitionKey)).filter((v) => v !== undefined))];
};

/** The single-valued keys the request's own members set. */
export const requestKeys = (input: Input): ContextKeys => {
  const keys: Record<string, string> = {};
  for (const member of ['ReturnValues', 'Select', 'ReturnConsumedCapacity'] as const) {
    const value = input[member];
    if (typeof value === 'string') keys[`dynamodb:${member}`] = value;
  }
  return keys;
};
