/**
 * Slack notifications as they deploy: the Notify function, its rules, queues, secret and role,
 * synthesized offline once over the shipped configuration, with cdk-nag.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { loadConfig } from '../../functions/commons/families';
import { NotificationFunction } from '../../stacks/notifications';
import { asList, pipelineStack, type Statement } from './support/pipeline';

const STAGE = 'notes';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';

const stack = pipelineStack({ stage: STAGE, account: ACCOUNT, region: REGION, config: loadConfig(shippedConfig) });
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
          'Janitor Report',
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

  it('send Bake Requested and AMI Revoked from any source, and never Promote Requested', () => {
    stack.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'detail-type': ['Bake Requested', 'AMI Revoked'] },
    });
    expect(JSON.stringify(stack.template.findResources('AWS::Events::Rule'))).toMatch(/Notify/);
    const patterns = Object.values(stack.template.findResources('AWS::Events::Rule'))
      .filter((r) => JSON.stringify(r).includes(functionId()))
      .map((r) => JSON.stringify(r.Properties.EventPattern));
    expect(patterns).toHaveLength(2);
    expect(patterns.join()).not.toContain('Promote Requested');
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

  it('may read only its secret and write only <prefix>/_slack/*, with no wildcard action', () => {
    const all = statements();
    const secret = all.find((s) => s.Sid === 'ReadSlackSecret');
    const state = all.find((s) => s.Sid === 'KeepMessageState');
    expect(asList(secret?.Action ?? [])).toEqual(['secretsmanager:GetSecretValue']);
    expect(secret?.Resource).toEqual({ Ref: logicalIdOf('AWS::SecretsManager::Secret', 'SlackSecret') });
    expect(JSON.stringify(state?.Resource)).toContain('parameter/bakehouse/_slack/*');
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
