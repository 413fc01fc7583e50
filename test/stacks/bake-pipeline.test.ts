/**
 * The bake pipeline as it deploys: `sst.config.ts` synthesized offline once (SST cannot
 * synthesize the same app twice), with cdk-nag's AWS Solutions checks, then asserted on the
 * template and on the cloud assembly's messages.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BAKE_DOCUMENT_FILES } from '../../automation/documents';
import { bakehouseNames } from '../../functions/commons/stage-names';
import { AUTOMATION_WAIT_SECONDS, BakeFunction } from '../../stacks/names';
import { BAKE_STATE_MACHINE_FILE, BAKE_SUBSTITUTIONS } from '../../state-machines/bake';
import { asList, pipelineStack, type Statement } from './support/pipeline';

const STAGE = 'ci';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';
const names = bakehouseNames(STAGE);

const stack = pipelineStack({ stage: STAGE, account: ACCOUNT, region: REGION, config: 'sst.config.ts' });
const { ofType, logicalIdOf, functionId, roleStatements, environmentOf } = stack;
const queueId = (id: string) => logicalIdOf('AWS::SQS::Queue', id);

/** Every IAM statement of the template: role and managed policies, bus and queue policies. */
const allStatements = (): Statement[] => {
  const statements: Statement[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
    } else if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      if ('Effect' in record && 'Action' in record) statements.push(record as unknown as Statement);
      for (const child of Object.values(record)) visit(child);
    }
  };
  for (const resource of Object.values(stack.resources)) visit(resource.Properties);
  return statements;
};

const statementsGranting = (action: string): Statement[] =>
  allStatements().filter((s) => s.Effect === 'Allow' && asList(s.Action).includes(action));

describe('the Bakehouse bus', () => {
  it('is named after the stage', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Events::EventBus', { Name: names.bus });
  });

  it('lets only the configured accounts put events, and only Bake Requested', () => {
    // Prepare
    const policies = ofType('AWS::Events::EventBusPolicy');

    // Act
    const statements = policies.map(([, r]) => r.Properties?.Statement as Statement);

    // Assess
    expect(statements).toHaveLength(1);
    const [statement] = statements;
    expect(statement?.Action).toBe('events:PutEvents');
    const accounts = JSON.stringify(statement?.Principal).match(/\d{12}/g);
    expect(accounts).toEqual(['111122223333']);
    expect(statement?.Condition).toEqual({
      'ForAllValues:StringEquals': { 'events:detail-type': ['Bake Requested'] },
      Null: { 'events:detail-type': 'false' },
    });
  });
});

describe('the rules', () => {
  it('send every Bake Requested on the bus to StartBake, with a DLQ and retries', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: logicalIdOf('AWS::Events::EventBus', 'Bus') },
      EventPattern: { 'detail-type': ['Bake Requested'] },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [functionId(BakeFunction.StartBake), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId('BakeRequestedDlq'), 'Arn'] } },
          RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 },
        }),
      ],
    });
  });

  it('has StartBake send requests it cannot start to a queue after two retries', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId(BakeFunction.StartBake) },
      MaximumRetryAttempts: 2,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [queueId('RejectedBakeRequests'), 'Arn'] } },
      },
    });
  });

  it('resume bakes from SSM status changes of the two bake documents on the default bus', () => {
    // Prepare
    const rule = ofType('AWS::Events::Rule').find(([id]) => id.startsWith('AutomationStatusChanged'))?.[1];

    // Act
    const properties = rule?.Properties ?? {};
    const pattern = properties.EventPattern as { detail: { Definition: string[]; Status: string[] } };

    // Assess
    expect(properties.EventBusName).toBeUndefined();
    expect(pattern).toMatchObject({
      source: ['aws.ssm'],
      'detail-type': ['EC2 Automation Execution Status-change Notification'],
    });
    expect(pattern.detail.Definition).toEqual([names.document('bake-linux'), names.document('bake-windows')]);
    expect(pattern.detail.Status).toEqual(expect.arrayContaining(['Success', 'Failed', 'Cancelled', 'TimedOut']));
    expect(pattern.detail.Status).not.toContain('InProgress');
    expect(properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [functionId(BakeFunction.AutomationEvents), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId('AutomationEventsDlq'), 'Arn'] } },
      }),
    ]);
  });
});

