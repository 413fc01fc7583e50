import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeInstanceRefreshesCommand,
  type Instance as GroupInstance,
  type InstanceRefresh,
  StartInstanceRefreshCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CopyImageCommand,
  type CopyImageCommandInput,
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  type Tag as Ec2Tag,
  ModifyImageAttributeCommand,
  ModifyLaunchTemplateCommand,
} from '@aws-sdk/client-ec2';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { AutoScalingGroupNotFoundError, LaunchTemplateNotFoundError } from '../../functions/commons/errors';
import { ResourceNotVisibleError, type VisibilityWait } from '../../functions/commons/eventual-consistency';
import { type Family, type FamilyInput, loadConfig } from '../../functions/commons/families';
import {
  type Channel,
  COPIED_FROM_TAG,
  copyClientToken,
  createTargetDeps,
  distributeImage,
  type ImageToDistribute,
  refreshAutoScalingGroups,
  TAG_SESSION_NAME,
  type TargetDeps,
  updateLaunchTemplates,
} from '../../functions/commons/promotion-targets';
import { awsError, configInput, linuxFamily, recordingLogger, withCustomerKey } from './support/bake-factories';

const HOME = 'us-east-1';
const AMI = 'ami-0123456789abcdef0';
const OLD_AMI = 'ami-0fedcba9876543210';
const KEY_EU = 'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-4333-8444-555555555555';
const ACCOUNT_A = '444455556666';
const ACCOUNT_B = '777788889999';
const ROLE_A = `arn:aws:iam::${ACCOUNT_A}:role/bakehouse-tagger`;
const ROLE_B = `arn:aws:iam::${ACCOUNT_B}:role/bakehouse-tagger`;
/** The id installImages gives the first copy into an empty region. */
const COPY_ID = 'ami-0c0c0c0c0c0c0c00';
/** Waiter timing for tests: hundredths of a second instead of seconds. */
const QUICK_WAIT: VisibilityWait = { minDelay: 0.01, maxDelay: 0.02, maxWaitTime: 5 };

// ---------------------------------------------------------------- harness

/** One EC2 client (and its mock) per region and per assumed role, as createTargetDeps hands them out. */
interface Harness {
  readonly deps: TargetDeps;
  readonly logger: ReturnType<typeof recordingLogger>;
  readonly ec2: Map<string, AwsClientStub<EC2Client>>;
  readonly assumed: Map<string, AwsClientStub<EC2Client>>;
  readonly autoScaling: AwsClientStub<AutoScalingClient>;
  readonly sts: AwsClientStub<STSClient>;
}

const harness = (regions: readonly string[] = [HOME]): Harness => {
  const ec2 = new Map<string, AwsClientStub<EC2Client>>();
  const clients = new Map<string, EC2Client>();
  for (const region of regions) {
    const client = new EC2Client({ region });
    clients.set(region, client);
    ec2.set(region, mockClient(client));
  }
  const assumed = new Map<string, AwsClientStub<EC2Client>>();
  const autoScalingClient = new AutoScalingClient({ region: HOME });
  const stsClient = new STSClient({ region: HOME });
  const logger = recordingLogger();
  const deps = createTargetDeps({
    homeRegion: HOME,
    logger,
    clients: {
      ec2In: (region, credentials) => {
        if (!credentials) {
          const client = clients.get(region);
          if (!client) throw new Error(`test harness has no EC2 client for ${region}`);
          return client;
        }
        const client = new EC2Client({ region, credentials });
        assumed.set(`${credentials.accessKeyId}|${region}`, mockClient(client));
        return client;
      },
      autoScaling: autoScalingClient,
      sts: stsClient,
    },
  });
  return { deps, logger, ec2, assumed, autoScaling: mockClient(autoScalingClient), sts: mockClient(stsClient) };
};

const mockOf = (h: Harness, region = HOME): AwsClientStub<EC2Client> => {
  const mock = h.ec2.get(region);
  if (!mock) throw new Error(`no mock for ${region}`);
  return mock;
};

const familyWith = (overrides: Partial<FamilyInput>): Family => {
  // A customer managed key: the families here share with other accounts.
  const family = loadConfig(configInput([withCustomerKey(linuxFamily(overrides))])).families[0];
  if (!family) throw new Error('no family');
  return family;
};

// ---------------------------------------------------------------- launch templates

interface FakeTemplate {
  id: string;
  name: string;
  defaultVersion: number;
  versions: Map<number, { imageId: string; description?: string | undefined }>;
}

