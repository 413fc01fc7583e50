/**
 * Services act as the roles AWS would use: Lambda as the execution role, Step Functions as the
 * state machine's role, SSM Automation as `AutomationAssumeRole` (or its caller), Scheduler as the
 * schedule's `RoleArn` (trusted for the schedule group's ARN), and EventBridge rules invoke Lambda
 * only when the function's permissions allow `events.amazonaws.com`. Each is shown allowed with
 * the right trust and policy, and refused where AWS shows the refusal.
 */
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  AddPermissionCommand,
  CreateFunctionCommand,
  type CreateFunctionCommandInput,
  InvokeCommand,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { CreateScheduleCommand, CreateScheduleGroupCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  type AutomationExecution,
  CreateDocumentCommand,
  GetAutomationExecutionCommand,
  PutParameterCommand,
  SSMClient,
  StartAutomationExecutionCommand,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument } from '../../src/iam';
import { eventually } from '../../src/testing/fake-targets';
import { roleSession } from '../../src/testing/iam';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'lambda');
const queueArn = (name: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;

const allow = (...actions: string[]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }],
});

const trusting = (service: string, condition?: Record<string, Record<string, string>>): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { Service: service },
      Action: 'sts:AssumeRole',
      ...(condition ? { Condition: condition } : {}),
    },
  ],
});

let sandbox: TestSandbox;
let iam: IAMClient;
let lambda: LambdaClient;
let sfn: SFNClient;
let ssm: SSMClient;
let scheduler: SchedulerClient;
let events: EventBridgeClient;

/** Creates a role (as the administrator) with a trust policy and one inline policy; returns its ARN. */
const role = async (name: string, trust: PolicyDocument, policy: PolicyDocument): Promise<string> => {
  const created = await iam.send(
    new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: JSON.stringify(trust) }),
  );
  await iam.send(
    new PutRolePolicyCommand({ RoleName: name, PolicyName: 'policy', PolicyDocument: JSON.stringify(policy) }),
  );
  return created.Role?.Arn as string;
};

const functionInput = (name: string, roleArn: string, handler: string): CreateFunctionCommandInput => ({
  FunctionName: name,
  Role: roleArn,
  Runtime: 'nodejs24.x',
  Handler: handler,
  Code: { S3Bucket: 'cdk-assets', S3Key: 'basics.zip' },
  Timeout: 5,
});

const decode = (payload: Uint8Array | undefined): unknown => JSON.parse(new TextDecoder().decode(payload));

