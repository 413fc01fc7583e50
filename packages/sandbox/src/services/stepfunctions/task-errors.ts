/**
 * Errors as Step Functions names them, and the Retry and Catch rules that match them.
 *
 * AWS SDK integrations (`arn:aws:states:::aws-sdk:<service>:<action>`) report
 * `<Service>.<ErrorName>` in PascalCase, always with the `Exception` suffix, even when the service
 * names its error without it (SSM's `ParameterNotFound` is `Ssm.ParameterNotFoundException`).
 * An error the service's SDK does not model is `<Service>.<Service>Exception` (every EC2 error is
 * `Ec2.Ec2Exception`, as EC2's API models none). The optimized integrations (`lambda:invoke`,
 * `events:putEvents`) keep their own names for unmodeled errors: `Lambda.AWSLambdaException`,
 * `EventBridge.AmazonEventBridgeException`.
 */

/** Thrown by a task; the engine's Catch reads `name` as Error and `message` as Cause. */
export class TaskError extends Error {
  constructor(
    readonly error: string,
    readonly causeText: string,
  ) {
    super(causeText);
    this.name = error;
  }
}

export const STATES_TIMEOUT = 'States.Timeout';
export const STATES_HEARTBEAT_TIMEOUT = 'States.HeartbeatTimeout';
export const STATES_TASK_FAILED = 'States.TaskFailed';
export const STATES_ALL = 'States.ALL';

/** Service names as Step Functions spells them in error names. */
const SERVICE_NAMES: Readonly<Record<string, string>> = {
  ec2: 'Ec2',
  ssm: 'Ssm',
  eventbridge: 'EventBridge',
  events: 'EventBridge',
  sfn: 'Sfn',
  states: 'Sfn',
  lambda: 'Lambda',
  scheduler: 'Scheduler',
  autoscaling: 'AutoScaling',
  secretsmanager: 'SecretsManager',
  sts: 'Sts',
  // `arn:aws:states:::aws-sdk:dynamodb:…` errors are `DynamoDb.<Error>` (the optimized
  // `arn:aws:states:::dynamodb:…` integration spells it `DynamoDB.`).
  dynamodb: 'DynamoDb',
};

export const serviceErrorPrefix = (service: string): string =>
  SERVICE_NAMES[service.toLowerCase()] ?? service.charAt(0).toUpperCase() + service.slice(1);

/** `ParameterNotFound` → `ParameterNotFoundException`; `InvalidAMIID.Malformed` → `InvalidAMIIDMalformedException`. */
export const withExceptionSuffix = (code: string): string => {
  const plain = code.replace(/[^A-Za-z0-9]/g, '');
  return plain.endsWith('Exception') ? plain : `${plain}Exception`;
};

/** What the sandbox knows of an error an SDK client threw. */
export interface SdkFailure {
  /** The AWS error code (the SDK error's `name`). */
  readonly code: string;
  readonly message: string;
  /** Whether the SDK models the error (it threw a class of its own for it). */
  readonly modeled: boolean;
  readonly status?: number;
  readonly requestId?: string;
}

/** Reads an SDK v3 error: modeled errors are subclasses named after their code. */
export const readSdkFailure = (error: unknown): SdkFailure => {
  if (!(error instanceof Error)) return { code: 'UnknownError', message: String(error), modeled: false };
  const meta = (error as { $metadata?: { httpStatusCode?: number; requestId?: string } }).$metadata;
  const fault = (error as { $fault?: string }).$fault;
  const constructorName = error.constructor?.name ?? '';
  const modeled =
    fault !== undefined && constructorName === error.name && !constructorName.endsWith('ServiceException');
  return {
    code: error.name,
    message: error.message,
    modeled,
    ...(meta?.httpStatusCode === undefined ? {} : { status: meta.httpStatusCode }),
    ...(meta?.requestId === undefined ? {} : { requestId: meta.requestId }),
  };
};

