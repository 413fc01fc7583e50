/**
 * The promotion targets against the sandbox, through the AWS SDK only: launch templates get one
 * new default version, an Auto Scaling group gets an instance refresh, the image is copied to
 * another region and shared with another account, whose tags are written through an assumed role.
 *
 * Then a promotion is all or nothing as seen from outside (issue 18), against the full stack
 * provisioned in its own sandbox with `bakehouse promote` run in process through `main`: a channel
 * naming a launch template that does not exist is refused whole (the channel stays, Promotion
 * Rejected, Slack), and a template that fails after the channel moved is listed as failed in
 * AMI Promoted, by the CLI and in Slack.
 */
import {
  AttachInstancesCommand,
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeInstanceRefreshesCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CopyImageCommand,
  CreateLaunchTemplateCommand,
  CreateTagsCommand,
  DeleteLaunchTemplateCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  type Image,
  CreateImageCommand as MakeImageCommand,
  RunInstancesCommand,
  waitUntilImageAvailable,
  waitUntilInstanceRunning,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import {
  AL2023_X86,
  availableImage,
  errorOf,
  runningInstance,
  startTestSandbox,
  type TestSandbox,
} from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { type Family, loadConfig } from '../../functions/commons/families';
import {
  COPIED_FROM_TAG,
  createTargetDeps,
  distributeImage,
  type ImageToDistribute,
  refreshAutoScalingGroups,
  type TargetDeps,
  updateLaunchTemplates,
} from '../../functions/commons/promotion-targets';
import { configInput, linuxFamily, recordingLogger, withCustomerKey } from '../unit/support/bake-factories';
import {
  connectSlackAndLaunchTemplate,
  createExampleLaunchTemplate,
  EXAMPLE_LAUNCH_TEMPLATE,
  eventLog,
  eventWhere,
  ofType,
  startProvisionedSandbox,
} from './support/stack';

const HOME = 'us-east-1';
const COPY_REGION = 'eu-west-1';
const SANDBOX_ACCOUNT = '000000000000';
const TEAM_ACCOUNT = '444455556666';
const OTHER_ACCOUNT = '777788889999';
const TEAM_ROLE = `arn:aws:iam::${TEAM_ACCOUNT}:role/bakehouse-tagger`;
const OTHER_ROLE = `arn:aws:iam::${OTHER_ACCOUNT}:role/bakehouse-tagger`;
const KMS_KEY = `arn:aws:kms:${COPY_REGION}:${SANDBOX_ACCOUNT}:key/11111111-2222-4333-8444-555555555555`;
const FAMILY_TAGS = [
  { Key: 'bakehouse:managed', Value: 'true' },
  { Key: 'bakehouse:family', Value: 'al2023-base' },
];

let sandbox: TestSandbox;
let ec2: EC2Client;
let ec2Copy: EC2Client;
let autoScaling: AutoScalingClient;
let sts: STSClient;
let amiId: string;
let image: ImageToDistribute;
let templateId: string;

const clientsFor = (test: TestSandbox) => ({
  ec2In: (region: string, credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) =>
    new EC2Client({ ...test.clientConfig, region, ...(credentials === undefined ? {} : { credentials }) }),
  autoScaling: new AutoScalingClient(test.clientConfig),
  sts: new STSClient(test.clientConfig),
});

const targetDeps = (logger = recordingLogger()): TargetDeps =>
  createTargetDeps({ homeRegion: HOME, logger, clients: clientsFor(sandbox) });

/** An EC2 client signed as another account (what AssumeRole's credentials give). */
const ec2As = (account: string, region = HOME): EC2Client =>
  new EC2Client({ ...sandbox.clientConfig, region, credentials: { accessKeyId: account, secretAccessKey: 'x' } });

const describeImage = async (client: EC2Client, imageId: string): Promise<Image> => {
  const { Images: [found] = [] } = await client.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  if (!found) throw new Error(`no image ${imageId}`);
  return found;
};

const tagsOf = (found: Image): Record<string, string | undefined> =>
  Object.fromEntries((found.Tags ?? []).map((tag) => [tag.Key, tag.Value]));

const family = (distribution: Record<string, unknown>): Family => {
  // A customer managed key: the families here share with other accounts.
  const loaded = loadConfig(configInput([withCustomerKey(linuxFamily({ distribution }))])).families[0];
  if (!loaded) throw new Error('no family');
  return loaded;
};

beforeAll(async () => {
  sandbox = await startTestSandbox();
  ec2 = new EC2Client(sandbox.clientConfig);
  ec2Copy = new EC2Client({ ...sandbox.clientConfig, region: COPY_REGION });
  autoScaling = new AutoScalingClient(sandbox.clientConfig);
  sts = new STSClient(sandbox.clientConfig);
  const builder = await runningInstance(sandbox, ec2);
  amiId = await availableImage(sandbox, ec2, builder, 'bakehouse/al2023-base/20261129T030000Z-abcdef', FAMILY_TAGS);
  image = { amiId, name: 'bakehouse/al2023-base/20261129T030000Z-abcdef', tags: FAMILY_TAGS };
  const template = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'web',
      LaunchTemplateData: {
        ImageId: AL2023_X86,
        InstanceType: 't3.micro',
        MetadataOptions: { HttpTokens: 'required' },
      },
    }),
  );
  templateId = template.LaunchTemplate?.LaunchTemplateId as string;
  await autoScaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: 'web-asg',
      MinSize: 0,
      MaxSize: 4,
      DesiredCapacity: 0,
      VPCZoneIdentifier: 'subnet-0123456789abcdef0',
      LaunchTemplate: { LaunchTemplateId: templateId, Version: '$Default' },
    }),
  );
  const member = await runningInstance(sandbox, ec2, AL2023_X86);
  await autoScaling.send(new AttachInstancesCommand({ AutoScalingGroupName: 'web-asg', InstanceIds: [member] }));
});

