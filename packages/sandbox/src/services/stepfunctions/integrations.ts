/**
 * What a Task's Resource does in the sandbox: every integration calls the sandbox's own APIs
 * through `runtime.callAws`, so the task sees the wire shapes and errors a deployed workflow sees.
 *
 * - `arn:aws:states:::aws-sdk:<service>:<action>`: the action with the resolved Parameters.
 * - `arn:aws:states:::lambda:invoke`: Invoke; output `{ ExecutedVersion, Payload, StatusCode, … }`.
 * - a Lambda function ARN: Invoke with the input as payload; output the payload.
 * - `arn:aws:states:::events:putEvents`: PutEvents (Detail objects as JSON text); failed entries
 *   fail the task with `EventBridge.FailedEntry`.
 * - `arn:aws:states:::states:startExecution` (`.sync`, `.sync:2`): StartExecution, and for `.sync`
 *   the finished execution's description.
 * Any of them with `.waitForTaskToken` waits for SendTaskSuccess/SendTaskFailure afterwards.
 *
 * Every call is signed as the state machine role's session (`deps.credentials`), so a grant the
 * role lacks fails the task as AWS reports it: `Lambda.AWSLambdaException`,
 * `<Service>.AccessDeniedException`, … with the service's AccessDenied message in the cause.
 */
import type { Credentials } from '../../authz/identity';
import type { SandboxRuntime } from '../../runtime';
import { UnknownApiError } from '../../runtime';
import type { Json, JsonObject } from './definition';
import type { ExecutionRecord } from './model';
import { awsSdkTaskError, lambdaFunctionError, optimizedTaskError, readSdkFailure, TaskError } from './task-errors';

export type Integration =
  | { readonly kind: 'aws-sdk'; readonly service: string; readonly action: string }
  | { readonly kind: 'lambda-invoke' }
  | { readonly kind: 'lambda-function'; readonly functionArn: string; readonly region: string }
  | { readonly kind: 'put-events' }
  | { readonly kind: 'start-execution'; readonly sync: 'none' | 'sync' | 'sync:2' };

export interface ParsedResource {
  readonly integration: Integration;
  /** For history events: `lambda`, `aws-sdk:ssm`, `events`, `states`. */
  readonly resourceType: string;
  /** For history events: `invoke.waitForTaskToken`, `getParameter`, a function ARN. */
  readonly resource: string;
  readonly waitForTaskToken: boolean;
}

const AWS_SDK = /^arn:aws:states:::aws-sdk:([a-z0-9-]+):([A-Za-z0-9]+)(\.waitForTaskToken)?$/;
const OPTIMIZED = /^arn:aws:states:::(lambda|events|states):([A-Za-z]+)(\.waitForTaskToken|\.sync(?::2)?)?$/;
const LAMBDA_FUNCTION = /^arn:aws:lambda:([a-z0-9-]+):\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$/;

/** Reads a Task's Resource; undefined when the sandbox cannot run it. */
export const parseResource = (resource: string): ParsedResource | undefined => {
  const sdk = AWS_SDK.exec(resource);
  if (sdk) {
    const [, service = '', action = '', wait] = sdk;
    return {
      integration: { kind: 'aws-sdk', service, action },
      resourceType: `aws-sdk:${service}`,
      resource: `${action}${wait ?? ''}`,
      waitForTaskToken: wait !== undefined,
    };
  }
  const optimized = OPTIMIZED.exec(resource);
  if (optimized) {
    const [, service = '', action = '', pattern] = optimized;
    const waitForTaskToken = pattern === '.waitForTaskToken';
    const common = { resourceType: service, resource: `${action}${pattern ?? ''}`, waitForTaskToken };
    if (service === 'lambda' && action === 'invoke' && !pattern?.startsWith('.sync')) {
      return { integration: { kind: 'lambda-invoke' }, ...common };
    }
    if (service === 'events' && action === 'putEvents' && !pattern?.startsWith('.sync')) {
      return { integration: { kind: 'put-events' }, ...common };
    }
    if (service === 'states' && action === 'startExecution') {
      const sync = pattern === '.sync' ? 'sync' : pattern === '.sync:2' ? 'sync:2' : 'none';
      return { integration: { kind: 'start-execution', sync }, ...common };
    }
    return undefined;
  }
  const lambda = LAMBDA_FUNCTION.exec(resource);
  if (lambda) {
    return {
      integration: { kind: 'lambda-function', functionArn: resource, region: lambda[1] ?? 'us-east-1' },
      resourceType: 'lambda',
      resource,
      waitForTaskToken: false,
    };
  }
  return undefined;
};

