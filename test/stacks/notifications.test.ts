/**
 * Slack notifications as they deploy: the Notify function, its rules, queues, secret and role,
 * synthesized offline once over the shipped configuration, with cdk-nag.
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
import { loadConfig } from '../../functions/commons/families';
import { LAMBDA_DEFAULTS } from '../../sst.config';
import { addBakehouseStacks } from '../../stacks';
import { NotificationFunction } from '../../stacks/notifications';
import { synthesizeOffline } from '../../stacks/synthesize';

const STAGE = 'notes';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';

type Resource = { Type: string; Properties?: Record<string, unknown> };
type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource?: unknown };

let outdir: string;
let artifact: CloudFormationStackArtifact;
let template: Template;
let resources: Record<string, Resource>;

beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'bakehouse-notifications-test-'));
  const { assembly } = await synthesizeOffline({
    stage: STAGE,
    region: REGION,
    account: ACCOUNT,
    outdir,
    configure: (app) => {
      addBakehouseStacks(app, loadConfig(shippedConfig), LAMBDA_DEFAULTS);
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

const logicalIdOf = (type: string, constructId: string): string => {
  const found = Object.entries(resources).filter(
    ([id, r]) =>
      r.Type === type &&
      (id === constructId || (id.startsWith(constructId) && /^[0-9A-F]{8}$/.test(id.slice(constructId.length)))),
  );
  if (found.length !== 1) throw new Error(`expected one ${type} ${constructId}, found ${found.length}`);
  return (found[0] as [string, Resource])[0];
};
const functionId = () => logicalIdOf('AWS::Lambda::Function', NotificationFunction.Notify);
const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const statements = (): Statement[] => {
  const roleId = logicalIdOf('AWS::IAM::Role', `${NotificationFunction.Notify}Role`);
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => JSON.stringify(r.Properties?.Roles ?? []).includes(JSON.stringify({ Ref: roleId })))
    .flatMap((r) => (r.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? []);
};

describe('the Notify rules', () => {
  it("send Bakehouse's own events, except requests, to Notify with a DLQ and retries", () => {
    template.hasResourceProperties('AWS::Events::Rule', {
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
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'detail-type': ['Bake Requested', 'AMI Revoked'] },
    });
    expect(JSON.stringify(template.findResources('AWS::Events::Rule'))).toMatch(/Notify/);
    const patterns = Object.values(template.findResources('AWS::Events::Rule'))
      .filter((r) => JSON.stringify(r).includes(functionId()))
      .map((r) => JSON.stringify(r.Properties.EventPattern));
    expect(patterns).toHaveLength(2);
    expect(patterns.join()).not.toContain('Promote Requested');
  });

  it('keeps what Slack never took in an on-failure queue after two retries', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
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
    const environment = resources[functionId()]?.Properties?.Environment as { Variables: Record<string, unknown> };
    const env = environment.Variables;
    expect(env.SLACK_SECRET_ID).toBe(`bakehouse/${STAGE}/slack`);
    expect(JSON.stringify(env.STATE_MACHINE_ARN)).toContain(`bakehouse-${STAGE}-bake`);
    expect(JSON.stringify(env)).not.toMatch(/xox|hooks\.slack/);
  });

  it('has a secret created by the stack with a placeholder value', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
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
  const nagMessages = (level: string) =>
    artifact.messages
      .filter((m) => m.level === level && String(m.entry.data).includes('AwsSolutions-'))
      .map((m) => `${m.id}: ${String(m.entry.data).split('\n')[0]}`);

  it('ran the AWS Solutions checks', () => {
    expect(nagMessages('info').length).toBeGreaterThan(0);
  });

  it('leaves no unsuppressed error or warning', () => {
    expect(nagMessages('error')).toEqual([]);
    expect(nagMessages('warning')).toEqual([]);
  });
});
