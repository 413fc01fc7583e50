/**
 * Lambda (REST-JSON, signing name `lambda`): functions whose code is a deployment asset, run as
 * real Node.js handlers in warm worker threads (see executor.ts). Invoke answers as AWS does:
 * `X-Amz-Function-Error: Unhandled` with `{errorType, errorMessage, trace}` when the handler
 * fails or times out, `X-Amz-Log-Result` with LogType Tail. Event invocations run in the
 * background and are retried on the sandbox clock (1 then 2 minutes), as EventInvokeConfig says;
 * then the OnFailure destination (an EventBridge bus, a function, or an SQS queue, whose messages
 * `GET /_sandbox/dlq` shows) receives Lambda's invocation record.
 *
 * Unsigned views: `GET /_sandbox/lambda/logs?function=NAME` (each function's recent output) and
 * `GET /_sandbox/lambda/invocations?function=NAME` (event invocations and their attempts).
 */
import { pathToFileURL } from 'node:url';
import { authorizeAs } from '../../authz/sessions';
import { AwsError } from '../../errors';
import { decodeOffsetToken, pageOf } from '../../pagination';
import type { SandboxRuntime } from '../../runtime';
import type { HttpReply, HttpRequest, HttpRoute, RestJsonService, ServiceContext } from '../../service';
import { appendMessage } from '../events/model';
import { type FunctionSpec, type InvocationOutcome, LambdaExecutor, TooManyInvocationsError } from './executor';
import {
  ASYNC_TABLE,
  type EventInvokeConfig,
  executionCredentials,
  FUNCTIONS_TABLE,
  type FunctionRecord,
  findFunction,
  functionArn,
  type Input,
  invalidParameter,
  lastModifiedNow,
  newRevision,
  optionalInteger,
  optionalString,
  readEnvironment,
  readHandler,
  readName,
  readRole,
  readRuntime,
  recordKey,
  renderConfiguration,
  renderEventInvokeConfig,
  resolveCode,
  runtimeEnvironment,
} from './model';

/** Lambda's payload limits: 6 MB for synchronous invocations, 1 MB for event invocations. */
const MAX_SYNC_PAYLOAD = 6 * 1024 * 1024;
const MAX_ASYNC_PAYLOAD = 1024 * 1024;
const DEFAULT_RETRIES = 2;
const DEFAULT_MAX_EVENT_AGE = 21_600;

// One executor per running sandbox (several can run in one test process).
const executors = new Map<SandboxRuntime, LambdaExecutor>();

const executorFor = (ctx: ServiceContext): LambdaExecutor => {
  let executor = executors.get(ctx.runtime);
  if (!executor) {
    executor = new LambdaExecutor({ now: () => ctx.clock.now(), clock: ctx.clock.shared });
    executors.set(ctx.runtime, executor);
  }
  return executor;
};

const parseBody = (request: HttpRequest): Input => {
  if (request.body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body);
  } catch {
    throw new AwsError('SerializationException', 'The request body is not valid JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AwsError('SerializationException', 'The request body must be a JSON object');
  }
  return parsed as Input;
};

const json = (body: Record<string, unknown>, status = 200): HttpReply => ({ status, body });

/** How the executor runs the function: its code and environment, signed as its execution role. */
const specOf = (record: FunctionRecord, ctx: ServiceContext): FunctionSpec => ({
  key: `${record.region}/${record.name}`,
  name: record.name,
  revision: record.revisionId,
  codeDir: record.code.dir,
  handler: record.handler,
  timeoutSeconds: record.timeout,
  memoryMb: record.memorySize,
  env: runtimeEnvironment(record, ctx.runtime.endpoint, executionCredentials(ctx, record)),
});

const tagsOf = (input: Input): Record<string, string> => {
  const tags = input.Tags;
  if (tags === undefined || tags === null) return {};
  if (typeof tags !== 'object' || Array.isArray(tags) || Object.values(tags).some((v) => typeof v !== 'string')) {
    throw invalidParameter('Tags must be a map of strings');
  }
  return tags as Record<string, string>;
};

