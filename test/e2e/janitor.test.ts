/**
 * The janitor end to end, in the sandbox provisioned from the stacks, driven only through AWS
 * clients and the control endpoint (clock frozen, moved by hand): a seeded world with images in use
 * of every kind, old unused ones and orphan snapshots; real runs invoked with `{"dryRun": false}`
 * while the clock moves through the grace periods; an image put back into use on the way; faults
 * that stop a run cleanly; the `Janitor Report` on the bus.
 */
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  CreateLaunchConfigurationCommand,
} from '@aws-sdk/client-auto-scaling';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateImageCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  EnableImageDeregistrationProtectionCommand,
  type Image,
  ModifyImageAttributeCommand,
  ModifyLaunchTemplateCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DeleteRolePolicyCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  GetFunctionCommand,
  InvokeCommand,
  LambdaClient,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { provisionFromAssembly } from '@bakehouse/sandbox';
import { AL2023_X86, advance, eventually, startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../dev/start/render';
import { synthesizeForSandbox } from '../../dev/synth';
import { JanitorMetric } from '../../functions/commons/metrics';
import type { JanitorRunReport } from '../../functions/janitor/core';
import { metricsOfEmf } from '../unit/support/emf';
import { deleteSchedules } from './support/stack';

const FUNCTION = 'bakehouse-dev-Janitor';
const TEAM_PARAMETER = '/team/web/ami-id';
const JSON_PARAMETER = '/team/api/config';
const SECRET_PARAMETER = '/team/db/password';
const FAMILY = 'janitor-e2e';
const DAY = 86_400;
const managedTags = (extra: { Key: string; Value: string }[] = []) => [
  { Key: 'bakehouse:managed', Value: 'true' },
  { Key: 'bakehouse:family', Value: FAMILY },
  ...extra,
];

let sandbox: TestSandbox;
let ec2: EC2Client;
let ssm: SSMClient;
let autoScaling: AutoScalingClient;
let lambda: LambdaClient;
let iam: IAMClient;
let builder: string;

/** Images by role in the seeded world. */
const ami: Record<string, string> = {};
let orphanSnapshot: string;
let unusedSnapshots: string[] = [];

const createImage = async (name: string, tags = managedTags()): Promise<string> => {
  const created = await ec2.send(
    new CreateImageCommand({
      InstanceId: builder,
      Name: name,
      TagSpecifications: [
        { ResourceType: 'image', Tags: tags },
        { ResourceType: 'snapshot', Tags: tags },
      ],
    }),
  );
  return created.ImageId as string;
};

const invoke = async (payload: unknown): Promise<JanitorRunReport> => {
  const output = await lambda.send(
    new InvokeCommand({ FunctionName: FUNCTION, Payload: new TextEncoder().encode(JSON.stringify(payload)) }),
  );
  const body = JSON.parse(new TextDecoder().decode(output.Payload));
  if (output.FunctionError) throw new Error(`janitor failed: ${JSON.stringify(body)}`);
  return body as JanitorRunReport;
};

const images = async (): Promise<Map<string, Image>> => {
  const { Images } = await ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], IncludeDisabled: true, IncludeDeprecated: true }),
  );
  return new Map((Images ?? []).map((i) => [i.ImageId as string, i]));
};
const snapshotIds = async (): Promise<Set<string>> => {
  const { Snapshots } = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
  return new Set((Snapshots ?? []).map((s) => s.SnapshotId as string));
};
const stageOf = (image: Image | undefined) => image?.Tags?.find((t) => t.Key === 'bakehouse:janitor-stage')?.Value;

const PROTECTED = [
  'instance',
  'templateOldVersion',
  'resolveSsm',
  'groupOverride',
  'launchConfiguration',
  'channel',
  'rollback',
  'shared',
  'keep',
  'protection',
  'teamParameter',
  'jsonParameter',
  'newest1',
  'newest2',
  'newest3',
  'young',
] as const;
const UNUSED = ['unused1', 'unused2', 'comeback'] as const;

