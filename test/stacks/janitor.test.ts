/**
 * The janitor as it deploys (shipped configuration): synthesized offline once, with cdk-nag,
 * asserted on the template — the function, its nightly schedule, DLQ and least-privilege role.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { type ConfigInput, loadConfig } from '../../functions/commons/families';
import { JanitorFunction } from '../../stacks/names';
import { allows, type Context, resolver } from './support/evaluate';
import { asList, pipelineStack, type Statement } from './support/pipeline';

const STAGE = 'shipped';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';

const stack = pipelineStack({
  stage: STAGE,
  account: ACCOUNT,
  region: REGION,
  config: structuredClone(shippedConfig) as ConfigInput,
});
const { ofType, logicalIdOf } = stack;
const janitorId = () => stack.functionId(JanitorFunction.Janitor);
const statements = (): Statement[] => stack.functionStatements(JanitorFunction.Janitor);
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
const resolve = resolver({ account: ACCOUNT, region: REGION });
const SNAPSHOT = `arn:aws:ec2:${REGION}::snapshot/snap-0123456789abcdef0`;
const IMAGE = `arn:aws:ec2:${REGION}::image/ami-0123456789abcdef0`;
/** The context EC2 gives IAM for a tag write on an existing resource: its tags now, the request's tags. */
const tagging = (existing: Record<string, string>, written: Record<string, string>): Context => ({
  ...Object.fromEntries(Object.entries(existing).map(([k, v]) => [`aws:ResourceTag/${k}`, v])),
  ...Object.fromEntries(Object.entries(written).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
  'aws:TagKeys': Object.keys(written),
});
const can = (action: string, resource: string, context: Context = {}): boolean =>
  allows(statements(), { action, resource, context }, resolve);

describe('the function', () => {
  it('runs the janitor handler with a 15-minute timeout', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: `bakehouse-${STAGE}-Janitor`,
      Handler: Match.stringLikeRegexp('janitor/handler'),
      Timeout: 900,
    });
  });

  it('sends failed invocations to its own DLQ without Lambda retries', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
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

describe('a run in parts', () => {
  it('invokes the Janitor again for a report that names a next part, with the run and the part', () => {
    // Assess
    const [, rule] = ofType('AWS::Events::Rule').find(([id]) => id.startsWith('JanitorContinues')) ?? [];
    expect(rule?.Properties).toMatchObject({
      EventPattern: {
        source: ['bakehouse'],
        'detail-type': ['Janitor Report'],
        detail: { dryRun: [false], deferred: { nextPart: [{ exists: true }] } },
      },
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [janitorId(), 'Arn'] },
          InputTransformer: {
            InputPathsMap: {
              'detail-part-of': '$.detail.part.of',
              'detail-deferred-nextPart': '$.detail.deferred.nextPart',
              'detail-deferred-actionsDone': '$.detail.deferred.actionsDone',
              'detail-parameters-unreadableMode': '$.detail.parameters.unreadableMode',
            },
            InputTemplate:
              '{"continueRun":<detail-part-of>,"part":<detail-deferred-nextPart>,"actionsDone":<detail-deferred-actionsDone>,"dryRun":false,"unreadableParameters":<detail-parameters-unreadableMode>}',
          },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalIdOf('AWS::SQS::Queue', 'JanitorDlq'), 'Arn'] } },
        },
      ],
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
      ...MANAGED,
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['bakehouse:managed', 'bakehouse:family'] },
    });
  });

  it("in the state table, reads and writes only its run's checkpoints and deletes only image inventories", () => {
    // Assess
    const dynamo = statements()
      .filter((s) => asList(s.Action).some((a) => a.startsWith('dynamodb:')))
      .map((s) => [s.Sid, asList(s.Action), s.Condition]);
    expect(dynamo).toEqual([
      [
        'JanitorCheckpoint',
        ['dynamodb:GetItem', 'dynamodb:PutItem'],
        { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['record#janitor-reads#*'] } },
      ],
      [
        'JanitorForgetInventories',
        ['dynamodb:DeleteItem'],
        { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['image#*#inventory'] } },
      ],
    ]);
  });

  it('writes only the state parameter and publishes on the bus', () => {
    // Assess
    expect(asList(statement('WriteState').Resource).map(text)).toEqual([
      expect.stringMatching(/parameter\/bakehouse\/_janitor\/state$/),
    ]);
    expect(statement('PublishEvents').Action).toBe('events:PutEvents');
  });

  it('terminates, like the reaper, only expired Bakehouse builders, testers, canaries and baselines (managed, with one of those roles)', () => {
    // Assess
    const s = statement('TerminateExpiredInstances');
    expect(s.Action).toBe('ec2:TerminateInstances');
    expect(s.Condition).toEqual({
      StringEquals: {
        'aws:ResourceTag/bakehouse:managed': 'true',
        'aws:ResourceTag/bakehouse:role': ['builder', 'tester', 'canary', 'baseline'],
      },
    });
    expect(asList(statement('CheckAutomations').Action)).toEqual(['ssm:GetAutomationExecution']);
  });

  it('grants no wildcard action and nothing destructive without a condition', () => {
    // Assess
    const all = statements();
    expect(all.flatMap((s) => asList(s.Action)).filter((a) => a.includes('*'))).toEqual([]);
    const destructive = all.filter((s) =>
      asList(s.Action).some((a) => /Deregister|Delete|Disable|Enable|CreateTags|Terminate/.test(a)),
    );
    expect(destructive.length).toBeGreaterThan(0);
    for (const s of destructive) expect(s.Condition).toBeDefined();
  });
});

