/**
 * The request context as policies read it: context keys are case-insensitive ("IAM JSON policy
 * elements: Condition": condition key names are not case-sensitive), every value is held as a
 * list of strings (a single-valued key is a list of one), and the keys IAM derives from the
 * principal are filled in ("AWS global condition context keys": aws:PrincipalArn,
 * aws:PrincipalAccount, aws:PrincipalType, aws:username, aws:PrincipalTag/*,
 * aws:PrincipalIsAWSService, aws:PrincipalServiceName).
 */
import type { ContextKeys, ContextValue, Principal, PrincipalType } from './types';

/** Lower-cased key → values. */
export type RequestContext = ReadonlyMap<string, readonly string[]>;

const asStrings = (value: ContextValue): readonly string[] =>
  Array.isArray(value) ? value : [String(value as string | number | boolean)];

/** aws:PrincipalType's values: Account (root), User, FederatedUser, AssumedRole, Anonymous. */
const PRINCIPAL_TYPE: Record<PrincipalType, string | undefined> = {
  Root: 'Account',
  User: 'User',
  Role: 'AssumedRole',
  AssumedRole: 'AssumedRole',
  Service: undefined,
};

/** The keys IAM sets from the principal itself; the caller's context keys win over them. */
const principalKeys = (principal: Principal): Map<string, readonly string[]> => {
  const keys = new Map<string, readonly string[]>();
  if (principal.type === 'Service') {
    keys.set('aws:principalisawsservice', ['true']);
    keys.set('aws:principalservicename', [principal.arn]);
    return keys;
  }
  keys.set('aws:principalisawsservice', ['false']);
  keys.set('aws:principalaccount', [principal.account]);
  // For a role session aws:PrincipalArn is the role's ARN, not the session's ("AWS global condition context keys").
  keys.set('aws:principalarn', [
    principal.type === 'AssumedRole' ? (principal.roleArn ?? principal.arn) : principal.arn,
  ]);
  const type = PRINCIPAL_TYPE[principal.type];
  if (type !== undefined) keys.set('aws:principaltype', [type]);
  if (principal.type === 'User') keys.set('aws:username', [principal.arn.slice(principal.arn.lastIndexOf('/') + 1)]);
  for (const [tag, value] of Object.entries(principal.tags ?? {}))
    keys.set(`aws:principaltag/${tag.toLowerCase()}`, [value]);
  return keys;
};

export const buildContext = (principal: Principal, context: ContextKeys | undefined): RequestContext => {
  const keys = principalKeys(principal);
  for (const [key, value] of Object.entries(context ?? {})) keys.set(key.toLowerCase(), asStrings(value));
  return keys;
};