beforeAll(async () => {
  const assembly = await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
  sandbox = await startTestSandbox({ speed: 0, assetsDir: assembly.assemblyDir });
  await provisionFromAssembly({ sandbox: sandbox.sandbox, assemblyDir: assembly.assemblyDir });
  ec2 = new EC2Client(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  autoScaling = new AutoScalingClient(sandbox.clientConfig);
  lambda = new LambdaClient(sandbox.clientConfig);
  iam = new IAMClient(sandbox.clientConfig);
  // Moving the clock by months would fire the family bakes and the nightly (dry) janitor in the
  // background; this test drives the janitor alone.
  await deleteSchedules(sandbox);

  // A builder to image from (it runs the public AL2023 image, which the janitor never owns).
  const reservation = await ec2.send(
    new RunInstancesCommand({ ImageId: AL2023_X86, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  builder = reservation.Instances?.[0]?.InstanceId as string;
  await advance(sandbox, 60);

  // Old images: in use in every way, and unused.
  for (const role of [...PROTECTED.slice(0, PROTECTED.indexOf('newest1')), ...UNUSED, 'orphaned']) {
    const tags = role === 'keep' ? managedTags([{ Key: 'bakehouse:keep', Value: 'true' }]) : managedTags();
    ami[role] = await createImage(`janitor-${role}`, tags);
  }
  await advance(sandbox, 600);
  const unusedImages = await images();
  unusedSnapshots = UNUSED.slice(0, 2).flatMap((role) =>
    (unusedImages.get(ami[role] as string)?.BlockDeviceMappings ?? []).flatMap((m) => m.Ebs?.SnapshotId ?? []),
  );

  await ec2.send(
    new RunInstancesCommand({ ImageId: ami.instance, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  // A template whose old (not default) version names the image.
  const template = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'janitor-old-version',
      LaunchTemplateData: { ImageId: ami.templateOldVersion },
    }),
  );
  await ec2.send(
    new CreateLaunchTemplateVersionCommand({
      LaunchTemplateId: template.LaunchTemplate?.LaunchTemplateId,
      LaunchTemplateData: { ImageId: AL2023_X86 },
    }),
  );
  await ec2.send(
    new ModifyLaunchTemplateCommand({
      LaunchTemplateId: template.LaunchTemplate?.LaunchTemplateId,
      DefaultVersion: '2',
    }),
  );
  // A template that resolves a team's (plain text) parameter.
  await ssm.send(new PutParameterCommand({ Name: '/team/web/ami', Type: 'String', Value: ami.resolveSsm }));
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'janitor-resolve-ssm',
      LaunchTemplateData: { ImageId: 'resolve:ssm:/team/web/ami' },
    }),
  );
  // A group whose mixed instances policy overrides with another template.
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'janitor-override',
      LaunchTemplateData: { ImageId: ami.groupOverride },
    }),
  );
  await autoScaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: 'janitor-mixed',
      MinSize: 0,
      MaxSize: 1,
      AvailabilityZones: ['us-east-1a'],
      MixedInstancesPolicy: {
        LaunchTemplate: {
          LaunchTemplateSpecification: { LaunchTemplateName: 'janitor-old-version', Version: '$Default' },
          Overrides: [
            { InstanceType: 'm7i.large', LaunchTemplateSpecification: { LaunchTemplateName: 'janitor-override' } },
          ],
        },
      },
    }),
  );
  await autoScaling.send(
    new CreateLaunchConfigurationCommand({
      LaunchConfigurationName: 'janitor-unattached',
      ImageId: ami.launchConfiguration,
      InstanceType: 't3.micro',
    }),
  );
  // A channel with its previous (rollback) image.
  for (const value of [ami.rollback, ami.channel]) {
    await ssm.send(
      new PutParameterCommand({
        Name: `/bakehouse/${FAMILY}/stable`,
        Type: 'String',
        DataType: 'aws:ec2:image',
        Value: value,
        Overwrite: true,
      }),
    );
  }
  await ec2.send(
    new ModifyImageAttributeCommand({
      ImageId: ami.shared,
      LaunchPermission: { Add: [{ UserId: '111122223333' }] },
    }),
  );
  await ec2.send(new EnableImageDeregistrationProtectionCommand({ ImageId: ami.protection }));
  // Parameters outside the prefix that no template names: another team's text parameter, and a
  // JSON value holding the id (nested, next to other keys).
  await ssm.send(new PutParameterCommand({ Name: TEAM_PARAMETER, Type: 'String', Value: ami.teamParameter }));
  await ssm.send(
    new PutParameterCommand({
      Name: JSON_PARAMETER,
      Type: 'String',
      Value: JSON.stringify({ fleet: { image: { ami: ami.jsonParameter } }, size: 'm7g.large' }),
    }),
  );
  // A SecureString: skipped (the janitor never decrypts), named in the report, no stop.
  await ssm.send(new PutParameterCommand({ Name: SECRET_PARAMETER, Type: 'SecureString', Value: 'hunter2' }));
  // An orphan: its image deregistered without its (managed) snapshot.
  const orphaned = (await images()).get(ami.orphaned as string);
  orphanSnapshot = orphaned?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId as string;
  await ec2.send(new DeregisterImageCommand({ ImageId: ami.orphaned }));

  // Time passes: the old images are well past every age limit (launch time unknown included).
  await advance(sandbox, 120 * DAY);
  for (const role of ['young', 'newest1', 'newest2', 'newest3'] as const) {
    ami[role] = await createImage(`janitor-${role}`);
    await advance(sandbox, 3600);
  }
  await advance(sandbox, 600);
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [builder] }));
}, 240_000);

