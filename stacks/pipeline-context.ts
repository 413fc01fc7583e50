/**
 * What every part of the Bakehouse stack builds on: the bus (and who may put bake requests on it
 * from outside the account), the builder identity every builder and tester launches with, naming,
 * ARNs, and the helpers that give every function the same role, log group and cdk-nag treatment
 * and every dead-letter queue the same encryption, so the alarms can cover them all.
 *
 * `createPipelineContext` builds it; each part (bake-automation.ts, bake-functions.ts, …) takes it
 * and adds its own constructs through it.
 */

import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import {
  CfnInstanceProfile,
  Effect,
  ManagedPolicy,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { type App, type FunctionProps, Function as SstFunction, type Stack } from 'sst/constructs';
import type { BakehouseConfig } from '../functions/commons/families';
import type { PipelineNames } from '../functions/commons/stage-names';
import { StateTableSchema } from '../functions/commons/state-table';
import { type Arns, arnsOf } from './arns';
import { bakeRequestPolicyStatements } from './bus-policy';
import { suppress, wildcardFindings } from './nag';

export interface FunctionSpec {
  readonly handler: string;
  readonly description: string;
  readonly environment?: Record<string, string>;
  readonly statements: PolicyStatement[];
  readonly timeout?: FunctionProps['timeout'];
  /** The function's wildcard resources beyond X-Ray's, and why they cannot be narrower. */
  readonly wildcards?: { readonly resources: readonly string[]; readonly reason: string };
}

export interface DeadLetterQueue {
  readonly queue: Queue;
  /** Its alarm is `<alarmId>QueueNotEmpty`. */
  readonly alarmId: string;
}

export interface PipelineContext {
  readonly stack: Stack;
  readonly app: App;
  readonly config: BakehouseConfig;
  readonly names: PipelineNames;
  readonly arns: Arns;
  readonly bus: EventBus;
  /** `events:PutEvents` on the Bakehouse bus. */
  readonly publishEvents: PolicyStatement;
  /** The role builders (and testers) run as: the SSM agent's managed policy, nothing else. */
  readonly builderRole: Role;
  /** The builder instance profile's name. */
  readonly builderProfileName: string;
  /** Retention of every log group the stack creates (functions and state machine). */
  readonly logRetention: RetentionDays;
  /**
   * The state table: Bakehouse state that needs compare-and-swap (locks, versioned records with a
   * TTL), functions/commons/state-table.ts. Functions get its name as `STATE_TABLE_NAME` and access
   * through `stateTableAccess`, never a blanket grant.
   */
  readonly stateTable: Table;
  /**
   * `actions` on the state table, only on items whose partition key matches one of `keyPatterns`
   * (`lock#family#*`: commons/state-table.ts's `lockKeyPattern`).
   */
  stateTableAccess(sid: string, actions: readonly StateTableAction[], keyPatterns: readonly string[]): PolicyStatement;
  /** A function with its own role and log group (`id` is the construct id). */
  addFunction(id: string, spec: FunctionSpec): SstFunction;
  /**
   * An encrypted, SSL-only DLQ (`id` is the construct id). Its alarm is named after `alarmId`,
   * the queue's id unless given: the bake's first queues keep the alarm names they were deployed
   * with.
   */
  addDeadLetterQueue(id: string, alarmId?: string): Queue;
  /** The ARN of the parameter `<prefix>/<path>`. */
  parameter(path: string): string;
  /** Every function `addFunction` made, by construct id, in the order made: each gets an error alarm. */
  readonly functions: Readonly<Record<string, SstFunction>>;
  /** Every queue `addDeadLetterQueue` made, in the order made: each gets a not-empty alarm. */
  readonly deadLetterQueues: readonly DeadLetterQueue[];
}

/** The item-level actions a function may be granted on the state table. */
export type StateTableAction = 'dynamodb:GetItem' | 'dynamodb:PutItem' | 'dynamodb:DeleteItem' | 'dynamodb:UpdateItem';

export interface PipelineContextInput {
  readonly stack: Stack;
  readonly app: App;
  readonly config: BakehouseConfig;
  readonly names: PipelineNames;
  readonly logRetention: RetentionDays;
}

/** `al2023-base` → `Al2023Base`: construct ids from family names, OS names and queue keys. */
export const pascal = (text: string): string =>
  text
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

const X_RAY_REASON =
  'X-Ray tracing (active) writes segments with xray:PutTraceSegments/PutTelemetryRecords, which support no resource-level permissions: AWS requires Resource *.';

const DLQ_REASON =
  'This queue is itself a dead-letter queue (EventBridge rule target, Scheduler or Lambda on-failure destination); a DLQ of a DLQ only moves the problem.';

export const createPipelineContext = ({
  stack,
  app,
  config,
  names,
  logRetention,
}: PipelineContextInput): PipelineContext => {
  const arns = arnsOf(stack);
  const functions: Record<string, SstFunction> = {};
  const deadLetterQueues: DeadLetterQueue[] = [];

  // --- the bus, and who may put bake requests on it from other accounts ------------------------
  const bus = new EventBus(stack, 'Bus', { eventBusName: names.bus });
  for (const statement of bakeRequestPolicyStatements(config.settings, bus.eventBusArn)) {
    bus.addToResourcePolicy(statement);
  }
  const publishEvents = new PolicyStatement({
    sid: 'PublishEvents',
    effect: Effect.ALLOW,
    actions: ['events:PutEvents'],
    resources: [bus.eventBusArn],
  });

  // --- the builder identity: what builders and testers run as ----------------------------------
  const builderRole = new Role(stack, 'BuilderRole', {
    assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
    description: 'Bakehouse builder instances: SSM agent only',
    managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
  });
  suppress(builderRole, [
    {
      id: 'AwsSolutions-IAM4',
      reason:
        'AmazonSSMManagedInstanceCore is the AWS-maintained minimum for the SSM agent on the builder (Run Command, Session Manager); the builder gets nothing else.',
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore'],
    },
  ]);
  const builderProfile = new CfnInstanceProfile(stack, 'BuilderInstanceProfile', { roles: [builderRole.roleName] });

  // --- the state table: what needs compare-and-swap ---------------------------------------------
  // SSM parameters have no conditional write; DynamoDB's condition expressions do
  // (functions/commons/state-table.ts). On demand: a handful of writes per bake. TTL deletes
  // expired items in the background (the code never relies on it to end a lock). Point-in-time
  // recovery, and RETAIN: deleting the stack must not drop locks held by running bakes.
  const stateTable = new Table(stack, 'StateTable', {
    partitionKey: { name: StateTableSchema.partitionKey, type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: StateTableSchema.ttlAttribute,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: TableEncryption.AWS_MANAGED,
    removalPolicy: RemovalPolicy.RETAIN,
  });

  return {
    stack,
    app,
    config,
    names,
    arns,
    bus,
    publishEvents,
    builderRole,
    builderProfileName: builderProfile.ref,
    logRetention,
    stateTable,
    // dynamodb:LeadingKeys holds the partition key values a request touches; ForAllValues makes
    // every one of them match ("Using IAM policy conditions for fine-grained access control",
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
    stateTableAccess: (sid, actions, keyPatterns) =>
      new PolicyStatement({
        sid,
        effect: Effect.ALLOW,
        actions: [...actions],
        resources: [stateTable.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...keyPatterns] } },
      }),
    functions,
    deadLetterQueues,
    parameter: (path) => arns.parameter(`${config.settings.parameterPrefix}/${path}`),
    addFunction: function addFunction(id, spec) {
      const functionName = names.function(id);
      const logGroup = new LogGroup(stack, `${id}Logs`, {
        logGroupName: `/aws/lambda/${functionName}`,
        retention: logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const role = new Role(stack, `${id}Role`, {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
        description: `Bakehouse ${id} function`,
      });
      logGroup.grantWrite(role);
      for (const statement of spec.statements) role.addToPolicy(statement);
      const fn = new SstFunction(stack, id, {
        functionName,
        handler: spec.handler,
        description: spec.description,
        role,
        logGroup,
        environment: { EVENT_BUS_NAME: bus.eventBusName, ...spec.environment },
        ...(spec.timeout ? { timeout: spec.timeout } : {}),
      });
      suppress(role, [
        {
          id: 'AwsSolutions-IAM5',
          reason: spec.wildcards ? `${X_RAY_REASON} ${spec.wildcards.reason}` : X_RAY_REASON,
          appliesTo: wildcardFindings(stack, ['*', ...(spec.wildcards?.resources ?? [])]),
        },
      ]);
      functions[id] = fn;
      return fn;
    },
    addDeadLetterQueue: function addDeadLetterQueue(id, alarmId = id) {
      const queue = new Queue(stack, id, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      suppress(queue, [{ id: 'AwsSolutions-SQS3', reason: DLQ_REASON }]);
      deadLetterQueues.push({ queue, alarmId });
      return queue;
    },
  };
};

/** A rule target that retries delivery for two hours, then leaves the event in `deadLetterQueue`. */
export const lambdaTarget = (fn: SstFunction, deadLetterQueue: Queue): LambdaFunction =>
  new LambdaFunction(fn, { deadLetterQueue, retryAttempts: 8, maxEventAge: Duration.hours(2) });

/** Lambda retries a failed async invocation twice, then `failed` keeps the event and the error. */
export const retryAsyncInto = (fn: SstFunction, failed: Queue): void =>
  fn.configureAsyncInvoke({ retryAttempts: 2, onFailure: new SqsDestination(failed) });