const readTracing = (input: Input): string | undefined => {
  const tracing = input.TracingConfig as Input | undefined;
  const mode = tracing ? optionalString(tracing, 'Mode') : undefined;
  if (mode !== undefined && mode !== 'Active' && mode !== 'PassThrough') {
    throw invalidParameter(`TracingConfig.Mode '${mode}' must be Active or PassThrough`);
  }
  return mode;
};

const readEphemeral = (input: Input): number | undefined => {
  const storage = input.EphemeralStorage as Input | undefined;
  return storage ? optionalInteger(storage, 'Size', 512, 10_240) : undefined;
};

const readArchitectures = (input: Input): string[] | undefined => {
  const value = input.Architectures;
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length !== 1 || !['x86_64', 'arm64'].includes(String(value[0]))) {
    throw invalidParameter('Architectures must be one of [x86_64] or [arm64]');
  }
  return value as string[];
};

const readLogging = (input: Input, name: string): { logGroup?: string; logFormat?: string } => {
  const logging = input.LoggingConfig as Input | undefined;
  if (!logging) return {};
  const logGroup = optionalString(logging, 'LogGroup');
  const logFormat = optionalString(logging, 'LogFormat');
  return {
    ...(logGroup === undefined ? {} : { logGroup }),
    ...(logFormat === undefined ? {} : { logFormat }),
    ...(logGroup === undefined && logFormat === undefined ? { logGroup: `/aws/lambda/${name}` } : {}),
  };
};

const createFunction = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const input = parseBody(request);
  const name = readName(input);
  const role = readRole(input, true) as string;
  if (input.PackageType === 'Image')
    throw invalidParameter('The sandbox does not run container images (PackageType Image)');
  const runtime = readRuntime(input, true) as string;
  const handler = readHandler(input, true) as string;
  const code = input.Code;
  if (!code || typeof code !== 'object' || Array.isArray(code)) {
    throw new AwsError(
      'ValidationException',
      "1 validation error detected: Value null at 'code' failed to satisfy constraint: Member must not be null",
    );
  }
  const timeout = optionalInteger(input, 'Timeout', 1, 900) ?? 3;
  const memorySize = optionalInteger(input, 'MemorySize', 128, 10_240) ?? 128;
  const environment = readEnvironment(input) ?? {};
  const tracingMode = readTracing(input) ?? 'PassThrough';
  const ephemeralStorage = readEphemeral(input) ?? 512;
  const architectures = readArchitectures(input) ?? ['x86_64'];
  const logging = readLogging(input, name);
  const description = optionalString(input, 'Description') ?? '';
  if (description.length > 256) throw invalidParameter('Description must be 256 characters or fewer');
  const key = recordKey(ctx, name);
  if (ctx.store.get(FUNCTIONS_TABLE, key)) {
    throw new AwsError('ResourceConflictException', `Function already exist: ${name}`, 409);
  }
  const resolved = resolveCode(code as Input, ctx);
  // Lambda checks at creation that it can assume the execution role.
  executionCredentials(ctx, { role, name });
  const record: FunctionRecord = {
    name,
    region: ctx.region,
    arn: functionArn(ctx, name),
    runtime,
    role,
    handler,
    description,
    timeout,
    memorySize,
    environment,
    architectures,
    ephemeralStorage,
    tracingMode,
    logGroup: logging.logGroup ?? `/aws/lambda/${name}`,
    logFormat: logging.logFormat ?? 'Text',
    tags: tagsOf(input),
    code: { s3Bucket: resolved.s3Bucket, s3Key: resolved.s3Key, dir: resolved.dir },
    codeSha256: resolved.sha256,
    codeSize: resolved.size,
    lastModified: lastModifiedNow(ctx),
    revisionId: newRevision(),
    policy: [],
  };
  ctx.transact((tx) => tx.put(FUNCTIONS_TABLE, key, record));
  return json(renderConfiguration(record), 201);
};