/** A stateful launch-template store behind the EC2 mock. */
const installTemplates = (mock: AwsClientStub<EC2Client>, templates: FakeTemplate[]): void => {
  const find = (id?: string, name?: string) =>
    templates.find((template) => template.id === id || (name !== undefined && template.name === name));
  const latest = (template: FakeTemplate) => Math.max(...template.versions.keys());
  mock.on(DescribeLaunchTemplatesCommand).callsFake((input) => {
    const id = input.LaunchTemplateIds?.[0];
    const name = input.LaunchTemplateNames?.[0];
    const template = find(id, name);
    if (!template) {
      throw id ? awsError('InvalidLaunchTemplateId.NotFound') : awsError('InvalidLaunchTemplateName.NotFoundException');
    }
    return {
      LaunchTemplates: [
        {
          LaunchTemplateId: template.id,
          LaunchTemplateName: template.name,
          DefaultVersionNumber: template.defaultVersion,
          LatestVersionNumber: latest(template),
        },
      ],
    };
  });
  mock.on(DescribeLaunchTemplateVersionsCommand).callsFake((input) => {
    const template = find(input.LaunchTemplateId) as FakeTemplate;
    const number = latest(template);
    return {
      LaunchTemplateVersions: [
        {
          LaunchTemplateId: template.id,
          VersionNumber: number,
          DefaultVersion: number === template.defaultVersion,
          LaunchTemplateData: { ImageId: template.versions.get(number)?.imageId, InstanceType: 't3.micro' },
        },
      ],
    };
  });
  mock.on(CreateLaunchTemplateVersionCommand).callsFake((input) => {
    const template = find(input.LaunchTemplateId) as FakeTemplate;
    const number = latest(template) + 1;
    template.versions.set(number, {
      imageId: input.LaunchTemplateData?.ImageId as string,
      description: input.VersionDescription,
    });
    return { LaunchTemplateVersion: { LaunchTemplateId: template.id, VersionNumber: number } };
  });
  mock.on(ModifyLaunchTemplateCommand).callsFake((input) => {
    const template = find(input.LaunchTemplateId) as FakeTemplate;
    template.defaultVersion = Number(input.DefaultVersion);
    return { LaunchTemplate: { LaunchTemplateId: template.id, DefaultVersionNumber: template.defaultVersion } };
  });
};

const fakeTemplate = (id: string, name: string, imageId = OLD_AMI): FakeTemplate => ({
  id,
  name,
  defaultVersion: 1,
  versions: new Map([[1, { imageId }]]),
});

const templatesConfig = (...entries: [string, boolean][]): Channel['launchTemplates'] =>
  entries.map(([template, makeDefault]) => ({ template, makeDefault }));

describe('updateLaunchTemplates', () => {
  it('adds one version with the image, copied from the latest, made default; a second run writes nothing', async () => {
    // Prepare
    const h = harness();
    const template = fakeTemplate('lt-0123456789abcdef0', 'web');
    installTemplates(mockOf(h), [template]);
    const config = templatesConfig(['lt-0123456789abcdef0', true]);

    // Act
    const first = await updateLaunchTemplates(config, AMI, h.deps);
    const second = await updateLaunchTemplates(config, AMI, h.deps);

    // Assess
    expect(first).toEqual([{ id: 'lt-0123456789abcdef0', version: 2, isDefault: true, changed: true }]);
    expect(second).toEqual([{ id: 'lt-0123456789abcdef0', version: 2, isDefault: true, changed: false }]);
    expect(mockOf(h)).toHaveReceivedCommandTimes(CreateLaunchTemplateVersionCommand, 1);
    expect(mockOf(h)).toHaveReceivedCommandWith(CreateLaunchTemplateVersionCommand, {
      LaunchTemplateId: 'lt-0123456789abcdef0',
      SourceVersion: '1',
      LaunchTemplateData: { ImageId: AMI },
      VersionDescription: expect.stringContaining(AMI),
    });
    expect(mockOf(h)).toHaveReceivedCommandTimes(ModifyLaunchTemplateCommand, 1);
    expect(mockOf(h)).toHaveReceivedCommandWith(ModifyLaunchTemplateCommand, { DefaultVersion: '2' });
    expect(template.defaultVersion).toBe(2);
  });

  it('finds a template by name and leaves the default alone without makeDefault', async () => {
    // Prepare
    const h = harness();
    const template = fakeTemplate('lt-0aaaaaaaaaaaaaaaa', 'batch-workers');
    installTemplates(mockOf(h), [template]);

    // Act
    const result = await updateLaunchTemplates(templatesConfig(['batch-workers', false]), AMI, h.deps);

    // Assess
    expect(result).toEqual([{ id: 'lt-0aaaaaaaaaaaaaaaa', version: 2, isDefault: false, changed: true }]);
    expect(mockOf(h)).toHaveReceivedCommandWith(DescribeLaunchTemplatesCommand, {
      LaunchTemplateNames: ['batch-workers'],
    });
    expect(mockOf(h)).not.toHaveReceivedCommand(ModifyLaunchTemplateCommand);
    expect(template.defaultVersion).toBe(1);
  });

  it('makes an existing version with the image the default when it is not yet (a redelivery after a crash)', async () => {
    // Prepare
    const h = harness();
    const template = fakeTemplate('lt-0123456789abcdef0', 'web');
    template.versions.set(2, { imageId: AMI });
    installTemplates(mockOf(h), [template]);

    // Act
    const result = await updateLaunchTemplates(templatesConfig(['web', true]), AMI, h.deps);

    // Assess
    expect(result).toEqual([{ id: 'lt-0123456789abcdef0', version: 2, isDefault: true, changed: false }]);
    expect(mockOf(h)).not.toHaveReceivedCommand(CreateLaunchTemplateVersionCommand);
    expect(mockOf(h)).toHaveReceivedCommandWith(ModifyLaunchTemplateCommand, { DefaultVersion: '2' });
  });

  it('adds a new version when an older version (not the latest) has the image, as a rollback needs', async () => {
    // Prepare
    const h = harness();
    const template = fakeTemplate('lt-0123456789abcdef0', 'web', AMI);
    template.versions.set(2, { imageId: OLD_AMI });
    template.defaultVersion = 2;
    installTemplates(mockOf(h), [template]);

    // Act
    const [result] = await updateLaunchTemplates(templatesConfig(['web', true]), AMI, h.deps);

    // Assess
    expect(result).toEqual({ id: 'lt-0123456789abcdef0', version: 3, isDefault: true, changed: true });
    expect(mockOf(h)).toHaveReceivedCommandWith(CreateLaunchTemplateVersionCommand, { SourceVersion: '2' });
  });

  it('names a missing template and the fix, before writing to any template', async () => {
    // Prepare
    const h = harness();
    installTemplates(mockOf(h), [fakeTemplate('lt-0123456789abcdef0', 'web')]);
    const config = templatesConfig(['web', true], ['lt-0bbbbbbbbbbbbbbbb', true]);

    // Act
    const error = await updateLaunchTemplates(config, AMI, h.deps).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(LaunchTemplateNotFoundError);
    expect((error as Error).name).toBe('LaunchTemplateNotFoundError');
    expect((error as Error).message).toContain("'lt-0bbbbbbbbbbbbbbbb'");
    expect((error as Error).message).toContain('Fix:');
    expect(mockOf(h)).not.toHaveReceivedCommand(CreateLaunchTemplateVersionCommand);
    expect(mockOf(h)).not.toHaveReceivedCommand(ModifyLaunchTemplateCommand);
  });

  it('treats a missing template name the same way', async () => {
    const h = harness();
    installTemplates(mockOf(h), []);
    await expect(updateLaunchTemplates(templatesConfig(['nope', true]), AMI, h.deps)).rejects.toThrow(
      LaunchTemplateNotFoundError,
    );
  });
});

