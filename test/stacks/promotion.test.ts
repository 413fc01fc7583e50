/**
 * Promotion and revocation as they deploy, over a configuration with launch templates (by id and
 * by name), an Auto Scaling group, two regions (one with its own KMS key) and two accounts (one
 * with a tagging role): synthesized offline once, with cdk-nag, asserted on the template.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { type ConfigInput, loadConfig } from '../../functions/commons/families';
import { PromotionFunction } from '../../stacks/names';
import { promotionTargetsOf } from '../../stacks/promotion-targets';
import { allows, type Context, resolver } from './support/evaluate';
import { asList, pipelineStack, type Statement } from './support/pipeline';

const STAGE = 'promo';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';
const TAG_ROLE = 'arn:aws:iam::444455556666:role/bakehouse-tagger';
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
/** The builder's customer managed key: the family shares with other accounts (AWS shares no AMI under aws/ebs). */
const BUILDER_KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b`;

/** The shipped configuration with promotion targets on al2023-base. */
const promotionConfig = (): ConfigInput => {
  const config = structuredClone(shippedConfig) as ConfigInput;
  const base = config.families.find((f) => f.name === 'al2023-base');
  if (!base) throw new Error('the shipped config has no al2023-base');
  Object.assign(base, {
    builder: { ...base.builder, kmsKeyId: BUILDER_KEY_ARN },
    channels: [
      {
        name: 'dev',
        promoteOn: 'baked',
        launchTemplates: [{ template: 'web-dev' }],
        autoScalingGroups: [{ name: 'web-dev-asg' }],
      },
      { name: 'stable', promoteOn: 'tested', launchTemplates: [{ template: 'lt-0123456789abcdef0' }] },
      { name: 'gold', promoteOn: 'manual' },
    ],
    distribution: {
      regions: [{ region: 'eu-west-1', kmsKeyId: KEY_ID }, 'us-west-2'],
      accounts: [{ account: '444455556666', tagRoleArn: TAG_ROLE }, '777788889999'],
    },
  });
  return config;
};

const stack = pipelineStack({ stage: STAGE, account: ACCOUNT, region: REGION, config: promotionConfig() });
const { ofType, logicalIdOf, functionId, queueArn } = stack;
/** The statements of the policies attached to a function's role. */
const statementsOf = (functionConstructId: string): Statement[] => stack.functionStatements(functionConstructId);
const statement = (fn: string, sid: string): Statement => {
  const found = statementsOf(fn).find((s) => s.Sid === sid);
  if (!found)
    throw new Error(
      `${fn} has no statement ${sid}: ${statementsOf(fn)
        .map((s) => s.Sid)
        .join(', ')}`,
    );
  return found;
};
/** A resource rendered to text: intrinsics as `<Ref>`, joins flattened. */
const text = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const record = value as { Ref?: string; 'Fn::Join'?: [string, unknown[]]; 'Fn::GetAtt'?: string[] };
  if (record.Ref) return `<${record.Ref}>`;
  if (record['Fn::Join']) return record['Fn::Join'][1].map(text).join(record['Fn::Join'][0]);
  if (record['Fn::GetAtt']) return `<${record['Fn::GetAtt'].join('.')}>`;
  return JSON.stringify(value);
};
const resourcesOf = (s: Statement): string[] => asList(s.Resource ?? []).map(text);
const resolve = resolver({ account: ACCOUNT, region: REGION });
const can = (fn: string, action: string, resource: string, context: Context = {}): boolean =>
  allows(statementsOf(fn), { action, resource, context }, resolve);
const MANAGED_TAGS = { 'bakehouse:managed': 'true', 'bakehouse:family': 'al2023-base' };
/** The context EC2 gives IAM for a tag write on an existing resource: its tags now, the request's tags. */
const tagging = (existing: Record<string, string>, written: Record<string, string>): Context => ({
  ...Object.fromEntries(Object.entries(existing).map(([k, v]) => [`aws:ResourceTag/${k}`, v])),
  ...Object.fromEntries(Object.entries(written).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
  'aws:TagKeys': Object.keys(written),
});
const imageIn = (region: string) => `arn:aws:ec2:${region}::image/ami-0123456789abcdef0`;
const template = (id: string, account = ACCOUNT) => `arn:aws:ec2:${REGION}:${account}:launch-template/${id}`;
const BOTH = [PromotionFunction.Promote, PromotionFunction.Revoke];

describe('the rules', () => {
  it("send Bakehouse's own AMI Baked and AMI Tested to Promote, with a DLQ and retries", () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['bakehouse'], 'detail-type': ['AMI Baked', 'AMI Tested'] },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [functionId(PromotionFunction.Promote), 'Arn'] },
          DeadLetterConfig: { Arn: queueArn('PromoteEventsDlq') },
          RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 },
        }),
      ],
    });
  });

  it("send Bakehouse's own Canary Judged with verdict pass (only) to Promote, with a DLQ and retries", () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['bakehouse'], 'detail-type': ['Canary Judged'], detail: { verdict: ['pass'] } },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [functionId(PromotionFunction.Promote), 'Arn'] },
          DeadLetterConfig: { Arn: queueArn('PromoteEventsDlq') },
          RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 },
        }),
      ],
    });
  });

  it('send Promote Requested to Promote and AMI Revoked to Revoke', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'detail-type': ['Promote Requested'] },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId(PromotionFunction.Promote), 'Arn'] } })],
    });
    stack.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'detail-type': ['AMI Revoked'] },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [functionId(PromotionFunction.Revoke), 'Arn'] },
          DeadLetterConfig: { Arn: queueArn('RevokeEventsDlq') },
        }),
      ],
    });
  });

  it('are on the Bakehouse bus', () => {
    // Act
    const ours = [functionId(PromotionFunction.Promote), functionId(PromotionFunction.Revoke)];
    const rules = ofType('AWS::Events::Rule').filter(([, r]) =>
      ours.some((id) => JSON.stringify(r.Properties?.Targets).includes(`"${id}"`)),
    );

    // Assess
    expect(rules).toHaveLength(4);
    for (const [, rule] of rules)
      expect(rule.Properties?.EventBusName).toEqual({ Ref: logicalIdOf('AWS::Events::EventBus', 'Bus') });
  });
});

describe('failed invocations', () => {
  it.each([
    [PromotionFunction.Promote, 'PromoteRejected'],
    [PromotionFunction.Revoke, 'RevokeRejected'],
  ])('%s retries twice, then sends the event and its error to %s', (fn, queue) => {
    // Assess
    stack.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId(fn) },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: queueArn(queue) } },
    });
  });

  it('alarm when a queue is not empty', () => {
    // Assess
    for (const id of ['PromoteEventsDlq', 'PromoteRejected', 'RevokeEventsDlq', 'RevokeRejected']) {
      stack.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `bakehouse-${STAGE}-${id}QueueNotEmpty`,
      });
    }
  });
});

describe('least privilege', () => {
  it.each([PromotionFunction.Promote, PromotionFunction.Revoke])(
    '%s reads and writes only the configured channel parameters',
    (fn) => {
      // Act
      const channels = statement(fn, 'MoveChannels');

      // Assess
      expect(asList(channels.Action).sort()).toEqual([
        'ssm:GetParameter',
        'ssm:GetParameterHistory',
        'ssm:PutParameter',
      ]);
      const config = loadConfig(promotionConfig());
      const expected = config.families.flatMap((f) => f.channels.map((c) => `parameter/bakehouse/${f.name}/${c.name}`));
      expect(
        resourcesOf(channels)
          .map((r) => r.replace(/^.*:(parameter\/)/, '$1'))
          .sort(),
      ).toEqual(expected.sort());
      expect(resourcesOf(channels).every((r) => r.includes(`:ssm:${REGION}:${ACCOUNT}:`) || r.includes('AWS::'))).toBe(
        true,
      );
    },
  );

  it('lets Promote tag, and Revoke tag and disable, only images Bakehouse manages', () => {
    // Act
    const promote = statement(PromotionFunction.Promote, 'TagManagedImages');
    const revoke = statement(PromotionFunction.Revoke, 'TagManagedImages');
    const disable = statement(PromotionFunction.Revoke, 'DisableManagedImages');
    const channelKeys = [
      'bakehouse:channel:dev',
      'bakehouse:channel:gold',
      'bakehouse:channel:prod',
      'bakehouse:channel:stable',
    ];

    // Assess
    expect(asList(promote.Action)).toEqual(['ec2:CreateTags']);
    expect(asList(revoke.Action)).toEqual(['ec2:CreateTags']);
    expect(asList(disable.Action)).toEqual(['ec2:DisableImage']);
    expect(promote.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': channelKeys },
    });
    expect(revoke.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' },
      'ForAllValues:StringEquals': {
        'aws:TagKeys': ['bakehouse:revoked', 'bakehouse:revoked-reason', 'bakehouse:revoked-by', ...channelKeys],
      },
    });
    expect(disable.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' } });
    for (const s of [promote, revoke, disable]) {
      expect(resourcesOf(s)).toEqual([expect.stringMatching(/:ec2:eu-central-1::image\/\*$/)]);
    }
    expect(statementsOf(PromotionFunction.Promote).some((s) => asList(s.Action).includes('ec2:DisableImage'))).toBe(
      false,
    );
  });

  it('updates only the configured launch templates and refreshes only the configured group', () => {
    // Act
    const byId = statement(PromotionFunction.Promote, 'UpdateLaunchTemplatesById');
    const byTag = statement(PromotionFunction.Promote, 'UpdateLaunchTemplatesByTag');
    const refresh = statement(PromotionFunction.Promote, 'RefreshAutoScalingGroups');

    // Assess: a template named (web-dev) can only be matched as launch-template/*, and then by its tag
    for (const s of [byId, byTag]) {
      expect(asList(s.Action).sort()).toEqual(['ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate']);
    }
    expect(resourcesOf(byId)).toEqual([
      expect.stringMatching(new RegExp(`:ec2:eu-central-1:${ACCOUNT}:launch-template/lt-0123456789abcdef0$`)),
    ]);
    expect(resourcesOf(byTag)).toEqual([
      expect.stringMatching(new RegExp(`:ec2:eu-central-1:${ACCOUNT}:launch-template/\\*$`)),
    ]);
    expect(Object.keys(byTag.Condition ?? {})).toEqual(['StringEquals']);
    expect(Object.keys(byTag.Condition?.StringEquals ?? {})).toEqual(['aws:ResourceTag/bakehouse:launch-template']);
    expect(asList(byTag.Condition?.StringEquals?.['aws:ResourceTag/bakehouse:launch-template'] as string)).toEqual([
      'web-dev',
    ]);
    expect(asList(refresh.Action)).toEqual(['autoscaling:StartInstanceRefresh']);
    expect(resourcesOf(refresh)).toEqual([
      expect.stringMatching(
        new RegExp(`:autoscaling:eu-central-1:${ACCOUNT}:autoScalingGroup:\\*:autoScalingGroupName/web-dev-asg$`),
      ),
    ]);
  });

  it('copies only to the configured regions, tags copies only while copying or when managed', () => {
    // Act
    const copy = statement(PromotionFunction.Promote, 'CopyImagesToRegions');
    const tagAtCreation = statement(PromotionFunction.Promote, 'TagCopiesWhenCreated');

    // Assess
    const regionsOf = (kind: string) =>
      resourcesOf(copy).flatMap((r) => new RegExp(`:ec2:([a-z0-9-]+)::${kind}\\/\\*$`).exec(r)?.[1] ?? []);
    expect(regionsOf('image')).toEqual(['eu-central-1', 'eu-west-1', 'us-west-2']);
    // CopyImage also authorizes the snapshots it creates (Service Authorization Reference: snapshot is required).
    expect(regionsOf('snapshot')).toEqual(['eu-west-1', 'us-west-2']);
    expect(resourcesOf(copy)).toHaveLength(5);
    expect(tagAtCreation.Condition).toEqual({ StringEquals: { 'ec2:CreateAction': 'CopyImage' } });
    expect(statement(PromotionFunction.Promote, 'ShareManagedImages').Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' },
    });
  });

  it("uses only the configured KMS keys (the copy's in its region, and the builder's that the source is under), and assumes only the configured tagging role", () => {
    // Act
    const keys = statement(PromotionFunction.Promote, 'EncryptCopiesWithKeys');
    const assume = statement(PromotionFunction.Promote, 'TagInSharedAccounts');

    // Assess
    expect([...resourcesOf(keys)].sort()).toEqual(
      [BUILDER_KEY_ARN, expect.stringMatching(new RegExp(`:kms:eu-west-1:${ACCOUNT}:key/${KEY_ID}$`))].sort(),
    );
    expect(asList(keys.Action)).toContain('kms:ReEncryptTo');
    expect(asList(assume.Action)).toEqual(['sts:AssumeRole']);
    expect(resourcesOf(assume)).toEqual([TAG_ROLE]);
  });

  it('grants no wildcard action', () => {
    // Act
    const actions = [PromotionFunction.Promote, PromotionFunction.Revoke].flatMap((fn) =>
      statementsOf(fn).flatMap((s) => asList(s.Action)),
    );

    // Assess
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
  });
});

describe('what the roles can change', () => {
  describe.each(BOTH)('%s', (fn) => {
    it.each(['ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate'])(
      '%s only on a launch template the configuration names',
      (action) => {
        // Assess: by id, its ARN; by name, the bakehouse:launch-template tag the operator puts on it
        expect(can(fn, action, template('lt-0123456789abcdef0'))).toBe(true);
        expect(
          can(fn, action, template('lt-0aaaaaaaaaaaaaaa0'), { 'aws:ResourceTag/bakehouse:launch-template': 'web-dev' }),
        ).toBe(true);
        expect(can(fn, action, template('lt-0fffffffffffffff0'))).toBe(false);
        expect(can(fn, action, template('lt-0fffffffffffffff0'), { 'aws:ResourceTag/Name': 'web-dev' })).toBe(false);
        expect(
          can(fn, action, template('lt-0fffffffffffffff0'), {
            'aws:ResourceTag/bakehouse:launch-template': 'payments-prod',
          }),
        ).toBe(false);
        expect(can(fn, action, template('lt-0123456789abcdef0', '999999999999'))).toBe(false);
      },
    );

    it('tags a managed image only with the channel keys it writes, never bakehouse:keep, managed or the janitor stage', () => {
      // Assess
      expect(can(fn, 'ec2:CreateTags', imageIn(REGION), tagging(MANAGED_TAGS, { 'bakehouse:channel:dev': 'x' }))).toBe(
        true,
      );
      for (const key of [
        'bakehouse:keep',
        'bakehouse:managed',
        'bakehouse:family',
        'bakehouse:janitor-stage',
        'bakehouse:janitor-since',
        'bakehouse:channel:unconfigured',
      ]) {
        expect(can(fn, 'ec2:CreateTags', imageIn(REGION), tagging(MANAGED_TAGS, { [key]: 'x' })), key).toBe(false);
        expect(
          can(
            fn,
            'ec2:CreateTags',
            imageIn(REGION),
            tagging(MANAGED_TAGS, { 'bakehouse:channel:dev': 'x', [key]: 'x' }),
          ),
          key,
        ).toBe(false);
      }
    });

    it('tags no image Bakehouse does not manage, in any region', () => {
      // Assess
      for (const region of [REGION, 'eu-west-1', 'us-west-2']) {
        expect(can(fn, 'ec2:CreateTags', imageIn(region), tagging({}, { 'bakehouse:channel:dev': 'x' })), region).toBe(
          false,
        );
      }
    });

    it('rewrites no tag on a managed copy in another region, and tags copies only while CopyImage creates them', () => {
      // Assess
      for (const region of ['eu-west-1', 'us-west-2']) {
        expect(
          can(fn, 'ec2:CreateTags', imageIn(region), tagging(MANAGED_TAGS, { 'bakehouse:keep': 'false' })),
          region,
        ).toBe(false);
        expect(
          can(fn, 'ec2:CreateTags', imageIn(region), tagging(MANAGED_TAGS, { 'bakehouse:channel:dev': 'x' })),
          region,
        ).toBe(false);
      }
      expect(
        can(PromotionFunction.Promote, 'ec2:CreateTags', imageIn('eu-west-1'), {
          ...tagging({}, MANAGED_TAGS),
          'ec2:CreateAction': 'CopyImage',
        }),
      ).toBe(true);
    });
  });

  it.each(BOTH)('%s: takes and gives back channel locks in the state table, and no other item', (fn) => {
    // Prepare: the table's ARN as the statement resolves it
    const table = resolve({ 'Fn::GetAtt': [logicalIdOf('AWS::DynamoDB::Table', 'StateTable'), 'Arn'] });
    const keys = (...pk: string[]): Context => ({ 'dynamodb:LeadingKeys': pk });

    // Assess
    for (const action of ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem']) {
      expect(can(fn, action, table, keys('lock#channel#al2023-base/stable'))).toBe(true);
      expect(can(fn, action, table, keys('lock#family#al2023-base'))).toBe(false);
      expect(can(fn, action, table, keys('record#slack#b-1'))).toBe(false);
    }
    expect(can(fn, 'dynamodb:Scan', table, keys('lock#channel#al2023-base/stable'))).toBe(false);
    expect(stack.environmentOf(fn)).toMatchObject({ STATE_TABLE_NAME: expect.anything() });
  });

  it('lets Revoke, and only Revoke, write the revocation tags', () => {
    // Prepare
    const revocation = {
      'bakehouse:revoked': 'true',
      'bakehouse:revoked-reason': 'CVE',
      'bakehouse:revoked-by': 'sec',
    };

    // Assess
    expect(can(PromotionFunction.Revoke, 'ec2:CreateTags', imageIn(REGION), tagging(MANAGED_TAGS, revocation))).toBe(
      true,
    );
    expect(can(PromotionFunction.Promote, 'ec2:CreateTags', imageIn(REGION), tagging(MANAGED_TAGS, revocation))).toBe(
      false,
    );
  });

  it.each(BOTH)('%s: every CreateTags on an existing image requires it managed and names its keys', (fn) => {
    // Act
    const tagWrites = statementsOf(fn).filter(
      (s) =>
        asList(s.Action).includes('ec2:CreateTags') && s.Condition?.StringEquals?.['ec2:CreateAction'] === undefined,
    );

    // Assess
    expect(tagWrites.length).toBeGreaterThan(0);
    for (const s of tagWrites) {
      expect(s.Condition?.StringEquals).toMatchObject({ 'aws:ResourceTag/bakehouse:managed': 'true' });
      expect(s.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys']).toEqual(expect.any(Array));
    }
  });
});

describe('promotionTargetsOf', () => {
  it("asks for the shipped example's launch template by name", () => {
    // Act
    const targets = promotionTargetsOf(loadConfig(shippedConfig));

    // Assess
    expect(targets.templateNames).toEqual(['bakehouse-example-web']);
    expect(targets.templateIds).toEqual([]);
  });

  it('asks for nothing beyond the channels when no family configures targets', () => {
    // Prepare: the shipped families without the example launch template
    const withoutTargets = structuredClone(shippedConfig);
    for (const family of withoutTargets.families) {
      for (const channel of family.channels ?? []) delete channel.launchTemplates;
    }

    // Act
    const targets = promotionTargetsOf(loadConfig(withoutTargets));

    // Assess
    expect(targets).toEqual({
      templateIds: [],
      templateNames: [],
      groups: [],
      regions: [],
      regionKeys: [],
      sourceKeys: [],
      sharesWithAccounts: false,
      tagRoleArns: [],
    });
  });
});

describe('cdk-nag', () => {
  it('ran the AWS Solutions checks', () => {
    // Assess
    expect(stack.nagMessages('info').length).toBeGreaterThan(0);
  });

  it('leaves no unsuppressed error or warning', () => {
    // Assess
    expect(stack.nagMessages('error')).toEqual([]);
    expect(stack.nagMessages('warning')).toEqual([]);
  });
});
