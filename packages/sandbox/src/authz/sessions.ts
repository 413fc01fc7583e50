/**
 * Role sessions that services hold while they work for you: Lambda runs a function as its execution
 * role, Step Functions a state machine as its role, SSM Automation as `AutomationAssumeRole`,
 * EventBridge Scheduler a target as the schedule's `RoleArn`, EventBridge a target as the rule
 * target's `RoleArn`. Each is an `sts:AssumeRole` by the service principal, allowed only when the
 * role's trust policy allows that service with the context keys the service sets (for example
 * Scheduler's `aws:SourceArn` = the schedule group's ARN: EventBridge Scheduler User Guide,
 * "Confused deputy prevention").
 */
import type { ContextKeys } from '../iam/types';
import type { ServiceContext } from '../service';
import { type Credentials, issueSession, parseRoleArn, servicePrincipal, trustCheck } from './identity';

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

/**
 * Assumes `roleArn` as `service` and returns the session's credentials; throws `RoleTrustError`
 * when the trust policy does not allow it (whether or not enforcement is on: with it off the
 * refusal is recorded and the session is issued anyway).
 */
export const assumeAsService = (ctx: ServiceContext, request: ServiceSessionRequest): Credentials => {
  const ref = parseRoleArn(request.roleArn);
  if (!ref) throw new RoleTrustError(request.roleArn, request.service, 'it is not a role ARN');
  const principal = servicePrincipal(request.service, ref.account);
  const { evaluation } = trustCheck(ctx.store, ctx.account, ref, principal, {
    ...request.context,
  });
  if (evaluation.decision !== 'Allow') {
    ctx.authorizer.usage.denied(request.roleArn, {
      action: 'sts:AssumeRole',
      resource: request.roleArn,
      reason: `${request.service}: ${evaluation.reason}`,
      atMs: ctx.clock.nowMs(),
      enforced: ctx.authorizer.enabled,
    });
    if (ctx.authorizer.enabled) throw new RoleTrustError(request.roleArn, request.service, evaluation.reason);
  }
  const session = ctx.transact((tx) =>
    issueSession(tx, ref, request.sessionName.slice(0, 64), request.service, undefined),
  );
  return {
    accessKeyId: session.accessKeyId,
    secretAccessKey: session.secretAccessKey,
    sessionToken: session.sessionToken,
  };
};