// ---------------------------------------------------------------- Auto Scaling

interface FakeGroup {
  name: string;
  instances: Record<string, string>;
  refreshes: InstanceRefresh[];
  version?: string;
}

/** `unlisted`: instances the groups have that EC2 does not know yet (just launched). */
const installGroups = (h: Harness, groups: FakeGroup[], unlisted: readonly string[] = []): void => {
  const find = (name?: string) => groups.find((group) => group.name === name);
  h.autoScaling.on(DescribeAutoScalingGroupsCommand).callsFake((input) => ({
    AutoScalingGroups: (input.AutoScalingGroupNames ?? []).flatMap((name: string) => {
      const group = find(name);
      if (!group) return [];
      const instances: GroupInstance[] = Object.keys(group.instances).map((InstanceId) => ({
        InstanceId,
        AvailabilityZone: 'us-east-1a',
        LifecycleState: 'InService',
        HealthStatus: 'Healthy',
        ProtectedFromScaleIn: false,
      }));
      return [
        {
          AutoScalingGroupName: group.name,
          LaunchTemplate: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: group.version ?? '$Default' },
          Instances: instances,
          MinSize: 0,
          MaxSize: 4,
          DesiredCapacity: instances.length,
          DefaultCooldown: 300,
          AvailabilityZones: ['us-east-1a'],
          HealthCheckType: 'EC2',
          CreatedTime: new Date(),
        },
      ];
    }),
  }));
  h.autoScaling.on(DescribeInstanceRefreshesCommand).callsFake((input) => ({
    InstanceRefreshes: find(input.AutoScalingGroupName)?.refreshes ?? [],
  }));
  h.autoScaling.on(StartInstanceRefreshCommand).callsFake((input) => {
    const group = find(input.AutoScalingGroupName) as FakeGroup;
    const id = `refresh-${group.refreshes.length + 1}`;
    group.refreshes.unshift({ InstanceRefreshId: id, AutoScalingGroupName: group.name, Status: 'Pending' });
    return { InstanceRefreshId: id };
  });
  mockOf(h)
    .on(DescribeInstancesCommand)
    .callsFake((input) => {
      // By id, an instance EC2 does not know (yet) fails the call; by filter it is left out.
      const byId: string[] = input.InstanceIds ?? [];
      const unknown = byId.filter((id) => unlisted.includes(id));
      if (unknown.length > 0) throw awsError('InvalidInstanceID.NotFound');
      const byFilter: string[] =
        input.Filters?.find((filter: { Name: string }) => filter.Name === 'instance-id')?.Values ?? [];
      return {
        Reservations: [
          {
            Instances: [...byId, ...byFilter.filter((id) => !unlisted.includes(id))].map((id: string) => ({
              InstanceId: id,
              ImageId: groups.find((group) => id in group.instances)?.instances[id],
            })),
          },
        ],
      };
    });
};

