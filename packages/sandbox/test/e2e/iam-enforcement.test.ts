/**
 * Who a request acts as, and how a refusal reads: AssumeRole against the trust policy, sessions
 * that expire on the sandbox clock, the `PREFIX:Action` on `*` authorization every action gets
 * without a mapper, and enforcement switched off (refusals recorded, not made).
 */
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roleSession } from '../../src/testing/iam';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const ACCOUNT = '000000000000';
const READ_SECRETS = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow' as const, Action: 'secretsmanager:ListSecrets', Resource: '*' }],
};
/** Grants one unrelated action: the role's access comes from what else is attached. */
const NOTHING_ELSE = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow' as const, Action: 'sts:GetCallerIdentity', Resource: '*' }],
};
const NOTHING = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow' as const, Action: 'ssm:GetParameter', Resource: '*' }],
};

describe('IAM enforcement (on, the default)', () => {
  let sandbox: TestSandbox;
  let iam: IAMClient;
  let sts: STSClient;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    iam = new IAMClient(sandbox.clientConfig);
    sts = new STSClient(sandbox.clientConfig);
  });
  afterAll(async () => sandbox.stop());

  it('gives AssumeRole credentials that act as the role session', async () => {
    // Act
    const session = await roleSession(sandbox, { roleName: 'reader', policy: READ_SECRETS, sessionName: 'alice' });
    const identity = await new STSClient(session.clientConfig).send(new GetCallerIdentityCommand({}));

    // Assess
    expect(session.sessionArn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/reader/alice`);
    expect(identity.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/reader/alice`);
    expect(identity.Account).toBe(ACCOUNT);
    expect(identity.UserId).toMatch(/^AROA[0-9A-F]{17}:alice$/);
  });

  it('refuses AssumeRole when the trust policy does not name the caller (AccessDenied, in IAM wording)', async () => {
    // Prepare
    const trust = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    };
    const role = await iam.send(
      new CreateRoleCommand({ RoleName: 'lambda-only', AssumeRolePolicyDocument: JSON.stringify(trust) }),
    );

    // Act
    const error = await failure(
      sts.send(new AssumeRoleCommand({ RoleArn: role.Role?.Arn, RoleSessionName: 'operator' })),
    );

    // Assess
    expect(error.name).toBe('AccessDenied');
    expect(error.message).toBe(
      `User: arn:aws:iam::${ACCOUNT}:root is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::${ACCOUNT}:role/lambda-only because no identity-based policy allows the sts:AssumeRole action`,
    );
  });

  it('refuses AssumeRole of a role that does not exist in the sandbox account', async () => {
    // Act
    const error = await failure(
      sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${ACCOUNT}:role/nobody`, RoleSessionName: 's1' })),
    );

    // Assess
    expect(error.name).toBe('AccessDenied');
  });

  it('lets a role of an account whose IAM is not emulated be assumed; its session acts as that account', async () => {
    // Act
    const assumed = await sts.send(
      new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111122223333:role/team-tagger', RoleSessionName: 'tagger' }),
    );
    const asTeam = new STSClient({
      ...sandbox.clientConfig,
      credentials: {
        accessKeyId: assumed.Credentials?.AccessKeyId as string,
        secretAccessKey: assumed.Credentials?.SecretAccessKey as string,
        sessionToken: assumed.Credentials?.SessionToken as string,
      },
    });
    const identity = await asTeam.send(new GetCallerIdentityCommand({}));

    // Assess
    expect(identity.Account).toBe('111122223333');
    expect(identity.Arn).toBe('arn:aws:sts::111122223333:assumed-role/team-tagger/tagger');
  });

  it('authorizes an action with no resource-level permissions on *: allowed when granted', async () => {
    // Prepare
    const session = await roleSession(sandbox, { roleName: 'lister', policy: READ_SECRETS });

    // Act
    const listed = await new SecretsManagerClient(session.clientConfig).send(new ListSecretsCommand({}));

    // Assess
    expect(listed.SecretList).toEqual([]);
  });

  it('refuses the action when no statement grants it (AccessDeniedException naming the session and action)', async () => {
    // Prepare
    const session = await roleSession(sandbox, { roleName: 'no-secrets', policy: NOTHING, sessionName: 'bob' });

    // Act
    const error = await failure(new SecretsManagerClient(session.clientConfig).send(new ListSecretsCommand({})));

    // Assess
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(
      `User: arn:aws:sts::${ACCOUNT}:assumed-role/no-secrets/bob is not authorized to perform: secretsmanager:ListSecrets on resource: * because no identity-based policy allows the secretsmanager:ListSecrets action`,
    );
    const denials = sandbox.sandbox.authorizer.usage.snapshot().find((role) => role.roleArn.endsWith('/no-secrets'));
    expect(denials?.denials).toEqual([
      expect.objectContaining({ action: 'secretsmanager:ListSecrets', enforced: true }),
    ]);
  });

  it('applies policy changes to existing sessions, and a deleted role grants nothing', async () => {
    // Prepare
    const session = await roleSession(sandbox, { roleName: 'short-lived', policy: READ_SECRETS });
    const secrets = new SecretsManagerClient(session.clientConfig);
    await secrets.send(new ListSecretsCommand({}));

    // Act
    await iam.send(new DeleteRolePolicyCommand({ RoleName: 'short-lived', PolicyName: 'policy' }));
    await iam.send(new DeleteRoleCommand({ RoleName: 'short-lived' }));
    const error = await failure(secrets.send(new ListSecretsCommand({})));

    // Assess
    expect(error.name).toBe('AccessDeniedException');
  });

  it('evaluates an attached AWS managed policy by its real document (AmazonSSMManagedInstanceCore grants ssm:GetParameter, not PutParameter)', async () => {
    // Prepare
    const session = await roleSession(sandbox, { roleName: 'instance-like', policy: NOTHING_ELSE });
    await iam.send(
      new AttachRolePolicyCommand({
        RoleName: 'instance-like',
        PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
      }),
    );
    await new SSMClient(sandbox.clientConfig).send(
      new PutParameterCommand({ Name: '/team/setting', Value: 'on', Type: 'String' }),
    );
    const ssm = new SSMClient(session.clientConfig);

    // Act
    const read = await ssm.send(new GetParameterCommand({ Name: '/team/setting' }));
    const write = await failure(ssm.send(new PutParameterCommand({ Name: '/team/other', Value: 'x', Type: 'String' })));

    // Assess
    expect(read.Parameter?.Value).toBe('on');
    expect(write.name).toBe('AccessDeniedException');
  });

  it('expires AssumeRole credentials after DurationSeconds on the sandbox clock (ExpiredToken)', async () => {
    // Prepare
    const session = await roleSession(sandbox, { roleName: 'expiring', policy: READ_SECRETS });
    const secrets = new SecretsManagerClient(session.clientConfig);
    await secrets.send(new ListSecretsCommand({}));

    // Act
    sandbox.sandbox.clock.advance(3601);
    const error = await failure(secrets.send(new ListSecretsCommand({})));

    // Assess
    expect(error.name).toBe('ExpiredToken');
  });
});

describe('IAM enforcement off', () => {
  let sandbox: TestSandbox;

  beforeAll(async () => {
    sandbox = await startTestSandbox({ iam: 'off' });
  });
  afterAll(async () => sandbox.stop());

  it('lets a request through that AWS would refuse, and records the refusal it would have made', async () => {
    // Prepare
    const session = await roleSession(sandbox, { roleName: 'no-secrets', policy: NOTHING });

    // Act
    const listed = await new SecretsManagerClient(session.clientConfig).send(new ListSecretsCommand({}));

    // Assess
    expect(listed.SecretList).toEqual([]);
    const role = sandbox.sandbox.authorizer.usage.snapshot().find((entry) => entry.roleArn.endsWith('/no-secrets'));
    expect(role?.denials).toEqual([
      expect.objectContaining({ action: 'secretsmanager:ListSecrets', resource: '*', enforced: false }),
    ]);
  });
});