afterAll(async () => {
  for (const client of [ec2, ssm, autoScaling, lambda, iam]) client?.destroy();
  await sandbox?.stop();
});

describe('a dry run', () => {
  it('reports what it would do and changes nothing', async () => {
    // Act
    const report = await invoke({ dryRun: true });
    // Assess
    expect(report).toMatchObject({ dryRun: true, completed: true, stoppedBecause: null });
    const planned = report.items.filter((i) => i.action === 'marked').map((i) => i.id);
    expect(planned.sort()).toEqual(UNUSED.map((r) => ami[r]).sort());
    expect([...(await images()).values()].some((i) => stageOf(i) !== undefined)).toBe(false);
  }, 60_000);
});

describe('parameters outside the prefix', () => {
  it('keep their images, the report naming each parameter, and SecureStrings are skipped by name', async () => {
    // Act
    const report = await invoke({ dryRun: true });
    // Assess
    const reasonOf = (id: string | undefined) => report.items.find((i) => i.id === id)?.reason;
    expect(reasonOf(ami.teamParameter)).toBe(`parameter ${TEAM_PARAMETER}`);
    expect(reasonOf(ami.jsonParameter)).toBe(`parameter ${JSON_PARAMETER}`);
    expect(report.parameters?.secureStringsSkipped).toContain(SECRET_PARAMETER);
    expect(report.parameters?.unreadable).toEqual([]);
    expect(report.completed).toBe(true);
  }, 60_000);
});