export interface DispatchDeps {
  readonly runtime: SandboxRuntime;
  readonly region: string;
  readonly signal: AbortSignal;
  /** The state machine role's session: every integration calls as it. */
  readonly credentials?: Credentials;
  /** Resolves with the execution's record once it stopped. */
  readonly waitForExecution: (executionArn: string, signal: AbortSignal) => Promise<ExecutionRecord>;
}

/** SDK output as Step Functions hands it on: JSON, timestamps as ISO text, blobs as text. */
export const toJson = (value: unknown): Json => {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object') {
    const result: JsonObject = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) result[key] = toJson(item);
    return result;
  }
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  return String(value);
};

/**
 * Step Functions spells every API's members in PascalCase; the SDKs of camelCase APIs (Step
 * Functions' own) take and give camelCase, so their members are converted both ways.
 */
const CAMEL_CASE_APIS = new Set(['sfn', 'states']);

const renameKeys = (value: unknown, rename: (key: string) => string): unknown => {
  if (Array.isArray(value)) return value.map((item) => renameKeys(item, rename));
  if (!value || typeof value !== 'object' || value instanceof Date || value instanceof Uint8Array) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [rename(key), renameKeys(item, rename)]));
};
const lowerFirst = (key: string): string => key.charAt(0).toLowerCase() + key.slice(1);
const upperFirst = (key: string): string => key.charAt(0).toUpperCase() + key.slice(1);

const asObject = (value: Json): JsonObject =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};

/** Any call failure that is not an SDK error is the sandbox's own: a runtime error. */
const runtimeFailure = (error: unknown): TaskError | undefined =>
  error instanceof UnknownApiError ? new TaskError('States.Runtime', error.message) : undefined;

const callSdk = async (
  deps: DispatchDeps,
  service: string,
  action: string,
  input: Record<string, unknown>,
  toError: (error: unknown) => TaskError,
  region = deps.region,
): Promise<Record<string, unknown>> => {
  const camel = CAMEL_CASE_APIS.has(service.toLowerCase());
  try {
    const request = camel ? (renameKeys(input, lowerFirst) as Record<string, unknown>) : input;
    const output = await deps.runtime.callAws(service, action, request, {
      region,
      signal: deps.signal,
      ...(deps.credentials ? { credentials: deps.credentials } : {}),
    });
    return camel ? (renameKeys(output, upperFirst) as Record<string, unknown>) : output;
  } catch (error) {
    if (deps.signal.aborted) throw error;
    throw runtimeFailure(error) ?? toError(error);
  }
};

const lambdaError = (error: unknown): TaskError => optimizedTaskError('Lambda', readSdkFailure(error));

const invokeLambda = async (
  deps: DispatchDeps,
  input: Record<string, unknown>,
  region?: string,
): Promise<{ output: Record<string, unknown>; payloadText: string }> => {
  const { Payload, ...rest } = input;
  const payloadText = Payload === undefined ? '' : typeof Payload === 'string' ? Payload : JSON.stringify(Payload);
  const output = await callSdk(
    deps,
    'lambda',
    'Invoke',
    { ...rest, ...(payloadText === '' ? {} : { Payload: new TextEncoder().encode(payloadText) }) },
    lambdaError,
    region,
  );
  const resultText = output.Payload instanceof Uint8Array ? Buffer.from(output.Payload).toString('utf8') : '';
  if (typeof output.FunctionError === 'string' && output.FunctionError !== '') throw lambdaFunctionError(resultText);
  return { output, payloadText: resultText };
};

const parseOrText = (text: string): Json => {
  if (text === '') return null;
  try {
    return JSON.parse(text) as Json;
  } catch {
    return text;
  }
};