/** Applies `change` to the function, checking `RevisionId` when given; new revision, warm workers retire. */
const updateFunction = (
  ctx: ServiceContext,
  reference: string,
  revisionId: string | undefined,
  change: (record: FunctionRecord) => Partial<FunctionRecord>,
  newCode = true,
): FunctionRecord => {
  const current = findFunction(ctx, reference);
  if (revisionId !== undefined && revisionId !== current.revisionId) {
    throw new AwsError(
      'PreconditionFailedException',
      'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
      412,
    );
  }
  const updated: FunctionRecord = {
    ...current,
    ...change(current),
    lastModified: lastModifiedNow(ctx),
    revisionId: newRevision(),
  };
  ctx.transact((tx) => tx.put(FUNCTIONS_TABLE, recordKey(ctx, current.name), updated));
  if (newCode) executorFor(ctx).retire(recordKey(ctx, current.name));
  return updated;
};

const updateConfiguration = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const input = parseBody(request);
  const role = readRole(input, false);
  const runtime = readRuntime(input, false);
  const handler = readHandler(input, false);
  const timeout = optionalInteger(input, 'Timeout', 1, 900);
  const memorySize = optionalInteger(input, 'MemorySize', 128, 10_240);
  const environment = readEnvironment(input);
  const tracingMode = readTracing(input);
  const ephemeralStorage = readEphemeral(input);
  const description = optionalString(input, 'Description');
  if (role !== undefined) {
    executionCredentials(ctx, { role, name: findFunction(ctx, request.params.FunctionName ?? '').name });
  }
  const record = updateFunction(
    ctx,
    request.params.FunctionName ?? '',
    optionalString(input, 'RevisionId'),
    (current) => {
      const logging = readLogging(input, current.name);
      return {
        ...(role === undefined ? {} : { role }),
        ...(runtime === undefined ? {} : { runtime }),
        ...(handler === undefined ? {} : { handler }),
        ...(timeout === undefined ? {} : { timeout }),
        ...(memorySize === undefined ? {} : { memorySize }),
        ...(environment === undefined ? {} : { environment }),
        ...(tracingMode === undefined ? {} : { tracingMode }),
        ...(ephemeralStorage === undefined ? {} : { ephemeralStorage }),
        ...(description === undefined ? {} : { description }),
        ...(logging.logGroup === undefined ? {} : { logGroup: logging.logGroup }),
        ...(logging.logFormat === undefined ? {} : { logFormat: logging.logFormat }),
      };
    },
  );
  return json(renderConfiguration(record));
};

const updateCode = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const input = parseBody(request);
  const architectures = readArchitectures(input);
  const record = updateFunction(ctx, request.params.FunctionName ?? '', optionalString(input, 'RevisionId'), () => {
    const resolved = resolveCode(input, ctx);
    return {
      code: { s3Bucket: resolved.s3Bucket, s3Key: resolved.s3Key, dir: resolved.dir },
      codeSha256: resolved.sha256,
      codeSize: resolved.size,
      ...(architectures === undefined ? {} : { architectures }),
    };
  });
  return json(renderConfiguration(record));
};

const getFunction = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const record = findFunction(ctx, request.params.FunctionName ?? '', request.query.get('Qualifier') ?? undefined);
  return json({
    Configuration: renderConfiguration(record),
    Code: { RepositoryType: 'S3', Location: pathToFileURL(record.code.dir).href },
    ...(Object.keys(record.tags).length > 0 ? { Tags: record.tags } : {}),
  });
};

const getConfiguration = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const record = findFunction(ctx, request.params.FunctionName ?? '', request.query.get('Qualifier') ?? undefined);
  return json(renderConfiguration(record));
};

const listFunctions = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const maxItemsText = request.query.get('MaxItems');
  const maxItems = maxItemsText === null ? 50 : Number(maxItemsText);
  if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > 10_000) {
    throw invalidParameter(`MaxItems '${maxItemsText}' must be between 1 and 10000`);
  }
  const marker = request.query.get('Marker');
  const offset = marker === null ? 0 : decodeOffsetToken(marker);
  if (offset === undefined) throw invalidParameter(`Marker '${marker}' is not valid`);
  const records = [...ctx.store.table<FunctionRecord>(FUNCTIONS_TABLE).values()]
    .filter((record) => record.region === ctx.region)
    .sort((a, b) => a.name.localeCompare(b.name));
  const { items, nextToken } = pageOf(records, () => true, { offset, limit: maxItems });
  return json({ Functions: items.map(renderConfiguration), ...(nextToken ? { NextMarker: nextToken } : {}) });
};