describe('real runs through the stages', () => {
  const reports: JanitorRunReport[] = [];

  it('marks the unused images and deletes the orphan snapshot first', async () => {
    // Act
    reports.push(await invoke({ dryRun: false }));
    // Assess
    const now = await images();
    expect(reports[0]).toMatchObject({ dryRun: false, completed: true, errors: [] });
    for (const role of UNUSED) expect(stageOf(now.get(ami[role] as string))).toBe('marked');
    for (const role of PROTECTED) expect(stageOf(now.get(ami[role] as string))).toBeUndefined();
    expect(reports[0]?.snapshotsDeleted).toContain(orphanSnapshot);
    expect(await snapshotIds()).not.toContain(orphanSnapshot);
  }, 60_000);

  it('does nothing more before the grace period ends', async () => {
    // Prepare
    await advance(sandbox, DAY);
    // Act
    const report = await invoke({ dryRun: false });
    // Assess
    expect(report.items.filter((i) => i.action !== 'kept')).toEqual([]);
  }, 60_000);

  it('deprecates after the grace period', async () => {
    // Prepare
    await advance(sandbox, 7 * DAY + 3600);
    // Act
    await invoke({ dryRun: false });
    // Assess
    const now = await images();
    for (const role of UNUSED) {
      expect(stageOf(now.get(ami[role] as string))).toBe('deprecated');
      expect(now.get(ami[role] as string)?.DeprecationTime).toBeDefined();
    }
  }, 60_000);

  it('disables after another', async () => {
    // Prepare
    await advance(sandbox, 7 * DAY + 3600);
    // Act
    const report = await invoke({ dryRun: false });
    // Assess
    const now = await images();
    expect(
      report.items
        .filter((i) => i.action === 'disabled')
        .map((i) => i.id)
        .sort(),
    ).toEqual(UNUSED.map((r) => ami[r]).sort());
    for (const role of UNUSED) expect(now.get(ami[role] as string)?.State).toBe('disabled');
  }, 60_000);

  it('deregisters with their snapshots, and unmarks and re-enables the one put back into use', async () => {
    // Prepare: a team points a new launch template at the disabled image.
    await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'janitor-comeback',
        LaunchTemplateData: { ImageId: ami.comeback },
      }),
    );
    // and the inventories bakes would have recorded (bakehouse diff), for an image that goes and one that stays
    const { Configuration } = await lambda.send(new GetFunctionCommand({ FunctionName: FUNCTION }));
    const tableName = Configuration?.Environment?.Variables?.STATE_TABLE_NAME ?? '';
    const table = DynamoDBDocumentClient.from(new DynamoDBClient(sandbox.clientConfig));
    const inventoryOf = async (id: string | undefined) =>
      (
        await table.send(
          new GetCommand({ TableName: tableName, Key: { pk: `image#${id}#inventory` }, ConsistentRead: true }),
        )
      ).Item;
    for (const id of [ami.unused1, ami.comeback]) {
      await table.send(new PutCommand({ TableName: tableName, Item: { pk: `image#${id}#inventory`, imageId: id } }));
    }
    await advance(sandbox, 7 * DAY + 3600);
    // Act
    const report = await invoke({ dryRun: false });
    // Assess
    const now = await images();
    expect(report.deregistered.sort()).toEqual([ami.unused1, ami.unused2].sort());
    expect(await inventoryOf(ami.unused1)).toBeUndefined();
    expect(await inventoryOf(ami.comeback)).toEqual({ pk: `image#${ami.comeback}#inventory`, imageId: ami.comeback });
    table.destroy();
    expect(now.has(ami.unused1 as string)).toBe(false);
    expect(now.has(ami.unused2 as string)).toBe(false);
    const snapshots = await snapshotIds();
    for (const id of unusedSnapshots) expect(snapshots).not.toContain(id);
    const comeback = now.get(ami.comeback as string);
    expect(comeback?.State).toBe('available');
    expect(comeback?.DeprecationTime).toBeUndefined();
    expect(stageOf(comeback)).toBeUndefined();
    for (const role of PROTECTED) {
      expect(now.get(ami[role] as string)?.State, role).toBe('available');
      expect(stageOf(now.get(ami[role] as string)), role).toBeUndefined();
    }
  }, 60_000);

  it('finds nothing left to do on the next run', async () => {
    // Prepare
    await advance(sandbox, 7 * DAY + 3600);
    // Act
    const report = await invoke({ dryRun: false });
    // Assess
    expect(report.items.filter((i) => i.action !== 'kept')).toEqual([]);
    expect(report.completed).toBe(true);
  }, 60_000);

  it('published a Janitor Report for every run', async () => {
    // Assess
    const log = (await sandbox.control('GET', '/_sandbox/events')).body as LoggedEvent[];
    const runs = log.filter((e) => e.event['detail-type'] === 'Janitor Report').map((e) => e.event.detail.runId);
    for (const report of reports) expect(runs).toContain(report.runId);
  });

  it("writes a real run's counts as metrics in its log (EMF), and none for a dry run", async () => {
    // Act
    const run = async (dryRun: boolean) => {
      const output = await lambda.send(
        new InvokeCommand({
          FunctionName: FUNCTION,
          Payload: new TextEncoder().encode(JSON.stringify({ dryRun })),
          LogType: 'Tail',
        }),
      );
      expect(output.FunctionError).toBeUndefined();
      const report = JSON.parse(new TextDecoder().decode(output.Payload)) as JanitorRunReport;
      return { report, metrics: metricsOfEmf(Buffer.from(output.LogResult ?? '', 'base64').toString('utf8')) };
    };
    const real = await run(false);
    const dry = await run(true);

    // Assess
    const kept = Object.values(real.report.kept).reduce((sum, n) => sum + n, 0);
    expect(real.metrics.map((m) => [m.namespace, m.name, m.value, m.dimensions])).toEqual([
      ['Bakehouse', JanitorMetric.ImagesDeregistered, real.report.deregistered.length, {}],
      ['Bakehouse', JanitorMetric.SnapshotsDeleted, real.report.snapshotsDeleted.length, {}],
      ['Bakehouse', JanitorMetric.ImagesKept, kept, {}],
      ['Bakehouse', JanitorMetric.Errors, real.report.errors.length, {}],
    ]);
    expect(kept).toBeGreaterThan(0);
    expect(dry.metrics).toEqual([]);
  }, 60_000);
});