afterAll(async () => {
  for (const client of [ec2, ec2Copy, autoScaling, sts]) client?.destroy();
  await sandbox?.stop();
});

describe('sandbox STS', () => {
  it('assumes a role of an account whose IAM is not emulated: the session acts as that account, the expiry on the sandbox clock', async () => {
    const { Credentials, AssumedRoleUser } = await sts.send(
      new AssumeRoleCommand({ RoleArn: TEAM_ROLE, RoleSessionName: 'bakehouse-promote', DurationSeconds: 900 }),
    );
    const clock = (await sandbox.control('GET', '/_sandbox/clock')).body as { now: string };
    expect(Credentials?.AccessKeyId).toMatch(/^ASIA[0-9A-F]{16}$/);
    expect(Credentials?.SessionToken).toBeTruthy();
    expect(Credentials?.Expiration?.getTime()).toBe(Math.floor(Date.parse(clock.now) / 1000) * 1000 + 900_000);
    expect(AssumedRoleUser?.Arn).toBe(`arn:aws:sts::${TEAM_ACCOUNT}:assumed-role/bakehouse-tagger/bakehouse-promote`);
    const assumed = new STSClient({
      ...sandbox.clientConfig,
      credentials: {
        accessKeyId: Credentials?.AccessKeyId as string,
        secretAccessKey: Credentials?.SecretAccessKey as string,
        sessionToken: Credentials?.SessionToken as string,
      },
    });
    const identity = await assumed.send(new GetCallerIdentityCommand({}));
    expect(identity.Account).toBe(TEAM_ACCOUNT);
    expect(identity.Arn).toBe(`arn:aws:sts::${TEAM_ACCOUNT}:assumed-role/bakehouse-tagger/bakehouse-promote`);
    assumed.destroy();
  });

  it('refuses a malformed role ARN with ValidationError', async () => {
    const error = await errorOf(
      sts.send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::12:role/x', RoleSessionName: 'bakehouse-promote' })),
    );
    expect(error).toEqual({ name: 'ValidationError', status: 400 });
  });
});

