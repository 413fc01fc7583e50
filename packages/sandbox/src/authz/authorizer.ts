/**
 * The authorization every request passes before its action runs, as AWS applies it: the caller's
 * identity-based policies (and boundary), the resource's policy where it has one, evaluated for
 * each resource the action authorizes with the context keys the request sets (IAM User Guide,
 * "Policy evaluation logic"). A denial answers in the service's own shape:
 *
 * - EC2: `UnauthorizedOperation`, "You are not authorized to perform this operation." with an
 *   encoded authorization message that `sts:DecodeAuthorizationMessage` decodes (EC2 API
 *   Reference, "Error codes"; STS API Reference, DecodeAuthorizationMessage).
 * - Query services (IAM, STS, Auto Scaling): `AccessDenied`; JSON and REST-JSON services:
 *   `AccessDeniedException`; both with "User: ARN is not authorized to perform: ACTION on
 *   resource: RESOURCE because no identity-based policy allows the ACTION action" (or "with an
 *   explicit deny in …"), the wording of the IAM User Guide, "Troubleshoot access denied error
 *   messages".
 *
 * Administrators (credentials with no session) pass without evaluation, as before. With
 * enforcement off every request passes, and denials that would have happened are still recorded.
 */
import { AwsError } from '../errors';
import { evaluate, type PolicyInput } from '../iam';
import type { ContextKeys, Evaluation, Principal } from '../iam/types';
import type { Store } from '../store';
import type { IamCatalog } from './catalog';
import { type Caller, emulatesAccount, parseRoleArn, type RolePolicies, roleOf, rolePolicies } from './identity';
import { Usage } from './usage';

/** One authorization AWS makes for a request: an action on one resource, with its context. */
export interface AuthzCheck {
  /** `service:Action` as IAM names it, e.g. `ec2:RunInstances`, `lambda:InvokeFunction`. */
  readonly action: string;
  /** The resource's ARN, or `*` for actions without resource-level permissions. */
  readonly resource: string;
  readonly context?: ContextKeys;
  /** The policy attached to the resource (Lambda permissions, a bus policy, a queue policy). */
  readonly resourcePolicy?: PolicyInput;
  /** The resource's owner, when its ARN does not say (EC2 images: `arn:aws:ec2:REGION::image/ID`). */
  readonly resourceAccount?: string;
  /**
   * The resource policy must itself allow, as a KMS key policy must: "Unless the key policy explicitly
   * allows it, you cannot use IAM policies to allow access to a KMS key" (KMS Developer Guide, "Key
   * policies in AWS KMS"). A statement naming the account delegates to the identity policies and counts.
   */
  readonly resourcePolicyMustAllow?: boolean;
}

/**
 * `iam:PassRole` on a role a request hands to a service, with the `iam:PassedToService` key AWS sets
 * (IAM User Guide, "Grant a user permissions to pass a role to an AWS service").
 */
export const passRole = (roleArn: string, service: string): AuthzCheck => ({
  action: 'iam:PassRole',
  resource: roleArn,
  context: { 'iam:PassedToService': service },
});

/** How a service answers a denial. */
export interface DenialStyle {
  readonly code: string;
  readonly status: number;
  /** EC2 appends an encoded authorization message. */
  readonly encoded?: boolean;
}

export const DENIAL_STYLES = {
  ec2: { code: 'UnauthorizedOperation', status: 403, encoded: true },
  awsquery: { code: 'AccessDenied', status: 403 },
  json: { code: 'AccessDeniedException', status: 400 },
  'rest-json': { code: 'AccessDeniedException', status: 403 },
} as const satisfies Record<string, DenialStyle>;

export interface Decision {
  readonly check: AuthzCheck;
  readonly principal: Principal;
  readonly evaluation: Evaluation;
  /** Refused because a resource policy that must itself allow (`resourcePolicyMustAllow`) did not. */
  readonly resourcePolicyRefused?: boolean;
}

/** What sts:DecodeAuthorizationMessage returns for an EC2 denial (STS API Reference). */
export interface AuthorizationMessage {
  readonly allowed: boolean;
  readonly explicitDeny: boolean;
  readonly matchedStatements: { readonly items: readonly unknown[] };
  readonly failures: { readonly items: readonly unknown[] };
  readonly context: {
    readonly principal: { readonly id?: string; readonly arn: string };
    readonly action: string;
    readonly resource: string;
    readonly conditions: { readonly items: readonly { key: string; values: { items: { value: string }[] } }[] };
  };
}

const ENCODED_PREFIX = 'sbx1.';

export const encodeAuthorizationMessage = (message: AuthorizationMessage): string =>
  `${ENCODED_PREFIX}${Buffer.from(JSON.stringify(message)).toString('base64url')}`;