const deleteFunction = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const record = findFunction(ctx, request.params.FunctionName ?? '', request.query.get('Qualifier') ?? undefined);
  const key = recordKey(ctx, record.name);
  ctx.transact((tx) => tx.delete(FUNCTIONS_TABLE, key));
  executorFor(ctx).retire(key);
  return { status: 204 };
};

// --- invoke ------------------------------------------------------------------------------------

const invocationContext = (record: FunctionRecord, requestId: string, invokedArn: string, clientContext?: unknown) => ({
  awsRequestId: requestId,
  functionName: record.name,
  functionVersion: '$LATEST',
  invokedFunctionArn: invokedArn,
  memoryLimitInMB: String(record.memorySize),
  logGroupName: record.logGroup,
  logStreamName: `sandbox/[$LATEST]${record.revisionId.replaceAll('-', '')}`,
  ...(clientContext === undefined ? {} : { clientContext }),
});

const runOnce = async (
  ctx: ServiceContext,
  record: FunctionRecord,
  payload: string,
  requestId: string,
  invokedArn: string,
  clientContext?: unknown,
): Promise<InvocationOutcome> => {
  try {
    return await executorFor(ctx).invoke(
      specOf(record, ctx),
      payload,
      requestId,
      invocationContext(record, requestId, invokedArn, clientContext),
    );
  } catch (error) {
    if (error instanceof TooManyInvocationsError) {
      throw new AwsError('TooManyRequestsException', error.message, 429);
    }
    throw error;
  }
};

