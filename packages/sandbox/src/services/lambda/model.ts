/**
 * Lambda functions as the sandbox keeps them (`lambda.functions`, keyed `<region>/<name>`), the
 * request validation AWS does for them, and their rendering as `FunctionConfiguration`.
 *
 * Code comes from the deployment assets, not from S3: `Code.S3Key: '<hash>.zip'` (how a CDK
 * cloud assembly's template names an asset) is the directory `<assetsDir>/asset.<hash>/`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Credentials } from '../../authz/identity';
import { ADMINISTRATOR_CREDENTIALS, assumeAsService, RoleTrustError } from '../../authz/sessions';
import { AwsError } from '../../errors';
import { type ContextKeys, evaluate, type PolicyDocument } from '../../iam';
import type { ServiceContext } from '../../service';

export const FUNCTIONS_TABLE = 'lambda.functions';
export const ASYNC_TABLE = 'lambda.async-invocations';

export interface EventInvokeConfig extends Record<string, unknown> {
  readonly maximumRetryAttempts?: number;
  readonly maximumEventAgeInSeconds?: number;
  readonly destinationConfig?: Record<string, unknown>;
  readonly lastModified: number;
}

export interface FunctionRecord extends Record<string, unknown> {
  readonly name: string;
  readonly region: string;
  readonly arn: string;
  readonly runtime: string;
  readonly role: string;
  readonly handler: string;
  readonly description: string;
  readonly timeout: number;
  readonly memorySize: number;
  readonly environment: Readonly<Record<string, string>>;
  readonly architectures: readonly string[];
  readonly ephemeralStorage: number;
  readonly tracingMode: string;
  readonly logGroup: string;
  readonly logFormat: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly code: { readonly s3Bucket: string; readonly s3Key: string; readonly dir: string };
  readonly codeSha256: string;
  readonly codeSize: number;
  readonly lastModified: string;
  readonly revisionId: string;
  readonly eventInvokeConfig?: EventInvokeConfig;
  readonly policy: readonly Record<string, unknown>[];
}

export type Input = Record<string, unknown>;

export const invalidParameter = (message: string): AwsError => new AwsError('InvalidParameterValueException', message);

export const functionNotFound = (name: string, ctx: ServiceContext): AwsError =>
  new AwsError(
    'ResourceNotFoundException',
    `Function not found: arn:aws:lambda:${ctx.region}:${ctx.account}:function:${name}`,
    404,
  );

const validation = (message: string): AwsError =>
  new AwsError('ValidationException', `1 validation error detected: ${message}`);

const NAME = /^[a-zA-Z0-9-_]{1,64}$/;
const ROLE = /^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role\/?[a-zA-Z_0-9+=,.@\-_/]+$/;
/** The sandbox runs Node.js handlers, so it accepts the Node.js managed runtimes. */
const RUNTIMES = new Set(['nodejs18.x', 'nodejs20.x', 'nodejs22.x', 'nodejs24.x']);
const RESERVED_ENV = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);
const MAX_ENV_BYTES = 4096;

export const lastModifiedNow = (ctx: ServiceContext): string => ctx.clock.now().toISOString().replace('Z', '+0000');

export const functionArn = (ctx: ServiceContext, name: string): string =>
  `arn:aws:lambda:${ctx.region}:${ctx.account}:function:${name}`;

/**
 * A function by name, full ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`) or
 * partial ARN (`ACCOUNT:function:NAME`), in the request's region. Only `$LATEST` exists.
 */
export const resolveName = (ctx: ServiceContext, reference: string, qualifier?: string): string => {
  const full = /^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([a-zA-Z0-9-_]+)(?::([a-zA-Z0-9-_$]+))?$/.exec(
    reference,
  );
  const partial = /^(\d{12}):function:([a-zA-Z0-9-_]+)(?::([a-zA-Z0-9-_$]+))?$/.exec(reference);
  let name = reference;
  let version = qualifier;
  if (full) {
    if (full[1] !== ctx.region || full[2] !== ctx.account) throw functionNotFound(full[3] as string, ctx);
    name = full[3] as string;
    version ??= full[4];
  } else if (partial) {
    if (partial[1] !== ctx.account) throw functionNotFound(partial[2] as string, ctx);
    name = partial[2] as string;
    version ??= partial[3];
  } else if (!NAME.test(reference)) {
    throw validation(
      `Value '${reference}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?`,
    );
  }
  if (version !== undefined && version !== '$LATEST') {
    throw new AwsError(
      'ResourceNotFoundException',
      `Function not found: ${functionArn(ctx, name)}:${version} (the sandbox has only $LATEST)`,
      404,
    );
  }
  return name;
};

