/**
 * The authorizations of SSM, EventBridge, Step Functions, Lambda, Scheduler, Auto Scaling and
 * Secrets Manager actions: every action the sandbox answers is either mapped to the checks AWS
 * makes or has no resource-level permissions in the Service Authorization Reference, every IAM
 * action a mapper names exists there, and the ARNs and condition keys are the reference's.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { AuthzCheck } from '../../src/authz/authorizer';
import { type IamCatalog, loadCatalog } from '../../src/authz/catalog';
import type { HttpRequest, SandboxService, ServiceContext } from '../../src/service';
import { allServices } from '../../src/services';
import { autoScalingAuthz } from '../../src/services/autoscaling/authz';
import { eventsAuthz } from '../../src/services/events/authz';
import { lambdaAuthz } from '../../src/services/lambda/authz';
import { schedulerAuthz } from '../../src/services/scheduler/authz';
import { secretsManagerAuthz } from '../../src/services/secrets-manager-authz';
import { ssmAuthz } from '../../src/services/ssm/authz';
import { statesAuthz } from '../../src/services/stepfunctions/authz';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const OWNED = ['autoscaling', 'events', 'lambda', 'scheduler', 'secretsmanager', 'ssm', 'states'];

type Rows = Record<string, Record<string, Record<string, unknown>>>;

/** A service context over fixed tables, called by a role session of the account. */
const contextOf = (rows: Rows = {}): ServiceContext => {
  const tables = new Map(Object.entries(rows).map(([name, table]) => [name, new Map(Object.entries(table))]));
  return {
    region: REGION,
    account: ACCOUNT,
    store: {
      get: (table: string, id: string) => tables.get(table)?.get(id),
      table: (table: string) => tables.get(table) ?? new Map(),
    },
    caller: {
      kind: 'role-session',
      principal: {
        type: 'AssumedRole',
        arn: `arn:aws:sts::${ACCOUNT}:assumed-role/r/s`,
        account: ACCOUNT,
        roleArn: `arn:aws:iam::${ACCOUNT}:role/r`,
      },
    },
  } as unknown as ServiceContext;
};

const request = (overrides: Partial<HttpRequest>): HttpRequest => ({
  method: 'GET',
  path: '/',
  query: new URLSearchParams(),
  headers: {},
  body: '',
  params: {},
  ...overrides,
});

const actionsOf = (service: SandboxService): string[] =>
  service.protocol === 'rest-json' ? service.routes.map((route) => route.action) : Object.keys(service.actions);

const prefixOf = (service: SandboxService): string => service.iamPrefix ?? service.signingName;

/** Each mapper, called with an input that names nothing: the checks it makes all the same. */
const emptyInputChecks = (service: SandboxService, action: string): readonly AuthzCheck[] => {
  const ctx = contextOf();
  if (service.protocol === 'rest-json') return service.authz?.[action]?.(request({}), ctx) ?? [];
  if (service.protocol === 'json') return service.authz?.[action]?.({}, ctx) ?? [];
  return service.authz?.[action]?.(new Map(), ctx) ?? [];
};

describe('authorization of the services other than EC2', () => {
  let catalog: IamCatalog;
  const owned = allServices.filter((service) => OWNED.includes(prefixOf(service)));

  beforeAll(async () => {
    catalog = await loadCatalog();
  });

  it('covers the seven services', () => {
    // Assess
    expect(owned.map(prefixOf).sort()).toEqual([...OWNED].sort());
  });

  it('maps every action that has resource types, or whose IAM name differs, and leaves only wildcard-only ones to PREFIX:Action on *', () => {
    // Act
    const unmapped = owned.flatMap((service) =>
      actionsOf(service)
        .filter((action) => service.authz?.[action] === undefined)
        .filter((action) => catalog.action(prefixOf(service), action)?.wildcardOnly !== true)
        .map((action) => `${prefixOf(service)}:${action}`),
    );

    // Assess
    expect(unmapped).toEqual([]);
  });

  it('names only IAM actions of the Service Authorization Reference, whatever the input', () => {
    // Act
    const unknown = owned.flatMap((service) =>
      actionsOf(service).flatMap((action) =>
        emptyInputChecks(service, action)
          .map((check) => check.action)
          .filter((name) => {
            const [prefix = '', verb = ''] = name.split(':');
            return catalog.action(prefix, verb) === undefined;
          }),
      ),
    );

    // Assess
    expect(unknown).toEqual([]);
  });

  it('maps no action of a service to another service than itself and iam:PassRole', () => {
    // Act
    const foreign = owned.flatMap((service) =>
      Object.keys(service.authz ?? {}).flatMap((action) =>
        emptyInputChecks(service, action)
          .map((check) => check.action)
          .filter((name) => !name.startsWith(`${prefixOf(service)}:`) && name !== 'iam:PassRole'),
      ),
    );

    // Assess
    expect(foreign).toEqual([]);
  });
});

