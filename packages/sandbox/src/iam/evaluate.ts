/**
 * The decision AWS makes for one request, from the policies that apply to it. Sources, IAM User
 * Guide: "Policy evaluation logic", "How AWS enforcement code logic evaluates requests to allow or
 * deny access", "Policy evaluation for requests within a single account", "Cross-account policy
 * evaluation logic", "Permissions boundaries for IAM entities", "Session policies".
 *
 * In order:
 * 1. An explicit Deny in any policy that applies (identity, resource, boundary, session) decides:
 *    ExplicitDeny.
 * 2. A service principal has no identity policies: only the resource-based policy can allow it.
 * 3. The account's root user has full access to its own account's resources; elsewhere it needs
 *    the resource-based policy.
 * 4. Within one account an Allow from the identity policies or from the resource-based policy is
 *    enough ("If either the identity-based policy or the resource-based policy within the same
 *    account allows the request and the other doesn't, the request is still allowed"), with the
 *    limits the boundary and session policies set:
 *    - identity-policy allows count only where the permissions boundary (if any) and the session
 *      policies (if any) allow too: the effective permissions are the intersection;
 *    - a resource-based Allow that names the role session ARN or the IAM user ARN directly is not
 *      limited by an implicit deny in the identity policies, the boundary or the session policies;
 *    - a resource-based Allow that names the account delegates to the account's identity policies
 *      and grants nothing by itself ("AWS JSON policy elements: Principal", AWS account principals);
 *    - a resource-based Allow that names the role ARN or everyone is limited by an implicit deny
 *      in the boundary or the session policies (the single-account page's table: only a session
 *      or user ARN named directly escapes them).
 * 5. Across accounts both sides must allow: the identity policies (within boundary and session
 *    policies) in the principal's account and the resource-based policy in the resource's account.
 *
 * Not modelled: Organizations SCPs and RCPs, ACLs, VPC endpoint policies, the services whose
 * resource-based policy must itself allow (role trust policies: see `mayAssume`; KMS key policies),
 * federated and anonymous principals.
 */
import { buildContext, type RequestContext } from './context';
import { applicableStatements, type CompiledPolicy, compiled, type StatementHit } from './policy';
import type {
  ContextKeys,
  Evaluation,
  MatchedStatement,
  PolicyDocument,
  PolicyKind,
  Principal,
  Request,
} from './types';

export type PolicyInput = PolicyDocument | CompiledPolicy;

export interface EvaluateInput {
  readonly request: Request;
  /** The principal's identity-based policies (attached, inline, its groups'), all alike. */
  readonly identityPolicies: readonly PolicyInput[];
  /** The policy attached to the resource (bucket policy, Lambda permission, bus policy, role trust, …). */
  readonly resourcePolicy?: PolicyInput;
  /** The account that owns the resource. */
  readonly resourceAccount: string;
  readonly permissionsBoundary?: PolicyInput;
  /** Session policies passed to AssumeRole (inline and managed), together one limit. */
  readonly sessionPolicies?: readonly PolicyInput[];
}

interface Hit extends StatementHit {
  readonly kind: PolicyKind;
  readonly policy: string;
}

const collect = (
  hits: Hit[],
  kind: PolicyKind,
  policy: PolicyInput,
  fallbackName: string,
  request: Request,
  action: string,
  context: RequestContext,
  hasBoundary?: boolean,
): void => {
  const compiledPolicy = compiled(policy);
  const name = compiledPolicy.name ?? fallbackName;
  const facts = hasBoundary === undefined ? undefined : { hasBoundary };
  for (const hit of applicableStatements(compiledPolicy, request.principal, action, request.resource, context, facts))
    hits.push({ ...hit, kind, policy: name });
};

const describe = (hit: Hit): MatchedStatement => ({
  policy: hit.policy,
  kind: hit.kind,
  index: hit.statement.index,
  ...(hit.statement.sid !== undefined ? { sid: hit.statement.sid } : {}),
  effect: hit.statement.effect,
});

const result = (decision: Evaluation['decision'], hits: readonly Hit[], reason: string): Evaluation => ({
  decision,
  matched: hits.map(describe),
  reason,
});

const who = (principal: Principal): string => principal.arn;

