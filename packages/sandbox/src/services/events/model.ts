/**
 * EventBridge records in the sandbox store: buses (with their resource policy), rules (holding
 * their targets), the event log behind `GET /_sandbox/events`, and the SQS-style messages that
 * queue targets and dead-letter queues receive (there is no SQS API; `GET /_sandbox/dlq` shows them).
 *
 * Everything is owned by an account and a region: the caller's account is the access key id when
 * that is a 12-digit number, otherwise the sandbox account.
 */
import { AwsError } from '../../errors';
import { evaluate, type PolicyDocument } from '../../iam';
import type { ServiceContext } from '../../service';
import { validatePattern } from './pattern';

export const EventsTable = {
  Buses: 'events.buses',
  Rules: 'events.rules',
  Log: 'events.log',
  Messages: 'sqs.messages',
} as const;

export const DEFAULT_BUS = 'default';
/** Every sandbox account belongs to this organization (`aws:PrincipalOrgID` in bus policies). */
export const SANDBOX_ORG_ID = 'o-bakehouse00';
/** PutEvents: at most 10 entries, at most 256 KB in all (AWS counts the entry's members in UTF-8). */
export const MAX_ENTRIES = 10;
export const MAX_ENTRIES_BYTES = 256 * 1024;
/** AWS's defaults for a target's RetryPolicy. */
export const DEFAULT_RETRY = { maximumRetryAttempts: 185, maximumEventAgeInSeconds: 86_400 } as const;

export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: 'Allow';
  readonly Principal: '*' | { readonly AWS: string };
  readonly Action: string;
  readonly Resource: string;
  readonly Condition?: Record<string, Record<string, string>>;
}

export interface BusRecord extends Record<string, unknown> {
  readonly name: string;
  readonly account: string;
  readonly region: string;
  readonly arn: string;
  readonly description?: string;
  readonly createdAt: string;
  readonly lastModifiedAt: string;
  readonly statements: readonly PolicyStatement[];
}

export interface InputTransformer {
  readonly InputPathsMap?: Record<string, string>;
  readonly InputTemplate: string;
}

export interface TargetRecord {
  readonly Id: string;
  readonly Arn: string;
  readonly RoleArn?: string;
  readonly Input?: string;
  readonly InputPath?: string;
  readonly InputTransformer?: InputTransformer;
  readonly RetryPolicy?: { MaximumRetryAttempts?: number; MaximumEventAgeInSeconds?: number };
  readonly DeadLetterConfig?: { Arn?: string };
}

export interface RuleRecord extends Record<string, unknown> {
  readonly name: string;
  readonly account: string;
  readonly region: string;
  readonly busName: string;
  readonly arn: string;
  readonly eventPattern?: string;
  readonly scheduleExpression?: string;
  readonly state: 'ENABLED' | 'DISABLED';
  readonly description?: string;
  readonly roleArn?: string;
  readonly createdAt: string;
  readonly targets: readonly TargetRecord[];
}

