/**
 * The sandbox provisioned from the synthesized BakePipeline stack, read back through the AWS
 * APIs: every rule, target, schedule, state machine, function, parameter and document of the
 * template exists with the pattern, input, definition and environment the template gives it.
 * Expected values are computed here from the raw template and the repository (names, the ASL
 * file, the substitutions), not by the provisioning code. Provisioning again, and again after a
 * restart on the same state, changes nothing and fails on nothing.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeEventBusCommand,
  DescribeRuleCommand,
  EventBridgeClient,
  ListRulesCommand,
  ListTargetsByRuleCommand,
} from '@aws-sdk/client-eventbridge';
import {
  GetInstanceProfileCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import {
  GetFunctionConfigurationCommand,
  GetFunctionEventInvokeConfigCommand,
  GetPolicyCommand,
  LambdaClient,
  ListFunctionsCommand,
} from '@aws-sdk/client-lambda';
import { GetScheduleCommand, ListSchedulesCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { DescribeStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DescribeDocumentCommand, GetDocumentCommand, GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { type CfnTemplate, type ProvisionReport, provisionFromAssembly, readAssemblyStack } from '@bakehouse/sandbox';
import { startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { synthesizeForSandbox } from '../../dev/synth';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const STACK = 'dev-bakehouse-BakePipeline';
const BUS = 'bakehouse-dev';

type Props = Record<string, unknown>;

let assemblyDir: string;
let template: CfnTemplate;
let stateDir: string;
let sandbox: TestSandbox;
let first: ProvisionReport;

const clients = () => {
  const config = sandbox.clientConfig;
  return {
    events: new EventBridgeClient(config),
    iam: new IAMClient(config),
    lambda: new LambdaClient(config),
    scheduler: new SchedulerClient(config),
    sfn: new SFNClient(config),
    ssm: new SSMClient(config),
  };
};

const resourcesOfType = (type: string): [string, Props][] =>
  Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id, resource]) => [id, resource.Properties ?? {}]);

const propsOf = (logicalId: string): Props => template.Resources[logicalId]?.Properties ?? {};

const functionArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;

/**
 * A CloudFormation-generated name: `<stack>-<logicalId>-<12 upper-case letters and digits>`, the
 * stack name and logical id each cut short (to a non-empty prefix) when the whole exceeds `max`.
 */
const isGeneratedName = (name: string, logicalId: string, max: number): boolean => {
  const match = /^(.+)-[A-Z0-9]{12}$/.exec(name);
  if (!match || name.length > max) return false;
  const head = match[1] as string;
  return [...head].some(
    (char, i) =>
      char === '-' &&
      i > 0 &&
      STACK.startsWith(head.slice(0, i)) &&
      head.length > i + 1 &&
      logicalId.startsWith(head.slice(i + 1)),
  );
};
const generatedMatching = (logicalId: string, max: number) => ({
  asymmetricMatch: (name: unknown) => typeof name === 'string' && isGeneratedName(name, logicalId, max),
  toString: () => `a name generated for ${logicalId}`,
});
const arnWithGenerated = (prefix: string, logicalId: string, max: number) => ({
  asymmetricMatch: (arn: unknown) =>
    typeof arn === 'string' && arn.startsWith(prefix) && isGeneratedName(arn.slice(prefix.length), logicalId, max),
  toString: () => `${prefix}<a name generated for ${logicalId}>`,
});
const queueArnOf = (logicalId: string) => arnWithGenerated(`arn:aws:sqs:${REGION}:${ACCOUNT}:`, logicalId, 80);

/**
 * The function a `Fn::GetAtt [X, Arn]` names, by its template FunctionName; or the state machine a
 * `Ref` names (the canary rule's target), by its StateMachineName.
 */