const describeCause = (prefix: string, failure: SdkFailure): string =>
  `${failure.message} (Service: ${prefix}, Status Code: ${failure.status ?? 400}, Error Code: ${failure.code}, Request ID: ${failure.requestId ?? 'unknown'})`;

/** The error of an `aws-sdk:<service>:<action>` task. */
export const awsSdkTaskError = (service: string, failure: SdkFailure): TaskError => {
  const prefix = serviceErrorPrefix(service);
  const name = failure.modeled ? withExceptionSuffix(failure.code) : `${prefix}Exception`;
  return new TaskError(`${prefix}.${name}`, describeCause(prefix, failure));
};

/** The error of an optimized integration's service call (`lambda:invoke`, `events:putEvents`). */
export const optimizedTaskError = (prefix: 'Lambda' | 'EventBridge', failure: SdkFailure): TaskError => {
  const unmodeled = prefix === 'Lambda' ? 'AWSLambdaException' : 'AmazonEventBridgeException';
  const name = failure.modeled ? withExceptionSuffix(failure.code) : unmodeled;
  return new TaskError(`${prefix}.${name}`, describeCause(prefix, failure));
};

/**
 * A Lambda function's own failure: the error is the payload's `errorType` (what the function
 * threw), `Lambda.Unknown` when the payload names none (a crash or a timeout); the cause is the
 * payload as the function returned it.
 */
export const lambdaFunctionError = (payloadText: string): TaskError => {
  let errorType: unknown;
  try {
    errorType = (JSON.parse(payloadText) as { errorType?: unknown }).errorType;
  } catch {
    errorType = undefined;
  }
  return new TaskError(typeof errorType === 'string' && errorType !== '' ? errorType : 'Lambda.Unknown', payloadText);
};

const isTimeout = (error: string): boolean => error === STATES_TIMEOUT || error === STATES_HEARTBEAT_TIMEOUT;

/**
 * Whether `ErrorEquals` matches a Task's error: by name; `States.ALL` matches any;
 * `States.TaskFailed` any but a timeout; `States.Timeout` a heartbeat timeout too.
 */
export const errorMatches = (errorEquals: readonly unknown[], error: string): boolean =>
  errorEquals.some(
    (candidate) =>
      candidate === error ||
      candidate === STATES_ALL ||
      (candidate === STATES_TASK_FAILED && !isTimeout(error)) ||
      (candidate === STATES_TIMEOUT && error === STATES_HEARTBEAT_TIMEOUT),
  );

export interface Retrier {
  readonly ErrorEquals: readonly unknown[];
  readonly IntervalSeconds?: number;
  readonly MaxAttempts?: number;
  readonly BackoffRate?: number;
  readonly MaxDelaySeconds?: number;
  readonly JitterStrategy?: 'FULL' | 'NONE';
}

/**
 * The pause before the next attempt, or undefined when the error is not retried: the first
 * retrier that matches decides (a spent one means no retry); `attempts` counts per retrier and
 * is updated.
 */
export const retryDelaySeconds = (
  retriers: readonly Retrier[],
  attempts: number[],
  error: string,
  random: () => number = Math.random,
): number | undefined => {
  const index = retriers.findIndex((retrier) => errorMatches(retrier.ErrorEquals, error));
  const retrier = retriers[index];
  if (!retrier) return undefined;
  const done = attempts[index] ?? 0;
  if (done >= (retrier.MaxAttempts ?? 3)) return undefined;
  attempts[index] = done + 1;
  const base = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** done;
  const capped = retrier.MaxDelaySeconds === undefined ? base : Math.min(base, retrier.MaxDelaySeconds);
  return retrier.JitterStrategy === 'FULL' ? random() * capped : capped;
};

/** The index of the catcher that takes the error, or -1. */
export const catcherFor = (catchers: readonly { ErrorEquals: readonly unknown[] }[], error: string): number =>
  catchers.findIndex((catcher) => errorMatches(catcher.ErrorEquals, error));
