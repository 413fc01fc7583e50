import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeLaunchConfigurationsCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSnapshotsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  DescribeParametersCommand,
  GetParameterHistoryCommand,
  GetParametersCommand,
  type ParameterType,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InventoryError } from '../../functions/janitor/errors';
import { type InventoryDeps, readInventory } from '../../functions/janitor/inventory';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const autoScaling = mockClient(AutoScalingClient);

const deps = (): InventoryDeps => ({
  ec2: new EC2Client({ region: 'us-east-1' }),
  ssm: new SSMClient({ region: 'us-east-1' }),
  autoScaling: new AutoScalingClient({ region: 'us-east-1' }),
  account: '000000000000',
  parameterPrefix: '/bakehouse',
  clock: () => new Date('2026-11-29T02:00:00Z'),
});

const managed = (id: string) => ({
  ImageId: id,
  Name: id,
  OwnerId: '000000000000',
  CreationDate: '2026-01-01T00:00:00.000Z',
  State: 'available' as const,
  DeregistrationProtection: 'disabled',
  BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: `snap-${id.slice(4)}` } }],
  Tags: [
    { Key: 'bakehouse:managed', Value: 'true' },
    { Key: 'bakehouse:family', Value: 'al2023-base' },
  ],
});

/** An empty account: every call answers one empty page. */
const emptyAccount = () => {
  ec2.on(DescribeImagesCommand).resolves({ Images: [] });
  ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: [] });
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  ec2.on(DescribeLaunchTemplatesCommand).resolves({ LaunchTemplates: [] });
  ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [] });
  ec2.on(DescribeImageAttributeCommand).resolves({ LaunchPermissions: [] });
  autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
  autoScaling.on(DescribeLaunchConfigurationsCommand).resolves({ LaunchConfigurations: [] });
  ssm.on(DescribeParametersCommand).resolves({ Parameters: [] });
  ssm.on(GetParametersCommand).resolves({ Parameters: [] });
  ssm.on(GetParameterHistoryCommand).resolves({ Parameters: [] });
};

beforeEach(() => {
  for (const mock of [ec2, ssm, autoScaling]) mock.reset();
  emptyAccount();
});
afterEach(() => {
  for (const mock of [ec2, ssm, autoScaling]) mock.reset();
});

describe('images', () => {
  it('reads every page of the own images, disabled and deprecated ones included', async () => {
    // Prepare
    ec2
      .on(DescribeImagesCommand)
      .resolvesOnce({ Images: [managed('ami-00000000000000001')], NextToken: 't1' })
      .resolvesOnce({ Images: [managed('ami-00000000000000002')] });
    // Act
    const { world, calls } = await readInventory(deps());
    // Assess
    expect(world.images.map((i) => i.id)).toEqual(['ami-00000000000000001', 'ami-00000000000000002']);
    expect(ec2.commandCalls(DescribeImagesCommand)[0]?.args[0].input).toMatchObject({
      Owners: ['self'],
      IncludeDisabled: true,
      IncludeDeprecated: true,
    });
    expect(ec2.commandCalls(DescribeImagesCommand)[1]?.args[0].input.NextToken).toBe('t1');
    expect(calls.DescribeImages).toBe(2);
  });

  it('reads launch permissions of managed images only, and maps protection and snapshots', async () => {
    // Prepare
    const other = { ...managed('ami-00000000000000003'), Tags: [] };
    ec2.on(DescribeImagesCommand).resolves({
      Images: [{ ...managed('ami-00000000000000001'), DeregistrationProtection: 'enabled-with-cooldown' }, other],
    });
    ec2.on(DescribeImageAttributeCommand).resolves({ LaunchPermissions: [{ UserId: '111122223333' }] });
    // Act
    const { world } = await readInventory(deps());
    // Assess
    expect(ec2.commandCalls(DescribeImageAttributeCommand).map((c) => c.args[0].input)).toEqual([
      { ImageId: 'ami-00000000000000001', Attribute: 'launchPermission' },
    ]);
    expect(world.images[0]).toMatchObject({
      deregistrationProtection: true,
      launchPermissions: ['111122223333'],
      snapshotIds: ['snap-00000000000000001'],
      lastLaunchedTime: undefined,
    });
    expect(world.images[1]).toMatchObject({ deregistrationProtection: false, launchPermissions: [] });
  });
});

