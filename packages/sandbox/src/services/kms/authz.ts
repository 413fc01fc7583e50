/**
 * Which resources and condition keys each KMS action authorizes (Service Authorization Reference,
 * "Actions, resources, and condition keys for AWS Key Management Service"), and the key policy
 * every check on a key carries as its resource policy, which must itself allow (KMS Developer Guide,
 * "Key policies in AWS KMS": "Unless the key policy explicitly allows it, you cannot use IAM policies
 * to allow access to a KMS key"; a statement naming the account, as the default key policy's does,
 * lets IAM policies allow it).
 *
 * - DescribeKey, GetKeyPolicy, PutKeyPolicy: the key, by its ARN whichever way the request named it.
 * - CreateAlias: the alias and the key it points at (KMS Developer Guide, "Controlling access to
 *   aliases": kms:CreateAlias on both).
 * - CreateKey and ListAliases have no resource type: `kms:Action` on `*`.
 * - Every check carries `kms:CallerAccount`; checks on a key carry `kms:ResourceAliases` (its
 *   aliases) and `aws:ResourceTag/K` (its tags). `kms:ViaService` is set only when a service
 *   calls KMS for the caller (EC2: `ec2/kms.ts`).
 *
 * A key the sandbox does not hold is checked on the ARN the request named, without a key policy;
 * the action then answers NotFoundException.
 */
import type { AuthzCheck } from '../../authz/authorizer';
import type { ContextKeys, PolicyDocument } from '../../iam/types';
import type { AuthzMapper, ServiceContext } from '../../service';
import { aliasArn, aliasesOf, type KeyRecord, resolveKey } from './model';

type Input = Record<string, unknown>;

const text = (input: Input, member: string): string | undefined => {
  const value = input[member];
  return typeof value === 'string' ? value : undefined;
};

/** The condition keys of a check on `key` (`kms:ResourceAliases` and its tags), besides `extra`. */
export const keyContext = (ctx: ServiceContext, key: KeyRecord, extra: ContextKeys = {}): ContextKeys => {
  const context: Record<string, ContextKeys[string]> = {
    'kms:CallerAccount': ctx.caller.principal.account,
    'kms:ResourceAliases': aliasesOf(ctx.store, key),
    ...extra,
  };
  for (const { TagKey, TagValue } of key.tags) context[`aws:ResourceTag/${TagKey}`] = TagValue;
  return context;
};

/** Key policies by their text, parsed once (the evaluator compiles each document once, by identity). */
const keyPolicies = new Map<string, PolicyDocument>();
const keyPolicy = (text: string): PolicyDocument => {
  let document = keyPolicies.get(text);
  if (!document) {
    document = JSON.parse(text) as PolicyDocument;
    if (keyPolicies.size > 1000) keyPolicies.clear();
    keyPolicies.set(text, document);
  }
  return document;
};

/** `action` on a key the sandbox holds, with its key policy, which must itself allow. */
export const keyCheck = (ctx: ServiceContext, action: string, key: KeyRecord, extra?: ContextKeys): AuthzCheck => ({
  action,
  resource: key.arn,
  context: keyContext(ctx, key, extra),
  resourcePolicy: keyPolicy(key.policy),
  resourceAccount: key.account,
  resourcePolicyMustAllow: true,
});

/** The check for `action` on the key a request's `member` names (any of the four ways). */
const onKeyNamed = (ctx: ServiceContext, action: string, keyId: string): AuthzCheck => {
  const found = resolveKey(ctx.store, keyId, ctx.caller.principal.account, ctx.region);
  if (found.kind === 'found') return keyCheck(ctx, action, found.key);
  return { action, resource: found.arn, context: { 'kms:CallerAccount': ctx.caller.principal.account } };
};

const onKey =
  (action: string): AuthzMapper<Input> =>
  (input, ctx) => [onKeyNamed(ctx, action, text(input, 'KeyId') ?? '')];

const createKey: AuthzMapper<Input> = (input, ctx) => {
  const tags = (Array.isArray(input.Tags) ? (input.Tags as unknown[]) : []).filter(
    (tag): tag is Input => !!tag && typeof tag === 'object' && typeof (tag as Input).TagKey === 'string',
  );
  const context: Record<string, ContextKeys[string]> = {
    'kms:CallerAccount': ctx.caller.principal.account,
    'kms:KeyUsage': text(input, 'KeyUsage') ?? 'ENCRYPT_DECRYPT',
    'kms:KeySpec': text(input, 'KeySpec') ?? 'SYMMETRIC_DEFAULT',
    'kms:KeyOrigin': text(input, 'Origin') ?? 'AWS_KMS',
    'kms:MultiRegion': input.MultiRegion === true,
    'kms:BypassPolicyLockoutSafetyCheck': input.BypassPolicyLockoutSafetyCheck === true,
  };
  if (tags.length > 0) context['aws:TagKeys'] = tags.map((tag) => tag.TagKey as string);
  for (const tag of tags) context[`aws:RequestTag/${tag.TagKey as string}`] = text(tag, 'TagValue') ?? '';
  return [{ action: 'kms:CreateKey', resource: '*', context }];
};

const createAlias: AuthzMapper<Input> = (input, ctx) => {
  const aliasName = text(input, 'AliasName') ?? '';
  return [
    {
      action: 'kms:CreateAlias',
      resource: aliasArn(ctx.region, ctx.caller.principal.account, aliasName),
      context: { 'kms:CallerAccount': ctx.caller.principal.account },
    },
    onKeyNamed(ctx, 'kms:CreateAlias', text(input, 'TargetKeyId') ?? ''),
  ];
};

const putKeyPolicy: AuthzMapper<Input> = (input, ctx) => {
  const [check] = onKey('kms:PutKeyPolicy')(input, ctx);
  if (!check) return [];
  const bypass = { 'kms:BypassPolicyLockoutSafetyCheck': input.BypassPolicyLockoutSafetyCheck === true };
  return [{ ...check, context: { ...check.context, ...bypass } }];
};

export const kmsAuthz: Readonly<Record<string, AuthzMapper<Input>>> = {
  CreateKey: createKey,
  DescribeKey: onKey('kms:DescribeKey'),
  CreateAlias: createAlias,
  GetKeyPolicy: onKey('kms:GetKeyPolicy'),
  PutKeyPolicy: putKeyPolicy,
};
