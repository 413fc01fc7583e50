/**
 * EC2 authorizes each resource a request touches, with the condition keys AWS sets (Service
 * Authorization Reference, "Actions, resources, and condition keys for Amazon EC2"): role sessions
 * from `roleSession` call through the SDK and are refused with `UnauthorizedOperation` and an
 * encoded message that `sts:DecodeAuthorizationMessage` reads back.
 */
import {
  CreateImageCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { DecodeAuthorizationMessageCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument, PolicyStatement } from '../../src/iam';
import { AL2023_X86, advance, runningInstance } from '../../src/testing/ec2';
import { roleSession } from '../../src/testing/iam';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const owned = (resource: string): string => `arn:aws:ec2:${REGION}:${ACCOUNT}:${resource}`;
const unowned = (resource: string): string => `arn:aws:ec2:${REGION}::${resource}`;
const ENCODED = 'Encoded authorization failure message: ';

/** What RunInstances needs besides the instance: the image, volume, interface, group and subnet. */
const LAUNCH_FROM: PolicyStatement = {
  Effect: 'Allow',
  Action: 'ec2:RunInstances',
  Resource: [
    unowned('image/*'),
    owned('volume/*'),
    owned('network-interface/*'),
    owned('security-group/*'),
    owned('subnet/*'),
  ],
};

const policy = (...statements: PolicyStatement[]): PolicyDocument => ({ Version: '2012-10-17', Statement: statements });

const launch = (tags: Record<string, string> = {}): RunInstancesCommandInput => ({
  ImageId: AL2023_X86,
  MinCount: 1,
  MaxCount: 1,
  InstanceType: 't3.micro',
  ...(Object.keys(tags).length > 0
    ? {
        TagSpecifications: [
          { ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        ],
      }
    : {}),
});

let sandbox: TestSandbox;
let admin: EC2Client;
let sts: STSClient;
let iam: IAMClient;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  admin = new EC2Client(sandbox.clientConfig);
  sts = new STSClient(sandbox.clientConfig);
  iam = new IAMClient(sandbox.clientConfig);
});
afterAll(async () => sandbox.stop());

const ec2As = async (roleName: string, document: PolicyDocument): Promise<EC2Client> =>
  new EC2Client((await roleSession(sandbox, { roleName, policy: document })).clientConfig);

/** The decoded authorization message of an EC2 refusal, read by the administrator. */
const decoded = async (error: Error): Promise<{ context: { action: string; resource: string } }> => {
  const encoded = error.message.slice(error.message.indexOf(ENCODED) + ENCODED.length);
  const answer = await sts.send(new DecodeAuthorizationMessageCommand({ EncodedMessage: encoded }));
  return JSON.parse(answer.DecodedMessage as string);
};