describe('a parameter the janitor may not read', () => {
  const DENIED = '/team/restricted/ami-id';
  const POLICY = 'deny-restricted-parameter';
  let roleName: string;

  beforeAll(async () => {
    // The team's parameter holds an unused managed image; the janitor's role is denied it.
    // Old, and not among its family's newest: nothing but the parameter protects it.
    ami.restricted = await createImageLate('janitor-restricted');
    for (const n of [1, 2, 3]) await createImageLate(`janitor-restricted-newer-${n}`, 3600);
    await ssm.send(new PutParameterCommand({ Name: DENIED, Type: 'String', Value: ami.restricted }));
    const { Configuration } = await lambda.send(new GetFunctionCommand({ FunctionName: FUNCTION }));
    roleName = (Configuration?.Role ?? '').split('/').pop() ?? '';
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: roleName,
        PolicyName: POLICY,
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Deny',
              Action: 'ssm:GetParameters',
              Resource: `arn:aws:ssm:us-east-1:000000000000:parameter${DENIED}`,
            },
          ],
        }),
      }),
    );
  }, 120_000);
  afterAll(async () => {
    await iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: POLICY }));
  });

  it('stops the run by default, naming it and the fix, and changes nothing', async () => {
    // Act
    const report = await invoke({ dryRun: false });
    // Assess
    expect(report).toMatchObject({ completed: false, deregistered: [], snapshotsDeleted: [], items: [] });
    expect(report.stoppedBecause).toContain(`${DENIED} (AccessDeniedException)`);
    expect(report.stoppedBecause).toContain('Fix: grant the janitor role ssm:GetParameters');
    expect(report.parameters?.unreadable.map((u) => u.name)).toEqual([DENIED]);
    expect(report.errors.map((e) => e.resource)).toEqual([DENIED]);
    expect(stageOf((await images()).get(ami.restricted as string))).toBeUndefined();
  }, 60_000);

  it("runs without it with 'continue' (one invoke), still naming it", async () => {
    // Act
    const report = await invoke({ dryRun: false, unreadableParameters: 'continue' });
    // Assess
    expect(report).toMatchObject({ completed: true, parameters: { unreadableMode: 'continue' } });
    expect(report.parameters?.unreadable.map((u) => u.name)).toEqual([DENIED]);
    // What it could read still protects: the team parameters keep their images.
    const now = await images();
    for (const role of ['teamParameter', 'jsonParameter'] as const) {
      expect(stageOf(now.get(ami[role] as string)), role).toBeUndefined();
    }
    // The image only the unreadable parameter holds is unprotected without it: that is what 'continue' means.
    expect(stageOf(now.get(ami.restricted as string))).toBe('marked');
  }, 60_000);
});

describe('faults stop the run before anything changes', () => {
  it('stops on throttling that outlives the retries', async () => {
    // Prepare: an image that would be marked, then throttling on DescribeSnapshots.
    ami.late = await createImageLate();
    await sandbox.control('POST', '/_sandbox/faults', {
      service: 'ec2',
      action: 'DescribeSnapshots',
      error: 'RequestLimitExceeded',
      times: 50,
    });
    // Act
    const report = await invoke({ dryRun: false });
    await sandbox.control('DELETE', '/_sandbox/faults');
    // Assess
    expect(report).toMatchObject({ completed: false, deregistered: [], snapshotsDeleted: [] });
    expect(report.stoppedBecause).toContain('DescribeSnapshots');
    expect(stageOf((await images()).get(ami.late))).toBeUndefined();
  }, 180_000);

  it('stops on a failed describe', async () => {
    // Prepare
    await sandbox.control('POST', '/_sandbox/faults', {
      service: 'ec2',
      action: 'DescribeSnapshots',
      error: 'UnauthorizedOperation',
      times: 1,
    });
    // Act
    const report = await invoke({ dryRun: false });
    // Assess
    expect(report).toMatchObject({ completed: false, deregistered: [], snapshotsDeleted: [] });
    expect(report.errors[0]?.error).toContain('UnauthorizedOperation');
    expect(stageOf((await images()).get(ami.late as string))).toBeUndefined();
  }, 60_000);
});

