/**
 * What EC2 does with KMS when it creates encrypted EBS volumes and snapshots under a customer
 * managed key (RunInstances, CreateImage, CopyImage): it calls KMS on the caller's behalf, so the
 * caller must be allowed to use the key through EC2.
 *
 * - The actions, on the key: `kms:CreateGrant`, `kms:Decrypt`, `kms:DescribeKey`,
 *   `kms:GenerateDataKeyWithoutPlaintext` for a key that encrypts what is created, and
 *   `kms:ReEncryptFrom` on a source snapshot's key / `kms:ReEncryptTo` on the new key when the data
 *   moves from one key to another (EBS User Guide, "Requirements for Amazon EBS encryption",
 *   "Permissions for users": CreateGrant, Decrypt, DescribeKey, GenerateDataKeyWithoutPlainText,
 *   ReEncrypt).
 * - The context EC2's calls carry: `kms:ViaService` = `ec2.REGION.amazonaws.com`,
 *   `kms:CallerAccount`, `kms:ResourceAliases` (the key's aliases) and, for CreateGrant,
 *   `kms:GrantIsForAWSResource` = true (KMS Developer Guide, "AWS KMS condition keys"; the EBS page's
 *   tip recommends that condition on CreateGrant). The key policy is the resource policy and must
 *   itself allow (`kms/authz.ts`).
 * - A refusal does not fail the request: EC2 checks the key asynchronously ("if you specify an
 *   identifier that is not valid, the action can appear to complete, but eventually fails", EC2 API
 *   Reference, CopyImage, "KmsKeyId"). An instance goes from pending to terminated with the state
 *   reason `Client.InternalError: Client error on launch` when the caller may not use the key (AWS
 *   Knowledge Center, "Why does my EC2 instance with an encrypted volume stop immediately with the
 *   error 'Client error on launch'?", encrypted-volumes-stops-immediately, and "kms-iam-ec2-permission"),
 *   or `Client.InvalidKMSKey.InvalidState` when the key does not exist; a new image ends `failed`
 *   with the same reason.
 * - The AWS managed key `alias/aws/ebs` (and the sandbox's stand-in for it) is not checked: its key
 *   policy admits every principal of the account through EC2. Nor is a key in an account and region
 *   where the sandbox holds no KMS key (`kms/model.ts`, `modelsKms`).
 */
import { AccessDeniedError, type AuthzCheck } from '../../authz/authorizer';
import type { ContextKeys } from '../../iam/types';
import type { ServiceContext } from '../../service';
import { keyCheck } from '../kms/authz';
import { isAwsManagedEbsKey, type KeyRecord, modelsKms, resolveKey } from '../kms/model';

/** The sandbox's stand-in for the account's AWS managed EBS key, where an image copy needs a key ARN. */
export const defaultEbsKeyArn = (ctx: ServiceContext): string =>
  `arn:aws:kms:${ctx.region}:${ctx.account}:key/00000000-0000-4000-8000-0000000ebs00`;

export interface StateReason {
  readonly code: string;
  readonly message: string;
}

export const KEY_REFUSED: StateReason = {
  code: 'Client.InternalError',
  message: 'Client.InternalError: Client error on launch',
};

export const KEY_NOT_FOUND: StateReason = {
  code: 'Client.InvalidKMSKey.InvalidState',
  message: 'Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state',
};

/** One use of keys: data encrypted under `from` (if at all) becomes data encrypted under `to`. */
export interface KeyUse {
  readonly from?: string | undefined;
  readonly to: string;
}

type Resolved =
  | { readonly kind: 'customer'; readonly key: KeyRecord }
  | { readonly kind: 'missing' }
  /** AWS managed, or in an account and region whose KMS the sandbox does not model. */
  | { readonly kind: 'unchecked' };

const resolve = (ctx: ServiceContext, keyId: string): Resolved => {
  if (isAwsManagedEbsKey(keyId) || keyId === defaultEbsKeyArn(ctx)) return { kind: 'unchecked' };
  const account = ctx.caller.principal.account;
  const found = resolveKey(ctx.store, keyId, account, ctx.region);
  if (found.kind === 'found') return { kind: 'customer', key: found.key };
  const [, , , region = ctx.region, owner = account] = found.arn.split(':');
  return modelsKms(ctx.store, owner, region) ? { kind: 'missing' } : { kind: 'unchecked' };
};

const ENCRYPT_ACTIONS = ['kms:DescribeKey', 'kms:CreateGrant', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:Decrypt'];

export interface KeyDecision {
  /** Why what is created fails, when it does. */
  readonly failure?: StateReason;
  /** The key ARN for each key id that named a customer managed key (EC2 records and shows ARNs). */
  readonly arns: ReadonlyMap<string, string>;
}

/**
 * Authorizes, for the caller, the KMS calls EC2 makes for `uses`, recording them like any other
 * authorization (with enforcement off a refusal is recorded, not acted on). Never throws a denial.
 */
export const useKeys = (ctx: ServiceContext, uses: readonly KeyUse[]): KeyDecision => {
  const arns = new Map<string, string>();
  const checks: AuthzCheck[] = [];
  let missing = false;
  const via: ContextKeys = { 'kms:ViaService': `ec2.${ctx.region}.amazonaws.com` };
  const on = (key: KeyRecord, actions: readonly string[]) => {
    for (const action of actions) {
      const extra = action === 'kms:CreateGrant' ? { ...via, 'kms:GrantIsForAWSResource': true } : via;
      checks.push(keyCheck(ctx, action, key, extra));
    }
  };
  for (const use of uses) {
    const to = resolve(ctx, use.to);
    const from = use.from === undefined ? undefined : resolve(ctx, use.from);
    if (to.kind === 'missing' || from?.kind === 'missing') missing = true;
    if (to.kind === 'customer') arns.set(use.to, to.key.arn);
    const sameKey = from?.kind === 'customer' && to.kind === 'customer' && from.key.arn === to.key.arn;
    if (to.kind === 'customer') {
      on(to.key, [...ENCRYPT_ACTIONS, ...(use.from !== undefined && !sameKey ? ['kms:ReEncryptTo'] : [])]);
    }
    if (from?.kind === 'customer' && !sameKey) on(from.key, ['kms:DescribeKey', 'kms:ReEncryptFrom']);
  }
  if (missing) return { failure: KEY_NOT_FOUND, arns };
  const unique = [...new Map(checks.map((check) => [`${check.action}|${check.resource}`, check])).values()];
  try {
    ctx.authorize(unique);
  } catch (error) {
    if (error instanceof AccessDeniedError) return { failure: KEY_REFUSED, arns };
    throw error;
  }
  return { arns };
};
