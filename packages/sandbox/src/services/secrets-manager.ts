/**
 * Secrets Manager (JSON 1.1, `secretsmanager.<Action>`): secrets with versions and staging labels.
 * A new current version takes AWSCURRENT and the one before it AWSPREVIOUS; ClientRequestToken
 * makes writes idempotent. Records live in `secretsmanager.secrets` keyed by name. Secret values
 * are never logged.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsError } from '../errors';
import {
  epochSeconds,
  type Input,
  maxResults,
  optionalBoolean,
  optionalInteger,
  optionalObjectList,
  optionalString,
  optionalStringList,
  page,
  pageStart,
  requiredString,
} from '../protocol/json';
import type { JsonAction, JsonService, ServiceContext } from '../service';

export const SECRETS_TABLE = 'secretsmanager.secrets';
const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const NAME = /^[a-zA-Z0-9/_+=.@-]{1,512}$/;
/** Versions without a staging label beyond this many are dropped, as Secrets Manager does. */
const MAX_UNLABELLED_VERSIONS = 100;

interface SecretVersion {
  readonly versionId: string;
  readonly secretString?: string;
  /** base64, as it travels in JSON. */
  readonly secretBinary?: string;
  readonly createdDate: string;
  readonly stages: readonly string[];
}

interface SecretRecord extends Record<string, unknown> {
  readonly arn: string;
  readonly name: string;
  readonly description?: string;
  readonly kmsKeyId?: string;
  readonly createdDate: string;
  readonly lastChangedDate: string;
  readonly lastAccessedDate?: string;
  readonly deletedDate?: string;
  readonly tags: readonly { Key: string; Value: string }[];
  /** Oldest first. */
  readonly versions: readonly SecretVersion[];
}

const invalidParameter = (message: string): AwsError => new AwsError('InvalidParameterException', message);
const invalidRequest = (message: string): AwsError => new AwsError('InvalidRequestException', message);
const notFound = (): AwsError =>
  new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");

const arnSuffix = (): string =>
  [...randomBytes(6)].map((byte) => SUFFIX_ALPHABET[byte % SUFFIX_ALPHABET.length]).join('');

/** A secret by name, full ARN, or partial ARN (without the random suffix). */
const findSecret = (ctx: ServiceContext, secretId: string): SecretRecord | undefined => {
  if (!secretId.startsWith('arn:')) return ctx.store.get<SecretRecord>(SECRETS_TABLE, secretId);
  for (const secret of ctx.store.table<SecretRecord>(SECRETS_TABLE).values()) {
    if (secret.arn === secretId || secret.arn.slice(0, -7) === secretId) return secret;
  }
  return undefined;
};

const requireSecret = (ctx: ServiceContext, input: Input): SecretRecord => {
  const secret = findSecret(ctx, requiredString(input, 'SecretId'));
  if (!secret) throw notFound();
  return secret;
};

const requireLive = (secret: SecretRecord, action: string): void => {
  if (secret.deletedDate !== undefined) {
    throw invalidRequest(
      `You can't perform this operation on the secret because it was marked for deletion. (${action})`,
    );
  }
};

interface SecretValue {
  readonly secretString?: string;
  readonly secretBinary?: string;
}