const invoke = async (request: HttpRequest, ctx: ServiceContext): Promise<HttpReply> => {
  const reference = request.params.FunctionName ?? '';
  const record = findFunction(ctx, reference, request.query.get('Qualifier') ?? undefined);
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const type = header('x-amz-invocation-type') ?? 'RequestResponse';
  if (!['RequestResponse', 'Event', 'DryRun'].includes(type)) {
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value '${type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]`,
    );
  }
  const logType = header('x-amz-log-type') ?? 'None';
  const size = Buffer.byteLength(request.body, 'utf8');
  const limit = type === 'Event' ? MAX_ASYNC_PAYLOAD : MAX_SYNC_PAYLOAD;
  if (size > limit) {
    throw new AwsError(
      'RequestTooLargeException',
      `Request must be smaller than ${limit} bytes for the InvokeFunction operation`,
      413,
    );
  }
  const payload = request.body.trim() === '' ? '{}' : request.body;
  try {
    JSON.parse(payload);
  } catch (error) {
    throw new AwsError(
      'InvalidRequestContentException',
      `Could not parse request body into json: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  let clientContext: unknown;
  const encodedContext = header('x-amz-client-context');
  if (encodedContext) {
    try {
      clientContext = JSON.parse(Buffer.from(encodedContext, 'base64').toString('utf8'));
    } catch {
      throw new AwsError(
        'InvalidRequestContentException',
        'Client context must be a valid Base64-encoded JSON object.',
      );
    }
  }
  const invokedArn = reference.startsWith('arn:') ? reference : record.arn;
  if (type === 'DryRun') return { status: 204 };
  if (type === 'Event') {
    enqueueEvent(ctx, record, payload, ctx.requestId, invokedArn);
    return { status: 202, body: '' };
  }
  const outcome = await runOnce(ctx, record, payload, ctx.requestId, invokedArn, clientContext);
  return {
    status: 200,
    headers: {
      'content-type': 'application/json',
      'x-amz-executed-version': '$LATEST',
      ...(outcome.error ? { 'x-amz-function-error': 'Unhandled' } : {}),
      ...(logType === 'Tail' ? { 'x-amz-log-result': LambdaExecutor.logTail(outcome.log) } : {}),
    },
    body: outcome.payload,
  };
};

// --- event invocations -------------------------------------------------------------------------

interface AsyncRecord extends Record<string, unknown> {
  readonly requestId: string;
  readonly functionName: string;
  readonly region: string;
  readonly status: 'queued' | 'running' | 'succeeded' | 'failed';
  readonly receivedTime: string;
  readonly attempts: readonly { time: string; error?: { errorType: string; errorMessage: string } }[];
  readonly reason?: string;
  readonly destination?: string;
}

const updateAsync = (ctx: ServiceContext, requestId: string, change: (record: AsyncRecord) => Partial<AsyncRecord>) => {
  ctx.transact((tx) => {
    const record = tx.get<AsyncRecord>(ASYNC_TABLE, requestId);
    if (record) tx.put(ASYNC_TABLE, requestId, { ...record, ...change(record) });
  });
};

const enqueueEvent = (
  ctx: ServiceContext,
  record: FunctionRecord,
  payload: string,
  requestId: string,
  invokedArn: string,
): void => {
  const queued: AsyncRecord = {
    requestId,
    functionName: record.name,
    region: record.region,
    status: 'queued',
    receivedTime: ctx.clock.now().toISOString(),
    attempts: [],
  };
  ctx.transact((tx) => tx.put(ASYNC_TABLE, requestId, queued));
  const background = ctx.runtime.context(record.region);
  ctx.runtime.spawn(`lambda event invocation of ${record.name}`, () =>
    runEvent(background, record.name, payload, requestId, invokedArn),
  );
};

const runEvent = async (
  ctx: ServiceContext,
  name: string,
  payload: string,
  requestId: string,
  invokedArn: string,
): Promise<void> => {
  const executor = executorFor(ctx);
  const received = ctx.clock.nowMs();
  for (let attempt = 0; ; attempt += 1) {
    const record = ctx.store.get<FunctionRecord>(FUNCTIONS_TABLE, recordKey(ctx, name));
    if (!record) {
      updateAsync(ctx, requestId, () => ({ status: 'failed', reason: 'the function was deleted' }));
      return;
    }
    const config = record.eventInvokeConfig;
    const maxAge = config?.maximumEventAgeInSeconds ?? DEFAULT_MAX_EVENT_AGE;
    if (ctx.clock.nowMs() - received > maxAge * 1000) {
      updateAsync(ctx, requestId, () => ({ status: 'failed', reason: 'EventAgeExceeded' }));
      await sendToDestination(ctx, record, 'OnFailure', 'EventAgeExceeded', requestId, payload, attempt, undefined);
      return;
    }
    updateAsync(ctx, requestId, () => ({ status: 'running' }));
    let outcome: InvocationOutcome | undefined;
    let failure: { errorType: string; errorMessage: string } | undefined;
    try {
      outcome = await runOnce(ctx, record, payload, requestId, invokedArn);
      if (outcome.error) failure = { errorType: outcome.error.errorType, errorMessage: outcome.error.errorMessage };
    } catch (error) {
      if (executor.signal.aborted) return;
      failure = { errorType: error instanceof AwsError ? error.code : 'ServiceException', errorMessage: String(error) };
    }
    const time = ctx.clock.now().toISOString();
    updateAsync(ctx, requestId, (current) => ({
      attempts: [...current.attempts, { time, ...(failure ? { error: failure } : {}) }],
      status: failure ? 'running' : 'succeeded',
    }));
    if (!failure) {
      await sendToDestination(ctx, record, 'OnSuccess', 'Success', requestId, payload, attempt + 1, outcome);
      return;
    }
    const retries = config?.maximumRetryAttempts ?? DEFAULT_RETRIES;
    if (attempt >= retries) {
      updateAsync(ctx, requestId, () => ({ status: 'failed', reason: 'RetriesExhausted' }));
      await sendToDestination(ctx, record, 'OnFailure', 'RetriesExhausted', requestId, payload, attempt + 1, outcome);
      return;
    }
    // Lambda waits a minute before the first retry and two before the second (sandbox clock).
    try {
      await ctx.clock.sleep(60 * (attempt + 1), executor.signal);
    } catch {
      return;
    }
  }
};

/**
 * Sends an invocation record (Lambda's destination record: `version`, `timestamp`,
 * `requestContext {requestId, functionArn, condition, approximateInvokeCount}`, `requestPayload`,
 * `responseContext {statusCode, executedVersion, functionError}`, `responsePayload`) to an
 * EventBridge bus, a Lambda function or an SQS queue. A queue's record is a message of kind
 * `lambda-destination` in `GET /_sandbox/dlq?queue=<arn>`, its body the record as JSON.
 */
const sendToDestination = async (
  ctx: ServiceContext,
  record: FunctionRecord,
  which: 'OnSuccess' | 'OnFailure',
  condition: string,
  requestId: string,
  payload: string,
  attempts: number,
  outcome: InvocationOutcome | undefined,
): Promise<void> => {
  const destination = (record.eventInvokeConfig?.destinationConfig?.[which] as { Destination?: string } | undefined)
    ?.Destination;
  if (!destination) return;
  const invocationRecord = {
    version: '1.0',
    timestamp: ctx.clock.now().toISOString(),
    requestContext: {
      requestId,
      functionArn: `${record.arn}:$LATEST`,
      condition,
      approximateInvokeCount: attempts,
    },
    requestPayload: JSON.parse(payload) as unknown,
    ...(outcome
      ? {
          responseContext: {
            statusCode: 200,
            executedVersion: '$LATEST',
            ...(outcome.error ? { functionError: 'Unhandled' } : {}),
          },
          responsePayload: JSON.parse(outcome.payload) as unknown,
        }
      : {}),
  };
  try {
    // Lambda delivers to destinations as the function's execution role (Lambda Developer Guide,
    // "Capturing records of Lambda asynchronous invocations": the execution role needs permission
    // to call the destination's service).
    const credentials = executionCredentials(ctx, record);
    if (destination.includes(':events:')) {
      await ctx.runtime.callAws(
        'events',
        'PutEvents',
        {
          Entries: [
            {
              EventBusName: destination,
              Source: 'lambda',
              DetailType: `Lambda Function Invocation Result - ${which === 'OnSuccess' ? 'Success' : 'Failure'}`,
              Detail: JSON.stringify(invocationRecord),
              Resources: [destination, `${record.arn}:$LATEST`],
            },
          ],
        },
        { region: record.region, credentials },
      );
    } else if (/^arn:aws[a-z-]*:sqs:/.test(destination)) {
      // No SQS API in the sandbox: the record is kept where `GET /_sandbox/dlq` shows queue messages,
      // once the execution role may send to the queue (queue policies are not emulated).
      authorizeAs(ctx, credentials, [{ action: 'sqs:SendMessage', resource: destination }]);
      appendMessage(ctx, {
        queueArn: destination,
        kind: 'lambda-destination',
        body: JSON.stringify(invocationRecord),
        attributes: {},
      });
    } else if (destination.includes(':lambda:')) {
      await ctx.runtime.callAws(
        'lambda',
        'Invoke',
        { FunctionName: destination, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(invocationRecord)) },
        { region: record.region, credentials },
      );
    } else {
      throw new Error(`the sandbox delivers to EventBridge, Lambda and SQS destinations only, not ${destination}`);
    }
    updateAsync(ctx, requestId, () => ({ destination }));
  } catch (error) {
    updateAsync(ctx, requestId, () => ({
      destination: `${destination} (failed: ${error instanceof Error ? error.message : String(error)})`,
    }));
  }
};

// --- event invoke config and permissions (enforced where services invoke: serviceMayInvoke) ------

const readEventInvokeConfig = (
  input: Input,
  base: EventInvokeConfig | undefined,
  ctx: ServiceContext,
): EventInvokeConfig => {
  const maximumRetryAttempts = optionalInteger(input, 'MaximumRetryAttempts', 0, 2) ?? base?.maximumRetryAttempts;
  const maximumEventAgeInSeconds =
    optionalInteger(input, 'MaximumEventAgeInSeconds', 60, 21_600) ?? base?.maximumEventAgeInSeconds;
  const destinationConfig = (input.DestinationConfig as Record<string, unknown> | undefined) ?? base?.destinationConfig;
  return {
    lastModified: Math.floor(ctx.clock.nowMs() / 1000),
    ...(maximumRetryAttempts === undefined ? {} : { maximumRetryAttempts }),
    ...(maximumEventAgeInSeconds === undefined ? {} : { maximumEventAgeInSeconds }),
    ...(destinationConfig === undefined ? {} : { destinationConfig }),
  };
};

const putEventInvokeConfig = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const input = parseBody(request);
  const record = updateFunction(
    ctx,
    request.params.FunctionName ?? '',
    undefined,
    () => ({ eventInvokeConfig: readEventInvokeConfig(input, undefined, ctx) }),
    false,
  );
  return json(renderEventInvokeConfig(record));
};

const updateEventInvokeConfig = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const input = parseBody(request);
  const record = updateFunction(
    ctx,
    request.params.FunctionName ?? '',
    undefined,
    (current) => ({ eventInvokeConfig: readEventInvokeConfig(input, current.eventInvokeConfig, ctx) }),
    false,
  );
  return json(renderEventInvokeConfig(record));
};

/** The function named in the path, which must have an EventInvokeConfig. */
const findWithEventInvokeConfig = (request: HttpRequest, ctx: ServiceContext): FunctionRecord => {
  const record = findFunction(ctx, request.params.FunctionName ?? '');
  if (!record.eventInvokeConfig) {
    throw new AwsError(
      'ResourceNotFoundException',
      `The function ${record.arn} doesn't have an EventInvokeConfig`,
      404,
    );
  }
  return record;
};