describe('SSM checks', () => {
  it('authorizes a parameter on its ARN without the leading slash, without its version selector', () => {
    // Act
    const checks = ssmAuthz.GetParameter?.({ Name: '/bakehouse/dev/linux:3' }, contextOf());

    // Assess
    expect(checks).toEqual([
      { action: 'ssm:GetParameter', resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/bakehouse/dev/linux` },
    ]);
  });

  it('authorizes a public parameter on an ARN without account', () => {
    // Prepare
    const name = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
    const ctx = contextOf({ 'ssm.parameters': { [name]: { name, public: true, tags: {} } } });

    // Act
    const checks = ssmAuthz.GetParameters?.({ Names: [name, 'plain'] }, ctx);

    // Assess
    expect(checks?.map((check) => check.resource)).toEqual([
      `arn:aws:ssm:${REGION}::parameter/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`,
      `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/plain`,
    ]);
  });

  it('authorizes GetParametersByPath on the path', () => {
    // Act
    const checks = ssmAuthz.GetParametersByPath?.({ Path: '/bakehouse/dev', Recursive: true }, contextOf());

    // Assess
    expect(checks?.[0]?.resource).toBe(`arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/bakehouse/dev`);
  });

  it('authorizes SendCommand on the AWS-owned document (no account) and each instance with its tags as ssm:resourceTag', () => {
    // Prepare
    const ctx = contextOf({
      'ssm.documents': { 'AWS-RunShellScript': { name: 'AWS-RunShellScript', owner: 'Amazon', tags: {} } },
      'ec2.instances': { 'i-0abc': { instanceId: 'i-0abc', tags: { 'bakehouse:role': 'builder' } } },
    });

    // Act
    const checks = ssmAuthz.SendCommand?.({ DocumentName: 'AWS-RunShellScript', InstanceIds: ['i-0abc'] }, ctx);

    // Assess
    expect(checks).toEqual([
      { action: 'ssm:SendCommand', resource: `arn:aws:ssm:${REGION}::document/AWS-RunShellScript` },
      {
        action: 'ssm:SendCommand',
        resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0abc`,
        context: { 'ssm:resourceTag/bakehouse:role': 'builder', 'aws:ResourceTag/bakehouse:role': 'builder' },
      },
    ]);
  });

  it('authorizes SendCommand by Targets on each running managed instance they select', () => {
    // Prepare
    const instance = (id: string, state: string, role: string) => ({
      instanceId: id,
      state,
      iamInstanceProfile: 'arn:aws:iam::123456789012:instance-profile/builder',
      tags: { 'bakehouse:role': role },
    });
    const ctx = contextOf({
      'ec2.instances': {
        'i-1': instance('i-1', 'running', 'tester'),
        'i-2': instance('i-2', 'stopped', 'tester'),
        'i-3': instance('i-3', 'running', 'builder'),
      },
    });

    // Act
    const checks = ssmAuthz.SendCommand?.(
      { DocumentName: 'my-checks', Targets: [{ Key: 'tag:bakehouse:role', Values: ['tester'] }] },
      ctx,
    );

    // Assess
    expect(checks?.map((check) => check.resource)).toEqual([
      `arn:aws:ssm:${REGION}:${ACCOUNT}:document/my-checks`,
      `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-1`,
    ]);
  });

  it('authorizes StartAutomationExecution on the document and the new execution, and passes the assume role to SSM', () => {
    // Act
    const checks = ssmAuthz.StartAutomationExecution?.(
      {
        DocumentName: 'bakehouse-dev-BakeLinux',
        Parameters: { AutomationAssumeRole: [`arn:aws:iam::${ACCOUNT}:role/automation`] },
      },
      contextOf(),
    );

    // Assess
    expect(checks).toEqual([
      {
        action: 'ssm:StartAutomationExecution',
        resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:document/bakehouse-dev-BakeLinux`,
      },
      {
        action: 'ssm:StartAutomationExecution',
        resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:automation-execution/*`,
      },
      {
        action: 'iam:PassRole',
        resource: `arn:aws:iam::${ACCOUNT}:role/automation`,
        context: { 'iam:PassedToService': 'ssm.amazonaws.com' },
      },
    ]);
  });

  it('authorizes reading an automation on its execution ARN', () => {
    // Act
    const checks = ssmAuthz.DescribeAutomationStepExecutions?.({ AutomationExecutionId: 'abc-123' }, contextOf());

    // Assess
    expect(checks?.[0]?.resource).toBe(`arn:aws:ssm:${REGION}:${ACCOUNT}:automation-execution/abc-123`);
  });
});