describe('EC2 RunInstances authorization', () => {
  const launchTagged: PolicyStatement = {
    Effect: 'Allow',
    Action: 'ec2:RunInstances',
    Resource: owned('instance/*'),
    Condition: { StringEquals: { 'aws:RequestTag/bakehouse:role': 'builder' } },
  };
  const tagAtLaunch: PolicyStatement = {
    Effect: 'Allow',
    Action: 'ec2:CreateTags',
    Resource: owned('instance/*'),
    Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
  };
  const launcher = policy(launchTagged, LAUNCH_FROM, tagAtLaunch);

  it('refuses a launch without the tag its policy requires, with an encoded message naming the instance', async () => {
    // Prepare
    const ec2 = await ec2As('launch-tagged', launcher);

    // Act
    const error = await failure(ec2.send(new RunInstancesCommand(launch())));

    // Assess
    expect(error.name).toBe('UnauthorizedOperation');
    expect(error.message.startsWith('You are not authorized to perform this operation.')).toBe(true);
    expect(error.message).toContain(ENCODED);
    const message = await decoded(error);
    expect(message.context).toMatchObject({ action: 'ec2:RunInstances', resource: owned('instance/*') });
  });

  it('allows the launch when the instance is tagged as the condition requires', async () => {
    // Prepare
    const ec2 = await ec2As('launch-tagged-ok', launcher);

    // Act
    const reservation = await ec2.send(new RunInstancesCommand(launch({ 'bakehouse:role': 'builder' })));

    // Assess
    expect(reservation.Instances?.[0]?.InstanceId).toMatch(/^i-/);
  });

  it('refuses tagging at launch without ec2:CreateTags for ec2:CreateAction RunInstances', async () => {
    // Prepare
    const ec2 = await ec2As('launch-no-tagging', policy(launchTagged, LAUNCH_FROM));

    // Act
    const error = await failure(ec2.send(new RunInstancesCommand(launch({ 'bakehouse:role': 'builder' }))));

    // Assess
    expect(error.name).toBe('UnauthorizedOperation');
    expect((await decoded(error)).context).toMatchObject({
      action: 'ec2:CreateTags',
      resource: owned('instance/*'),
    });
  });

  it('refuses a launch with an instance profile unless iam:PassRole allows its role for EC2', async () => {
    // Prepare
    const trust = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    };
    await iam.send(
      new CreateRoleCommand({ RoleName: 'builder-role', AssumeRolePolicyDocument: JSON.stringify(trust) }),
    );
    await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'builder-profile' }));
    await iam.send(
      new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'builder-profile', RoleName: 'builder-role' }),
    );
    const run: PolicyStatement = { Effect: 'Allow', Action: 'ec2:RunInstances', Resource: '*' };
    const withoutPassRole = await ec2As('launch-no-pass', policy(run));
    const withPassRole = await ec2As(
      'launch-pass',
      policy(run, {
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: `arn:aws:iam::${ACCOUNT}:role/builder-role`,
        Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
    );
    const request = { ...launch(), IamInstanceProfile: { Name: 'builder-profile' } };

    // Act
    const error = await failure(withoutPassRole.send(new RunInstancesCommand(request)));
    const allowed = await withPassRole.send(new RunInstancesCommand(request));

    // Assess
    expect(error.name).toBe('UnauthorizedOperation');
    expect(error.message).toContain(`iam:PassRole on resource: arn:aws:iam::${ACCOUNT}:role/builder-role`);
    expect((await decoded(error)).context).toMatchObject({
      action: 'iam:PassRole',
      resource: `arn:aws:iam::${ACCOUNT}:role/builder-role`,
    });
    expect(allowed.Instances?.[0]?.IamInstanceProfile?.Arn).toBe(
      `arn:aws:iam::${ACCOUNT}:instance-profile/builder-profile`,
    );
  });
});