const readValue = (input: Input): SecretValue | undefined => {
  const secretString = optionalString(input, 'SecretString');
  const secretBinary = optionalString(input, 'SecretBinary');
  if (secretString !== undefined && secretBinary !== undefined) {
    throw invalidParameter(
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (secretString !== undefined) return { secretString };
  if (secretBinary !== undefined) return { secretBinary };
  return undefined;
};

const requestToken = (input: Input): string => {
  const token = optionalString(input, 'ClientRequestToken') ?? randomUUID();
  if (token.length < 32 || token.length > 64) {
    throw new AwsError(
      'ValidationException',
      "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64",
    );
  }
  return token;
};

const sameValue = (version: SecretVersion, value: SecretValue): boolean =>
  version.secretString === value.secretString && version.secretBinary === value.secretBinary;

/**
 * Adds a version holding `stages`: each stage moves to it from wherever it was; when AWSCURRENT
 * moves, the version that had it becomes AWSPREVIOUS.
 */
const withNewVersion = (secret: SecretRecord, version: SecretVersion): SecretRecord => {
  const moving = new Set(version.stages);
  const previousCurrent = moving.has(CURRENT) ? secret.versions.find((v) => v.stages.includes(CURRENT)) : undefined;
  if (previousCurrent) moving.add(PREVIOUS);
  const versions = secret.versions.map((existing) => {
    const kept = existing.stages.filter((stage) => !moving.has(stage));
    return { ...existing, stages: existing === previousCurrent ? [...kept, PREVIOUS] : kept };
  });
  const unlabelled = versions.filter((v) => v.stages.length === 0);
  const dropped = new Set(unlabelled.slice(0, Math.max(0, unlabelled.length - MAX_UNLABELLED_VERSIONS)));
  return {
    ...secret,
    versions: [...versions.filter((v) => !dropped.has(v)), version],
    lastChangedDate: version.createdDate,
  };
};

const parseTags = (input: Input): { Key: string; Value: string }[] =>
  (optionalObjectList(input, 'Tags') ?? []).map((tag) => ({
    Key: requiredString(tag, 'Key'),
    Value: requiredString(tag, 'Value'),
  }));

const createSecret: JsonAction = (input, ctx) => {
  const name = requiredString(input, 'Name');
  if (!NAME.test(name)) {
    throw invalidParameter(
      'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
    );
  }
  const value = readValue(input);
  const token = requestToken(input);
  const existing = ctx.store.get<SecretRecord>(SECRETS_TABLE, name);
  if (existing) {
    if (existing.deletedDate !== undefined) {
      throw invalidRequest(
        `You can't create this secret because a secret with this name is already scheduled for deletion.`,
      );
    }
    const sameRequest = existing.versions.find((v) => v.versionId === token);
    if (sameRequest && value && sameValue(sameRequest, value)) {
      return { ARN: existing.arn, Name: existing.name, VersionId: sameRequest.versionId };
    }
    throw new AwsError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
  }
  const now = ctx.clock.now().toISOString();
  const description = optionalString(input, 'Description');
  const kmsKeyId = optionalString(input, 'KmsKeyId');
  const secret: SecretRecord = {
    arn: `arn:aws:secretsmanager:${ctx.region}:${ctx.account}:secret:${name}-${arnSuffix()}`,
    name,
    ...(description === undefined ? {} : { description }),
    ...(kmsKeyId === undefined ? {} : { kmsKeyId }),
    createdDate: now,
    lastChangedDate: now,
    tags: parseTags(input),
    versions: value ? [{ versionId: token, ...value, createdDate: now, stages: [CURRENT] }] : [],
  };
  ctx.transact((tx) => tx.put(SECRETS_TABLE, name, secret));
  return { ARN: secret.arn, Name: secret.name, ...(value ? { VersionId: token } : {}) };
};

const getSecretValue: JsonAction = (input, ctx) => {
  const secret = requireSecret(ctx, input);
  requireLive(secret, 'GetSecretValue');
  const versionId = optionalString(input, 'VersionId');
  const stage = optionalString(input, 'VersionStage') ?? (versionId === undefined ? CURRENT : undefined);
  const version = secret.versions.find(
    (candidate) =>
      (versionId === undefined || candidate.versionId === versionId) &&
      (stage === undefined || candidate.stages.includes(stage)),
  );
  if (!version) {
    throw new AwsError(
      'ResourceNotFoundException',
      versionId === undefined
        ? `Secrets Manager can't find the specified secret value for staging label: ${stage}`
        : `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`,
    );
  }
  const today = `${ctx.clock.now().toISOString().slice(0, 10)}T00:00:00.000Z`;
  if (secret.lastAccessedDate !== today) {
    ctx.transact((tx) => tx.put(SECRETS_TABLE, secret.name, { ...secret, lastAccessedDate: today }));
  }
  return {
    ARN: secret.arn,
    Name: secret.name,
    VersionId: version.versionId,
    ...(version.secretString === undefined ? {} : { SecretString: version.secretString }),
    ...(version.secretBinary === undefined ? {} : { SecretBinary: version.secretBinary }),
    VersionStages: version.stages,
    CreatedDate: epochSeconds(version.createdDate),
  };
};

const putSecretValue: JsonAction = (input, ctx) => {
  const secret = requireSecret(ctx, input);
  requireLive(secret, 'PutSecretValue');
  const value = readValue(input);
  if (!value) throw invalidParameter('You must provide either SecretString or SecretBinary.');
  const token = requestToken(input);
  const stages = optionalStringList(input, 'VersionStages') ?? [CURRENT];
  if (stages.length === 0 || stages.length > 20) {
    throw invalidParameter('VersionStages must name between 1 and 20 staging labels.');
  }
  const existing = secret.versions.find((version) => version.versionId === token);
  if (existing) {
    if (!sameValue(existing, value)) {
      throw new AwsError(
        'ResourceExistsException',
        "You can't modify an existing version, you can only create a new version.",
      );
    }
    return { ARN: secret.arn, Name: secret.name, VersionId: existing.versionId, VersionStages: existing.stages };
  }
  const version: SecretVersion = { versionId: token, ...value, createdDate: ctx.clock.now().toISOString(), stages };
  const updated = withNewVersion(secret, version);
  ctx.transact((tx) => tx.put(SECRETS_TABLE, secret.name, updated));
  return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: stages };
};

const describeView = (secret: SecretRecord) => ({
  ARN: secret.arn,
  Name: secret.name,
  ...(secret.description === undefined ? {} : { Description: secret.description }),
  ...(secret.kmsKeyId === undefined ? {} : { KmsKeyId: secret.kmsKeyId }),
  RotationEnabled: false,
  LastChangedDate: epochSeconds(secret.lastChangedDate),
  ...(secret.lastAccessedDate === undefined ? {} : { LastAccessedDate: epochSeconds(secret.lastAccessedDate) }),
  ...(secret.deletedDate === undefined ? {} : { DeletedDate: epochSeconds(secret.deletedDate) }),
  Tags: secret.tags,
  VersionIdsToStages: Object.fromEntries(
    secret.versions.filter((v) => v.stages.length > 0).map((v) => [v.versionId, v.stages]),
  ),
  CreatedDate: epochSeconds(secret.createdDate),
});

const describeSecret: JsonAction = (input, ctx) => describeView(requireSecret(ctx, input));

const listSecrets: JsonAction = (input, ctx) => {
  const size = maxResults(input, 1, 100, 100);
  const start = pageStart(input, 'InvalidNextTokenException');
  const includeDeleted = optionalBoolean(input, 'IncludePlannedDeletion') ?? false;
  const secrets = [...ctx.store.table<SecretRecord>(SECRETS_TABLE).values()]
    .filter((secret) => includeDeleted || secret.deletedDate === undefined)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const result = page(secrets, start, size);
  return {
    SecretList: result.items.map((secret) => {
      const { VersionIdsToStages, ...rest } = describeView(secret);
      return { ...rest, SecretVersionsToStages: VersionIdsToStages };
    }),
    ...(result.nextToken ? { NextToken: result.nextToken } : {}),
  };
};

const deleteSecret: JsonAction = (input, ctx) => {
  const secret = requireSecret(ctx, input);
  const force = optionalBoolean(input, 'ForceDeleteWithoutRecovery') ?? false;
  const window = optionalInteger(input, 'RecoveryWindowInDays');
  if (force && window !== undefined) {
    throw invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
  }
  if (window !== undefined && (window < 7 || window > 30)) {
    throw invalidParameter('The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
  }
  const now = ctx.clock.now();
  const deletionDate = new Date(now.getTime() + (force ? 0 : (window ?? 30)) * 86_400_000).toISOString();
  if (force) ctx.transact((tx) => tx.delete(SECRETS_TABLE, secret.name));
  else ctx.transact((tx) => tx.put(SECRETS_TABLE, secret.name, { ...secret, deletedDate: now.toISOString() }));
  return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(deletionDate) };
};

const restoreSecret: JsonAction = (input, ctx) => {
  const secret = requireSecret(ctx, input);
  const { deletedDate: _deleted, ...restored } = secret;
  ctx.transact((tx) => tx.put(SECRETS_TABLE, secret.name, restored));
  return { ARN: secret.arn, Name: secret.name };
};

export const secretsManager: JsonService = {
  signingName: 'secretsmanager',
  protocol: 'json',
  targetPrefix: 'secretsmanager',
  actions: {
    CreateSecret: createSecret,
    GetSecretValue: getSecretValue,
    PutSecretValue: putSecretValue,
    DescribeSecret: describeSecret,
    ListSecrets: listSecrets,
    DeleteSecret: deleteSecret,
    RestoreSecret: restoreSecret,
  },
};
