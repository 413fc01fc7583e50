/**
 * Slack notifications as they deploy: the Notify function, its rules, queues, secret and role,
 * synthesized offline once over the shipped configuration, with cdk-nag.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import type { ConfigInput } from '../../functions/commons/families';
import { NotificationFunction } from '../../stacks/names';
import { asList, pipelineStack, type Resource, type Statement } from './support/pipeline';

const STAGE = 'shipped';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';

const stack = pipelineStack({
  stage: STAGE,
  account: ACCOUNT,
  region: REGION,
  config: structuredClone(shippedConfig) as ConfigInput,
});
const { logicalIdOf } = stack;
const functionId = () => stack.functionId(NotificationFunction.Notify);
const statements = (): Statement[] => stack.functionStatements(NotificationFunction.Notify);

describe('the Notify rules', () => {
  it("send Bakehouse's own events, except requests, to Notify with a DLQ and retries", () => {
    stack.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['bakehouse'],
        'detail-type': [
          'Bake Started',
          'Bake Skipped',
          'AMI Baked',
          'Bake Failed',
          'AMI Tested',
          'AMI Promoted',
          'Revocation Completed',
          'Revocation Rejected',
          'Bake Rejected',
          'Promotion Rejected',
          'Janitor Report',
          'Canary Started',
          'Canary Judged',
        ],
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [functionId(), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalIdOf('AWS::SQS::Queue', 'NotifyEventsDlq'), 'Arn'] } },
          RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 },
        }),
      ],
    });
  });

  it('send Bake Requested from any source, and never the requests whose outcomes are announced (Promote Requested, AMI Revoked)', () => {
    stack.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'detail-type': ['Bake Requested'] },
    });
    expect(JSON.stringify(stack.template.findResources('AWS::Events::Rule'))).toMatch(/Notify/);
    const patterns = Object.values(stack.template.findResources('AWS::Events::Rule'))
      .filter((r) => JSON.stringify(r).includes(functionId()) && r.Properties.EventBusName !== undefined)
      .map((r) => JSON.stringify(r.Properties.EventPattern));
    // On the Bakehouse bus; the third rule (alarms) is on the default bus.
    expect(patterns).toHaveLength(2);
    expect(patterns.join()).not.toContain('Promote Requested');
    expect(patterns.join()).not.toContain('AMI Revoked');
  });

  it('keeps what Slack never took in an on-failure queue after two retries', () => {
    stack.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId() },
      MaximumRetryAttempts: 2,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf('AWS::SQS::Queue', 'NotifyFailed'), 'Arn'] } },
      },
    });
  });
});

describe('the alarm route', () => {
  const alarmRule = () => {
    const rules = Object.entries(stack.template.findResources('AWS::Events::Rule')).filter(
      ([, r]) => (r.Properties?.EventPattern as { source?: string[] } | undefined)?.source?.[0] === 'aws.cloudwatch',
    );
    expect(rules).toHaveLength(1);
    return rules[0] as [string, Resource];
  };
  const alarmNames = () =>
    Object.values(stack.template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName as string);

  it("sends every Bakehouse alarm's ALARM and OK, from the default bus, to Notify with a DLQ and retries", () => {
    // Act
    const [, rule] = alarmRule();

    // Assess
    const properties = rule.Properties as Record<string, unknown>;
    expect(properties.EventBusName).toBeUndefined();
    const pattern = properties.EventPattern as { detail: { alarmName: string[] } };
    expect(pattern).toEqual({
      source: ['aws.cloudwatch'],
      'detail-type': ['CloudWatch Alarm State Change'],
      detail: { alarmName: expect.any(Array), state: { value: ['ALARM', 'OK'] } },
    });
    expect([...pattern.detail.alarmName].sort()).toEqual([...alarmNames()].sort());
    expect(alarmNames()).toEqual(
      expect.arrayContaining([
        `bakehouse-${STAGE}-BakeExecutionsFailed`,
        `bakehouse-${STAGE}-NotifyErrors`,
        `bakehouse-${STAGE}-NotifyEventsDlqQueueNotEmpty`,
      ]),
    );
    expect(alarmNames().length).toBeGreaterThan(20);
    expect(properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [functionId(), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalIdOf('AWS::SQS::Queue', 'NotifyEventsDlq'), 'Arn'] } },
        RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 },
      }),
    ]);
  });

  it('names the alarms within the 2,048 characters of an event pattern', () => {
    const [, rule] = alarmRule();
    expect(JSON.stringify(rule.Properties?.EventPattern).length).toBeLessThanOrEqual(2048);
  });

  it('lets EventBridge invoke Notify for that rule only', () => {
    const [ruleId] = alarmRule();
    stack.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [functionId(), 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
    });
  });

  it('lets the rule dead-letter into the Notify events queue', () => {
    const [ruleId] = alarmRule();
    const policies = JSON.stringify(stack.template.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toContain(ruleId);
  });
});

describe('the Notify function', () => {
  it('names its secret and the state machine, never a token', () => {
    const environment = stack.resources[functionId()]?.Properties?.Environment as {
      Variables: Record<string, unknown>;
    };
    const env = environment.Variables;
    expect(env.SLACK_SECRET_ID).toBe(`bakehouse/${STAGE}/slack`);
    expect(JSON.stringify(env.STATE_MACHINE_ARN)).toContain(`bakehouse-${STAGE}-bake`);
    expect(JSON.stringify(env)).not.toMatch(/xox|hooks\.slack/);
  });

  it('has a secret created by the stack with a placeholder value', () => {
    stack.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: `bakehouse/${STAGE}/slack`,
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'placeholder' }),
    });
  });

  it("may read only its secret and keep only Slack's items in the state table, with no wildcard action", () => {
    const all = statements();
    const secret = all.find((s) => s.Sid === 'ReadSlackSecret');
    const state = all.find((s) => s.Sid === 'KeepMessageState');
    expect(asList(secret?.Action ?? [])).toEqual(['secretsmanager:GetSecretValue']);
    expect(secret?.Resource).toEqual({ Ref: logicalIdOf('AWS::SecretsManager::Secret', 'SlackSecret') });
    expect(state?.Resource).toEqual({ 'Fn::GetAtt': [logicalIdOf('AWS::DynamoDB::Table', 'StateTable'), 'Arn'] });
    expect(state?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['record#slack#*', 'lock#slack#*'] },
    });
    expect(asList(state?.Action ?? []).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem']);
    expect(all.flatMap((s) => asList(s.Action)).some((a) => a.startsWith('ssm:'))).toBe(false);
    expect(all.flatMap((s) => asList(s.Action)).filter((a) => a.includes('*'))).toEqual([]);
  });
});

describe('cdk-nag', () => {
  it('ran the AWS Solutions checks', () => {
    expect(stack.nagMessages('info').length).toBeGreaterThan(0);
  });

  it('leaves no unsuppressed error or warning', () => {
    expect(stack.nagMessages('error')).toEqual([]);
    expect(stack.nagMessages('warning')).toEqual([]);
  });
});