describe('what the role can read', () => {
  const PARAMETER = (name: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/${name.replace(/^\//, '')}`;

  it('lists every parameter of the account and reads any of them, wherever it lives', () => {
    // Assess
    expect(can('ssm:DescribeParameters', '*')).toBe(true);
    for (const name of ['/team/web/ami-id', '/team/api/config', 'flat-name', '/bakehouse/al2023-base/stable']) {
      expect(can('ssm:GetParameters', PARAMETER(name)), name).toBe(true);
    }
  });

  it('never decrypts: no kms action at all, so a SecureString cannot be read', () => {
    // Assess
    expect(
      statements()
        .flatMap((s) => asList(s.Action))
        .filter((a) => a.startsWith('kms:')),
    ).toEqual([]);
    expect(can('kms:Decrypt', `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`)).toBe(false);
  });

  it('tells cdk-nag why it reads every parameter (the wildcard suppression reason)', () => {
    // Assess
    const suppressions = ofType('AWS::IAM::Policy').flatMap(([, resource]) =>
      (
        (resource as { Metadata?: { cdk_nag?: { rules_to_suppress?: { reason: string }[] } } }).Metadata?.cdk_nag
          ?.rules_to_suppress ?? []
      ).map((rule) => rule.reason),
    );
    expect(suppressions.some((r) => r.includes('it reads every parameter of the account and region'))).toBe(true);
  });
});

describe('what the role can make deletable', () => {
  const foreign = { Owner: 'someone-else' };
  const ours = { 'bakehouse:managed': 'true', 'bakehouse:family': 'al2023-base' };

  it('cannot tag a snapshot Bakehouse does not manage as managed (and then delete it)', () => {
    // Act
    const tagged = can('ec2:CreateTags', SNAPSHOT, tagging(foreign, { 'bakehouse:managed': 'true' }));
    const deleted = can('ec2:DeleteSnapshot', SNAPSHOT, tagging(foreign, {}));

    // Assess
    expect(tagged).toBe(false);
    expect(deleted).toBe(false);
  });

  it.each([
    ['snapshot', SNAPSHOT],
    ['image', IMAGE],
  ])('writes no tag key at all on a %s it does not manage', (_kind, resource) => {
    // Act
    const writable = ['bakehouse:managed', 'bakehouse:family', 'bakehouse:janitor-stage', 'bakehouse:janitor-since']
      .flatMap((key) => ['ec2:CreateTags', 'ec2:DeleteTags'].map((action) => ({ key, action })))
      .filter(({ key, action }) => can(action, resource, tagging(foreign, { [key]: 'true' })));

    // Assess
    expect(writable).toEqual([]);
  });

  it("tags the snapshots of a managed image it retires, when they are Bakehouse's (CreateImage tags them managed)", () => {
    // Act
    const tagged = can('ec2:CreateTags', SNAPSHOT, tagging(ours, ours));

    // Assess
    expect(tagged).toBe(true);
    expect(can('ec2:DeleteSnapshot', SNAPSHOT, tagging(ours, {}))).toBe(true);
  });

  it('writes and removes only its stage tags on a managed image, never bakehouse:keep or the managed tag', () => {
    // Act
    const stage = { 'bakehouse:janitor-stage': 'marked', 'bakehouse:janitor-since': '2026-12-05T02:00:00Z' };

    // Assess
    expect(can('ec2:CreateTags', IMAGE, tagging(ours, stage))).toBe(true);
    expect(can('ec2:DeleteTags', IMAGE, tagging(ours, stage))).toBe(true);
    for (const key of ['bakehouse:keep', 'bakehouse:managed', 'bakehouse:family', 'bakehouse:channel:stable']) {
      expect(can('ec2:CreateTags', IMAGE, tagging(ours, { ...stage, [key]: 'x' }))).toBe(false);
      expect(can('ec2:DeleteTags', IMAGE, tagging(ours, { [key]: 'x' }))).toBe(false);
    }
  });

  it('requires, on every tag write, that the resource is already managed and names its keys', () => {
    // Act
    const tagWrites = statements().filter((s) =>
      asList(s.Action).some((a) => a === 'ec2:CreateTags' || a === 'ec2:DeleteTags'),
    );

    // Assess
    expect(tagWrites.length).toBeGreaterThan(0);
    for (const s of tagWrites) {
      expect(s.Condition?.StringEquals).toMatchObject(MANAGED.StringEquals);
      expect(s.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys']).toEqual(expect.any(Array));
    }
  });
});

describe('cdk-nag', () => {
  it('leaves no unsuppressed error or warning', () => {
    // Assess
    expect(stack.nagMessages('info').length).toBeGreaterThan(0);
    expect(stack.nagMessages('error')).toEqual([]);
    expect(stack.nagMessages('warning')).toEqual([]);
  });
});
