/**
 * STS: GetCallerIdentity, AssumeRole and DecodeAuthorizationMessage.
 *
 * AssumeRole is authorized as AWS does (STS API Reference, AssumeRole; IAM User Guide, "Policy
 * evaluation logic"): the role's trust policy must allow the caller, and a role session caller's
 * own policies must allow `sts:AssumeRole` on the role unless the trust policy names it directly.
 * The credentials returned act as `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` until they
 * expire on the sandbox clock. A role in an account whose IAM the sandbox does not emulate (no
 * role of that account is stored) is taken to trust the caller, and its session acts as that
 * account's administrator (`authz/identity.ts`).
 */
import { AccessDeniedError, DENIAL_STYLES, decodeAuthorizationMessage } from '../authz/authorizer';
import { issueSession, parseRoleArn, roleOf, rolePolicies, trustCheck } from '../authz/identity';
import { AwsError } from '../errors';
import { optionalInt, optionalString, validationError } from '../protocol/query';
import type { QueryService } from '../service';
import { iamId } from './iam/model';

const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

export const sts: QueryService = {
  signingName: 'sts',
  protocol: 'awsquery',
  xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/',
  authz: {
    // "No permissions are required to perform this operation" (STS API Reference, GetCallerIdentity).
    GetCallerIdentity: () => [],
    // Authorized inside the action: the trust policy decides, with the caller's own policies.
    AssumeRole: () => [],
  },
  actions: {
    GetCallerIdentity: (_params, ctx) => {
      const { caller } = ctx;
      if (caller.kind === 'role-session') {
        return {
          Arn: caller.principal.arn,
          UserId: `${roleIdOf(caller.session.roleArn)}:${caller.session.sessionName}`,
          Account: caller.principal.account,
        };
      }
      const account = caller.principal.account;
      return {
        Arn: `arn:aws:iam::${account}:user/sandbox`,
        UserId: 'AIDASANDBOXUSER000000',
        Account: account,
      };
    },
    DecodeAuthorizationMessage: (params) => {
      const encoded = optionalString(params, 'EncodedMessage');
      if (encoded === undefined) {
        throw validationError(
          "1 validation error detected: Value null at 'encodedMessage' failed to satisfy constraint: Member must not be null",
        );
      }
      const message = decodeAuthorizationMessage(encoded);
      if (!message) throw new AwsError('InvalidAuthorizationMessageException', 'The encoded message is not valid');
      return { DecodedMessage: JSON.stringify(message) };
    },
    AssumeRole: (params, ctx) => {
      const roleArn = optionalString(params, 'RoleArn');
      const sessionName = optionalString(params, 'RoleSessionName');
      if (roleArn === undefined)
        throw validationError(
          "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        );
      if (sessionName === undefined) {
        throw validationError(
          "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
        );
      }
      const ref = parseRoleArn(roleArn);
      if (!ref) throw validationError(`${roleArn} is invalid`);
      if (!SESSION_NAME.test(sessionName)) {
        throw validationError(
          `1 validation error detected: Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`,
        );
      }
      const duration = optionalInt(params, 'DurationSeconds') ?? 3600;
      if (duration < 900 || duration > 43_200) {
        throw validationError(
          `1 validation error detected: Value '${duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200`,
        );
      }
      const { caller } = ctx;
      const callerPolicies =
        caller.kind === 'role-session'
          ? (() => {
              const own = parseRoleArn(caller.session.roleArn);
              const record = own ? roleOf(ctx.store, own) : undefined;
              return record ? rolePolicies(ctx.store, record) : undefined;
            })()
          : undefined;
      const { evaluation } = trustCheck(ctx.store, ctx.account, ref, caller.principal, {}, callerPolicies);
      if (evaluation.decision !== 'Allow') {
        ctx.authorizer.usage.denied(caller.kind === 'role-session' ? caller.session.roleArn : caller.principal.arn, {
          action: 'sts:AssumeRole',
          resource: roleArn,
          reason: evaluation.reason,
          atMs: ctx.clock.nowMs(),
          enforced: ctx.authorizer.enabled,
        });
        if (ctx.authorizer.enabled) {
          throw new AccessDeniedError(
            { check: { action: 'sts:AssumeRole', resource: roleArn }, principal: caller.principal, evaluation },
            DENIAL_STYLES.awsquery,
          );
        }
      } else if (caller.kind === 'role-session') {
        ctx.authorizer.usage.used(caller.session.roleArn, 'sts:AssumeRole', roleArn);
      }
      const expiresMs = ctx.clock.nowMs() + duration * 1000;
      const session = ctx.transact((tx) => issueSession(tx, ref, sessionName, caller.principal.arn, expiresMs));
      const expiration = new Date(expiresMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
      return {
        Credentials: {
          AccessKeyId: session.accessKeyId,
          SecretAccessKey: session.secretAccessKey,
          SessionToken: session.sessionToken,
          Expiration: expiration,
        },
        AssumedRoleUser: {
          AssumedRoleId: `${roleIdOf(ref.arn)}:${sessionName}`,
          Arn: `arn:aws:sts::${ref.account}:assumed-role/${ref.name}/${sessionName}`,
        },
      };
    },
  },
};

/** The role id IAM gives the role (services/iam/model.ts), whether or not IAM holds it. */
const roleIdOf = (roleArn: string): string => iamId('AROA', roleArn);