export const recordKey = (ctx: ServiceContext, name: string): string => `${ctx.region}/${name}`;

export const findFunction = (ctx: ServiceContext, reference: string, qualifier?: string): FunctionRecord => {
  const name = resolveName(ctx, reference, qualifier);
  const record = ctx.store.get<FunctionRecord>(FUNCTIONS_TABLE, recordKey(ctx, name));
  if (!record) throw functionNotFound(name, ctx);
  return record;
};

// --- reading members ---------------------------------------------------------------------------

const wrongType = (member: string, expected: string): AwsError => invalidParameter(`${member} must be ${expected}`);

export const optionalString = (input: Input, member: string): string | undefined => {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw wrongType(member, 'a string');
  return value;
};

export const optionalInteger = (input: Input, member: string, min: number, max: number): number | undefined => {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw wrongType(member, 'an integer');
  if (value < min || value > max) {
    const lower = member.charAt(0).toLowerCase() + member.slice(1);
    throw validation(
      `Value '${value}' at '${lower}' failed to satisfy constraint: Member must have value ${value < min ? `greater than or equal to ${min}` : `less than or equal to ${max}`}`,
    );
  }
  return value;
};

const optionalObject = (input: Input, member: string): Input | undefined => {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw wrongType(member, 'an object');
  return value as Input;
};

const stringMap = (value: unknown, member: string): Record<string, string> => {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw wrongType(member, 'a map of strings');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.some(([, v]) => typeof v !== 'string')) throw wrongType(member, 'a map of strings');
  return Object.fromEntries(entries) as Record<string, string>;
};

export const readEnvironment = (input: Input): Record<string, string> | undefined => {
  const environment = optionalObject(input, 'Environment');
  if (!environment) return undefined;
  const variables = stringMap(environment.Variables, 'Environment.Variables');
  for (const key of Object.keys(variables)) {
    if (!/^[a-zA-Z]([a-zA-Z0-9_])+$/.test(key)) {
      throw validation(
        `Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]`,
      );
    }
  }
  const reserved = Object.keys(variables).filter((key) => RESERVED_ENV.has(key));
  if (reserved.length > 0) {
    throw invalidParameter(
      `Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: ${reserved.join(', ')}`,
    );
  }
  const size = Buffer.byteLength(JSON.stringify(variables), 'utf8');
  if (size > MAX_ENV_BYTES) {
    throw invalidParameter(
      `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${JSON.stringify(variables)}`,
    );
  }
  return variables;
};

export const readName = (input: Input): string => {
  const name = optionalString(input, 'FunctionName');
  if (name === undefined)
    throw validation("Value null at 'functionName' failed to satisfy constraint: Member must not be null");
  if (!NAME.test(name)) {
    throw validation(
      `Value '${name}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and have length less than or equal to 64`,
    );
  }
  return name;
};

export const readRole = (input: Input, required: boolean): string | undefined => {
  const role = optionalString(input, 'Role');
  if (role === undefined) {
    if (required) throw validation("Value null at 'role' failed to satisfy constraint: Member must not be null");
    return undefined;
  }
  if (!ROLE.test(role)) {
    throw validation(
      `Value '${role}' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+`,
    );
  }
  return role;
};

export const readRuntime = (input: Input, required: boolean): string | undefined => {
  const runtime = optionalString(input, 'Runtime');
  if (runtime === undefined) {
    if (required) throw invalidParameter('The Runtime parameter is required when PackageType is Zip.');
    return undefined;
  }
  if (!RUNTIMES.has(runtime)) {
    throw invalidParameter(
      `The runtime parameter of ${runtime} is not supported by the sandbox, which runs Node.js handlers only (${[...RUNTIMES].join(', ')}).`,
    );
  }
  return runtime;
};

export const readHandler = (input: Input, required: boolean): string | undefined => {
  const handler = optionalString(input, 'Handler');
  if (handler === undefined) {
    if (required) throw invalidParameter('The Handler parameter is required when PackageType is Zip.');
    return undefined;
  }
  if (!/^[^\s]{1,128}$/.test(handler)) {
    throw validation(
      `Value '${handler}' at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+`,
    );
  }
  return handler;
};

// --- code --------------------------------------------------------------------------------------

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();

