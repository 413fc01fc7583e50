/**
 * The canary stage as it deploys (issue 16, stacks/canary.ts): the shipped configuration (al2023-web's
 * prod channel is promoted on a canary in group bakehouse-example-web) synthesized offline once with
 * cdk-nag, and the same configuration without the canary channel. The roles are read with the
 * sandbox's IAM evaluator: what they allow and what they refuse.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import type { ConfigInput } from '../../functions/commons/families';
import { bakehouseNames } from '../../functions/commons/stage-names';
import { CanaryFunction, ReaperFunction } from '../../stacks/names';
import { allows, type Context, resolver } from './support/evaluate';
import { asList, pipelineStack, type Statement } from './support/pipeline';

const STAGE = 'shipped';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';
const names = bakehouseNames(STAGE);
const GROUP = 'bakehouse-example-web';

const stack = pipelineStack({
  stage: STAGE,
  account: ACCOUNT,
  region: REGION,
  config: structuredClone(shippedConfig) as ConfigInput,
});

/** The shipped configuration with al2023-web's prod channel promoted on 'tested' instead. */
const withoutCanary = (): ConfigInput => {
  const config = structuredClone(shippedConfig) as ConfigInput;
  for (const family of config.families) {
    family.channels = family.channels?.map((channel) =>
      channel.promoteOn === 'canary' ? { name: channel.name, promoteOn: 'tested' } : channel,
    );
  }
  return config;
};