const getEventInvokeConfig = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const record = findWithEventInvokeConfig(request, ctx);
  return json(renderEventInvokeConfig(record));
};

const deleteEventInvokeConfig = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const record = findWithEventInvokeConfig(request, ctx);
  const { eventInvokeConfig: _removed, ...rest } = record;
  ctx.transact((tx) => tx.put(FUNCTIONS_TABLE, recordKey(ctx, record.name), { ...rest, revisionId: newRevision() }));
  return { status: 204 };
};

const addPermission = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const input = parseBody(request);
  const statementId = optionalString(input, 'StatementId');
  const action = optionalString(input, 'Action');
  const principal = optionalString(input, 'Principal');
  if (!statementId || !action || !principal) {
    throw new AwsError('ValidationException', 'StatementId, Action and Principal are required');
  }
  const current = findFunction(ctx, request.params.FunctionName ?? '');
  if (current.policy.some((statement) => statement.Sid === statementId)) {
    throw new AwsError(
      'ResourceConflictException',
      `The statement id (${statementId}) provided already exists. Please provide a new statement id, or remove the existing statement.`,
      409,
    );
  }
  const sourceArn = optionalString(input, 'SourceArn');
  const sourceAccount = optionalString(input, 'SourceAccount');
  const condition = {
    ...(sourceAccount ? { StringEquals: { 'AWS:SourceAccount': sourceAccount } } : {}),
    ...(sourceArn ? { ArnLike: { 'AWS:SourceArn': sourceArn } } : {}),
  };
  const statement = {
    Sid: statementId,
    Effect: 'Allow',
    Principal: principal.includes('.')
      ? { Service: principal }
      : { AWS: /^\d{12}$/.test(principal) ? `arn:aws:iam::${principal}:root` : principal },
    Action: action,
    Resource: current.arn,
    ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
  };
  updateFunction(
    ctx,
    current.name,
    optionalString(input, 'RevisionId'),
    () => ({ policy: [...current.policy, statement] }),
    false,
  );
  return json({ Statement: JSON.stringify(statement) }, 201);
};

