/**
 * Which resources and condition keys each Secrets Manager action authorizes (Service Authorization
 * Reference, "Actions, resources, and condition keys for AWS Secrets Manager"). Actions not listed
 * are authorized as secretsmanager:Action on * (ListSecrets: no resource types).
 *
 * The resource is the secret's full ARN (`secret:NAME-XXXXXX`, with the random suffix Secrets
 * Manager adds) whichever way the request names it: a name or a partial ARN resolves to the stored
 * secret; one the sandbox does not hold is authorized on the ARN the request named (or the name's
 * partial ARN). A secret being created has no suffix yet: it is authorized on `NAME-??????`, which
 * the pattern the Secrets Manager User Guide recommends for policies (`NAME-??????`) matches. The
 * secret's tags are read as `secretsmanager:ResourceTag/KEY` and `aws:ResourceTag/KEY`.
 */
import type { AuthzCheck } from '../authz/authorizer';
import type { AuthzMapper, ServiceContext } from '../service';
import { SECRETS_TABLE } from './secrets-manager';

type Input = Record<string, unknown>;

interface StoredSecret extends Record<string, unknown> {
  readonly arn: string;
  readonly name: string;
  readonly tags: readonly { readonly Key: string; readonly Value: string }[];
}

const text = (input: Input, member: string): string | undefined => {
  const value = input[member];
  return typeof value === 'string' ? value : undefined;
};

const partialArn = (ctx: ServiceContext, name: string): string =>
  `arn:aws:secretsmanager:${ctx.region}:${ctx.account}:secret:${name}`;

/** The stored secret a name, full ARN or partial ARN (without the suffix) names. */
const findSecret = (ctx: ServiceContext, secretId: string): StoredSecret | undefined => {
  if (!secretId.startsWith('arn:')) return ctx.store.get<StoredSecret>(SECRETS_TABLE, secretId);
  for (const secret of ctx.store.table<StoredSecret>(SECRETS_TABLE).values()) {
    if (secret.arn === secretId || secret.arn.slice(0, -7) === secretId) return secret;
  }
  return undefined;
};

const secretCheck = (action: string, ctx: ServiceContext, secretId: string): AuthzCheck => {
  const secret = findSecret(ctx, secretId);
  if (!secret) {
    return { action, resource: secretId.startsWith('arn:') ? secretId : partialArn(ctx, secretId) };
  }
  const context: Record<string, string> = {};
  for (const { Key, Value } of secret.tags) {
    context[`secretsmanager:ResourceTag/${Key}`] = Value;
    context[`aws:ResourceTag/${Key}`] = Value;
  }
  return Object.keys(context).length > 0 ? { action, resource: secret.arn, context } : { action, resource: secret.arn };
};

const onSecret =
  (action: string): AuthzMapper<Input> =>
  (input, ctx) => [secretCheck(action, ctx, text(input, 'SecretId') ?? '')];

/** CreateSecret: the new secret's ARN (suffix unknown), with the request's tags. */
const createSecret: AuthzMapper<Input> = (input, ctx) => {
  const name = text(input, 'Name') ?? '';
  const existing = findSecret(ctx, name);
  const resource = existing?.arn ?? `${partialArn(ctx, name)}-??????`;
  const tags = (Array.isArray(input.Tags) ? (input.Tags as unknown[]) : []).filter(
    (tag): tag is Input => !!tag && typeof tag === 'object' && typeof (tag as Input).Key === 'string',
  );
  if (tags.length === 0) return [{ action: 'secretsmanager:CreateSecret', resource }];
  const context: Record<string, string | string[]> = { 'aws:TagKeys': tags.map((tag) => tag.Key as string) };
  for (const tag of tags) context[`aws:RequestTag/${tag.Key as string}`] = text(tag, 'Value') ?? '';
  return [{ action: 'secretsmanager:CreateSecret', resource, context }];
};

export const secretsManagerAuthz: Readonly<Record<string, AuthzMapper<Input>>> = {
  CreateSecret: createSecret,
  GetSecretValue: onSecret('secretsmanager:GetSecretValue'),
  PutSecretValue: onSecret('secretsmanager:PutSecretValue'),
  DescribeSecret: onSecret('secretsmanager:DescribeSecret'),
  DeleteSecret: onSecret('secretsmanager:DeleteSecret'),
  RestoreSecret: onSecret('secretsmanager:RestoreSecret'),
};
