/**
 * IAM's records in the sandbox store: roles (with their inline policies and the managed policies
 * attached to them), customer managed policies, and instance profiles. IAM is global: records are
 * keyed by account and name, never by region.
 */
import { createHash } from 'node:crypto';
import { AwsError } from '../../errors';
import { validationError } from '../../protocol/query';

export const IamTable = {
  Roles: 'iam.roles',
  Policies: 'iam.policies',
  InstanceProfiles: 'iam.instanceProfiles',
} as const;

export interface RoleRecord extends Record<string, unknown> {
  readonly account: string;
  readonly roleName: string;
  readonly roleId: string;
  readonly path: string;
  readonly arn: string;
  readonly createDate: string;
  /** The trust policy, as the JSON text it was given. */
  readonly assumeRolePolicyDocument: string;
  readonly description?: string;
  readonly maxSessionDuration: number;
  readonly permissionsBoundary?: string;
  readonly tags: readonly { readonly Key: string; readonly Value: string }[];
  /** Inline policies: name → JSON text. */
  readonly inlinePolicies: Readonly<Record<string, string>>;
  /** ARNs of the managed policies attached, in attachment order. */
  readonly attachedPolicies: readonly string[];
}

export interface PolicyRecord extends Record<string, unknown> {
  readonly account: string;
  readonly policyName: string;
  readonly policyId: string;
  readonly path: string;
  readonly arn: string;
  readonly description?: string;
  readonly createDate: string;
  /** One version (v1) is kept: CreatePolicyVersion is not emulated. */
  readonly document: string;
}

export interface InstanceProfileRecord extends Record<string, unknown> {
  readonly account: string;
  readonly instanceProfileName: string;
  readonly instanceProfileId: string;
  readonly path: string;
  readonly arn: string;
  readonly createDate: string;
  /** At most one role name (IAM's quota for instance profiles). */
  readonly roles: readonly string[];
}

/** Stable made-up ids: the same entity always has the same id (`AROA…` roles, `ANPA…` policies). */
export const iamId = (prefix: string, text: string): string =>
  `${prefix}${createHash('sha256').update(text).digest('hex').toUpperCase().slice(0, 17)}`;

export const roleKey = (account: string, roleName: string): string => `${account}:${roleName}`;
export const policyKey = (arn: string): string => arn;
export const profileKey = (account: string, name: string): string => `${account}:${name}`;

export const noSuchEntity = (message: string): AwsError => new AwsError('NoSuchEntity', message, 404);
export const alreadyExists = (message: string): AwsError => new AwsError('EntityAlreadyExists', message, 409);
export const deleteConflict = (message: string): AwsError => new AwsError('DeleteConflict', message, 409);
export const malformedPolicy = (message: string): AwsError => new AwsError('MalformedPolicyDocument', message);

/**
 * Paths start and end with '/' (IAM User Guide, "IAM identifiers": "Friendly names and paths").
 * Names: up to 64 characters of `[\w+=,.@-]` (roles, instance profiles), 128 for policies.
 */
export const checkPath = (path: string): string => {
  if (!/^\/(?:[\u0021-\u007E]+\/)?$/.test(path) || path.length > 512) {
    throw validationError(
      `The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.`,
    );
  }
  return path;
};

export const checkName = (kind: string, name: string, max: number): string => {
  if (!/^[\w+=,.@-]+$/.test(name) || name.length > max) {
    throw validationError(
      `1 validation error detected: Value '${name}' at '${kind}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length less than or equal to ${max}`,
    );
  }
  return name;
};

/** A policy document must be JSON with a Statement (IAM's grammar is checked by the evaluator). */
export const checkPolicyDocument = (text: string): string => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformedPolicy('This policy contains invalid Json');
  }
  const statement = (parsed as { Statement?: unknown } | null)?.Statement;
  if (typeof parsed !== 'object' || parsed === null || statement === undefined) {
    throw malformedPolicy('Syntax errors in policy.');
  }
  return text;
};

/**
 * Documents come back URL-encoded (RFC 3986), as IAM returns them ("The policy document returned
 * in this structure is URL-encoded compliant with RFC 3986", IAM API Reference, GetRolePolicy).
 */
export const encodedDocument = (text: string): string => encodeURIComponent(text);
