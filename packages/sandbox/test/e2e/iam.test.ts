import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  DeletePolicyCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetInstanceProfileCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  ListRolesCommand,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
} from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let iam: IAMClient;

const trust = (service: string): string =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });
const allow = (action: string): string =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] });

const createRole = (name: string, extra: Record<string, unknown> = {}) =>
  iam.send(
    new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust('lambda.amazonaws.com'), ...extra }),
  );

beforeAll(async () => {
  sandbox = await startTestSandbox();
  iam = new IAMClient(sandbox.clientConfig);
});
afterAll(async () => {
  iam.destroy();
  await sandbox.stop();
});

describe('IAM roles', () => {
  it('creates a role with its ARN, path, id and tags, and returns the trust policy URL-encoded', async () => {
    // Act
    const created = await createRole('builder', {
      Path: '/bakehouse/',
      Description: 'builds images',
      Tags: [{ Key: 'team', Value: 'platform' }],
    });
    const { Role } = await iam.send(new GetRoleCommand({ RoleName: 'builder' }));

    // Assess
    expect(created.Role?.Arn).toBe('arn:aws:iam::000000000000:role/bakehouse/builder');
    expect(Role?.RoleId).toMatch(/^AROA[0-9A-F]{17}$/);
    expect(Role?.Path).toBe('/bakehouse/');
    expect(Role?.Description).toBe('builds images');
    expect(Role?.MaxSessionDuration).toBe(3600);
    expect(Role?.Tags).toEqual([{ Key: 'team', Value: 'platform' }]);
    expect(Role?.AssumeRolePolicyDocument).toBe(encodeURIComponent(trust('lambda.amazonaws.com')));
    expect(JSON.parse(decodeURIComponent(Role?.AssumeRolePolicyDocument ?? ''))).toEqual(
      JSON.parse(trust('lambda.amazonaws.com')),
    );
  });

  it('is global: a role created through one region is read through another', async () => {
    // Prepare
    await createRole('global-role');
    const elsewhere = new IAMClient({ ...sandbox.clientConfig, region: 'eu-west-1' });

    // Act
    const { Role } = await elsewhere.send(new GetRoleCommand({ RoleName: 'global-role' }));
    elsewhere.destroy();

    // Assess
    expect(Role?.Arn).toBe('arn:aws:iam::000000000000:role/global-role');
  });

  it('answers NoSuchEntity (404) for an unknown role and EntityAlreadyExists (409) for a second one', async () => {
    // Prepare
    await createRole('twice');

    // Act
    const missing = await failure(iam.send(new GetRoleCommand({ RoleName: 'nobody' })));
    const duplicate = await failure(createRole('twice'));

    // Assess
    expect(missing.name).toBe('NoSuchEntityException');
    expect(missing.message).toBe('The role with name nobody cannot be found.');
    expect((missing as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(404);
    expect(duplicate.name).toBe('EntityAlreadyExistsException');
  });

  it('refuses a trust policy that is not JSON (MalformedPolicyDocument) and creates nothing', async () => {
    // Act
    const error = await failure(
      iam.send(new CreateRoleCommand({ RoleName: 'bad-trust', AssumeRolePolicyDocument: '{"Statement": [' })),
    );
    const after = await failure(iam.send(new GetRoleCommand({ RoleName: 'bad-trust' })));

    // Assess
    expect(error.name).toBe('MalformedPolicyDocumentException');
    expect(after.name).toBe('NoSuchEntityException');
  });

  it('lists roles a page at a time with Marker and IsTruncated, filtered by path prefix', async () => {
    // Prepare
    for (const name of ['page-a', 'page-b', 'page-c']) await createRole(name, { Path: '/paged/' });

    // Act
    const first = await iam.send(new ListRolesCommand({ PathPrefix: '/paged/', MaxItems: 2 }));
    const second = await iam.send(new ListRolesCommand({ PathPrefix: '/paged/', MaxItems: 2, Marker: first.Marker }));

    // Assess
    expect(first.Roles?.map((r) => r.RoleName)).toEqual(['page-a', 'page-b']);
    expect(first.IsTruncated).toBe(true);
    expect(second.Roles?.map((r) => r.RoleName)).toEqual(['page-c']);
    expect(second.IsTruncated).toBe(false);
  });
});

describe('IAM policies', () => {
  it('puts, reads, lists and deletes inline policies', async () => {
    // Prepare
    await createRole('inline');
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'inline',
        PolicyName: 'describe',
        PolicyDocument: allow('ec2:DescribeImages'),
      }),
    );

    // Act
    const got = await iam.send(new GetRolePolicyCommand({ RoleName: 'inline', PolicyName: 'describe' }));
    const listed = await iam.send(new ListRolePoliciesCommand({ RoleName: 'inline' }));
    await iam.send(new DeleteRolePolicyCommand({ RoleName: 'inline', PolicyName: 'describe' }));
    const gone = await failure(iam.send(new GetRolePolicyCommand({ RoleName: 'inline', PolicyName: 'describe' })));

    // Assess
    expect(decodeURIComponent(got.PolicyDocument ?? '')).toBe(allow('ec2:DescribeImages'));
    expect(listed.PolicyNames).toEqual(['describe']);
    expect(gone.message).toBe('The role policy with name describe cannot be found.');
  });

  it('attaches customer and AWS managed policies, and refuses to delete what is still attached', async () => {
    // Prepare
    await createRole('attached');
    const { Policy } = await iam.send(
      new CreatePolicyCommand({ PolicyName: 'read-images', PolicyDocument: allow('ec2:DescribeImages') }),
    );
    const customer = Policy?.Arn as string;
    const awsManaged = 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore';

    // Act
    await iam.send(new AttachRolePolicyCommand({ RoleName: 'attached', PolicyArn: customer }));
    await iam.send(new AttachRolePolicyCommand({ RoleName: 'attached', PolicyArn: awsManaged }));
    const listed = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'attached' }));
    const version = await iam.send(new GetPolicyVersionCommand({ PolicyArn: customer, VersionId: 'v1' }));
    const policyInUse = await failure(iam.send(new DeletePolicyCommand({ PolicyArn: customer })));
    const roleInUse = await failure(iam.send(new DeleteRoleCommand({ RoleName: 'attached' })));
    const unknown = await failure(
      iam.send(
        new AttachRolePolicyCommand({ RoleName: 'attached', PolicyArn: 'arn:aws:iam::000000000000:policy/none' }),
      ),
    );

    // Assess
    expect(customer).toBe('arn:aws:iam::000000000000:policy/read-images');
    expect(listed.AttachedPolicies).toEqual([
      { PolicyName: 'read-images', PolicyArn: customer },
      { PolicyName: 'AmazonSSMManagedInstanceCore', PolicyArn: awsManaged },
    ]);
    expect(decodeURIComponent(version.PolicyVersion?.Document ?? '')).toBe(allow('ec2:DescribeImages'));
    expect(policyInUse.name).toBe('DeleteConflictException');
    expect(roleInUse.name).toBe('DeleteConflictException');
    expect(unknown.name).toBe('NoSuchEntityException');

    // and once detached, both can go
    await iam.send(new DetachRolePolicyCommand({ RoleName: 'attached', PolicyArn: customer }));
    await iam.send(new DetachRolePolicyCommand({ RoleName: 'attached', PolicyArn: awsManaged }));
    await iam.send(new DeletePolicyCommand({ PolicyArn: customer }));
    await iam.send(new DeleteRoleCommand({ RoleName: 'attached' }));
    expect((await failure(iam.send(new GetRoleCommand({ RoleName: 'attached' })))).name).toBe('NoSuchEntityException');
  });
});