const groupsConfig = (...entries: [string, number][]): Channel['autoScalingGroups'] =>
  entries.map(([name, minHealthyPercentage]) => ({ name, minHealthyPercentage }));

describe('refreshAutoScalingGroups', () => {
  it('starts one refresh with the configured healthy percentage and SkipMatching; a second run starts none', async () => {
    // Prepare
    const h = harness();
    installGroups(h, [{ name: 'web', instances: { 'i-0123456789abcdef0': OLD_AMI }, refreshes: [] }]);
    const config = groupsConfig(['web', 75]);

    // Act
    const first = await refreshAutoScalingGroups(config, AMI, h.deps);
    const second = await refreshAutoScalingGroups(config, AMI, h.deps);

    // Assess
    expect(first).toEqual([{ name: 'web', instanceRefreshId: 'refresh-1' }]);
    expect(second).toEqual([{ name: 'web', instanceRefreshId: null }]);
    expect(h.autoScaling).toHaveReceivedCommandTimes(StartInstanceRefreshCommand, 1);
    expect(h.autoScaling).toHaveReceivedCommandWith(StartInstanceRefreshCommand, {
      AutoScalingGroupName: 'web',
      Preferences: { MinHealthyPercentage: 75, SkipMatching: true },
    });
  });

  it('starts no refresh while one is in progress, and logs why', async () => {
    // Prepare
    const h = harness();
    installGroups(h, [
      {
        name: 'web',
        instances: { 'i-0123456789abcdef0': OLD_AMI },
        refreshes: [
          { InstanceRefreshId: 'old', Status: 'Successful' },
          { InstanceRefreshId: 'busy', Status: 'InProgress' },
        ],
      },
    ]);

    // Act
    const result = await refreshAutoScalingGroups(groupsConfig(['web', 90]), AMI, h.deps);

    // Assess
    expect(result).toEqual([{ name: 'web', instanceRefreshId: null }]);
    expect(h.autoScaling).not.toHaveReceivedCommand(StartInstanceRefreshCommand);
    expect(h.logger.info).toHaveBeenCalledWith(expect.stringContaining('already running'), {
      autoScalingGroup: 'web',
      instanceRefreshId: 'busy',
    });
  });

  it('starts no refresh when every instance already runs the image, or the group has none', async () => {
    // Prepare
    const h = harness();
    installGroups(h, [
      { name: 'done', instances: { 'i-0123456789abcdef0': AMI, 'i-0123456789abcdef1': AMI }, refreshes: [] },
      { name: 'empty', instances: {}, refreshes: [] },
      { name: 'mixed', instances: { 'i-0123456789abcdef2': AMI, 'i-0123456789abcdef3': OLD_AMI }, refreshes: [] },
    ]);

    // Act
    const result = await refreshAutoScalingGroups(
      groupsConfig(['done', 90], ['empty', 90], ['mixed', 90]),
      AMI,
      h.deps,
    );

    // Assess
    expect(result).toEqual([
      { name: 'done', instanceRefreshId: null },
      { name: 'empty', instanceRefreshId: null },
      { name: 'mixed', instanceRefreshId: 'refresh-1' },
    ]);
    expect(h.autoScaling).toHaveReceivedCommandTimes(StartInstanceRefreshCommand, 1);
  });

  it('refreshes a group with an instance EC2 does not list yet (just launched), without failing on it', async () => {
    // Prepare: one instance runs the image; the other was launched moments ago and EC2 does not
    // know it yet, so nothing proves it runs the image.
    const h = harness();
    installGroups(
      h,
      [{ name: 'web', instances: { 'i-0123456789abcdef0': AMI, 'i-0123456789abcdef1': OLD_AMI }, refreshes: [] }],
      ['i-0123456789abcdef1'],
    );

    // Act
    const result = await refreshAutoScalingGroups(groupsConfig(['web', 90]), AMI, h.deps);

    // Assess
    expect(result).toEqual([{ name: 'web', instanceRefreshId: 'refresh-1' }]);
    expect(mockOf(h)).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [{ Name: 'instance-id', Values: ['i-0123456789abcdef0', 'i-0123456789abcdef1'] }],
    });
  });

  it('warns when the group pins a launch template version the refresh cannot move', async () => {
    const h = harness();
    installGroups(h, [{ name: 'web', instances: { 'i-0123456789abcdef0': OLD_AMI }, refreshes: [], version: '3' }]);
    await refreshAutoScalingGroups(groupsConfig(['web', 90]), AMI, h.deps);
    expect(h.logger.warn).toHaveBeenCalledWith(expect.stringContaining('pins a launch template version'), {
      autoScalingGroup: 'web',
      version: '3',
    });
  });

  it('names every missing group, before starting any refresh', async () => {
    // Prepare
    const h = harness();
    installGroups(h, [{ name: 'web', instances: { 'i-0123456789abcdef0': OLD_AMI }, refreshes: [] }]);

    // Act
    const error = await refreshAutoScalingGroups(groupsConfig(['web', 90], ['gone', 90]), AMI, h.deps).catch(
      (caught: unknown) => caught,
    );

    // Assess
    expect(error).toBeInstanceOf(AutoScalingGroupNotFoundError);
    expect((error as Error).name).toBe('AutoScalingGroupNotFoundError');
    expect((error as Error).message).toContain("'gone'");
    expect((error as Error).message).not.toContain("'web'");
    expect(h.autoScaling).not.toHaveReceivedCommand(StartInstanceRefreshCommand);
  });

  it('counts a refresh another caller started in between as running', async () => {
    // Prepare
    const h = harness();
    installGroups(h, [{ name: 'web', instances: { 'i-0123456789abcdef0': OLD_AMI }, refreshes: [] }]);
    h.autoScaling.on(StartInstanceRefreshCommand).rejects(awsError('InstanceRefreshInProgressFault'));

    // Act
    const result = await refreshAutoScalingGroups(groupsConfig(['web', 90]), AMI, h.deps);

    // Assess
    expect(result).toEqual([{ name: 'web', instanceRefreshId: null }]);
  });

  it('lets other Auto Scaling errors through', async () => {
    const h = harness();
    installGroups(h, [{ name: 'web', instances: { 'i-0123456789abcdef0': OLD_AMI }, refreshes: [] }]);
    h.autoScaling.on(StartInstanceRefreshCommand).rejects(awsError('ResourceContentionFault'));
    await expect(refreshAutoScalingGroups(groupsConfig(['web', 90]), AMI, h.deps)).rejects.toThrow(
      'ResourceContentionFault',
    );
  });
});