const targetFunctionArn = (target: unknown): string => {
  const ref = (target as { Ref?: string }).Ref;
  if (ref !== undefined) {
    return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${String(propsOf(ref).StateMachineName)}`;
  }
  const [logicalId] = (target as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
  return functionArn(String(propsOf(logicalId).FunctionName));
};

/**
 * What a template environment value becomes, computed without the resolver: literals stay, the
 * bus Ref is the bus name, CDK's `arn:${Partition}:…` joins are joined with `aws`, and IAM names
 * are generated from their logical ids.
 */
/** The state table's name, as the provisioning created it (CloudFormation generates it). */
const stateTableName = (): string => {
  const table = first.created.find((resource) => resource.type === 'AWS::DynamoDB::Table');
  if (!table) throw new Error('the provisioning created no AWS::DynamoDB::Table');
  return table.physicalId;
};

const expectedValue = (value: unknown): unknown => {
  if (typeof value === 'string') return value;
  const v = value as Props;
  if (v.Ref !== undefined) {
    const target = template.Resources[String(v.Ref)];
    if (target?.Type === 'AWS::Events::EventBus') return String(target.Properties?.Name);
    if (target?.Type === 'AWS::IAM::InstanceProfile') return generatedMatching(String(v.Ref), 128);
    if (target?.Type === 'AWS::DynamoDB::Table') return stateTableName();
  }
  if (v['Fn::Join'] !== undefined) {
    const [delimiter, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts
      .map((part) => (typeof part === 'string' ? part : (part as Props).Ref === 'AWS::Partition' ? 'aws' : '?'))
      .join(delimiter);
  }
  const [getAttId, attribute] = (v['Fn::GetAtt'] as string[] | undefined) ?? [];
  if (template.Resources[String(getAttId)]?.Type === 'AWS::IAM::Role' && attribute === 'Arn') {
    return arnWithGenerated(`arn:aws:iam::${ACCOUNT}:role/`, String(getAttId), 64);
  }
  throw new Error(`no expectation for ${JSON.stringify(value)}`);
};

/**
 * A rule pattern with its state machine Refs resolved (the bake rule on Step Functions' status
 * changes names the machine's ARN, which a Ref to a state machine gives).
 */
const withStateMachineArns = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withStateMachineArns);
  if (typeof value !== 'object' || value === null) return value;
  const ref = (value as Props).Ref;
  const target = ref === undefined ? undefined : template.Resources[String(ref)];
  if (target?.Type === 'AWS::StepFunctions::StateMachine') {
    return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${String(target.Properties?.StateMachineName)}`;
  }
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withStateMachineArns(item)]));
};

/** A template value with the pseudo parameters and their `Fn::Join`s resolved, at any depth. */
const withPseudoParameters = (value: unknown): unknown => {
  const pseudo: Props = { 'AWS::AccountId': ACCOUNT, 'AWS::Region': REGION, 'AWS::Partition': 'aws' };
  if (Array.isArray(value)) return value.map(withPseudoParameters);
  if (typeof value !== 'object' || value === null) return value;
  const v = value as Props;
  if (typeof v.Ref === 'string' && v.Ref in pseudo) return pseudo[v.Ref];
  if (v['Fn::Join'] !== undefined) {
    const [delimiter, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => String(withPseudoParameters(part))).join(delimiter);
  }
  return Object.fromEntries(Object.entries(v).map(([key, child]) => [key, withPseudoParameters(child)]));
};

beforeAll(async () => {
  ({ assemblyDir } = await synthesizeForSandbox({ account: ACCOUNT, region: REGION }));
  template = readAssemblyStack(assemblyDir).template;
  stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-provisioning-'));
  sandbox = await startTestSandbox({ stateDir, assetsDir: assemblyDir });
  first = await provisionFromAssembly({ sandbox: sandbox.sandbox, assemblyDir });
});

