/**
 * The KMS records the sandbox keeps (customer managed keys and their aliases), shared by the KMS
 * actions and by the services that encrypt with a key (EC2's EBS volumes and snapshots).
 *
 * - A key is stored under its ARN, `arn:aws:kms:REGION:ACCOUNT:key/ID`; an alias under its alias
 *   ARN, `arn:aws:kms:REGION:ACCOUNT:alias/NAME`. Keys and aliases are regional.
 * - A key id given to EC2 or KMS may be a key id, a key ARN, an alias name (`alias/NAME`) or an alias
 *   ARN (KMS API Reference, DescribeKey, "KeyId"); `resolveKey` resolves all four in the caller's
 *   account and the request's region.
 * - `alias/aws/ebs`, the AWS managed key for EBS, is not a customer managed key: its key policy
 *   admits every principal of the account that uses it through EC2 (EBS User Guide, "Amazon EBS
 *   encryption"), so nothing here checks it.
 */
import type { PolicyDocument } from '../../iam';
import type { Store } from '../../store';

export const KmsTable = {
  Keys: 'kms.keys',
  Aliases: 'kms.aliases',
} as const;

export interface KeyRecord extends Record<string, unknown> {
  readonly keyId: string;
  readonly arn: string;
  readonly account: string;
  readonly region: string;
  readonly description: string;
  readonly keyUsage: string;
  readonly keySpec: string;
  readonly creationDate: string;
  /** The key policy as JSON text (KMS returns it as stored). */
  readonly policy: string;
  readonly tags: readonly { readonly TagKey: string; readonly TagValue: string }[];
}

export interface AliasRecord extends Record<string, unknown> {
  readonly aliasName: string;
  readonly aliasArn: string;
  readonly targetKeyId: string;
  readonly creationDate: string;
  readonly lastUpdatedDate: string;
}

export const keyArn = (region: string, account: string, keyId: string): string =>
  `arn:aws:kms:${region}:${account}:key/${keyId}`;

export const aliasArn = (region: string, account: string, aliasName: string): string =>
  `arn:aws:kms:${region}:${account}:${aliasName}`;

/**
 * The default key policy of a key created through the API without one: the account may use IAM
 * policies to allow every KMS operation on the key (KMS Developer Guide, "Default key policy",
 * "Allows access to the AWS account and enables IAM policies").
 */
export const defaultKeyPolicy = (account: string): PolicyDocument => ({
  Version: '2012-10-17',
  Id: 'key-default-1',
  Statement: [
    {
      Sid: 'Enable IAM User Permissions',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${account}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ],
});

const AWS_MANAGED_EBS = /(?:^|:)alias\/aws\/ebs$/;

/** Whether a key id names the AWS managed key for EBS (`alias/aws/ebs`, by name or alias ARN). */
export const isAwsManagedEbsKey = (keyId: string): boolean => AWS_MANAGED_EBS.test(keyId);

const KMS_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key\/.+|alias\/.+)$/;

export type KeyLookup =
  | { readonly kind: 'found'; readonly key: KeyRecord }
  /** The identifier names nothing the sandbox holds; `arn` is what it named, as an ARN. */
  | { readonly kind: 'missing'; readonly arn: string; readonly alias: boolean };

/** The key a key id, key ARN, alias name or alias ARN names, in `account` and `region` unless an ARN says. */
export const resolveKey = (store: Store, keyId: string, account: string, region: string): KeyLookup => {
  const match = KMS_ARN.exec(keyId);
  const [where, name] = match
    ? [{ region: match[1] as string, account: match[2] as string }, match[3] as string]
    : [{ region, account }, keyId.startsWith('alias/') ? keyId : `key/${keyId}`];
  if (name.startsWith('alias/')) {
    const arn = aliasArn(where.region, where.account, name);
    const alias = store.get<AliasRecord>(KmsTable.Aliases, arn);
    const key = alias && store.get<KeyRecord>(KmsTable.Keys, keyArn(where.region, where.account, alias.targetKeyId));
    return key ? { kind: 'found', key } : { kind: 'missing', arn, alias: true };
  }
  const arn = keyArn(where.region, where.account, name.slice('key/'.length));
  const key = store.get<KeyRecord>(KmsTable.Keys, arn);
  return key ? { kind: 'found', key } : { kind: 'missing', arn, alias: false };
};

/** The alias names (`alias/NAME`) that point at a key, sorted: `kms:ResourceAliases`. */
export const aliasesOf = (store: Store, key: KeyRecord): string[] => {
  const prefix = `arn:aws:kms:${key.region}:${key.account}:alias/`;
  const names: string[] = [];
  for (const [arn, alias] of store.table<AliasRecord>(KmsTable.Aliases)) {
    if (arn.startsWith(prefix) && alias.targetKeyId === key.keyId) names.push(alias.aliasName);
  }
  return names.sort();
};

/**
 * Whether the sandbox models KMS for an account and region: it does once any key was created
 * there. Elsewhere a key named in an EC2 request is taken as it is, unchecked (configurations and
 * tests written before the sandbox had KMS name keys they never created), as IAM of an account
 * the sandbox holds no role of is not enforced.
 */
export const modelsKms = (store: Store, account: string, region: string): boolean => {
  const prefix = `arn:aws:kms:${region}:${account}:key/`;
  for (const arn of store.table<KeyRecord>(KmsTable.Keys).keys()) if (arn.startsWith(prefix)) return true;
  return false;
};