const resolve = resolver({ account: ACCOUNT, region: REGION });
const arn = (resource: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${resource}`;
const INSTANCE = arn('instance/i-0123456789abcdef0');
const IMAGE = `arn:aws:ec2:${REGION}::image/ami-0123456789abcdef0`;
const groupArn = (name: string) =>
  `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b:autoScalingGroupName/${name}`;
const parameter = (path: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${path}`;
const tags = (prefix: 'aws:RequestTag' | 'aws:ResourceTag', values: Record<string, string>): Context =>
  Object.fromEntries(Object.entries(values).map(([key, value]) => [`${prefix}/${key}`, value]));
const CANARY_TAGS = { 'bakehouse:managed': 'true', 'bakehouse:role': 'canary' };
const BASELINE_TAGS = { 'bakehouse:managed': 'true', 'bakehouse:role': 'baseline' };

const canaryStatements = (): Statement[] => stack.functionStatements(CanaryFunction.Canary);
const canaryCan = (action: string, resource: string, context: Context = {}): boolean =>
  allows(canaryStatements(), { action, resource, context }, resolve);
const machineId = () => stack.logicalIdOf('AWS::StepFunctions::StateMachine', 'CanaryStateMachine');
const functionArn = () => ({ 'Fn::GetAtt': [stack.functionId(CanaryFunction.Canary), 'Arn'] });

describe('the Canary function', () => {
  it('runs functions/canary/index.ts with the bus and the event source, logs kept like the others', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: `bakehouse-${STAGE}-Canary`,
      Environment: {
        Variables: Match.objectLike({
          EVENT_BUS_NAME: { Ref: stack.logicalIdOf('AWS::Events::EventBus', 'Bus') },
          EVENT_SOURCE: 'bakehouse',
        }),
      },
    });
    stack.template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: `/aws/lambda/bakehouse-${STAGE}-Canary`,
      RetentionInDays: Match.anyValue(),
    });
  });

  it('launches only instances tagged managed with role canary or baseline', () => {
    // Assess
    expect(canaryCan('ec2:RunInstances', INSTANCE, tags('aws:RequestTag', CANARY_TAGS))).toBe(true);
    expect(canaryCan('ec2:RunInstances', INSTANCE, tags('aws:RequestTag', BASELINE_TAGS))).toBe(true);
    expect(
      canaryCan('ec2:RunInstances', INSTANCE, tags('aws:RequestTag', { ...CANARY_TAGS, 'bakehouse:role': 'web' })),
    ).toBe(false);
    expect(canaryCan('ec2:RunInstances', INSTANCE, tags('aws:RequestTag', { 'bakehouse:role': 'canary' }))).toBe(false);
    expect(canaryCan('ec2:RunInstances', INSTANCE)).toBe(false);
  });

  it("launches Bakehouse images only, from the group's template, subnets, security groups and key pair", () => {
    // Assess
    expect(canaryCan('ec2:RunInstances', IMAGE, tags('aws:ResourceTag', { 'bakehouse:managed': 'true' }))).toBe(true);
    expect(canaryCan('ec2:RunInstances', IMAGE)).toBe(false);
    for (const resource of [
      'launch-template/lt-0123456789abcdef0',
      'subnet/subnet-0123456789abcdef0',
      'security-group/sg-0123456789abcdef0',
      'network-interface/eni-0123456789abcdef0',
      'volume/vol-0123456789abcdef0',
      'key-pair/web',
    ]) {
      expect(canaryCan('ec2:RunInstances', arn(resource)), resource).toBe(true);
    }
  });

  it('tags only while launching', () => {
    // Assess
    const launching: Context = { 'ec2:CreateAction': 'RunInstances' };
    expect(canaryCan('ec2:CreateTags', INSTANCE, launching)).toBe(true);
    expect(canaryCan('ec2:CreateTags', arn('volume/vol-0123456789abcdef0'), launching)).toBe(true);
    expect(canaryCan('ec2:CreateTags', INSTANCE)).toBe(false);
    expect(canaryCan('ec2:CreateTags', INSTANCE, { 'ec2:CreateAction': 'CreateImage' })).toBe(false);
  });

  it('terminates only managed canaries and baselines, never builders or foreign instances', () => {
    // Assess
    expect(canaryCan('ec2:TerminateInstances', INSTANCE, tags('aws:ResourceTag', CANARY_TAGS))).toBe(true);
    expect(canaryCan('ec2:TerminateInstances', INSTANCE, tags('aws:ResourceTag', BASELINE_TAGS))).toBe(true);
    expect(
      canaryCan(
        'ec2:TerminateInstances',
        INSTANCE,
        tags('aws:ResourceTag', { 'bakehouse:managed': 'true', 'bakehouse:role': 'builder' }),
      ),
    ).toBe(false);
    expect(canaryCan('ec2:TerminateInstances', INSTANCE)).toBe(false);
    expect(canaryCan('ec2:StopInstances', INSTANCE, tags('aws:ResourceTag', CANARY_TAGS))).toBe(false);
  });

  it("attaches to and detaches from the canary channel's group only", () => {
    // Assess
    for (const action of ['autoscaling:AttachInstances', 'autoscaling:DetachInstances']) {
      expect(canaryCan(action, groupArn(GROUP)), action).toBe(true);
      expect(canaryCan(action, groupArn('someone-elses-group')), action).toBe(false);
    }
    expect(canaryCan('autoscaling:UpdateAutoScalingGroup', groupArn(GROUP))).toBe(false);
  });

  it('reads instances, templates, groups and metrics, and the canary channel parameter only', () => {
    // Assess
    for (const action of [
      'ec2:DescribeInstances',
      'autoscaling:DescribeAutoScalingGroups',
      'cloudwatch:GetMetricData',
    ]) {
      expect(canaryCan(action, '*'), action).toBe(true);
    }
    expect(canaryCan('ssm:GetParameter', parameter('/bakehouse/al2023-web/prod'))).toBe(true);
    expect(canaryCan('ssm:GetParameter', parameter('/bakehouse/al2023-web/stable'))).toBe(false);
    expect(canaryCan('ssm:PutParameter', parameter('/bakehouse/al2023-web/prod'))).toBe(false);
  });

  it("passes roles only to EC2 (the template's instance profile), and publishes on the Bakehouse bus", () => {
    // Assess
    const role = `arn:aws:iam::${ACCOUNT}:role/web-instance`;
    expect(canaryCan('iam:PassRole', role, { 'iam:PassedToService': 'ec2.amazonaws.com' })).toBe(true);
    expect(canaryCan('iam:PassRole', role, { 'iam:PassedToService': 'lambda.amazonaws.com' })).toBe(false);
    expect(canaryCan('iam:PassRole', role)).toBe(false);
    const bus = `<${stack.logicalIdOf('AWS::Events::EventBus', 'Bus')}.Arn>`;
    expect(canaryCan('events:PutEvents', bus)).toBe(true);
    expect(canaryCan('events:PutEvents', `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`)).toBe(false);
  });

  it('grants no wildcard action', () => {
    // Assess
    expect(
      canaryStatements()
        .flatMap((s) => asList(s.Action))
        .filter((a) => a.includes('*')),
    ).toEqual([]);
  });
});

describe('the canary state machine', () => {
  it('is named bakehouse-<stage>-canary and gets the function, the bus and the source substituted', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: `bakehouse-${STAGE}-canary`,
      DefinitionSubstitutions: {
        CanaryFunctionArn: functionArn(),
        EventBusName: { Ref: stack.logicalIdOf('AWS::Events::EventBus', 'Bus') },
        EventSource: 'bakehouse',
      },
      LoggingConfiguration: Match.objectLike({ IncludeExecutionData: false, Level: 'ALL' }),
      TracingConfiguration: { Enabled: true },
    });
    expect(names.canaryStateMachine).toBe(`bakehouse-${STAGE}-canary`);
  });

  it('may invoke the canary function and nothing else (the function publishes the events)', () => {
    // Prepare
    const statements = stack.roleStatements(stack.logicalIdOf('AWS::IAM::Role', 'CanaryStateMachineRole'));
    const machineCan = (action: string, resource: string) => allows(statements, { action, resource }, resolve);

    // Assess
    const fn = `<${stack.functionId(CanaryFunction.Canary)}.Arn>`;
    expect(machineCan('lambda:InvokeFunction', fn)).toBe(true);
    expect(machineCan('lambda:InvokeFunction', `<${stack.functionId(ReaperFunction.Reaper)}.Arn>`)).toBe(false);
    expect(machineCan('events:PutEvents', `<${stack.logicalIdOf('AWS::Events::EventBus', 'Bus')}.Arn>`)).toBe(false);
    expect(machineCan('ec2:RunInstances', INSTANCE)).toBe(false);
  });
});