afterAll(async () => {
  await sandbox?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('provisioning the sandbox from the synthesized stack', () => {
  it('creates every emulated resource and fails none', () => {
    // Assess
    expect(first.failed).toEqual([]);
    expect(first.stack).toBe(STACK);
    expect(first.created.every((resource) => resource.outcome === 'created')).toBe(true);
    const emulated = [
      'AWS::Events::EventBus',
      'AWS::Events::EventBusPolicy',
      'AWS::Events::Rule',
      'AWS::Scheduler::ScheduleGroup',
      'AWS::Scheduler::Schedule',
      'AWS::StepFunctions::StateMachine',
      'AWS::SSM::Document',
      'AWS::SSM::Parameter',
      'AWS::Lambda::Function',
      'AWS::Lambda::EventInvokeConfig',
      'AWS::Lambda::Permission',
      'AWS::SecretsManager::Secret',
      'AWS::IAM::Role',
      'AWS::IAM::Policy',
      'AWS::IAM::InstanceProfile',
      'AWS::SQS::QueuePolicy',
      'AWS::DynamoDB::Table',
    ];
    const expected = emulated.flatMap((type) => resourcesOfType(type).map(([id]) => id)).sort();
    expect(first.created.map((resource) => resource.logicalId).sort()).toEqual(expected);
  });

  it('lists log groups, alarms, the dashboard and SQS queues as not emulated by logical id, and nothing as unsupported', () => {
    // Prepare
    const skipped = [
      'AWS::Logs::LogGroup',
      'AWS::CloudWatch::Alarm',
      'AWS::CloudWatch::Dashboard',
      'AWS::SQS::Queue',
      'AWS::EventSchemas::Registry',
      'AWS::EventSchemas::Schema',
    ];

    // Assess
    expect(first.notEmulated.map((r) => r.logicalId).sort()).toEqual(
      skipped.flatMap((type) => resourcesOfType(type).map(([id]) => id)).sort(),
    );
    expect(first.unsupported).toEqual([]);
  });

  it('creates every role with its trust policy, inline policies and managed policies, and the instance profile', async () => {
    // Prepare
    const { iam } = clients();
    const nameOf = (logicalId: string) => first.created.find((r) => r.logicalId === logicalId)?.physicalId as string;
    const roles = resourcesOfType('AWS::IAM::Role');
    const policies = resourcesOfType('AWS::IAM::Policy');

    // Act and assess: each role as the template declares it, read back through IAM
    expect(roles.length).toBeGreaterThan(10);
    for (const [logicalId, props] of roles) {
      const { Role } = await iam.send(new GetRoleCommand({ RoleName: nameOf(logicalId) }));
      expect(JSON.parse(decodeURIComponent(Role?.AssumeRolePolicyDocument ?? ''))).toEqual(
        withPseudoParameters(props.AssumeRolePolicyDocument),
      );
      const { AttachedPolicies = [] } = await iam.send(
        new ListAttachedRolePoliciesCommand({ RoleName: nameOf(logicalId) }),
      );
      expect(AttachedPolicies.map((p) => p.PolicyArn)).toEqual(
        ((props.ManagedPolicyArns as unknown[] | undefined) ?? []).map(expectedValue),
      );
    }
    for (const [logicalId, props] of policies) {
      for (const roleRef of props.Roles as { Ref: string }[]) {
        const { PolicyDocument } = await iam.send(
          new GetRolePolicyCommand({ RoleName: nameOf(roleRef.Ref), PolicyName: String(props.PolicyName) }),
        );
        expect(JSON.parse(decodeURIComponent(PolicyDocument ?? '')), logicalId).toMatchObject({
          Version: '2012-10-17',
          Statement: expect.any(Array),
        });
        expect(JSON.parse(decodeURIComponent(PolicyDocument ?? '')).Statement).toHaveLength(
          (props.PolicyDocument as { Statement: unknown[] }).Statement.length,
        );
      }
    }
    const [[profileId, profile]] = resourcesOfType('AWS::IAM::InstanceProfile') as [[string, Props]];
    const { InstanceProfile } = await iam.send(
      new GetInstanceProfileCommand({ InstanceProfileName: nameOf(profileId) }),
    );
    expect(InstanceProfile?.Roles?.map((r) => r.RoleName)).toEqual(
      (profile.Roles as { Ref: string }[]).map((ref) => nameOf(ref.Ref)),
    );
  });

  it('creates every rule with its pattern, state and targets (function, retry policy, dead-letter queue)', async () => {
    // Prepare
    const { events } = clients();

    for (const [logicalId, props] of resourcesOfType('AWS::Events::Rule')) {
      const bus = props.EventBusName === undefined ? undefined : BUS;
      const listed = await events.send(
        new ListRulesCommand({ NamePrefix: 'dev-', ...(bus ? { EventBusName: bus } : {}) }),
      );
      const matching = (listed.Rules ?? []).filter((r) => isGeneratedName(String(r.Name), logicalId, 64));
      expect(matching, logicalId).toHaveLength(1);
      const [found] = matching;

      // Act
      const rule = await events.send(new DescribeRuleCommand({ Name: found?.Name, EventBusName: bus }));
      const targets = await events.send(new ListTargetsByRuleCommand({ Rule: found?.Name, EventBusName: bus }));

      // Assess
      expect(JSON.parse(String(rule.EventPattern))).toEqual(withStateMachineArns(props.EventPattern));
      expect(rule.State).toBe(props.State);
      expect(rule.Arn).toBe(`arn:aws:events:${REGION}:${ACCOUNT}:rule/${bus ? `${bus}/` : ''}${found?.Name}`);
      const wanted = props.Targets as Props[];
      expect(targets.Targets).toEqual(
        wanted.map((target) =>
          expect.objectContaining({
            Id: target.Id,
            Arn: targetFunctionArn(target.Arn),
            RetryPolicy: target.RetryPolicy,
            DeadLetterConfig: {
              Arn: queueArnOf(
                ((target.DeadLetterConfig as Props).Arn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] as string,
              ),
            },
          }),
        ),
      );
    }
  });

  it('creates every schedule in its group with its expression, time zone, input, target and dead-letter queue', async () => {
    // Prepare
    const { scheduler } = clients();
    // The families' schedules; the janitor's and the reaper's live in the default group
    // (test/e2e/janitor.test.ts, test/e2e/stopped-bake.test.ts).
    const schedules = resourcesOfType('AWS::Scheduler::Schedule').filter(
      ([id]) => !id.startsWith('JanitorSchedule') && !id.startsWith('ReaperSchedule'),
    );

    // Act
    const listed = await scheduler.send(new ListSchedulesCommand({ GroupName: BUS }));
    const read = await Promise.all(
      schedules.map(([, props]) =>
        scheduler.send(new GetScheduleCommand({ Name: String(props.Name), GroupName: BUS })),
      ),
    );

    // Assess
    expect((listed.Schedules ?? []).map((s) => s.Name).sort()).toEqual(schedules.map(([, p]) => p.Name).sort());
    schedules.forEach(([, props], index) => {
      const target = props.Target as Props;
      expect(read[index]).toMatchObject({
        Name: props.Name,
        GroupName: BUS,
        ScheduleExpression: props.ScheduleExpression,
        ScheduleExpressionTimezone: props.ScheduleExpressionTimezone,
        State: props.State,
        FlexibleTimeWindow: props.FlexibleTimeWindow,
        Target: expect.objectContaining({
          Arn: targetFunctionArn(target.Arn),
          Input: target.Input,
          RetryPolicy: target.RetryPolicy,
          DeadLetterConfig: { Arn: queueArnOf('ScheduleDlqBC80447A') },
          RoleArn: arnWithGenerated(`arn:aws:iam::${ACCOUNT}:role/`, 'SchedulerRole59E73443', 64),
        }),
      });
    });
  });

  it('creates the state machine with the repository definition and every substitution resolved', async () => {
    // Prepare
    const { sfn } = clients();
    const [[, props]] = resourcesOfType('AWS::StepFunctions::StateMachine') as [[string, Props]];
    const substitutions: Record<string, string> = {
      PlanBakeFunctionArn: functionArn('bakehouse-dev-PlanBake'),
      WaitForAutomationFunctionArn: functionArn('bakehouse-dev-WaitForAutomation'),
      CleanUpFailedBakeFunctionArn: functionArn('bakehouse-dev-CleanUpFailedBake'),
      EventBusName: BUS,
      EventSource: 'bakehouse',
      AutomationWaitSeconds: '600',
      StateTableName: stateTableName(),
    };
    const expected = Object.entries(substitutions).reduce(
      (text, [name, value]) => text.replaceAll(`\${${name}}`, value),
      readFileSync(join('state-machines', 'bake.asl.json'), 'utf8'),
    );

    // Act
    const machine = await sfn.send(
      new DescribeStateMachineCommand({
        stateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${String(props.StateMachineName)}`,
      }),
    );

    // Assess
    expect(machine.name).toBe('bakehouse-dev-bake');
    expect(machine.definition).not.toMatch(/\$\{[A-Za-z]+\}/);
    expect(JSON.parse(String(machine.definition))).toEqual(JSON.parse(expected));
    const roleId = Object.keys(template.Resources).find((id) => id.startsWith('BakeStateMachineRole'));
    expect(machine.roleArn).toEqual(arnWithGenerated(`arn:aws:iam::${ACCOUNT}:role/`, String(roleId), 64));
  });

  it('creates every function with its handler, runtime, limits and environment, references resolved', async () => {
    // Prepare
    const { lambda } = clients();

    for (const [logicalId, props] of resourcesOfType('AWS::Lambda::Function')) {
      const name =
        props.FunctionName === undefined
          ? (await lambda.send(new ListFunctionsCommand({}))).Functions?.find((fn) =>
              isGeneratedName(String(fn.FunctionName), logicalId, 64),
            )?.FunctionName
          : String(props.FunctionName);
      expect(name, logicalId).toBeDefined();

      // Act
      const config = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));

      // Assess
      expect(config, logicalId).toMatchObject({
        FunctionName: name,
        FunctionArn: functionArn(String(name)),
        Handler: props.Handler,
        Runtime: props.Runtime,
        Timeout: props.Timeout,
        MemorySize: props.MemorySize,
      });
      const variables = ((props.Environment as Props | undefined)?.Variables ?? {}) as Props;
      const expectedVariables = Object.fromEntries(
        Object.entries(variables).map(([key, value]) => [key, expectedValue(value)]),
      );
      expect(config.Environment?.Variables ?? {}, logicalId).toEqual(expectedVariables);
    }
  });

  it('configures async failures to the dead-letter queues and allows EventBridge to invoke the rule targets', async () => {
    // Prepare
    const { lambda } = clients();

    for (const [logicalId, props] of resourcesOfType('AWS::Lambda::EventInvokeConfig')) {
      const fn = propsOf(String((props.FunctionName as Props).Ref));

      // Act
      const config = await lambda.send(
        new GetFunctionEventInvokeConfigCommand({ FunctionName: String(fn.FunctionName), Qualifier: '$LATEST' }),
      );

      // Assess
      const destination = (((props.DestinationConfig as Props).OnFailure as Props).Destination as Props)[
        'Fn::GetAtt'
      ] as string[];
      expect(config, logicalId).toMatchObject({
        MaximumRetryAttempts: props.MaximumRetryAttempts,
        DestinationConfig: { OnFailure: { Destination: queueArnOf(destination[0] as string) } },
      });
    }
    for (const [logicalId, props] of resourcesOfType('AWS::Lambda::Permission')) {
      const policy = await lambda.send(new GetPolicyCommand({ FunctionName: targetFunctionArn(props.FunctionName) }));
      const statements = (JSON.parse(String(policy.Policy)) as { Statement: Props[] }).Statement;
      const ruleId = ((props.SourceArn as Props)['Fn::GetAtt'] as string[])[0] as string;
      const ruleBus = propsOf(ruleId).EventBusName === undefined ? '' : `${BUS}/`;
      expect(statements, logicalId).toContainEqual(
        expect.objectContaining({
          Effect: 'Allow',
          Action: 'lambda:InvokeFunction',
          Principal: { Service: 'events.amazonaws.com' },
          Condition: {
            ArnLike: {
              'AWS:SourceArn': arnWithGenerated(`arn:aws:events:${REGION}:${ACCOUNT}:rule/${ruleBus}`, ruleId, 64),
            },
          },
        }),
      );
    }
  });

  it("puts the SST parameters with their functions' names and the documents with the template content", async () => {
    // Prepare
    const { ssm } = clients();

    for (const [, props] of resourcesOfType('AWS::SSM::Parameter')) {
      // Act
      const parameter = await ssm.send(new GetParameterCommand({ Name: String(props.Name) }));

      // Assess: SST's parameters name their function (a Ref); the deployed configuration
      // (stacks/deployed-config.ts) is a literal value.
      const value =
        typeof props.Value === 'string' ? props.Value : propsOf(String((props.Value as Props).Ref)).FunctionName;
      expect(parameter.Parameter).toMatchObject({ Type: props.Type, Value: value });
    }
    for (const [, props] of resourcesOfType('AWS::SSM::Document')) {
      const document = await ssm.send(new GetDocumentCommand({ Name: String(props.Name), DocumentFormat: 'YAML' }));
      expect(document.DocumentType).toBe(props.DocumentType);
      expect(parseYaml(String(document.Content))).toEqual(props.Content);
    }
  });

  it('creates the bus with the cross-account statement in its policy', async () => {
    // Prepare
    const { events } = clients();
    const [[, policy]] = resourcesOfType('AWS::Events::EventBusPolicy') as [[string, Props]];
    const statement = policy.Statement as Props;

    // Act
    const bus = await events.send(new DescribeEventBusCommand({ Name: BUS }));

    // Assess
    expect(bus.Arn).toBe(`arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${BUS}`);
    expect(JSON.parse(String(bus.Policy)).Statement).toContainEqual(
      expect.objectContaining({
        Sid: policy.StatementId,
        Action: statement.Action,
        Condition: statement.Condition,
        Principal: { AWS: 'arn:aws:iam::111122223333:root' },
        Resource: bus.Arn,
      }),
    );
  });
});

describe('provisioning again', () => {
  it('updates in place: nothing created, nothing failed, no target, schedule, version or parameter added', async () => {
    // Prepare
    const { events, scheduler, ssm } = clients();

    // Act
    const second = await provisionFromAssembly({ sandbox: sandbox.sandbox, assemblyDir });

    // Assess
    expect(second.failed).toEqual([]);
    expect(second.created.filter((r) => r.outcome === 'created')).toEqual([]);
    expect(second.created.map((r) => [r.logicalId, r.physicalId])).toEqual(
      first.created.map((r) => [r.logicalId, r.physicalId]),
    );
    const document = await ssm.send(new DescribeDocumentCommand({ Name: 'bakehouse-dev-bake-linux' }));
    expect(document.Document?.LatestVersion).toBe('1');
    const parameter = await ssm.send(
      new GetParameterCommand({ Name: '/sst/bakehouse/dev/Function/StartBake/functionName' }),
    );
    expect(parameter.Parameter?.Version).toBe(1);
    expect((await scheduler.send(new ListSchedulesCommand({ GroupName: BUS }))).Schedules).toHaveLength(3);
    const [rule] = (await events.send(new ListRulesCommand({ EventBusName: BUS, NamePrefix: STACK }))).Rules ?? [];
    const targets = await events.send(new ListTargetsByRuleCommand({ Rule: rule?.Name, EventBusName: BUS }));
    expect(targets.Targets).toHaveLength(1);
  });

  it('provisions through the endpoint URL alone, with the account STS answers with', async () => {
    // Act
    const byUrl = await provisionFromAssembly({ sandbox: { url: sandbox.sandbox.url }, assemblyDir });

    // Assess
    expect(byUrl.account).toBe(ACCOUNT);
    expect(byUrl.failed).toEqual([]);
    expect(byUrl.created.filter((r) => r.outcome === 'created')).toEqual([]);
  });

  it('updates in place after a restart on the same state', async () => {
    // Prepare
    await sandbox.stop();
    sandbox = await startTestSandbox({ stateDir, assetsDir: assemblyDir });

    // Act
    const again = await provisionFromAssembly({ sandbox: sandbox.sandbox, assemblyDir });

    // Assess
    expect(again.failed).toEqual([]);
    expect(again.created.filter((r) => r.outcome === 'created')).toEqual([]);
    expect(again.created).toHaveLength(first.created.length);
  });

  it('updates what a changed template changes: a pattern, a schedule, an environment, a definition, a document', async () => {
    // Prepare: a copy of the assembly with five changes to its template
    const changedDir = mkdtempSync(join(tmpdir(), 'bakehouse-changed-assembly-'));
    cpSync(assemblyDir, changedDir, { recursive: true });
    const stack = readAssemblyStack(changedDir);
    const changed = structuredClone(stack.template) as CfnTemplate & {
      Resources: Record<string, { Properties: Props }>;
    };
    const idOf = (type: string, prefix: string) =>
      Object.keys(changed.Resources).find(
        (id) => id.startsWith(prefix) && changed.Resources[id]?.Type === type,
      ) as string;
    const ruleId = idOf('AWS::Events::Rule', 'BakeRequested');
    const startBakeId = idOf('AWS::Lambda::Function', 'StartBake');
    const machineId = idOf('AWS::StepFunctions::StateMachine', 'BakeStateMachine');
    changed.Resources[ruleId]!.Properties.EventPattern = { source: ['bakehouse'], 'detail-type': ['Bake Requested'] };
    changed.Resources.ScheduleAl2023Base!.Properties.ScheduleExpression = 'cron(0 5 ? * SUN *)';
    (changed.Resources[startBakeId]!.Properties.Environment as { Variables: Props }).Variables.EXTRA = 'yes';
    (changed.Resources[machineId]!.Properties.DefinitionSubstitutions as Props).AutomationWaitSeconds = '900';
    (changed.Resources.BakeLinuxDocument!.Properties.Content as Props).description = 'changed';
    writeFileSync(join(changedDir, stack.templateFile), JSON.stringify(changed));
    const { events, lambda, scheduler, sfn, ssm } = clients();

    try {
      // Act
      const report = await provisionFromAssembly({ sandbox: sandbox.sandbox, assemblyDir: changedDir });

      // Assess
      expect(report.failed).toEqual([]);
      const outcome = (id: string) => report.created.find((r) => r.logicalId === id)?.outcome;
      expect([ruleId, 'ScheduleAl2023Base', startBakeId, machineId, 'BakeLinuxDocument'].map(outcome)).toEqual([
        'updated',
        'updated',
        'updated',
        'updated',
        'updated',
      ]);
      expect(outcome('ScheduleUbuntu2404Base')).toBe('unchanged');
      const ruleName = report.created
        .find((r) => r.logicalId === ruleId)
        ?.physicalId.split('|')
        .pop();
      const rule = (await events.send(new ListRulesCommand({ EventBusName: BUS, NamePrefix: STACK }))).Rules?.find(
        (r) => r.Name === ruleName,
      );
      expect(JSON.parse(String(rule?.EventPattern))).toEqual({
        source: ['bakehouse'],
        'detail-type': ['Bake Requested'],
      });
      const schedule = await scheduler.send(new GetScheduleCommand({ Name: 'al2023-base', GroupName: BUS }));
      expect(schedule.ScheduleExpression).toBe('cron(0 5 ? * SUN *)');
      const config = await lambda.send(
        new GetFunctionConfigurationCommand({ FunctionName: 'bakehouse-dev-StartBake' }),
      );
      expect(config.Environment?.Variables?.EXTRA).toBe('yes');
      const machine = await sfn.send(
        new DescribeStateMachineCommand({
          stateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:bakehouse-dev-bake`,
        }),
      );
      expect(machine.definition).toContain("States.StringToJson('900')");
      const document = await ssm.send(
        new GetDocumentCommand({ Name: 'bakehouse-dev-bake-linux', DocumentFormat: 'YAML' }),
      );
      expect(parseYaml(String(document.Content)).description).toBe('changed');
    } finally {
      rmSync(changedDir, { recursive: true, force: true });
    }
  });
});
