/**
 * The Principal and NotPrincipal elements of resource-based policies (role trust policies
 * included): "AWS JSON policy elements: Principal" and "AWS JSON policy elements: NotPrincipal".
 *
 * - `"*"` and `{"AWS": "*"}` name everyone.
 * - An account (`123456789012` or `arn:aws:iam::123456789012:root`) names every principal of that
 *   account, which then still needs its own identity policies' permission ("the account
 *   delegates"), as far as this evaluator models it (see evaluate.ts).
 * - A user ARN, an assumed-role session ARN or a service name names that principal directly; a role
 *   ARN names the role's sessions. How a match was made matters within one account: only a session
 *   or user named directly escapes an implicit deny in a permissions boundary or session policy.
 * - Principal ARNs are compared exactly: IAM accepts no wildcard in them except a lone `*`.
 * - `NotPrincipal` exempts a principal only if every identity it acts as is listed: for a role
 *   session the session ARN, the role ARN and the account (the NotPrincipal page's example lists all
 *   three, and says the account must be listed too). With Deny it denies any IAM principal that has a permissions
 *   boundary, whatever it lists ("Permissions boundaries for IAM entities", Important).
 * - `Federated` and `CanonicalUser` principals are not modelled: they match nothing.
 */
import { MalformedPolicyDocumentError } from './conditions';
import type { Principal, PrincipalElement } from './types';

/** How a statement's principal matched: `direct` (this user, session or service), `role`, `account`, or `any`. */
export type PrincipalMatch = 'direct' | 'role' | 'account' | 'any';

interface PrincipalSet {
  readonly everyone: boolean;
  readonly aws: ReadonlySet<string>;
  readonly accounts: ReadonlySet<string>;
  readonly services: ReadonlySet<string>;
}

const ACCOUNT_ROOT = /^arn:aws[\w-]*:iam::(\d{12}):root$/;
const KINDS = new Set(['AWS', 'Service', 'Federated', 'CanonicalUser']);

const compileSet = (element: PrincipalElement): PrincipalSet => {
  if (element === '*') return { everyone: true, aws: new Set(), accounts: new Set(), services: new Set() };
  if (typeof element !== 'object' || element === null)
    throw new MalformedPolicyDocumentError('Invalid principal in policy');
  const aws = new Set<string>();
  const accounts = new Set<string>();
  const services = new Set<string>();
  let everyone = false;
  for (const [kind, raw] of Object.entries(element)) {
    if (!KINDS.has(kind)) throw new MalformedPolicyDocumentError(`Invalid principal in policy: ${kind}`);
    for (const value of Array.isArray(raw) ? raw : [raw as string]) {
      if (kind === 'AWS') {
        if (value === '*') everyone = true;
        else if (/^\d{12}$/.test(value)) accounts.add(value);
        else {
          const root = ACCOUNT_ROOT.exec(value);
          if (root?.[1] !== undefined) accounts.add(root[1]);
          else aws.add(value);
        }
      } else if (kind === 'Service') services.add(value);
    }
  }
  return { everyone, aws, accounts, services };
};

const matchSet = (set: PrincipalSet, principal: Principal): PrincipalMatch | undefined => {
  if (principal.type === 'Service')
    return set.services.has(principal.arn) ? 'direct' : set.everyone ? 'any' : undefined;
  if (principal.type !== 'Role' && set.aws.has(principal.arn)) return 'direct';
  if (principal.type === 'Role' && set.aws.has(principal.arn)) return 'role';
  if (principal.roleArn !== undefined && set.aws.has(principal.roleArn)) return 'role';
  if (set.accounts.has(principal.account)) return 'account';
  return set.everyone ? 'any' : undefined;
};

/** Whether NotPrincipal lists every identity the principal acts as. */
const exempted = (set: PrincipalSet, principal: Principal): boolean => {
  if (set.everyone) return true;
  if (principal.type === 'Service') return set.services.has(principal.arn);
  const accountListed = set.accounts.has(principal.account);
  if (principal.type === 'Root') return accountListed;
  const roleListed =
    principal.type !== 'AssumedRole' || (principal.roleArn !== undefined && set.aws.has(principal.roleArn));
  return accountListed && roleListed && set.aws.has(principal.arn);
};

export interface PrincipalFacts {
  /** Whether the principal has a permissions boundary (NotPrincipal with Deny then always applies). */
  readonly hasBoundary: boolean;
}

export type PrincipalMatcher = (principal: Principal, facts: PrincipalFacts) => PrincipalMatch | undefined;

export const compilePrincipal = (
  principal: PrincipalElement | undefined,
  notPrincipal: PrincipalElement | undefined,
  effect: 'Allow' | 'Deny',
): PrincipalMatcher | undefined => {
  if (principal !== undefined) {
    const set = compileSet(principal);
    return (who) => matchSet(set, who);
  }
  if (notPrincipal !== undefined) {
    const set = compileSet(notPrincipal);
    return (who, facts) => {
      if (effect === 'Deny' && facts.hasBoundary && who.type !== 'Service') return 'any';
      return exempted(set, who) ? undefined : 'any';
    };
  }
  return undefined;
};