describe('EC2 RunInstances from a launch template', () => {
  const fromTemplate = (document: PolicyDocument, name: string) => ec2As(name, document);
  const templateWithout = async (name: string): Promise<string> =>
    (
      await admin.send(
        new CreateLaunchTemplateCommand({
          LaunchTemplateName: name,
          LaunchTemplateData: { ImageId: AL2023_X86, InstanceType: 't3.micro' },
        }),
      )
    ).LaunchTemplate?.LaunchTemplateId as string;
  const launchAll: PolicyStatement = {
    Effect: 'Allow',
    Action: 'ec2:RunInstances',
    Resource: [owned('instance/*'), owned('launch-template/*')],
  };

  it('authorizes a template without subnet or groups on the default subnet and group, as EC2 launches there', async () => {
    // Prepare: the template names no network; the role may not use any subnet or group
    const id = await templateWithout('no-network');
    const withoutNetwork: PolicyStatement = {
      ...LAUNCH_FROM,
      Resource: [unowned('image/*'), owned('volume/*'), owned('network-interface/*')],
    };
    const ec2 = await fromTemplate(policy(launchAll, withoutNetwork), 'template-no-subnet');

    // Act
    const error = await failure(
      ec2.send(
        new RunInstancesCommand({
          ImageId: AL2023_X86,
          MinCount: 1,
          MaxCount: 1,
          LaunchTemplate: { LaunchTemplateId: id, Version: '$Default' },
        }),
      ),
    );

    // Assess
    expect(error.name).toBe('UnauthorizedOperation');
    expect((await decoded(error)).context.resource).toMatch(/:(subnet|security-group)\//);
  });

  it('allows that launch with the default subnet and group granted', async () => {
    // Prepare
    const id = await templateWithout('no-network-ok');
    const ec2 = await fromTemplate(policy(launchAll, LAUNCH_FROM), 'template-with-subnet');

    // Act
    const reservation = await ec2.send(
      new RunInstancesCommand({
        ImageId: AL2023_X86,
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: { LaunchTemplateId: id },
      }),
    );

    // Assess
    expect(reservation.Instances?.[0]?.InstanceId).toMatch(/^i-/);
  });
});

describe('EC2 CreateTags authorization', () => {
  /** The snapshot of a new image, tagged at creation with `snapshotTags`. */
  const snapshotOfNewImage = async (name: string, snapshotTags: Record<string, string>): Promise<string> => {
    const instanceId = await runningInstance(sandbox, admin);
    const tags = Object.entries(snapshotTags).map(([Key, Value]) => ({ Key, Value }));
    const created = await admin.send(
      new CreateImageCommand({
        InstanceId: instanceId,
        Name: name,
        ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'snapshot', Tags: tags }] } : {}),
      }),
    );
    await advance(sandbox, 600);
    const images = await admin.send(new DescribeImagesCommand({ ImageIds: [created.ImageId as string] }));
    return images.Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId as string;
  };

  const tagManagedSnapshots = policy({
    Effect: 'Allow',
    Action: 'ec2:CreateTags',
    Resource: unowned('snapshot/*'),
    Condition: { StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' } },
  });

  it('refuses tagging a snapshot that does not carry bakehouse:managed=true already', async () => {
    // Prepare
    const snapshotId = await snapshotOfNewImage('untagged-snapshot', {});
    const ec2 = await ec2As('tag-untagged', tagManagedSnapshots);

    // Act
    const error = await failure(
      ec2.send(new CreateTagsCommand({ Resources: [snapshotId], Tags: [{ Key: 'bakehouse:managed', Value: 'true' }] })),
    );

    // Assess
    expect(error.name).toBe('UnauthorizedOperation');
    expect((await decoded(error)).context).toMatchObject({
      action: 'ec2:CreateTags',
      resource: unowned(`snapshot/${snapshotId}`),
    });
  });

  it('allows tagging a snapshot that carries bakehouse:managed=true', async () => {
    // Prepare
    const snapshotId = await snapshotOfNewImage('tagged-snapshot', { 'bakehouse:managed': 'true' });
    const ec2 = await ec2As('tag-tagged', tagManagedSnapshots);

    // Act
    await ec2.send(
      new CreateTagsCommand({ Resources: [snapshotId], Tags: [{ Key: 'bakehouse:family', Value: 'web' }] }),
    );

    // Assess
    const described = await admin.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    expect(described.Snapshots?.[0]?.Tags).toContainEqual({ Key: 'bakehouse:family', Value: 'web' });
  });
});

describe('EC2 launch template authorization', () => {
  it('stores the launch-template tags of CreateLaunchTemplate and authorizes versions by them', async () => {
    // Prepare
    const create = async (name: string, tags: Record<string, string>) =>
      (
        await admin.send(
          new CreateLaunchTemplateCommand({
            LaunchTemplateName: name,
            LaunchTemplateData: { ImageId: AL2023_X86, InstanceType: 't3.micro' },
            ...(Object.keys(tags).length > 0
              ? {
                  TagSpecifications: [
                    {
                      ResourceType: 'launch-template',
                      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
                    },
                  ],
                }
              : {}),
          }),
        )
      ).LaunchTemplate?.LaunchTemplateId as string;
    const named = await create('web-servers', { 'bakehouse:launch-template': 'web-servers' });
    const other = await create('someone-elses', {});
    const ec2 = await ec2As(
      'promote-templates',
      policy({
        Effect: 'Allow',
        Action: 'ec2:CreateLaunchTemplateVersion',
        Resource: owned('launch-template/*'),
        Condition: { StringEquals: { 'aws:ResourceTag/bakehouse:launch-template': 'web-servers' } },
      }),
    );
    const version = (id: string) =>
      new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: id, LaunchTemplateData: { ImageId: AL2023_X86 } });

    // Act
    const refused = await failure(ec2.send(version(other)));
    const created = await ec2.send(version(named));

    // Assess
    const described = await admin.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [named] }));
    expect(described.LaunchTemplates?.[0]?.Tags).toEqual([{ Key: 'bakehouse:launch-template', Value: 'web-servers' }]);
    expect(refused.name).toBe('UnauthorizedOperation');
    expect((await decoded(refused)).context.resource).toBe(owned(`launch-template/${other}`));
    expect(created.LaunchTemplateVersion?.VersionNumber).toBe(2);
  });
});
