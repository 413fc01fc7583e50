/**
 * The shapes IAM policies and requests take, as the IAM User Guide describes them: "IAM JSON policy
 * element reference" for the document, "Policy evaluation logic" → "Processing the request context"
 * for the request (who, which action, on which resource, with which context keys).
 */

/** A JSON value in a policy: IAM accepts a single string or a list wherever a list is allowed. */
export type OneOrMany<T> = T | readonly T[];

/** `Principal` / `NotPrincipal`: `"*"` or a map of principal kinds (`AWS`, `Service`, `Federated`, `CanonicalUser`). */
export type PrincipalElement = '*' | Readonly<Record<string, OneOrMany<string>>>;

/** `Condition`: operator → context key → value(s). Numbers and booleans are compared as IAM reads them, as text. */
export type ConditionBlock = Readonly<Record<string, Readonly<Record<string, OneOrMany<string | number | boolean>>>>>;

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: OneOrMany<string>;
  readonly NotAction?: OneOrMany<string>;
  readonly Resource?: OneOrMany<string>;
  readonly NotResource?: OneOrMany<string>;
  readonly Principal?: PrincipalElement;
  readonly NotPrincipal?: PrincipalElement;
  readonly Condition?: ConditionBlock;
}

export interface PolicyDocument {
  /** `2012-10-17` enables policy variables; with `2008-10-17` (or none) `${…}` is literal text ("IAM JSON policy elements: Version"). */
  readonly Version?: string;
  readonly Id?: string;
  readonly Statement: OneOrMany<PolicyStatement>;
}

/**
 * Who makes the request. `Root` is an account's root user; `User` an IAM user; `AssumedRole` a role
 * session (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`, with `roleArn` the role's IAM ARN, path
 * included); `Role` a role named without a session; `Service` an AWS service principal, its `arn`
 * the service name (`scheduler.amazonaws.com`) and `account` the account it acts for.
 */
export type PrincipalType = 'Root' | 'User' | 'Role' | 'AssumedRole' | 'Service';

export interface Principal {
  readonly type: PrincipalType;
  readonly arn: string;
  readonly account: string;
  readonly roleArn?: string;
  /** The principal's tags, readable as `aws:PrincipalTag/KEY` in conditions and policy variables. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** A context key's value. Lists are multivalued keys (`aws:TagKeys`); the rest are single-valued. */
export type ContextValue = string | readonly string[] | boolean | number;
export type ContextKeys = Readonly<Record<string, ContextValue>>;

export interface Request {
  readonly principal: Principal;
  /** `service:Action`, matched case-insensitively. */
  readonly action: string;
  /** The resource's ARN, or `*` for actions without resource-level permissions. */
  readonly resource: string;
  /** Context keys the caller knows (`aws:SourceArn`, `aws:SourceAccount`, `aws:CurrentTime`, …); keys are case-insensitive. */
  readonly context?: ContextKeys;
}

export type Decision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';

export type PolicyKind = 'identity' | 'resource' | 'boundary' | 'session';

/** One statement that took part in the decision. */
export interface MatchedStatement {
  readonly policy: string;
  readonly kind: PolicyKind;
  readonly index: number;
  readonly sid?: string;
  readonly effect: 'Allow' | 'Deny';
}

export interface Evaluation {
  readonly decision: Decision;
  /** The statements that decided: every matching Deny for an explicit deny, the Allows that granted otherwise. */
  readonly matched: readonly MatchedStatement[];
  readonly reason: string;
}
