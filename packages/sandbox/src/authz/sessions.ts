/**
 * Role sessions that services hold while they work for you: Lambda runs a function as its execution
 * role, Step Functions a state machine as its role, SSM Automation as `AutomationAssumeRole`,
 * EventBridge Scheduler a target as the schedule's `RoleArn`, EventBridge a target as the rule
 * target's `RoleArn`. Each is an `sts:AssumeRole` by the service principal, allowed only when the
 * role's trust policy allows that service with the context keys the service sets (for example
 * Scheduler's `aws:SourceArn` = the schedule group's ARN: EventBridge Scheduler User Guide,
 * "Confused deputy prevention").
 *
 * - The trust policy is evaluated on every request (a trust policy changed in IAM counts at once),
 *   but one session is kept per role, service and session name, so a warm Lambda worker or a
 *   schedule that fires every minute does not fill `sts.sessions`.
 * - Session names are what STS accepts (`[\w+=,.@-]{2,64}`): other characters become `-`.
 * - A role in an account where the sandbox holds no IAM role at all (a sandbox whose tests never
 *   provision IAM) is not assumed: the service acts as the sandbox administrator, as it did before
 *   IAM was enforced, and the refusal AWS would make is recorded (not enforced) for the report.
 *   Once any role of the account exists, a missing role cannot be assumed, as on AWS.
 */

import type { ContextKeys } from '../iam/types';
import type { ServiceContext } from '../service';
import type { RoleRecord } from '../services/iam/model';
import { IamTable } from '../services/iam/model';
import type { Store } from '../store';
import type { AuthzCheck } from './authorizer';
import {
  type Caller,
  type Credentials,
  callerOf,
  issueSession,
  parseRoleArn,
  type SessionRecord,
  StsTable,
  servicePrincipal,
  trustCheck,
} from './identity';

/** A role a service could not assume, with IAM's reason. */
export class RoleTrustError extends Error {
  constructor(
    readonly roleArn: string,
    readonly service: string,
    readonly reason: string,
  ) {
    super(`${service} cannot assume the role ${roleArn}: ${reason}`);
    this.name = 'RoleTrustError';
  }
}

export interface ServiceSessionRequest {
  readonly roleArn: string;
  /** The service principal, e.g. `lambda.amazonaws.com`. */
  readonly service: string;
  readonly sessionName: string;
  /** The keys the service sets on AssumeRole (`aws:SourceArn`, `aws:SourceAccount`). */
  readonly context?: ContextKeys;
}

/** Credentials with no session behind them: the sandbox administrator (`authz/identity.ts`). */
export const ADMINISTRATOR_CREDENTIALS: Credentials = { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' };

/** A session name STS accepts: characters outside `[\w+=,.@-]` become `-`, 2 to 64 characters. */
export const sessionName = (name: string): string => {
  const cleaned = name.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
  return cleaned.length >= 2 ? cleaned : cleaned.padEnd(2, '-');
};

const holdsRoles = (store: Store, account: string): boolean =>
  [...store.table<RoleRecord>(IamTable.Roles).values()].some((role) => role.account === account);

/** Sessions already issued to a service, by role, service and session name (per store). */
const issued = new WeakMap<Store, Map<string, string>>();

const cachedSession = (store: Store, key: string): SessionRecord | undefined => {
  const accessKeyId = issued.get(store)?.get(key);
  return accessKeyId === undefined ? undefined : store.get<SessionRecord>(StsTable.Sessions, accessKeyId);
};

const remember = (store: Store, key: string, accessKeyId: string): void => {
  let sessions = issued.get(store);
  if (!sessions) {
    sessions = new Map();
    issued.set(store, sessions);
  }
  sessions.set(key, accessKeyId);
};

const credentialsOf = (session: SessionRecord): Credentials => ({
  accessKeyId: session.accessKeyId,
  secretAccessKey: session.secretAccessKey,
  sessionToken: session.sessionToken,
});

/**
 * Assumes `roleArn` as `service` and returns the session's credentials; throws `RoleTrustError`
 * when the trust policy does not allow it (whether or not enforcement is on: with it off the
 * refusal is recorded and the session is issued anyway). See the module comment for a role in an
 * account without IAM.
 */
export const assumeAsService = (ctx: ServiceContext, request: ServiceSessionRequest): Credentials => {
  const ref = parseRoleArn(request.roleArn);
  if (!ref) throw new RoleTrustError(request.roleArn, request.service, 'it is not a role ARN');
  const principal = servicePrincipal(request.service, ref.account);
  const { evaluation, role } = trustCheck(ctx.store, ctx.account, ref, principal, { ...request.context });
  const refuse = (enforced: boolean): void =>
    ctx.authorizer.usage.denied(request.roleArn, {
      action: 'sts:AssumeRole',
      resource: request.roleArn,
      reason: `${request.service}: ${evaluation.reason}`,
      atMs: ctx.clock.nowMs(),
      enforced,
    });
  if (!role && evaluation.decision !== 'Allow' && !holdsRoles(ctx.store, ref.account)) {
    refuse(false);
    return ADMINISTRATOR_CREDENTIALS;
  }
  if (evaluation.decision !== 'Allow') {
    refuse(ctx.authorizer.enabled);
    if (ctx.authorizer.enabled) throw new RoleTrustError(request.roleArn, request.service, evaluation.reason);
  }
  const name = sessionName(request.sessionName);
  const key = `${request.roleArn}\u0000${request.service}\u0000${name}`;
  const cached = cachedSession(ctx.store, key);
  if (cached) return credentialsOf(cached);
  const session = ctx.transact((tx) => issueSession(tx, ref, name, request.service, undefined));
  remember(ctx.store, key, session.accessKeyId);
  return credentialsOf(session);
};

/** Who `credentials` act as (a role session, or an administrator). */
export const callerWith = (ctx: ServiceContext, credentials: Credentials | undefined): Caller =>
  callerOf(ctx.store, ctx.account, credentials?.accessKeyId, ctx.clock.nowMs());

/**
 * Authorizes `checks` for whoever `credentials` act as, for work a service does without an API of
 * the sandbox to call (a message onto an SQS queue, which the sandbox only records); throws the
 * JSON services' `AccessDeniedException` when one is refused.
 */
export const authorizeAs = (
  ctx: ServiceContext,
  credentials: Credentials | undefined,
  checks: readonly AuthzCheck[],
): void => {
  const caller = callerWith(ctx, credentials);
  if (caller.kind === 'administrator') return;
  ctx.authorize(checks, caller);
};

/** The credentials of the session behind an access key id a request was signed with (none for administrators). */
export const credentialsOfKey = (store: Store, accessKeyId: string | undefined): Credentials | undefined => {
  if (accessKeyId === undefined) return undefined;
  if (/^\d{12}$/.test(accessKeyId)) return { accessKeyId, secretAccessKey: 'sandbox' };
  const session = store.get<SessionRecord>(StsTable.Sessions, accessKeyId);
  return session ? credentialsOf(session) : undefined;
};
