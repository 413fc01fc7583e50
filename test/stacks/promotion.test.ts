/**
 * Promotion and revocation as they deploy, over a configuration with launch templates (by id and
 * by name), an Auto Scaling group, two regions (one with its own KMS key) and two accounts (one
 * with a tagging role): synthesized offline once, with cdk-nag, asserted on the template.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aspects } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CloudFormationStackArtifact } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { type ConfigInput, loadConfig } from '../../functions/commons/families';
import { LAMBDA_DEFAULTS } from '../../sst.config';
import { addBakehouseStacks } from '../../stacks';
import { PromotionFunction, promotionTargetsOf } from '../../stacks/promotion';
import { synthesizeOffline } from '../../stacks/synthesize';

const STAGE = 'promo';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';
const TAG_ROLE = 'arn:aws:iam::444455556666:role/bakehouse-tagger';
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';

type Resource = { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> };
type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource?: unknown; Condition?: unknown };

/** The shipped configuration with promotion targets on al2023-base. */
const promotionConfig = (): ConfigInput => {
  const config = structuredClone(shippedConfig) as ConfigInput;
  const base = config.families.find((f) => f.name === 'al2023-base');
  if (!base) throw new Error('the shipped config has no al2023-base');
  Object.assign(base, {
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

let outdir: string;
let artifact: CloudFormationStackArtifact;
let template: Template;
let resources: Record<string, Resource>;

beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'bakehouse-promotion-test-'));
  const { assembly } = await synthesizeOffline({
    stage: STAGE,
    region: REGION,
    account: ACCOUNT,
    outdir,
    configure: (app) => {
      addBakehouseStacks(app, promotionConfig(), LAMBDA_DEFAULTS);
      Aspects.of(app).add(new AwsSolutionsChecks({ logIgnores: true }));
    },
  });
  const stack = assembly.stacks.find((s) => s.stackName === `${STAGE}-bakehouse-BakePipeline`);
  if (!stack) throw new Error(`no BakePipeline stack in ${assembly.stacks.map((s) => s.stackName).join(', ')}`);
  artifact = stack;
  template = Template.fromJSON(artifact.template as Record<string, unknown>);
  resources = (artifact.template as { Resources: Record<string, Resource> }).Resources;
});

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

const ofType = (type: string): [string, Resource][] => Object.entries(resources).filter(([, r]) => r.Type === type);
const logicalIdOf = (type: string, constructId: string): string => {
  const found = ofType(type).filter(
    ([id]) => id === constructId || (id.startsWith(constructId) && /^[0-9A-F]{8}$/.test(id.slice(constructId.length))),
  );
  if (found.length !== 1) throw new Error(`expected one ${type} ${constructId}, found ${found.length}`);
  return (found[0] as [string, Resource])[0];
};
const functionId = (id: string) => logicalIdOf('AWS::Lambda::Function', id);
const queueArn = (id: string) => ({ 'Fn::GetAtt': [logicalIdOf('AWS::SQS::Queue', id), 'Arn'] });
const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** The statements of the policies attached to a function's role. */
const statementsOf = (functionConstructId: string): Statement[] => {
  const roleId = logicalIdOf('AWS::IAM::Role', `${functionConstructId}Role`);
  return ofType('AWS::IAM::Policy')
    .filter(([, r]) => JSON.stringify(r.Properties?.Roles ?? []).includes(JSON.stringify({ Ref: roleId })))
    .flatMap(([, r]) => (r.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? []);
};
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

describe('the rules', () => {
  it("send Bakehouse's own AMI Baked and AMI Tested to Promote, with a DLQ and retries", () => {
    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
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

  it('send Promote Requested to Promote and AMI Revoked to Revoke', () => {
    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'detail-type': ['Promote Requested'] },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId(PromotionFunction.Promote), 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
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
    expect(rules).toHaveLength(3);
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
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId(fn) },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: queueArn(queue) } },
    });
  });

  it('alarm when a queue is not empty', () => {
    // Assess
    for (const id of ['PromoteEventsDlq', 'PromoteRejected', 'RevokeEventsDlq', 'RevokeRejected']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
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
    const promote = statement(PromotionFunction.Promote, 'WriteManagedImages');
    const revoke = statement(PromotionFunction.Revoke, 'WriteManagedImages');

    // Assess
    expect(asList(promote.Action)).toEqual(['ec2:CreateTags']);
    expect(asList(revoke.Action).sort()).toEqual(['ec2:CreateTags', 'ec2:DisableImage']);
    for (const s of [promote, revoke]) {
      expect(s.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' } });
      expect(resourcesOf(s)).toEqual([expect.stringMatching(/:ec2:eu-central-1::image\/\*$/)]);
    }
    expect(statementsOf(PromotionFunction.Promote).some((s) => asList(s.Action).includes('ec2:DisableImage'))).toBe(
      false,
    );
  });

  it('updates only the configured launch templates and refreshes only the configured group', () => {
    // Act
    const templates = statement(PromotionFunction.Promote, 'UpdateLaunchTemplates');
    const refresh = statement(PromotionFunction.Promote, 'RefreshAutoScalingGroups');

    // Assess: a template named (web-dev) can only be matched as launch-template/*
    expect(asList(templates.Action).sort()).toEqual(['ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate']);
    expect(resourcesOf(templates)).toEqual([
      expect.stringMatching(new RegExp(`:ec2:eu-central-1:${ACCOUNT}:launch-template/\\*$`)),
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
    expect(resourcesOf(copy).map((r) => /:ec2:([a-z0-9-]+)::image\/\*$/.exec(r)?.[1])).toEqual([
      'eu-central-1',
      'eu-west-1',
      'us-west-2',
    ]);
    expect(tagAtCreation.Condition).toEqual({ StringEquals: { 'ec2:CreateAction': 'CopyImage' } });
    expect(statement(PromotionFunction.Promote, 'ShareManagedImages').Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' },
    });
  });

  it('uses only the configured KMS key, in its region, and assumes only the configured tagging role', () => {
    // Act
    const keys = statement(PromotionFunction.Promote, 'EncryptCopiesWithKeys');
    const assume = statement(PromotionFunction.Promote, 'TagInSharedAccounts');

    // Assess
    expect(resourcesOf(keys)).toEqual([expect.stringMatching(new RegExp(`:kms:eu-west-1:${ACCOUNT}:key/${KEY_ID}$`))]);
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
  const nagMessages = (level: string) =>
    artifact.messages
      .filter((m) => m.level === level && String(m.entry.data).includes('AwsSolutions-'))
      .map((m) => `${m.id}: ${String(m.entry.data).split('\n')[0]}`);

  it('ran the AWS Solutions checks', () => {
    // Assess
    expect(nagMessages('info').length).toBeGreaterThan(0);
  });

  it('leaves no unsuppressed error or warning', () => {
    // Assess
    expect(nagMessages('error')).toEqual([]);
    expect(nagMessages('warning')).toEqual([]);
  });
});