describe('the schedules', () => {
  const schedules = (): Record<string, Record<string, unknown>> =>
    Object.fromEntries(
      ofType('AWS::Scheduler::Schedule')
        // The janitor's nightly schedule (stacks/janitor.ts, test/stacks/janitor.test.ts) and the
        // reaper's hourly one (stacks/reaper.ts, test/stacks/stranded-builders.test.ts) are not a family's.
        .filter(([id]) => !id.startsWith('JanitorSchedule') && !id.startsWith('ReaperSchedule'))
        .map(([, r]) => [r.Properties?.Name, r.Properties ?? {}]),
    );

  it.each([
    ['al2023-base', 'cron(0 3 ? * SUN *)', 'Europe/Berlin'],
    ['windows-2022-base', 'cron(0 4 ? * WED *)', 'America/New_York'],
  ])('fire %s at %s in %s', (family, expression, timezone) => {
    // Act
    const schedule = schedules()[family];

    // Assess
    expect(schedule).toMatchObject({
      ScheduleExpression: expression,
      ScheduleExpressionTimezone: timezone,
      FlexibleTimeWindow: { Mode: 'OFF' },
      GroupName: { Ref: logicalIdOf('AWS::Scheduler::ScheduleGroup', 'ScheduleGroup') },
    });
    const target = schedule?.Target as { Input: string; Arn: unknown };
    expect(JSON.parse(target.Input)).toEqual({ family, scheduledTime: '<aws.scheduler.scheduled-time>' });
    expect(target.Arn).toEqual({ 'Fn::GetAtt': [functionId(BakeFunction.ScheduleTick), 'Arn'] });
  });

  it('exist only for families with a schedule', () => {
    // Assess
    expect(Object.keys(schedules()).sort()).toEqual(['al2023-base', 'ubuntu-2404-base', 'windows-2022-base']);
  });

  it('all retry and dead-letter into the schedule DLQ, with flexible windows off', () => {
    // Assess
    for (const schedule of Object.values(schedules())) {
      expect(schedule).toMatchObject({
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          RetryPolicy: { MaximumRetryAttempts: expect.any(Number) },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId('ScheduleDlq'), 'Arn'] } },
        },
      });
    }
  });

  it('run with a role that may only invoke ScheduleTick and dead-letter', () => {
    // Prepare
    const target = Object.values(schedules())[0]?.Target as
      | { RoleArn?: { 'Fn::GetAtt': [string, string] } }
      | undefined;
    const roleId = target?.RoleArn?.['Fn::GetAtt'][0] ?? 'missing';

    // Act
    const statements = roleStatements(roleId);

    // Assess
    expect(statements.map((s) => [s.Action, s.Resource])).toEqual([
      ['lambda:InvokeFunction', { 'Fn::GetAtt': [functionId(BakeFunction.ScheduleTick), 'Arn'] }],
      ['sqs:SendMessage', { 'Fn::GetAtt': [queueId('ScheduleDlq'), 'Arn'] }],
    ]);
  });
});

