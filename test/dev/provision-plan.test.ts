/**
 * The provisioning plan for the real synthesized BakePipeline stack (synthesized once for this
 * file, or taken from the `.sandbox` cache when its inputs have not changed): every resource is
 * classified, every emulated one plans to API calls with every reference resolved, and the values
 * are the ones computed here from the template and the repository, independently of the resolver.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CfnTemplate, readAssemblyStack } from '@bakehouse/sandbox';
import {
  generatedName,
  type PlannedResource,
  planResource,
  provisioningOrder,
  supportOf,
  TemplateResolver,
} from '@bakehouse/sandbox/provision';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { synthesizeForSandbox } from '../../dev/synth';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const STACK = 'dev-bakehouse-BakePipeline';

type Props = Record<string, unknown>;

let assemblyDir: string;
let template: CfnTemplate;
let plans: Map<string, PlannedResource>;
let order: string[];

const idsOfType = (type: string): string[] =>
  Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id]) => id);

const propsOf = (logicalId: string): Props => template.Resources[logicalId]?.Properties ?? {};

/** The logical id of the function whose FunctionName is `bakehouse-dev-<id>`. */
const functionId = (id: string): string => {
  const found = idsOfType('AWS::Lambda::Function').find((fn) => propsOf(fn).FunctionName === `bakehouse-dev-${id}`);
  if (!found) throw new Error(`no function bakehouse-dev-${id}`);
  return found;
};

