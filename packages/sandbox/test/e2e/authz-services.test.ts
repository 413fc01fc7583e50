/**
 * Role sessions against SSM, Lambda, EventBridge, Scheduler and Secrets Manager: each action is
 * authorized on the resources AWS names (parameter, function, bus, schedule, secret ARNs) with the
 * condition keys it sets, and on the roles it passes (`iam:PassRole`); refusals read as AWS's.
 */
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateScheduleCommand, type CreateScheduleCommandInput, SchedulerClient } from '@aws-sdk/client-scheduler';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CreateDocumentCommand,
  GetParameterCommand,
  GetParametersCommand,
  PutParameterCommand,
  SSMClient,
  StartAutomationExecutionCommand,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument, PolicyStatement } from '../../src/iam';
import { roleSession } from '../../src/testing/iam';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'lambda');
const AL2023 = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';

const allow = (...statements: Omit<PolicyStatement, 'Effect'>[]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: statements.map((statement) => ({ Effect: 'Allow', ...statement })),
});

const denial = (role: string, action: string, resource: string): string =>
  `User: arn:aws:sts::${ACCOUNT}:assumed-role/${role}/test-session is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`;

const trusting = (service: string): string =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });

describe('authorization of role sessions outside EC2', () => {
  let sandbox: TestSandbox;
  let iam: IAMClient;

  const serviceRole = async (name: string, service: string): Promise<string> => {
    const created = await iam.send(
      new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trusting(service) }),
    );
    return created.Role?.Arn as string;
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox({ assetsDir: FIXTURES });
    iam = new IAMClient(sandbox.clientConfig);
    const ssm = new SSMClient(sandbox.clientConfig);
    for (const name of ['/bakehouse/dev/linux', '/bakehouse/dev/windows']) {
      await ssm.send(new PutParameterCommand({ Name: name, Value: 'ami-0123456789abcdef0', Type: 'String' }));
    }
    await ssm.send(
      new CreateDocumentCommand({
        Name: 'nap',
        DocumentType: 'Automation',
        DocumentFormat: 'YAML',
        Content: [
          "schemaVersion: '0.3'",
          "assumeRole: '{{ AutomationAssumeRole }}'",
          'parameters:',
          '  AutomationAssumeRole:',
          '    type: String',
          'mainSteps:',
          '  - name: nap',
          '    action: aws:sleep',
          '    inputs:',
          '      Duration: PT1S',
        ].join('\n'),
      }),
    );
    ssm.destroy();
    const lambda = new LambdaClient(sandbox.clientConfig);
    const role = await serviceRole('echo-execution', 'lambda.amazonaws.com');
    for (const name of ['echo', 'janitor']) {
      await lambda.send(
        new CreateFunctionCommand({
          FunctionName: name,
          Role: role,
          Runtime: 'nodejs24.x',
          Handler: 'echo.handler',
          Code: { S3Bucket: 'cdk-assets', S3Key: 'basics.zip' },
        }),
      );
    }
    lambda.destroy();
  });

  afterAll(async () => {
    iam?.destroy();
    await sandbox?.stop();
  });

  it('lets a role read the one parameter it is granted (by its ARN without the leading slash) and refuses another', async () => {
    // Prepare
    const session = await roleSession(sandbox, {
      roleName: 'channel-reader',
      policy: allow({
        Action: 'ssm:GetParameter',
        Resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/bakehouse/dev/linux`,
      }),
    });
    const ssm = new SSMClient(session.clientConfig);

    // Act
    const read = await ssm.send(new GetParameterCommand({ Name: '/bakehouse/dev/linux' }));
    const error = await failure(ssm.send(new GetParameterCommand({ Name: '/bakehouse/dev/windows' })));

    // Assess
    expect(read.Parameter?.Value).toBe('ami-0123456789abcdef0');
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(
      denial('channel-reader', 'ssm:GetParameter', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/bakehouse/dev/windows`),
    );
  });

  it('refuses a whole GetParameters call when one of its names is denied (IAM checks every name), as AWS does', async () => {
    // Prepare
    const session = await roleSession(sandbox, {
      roleName: 'batch-reader',
      policy: allow({
        Action: 'ssm:GetParameters',
        Resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/bakehouse/dev/linux`,
      }),
    });
    const ssm = new SSMClient(session.clientConfig);

    // Act
    const error = await failure(
      ssm.send(new GetParametersCommand({ Names: ['/bakehouse/dev/linux', '/bakehouse/dev/windows'] })),
    );
    const alone = await ssm.send(new GetParametersCommand({ Names: ['/bakehouse/dev/linux'] }));

    // Assess
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(
      denial('batch-reader', 'ssm:GetParameters', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/bakehouse/dev/windows`),
    );
    expect(alone.Parameters?.map((p) => p.Name)).toEqual(['/bakehouse/dev/linux']);
  });

  it('authorizes a public parameter on its ARN without account', async () => {
    // Prepare
    const session = await roleSession(sandbox, {
      roleName: 'source-reader',
      policy: allow({ Action: 'ssm:GetParameter', Resource: `arn:aws:ssm:${REGION}::parameter/aws/service/*` }),
    });

    // Act
    const read = await new SSMClient(session.clientConfig).send(new GetParameterCommand({ Name: AL2023 }));

    // Assess
    expect(read.Parameter?.Name).toBe(AL2023);
  });

  it('maps Invoke to lambda:InvokeFunction on the function ARN: allowed for the granted function, refused for another', async () => {
    // Prepare
    const session = await roleSession(sandbox, {
      roleName: 'echo-caller',
      policy: allow({ Action: 'lambda:InvokeFunction', Resource: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:echo` }),
    });
    const lambda = new LambdaClient(session.clientConfig);

    // Act
    const invoked = await lambda.send(
      new InvokeCommand({ FunctionName: 'echo', Payload: new TextEncoder().encode('{}') }),
    );
    const error = await failure(lambda.send(new InvokeCommand({ FunctionName: 'janitor' })));

    // Assess
    expect(invoked.StatusCode).toBe(200);
    expect(invoked.FunctionError).toBeUndefined();
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(
      denial('echo-caller', 'lambda:InvokeFunction', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:janitor`),
    );
  });

  it('puts the detail-types a policy admits with events:detail-type, and refuses a call carrying another', async () => {
    // Prepare
    const bus = `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`;
    const session = await roleSession(sandbox, {
      roleName: 'bake-requester',
      policy: allow({
        Action: 'events:PutEvents',
        Resource: bus,
        Condition: {
          'ForAllValues:StringEquals': { 'events:detail-type': ['Bake Requested'] },
          Null: { 'events:detail-type': 'false' },
        },
      }),
    });
    const events = new EventBridgeClient(session.clientConfig);
    const entry = (detailType: string) => ({ Source: 'bakehouse.test', DetailType: detailType, Detail: '{}' });

    // Act
    const put = await events.send(new PutEventsCommand({ Entries: [entry('Bake Requested')] }));
    const error = await failure(
      events.send(new PutEventsCommand({ Entries: [entry('Bake Requested'), entry('AMI Revoked')] })),
    );

    // Assess
    expect(put.FailedEntryCount).toBe(0);
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(denial('bake-requester', 'events:PutEvents', bus));
  });

  it('refuses StartAutomationExecution without iam:PassRole on the AutomationAssumeRole, and starts it with', async () => {
    // Prepare
    const assumeRole = await serviceRole('nap-automation', 'ssm.amazonaws.com');
    const start = allow({
      Action: 'ssm:StartAutomationExecution',
      Resource: [
        `arn:aws:ssm:${REGION}:${ACCOUNT}:document/nap`,
        `arn:aws:ssm:${REGION}:${ACCOUNT}:automation-execution/*`,
      ],
    });
    const withoutPass = await roleSession(sandbox, { roleName: 'starter-without-pass', policy: start });
    const withPass = await roleSession(sandbox, {
      roleName: 'starter-with-pass',
      policy: {
        ...start,
        Statement: [
          ...(start.Statement as PolicyStatement[]),
          {
            Effect: 'Allow',
            Action: 'iam:PassRole',
            Resource: assumeRole,
            Condition: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } },
          },
        ],
      },
    });
    const request = new StartAutomationExecutionCommand({
      DocumentName: 'nap',
      Parameters: { AutomationAssumeRole: [assumeRole] },
    });

    // Act
    const error = await failure(new SSMClient(withoutPass.clientConfig).send(request));
    const started = await new SSMClient(withPass.clientConfig).send(request);

    // Assess
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(denial('starter-without-pass', 'iam:PassRole', assumeRole));
    expect(started.AutomationExecutionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses CreateSchedule without iam:PassRole on the target role, and creates it with', async () => {
    // Prepare
    const targetRole = await serviceRole('nightly-schedule', 'scheduler.amazonaws.com');
    const create = {
      Action: 'scheduler:CreateSchedule',
      Resource: `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/default/*`,
    };
    const withoutPass = await roleSession(sandbox, { roleName: 'scheduler-without-pass', policy: allow(create) });
    const withPass = await roleSession(sandbox, {
      roleName: 'scheduler-with-pass',
      policy: allow(create, {
        Action: 'iam:PassRole',
        Resource: targetRole,
        Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    });
    const schedule = (name: string): CreateScheduleCommandInput => ({
      Name: name,
      ScheduleExpression: 'rate(1 day)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:echo`, RoleArn: targetRole },
    });

    // Act
    const error = await failure(
      new SchedulerClient(withoutPass.clientConfig).send(new CreateScheduleCommand(schedule('refused'))),
    );
    const created = await new SchedulerClient(withPass.clientConfig).send(
      new CreateScheduleCommand(schedule('nightly')),
    );

    // Assess
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(denial('scheduler-without-pass', 'iam:PassRole', targetRole));
    expect(created.ScheduleArn).toBe(`arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/default/nightly`);
  });

  it('authorizes a secret named by its name on its full ARN, which a NAME-?????? policy matches', async () => {
    // Prepare
    const admin = new SecretsManagerClient(sandbox.clientConfig);
    const { ARN: arn } = await admin.send(
      new CreateSecretCommand({ Name: 'slack-webhook', SecretString: 'https://x' }),
    );
    await admin.send(new CreateSecretCommand({ Name: 'slack-webhook-old', SecretString: 'https://y' }));
    admin.destroy();
    const session = await roleSession(sandbox, {
      roleName: 'notifier',
      policy: allow({
        Action: 'secretsmanager:GetSecretValue',
        Resource: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:slack-webhook-??????`,
      }),
    });
    const secrets = new SecretsManagerClient(session.clientConfig);

    // Act
    const value = await secrets.send(new GetSecretValueCommand({ SecretId: 'slack-webhook' }));
    const error = await failure(secrets.send(new GetSecretValueCommand({ SecretId: 'slack-webhook-old' })));

    // Assess
    expect(value.ARN).toBe(arn);
    expect(value.SecretString).toBe('https://x');
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toMatch(
      /^User: .* is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:000000000000:secret:slack-webhook-old-[A-Za-z0-9]{6} because/,
    );
  });
});
