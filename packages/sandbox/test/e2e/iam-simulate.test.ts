import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  IAMClient,
  PutRolePolicyCommand,
  SimulatePrincipalPolicyCommand,
} from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument } from '../../src/iam';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let iam: IAMClient;
const account = '000000000000';
const roleArn = `arn:aws:iam::${account}:role/baker`;
const image = 'arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0';
const snapshot = `arn:aws:ec2:us-east-1:${account}:snapshot/snap-0123456789abcdef0`;

const inline: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'Describe', Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' },
    { Sid: 'NeverTerminate', Effect: 'Deny', Action: 'ec2:TerminateInstances', Resource: '*' },
    {
      Sid: 'TagOnCreate',
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Resource: '*',
      Condition: { StringEquals: { 'ec2:CreateAction': 'CreateImage' } },
    },
  ],
};
const managed: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'Snapshots', Effect: 'Allow', Action: 'ec2:DeleteSnapshot', Resource: snapshot }],
};

beforeAll(async () => {
  sandbox = await startTestSandbox();
  iam = new IAMClient(sandbox.clientConfig);
  const trust = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  };
  await iam.send(new CreateRoleCommand({ RoleName: 'baker', AssumeRolePolicyDocument: JSON.stringify(trust) }));
  await iam.send(
    new PutRolePolicyCommand({ RoleName: 'baker', PolicyName: 'bake', PolicyDocument: JSON.stringify(inline) }),
  );
  const { Policy } = await iam.send(
    new CreatePolicyCommand({ PolicyName: 'snapshots', PolicyDocument: JSON.stringify(managed) }),
  );
  await iam.send(new AttachRolePolicyCommand({ RoleName: 'baker', PolicyArn: Policy?.Arn }));
  await iam.send(
    new AttachRolePolicyCommand({
      RoleName: 'baker',
      PolicyArn: 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
    }),
  );
});
afterAll(async () => {
  iam.destroy();
  await sandbox.stop();
});

