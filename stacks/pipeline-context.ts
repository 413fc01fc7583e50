/**
 * What the bake pipeline hands to the parts of the stack built on top of it (event contract,
 * AMI tests, promotion): the bus, naming, ARNs, and the same helpers the pipeline uses for its own
 * functions and queues, so every function gets the same role, log group, alarms and cdk-nag
 * treatment.
 */

import { Duration } from 'aws-cdk-lib';
import type { EventBus } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { App, FunctionProps, Function as SstFunction, Stack } from 'sst/constructs';
import type { BakehouseConfig } from '../functions/commons/families';
import type { arnsOf } from './arns';

export interface FunctionSpec {
  readonly handler: string;
  readonly description: string;
  readonly environment?: Record<string, string>;
  readonly statements: PolicyStatement[];
  readonly timeout?: FunctionProps['timeout'];
  /** The function's wildcard resources beyond X-Ray's, and why they cannot be narrower. */
  readonly wildcards?: { readonly resources: readonly string[]; readonly reason: string };
}

export interface PipelineContext {
  readonly stack: Stack;
  readonly app: App;
  readonly config: BakehouseConfig;
  readonly names: {
    readonly bus: string;
    readonly scheduleGroup: string;
    readonly stateMachine: string;
    document(name: string): string;
    function(id: string): string;
  };
  readonly arns: ReturnType<typeof arnsOf>;
  readonly bus: EventBus;
  /** `events:PutEvents` on the Bakehouse bus. */
  readonly publishEvents: PolicyStatement;
  /** A function with its own role, log group and error alarm (`id` is the construct id). */
  addFunction(id: string, spec: FunctionSpec): SstFunction;
  /** An encrypted, SSL-only DLQ with a not-empty alarm (`id` is the construct id). */
  addDeadLetterQueue(id: string): Queue;
  /** The ARN of the parameter `<prefix>/<path>`. */
  parameter(path: string): string;
  /** Names of the deployed bake documents (Linux, Windows). */
  readonly bakeDocumentNames: readonly string[];
  readonly builderRole: Role;
  /** The builder instance profile's name. */
  readonly builderProfileName: string;
}

/** A rule target that retries delivery for two hours, then leaves the event in `deadLetterQueue`. */
export const lambdaTarget = (fn: SstFunction, deadLetterQueue: Queue): LambdaFunction =>
  new LambdaFunction(fn, { deadLetterQueue, retryAttempts: 8, maxEventAge: Duration.hours(2) });

/** Lambda retries a failed async invocation twice, then `failed` keeps the event and the error. */
export const retryAsyncInto = (fn: SstFunction, failed: Queue): void =>
  fn.configureAsyncInvoke({ retryAttempts: 2, onFailure: new SqsDestination(failed) });