describe('EventBridge checks', () => {
  it('authorizes PutEvents once per bus, with every entry source and detail-type of that bus', () => {
    // Act
    const checks = eventsAuthz.PutEvents?.(
      {
        Entries: [
          { EventBusName: 'bakehouse', Source: 'bakehouse', DetailType: 'Bake Requested', Detail: '{}' },
          { EventBusName: 'bakehouse', Source: 'bakehouse', DetailType: 'AMI Baked', Detail: '{}' },
          { Source: 'other', DetailType: 'Ping', Detail: '{}' },
        ],
      },
      contextOf(),
    );

    // Assess
    expect(checks?.map((check) => [check.resource, check.context?.['events:detail-type']])).toEqual([
      [`arn:aws:events:${REGION}:${ACCOUNT}:event-bus/bakehouse`, ['Bake Requested', 'AMI Baked']],
      [`arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`, ['Ping']],
    ]);
    expect(checks?.[0]?.context?.['events:source']).toEqual(['bakehouse']);
  });

  it('authorizes rules on rule/BUS/NAME (rule/NAME on the default bus) and passes target roles to EventBridge', () => {
    // Act
    const onCustom = eventsAuthz.PutTargets?.(
      {
        Rule: 'StartBake',
        EventBusName: 'bakehouse',
        Targets: [{ Id: 'q', Arn: 'arn:aws:sqs:eu-west-1:123456789012:q', RoleArn: `arn:aws:iam::${ACCOUNT}:role/t` }],
      },
      contextOf(),
    );
    const onDefault = eventsAuthz.DescribeRule?.({ Name: 'Nightly' }, contextOf());

    // Assess
    expect(onCustom).toEqual([
      {
        action: 'events:PutTargets',
        resource: `arn:aws:events:${REGION}:${ACCOUNT}:rule/bakehouse/StartBake`,
        context: { 'events:TargetArn': ['arn:aws:sqs:eu-west-1:123456789012:q'] },
      },
      {
        action: 'iam:PassRole',
        resource: `arn:aws:iam::${ACCOUNT}:role/t`,
        context: { 'iam:PassedToService': 'events.amazonaws.com' },
      },
    ]);
    expect(onDefault?.[0]?.resource).toBe(`arn:aws:events:${REGION}:${ACCOUNT}:rule/Nightly`);
  });
});

