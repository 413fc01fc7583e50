/**
 * SQS queue policies (JSON 1.0, `AmazonSQS.<Action>`), and nothing else of SQS: queues are not
 * emulated (every queue URL names a queue; messages that targets and dead-letter queues receive are
 * recorded by EventBridge, `GET /_sandbox/dlq`). `SetQueueAttributes` keeps the `Policy` attribute,
 * as CloudFormation's `AWS::SQS::QueuePolicy` sets it on each queue it names (an empty policy
 * removes it), and `GetQueueAttributes` answers `Policy` and `QueueArn`.
 *
 * The policy is what lets a service principal send to a queue of the same account: EventBridge
 * sends a rule's failed events to a dead-letter queue, and events to a queue target, as
 * `events.amazonaws.com`, which has no identity policies (EventBridge User Guide, "Using
 * dead-letter queues to process undelivered events": the queue needs a resource-based policy;
 * IAM User Guide, "Policy evaluation logic"). `serviceMaySend` decides it with the context keys
 * the service sets; a queue without a policy allows no service.
 */
import { AwsError } from '../errors';
import { compilePolicy, evaluate, MalformedPolicyDocumentError, type PolicyDocument } from '../iam';
import type { ContextKeys, Evaluation } from '../iam/types';
import { type Input, optionalObject, optionalStringList, requiredString } from '../protocol/json';
import type { JsonAction, JsonService, ServiceContext } from '../service';
import type { Store } from '../store';

export const SqsTable = { QueuePolicies: 'sqs.queuePolicies' } as const;

export interface QueuePolicyRecord extends Record<string, unknown> {
  readonly queueArn: string;
  /** The policy as it was given (GetQueueAttributes answers it unchanged). */
  readonly policy: string;
}

/** `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` (or any host) → the queue's ARN. */
export const queueArnOfUrl = (url: string, fallbackRegion: string): string | undefined => {
  const match = /^https?:\/\/([^/]+)\/(\d{12})\/([A-Za-z0-9_-]{1,80}(?:\.fifo)?)\/?$/.exec(url);
  if (!match) return undefined;
  const host = match[1] as string;
  const region = /^sqs\.([a-z0-9-]+)\./.exec(host)?.[1] ?? /^([a-z]{2}(?:-[a-z]+)+-\d)\.queue\./.exec(host)?.[1];
  return `arn:aws:sqs:${region ?? fallbackRegion}:${match[2]}:${match[3]}`;
};

const queueOf = (input: Input, ctx: ServiceContext): string => {
  const url = requiredString(input, 'QueueUrl');
  const arn = queueArnOfUrl(url, ctx.region);
  if (!arn) {
    throw new AwsError('InvalidAddress', `The address ${url} is not valid for this endpoint.`, 404);
  }
  return arn;
};

/** One compiled document per stored record (the evaluator remembers documents by identity). */
const documents = new WeakMap<QueuePolicyRecord, PolicyDocument>();

/** The queue's policy, or undefined when it has none. */
export const queuePolicyOf = (store: Store, queueArn: string): PolicyDocument | undefined => {
  const record = store.get<QueuePolicyRecord>(SqsTable.QueuePolicies, queueArn);
  if (!record) return undefined;
  let document = documents.get(record);
  if (!document) {
    document = JSON.parse(record.policy) as PolicyDocument;
    documents.set(record, document);
  }
  return document;
};

/**
 * Whether `service` (e.g. `events.amazonaws.com`) may `sqs:SendMessage` to the queue with the keys
 * it sets (`aws:SourceArn`, `aws:SourceAccount`); services call SQS over TLS, so
 * `aws:SecureTransport` is true. Only the queue's policy can allow a service principal.
 */
export const serviceMaySend = (
  store: Store,
  queueArn: string,
  service: string,
  account: string,
  context: ContextKeys,
): { readonly evaluation: Evaluation; readonly policy: PolicyDocument | undefined } => {
  const policy = queuePolicyOf(store, queueArn);
  const evaluation = evaluate({
    request: {
      principal: { type: 'Service', arn: service, account },
      action: 'sqs:SendMessage',
      resource: queueArn,
      context: { 'aws:SecureTransport': 'true', ...context },
    },
    identityPolicies: [],
    ...(policy ? { resourcePolicy: policy } : {}),
    resourceAccount: queueArn.split(':')[4] ?? account,
  });
  return { evaluation, policy };
};

const setQueueAttributes: JsonAction = (input, ctx) => {
  const queueArn = queueOf(input, ctx);
  const attributes = optionalObject(input, 'Attributes') ?? {};
  const unknown = Object.keys(attributes).find((name) => name !== 'Policy');
  if (unknown !== undefined) {
    throw new AwsError('InvalidAttributeName', `Unknown Attribute ${unknown}. (The sandbox keeps only Policy.)`);
  }
  const policy = attributes.Policy;
  if (policy === undefined) return {};
  if (typeof policy !== 'string')
    throw new AwsError('InvalidAttributeValue', 'Invalid value for the parameter Policy.');
  if (policy === '') {
    ctx.transact((tx) => tx.delete(SqsTable.QueuePolicies, queueArn));
    return {};
  }
  try {
    compilePolicy(JSON.parse(policy) as PolicyDocument);
  } catch (error) {
    const reason = error instanceof MalformedPolicyDocumentError || error instanceof SyntaxError ? error.message : '';
    throw new AwsError('InvalidAttributeValue', `Invalid value for the parameter Policy. ${reason}`.trim());
  }
  ctx.transact((tx) => tx.put<QueuePolicyRecord>(SqsTable.QueuePolicies, queueArn, { queueArn, policy }));
  return {};
};

const getQueueAttributes: JsonAction = (input, ctx) => {
  const queueArn = queueOf(input, ctx);
  const names = optionalStringList(input, 'AttributeNames') ?? [];
  const all = names.includes('All');
  const policy = ctx.store.get<QueuePolicyRecord>(SqsTable.QueuePolicies, queueArn)?.policy;
  const attributes: Record<string, string> = {};
  if ((all || names.includes('Policy')) && policy !== undefined) attributes.Policy = policy;
  if (all || names.includes('QueueArn')) attributes.QueueArn = queueArn;
  return Object.keys(attributes).length === 0 ? {} : { Attributes: attributes };
};

export const sqs: JsonService = {
  protocol: 'json',
  jsonVersion: '1.0',
  signingName: 'sqs',
  targetPrefix: 'AmazonSQS',
  actions: {
    SetQueueAttributes: setQueueAttributes,
    GetQueueAttributes: getQueueAttributes,
  },
};