describe('sandbox EC2 across regions', () => {
  it('answers a repeated CopyImage ClientToken with the same copy, kept in the region it was made in', async () => {
    const copy = () =>
      ec2Copy.send(
        new CopyImageCommand({ SourceImageId: amiId, SourceRegion: HOME, Name: 'token-copy', ClientToken: 'token-1' }),
      );
    const first = await copy();
    const second = await copy();
    expect(second.ImageId).toBe(first.ImageId);
    expect((await describeImage(ec2Copy, first.ImageId as string)).SourceImageId).toBe(amiId);
    expect((await errorOf(describeImage(ec2, first.ImageId as string))).name).toBe('InvalidAMIID.NotFound');
  });

  it('refuses a source image that is not in SourceRegion', async () => {
    const error = await errorOf(
      ec2.send(new CopyImageCommand({ SourceImageId: amiId, SourceRegion: COPY_REGION, Name: 'wrong-region' })),
    );
    expect(error.name).toBe('InvalidAMIID.NotFound');
  });
});

describe('updateLaunchTemplates', () => {
  it('run twice, gives the template one new default version with the image', async () => {
    // Act
    const first = await updateLaunchTemplates([{ template: 'web', makeDefault: true }], amiId, targetDeps());
    const second = await updateLaunchTemplates([{ template: templateId, makeDefault: true }], amiId, targetDeps());

    // Assess
    expect(first).toEqual([{ id: templateId, version: 2, isDefault: true, changed: true }]);
    expect(second).toEqual([{ id: templateId, version: 2, isDefault: true, changed: false }]);
    const { LaunchTemplates: [template] = [] } = await ec2.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [templateId] }),
    );
    expect(template).toMatchObject({ DefaultVersionNumber: 2, LatestVersionNumber: 2 });
    const { LaunchTemplateVersions: [latest] = [] } = await ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: templateId, Versions: ['$Default'] }),
    );
    expect(latest?.LaunchTemplateData).toMatchObject({
      ImageId: amiId,
      InstanceType: 't3.micro',
      MetadataOptions: { HttpTokens: 'required' },
    });
    expect(latest?.VersionDescription).toContain(amiId);
  });

  it('names a template that does not exist', async () => {
    await expect(
      updateLaunchTemplates([{ template: 'lt-0aaaaaaaaaaaaaaaa', makeDefault: true }], amiId, targetDeps()),
    ).rejects.toMatchObject({ name: 'LaunchTemplateNotFoundError' });
  });
});

describe('refreshAutoScalingGroups', () => {
  it('starts one refresh for a group whose instance runs another image; a second run starts none', async () => {
    // Prepare
    const { AutoScalingGroups: [group] = [] } = await autoScaling.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['web-asg'] }),
    );
    expect(group?.Instances).toHaveLength(1);

    // Act
    const first = await refreshAutoScalingGroups([{ name: 'web-asg', minHealthyPercentage: 50 }], amiId, targetDeps());
    const second = await refreshAutoScalingGroups([{ name: 'web-asg', minHealthyPercentage: 50 }], amiId, targetDeps());

    // Assess
    expect(first[0]?.instanceRefreshId).toEqual(expect.any(String));
    expect(second).toEqual([{ name: 'web-asg', instanceRefreshId: null }]);
    const { InstanceRefreshes = [] } = await autoScaling.send(
      new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: 'web-asg' }),
    );
    expect(InstanceRefreshes).toHaveLength(1);
    expect(InstanceRefreshes[0]).toMatchObject({
      InstanceRefreshId: first[0]?.instanceRefreshId,
      Status: 'Pending',
      Preferences: { MinHealthyPercentage: 50, SkipMatching: true },
    });
  });

  it('names a group that does not exist', async () => {
    await expect(
      refreshAutoScalingGroups([{ name: 'no-such-group', minHealthyPercentage: 90 }], amiId, targetDeps()),
    ).rejects.toMatchObject({ name: 'AutoScalingGroupNotFoundError' });
  });
});

