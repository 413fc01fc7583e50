/**
 * SSM Parameter Store: String, StringList and SecureString parameters with versions and history,
 * the `aws:ec2:image` data type checked against the sandbox's images, and lookups by name, path
 * and filter. Records live in the `ssm.parameters` table keyed by name; `value` is the plaintext
 * (the launch-template code reads it to resolve `resolve:ssm:` image ids).
 */
import { createHmac } from 'node:crypto';
import { AwsError } from '../../errors';
import {
  epochSeconds,
  type Input,
  maxResults,
  optionalBoolean,
  optionalObjectList,
  optionalString,
  optionalStringList,
  page,
  pageStart,
  requiredString,
  validationError,
} from '../../protocol/json';
import type { JsonAction, ServiceContext } from '../../service';
import { Ec2Table, type ImageRecord } from '../ec2/model';

export const PARAMETERS_TABLE = 'ssm.parameters';

export type ParameterType = 'String' | 'StringList' | 'SecureString';

export interface ParameterVersion {
  readonly version: number;
  readonly value: string;
  readonly type: ParameterType;
  readonly dataType: string;
  readonly tier: 'Standard' | 'Advanced';
  readonly description?: string;
  readonly keyId?: string;
  readonly allowedPattern?: string;
  readonly lastModifiedDate: string;
  readonly lastModifiedUser: string;
}

export interface ParameterRecord extends Record<string, unknown>, ParameterVersion {
  readonly name: string;
  /** Public parameters (`/aws/service/...`) belong to AWS: readable, not listed, not writable. */
  readonly public?: boolean;
  readonly tags: Record<string, string>;
  /** Every version still kept (at most 100), oldest first, including the current one. */
  readonly history: readonly ParameterVersion[];
}

const TYPES: readonly string[] = ['String', 'StringList', 'SecureString'];
const TIERS: readonly string[] = ['Standard', 'Advanced', 'Intelligent-Tiering'];
const DATA_TYPES: readonly string[] = ['text', 'aws:ec2:image'];
const MAX_VERSIONS = 100;
const STANDARD_MAX_BYTES = 4096;
const ADVANCED_MAX_BYTES = 8192;
const AMI_ID = /^ami-[0-9a-f]{8}([0-9a-f]{9})?$/;
const NAME = /^[a-zA-Z0-9_.\-/]+$/;
const DEFAULT_KEY_ID = 'alias/aws/ssm';

const notFound = (name?: string): AwsError =>
  new AwsError('ParameterNotFound', name ? `Parameter ${name} not found.` : 'Parameter not found.');

/** `arn:aws:ssm:region:account:parameter/a/b` or a plain name → the name. */
const nameOf = (nameOrArn: string): string => {
  const match = /^arn:aws[a-z-]*:ssm:[^:]*:[^:]*:parameter(\/.*)$/.exec(nameOrArn);
  if (!match) return nameOrArn;
  const path = match[1] as string;
  // `parameter/a/b` is `/a/b` for hierarchical names; `parameter/a` is the name `a`.
  return path.indexOf('/', 1) === -1 ? path.slice(1) : path;
};

export const parameterArn = (ctx: ServiceContext, record: ParameterRecord): string => {
  const account = record.public ? '' : ctx.account;
  return `arn:aws:ssm:${ctx.region}:${account}:parameter${record.name.startsWith('/') ? '' : '/'}${record.name}`;
};

const sandboxUser = (ctx: ServiceContext): string => `arn:aws:iam::${ctx.account}:user/sandbox`;

/** SecureString values come back as opaque ciphertext unless decrypted. */
const ciphertext = (name: string, version: ParameterVersion): string =>
  `AQICAH${createHmac('sha256', 'bakehouse-sandbox-kms').update(`${name}\u0000${version.version}\u0000${version.value}`).digest('base64')}`;

const shownValue = (name: string, version: ParameterVersion, decrypt: boolean): string =>
  version.type === 'SecureString' && !decrypt ? ciphertext(name, version) : version.value;