/** The message behind an encoded one, or undefined when the text was not encoded by this sandbox. */
export const decodeAuthorizationMessage = (encoded: string): AuthorizationMessage | undefined => {
  if (!encoded.startsWith(ENCODED_PREFIX)) return undefined;
  try {
    return JSON.parse(Buffer.from(encoded.slice(ENCODED_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
};

const accountOfArn = (arn: string): string | undefined => {
  const account = arn.split(':')[4];
  return account && /^\d{12}$/.test(account) ? account : undefined;
};

export class AccessDeniedError extends AwsError {
  constructor(
    readonly decision: Decision,
    style: DenialStyle,
  ) {
    const { check, principal, evaluation } = decision;
    const why =
      evaluation.decision === 'ExplicitDeny'
        ? `with an explicit deny in ${
            evaluation.matched[0]?.kind === 'resource' ? 'a resource-based policy' : 'an identity-based policy'
          }`
        : (check.resourcePolicy !== undefined && principal.type === 'Service') || decision.resourcePolicyRefused
          ? `because no resource-based policy allows the ${check.action} action`
          : `because no identity-based policy allows the ${check.action} action`;
    const plain = `User: ${principal.arn} is not authorized to perform: ${check.action} on resource: ${check.resource} ${why}`;
    const message = style.encoded
      ? `You are not authorized to perform this operation. ${plain}. Encoded authorization failure message: ${encodeAuthorizationMessage(
          {
            allowed: false,
            explicitDeny: evaluation.decision === 'ExplicitDeny',
            matchedStatements: { items: evaluation.matched },
            failures: { items: [] },
            context: {
              principal: { arn: principal.arn },
              action: check.action,
              resource: check.resource,
              conditions: {
                items: Object.entries(check.context ?? {}).map(([key, value]) => ({
                  key,
                  values: { items: (Array.isArray(value) ? value : [value]).map((v) => ({ value: String(v) })) },
                })),
              },
            },
          },
        )}`
      : plain;
    super(style.code, message, style.status);
  }
}

export class Authorizer {
  readonly usage = new Usage();

  constructor(
    readonly enabled: boolean,
    readonly catalog: IamCatalog,
  ) {}

  /**
   * Records the required resource types (by the reference) that no check of an action names: a
   * mapper that authorizes less than AWS would. The report lists them; the tests expect none.
   */
  private recordGaps(checks: readonly AuthzCheck[]): void {
    const byAction = new Map<string, string[]>();
    for (const check of checks) byAction.set(check.action, [...(byAction.get(check.action) ?? []), check.resource]);
    for (const [action, resources] of byAction) {
      const missing = this.catalog.missingRequiredTypes(action, resources);
      if (missing.length > 0) this.usage.gap(action, missing);
    }
  }

  /** The decision for one check by `caller`; undefined for administrators (never evaluated). */
  decide(store: Store, home: string, caller: Caller, check: AuthzCheck): Decision | undefined {
    if (caller.kind === 'administrator') return undefined;
    const { principal, session } = caller;
    const ref = parseRoleArn(session.roleArn);
    const role = ref ? roleOf(store, ref) : undefined;
    let policies: RolePolicies;
    if (role) policies = rolePolicies(store, role);
    else if (ref && !emulatesAccount(store, ref.account, home)) return undefined;
    else policies = { identityPolicies: [], unknownManaged: [] };
    const resourceAccount = check.resourceAccount ?? accountOfArn(check.resource) ?? principal.account;
    const evaluation = evaluate({
      request: {
        principal,
        action: check.action,
        resource: check.resource,
        ...(check.context !== undefined ? { context: check.context } : {}),
      },
      identityPolicies: policies.identityPolicies,
      ...(check.resourcePolicy !== undefined ? { resourcePolicy: check.resourcePolicy } : {}),
      resourceAccount,
      ...(policies.permissionsBoundary !== undefined ? { permissionsBoundary: policies.permissionsBoundary } : {}),
    });
    const refused =
      check.resourcePolicyMustAllow === true &&
      evaluation.decision === 'Allow' &&
      !evaluation.matched.some((statement) => statement.kind === 'resource' && statement.effect === 'Allow');
    if (!refused) return { check, principal, evaluation };
    return {
      check,
      principal,
      evaluation: {
        decision: 'ImplicitDeny',
        matched: [],
        reason: `the resource-based policy of ${check.resource} does not allow ${check.action} (it must itself allow)`,
      },
      resourcePolicyRefused: true,
    };
  }

  /**
   * Authorizes each check for `caller`, recording what each role used and was refused. Throws the
   * service's denial for the first check that is not allowed (when enforcement is on).
   */
  authorize(
    store: Store,
    home: string,
    caller: Caller,
    checks: readonly AuthzCheck[],
    style: DenialStyle,
    nowMs: number,
  ): void {
    if (caller.kind === 'administrator') return;
    const roleArn = caller.session.roleArn;
    this.recordGaps(checks);
    for (const check of checks) {
      const decision = this.decide(store, home, caller, check);
      if (!decision) continue;
      if (decision.evaluation.decision === 'Allow') {
        this.usage.used(roleArn, check.action, check.resource);
        continue;
      }
      this.usage.denied(roleArn, {
        action: check.action,
        resource: check.resource,
        reason: decision.evaluation.reason,
        atMs: nowMs,
        enforced: this.enabled,
      });
      if (this.enabled) throw new AccessDeniedError(decision, style);
    }
  }
}