describe('distributeImage', () => {
  it('copies to eu-west-1 with the KMS key and tags, shares with the account and tags it there; run twice, once', async () => {
    // Prepare
    const distributed = family({
      regions: [{ region: COPY_REGION, kmsKeyId: KMS_KEY }],
      accounts: [{ account: TEAM_ACCOUNT, tagRoleArn: TEAM_ROLE }],
    });

    // Act
    const first = await distributeImage(distributed, image, targetDeps());
    const second = await distributeImage(distributed, image, targetDeps());

    // Assess: one copy, in eu-west-1 only, encrypted with the key, tagged
    expect(second).toEqual(first);
    expect(first).toEqual({ regions: [{ region: COPY_REGION, amiId: expect.any(String) }], accounts: [TEAM_ACCOUNT] });
    const copyId = first.regions[0]?.amiId as string;
    const copies = await ec2Copy.send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: `tag:${COPIED_FROM_TAG}`, Values: [amiId] }] }),
    );
    expect(copies.Images?.map((found) => found.ImageId)).toEqual([copyId]);
    const copy = await describeImage(ec2Copy, copyId);
    expect(copy.Name).toBe(image.name);
    expect(copy.SourceImageId).toBe(amiId);
    expect(tagsOf(copy)).toEqual({
      'bakehouse:managed': 'true',
      'bakehouse:family': 'al2023-base',
      [COPIED_FROM_TAG]: amiId,
    });
    expect(copy.BlockDeviceMappings?.map((mapping) => [mapping.Ebs?.Encrypted, mapping.Ebs?.KmsKeyId])).toEqual([
      [true, KMS_KEY],
    ]);
    expect((await errorOf(ec2.send(new DescribeImagesCommand({ ImageIds: [copyId] })))).name).toBe(
      'InvalidAMIID.NotFound',
    );

    // Assess: launch permission on the image and the copy
    for (const [client, id] of [
      [ec2, amiId],
      [ec2Copy, copyId],
    ] as const) {
      const attribute = await client.send(
        new DescribeImageAttributeCommand({ ImageId: id, Attribute: 'launchPermission' }),
      );
      expect(attribute.LaunchPermissions).toEqual([{ UserId: TEAM_ACCOUNT }]);
    }

    // Assess: the account sees its own tags (written through the role), the owner's stay as they were
    expect(tagsOf(await describeImage(ec2As(TEAM_ACCOUNT), amiId))).toEqual({
      'bakehouse:managed': 'true',
      'bakehouse:family': 'al2023-base',
    });
    expect(tagsOf(await describeImage(ec2As(TEAM_ACCOUNT, COPY_REGION), copyId))).toMatchObject({
      [COPIED_FROM_TAG]: amiId,
    });
    expect((await errorOf(describeImage(ec2As(OTHER_ACCOUNT), amiId))).name).toBe('InvalidAMIID.NotFound');
  });

  it('reports an account whose role cannot be assumed and still tags the others', async () => {
    // Prepare: the next AssumeRole (the first account's) is refused
    await sandbox.control('POST', '/_sandbox/faults', {
      service: 'sts',
      action: 'AssumeRole',
      error: 'AccessDenied',
      status: 403,
      times: 1,
    });
    const distributed = family({
      accounts: [
        { account: TEAM_ACCOUNT, tagRoleArn: TEAM_ROLE },
        { account: OTHER_ACCOUNT, tagRoleArn: OTHER_ROLE },
      ],
    });
    const logger = recordingLogger();

    // Act
    const result = await distributeImage(distributed, image, targetDeps(logger));

    // Assess
    expect(result.accounts).toEqual([TEAM_ACCOUNT, OTHER_ACCOUNT]);
    expect(result.tagFailures).toEqual([
      expect.objectContaining({ account: TEAM_ACCOUNT, roleArn: TEAM_ROLE, region: HOME, amiId }),
    ]);
    expect(result.tagFailures?.[0]?.reason).toContain('AccessDenied');
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(tagsOf(await describeImage(ec2As(OTHER_ACCOUNT), amiId))).toEqual({
      'bakehouse:managed': 'true',
      'bakehouse:family': 'al2023-base',
    });
    const shared = await ec2.send(new DescribeImageAttributeCommand({ ImageId: amiId, Attribute: 'launchPermission' }));
    expect(shared.LaunchPermissions).toEqual([{ UserId: TEAM_ACCOUNT }, { UserId: OTHER_ACCOUNT }]);
  });

  it('keeps tags another account writes on a shared image to that account', async () => {
    // Act
    await ec2As(OTHER_ACCOUNT).send(
      new CreateTagsCommand({ Resources: [amiId], Tags: [{ Key: 'team:note', Value: 'payments' }] }),
    );

    // Assess
    expect(tagsOf(await describeImage(ec2As(OTHER_ACCOUNT), amiId))).toMatchObject({ 'team:note': 'payments' });
    expect(tagsOf(await describeImage(ec2, amiId))).not.toHaveProperty('team:note');
    expect(tagsOf(await describeImage(ec2As(TEAM_ACCOUNT), amiId))).not.toHaveProperty('team:note');
  });
});