describe('what can use an image', () => {
  it('reads every version of every launch template, one template at a time', async () => {
    // Prepare
    ec2.on(DescribeLaunchTemplatesCommand).resolves({
      LaunchTemplates: [
        { LaunchTemplateId: 'lt-0000000000000000a', LaunchTemplateName: 'a' },
        { LaunchTemplateId: 'lt-0000000000000000b', LaunchTemplateName: 'b' },
      ],
    });
    ec2.on(DescribeLaunchTemplateVersionsCommand, { LaunchTemplateId: 'lt-0000000000000000a' }).resolves({
      LaunchTemplateVersions: [1, 2].map((v) => ({
        LaunchTemplateId: 'lt-0000000000000000a',
        LaunchTemplateName: 'a',
        VersionNumber: v,
        LaunchTemplateData: { ImageId: `ami-0000000000000000${v}` },
      })),
    });
    ec2.on(DescribeLaunchTemplateVersionsCommand, { LaunchTemplateId: 'lt-0000000000000000b' }).resolves({
      LaunchTemplateVersions: [
        {
          LaunchTemplateId: 'lt-0000000000000000b',
          LaunchTemplateName: 'b',
          VersionNumber: 1,
          LaunchTemplateData: { ImageId: 'resolve:ssm:/team/web-ami:3' },
        },
      ],
    });
    ssm.on(GetParametersCommand).resolves({ Parameters: [{ Name: '/team/web-ami', Value: 'ami-00000000000000009' }] });
    ssm.on(GetParameterHistoryCommand, { Name: '/team/web-ami' }).resolves({
      Parameters: [
        { Version: 1, Value: 'ami-00000000000000007' },
        { Version: 2, Value: 'ami-00000000000000008' },
        { Version: 3, Value: 'ami-00000000000000009' },
      ],
    });
    // Act
    const { world } = await readInventory(deps());
    // Assess
    expect(world.launchTemplateVersions.map((v) => [v.templateName, v.version, v.imageId])).toEqual([
      ['a', 1, 'ami-00000000000000001'],
      ['a', 2, 'ami-00000000000000002'],
      ['b', 1, 'resolve:ssm:/team/web-ami:3'],
    ]);
    // A pinned resolve:ssm: reference keeps the parameter's history (newest first, current excluded).
    expect(world.parameters).toContainEqual({
      name: '/team/web-ami',
      value: 'ami-00000000000000009',
      history: ['ami-00000000000000008', 'ami-00000000000000007'],
    });
  });

  it('keeps only live instances and reads groups with their mixed instances overrides', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        { Instances: [{ InstanceId: 'i-1', ImageId: 'ami-00000000000000001', State: { Name: 'stopped' } }] },
      ],
    });
    autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        {
          AutoScalingGroupName: 'web',
          MinSize: 0,
          MaxSize: 1,
          DesiredCapacity: 0,
          DefaultCooldown: 300,
          AvailabilityZones: [],
          HealthCheckType: 'EC2',
          CreatedTime: new Date(),
          MixedInstancesPolicy: {
            LaunchTemplate: {
              LaunchTemplateSpecification: { LaunchTemplateName: 'web', Version: '$Latest' },
              Overrides: [{ LaunchTemplateSpecification: { LaunchTemplateId: 'lt-0000000000000000c', Version: '2' } }],
            },
          },
        },
      ],
    });
    autoScaling.on(DescribeLaunchConfigurationsCommand).resolves({
      LaunchConfigurations: [
        {
          LaunchConfigurationName: 'old',
          ImageId: 'ami-00000000000000005',
          InstanceType: 't3.micro',
          CreatedTime: new Date(),
        },
      ],
    });
    // Act
    const { world } = await readInventory(deps());
    // Assess
    expect(ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters).toEqual([
      { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] },
    ]);
    expect(world.instances).toEqual([{ id: 'i-1', imageId: 'ami-00000000000000001', state: 'stopped' }]);
    expect(world.autoScalingGroups[0]?.launchTemplates).toEqual([
      { name: 'web', version: '$Latest' },
      { id: 'lt-0000000000000000c', version: '2' },
    ]);
    expect(world.launchConfigurations).toEqual([{ name: 'old', imageId: 'ami-00000000000000005' }]);
  });

  it('reads channels with their history, and parameters holding ids anywhere in the account', async () => {
    // Prepare
    ssm.on(DescribeParametersCommand).resolves({
      Parameters: [
        { Name: '/bakehouse/al2023-base/stable', Type: 'String', DataType: 'aws:ec2:image' },
        { Name: '/bakehouse/_janitor/state', Type: 'String', DataType: 'text' },
        { Name: '/other/ami', Type: 'String', DataType: 'aws:ec2:image' },
      ],
    });
    ssm.on(GetParametersCommand).resolves({
      Parameters: [
        { Name: '/bakehouse/al2023-base/stable', Type: 'String', Value: 'ami-00000000000000002' },
        { Name: '/bakehouse/_janitor/state', Type: 'String', Value: '{"inUseCount":3}' },
        { Name: '/other/ami', Type: 'String', Value: 'ami-00000000000000004' },
      ],
    });
    ssm.on(GetParameterHistoryCommand, { Name: '/bakehouse/al2023-base/stable' }).resolves({
      Parameters: [
        { Version: 2, Value: 'ami-00000000000000002' },
        { Version: 1, Value: 'ami-00000000000000001' },
      ],
    });
    // Act
    const { world } = await readInventory(deps());
    // Assess
    expect(world.parameters).toEqual([
      { name: '/bakehouse/al2023-base/stable', value: 'ami-00000000000000002', history: ['ami-00000000000000001'] },
      { name: '/other/ami', value: 'ami-00000000000000004' },
    ]);
  });
});