describe('the automation documents', () => {
  it.each(['linux', 'windows'] as const)('deploy the %s bake document as YAML automation, content unchanged', (os) => {
    // Prepare
    const expected = parse(readFileSync(BAKE_DOCUMENT_FILES[os], 'utf8')) as unknown;

    // Act
    const document = ofType('AWS::SSM::Document').find(([, r]) => r.Properties?.Name === names.document(`bake-${os}`));

    // Assess
    expect(document?.[1].Properties).toMatchObject({
      DocumentType: 'Automation',
      DocumentFormat: 'YAML',
      UpdateMethod: 'NewVersion',
    });
    expect(document?.[1].Properties?.Content).toEqual(expected);
  });

  it('run with a role that grants every API the documents call', () => {
    // Prepare
    const roleId = logicalIdOf('AWS::IAM::Role', 'AutomationRole');
    const granted = new Set(roleStatements(roleId).flatMap((s) => asList(s.Action)));

    // Act
    const needed = new Set<string>();
    for (const os of ['linux', 'windows'] as const) {
      const document = parse(readFileSync(BAKE_DOCUMENT_FILES[os], 'utf8')) as {
        mainSteps: { action: string; inputs: Record<string, unknown> }[];
      };
      for (const step of document.mainSteps) {
        const { Service, Api, DesiredState } = step.inputs;
        if (typeof Service === 'string' && typeof Api === 'string') needed.add(`${Service}:${Api}`);
        if (step.action === 'aws:runCommand') needed.add('ssm:SendCommand');
        if (step.action === 'aws:changeInstanceState') {
          needed.add('ec2:DescribeInstances');
          needed.add(
            { stopped: 'ec2:StopInstances', terminated: 'ec2:TerminateInstances', running: 'ec2:StartInstances' }[
              DesiredState as 'stopped'
            ],
          );
        }
      }
    }

    // Assess
    expect(needed.size).toBeGreaterThan(3);
    expect([...needed].filter((action) => !granted.has(action))).toEqual([]);
  });

  it('grant no instance state change the documents never make', () => {
    // Prepare
    const roleId = logicalIdOf('AWS::IAM::Role', 'AutomationRole');
    const stateActions = {
      stopped: 'ec2:StopInstances',
      terminated: 'ec2:TerminateInstances',
      running: 'ec2:StartInstances',
    };
    const granted = new Set(roleStatements(roleId).flatMap((s) => asList(s.Action)));

    // Act
    const made = new Set<string>();
    for (const os of ['linux', 'windows'] as const) {
      const document = parse(readFileSync(BAKE_DOCUMENT_FILES[os], 'utf8')) as {
        mainSteps: { action: string; inputs: Record<string, unknown> }[];
      };
      for (const step of document.mainSteps) {
        if (step.action === 'aws:changeInstanceState')
          made.add(stateActions[step.inputs.DesiredState as keyof typeof stateActions]);
      }
    }

    // Assess
    expect(Object.values(stateActions).filter((action) => granted.has(action) && !made.has(action))).toEqual([]);
  });

  it('run commands only from the command documents they name', () => {
    // Prepare
    const [documents] = statementsGranting('ssm:SendCommand').filter((s) => !s.Condition);

    // Act
    const granted = asList(documents?.Resource).map((r) => JSON.stringify(r).match(/document\/([\w-]+)/)?.[1]);

    // Assess
    expect(granted.sort()).toEqual(['AWS-ConfigureAWSPackage', 'AWS-RunPowerShellScript', 'AWS-RunShellScript']);
  });
});

describe('the bake state machine', () => {
  const machine = () => ofType('AWS::StepFunctions::StateMachine')[0]?.[1].Properties ?? {};

  it('is named after the stage, logs every event and traces with X-Ray', () => {
    // Assess
    expect(machine()).toMatchObject({
      StateMachineName: names.stateMachine,
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
      TracingConfiguration: { Enabled: true },
    });
  });

  it('deploys the definition file with a substitution for every placeholder in it', () => {
    // Prepare
    const text = readFileSync(BAKE_STATE_MACHINE_FILE, 'utf8');
    const placeholders = new Set([...text.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]));
    const substitutions = machine().DefinitionSubstitutions as Record<string, unknown>;

    // Act
    const substituted = text.replace(/\$\{([^}]+)\}/g, (_, key: string) =>
      typeof substitutions[key] === 'string' ? (substitutions[key] as string) : `resolved-${key}`,
    );

    // Assess
    expect(Object.keys(substitutions).sort()).toEqual([...placeholders].sort());
    expect(Object.keys(substitutions).sort()).toEqual([...BAKE_SUBSTITUTIONS].sort());
    expect(() => JSON.parse(substituted)).not.toThrow();
    expect(substituted).not.toContain('${');
  });

  it('substitutes the functions, the bus, the source and the wait', () => {
    // Assess
    expect(machine().DefinitionSubstitutions).toEqual({
      PlanBakeFunctionArn: { 'Fn::GetAtt': [functionId(BakeFunction.PlanBake), 'Arn'] },
      WaitForAutomationFunctionArn: { 'Fn::GetAtt': [functionId(BakeFunction.WaitForAutomation), 'Arn'] },
      CleanUpFailedBakeFunctionArn: { 'Fn::GetAtt': [functionId(BakeFunction.CleanUpFailedBake), 'Arn'] },
      EventBusName: { Ref: logicalIdOf('AWS::Events::EventBus', 'Bus') },
      EventSource: 'bakehouse',
      AutomationWaitSeconds: String(AUTOMATION_WAIT_SECONDS),
      StateTableName: { Ref: logicalIdOf('AWS::DynamoDB::Table', 'StateTable') },
    });
  });

  it('ships the definition file unchanged as its S3 asset', () => {
    // Prepare
    const location = machine().DefinitionS3Location as { Key: string };

    // Act
    const asset = join(stack.outdir, `asset.${location.Key}`);

    // Assess
    expect(existsSync(asset)).toBe(true);
    expect(readFileSync(asset, 'utf8')).toBe(readFileSync(BAKE_STATE_MACHINE_FILE, 'utf8'));
  });
});

