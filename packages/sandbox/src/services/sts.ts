/**
 * STS: GetCallerIdentity and AssumeRole.
 *
 * AssumeRole hands out credentials whose access key id is the 12-digit account of the role, so
 * every service that reads the caller from the access key (`callerAccount`: EventBridge,
 * Scheduler, EC2 image shares) sees a call signed with them as that account. No IAM is
 * evaluated: any well-formed role ARN can be assumed (inject a fault to see a refusal).
 */
import { createHash } from 'node:crypto';
import { optionalInt, optionalString, validationError } from '../protocol/query';
import type { QueryService } from '../service';
import { callerAccount } from './events/model';
import { iamId } from './iam/model';

const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

/** Stable made-up ids: the same role always has the same role id, as in IAM. */
const idOf = (prefix: string, text: string, length: number): string =>
  `${prefix}${createHash('sha256').update(text).digest('hex').toUpperCase().slice(0, length)}`;

export const sts: QueryService = {
  signingName: 'sts',
  protocol: 'awsquery',
  xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/',
  actions: {
    GetCallerIdentity: (_params, ctx) => {
      const account = callerAccount(ctx);
      return {
        Arn: `arn:aws:iam::${account}:user/sandbox`,
        UserId: 'AIDASANDBOXUSER000000',
        Account: account,
      };
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
      const match = ROLE_ARN.exec(roleArn);
      if (!match) throw validationError(`${roleArn} is invalid`);
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
      const [, account, , roleName] = match as unknown as [string, string, string, string];
      // The role id IAM gives the role (services/iam/model.ts), whether or not IAM holds it.
      const roleId = iamId('AROA', roleArn);
      const expiration = new Date(ctx.clock.nowMs() + duration * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      return {
        Credentials: {
          AccessKeyId: account,
          SecretAccessKey: idOf('', `${roleArn}|${sessionName}|secret`, 40),
          SessionToken: Buffer.from(`sandbox:${roleArn}:${sessionName}:${ctx.requestId}`).toString('base64'),
          Expiration: expiration,
        },
        AssumedRoleUser: {
          AssumedRoleId: `${roleId}:${sessionName}`,
          Arn: `arn:aws:sts::${account}:assumed-role/${roleName}/${sessionName}`,
        },
      };
    },
  },
};
