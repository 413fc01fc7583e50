/**
 * The event contract in the synthesized stack: the schema registry with every schema file as it
 * is in the repository, and a subscriber's rule forwarding its detail-types to its bus in another
 * account (role, retry policy, DLQ). Synthesized once, offline, with a configuration that has a
 * subscriber and with cdk-nag's AWS Solutions checks.
 */
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { ConfigError } from '../../functions/commons/errors';
import { DetailType } from '../../functions/commons/events';
import { type ConfigInput, loadConfig } from '../../functions/commons/families';
import { bakehouseNames } from '../../functions/commons/stage-names';
import { CONTRACT_DETAIL_TYPES, readEventSchema, registrySchemaName } from '../../schemas/event-schemas';
import { SUBSCRIBER_RETRY, subscriberRules } from '../../stacks/event-contract';
import { asList, pipelineStack, type Resource, type Statement } from './support/pipeline';

const STAGE = 'contract';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';
const SUBSCRIBER_BUS = 'arn:aws:events:eu-central-1:444455556666:event-bus/platform-images';
const names = bakehouseNames(STAGE);

/** The shipped configuration with one subscriber that wants AMI Promoted and AMI Revoked. */
const configWithSubscriber = (): ConfigInput => {
  const config = structuredClone(shippedConfig);
  return {
    ...config,
    settings: {
      ...config.settings,
      subscribers: [
        { name: 'platform-images', eventBusArn: SUBSCRIBER_BUS, detailTypes: ['AMI Promoted', 'AMI Revoked'] },
      ],
    },
  };
};

const stack = pipelineStack({ stage: STAGE, account: ACCOUNT, region: REGION, config: configWithSubscriber() });
const { ofType } = stack;

const subscriberRule = (): [string, Resource] => {
  const found = ofType('AWS::Events::Rule').filter(([id]) => id.startsWith('SubscriberPlatformImages'));
  if (found.length !== 1) throw new Error(`expected one subscriber rule, found ${found.length}`);
  return found[0]!;
};

describe('the schema registry', () => {
  it('is named after the stage', () => {
    // Act
    const registries = ofType('AWS::EventSchemas::Registry');

    // Assess
    expect(registries).toHaveLength(1);
    expect(registries[0]?.[1].Properties?.RegistryName).toBe(`bakehouse-${STAGE}`);
  });

  it('holds one draft-04 schema per detail-type, named source@DetailType, in the registry', () => {
    // Prepare
    const [registryId] = ofType('AWS::EventSchemas::Registry')[0]!;

    // Act
    const schemas = ofType('AWS::EventSchemas::Schema').map(([, r]) => r.Properties ?? {});

    // Assess
    expect(schemas.map((s) => s.SchemaName).sort()).toEqual(
      CONTRACT_DETAIL_TYPES.map((type) => registrySchemaName(type)).sort(),
    );
    expect(schemas.map((s) => s.SchemaName)).toContain('bakehouse@AMIPromoted');
    for (const schema of schemas) {
      expect(schema.Type).toBe('JSONSchemaDraft4');
      expect(schema.RegistryName).toEqual({ 'Fn::GetAtt': [registryId, 'RegistryName'] });
      expect(String(schema.Description).length).toBeGreaterThan(10);
    }
  });

  it.each(CONTRACT_DETAIL_TYPES)('publishes %s as the schema file says, unchanged', (type) => {
    // Prepare
    const schema = ofType('AWS::EventSchemas::Schema')
      .map(([, r]) => r.Properties ?? {})
      .find((s) => s.SchemaName === registrySchemaName(type));

    // Act
    const content: unknown = JSON.parse(String(schema?.Content));

    // Assess
    expect(content).toEqual(readEventSchema(type));
  });
});