// ---------------------------------------------------------------- distribution

interface FakeImage {
  imageId: string;
  state: string;
  tags: Record<string, string>;
  launchPermissions: Set<string>;
}

/** Images in one region: DescribeImages by tag, CopyImage (with ClientToken), launch permissions. */
const installImages = (h: Harness, region: string, images: FakeImage[]): void => {
  const mock = mockOf(h, region);
  const find = (id?: string) => {
    const image = images.find((candidate) => candidate.imageId === id);
    if (!image) throw awsError('InvalidAMIID.NotFound');
    return image;
  };
  mock.on(DescribeImagesCommand).callsFake((input) => ({
    Images: images
      .filter((image) =>
        (input.Filters ?? []).every((filter: { Name: string; Values: string[] }) =>
          filter.Values.includes(image.tags[filter.Name.replace(/^tag:/, '')] ?? ''),
        ),
      )
      .map((image) => ({
        ImageId: image.imageId,
        State: image.state,
        Tags: Object.entries(image.tags).map(([Key, Value]) => ({ Key, Value })),
      })),
  }));
  mock.on(CopyImageCommand).callsFake((input: CopyImageCommandInput) => {
    const imageId = `ami-0c0c0c0c0c0c0c0${images.length}`;
    const tags = Object.fromEntries(
      (input.TagSpecifications?.find((spec) => spec.ResourceType === 'image')?.Tags ?? []).map((tag: Ec2Tag) => [
        tag.Key,
        tag.Value,
      ]),
    );
    images.push({ imageId, state: 'pending', tags, launchPermissions: new Set() });
    return { ImageId: imageId };
  });
  mock.on(DescribeImageAttributeCommand).callsFake((input) => ({
    ImageId: input.ImageId,
    LaunchPermissions: [...find(input.ImageId).launchPermissions].map((UserId) => ({ UserId })),
  }));
  mock.on(ModifyImageAttributeCommand).callsFake((input) => {
    for (const permission of input.LaunchPermission?.Add ?? []) {
      find(input.ImageId).launchPermissions.add(permission.UserId);
    }
    return {};
  });
};

const IMAGE: ImageToDistribute = Object.freeze({
  amiId: AMI,
  name: 'bakehouse/al2023-base/20261129T030000Z-abcdef',
  tags: Object.freeze([
    { Key: 'bakehouse:managed', Value: 'true' },
    { Key: 'bakehouse:family', Value: 'al2023-base' },
  ]),
});

const image = (): ImageToDistribute => structuredClone(IMAGE);

const homeImage = (): FakeImage => ({
  imageId: AMI,
  state: 'available',
  tags: { 'bakehouse:managed': 'true', 'bakehouse:family': 'al2023-base' },
  launchPermissions: new Set(),
});

