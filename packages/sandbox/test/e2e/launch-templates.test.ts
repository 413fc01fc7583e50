import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  DeleteLaunchTemplateCommand,
  DeleteLaunchTemplateVersionsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  ModifyLaunchTemplateCommand,
} from '@aws-sdk/client-ec2';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AL2023_ARM, AL2023_X86, errorOf } from '../../src/testing/ec2';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let ec2: EC2Client;
let ssm: SSMClient;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  ec2 = new EC2Client(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
});
afterAll(async () => sandbox.stop());

const createTemplate = async (name: string, imageId = AL2023_X86) => {
  const created = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: name,
      VersionDescription: 'first',
      LaunchTemplateData: {
        ImageId: imageId,
        InstanceType: 't3.micro',
        IamInstanceProfile: { Name: 'bakehouse-builder' },
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 20, VolumeType: 'gp3', Encrypted: true } }],
        SecurityGroupIds: ['sg-0123456789abcdef0'],
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'builder' }] }],
      },
      TagSpecifications: [{ ResourceType: 'launch-template', Tags: [{ Key: 'team', Value: 'bakehouse' }] }],
    }),
  );
  return created.LaunchTemplate?.LaunchTemplateId as string;
};

const versionsOf = async (launchTemplateId: string, versions: string[]) =>
  (
    await ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: launchTemplateId, Versions: versions }),
    )
  ).LaunchTemplateVersions ?? [];