const getPolicy = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const record = findFunction(ctx, request.params.FunctionName ?? '');
  if (record.policy.length === 0) {
    throw new AwsError('ResourceNotFoundException', 'The resource you requested does not exist.', 404);
  }
  return json({
    Policy: JSON.stringify({ Version: '2012-10-17', Id: 'default', Statement: record.policy }),
    RevisionId: record.revisionId,
  });
};

const removePermission = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const record = findFunction(ctx, request.params.FunctionName ?? '');
  const sid = request.params.StatementId ?? '';
  if (!record.policy.some((statement) => statement.Sid === sid)) {
    throw new AwsError('ResourceNotFoundException', `Statement ${sid} is not found in resource policy.`, 404);
  }
  updateFunction(ctx, record.name, undefined, () => ({ policy: record.policy.filter((s) => s.Sid !== sid) }), false);
  return { status: 204 };
};

// --- sandbox views ------------------------------------------------------------------------------

const logsView = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const name = request.query.get('function') ?? undefined;
  return json({ ...(name ? { function: name } : {}), events: executorFor(ctx).logs(name) });
};

const invocationsView = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const name = request.query.get('function');
  const invocations = [...ctx.store.table<AsyncRecord>(ASYNC_TABLE).values()]
    .filter((record) => name === null || record.functionName === name)
    .sort((a, b) => a.receivedTime.localeCompare(b.receivedTime));
  return json({ invocations });
};