/**
 * `Code` → the directory holding the handler. Only `S3Bucket` + `S3Key` naming a cloud-assembly
 * asset (`<hash>.zip` → `<assetsDir>/asset.<hash>/`) is supported.
 */
export const resolveCode = (
  code: Input,
  ctx: ServiceContext,
): { s3Bucket: string; s3Key: string; dir: string; sha256: string; size: number } => {
  if (code.ZipFile !== undefined && code.ZipFile !== null) {
    throw invalidParameter(
      'The sandbox does not unpack Code.ZipFile. Give Code.S3Bucket and Code.S3Key naming a cloud-assembly asset (S3Key "<hash>.zip" runs the directory asset.<hash>/ of the sandbox assets directory, --assets)',
    );
  }
  if (code.ImageUri !== undefined && code.ImageUri !== null) {
    throw invalidParameter('The sandbox does not run container images (Code.ImageUri); use a Zip package');
  }
  const s3Bucket = optionalString(code, 'S3Bucket');
  const s3Key = optionalString(code, 'S3Key');
  if (s3Bucket === undefined || s3Key === undefined) {
    throw invalidParameter('Please provide a source for function code (Code.S3Bucket and Code.S3Key).');
  }
  if (ctx.assetsDirs.length === 0) {
    throw invalidParameter(
      `Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The sandbox has no assets directory to find ${s3Key} in (start it with --assets DIR)`,
    );
  }
  const hash = /^(?:.*\/)?([^/]+)\.zip$/.exec(s3Key)?.[1];
  const candidates = hash ? ctx.assetsDirs.map((assets) => join(assets, `asset.${hash}`)) : [];
  const dir = candidates.find((candidate) => existsSync(candidate)) ?? candidates[0];
  if (!dir || !existsSync(dir) || !statSync(dir).isDirectory()) {
    throw invalidParameter(
      `Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist. (the sandbox looked for the directory ${dir ?? `asset.<hash> for ${s3Key}`})`,
    );
  }
  return { s3Bucket, s3Key, dir, ...codeDigest(dir) };
};

/**
 * The digest of an asset directory, remembered while no file in it changed (paths, sizes and
 * modification times): every test sandbox provisions the same dozen bundles, a few MB each, and
 * hashing them again was a tenth of each provisioning's CPU.
 */
const digests = new Map<string, { readonly stamp: string; readonly sha256: string; readonly size: number }>();
const codeDigest = (dir: string): { sha256: string; size: number } => {
  const files = filesUnder(dir);
  const stamp = files
    .map((file) => {
      const stats = statSync(file);
      return `${relative(dir, file)}\0${stats.size}\0${stats.mtimeMs}\0${stats.ino}`;
    })
    .join('\n');
  const known = digests.get(dir);
  if (known?.stamp === stamp) return { sha256: known.sha256, size: known.size };
  const hasher = createHash('sha256');
  let size = 0;
  for (const file of files) {
    const content = readFileSync(file);
    hasher.update(relative(dir, file));
    hasher.update(content);
    size += content.length;
  }
  const digest = { stamp, sha256: hasher.digest('base64'), size };
  if (digests.size >= 256) digests.delete(digests.keys().next().value as string);
  digests.set(dir, digest);
  return { sha256: digest.sha256, size: digest.size };
};

export const newRevision = (): string => randomUUID();

// --- rendering ---------------------------------------------------------------------------------

export const renderConfiguration = (record: FunctionRecord): Record<string, unknown> => ({
  FunctionName: record.name,
  FunctionArn: record.arn,
  Runtime: record.runtime,
  Role: record.role,
  Handler: record.handler,
  CodeSize: record.codeSize,
  Description: record.description,
  Timeout: record.timeout,
  MemorySize: record.memorySize,
  LastModified: record.lastModified,
  CodeSha256: record.codeSha256,
  Version: '$LATEST',
  ...(Object.keys(record.environment).length > 0 ? { Environment: { Variables: record.environment } } : {}),
  TracingConfig: { Mode: record.tracingMode },
  RevisionId: record.revisionId,
  State: 'Active',
  LastUpdateStatus: 'Successful',
  PackageType: 'Zip',
  Architectures: record.architectures,
  EphemeralStorage: { Size: record.ephemeralStorage },
  SnapStart: { ApplyOn: 'None', OptimizationStatus: 'Off' },
  LoggingConfig: { LogFormat: record.logFormat, LogGroup: record.logGroup },
});