describe('a subscriber', () => {
  it('gets its detail-types from the Bakehouse source forwarded from the Bakehouse bus', () => {
    // Act
    const [, rule] = subscriberRule();

    // Assess
    expect(rule.Properties?.EventBusName).toEqual({ Ref: expect.stringMatching(/^Bus[0-9A-F]{8}$/) });
    expect(rule.Properties?.EventPattern).toEqual({
      source: ['bakehouse'],
      'detail-type': [DetailType.AmiPromoted, DetailType.AmiRevoked],
    });
    expect(rule.Properties?.State).toBe('ENABLED');
  });

  it("targets the subscriber's bus with a role, a retry policy and a DLQ", () => {
    // Prepare
    const [, rule] = subscriberRule();
    const [queueId] = ofType('AWS::SQS::Queue').find(([id]) => id.startsWith('SubscriberPlatformImagesDlq')) ?? [];
    const [roleId] = ofType('AWS::IAM::Role').find(([id]) => id.startsWith('SubscriberDeliveryRole')) ?? [];

    // Act
    const targets = rule.Properties?.Targets as Record<string, unknown>[];

    // Assess
    expect(targets).toEqual([
      {
        Id: expect.any(String),
        Arn: SUBSCRIBER_BUS,
        RoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
        RetryPolicy: {
          MaximumRetryAttempts: SUBSCRIBER_RETRY.maximumRetryAttempts,
          MaximumEventAgeInSeconds: 7200,
        },
      },
    ]);
  });

  it('delivers with a role EventBridge of this account assumes, allowed to put events on that bus only', () => {
    // Prepare
    const [roleId, role] = ofType('AWS::IAM::Role').find(([id]) => id.startsWith('SubscriberDeliveryRole')) ?? [];

    // Act
    const statements = ofType('AWS::IAM::Policy')
      .filter(([, r]) => JSON.stringify(r.Properties?.Roles ?? []).includes(JSON.stringify({ Ref: roleId })))
      .flatMap(([, r]) => (r.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? []);

    // Assess
    expect(JSON.stringify(role?.Properties?.AssumeRolePolicyDocument)).toContain('events.amazonaws.com');
    expect(JSON.stringify(role?.Properties?.AssumeRolePolicyDocument)).toContain('aws:SourceAccount');
    expect(statements).toEqual([
      expect.objectContaining({ Effect: 'Allow', Action: 'events:PutEvents', Resource: SUBSCRIBER_BUS }),
    ]);
  });

  it('has a DLQ that only EventBridge for this rule may send to, with a not-empty alarm', () => {
    // Prepare
    const [queueId] = ofType('AWS::SQS::Queue').find(([id]) => id.startsWith('SubscriberPlatformImagesDlq')) ?? [];
    const [ruleId] = subscriberRule();

    // Act
    const policy = ofType('AWS::SQS::QueuePolicy').find(([, r]) =>
      JSON.stringify(r.Properties?.Queues).includes(String(queueId)),
    )?.[1];
    const statements = (policy?.Properties?.PolicyDocument as { Statement: Statement[] } | undefined)?.Statement ?? [];
    const alarms = ofType('AWS::CloudWatch::Alarm').filter(([, r]) =>
      JSON.stringify(r.Properties?.Dimensions).includes(String(queueId)),
    );

    // Assess
    const send = statements.find((s) => asList(s.Action).includes('sqs:SendMessage'));
    expect(send?.Principal).toEqual({ Service: 'events.amazonaws.com' });
    expect(JSON.stringify(send)).toContain(String(ruleId));
    expect(alarms).toHaveLength(1);
  });

  it('is checked against the contract: a detail-type Bakehouse does not publish fails, naming the fix', () => {
    // Prepare
    const settings = loadConfig({
      ...structuredClone(shippedConfig),
      settings: {
        subscribers: [{ name: 'typo', eventBusArn: SUBSCRIBER_BUS, detailTypes: ['AMI Promotd'] }],
      },
    }).settings;

    // Act
    const act = () => subscriberRules(settings);

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(
      /settings\.subscribers\[0\] \('typo'\)\.detailTypes: 'AMI Promotd' is not a Bakehouse detail-type/,
    );
  });

  it('is one rule per subscriber, and none without subscribers', () => {
    // Act
    const none = subscriberRules(loadConfig(shippedConfig).settings);
    const one = subscriberRules(loadConfig(configWithSubscriber()).settings);

    // Assess
    expect(none).toEqual([]);
    expect(one).toEqual([
      {
        id: 'SubscriberPlatformImages',
        name: 'platform-images',
        eventBusArn: SUBSCRIBER_BUS,
        account: '444455556666',
        eventPattern: { source: ['bakehouse'], detailType: ['AMI Promoted', 'AMI Revoked'] },
      },
    ]);
  });
});

describe('cdk-nag', () => {
  it('leaves no unsuppressed error or warning with the contract and a subscriber', () => {
    // Assess
    expect(stack.nagMessages('info').length).toBeGreaterThan(0);
    expect(stack.nagMessages('error')).toEqual([]);
    expect(stack.nagMessages('warning')).toEqual([]);
  });

  it('reports nothing at all on the contract and subscriber resources', () => {
    // Act
    const findings = stack.artifact.messages
      .filter((m) => String(m.entry.data).includes('AwsSolutions-'))
      .map((m) => m.id)
      .filter((id) => /EventSchema|Subscriber/.test(id));

    // Assess: the subscriber DLQ's SQS3 (a DLQ of a DLQ) is the one expected, suppressed, finding
    expect(findings.filter((id) => !/SubscriberPlatformImagesDlq/.test(id))).toEqual([]);
  });

  it('uses the bus of the stage', () => {
    // Assess
    expect(ofType('AWS::Events::EventBus').map(([, r]) => r.Properties?.Name)).toEqual([names.bus]);
  });
});