beforeAll(async () => {
  sandbox = await startTestSandbox({ assetsDir: FIXTURES });
  iam = new IAMClient(sandbox.clientConfig);
  lambda = new LambdaClient(sandbox.clientConfig);
  sfn = new SFNClient(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  scheduler = new SchedulerClient(sandbox.clientConfig);
  events = new EventBridgeClient(sandbox.clientConfig);
  await ssm.send(new PutParameterCommand({ Name: '/bakehouse/colour', Value: 'blue', Type: 'String' }));
});

afterAll(async () => {
  for (const client of [iam, lambda, sfn, ssm, scheduler, events]) client?.destroy();
  await sandbox?.stop();
});

describe('Lambda runs a function as its execution role', () => {
  it('gives the handler the session of its execution role, named after the function', async () => {
    // Prepare
    const roleArn = await role('whoami-role', trusting('lambda.amazonaws.com'), allow('sts:GetCallerIdentity'));
    await lambda.send(new CreateFunctionCommand(functionInput('whoami', roleArn, 'sts.handler')));

    // Act
    const output = await lambda.send(new InvokeCommand({ FunctionName: 'whoami' }));

    // Assess
    expect(output.FunctionError).toBeUndefined();
    expect(decode(output.Payload)).toEqual({
      Account: ACCOUNT,
      Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/whoami-role/whoami`,
    });
  });

  it('refuses to create a function whose role does not trust lambda.amazonaws.com', async () => {
    // Prepare
    const roleArn = await role('ec2-only', trusting('ec2.amazonaws.com'), allow('sts:GetCallerIdentity'));

    // Act
    const error = await failure(
      lambda.send(new CreateFunctionCommand(functionInput('untrusted', roleArn, 'sts.handler'))),
    );

    // Assess
    expect(error.name).toBe('InvalidParameterValueException');
    expect(error.message).toBe('The role defined for the function cannot be assumed by Lambda.');
  });
});

describe('Step Functions runs an execution as the state machine role', () => {
  const getParameter = JSON.stringify({
    StartAt: 'ReadColour',
    States: {
      ReadColour: {
        Type: 'Task',
        Resource: 'arn:aws:states:::aws-sdk:ssm:getParameter',
        Parameters: { Name: '/bakehouse/colour' },
        ResultSelector: { 'Value.$': '$.Parameter.Value' },
        End: true,
      },
    },
  });
  const machineArn = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
  const statesTrust = (name: string) =>
    trusting('states.amazonaws.com', {
      ArnLike: { 'aws:SourceArn': machineArn(name) },
      StringEquals: { 'aws:SourceAccount': ACCOUNT },
    });

  const runToEnd = async (name: string, roleArn: string): Promise<DescribeExecutionCommandOutput> => {
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({ name, definition: getParameter, roleArn }),
    );
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: '{}' }));
    return eventually(async () => {
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      return described.status === 'RUNNING' ? undefined : described;
    });
  };

  it('calls a task integration with the role, trusted for the state machine ARN', async () => {
    // Prepare
    const roleArn = await role('reader-machine-role', statesTrust('reader-machine'), allow('ssm:GetParameter'));

    // Act
    const execution = await runToEnd('reader-machine', roleArn);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? 'null')).toEqual({ Value: 'blue' });
  });

  it('fails the task with the AccessDenied of the integration when the role lacks the grant', async () => {
    // Prepare
    const roleArn = await role('blind-machine-role', statesTrust('blind-machine'), allow('ssm:DescribeParameters'));

    // Act
    const execution = await runToEnd('blind-machine', roleArn);

    // Assess
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toMatch(/^Ssm\./);
    expect(execution.cause).toContain(
      `User: arn:aws:sts::${ACCOUNT}:assumed-role/blind-machine-role/blind-machine is not authorized to perform: ssm:GetParameter`,
    );
    expect(execution.cause).toContain('Error Code: AccessDeniedException');
  });

  it('refuses a state machine whose role trusts Step Functions only for another state machine', async () => {
    // Prepare
    const roleArn = await role('other-machine-role', statesTrust('some-other-machine'), allow('ssm:GetParameter'));

    // Act
    const error = await failure(
      sfn.send(new CreateStateMachineCommand({ name: 'confused', definition: getParameter, roleArn })),
    );

    // Assess
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(
      'Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role.',
    );
  });
});

describe('SSM Automation runs its steps as AutomationAssumeRole, or as its caller', () => {
  const documentName = 'ReadColour';
  const ssmTrust = trusting('ssm.amazonaws.com', {
    ArnLike: { 'aws:SourceArn': `arn:aws:ssm:*:${ACCOUNT}:automation-execution/*` },
    StringEquals: { 'aws:SourceAccount': ACCOUNT },
  });

  beforeAll(async () => {
    const content = `
schemaVersion: '0.3'
assumeRole: '{{ AutomationAssumeRole }}'
parameters:
  AutomationAssumeRole:
    type: String
    default: ''
mainSteps:
  - name: readColour
    action: aws:executeAwsApi
    inputs:
      Service: ssm
      Api: GetParameter
      Name: /bakehouse/colour
    outputs:
      - Name: Colour
        Selector: $.Parameter.Value
        Type: String
`;
    await ssm.send(
      new CreateDocumentCommand({
        Name: documentName,
        Content: content,
        DocumentType: 'Automation',
        DocumentFormat: 'YAML',
      }),
    );
  });

  const runToEnd = async (client: SSMClient, parameters: Record<string, string[]>): Promise<AutomationExecution> => {
    const { AutomationExecutionId } = await client.send(
      new StartAutomationExecutionCommand({ DocumentName: documentName, Parameters: parameters }),
    );
    return eventually(async () => {
      const { AutomationExecution: execution } = await ssm.send(
        new GetAutomationExecutionCommand({ AutomationExecutionId }),
      );
      return ['Success', 'Failed'].includes(execution?.AutomationExecutionStatus ?? '') ? execution : undefined;
    });
  };

  it('runs a step as the assume role when its trust allows ssm.amazonaws.com for the execution', async () => {
    // Prepare
    const roleArn = await role('automation-reader', ssmTrust, allow('ssm:GetParameter'));

    // Act
    const execution = await runToEnd(ssm, { AutomationAssumeRole: [roleArn] });

    // Assess
    expect(execution.AutomationExecutionStatus).toBe('Success');
    expect(execution.StepExecutions?.[0]?.Outputs?.Colour).toEqual(['blue']);
  });

  it('fails the step (and the execution) with the denial when the assume role lacks the grant', async () => {
    // Prepare
    const roleArn = await role('automation-blind', ssmTrust, allow('ssm:DescribeParameters'));

    // Act
    const execution = await runToEnd(ssm, { AutomationAssumeRole: [roleArn] });

    // Assess
    expect(execution.AutomationExecutionStatus).toBe('Failed');
    const step = execution.StepExecutions?.[0];
    expect(step?.StepStatus).toBe('Failed');
    expect(step?.FailureMessage).toContain(
      `AccessDeniedException: User: arn:aws:sts::${ACCOUNT}:assumed-role/automation-blind/${execution.AutomationExecutionId} is not authorized to perform: ssm:GetParameter`,
    );
    expect(step?.FailureDetails?.FailureType).toBe('Permission');
  });

  it('refuses to start with an assume role that does not trust Systems Manager', async () => {
    // Prepare
    const roleArn = await role('automation-untrusted', trusting('lambda.amazonaws.com'), allow('ssm:GetParameter'));

    // Act
    const error = await failure(runToEnd(ssm, { AutomationAssumeRole: [roleArn] }));

    // Assess
    expect(error.name).toBe('InvalidAutomationExecutionParametersException');
    expect(error.message).toBe('The defined assume role is unable to be assumed.');
  });

  it('runs the steps as the caller who started it when no assume role is given', async () => {
    // Prepare
    const operator = await roleSession(sandbox, {
      roleName: 'automation-operator',
      policy: allow('ssm:StartAutomationExecution'),
      sessionName: 'operator',
    });
    const asOperator = new SSMClient(operator.clientConfig);

    // Act
    const execution = await runToEnd(asOperator, {});
    asOperator.destroy();

    // Assess
    expect(execution.AutomationExecutionStatus).toBe('Failed');
    expect(execution.ExecutedBy).toBe(operator.sessionArn);
    expect(execution.StepExecutions?.[0]?.FailureMessage).toContain(
      `User: ${operator.sessionArn} is not authorized to perform: ssm:GetParameter`,
    );
  });
});

describe('Scheduler fires a target as the schedule role', () => {
  interface Message {
    readonly kind: string;
    readonly body: string;
    readonly attributes: Record<string, string>;
  }
  const messages = async (queue: string): Promise<Message[]> =>
    (await sandbox.control('GET', `/_sandbox/dlq?queue=${encodeURIComponent(queueArn(queue))}`)).body as Message[];
  const groupArn = `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/nightly`;
  const fireOnce = async (name: string, roleArn: string, target: string): Promise<void> => {
    await scheduler.send(
      new CreateScheduleCommand({
        Name: name,
        GroupName: 'nightly',
        ScheduleExpression: 'rate(1 minute)',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: queueArn(target),
          RoleArn: roleArn,
          Input: JSON.stringify({ schedule: name }),
          DeadLetterConfig: { Arn: queueArn(`${target}-dlq`) },
        },
      }),
    );
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 61 });
  };

  beforeAll(async () => {
    await scheduler.send(new CreateScheduleGroupCommand({ Name: 'nightly' }));
  });

  it('delivers when the role trusts Scheduler for the schedule group and may send to the target', async () => {
    // Prepare
    const roleArn = await role(
      'schedule-sender',
      trusting('scheduler.amazonaws.com', {
        ArnEquals: { 'aws:SourceArn': groupArn },
        StringEquals: { 'aws:SourceAccount': ACCOUNT },
      }),
      allow('sqs:SendMessage'),
    );

    // Act
    await fireOnce('allowed', roleArn, 'inbox');

    // Assess
    const delivered = await eventually(async () => {
      const found = await messages('inbox');
      return found.length > 0 ? found : undefined;
    });
    expect(JSON.parse(delivered[0]?.body ?? '{}')).toEqual({ schedule: 'allowed' });
  });

  it('dead-letters the firing when the trust names schedule ARNs instead of the group (assume refused)', async () => {
    // Prepare
    const roleArn = await role(
      'schedule-confused',
      trusting('scheduler.amazonaws.com', {
        ArnLike: { 'aws:SourceArn': `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/nightly/*` },
      }),
      allow('sqs:SendMessage'),
    );

    // Act
    await fireOnce('confused', roleArn, 'confused-inbox');

    // Assess
    const dead = await eventually(async () => {
      const found = await messages('confused-inbox-dlq');
      return found.length > 0 ? found : undefined;
    });
    expect(dead[0]?.attributes.ERROR_CODE).toBe('AccessDeniedException');
    expect(dead[0]?.attributes.ERROR_MESSAGE).toContain(`cannot assume the role ${roleArn}`);
    expect(await messages('confused-inbox')).toEqual([]);
  });

  it('dead-letters the firing when the role may not call the target', async () => {
    // Prepare: the role may send to its dead-letter queue, as Scheduler requires, not to the target
    const roleArn = await role(
      'schedule-mute',
      trusting('scheduler.amazonaws.com', { ArnEquals: { 'aws:SourceArn': groupArn } }),
      {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queueArn('mute-inbox-dlq') }],
      },
    );

    // Act
    await fireOnce('mute', roleArn, 'mute-inbox');

    // Assess
    const dead = await eventually(async () => {
      const found = await messages('mute-inbox-dlq');
      return found.length > 0 ? found : undefined;
    });
    expect(dead[0]?.attributes).toMatchObject({
      ERROR_CODE: 'AccessDeniedException',
      ERROR_MESSAGE: `User: arn:aws:sts::${ACCOUNT}:assumed-role/schedule-mute/mute is not authorized to perform: sqs:SendMessage on resource: ${queueArn('mute-inbox')} because no identity-based policy allows the sqs:SendMessage action`,
    });
  });

  it('loses the failed firing when the role may not send to its dead-letter queue (the firing says why)', async () => {
    // Prepare: the role may call neither the target nor the dead-letter queue
    const roleArn = await role(
      'schedule-unsent',
      trusting('scheduler.amazonaws.com', { ArnEquals: { 'aws:SourceArn': groupArn } }),
      allow('lambda:InvokeFunction'),
    );

    // Act
    await fireOnce('unsent', roleArn, 'unsent-inbox');
    const firing = await eventually(async () => {
      const firings = (await sandbox.control('GET', '/_sandbox/schedules/firings')).body as {
        scheduleArn: string;
        status: string;
        error?: string;
      }[];
      return firings.find((f) => f.scheduleArn.endsWith('/unsent') && f.status !== 'pending');
    });

    // Assess
    expect(firing.status).toBe('failed');
    expect(firing.error).toContain('InvocationsFailedToBeSentToDlq');
    expect(firing.error).toContain(`sqs:SendMessage on resource: ${queueArn('unsent-inbox-dlq')}`);
    expect(await messages('unsent-inbox-dlq')).toEqual([]);
  });
});

describe('EventBridge rules invoke Lambda only with a permission for the rule', () => {
  interface Logged {
    readonly event: { readonly id: string };
    readonly deliveries: readonly { readonly status: string; readonly error?: string }[];
  }
  const settled = (id: string) =>
    eventually(async () => {
      const log = (await sandbox.control('GET', '/_sandbox/events')).body as Logged[];
      const logged = log.find((candidate) => candidate.event.id === id);
      return logged?.deliveries.every((d) => d.status !== 'pending') ? logged : undefined;
    });

  const ruleTo = async (name: string, functionName: string): Promise<string> => {
    const roleArn = await role(
      `${functionName}-role`,
      trusting('lambda.amazonaws.com'),
      allow('sts:GetCallerIdentity'),
    );
    await lambda.send(new CreateFunctionCommand(functionInput(functionName, roleArn, 'echo.handler')));
    const { RuleArn } = await events.send(
      new PutRuleCommand({ Name: name, EventPattern: JSON.stringify({ source: [`test.${name}`] }) }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: name,
        Targets: [{ Id: 'fn', Arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName}` }],
      }),
    );
    return RuleArn as string;
  };
  const put = async (name: string): Promise<string> => {
    const result = await events.send(
      new PutEventsCommand({ Entries: [{ Source: `test.${name}`, DetailType: 'Thing', Detail: '{}' }] }),
    );
    return result.Entries?.[0]?.EventId as string;
  };

  it('delivers to a function whose permission allows events.amazonaws.com from the rule', async () => {
    // Prepare
    const ruleArn = await ruleTo('permitted', 'permitted-fn');
    await lambda.send(
      new AddPermissionCommand({
        FunctionName: 'permitted-fn',
        StatementId: 'events',
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        SourceArn: ruleArn,
        SourceAccount: ACCOUNT,
      }),
    );

    // Act
    const logged = await settled(await put('permitted'));

    // Assess
    expect(logged.deliveries).toEqual([expect.objectContaining({ status: 'delivered' })]);
  });

  it('fails the delivery when the function has no permission for the rule', async () => {
    // Prepare
    await ruleTo('unpermitted', 'unpermitted-fn');
    await lambda.send(
      new AddPermissionCommand({
        FunctionName: 'unpermitted-fn',
        StatementId: 'other-rule',
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        SourceArn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/some-other-rule`,
      }),
    );

    // Act
    const logged = await settled(await put('unpermitted'));

    // Assess
    expect(logged.deliveries).toEqual([
      expect.objectContaining({
        status: 'failed',
        error: `AccessDeniedException: User: events.amazonaws.com is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:${REGION}:${ACCOUNT}:function:unpermitted-fn because no resource-based policy allows the lambda:InvokeFunction action`,
      }),
    ]);
  });
});