const putEvents = async (deps: DispatchDeps, parameters: JsonObject): Promise<Json> => {
  const entries = Array.isArray(parameters.Entries) ? parameters.Entries : [];
  const Entries = entries.map((entry) => {
    const { Detail, ...rest } = asObject(entry);
    return {
      ...rest,
      ...(Detail === undefined ? {} : { Detail: typeof Detail === 'string' ? Detail : JSON.stringify(Detail) }),
    };
  });
  const output = toJson(
    await callSdk(deps, 'eventbridge', 'PutEvents', { Entries }, (error) =>
      optimizedTaskError('EventBridge', readSdkFailure(error)),
    ),
  );
  const result = asObject(output);
  if (typeof result.FailedEntryCount === 'number' && result.FailedEntryCount > 0) {
    throw new TaskError('EventBridge.FailedEntry', JSON.stringify(result));
  }
  return { Entries: result.Entries ?? [], FailedEntryCount: result.FailedEntryCount ?? 0 };
};

const describeStopped = (record: ExecutionRecord, parseOutput: boolean): JsonObject => ({
  ExecutionArn: record.arn,
  StateMachineArn: record.stateMachineArn,
  Name: record.name,
  Status: record.status,
  StartDate: record.startDate,
  ...(record.stopDate === undefined ? {} : { StopDate: record.stopDate }),
  Input: parseOutput ? parseOrText(record.input) : record.input,
  ...(record.output === undefined ? {} : { Output: parseOutput ? parseOrText(record.output) : record.output }),
  ...(record.error === undefined ? {} : { Error: record.error }),
  ...(record.cause === undefined ? {} : { Cause: record.cause }),
});

const startExecution = async (
  deps: DispatchDeps,
  parameters: JsonObject,
  sync: 'none' | 'sync' | 'sync:2',
): Promise<Json> => {
  const { Input, ...rest } = parameters;
  const input = Input === undefined ? {} : { Input: typeof Input === 'string' ? Input : JSON.stringify(Input) };
  const started = toJson(
    await callSdk(deps, 'sfn', 'StartExecution', { ...rest, ...input }, (error) =>
      awsSdkTaskError('sfn', readSdkFailure(error)),
    ),
  );
  if (sync === 'none') return started;
  const arn = asObject(started).ExecutionArn;
  if (typeof arn !== 'string') throw new TaskError('States.Runtime', 'StartExecution returned no ExecutionArn');
  const stopped = await deps.waitForExecution(arn, deps.signal);
  const description = describeStopped(stopped, sync === 'sync:2');
  if (stopped.status !== 'SUCCEEDED') throw new TaskError('States.TaskFailed', JSON.stringify(description));
  return description;
};

/** Runs one attempt of a Task's integration and returns what the task outputs. */
export const dispatch = async (parsed: ParsedResource, parameters: Json, deps: DispatchDeps): Promise<Json> => {
  const integration = parsed.integration;
  switch (integration.kind) {
    case 'aws-sdk': {
      const output = await callSdk(deps, integration.service, integration.action, asObject(parameters), (error) =>
        awsSdkTaskError(integration.service, readSdkFailure(error)),
      );
      return toJson(output);
    }
    case 'lambda-invoke': {
      const { output, payloadText } = await invokeLambda(deps, asObject(parameters));
      return {
        ExecutedVersion: toJson(output.ExecutedVersion ?? '$LATEST'),
        Payload: parseOrText(payloadText),
        SdkHttpMetadata: { HttpStatusCode: toJson(output.StatusCode ?? 200) },
        SdkResponseMetadata: {},
        StatusCode: toJson(output.StatusCode ?? 200),
      };
    }
    case 'lambda-function': {
      const { payloadText } = await invokeLambda(
        deps,
        { FunctionName: integration.functionArn, Payload: JSON.stringify(parameters) },
        integration.region,
      );
      return parseOrText(payloadText);
    }
    case 'put-events':
      return putEvents(deps, asObject(parameters));
    case 'start-execution':
      return startExecution(deps, asObject(parameters), integration.sync);
  }
};