describe('a promotion through the CLI is all or nothing', () => {
  /** The full stack, in a sandbox of its own (the targets' tests above use a bare one). */
  let stack: TestSandbox;
  let stackEc2: EC2Client;
  let ssm: SSMClient;
  /** An available image of al2023-base, made directly in EC2 (no bake needed to promote it). */
  let image: string;
  const CHANNEL_PARAMETER = '/bakehouse/al2023-base/stable';

  beforeAll(async () => {
    const started = await startProvisionedSandbox(60);
    stack = started.sandbox;
    await connectSlackAndLaunchTemplate(stack, started.report);
    stackEc2 = new EC2Client(stack.clientConfig);
    ssm = new SSMClient(stack.clientConfig);
    // al2023-base's stable channel names the example template (bakehouse.config.ts); it starts missing.
    await stackEc2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateName: EXAMPLE_LAUNCH_TEMPLATE }));
    const reservation = await stackEc2.send(
      new RunInstancesCommand({ ImageId: AL2023_X86, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
    );
    const instanceId = reservation.Instances?.[0]?.InstanceId as string;
    await waitUntilInstanceRunning({ client: stackEc2, maxWaitTime: 60, minDelay: 1 }, { InstanceIds: [instanceId] });
    const created = await stackEc2.send(
      new MakeImageCommand({
        InstanceId: instanceId,
        Name: 'bakehouse/al2023-base/promotion-targets-e2e',
        TagSpecifications: [
          { ResourceType: 'image', Tags: FAMILY_TAGS },
          { ResourceType: 'snapshot', Tags: FAMILY_TAGS },
        ],
      }),
    );
    image = created.ImageId as string;
    await waitUntilImageAvailable({ client: stackEc2, maxWaitTime: 60, minDelay: 1 }, { ImageIds: [image] });
  }, 240_000);

  afterAll(async () => {
    stackEc2?.destroy();
    ssm?.destroy();
    await stack?.stop();
  });

  const capture = () => {
    const out: string[] = [];
    return { write: (text: string) => out.push(text), isTTY: false, text: () => out.join('') };
  };

  const cli = async (args: string[]) => {
    const stdout = capture();
    const stderr = capture();
    const started = Date.now();
    const code = await main(
      [...args, '--sandbox', stack.sandbox.url],
      { stdout, stderr, env: { USER: 'alice' } },
      { pollMs: 100 },
    );
    return { code, stdout: stdout.text(), stderr: stderr.text(), seconds: (Date.now() - started) / 1000 };
  };

  const channelValue = async (): Promise<string | undefined> => {
    try {
      return (await ssm.send(new GetParameterCommand({ Name: CHANNEL_PARAMETER }))).Parameter?.Value;
    } catch (error) {
      if ((error as Error).name === 'ParameterNotFound') return undefined;
      throw error;
    }
  };

  const slackTexts = async (prefix: string, count: number): Promise<{ text?: string; blocks?: unknown[] }[]> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { messages } = (await stack.control('GET', '/_sandbox/slack/messages')).body as {
        messages: { accepted: boolean; payload: { text?: string; blocks?: unknown[] } }[];
      };
      const found = messages
        .filter((m) => m.accepted && String(m.payload.text).startsWith(prefix))
        .map((m) => m.payload);
      if (found.length >= count || Date.now() > deadline) return found;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  it('refuses a promotion to a channel whose launch template does not exist: exit 1 with the reason in seconds, the channel stays, Promotion Rejected, Slack', async () => {
    // Act
    const run = await cli(['promote', 'al2023-base', 'stable', image]);

    // Assess: the CLI
    expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(1);
    expect(run.stderr).toContain(`launch template '${EXAMPLE_LAUNCH_TEMPLATE}' does not exist`);
    expect(run.stderr).toMatch(/Fix: .*create it/);
    expect(run.seconds).toBeLessThan(20);

    // Assess: the channel did not move, and the refusal is on the bus
    expect(await channelValue()).toBeUndefined();
    const rejected = await eventWhere(
      stack,
      'Promotion Rejected of the request',
      ofType('Promotion Rejected', { family: 'al2023-base', channel: 'stable', amiId: image }),
      10_000,
    );
    expect(rejected.event.detail).toMatchObject({
      requestedBy: 'cli:alice',
      reason: expect.stringContaining(`launch template '${EXAMPLE_LAUNCH_TEMPLATE}' does not exist`),
      fix: expect.stringContaining('launchTemplates'),
    });
    expect((await eventLog(stack)).filter(ofType('AMI Promoted', { amiId: image }))).toEqual([]);

    // Promote's three tries (Lambda's two async retries) all refuse; none moves the channel
    const tries = async () =>
      (await eventLog(stack)).filter(ofType('Promotion Rejected', { amiId: image, channel: 'stable' })).length;
    const deadline = Date.now() + 20_000;
    while ((await tries()) < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await tries()).toBe(3);
    expect(await channelValue()).toBeUndefined();

    // Assess: Slack says so, once, with the fix
    const posted = await slackTexts(`Promotion of ${image} to al2023-base/stable refused`, 1);
    expect(posted).toHaveLength(1);
    expect(JSON.stringify(posted[0]?.blocks)).toContain(EXAMPLE_LAUNCH_TEMPLATE);
  }, 90_000);

  it('lists a template that disappears after the check as failed: the channel moved, AMI Promoted names it, the CLI prints it', async () => {
    // Prepare: the template exists for the check; the version is then refused as for a template
    // deleted between the check and the move (the sandbox's fault on the next CreateLaunchTemplateVersion).
    await createExampleLaunchTemplate(stackEc2);
    await stack.control('POST', '/_sandbox/faults', {
      service: 'ec2',
      action: 'CreateLaunchTemplateVersion',
      error: 'InvalidLaunchTemplateId.NotFound',
      message: 'The specified launch template does not exist.',
      times: 1,
    });

    // Act
    const run = await cli(['promote', 'al2023-base', 'stable', image]);

    // Assess: the CLI says the move is partial, with the template, why and the fix
    expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(1);
    expect(run.stdout).toContain(`al2023-base/stable: (none) → ${image}`);
    expect(run.stderr).toContain('did not follow');
    expect(run.stderr).toContain(`launch template ${EXAMPLE_LAUNCH_TEMPLATE}`);
    expect(run.stderr).toContain('InvalidLaunchTemplateId.NotFound');
    expect(run.stderr).toContain('Fix: ');
    expect(run.seconds).toBeLessThan(30);

    // Assess: the channel moved, and AMI Promoted lists the template as failed
    expect(await channelValue()).toBe(image);
    const promoted = await eventWhere(
      stack,
      'AMI Promoted of the image',
      ofType('AMI Promoted', { family: 'al2023-base', channel: 'stable', amiId: image }),
      10_000,
    );
    expect(promoted.event.detail.failedTargets).toEqual([
      {
        kind: 'launchTemplate',
        target: EXAMPLE_LAUNCH_TEMPLATE,
        reason: expect.stringContaining('InvalidLaunchTemplateId.NotFound'),
        fix: expect.stringContaining(image),
      },
    ]);
    expect((promoted.event.detail.targets as { launchTemplates: unknown[] }).launchTemplates).toEqual([]);

    // Assess: Slack shows the partial move
    const posted = await slackTexts(`al2023-base: stable now points at ${image} (partial`, 1);
    expect(posted).toHaveLength(1);
    expect(JSON.stringify(posted[0]?.blocks)).toContain('Partial move');
  }, 90_000);
});