const FUNCTION = '(?<FunctionName>[^/]+)';
const route = (method: HttpRoute['method'], path: string, action: string, handle: HttpRoute['handle']): HttpRoute => ({
  method,
  path: new RegExp(`^${path}$`),
  action,
  handle,
});

export const lambda: RestJsonService = {
  signingName: 'lambda',
  protocol: 'rest-json',
  routes: [
    route('POST', '/2015-03-31/functions/?', 'CreateFunction', createFunction),
    route('GET', '/2015-03-31/functions/?', 'ListFunctions', listFunctions),
    route('GET', `/2015-03-31/functions/${FUNCTION}`, 'GetFunction', getFunction),
    route('DELETE', `/2015-03-31/functions/${FUNCTION}`, 'DeleteFunction', deleteFunction),
    route('GET', `/2015-03-31/functions/${FUNCTION}/configuration`, 'GetFunctionConfiguration', getConfiguration),
    route('PUT', `/2015-03-31/functions/${FUNCTION}/configuration`, 'UpdateFunctionConfiguration', updateConfiguration),
    route('PUT', `/2015-03-31/functions/${FUNCTION}/code`, 'UpdateFunctionCode', updateCode),
    route('POST', `/2015-03-31/functions/${FUNCTION}/invocations`, 'Invoke', invoke),
    route('POST', `/2015-03-31/functions/${FUNCTION}/policy`, 'AddPermission', addPermission),
    route('GET', `/2015-03-31/functions/${FUNCTION}/policy`, 'GetPolicy', getPolicy),
    route(
      'DELETE',
      `/2015-03-31/functions/${FUNCTION}/policy/(?<StatementId>[^/]+)`,
      'RemovePermission',
      removePermission,
    ),
    route(
      'PUT',
      `/2019-09-25/functions/${FUNCTION}/event-invoke-config`,
      'PutFunctionEventInvokeConfig',
      putEventInvokeConfig,
    ),
    route(
      'POST',
      `/2019-09-25/functions/${FUNCTION}/event-invoke-config`,
      'UpdateFunctionEventInvokeConfig',
      updateEventInvokeConfig,
    ),
    route(
      'GET',
      `/2019-09-25/functions/${FUNCTION}/event-invoke-config`,
      'GetFunctionEventInvokeConfig',
      getEventInvokeConfig,
    ),
    route(
      'DELETE',
      `/2019-09-25/functions/${FUNCTION}/event-invoke-config`,
      'DeleteFunctionEventInvokeConfig',
      deleteEventInvokeConfig,
    ),
  ],
  unsignedRoutes: [
    route('GET', '/_sandbox/lambda/logs', 'LambdaLogs', logsView),
    route('GET', '/_sandbox/lambda/invocations', 'LambdaInvocations', invocationsView),
  ],
  start: (ctx) => {
    // Event invocations in flight when the sandbox last stopped cannot resume: their worker died.
    ctx.transact((tx) => {
      for (const record of ctx.store.table<AsyncRecord>(ASYNC_TABLE).values()) {
        if (record.status === 'queued' || record.status === 'running') {
          tx.put(ASYNC_TABLE, record.requestId, {
            ...record,
            status: 'failed',
            reason: 'the sandbox stopped before the invocation finished',
          });
        }
      }
    });
  },
  stop: async () => {
    // `stop` has no context: close the executors of every sandbox that is closing.
    for (const [runtime, executor] of [...executors]) {
      if (!runtime.isClosed) continue;
      executors.delete(runtime);
      await executor.close();
    }
  },
};