describe('the functions', () => {
  const common = ['POWERTOOLS_SERVICE_NAME', 'EVENT_BUS_NAME'];
  const expected: Record<string, { handler: string; env: string[] }> = {
    [BakeFunction.ScheduleTick]: { handler: 'functions/schedule-tick/handler.handler', env: [] },
    [BakeFunction.StartBake]: { handler: 'functions/start-bake/handler.handler', env: ['STATE_MACHINE_ARN'] },
    [BakeFunction.PlanBake]: {
      handler: 'functions/plan-bake/handler.handler',
      env: [
        'STATE_MACHINE_ARN',
        'BAKE_DOCUMENT_LINUX_NAME',
        'BAKE_DOCUMENT_LINUX_SHA256',
        'BAKE_DOCUMENT_WINDOWS_NAME',
        'BAKE_DOCUMENT_WINDOWS_SHA256',
        'AUTOMATION_ROLE_ARN',
        'AUTOMATION_WAIT_SECONDS',
        'BUILDER_INSTANCE_PROFILE',
        'STATE_TABLE_NAME',
      ],
    },
    [BakeFunction.WaitForAutomation]: {
      handler: 'functions/wait-for-automation/handler.handler',
      env: ['CALLBACK_PARAMETER_PREFIX', 'STATE_TABLE_NAME'],
    },
    [BakeFunction.AutomationEvents]: {
      handler: 'functions/automation-events/handler.handler',
      env: ['CALLBACK_PARAMETER_PREFIX', 'STATE_TABLE_NAME'],
    },
    [BakeFunction.CleanUpFailedBake]: {
      handler: 'functions/clean-up-failed-bake/handler.handler',
      env: ['STATE_TABLE_NAME'],
    },
  };

  it.each(Object.entries(expected))('%s runs nodejs24.x on arm64, traced, with its environment', (id, spec) => {
    // Act
    const properties = stack.resources[functionId(id)]?.Properties ?? {};
    const variables = environmentOf(id);

    // Assess
    expect(properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: spec.handler,
      FunctionName: names.function(id as keyof typeof BakeFunction),
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: { Ref: logicalIdOf('AWS::Logs::LogGroup', `${id}Logs`) } },
    });
    expect(Object.keys(variables)).toEqual(expect.arrayContaining([...common, ...spec.env]));
    expect(variables.POWERTOOLS_SERVICE_NAME).toBe('bakehouse');
  });

  it('give PlanBake the documents, the roles and the wait it plans with', () => {
    // Act
    const variables = environmentOf(BakeFunction.PlanBake);

    // Assess
    expect(variables).toMatchObject({
      BAKE_DOCUMENT_LINUX_NAME: names.document('bake-linux'),
      BAKE_DOCUMENT_LINUX_SHA256: expect.stringMatching(/^[0-9a-f]{64}$/),
      BAKE_DOCUMENT_WINDOWS_NAME: names.document('bake-windows'),
      BAKE_DOCUMENT_WINDOWS_SHA256: expect.stringMatching(/^[0-9a-f]{64}$/),
      AUTOMATION_ROLE_ARN: { 'Fn::GetAtt': [logicalIdOf('AWS::IAM::Role', 'AutomationRole'), 'Arn'] },
      AUTOMATION_WAIT_SECONDS: '600',
      BUILDER_INSTANCE_PROFILE: { Ref: logicalIdOf('AWS::IAM::InstanceProfile', 'BuilderInstanceProfile') },
      STATE_MACHINE_ARN: expect.objectContaining({ 'Fn::Join': expect.anything() }),
    });
    expect(JSON.stringify(variables.STATE_MACHINE_ARN)).toContain(`:stateMachine:${names.stateMachine}`);
  });

  const readsConfig = new Set<string>([BakeFunction.ScheduleTick, BakeFunction.StartBake, BakeFunction.PlanBake]);

  it.each(Object.keys(expected))('%s is bundled with the validated config as data, without zod', (id) => {
    // Prepare: the code asset is the directory asset.<hash> next to the template
    const code = stack.resources[functionId(id)]?.Properties?.Code as { S3Key?: string } | undefined;
    const assetDir = join(stack.outdir, `asset.${String(code?.S3Key).replace(/\.zip$/, '')}`);
    const handlerFile = expected[id]!.handler.replace(/\.[a-z]+$/, '.mjs');

    // Act
    const bundle = readFileSync(join(assetDir, handlerFile), 'utf8');

    // Assess
    // (booleans, so a failure does not print a megabyte of bundle)
    expect(bundle.includes('typeof __BAKEHOUSE_CONFIG__'), 'config define left unresolved').toBe(false);
    expect(bundle.includes('"ZodObject"'), 'full zod (not zod/mini) bundled').toBe(false);
    if (readsConfig.has(id)) {
      expect(bundle.includes('name:"al2023-base"'), 'config missing').toBe(true);
      expect(bundle.includes('name:"windows-2022-base"'), 'config missing').toBe(true);
    }
  });

  it('each have an alarm on their errors', () => {
    // Prepare
    const alarmed = ofType('AWS::CloudWatch::Alarm')
      .filter(([, r]) => r.Properties?.MetricName === 'Errors')
      .map(([, r]) => JSON.stringify(r.Properties?.Dimensions));

    // Assess
    for (const id of Object.keys(expected)) {
      expect(alarmed.some((dimensions) => dimensions.includes(functionId(id)))).toBe(true);
    }
  });
});