const assumeRoleAnswers = (h: Harness, failFor: readonly string[] = []): void => {
  h.sts.on(AssumeRoleCommand).callsFake((input) => {
    if (failFor.includes(input.RoleArn)) throw awsError('AccessDenied', `not authorized to assume ${input.RoleArn}`);
    const account = /iam::(\d{12}):/.exec(input.RoleArn)?.[1] as string;
    return {
      Credentials: {
        AccessKeyId: account,
        SecretAccessKey: 'secret',
        SessionToken: 'token',
        Expiration: new Date(Date.now() + 3_600_000),
      },
    };
  });
};

describe('distributeImage', () => {
  it('copies to each region, encrypted with its KMS key, tagged with where it came from; a second run copies nothing', async () => {
    // Prepare
    const h = harness([HOME, 'eu-west-1', 'ap-southeast-2']);
    const eu: FakeImage[] = [];
    const ap: FakeImage[] = [];
    installImages(h, HOME, [homeImage()]);
    installImages(h, 'eu-west-1', eu);
    installImages(h, 'ap-southeast-2', ap);
    const family = familyWith({
      distribution: { regions: [{ region: 'eu-west-1', kmsKeyId: KEY_EU }, 'ap-southeast-2'] },
    });

    // Act
    const first = await distributeImage(family, image(), h.deps);
    const second = await distributeImage(family, image(), h.deps);

    // Assess
    expect(first.regions).toEqual([
      { region: 'eu-west-1', amiId: eu[0]?.imageId },
      { region: 'ap-southeast-2', amiId: ap[0]?.imageId },
    ]);
    expect(second).toEqual(first);
    expect(eu).toHaveLength(1);
    expect(ap).toHaveLength(1);
    expect(mockOf(h, 'eu-west-1')).toHaveReceivedCommandTimes(CopyImageCommand, 1);
    expect(mockOf(h, 'eu-west-1')).toHaveReceivedCommandWith(CopyImageCommand, {
      SourceImageId: AMI,
      SourceRegion: HOME,
      Name: IMAGE.name,
      Encrypted: true,
      KmsKeyId: KEY_EU,
      CopyImageTags: true,
      ClientToken: copyClientToken(AMI, 'eu-west-1'),
    });
    const apCopy = mockOf(h, 'ap-southeast-2').commandCalls(CopyImageCommand)[0]?.args[0].input;
    expect(apCopy).toMatchObject({ Encrypted: true, SourceRegion: HOME });
    expect(apCopy).not.toHaveProperty('KmsKeyId');
    expect(eu[0]?.tags).toEqual({
      'bakehouse:managed': 'true',
      'bakehouse:family': 'al2023-base',
      [COPIED_FROM_TAG]: AMI,
    });
    expect(mockOf(h, HOME)).not.toHaveReceivedCommand(CopyImageCommand);
  });

  it('gives the copy token a fixed length, different per region and per image', () => {
    expect(copyClientToken(AMI, 'eu-west-1')).toBe(copyClientToken(AMI, 'eu-west-1'));
    expect(copyClientToken(AMI, 'eu-west-1')).not.toBe(copyClientToken(AMI, 'eu-west-2'));
    expect(copyClientToken(AMI, 'eu-west-1')).not.toBe(copyClientToken(OLD_AMI, 'eu-west-1'));
    expect(copyClientToken(AMI, 'eu-west-1').length).toBeLessThanOrEqual(64);
  });

  it('ignores a failed earlier copy and copies again', async () => {
    const h = harness([HOME, 'eu-west-1']);
    const eu: FakeImage[] = [
      {
        imageId: 'ami-0deadbeefdeadbeef',
        state: 'failed',
        tags: { [COPIED_FROM_TAG]: AMI },
        launchPermissions: new Set(),
      },
    ];
    installImages(h, HOME, [homeImage()]);
    installImages(h, 'eu-west-1', eu);
    const result = await distributeImage(familyWith({ distribution: { regions: ['eu-west-1'] } }), image(), h.deps);
    expect(result.regions[0]?.amiId).not.toBe('ami-0deadbeefdeadbeef');
    expect(mockOf(h, 'eu-west-1')).toHaveReceivedCommandTimes(CopyImageCommand, 1);
  });

  it('shares the image and every copy with each account once; a second run adds no permission', async () => {
    // Prepare
    const h = harness([HOME, 'eu-west-1']);
    const home = [homeImage()];
    const eu: FakeImage[] = [];
    installImages(h, HOME, home);
    installImages(h, 'eu-west-1', eu);
    const family = familyWith({ distribution: { regions: ['eu-west-1'], accounts: [ACCOUNT_A, ACCOUNT_B] } });

    // Act
    const first = await distributeImage(family, image(), h.deps);
    await distributeImage(family, image(), h.deps);

    // Assess
    expect(first.accounts).toEqual([ACCOUNT_A, ACCOUNT_B]);
    expect(first.tagFailures).toBeUndefined();
    expect([...(home[0]?.launchPermissions ?? [])]).toEqual([ACCOUNT_A, ACCOUNT_B]);
    expect([...(eu[0]?.launchPermissions ?? [])]).toEqual([ACCOUNT_A, ACCOUNT_B]);
    expect(mockOf(h, HOME)).toHaveReceivedCommandTimes(ModifyImageAttributeCommand, 1);
    expect(mockOf(h, HOME)).toHaveReceivedCommandWith(ModifyImageAttributeCommand, {
      ImageId: AMI,
      LaunchPermission: { Add: [{ UserId: ACCOUNT_A }, { UserId: ACCOUNT_B }] },
    });
    expect(mockOf(h, 'eu-west-1')).toHaveReceivedCommandTimes(ModifyImageAttributeCommand, 1);
    expect(h.sts).not.toHaveReceivedCommand(AssumeRoleCommand);
  });

  it('adds only the accounts that lack launch permission', async () => {
    const h = harness();
    const home = [{ ...homeImage(), launchPermissions: new Set([ACCOUNT_A]) }];
    installImages(h, HOME, home);
    await distributeImage(familyWith({ distribution: { accounts: [ACCOUNT_A, ACCOUNT_B] } }), image(), h.deps);
    expect(mockOf(h, HOME)).toHaveReceivedCommandWith(ModifyImageAttributeCommand, {
      LaunchPermission: { Add: [{ UserId: ACCOUNT_B }] },
    });
  });

  it('re-applies the tags in each account through its role, in every region, as that account', async () => {
    // Prepare
    const h = harness([HOME, 'eu-west-1']);
    const eu: FakeImage[] = [];
    installImages(h, HOME, [homeImage()]);
    installImages(h, 'eu-west-1', eu);
    assumeRoleAnswers(h);
    const family = familyWith({
      distribution: { regions: ['eu-west-1'], accounts: [{ account: ACCOUNT_A, tagRoleArn: ROLE_A }] },
    });

    // Act
    await distributeImage(family, image(), h.deps);

    // Assess
    expect(h.sts).toHaveReceivedCommandWith(AssumeRoleCommand, { RoleArn: ROLE_A, RoleSessionName: TAG_SESSION_NAME });
    const inHome = h.assumed.get(`${ACCOUNT_A}|${HOME}`);
    const inEu = h.assumed.get(`${ACCOUNT_A}|eu-west-1`);
    expect(inHome).toHaveReceivedCommandWith(CreateTagsCommand, { Resources: [AMI], Tags: [...IMAGE.tags] });
    expect(inEu).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: [eu[0]?.imageId as string],
      Tags: [...IMAGE.tags, { Key: COPIED_FROM_TAG, Value: AMI }],
    });
    expect(mockOf(h, HOME)).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('reports an account whose role cannot be assumed, and still shares with and tags the others', async () => {
    // Prepare
    const h = harness();
    const home = [homeImage()];
    installImages(h, HOME, home);
    assumeRoleAnswers(h, [ROLE_A]);
    const family = familyWith({
      distribution: {
        accounts: [
          { account: ACCOUNT_A, tagRoleArn: ROLE_A },
          { account: ACCOUNT_B, tagRoleArn: ROLE_B },
        ],
      },
    });

    // Act
    const result = await distributeImage(family, image(), h.deps);

    // Assess
    expect(result.accounts).toEqual([ACCOUNT_A, ACCOUNT_B]);
    expect([...(home[0]?.launchPermissions ?? [])]).toEqual([ACCOUNT_A, ACCOUNT_B]);
    expect(result.tagFailures).toEqual([
      {
        account: ACCOUNT_A,
        roleArn: ROLE_A,
        region: HOME,
        amiId: AMI,
        reason: expect.stringContaining('AccessDenied'),
      },
    ]);
    expect(h.assumed.get(`${ACCOUNT_B}|${HOME}`)).toHaveReceivedCommandWith(CreateTagsCommand, { Resources: [AMI] });
    expect(h.logger.error).toHaveBeenCalledWith(
      'could not tag the shared image in the account',
      expect.objectContaining({ account: ACCOUNT_A, errorName: 'AccessDenied' }),
    );
  });

  it('waits until a new copy is known to EC2 (eventual consistency) before sharing it, then shares it once', async () => {
    // Prepare: EC2 does not know the copy for its first two DescribeImages by id, and refuses to
    // describe or change its attributes until then, as it may right after CopyImage.
    const h = harness([HOME, 'eu-west-1']);
    const eu: FakeImage[] = [];
    installImages(h, HOME, [homeImage()]);
    installImages(h, 'eu-west-1', eu);
    const euMock = mockOf(h, 'eu-west-1');
    let describesById = 0;
    const known = () => describesById > 2;
    const notYet = () => awsError('InvalidAMIID.NotFound', `The image id '[${eu[0]?.imageId}]' does not exist`);
    euMock.on(DescribeImagesCommand, { ImageIds: [COPY_ID] }).callsFake(() => {
      describesById += 1;
      if (!known()) throw notYet();
      return { Images: [{ ImageId: COPY_ID, State: 'pending' }] };
    });
    euMock.on(DescribeImageAttributeCommand).callsFake(() => {
      if (!known()) throw notYet();
      return { ImageId: COPY_ID, LaunchPermissions: [] };
    });
    euMock.on(ModifyImageAttributeCommand).callsFake(() => {
      if (!known()) throw notYet();
      return {};
    });
    const family = familyWith({ distribution: { regions: ['eu-west-1'], accounts: [ACCOUNT_A] } });

    // Act
    const result = await distributeImage(family, image(), { ...h.deps, visibilityWait: QUICK_WAIT });

    // Assess
    expect(result.regions).toEqual([{ region: 'eu-west-1', amiId: COPY_ID }]);
    expect(describesById).toBe(3);
    expect(euMock).toHaveReceivedCommandTimes(ModifyImageAttributeCommand, 1);
    expect(euMock).toHaveReceivedCommandWith(ModifyImageAttributeCommand, {
      ImageId: COPY_ID,
      LaunchPermission: { Add: [{ UserId: ACCOUNT_A }] },
    });
  });

  it('gives up with ResourceNotVisibleError when the copy never becomes known, sharing nothing', async () => {
    // Prepare
    const h = harness([HOME, 'eu-west-1']);
    installImages(h, HOME, [homeImage()]);
    installImages(h, 'eu-west-1', []);
    const euMock = mockOf(h, 'eu-west-1');
    euMock.on(DescribeImagesCommand, { ImageIds: [COPY_ID] }).rejects(awsError('InvalidAMIID.NotFound'));
    const family = familyWith({ distribution: { regions: ['eu-west-1'], accounts: [ACCOUNT_A] } });

    // Act
    const outcome = await distributeImage(family, image(), {
      ...h.deps,
      visibilityWait: { minDelay: 0.01, maxDelay: 0.02, maxWaitTime: 0.1 },
    }).catch((error: Error) => error);

    // Assess
    expect(outcome).toBeInstanceOf(ResourceNotVisibleError);
    expect((outcome as Error).message).toContain(COPY_ID);
    expect(euMock).not.toHaveReceivedCommand(ModifyImageAttributeCommand);
  });

  it('skips the home region when distribution lists it', async () => {
    const h = harness();
    installImages(h, HOME, [homeImage()]);
    const result = await distributeImage(familyWith({ distribution: { regions: [HOME] } }), image(), h.deps);
    expect(result.regions).toEqual([]);
    expect(mockOf(h, HOME)).not.toHaveReceivedCommand(CopyImageCommand);
  });
});