const validateName = (name: string): void => {
  if (name.length < 1 || name.length > 1011) {
    throw validationError('Parameter name must be between 1 and 1011 characters long.');
  }
  if (!NAME.test(name)) {
    throw validationError(
      'Parameter name: can only contain alphanumeric characters, dashes, underscores, periods and forward slashes.',
    );
  }
  if (name.includes('/') && !name.startsWith('/')) {
    throw validationError('Parameter name must be a fully qualified name.');
  }
  if (name.split('/').filter(Boolean).length > 15) {
    throw validationError('Parameter name hierarchy cannot exceed 15 levels.');
  }
  const first = name.replace(/^\//, '').toLowerCase();
  if (first.startsWith('aws') || first.startsWith('ssm')) {
    throw validationError('Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).');
  }
};

/** An `aws:ec2:image` value must name an image that exists and is available to this account. */
const validateImageValue = (ctx: ServiceContext, value: string, type: string): void => {
  if (type !== 'String') {
    throw validationError('The aws:ec2:image data type is only supported for parameters of type String.');
  }
  if (!AMI_ID.test(value)) {
    throw validationError(
      `Invalid format for aws:ec2:image data type: ${value}. Specify an AMI ID such as ami-12345abcdeEXAMPLE.`,
    );
  }
  const image = ctx.store.get<ImageRecord>(Ec2Table.Images, value);
  const usable =
    image?.state === 'available' &&
    (image.ownerId === ctx.account || image.isPublic || image.launchPermissions.includes(ctx.account));
  if (!usable) {
    throw validationError(
      `Unable to validate aws:ec2:image value ${value}: the image does not exist or is not available.`,
    );
  }
};

const validateValue = (value: string, tier: 'Standard' | 'Advanced'): void => {
  const limit = tier === 'Standard' ? STANDARD_MAX_BYTES : ADVANCED_MAX_BYTES;
  if (value.length === 0) {
    throw validationError(
      "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  }
  if (Buffer.byteLength(value, 'utf8') > limit) {
    throw validationError(
      tier === 'Standard'
        ? 'Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.'
        : 'Advanced tier parameters support a maximum parameter value of 8192 characters.',
    );
  }
};

const parseTags = (input: Input): Record<string, string> => {
  const tags: Record<string, string> = {};
  for (const tag of optionalObjectList(input, 'Tags') ?? []) {
    const key = requiredString(tag, 'Key');
    tags[key] = requiredString(tag, 'Value');
  }
  return tags;
};

const chooseTier = (
  requested: string | undefined,
  value: string,
  previous?: ParameterRecord,
): 'Standard' | 'Advanced' => {
  if (requested !== undefined && !TIERS.includes(requested)) {
    throw validationError(`Invalid tier ${requested}. Valid tiers are Standard, Advanced and Intelligent-Tiering.`);
  }
  if (requested === 'Advanced' || previous?.tier === 'Advanced') {
    if (requested === 'Standard') {
      throw validationError(
        "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier.",
      );
    }
    return 'Advanced';
  }
  if (requested === 'Intelligent-Tiering') {
    return Buffer.byteLength(value, 'utf8') > STANDARD_MAX_BYTES ? 'Advanced' : 'Standard';
  }
  return 'Standard';
};

const putParameter: JsonAction = (input, ctx) => {
  const name = nameOf(requiredString(input, 'Name'));
  const value = requiredString(input, 'Value');
  const overwrite = optionalBoolean(input, 'Overwrite') ?? false;
  const tags = parseTags(input);
  validateName(name);
  const previous = ctx.store.get<ParameterRecord>(PARAMETERS_TABLE, name);
  if (previous && !overwrite) {
    throw new AwsError(
      'ParameterAlreadyExists',
      'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
    );
  }
  if (previous && Object.keys(tags).length > 0) {
    throw validationError(
      "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
    );
  }
  const type = optionalString(input, 'Type') ?? previous?.type;
  if (type === undefined) throw validationError('A parameter type is required when you create a parameter.');
  if (!TYPES.includes(type)) {
    throw new AwsError('UnsupportedParameterType', `The parameter type ${type} is not supported.`);
  }
  const dataType = optionalString(input, 'DataType') ?? previous?.dataType ?? 'text';
  if (!DATA_TYPES.includes(dataType)) {
    throw validationError(`The following data type is not supported: ${dataType} (Data type names are all lowercase.)`);
  }
  if (previous && previous.dataType !== dataType && [previous.dataType, dataType].includes('aws:ec2:image')) {
    throw validationError(
      `You can't change the data type of parameter ${name} from ${previous.dataType} to ${dataType}.`,
    );
  }
  const tier = chooseTier(optionalString(input, 'Tier'), value, previous);
  validateValue(value, tier);
  const allowedPattern = optionalString(input, 'AllowedPattern') ?? previous?.allowedPattern;
  if (allowedPattern !== undefined && !matchesPattern(allowedPattern, value)) {
    throw new AwsError(
      'ParameterPatternMismatchException',
      `Parameter value, cannot be validated against allowedPattern: ${allowedPattern}`,
    );
  }
  if (dataType === 'aws:ec2:image') validateImageValue(ctx, value, type);

  const description = optionalString(input, 'Description') ?? previous?.description;
  const keyId =
    type === 'SecureString' ? (optionalString(input, 'KeyId') ?? previous?.keyId ?? DEFAULT_KEY_ID) : undefined;
  const version: ParameterVersion = {
    version: (previous?.version ?? 0) + 1,
    value,
    type: type as ParameterType,
    dataType,
    tier,
    ...(description === undefined ? {} : { description }),
    ...(keyId === undefined ? {} : { keyId }),
    ...(allowedPattern === undefined ? {} : { allowedPattern }),
    lastModifiedDate: ctx.clock.now().toISOString(),
    lastModifiedUser: sandboxUser(ctx),
  };
  const record: ParameterRecord = {
    ...version,
    name,
    tags: previous?.tags ?? tags,
    history: [...(previous?.history ?? []), version].slice(-MAX_VERSIONS),
  };
  ctx.transact((tx) => tx.put(PARAMETERS_TABLE, name, record));
  return { Version: record.version, Tier: record.tier };
};

const matchesPattern = (pattern: string, value: string): boolean => {
  try {
    return new RegExp(pattern).test(value);
  } catch {
    throw validationError(`The allowed pattern ${pattern} is not a valid regular expression.`);
  }
};

/** `name`, `name:3` (a version) — labels are not kept by the sandbox, so a label selects nothing. */
const selectVersion = (
  ctx: ServiceContext,
  requested: string,
): { record: ParameterRecord; version: ParameterVersion; selector?: string } | undefined => {
  const full = nameOf(requested);
  const colon = full.lastIndexOf(':');
  const name = colon > 0 ? full.slice(0, colon) : full;
  const selector = colon > 0 ? full.slice(colon) : undefined;
  const record = ctx.store.get<ParameterRecord>(PARAMETERS_TABLE, name);
  if (!record) return undefined;
  if (selector === undefined) return { record, version: record };
  if (!/^:\d+$/.test(selector)) return undefined;
  const version = record.history.find((entry) => entry.version === Number(selector.slice(1)));
  if (!version) {
    throw new AwsError(
      'ParameterVersionNotFound',
      `Systems Manager could not find version ${selector.slice(1)} of ${name}. Verify the version and try again.`,
    );
  }
  return { record, version, selector };
};

const parameterView = (
  ctx: ServiceContext,
  record: ParameterRecord,
  version: ParameterVersion,
  decrypt: boolean,
  selector?: string,
) => ({
  Name: record.name,
  Type: version.type,
  Value: shownValue(record.name, version, decrypt),
  Version: version.version,
  ...(selector === undefined ? {} : { Selector: selector }),
  LastModifiedDate: epochSeconds(version.lastModifiedDate),
  ARN: parameterArn(ctx, record),
  DataType: version.dataType,
});

const getParameter: JsonAction = (input, ctx) => {
  const requested = requiredString(input, 'Name');
  const decrypt = optionalBoolean(input, 'WithDecryption') ?? false;
  const found = selectVersion(ctx, requested);
  if (!found) throw notFound(requested);
  return { Parameter: parameterView(ctx, found.record, found.version, decrypt, found.selector) };
};

const getParameters: JsonAction = (input, ctx) => {
  const names = optionalStringList(input, 'Names');
  if (!names || names.length === 0)
    throw validationError(
      "1 validation error detected: Value null at 'names' failed to satisfy constraint: Member must not be null",
    );
  if (names.length > 10) {
    throw validationError(
      "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10",
    );
  }
  const decrypt = optionalBoolean(input, 'WithDecryption') ?? false;
  const parameters: ReturnType<typeof parameterView>[] = [];
  const invalid: string[] = [];
  for (const requested of new Set(names)) {
    const found = selectVersion(ctx, requested);
    if (found) parameters.push(parameterView(ctx, found.record, found.version, decrypt, found.selector));
    else invalid.push(requested);
  }
  return { Parameters: parameters, InvalidParameters: invalid };
};

const sortedParameters = (ctx: ServiceContext): ParameterRecord[] =>
  [...ctx.store.table<ParameterRecord>(PARAMETERS_TABLE).values()].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );

const underPath = (name: string, path: string, recursive: boolean): boolean => {
  const prefix = path.endsWith('/') ? path : `${path}/`;
  if (!name.startsWith(prefix)) return false;
  return recursive || !name.slice(prefix.length).includes('/');
};

interface ParameterFilter {
  readonly key: string;
  readonly option: string;
  readonly values: readonly string[];
}

const parseParameterFilters = (input: Input, allowed: readonly string[]): ParameterFilter[] =>
  (optionalObjectList(input, 'ParameterFilters') ?? []).map((filter) => {
    const key = requiredString(filter, 'Key');
    if (!allowed.includes(key) && !key.startsWith('tag:')) {
      throw new AwsError(
        'InvalidFilterKey',
        `The following filter key is not valid: ${key}. Valid filter keys include: [${allowed.join(', ')}].`,
      );
    }
    const option = optionalString(filter, 'Option') ?? (key === 'Path' ? 'OneLevel' : 'Equals');
    const values = optionalStringList(filter, 'Values') ?? [];
    return { key, option, values };
  });

const matchesFilter = (record: ParameterRecord, filter: ParameterFilter): boolean => {
  const { key, option, values } = filter;
  if (key.startsWith('tag:')) {
    const tag = record.tags[key.slice(4)];
    return tag !== undefined && (values.length === 0 || values.includes(tag));
  }
  switch (key) {
    case 'Name':
      return values.some((value) => {
        const wanted = value.startsWith('/') || !record.name.startsWith('/') ? value : `/${value}`;
        if (option === 'BeginsWith') return record.name.startsWith(wanted);
        if (option === 'Contains') return record.name.includes(value);
        return record.name === wanted;
      });
    case 'Path':
      return values.some((value) => underPath(record.name, value, option === 'Recursive'));
    case 'Type':
      return values.includes(record.type);
    case 'DataType':
      return values.includes(record.dataType);
    case 'Tier':
      return values.includes(record.tier);
    case 'KeyId':
      return record.keyId !== undefined && values.includes(record.keyId);
    default:
      return false;
  }
};

const validateFilterOptions = (filters: readonly ParameterFilter[]): void => {
  const options: Record<string, readonly string[]> = {
    Name: ['Equals', 'BeginsWith', 'Contains'],
    Path: ['OneLevel', 'Recursive'],
  };
  for (const filter of filters) {
    const valid = options[filter.key] ?? ['Equals'];
    if (!valid.includes(filter.option)) {
      throw new AwsError(
        'InvalidFilterOption',
        `The filter option ${filter.option} is not valid for key ${filter.key}. Valid options include: [${valid.join(', ')}].`,
      );
    }
    if (filter.key === 'Path' && filter.values.some((value) => !value.startsWith('/'))) {
      throw new AwsError('InvalidFilterValue', 'The parameter path must begin with a forward slash (/).');
    }
  }
};

const getParametersByPath: JsonAction = (input, ctx) => {
  const path = requiredString(input, 'Path');
  if (!path.startsWith('/')) throw validationError('The parameter path must begin with a forward slash (/).');
  const recursive = optionalBoolean(input, 'Recursive') ?? false;
  const decrypt = optionalBoolean(input, 'WithDecryption') ?? false;
  const size = maxResults(input, 1, 10, 10);
  const start = pageStart(input);
  const filters = parseParameterFilters(input, ['Type', 'KeyId', 'Label']);
  const matching = sortedParameters(ctx).filter(
    (record) => underPath(record.name, path, recursive) && filters.every((filter) => matchesFilter(record, filter)),
  );
  const result = page(matching, start, size);
  return {
    Parameters: result.items.map((record) => parameterView(ctx, record, record, decrypt)),
    ...(result.nextToken ? { NextToken: result.nextToken } : {}),
  };
};

const metadataView = (ctx: ServiceContext, record: ParameterRecord) => ({
  Name: record.name,
  ARN: parameterArn(ctx, record),
  Type: record.type,
  ...(record.keyId === undefined ? {} : { KeyId: record.keyId }),
  LastModifiedDate: epochSeconds(record.lastModifiedDate),
  LastModifiedUser: record.lastModifiedUser,
  ...(record.description === undefined ? {} : { Description: record.description }),
  ...(record.allowedPattern === undefined ? {} : { AllowedPattern: record.allowedPattern }),
  Version: record.version,
  Tier: record.tier,
  Policies: [],
  DataType: record.dataType,
});

const describeParameters: JsonAction = (input, ctx) => {
  const size = maxResults(input, 1, 50, 50);
  const start = pageStart(input);
  const legacy = (optionalObjectList(input, 'Filters') ?? []).map((filter) => ({
    key: requiredString(filter, 'Key'),
    option: 'Equals',
    values: optionalStringList(filter, 'Values') ?? [],
  }));
  const filters = [
    ...legacy,
    ...parseParameterFilters(input, ['Name', 'Path', 'Type', 'DataType', 'Tier', 'KeyId', 'Label']),
  ];
  validateFilterOptions(filters);
  const matching = sortedParameters(ctx).filter(
    (record) => !record.public && filters.every((filter) => matchesFilter(record, filter)),
  );
  const result = page(matching, start, size);
  return {
    Parameters: result.items.map((record) => metadataView(ctx, record)),
    ...(result.nextToken ? { NextToken: result.nextToken } : {}),
  };
};

const ownParameter = (ctx: ServiceContext, name: string): ParameterRecord | undefined => {
  const record = ctx.store.get<ParameterRecord>(PARAMETERS_TABLE, name);
  return record && !record.public ? record : undefined;
};

const deleteParameter: JsonAction = (input, ctx) => {
  const name = nameOf(requiredString(input, 'Name'));
  if (!ownParameter(ctx, name)) throw notFound(name);
  ctx.transact((tx) => tx.delete(PARAMETERS_TABLE, name));
  return {};
};

const deleteParameters: JsonAction = (input, ctx) => {
  const names = optionalStringList(input, 'Names');
  if (!names || names.length === 0 || names.length > 10) {
    throw validationError(
      "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10",
    );
  }
  const deleted: string[] = [];
  const invalid: string[] = [];
  ctx.transact((tx) => {
    for (const requested of new Set(names)) {
      const name = nameOf(requested);
      if (ownParameter(ctx, name) && tx.get(PARAMETERS_TABLE, name)) {
        tx.delete(PARAMETERS_TABLE, name);
        deleted.push(requested);
      } else {
        invalid.push(requested);
      }
    }
  });
  return { DeletedParameters: deleted, InvalidParameters: invalid };
};

const getParameterHistory: JsonAction = (input, ctx) => {
  const name = nameOf(requiredString(input, 'Name'));
  const decrypt = optionalBoolean(input, 'WithDecryption') ?? false;
  const size = maxResults(input, 1, 50, 50);
  const start = pageStart(input);
  const record = ctx.store.get<ParameterRecord>(PARAMETERS_TABLE, name);
  if (!record) throw notFound(name);
  const result = page(record.history, start, size);
  return {
    Parameters: result.items.map((version) => ({
      Name: record.name,
      Type: version.type,
      ...(version.keyId === undefined ? {} : { KeyId: version.keyId }),
      LastModifiedDate: epochSeconds(version.lastModifiedDate),
      LastModifiedUser: version.lastModifiedUser,
      ...(version.description === undefined ? {} : { Description: version.description }),
      Value: shownValue(record.name, version, decrypt),
      ...(version.allowedPattern === undefined ? {} : { AllowedPattern: version.allowedPattern }),
      Version: version.version,
      Labels: [],
      Tier: version.tier,
      Policies: [],
      DataType: version.dataType,
    })),
    ...(result.nextToken ? { NextToken: result.nextToken } : {}),
  };
};

export const parameterActions: Readonly<Record<string, JsonAction>> = {
  PutParameter: putParameter,
  GetParameter: getParameter,
  GetParameters: getParameters,
  GetParametersByPath: getParametersByPath,
  DescribeParameters: describeParameters,
  DeleteParameter: deleteParameter,
  DeleteParameters: deleteParameters,
  GetParameterHistory: getParameterHistory,
};