describe('Step Functions, Lambda, Scheduler, Auto Scaling and Secrets Manager checks', () => {
  it('passes a new state machine role to Step Functions', () => {
    // Act
    const checks = statesAuthz.CreateStateMachine?.(
      { name: 'bake', definition: '{}', roleArn: `arn:aws:iam::${ACCOUNT}:role/sm` },
      contextOf(),
    );

    // Assess
    expect(checks?.map((check) => [check.action, check.resource, check.context])).toEqual([
      ['states:CreateStateMachine', `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:bake`, undefined],
      ['iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/sm`, { 'iam:PassedToService': 'states.amazonaws.com' }],
    ]);
  });

  it('maps the route Invoke to lambda:InvokeFunction on the qualified ARN of a name, partial ARN or full ARN', () => {
    // Act
    const resources = [
      request({ params: { FunctionName: 'janitor' }, query: new URLSearchParams('Qualifier=live') }),
      request({ params: { FunctionName: `${ACCOUNT}:function:janitor:7` } }),
      request({ params: { FunctionName: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:janitor` } }),
    ].map((invocation) => lambdaAuthz.Invoke?.(invocation, contextOf())?.[0]);

    // Assess
    expect(resources.map((check) => [check?.action, check?.resource])).toEqual([
      ['lambda:InvokeFunction', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:janitor:live`],
      ['lambda:InvokeFunction', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:janitor:7`],
      ['lambda:InvokeFunction', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:janitor`],
    ]);
  });

  it('decides Invoke with the function permissions as its resource policy', () => {
    // Prepare
    const statement = {
      Sid: 's',
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'lambda:InvokeFunction',
    };
    const ctx = contextOf({ 'lambda.functions': { [`${REGION}/janitor`]: { name: 'janitor', policy: [statement] } } });

    // Act
    const [check] = lambdaAuthz.Invoke?.(request({ params: { FunctionName: 'janitor' } }), ctx) ?? [];

    // Assess
    expect(check?.resourcePolicy).toEqual({ Version: '2012-10-17', Statement: [statement] });
  });

  it('passes a schedule target role to Scheduler, on the schedule of the group the body names', () => {
    // Act
    const checks = schedulerAuthz.CreateSchedule?.(
      request({
        method: 'POST',
        params: { name: 'nightly' },
        body: JSON.stringify({
          GroupName: 'bakehouse-dev',
          Target: { Arn: 'x', RoleArn: `arn:aws:iam::${ACCOUNT}:role/s` },
        }),
      }),
      contextOf(),
    );

    // Assess
    expect(checks?.map((check) => [check.action, check.resource])).toEqual([
      ['scheduler:CreateSchedule', `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/bakehouse-dev/nightly`],
      ['iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/s`],
    ]);
    expect(checks?.[1]?.context).toEqual({ 'iam:PassedToService': 'scheduler.amazonaws.com' });
  });

  it('authorizes an instance refresh on the group ARN the sandbox stores, with the group tags', () => {
    // Prepare
    const arn = `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:1111:autoScalingGroupName/web`;
    const ctx = contextOf({
      'autoscaling.groups': {
        web: { autoScalingGroupArn: arn, tags: [{ key: 'team', value: 'web', propagateAtLaunch: true }] },
      },
    });

    // Act
    const checks = autoScalingAuthz.StartInstanceRefresh?.(new Map([['AutoScalingGroupName', 'web']]), ctx);

    // Assess
    expect(checks).toEqual([
      {
        action: 'autoscaling:StartInstanceRefresh',
        resource: arn,
        context: { 'autoscaling:ResourceTag/team': 'web', 'aws:ResourceTag/team': 'web' },
      },
    ]);
  });

  it('resolves a secret name or partial ARN to the stored secret full ARN, and keeps the named ARN otherwise', () => {
    // Prepare
    const arn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:slack-AbCdEf`;
    const ctx = contextOf({ 'secretsmanager.secrets': { slack: { arn, name: 'slack', tags: [] } } });
    const missing = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:gone-123456`;

    // Act
    const resources = ['slack', arn.slice(0, -7), missing].map(
      (SecretId) => secretsManagerAuthz.GetSecretValue?.({ SecretId }, ctx)?.[0]?.resource,
    );

    // Assess
    expect(resources).toEqual([arn, arn, missing]);
  });
});