describe('the alarms', () => {
  it('fire on any message in any dead-letter queue and on failed or timed-out bakes', () => {
    // Prepare
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties ?? {});

    // Act
    const queueAlarms = alarms.filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
    const machineAlarms = alarms.filter((a) => a.Namespace === 'AWS/States').map((a) => a.MetricName);

    // Assess
    expect(queueAlarms).toHaveLength(ofType('AWS::SQS::Queue').length);
    for (const alarm of [...queueAlarms, ...alarms.filter((a) => a.Namespace === 'AWS/States')]) {
      expect(alarm).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    }
    expect(machineAlarms.sort()).toEqual(['ExecutionsFailed', 'ExecutionsTimedOut']);
  });
});

describe('IAM', () => {
  it('grants no wildcard action anywhere', () => {
    // Act (the queues' enforce-SSL statements deny sqs:* without TLS: a wildcard that takes away)
    const actions = allStatements()
      .filter((s) => s.Effect === 'Allow')
      .flatMap((s) => asList(s.Action));

    // Assess
    expect(actions.length).toBeGreaterThan(20);
    expect(actions.filter((action) => action.includes('*'))).toEqual([]);
  });

  it('grants TerminateInstances only on instances tagged as builders (or, for the AMI tests and the reaper, testers; for the canary and the reaper, canaries and baselines)', () => {
    // Act
    const statements = statementsGranting('ec2:TerminateInstances');

    // Assess
    expect(statements.length).toBeGreaterThanOrEqual(2);
    for (const statement of statements) {
      expect([
        { StringEquals: { 'aws:ResourceTag/bakehouse:role': 'builder' } },
        { StringEquals: { 'aws:ResourceTag/bakehouse:role': 'tester' } },
        // The reaper (stacks/reaper.ts) and the janitor: managed builders, testers, canaries and baselines only.
        {
          StringEquals: {
            'aws:ResourceTag/bakehouse:managed': 'true',
            'aws:ResourceTag/bakehouse:role': ['builder', 'tester', 'canary', 'baseline'],
          },
        },
        // The canary stage (stacks/canary.ts): managed canaries and baselines only.
        {
          StringEquals: {
            'aws:ResourceTag/bakehouse:managed': 'true',
            'aws:ResourceTag/bakehouse:role': ['canary', 'baseline'],
          },
        },
      ]).toContainEqual(statement.Condition);
    }
  });

  it('grants DeregisterImage and DeleteSnapshot only on images and snapshots Bakehouse manages', () => {
    // Act
    const statements = [...statementsGranting('ec2:DeregisterImage'), ...statementsGranting('ec2:DeleteSnapshot')];

    // Assess
    expect(statements.length).toBeGreaterThanOrEqual(1);
    for (const statement of statements) {
      expect(statement.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' } });
    }
  });

  it('lets nothing write tags except while creating, or on images Bakehouse manages', () => {
    // Act
    const conditions = statementsGranting('ec2:CreateTags').map((s) => s.Condition);

    // Assess
    expect(conditions).toEqual(
      expect.arrayContaining([
        { StringEquals: { 'ec2:CreateAction': ['RunInstances', 'CreateImage'] } },
        // The canary stage tags only the instances it launches (stacks/canary.ts).
        { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
        { StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' } },
      ]),
    );
    expect(conditions.every((c) => c !== undefined)).toBe(true);
  });

  it('passes roles only to the service that needs them', () => {
    // Act
    const statements = statementsGranting('iam:PassRole');

    // Assess
    expect([...new Set(statements.map((s) => s.Condition?.StringEquals?.['iam:PassedToService']))].sort()).toEqual([
      'ec2.amazonaws.com',
      'ssm.amazonaws.com',
    ]);
  });
});

describe('cdk-nag', () => {
  it('ran the AWS Solutions checks', () => {
    // Assess: with logIgnores, every suppressed finding is reported as info.
    expect(stack.nagMessages('info').length).toBeGreaterThan(0);
  });

  it('leaves no unsuppressed error', () => {
    // Assess
    expect(stack.nagMessages('error')).toEqual([]);
  });

  it('leaves no unsuppressed warning', () => {
    // Assess
    expect(stack.nagMessages('warning')).toEqual([]);
  });

  it('has a reason on every suppression', () => {
    // Prepare
    const suppressions = Object.values(stack.resources).flatMap(
      (r) =>
        (r.Metadata?.cdk_nag as { rules_to_suppress?: { id: string; reason: string }[] } | undefined)
          ?.rules_to_suppress ?? [],
    );

    // Assess
    expect(suppressions.length).toBeGreaterThan(0);
    for (const { id, reason } of suppressions) {
      expect(id).toMatch(/^AwsSolutions-/);
      expect(reason.trim().length).toBeGreaterThanOrEqual(20);
    }
  });
});

describe('the outputs', () => {
  it('name the bus, the state machine and the documents', () => {
    // Act
    const outputs = Object.keys((stack.artifact.template as { Outputs: Record<string, unknown> }).Outputs);

    // Assess
    expect(outputs).toEqual(
      expect.arrayContaining([
        'EventBusName',
        'EventBusArn',
        'StateMachineArn',
        'BakeDocumentLinux',
        'BakeDocumentWindows',
      ]),
    );
  });
});

describe('the state table (issue 15: state that needs compare-and-swap)', () => {
  const tableId = () => logicalIdOf('AWS::DynamoDB::Table', 'StateTable');
  const tableArn = () => ({ 'Fn::GetAtt': [tableId(), 'Arn'] });
  const dynamoStatements = (statements: Statement[]) =>
    statements.filter((s) => asList(s.Action).some((a) => String(a).startsWith('dynamodb:')));

  it('is one on-demand table keyed by pk alone, with TTL on expiresAt, point-in-time recovery and encryption', () => {
    // Assess
    expect(ofType('AWS::DynamoDB::Table')).toHaveLength(1);
    stack.template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('is retained when the stack goes: running bakes hold their locks there', () => {
    // Assess
    expect(stack.resources[tableId()]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('is granted only item actions, only on the table, only on items of one key prefix (dynamodb:LeadingKeys)', () => {
    // Act
    const granted = dynamoStatements(allStatements());

    // Assess: every grant names its key prefixes (lock#<scope>#*, record#<kind>#*, image#*#<aspect>), never every item
    expect(granted.length).toBeGreaterThanOrEqual(3);
    for (const statement of granted) {
      expect(statement.Resource).toEqual(tableArn());
      expect(asList(statement.Action).every((a) => /^dynamodb:(Get|Put|Delete|Update)Item$/.test(String(a)))).toBe(
        true,
      );
      const patterns = (statement.Condition as Record<string, Record<string, string[]>> | undefined)?.[
        'ForAllValues:StringLike'
      ]?.['dynamodb:LeadingKeys'];
      expect(patterns?.length).toBeGreaterThan(0);
      for (const pattern of patterns ?? [])
        expect(pattern).toMatch(/^(lock|record)#[a-z]+(-[a-z]+)*#\*$|^image#\*#[a-z]+$/);
    }
  });

  it.each([
    ['PlanBake', () => stack.functionStatements(BakeFunction.PlanBake)],
    ['CleanUpFailedBake', () => stack.functionStatements(BakeFunction.CleanUpFailedBake)],
    ['the bake state machine', () => roleStatements(logicalIdOf('AWS::IAM::Role', 'BakeStateMachineRole'))],
  ])('lets %s touch family locks, and baked-key records, only', (_who, statements) => {
    // Act
    const granted = dynamoStatements(statements());

    // Assess
    expect(granted.length).toBeGreaterThan(0);
    for (const statement of granted) {
      expect([['lock#family#*'], ['record#baked#*']]).toContainEqual(
        (statement.Condition as Record<string, Record<string, string[]>>)['ForAllValues:StringLike']?.[
          'dynamodb:LeadingKeys'
        ],
      );
    }
  });

  it('lets the state machine write and PlanBake read the record that a bake key is baked, and nothing else of it', () => {
    // Act
    const recordGrants = (statements: Statement[]) =>
      dynamoStatements(statements)
        .filter((s) => JSON.stringify(s.Condition).includes('record#baked#*'))
        .flatMap((s) => asList(s.Action));

    // Assess
    expect(recordGrants(roleStatements(logicalIdOf('AWS::IAM::Role', 'BakeStateMachineRole')))).toEqual([
      'dynamodb:PutItem',
    ]);
    expect(recordGrants(stack.functionStatements(BakeFunction.PlanBake))).toEqual(['dynamodb:GetItem']);
    expect(recordGrants(stack.functionStatements(BakeFunction.CleanUpFailedBake))).toEqual([]);
  });

  it.each([
    [BakeFunction.PlanBake, ['dynamodb:GetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem']],
    [BakeFunction.CleanUpFailedBake, ['dynamodb:DeleteItem', 'dynamodb:GetItem']],
  ])('lets %s do exactly %j, and tells it the table name', (id, actions) => {
    // Act
    const granted = dynamoStatements(stack.functionStatements(id)).flatMap((s) => asList(s.Action));

    // Assess
    expect(granted.sort()).toEqual([...actions].sort());
    expect(environmentOf(id).STATE_TABLE_NAME).toEqual({ Ref: tableId() });
  });

  it.each([BakeFunction.WaitForAutomation, BakeFunction.AutomationEvents])(
    "lets %s only put an image's inventory item, read command output, and tells it the table name",
    (id) => {
      // Act
      const statements = stack.functionStatements(id);
      const granted = dynamoStatements(statements);

      // Assess
      expect(granted.map((s) => [s.Sid, asList(s.Action), s.Condition])).toEqual([
        [
          'RecordImageInventory',
          ['dynamodb:PutItem'],
          { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['image#*#inventory'] } },
        ],
      ]);
      // GetCommandInvocation has no resource types in the Service Authorization Reference: only * grants it.
      expect(statements.filter((s) => asList(s.Action).includes('ssm:GetCommandInvocation'))).toEqual([
        expect.objectContaining({ Sid: 'ReadInventoryOutput', Action: 'ssm:GetCommandInvocation', Resource: '*' }),
      ]);
      expect(environmentOf(id).STATE_TABLE_NAME).toEqual({ Ref: tableId() });
    },
  );

  it('lets the state machine only delete a lock (ReleaseFamilyLock) and record a baked key (RecordBakedKey)', () => {
    // Act
    const granted = dynamoStatements(roleStatements(logicalIdOf('AWS::IAM::Role', 'BakeStateMachineRole')));

    // Assess
    expect(granted.map((s) => [s.Sid, asList(s.Action)])).toEqual([
      ['ReleaseFamilyLock', ['dynamodb:DeleteItem']],
      ['RecordBakedKey', ['dynamodb:PutItem']],
    ]);
  });

  it('replaces the SSM family locks: nothing is granted on <prefix>/_locks any more', () => {
    // Assess
    expect(JSON.stringify(allStatements())).not.toMatch(/parameter\/bakehouse\/_locks/);
  });
});