const functionArn = (id: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:bakehouse-dev-${id}`;
const queueArn = (prefix: string) => {
  const [logicalId] = idsOfType('AWS::SQS::Queue').filter((id) => id.startsWith(prefix));
  return `arn:aws:sqs:${REGION}:${ACCOUNT}:${generatedName(STACK, logicalId as string, 80)}`;
};

const roleArn = (prefix: string) => {
  const [logicalId] = idsOfType('AWS::IAM::Role').filter((id) => id.startsWith(prefix));
  return `arn:aws:iam::${ACCOUNT}:role/${generatedName(STACK, logicalId as string, 64)}`;
};

const callOf = (logicalId: string, action: string): Props => {
  const call = plans.get(logicalId)?.calls.find((c) => c.action === action);
  if (!call) throw new Error(`${logicalId} plans no ${action}`);
  return call.input;
};

/** True when a value still holds a CloudFormation intrinsic. */
const hasIntrinsic = (value: unknown): boolean =>
  Array.isArray(value)
    ? value.some(hasIntrinsic)
    : typeof value === 'object' && value !== null
      ? Object.keys(value).some((key) => key === 'Ref' || key.startsWith('Fn::')) ||
        Object.values(value).some(hasIntrinsic)
      : false;

beforeAll(async () => {
  ({ assemblyDir } = await synthesizeForSandbox({ account: ACCOUNT, region: REGION }));
  const stack = readAssemblyStack(assemblyDir);
  template = stack.template;
  const resolver = new TemplateResolver(template, { account: ACCOUNT, region: REGION, stackName: stack.stackName });
  order = provisioningOrder(resolver);
  plans = new Map(
    order
      .filter((id) => supportOf(template.Resources[id]?.Type ?? '') === 'emulated')
      .map((id) => [id, planResource(resolver, assemblyDir, id)]),
  );
});

describe('provision plan: the synthesized BakePipeline stack', () => {
  it('classifies every resource: the pipeline types, IAM and queue policies are emulated, logs, alarms, the dashboard and queues are not, none unsupported', () => {
    // Act
    const byType = Object.fromEntries(
      [...new Set(Object.values(template.Resources).map((r) => r.Type))].map((type) => [type, supportOf(type)]),
    );

    // Assess
    expect(byType).toEqual({
      'AWS::DynamoDB::Table': 'emulated',
      'AWS::IAM::Role': 'emulated',
      'AWS::IAM::Policy': 'emulated',
      'AWS::IAM::InstanceProfile': 'emulated',
      'AWS::Logs::LogGroup': 'notEmulated',
      'AWS::CloudWatch::Alarm': 'notEmulated',
      'AWS::CloudWatch::Dashboard': 'notEmulated',
      'AWS::SQS::Queue': 'notEmulated',
      'AWS::SQS::QueuePolicy': 'emulated',
      'AWS::EventSchemas::Registry': 'notEmulated',
      'AWS::EventSchemas::Schema': 'notEmulated',
      'AWS::Lambda::Function': 'emulated',
      'AWS::Lambda::EventInvokeConfig': 'emulated',
      'AWS::Lambda::Permission': 'emulated',
      'AWS::SSM::Parameter': 'emulated',
      'AWS::SSM::Document': 'emulated',
      'AWS::Events::EventBus': 'emulated',
      'AWS::Events::EventBusPolicy': 'emulated',
      'AWS::Events::Rule': 'emulated',
      'AWS::Scheduler::ScheduleGroup': 'emulated',
      'AWS::Scheduler::Schedule': 'emulated',
      'AWS::StepFunctions::StateMachine': 'emulated',
      'AWS::SecretsManager::Secret': 'emulated',
    });
    expect(supportOf('AWS::EC2::VPC')).toBe('unsupported');
    expect(supportOf('Custom::AWSCDKOpenIdConnectProvider')).toBe('notEmulated');
  });

  it('orders every resource after what it refers to or depends on', () => {
    // Prepare
    const position = new Map(order.map((id, index) => [id, index]));

    // Act
    const violations = order.flatMap((id) => {
      const resource = template.Resources[id];
      const text = JSON.stringify(resource?.Properties ?? {});
      const refs = [...text.matchAll(/"(?:Ref|Fn::GetAtt)":\s*\[?"([A-Za-z0-9]+)/g)].map((m) => m[1] as string);
      const deps = [...refs, ...[resource?.DependsOn ?? []].flat()].filter((dep) => dep in template.Resources);
      return deps.filter((dep) => (position.get(dep) ?? -1) > (position.get(id) ?? -1)).map((dep) => `${id} < ${dep}`);
    });

    // Assess
    expect(order).toHaveLength(Object.keys(template.Resources).length);
    expect(violations).toEqual([]);
  });

  it('plans every emulated resource with every reference resolved', () => {
    // Act
    const unresolved = [...plans.values()].filter((plan) => plan.calls.some((call) => hasIntrinsic(call.input)));

    // Assess
    expect(plans.size).toBe(Object.values(template.Resources).filter((r) => supportOf(r.Type) === 'emulated').length);
    expect(unresolved.map((plan) => plan.logicalId)).toEqual([]);
  });

  it('creates each function with its handler, runtime, limits, code asset, role and resolved environment', () => {
    // Prepare
    const startBake = functionId('StartBake');
    const source = propsOf(startBake);

    // Act
    const input = callOf(startBake, 'CreateFunction');

    // Assess
    expect(input).toMatchObject({
      FunctionName: 'bakehouse-dev-StartBake',
      Handler: source.Handler,
      Runtime: 'nodejs24.x',
      Timeout: source.Timeout,
      MemorySize: source.MemorySize,
      Architectures: ['arm64'],
      Code: source.Code,
      Tags: { 'sst:app': 'bakehouse', 'sst:stage': 'dev' },
    });
    expect(input.Role).toBe(roleArn('StartBakeRole'));
    expect((input.Environment as { Variables: Props }).Variables).toMatchObject({
      EVENT_BUS_NAME: 'bakehouse-dev',
      STATE_MACHINE_ARN: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:bakehouse-dev-bake`,
      POWERTOOLS_SERVICE_NAME: 'bakehouse',
    });
  });

  it("resolves PlanBake's automation role and builder instance profile to the generated IAM names", () => {
    // Act
    const variables = (callOf(functionId('PlanBake'), 'CreateFunction').Environment as { Variables: Props }).Variables;

    // Assess
    expect(variables.AUTOMATION_ROLE_ARN).toBe(roleArn('AutomationRole'));
    expect(variables.BUILDER_INSTANCE_PROFILE).toBe(generatedName(STACK, 'BuilderInstanceProfile', 128));
  });

  it('creates the state machine from the definition asset with every substitution applied', () => {
    // Prepare
    const [machine] = idsOfType('AWS::StepFunctions::StateMachine');
    const substitutions = {
      PlanBakeFunctionArn: functionArn('PlanBake'),
      WaitForAutomationFunctionArn: functionArn('WaitForAutomation'),
      CleanUpFailedBakeFunctionArn: functionArn('CleanUpFailedBake'),
      EventBusName: 'bakehouse-dev',
      EventSource: 'bakehouse',
      AutomationWaitSeconds: '600',
      StateTableName: String(callOf(idsOfType('AWS::DynamoDB::Table')[0] as string, 'CreateTable').TableName),
    };
    const expected = Object.entries(substitutions).reduce(
      (text, [name, value]) => text.replaceAll(`\${${name}}`, value),
      readFileSync(join('state-machines', 'bake.asl.json'), 'utf8'),
    );

    // Act
    const input = callOf(machine as string, 'CreateStateMachine');

    // Assess
    expect(input.name).toBe('bakehouse-dev-bake');
    expect(input.definition).not.toMatch(/\$\{[A-Za-z]+\}/);
    expect(JSON.parse(input.definition as string)).toEqual(JSON.parse(expected));
    expect(input.roleArn).toBe(roleArn('BakeStateMachineRole'));
    expect(input.loggingConfiguration).toMatchObject({ level: 'ALL', includeExecutionData: false });
    expect(input.tracingConfiguration).toEqual({ enabled: true });
  });

  it('puts each rule with its pattern as JSON and its targets with the function, retry policy and dead-letter queue', () => {
    // Prepare
    const [bakeRequested] = idsOfType('AWS::Events::Rule').filter((id) => id.startsWith('BakeRequested'));
    const source = propsOf(bakeRequested as string);

    // Act
    const putRule = callOf(bakeRequested as string, 'PutRule');
    const putTargets = callOf(bakeRequested as string, 'PutTargets');

    // Assess
    expect(putRule).toMatchObject({ EventBusName: 'bakehouse-dev', State: 'ENABLED' });
    expect(JSON.parse(putRule.EventPattern as string)).toEqual(source.EventPattern);
    expect(putTargets.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: functionArn('StartBake'),
        DeadLetterConfig: { Arn: queueArn('BakeRequestedDlq') },
        RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 },
      },
    ]);
  });

  it('puts the automation status rule on the default bus', () => {
    // Prepare
    const [automation] = idsOfType('AWS::Events::Rule').filter((id) => id.startsWith('AutomationStatusChanged'));

    // Act
    const putRule = callOf(automation as string, 'PutRule');

    // Assess
    expect(putRule.EventBusName).toBeUndefined();
    expect(JSON.parse(putRule.EventPattern as string)).toEqual(propsOf(automation as string).EventPattern);
  });

  it('creates each schedule in the group, targeting ScheduleTick with its input and dead-letter queue', () => {
    // Act
    const schedules = idsOfType('AWS::Scheduler::Schedule')
      // The janitor's and the reaper's schedules live in the default group.
      .filter((id) => !id.startsWith('JanitorSchedule') && !id.startsWith('ReaperSchedule'))
      .map((id) => callOf(id, 'CreateSchedule'));

    // Assess
    expect(schedules.map((s) => s.Name).sort()).toEqual(['al2023-base', 'ubuntu-2404-base', 'windows-2022-base']);
    for (const schedule of schedules) {
      expect(schedule.GroupName).toBe('bakehouse-dev');
      expect(schedule.Target).toMatchObject({
        Arn: functionArn('ScheduleTick'),
        DeadLetterConfig: { Arn: queueArn('ScheduleDlq') },
        Input: JSON.stringify({ family: schedule.Name, scheduledTime: '<aws.scheduler.scheduled-time>' }),
      });
    }
  });

  it('creates the bake documents as YAML whose content is the template content', () => {
    // Act
    const documents = idsOfType('AWS::SSM::Document').map((id) => [id, callOf(id, 'CreateDocument')] as const);

    // Assess
    expect(documents.map(([, input]) => input.Name).sort()).toEqual([
      'bakehouse-dev-bake-linux',
      'bakehouse-dev-bake-windows',
      // One test document per family with tests (stacks/ami-tests.ts).
      'bakehouse-dev-test-al2023-base',
      'bakehouse-dev-test-al2023-web',
      'bakehouse-dev-test-ubuntu-2404-base',
      'bakehouse-dev-test-windows-2022-base',
    ]);
    for (const [id, input] of documents) {
      expect(input).toMatchObject({ DocumentType: 'Automation', DocumentFormat: 'YAML' });
      expect(parseYaml(input.Content as string)).toEqual(propsOf(id).Content);
    }
  });

  it("puts the SST function-name parameters with the functions' names", () => {
    // Act
    const parameters = idsOfType('AWS::SSM::Parameter').map((id) => callOf(id, 'PutParameter'));

    // Assess
    expect(parameters).toContainEqual(
      expect.objectContaining({
        Name: '/sst/bakehouse/dev/Function/ScheduleTick/functionName',
        Value: 'bakehouse-dev-ScheduleTick',
        Type: 'String',
      }),
    );
    // One per Bakehouse function (SST's own custom-resource handler has none), besides the
    // deployed configuration (stacks/deployed-config.ts).
    const named = idsOfType('AWS::Lambda::Function').filter((id) => propsOf(id).FunctionName !== undefined);
    expect(named.length).toBeGreaterThanOrEqual(6);
    const sst = parameters.filter((input) => String(input?.Name).startsWith('/sst/'));
    expect(sst).toHaveLength(named.length);
    expect(parameters.map((input) => input?.Name)).toContain('/bakehouse/_config/dev');
    expect(parameters).toHaveLength(named.length + 1);
  });

  it('merges the cross-account statement into the bus policy, on the bus ARN', () => {
    // Prepare
    const [policy] = idsOfType('AWS::Events::EventBusPolicy');

    // Act
    const input = callOf(policy as string, 'PutPermission');

    // Assess
    expect(input.EventBusName).toBe('bakehouse-dev');
    expect(JSON.parse(input.Policy as string).Statement).toEqual([
      expect.objectContaining({
        Sid: 'cdk-BakeRequestsFromAccounts',
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Principal: { AWS: 'arn:aws:iam::111122223333:root' },
        Resource: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/bakehouse-dev`,
      }),
    ]);
  });

  it('sends async failures to the dead-letter queues and allows EventBridge to invoke the rule targets', () => {
    // Prepare
    const invokeConfigs = idsOfType('AWS::Lambda::EventInvokeConfig').map((id) =>
      callOf(id, 'PutFunctionEventInvokeConfig'),
    );
    const permissions = idsOfType('AWS::Lambda::Permission').map((id) => callOf(id, 'AddPermission'));

    // Assess
    expect(invokeConfigs).toContainEqual({
      FunctionName: 'bakehouse-dev-StartBake',
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: queueArn('RejectedBakeRequests') } },
    });
    expect(permissions).toContainEqual(
      expect.objectContaining({
        FunctionName: functionArn('StartBake'),
        Principal: 'events.amazonaws.com',
        Action: 'lambda:InvokeFunction',
        SourceArn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/bakehouse-dev/${generatedName(
          STACK,
          idsOfType('AWS::Events::Rule').find((id) => id.startsWith('BakeRequested')) as string,
          64,
        )}`,
      }),
    );
  });
});