// ---------------------------------------------------------------- createTargetDeps

describe('createTargetDeps', () => {
  it('assumes a role once per region and reuses the client until its credentials near expiry', async () => {
    // Prepare
    const stsClient = new STSClient({ region: HOME });
    const sts = mockClient(stsClient);
    let nowMs = Date.parse('2026-11-29T12:00:00Z');
    const expiration = new Date(nowMs + 3_600_000);
    sts.on(AssumeRoleCommand).resolves({
      Credentials: { AccessKeyId: ACCOUNT_A, SecretAccessKey: 's', SessionToken: 't', Expiration: expiration },
    });
    const built: { region: string; accessKeyId: string | undefined }[] = [];
    const deps = createTargetDeps({
      homeRegion: HOME,
      logger: recordingLogger(),
      now: () => nowMs,
      clients: {
        ec2In: (region, credentials) => {
          built.push({ region, accessKeyId: credentials?.accessKeyId });
          return new EC2Client({ region });
        },
        autoScaling: new AutoScalingClient({ region: HOME }),
        sts: stsClient,
      },
    });

    // Act
    const first = await deps.ec2As(ROLE_A);
    const again = await deps.ec2As(ROLE_A, HOME);
    await deps.ec2As(ROLE_A, 'eu-west-1');
    nowMs = expiration.getTime() - 60_000;
    const renewed = await deps.ec2As(ROLE_A);

    // Assess
    expect(again).toBe(first);
    expect(renewed).not.toBe(first);
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 3);
    expect(built).toEqual([
      { region: HOME, accessKeyId: ACCOUNT_A },
      { region: 'eu-west-1', accessKeyId: ACCOUNT_A },
      { region: HOME, accessKeyId: ACCOUNT_A },
    ]);
  });

  it('builds one EC2 client per region, the home region by default', () => {
    const built: string[] = [];
    const deps = createTargetDeps({
      homeRegion: HOME,
      logger: recordingLogger(),
      clients: {
        ec2In: (region) => {
          built.push(region);
          return new EC2Client({ region });
        },
        autoScaling: new AutoScalingClient({ region: HOME }),
        sts: new STSClient({ region: HOME }),
      },
    });
    expect(deps.ec2()).toBe(deps.ec2(HOME));
    expect(deps.ec2('eu-west-1')).not.toBe(deps.ec2());
    expect(built).toEqual([HOME, 'eu-west-1']);
  });
});