export const evaluate = (input: EvaluateInput): Evaluation => {
  const { request, resourceAccount } = input;
  const { principal } = request;
  const action = request.action.toLowerCase();
  const context = buildContext(principal, request.context);
  const hasBoundary = input.permissionsBoundary !== undefined;

  const hits: Hit[] = [];
  input.identityPolicies.forEach((policy, i) => {
    collect(hits, 'identity', policy, `identity#${i}`, request, action, context);
  });
  if (input.resourcePolicy !== undefined)
    collect(hits, 'resource', input.resourcePolicy, 'resource', request, action, context, hasBoundary);
  if (input.permissionsBoundary !== undefined)
    collect(hits, 'boundary', input.permissionsBoundary, 'boundary', request, action, context);
  const sessionPolicies = input.sessionPolicies ?? [];
  sessionPolicies.forEach((policy, i) => {
    collect(hits, 'session', policy, `session#${i}`, request, action, context);
  });

  const denies = hits.filter((hit) => hit.statement.effect === 'Deny');
  if (denies.length > 0)
    return result(
      'ExplicitDeny',
      denies,
      `an explicit Deny in the ${denies[0]?.kind} policy applies to ${request.action}`,
    );

  const allows = (kind: PolicyKind) => hits.filter((hit) => hit.kind === kind);
  const resourceAllows = allows('resource');
  const target = `${request.action} on ${request.resource}`;

  if (principal.type === 'Service') {
    if (resourceAllows.length > 0)
      return result('Allow', resourceAllows, `the resource-based policy allows ${who(principal)} ${target}`);
    return result('ImplicitDeny', [], `no resource-based policy allows the service ${who(principal)} ${target}`);
  }

  const sameAccount = principal.account === resourceAccount;
  if (principal.type === 'Root') {
    // The resource policy's matching Allows are reported too: a trust policy must itself allow (mayAssume).
    if (sameAccount)
      return result('Allow', resourceAllows, `the root user of ${principal.account} has full access to its account`);
    if (resourceAllows.length > 0) return result('Allow', resourceAllows, `the resource-based policy allows ${target}`);
    return result('ImplicitDeny', [], `cross-account: no resource-based policy in ${resourceAccount} allows ${target}`);
  }

  const identityAllows = allows('identity');
  const boundaryAllows = allows('boundary');
  const sessionAllows = allows('session');
  const boundaryHolds = !hasBoundary || boundaryAllows.length > 0;
  const sessionHolds = sessionPolicies.length === 0 || sessionAllows.length > 0;
  const limits = [...boundaryAllows, ...sessionAllows];
  const limitReason = !boundaryHolds
    ? 'the permissions boundary does not allow it'
    : !sessionHolds
      ? 'no session policy allows it'
      : undefined;

  if (!sameAccount) {
    if (identityAllows.length === 0)
      return result(
        'ImplicitDeny',
        [],
        `cross-account: no identity-based policy of ${who(principal)} allows ${target}`,
      );
    if (limitReason !== undefined) return result('ImplicitDeny', [], `cross-account: ${limitReason}`);
    if (resourceAllows.length === 0)
      return result(
        'ImplicitDeny',
        [],
        `cross-account: no resource-based policy in ${resourceAccount} allows ${target}`,
      );
    return result('Allow', [...identityAllows, ...limits, ...resourceAllows], `both accounts allow ${target}`);
  }

  const direct = resourceAllows.filter((hit) => hit.principal === 'direct');
  // Naming the account delegates to its identity policies: such a statement grants nothing by itself.
  const granting = resourceAllows.filter((hit) => hit.principal !== 'account');
  if (direct.length > 0)
    return result('Allow', direct, `the resource-based policy names ${who(principal)} directly and allows ${target}`);
  if (limitReason !== undefined) return result('ImplicitDeny', [], `${limitReason}: ${target}`);
  if (identityAllows.length > 0 || granting.length > 0)
    return result(
      'Allow',
      [...identityAllows, ...(identityAllows.length > 0 ? resourceAllows : granting), ...limits],
      identityAllows.length > 0
        ? `an identity-based policy allows ${target}`
        : `the resource-based policy allows ${target}`,
    );
  return result('ImplicitDeny', [], `no policy allows ${who(principal)} ${target}`);
};

export interface AssumeInput {
  /** The role's trust policy (its AssumeRolePolicyDocument). */
  readonly trustPolicy: PolicyInput;
  /** Who assumes: a service (`{ type: 'Service', arn: 'scheduler.amazonaws.com', … }`) or an IAM principal. */
  readonly principal: Principal;
  /** The role being assumed; its account decides same- vs cross-account. Defaults to the principal's account. */
  readonly roleArn?: string;
  /** `sts:AssumeRole` unless told (`sts:TagSession`, `sts:AssumeRoleWithWebIdentity`, …). */
  readonly action?: string;
  /** Context keys the caller sets: `aws:SourceArn`, `aws:SourceAccount`, `sts:ExternalId`, … */
  readonly context?: ContextKeys;
  /** An IAM principal's own policies; ignored for services. */
  readonly identityPolicies?: readonly PolicyInput[];
  readonly permissionsBoundary?: PolicyInput;
  readonly sessionPolicies?: readonly PolicyInput[];
}

/**
 * Whether a principal may assume a role. The trust policy is a resource-based policy that must
 * itself allow: "IAM role trust policies and KMS key policies are exceptions to this logic, because
 * they must explicitly allow access for principals" (the identity policies alone never suffice).
 * Beyond that the request is evaluated like any other: a service principal needs only the trust
 * policy; an IAM principal of another account needs its identity policies to allow
 * `sts:AssumeRole` on the role too; one in the same account needs them unless the trust policy names
 * it directly.
 */
export const mayAssume = (input: AssumeInput): Evaluation => {
  const action = input.action ?? 'sts:AssumeRole';
  const roleArn = input.roleArn ?? '*';
  const roleAccount = roleArn.split(':')[4] || input.principal.account;
  const request: Request = {
    principal: input.principal,
    action,
    resource: roleArn,
    ...(input.context !== undefined ? { context: input.context } : {}),
  };
  const evaluation = evaluate({
    request,
    identityPolicies: input.principal.type === 'Service' ? [] : (input.identityPolicies ?? []),
    resourcePolicy: input.trustPolicy,
    resourceAccount: roleAccount,
    ...(input.permissionsBoundary !== undefined ? { permissionsBoundary: input.permissionsBoundary } : {}),
    ...(input.sessionPolicies !== undefined ? { sessionPolicies: input.sessionPolicies } : {}),
  });
  if (evaluation.decision !== 'Allow') return evaluation;
  if (!evaluation.matched.some((statement) => statement.kind === 'resource' && statement.effect === 'Allow'))
    return { decision: 'ImplicitDeny', matched: [], reason: `the trust policy of ${roleArn} does not allow ${action}` };
  return evaluation;
};
