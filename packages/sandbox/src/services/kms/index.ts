/**
 * AWS KMS (JSON 1.1, `TrentService.<Action>`): customer managed symmetric keys with their key
 * policies, and aliases. No cryptography: EC2 uses the keys to encrypt EBS volumes and snapshots
 * (`ec2/kms.ts`), and what is modelled is who may use a key (its key policy, with the caller's IAM
 * policies where the key policy delegates to the account).
 *
 * Errors are KMS's (KMS API Reference, each action's "Errors"): NotFoundException for an unknown key
 * or alias, AlreadyExistsException for an alias taken, InvalidAliasNameException for an alias
 * name that is not `alias/NAME` or is reserved (`alias/aws/`), MalformedPolicyDocumentException for
 * a key policy that does not parse, has a statement without a principal, or fails the lockout
 * safety check (CreateKey and PutKeyPolicy, "Policy": unless BypassPolicyLockoutSafetyCheck, the
 * policy must allow the caller to make a later PutKeyPolicy request).
 */
import { randomUUID } from 'node:crypto';
import { AwsError } from '../../errors';
import {
  compilePolicy,
  evaluate,
  MalformedPolicyDocumentError,
  type PolicyDocument,
  type PolicyStatement,
} from '../../iam';
import {
  epochSeconds,
  type Input,
  optionalBoolean,
  optionalInteger,
  optionalObjectList,
  optionalString,
  requiredString,
} from '../../protocol/json';
import type { JsonAction, JsonService, ServiceContext } from '../../service';
import { type AliasRecord, aliasArn, defaultKeyPolicy, type KeyRecord, KmsTable, keyArn, resolveKey } from './model';

const notFound = (message: string): AwsError => new AwsError('NotFoundException', message);
const malformed = (message: string): AwsError => new AwsError('MalformedPolicyDocumentException', message);

/** The account a request acts as: it owns the keys it creates and names keys in. */
const callerAccount = (ctx: ServiceContext): string => ctx.caller.principal.account;

/** The key a request's `KeyId` names (id, key ARN, alias name or alias ARN), or NotFoundException. */
export const requireKey = (ctx: ServiceContext, keyId: string): KeyRecord => {
  const found = resolveKey(ctx.store, keyId, callerAccount(ctx), ctx.region);
  if (found.kind === 'found') return found.key;
  throw notFound(found.alias ? `Alias ${found.arn} is not found.` : `Key '${found.arn}' does not exist`);
};

/** Keys that `CreateAlias` and `ListAliases` name: an id or key ARN, never an alias. */
const requireKeyById = (ctx: ServiceContext, keyId: string): KeyRecord => {
  if (keyId.startsWith('alias/') || /:alias\//.test(keyId)) {
    throw notFound(`Key '${keyId}' does not exist`);
  }
  return requireKey(ctx, keyId);
};

const statementsOf = (document: PolicyDocument): readonly PolicyStatement[] =>
  Array.isArray(document.Statement) ? document.Statement : [document.Statement as PolicyStatement];

/**
 * Parses and checks a key policy (see the module comment); returns it as the text to store. The
 * lockout check asks whether a statement of the policy applies to the caller for
 * `kms:PutKeyPolicy` (a statement naming the caller's account counts: it delegates to IAM).
 */
const checkedPolicy = (ctx: ServiceContext, text: string, arn: string, bypass: boolean): string => {
  let document: PolicyDocument;
  try {
    document = JSON.parse(text) as PolicyDocument;
  } catch {
    throw malformed('The new key policy will not allow you to update the key policy in the future.');
  }
  if (document === null || typeof document !== 'object' || document.Statement === undefined) {
    throw malformed('Policy contains a statement with no Statement element.');
  }
  for (const statement of statementsOf(document)) {
    if (statement.Principal === undefined && statement.NotPrincipal === undefined) {
      throw malformed('Policy contains a statement with no principal.');
    }
  }
  try {
    compilePolicy(document);
  } catch (error) {
    if (error instanceof MalformedPolicyDocumentError) throw malformed(error.message);
    throw error;
  }
  if (!bypass) {
    // Evaluated as if the caller's IAM policies allowed everything: only the key policy's part is asked.
    const evaluation = evaluate({
      request: { principal: ctx.caller.principal, action: 'kms:PutKeyPolicy', resource: arn },
      identityPolicies: [{ Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }],
      resourcePolicy: document,
      resourceAccount: callerAccount(ctx),
    });
    const allowed =
      evaluation.decision === 'Allow' &&
      evaluation.matched.some((statement) => statement.kind === 'resource' && statement.effect === 'Allow');
    if (!allowed) {
      throw malformed('The new key policy will not allow you to update the key policy in the future.');
    }
  }
  return text;
};

const KEY_USAGES = new Set(['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT']);

const keyMetadata = (key: KeyRecord): Record<string, unknown> => ({
  AWSAccountId: key.account,
  KeyId: key.keyId,
  Arn: key.arn,
  CreationDate: epochSeconds(key.creationDate),
  Enabled: true,
  Description: key.description,
  KeyUsage: key.keyUsage,
  KeyState: 'Enabled',
  Origin: 'AWS_KMS',
  KeyManager: 'CUSTOMER',
  CustomerMasterKeySpec: key.keySpec,
  KeySpec: key.keySpec,
  EncryptionAlgorithms: key.keySpec === 'SYMMETRIC_DEFAULT' ? ['SYMMETRIC_DEFAULT'] : [],
  MultiRegion: false,
});

