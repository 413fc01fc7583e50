/**
 * The janitor as it deploys (shipped configuration): synthesized offline once, with cdk-nag,
 * asserted on the template — the function, its nightly schedule, DLQ and least-privilege role.
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
import { JanitorFunction } from '../../stacks/janitor';
import { synthesizeOffline } from '../../stacks/synthesize';

const STAGE = 'jan';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';

type Resource = { Type: string; Properties?: Record<string, unknown> };
type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource?: unknown; Condition?: unknown };

let outdir: string;
let artifact: CloudFormationStackArtifact;
let template: Template;
let resources: Record<string, Resource>;

beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'bakehouse-janitor-test-'));
  const { assembly } = await synthesizeOffline({
    stage: STAGE,
    region: REGION,
    account: ACCOUNT,
    outdir,
    configure: (app) => {
      addBakehouseStacks(app, structuredClone(shippedConfig) as ConfigInput, LAMBDA_DEFAULTS);
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
const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const janitorId = () => logicalIdOf('AWS::Lambda::Function', JanitorFunction.Janitor);
const statements = (): Statement[] => {
  const roleId = logicalIdOf('AWS::IAM::Role', `${JanitorFunction.Janitor}Role`);
  return ofType('AWS::IAM::Policy')
    .filter(([, r]) => JSON.stringify(r.Properties?.Roles ?? []).includes(JSON.stringify({ Ref: roleId })))
    .flatMap(([, r]) => (r.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? []);
};
const statement = (sid: string): Statement => {
  const found = statements().find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}: ${statements().map((s) => s.Sid)}`);
  return found;
};
const text = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const record = value as { Ref?: string; 'Fn::Join'?: [string, unknown[]] };
  if (record.Ref) return `<${record.Ref}>`;
  if (record['Fn::Join']) return record['Fn::Join'][1].map(text).join(record['Fn::Join'][0]);
  return JSON.stringify(value);
};
const MANAGED = { StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' } };

describe('the function', () => {
  it('runs the janitor handler with a 15-minute timeout', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: `bakehouse-${STAGE}-Janitor`,
      Handler: Match.stringLikeRegexp('janitor/handler'),
      Timeout: 900,
    });
  });

  it('sends failed invocations to its own DLQ without Lambda retries', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: janitorId() },
      MaximumRetryAttempts: 0,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf('AWS::SQS::Queue', 'JanitorDlq'), 'Arn'] } },
      },
    });
  });
});

describe('the schedule', () => {
  it('invokes the janitor nightly at the configured time with no payload', () => {
    // Prepare
    const settings = loadConfig(shippedConfig).settings.janitor;
    // Assess
    const [, schedule] = ofType('AWS::Scheduler::Schedule').find(([id]) => id.startsWith('JanitorSchedule')) ?? [];
    expect(schedule?.Properties).toMatchObject({
      ScheduleExpression: `cron(${settings.schedule.cron})`,
      ScheduleExpressionTimezone: settings.schedule.timezone,
      Target: { Arn: { 'Fn::GetAtt': [janitorId(), 'Arn'] } },
    });
    expect((schedule?.Properties?.Target as Record<string, unknown> | undefined)?.Input).toBeUndefined();
  });

  it('defaults to a dry run at 02:00 UTC', () => {
    // Assess
    expect(loadConfig(shippedConfig).settings.janitor).toMatchObject({
      dryRun: true,
      schedule: { cron: '0 2 * * ? *', timezone: 'UTC' },
      keepNewest: 3,
      graceDays: 7,
      maxActionsPerRun: 200,
    });
  });
});

describe('the role', () => {
  it('allows deprecating, disabling, enabling and deregistering only managed images', () => {
    // Assess
    const s = statement('RetireManagedImages');
    expect(asList(s.Action).sort()).toEqual([
      'ec2:DeregisterImage',
      'ec2:DisableImage',
      'ec2:DisableImageDeprecation',
      'ec2:EnableImage',
      'ec2:EnableImageDeprecation',
    ]);
    expect(asList(s.Resource).map(text)).toEqual([expect.stringMatching(/:ec2:eu-central-1::image\/\*$/)]);
    expect(s.Condition).toEqual(MANAGED);
  });

  it('deletes only managed snapshots', () => {
    // Assess
    const s = statement('DeleteManagedSnapshots');
    expect(s.Action).toBe('ec2:DeleteSnapshot');
    expect(s.Condition).toEqual(MANAGED);
  });

  it('writes only the janitor tag keys on managed images', () => {
    // Assess
    expect(statement('StageTagsOnManagedImages').Condition).toEqual({
      ...MANAGED,
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['bakehouse:janitor-stage', 'bakehouse:janitor-since'] },
    });
    expect(statement('MarkSnapshotsOfRetiredImages').Condition).toEqual({
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['bakehouse:managed', 'bakehouse:family'] },
    });
  });

  it('writes only the state parameter and publishes on the bus', () => {
    // Assess
    expect(asList(statement('WriteState').Resource).map(text)).toEqual([
      expect.stringMatching(/parameter\/bakehouse\/_janitor\/state$/),
    ]);
    expect(statement('PublishEvents').Action).toBe('events:PutEvents');
  });

  it('grants no wildcard action and nothing destructive without a condition', () => {
    // Assess
    const all = statements();
    expect(all.flatMap((s) => asList(s.Action)).filter((a) => a.includes('*'))).toEqual([]);
    const destructive = all.filter((s) =>
      asList(s.Action).some((a) => /Deregister|Delete|Disable|Enable|CreateTags/.test(a)),
    );
    expect(destructive.length).toBeGreaterThan(0);
    for (const s of destructive) expect(s.Condition).toBeDefined();
  });
});

describe('cdk-nag', () => {
  const nagMessages = (level: string) =>
    artifact.messages
      .filter((m) => m.level === level && String(m.entry.data).includes('AwsSolutions-'))
      .map((m) => `${m.id}: ${String(m.entry.data).split('\n')[0]}`);

  it('leaves no unsuppressed error or warning', () => {
    // Assess
    expect(nagMessages('info').length).toBeGreaterThan(0);
    expect(nagMessages('error')).toEqual([]);
    expect(nagMessages('warning')).toEqual([]);
  });
});