describe('every SSM parameter of the account', () => {
  /** `count` text parameters `/team/p-000`…, each holding the id `ami-<8 hex of its index>`. */
  const teamParameters = (count: number) =>
    Array.from({ length: count }, (_, i) => ({
      name: `/team/p-${String(i).padStart(3, '0')}`,
      value: `ami-${i.toString(16).padStart(8, '0')}`,
    }));
  /** GetParameters answering from `values` as SSM does: found ones, and the rest as InvalidParameters. */
  const answerFrom = (values: Map<string, { value: string; type?: ParameterType }>) =>
    ssm.on(GetParametersCommand).callsFake((input: { Names: string[] }) => ({
      Parameters: input.Names.flatMap((n) => {
        const p = values.get(n);
        return p ? [{ Name: n, Type: p.type ?? 'String', Value: p.value }] : [];
      }),
      InvalidParameters: input.Names.filter((n) => !values.has(n)),
    }));

  it('lists every page with no filter and reads the values 10 names at a time, without decryption', async () => {
    // Prepare: 57 parameters over two pages.
    const all = teamParameters(57);
    ssm
      .on(DescribeParametersCommand)
      .resolvesOnce({ Parameters: all.slice(0, 50).map((p) => ({ Name: p.name, Type: 'String' })), NextToken: 'n1' })
      .resolvesOnce({ Parameters: all.slice(50).map((p) => ({ Name: p.name, Type: 'String' })) });
    answerFrom(new Map(all.map((p) => [p.name, { value: p.value }])));
    // Act
    const { world, calls, parameters } = await readInventory(deps());
    // Assess
    const describes = ssm.commandCalls(DescribeParametersCommand).map((c) => c.args[0].input);
    expect(describes).toEqual([{ MaxResults: 50 }, { MaxResults: 50, NextToken: 'n1' }]);
    const gets = ssm.commandCalls(GetParametersCommand).map((c) => c.args[0].input);
    expect(gets.map((g) => g.Names?.length)).toEqual([10, 10, 10, 10, 10, 7]);
    expect(gets.every((g) => g.WithDecryption === undefined)).toBe(true);
    expect(world.parameters).toHaveLength(57);
    expect(calls).toMatchObject({ DescribeParameters: 2, GetParameters: 6 });
    expect(parameters).toEqual({ listed: 57, read: 57, secureStrings: [], unreadable: [] });
  });

  it("keeps text, StringList and JSON values that hold an id, and another team's parameter outside the prefix", async () => {
    // Prepare
    const values = new Map<string, { value: string; type?: ParameterType }>([
      ['/team/web/ami-id', { value: 'ami-0123456789abcdef0' }],
      ['/team/api/config', { value: '{"ami":"ami-0123456789abcdef1","size":"m7g.large"}' }],
      ['/team/batch/deep', { value: '{"fleet":{"pools":[{"image":{"id":"ami-0123456789abcdef2"}}]}}' }],
      ['/team/list', { value: 'ami-0123456789abcdef3,ami-0123456789abcdef4', type: 'StringList' }],
      ['/team/plain', { value: 'm7g.large' }],
    ]);
    ssm.on(DescribeParametersCommand).resolves({
      Parameters: [...values].map(([Name, p]) => ({ Name, Type: p.type ?? 'String', DataType: 'text' })),
    });
    answerFrom(values);
    // Act
    const { world } = await readInventory(deps());
    // Assess
    expect(world.parameters.map((p) => p.name).sort()).toEqual([
      '/team/api/config',
      '/team/batch/deep',
      '/team/list',
      '/team/web/ami-id',
    ]);
  });

  it('skips SecureStrings: never read, named and counted', async () => {
    // Prepare
    const values = new Map([['/team/web/ami-id', { value: 'ami-0123456789abcdef0' }]]);
    ssm.on(DescribeParametersCommand).resolves({
      Parameters: [
        { Name: '/team/web/ami-id', Type: 'String' },
        { Name: '/team/db/password', Type: 'SecureString' },
        { Name: '/team/api/token', Type: 'SecureString' },
      ],
    });
    answerFrom(values);
    // Act
    const { parameters } = await readInventory(deps());
    // Assess
    const asked = ssm.commandCalls(GetParametersCommand).flatMap((c) => c.args[0].input.Names ?? []);
    expect(asked).toEqual(['/team/web/ami-id']);
    expect(parameters.secureStrings).toEqual(['/team/api/token', '/team/db/password']);
  });

  it('finds the names IAM refuses by reading a refused batch one name at a time', async () => {
    // Prepare: 12 parameters, the janitor may not read /team/p-003.
    const all = teamParameters(12);
    const values = new Map(all.map((p) => [p.name, { value: p.value }]));
    ssm.on(DescribeParametersCommand).resolves({ Parameters: all.map((p) => ({ Name: p.name, Type: 'String' })) });
    ssm.on(GetParametersCommand).callsFake((input: { Names: string[] }) => {
      if (input.Names.includes('/team/p-003')) {
        throw Object.assign(new Error('User is not authorized to perform: ssm:GetParameters'), {
          name: 'AccessDeniedException',
        });
      }
      return { Parameters: input.Names.map((n) => ({ Name: n, Type: 'String', Value: values.get(n)?.value })) };
    });
    // Act
    const { world, parameters, calls } = await readInventory(deps());
    // Assess
    expect(parameters.unreadable).toEqual([
      { name: '/team/p-003', error: 'AccessDeniedException: User is not authorized to perform: ssm:GetParameters' },
    ]);
    expect(world.parameters.map((p) => p.name)).not.toContain('/team/p-003');
    expect(world.parameters).toHaveLength(11);
    // Two batches (10 + 2), then the refused one again name by name.
    expect(calls.GetParameters).toBe(2 + 10);
  });

  it('names listed parameters SSM calls invalid, but not a name only a template knows', async () => {
    // Prepare
    ec2
      .on(DescribeLaunchTemplatesCommand)
      .resolves({ LaunchTemplates: [{ LaunchTemplateId: 'lt-0000000000000000a' }] });
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({
      LaunchTemplateVersions: [
        {
          LaunchTemplateId: 'lt-0000000000000000a',
          VersionNumber: 1,
          LaunchTemplateData: { ImageId: 'resolve:ssm:/dangling' },
        },
      ],
    });
    ssm.on(DescribeParametersCommand).resolves({ Parameters: [{ Name: '/team/deleted', Type: 'String' }] });
    answerFrom(new Map());
    // Act
    const { parameters } = await readInventory(deps());
    // Assess
    expect(parameters.unreadable.map((u) => u.name)).toEqual(['/team/deleted']);
    expect(parameters.unreadable[0]?.error).toMatch(/^InvalidParameters/);
  });

  it('names the parameters of a batch that still fails after the retries, and does not throw', async () => {
    // Prepare
    ssm.on(DescribeParametersCommand).resolves({
      Parameters: [
        { Name: '/team/a', Type: 'String' },
        { Name: '/team/b', Type: 'StringList' },
      ],
    });
    ssm.on(GetParametersCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    // Act
    const { parameters } = await readInventory(deps());
    // Assess
    expect(parameters.unreadable).toEqual([
      { name: '/team/a', error: 'ThrottlingException: Rate exceeded' },
      { name: '/team/b', error: 'ThrottlingException: Rate exceeded' },
    ]);
  });
});

describe('fail closed', () => {
  it('throws InventoryError naming the call when throttling outlives the retries', async () => {
    // Prepare
    ec2
      .on(DescribeSnapshotsCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded' }));
    // Act
    const failure = await readInventory(deps()).catch((error: unknown) => error);
    // Assess
    expect(failure).toBeInstanceOf(InventoryError);
    expect(failure).toMatchObject({ call: 'DescribeSnapshots' });
    expect(String((failure as Error).message)).toContain('RequestLimitExceeded');
  });

  it('throws InventoryError when a listing repeats its page token (a truncated listing)', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [], NextToken: 'same' });
    // Act
    const failure = await readInventory(deps()).catch((error: unknown) => error);
    // Assess
    expect(failure).toMatchObject({ name: 'InventoryError', call: 'DescribeInstances' });
  });

  it('throws when a launch permission cannot be read', async () => {
    // Prepare
    ec2.on(DescribeImagesCommand).resolves({ Images: [managed('ami-00000000000000001')] });
    ec2
      .on(DescribeImageAttributeCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'UnauthorizedOperation' }));
    // Act
    const failure = await readInventory(deps()).catch((error: unknown) => error);
    // Assess
    expect(failure).toMatchObject({ name: 'InventoryError', call: 'DescribeImageAttribute' });
  });
});