describe('the rules', () => {
  it('start a canary on AMI Tested (passed) of the families with a canary channel, the event as the input, with a DLQ and retries', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: stack.logicalIdOf('AWS::Events::EventBus', 'Bus') },
      EventPattern: {
        source: ['bakehouse'],
        'detail-type': ['AMI Tested'],
        detail: { passed: [true], family: ['al2023-web'] },
      },
      Targets: [
        Match.objectLike({
          Arn: { Ref: machineId() },
          RoleArn: Match.anyValue(),
          DeadLetterConfig: { Arn: stack.queueArn('CanaryTestedDlq') },
          RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 },
          Input: Match.absent(),
          InputTransformer: Match.absent(),
        }),
      ],
    });
  });

  it("clean up after the canary machine's executions stopped, timed out or failed outside their failure path", () => {
    // Prepare
    const rules = stack
      .ofType('AWS::Events::Rule')
      .filter(([, r]) => JSON.stringify(r.Properties?.EventPattern ?? {}).includes(machineId()));

    // Assess
    expect(rules).toHaveLength(1);
    const properties = (rules[0] as [string, { Properties?: Record<string, unknown> }])[1].Properties ?? {};
    expect(properties.EventBusName).toBeUndefined();
    expect(properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: {
        stateMachineArn: [{ Ref: machineId() }],
        $or: [
          { status: ['ABORTED', 'TIMED_OUT'] },
          { status: ['FAILED'], error: [{ 'anything-but': 'CanaryFailed' }] },
        ],
      },
    });
    const [target] = properties.Targets as {
      Arn: unknown;
      DeadLetterConfig?: unknown;
      InputTransformer?: { InputPathsMap: Record<string, string>; InputTemplate: string };
    }[];
    expect(target?.Arn).toEqual(functionArn());
    expect(target?.DeadLetterConfig).toEqual({ Arn: stack.queueArn('StoppedCanariesDlq') });
    const transformer = target?.InputTransformer;
    const [variable] = Object.entries(transformer?.InputPathsMap ?? {}).find(([, path]) => path === '$') ?? [];
    expect(variable).toBeDefined();
    expect(JSON.parse((transformer?.InputTemplate ?? '').replace(`<${variable}>`, '{"the":"event"}'))).toEqual({
      action: 'cleanupStopped',
      event: { the: 'event' },
    });
  });

  it('keep what an invocation could not handle: the function retries twice, then the stopped-canary queue', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: stack.functionId(CanaryFunction.Canary) },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: stack.queueArn('StoppedCanariesDlq') } },
    });
  });
});

describe('the reaper', () => {
  it("may detach expired canaries from the canary channel's group only, and find which group holds them", () => {
    // Prepare
    const reaperCan = (action: string, resource: string) =>
      allows(stack.functionStatements(ReaperFunction.Reaper), { action, resource }, resolve);

    // Assess
    expect(reaperCan('autoscaling:DetachInstances', groupArn(GROUP))).toBe(true);
    expect(reaperCan('autoscaling:DetachInstances', groupArn('someone-elses-group'))).toBe(false);
    expect(reaperCan('autoscaling:AttachInstances', groupArn(GROUP))).toBe(false);
    expect(reaperCan('autoscaling:DescribeAutoScalingInstances', '*')).toBe(true);
  });
});

describe('cdk-nag', () => {
  it('leaves no unsuppressed error or warning', () => {
    // Assess
    expect(stack.nagMessages('error')).toEqual([]);
    expect(stack.nagMessages('warning')).toEqual([]);
  });
});

describe('without a canary channel', () => {
  const plain = pipelineStack({ stage: 'nocanary', account: ACCOUNT, region: REGION, config: withoutCanary() });

  it('starts no canary, and grants no Auto Scaling group or channel parameter to the function or the reaper', () => {
    // Prepare
    const sids = (id: string) => plain.functionStatements(id).map((s) => s.Sid);

    // Assess
    const tested = plain
      .ofType('AWS::Events::Rule')
      .filter(([, r]) => JSON.stringify(r.Properties?.EventPattern ?? {}).includes('AMI Tested'))
      .filter(([, r]) => JSON.stringify(r.Properties?.Targets ?? {}).includes('CanaryStateMachine'));
    expect(tested).toEqual([]);
    expect(sids(CanaryFunction.Canary)).not.toContain('JoinCanaryGroups');
    expect(sids(CanaryFunction.Canary)).not.toContain('ReadCanaryChannels');
    expect(sids(ReaperFunction.Reaper)).not.toContain('DetachExpiredCanaries');
    expect(sids(ReaperFunction.Reaper)).not.toContain('FindCanaryGroups');
    expect(plain.nagMessages('error')).toEqual([]);
  });
});