describe('EC2 launch templates', () => {
  it('creates a template whose first version holds the launch data as sent', async () => {
    // Act
    const id = await createTemplate('lt-data-roundtrip');

    // Assess
    expect(id).toMatch(/^lt-[0-9a-f]{17}$/);
    const [version] = await versionsOf(id, ['1']);
    expect(version).toMatchObject({
      LaunchTemplateName: 'lt-data-roundtrip',
      VersionNumber: 1,
      VersionDescription: 'first',
      DefaultVersion: true,
      LaunchTemplateData: {
        ImageId: AL2023_X86,
        InstanceType: 't3.micro',
        IamInstanceProfile: { Name: 'bakehouse-builder' },
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 20, VolumeType: 'gp3', Encrypted: true } }],
        SecurityGroupIds: ['sg-0123456789abcdef0'],
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'builder' }] }],
      },
    });
  });

  it('answers $Latest and $Default with the right versions as new versions are added and the default moves', async () => {
    // Prepare
    const id = await createTemplate('lt-aliases');
    await ec2.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: id,
        SourceVersion: '1',
        VersionDescription: 'arm',
        LaunchTemplateData: { ImageId: AL2023_ARM, InstanceType: 't4g.micro' },
      }),
    );

    // Act
    const before = await versionsOf(id, ['$Latest', '$Default']);
    const modified = await ec2.send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: id, DefaultVersion: '2' }));
    const after = await versionsOf(id, ['$Default']);

    // Assess
    expect(before.map((version) => version.VersionNumber)).toEqual([2, 1]);
    expect(before[0]?.LaunchTemplateData).toMatchObject({
      ImageId: AL2023_ARM,
      InstanceType: 't4g.micro',
      IamInstanceProfile: { Name: 'bakehouse-builder' },
    });
    expect(modified.LaunchTemplate).toMatchObject({ DefaultVersionNumber: 2, LatestVersionNumber: 2 });
    expect(after[0]).toMatchObject({ VersionNumber: 2, DefaultVersion: true });
  });

  it('resolves a resolve:ssm: image id only when ResolveAlias is set', async () => {
    // Prepare
    await ssm.send(new PutParameterCommand({ Name: '/bakehouse/golden/al2023', Value: AL2023_X86, Type: 'String' }));
    const id = await createTemplate('lt-resolve-alias', 'resolve:ssm:/bakehouse/golden/al2023');

    // Act
    const raw = await versionsOf(id, ['$Latest']);
    const resolved = await ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: ['$Latest'], ResolveAlias: true }),
    );

    // Assess
    expect(raw[0]?.LaunchTemplateData?.ImageId).toBe('resolve:ssm:/bakehouse/golden/al2023');
    expect(resolved.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.ImageId).toBe(AL2023_X86);
  });

  it('selects versions between MinVersion and MaxVersion', async () => {
    // Prepare
    const id = await createTemplate('lt-min-max');
    for (const type of ['t3.small', 't3.medium', 't3.large'] as const) {
      await ec2.send(
        new CreateLaunchTemplateVersionCommand({
          LaunchTemplateId: id,
          SourceVersion: '$Latest',
          LaunchTemplateData: { InstanceType: type },
        }),
      );
    }

    // Act
    const page = await ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, MinVersion: '2', MaxVersion: '3' }),
    );

    // Assess
    expect(page.LaunchTemplateVersions?.map((version) => version.LaunchTemplateData?.InstanceType)).toEqual([
      't3.small',
      't3.medium',
    ]);
  });

  it('refuses a second template with the same name', async () => {
    // Prepare
    await createTemplate('lt-duplicate');

    // Act
    const failure = await errorOf(createTemplate('lt-duplicate'));

    // Assess
    expect(failure).toEqual({ name: 'InvalidLaunchTemplateName.AlreadyExistsException', status: 400 });
  });

  it('answers malformed and unknown template ids, unknown names and unknown versions with EC2 error codes', async () => {
    // Prepare
    const id = await createTemplate('lt-errors');

    // Act
    const malformed = await errorOf(ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: ['lt-zzz'] })));
    const unknownId = await errorOf(
      ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: ['lt-0123456789abcdef0'] })),
    );
    const unknownName = await errorOf(
      ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: 'no-such-template' })),
    );
    const unknownVersion = await errorOf(versionsOf(id, ['7']));

    // Assess
    expect(malformed).toEqual({ name: 'InvalidLaunchTemplateId.Malformed', status: 400 });
    expect(unknownId).toEqual({ name: 'InvalidLaunchTemplateId.NotFound', status: 400 });
    expect(unknownName).toEqual({ name: 'InvalidLaunchTemplateName.NotFoundException', status: 400 });
    expect(unknownVersion).toEqual({ name: 'InvalidLaunchTemplateId.VersionNotFound', status: 400 });
  });

  it('warns, as EC2 does, when the image id of the launch data is malformed', async () => {
    // Act
    const created = await ec2.send(
      new CreateLaunchTemplateCommand({ LaunchTemplateName: 'lt-warning', LaunchTemplateData: { ImageId: 'ami-zzz' } }),
    );

    // Assess
    expect(created.Warning?.Errors).toEqual([
      { Code: 'InvalidAMIID.Malformed', Message: 'Invalid id: "ami-zzz" (expecting "ami-...")' },
    ]);
  });

  it('pages DescribeLaunchTemplates with MaxResults and NextToken and filters by tag', async () => {
    // Prepare
    for (const index of [1, 2, 3]) await createTemplate(`lt-page-${index}`);
    const seen: string[] = [];
    let token: string | undefined;

    // Act
    do {
      const page = await ec2.send(
        new DescribeLaunchTemplatesCommand({
          Filters: [{ Name: 'launch-template-name', Values: ['lt-page-*'] }],
          MaxResults: 2,
          ...(token ? { NextToken: token } : {}),
        }),
      );
      expect(page.LaunchTemplates?.length).toBeLessThanOrEqual(2);
      seen.push(...(page.LaunchTemplates ?? []).map((template) => template.LaunchTemplateName as string));
      token = page.NextToken;
    } while (token);
    const tagged = await ec2.send(
      new DescribeLaunchTemplatesCommand({ Filters: [{ Name: 'tag:team', Values: ['bakehouse'] }] }),
    );
    const tooMany = await errorOf(ec2.send(new DescribeLaunchTemplatesCommand({ MaxResults: 201 })));

    // Assess
    expect(seen).toEqual(['lt-page-1', 'lt-page-2', 'lt-page-3']);
    expect(tagged.LaunchTemplates?.map((template) => template.Tags)).toContainEqual([
      { Key: 'team', Value: 'bakehouse' },
    ]);
    expect(tooMany).toEqual({ name: 'InvalidParameterValue', status: 400 });
  });

  it('deletes versions except the default, then the whole template', async () => {
    // Prepare
    const id = await createTemplate('lt-delete');
    await ec2.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: id,
        LaunchTemplateData: { InstanceType: 'm7i.large' },
      }),
    );

    // Act
    const deleted = await ec2.send(
      new DeleteLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: ['1', '2'] }),
    );
    await ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateName: 'lt-delete' }));
    const gone = await errorOf(ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [id] })));

    // Assess
    expect(deleted.SuccessfullyDeletedLaunchTemplateVersions?.map((version) => version.VersionNumber)).toEqual([2]);
    expect(deleted.UnsuccessfullyDeletedLaunchTemplateVersions?.[0]).toMatchObject({ VersionNumber: 1 });
    expect(gone).toEqual({ name: 'InvalidLaunchTemplateId.NotFound', status: 400 });
  });
});