describe('IAM SimulatePrincipalPolicy', () => {
  it("decides each action with the role's inline and managed policies, naming the statements that decided", async () => {
    // Act
    const { EvaluationResults = [] } = await iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: roleArn,
        ActionNames: ['ec2:DescribeImages', 'ec2:TerminateInstances', 'ssm:GetParameter'],
      }),
    );

    // Assess
    expect(EvaluationResults.map((r) => [r.EvalActionName, r.EvalResourceName, r.EvalDecision])).toEqual([
      ['ec2:DescribeImages', '*', 'allowed'],
      ['ec2:TerminateInstances', '*', 'explicitDeny'],
      ['ssm:GetParameter', '*', 'implicitDeny'],
    ]);
    expect(EvaluationResults[0]?.MatchedStatements?.map((s) => [s.SourcePolicyId, s.SourcePolicyType])).toEqual([
      ['bake', 'role'],
    ]);
    expect(EvaluationResults[1]?.MatchedStatements?.[0]?.SourcePolicyId).toBe('bake');
    expect(EvaluationResults[2]?.MatchedStatements ?? []).toEqual([]);
  });

  it('gives the position of the matched statement in the policy text', async () => {
    // Act
    const { EvaluationResults = [] } = await iam.send(
      new SimulatePrincipalPolicyCommand({ PolicySourceArn: roleArn, ActionNames: ['ec2:TerminateInstances'] }),
    );

    // Assess: the stored text is one line; the Deny is the second statement
    const text = JSON.stringify(inline);
    const start = text.indexOf('{"Sid":"NeverTerminate"');
    const statement = EvaluationResults[0]?.MatchedStatements?.[0];
    expect(statement?.StartPosition).toEqual({ Line: 1, Column: start + 1 });
    expect(statement?.EndPosition?.Line).toBe(1);
    expect(text.charAt((statement?.EndPosition?.Column ?? 0) - 1)).toBe('}');
  });

  it('lists the context keys a matching statement needs and the request did not give, and uses the ones given', async () => {
    // Act
    const without = await iam.send(
      new SimulatePrincipalPolicyCommand({ PolicySourceArn: roleArn, ActionNames: ['ec2:CreateTags'] }),
    );
    const withKey = await iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: roleArn,
        ActionNames: ['ec2:CreateTags'],
        ContextEntries: [
          { ContextKeyName: 'ec2:CreateAction', ContextKeyValues: ['CreateImage'], ContextKeyType: 'string' },
        ],
      }),
    );

    // Assess
    expect(without.EvaluationResults?.[0]?.EvalDecision).toBe('implicitDeny');
    expect(without.EvaluationResults?.[0]?.MissingContextValues).toEqual(['ec2:CreateAction']);
    expect(withKey.EvaluationResults?.[0]?.EvalDecision).toBe('allowed');
    expect(withKey.EvaluationResults?.[0]?.MissingContextValues ?? []).toEqual([]);
  });

  it('decides per resource when ResourceArns are given, the most restrictive decision on top', async () => {
    // Act
    const { EvaluationResults = [] } = await iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: roleArn,
        ActionNames: ['ec2:DeleteSnapshot'],
        ResourceArns: [snapshot, `arn:aws:ec2:us-east-1:${account}:snapshot/snap-0fedcba9876543210`],
      }),
    );

    // Assess
    expect(EvaluationResults).toHaveLength(1);
    expect(EvaluationResults[0]?.EvalDecision).toBe('implicitDeny');
    expect(
      EvaluationResults[0]?.ResourceSpecificResults?.map((r) => [r.EvalResourceName, r.EvalResourceDecision]),
    ).toEqual([
      [snapshot, 'allowed'],
      [`arn:aws:ec2:us-east-1:${account}:snapshot/snap-0fedcba9876543210`, 'implicitDeny'],
    ]);
    expect(EvaluationResults[0]?.ResourceSpecificResults?.[0]?.MatchedStatements?.[0]).toMatchObject({
      SourcePolicyId: 'snapshots',
      SourcePolicyType: 'user-managed',
    });
  });

  it('names a single resource on the result', async () => {
    // Act
    const { EvaluationResults = [] } = await iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: roleArn,
        ActionNames: ['ec2:DescribeImages'],
        ResourceArns: [image],
      }),
    );

    // Assess
    expect(EvaluationResults[0]?.EvalResourceName).toBe(image);
    expect(EvaluationResults[0]?.EvalDecision).toBe('allowed');
  });

  it('answers NoSuchEntity for a role that does not exist and InvalidInput for a principal that is not a role', async () => {
    // Act
    const missing = await failure(
      iam.send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: `arn:aws:iam::${account}:role/nobody`,
          ActionNames: ['ec2:DescribeImages'],
        }),
      ),
    );
    const user = await failure(
      iam.send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: `arn:aws:iam::${account}:user/alice`,
          ActionNames: ['ec2:DescribeImages'],
        }),
      ),
    );

    // Assess
    expect(missing.name).toBe('NoSuchEntityException');
    expect(user.name).toBe('InvalidInputException');
  });

  it('pages results with MaxItems and Marker', async () => {
    // Act
    const first = await iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: roleArn,
        ActionNames: ['ec2:DescribeImages', 'ec2:DescribeSnapshots', 'ec2:DescribeInstances'],
        MaxItems: 2,
      }),
    );
    const rest = await iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: roleArn,
        ActionNames: ['ec2:DescribeImages', 'ec2:DescribeSnapshots', 'ec2:DescribeInstances'],
        MaxItems: 2,
        Marker: first.Marker,
      }),
    );

    // Assess
    expect(first.IsTruncated).toBe(true);
    expect(first.EvaluationResults?.map((r) => r.EvalActionName)).toEqual([
      'ec2:DescribeImages',
      'ec2:DescribeSnapshots',
    ]);
    expect(rest.IsTruncated).toBe(false);
    expect(rest.EvaluationResults?.map((r) => r.EvalActionName)).toEqual(['ec2:DescribeInstances']);
  });

  it('works from the AWS CLI', async () => {
    // Prepare: the sandbox runs in this process, so the CLI runs asynchronously
    const { stdout } = await promisify(execFile)(
      'aws',
      [
        'iam',
        'simulate-principal-policy',
        '--policy-source-arn',
        roleArn,
        '--action-names',
        'ec2:DescribeImages',
        'ec2:TerminateInstances',
        '--endpoint-url',
        sandbox.sandbox.url,
        '--region',
        'us-east-1',
        '--output',
        'json',
      ],
      { env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }, timeout: 20_000 },
    );

    // Act
    const answer = JSON.parse(stdout) as { EvaluationResults: { EvalActionName: string; EvalDecision: string }[] };

    // Assess
    expect(answer.EvaluationResults.map((r) => [r.EvalActionName, r.EvalDecision])).toEqual([
      ['ec2:DescribeImages', 'allowed'],
      ['ec2:TerminateInstances', 'explicitDeny'],
    ]);
  });
});
