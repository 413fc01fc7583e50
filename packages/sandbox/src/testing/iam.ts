/**
 * Role sessions for tests: create a role with a trust policy and an inline policy through IAM (as
 * the administrator), assume it through STS, and get client options signed as the session, so a
 * test sees exactly what a Lambda or an automation running as that role would.
 */
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { PolicyDocument } from '../iam';
import type { TestSandbox } from './sandbox';

export interface RoleSessionOptions {
  readonly roleName: string;
  /** The role's identity policy (inline, named `policy`). */
  readonly policy: PolicyDocument;
  /** Who may assume it; the sandbox account's root by default. */
  readonly trust?: PolicyDocument;
  readonly sessionName?: string;
}

export interface RoleSession {
  readonly roleArn: string;
  /** `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`. */
  readonly sessionArn: string;
  /** Options for any AWS SDK v3 client, signed as the session. */
  readonly clientConfig: TestSandbox['clientConfig'] & {
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  };
}

export const roleSession = async (test: TestSandbox, options: RoleSessionOptions): Promise<RoleSession> => {
  const account = test.sandbox.account;
  const iam = new IAMClient(test.clientConfig);
  const sts = new STSClient(test.clientConfig);
  try {
    const trust = options.trust ?? {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole' }],
    };
    const created = await iam.send(
      new CreateRoleCommand({ RoleName: options.roleName, AssumeRolePolicyDocument: JSON.stringify(trust) }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: options.roleName,
        PolicyName: 'policy',
        PolicyDocument: JSON.stringify(options.policy),
      }),
    );
    const roleArn = created.Role?.Arn as string;
    const assumed = await sts.send(
      new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: options.sessionName ?? 'test-session' }),
    );
    const credentials = assumed.Credentials;
    if (!credentials?.AccessKeyId || !credentials.SecretAccessKey || !credentials.SessionToken) {
      throw new Error(`AssumeRole ${roleArn} returned no credentials`);
    }
    return {
      roleArn,
      sessionArn: assumed.AssumedRoleUser?.Arn as string,
      clientConfig: {
        ...test.clientConfig,
        credentials: {
          accessKeyId: credentials.AccessKeyId,
          secretAccessKey: credentials.SecretAccessKey,
          sessionToken: credentials.SessionToken,
        },
      },
    };
  } finally {
    iam.destroy();
    sts.destroy();
  }
};