const createKey: JsonAction = (input, ctx) => {
  const account = callerAccount(ctx);
  const keyId = randomUUID();
  const arn = keyArn(ctx.region, account, keyId);
  const keyUsage = optionalString(input, 'KeyUsage') ?? 'ENCRYPT_DECRYPT';
  if (!KEY_USAGES.has(keyUsage)) {
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value '${keyUsage}' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [${[...KEY_USAGES].join(', ')}]`,
    );
  }
  const given = optionalString(input, 'Policy');
  const bypass = optionalBoolean(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
  const policy =
    given === undefined ? JSON.stringify(defaultKeyPolicy(account), null, 2) : checkedPolicy(ctx, given, arn, bypass);
  const tags = (optionalObjectList(input, 'Tags') ?? []).map((tag) => ({
    TagKey: requiredString(tag, 'TagKey'),
    TagValue: requiredString(tag, 'TagValue'),
  }));
  const key: KeyRecord = {
    keyId,
    arn,
    account,
    region: ctx.region,
    description: optionalString(input, 'Description') ?? '',
    keyUsage,
    keySpec: optionalString(input, 'KeySpec') ?? optionalString(input, 'CustomerMasterKeySpec') ?? 'SYMMETRIC_DEFAULT',
    creationDate: ctx.clock.now().toISOString(),
    policy,
    tags,
  };
  ctx.transact((tx) => tx.put(KmsTable.Keys, arn, key));
  return { KeyMetadata: keyMetadata(key) };
};

const describeKey: JsonAction = (input, ctx) => ({
  KeyMetadata: keyMetadata(requireKey(ctx, requiredString(input, 'KeyId'))),
});

/** KMS API Reference, CreateAlias, "AliasName": `alias/` then letters, digits, `/_-`, 256 characters at most. */
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/;

const createAlias: JsonAction = (input, ctx) => {
  const aliasName = requiredString(input, 'AliasName');
  if (!ALIAS_NAME.test(aliasName) || aliasName.length > 256) {
    throw new AwsError('InvalidAliasNameException', `Alias name ${aliasName} is not valid.`);
  }
  if (aliasName.startsWith('alias/aws/')) {
    throw new AwsError(
      'InvalidAliasNameException',
      `Alias must not begin with 'alias/aws/'. Alias ${aliasName} is reserved for AWS managed keys.`,
    );
  }
  const key = requireKeyById(ctx, requiredString(input, 'TargetKeyId'));
  const arn = aliasArn(key.region, key.account, aliasName);
  if (ctx.store.get<AliasRecord>(KmsTable.Aliases, arn)) {
    throw new AwsError('AlreadyExistsException', `An alias with the name ${arn} already exists`);
  }
  const now = ctx.clock.now().toISOString();
  ctx.transact((tx) =>
    tx.put<AliasRecord>(KmsTable.Aliases, arn, {
      aliasName,
      aliasArn: arn,
      targetKeyId: key.keyId,
      creationDate: now,
      lastUpdatedDate: now,
    }),
  );
  return {};
};

/** ListAliases: the caller's aliases in the region (of one key with `KeyId`), `Limit` 1–100, `Marker`. */
const listAliases: JsonAction = (input, ctx) => {
  const keyIdParam = optionalString(input, 'KeyId');
  const key = keyIdParam === undefined ? undefined : requireKeyById(ctx, keyIdParam);
  const limit = optionalInteger(input, 'Limit') ?? 100;
  if (limit < 1 || limit > 100) {
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value '${limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100`,
    );
  }
  const marker = optionalString(input, 'Marker');
  const start = marker === undefined ? 0 : Number.parseInt(marker, 10);
  if (!Number.isInteger(start) || start < 0) throw new AwsError('InvalidMarkerException', 'Invalid marker.');
  const prefix = aliasArn(ctx.region, callerAccount(ctx), 'alias/');
  const aliases = [...ctx.store.table<AliasRecord>(KmsTable.Aliases).values()]
    .filter((alias) => alias.aliasArn.startsWith(prefix) && (key === undefined || alias.targetKeyId === key.keyId))
    .sort((a, b) => (a.aliasName < b.aliasName ? -1 : 1));
  const items = aliases.slice(start, start + limit);
  const truncated = start + limit < aliases.length;
  return {
    Aliases: items.map((alias) => ({
      AliasName: alias.aliasName,
      AliasArn: alias.aliasArn,
      TargetKeyId: alias.targetKeyId,
      CreationDate: epochSeconds(alias.creationDate),
      LastUpdatedDate: epochSeconds(alias.lastUpdatedDate),
    })),
    Truncated: truncated,
    ...(truncated ? { NextMarker: String(start + limit) } : {}),
  };
};

/** GetKeyPolicy and PutKeyPolicy: `PolicyName` may be omitted; the only one is `default`. */
const policyName = (input: Input): string => {
  const name = optionalString(input, 'PolicyName') ?? 'default';
  if (name !== 'default') throw notFound(`Policy ${name} is not found.`);
  return name;
};

const getKeyPolicy: JsonAction = (input, ctx) => {
  const key = requireKey(ctx, requiredString(input, 'KeyId'));
  return { Policy: key.policy, PolicyName: policyName(input) };
};

const putKeyPolicy: JsonAction = (input, ctx) => {
  const key = requireKey(ctx, requiredString(input, 'KeyId'));
  policyName(input);
  const bypass = optionalBoolean(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
  const policy = checkedPolicy(ctx, requiredString(input, 'Policy'), key.arn, bypass);
  ctx.transact((tx) => tx.put<KeyRecord>(KmsTable.Keys, key.arn, { ...key, policy }));
  return {};
};

export const kms: JsonService = {
  signingName: 'kms',
  protocol: 'json',
  targetPrefix: 'TrentService',
  actions: {
    CreateKey: createKey,
    DescribeKey: describeKey,
    CreateAlias: createAlias,
    ListAliases: listAliases,
    GetKeyPolicy: getKeyPolicy,
    PutKeyPolicy: putKeyPolicy,
  },
};