/** The event envelope as targets receive it. */
export interface EventEnvelope extends Record<string, unknown> {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead-lettered';

export interface DeliveryRecord {
  readonly rule: string;
  readonly target: string;
  readonly targetArn: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly error?: string;
}

export interface LogRecord extends Record<string, unknown> {
  readonly seq: number;
  /** The bus ARN. */
  readonly bus: string;
  readonly event: EventEnvelope;
  readonly ingestedAt: string;
  readonly matchedRules: readonly string[];
  readonly deliveries: readonly DeliveryRecord[];
  /** Set when AWS would accept the event but nothing can receive it (the bus does not exist). */
  readonly note?: string;
}

export interface MessageRecord extends Record<string, unknown> {
  readonly seq: number;
  readonly queueArn: string;
  /**
   * `target`: a rule or schedule delivered to the queue; `dead-letter`: a DLQ record;
   * `lambda-destination`: a Lambda async invocation record (OnFailure/OnSuccess destination).
   */
  readonly kind: 'target' | 'dead-letter' | 'lambda-destination';
  readonly body: string;
  readonly attributes: Record<string, string>;
  readonly sentAt: string;
}

/** The account a request acts as: its administrator's, or its role session's (`authz/identity.ts`). */
export const callerAccount = (ctx: ServiceContext): string => ctx.caller.principal.account;

export const busArn = (region: string, account: string, name: string): string =>
  `arn:aws:events:${region}:${account}:event-bus/${name}`;

export const ruleArn = (region: string, account: string, busName: string, name: string): string =>
  `arn:aws:events:${region}:${account}:rule/${busName === DEFAULT_BUS ? '' : `${busName}/`}${name}`;

export const busKey = (account: string, region: string, name: string): string => `${account}:${region}:${name}`;
export const ruleKey = (account: string, region: string, busName: string, name: string): string =>
  `${account}:${region}:${busName}:${name}`;

export interface BusRef {
  readonly account: string;
  readonly region: string;
  readonly name: string;
}

/** A bus by name or ARN (an ARN may name another account or region). */
export const busRef = (ctx: ServiceContext, nameOrArn: string | undefined): BusRef => {
  const value = nameOrArn ?? DEFAULT_BUS;
  const arn = /^arn:aws:events:([a-z0-9-]+):(\d{12}):event-bus\/([A-Za-z0-9._\-/]+)$/.exec(value);
  if (arn) return { region: arn[1] as string, account: arn[2] as string, name: arn[3] as string };
  if (value.startsWith('arn:')) {
    throw new AwsError(
      'ValidationException',
      `Parameter EventBusName is not valid: '${value}' is not an event bus ARN.`,
    );
  }
  return { account: callerAccount(ctx), region: ctx.region, name: value };
};

/** The bus record; the default bus of every account and region exists without being created. */
export const findBus = (ctx: ServiceContext, ref: BusRef): BusRecord | undefined => {
  const stored = ctx.store.get<BusRecord>(EventsTable.Buses, busKey(ref.account, ref.region, ref.name));
  if (stored || ref.name !== DEFAULT_BUS) return stored;
  return {
    name: DEFAULT_BUS,
    account: ref.account,
    region: ref.region,
    arn: busArn(ref.region, ref.account, DEFAULT_BUS),
    createdAt: new Date(0).toISOString(),
    lastModifiedAt: new Date(0).toISOString(),
    statements: [],
  };
};

export const requireBus = (ctx: ServiceContext, ref: BusRef): BusRecord => {
  const bus = findBus(ctx, ref);
  if (!bus) throw new AwsError('ResourceNotFoundException', `Event bus ${ref.name} does not exist.`);
  return bus;
};

export const rulesOf = (ctx: ServiceContext, bus: BusRef): RuleRecord[] =>
  [...ctx.store.table<RuleRecord>(EventsTable.Rules).values()]
    .filter((rule) => rule.account === bus.account && rule.region === bus.region && rule.busName === bus.name)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** The policy document AWS returns in DescribeEventBus (absent when the bus has no statement). */
export const policyDocument = (bus: BusRecord): string | undefined =>
  bus.statements.length === 0 ? undefined : JSON.stringify({ Version: '2012-10-17', Statement: bus.statements });

/** A caller signed with an account's credentials acts as that account's administrator. */
const ACCOUNT_ADMINISTRATOR: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
};

/**
 * One document per stored statement list: the evaluator compiles a document once and remembers it
 * by identity, so the same bus policy is not compiled again for every PutEvents entry.
 */
const busPolicies = new WeakMap<readonly PolicyStatement[], PolicyDocument>();
const busPolicyDocument = (bus: BusRecord): PolicyDocument => {
  let document = busPolicies.get(bus.statements);
  if (!document) {
    document = { Version: '2012-10-17', Statement: bus.statements };
    busPolicies.set(bus.statements, document);
  }
  return document;
};

/**
 * Whether `account` may put this event on `bus`: its owner always may; anyone else needs the bus
 * policy to allow events:PutEvents, evaluated as IAM does for a cross-account request (the caller
 * acts as its account's administrator) with the context EventBridge sets: `events:source`,
 * `events:detail-type` ("Using IAM policy conditions in Amazon EventBridge") and
 * `aws:PrincipalOrgID` (the sandbox's organization).
 */
export const mayPutEvents = (
  bus: BusRecord,
  account: string,
  event: { readonly source: string; readonly detailType: string },
): boolean => {
  if (bus.account === account) return true;
  if (bus.statements.length === 0) return false;
  const { decision } = evaluate({
    request: {
      principal: { type: 'Root', arn: `arn:aws:iam::${account}:root`, account },
      action: 'events:PutEvents',
      resource: bus.arn,
      context: {
        'events:source': event.source,
        'events:detail-type': event.detailType,
        'aws:PrincipalOrgID': SANDBOX_ORG_ID,
      },
    },
    identityPolicies: [ACCOUNT_ADMINISTRATOR],
    resourcePolicy: busPolicyDocument(bus),
    resourceAccount: bus.account,
  });
  return decision === 'Allow';
};

export const appendMessage = (
  ctx: ServiceContext,
  message: Pick<MessageRecord, 'queueArn' | 'kind' | 'body' | 'attributes'>,
): void => {
  ctx.transact((tx) => {
    const seq = ctx.store.table(EventsTable.Messages).size + 1;
    tx.put<MessageRecord>(EventsTable.Messages, String(seq).padStart(10, '0'), {
      ...message,
      seq,
      sentAt: ctx.clock.now().toISOString(),
    });
  });
};

/** An event pattern parsed from its JSON text; InvalidEventPatternException when it is not one. */
export const parsePattern = (text: string): unknown => {
  let pattern: unknown;
  try {
    pattern = JSON.parse(text);
  } catch {
    throw new AwsError('InvalidEventPatternException', 'Event pattern is not valid. Reason: Filter is not valid JSON');
  }
  const problem = validatePattern(pattern);
  if (problem) throw new AwsError('InvalidEventPatternException', problem);
  return pattern;
};