export const renderEventInvokeConfig = (record: FunctionRecord): Record<string, unknown> => {
  const config = record.eventInvokeConfig;
  return {
    FunctionArn: `${record.arn}:$LATEST`,
    LastModified: config?.lastModified ?? 0,
    ...(config?.maximumRetryAttempts === undefined ? {} : { MaximumRetryAttempts: config.maximumRetryAttempts }),
    ...(config?.maximumEventAgeInSeconds === undefined
      ? {}
      : { MaximumEventAgeInSeconds: config.maximumEventAgeInSeconds }),
    DestinationConfig: config?.destinationConfig ?? { OnSuccess: {}, OnFailure: {} },
  };
};

/**
 * What Lambda puts in a function's environment, after its own variables: among them the execution
 * role's session (`credentials`), which the SDK in the handler signs with.
 */
export const runtimeEnvironment = (
  record: FunctionRecord,
  endpoint: string,
  credentials: Credentials = ADMINISTRATOR_CREDENTIALS,
): Record<string, string> => ({
  PATH: '/usr/local/bin:/usr/bin/:/bin:/opt/bin',
  LANG: 'en_US.UTF-8',
  TZ: ':UTC',
  ...record.environment,
  _HANDLER: record.handler,
  AWS_REGION: record.region,
  AWS_DEFAULT_REGION: record.region,
  AWS_EXECUTION_ENV: `AWS_Lambda_${record.runtime}`,
  AWS_LAMBDA_FUNCTION_NAME: record.name,
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(record.memorySize),
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  AWS_LAMBDA_LOG_GROUP_NAME: record.logGroup,
  AWS_LAMBDA_LOG_STREAM_NAME: `sandbox/[$LATEST]${record.revisionId.replaceAll('-', '')}`,
  LAMBDA_TASK_ROOT: record.code.dir,
  LAMBDA_RUNTIME_DIR: '/var/runtime',
  // The SDK inside the handler talks to the sandbox, never to AWS.
  AWS_ENDPOINT_URL: endpoint,
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_SESSION_TOKEN: credentials.sessionToken ?? 'sandbox-lambda-session',
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
});

// --- acting as the function -------------------------------------------------------------------

export const LAMBDA_PRINCIPAL = 'lambda.amazonaws.com';

/**
 * Lambda's answer when it cannot assume a function's execution role (CreateFunction and
 * UpdateFunctionConfiguration answer `InvalidParameterValueException` with this text; the Lambda
 * Developer Guide, "Defining Lambda function permissions with an execution role", says the trust
 * policy must name `lambda.amazonaws.com`).
 */
export const ROLE_NOT_ASSUMABLE = 'The role defined for the function cannot be assumed by Lambda.';

/**
 * The execution role's session, which the function's code and Lambda itself (destinations) act
 * as. Lambda sets no `aws:SourceArn` when it assumes the role; the session is named after the
 * function. Throws `InvalidParameterValueException` when the role cannot be assumed.
 */
export const executionCredentials = (
  ctx: ServiceContext,
  record: Pick<FunctionRecord, 'role' | 'name'>,
): Credentials => {
  try {
    return assumeAsService(ctx, { roleArn: record.role, service: LAMBDA_PRINCIPAL, sessionName: record.name });
  } catch (error) {
    if (error instanceof RoleTrustError) throw invalidParameter(ROLE_NOT_ASSUMABLE);
    throw error;
  }
};

/** A function's resource-based policy, from its `AddPermission` statements. */
export const functionPolicy = (record: FunctionRecord): PolicyDocument => ({
  Version: '2012-10-17',
  Id: 'default',
  Statement: record.policy as unknown as PolicyDocument['Statement'],
});

/**
 * Whether the function's resource-based policy lets `service` (a service principal such as
 * `events.amazonaws.com`) invoke it with the context keys the service sets (`aws:SourceArn`,
 * `aws:SourceAccount`). A service principal has no identity policies: only the function's
 * permissions can allow it (IAM User Guide, "Policy evaluation logic").
 */
export const serviceMayInvoke = (record: FunctionRecord, service: string, account: string, context: ContextKeys) =>
  evaluate({
    request: {
      principal: { type: 'Service', arn: service, account },
      action: 'lambda:InvokeFunction',
      resource: record.arn,
      context,
    },
    identityPolicies: [],
    resourcePolicy: functionPolicy(record),
    resourceAccount: record.arn.split(':')[4] ?? account,
  });