describe('IAM instance profiles', () => {
  it('holds one role, shown in GetInstanceProfile, and must be emptied before the role or profile goes', async () => {
    // Prepare
    await createRole('profiled', { AssumeRolePolicyDocument: trust('ec2.amazonaws.com') });
    await createRole('second');
    const created = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'builder-profile' }));

    // Act
    await iam.send(
      new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'builder-profile', RoleName: 'profiled' }),
    );
    const { InstanceProfile } = await iam.send(
      new GetInstanceProfileCommand({ InstanceProfileName: 'builder-profile' }),
    );
    const overQuota = await failure(
      iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'builder-profile', RoleName: 'second' })),
    );
    const roleInProfile = await failure(iam.send(new DeleteRoleCommand({ RoleName: 'profiled' })));
    await iam.send(
      new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: 'builder-profile', RoleName: 'profiled' }),
    );
    await iam.send(new DeleteRoleCommand({ RoleName: 'profiled' }));

    // Assess
    expect(created.InstanceProfile?.Arn).toBe('arn:aws:iam::000000000000:instance-profile/builder-profile');
    expect(InstanceProfile?.InstanceProfileId).toMatch(/^AIPA[0-9A-F]{17}$/);
    expect(InstanceProfile?.Roles?.map((r) => r.Arn)).toEqual(['arn:aws:iam::000000000000:role/profiled']);
    expect(overQuota.name).toBe('LimitExceededException');
    expect(roleInProfile.name).toBe('DeleteConflictException');
  });
});

describe('IAM through the AWS CLI', () => {
  it('reads a role and its attached policies as a second, independent client', async () => {
    // Prepare
    await createRole('cli-role');
    await iam.send(
      new AttachRolePolicyCommand({ RoleName: 'cli-role', PolicyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }),
    );
    // The sandbox runs in this process: the CLI must not block its event loop (no execFileSync).
    const aws = async (...args: string[]) => {
      const { stdout } = await promisify(execFile)(
        'aws',
        [...args, '--endpoint-url', sandbox.sandbox.url, '--region', 'us-east-1', '--output', 'json'],
        { env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }, timeout: 20_000 },
      );
      return JSON.parse(stdout);
    };

    // Act
    const role = await aws('iam', 'get-role', '--role-name', 'cli-role');
    const attached = await aws('iam', 'list-attached-role-policies', '--role-name', 'cli-role');

    // Assess: the CLI decodes the trust policy document itself
    expect(role.Role.Arn).toBe('arn:aws:iam::000000000000:role/cli-role');
    expect(role.Role.AssumeRolePolicyDocument.Statement[0].Principal.Service).toBe('lambda.amazonaws.com');
    expect(attached.AttachedPolicies).toEqual([
      { PolicyName: 'ReadOnlyAccess', PolicyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' },
    ]);
  });
});