describe('a run longer than its invocation', () => {
  const setTimeout = (Timeout: number) =>
    lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: FUNCTION, Timeout }));
  afterAll(() => setTimeout(900));

  it('ends each part before the timeout with the rest deferred, and the bus runs the next parts until one finishes', async () => {
    // Prepare: an unused image, and 200 s a part: less than the 5 minutes reads keep back, so each
    // part reads one batch of launch permissions (4) and defers the rest.
    ami.parted = await createImageLate('janitor-parted');
    for (const n of [1, 2, 3]) await createImageLate(`janitor-parted-newer-${n}`, 3600);
    await setTimeout(200);
    // Act
    const first = await invoke({ dryRun: false });
    // Assess: the first part read one batch, names the next part, and what it did not read it kept.
    expect(first.part).toEqual({ of: first.runId, number: 1 });
    expect(first.counts.launchPermissionsRead).toBe(4);
    expect(first.deferred?.nextPart).toBe(2);
    expect(first.deferred?.launchPermissionsUnread).toBeGreaterThan(0);
    expect(first.items.filter((i) => i.reason === 'deferred')).toHaveLength(
      first.deferred?.launchPermissionsUnread ?? -1,
    );
    // The bus's JanitorContinues rule runs the next parts, each reading the next batch, until one defers nothing.
    const parts = await eventually(
      async () => {
        const log = (await sandbox.control('GET', '/_sandbox/events')).body as LoggedEvent[];
        const found = log
          .filter((e) => e.event['detail-type'] === 'Janitor Report')
          .map((e) => e.event.detail as JanitorRunReport)
          .filter((r) => r.part?.of === first.runId);
        return found.some((r) => r.part !== undefined && r.deferred === undefined) ? found : undefined;
      },
      60_000,
      async () => {
        const log = (await sandbox.control('GET', '/_sandbox/events')).body as LoggedEvent[];
        const reports = log.filter((e) => e.event['detail-type'] === 'Janitor Report').slice(-3);
        return JSON.stringify(
          reports.map((e) => ({
            part: e.event.detail.part,
            deferred: e.event.detail.deferred,
            rules: e.matchedRules,
            deliveries: e.deliveries,
          })),
        );
      },
    );
    const numbers = parts.map((r) => r.part?.number ?? 0).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, n) => n + 1));
    expect(numbers.length).toBeGreaterThan(1);
    const unread = parts.map((r) => r.deferred?.launchPermissionsUnread ?? 0);
    expect(unread.slice(1).every((n, k) => n < (unread[k] as number))).toBe(true);
    // The image the first part deferred was read by a later one and marked.
    expect(stageOf((await images()).get(ami.parted as string))).toBe('marked');
  }, 120_000);

  it('finishes in one part when it has the time', async () => {
    // Prepare
    await setTimeout(900);
    ami.whole = await createImageLate('janitor-whole');
    for (const n of [1, 2, 3]) await createImageLate(`janitor-whole-newer-${n}`, 3600);
    // Act
    const report = await invoke({ dryRun: false });
    // Assess
    expect(report.deferred).toBeUndefined();
    expect(report.part).toBeUndefined();
    expect(report.items.find((i) => i.id === ami.whole)?.action).toBe('marked');
  }, 60_000);
});

/** One more unused image, made while nothing runs, then aged by `ageSeconds` (old by default). */
async function createImageLate(name = 'janitor-late', ageSeconds = 120 * DAY): Promise<string> {
  const reservation = await ec2.send(
    new RunInstancesCommand({ ImageId: AL2023_X86, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  builder = reservation.Instances?.[0]?.InstanceId as string;
  await advance(sandbox, 60);
  const id = await createImage(name);
  await advance(sandbox, 600);
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [builder] }));
  await ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'purpose', Value: 'fault-test' }] }));
  await advance(sandbox, ageSeconds);
  return id;
}
